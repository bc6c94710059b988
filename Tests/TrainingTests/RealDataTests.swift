/// ResNet-50 on real SIGNS photos: 96 images of the course's `test_signs.h5` train, the other 24
/// test. Uses a release `resnet-run` from the same scratch directory when one newer than the
/// sources exists (8 epochs; training accuracy must rise well above chance, 1/6); otherwise the
/// debug binary (slow: 2 epochs at batch 8, about a minute; loss must fall and the run complete).
/// Skips with a message where `../shared` is absent.
import Foundation
import RunStore
import XCTest

final class RealDataTests: XCTestCase {
    func testResNet50LearnsOnRealSIGNSImages() throws {
        let file = Paths.realTestFile
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw XCTSkip("real SIGNS data not found at \(file.path) (../shared is absent on this machine)")
        }
        let dir = try makeTemporaryDirectory(self)
        let db = dir.appendingPathComponent("runs.db")
        let release = Paths.freshReleaseResnetRun()
        let epochs = release == nil ? 2 : 8
        let result = try runCLI(["train", "--model", "resnet50-signs", "--data-file", file.path, "--split", "96",
                                 "--epochs", "\(epochs)", "--batch-size", "8", "--lr", "0.001", "--db", db.path, "--format", "json"],
                                in: dir, executable: release)
        XCTAssertEqual(result.status, 0, result.stderr)
        let run = try XCTUnwrap(try storedRuns(db).first)
        XCTAssertEqual(run.status, .completed)
        XCTAssertEqual(run.trainCount, 96)
        XCTAssertEqual(run.testCount, 24)
        XCTAssertEqual(run.datasetSHA256, "539fb746ed9e947eb244cfca73f4d1b03f9bf5524d609eeed2cd76ddb1b179be")
        XCTAssertEqual(run.hyperparameters["train_items"], "0..<96")
        XCTAssertEqual(run.hyperparameters["test_items"], "96..<120")
        let epochRecords = try storedEpochs(db, run: run.id)
        XCTAssertEqual(epochRecords.count, epochs)
        let losses = epochRecords.map { $0.metrics["loss"]! }, accuracies = epochRecords.map { $0.metrics["accuracy"]! }
        print("resnet50-signs on 96 real images (\(release == nil ? "debug" : "release") binary): loss \(losses), accuracy \(accuracies)")
        XCTAssertLessThan(losses.last!, losses.first!, "training loss must fall")
        if release != nil {
            XCTAssertGreaterThan(accuracies.max()!, 0.5, "training accuracy must rise well above chance (1/6)")
        } else {
            print("note: debug binary only: the accuracy-above-chance check needs a fresh release build (swift build -c release --scratch-path <same scratch>)")
        }
        let final = try XCTUnwrap(try storedSnapshots(db, run: run.id).first { $0.kind == .final })
        XCTAssertEqual(final.byteCount, 23_600_006 * 4, "Keras' total params (incl. BN moving statistics), float32")
    }
}
