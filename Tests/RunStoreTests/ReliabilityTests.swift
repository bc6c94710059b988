/// Store-level reliability: the schema upgrade that admits `diverged`, the free-space check
/// before snapshot writes, and a real full file system (a small tmpfs, when running as root).
import Foundation
import GRDB
import XCTest
@_spi(Testing) @testable import RunStore

final class ReliabilityTests: XCTestCase {
    var dir: TempDir!
    override func setUpWithError() throws { dir = try TempDir() }
    override func tearDown() { dir.cleanup() }

    // MARK: schema version 2

    /// Writes a store exactly as schema version 1 left it: one completed run with an epoch and a
    /// final snapshot of 4 bytes.
    func makeVersion1Store(at path: String) throws {
        let q = try DatabaseQueue(path: path)
        try q.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA page_size = \(RunStore.pageSize)")
            _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
            try db.inTransaction(.immediate) {
                try Schema.v1(db)
                try db.execute(sql: "PRAGMA user_version = 1")
                try db.execute(sql: "PRAGMA application_id = \(RunStore.applicationID)")
                try db.execute(sql: """
                    INSERT INTO run (id, status, started_at, heartbeat_at, finished_at, model, model_hash, dataset_path,
                      train_count, test_count, hyperparameters, epochs_planned, batch_size, learning_rate, seed,
                      threads, program_version, command_line, host, pid, pid_host,
                      epochs_done, last_epoch, final_test_accuracy, best_test_accuracy, best_epoch)
                    VALUES (1, 'completed', 100, 200, 200, 'tiny', 'h', '/data/x.h5', 10, 2, '{"lr": "0.001"}', 1, 8,
                      0.001, 0, 1, 'v1', 'resnet-run train', 'lab-1', 1, 'lab-1', 1, 1, 0.5, 0.5, 1)
                    """)
                try db.execute(sql: "INSERT INTO epoch VALUES (1, 1, 150, '{\"loss\": 1.25, \"test_accuracy\": 0.5}')")
                try db.execute(sql: """
                    INSERT INTO snapshot (run_id, kind, epoch, created_at, manifest, extra, byte_count, checksum, data)
                    VALUES (1, 'final', 1, 190, '[]', '{}', 4, ?, x'01020304')
                    """, arguments: ["xxh64:" + XXH64.hash([1, 2, 3, 4] as [UInt8]).hexString])
                return .commit
            }
        }
        // Version 1 really refuses the new status (otherwise this test would prove nothing).
        XCTAssertThrowsError(try q.write { try $0.execute(sql: "UPDATE run SET status = 'diverged' WHERE id = 1") }) {
            XCTAssertTrue("\($0)".contains("CHECK constraint failed"), "\($0)")
        }
    }

    func testVersion1StoreUpgradesToAcceptDivergedRuns() throws {
        let path = dir.path("v1.db")
        try makeVersion1Store(at: path)

        let store = try RunStore(path: path, createIfMissing: false)
        let id = try store.createRun(Fixture.config(label: "nan", model: "tiny", lr: 10, batch: 8, epochs: 3))
        try store.recordEpoch(run: id, epoch: 1, metrics: ["loss": .nan, "test_accuracy": 0.1])
        try store.finishRun(run: id, status: .diverged, reason: "loss became NaN in epoch 1")
        XCTAssertEqual(try store.run(id).status, .diverged)
        XCTAssertEqual(try store.runs(status: [.diverged]).map(\.id), [id])
        XCTAssertEqual(id, 2, "AUTOINCREMENT continues after the version 1 rows")

        // The version 1 run, its epoch and its weights are intact.
        XCTAssertEqual(try store.run(1).status, .completed)
        XCTAssertEqual(try store.epochs(run: 1).map(\.metrics), [["loss": 1.25, "test_accuracy": 0.5]])
        XCTAssertEqual(try store.loadSnapshot(run: 1, kind: .final).bytes, [1, 2, 3, 4])

        let q = try DatabaseQueue(path: path)
        let sql = try q.read { db -> String? in
            XCTAssertEqual(try Int.fetchOne(db, sql: "PRAGMA user_version"), RunStore.schemaVersion)
            XCTAssertEqual(try String.fetchAll(db, sql: "PRAGMA integrity_check"), ["ok"])
            XCTAssertEqual(try Row.fetchAll(db, sql: "PRAGMA foreign_key_check").count, 0)
            return try String.fetchOne(db, sql: "SELECT sql FROM sqlite_schema WHERE name = 'run'")
        }
        XCTAssertTrue(try XCTUnwrap(sql).contains(Schema.v3StatusCheck), sql ?? "")  // upgraded through v2 and v3
        // The upgraded table is the one a new store gets.
        let fresh = try RunStore(path: dir.path("fresh.db"), createIfMissing: true)
        XCTAssertEqual(sql, try fresh.read { try String.fetchOne($0, sql: "SELECT sql FROM sqlite_schema WHERE name = 'run'") })
        // The constraint still rejects anything else.
        XCTAssertThrowsError(try q.write { try $0.execute(sql: "UPDATE run SET status = 'exploded' WHERE id = 1") }) {
            XCTAssertTrue("\($0)".contains("CHECK constraint failed"), "\($0)")
        }
        // Foreign keys and cascades still work on the edited table.
        XCTAssertThrowsError(try q.write { try $0.execute(sql: "INSERT INTO epoch VALUES (99, 1, 1, '{}')") }) {
            XCTAssertTrue("\($0)".contains("FOREIGN KEY constraint failed"), "\($0)")
        }
        try store.deleteRuns([1])
        try q.read { db in
            XCTAssertEqual(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM epoch WHERE run_id = 1"), 0)
            XCTAssertEqual(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM snapshot WHERE run_id = 1"), 0)
            XCTAssertEqual(try String.fetchAll(db, sql: "PRAGMA integrity_check"), ["ok"])
        }
    }

    func testReadOnlyOpenOfVersion1StoreUpgradesIt() throws {
        let path = dir.path("v1.db")
        try makeVersion1Store(at: path)
        let reader = try RunStore(path: path, createIfMissing: false, readOnly: true)
        XCTAssertEqual(reader.openMode, .ownerQueryOnly)
        XCTAssertEqual(try reader.runs().map(\.id), [1])
        let version = try DatabaseQueue(path: path).read { try Int.fetchOne($0, sql: "PRAGMA user_version") }
        XCTAssertEqual(version, RunStore.schemaVersion)
    }

    // MARK: free space

    func testSnapshotSpaceCheckRefusesBeforeWritingAnything() throws {
        let path = dir.path("e.db")
        let store = try RunStore(path: path, createIfMissing: true)
        let id = try store.createRun(Fixture.config(label: nil, model: "m", lr: 0.1, batch: 1, epochs: 1))
        try store.checkpoint()
        let bytes = [UInt8](repeating: 7, count: 600_000)
        let walBefore = RunStore.fileSize(path + "-wal"), dbBefore = fileDigest(path)
        store.freeSpaceOverride = { 1_000_000 }
        XCTAssertThrowsError(try bytes.withUnsafeBytes {
            try store.saveSnapshot(run: id, kind: .best, epoch: 1, tensors: [], bytes: $0)
        }) { error in
            XCTAssertEqual(error as? RunStoreError,
                           .insufficientSpace(path: path, snapshotBytes: 600_000, needed: 1_200_000, available: 1_000_000))
            XCTAssertEqual("\(error)", "database \(path): not enough free space to store a 600.0 kB weight snapshot: needs about 1.2 MB (twice the snapshot: WAL copy, then checkpoint into the database), its file system has 1.0 MB free; nothing was written")
        }
        XCTAssertEqual(RunStore.fileSize(path + "-wal"), walBefore, "nothing was written to the WAL")
        XCTAssertEqual(fileDigest(path), dbBefore)
        XCTAssertEqual(try store.snapshots(run: id), [])
        // Exactly twice the snapshot is enough.
        store.freeSpaceOverride = { 1_200_000 }
        try bytes.withUnsafeBytes { try store.saveSnapshot(run: id, kind: .best, epoch: 1, tensors: [], bytes: $0) }
        XCTAssertEqual(try store.loadSnapshot(run: id, kind: .best).bytes, bytes)
        // Without the override the check uses statvfs on the database's directory.
        store.freeSpaceOverride = nil
        XCTAssertNotNil(SQLiteErrors.freeBytes(near: path))
        XCTAssertEqual(SQLiteErrors.freeBytes(near: dir.path("absent.db")), SQLiteErrors.freeBytes(near: path))
    }

    // MARK: a real full file system

    @discardableResult
    func run(_ tool: String, _ args: [String]) throws -> CLIResult { try runProcess(tool, args) }

    /// Mounts a 4 MB tmpfs in the test directory (root only) and returns its path.
    func mountSmallFileSystem() throws -> String {
        guard geteuid() == 0 else {
            throw XCTSkip("needs root to mount a small tmpfs (running as uid \(geteuid())); the statvfs pre-check is covered by testSnapshotSpaceCheckRefusesBeforeWritingAnything")
        }
        let mnt = dir.path("small-fs")
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
        let r = try run("/bin/mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt])
        guard r.status == 0 else {
            throw XCTSkip("mount -t tmpfs failed (status \(r.status): \(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines))); no file system to fill")
        }
        addTeardownBlock { _ = try? self.run("/bin/umount", ["-l", mnt]) }
        return mnt
    }

    /// Writes `path` in 64 KiB pieces until the file system is full; returns the bytes written.
    func fill(_ path: String) -> Int {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0xAB, count: 65536)
        var total = 0
        while true {
            let n = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            total += n
        }
        return total
    }

    func testFullFileSystemIsReportedAndTheStoreStaysReadable() throws {
        let mnt = try mountSmallFileSystem()
        let path = mnt + "/experiments.db"
        let store = try RunStore(path: path, createIfMissing: true)
        let id = try store.createRun(Fixture.config(label: "full", model: "m", lr: 0.1, batch: 1, epochs: 3))
        try store.recordEpoch(run: id, epoch: 1, metrics: ["loss": 1, "test_accuracy": 0.5])
        let best = (0..<65536).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try best.withUnsafeBytes { try store.saveSnapshot(run: id, kind: .best, epoch: 1, tensors: [], bytes: $0) }
        try store.checkpoint()

        // Fill the file system, then give back 256 KiB.
        let filler = mnt + "/filler"
        let written = fill(filler)
        XCTAssertGreaterThan(written, 0)
        XCTAssertEqual(truncate(filler, off_t(written - 262_144)), 0)
        let free = try XCTUnwrap(SQLiteErrors.freeBytes(near: path))
        XCTAssertLessThan(free, 1 << 20)

        // 1. The pre-check refuses a 1 MiB snapshot, naming the database, before writing anything.
        let big = [UInt8](repeating: 5, count: 1 << 20)
        let dbDigest = fileDigest(path), walSize = RunStore.fileSize(path + "-wal")
        XCTAssertThrowsError(try big.withUnsafeBytes {
            try store.saveSnapshot(run: id, kind: .final, epoch: 1, tensors: [], bytes: $0)
        }) { error in
            guard case let .insufficientSpace(p, snapshot, needed, available)? = error as? RunStoreError else {
                return XCTFail("expected insufficientSpace, got \(error)")
            }
            XCTAssertEqual(p, path)
            XCTAssertEqual(snapshot, 1 << 20)
            XCTAssertEqual(needed, 2 << 20)
            XCTAssertEqual(available, free)
            XCTAssertTrue("\(error)".hasPrefix("database \(path): not enough free space"), "\(error)")
        }
        XCTAssertEqual(fileDigest(path), dbDigest)
        XCTAssertEqual(RunStore.fileSize(path + "-wal"), walSize)

        // 2. Past the check (pretending there is room), the write itself runs out of space:
        //    SQLITE_FULL becomes a one-line error naming the -wal, never a raw GRDB error.
        store.freeSpaceOverride = { 1 << 40 }
        XCTAssertThrowsError(try big.withUnsafeBytes {
            try store.saveSnapshot(run: id, kind: .final, epoch: 1, tensors: [], bytes: $0)
        }) { error in
            guard case let .noSpace(p, file, _)? = error as? RunStoreError else {
                return XCTFail("expected noSpace, got \(type(of: error)): \(error)")
            }
            XCTAssertEqual(p, path)
            XCTAssertEqual(file, path + "-wal")
            XCTAssertTrue("\(error)".hasPrefix("database \(path): disk full while writing \(path)-wal (no space left on its file system, "), "\(error)")
            XCTAssertFalse("\(error)".contains("\n"))
        }
        // Whatever else fails on the full disk fails as a RunStoreError too.
        do { try store.recordEpoch(run: id, epoch: 2, metrics: ["loss": 0.5, "test_accuracy": 0.6]) } catch {
            XCTAssertTrue(error is RunStoreError, "\(type(of: error)): \(error)")
        }

        // 3. The store is intact and readable, by this connection and by a new reader.
        XCTAssertEqual(try store.integrityProblems(), [])
        let reader = try RunStore(path: path, createIfMissing: false, readOnly: true)
        XCTAssertEqual(try reader.runs().map(\.id), [id])
        XCTAssertEqual(try reader.snapshots(run: id).map(\.kind), [.best])
        XCTAssertEqual(try reader.loadSnapshot(run: id, kind: .best).bytes, best)

        // 4. With space freed, the same write succeeds.
        XCTAssertEqual(unlink(filler), 0)
        store.freeSpaceOverride = nil
        try big.withUnsafeBytes { try store.saveSnapshot(run: id, kind: .final, epoch: 1, tensors: [], bytes: $0) }
        XCTAssertEqual(try store.loadSnapshot(run: id, kind: .final).bytes, big)
        XCTAssertEqual(try store.integrityProblems(), [])
    }
}
