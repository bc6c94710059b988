/// The versioned schema of the experiment store. `migrations[i]` upgrades version i to i + 1;
/// `PRAGMA user_version` holds the version reached. Append new migrations, never edit old ones.
import GRDB

enum Schema {
    static let migrations: [@Sendable (Database) throws -> Void] = [v1, v2, v3]

    /// Version 1: runs, per-epoch metrics (one row per run and epoch, metrics as a JSON object),
    /// weight snapshots (one per run and kind, blob + tensor manifest + checksum).
    @Sendable static func v1(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE run (
              id INTEGER PRIMARY KEY AUTOINCREMENT,
              status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'interrupted', 'failed', 'crashed')),
              status_reason TEXT,
              label TEXT,
              notes TEXT,
              started_at REAL NOT NULL,          -- Unix seconds
              finished_at REAL,
              heartbeat_at REAL NOT NULL,
              model TEXT NOT NULL,
              model_hash TEXT NOT NULL,          -- hash of the model description
              dataset_path TEXT NOT NULL,
              dataset_sha256 TEXT,
              train_count INTEGER NOT NULL,
              test_count INTEGER NOT NULL,
              hyperparameters TEXT NOT NULL CHECK (json_valid(hyperparameters)),  -- {"name": "value"}
              epochs_planned INTEGER NOT NULL,
              batch_size INTEGER NOT NULL,
              learning_rate REAL NOT NULL,
              seed INTEGER NOT NULL,
              threads INTEGER NOT NULL,
              program_version TEXT NOT NULL,
              command_line TEXT NOT NULL,
              host TEXT NOT NULL,
              pid INTEGER NOT NULL,              -- owning process while running
              pid_host TEXT NOT NULL,
              pid_start INTEGER,                 -- /proc start time (ticks), guards against pid reuse
              boot_id TEXT,
              epochs_done INTEGER NOT NULL DEFAULT 0,   -- summary, maintained with each epoch
              last_epoch INTEGER,
              final_test_accuracy REAL,
              best_test_accuracy REAL,
              best_epoch INTEGER
            );
            CREATE INDEX run_by_model ON run(model);
            CREATE TABLE epoch (
              run_id INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,
              epoch INTEGER NOT NULL CHECK (epoch >= 0),
              recorded_at REAL NOT NULL,
              metrics TEXT NOT NULL CHECK (json_valid(metrics)),  -- {"loss": 0.42, "test_accuracy": 0.81, ...}
              PRIMARY KEY (run_id, epoch)
            ) WITHOUT ROWID;
            CREATE TABLE snapshot (
              id INTEGER PRIMARY KEY,
              run_id INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,
              kind TEXT NOT NULL CHECK (kind IN ('final', 'best', 'checkpoint')),
              epoch INTEGER NOT NULL,
              created_at REAL NOT NULL,
              manifest TEXT NOT NULL CHECK (json_valid(manifest)),  -- [TensorEntry]
              extra TEXT NOT NULL CHECK (json_valid(extra)),        -- {"step": "1234", ...}
              byte_count INTEGER NOT NULL,
              checksum TEXT NOT NULL,             -- "xxh64:<hex>" of the blob
              data BLOB NOT NULL,                 -- last column: metadata reads never touch it
              UNIQUE (run_id, kind)
            );
            """)
    }

    /// Version 2: run status `diverged` (training stopped because the loss became non-finite).
    ///
    /// Only the CHECK constraint on `run.status` changes, so the table's stored SQL is edited in
    /// place with SQLite's documented `writable_schema` procedure ("Making Other Kinds Of Table
    /// Schema Changes", https://sqlite.org/lang_altertable.html) instead of rebuilding the table:
    /// a rebuild would have to `DROP TABLE run`, which with foreign keys on cascades into every
    /// epoch and snapshot row, and foreign keys cannot be switched off inside the migration's
    /// transaction. Relaxing a CHECK cannot invalidate an existing row, and nothing else (rowids,
    /// AUTOINCREMENT counter, indexes, the tables that reference `run`) is touched. The edit runs
    /// inside the migration's immediate transaction: any failure rolls it back.
    static let v1StatusCheck = "CHECK (status IN ('running', 'completed', 'interrupted', 'failed', 'crashed'))"
    static let v2StatusCheck = "CHECK (status IN ('running', 'completed', 'interrupted', 'failed', 'crashed', 'diverged'))"

    @Sendable static func v2(_ db: Database) throws {
        try replaceStatusCheck(db, from: v1StatusCheck, to: v2StatusCheck, version: 2, newStatus: "diverged")
    }

    /// Replaces the `run.status` CHECK constraint `old` with `new` in the stored schema (the
    /// `writable_schema` procedure above), inside the migration's transaction, then parses the
    /// edited schema at once so that a mistake rolls back instead of leaving an unreadable file.
    static func replaceStatusCheck(_ db: Database, from old: String, to new: String, version: Int, newStatus: String) throws {
        guard let sql = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'run'"),
              sql.components(separatedBy: old).count == 2 else {
            // Translated by the caller into a one-line error naming the database file.
            throw DatabaseError(resultCode: .SQLITE_ERROR,
                                message: "cannot upgrade the schema to version \(version): table 'run' lacks the version \(version - 1) status constraint")
        }
        let newSQL = sql.replacingOccurrences(of: old, with: new)
        let schemaVersion = try Int.fetchOne(db, sql: "PRAGMA schema_version") ?? 0
        try db.execute(sql: "PRAGMA writable_schema = ON")
        do {
            try db.execute(sql: "UPDATE sqlite_schema SET sql = ? WHERE type = 'table' AND name = 'run'", arguments: [newSQL])
            // A new schema cookie makes every connection (this one included) re-read the schema.
            try db.execute(sql: "PRAGMA schema_version = \(schemaVersion + 1)")
        } catch {
            try? db.execute(sql: "PRAGMA writable_schema = OFF")
            throw error
        }
        try db.execute(sql: "PRAGMA writable_schema = OFF")
        _ = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM run WHERE status = ?", arguments: [newStatus])
    }

    /// Version 3: run status `imported` (weights brought in from a Keras model file: no epochs,
    /// the weights as the `final` snapshot). The same in-place CHECK edit as version 2, from the
    /// version 2 constraint to one that also allows 'imported'.
    static let v3StatusCheck = "CHECK (status IN ('running', 'completed', 'interrupted', 'failed', 'crashed', 'diverged', 'imported'))"

    @Sendable static func v3(_ db: Database) throws {
        try replaceStatusCheck(db, from: v2StatusCheck, to: v3StatusCheck, version: 3, newStatus: "imported")
    }
}
