/// `train --validation-split F` on SIGNS files and the synthetic set: Keras' fit(validation_split=F)
/// (issue #11 item 8). The last F of the training images are held out, every epoch records
/// val_loss and val_accuracy beside the train and test metrics, the "best" weights are chosen by
/// val_accuracy and the run says so (best_by); resume holds out the same images; the stored-run
/// commands (show, list --where/--sort/--columns, compare, report) know the new metrics.
import Datasets
import Foundation
import RunStore
import XCTest

final class ValidationSplitTests: XCTestCase {
    var dir: URL!
    var db: URL { dir.appendingPathComponent("runs.db") }
    var runs: URL { get throws { try Paths.resnetRun().deletingLastPathComponent().appendingPathComponent("resnet-runs") } }

    override func setUpWithError() throws {
        dir = try makeTemporaryDirectory(self)
    }

    func testValidationSplitHoldsOutTheLastImagesAndChoosesBestByValAccuracy() throws {
        let data = try writeSIGNSDirectory(dir.appendingPathComponent("signs"))  // 96 train, 24 test
        let r = try runCLI(["train", "--model", "tiny", "--data", data.path, "--epochs", "5", "--batch-size", "8",
                            "--lr", "0.003", "--validation-split", "0.25", "--db", db.path, "--threads", "1", "--format", "json"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let outcome = try XCTUnwrap(r.jsonLines.last)
        XCTAssertEqual(outcome["best_by"] as? String, "val_accuracy")
        XCTAssertNotNil(r.jsonLines.first?["val_accuracy"], "each epoch's JSON line has the validation metrics")

        let run = try XCTUnwrap(try storedRuns(db).first)
        XCTAssertEqual(run.trainCount, 72, "Keras: split_at = floor(96 * (1 - 0.25)); the rest validates")
        for (key, value) in ["validation_split": "0.25", "validation_count": "24", "validation_items": "72..<96",
                             "train_items": "0..<72", "best_by": "val_accuracy"] {
            XCTAssertEqual(run.hyperparameters[key], value, key)
        }
        let epochs = try storedEpochs(db, run: run.id)
        for e in epochs {
            for key in ["loss", "accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy"] {
                XCTAssertNotNil(e.metrics[key], "epoch \(e.epoch) lacks \(key)")
            }
        }
        // The best epoch: the first with the highest val_accuracy (Keras' ModelCheckpoint(save_best_only)).
        let bestValue = epochs.map { $0.metrics["val_accuracy"]! }.max()!
        let bestEpoch = try XCTUnwrap(epochs.first { $0.metrics["val_accuracy"] == bestValue })
        XCTAssertEqual(run.bestEpoch, bestEpoch.epoch)
        XCTAssertEqual(run.bestTestAccuracy, bestEpoch.metrics["test_accuracy"], "the best epoch's test accuracy, not the highest")
        let best = try XCTUnwrap(try storedSnapshots(db, run: run.id).first { $0.kind == .best })
        XCTAssertEqual(best.epoch, bestEpoch.epoch)
        XCTAssertEqual(best.extra["best_by"], "val_accuracy")
        XCTAssertEqual(best.extra["val_accuracy"].flatMap(Double.init), bestValue)

        // The validation images are the training file's last 24: the best weights score on them
        // exactly the val_loss / val_accuracy recorded for the best epoch.
        let (train, _) = SyntheticSigns.splits(trainCount: 96, testCount: 24, height: 16, width: 16, classes: 6, seed: 11)
        let held = dir.appendingPathComponent("held_out_test.h5")
        try HDF5Writer.writeSIGNS(path: held.path, split: "test", dataset: train.subset(72..<96))
        let e = try runCLI(["evaluate", "1", "--snapshot", "best", "--data", held.path, "--db", db.path, "--threads", "1", "--format", "json"], in: dir)
        XCTAssertEqual(e.status, 0, e.stderr)
        let evaluation = try XCTUnwrap(e.jsonLines.first)
        XCTAssertEqual(evaluation["count"] as? Int, 24)
        XCTAssertEqual(evaluation["accuracy"] as? Double, bestEpoch.metrics["val_accuracy"])
        XCTAssertEqual(try XCTUnwrap(evaluation["loss"] as? Double), bestEpoch.metrics["val_loss"]!, accuracy: 1e-9)

        // show says which metric chose the best epoch; JSON too.
        let show = try runCLI(["show", "1", "--db", db.path, "--no-chart"], in: dir, executable: try runs)
        XCTAssertEqual(show.status, 0, show.stderr)
        XCTAssertTrue(show.stdout.contains("  best chosen by  val_accuracy (validation split 0.25: the last 24 of 96 training images)\n"), show.stdout)
        XCTAssertTrue(show.stdout.contains("  best val acc    \(String(format: "%.4f", bestValue)) at epoch \(bestEpoch.epoch) (test acc there "), show.stdout)
        XCTAssertTrue(show.stdout.contains("VAL_LOSS  VAL_ACCURACY  TEST_LOSS"), "Keras' column order: train, validation, test\n\(show.stdout)")
        let json = try runCLI(["show", "1", "--db", db.path, "--format", "json"], in: dir, executable: try runs)
        XCTAssertEqual((try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])?["best_by"] as? String, "val_accuracy")
    }

    func testWithoutASplitTheTestSetChoosesAndSaysSo() throws {
        let r = try runCLI(["train", "--model", "tiny", "--synthetic", "--synthetic-train", "16", "--synthetic-test", "8",
                            "--epochs", "1", "--db", db.path, "--threads", "1"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let run = try XCTUnwrap(try storedRuns(db).first)
        XCTAssertEqual(run.hyperparameters["best_by"], "test_accuracy")
        XCTAssertNil(try storedEpochs(db, run: 1).first?.metrics["val_accuracy"])
        let show = try runCLI(["show", "1", "--db", db.path], in: dir, executable: try runs)
        XCTAssertTrue(show.stdout.contains("  best chosen by  test_accuracy (no validation split)\n"), show.stdout)
        // A split that leaves nothing to train on or to validate: one line, nothing recorded.
        let bad = try runCLI(["train", "--model", "tiny", "--synthetic", "--synthetic-train", "16", "--synthetic-test", "8",
                              "--validation-split", "0.99", "--db", db.path], in: dir)
        XCTAssertEqual(bad.status, 2)
        XCTAssertEqual(bad.stderrLines, ["error: --validation-split 0.99: the 16 training images would leave 0 to train on and 16 to validate; both need at least one"])
        let fraction = try runCLI(["train", "--model", "tiny", "--synthetic", "--validation-split", "1", "--db", db.path], in: dir)
        XCTAssertEqual(fraction.stderrLines, ["error: --validation-split: '1' is not a fraction between 0 and 1 (e.g. 0.2)"])
        XCTAssertEqual(try storedRuns(db).count, 1)
    }

    /// The split is deterministic: interrupted after epoch 1 and resumed, a run with a validation
    /// split records the same metrics (val_* included) and best epoch as an uninterrupted one.
    func testResumeHoldsOutTheSameImages() throws {
        let common = ["train", "--model", "tiny", "--synthetic", "--synthetic-train", "48", "--synthetic-test", "8",
                      "--epochs", "3", "--batch-size", "8", "--lr", "0.003", "--seed", "2", "--validation-split", "0.25",
                      "--db", db.path, "--threads", "1"]
        XCTAssertEqual(try runCLI(common, in: dir).status, 0)
        let stopped = try runCLI(common + ["--stop-after-epochs", "1"], in: dir)
        XCTAssertEqual(stopped.status, 130, stopped.stderr)
        let resumed = try runCLI(["train", "--resume", "last", "--db", db.path], in: dir)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("by val_accuracy"), resumed.stdout)
        let a = try storedEpochs(db, run: 1), b = try storedEpochs(db, run: 2)
        XCTAssertEqual(reproducible(a), reproducible(b))
        XCTAssertNotNil(b.last?.metrics["val_accuracy"])
        let runs = try storedRuns(db)
        XCTAssertEqual(runs[0].bestEpoch, runs[1].bestEpoch)
        XCTAssertEqual(try storedSnapshots(db, run: 2).first { $0.kind == .best }?.epoch, runs[0].bestEpoch)
    }

    /// list --where / --sort / --columns, compare and report over the validation metrics.
    func testStoredRunCommandsKnowTheValidationMetrics() throws {
        let common = ["train", "--model", "tiny", "--synthetic", "--synthetic-train", "40", "--synthetic-test", "8",
                      "--epochs", "2", "--batch-size", "8", "--db", db.path, "--threads", "1", "--quiet"]
        XCTAssertEqual(try runCLI(common + ["--validation-split", "0.2", "--label", "val"], in: dir).status, 0)
        XCTAssertEqual(try runCLI(common + ["--label", "plain"], in: dir).status, 0)
        let runsBinary = try self.runs
        func stored(_ args: [String]) throws -> ProcessResult {
            let r = try runCLI(args + ["--db", db.path], in: dir, executable: runsBinary)
            XCTAssertEqual(r.status, 0, "\(args): \(r.stderr)")
            return r
        }
        XCTAssertEqual(try stored(["list", "--where", "val_accuracy >= 0", "--columns", "id,label", "--format", "csv"]).stdout, "id,label\n1,val\n")
        XCTAssertEqual(try stored(["list", "--where", "best_by = val_accuracy", "--columns", "id", "--format", "csv"]).stdout, "id\n1\n")
        let columns = try stored(["list", "--columns", "id,val_accuracy,val_loss,best_epoch", "--format", "csv", "--sort", "val_accuracy"]).stdout
        XCTAssertTrue(columns.hasPrefix("id,val_accuracy,val_loss,best_epoch\n1,"), columns)
        XCTAssertTrue(columns.hasSuffix("\n2,,,2\n") || columns.hasSuffix("\n2,,,1\n"), "a run without the metric sorts last: \(columns)")
        let compare = try stored(["compare", "1", "2", "--no-chart"]).stdout
        for row in ["final val_accuracy", "best val_accuracy", "Per-epoch val_accuracy", "hp.best_by"] {
            XCTAssertTrue(compare.contains(row), "\(row) missing:\n\(compare)")
        }
        let svg = try stored(["compare", "1", "2", "--plot", "-"]).stdout
        XCTAssertTrue(svg.contains("#1 val_accuracy") && svg.contains("dotted lines: validation split"), svg)
        _ = try stored(["report", "1", "2", "--out", "r.html"])
        let html = try String(contentsOf: dir.appendingPathComponent("r.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("<th>best val_accuracy</th>"), "the report's compare table has the validation rows")
    }
}
