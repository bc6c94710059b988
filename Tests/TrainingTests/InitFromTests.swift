/// `train --init-from RUN`: a new run starts from another run's weights (fine-tuning), records it
/// as its parent, and `resnet-runs show` prints the lineage.
import Foundation
import RunStore
import XCTest

final class InitFromTests: XCTestCase {
    var dir: URL!
    var db: URL { dir.appendingPathComponent("runs.db") }

    override func setUpWithError() throws {
        dir = try makeTemporaryDirectory(self)
    }

    func testFineTuningStartsFromTheParentsWeightsAndRecordsIt() throws {
        let common = ["train", "--model", "tiny", "--synthetic", "--synthetic-train", "32", "--synthetic-test", "8",
                      "--batch-size", "8", "--db", db.path, "--threads", "1"]
        let parent = try runCLI(common + ["--epochs", "2", "--lr", "0.003"], in: dir)
        XCTAssertEqual(parent.status, 0, parent.stderr)
        // A learning rate too small to move float32 weights: the child's trained weights are the parent's.
        let child = try runCLI(common + ["--epochs", "1", "--lr", "1e-30", "--init-from", "-1"], in: dir)
        XCTAssertEqual(child.status, 0, child.stderr)
        let run = try XCTUnwrap(try storedRuns(db).first { $0.id == 2 })
        XCTAssertEqual(run.hyperparameters["init_from"], "1")
        XCTAssertEqual(run.hyperparameters["init_weights"], "final")
        XCTAssertEqual(run.hyperparameters["init_epoch"], "2")
        let store = try RunStore(path: db.path, createIfMissing: false, readOnly: true)
        let trainable = 5670 * 4  // tiny's trainable parameters, float32, first in the blob
        let a = try store.loadSnapshot(run: 1, kind: .final).bytes.prefix(trainable)
        let b = try store.loadSnapshot(run: 2, kind: .final).bytes.prefix(trainable)
        XCTAssertEqual(a, b, "the child started from the parent's final weights")
        let fresh = try runCLI(common + ["--epochs", "1", "--lr", "1e-30"], in: dir)
        XCTAssertEqual(fresh.status, 0, fresh.stderr)
        XCTAssertNotEqual(try store.loadSnapshot(run: 3, kind: .final).bytes.prefix(trainable), a, "without --init-from: a fresh start")

        // Lineage in show (resnet-runs sits next to resnet-run).
        let runs = try Paths.resnetRun().deletingLastPathComponent().appendingPathComponent("resnet-runs")
        let show = try runCLI(["show", "2", "--db", db.path], in: dir, executable: runs)
        XCTAssertEqual(show.status, 0, show.stderr)
        XCTAssertTrue(show.stdout.contains("started from    run 1 (final weights of epoch 2)"), show.stdout)
        XCTAssertFalse(show.stdout.contains("lineage"), "the lineage is not a hyperparameter")
        let json = try runCLI(["show", "2", "--db", db.path, "--format", "json"], in: dir, executable: runs)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["started_from"] as? String, "run 1 (final weights of epoch 2)")
    }

    func testBadParentsAreRefusedBeforeAnythingIsRecorded() throws {
        let common = ["train", "--model", "tiny", "--synthetic", "--synthetic-train", "16", "--synthetic-test", "8",
                      "--epochs", "1", "--db", db.path, "--threads", "1"]
        XCTAssertEqual(try runCLI(common, in: dir).status, 0)
        let cases: [([String], String)] = [
            (["--init-from", "9"], "error: --init-from: no run 9 in \(db.path)"),
            (["--init-from", "1", "--snapshot", "checkpoint"], "error: --snapshot: run 1 has no 'checkpoint' weights (it has: best, final)"),
            (["--snapshot", "best"], "error: --snapshot only applies with --init-from RUN"),
            (["--init-from", "1-2"], "error: expected one run id, got the range '1-2'"),
            (["--init-from", "nolabel"], "error: no run labelled 'nolabel' in \(db.path) (a run is named by its id, a range like 3-7, last, -1, or its label)"),
        ]
        for (extra, message) in cases {
            let r = try runCLI(common + extra, in: dir)
            XCTAssertEqual(r.status, 2, r.stderr)
            XCTAssertEqual(r.stderrLines, [message])
        }
        // The old spelling of --snapshot still works, with a note.
        let old = try runCLI(common + ["--init-weights", "best"], in: dir)
        XCTAssertEqual(old.status, 2)
        XCTAssertEqual(old.stderrLines, ["note: --init-weights is deprecated; use --snapshot best", "error: --snapshot only applies with --init-from RUN"])
        let float64 = try runCLI(["train", "--model", "tiny-float64", "--synthetic", "--epochs", "1", "--db", db.path, "--init-from", "1"], in: dir)
        XCTAssertEqual(float64.stderrLines, ["error: --init-from: run 1 trained tiny, not tiny-float64; pass --model tiny or pick another run"])
        XCTAssertEqual(try storedRuns(db).count, 1, "nothing recorded")
    }

    /// `--resume RUN --epochs N` extends a run: one kept with --keep-checkpoint continues exactly
    /// (the same curve as a run planned that long from the start); one without is refused.
    func testExtendingACompletedRunContinuesExactly() throws {
        let common = ["train", "--model", "tiny", "--synthetic", "--synthetic-train", "48", "--synthetic-test", "8",
                      "--batch-size", "8", "--lr", "0.002", "--seed", "4", "--db", db.path, "--threads", "1"]
        XCTAssertEqual(try runCLI(common + ["--epochs", "4"], in: dir).status, 0)
        let short = try runCLI(common + ["--epochs", "2", "--keep-checkpoint"], in: dir)
        XCTAssertEqual(short.status, 0, short.stderr)
        XCTAssertEqual(try storedSnapshots(db, run: 2).first { $0.kind == .checkpoint }?.epoch, 2, "kept")
        let extended = try runCLI(["train", "--resume", "2", "--epochs", "4", "--db", db.path], in: dir)
        XCTAssertEqual(extended.status, 0, extended.stderr)
        let run = try XCTUnwrap(try storedRuns(db).first { $0.id == 2 })
        XCTAssertEqual(run.status, .completed)
        XCTAssertEqual(run.epochsPlanned, 4)
        XCTAssertEqual(reproducible(try storedEpochs(db, run: 2)), reproducible(try storedEpochs(db, run: 1)))

        let plain = try runCLI(common + ["--epochs", "1"], in: dir)
        XCTAssertEqual(plain.status, 0, plain.stderr)
        let refused = try runCLI(["train", "--resume", "3", "--epochs", "3", "--db", db.path], in: dir)
        XCTAssertEqual(refused.status, 2)
        XCTAssertEqual(refused.stderrLines, ["error: --epochs 3: run 3 completed without keeping its resume checkpoint (Adam state, shuffle state), so it cannot continue exactly; fine-tune from its weights with --init-from 3, or train with --keep-checkpoint next time"])
    }
}
