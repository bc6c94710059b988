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
            XCTAssertEqual(try Int.fetchOne(db, sql: "PRAGMA user_version"), 2)
            XCTAssertEqual(try String.fetchAll(db, sql: "PRAGMA integrity_check"), ["ok"])
            XCTAssertEqual(try Row.fetchAll(db, sql: "PRAGMA foreign_key_check").count, 0)
            return try String.fetchOne(db, sql: "SELECT sql FROM sqlite_schema WHERE name = 'run'")
        }
        XCTAssertTrue(try XCTUnwrap(sql).contains(Schema.v2StatusCheck), sql ?? "")
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
}
