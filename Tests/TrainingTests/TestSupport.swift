/// Shared helpers of the trainer's tests: the `resnet-run` binary (debug build products, or a
/// fresh release build for the slow real-data test), child processes, temporary directories,
/// SIGNS fixture files written with `HDF5Writer`, and reading the experiment database back.
import Datasets
import Foundation
import RunStore
import XCTest

enum Paths {
    /// …/Tests/TrainingTests/TestSupport.swift → package root.
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// The course's test file, shared next to the package (absent on some machines).
    static let realTestFile = root.appendingPathComponent("../shared/datasets/signs/test_signs.h5").standardizedFileURL

    /// The debug `resnet-run` next to the test bundle.
    static func resnetRun() throws -> URL {
        var candidates: [URL] = [Bundle(for: Probe.self).bundleURL.deletingLastPathComponent()]
        if let exe = Bundle.main.executableURL { candidates.append(exe.deletingLastPathComponent()) }
        candidates.append(URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent())
        for dir in candidates {
            for base in [dir, dir.deletingLastPathComponent()] {
                let url = base.appendingPathComponent("resnet-run")
                if FileManager.default.isExecutableFile(atPath: url.path) { return url }
            }
        }
        throw XCTSkip("resnet-run is not in the build products directory (looked in \(candidates.map(\.path)))")
    }

    /// A release `resnet-run` in the same scratch directory, if it is newer than every source of
    /// the trainer and the CLI (so it cannot be stale); nil otherwise.
    static func freshReleaseResnetRun() -> URL? {
        guard let debug = try? resnetRun() else { return nil }
        // <scratch>/<triple>/debug/resnet-run → <scratch>/release/resnet-run
        var scratch = debug.deletingLastPathComponent()
        while scratch.pathComponents.count > 1, !FileManager.default.fileExists(atPath: scratch.appendingPathComponent("release").path) {
            scratch.deleteLastPathComponent()
        }
        let release = scratch.appendingPathComponent("release/resnet-run")
        guard FileManager.default.isExecutableFile(atPath: release.path),
              let built = modified(release) else { return nil }
        for dir in ["Sources/Training", "Sources/resnet-run", "Sources/Kernels", "Sources/Models", "Sources/Datasets", "Sources/RunStore"] {
            let url = root.appendingPathComponent(dir)
            let files = (try? FileManager.default.contentsOfDirectory(at: url, includingPropertiesForKeys: nil)) ?? []
            for f in files where (modified(f) ?? .distantFuture) > built { return nil }
        }
        return release
    }

    static func modified(_ url: URL) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: url.path))?[.modificationDate] as? Date
    }

    private final class Probe {}
}

struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
    var stderrLines: [String] { stderr.split(separator: "\n").map(String.init) }
    /// stdout lines that are JSON objects.
    var jsonLines: [[String: Any]] {
        stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }
}

/// Runs `resnet-run` with `arguments` in `directory` and waits for it.
func runCLI(_ arguments: [String], in directory: URL, executable: URL? = nil) throws -> ProcessResult {
    let process = try startCLI(arguments, in: directory, executable: executable)
    return finish(process)
}

final class RunningProcess {
    let process: Process
    let out = Pipe(), err = Pipe()
    var outData = Data(), errData = Data()
    let group = DispatchGroup()
    init(_ process: Process) { self.process = process }
}

func startCLI(_ arguments: [String], in directory: URL, executable: URL? = nil) throws -> RunningProcess {
    let process = Process()
    process.executableURL = try executable ?? Paths.resnetRun()
    process.arguments = arguments
    process.currentDirectoryURL = directory
    let running = RunningProcess(process)
    process.standardOutput = running.out
    process.standardError = running.err
    try process.run()
    // Drain both pipes concurrently so a chatty child never blocks.
    running.group.enter()
    DispatchQueue.global().async {
        running.outData = running.out.fileHandleForReading.readDataToEndOfFile()
        running.group.leave()
    }
    running.group.enter()
    DispatchQueue.global().async {
        running.errData = running.err.fileHandleForReading.readDataToEndOfFile()
        running.group.leave()
    }
    return running
}

func finish(_ running: RunningProcess) -> ProcessResult {
    running.process.waitUntilExit()
    running.group.wait()
    return ProcessResult(status: running.process.terminationStatus,
                         stdout: String(decoding: running.outData, as: UTF8.self),
                         stderr: String(decoding: running.errData, as: UTF8.self))
}

/// A fresh temporary directory, removed by the test's teardown.
func makeTemporaryDirectory(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("training-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// Writes a SIGNS directory (train_signs.h5, test_signs.h5) of synthetic images at `size`.
@discardableResult
func writeSIGNSDirectory(_ directory: URL, size: Int = 16, train: Int = 96, test: Int = 24) throws -> URL {
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let (trainSet, testSet) = SyntheticSigns.splits(trainCount: train, testCount: test, height: size, width: size,
                                                    classes: 6, seed: 11)
    try HDF5Writer.writeSIGNS(path: directory.appendingPathComponent("train_signs.h5").path, split: "train", dataset: trainSet)
    try HDF5Writer.writeSIGNS(path: directory.appendingPathComponent("test_signs.h5").path, split: "test", dataset: testSet)
    return directory
}

/// Every run in the database (an empty list when the file does not exist).
func storedRuns(_ db: URL) throws -> [RunRecord] {
    guard FileManager.default.fileExists(atPath: db.path) else { return [] }
    let store = try RunStore(path: db.path, createIfMissing: false, readOnly: true)
    return try store.runs()
}

func storedEpochs(_ db: URL, run: Int64) throws -> [EpochRecord] {
    try RunStore(path: db.path, createIfMissing: false, readOnly: true).epochs(run: run)
}

func storedSnapshots(_ db: URL, run: Int64) throws -> [SnapshotInfo] {
    try RunStore(path: db.path, createIfMissing: false, readOnly: true).snapshots(run: run)
}

/// The metrics that must be reproducible (timings excluded).
func reproducible(_ epochs: [EpochRecord]) -> [[String: Double]] {
    epochs.map { $0.metrics.filter { ["loss", "accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy"].contains($0.key) } }
}

/// Runs `script` under `/bin/bash -c` with `arguments` as $0, $1, …: for shell plumbing around the
/// CLI (`ulimit`, pipes). Returns how it ended and what it wrote.
func runBash(_ script: String, _ arguments: [String], in directory: URL? = nil)
    throws -> (reason: Process.TerminationReason, status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    process.arguments = ["-c", script] + arguments
    if let directory { process.currentDirectoryURL = directory }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Drain both pipes at once (the reader pattern of `startCLI`), then wait.
    let running = RunningProcess(process)
    running.group.enter()
    DispatchQueue.global().async { running.outData = out.fileHandleForReading.readDataToEndOfFile(); running.group.leave() }
    running.errData = err.fileHandleForReading.readDataToEndOfFile()
    running.group.wait()
    process.waitUntilExit()
    return (process.terminationReason, process.terminationStatus,
            String(decoding: running.outData, as: UTF8.self), String(decoding: running.errData, as: UTF8.self))
}
