import Kernels
import Models
import XCTest

/// The generated tiny model can fit 32 samples with arbitrary labels: forward, backward and Adam
/// together drive the training accuracy to 100 % within a bounded number of steps.
final class OverfitTests: XCTestCase {
    func testTinyModelOverfits32Samples() {
        let model = TinyF32(seed: 1)
        let samples = 32, batch = TinyF32.capacity
        let elements = TinyF32.inputHeight * TinyF32.inputWidth * TinyF32.inputChannels
        let data = Batch<Float>(count: samples, elements: elements, classes: TinyF32.classes, seed: 5)
        XCTAssertGreaterThanOrEqual(Set(data.classIndex).count, 5, "labels should cover most classes")
        let maxEpochs = 150
        var reachedAt: Int?
        var lastAccuracy = 0.0
        for epoch in 1...maxEpochs {
            var correct = 0
            for start in stride(from: 0, to: samples, by: batch) {
                model.input.update(from: Array(data.inputs[(start * elements)..<((start + batch) * elements)]), count: batch * elements)
                let labels = Array(data.labels[(start * TinyF32.classes)..<((start + batch) * TinyF32.classes)])
                model.forward(count: batch, training: true)
                let r = labels.withUnsafeBufferPointer { model.backward(labels: $0.baseAddress!, count: batch) }
                correct += r.correct
                model.adamStep(learningRate: 0.01)
            }
            lastAccuracy = Double(correct) / Double(samples)
            if correct == samples { reachedAt = epoch; break }
        }
        XCTAssertNotNil(reachedAt, "training accuracy only reached \(lastAccuracy) after \(maxEpochs) epochs")
        if let epoch = reachedAt { print("tiny model: 100% training accuracy on 32 samples after \(epoch * samples / batch) steps") }
    }
}
