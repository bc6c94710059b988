import Foundation
import Kernels
import Models
import XCTest

/// Many steps against Keras: the float64 tiny model trained 200 Adam steps from the keras-tiny
/// initial weights on the batches Keras trained on (20 samples in batches of 8, 8, 4, reshuffled
/// every epoch: `Scripts/export_keras_fixtures.py --fit`, `model.train_on_batch`). Every step's
/// loss, and after the last step every weight, BN moving statistic and Adam moment, must agree
/// within 1e-8, so drift that one step cannot show (Adam's state across epochs, the partial last
/// batch, BN moving averages, accumulation order) fails here.
final class KerasFitTests: XCTestCase {
    struct Steps: Decodable { var steps: [[Int]]; var samples: Int; var trainable: [String] }

    func testTwoHundredStepsMatchKeras() throws {
        let fixture = try KerasFixture("keras-tiny-fit")
        let plan = try JSONDecoder().decode(Steps.self, from: Data(contentsOf: fixture.directory.appendingPathComponent("manifest.json")))
        XCTAssertEqual(plan.steps.count, 200)
        XCTAssertEqual(Set(plan.steps.map(\.count)), [8, 4], "full and partial batches")
        let model = TinyF64(seed: 0, threads: 1)
        for t in TinyF64.tensors {
            let values = try fixture.tensor("initial/\(t.name)")
            XCTAssertEqual(values.count, t.count, t.name)
            for i in 0..<t.count { model.parameters[t.offset + i] = values[i] }
        }
        let input = try fixture.tensor("input"), labels = try fixture.tensor("labels")
        let elements = TinyF64.inputHeight * TinyF64.inputWidth * TinyF64.inputChannels, classes = TinyF64.classes
        XCTAssertEqual(input.count, plan.samples * elements)
        let kerasLosses = try fixture.tensor("losses")
        var batchLabels = [Double](repeating: 0, count: TinyF64.capacity * classes)
        var worstLoss = (step: 0, difference: 0.0)
        for (step, indices) in plan.steps.enumerated() {
            for (row, sample) in indices.enumerated() {
                for e in 0..<elements { model.input[row * elements + e] = input[sample * elements + e] }
                for k in 0..<classes { batchLabels[row * classes + k] = labels[sample * classes + k] }
            }
            model.forward(count: indices.count, training: true)
            let loss = batchLabels.withUnsafeBufferPointer { model.backward(labels: $0.baseAddress!, count: indices.count, inputGradient: false).loss }
            model.adamStep(learningRate: fixture.manifest.learning_rate)
            let difference = abs(loss - kerasLosses[step])
            if difference > worstLoss.difference { worstLoss = (step, difference) }
        }
        XCTAssertEqual(model.step, 200)
        XCTAssertLessThan(worstLoss.difference, 1e-8, "loss of step \(worstLoss.step + 1): ours vs Keras")
        XCTAssertLessThan(kerasLosses.suffix(20).reduce(0, +) / 20, kerasLosses.prefix(20).reduce(0, +) / 20 / 2, "the fixture trains")

        var worst = (tensor: "", difference: 0.0)
        func compare(_ name: String, _ pointer: UnsafePointer<Double>, count: Int) throws {
            let keras = try fixture.tensor(name)
            XCTAssertEqual(keras.count, count, name)
            for i in 0..<count {
                let d = abs(pointer[i] - keras[i]) / max(1, abs(keras[i]))
                if d > worst.difference { worst = (name, d) }
            }
        }
        var trainable = 0
        for t in TinyF64.tensors {
            try compare("final/\(t.name)", model.parameters + t.offset, count: t.count)
            if t.trainable {
                trainable += 1
                try compare("adam_m/\(t.name)", model.adamM + t.offset, count: t.count)
                try compare("adam_v/\(t.name)", model.adamV + t.offset, count: t.count)
            }
        }
        XCTAssertEqual(trainable, plan.trainable.count)
        XCTAssertLessThan(worst.difference, 1e-8, "largest difference in \(worst.tensor)")
        print("keras-tiny-fit: max loss difference \(worstLoss.difference) (step \(worstLoss.step + 1)), max tensor difference \(worst.difference) (\(worst.tensor))")
    }
}
