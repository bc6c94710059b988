/// `resnet-runs`: inspect and manage the experiment store written by `resnet-run train`.
///
/// The command-line convention (errors, exit statuses, run selectors, `--format`) is shared with
/// `resnet-run` (`CLISupport`): every failure ends in exactly one line on standard error
/// (`error: …`), exit status 2 for bad input or usage, 1 for a failure while working (a corrupt or
/// locked database, a full disk); nothing is changed either way.
/// Environment: `NO_COLOR` disables colours; `COLUMNS` sets the width tables are fitted to;
/// `RESNET_RUNS_NOW` (Unix seconds) fixes "now" for durations and crash detection, so tests and
/// documentation get reproducible output.
import ArgumentParser
import CLISupport
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

            Errors are one line on standard error (error: …). Exit status: 0 success, 1 a failure \
            while working (corrupt or locked database, full disk), 2 bad input or usage (nothing \
            is changed).

            Tables fit the terminal's width (COLUMNS when set); piped output is not cut. Colours \
            are used only on a terminal and never when NO_COLOR is set. \
            RESNET_RUNS_NOW=<unix seconds> pins the current time (for reproducible output).
            """,
        subcommands: [
            ListRuns.self, Show.self, Compare.self, Report.self, Export.self, Delete.self, Label.self, Note.self,
            Check.self, BenchStore.self, DebugWriter.self, DebugLock.self,
        ])

    @Flag(help: "Show the version.") var version = false

    func run() throws {
        guard version else { throw CleanExit.helpRequest(self) }
        print(ResnetSwift.version)
    }

    static func main() {
        // A file-size limit (ulimit -f) must fail a write with EFBIG, reported, not kill us.
        signal(SIGXFSZ, SIG_IGN)
        CommandLineTool.main(Self.self)
    }
}

/// `--db` and `--busy-timeout`, shared by every command.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Experiment database file.", valueName: "path"))
    var db: String = "experiments.db"

    @Option(name: .customLong("busy-timeout"),
            help: ArgumentHelp("Seconds to wait while another process holds the database lock.", valueName: "seconds"))
    var busyTimeout = Seconds(5)

    /// Opens an existing store (never creates one).
    func open(readOnly: Bool) throws -> RunStore {
        try RunStore(path: db, createIfMissing: false, readOnly: readOnly, busyTimeout: busyTimeout.value)
    }
}

/// "Now" for durations and crash detection: `RESNET_RUNS_NOW` if set, else the clock.
func currentDate() throws -> Date {
    guard let text = ProcessInfo.processInfo.environment["RESNET_RUNS_NOW"], !text.isEmpty else { return Date() }
    guard let seconds = Double(text) else { throw CLIError("RESNET_RUNS_NOW must be Unix seconds, got '\(text)'") }
    return Date(timeIntervalSince1970: seconds)
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
