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
            choose another with --db PATH on any command). Read commands (list, show, compare, report, \
            export, check) never create or change the file.

            RUN is a run id (12), last (the newest run), -1, -2, … (counted back from the newest) \
            or a label; commands that take several runs also accept ranges (3-7 or 3..7). \
            `-` as an output file means standard output.

            A run whose training process has died is shown as `crashed`: on the same host when \
            its process is gone, on other hosts when its heartbeat is older than 15 minutes. \
            A run stopped because its loss became NaN or infinite is `diverged`; weights brought in \
            from a Keras file with `resnet-run import` are a run with status `imported`. Statuses: \
            running, completed, interrupted, failed, crashed, diverged, imported.

            Colours are used only on a terminal and never when NO_COLOR is set. \
            RESNET_RUNS_NOW=<unix seconds> pins the current time (for reproducible output).
            """,
        subcommands: [
            ListRuns.self, Show.self, Compare.self, Report.self, Export.self, Delete.self, Label.self, Note.self,
            Check.self, BenchStore.self, DebugWriter.self, DebugLock.self,
        ])

    static func main() {
        // A file-size limit (ulimit -f) must fail a write with EFBIG, reported, not kill us.
        signal(SIGXFSZ, SIG_IGN)
        do {
            var command = try parseAsRoot(RunSelector.protectingRelativeSelectors(Array(CommandLine.arguments.dropFirst())))
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

/// Parsing of RUN arguments: `12`; `3-7` or `3..7`; `last` (the newest run), `-1`, `-2`, … (counted
/// back from the newest); or a label (`baseline`).
enum RunSelector: Equatable {
    case single(Int64)
    case range(ClosedRange<Int64>)
    /// `last` = 1, `-2` = 2: the nth run counted back from the newest.
    case fromEnd(Int)
    case label(String)

    /// ArgumentParser reads `-2` as an option, so `main` hands such arguments over as `~2`.
    static let fromEndMark = "~"

    /// `-N` arguments (after the subcommand) rewritten to `~N` for the parser.
    static func protectingRelativeSelectors(_ arguments: [String]) -> [String] {
        arguments.map { a in
            a.count > 1 && a.hasPrefix("-") && a.dropFirst().allSatisfy(\.isNumber) ? fromEndMark + a.dropFirst() : a
        }
    }

    static func parse(_ text: String) throws -> RunSelector {
        let t = text.trimmingCharacters(in: .whitespaces)
        guard !t.isEmpty else { throw CLIError("empty run selector: give a run id like 12, a range like 3-7, last, -1 or a label") }
        if t == "last" { return .fromEnd(1) }
        if t.hasPrefix("-") || t.hasPrefix(Self.fromEndMark), let n = Int(t.dropFirst()) {
            guard n >= 1 else { throw CLIError("invalid run selector '\(text)': -1 is the newest run, -2 the one before") }
            return .fromEnd(n)
        }
        if let id = Int64(t) {
            guard id > 0 else { throw CLIError("invalid run id '\(text)': run ids are positive integers") }
            return .single(id)
        }
        for separator in ["..", "-"] where t.contains(separator) {
            let parts = t.components(separatedBy: separator)
            // Digits before the separator: meant as a range, so a malformed one is an error, not a label.
            guard Int64(parts[0]) != nil else { continue }
            guard parts.count == 2, let a = Int64(parts[0]), let b = Int64(parts[1]), a > 0, b > 0 else { throw CLIError("invalid run range '\(text)': expected FIRST-LAST with positive ids, e.g. 3-7") }
            guard a <= b else { throw CLIError("invalid run range '\(text)': \(a) is after \(b)") }
            return .range(a ... b)
        }
        return .label(t)
    }

    /// Checks the syntax of a selector that must name one run.
    static func checkSingle(_ text: String) throws {
        if case .range = try parse(text) { throw CLIError("expected one run id, got the range '\(text)'") }
    }

    /// The one run `text` names in `store`.
    static func resolveOne(_ text: String, in store: RunStore) throws -> Int64 {
        try checkSingle(text)
        return try resolve([text], in: store)[0]
    }

    /// The run ids one non-range selector names (a label may name several).
    static func ids(_ selector: RunSelector, _ text: String, in store: RunStore) throws -> [Int64] {
        switch selector {
        case let .single(id):
            guard try store.runExists(id) else { throw RunStoreError.unknownRun(id: id, path: store.path) }
            return [id]
        case let .range(range):
            let ids = try store.runs(ids: range).map(\.id)
            guard !ids.isEmpty else { throw CLIError("no runs with ids \(range.lowerBound)-\(range.upperBound) in \(store.path)") }
            return ids
        case let .fromEnd(n):
            let all = try store.runs().map(\.id)
            guard n <= all.count else {
                throw CLIError("\(n == 1 ? "last" : "-\(n)"): \(store.path) holds \(all.count) run\(all.count == 1 ? "" : "s")")
            }
            return [all[all.count - n]]
        case let .label(label):
            let matching = try store.runs().filter { $0.label == label }.map(\.id)
            guard !matching.isEmpty else {
                throw CLIError("no run labelled '\(label)' in \(store.path) (a run is named by its id, a range like 3-7, last, -1, or its label)")
            }
            return matching
        }
    }

    /// Existing run ids selected by the arguments, in argument order without repeats.
    static func resolve(_ texts: [String], in store: RunStore) throws -> [Int64] {
        var out: [Int64] = []
        var seen = Set<Int64>()
        for text in texts {
            for id in try ids(try parse(text), text, in: store) where seen.insert(id).inserted { out.append(id) }
        }
        return out
    }
}

/// Checks that a file can be written at `path` (its directory exists) before doing any work.
/// `-` is standard output.
func checkOutputPath(_ path: String, flag: String) throws {
    if path == "-" { return }
    var isDir: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
        throw CLIError("\(flag): \(path) is a directory")
    }
    let directory = PathNames.directory(of: path)
    if directory.isEmpty { return }
    guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
        throw CLIError("\(flag): directory \(directory) does not exist")
    }
}

/// Writes `data` to `path` atomically (temporary file in the same directory, then rename), or to
/// standard output when `path` is `-`.
func writeAtomically(_ data: Data, to path: String, flag: String) throws {
    if path == "-" { FileHandle.standardOutput.write(data); return }
    let url = URL(fileURLWithPath: path)
    do { try data.write(to: url, options: .atomic) } catch {
        throw CLIError("\(flag): cannot write \(path): \(error.localizedDescription)")
    }
}

func writeStdout(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}
