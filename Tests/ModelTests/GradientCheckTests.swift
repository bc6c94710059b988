import Kernels
import Models
import XCTest

/// Finite-difference check of the whole generated tiny model in float64: the loss w.r.t. every
/// parameter tensor and the input, on a partial batch (5 of capacity 8).
final class GradientCheckTests: XCTestCase {
    func testGradientsMatchCentralDifferences() throws {
        let model = TinyF64(seed: 7)
        let n = 5
        let elements = TinyF64.inputHeight * TinyF64.inputWidth * TinyF64.inputChannels
        let batch = Batch<Double>(count: n, elements: elements, classes: TinyF64.classes, seed: 11)
        // Non-trivial BN parameters so γ/β gradients are exercised away from their init point.
        var rng = Xoshiro256(seed: 3)
        for t in TinyF64.tensors where t.name.hasSuffix("/gamma") || t.name.hasSuffix("/beta") || t.name.hasSuffix("/bias") {
            for i in 0..<t.count { model.parameters[t.offset + i] = (t.name.hasSuffix("/gamma") ? 1 : 0) + 0.3 * (rng.unit() - 0.5) }
        }
        model.input.update(from: batch.inputs, count: n * elements)
        model.forward(count: n, training: true)
        let labels = batch.labels
        labels.withUnsafeBufferPointer { _ = model.backward(labels: $0.baseAddress!, count: n, inputGradient: true) }
        let analytic = Array(UnsafeBufferPointer(start: model.gradients, count: TinyF64.trainableParameterCount))
        let analyticInput = Array(UnsafeBufferPointer(start: model.inputGradient, count: n * elements))

        func loss() -> Double {
            model.forward(count: n, training: true)
            return labels.withUnsafeBufferPointer { model.evaluate(labels: $0.baseAddress!, count: n).loss }
        }
        func numeric(_ p: UnsafeMutablePointer<Double>) -> Double {
            let h = 1e-5, saved = p.pointee
            p.pointee = saved + h; let plus = loss()
            p.pointee = saved - h; let minus = loss()
            p.pointee = saved
            return (plus - minus) / (2 * h)
        }
        var checked = 0
        var pick = Xoshiro256(seed: 99)
        for t in TinyF64.tensors where t.trainable {
            for _ in 0..<min(t.count, 4) {
                let i = t.offset + Int(pick.next() % UInt64(t.count))
                let a = analytic[i], fd = numeric(model.parameters + i)
                XCTAssertEqual(a, fd, accuracy: 1e-7 + 1e-5 * abs(fd), "\(t.name)[\(i - t.offset)]")
                checked += 1
            }
        }
        for _ in 0..<12 {
            let i = Int(pick.next() % UInt64(n * elements))
            let fd = numeric(model.input + i)
            XCTAssertEqual(analyticInput[i], fd, accuracy: 1e-7 + 1e-5 * abs(fd), "input[\(i)]")
            checked += 1
        }
        XCTAssertGreaterThan(checked, 200)
        // Gradients are not trivially zero.
        XCTAssertGreaterThan(analytic.map(abs).max()!, 1e-3)
        XCTAssertGreaterThan(analyticInput.map(abs).max()!, 1e-5)
    }
}
