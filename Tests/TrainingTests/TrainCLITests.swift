/// `resnet-run train` / `evaluate` / `predict` as a user runs them: child processes of the debug
/// binary on the tiny model, on SIGNS files the tests write and on the synthetic set, with the
/// experiment database read back. Includes interruption (hidden `--stop-after-epochs` and a real
/// SIGINT) and resume equality.
import Foundation
import RunStore
import XCTest

final class TrainCLITests: XCTestCase {
    var dir: URL!
    var db: URL { dir.appendingPathComponent("runs.db") }

    override func setUpWithError() throws {
        dir = try makeTemporaryDirectory(self)
    }

    /// Tiny model, a SIGNS directory written here: completes, records everything, loss falls.
    func testTinyTrainsOnSIGNSFilesAndRecordsTheRun() throws {
        let data = try writeSIGNSDirectory(dir.appendingPathComponent("signs"))
        let result = try runCLI(["train", "--model", "tiny", "--data", data.path, "--epochs", "4", "--batch-size", "8",
                                 "--lr", "0.003", "--db", db.path, "--threads", "1", "--label", "fixture", "--format", "json"], in: dir)
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.jsonLines
        XCTAssertEqual(lines.count, 5, "4 epochs + the outcome: \(result.stdout)")
        XCTAssertEqual(lines.last?["status"] as? String, "completed")
        // No heap allocation between the first and last step of an epoch is a release-build
        // property (debug kernels allocate); here only check the counter is reported.
        XCTAssertNotNil(lines.first?["step_loop_allocations"])

        let runs = try storedRuns(db)
        XCTAssertEqual(runs.count, 1)
        let run = try XCTUnwrap(runs.first)
        XCTAssertEqual(run.status, .completed)
        XCTAssertEqual(run.label, "fixture")
        XCTAssertEqual(run.model, "tiny")
        XCTAssertEqual(run.epochsDone, 4)
        XCTAssertEqual(run.batchSize, 8)
        XCTAssertEqual(run.learningRate, 0.003)
        XCTAssertEqual(run.threads, 1)
        XCTAssertEqual(run.trainCount, 96)
        XCTAssertEqual(run.testCount, 24)
        XCTAssertEqual(run.datasetPath, data.path)
        XCTAssertEqual(run.datasetSHA256?.count, 64)
        XCTAssertNotNil(run.finishedAt)
        for (key, value) in ["optimizer": "adam", "beta_1": "0.9", "beta_2": "0.999", "epsilon": "1e-07",
                             "lr": "0.003", "epochs": "4", "batch_size": "8", "seed": "0", "data_source": "directory"] {
            XCTAssertEqual(run.hyperparameters[key], value, key)
        }
        XCTAssertTrue(run.commandLine.contains("--label fixture"))

        let epochs = try storedEpochs(db, run: run.id)
        XCTAssertEqual(epochs.map(\.epoch), [1, 2, 3, 4])
        for e in epochs {
            for key in ["loss", "accuracy", "test_loss", "test_accuracy", "seconds", "images_per_second"] {
                XCTAssertNotNil(e.metrics[key], "epoch \(e.epoch) lacks \(key)")
            }
        }
        XCTAssertLessThan(epochs.last!.metrics["loss"]!, epochs.first!.metrics["loss"]!, "training loss must fall")

        let snapshots = try storedSnapshots(db, run: run.id)
        let kinds = Set(snapshots.map(\.kind))
        XCTAssertTrue(kinds.contains(.final) && kinds.contains(.best), "\(kinds)")
        let final = try XCTUnwrap(snapshots.first { $0.kind == .final })
        XCTAssertEqual(final.epoch, 4)
        XCTAssertEqual(final.byteCount, 6070 * 4, "all parameters incl. BN moving statistics, float32")
        XCTAssertTrue(final.tensors.contains { $0.name == "bn_conv1/moving_variance" && $0.dtype == "float32" })
        XCTAssertEqual(snapshots.first { $0.kind == .best }?.epoch, run.bestEpoch)

        // evaluate: the final weights on the run's own test set give the last epoch's test metrics.
        let evaluation = try runCLI(["evaluate", "\(run.id)", "--db", db.path, "--threads", "1", "--format", "json"], in: dir)
        XCTAssertEqual(evaluation.status, 0, evaluation.stderr)
        let e = try XCTUnwrap(evaluation.jsonLines.first)
        XCTAssertEqual(e["weights"] as? String, "final")
        XCTAssertEqual(e["count"] as? Int, 24)
        XCTAssertEqual(e["accuracy"] as? Double, epochs.last!.metrics["test_accuracy"])
        XCTAssertEqual(try XCTUnwrap(e["loss"] as? Double), epochs.last!.metrics["test_loss"]!, accuracy: 1e-12)

        // evaluate --data DIR uses DIR/test_signs.h5: the same images here.
        let onDir = try runCLI(["evaluate", "\(run.id)", "--db", db.path, "--data", data.path, "--snapshot", "best"], in: dir)
        XCTAssertEqual(onDir.status, 0, onDir.stderr)
        XCTAssertTrue(onDir.stdout.contains("best weights of epoch \(run.bestEpoch!)"), onDir.stdout)
        XCTAssertTrue(onDir.stdout.contains("accuracy: "), onDir.stdout)

        // predict: a probability vector over 6 classes that sums to 1.
        let file = data.appendingPathComponent("test_signs.h5").path
        let prediction = try runCLI(["predict", "\(run.id)", "--db", db.path, "--data", file, "--index", "3", "--format", "json"], in: dir)
        XCTAssertEqual(prediction.status, 0, prediction.stderr)
        let p = try XCTUnwrap(prediction.jsonLines.first?["probabilities"] as? [Double])
        XCTAssertEqual(p.count, 6)
        XCTAssertEqual(p.reduce(0, +), 1, accuracy: 1e-5)
        XCTAssertEqual(prediction.jsonLines.first?["predicted_class"] as? Int, p.indices.max { p[$0] < p[$1] })
        let text = try runCLI(["predict", "\(run.id)", "--db", db.path, "--data", file, "--index", "3"], in: dir)
        XCTAssertTrue(text.stdout.contains("[["), text.stdout)

        let badIndex = try runCLI(["predict", "\(run.id)", "--db", db.path, "--data", file, "--index", "24"], in: dir)
        XCTAssertNotEqual(badIndex.status, 0)
        XCTAssertEqual(badIndex.stderrLines, ["error: --index 24: \(file) holds 24 images (indices 0...23)"])
    }

    /// No --data and no datasets/: the synthetic set, said in one line, recorded as `synthetic`.
    func testDefaultDataIsSyntheticWhenThereIsNoDatasetsDirectory() throws {
        let result = try runCLI(["train", "--model", "tiny", "--epochs", "3", "--synthetic-train", "120", "--synthetic-test", "30",
                                 "--lr", "0.003", "--db", db.path, "--threads", "1"], in: dir)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stderrLines.count, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("no datasets/ directory here: training on the built-in synthetic SIGNS set"), result.stderr)
        XCTAssertTrue(result.stderr.contains("--data DIR"), result.stderr)
        let lines = result.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 5, "the run id, one plain line per epoch when stdout is not a terminal, then the outcome: \(result.stdout)")
        XCTAssertEqual(lines[0], "Run 1: training tiny on synthetic — follow it with: resnet-runs show 1")
        let epochLines = Array(lines.dropFirst())
        XCTAssertTrue(epochLines[0].hasPrefix("Epoch 1/3 - 15 steps - "), String(epochLines[0]))
        XCTAssertTrue(epochLines[0].contains(" - loss: ") && epochLines[0].contains(" - test_accuracy: "), String(epochLines[0]))
        XCTAssertTrue(epochLines[3].hasPrefix("run 1 completed on the SYNTHETIC set (a pipeline check, not SIGNS photos): test accuracy "), String(epochLines[3]))
        XCTAssertTrue(epochLines[3].contains("— resnet-runs show 1"), String(epochLines[3]))

        let run = try XCTUnwrap(try storedRuns(db).first)
        XCTAssertEqual(run.datasetPath, "synthetic")
        XCTAssertNil(run.datasetSHA256)
        XCTAssertEqual(run.trainCount, 120)
        XCTAssertEqual(run.batchSize, 8, "default batch size: 32, capped at tiny's capacity 8")
        let epochs = try storedEpochs(db, run: run.id)
        XCTAssertLessThan(epochs.last!.metrics["loss"]!, epochs.first!.metrics["loss"]!)
    }

    /// The last partial batch is trained: 100 images at batch 8 = 12 full steps + 4.
    func testLastPartialBatchIsTrained() throws {
        let result = try runCLI(["train", "--model", "tiny", "--synthetic", "--synthetic-train", "100", "--synthetic-test", "10",
                                 "--epochs", "1", "--db", db.path, "--threads", "1", "--format", "json"], in: dir)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.jsonLines.first?["steps"] as? Int, 13)
        let accuracy = try XCTUnwrap(result.jsonLines.first?["accuracy"] as? Double)
        XCTAssertEqual((accuracy * 100).rounded(), accuracy * 100, accuracy: 1e-9, "accuracy is a count over all 100 images")
    }

    /// 3 epochs straight vs. 1 epoch + interrupt (exit 130) + resume: identical metrics.
    func testResumedRunMatchesUninterruptedRun() throws {
        let common = ["train", "--model", "tiny", "--synthetic", "--synthetic-train", "60", "--synthetic-test", "20",
                      "--epochs", "3", "--batch-size", "8", "--lr", "0.002", "--seed", "5", "--db", db.path, "--threads", "1"]
        let straight = try runCLI(common, in: dir)
        XCTAssertEqual(straight.status, 0, straight.stderr)

        let stopped = try runCLI(common + ["--stop-after-epochs", "1"], in: dir)
        XCTAssertEqual(stopped.status, 130, stopped.stderr)
        XCTAssertTrue(stopped.stdout.contains("run 2 interrupted after epoch 1 of 3 (checkpoint stored) — continue with: resnet-run train --resume 2"), stopped.stdout)
        var run = try XCTUnwrap(try storedRuns(db).first { $0.id == 2 })
        XCTAssertEqual(run.status, .interrupted)
        XCTAssertEqual(run.epochsDone, 1)
        let checkpoint = try XCTUnwrap(try storedSnapshots(db, run: 2).first { $0.kind == .checkpoint })
        XCTAssertEqual(checkpoint.epoch, 1)
        XCTAssertEqual(checkpoint.byteCount, (6070 + 2 * 5670) * 4, "weights + BN statistics + Adam m and v")
        XCTAssertEqual(checkpoint.extra["step"], "8")
        XCTAssertEqual(checkpoint.extra["rng"]?.split(separator: ",").count, 4)

        let resumed = try runCLI(["train", "--resume", "2", "--db", db.path], in: dir)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        run = try XCTUnwrap(try storedRuns(db).first { $0.id == 2 })
        XCTAssertEqual(run.status, .completed)
        XCTAssertEqual(run.epochsDone, 3)
        XCTAssertEqual(reproducible(try storedEpochs(db, run: 2)), reproducible(try storedEpochs(db, run: 1)))
        // Once completed, the checkpoint has served its purpose; final and best weights remain.
        XCTAssertEqual(Set(try storedSnapshots(db, run: 2).map(\.kind)), [.final, .best])

        // A completed run cannot be resumed again.
        let again = try runCLI(["train", "--resume", "2", "--db", db.path], in: dir)
        XCTAssertEqual(again.status, 2)
        XCTAssertEqual(again.stderrLines, ["error: run 2 is already completed (3/3 epochs); nothing to resume — extend it with --epochs N (more than 3), or start a new run"])
    }

    /// A real SIGINT mid-training: the step finishes, the checkpoint of the last completed epoch
    /// is stored, the run is `interrupted`, exit 130; the resumed run equals an uninterrupted one.
    func testSIGINTStoresCheckpointAndResumeMatches() throws {
        let common = ["train", "--model", "tiny", "--synthetic", "--synthetic-train", "400", "--synthetic-test", "16",
                      "--epochs", "4", "--batch-size", "8", "--db", db.path, "--threads", "1"]
        let child = try startCLI(common + ["--format", "json"], in: dir)
        // Wait for the first epoch to be committed, then interrupt (mid-epoch 2 at the latest).
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let run = try? storedRuns(db).first, run.epochsDone >= 1 { break }
            usleep(20_000)
        }
        kill(child.process.processIdentifier, SIGINT)
        let result = finish(child)
        XCTAssertEqual(result.status, 130, result.stderr)
        var run = try XCTUnwrap(try storedRuns(db).first)
        XCTAssertEqual(run.status, .interrupted)
        XCTAssertTrue(run.statusReason?.contains("SIGINT") ?? false, run.statusReason ?? "")
        let done = run.epochsDone
        XCTAssertGreaterThanOrEqual(done, 1)
        XCTAssertLessThan(done, 4, "the interrupt must land before the run ends")
        XCTAssertEqual(try storedSnapshots(db, run: run.id).first { $0.kind == .checkpoint }?.epoch, done)
        XCTAssertEqual(result.jsonLines.last?["status"] as? String, "interrupted")

        let resumed = try runCLI(["train", "--resume", "\(run.id)", "--db", db.path], in: dir)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        run = try XCTUnwrap(try storedRuns(db).first)
        XCTAssertEqual(run.status, .completed)

        let straight = try runCLI(common, in: dir)
        XCTAssertEqual(straight.status, 0, straight.stderr)
        XCTAssertEqual(reproducible(try storedEpochs(db, run: 1)), reproducible(try storedEpochs(db, run: 2)))
    }

    /// A failure after the run started: `failed` with the reason, exit 1, never `running`.
    func testFailureAfterStartMarksRunFailed() throws {
        let result = try runCLI(["train", "--model", "tiny", "--synthetic", "--synthetic-train", "16", "--synthetic-test", "8",
                                 "--epochs", "3", "--db", db.path, "--fail-after-epochs", "1"], in: dir)
        XCTAssertEqual(result.status, 1)
        XCTAssertEqual(result.stderrLines, ["error: run 1 failed: injected failure after epoch 1 (--fail-after-epochs, a test option)"])
        let run = try XCTUnwrap(try storedRuns(db).first)
        XCTAssertEqual(run.status, .failed)
        XCTAssertEqual(run.statusReason, "injected failure after epoch 1 (--fail-after-epochs, a test option)")
        XCTAssertNotNil(run.finishedAt)
    }
}
