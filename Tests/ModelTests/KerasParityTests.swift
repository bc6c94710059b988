import Kernels
import Models
import XCTest

/// The generated tiny model against the Keras reference (TF 2.21 / Keras 3, float64): initial
/// weights loaded 1:1 by name, then training-mode logits, probabilities, loss, every gradient and
/// the input gradient, every weight after one Adam step, and inference-mode probabilities.
final class KerasParityTests: XCTestCase {
    func testFloat64MatchesKeras() throws { try check(TinyF64.self, tolerance: 1e-9) }
    func testFloat32MatchesKeras() throws { try check(TinyF32.self, tolerance: 1e-4) }

    func load<M: GeneratedModel>(_ model: M, _ fixture: KerasFixture, prefix: String) throws {
        for t in M.tensors {
            let values = try fixture.tensor("\(prefix)/\(t.name)")
            XCTAssertEqual(values.count, t.count, t.name)
            for i in 0..<t.count { model.parameters[t.offset + i] = M.Scalar(values[i]) }
        }
    }

    func check<M: GeneratedModel>(_: M.Type, tolerance: Double) throws {
        let fixture = try KerasFixture()
        let n = fixture.manifest.batch
        let model = M(seed: 0)
        try load(model, fixture, prefix: "initial")
        let input = try fixture.tensor("input")
        for i in 0..<input.count { model.input[i] = M.Scalar(input[i]) }
        let labels = try fixture.tensor("labels").map { M.Scalar($0) }

        func expect(_ name: String, _ pointer: UnsafePointer<M.Scalar>, count: Int, absolute: Double? = nil,
                    file: StaticString = #filePath, line: UInt = #line) throws {
            let reference = try fixture.tensor(name)
            XCTAssertEqual(reference.count, count, name, file: file, line: line)
            let e = relativeError(pointer, reference, count: count)
            if let absolute, e.norm < 1e-10 {
                XCTAssertLessThan(e.absolute, absolute, "\(name): absolute error", file: file, line: line)
            } else {
                XCTAssertLessThan(e.relative, tolerance, "\(name): relative error \(e.relative)", file: file, line: line)
            }
        }

        // Inference mode with the initial weights (moving statistics).
        let predicted = model.predict(count: n)
        XCTAssertEqual(predicted.count, n * M.classes)
        try expect("inference/probabilities", UnsafePointer(predicted.baseAddress!), count: n * M.classes)

        // Training mode: batch statistics.
        model.forward(count: n, training: true)
        try expect("logits", model.logits, count: n * M.classes)
        try expect("probabilities", model.probabilities, count: n * M.classes)
        let result = labels.withUnsafeBufferPointer { model.backward(labels: $0.baseAddress!, count: n, inputGradient: true) }
        XCTAssertEqual(result.loss, try fixture.tensor("loss")[0], accuracy: tolerance * 10)
        try expect("grad/input", model.inputGradient, count: input.count)
        for t in M.tensors where t.trainable {
            // A conv bias right before a batch norm has a mathematically zero gradient; Keras' is
            // rounding noise, so it is compared absolutely.
            try expect("grad/\(t.name)", model.gradients + t.offset, count: t.count, absolute: tolerance)
        }
        model.adamStep(learningRate: fixture.manifest.learning_rate)
        let lr = fixture.manifest.learning_rate
        for t in M.tensors {
            let keras = try fixture.tensor("after_step/\(t.name)")
            let zeroGradient = t.trainable ? try fixture.tensor("grad/\(t.name)").allSatisfy { abs($0) < 1e-10 } : false
            if zeroGradient {
                // Adam normalizes the rounding noise of a zero gradient into a step of up to ~lr: float32
                // noise (~1e-7·|dy|) is big enough against ε = 1e-7 to move these biases by a
                // fraction of lr, so in float32 they are held to "at most one step away"; float64
                // (noise ~1e-16) pins the semantics to 1e-12.
                for i in 0..<t.count {
                    XCTAssertEqual(Double(model.parameters[t.offset + i]), keras[i], accuracy: tolerance == 1e-9 ? 1e-12 : lr, "after_step/\(t.name)[\(i)]")
                }
            } else {
                try expect("after_step/\(t.name)", model.parameters + t.offset, count: t.count)
            }
        }
    }
}
