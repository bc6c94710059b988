/// `resnet-runs` run as a process for the reliability issue: the `diverged` status, NaN/inf in
/// sorting and "best", `compare --metric` errors, `delete --vacuum` sizes, where the best weights
/// are, `ulimit -f`, and read commands / writers meeting files of other users (as root, through
/// setpriv as `nobody` and `daemon`).
import Foundation
import XCTest
@testable import RunStore
@testable import resnet_runs

final class ReliabilityCLITests: XCTestCase {
    var dir: TempDir!
    var db: String!

    override func setUpWithError() throws {
        dir = try TempDir()
        db = dir.path("experiments.db")
    }
    override func tearDown() {
        chmod(dir.url.path, 0o755)
        dir.cleanup()
    }

    /// Exactly one line on stderr starting `resnet-runs: error: `, nothing on stdout.
    func assertOneLineError(_ r: CLIResult, _ expected: String, status: Int32 = 1,
                            file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, status, r.stderr, file: file, line: line)
        XCTAssertEqual(r.stdout, "", file: file, line: line)
        XCTAssertEqual(r.stderr, "resnet-runs: error: \(expected)\n", file: file, line: line)
    }

    /// A: completed (lr 0.001); B: diverged (lr 0.01, NaN in epoch 2); C: failed with an infinite
    /// learning rate, an infinite test accuracy and a -inf loss.
    func buildNonFiniteStore() throws -> (a: Int64, b: Int64, c: Int64) {
        let store = try RunStore(path: db, createIfMissing: true)
        let owner = ProcessIdentity(pid: 1, host: "elsewhere", bootID: nil, startTicks: nil)
        let t0 = Fixture.t0
        let a = try store.createRun(Fixture.config(label: "a", model: "m", lr: 0.001, batch: 8, epochs: 2), startedAt: t0, owner: owner)
        try store.recordEpoch(run: a, epoch: 1, metrics: ["loss": 1.0, "test_accuracy": 0.5], at: t0.addingTimeInterval(10))
        try store.recordEpoch(run: a, epoch: 2, metrics: ["loss": 0.8, "test_accuracy": 0.6], at: t0.addingTimeInterval(20))
        try store.finishRun(run: a, status: .completed, at: t0.addingTimeInterval(30))
        let b = try store.createRun(Fixture.config(label: "b", model: "m", lr: 0.01, batch: 8, epochs: 2), startedAt: t0, owner: owner)
        try store.recordEpoch(run: b, epoch: 1, metrics: ["loss": 0.9, "test_accuracy": 0.7], at: t0.addingTimeInterval(10))
        try store.recordEpoch(run: b, epoch: 2, metrics: ["loss": .nan, "test_accuracy": .nan], at: t0.addingTimeInterval(20))
        try store.finishRun(run: b, status: .diverged, reason: "loss became NaN in epoch 2", at: t0.addingTimeInterval(30))
        let c = try store.createRun(Fixture.config(label: "c", model: "m", lr: .infinity, batch: 8, epochs: 2), startedAt: t0, owner: owner)
        try store.recordEpoch(run: c, epoch: 1, metrics: ["loss": 2.0, "test_accuracy": .infinity], at: t0.addingTimeInterval(10))
        try store.recordEpoch(run: c, epoch: 2, metrics: ["loss": -.infinity, "test_accuracy": .infinity], at: t0.addingTimeInterval(20))
        try store.finishRun(run: c, status: .failed, at: t0.addingTimeInterval(30))
        return (a, b, c)
    }

    func csvIDs(_ r: CLIResult) -> [String] {
        r.stdout.split(separator: "\n").dropFirst().map { String($0.split(separator: ",")[0]) }
    }

    func testDivergedStatusIsListedFilteredAndRed() throws {
        let (_, b, _) = try buildNonFiniteStore()
        var r = try runCLI(["list", "--db", db, "--status", "diverged", "--format", "csv"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(csvIDs(r), ["\(b)"])
        XCTAssertTrue(r.stdout.contains("\(b),diverged,b,"), r.stdout)
        r = try runCLI(["show", "\(b)", "--db", db])
        XCTAssertTrue(r.stdout.contains("  status          diverged — loss became NaN in epoch 2\n"), r.stdout)
        XCTAssertEqual(Style.statusKind(.diverged), .red)
        XCTAssertEqual(Style(enabled: true).apply(Style.statusKind(.diverged), "diverged"), "\u{1B}[31mdiverged\u{1B}[0m")
        for args in [["list", "--help"], ["--help"]] {
            r = try runCLI(args)
            XCTAssertTrue(r.stdout.contains("diverged"), "\(args): \(r.stdout)")
        }
        assertOneLineError(try runCLI(["list", "--db", db, "--status", "exploded"]),
                           "--status: unknown status 'exploded' (choose from running, completed, interrupted, failed, crashed, diverged)")
    }
}
