/// `RunStore`: the experiment database (`experiments.db`) — one SQLite file holding runs,
/// per-epoch metrics and weight snapshots, accessed through GRDB.
///
/// Guarantees:
/// - WAL journal, `synchronous = NORMAL`: every committed transaction survives the death of the
///   writing process (SIGKILL included); readers never block writers. Each `recordEpoch` is its
///   own `BEGIN IMMEDIATE` transaction, so a killed trainer loses at most the epoch in progress.
/// - Foreign keys on; a busy timeout (default 5 s) after which a locked file is reported.
/// - Versioned schema (`PRAGMA user_version`, `PRAGMA application_id`), upgraded inside one
///   immediate transaction; a file from a newer schema is refused and never altered. Read-only
///   opens (`readOnly: true`) never create or change a file (except that the file's owner
///   upgrades an older schema); see `ReadAccess` for how they avoid leaving -wal/-shm files of
///   another user behind and work in read-only directories.
/// - Writers refuse to start when a -wal/-shm file of another user that they cannot write is in
///   the way, naming the file and its owner (`RunStoreError.foreignJournalFile`).
/// - Snapshot writes check free space first; a full disk or `ulimit -f` is reported naming the
///   file (database or -wal), and the failed transaction leaves the store as it was.
/// - A `running` row whose process is gone is reported with effective status `crashed`.
import Foundation
import GRDB
import GRDBSQLite

public final class RunStore: @unchecked Sendable {
    public let path: String
    public let readOnly: Bool
    public let busyTimeout: Double
    /// For runs owned by another host: heartbeat age after which a `running` run counts as crashed.
    public var staleAfter: TimeInterval = 15 * 60
    let queue: DatabaseQueue
    /// How a read-only store was opened (`.writer` for stores that may write).
    public let openMode: ReadAccess
    let localHost = ProcessIdentity.hostName()
    let localBootID = ProcessIdentity.bootID()
    /// Testing hook called after each chunk of a snapshot blob is written (byte offset written so far).
    @_spi(Testing) public var afterSnapshotChunk: ((Int) -> Void)?
    /// Testing hook: the free bytes `saveSnapshot`'s space check sees instead of statvfs's figure.
    @_spi(Testing) public var freeSpaceOverride: (() -> Int64)?
    /// Size of the pieces in which snapshot blobs are written and read.
    public var blobChunkSize = 4 << 20

    /// `PRAGMA application_id` of every experiment store ("RRST").
    public static let applicationID: Int32 = 0x5252_5354
    /// Page size of new stores: large pages make the 100 MB weight blobs cheap to write and read.
    public static let pageSize = 65536
    /// The highest schema version this program knows.
    public static var schemaVersion: Int { Schema.migrations.count }

    /// Opens (or, with `createIfMissing`, creates) the store at `path`.
    /// - Parameters:
    ///   - createIfMissing: create the file when absent (the trainer); read commands pass `false`.
    ///   - readOnly: never write (list/show/compare/export); every write method then throws.
    ///   - busyTimeout: seconds to wait for another process's lock before failing with `.locked`.
    public init(path: String, createIfMissing: Bool, readOnly: Bool = false, busyTimeout: Double = 5) throws {
        self.path = path
        self.readOnly = readOnly
        self.busyTimeout = busyTimeout
        try Self.checkFile(path: path, mayCreate: createIfMissing && !readOnly)
        openMode = readOnly ? try Self.readAccess(path: path) : .writer
        if !readOnly { try Self.checkJournalFiles(path: path) }

        var config = Configuration()
        config.busyMode = .timeout(busyTimeout)
        config.foreignKeysEnabled = true
        config.label = "RunStore"
        var openPath = path
        switch openMode {
        case .ownerQueryOnly:
            // A read-write connection that never writes (query_only), so that closing it removes
            // the -wal/-shm files it created (they are the owner's own).
            config.prepareDatabase { db in try db.execute(sql: "PRAGMA query_only = 1") }
        case .readOnlyWAL, .immutable:
            config.readonly = true
            config.prepareDatabase { db in try db.execute(sql: "PRAGMA query_only = 1") }
            openPath = Self.uri(path, immutable: openMode == .immutable)
        case .writer:
            config.prepareDatabase { db in
                // page_size only takes effect before the first table exists, i.e. on a new file.
                try db.execute(sql: "PRAGMA page_size = \(RunStore.pageSize)")
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
                // Debian builds SQLite with SECURE_DELETE, which zero-fills every page a replaced
                // 94 MB snapshot frees (doubling the write); weights need no forensic erasure.
                try db.execute(sql: "PRAGMA secure_delete = OFF")
                // Checkpoints run after epoch commits (see checkpointIfWALExceeds), not inside a
                // snapshot's commit.
                try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
            }
        }
        do {
            queue = try DatabaseQueue(path: openPath, configuration: config)
        } catch {
            throw SQLiteErrors.translate(error, path: path, busyTimeout: busyTimeout, integrity: { nil })
        }
        do {
            try prepareSchema(mayInitialize: createIfMissing)
        } catch {
            throw translate(error)
        }
    }

    // MARK: - Opening

    /// How a read-only store is opened. The rule (SQLite: https://sqlite.org/wal.html, "Read-Only
    /// Databases"; a WAL reader needs the -shm index, and creates -wal/-shm owned by whoever opens
    /// the file first):
    ///
    /// - The database file's owner, when it can write both the file and its directory:
    ///   `.ownerQueryOnly`, a read-write connection in `query_only` mode. Any -wal/-shm it creates
    ///   belong to the owner, and closing the connection removes them (and an older schema is
    ///   upgraded as for writers).
    /// - Anyone else (another user, root reading another user's file, or the owner on read-only
    ///   media / in a read-only directory): SQLITE_OPEN_READONLY, never creating a file:
    ///   - no `-wal` file (no writer is active, the WAL is checkpointed): `.immutable`
    ///     (`file:…?immutable=1`): SQLite reads the database file without locks or -shm;
    ///   - a `-wal` and its `-shm` exist (a writer is active, or crashed): `.readOnlyWAL`
    ///     (`mode=ro`): committed WAL content is read through the existing -shm, opened
    ///     read-only when it is not writable;
    ///   - a non-empty `-wal` without `-shm`: cannot be read without creating the -shm, so the
    ///     open fails with `RunStoreError.walWithoutIndex`.
    ///   An older schema version is read as it is, without upgrading (every version so far can
    ///   be read by this program).
    ///
    /// So `resnet-runs list` run by another user never leaves -wal/-shm files that would later
    /// make the owner's `train` fail, and read commands work on read-only media.
    public enum ReadAccess: Sendable, Equatable {
        case writer
        case ownerQueryOnly
        case readOnlyWAL
        case immutable
    }

    static func readAccess(path: String) throws -> ReadAccess {
        var st = stat()
        guard stat(path, &st) == 0 else { return .ownerQueryOnly }  // checkFile has reported it
        let directory = PathNames.directory(of: path)
        let owner = st.st_uid == geteuid()
        let journalFilesWritable = [path + "-wal", path + "-shm"].allSatisfy { access($0, F_OK) != 0 || canWrite($0) }
        if owner && canWrite(path) && canWrite(directory.isEmpty ? "." : directory) && journalFilesWritable {
            return .ownerQueryOnly
        }
        var wal = stat(), shm = stat()
        let hasWAL = stat(path + "-wal", &wal) == 0
        let hasSHM = stat(path + "-shm", &shm) == 0
        if !hasWAL || (wal.st_size == 0 && !hasSHM) { return .immutable }
        if hasSHM { return .readOnlyWAL }
        throw RunStoreError.walWithoutIndex(path: path, user: userName(geteuid()), owner: userName(st.st_uid))
    }

    /// Whether this process (effective ids) may write `path`.
    static func canWrite(_ path: String) -> Bool {
        faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) == 0
    }

    /// `name` for a uid (getpwuid), or "uid N" when it has no passwd entry.
    static func userName(_ uid: uid_t) -> String {
        if let entry = getpwuid(uid), let name = entry.pointee.pw_name { return String(cString: name) }
        return "uid \(uid)"
    }

    /// A `file:` URI for SQLite (percent-encoding the characters URIs reserve), read-only.
    static func uri(_ path: String, immutable: Bool) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var encoded = ""
        for scalar in absolute.unicodeScalars {
            switch scalar {
            case "%": encoded += "%25"
            case "?": encoded += "%3f"
            case "#": encoded += "%23"
            default: encoded.unicodeScalars.append(scalar)
            }
        }
        return "file://" + encoded + (immutable ? "?immutable=1" : "?mode=ro")
    }

    /// Writers: a -wal/-shm file that belongs to another user and that we cannot write would make
    /// SQLite fail later with a bare "attempt to write a readonly database"; name it instead.
    static func checkJournalFiles(path: String) throws {
        let euid = geteuid()
        for file in [path + "-wal", path + "-shm"] {
            var st = stat()
            guard lstat(file, &st) == 0 else { continue }
            if st.st_uid != euid && !canWrite(file) {
                throw RunStoreError.foreignJournalFile(path: path, file: file, owner: userName(st.st_uid), user: userName(euid))
            }
        }
    }

    private static func checkFile(path: String, mayCreate: Bool) throws {
        var st = stat()
        if stat(path, &st) != 0 {
            guard mayCreate else { throw RunStoreError.noDatabase(path: path) }
            let directory = PathNames.directory(of: path)
            if !directory.isEmpty {
                var isDir: ObjCBool = false
                if !FileManager.default.fileExists(atPath: directory, isDirectory: &isDir) || !isDir.boolValue {
                    throw RunStoreError.missingDirectory(path: path, directory: directory)
                }
            }
            return
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw RunStoreError.notAFile(path: path) }
        if st.st_size == 0 {
            if mayCreate { return }
            throw RunStoreError.emptyDatabase(path: path)
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw RunStoreError.sqlite(path: path, message: "cannot read the file (permission denied?)")
        }
        defer { try? handle.close() }
        let header = (try? handle.read(upToCount: 100)) ?? Data()
        if !header.starts(with: Array("SQLite format 3\0".utf8)) {
            throw RunStoreError.notSQLite(path: path, detail: "the file does not start with the SQLite header")
        }
        if header.count < 100 {
            throw RunStoreError.notSQLite(path: path, detail: "the file is truncated to \(st.st_size) bytes")
        }
    }

    private func prepareSchema(mayInitialize: Bool) throws {
        let (version, tables, appID) = try queue.read { db -> (Int, Int, Int32) in
            (try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0,
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table'") ?? 0,
             try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0)
        }
        try Self.checkIdentity(path: path, version: version, tables: tables, appID: appID,
                               allowEmpty: mayInitialize && !readOnly)
        if !readOnly {
            // Only now that the file is known to be ours (or new) may its journal mode change.
            _ = try queue.writeWithoutTransaction { db in try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL") }
        }
        if version == Self.schemaVersion { return }
        if openMode == .immutable || openMode == .readOnlyWAL {
            // Another user's (or a read-only) file: read the older schema as it is.
            return
        }
        if readOnly {
            // An older store: upgrade it once through a short-lived writable connection.
            _ = try RunStore(path: path, createIfMissing: false, readOnly: false, busyTimeout: busyTimeout)
            return
        }
        try queue.writeWithoutTransaction { db in
            try db.inTransaction(.immediate) {
                // Re-read inside the lock: another process may have migrated meanwhile.
                let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
                let tables = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table'") ?? 0
                let appID = try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0
                try Self.checkIdentity(path: path, version: version, tables: tables, appID: appID, allowEmpty: true)
                if version < Self.schemaVersion {
                    for v in version..<Self.schemaVersion {
                        try Schema.migrations[v](db)
                        try db.execute(sql: "PRAGMA user_version = \(v + 1)")
                    }
                    try db.execute(sql: "PRAGMA application_id = \(Self.applicationID)")
                }
                return .commit
            }
        }
    }

    private static func checkIdentity(path: String, version: Int, tables: Int, appID: Int32, allowEmpty: Bool) throws {
        if tables == 0 && version == 0 {
            if allowEmpty { return }
            throw RunStoreError.emptyDatabase(path: path)
        }
        guard appID == applicationID else { throw RunStoreError.foreignDatabase(path: path) }
        if version > schemaVersion {
            throw RunStoreError.newerSchema(path: path, detail: "schema version \(version), this program knows up to \(schemaVersion)")
        }
    }

    // MARK: - Transactions and errors

    func translate(_ error: Error) -> Error {
        SQLiteErrors.translate(error, path: path, busyTimeout: busyTimeout, integrity: { self.firstIntegrityProblem() })
    }

    /// The first problem `PRAGMA integrity_check` reports, or nil if it reports none or cannot run.
    func firstIntegrityProblem() -> String? {
        guard let lines = try? queue.read({ db in try String.fetchAll(db, sql: "PRAGMA integrity_check(1)") }),
              let first = lines.first, first != "ok" else { return nil }
        return first.replacingOccurrences(of: "\n", with: " ")
    }

    /// Runs `body` in a `BEGIN IMMEDIATE` transaction (waits up to the busy timeout for the lock,
    /// never fails later with a stale snapshot).
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        if readOnly { throw RunStoreError.readOnly(path: path) }
        do {
            // Transactions append to the WAL: that is the file a full disk or a file-size limit hits.
            return try onWriter(writing: path + "-wal") { db in
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(db)
                    return .commit
                }
                return result!
            }
        } catch {
            throw translate(error)
        }
    }

    /// Runs `body` on the connection; an SQLITE_FULL / SQLITE_IOERR it throws is wrapped with the
    /// errno SQLite recorded (EFBIG, ENOSPC, EIO, …) and the file being written, for `translate`.
    func onWriter<T>(writing file: String, _ body: (Database) throws -> T) throws -> T {
        try queue.writeWithoutTransaction { db in
            do {
                return try body(db)
            } catch let error as DatabaseError where SQLiteErrors.isStorageFailure(error) {
                throw SQLiteErrors.WriteFailure(error: error, systemErrno: sqlite3_system_errno(db.sqliteConnection), file: file)
            }
        }
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try queue.read(body) } catch { throw translate(error) }
    }

    private func requireRun(_ db: Database, _ id: Int64) throws {
        if try Int.fetchOne(db, sql: "SELECT 1 FROM run WHERE id = ?", arguments: [id]) == nil {
            throw RunStoreError.unknownRun(id: id, path: path)
        }
    }

    // MARK: - Writing runs

    /// Inserts a run with status `running`, recording the owning process and a first heartbeat.
    @discardableResult
    public func createRun(_ config: RunConfig, startedAt: Date = Date(),
                          owner: ProcessIdentity = .current()) throws -> Int64 {
        try write { db in
            try db.execute(sql: """
                INSERT INTO run (status, label, started_at, heartbeat_at, model, model_hash, dataset_path,
                  dataset_sha256, train_count, test_count, hyperparameters, epochs_planned, batch_size,
                  learning_rate, seed, threads, program_version, command_line, host,
                  pid, pid_host, pid_start, boot_id)
                VALUES ('running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [
                    config.label, startedAt.timeIntervalSince1970, startedAt.timeIntervalSince1970,
                    config.model, config.modelHash, config.datasetPath, config.datasetSHA256,
                    config.trainCount, config.testCount, JSONText.encodeStrings(config.hyperparameters),
                    config.epochsPlanned, config.batchSize, config.learningRate, config.seed,
                    config.threads, config.programVersion, config.commandLine, config.host,
                    Int64(owner.pid), owner.host, owner.startTicks.map { Int64(bitPattern: $0) }, owner.bootID,
                ])
            return db.lastInsertedRowID
        }
    }

    /// Records (or replaces) one epoch's metrics in its own transaction and refreshes the run's
    /// summary columns and heartbeat.
    public func recordEpoch(run: Int64, epoch: Int, metrics: [String: Double], at: Date = Date()) throws {
        guard epoch >= 0 else { throw RunStoreError.invalidArgument("epoch must be ≥ 0, got \(epoch)") }
        if let bad = metrics.keys.first(where: { $0.isEmpty }) {
            throw RunStoreError.invalidArgument("metric name must not be empty ('\(bad)')")
        }
        let json = JSONText.encodeMetrics(metrics)
        try write { db in
            try requireRun(db, run)
            try db.execute(sql: "INSERT OR REPLACE INTO epoch (run_id, epoch, recorded_at, metrics) VALUES (?, ?, ?, ?)",
                           arguments: [run, epoch, at.timeIntervalSince1970, json])
            try Self.refreshSummary(db, run: run, at: at)
        }
        try? checkpointIfWALExceeds(checkpointThreshold)
    }

    /// Recomputes a run's summary columns from its epoch rows and advances its heartbeat.
    ///
    /// The best epoch is the first with the highest value of the run's `best_by` hyperparameter
    /// (`val_accuracy` for a run with a validation split, else `test_accuracy`, also for runs
    /// recorded before it existed); `best_test_accuracy` is that epoch's test accuracy — for a
    /// run chosen by test accuracy, the highest test accuracy.
    static func refreshSummary(_ db: Database, run: Int64, at: Date) throws {
        let recorded = try String.fetchOne(db, sql: "SELECT json_extract(hyperparameters, '$.best_by') FROM run WHERE id = ?",
                                           arguments: [run])
        let bestBy = recorded.flatMap { $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" } ? $0 : nil } ?? "test_accuracy"
        try db.execute(sql: """
            UPDATE run SET
              epochs_done = (SELECT COUNT(*) FROM epoch WHERE run_id = :id),
              last_epoch = (SELECT MAX(epoch) FROM epoch WHERE run_id = :id),
              final_test_accuracy = (SELECT CASE WHEN json_type(metrics, '$.test_accuracy') IN ('real', 'integer')
                                       THEN json_extract(metrics, '$.test_accuracy') END
                                     FROM epoch WHERE run_id = :id ORDER BY epoch DESC LIMIT 1),
              best_test_accuracy = (SELECT json_extract(metrics, '$.test_accuracy') FROM epoch
                                    WHERE run_id = :id AND json_type(metrics, :by) IN ('real', 'integer')
                                      AND json_type(metrics, '$.test_accuracy') IN ('real', 'integer')
                                    ORDER BY json_extract(metrics, :by) DESC, epoch ASC LIMIT 1),
              best_epoch = (SELECT epoch FROM epoch
                            WHERE run_id = :id AND json_type(metrics, :by) IN ('real', 'integer')
                            ORDER BY json_extract(metrics, :by) DESC, epoch ASC LIMIT 1),
              heartbeat_at = MAX(heartbeat_at, :at)
            WHERE id = :id
            """, arguments: ["id": run, "at": at.timeIntervalSince1970, "by": "$." + bestBy])
    }

    /// Marks the run as alive (call periodically during long epochs).
    public func heartbeat(run: Int64, at: Date = Date()) throws {
        try write { db in
            try requireRun(db, run)
            try db.execute(sql: "UPDATE run SET heartbeat_at = MAX(heartbeat_at, ?) WHERE id = ?",
                           arguments: [at.timeIntervalSince1970, run])
        }
        try? checkpointIfWALExceeds(checkpointThreshold)
    }

    /// Sets the final status (`completed`, `interrupted`, `failed`, `crashed`, `diverged`) and finish time.
    public func finishRun(run: Int64, status: RunStatus, reason: String? = nil, at: Date = Date()) throws {
        guard status != .running else {
            throw RunStoreError.invalidArgument("finishRun needs a final status, not 'running' (use resumeRun)")
        }
        try write { db in
            try requireRun(db, run)
            try db.execute(sql: """
                UPDATE run SET status = ?, status_reason = ?, finished_at = ?, heartbeat_at = MAX(heartbeat_at, ?)
                WHERE id = ?
                """, arguments: [status.rawValue, reason, at.timeIntervalSince1970, at.timeIntervalSince1970, run])
        }
        try? checkpointIfWALExceeds(checkpointThreshold)
    }

    /// Marks a stopped run as `running` again under this process (resuming from a checkpoint).
    /// `fromEpoch`: the checkpoint's epoch; epochs recorded after it (by a process that died before
    /// its next checkpoint) are removed in the same transaction, since the resumed run records them
    /// again.
    /// `epochsPlanned`: a new total (a run extended with `--epochs`).
    public func resumeRun(run: Int64, fromEpoch: Int? = nil, epochsPlanned: Int? = nil, at: Date = Date(),
                          owner: ProcessIdentity = .current()) throws {
        try write { db in
            try requireRun(db, run)
            if let epochsPlanned {
                try db.execute(sql: "UPDATE run SET epochs_planned = ? WHERE id = ?", arguments: [epochsPlanned, run])
            }
            if let fromEpoch {
                try db.execute(sql: "DELETE FROM epoch WHERE run_id = ? AND epoch > ?", arguments: [run, fromEpoch])
                try Self.refreshSummary(db, run: run, at: at)
            }
            try db.execute(sql: """
                UPDATE run SET status = 'running', status_reason = NULL, finished_at = NULL, heartbeat_at = ?,
                  pid = ?, pid_host = ?, pid_start = ?, boot_id = ? WHERE id = ?
                """, arguments: [at.timeIntervalSince1970, Int64(owner.pid), owner.host,
                                 owner.startTicks.map { Int64(bitPattern: $0) }, owner.bootID, run])
        }
    }

    /// Sets (or with nil / empty text clears) the label.
    public func setLabel(run: Int64, label: String?) throws {
        let value = (label?.isEmpty ?? true) ? nil : label
        try write { db in
            try requireRun(db, run)
            try db.execute(sql: "UPDATE run SET label = ? WHERE id = ?", arguments: [value, run])
        }
    }

    /// Appends a line to the notes (or replaces them with `replace`; empty text with `replace` clears).
    public func addNote(run: Int64, text: String, replace: Bool = false) throws {
        try write { db in
            try requireRun(db, run)
            if replace {
                try db.execute(sql: "UPDATE run SET notes = NULLIF(?, '') WHERE id = ?", arguments: [text, run])
            } else {
                try db.execute(sql: """
                    UPDATE run SET notes = CASE WHEN notes IS NULL OR notes = '' THEN ? ELSE notes || char(10) || ? END
                    WHERE id = ?
                    """, arguments: [text, text, run])
            }
        }
    }

    public struct DeleteSummary: Sendable, Equatable {
        public var runs: Int
        public var epochs: Int
        public var snapshots: Int
        public var snapshotBytes: Int64
    }

    /// What `deleteRuns` would remove; throws for unknown runs.
    public func deletionPreview(_ ids: [Int64]) throws -> DeleteSummary {
        try read { db in try self.summarize(db, ids) }
    }

    private func summarize(_ db: Database, _ ids: [Int64]) throws -> DeleteSummary {
        var summary = DeleteSummary(runs: 0, epochs: 0, snapshots: 0, snapshotBytes: 0)
        for id in ids {
            try requireRun(db, id)
            summary.runs += 1
            summary.epochs += try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM epoch WHERE run_id = ?", arguments: [id]) ?? 0
            let row = try Row.fetchOne(db, sql: "SELECT COUNT(*) AS n, COALESCE(SUM(byte_count), 0) AS b FROM snapshot WHERE run_id = ?", arguments: [id])
            summary.snapshots += row?["n"] ?? 0
            summary.snapshotBytes += row?["b"] ?? 0
        }
        return summary
    }

    /// Deletes runs with their epochs and snapshots, all or nothing. Refuses runs whose effective
    /// status is `running`.
    @discardableResult
    public func deleteRuns(_ ids: [Int64], now: Date = Date()) throws -> DeleteSummary {
        try write { db in
            let summary = try self.summarize(db, ids)
            for id in ids {
                let record = try self.fetchRun(db, id, now: now)
                if record.status == .running {
                    throw RunStoreError.invalidArgument(
                        "run \(id) is running (pid \(record.owner.pid) on \(record.owner.host)); refusing to delete it — stop it first")
                }
            }
            for id in ids {
                try db.execute(sql: "DELETE FROM run WHERE id = ?", arguments: [id])
            }
            return summary
        }
    }

    /// Rebuilds the file to return the space of deleted rows to the file system, and reports the
    /// file's size before and after.
    ///
    /// In WAL mode VACUUM writes the rebuilt database into the WAL; the main file only shrinks
    /// when that is checkpointed. So the WAL is checkpointed (TRUNCATE) before measuring the
    /// "before" size and again after the VACUUM, and both sizes are those of the main file with
    /// an empty WAL. If another connection keeps the checkpoint from finishing, "after" is what
    /// the file measures then (it shrinks once the last connection closes).
    @discardableResult
    public func vacuum() throws -> (bytesBefore: Int64, bytesAfter: Int64) {
        if readOnly { throw RunStoreError.readOnly(path: path) }
        do {
            try checkpoint()
            let before = Self.fileSize(path)
            try onWriter(writing: path + "-wal") { db in try db.execute(sql: "VACUUM") }
            try checkpoint()
            return (before, Self.fileSize(path))
        } catch { throw translate(error) }
    }

    static func fileSize(_ path: String) -> Int64 {
        var st = stat()
        return stat(path, &st) == 0 ? Int64(st.st_size) : 0
    }

    /// WAL size beyond which small writes (epochs, heartbeats, status) checkpoint after committing.
    public var checkpointThreshold = 64 << 20

    /// Copies committed WAL frames into the main file (PASSIVE: never waits for other connections)
    /// when the WAL has grown beyond `limit` bytes.
    func checkpointIfWALExceeds(_ limit: Int) throws {
        var st = stat()
        guard !readOnly, stat(path + "-wal", &st) == 0, Int(st.st_size) > limit else { return }
        do {
            try onWriter(writing: path) { db in
                _ = try Row.fetchAll(db, sql: "PRAGMA wal_checkpoint(PASSIVE)")
            }
        } catch { throw translate(error) }
    }

    /// Copies the WAL into the main file and truncates it (used by the benchmark and tests).
    public func checkpoint() throws {
        do {
            try onWriter(writing: path) { db in
                _ = try Row.fetchAll(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            }
        } catch { throw translate(error) }
    }

    /// All problems `PRAGMA integrity_check` finds (empty when the file is sound).
    public func integrityProblems(limit: Int = 100) throws -> [String] {
        let lines = try read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check(\(max(1, limit)))") }
        return lines == ["ok"] ? [] : lines
    }

    /// Testing aid: holds the write lock (`BEGIN IMMEDIATE`, or with `exclusive` an exclusive
    /// locking-mode lock that also shuts out readers) for `seconds`, calling `onLocked` once held.
    @_spi(Testing) public func holdLock(seconds: Double, exclusive: Bool, onLocked: () -> Void) throws {
        do {
            try queue.writeWithoutTransaction { db in
                if exclusive { try db.execute(sql: "PRAGMA locking_mode = EXCLUSIVE") }
                try db.execute(sql: exclusive ? "BEGIN EXCLUSIVE" : "BEGIN IMMEDIATE")
                try db.execute(sql: "UPDATE run SET heartbeat_at = heartbeat_at WHERE 0")
                onLocked()
                usleep(useconds_t(seconds * 1_000_000))
                try db.execute(sql: "ROLLBACK")
            }
        } catch { throw translate(error) }
    }

    // MARK: - Reading runs

    func effectiveStatus(recorded: RunStatus, owner: ProcessIdentity, heartbeat: Date, now: Date) -> RunStatus {
        guard recorded == .running else { return recorded }
        switch owner.isAlive(localHost: localHost, localBootID: localBootID) {
        case .some(true): return .running
        case .some(false): return .crashed
        case .none: return now.timeIntervalSince(heartbeat) > staleAfter ? .crashed : .running
        }
    }

    func decodeRun(_ row: Row, now: Date) -> RunRecord {
        let recorded = RunStatus(rawValue: row["status"]) ?? .failed
        let owner = ProcessIdentity(pid: Int32(truncatingIfNeeded: row["pid"] as Int64), host: row["pid_host"],
                                    bootID: row["boot_id"], startTicks: (row["pid_start"] as Int64?).map { UInt64(bitPattern: $0) })
        let heartbeat = Date(timeIntervalSince1970: row["heartbeat_at"])
        return RunRecord(
            id: row["id"],
            status: effectiveStatus(recorded: recorded, owner: owner, heartbeat: heartbeat, now: now),
            recordedStatus: recorded,
            statusReason: row["status_reason"],
            label: row["label"],
            notes: row["notes"],
            startedAt: Date(timeIntervalSince1970: row["started_at"]),
            finishedAt: (row["finished_at"] as Double?).map { Date(timeIntervalSince1970: $0) },
            heartbeatAt: heartbeat,
            model: row["model"], modelHash: row["model_hash"],
            datasetPath: row["dataset_path"], datasetSHA256: row["dataset_sha256"],
            trainCount: row["train_count"], testCount: row["test_count"],
            hyperparameters: JSONText.decodeStrings(row["hyperparameters"]),
            epochsPlanned: row["epochs_planned"], batchSize: row["batch_size"],
            learningRate: row["learning_rate"], seed: row["seed"], threads: row["threads"],
            programVersion: row["program_version"], commandLine: row["command_line"], host: row["host"],
            owner: owner,
            epochsDone: row["epochs_done"], lastEpoch: row["last_epoch"],
            finalTestAccuracy: row["final_test_accuracy"], bestTestAccuracy: row["best_test_accuracy"],
            bestEpoch: row["best_epoch"])
    }

    func fetchRun(_ db: Database, _ id: Int64, now: Date) throws -> RunRecord {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM run WHERE id = ?", arguments: [id]) else {
            throw RunStoreError.unknownRun(id: id, path: path)
        }
        return decodeRun(row, now: now)
    }

    /// One run; `RunStoreError.unknownRun` if there is none with that id.
    public func run(_ id: Int64, now: Date = Date()) throws -> RunRecord {
        try read { db in try self.fetchRun(db, id, now: now) }
    }

    /// Whether a run with that id exists.
    public func runExists(_ id: Int64) throws -> Bool {
        try read { db in try Int.fetchOne(db, sql: "SELECT 1 FROM run WHERE id = ?", arguments: [id]) != nil }
    }

    /// Runs in id order, optionally filtered by effective status and model name.
    public func runs(status: Set<RunStatus>? = nil, model: String? = nil, ids: ClosedRange<Int64>? = nil,
                     now: Date = Date()) throws -> [RunRecord] {
        let all = try read { db -> [RunRecord] in
            var sql = "SELECT * FROM run"
            var clauses: [String] = []
            var args: [DatabaseValueConvertible?] = []
            if let model { clauses.append("model = ?"); args.append(model) }
            if let ids { clauses.append("id BETWEEN ? AND ?"); args.append(ids.lowerBound); args.append(ids.upperBound) }
            if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
            sql += " ORDER BY id"
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(args)).map { self.decodeRun($0, now: now) }
        }
        guard let status else { return all }
        return all.filter { status.contains($0.status) }
    }

    /// Per-epoch metrics of one run, by epoch.
    public func epochs(run: Int64) throws -> [EpochRecord] {
        try epochs(runs: [run])[run] ?? []
    }

    /// Per-epoch metrics of several runs in one read transaction.
    public func epochs(runs ids: [Int64]) throws -> [Int64: [EpochRecord]] {
        try read { db in
            var out: [Int64: [EpochRecord]] = [:]
            for id in ids {
                try requireRun(db, id)
                let rows = try Row.fetchAll(db, sql: "SELECT epoch, recorded_at, metrics FROM epoch WHERE run_id = ? ORDER BY epoch",
                                            arguments: [id])
                out[id] = rows.map {
                    EpochRecord(run: id, epoch: $0["epoch"], recordedAt: Date(timeIntervalSince1970: $0["recorded_at"]),
                                metrics: JSONText.decodeMetrics($0["metrics"]))
                }
            }
            return out
        }
    }
}
