/// Hidden commands for measurement and tests (not shown in --help, documented here):
/// - `bench-store --db PATH`: builds a store with 1,000 runs (10 of them with 100 epochs), times
///   94 MB weight snapshot writes/reads, then runs `list` and `compare` of the 10 long runs as
///   child processes and reports their CPU (user + system) and wall time as JSON.
/// - `debug-writer`: behaves like a trainer writing to the store (epochs, checkpoint snapshots);
///   prints one line per committed step so a test can kill it at a known point, and can stop
///   in the middle of writing a snapshot blob (`--pause-mid-snapshot-epoch`).
/// - `debug-lock`: holds the database write lock (or an exclusive lock) for a while.
import ArgumentParser
import CLISupport
import Foundation
@_spi(Testing) import RunStore
#if canImport(Glibc)
import Glibc
#endif

struct BenchStore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-store", abstract: "Benchmark the store (internal).", shouldDisplay: false)

    @Option(name: .long, help: "Database to create for the benchmark (must not exist unless --force).")
    var db: String

    @Flag(name: .long, help: "Replace an existing file at --db.")
    var force = false

    @Option(name: .long, help: "Runs in the list benchmark.")
    var runs = 1000

    @Option(name: .long, help: "Epochs of each of the 10 compared runs.")
    var epochs = 100

    @Option(name: .customLong("snapshot-mb"), help: "Snapshot size in MB (10^6 bytes).")
    var snapshotMB = 94.0

    @Option(name: .long, help: "Repetitions of each measurement.")
    var repeats = 5

    func run() throws {
        if FileManager.default.fileExists(atPath: db) {
            guard force else { throw CLIError("--db: \(db) exists (pass --force to replace it)") }
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + suffix) }
        }
        let store = try RunStore(path: db, createIfMissing: true)
        let t0 = Date(timeIntervalSince1970: 1_700_000_000)
        // 10 long runs for compare, then short ones up to `runs`.
        var compareIDs: [Int64] = []
        let fillStart = clock()
        for i in 0..<max(runs, 10) {
            let long = i < 10
            let n = long ? epochs : 20
            let started = t0.addingTimeInterval(Double(i) * 3600)
            let id = try store.createRun(RunConfig(
                label: i % 3 == 0 ? "sweep-\(i)" : nil, model: i % 2 == 0 ? "resnet50" : "resnet18",
                modelHash: String(repeating: i % 2 == 0 ? "a" : "b", count: 64), datasetPath: "/data/cifar10.h5",
                datasetSHA256: String(repeating: "c", count: 64), trainCount: 50000, testCount: 10000,
                hyperparameters: ["lr": "\(0.0001 * Double(i % 7 + 1))", "optimizer": "adam", "beta_1": "0.9", "beta_2": "0.999",
                                  "seed": "\(i % 4)", "epochs": "\(n)", "batch_size": "32"],
                epochsPlanned: n, batchSize: 32, learningRate: 0.0001 * Double(i % 7 + 1), seed: i % 4,
                threads: 2, programVersion: "bench", commandLine: "resnet-run train", host: "bench-host"),
                startedAt: started, owner: ProcessIdentity(pid: 1, host: "bench-host", bootID: nil, startTicks: nil))
            if long { compareIDs.append(id) }
            for e in 1...n {
                let x = Double(e) / Double(n)
                try store.recordEpoch(run: id, epoch: e, metrics: [
                    "loss": 2.3 * exp(-3 * x) + 0.01 * Double(i % 5), "accuracy": 0.95 - 0.85 * exp(-3 * x),
                    "test_loss": 2.3 * exp(-2.5 * x) + 0.1, "test_accuracy": 0.9 - 0.8 * exp(-2.5 * x) - 0.001 * Double(i % 9),
                    "seconds": 310 + Double(e % 7), "images_per_second": 161 + Double(e % 5),
                ], at: started.addingTimeInterval(Double(e) * 300))
            }
            try store.finishRun(run: id, status: .completed, at: started.addingTimeInterval(Double(n) * 300 + 5))
        }
        let fillSeconds = Double(clock() - fillStart) / Double(CLOCKS_PER_SEC)
        try store.checkpoint()

        // Snapshot write / read.
        let bytes = Int(snapshotMB * 1e6) / 4 * 4
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: 64)
        defer { buffer.deallocate() }
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let floats = buffer.bindMemory(to: Float.self)
        for i in 0..<floats.count {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            floats[i] = Float(Int64(bitPattern: state >> 11) % 2000 - 1000) / 1000
        }
        let tensors = [TensorEntry(name: "all", shape: [bytes / 4], dtype: "float32", offset: 0, byteCount: bytes)]
        var writeNew: [Double] = [], writeReplace: [Double] = [], reads: [Double] = [], checkpoints: [Double] = []
        let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: 64)
        defer { readBuffer.deallocate() }
        for r in 0..<repeats {
            let kind: SnapshotKind = .checkpoint
            let start = monotonic()
            try store.saveSnapshot(run: compareIDs[r % compareIDs.count], kind: kind, epoch: r, tensors: tensors,
                                   bytes: UnsafeRawBufferPointer(buffer), extra: ["step": "\(r)"])
            let wrote = monotonic() - start
            (r < min(repeats, compareIDs.count) ? { writeNew.append(wrote) } : { writeReplace.append(wrote) })()
            let c0 = monotonic()
            try store.checkpoint()
            checkpoints.append(monotonic() - c0)
            let r0 = monotonic()
            try store.loadSnapshot(run: compareIDs[r % compareIDs.count], kind: kind, into: readBuffer)
            reads.append(monotonic() - r0)
        }
        // Replacing an existing snapshot of the same kind (the trainer's steady state).
        for r in 0..<repeats {
            let start = monotonic()
            try store.saveSnapshot(run: compareIDs[0], kind: .checkpoint, epoch: 100 + r, tensors: tensors,
                                   bytes: UnsafeRawBufferPointer(buffer), extra: ["step": "\(r)"])
            writeReplace.append(monotonic() - start)
            let c0 = monotonic()
            try store.checkpoint()
            checkpoints.append(monotonic() - c0)
        }
        let hashStart = monotonic()
        _ = XXH64.hash(UnsafeRawBufferPointer(buffer))
        let hashSeconds = monotonic() - hashStart

        // CLI process times.
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let listTimes = try (0..<repeats).map { _ in try Self.timeProcess(exe, ["list", "--db", db]) }
        let compareArgs = ["compare", "--db", db, "--no-chart"] + compareIDs.map { "\($0)" }
        let compareTimes = try (0..<repeats).map { _ in try Self.timeProcess(exe, compareArgs) }
        let listJSON = try (0..<repeats).map { _ in try Self.timeProcess(exe, ["list", "--db", db, "--format", "json"]) }

        func mbps(_ seconds: [Double]) -> String { JSON.array(seconds.map { String(format: "%.0f", Double(bytes) / $0 / 1e6) }) }
        func ms(_ values: [Double]) -> String { JSON.array(values.map { String(format: "%.1f", $0 * 1000) }) }
        func median(_ v: [Double]) -> Double { let s = v.sorted(); return s[s.count / 2] }
        let out = JSON.object([
            ("database", JSON.str(db)), ("runs", "\(max(runs, 10))"), ("compare_runs", "\(compareIDs.count)"),
            ("compare_epochs", "\(epochs)"), ("fill_cpu_seconds", String(format: "%.2f", fillSeconds)),
            ("snapshot_bytes", "\(bytes)"),
            ("snapshot_write_new_MBps", mbps(writeNew)), ("snapshot_write_replace_MBps", mbps(writeReplace)),
            ("snapshot_write_median_MBps", String(format: "%.0f", Double(bytes) / median(writeNew + writeReplace) / 1e6)),
            ("snapshot_read_MBps", mbps(reads)),
            ("snapshot_read_median_MBps", String(format: "%.0f", Double(bytes) / median(reads) / 1e6)),
            ("wal_checkpoint_ms", ms(checkpoints)),
            ("xxh64_MBps", String(format: "%.0f", Double(bytes) / hashSeconds / 1e6)),
            ("list_cpu_ms", ms(listTimes.map(\.cpu))), ("list_wall_ms", ms(listTimes.map(\.wall))),
            ("list_json_cpu_ms", ms(listJSON.map(\.cpu))),
            ("compare_cpu_ms", ms(compareTimes.map(\.cpu))), ("compare_wall_ms", ms(compareTimes.map(\.wall))),
        ])
        writeStdout(out + "\n")
    }

    func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Runs `exe args` with stdout to /dev/null; returns child CPU (user + system) and wall seconds.
    static func timeProcess(_ exe: String, _ args: [String]) throws -> (cpu: Double, wall: Double) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        let argv = ([exe] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        var ts0 = timespec(); clock_gettime(CLOCK_MONOTONIC, &ts0)
        let rc = posix_spawn(&pid, exe, &actions, nil, argv, environ)
        guard rc == 0 else { throw CLIError("cannot run \(exe): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        var usage = rusage()
        wait4(pid, &status, 0, &usage)
        var ts1 = timespec(); clock_gettime(CLOCK_MONOTONIC, &ts1)
        guard status == 0 else { throw CLIError("\(args.first ?? exe) exited with status \(status)") }
        let cpu = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        let wall = Double(ts1.tv_sec - ts0.tv_sec) + Double(ts1.tv_nsec - ts0.tv_nsec) / 1e9
        return (cpu, wall)
    }
}

struct DebugWriter: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "debug-writer", abstract: "Act as a training process writing to the store (internal, for tests).",
        shouldDisplay: false)

    @Option(name: .long) var db: String
    @Option(name: .long) var epochs = 5
    @Option(name: .customLong("epoch-ms")) var epochMS = 20
    @Option(name: .customLong("snapshot-kb")) var snapshotKB = 0
    @Option(name: .customLong("pause-mid-snapshot-epoch")) var pauseEpoch: Int?
    @Option(name: .long) var label: String?
    @Option(name: .long) var model = "resnet-test"
    @Option(name: .customLong("busy-timeout")) var busyTimeout = 10.0

    /// Deterministic snapshot content for epoch `e`, so tests can verify what they read back.
    static func snapshotByte(_ i: Int, epoch e: Int) -> UInt8 { UInt8(truncatingIfNeeded: i &* 31 &+ e &* 7) }

    func run() throws {
        let store = try RunStore(path: db, createIfMissing: true, busyTimeout: busyTimeout)
        let id = try store.createRun(RunConfig(
            label: label, model: model, modelHash: "debug", datasetPath: "/dev/null", trainCount: 100, testCount: 10,
            hyperparameters: ["lr": "0.001", "epochs": "\(epochs)"], epochsPlanned: epochs, batchSize: 8,
            learningRate: 0.001, seed: 0, threads: 1, programVersion: "debug-writer",
            commandLine: CommandLine.arguments.joined(separator: " ")))
        writeStdout("run \(id)\n")
        let bytes = snapshotKB * 1024
        var buffer = [UInt8](repeating: 0, count: bytes)
        for e in 1...max(1, epochs) {
            usleep(useconds_t(epochMS * 500))
            try store.heartbeat(run: id)
            usleep(useconds_t(epochMS * 500))
            try store.recordEpoch(run: id, epoch: e, metrics: [
                "loss": 2.0 / Double(e), "accuracy": 1 - 1 / Double(e + 1), "test_loss": 2.2 / Double(e),
                "test_accuracy": 1 - 1.2 / Double(e + 1), "seconds": Double(epochMS) / 1000, "images_per_second": 1000,
            ])
            writeStdout("epoch \(e) committed\n")
            guard bytes > 0 else { continue }
            for i in 0..<bytes { buffer[i] = Self.snapshotByte(i, epoch: e) }
            if e == pauseEpoch {
                store.blobChunkSize = 16 * 1024
                store.afterSnapshotChunk = { offset in
                    writeStdout("paused mid-snapshot at byte \(offset)\n")
                    while true { sleep(60) }
                }
            }
            try buffer.withUnsafeBytes { raw in
                try store.saveSnapshot(run: id, kind: .checkpoint, epoch: e,
                                       tensors: [TensorEntry(name: "w", shape: [bytes], dtype: "uint8", offset: 0, byteCount: bytes)],
                                       bytes: raw, extra: ["step": "\(e * 100)"])
            }
            writeStdout("snapshot \(e) committed\n")
        }
        try store.finishRun(run: id, status: .completed)
        writeStdout("done\n")
    }
}

struct DebugLock: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "debug-lock", abstract: "Hold the database lock (internal, for tests).", shouldDisplay: false)

    @Option(name: .long) var db: String
    @Option(name: .long) var seconds = 5.0
    @Flag(name: .long, help: "Exclusive lock: also shuts out readers.") var exclusive = false

    func run() throws {
        let store = try RunStore(path: db, createIfMissing: false)
        try store.holdLock(seconds: seconds, exclusive: exclusive) { writeStdout("locked\n") }
        writeStdout("released\n")
    }
}
