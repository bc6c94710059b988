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
    case diskFull(path: String)
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
            return "database \(path): disk full"
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

    static func seconds(_ t: Double) -> String {
        t == t.rounded() ? "\(Int(t)) s" : String(format: "%.2g s", t)
    }
}

extension RunStoreError: LocalizedError {
    public var errorDescription: String? { description }
}

/// Translation of GRDB / SQLite errors into `RunStoreError`.
enum SQLiteErrors {
    static func translate(_ error: Error, path: String, busyTimeout: Double, integrity: () -> String?) -> Error {
        if error is RunStoreError { return error }
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
        case .SQLITE_FULL:
            return RunStoreError.diskFull(path: path)
        case .SQLITE_CANTOPEN:
            return RunStoreError.sqlite(path: path, message: "cannot open the file (\(message))")
        default:
            return RunStoreError.sqlite(path: path, message: message)
        }
    }
}
