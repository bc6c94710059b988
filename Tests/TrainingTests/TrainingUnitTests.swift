/// In-process tests of the Training library's pieces: option validation messages, progress
/// formatting without allocation, data-source records and snapshot manifests.
import Datasets
import Models
import RunStore
@testable import Training
import XCTest

final class TrainingUnitTests: XCTestCase {
    func testHyperparameterValidation() {
        func message(_ hp: Hyperparameters, capacity: Int = 32) -> String? {
            do { try hp.validate(capacity: capacity, modelName: "resnet50-signs", dtype: "float32"); return nil } catch { return "\(error)" }
        }
        XCTAssertNil(message(Hyperparameters()))
        XCTAssertNil(message(Hyperparameters(learningRate: 0.00015, epochs: 1, batchSize: 32)))
        XCTAssertEqual(message(Hyperparameters(batchSize: 33)),
                       "--batch-size: 33 is above what resnet50-signs is compiled for (capacity 32 set in resnet50-signs.arch)")
        XCTAssertEqual(message(Hyperparameters(learningRate: .nan)),
                       "--lr: nan is not a learning rate; it must be a finite number > 0 (Keras' default is 0.001)")
        XCTAssertEqual(message(Hyperparameters(epochs: 0)), "--epochs: 0 is not allowed; train for at least 1 epoch")
    }

    func testLineBufferFormatting() {
        var line = LineBuffer(capacity: 256)
        defer { line.deallocate() }
        func text() -> String { String(decoding: UnsafeBufferPointer(start: line.bytes, count: line.count), as: UTF8.self) }
        line.fixed(1.74125, 4); line.byte(32); line.fixed(0.3, 4); line.byte(32); line.fixed(-2.5, 2); line.byte(32)
        line.fixed(.nan, 4); line.byte(32); line.int(7, width: 3); line.byte(32); line.int(0)
        XCTAssertEqual(text(), "1.7413 0.3000 -2.50 nan   7 0")
        line.reset()
        line.duration(19.4); line.byte(32); line.duration(65); line.byte(32); line.duration(3723)
        line.byte(32); line.perStep(0.56); line.byte(32); line.perStep(2.2); line.byte(32); line.perStep(0.00085)
        XCTAssertEqual(text(), "19s 1:05 1:02:03 560ms/step 2s/step 850us/step")
    }

    func testKerasStyleBar() {
        let printer = ProgressPrinter(mode: .bar, epochs: 20)
        func bar(_ step: Int, _ steps: Int) -> String {
            printer.drawBar(step, of: steps)
            return String(decoding: UnsafeBufferPointer(start: printer.line.bytes, count: printer.line.count), as: UTF8.self)
        }
        XCTAssertEqual(bar(12, 34), "\r12/34 [" + String(repeating: "=", count: 9) + ">" + String(repeating: ".", count: 20) + "]")
        XCTAssertEqual(bar(34, 34), "\r34/34 [" + String(repeating: "=", count: 30) + "]")
        XCTAssertEqual(bar(1, 34), "\r 1/34 [" + String(repeating: ".", count: 30) + "]")
    }

    func testDataSourceRecordRoundTrip() throws {
        let shape = ModelShape(TinyF32.self)
        let synthetic = DataSource.synthetic(trainCount: 12, testCount: 6, seed: 0)
        let loaded = try synthetic.load(for: shape)
        XCTAssertEqual(loaded.train.count, 12)
        XCTAssertEqual(try DataSource(recorded: loaded.recordEntries, run: 1), synthetic)
        XCTAssertEqual(synthetic.recordedPath, "synthetic")

        let dir = try makeTemporaryDirectory(self)
        let data = try writeSIGNSDirectory(dir, size: 16, train: 12, test: 6)
        let file = data.appendingPathComponent("test_signs.h5").path
        let split = try DataSource.file(file, split: 4).load(for: shape)
        XCTAssertEqual(split.train.count, 4)
        XCTAssertEqual(split.test.count, 2)
        XCTAssertEqual(split.recordEntries["test_items"], "4..<6")
        XCTAssertEqual(try DataSource(recorded: split.recordEntries, run: 1), .file(file, split: 4))
        XCTAssertThrowsError(try DataSource(recorded: [:], run: 3)) {
            XCTAssertTrue("\($0)".contains("run 3 does not record 'data_source'"))
        }
    }

    func testSnapshotManifestsCoverStateBytes() {
        let p = Weights.parameterManifest(ResNet50Signs.self)
        XCTAssertEqual(p.count, ResNet50Signs.tensors.count)
        XCTAssertEqual(p.last.map { $0.offset + $0.byteCount }, ResNet50Signs.parameterCount * 4)
        XCTAssertEqual(p.reduce(0) { $0 + $1.byteCount }, ResNet50Signs.parameterCount * 4)
        let c = Weights.checkpointManifest(TinyF64.self)
        XCTAssertEqual(c.reduce(0) { $0 + $1.byteCount }, (TinyF64.parameterCount + 2 * TinyF64.trainableParameterCount) * 8)
        XCTAssertEqual(c.suffix(2).map(\.name), ["adam/m", "adam/v"])
        XCTAssertTrue(c.allSatisfy { $0.dtype == "float64" })
    }
}
