/// `RunStoreError`: every failure of the experiment store, each described in one line that names
/// the database file (or run, or flag) and what is wrong. SQLite errors are translated here so that
/// callers never see a raw GRDB error.
import Foundation
import GRDB

public enum RunStoreError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A read (or update) command was pointed at a path where there is no file.
    case noDatabase(path: String)
    /// The path exists but is a directory or another non-regular file.
    case notAFile(path: String)
    /// The directory that should hold a new database does not exist.
    case missingDirectory(path: String, directory: String)
    /// The file does not start with the SQLite header (or SQLite says it is not a database).
    case notSQLite(path: String, detail: String)
    /// An SQLite database that was not created by this program.
    case foreignDatabase(path: String)
    /// An empty file / empty SQLite database opened by a command that does not create stores.
    case emptyDatabase(path: String)
    /// Written by a newer resnet-runs; never altered.
    case newerSchema(path: String, detail: String)
    /// SQLite reported corruption; `problem` is the first line of `PRAGMA integrity_check`.
    case corrupt(path: String, problem: String)
    /// Another process held a lock longer than the busy timeout.
    case locked(path: String, timeout: Double)
    case readOnly(path: String)
    /// SQLite reported SQLITE_FULL and nothing more specific is known.
    case diskFull(path: String)
    /// The file system holding the database ran out of space while `file` (the database or its
    /// `-wal`) was being written; `available` is what statvfs reports free afterwards.
    case noSpace(path: String, file: String, available: Int64?)
    /// `file` reached the process's file-size limit (`ulimit -f`, RLIMIT_FSIZE) of `limit` bytes.
    case fileTooLarge(path: String, file: String, limit: Int64)
    /// Found before writing anything: a snapshot write needs about `needed` bytes of free space
    /// (WAL frames plus their later checkpoint copy), the file system has `available`.
    case insufficientSpace(path: String, snapshotBytes: Int64, needed: Int64, available: Int64)
    /// Another I/O error on `file` (`detail`: the system's error text).
    case ioError(path: String, file: String, detail: String)
    /// A writer found `file` (the database's -wal or -shm) owned by another user and not writable.
    case foreignJournalFile(path: String, file: String, owner: String, user: String)
    /// A read-only open by someone other than the owner found a non-empty -wal without its -shm.
    case walWithoutIndex(path: String, user: String, owner: String)
    case unknownRun(id: Int64, path: String)
    case missingSnapshot(run: Int64, kind: String, available: [String])
    case checksumMismatch(run: Int64, kind: String, expected: String, actual: String)
    case invalidArgument(String)
    case sqlite(path: String, message: String)

    public var description: String {
        switch self {
        case let .noDatabase(path):
            return "no experiment database at \(path) (pass --db PATH to use another file; read commands never create one)"
        case let .notAFile(path):
            return "\(path) is not a regular file, so it cannot be an experiment database"
        case let .missingDirectory(path, directory):
            return "cannot create database \(path): directory \(directory) does not exist"
        case let .notSQLite(path, detail):
            return "\(path) is not an SQLite database (\(detail))"
        case let .foreignDatabase(path):
            return "\(path) is an SQLite database but not a resnet-runs experiment store (no resnet-runs schema)"
        case let .emptyDatabase(path):
            return "\(path) is an empty database with no resnet-runs schema (nothing recorded yet)"
        case let .newerSchema(path, detail):
            return "\(path) was written by a newer resnet-runs (\(detail)); refusing to use it — upgrade resnet-runs"
        case let .corrupt(path, problem):
            return "database \(path) is corrupt: \(problem)"
        case let .locked(path, timeout):
            return "database \(path) is locked by another process (gave up after \(RunStoreError.seconds(timeout)))"
        case let .readOnly(path):
            return "database \(path) is read-only (check file and directory permissions)"
        case let .diskFull(path):
            return "database \(path): disk full (free some space on its file system, or use --db on another one)"
        case let .noSpace(path, file, available):
            let free = available.map { ", \(RunStoreError.bytes($0)) free" } ?? ""
            return "database \(path): disk full while writing \(file) (no space left on its file system\(free)); nothing of the failed write was kept — free some space or use --db on another file system"
        case let .fileTooLarge(path, file, limit):
            return "database \(path): \(file) reached this process's file-size limit of \(RunStoreError.bytes(limit)) (ulimit -f); nothing of the failed write was kept — raise the limit (ulimit -f unlimited)"
        case let .insufficientSpace(path, snapshotBytes, needed, available):
            return "database \(path): not enough free space to store a \(RunStoreError.bytes(snapshotBytes)) weight snapshot: needs about \(RunStoreError.bytes(needed)) (twice the snapshot: WAL copy, then checkpoint into the database), its file system has \(RunStoreError.bytes(available)) free; nothing was written"
        case let .ioError(path, file, detail):
            return "database \(path): I/O error on \(file) (\(detail))"
        case let .foreignJournalFile(path, file, owner, user):
            return "database \(path): \(file) belongs to user \(owner) and cannot be written by user \(user) (a command run as \(owner) left it); remove it if no process of \(owner) is using the database, or run as \(owner)"
        case let .walWithoutIndex(path, user, owner):
            return "database \(path): its write-ahead log \(path)-wal has no \(path)-shm index, and user \(user) will not create one in a file owned by \(owner); run any resnet-runs command as \(owner) first (it tidies the log up)"
        case let .unknownRun(id, path):
            return "no run \(id) in \(path)"
        case let .missingSnapshot(run, kind, available):
            let avail = available.isEmpty ? "run \(run) has no stored weights" : "available: \(available.joined(separator: ", "))"
            return "run \(run) has no '\(kind)' weight snapshot (\(avail))"
        case let .checksumMismatch(run, kind, expected, actual):
            return "weights '\(kind)' of run \(run) fail verification: stored checksum \(expected), data hashes to \(actual)"
        case let .invalidArgument(message):
            return message
        case let .sqlite(path, message):
            return "database \(path): \(message)"
        }
    }

    /// "94.0 MB", "512.0 kB", "100 B" (decimal units, as the CLIs print sizes).
    public static func bytes(_ n: Int64) -> String {
        let v = Double(n)
        if v >= 1e9 { return String(format: "%.2f GB", v / 1e9) }
        if v >= 1e6 { return String(format: "%.1f MB", v / 1e6) }
        if v >= 1e3 { return String(format: "%.1f kB", v / 1e3) }
        return "\(n) B"
    }

    static func seconds(_ t: Double) -> String {
        t == t.rounded() ? "\(Int(t)) s" : String(format: "%.2g s", t)
    }
}

extension RunStoreError {
    /// Whether the error is about what a command was asked to use — a database, run or snapshot
    /// that is not there or is not an experiment store — rather than a failure of a store that
    /// was there (corrupt, locked, read-only, full, an I/O error, a checksum mismatch).
    public var isBadInput: Bool {
        switch self {
        case .noDatabase, .notAFile, .missingDirectory, .notSQLite, .foreignDatabase, .emptyDatabase, .newerSchema,
             .unknownRun, .missingSnapshot, .invalidArgument:
            return true
        case .corrupt, .locked, .readOnly, .diskFull, .noSpace, .fileTooLarge, .insufficientSpace, .ioError,
             .foreignJournalFile, .walWithoutIndex, .checksumMismatch, .sqlite:
            return false
        }
    }
}

extension RunStoreError: LocalizedError {
    public var errorDescription: String? { description }
}

/// Translation of GRDB / SQLite errors into `RunStoreError`.
enum SQLiteErrors {
    /// An SQLite error raised while writing, with the errno SQLite recorded for it on the
    /// connection (`sqlite3_system_errno`, 0 when unknown) and the file being written.
    struct WriteFailure: Error {
        var error: DatabaseError
        var systemErrno: Int32
        var file: String
    }

    /// SQLITE_FULL and SQLITE_IOERR (with any extended code): out of space, file-size limit, I/O.
    static func isStorageFailure(_ error: DatabaseError) -> Bool {
        error.resultCode == .SQLITE_FULL || error.resultCode == .SQLITE_IOERR
    }

    /// The more specific error for a failed write of `file` (the database or its -wal):
    /// the file-size limit when `file` (or the other one) has reached RLIMIT_FSIZE, no space when
    /// SQLite or the system said so, else an I/O error with the system's text.
    static func storageFailure(path: String, file: String, full: Bool, systemErrno: Int32, message: String) -> RunStoreError {
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_FSIZE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max {
            let max = Int64(clamping: limit.rlim_cur)
            // SQLite writes whole pages; a file within one page of the limit has hit it.
            let slack = Int64(RunStore.pageSize)
            for candidate in [file, path + "-wal", path] {
                var st = stat()
                if stat(candidate, &st) == 0, Int64(st.st_size) + slack > max {
                    return .fileTooLarge(path: path, file: candidate, limit: max)
                }
            }
            if systemErrno == EFBIG { return .fileTooLarge(path: path, file: file, limit: max) }
        }
        if full || systemErrno == ENOSPC || systemErrno == EDQUOT {
            return .noSpace(path: path, file: file, available: freeBytes(near: path))
        }
        if systemErrno != 0 {
            return .ioError(path: path, file: file, detail: String(cString: strerror(systemErrno)))
        }
        return .ioError(path: path, file: file, detail: message)
    }

    /// Free bytes (for unprivileged users) on the file system holding `path` (its directory if
    /// the file does not exist), or nil if statvfs fails.
    static func freeBytes(near path: String) -> Int64? {
        var sv = statvfs()
        var target = path
        if access(target, F_OK) != 0 {
            target = PathNames.directory(of: path)
            if target.isEmpty { target = "." }
        }
        guard statvfs(target, &sv) == 0 else { return nil }
        return Int64(sv.f_bavail) * Int64(sv.f_frsize)
    }

    static func translate(_ error: Error, path: String, busyTimeout: Double, integrity: () -> String?) -> Error {
        if error is RunStoreError { return error }
        if let failure = error as? WriteFailure {
            return storageFailure(path: path, file: failure.file, full: failure.error.resultCode == .SQLITE_FULL,
                                  systemErrno: failure.systemErrno,
                                  message: (failure.error.message ?? "disk I/O error").replacingOccurrences(of: "\n", with: " "))
        }
        guard let dbError = error as? DatabaseError else { return error }
        let message = (dbError.message ?? "\(dbError.resultCode)").replacingOccurrences(of: "\n", with: " ")
        switch dbError.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return RunStoreError.locked(path: path, timeout: busyTimeout)
        case .SQLITE_NOTADB:
            return RunStoreError.notSQLite(path: path, detail: message)
        case .SQLITE_CORRUPT:
            return RunStoreError.corrupt(path: path, problem: integrity() ?? message)
        case .SQLITE_READONLY:
            return RunStoreError.readOnly(path: path)
        case .SQLITE_FULL, .SQLITE_IOERR:
            // A storage failure outside `RunStore.write` (open, checkpoint, read): the database file.
            return storageFailure(path: path, file: path, full: dbError.resultCode == .SQLITE_FULL, systemErrno: 0, message: message)
        case .SQLITE_CANTOPEN:
            return RunStoreError.sqlite(path: path, message: "cannot open the file (\(message))")
        default:
            return RunStoreError.sqlite(path: path, message: message)
        }
    }
}
