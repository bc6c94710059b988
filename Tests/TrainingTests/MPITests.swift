/// Data-parallel training under Open MPI's mpirun, 2 ranks on this machine, tiny models: weights
/// stay bitwise identical across ranks; synchronized batch norm over 2 ranks equals one process
/// at the same global batch (float64, 1e-10); a rank killed mid-epoch ends the job quickly with the
/// run `failed` and its earlier epochs kept (and resumable); bad input is one line from rank 0 and
/// nothing is recorded. Skipped, saying why, where `mpirun` is not installed.
import Foundation
import RunStore
@testable import Training
import XCTest

final class MPITests: XCTestCase {
    /// `mpirun` on PATH, or skip.
    func mpirun() throws -> URL {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let url = URL(fileURLWithPath: String(dir)).appendingPathComponent("mpirun")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        throw XCTSkip("mpirun is not installed (Debian: apt-get install openmpi-bin libopenmpi-dev)")
    }

    /// Runs `mpirun` with `arguments` (after the launcher options), killing it after `timeout`
    /// seconds; returns its result and how long it took.
    func runMPI(_ arguments: [String], in directory: URL, timeout: Double = 240) throws -> (ProcessResult, Double) {
        let start = Date()
        let running = try startCLI(["--allow-run-as-root", "--oversubscribe", "--bind-to", "none"] + arguments,
                                   in: directory, executable: try mpirun())
        let deadline = DispatchWorkItem { if running.process.isRunning { running.process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: deadline)
        let result = finish(running)
        deadline.cancel()
        let seconds = Date().timeIntervalSince(start)
        XCTAssertLessThan(seconds, timeout, "mpirun \(arguments.joined(separator: " ")) timed out: \(result.stderr)")
        return (result, seconds)
    }

    func resnetRun() throws -> String { try Paths.resnetRun().path }

    /// The tiny model on the synthetic set: 17 training images in batches of 8 (8, 8, 1: the last
    /// global batch leaves rank 1 an empty slice), one thread per rank.
    func tinyArguments(_ directory: URL, model: String = "tiny", epochs: Int = 2, train: Int = 17) -> [String] {
        ["train", "--model", model, "--synthetic", "--synthetic-train", "\(train)", "--synthetic-test", "8",
         "--batch-size", "8", "--epochs", "\(epochs)", "--threads", "1", "--db", directory.appendingPathComponent("e.db").path,
         "--format", "json"]
    }

    func readDoubles(_ url: URL) throws -> [Double] {
        let data = try Data(contentsOf: url)
        return data.withUnsafeBytes { Array($0.bindMemory(to: Double.self)) }
    }

    /// The slices of a global batch: contiguous, in rank order, as even as possible, together the
    /// whole batch; empty only when the batch is smaller than the world.
    func testSlicesPartitionTheGlobalBatch() {
        for size in 1...5 {
            for batch in 0...13 {
                var next = 0
                for rank in 0..<size {
                    let (start, count) = sliceOf(batch: batch, rank: rank, size: size)
                    XCTAssertEqual(start, next, "batch \(batch), rank \(rank) of \(size)")
                    XCTAssertTrue(count == batch / size || count == batch / size + 1)
                    next += count
                }
                XCTAssertEqual(next, batch)
            }
        }
        XCTAssertEqual(sliceOf(batch: 1, rank: 1, size: 2).count, 0)
        XCTAssertEqual(sliceOf(batch: 5, rank: 0, size: 2).count, 3)
    }

    func testMPIOptionsOutsideMpirunAreOneLine() throws {
        let dir = try makeTemporaryDirectory(self)
        for option in [["--sync-bn"], ["--bucket-mb", "10"]] {
            let result = try runCLI(tinyArguments(dir) + option, in: dir)
            XCTAssertEqual(result.status, 2, result.stderr)
            XCTAssertEqual(result.stderrLines.count, 1, result.stderr)
            XCTAssertTrue(result.stderr.contains(option[0]) && result.stderr.contains("mpirun"), result.stderr)
        }
        XCTAssertEqual(try storedRuns(dir.appendingPathComponent("e.db")).count, 0)
    }

    func testTwoRanksKeepBitwiseIdenticalWeights() throws {
        let dir = try makeTemporaryDirectory(self)
        let dump = dir.appendingPathComponent("weights")
        try FileManager.default.createDirectory(at: dump, withIntermediateDirectories: true)
        // Buckets of 4 KiB: the tiny model's 19 KB of gradients go in 5 overlapping allreduces.
        let (result, _) = try runMPI(["-np", "2", try resnetRun()] + tinyArguments(dir)
                                        + ["--bucket-mb", "0.004", "--dump-weights", dump.path], in: dir)
        XCTAssertEqual(result.status, 0, result.stderr)
        let r0 = try Data(contentsOf: dump.appendingPathComponent("rank-0.bin"))
        let r1 = try Data(contentsOf: dump.appendingPathComponent("rank-1.bin"))
        XCTAssertEqual(r0.count, r1.count)
        XCTAssertTrue(r0 == r1, "the two ranks' weights differ after training")

        let db = dir.appendingPathComponent("e.db")
        let runs = try storedRuns(db)
        XCTAssertEqual(runs.count, 1, "rank 0 alone records")
        let run = try XCTUnwrap(runs.first)
        XCTAssertEqual(run.recordedStatus, .completed)
        XCTAssertEqual(run.hyperparameters["world_size"], "2")
        XCTAssertEqual(run.hyperparameters["hosts"]?.split(separator: ",").count, 2)
        XCTAssertEqual(run.hyperparameters["sync_bn"], "false")
        // The stored final weights are rank 0's (and so rank 1's).
        let store = try RunStore(path: db.path, createIfMissing: false, readOnly: true)
        let stored = try store.loadSnapshot(run: run.id, kind: .final).bytes
        XCTAssertTrue(Data(stored) == r0, "stored final weights differ from rank 0's")
        let epochs = try storedEpochs(db, run: run.id)
        XCTAssertEqual(epochs.count, 2)
        for r in 0..<2 {
            for key in ["step_seconds", "compute_seconds", "allreduce_wait_seconds"] {
                XCTAssertNotNil(epochs[0].metrics["rank\(r)_\(key)"], "epoch metrics lack rank\(r)_\(key): \(epochs[0].metrics.keys.sorted())")
            }
        }
    }

    func testSyncBatchNormOnTwoRanksEqualsOneProcess() throws {
        let dir = try makeTemporaryDirectory(self)
        let one = dir.appendingPathComponent("one"), two = dir.appendingPathComponent("two")
        for d in [one, two] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }
        let single = try runCLI(tinyArguments(one, model: "tiny-float64", epochs: 3) + ["--dump-weights", one.path], in: one)
        XCTAssertEqual(single.status, 0, single.stderr)
        let (pair, _) = try runMPI(["-np", "2", try resnetRun()] + tinyArguments(two, model: "tiny-float64", epochs: 3)
                                      + ["--sync-bn", "--dump-weights", two.path], in: two)
        XCTAssertEqual(pair.status, 0, pair.stderr)

        let a = try readDoubles(one.appendingPathComponent("rank-0.bin"))
        let b = try readDoubles(two.appendingPathComponent("rank-0.bin"))
        let c = try readDoubles(two.appendingPathComponent("rank-1.bin"))
        XCTAssertEqual(a.count, b.count)
        XCTAssertEqual(b, c, "ranks differ under --sync-bn (weights and moving statistics)")
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThan(worst, 1e-10, "2 ranks with --sync-bn vs one process: largest weight difference \(worst)")
        // Training moved the weights far more than that (the comparison is not vacuous).
        let init0 = try runCLI(tinyArguments(one, model: "tiny-float64", epochs: 1) + ["--dump-weights", dir.path], in: one)
        XCTAssertEqual(init0.status, 0, init0.stderr)
        let after1 = try readDoubles(dir.appendingPathComponent("rank-0.bin"))
        XCTAssertGreaterThan(zip(after1, a).map { abs($0 - $1) }.max() ?? 0, 1e-4)

        let e1 = try storedEpochs(one.appendingPathComponent("e.db"), run: 1)
        let e2 = try storedEpochs(two.appendingPathComponent("e.db"), run: 1)
        XCTAssertEqual(e1.count, 3)
        XCTAssertEqual(e2.count, 3)
        for (x, y) in zip(e1, e2) {
            for key in ["loss", "accuracy", "test_loss", "test_accuracy"] {
                let u = try XCTUnwrap(x.metrics[key]), v = try XCTUnwrap(y.metrics[key])
                XCTAssertEqual(u, v, accuracy: 1e-10, "epoch \(x.epoch) \(key)")
            }
        }
    }

    func testKilledRankFailsTheRunQuicklyAndKeepsEarlierEpochs() throws {
        let dir = try makeTemporaryDirectory(self)
        // 40 images in batches of 8: 5 steps per epoch; rank 1 dies at step 8 (epoch 2).
        let args = tinyArguments(dir, epochs: 3, train: 40)
        let (result, seconds) = try runMPI(["-np", "2", try resnetRun()] + args + ["--kill-rank", "1", "--kill-at-step", "8"],
                                           in: dir, timeout: 120)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertLessThan(seconds, 30, "the job must end within seconds of a rank's death")
        let db = dir.appendingPathComponent("e.db")
        let run = try XCTUnwrap(try storedRuns(db).first)
        XCTAssertEqual(run.recordedStatus, .failed, "reason: \(run.statusReason ?? "-")")
        XCTAssertTrue(run.statusReason?.contains("rank 1") ?? false, run.statusReason ?? "no reason")
        XCTAssertEqual(try storedEpochs(db, run: run.id).map(\.epoch), [1])
        XCTAssertTrue(try storedSnapshots(db, run: run.id).contains { $0.kind == .checkpoint && $0.epoch == 1 })

        // The last completed epoch is resumable under the same world size.
        let (resumed, _) = try runMPI(["-np", "2", try resnetRun(), "train", "--resume", "\(run.id)", "--db", db.path,
                                       "--format", "json"], in: dir)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try storedRuns(db).first?.recordedStatus, .completed)
        XCTAssertEqual(try storedEpochs(db, run: run.id).map(\.epoch), [1, 2, 3])
        // …and only under it.
        let alone = try runCLI(["train", "--resume", "\(run.id)", "--db", db.path], in: dir)
        XCTAssertEqual(alone.status, 2)
    }

    func testSIGTERMToMpirunInterruptsTheRunResumably() throws {
        let dir = try makeTemporaryDirectory(self)
        let db = dir.appendingPathComponent("e.db")
        let running = try startCLI(["--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np", "2", try resnetRun()]
                                   + tinyArguments(dir, epochs: 500, train: 64), in: dir, executable: try mpirun())
        let deadline = Date().addingTimeInterval(120)
        // Once an epoch is recorded, SIGTERM to mpirun (as Ctrl-C or a scheduler would send it).
        func recordedEpochs() -> Int { (try? storedRuns(db).first.map { try storedEpochs(db, run: $0.id).count }) ?? nil ?? 0 }
        while Date() < deadline, running.process.isRunning, recordedEpochs() < 1 {
            usleep(100_000)
        }
        XCTAssertTrue(running.process.isRunning, "training ended before it could be interrupted")
        kill(running.process.processIdentifier, SIGTERM)
        let killer = DispatchWorkItem { if running.process.isRunning { running.process.interrupt(); kill(running.process.processIdentifier, SIGKILL) } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 60, execute: killer)
        let result = finish(running)
        killer.cancel()
        let run = try XCTUnwrap(try storedRuns(db).first, result.stderr)
        XCTAssertEqual(run.recordedStatus, .interrupted, "\(run.statusReason ?? "-"): \(result.stderr)")
        XCTAssertTrue(run.statusReason?.contains("SIGTERM") ?? false, run.statusReason ?? "-")
        XCTAssertTrue(try storedSnapshots(db, run: run.id).contains { $0.kind == .checkpoint && $0.epoch == run.epochsDone })
    }

    /// One `error:` line, from rank 0 only, naming `needle`; exit status 2; nothing recorded.
    func assertBadInput(_ result: ProcessResult, _ needle: String, db: URL, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertNotEqual(result.status, 0, file: file, line: line)
        let errors = result.stderrLines.filter { $0.hasPrefix("error:") }
        XCTAssertEqual(errors.count, 1, "expected one error line: \(result.stderr)", file: file, line: line)
        XCTAssertTrue(errors.first?.contains(needle) ?? false, "\(errors) should name \(needle)", file: file, line: line)
        XCTAssertEqual(try storedRuns(db).count, 0, "nothing may be recorded", file: file, line: line)
    }

    func testBadInputIsOneLineFromRankZeroAndRecordsNothing() throws {
        let dir = try makeTemporaryDirectory(self)
        let db = dir.appendingPathComponent("e.db")
        let exe = try resnetRun()
        // A global batch smaller than the world.
        var args = tinyArguments(dir)
        args[args.firstIndex(of: "--batch-size")! + 1] = "1"
        let (small, _) = try runMPI(["-np", "2", exe] + args, in: dir)
        try assertBadInput(small, "--batch-size", db: db)

        // Another binary on rank 1: a copy of this one with one byte appended (still runs).
        let other = dir.appendingPathComponent("resnet-run-other")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: exe))
        bytes.append(0)
        try bytes.write(to: other)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: other.path)
        let (binaries, _) = try runMPI(["-np", "1", exe] + tinyArguments(dir) + [":", "-np", "1", other.path] + tinyArguments(dir), in: dir)
        try assertBadInput(binaries, "rank 1 runs a different resnet-run binary", db: db)

        // Other settings on rank 1 (here the float64 variant of the model).
        let (settings, _) = try runMPI(["-np", "1", exe] + tinyArguments(dir) + [":", "-np", "1", exe]
                                          + tinyArguments(dir, model: "tiny-float64"), in: dir)
        try assertBadInput(settings, "rank 1 runs", db: db)
    }
}
