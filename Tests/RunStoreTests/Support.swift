/// Test support: temporary directories, running the built `resnet-runs` binary as a child
/// process, and a fixture store with fixed timestamps for golden outputs.
import Foundation
import XCTest
@testable import RunStore

/// The directory holding the built products (the `resnet-runs` binary sits next to the test bundle).
var productsDirectory: URL {
    #if os(macOS)
    for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
        return bundle.bundleURL.deletingLastPathComponent()
    }
    fatalError("couldn't find the products directory")
    #else
    return Bundle.main.bundleURL
    #endif
}

var resnetRunsBinary: String {
    if let override = ProcessInfo.processInfo.environment["RESNET_RUNS_BIN"] { return override }
    return productsDirectory.appendingPathComponent("resnet-runs").path
}

struct CLIResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `resnet-runs args` to completion with a fixed, colourless, UTC environment.
@discardableResult
func runCLI(_ args: [String], env extra: [String: String] = [:], file: StaticString = #filePath, line: UInt = #line) throws -> CLIResult {
    try runProcess(resnetRunsBinary, args, env: extra)
}

/// Runs `resnet-runs args` as another user (uid = gid = `uid`, no supplementary groups) through
/// util-linux's setpriv; only root can do that.
@discardableResult
func runCLI(asUser uid: uid_t, _ args: [String], env extra: [String: String] = [:]) throws -> CLIResult {
    try runProcess("/usr/bin/setpriv", ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", resnetRunsBinary] + args, env: extra)
}

/// Runs `executable args` to completion with the same environment as `runCLI`.
@discardableResult
func runProcess(_ executable: String, _ args: [String], env extra: [String: String] = [:]) throws -> CLIResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = args
    var env = ProcessInfo.processInfo.environment
    env["TZ"] = "UTC"
    env["NO_COLOR"] = "1"
    env["RESNET_RUNS_NOW"] = "\(Fixture.now.timeIntervalSince1970)"
    env["COLUMNS"] = nil  // tables are fitted to COLUMNS when it is set; tests that want it pass it
    for (k, v) in extra { env[k] = v }
    process.environment = env
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    // Read both pipes concurrently so a large output cannot block the child.
    final class Box: @unchecked Sendable { var data = Data() }
    let errBox = Box()
    let group = DispatchGroup()
    group.enter()
    let errHandle = err.fileHandleForReading
    DispatchQueue.global().async { errBox.data = errHandle.readDataToEndOfFile(); group.leave() }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    let errData = errBox.data
    process.waitUntilExit()
    return CLIResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                     stderr: String(decoding: errData, as: UTF8.self))
}

/// A fresh temporary directory, removed by `cleanup()`.
final class TempDir {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("runstore-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    func cleanup() { try? FileManager.default.removeItem(at: url) }
}

func fileDigest(_ path: String) -> String? {
    guard let data = FileManager.default.contents(atPath: path) else { return nil }
    return data.withUnsafeBytes { XXH64.hash($0).hexString }
}

/// A store with fixed content and timestamps: the basis of the golden outputs.
enum Fixture {
    static let t0 = Date(timeIntervalSince1970: 1_735_732_800)  // 2025-01-01 12:00:00 UTC
    static let now = t0.addingTimeInterval(30 * 86400)
    static let liveOwner = ProcessIdentity(pid: 4242, host: "lab-1", bootID: nil, startTicks: nil)

    static func config(label: String?, model: String, lr: Double, batch: Int, epochs: Int, dataset: String = "/data/cifar10.h5",
                       extra: [String: String] = [:]) -> RunConfig {
        var hp = ["lr": Fmt6.lr(lr), "batch_size": "\(batch)", "epochs": "\(epochs)", "optimizer": "adam", "beta_1": "0.9", "seed": "0"]
        for (k, v) in extra { hp[k] = v }
        return RunConfig(label: label, model: model, modelHash: model == "resnet50" ? "5f1c0a9e7d2b44c1a0b3" : "9a8b7c6d5e4f3a2b1c0d",
                         datasetPath: dataset, datasetSHA256: dataset.hasSuffix("cifar10.h5") ? "c0ffee00112233445566" : "beef0011",
                         trainCount: 50000, testCount: 10000, hyperparameters: hp, epochsPlanned: epochs, batchSize: batch,
                         learningRate: lr, seed: 0, threads: 2, programVersion: "resnet-run 0.1.0",
                         commandLine: "resnet-run train --lr \(Fmt6.lr(lr)) --batch-size \(batch)", host: "lab-1")
    }

    /// Deterministic metrics for epoch `e` of a run with quality factor `q`.
    static func metrics(_ e: Int, q: Double) -> [String: Double] {
        let x = Double(e)
        return ["loss": (2.0 / (x + 1) * q * 10_000).rounded() / 10_000,
                "accuracy": ((0.5 + 0.08 * x) / q * 10_000).rounded() / 10_000,
                "test_loss": (2.2 / (x + 1) * q * 10_000).rounded() / 10_000,
                "test_accuracy": ((0.45 + 0.07 * x) / q * 10_000).rounded() / 10_000,
                "seconds": 300 + x, "images_per_second": 166.5]
    }

    /// Four runs: #1 completed baseline, #2 completed higher lr, #3 crashed (other host, stale
    /// heartbeat), #4 resnet18 interrupted on another dataset, #5 running (fresh heartbeat).
    @discardableResult
    static func build(at path: String) throws -> RunStore {
        let store = try RunStore(path: path, createIfMissing: true)
        @discardableResult func add(_ c: RunConfig, start: Date, epochs: Int, q: Double, finish: RunStatus?, owner: ProcessIdentity = liveOwner) throws -> Int64 {
            let id = try store.createRun(c, startedAt: start, owner: owner)
            for e in 1...epochs { try store.recordEpoch(run: id, epoch: e, metrics: metrics(e, q: q), at: start.addingTimeInterval(Double(e) * 305)) }
            if let finish { try store.finishRun(run: id, status: finish, reason: finish == .interrupted ? "SIGINT" : nil,
                                                at: start.addingTimeInterval(Double(epochs) * 305 + 10)) }
            return id
        }
        try add(config(label: "baseline", model: "resnet50", lr: 0.00015, batch: 32, epochs: 5), start: t0, epochs: 5, q: 1.0, finish: .completed)
        try add(config(label: "lr-2x", model: "resnet50", lr: 0.0003, batch: 32, epochs: 5), start: t0.addingTimeInterval(86400), epochs: 5, q: 0.95, finish: .completed)
        let other = ProcessIdentity(pid: 777, host: "lab-2", bootID: nil, startTicks: nil)
        try add(config(label: nil, model: "resnet50", lr: 0.00015, batch: 64, epochs: 5), start: t0.addingTimeInterval(2 * 86400), epochs: 2, q: 1.05, finish: nil, owner: other)
        try add(config(label: "small", model: "resnet18", lr: 0.001, batch: 32, epochs: 4, dataset: "/data/cifar10-small.h5", extra: ["dropout": "0.1"]),
                start: t0.addingTimeInterval(3 * 86400), epochs: 3, q: 1.1, finish: .interrupted)
        // Running: owned by another host, heartbeat recorded 1 minute before "now".
        let running = try store.createRun(config(label: "live", model: "resnet50", lr: 0.0001, batch: 32, epochs: 10),
                                          startedAt: now.addingTimeInterval(-3600), owner: ProcessIdentity(pid: 99, host: "lab-3", bootID: nil, startTicks: nil))
        try store.recordEpoch(run: running, epoch: 1, metrics: metrics(1, q: 1.0), at: now.addingTimeInterval(-60))
        return store
    }
}

/// Same spelling as the CLI's learning-rate format.
enum Fmt6 {
    static func lr(_ v: Double) -> String {
        var s = "\(v)"
        if s.hasSuffix(".0") { s.removeLast(2) }
        return s
    }
}
