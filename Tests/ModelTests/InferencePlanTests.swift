import Kernels
import Models
import XCTest

/// The generated inference types (batch norm folded, fused epilogues, ping-pong slots) against the
/// training types' inference-mode forward over the same weights.
final class InferencePlanTests: XCTestCase {
    /// Random but valid weights: every BN with non-trivial γ, β, moving mean and moving variance, so
    /// the folding has something to fold.
    func randomize<M: GeneratedModel>(_ model: M, seed: UInt64) {
        var rng = Xoshiro256(seed: seed)
        for t in M.tensors {
            let p = model.parameters + t.offset
            for i in 0..<t.count {
                let u = rng.unit()
                switch t.name.split(separator: "/").last! {
                case "gamma": p[i] = M.Scalar(0.5 + u)
                case "beta", "bias": p[i] = M.Scalar(u - 0.5)
                case "moving_mean": p[i] = M.Scalar(0.4 * (u - 0.5))
                case "moving_variance": p[i] = M.Scalar(0.2 + u)
                default: break   // kernels keep their glorot draw
                }
            }
        }
    }

    func check<M: GeneratedModel>(_ type: M.Type, tolerance: Double, file: StaticString = #filePath, line: UInt = #line) {
        let model = M(seed: 7, threads: 2)
        randomize(model, seed: 11)
        let before = Array(UnsafeBufferPointer(start: model.parameters, count: M.parameterCount))
        let inference = model.makeInference()
        XCTAssertEqual(Array(UnsafeBufferPointer(start: model.parameters, count: M.parameterCount)), before,
                       "loading folds a copy, never the training weights", file: file, line: line)
        let elements = M.inputHeight * M.inputWidth * M.inputChannels
        for n in [1, 3, M.capacity] {
            let batch = Batch<M.Scalar>(count: n, elements: elements, classes: M.classes, seed: UInt64(n))
            for i in 0..<(n * elements) { model.input[i] = batch.inputs[i]; inference.input[i] = batch.inputs[i] }
            model.forward(count: n, training: false)
            inference.forward(count: n)
            var worstLogit = 0.0, worstProbability = 0.0, scale = 0.0
            for i in 0..<(n * M.classes) {
                worstLogit = max(worstLogit, abs(Double(model.logits[i]) - Double(inference.logits[i])))
                worstProbability = max(worstProbability, abs(Double(model.probabilities[i]) - Double(inference.probabilities[i])))
                scale = max(scale, abs(Double(model.logits[i])))
            }
            XCTAssertGreaterThan(scale, 1e-3, "logits must not be trivially zero", file: file, line: line)
            XCTAssertLessThanOrEqual(worstLogit / max(scale, 1), tolerance, "\(M.self) n=\(n): logits differ by \(worstLogit)", file: file, line: line)
            XCTAssertLessThanOrEqual(worstProbability, tolerance, "\(M.self) n=\(n): probabilities differ by \(worstProbability)", file: file, line: line)
        }
    }

    func testTinyFloat64InferenceEqualsTheTrainingGraph() { check(TinyF64.self, tolerance: 1e-12) }
    func testTinyFloat32InferenceEqualsTheTrainingGraph() { check(TinyF32.self, tolerance: 1e-5) }

    /// Reloading replaces the folded weights (a second fold of already-folded values would be wrong).
    func testReloadingFoldsTheNewWeightsOnce() {
        let model = TinyF64(seed: 1, threads: 1)
        randomize(model, seed: 2)
        let inference = model.makeInference()
        inference.load(parameters: model.parameters)   // twice: must equal a single load
        let elements = TinyF64.inputHeight * TinyF64.inputWidth * TinyF64.inputChannels
        let batch = Batch<Double>(count: 2, elements: elements, classes: TinyF64.classes, seed: 5)
        for i in 0..<(2 * elements) { model.input[i] = batch.inputs[i]; inference.input[i] = batch.inputs[i] }
        model.forward(count: 2, training: false)
        inference.forward(count: 2)
        for i in 0..<(2 * TinyF64.classes) { XCTAssertEqual(model.logits[i], inference.logits[i], accuracy: 1e-12) }
    }
}
