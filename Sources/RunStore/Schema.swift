/// The versioned schema of the experiment store. `migrations[i]` upgrades version i to i + 1;
/// `PRAGMA user_version` holds the version reached. Append new migrations, never edit old ones.
import GRDB

enum Schema {
    static let migrations: [@Sendable (Database) throws -> Void] = [v1]

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
}
