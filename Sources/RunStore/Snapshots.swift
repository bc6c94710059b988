/// Weight snapshots: one blob per run and kind (final / best / checkpoint) with its tensor
/// manifest and an XXH64 checksum that is verified on every read.
///
/// Writing never copies the weights: the row is inserted with `zeroblob(n)` and the caller's
/// buffer is streamed into it with `sqlite3_blob_write` in `blobChunkSize` pieces. Reading streams the blob with `sqlite3_blob_read` straight into the
/// destination (an array, a caller buffer, or a file), hashing as it goes.
import Foundation
import GRDB
import GRDBSQLite

extension RunStore {
    static func validate(_ tensors: [TensorEntry], byteCount: Int) throws {
        var names = Set<String>()
        for t in tensors {
            guard !t.name.isEmpty, names.insert(t.name).inserted else {
                throw RunStoreError.invalidArgument("snapshot manifest: tensor name '\(t.name)' is empty or repeated")
            }
            guard let size = TensorEntry.elementSizes[t.dtype] else {
                throw RunStoreError.invalidArgument("snapshot manifest: tensor '\(t.name)' has unsupported dtype '\(t.dtype)'")
            }
            guard t.shape.allSatisfy({ $0 >= 0 }), t.shape.reduce(1, *) * size == t.byteCount else {
                throw RunStoreError.invalidArgument(
                    "snapshot manifest: tensor '\(t.name)' has \(t.byteCount) bytes but shape \(t.shape) of \(t.dtype) needs \(t.shape.reduce(1, *) * size)")
            }
            guard t.offset >= 0, t.offset + t.byteCount <= byteCount else {
                throw RunStoreError.invalidArgument(
                    "snapshot manifest: tensor '\(t.name)' (bytes \(t.offset)..<\(t.offset + t.byteCount)) lies outside the \(byteCount)-byte blob")
            }
        }
    }

    static func sqliteError(_ db: Database, _ rc: Int32) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
    }

    /// Free space a snapshot of `byteCount` bytes needs: its pages go to the WAL first and are
    /// copied into the database file by the next checkpoint, so about twice its size.
    public static func spaceNeeded(forSnapshotBytes byteCount: Int) -> Int64 { 2 * Int64(byteCount) }

    /// Throws `insufficientSpace` when the database's file system (statvfs) has less free space
    /// than `spaceNeeded(forSnapshotBytes:)`; does nothing when statvfs fails.
    func checkSpace(forSnapshotBytes byteCount: Int) throws {
        guard byteCount > 0, let available = freeSpaceOverride?() ?? SQLiteErrors.freeBytes(near: path) else { return }
        let needed = Self.spaceNeeded(forSnapshotBytes: byteCount)
        if available < needed {
            throw RunStoreError.insufficientSpace(path: path, snapshotBytes: Int64(byteCount), needed: needed, available: available)
        }
    }

    /// Stores a snapshot, replacing the run's previous snapshot of the same kind, in one transaction.
    /// `extra` carries e.g. the step count and RNG state of a checkpoint.
    ///
    /// Before writing anything, checks that the database's file system has room for about twice
    /// the snapshot (see `spaceNeeded`), else throws `insufficientSpace`. A write that still runs
    /// out of space (or into `ulimit -f`) is rolled back and reported as `noSpace` /
    /// `fileTooLarge` naming the file; the store stays consistent and readable.
    public func saveSnapshot(run: Int64, kind: SnapshotKind, epoch: Int, tensors: [TensorEntry],
                             bytes: UnsafeRawBufferPointer, extra: [String: String] = [:], at: Date = Date()) throws {
        if readOnly { throw RunStoreError.readOnly(path: path) }
        try Self.validate(tensors, byteCount: bytes.count)
        try checkSpace(forSnapshotBytes: bytes.count)
        let manifest = String(decoding: try JSONEncoder().encode(tensors), as: UTF8.self)
        let chunk = max(1, blobChunkSize)
        let hook = afterSnapshotChunk
        // Hash first: the checksum must be in the row when it is inserted, because updating a row
        // afterwards would make SQLite rewrite the whole 100 MB record.
        let checksum = "xxh64:" + XXH64.hash(bytes).hexString
        try? checkpointIfWALExceeds(512 << 20)
        try write { db in
            if try Int.fetchOne(db, sql: "SELECT 1 FROM run WHERE id = ?", arguments: [run]) == nil {
                throw RunStoreError.unknownRun(id: run, path: path)
            }
            try db.execute(sql: "DELETE FROM snapshot WHERE run_id = ? AND kind = ?", arguments: [run, kind.rawValue])
            try Self.insertSnapshot(db, run: run, kind: kind, epoch: epoch, manifest: manifest, extra: extra,
                                    checksum: checksum, bytes: bytes, chunk: chunk, hook: hook, at: at)
        }
    }

    /// Inserts a snapshot row and streams `bytes` into its blob, inside the caller's transaction.
    static func insertSnapshot(_ db: Database, run: Int64, kind: SnapshotKind, epoch: Int, manifest: String,
                               extra: [String: String], checksum: String, bytes: UnsafeRawBufferPointer,
                               chunk: Int, hook: ((Int) -> Void)?, at: Date) throws {
        try db.execute(sql: """
            INSERT INTO snapshot (run_id, kind, epoch, created_at, manifest, extra, byte_count, checksum, data)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, zeroblob(?))
            """, arguments: [run, kind.rawValue, epoch, at.timeIntervalSince1970, manifest,
                             JSONText.encodeStrings(extra), bytes.count, checksum, bytes.count])
        let rowID = db.lastInsertedRowID
        var blob: OpaquePointer?
        var rc = sqlite3_blob_open(db.sqliteConnection, "main", "snapshot", "data", rowID, 1, &blob)
        guard rc == SQLITE_OK else { throw sqliteError(db, rc) }
        var offset = 0
        while offset < bytes.count {
            let n = min(chunk, bytes.count - offset)
            rc = sqlite3_blob_write(blob, bytes.baseAddress! + offset, Int32(n), Int32(offset))
            guard rc == SQLITE_OK else {
                sqlite3_blob_close(blob)
                throw sqliteError(db, rc)
            }
            offset += n
            hook?(offset)
        }
        rc = sqlite3_blob_close(blob)
        guard rc == SQLITE_OK else { throw sqliteError(db, rc) }
    }

    /// Records a run whose weights come from elsewhere (a Keras file): the run row with status
    /// `imported` (no epochs, finished when created) and its `final` snapshot, in one transaction,
    /// so that a failure at any point leaves no row behind.
    @discardableResult
    public func createImportedRun(_ config: RunConfig, reason: String?, tensors: [TensorEntry],
                                  bytes: UnsafeRawBufferPointer, at: Date = Date(),
                                  owner: ProcessIdentity = .current()) throws -> Int64 {
        if readOnly { throw RunStoreError.readOnly(path: path) }
        try Self.validate(tensors, byteCount: bytes.count)
        try checkSpace(forSnapshotBytes: bytes.count)
        let manifest = String(decoding: try JSONEncoder().encode(tensors), as: UTF8.self)
        let checksum = "xxh64:" + XXH64.hash(bytes).hexString
        let chunk = max(1, blobChunkSize)
        let hook = afterSnapshotChunk
        let id = try write { db -> Int64 in
            let t = at.timeIntervalSince1970
            try db.execute(sql: """
                INSERT INTO run (status, status_reason, label, started_at, finished_at, heartbeat_at, model, model_hash,
                  dataset_path, dataset_sha256, train_count, test_count, hyperparameters, epochs_planned, batch_size,
                  learning_rate, seed, threads, program_version, command_line, host,
                  pid, pid_host, pid_start, boot_id)
                VALUES ('imported', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [
                    reason, config.label, t, t, t,
                    config.model, config.modelHash, config.datasetPath, config.datasetSHA256,
                    config.trainCount, config.testCount, JSONText.encodeStrings(config.hyperparameters),
                    config.epochsPlanned, config.batchSize, config.learningRate, config.seed,
                    config.threads, config.programVersion, config.commandLine, config.host,
                    Int64(owner.pid), owner.host, owner.startTicks.map { Int64(bitPattern: $0) }, owner.bootID,
                ])
            let run = db.lastInsertedRowID
            try Self.insertSnapshot(db, run: run, kind: .final, epoch: 0, manifest: manifest, extra: [:],
                                    checksum: checksum, bytes: bytes, chunk: chunk, hook: hook, at: at)
            return run
        }
        try? checkpointIfWALExceeds(checkpointThreshold)
        return id
    }

    /// Removes a run's snapshot of one kind (e.g. the checkpoint of a resumed run once it has
    /// completed); nothing happens when there is none.
    public func deleteSnapshot(run: Int64, kind: SnapshotKind) throws {
        try write { db in
            try db.execute(sql: "DELETE FROM snapshot WHERE run_id = ? AND kind = ?", arguments: [run, kind.rawValue])
        }
    }

    static func decodeSnapshot(_ row: Row) throws -> SnapshotInfo {
        let manifest: String = row["manifest"]
        let tensors = try JSONDecoder().decode([TensorEntry].self, from: Data(manifest.utf8))
        return SnapshotInfo(run: row["run_id"], kind: SnapshotKind(rawValue: row["kind"]) ?? .checkpoint,
                            epoch: row["epoch"], createdAt: Date(timeIntervalSince1970: row["created_at"]),
                            tensors: tensors, extra: JSONText.decodeStrings(row["extra"]),
                            byteCount: row["byte_count"], checksum: row["checksum"])
    }

    static let snapshotColumns = "id, run_id, kind, epoch, created_at, manifest, extra, byte_count, checksum"

    /// Metadata of all snapshots of a run (never reads the blobs).
    public func snapshots(run: Int64) throws -> [SnapshotInfo] {
        try read { db in
            if try Int.fetchOne(db, sql: "SELECT 1 FROM run WHERE id = ?", arguments: [run]) == nil {
                throw RunStoreError.unknownRun(id: run, path: path)
            }
            return try Row.fetchAll(db, sql: "SELECT \(Self.snapshotColumns) FROM snapshot WHERE run_id = ? ORDER BY kind",
                                    arguments: [run]).map(Self.decodeSnapshot)
        }
    }

    /// For every run that has stored weights: the epoch of each stored snapshot kind. One query
    /// over the snapshot rows' metadata (the blobs are never read).
    public func storedWeightEpochs() throws -> [Int64: [SnapshotKind: Int]] {
        try read { db in
            var out: [Int64: [SnapshotKind: Int]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT run_id, kind, epoch FROM snapshot") {
                guard let kind = SnapshotKind(rawValue: row["kind"]) else { continue }
                out[row["run_id"], default: [:]][kind] = row["epoch"]
            }
            return out
        }
    }

    /// Opens the blob of one snapshot inside the current read transaction and hands it to `body`.
    private func withBlob<T>(_ db: Database, run: Int64, kind: SnapshotKind,
                             _ body: (SnapshotInfo, OpaquePointer) throws -> T) throws -> T {
        guard let row = try Row.fetchOne(db, sql: "SELECT \(Self.snapshotColumns) FROM snapshot WHERE run_id = ? AND kind = ?",
                                         arguments: [run, kind.rawValue]) else {
            if try Int.fetchOne(db, sql: "SELECT 1 FROM run WHERE id = ?", arguments: [run]) == nil {
                throw RunStoreError.unknownRun(id: run, path: path)
            }
            let kinds = try String.fetchAll(db, sql: "SELECT kind FROM snapshot WHERE run_id = ? ORDER BY kind", arguments: [run])
            throw RunStoreError.missingSnapshot(run: run, kind: kind.rawValue, available: kinds)
        }
        let info = try Self.decodeSnapshot(row)
        var blob: OpaquePointer?
        let rc = sqlite3_blob_open(db.sqliteConnection, "main", "snapshot", "data", row["id"], 0, &blob)
        guard rc == SQLITE_OK, let blob else { throw Self.sqliteError(db, rc) }
        defer { sqlite3_blob_close(blob) }
        let size = Int(sqlite3_blob_bytes(blob))
        guard size == info.byteCount else {
            throw RunStoreError.corrupt(path: path, problem: "snapshot '\(kind.rawValue)' of run \(run) holds \(size) bytes, manifest says \(info.byteCount)")
        }
        return try body(info, blob)
    }

    /// Streams the blob in chunks through `sink` (a reusable buffer when `into` is nil, else
    /// consecutive pieces of `into`), then verifies the checksum.
    private func stream(_ db: Database, _ info: SnapshotInfo, _ blob: OpaquePointer,
                        into destination: UnsafeMutableRawBufferPointer?,
                        sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        let chunk = max(1, blobChunkSize)
        var scratch: UnsafeMutableRawBufferPointer?
        if destination == nil { scratch = .allocate(byteCount: min(chunk, max(info.byteCount, 1)), alignment: 64) }
        defer { scratch?.deallocate() }
        var hasher = XXH64()
        var offset = 0
        while offset < info.byteCount {
            let n = min(chunk, info.byteCount - offset)
            let target = destination.map { UnsafeMutableRawBufferPointer(rebasing: $0[offset ..< offset + n]) }
                ?? UnsafeMutableRawBufferPointer(rebasing: scratch![0 ..< n])
            let rc = sqlite3_blob_read(blob, target.baseAddress, Int32(n), Int32(offset))
            guard rc == SQLITE_OK else { throw Self.sqliteError(db, rc) }
            let piece = UnsafeRawBufferPointer(target)
            hasher.update(piece)
            try sink(piece)
            offset += n
        }
        let actual = "xxh64:" + hasher.hexDigest()
        guard actual == info.checksum else {
            throw RunStoreError.checksumMismatch(run: info.run, kind: info.kind.rawValue, expected: info.checksum, actual: actual)
        }
    }

    /// Loads and verifies a snapshot.
    public func loadSnapshot(run: Int64, kind: SnapshotKind)
        throws -> (tensors: [TensorEntry], extra: [String: String], epoch: Int, bytes: [UInt8]) {
        try read { db in
            try withBlob(db, run: run, kind: kind) { info, blob in
                var failure: Error?
                let bytes = [UInt8](unsafeUninitializedCapacity: info.byteCount) { buffer, count in
                    do {
                        try stream(db, info, blob, into: UnsafeMutableRawBufferPointer(buffer), sink: { _ in })
                        count = info.byteCount
                    } catch {
                        failure = error
                        count = 0
                    }
                }
                if let failure { throw failure }
                return (info.tensors, info.extra, info.epoch, bytes)
            }
        }
    }

    /// Loads and verifies a snapshot into a caller buffer of exactly `byteCount` bytes (see
    /// `snapshots(run:)`); the buffer's contents are undefined if this throws.
    @discardableResult
    public func loadSnapshot(run: Int64, kind: SnapshotKind, into buffer: UnsafeMutableRawBufferPointer) throws -> SnapshotInfo {
        try read { db in
            try withBlob(db, run: run, kind: kind) { info, blob in
                guard buffer.count == info.byteCount else {
                    throw RunStoreError.invalidArgument("snapshot '\(kind.rawValue)' of run \(run) has \(info.byteCount) bytes, buffer has \(buffer.count)")
                }
                try stream(db, info, blob, into: buffer, sink: { _ in })
                return info
            }
        }
    }

    /// Streams a snapshot through `sink` in chunks; throws `checksumMismatch` after the last chunk
    /// if the data does not verify (the consumer must then discard what it received).
    @discardableResult
    public func readSnapshot(run: Int64, kind: SnapshotKind,
                             sink: (UnsafeRawBufferPointer) throws -> Void) throws -> SnapshotInfo {
        try read { db in
            try withBlob(db, run: run, kind: kind) { info, blob in
                try stream(db, info, blob, into: nil, sink: sink)
                return info
            }
        }
    }
}
