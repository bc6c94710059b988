/// Multi-process tests on one database file: a writer killed with SIGKILL in the middle of an
/// epoch (and in the middle of a snapshot blob), two writers and a reader at once, and lock
/// timeouts. The writers are `resnet-runs debug-writer`, a hidden command that records epochs and
/// checkpoint snapshots exactly as a trainer does through the RunStore API and prints one line per
/// committed step.
import Foundation
import XCTest
@testable import RunStore

/// A child process whose stdout is read line by line.
final class Child {
    let process = Process()
    private let pipe = Pipe()
    private var buffer = ""
    private(set) var lines: [String] = []

    init(_ args: [String]) throws {
        process.executableURL = URL(fileURLWithPath: resnetRunsBinary)
        process.arguments = args
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// Reads until a line satisfies `predicate`; fails at EOF.
    func waitForLine(_ predicate: (String) -> Bool, file: StaticString = #filePath, line: UInt = #line) -> String? {
        while true {
            while let nl = buffer.firstIndex(of: "\n") {
                let l = String(buffer[..<nl])
                buffer.removeSubrange(...nl)
                lines.append(l)
                if predicate(l) { return l }
            }
            let data = pipe.fileHandleForReading.availableData
            if data.isEmpty { XCTFail("child exited before the expected line; got \(lines)", file: file, line: line); return nil }
            buffer += String(decoding: data, as: UTF8.self)
        }
    }

    func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func finish() -> Int32 {
        _ = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return process.terminationStatus
    }
}

final class ConcurrencyTests: XCTestCase {
    var dir: TempDir!
    override func setUpWithError() throws { dir = try TempDir() }
    override func tearDown() { dir.cleanup() }

    /// SIGKILL while the writer is inside the transaction that stores epoch 3's checkpoint
    /// (half the blob written): epochs 1–3 are intact, the epoch-2 checkpoint is still there and
    /// verifies, the half-written one left no trace, and the run shows as crashed.
    func testWriterKilledMidSnapshotLeavesCompletedWork() throws {
        let db = dir.path("e.db")
        let child = try Child(["debug-writer", "--db", db, "--epochs", "50", "--epoch-ms", "10",
                               "--snapshot-kb", "256", "--pause-mid-snapshot-epoch", "3"])
        XCTAssertNotNil(child.waitForLine { $0.hasPrefix("paused mid-snapshot") })
        child.kill9()
        XCTAssertEqual(child.process.terminationReason, .uncaughtSignal)
        XCTAssertEqual(child.lines.filter { $0.hasSuffix("committed") },
                       ["epoch 1 committed", "snapshot 1 committed", "epoch 2 committed", "snapshot 2 committed", "epoch 3 committed"])

        let store = try RunStore(path: db, createIfMissing: false, readOnly: true)
        XCTAssertEqual(try store.integrityProblems(), [])
        let run = try store.run(1)
        XCTAssertEqual(run.status, .crashed)
        XCTAssertEqual(run.recordedStatus, .running)
        XCTAssertEqual(try store.epochs(run: 1).map(\.epoch), [1, 2, 3])
        XCTAssertEqual(run.epochsDone, 3)
        let snapshot = try store.loadSnapshot(run: 1, kind: .checkpoint)
        XCTAssertEqual(snapshot.epoch, 2)
        XCTAssertEqual(snapshot.extra, ["step": "200"])
        XCTAssertEqual(snapshot.bytes, (0..<256 * 1024).map { DebugWriterPattern.byte($0, epoch: 2) })

        let list = try runCLI(["list", "--db", db, "--format", "csv"])
        XCTAssertTrue(list.stdout.contains("\n1,crashed,"), list.stdout)
        XCTAssertEqual(try runCLI(["check", "--db", db]).status, 0)
        // The crashed run can be deleted, and a new writer can use the file.
        XCTAssertEqual(try runCLI(["delete", "1", "--yes", "--db", db]).status, 0)
        XCTAssertEqual(try Child(["debug-writer", "--db", db, "--epochs", "2", "--epoch-ms", "1"]).finish(), 0)
    }

    /// SIGKILL between epoch commits (the writer is "training"): every committed epoch survives.
    func testWriterKilledBetweenEpochs() throws {
        let db = dir.path("e.db")
        let child = try Child(["debug-writer", "--db", db, "--epochs", "1000", "--epoch-ms", "40"])
        XCTAssertNotNil(child.waitForLine { $0 == "epoch 4 committed" })
        usleep(10_000)  // now inside epoch 5's sleep / heartbeat
        child.kill9()
        let committed = child.lines.filter { $0.hasPrefix("epoch ") }.count
        let store = try RunStore(path: db, createIfMissing: false)
        let epochs = try store.epochs(run: 1).map(\.epoch)
        // Lines are printed after the commit, so the store may hold one epoch more than we saw.
        XCTAssertTrue(epochs == Array(1...committed) || epochs == Array(1...committed + 1), "\(epochs) vs \(committed)")
        XCTAssertEqual(try store.run(1).status, .crashed)
        XCTAssertEqual(try store.integrityProblems(), [])
    }

    /// Two writers and one reader at once on one file.
    func testTwoWritersAndAReaderConcurrently() throws {
        let db = dir.path("e.db")
        _ = try RunStore(path: db, createIfMissing: true)
        let writers = try (0..<2).map { i in
            try Child(["debug-writer", "--db", db, "--epochs", "25", "--epoch-ms", "4", "--snapshot-kb", "512", "--label", "writer-\(i)"])
        }
        var reads = 0
        var sawBothRunning = false
        while writers.contains(where: { $0.process.isRunning }) || reads < 3 {
            let r = try runCLI(["list", "--db", db, "--format", "json"], env: ["RESNET_RUNS_NOW": ""])
            XCTAssertEqual(r.status, 0, r.stderr)
            let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]]
            XCTAssertNotNil(json, r.stdout)
            if json?.filter({ $0["status"] as? String == "running" }).count == 2 { sawBothRunning = true }
            reads += 1
        }
        XCTAssertEqual(writers.map { $0.finish() }, [0, 0])
        XCTAssertTrue(sawBothRunning || reads < 3, "the reader never saw both writers running")
        let store = try RunStore(path: db, createIfMissing: false, readOnly: true)
        let runs = try store.runs()
        XCTAssertEqual(runs.map(\.status), [.completed, .completed])
        XCTAssertEqual(Set(runs.compactMap(\.label)), ["writer-0", "writer-1"])
        for r in runs {
            XCTAssertEqual(try store.epochs(run: r.id).map(\.epoch), Array(1...25))
            let s = try store.loadSnapshot(run: r.id, kind: .checkpoint)
            XCTAssertEqual(s.epoch, 25)
            XCTAssertEqual(s.bytes, (0..<512 * 1024).map { DebugWriterPattern.byte($0, epoch: 25) })
        }
        XCTAssertEqual(try store.integrityProblems(), [])
    }

    /// A writer holding the lock past the busy timeout: one clear line, nothing changed.
    func testLockedDatabaseReportsTimeout() throws {
        let db = dir.path("e.db")
        try Fixture.build(at: db)
        let holder = try Child(["debug-lock", "--db", db, "--seconds", "30"])
        XCTAssertNotNil(holder.waitForLine { $0 == "locked" })
        defer { holder.kill9() }
        let start = Date()
        var r = try runCLI(["label", "1", "x", "--db", db, "--busy-timeout", "0.3"])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr, "error: database \(db) is locked by another process (gave up after 0.3 s)\n")
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(start), 0.3)
        // Readers are not blocked by a writer in WAL mode.
        r = try runCLI(["show", "1", "--db", db])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("label           baseline"))
        holder.kill9()

        // An exclusive lock also shuts out readers.
        let exclusive = try Child(["debug-lock", "--db", db, "--seconds", "30", "--exclusive"])
        XCTAssertNotNil(exclusive.waitForLine { $0 == "locked" })
        defer { exclusive.kill9() }
        r = try runCLI(["list", "--db", db, "--busy-timeout", "0.2"])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr, "error: database \(db) is locked by another process (gave up after 0.2 s)\n")
    }
}

/// The snapshot content `debug-writer` stores for epoch `e` (kept in sync with DebugWriter.snapshotByte).
enum DebugWriterPattern {
    static func byte(_ i: Int, epoch e: Int) -> UInt8 { UInt8(truncatingIfNeeded: i &* 31 &+ e &* 7) }
}
