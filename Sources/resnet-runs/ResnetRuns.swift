/// `resnet-runs`: inspect and manage the experiment store written by `resnet-run train`.
///
/// Every failure ends in exactly one line on standard error (`resnet-runs: error: …`) and a
/// non-zero exit status (64 for command-line syntax, 1 for everything else); nothing is changed.
/// Environment: `NO_COLOR` disables colours; `RESNET_RUNS_NOW` (Unix seconds) fixes "now" for
/// durations and crash detection, so tests and documentation get reproducible output.
import ArgumentParser
import Foundation
import RunStore

@main
struct ResnetRuns: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resnet-runs",
        abstract: "List, inspect, compare, export and delete training runs recorded in experiments.db.",
        discussion: """
            Runs are written by `resnet-run train` into an SQLite file (default ./experiments.db, \
            choose another with --db PATH on any command). Read commands (list, show, compare, \
            export, check) never create or change the file.

            RUN is a run id (12); commands that take several runs also accept ranges (3-7 or 3..7).

            A run whose training process has died is shown as `crashed`: on the same host when \
            its process is gone, on other hosts when its heartbeat is older than 15 minutes. \
            A run stopped because its loss became NaN or infinite is `diverged`; weights brought in \
            from a Keras file with `resnet-run import` are a run with status `imported`. Statuses: \
            running, completed, interrupted, failed, crashed, diverged, imported.

            Colours are used only on a terminal and never when NO_COLOR is set. \
            RESNET_RUNS_NOW=<unix seconds> pins the current time (for reproducible output).
            """,
        subcommands: [
            ListRuns.self, Show.self, Compare.self, Export.self, Delete.self, Label.self, Note.self,
            Check.self, BenchStore.self, DebugWriter.self, DebugLock.self,
        ])

    static func main() {
        // A file-size limit (ulimit -f) must fail a write with EFBIG, reported, not kill us.
        signal(SIGXFSZ, SIG_IGN)
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }  // --help, --version
            let text: String
            if let e = error as? RunStoreError { text = e.description }
            else if let e = error as? CLIError { text = e.description }
            else {
                // ArgumentParser messages may list choices on further lines: fold them into one.
                let lines = message(for: error).split(separator: "\n", omittingEmptySubsequences: true)
                    .map { $0.trimmingCharacters(in: .whitespaces) }
                var first = lines.first ?? "\(error)"
                let rest = lines.dropFirst().map { $0.hasPrefix("- ") ? String($0.dropFirst(2)) : $0 }
                if !rest.isEmpty { first += " " + rest.joined(separator: ", ") }
                text = first + " (see --help)"
            }
            FileHandle.standardError.write(Data("resnet-runs: error: \(text)\n".utf8))
            Foundation.exit(code == .validationFailure ? code.rawValue : (code.rawValue == 0 ? 1 : code.rawValue))
        }
    }
}

/// A command-line error with a one-line message.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// `--db` and `--busy-timeout`, shared by every command.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Experiment database file.", valueName: "path"))
    var db: String = "experiments.db"

    @Option(name: .customLong("busy-timeout"),
            help: ArgumentHelp("Seconds to wait while another process holds the database lock.", valueName: "seconds"))
    var busyTimeout: Double = 5

    func validate() throws {
        guard busyTimeout >= 0, busyTimeout.isFinite else {
            throw ValidationError("--busy-timeout must be a non-negative number of seconds, got \(busyTimeout)")
        }
    }

    /// Opens an existing store (never creates one).
    func open(readOnly: Bool) throws -> RunStore {
        try RunStore(path: db, createIfMissing: false, readOnly: readOnly, busyTimeout: busyTimeout)
    }
}

/// Output format of list and compare.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, csv, markdown
}

/// "Now" for durations and crash detection: `RESNET_RUNS_NOW` if set, else the clock.
func currentDate() throws -> Date {
    guard let text = ProcessInfo.processInfo.environment["RESNET_RUNS_NOW"], !text.isEmpty else { return Date() }
    guard let seconds = Double(text) else { throw CLIError("RESNET_RUNS_NOW must be Unix seconds, got '\(text)'") }
    return Date(timeIntervalSince1970: seconds)
}

/// Parsing of RUN arguments: `12`, `3-7`, `3..7`.
enum RunSelector: Equatable {
    case single(Int64)
    case range(ClosedRange<Int64>)

    static func parse(_ text: String) throws -> RunSelector {
        let t = text.trimmingCharacters(in: .whitespaces)
        if let id = Int64(t) {
            guard id > 0 else { throw CLIError("invalid run id '\(text)': run ids are positive integers") }
            return .single(id)
        }
        for separator in ["..", "-"] where t.contains(separator) {
            let parts = t.components(separatedBy: separator)
            guard parts.count == 2, let a = Int64(parts[0]), let b = Int64(parts[1]), a > 0, b > 0 else {
                throw CLIError("invalid run range '\(text)': expected FIRST-LAST with positive ids, e.g. 3-7")
            }
            guard a <= b else { throw CLIError("invalid run range '\(text)': \(a) is after \(b)") }
            return .range(a ... b)
        }
        throw CLIError("invalid run id '\(text)': expected a number like 12 or a range like 3-7")
    }

    static func single(_ text: String) throws -> Int64 {
        guard case let .single(id) = try parse(text) else {
            throw CLIError("expected one run id, got the range '\(text)'")
        }
        return id
    }

    /// Existing run ids selected by the arguments, in argument order without repeats.
    static func resolve(_ texts: [String], in store: RunStore) throws -> [Int64] {
        var out: [Int64] = []
        var seen = Set<Int64>()
        for text in texts {
            switch try parse(text) {
            case let .single(id):
                guard try store.runExists(id) else { throw RunStoreError.unknownRun(id: id, path: store.path) }
                if seen.insert(id).inserted { out.append(id) }
            case let .range(range):
                let ids = try store.runs(ids: range).map(\.id)
                guard !ids.isEmpty else { throw CLIError("no runs with ids \(range.lowerBound)-\(range.upperBound) in \(store.path)") }
                for id in ids where seen.insert(id).inserted { out.append(id) }
            }
        }
        return out
    }
}

/// Checks that a file can be written at `path` (its directory exists) before doing any work.
func checkOutputPath(_ path: String, flag: String) throws {
    var isDir: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
        throw CLIError("\(flag): \(path) is a directory")
    }
    let directory = (path as NSString).deletingLastPathComponent
    if directory.isEmpty { return }
    guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
        throw CLIError("\(flag): directory \(directory) does not exist")
    }
}

/// Writes `data` to `path` atomically (temporary file in the same directory, then rename).
func writeAtomically(_ data: Data, to path: String, flag: String) throws {
    let url = URL(fileURLWithPath: path)
    do { try data.write(to: url, options: .atomic) } catch {
        throw CLIError("\(flag): cannot write \(path): \(error.localizedDescription)")
    }
}

func writeStdout(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}
