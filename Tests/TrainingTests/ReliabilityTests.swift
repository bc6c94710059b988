/// Faults a careful user meets, injected by the tests with the CLI run as a process: errors right
/// after a model is built (the thread-pool abort), a diverging learning rate, SIGKILL at random
/// points (also in the middle of a snapshot write) followed by resumes, and a second Ctrl-C.
import Foundation
import RunStore
import XCTest

final class ReliabilityTests: XCTestCase {
    var dir: URL!
    var db: URL { dir.appendingPathComponent("runs.db") }

    override func setUpWithError() throws {
        dir = try makeTemporaryDirectory(self)
    }

    /// An error thrown right after the model (and its kernel threads) exist used to abort with
    /// "read an unowned reference … already destroyed" (exit 134) in some runs.
    func testErrorsRightAfterModelCreationNeverAbort() throws {
        let trained = try runCLI(["train", "--model", "tiny", "--synthetic", "--synthetic-train", "64", "--synthetic-test", "16",
                                  "--epochs", "2", "--db", db.path, "--threads", "2"], in: dir)
        XCTAssertEqual(trained.status, 0, trained.stderr)
        for _ in 0..<20 {
            let r = try runCLI(["evaluate", "1", "--db", db.path, "--snapshot", "checkpoint", "--threads", "2"], in: dir)
            XCTAssertEqual(r.status, 2, r.stderr)
            XCTAssertEqual(r.stderrLines, ["error: run 1 has no 'checkpoint' weight snapshot (available: best, final)"])
        }
    }

    func testHugeLearningRateEndsTheRunDiverged() throws {
        let r = try runCLI(["train", "--model", "tiny", "--synthetic", "--synthetic-train", "64", "--synthetic-test", "16",
                            "--epochs", "3", "--batch-size", "8", "--lr", "1e20", "--db", db.path, "--threads", "1", "--format", "json"], in: dir)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertEqual(r.stderrLines.count, 1, r.stderr)
        let line = try XCTUnwrap(r.stderrLines.first)
        XCTAssertTrue(line.hasPrefix("error: run 1 diverged: "), line)
        XCTAssertTrue(line.contains("the learning rate 1e+20 is probably too high — try a smaller --lr"), line)
        XCTAssertEqual(r.jsonLines.last?["status"] as? String, "diverged")
        let run = try XCTUnwrap(try storedRuns(db).first)
        XCTAssertEqual(run.status, .diverged)
        XCTAssertEqual(run.statusReason.map { "error: run 1 diverged: " + $0 }, line)
        // Nothing non-finite was recorded: no epoch row of the diverging epoch, no NaN weights.
        for e in try storedEpochs(db, run: 1) {
            XCTAssertTrue(e.metrics.values.allSatisfy(\.isFinite), "epoch \(e.epoch): \(e.metrics)")
        }
        let store = try RunStore(path: db.path, createIfMissing: false, readOnly: true)
        for s in try store.snapshots(run: 1) where s.tensors.first?.dtype == "float32" {
            let bytes = try store.loadSnapshot(run: 1, kind: s.kind).bytes
            let finite = bytes.withUnsafeBytes { $0.bindMemory(to: Float.self).allSatisfy(\.isFinite) }
            XCTAssertTrue(finite, "snapshot \(s.kind) holds non-finite weights")
        }
        // A diverged run is not resumed (it would diverge again).
        let resume = try runCLI(["train", "--resume", "1", "--db", db.path], in: dir)
        XCTAssertEqual(resume.status, 2)
        XCTAssertTrue(resume.stderr.contains("run 1 diverged"), resume.stderr)
    }

    func testLearningRateMustBeFiniteInTheModelsDtype() throws {
        let r = try runCLI(["train", "--model", "tiny", "--synthetic", "--lr", "1e300", "--db", db.path], in: dir)
        XCTAssertEqual(r.status, 2)
        XCTAssertEqual(r.stderrLines, ["error: --lr: 1e+300 is infinite in tiny's float32; it must be at most 3.4e+38 (Keras' default is 0.001)"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: db.path), "bad input records nothing")
    }

    /// SIGKILL at random moments (and in the middle of snapshot writes), resumed each time: the
    /// finished run's curve and final weights equal an uninterrupted run's.
    func testSIGKILLAtRandomPointsThenResumeEqualsUninterrupted() throws {
        let common = ["train", "--model", "tiny", "--synthetic", "--synthetic-train", "240", "--synthetic-test", "16",
                      "--epochs", "5", "--batch-size", "8", "--lr", "0.002", "--seed", "3", "--db", db.path, "--threads", "1"]
        let straight = try runCLI(common, in: dir)
        XCTAssertEqual(straight.status, 0, straight.stderr)

        var generator = SystemRandomNumberGenerator()
        // Deaths during snapshot writes: the 2nd snapshot of the first process (epoch 1's
        // checkpoint, after its best weights) and the 1st of a resumed one.
        let first = try runCLI(common + ["--kill-during-snapshot", "2"], in: dir)
        XCTAssertEqual(first.status, SIGKILL, "killed by SIGKILL: \(first.stderr)")
        XCTAssertEqual(try storedRuns(db).first { $0.id == 2 }?.status, .crashed)
        var kills = 1, resumes = 0
        let second = try runCLI(["train", "--resume", "2", "--db", db.path, "--kill-during-snapshot", "1"], in: dir)
        resumes += 1
        if second.status != 0 { kills += 1 }
        // Then SIGKILLs at random moments after each resumed process has recorded one more
        // epoch (so every round makes progress) until the run completes.
        while try storedRuns(db).first(where: { $0.id == 2 })?.status != .completed {
            guard resumes < 12 else { XCTFail("the run never completes"); break }
            let done = try XCTUnwrap(try storedRuns(db).first { $0.id == 2 }).epochsDone
            let child = try startCLI(["train", "--resume", "2", "--db", db.path], in: dir)
            while child.process.isRunning, (try? storedRuns(db).first { $0.id == 2 })??.epochsDone ?? 0 <= done {
                usleep(5_000)
            }
            usleep(UInt32.random(in: 0...150_000, using: &generator))
            if child.process.isRunning, kill(child.process.processIdentifier, SIGKILL) == 0 { kills += 1 }
            _ = finish(child)
            resumes += 1
            let run = try XCTUnwrap(try storedRuns(db).first { $0.id == 2 })
            XCTAssertTrue([.completed, .crashed].contains(run.status), "\(run.status)")
            XCTAssertEqual(try RunStore(path: db.path, createIfMissing: false).integrityProblems(), [])
        }
        print("SIGKILL test: \(kills) kills, \(resumes) resumes")
        XCTAssertEqual(reproducible(try storedEpochs(db, run: 2)), reproducible(try storedEpochs(db, run: 1)))
        let store = try RunStore(path: db.path, createIfMissing: false, readOnly: true)
        XCTAssertEqual(try store.loadSnapshot(run: 2, kind: .final).bytes, try store.loadSnapshot(run: 1, kind: .final).bytes,
                       "final weights equal the uninterrupted run's")
        XCTAssertEqual(Set(try store.snapshots(run: 2).map(\.kind)), [.final, .best], "a completed run drops its checkpoint")
    }

    /// A second Ctrl-C while the first is being handled stops at once, still `interrupted`.
    func testSecondSIGINTStillRecordsInterrupted() throws {
        let common = ["train", "--model", "tiny", "--synthetic", "--synthetic-train", "400", "--synthetic-test", "16",
                      "--epochs", "4", "--batch-size", "8", "--db", db.path, "--threads", "1"]
        let child = try startCLI(common + ["--linger-after-interrupt", "30"], in: dir)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let run = try? storedRuns(db).first, run.epochsDone >= 1 { break }
            usleep(20_000)
        }
        kill(child.process.processIdentifier, SIGINT)
        usleep(300_000)
        let t0 = Date()
        kill(child.process.processIdentifier, SIGINT)
        let result = finish(child)
        XCTAssertLessThan(Date().timeIntervalSince(t0), 10, "the second Ctrl-C stops at once")
        XCTAssertEqual(result.status, 130, result.stderr)
        let run = try XCTUnwrap(try storedRuns(db).first)
        XCTAssertEqual(run.recordedStatus, .interrupted)
        XCTAssertTrue(run.statusReason?.hasPrefix("second SIGINT") ?? false, run.statusReason ?? "")
        let resumed = try runCLI(["train", "--resume", "1", "--db", db.path], in: dir)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let straight = try runCLI(common, in: dir)
        XCTAssertEqual(straight.status, 0, straight.stderr)
        XCTAssertEqual(reproducible(try storedEpochs(db, run: 1)), reproducible(try storedEpochs(db, run: 2)))
    }

    func testSIGTERMExitsWith143AndIsResumable() throws {
        let child = try startCLI(["train", "--model", "tiny", "--synthetic", "--synthetic-train", "400", "--synthetic-test", "16",
                                  "--epochs", "4", "--batch-size", "8", "--db", db.path, "--threads", "1"], in: dir)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let run = try? storedRuns(db).first, run.epochsDone >= 1 { break }
            usleep(20_000)
        }
        kill(child.process.processIdentifier, SIGTERM)
        let result = finish(child)
        XCTAssertEqual(result.status, 143, result.stderr)
        let run = try XCTUnwrap(try storedRuns(db).first)
        XCTAssertEqual(run.status, .interrupted)
        XCTAssertEqual(try storedSnapshots(db, run: 1).first { $0.kind == .checkpoint }?.epoch, run.epochsDone)
    }

    /// --checkpoint-every 2: a kill loses at most one epoch; Ctrl-C still keeps the last one.
    func testCheckpointIntervalIsRecordedAndHonoured() throws {
        let r = try runCLI(["train", "--model", "tiny", "--synthetic", "--synthetic-train", "32", "--synthetic-test", "8",
                            "--epochs", "5", "--batch-size", "8", "--db", db.path, "--threads", "1", "--checkpoint-every", "2",
                            "--stop-after-epochs", "3"], in: dir)
        XCTAssertEqual(r.status, 130, r.stderr)
        let run = try XCTUnwrap(try storedRuns(db).first)
        XCTAssertEqual(run.hyperparameters["checkpoint_every"], "2")
        XCTAssertEqual(try storedSnapshots(db, run: 1).first { $0.kind == .checkpoint }?.epoch, 3,
                       "the interrupt stores the spilled epoch 3, not the periodic epoch 2")
        let bad = try runCLI(["train", "--model", "tiny", "--synthetic", "--checkpoint-every", "0", "--db", db.path], in: dir)
        XCTAssertEqual(bad.status, 2)
        XCTAssertEqual(bad.stderrLines, ["error: --checkpoint-every: 0 is not allowed; it must be at least 1"])
    }

    /// A file-size limit (`ulimit -f`) reached while storing weights: no SIGXFSZ death, the run is
    /// left `failed` with the reason naming the file, and the database stays sound.
    func testFileSizeLimitLeavesTheRunFailedWithItsReason() throws {
        let exe = try Paths.resnetRun().path
        let script = "ulimit -f 800; exec \"$0\" train --model tiny --synthetic --synthetic-train 32 --synthetic-test 8 --epochs 3 --threads 1 --quiet --db \"$1\""
        let (reason, status, _, stderr) = try runBash(script, [exe, db.path], in: dir)
        XCTAssertEqual(reason, .exit, "no SIGXFSZ death: \(stderr)")
        XCTAssertEqual(status, 1, stderr)
        let lines = stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, stderr)
        XCTAssertTrue(stderr.hasPrefix("error: run 1 failed: "), stderr)
        XCTAssertTrue(stderr.contains("runs.db-wal reached this process's file-size limit"), stderr)
        XCTAssertFalse(stderr.contains("also failed"), stderr)
        let run = try XCTUnwrap(try storedRuns(db).first)
        XCTAssertEqual(run.recordedStatus, .failed)
        XCTAssertTrue(run.statusReason?.contains("file-size limit") ?? false, run.statusReason ?? "")
        XCTAssertEqual(try RunStore(path: db.path, createIfMissing: false).integrityProblems(), [])
    }

    /// `resnet-run train --format json | head -1`: the reader goes away after one line; the run must
    /// still train to the end and be recorded `completed` (SIGPIPE ignored, EPIPE ignored).
    func testAReaderThatClosesEarlyDoesNotStopTraining() throws {
        let exe = try Paths.resnetRun().path
        let script = "\"$0\" train --model tiny --synthetic --synthetic-train 64 --synthetic-test 8 --epochs 4 --batch-size 8 --threads 1 --format json --db \"$1\" | head -1; exit ${PIPESTATUS[0]}"
        let (_, status, stdout, stderr) = try runBash(script, [exe, db.path])
        XCTAssertEqual(stdout.split(separator: "\n").count, 1, stdout)
        XCTAssertEqual(status, 0, "resnet-run's own exit status: \(stderr)")
        let run = try XCTUnwrap(try storedRuns(db).first)
        XCTAssertEqual(run.recordedStatus, .completed)
        XCTAssertEqual(run.epochsDone, 4)
    }
}
