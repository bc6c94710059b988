/// Commands that change the store: `delete` (with confirmation, refusing running runs,
/// optional VACUUM), `label` and `note`. Each change is one transaction: all or nothing.
import ArgumentParser
import CLISupport
import Foundation
import RunStore

struct Delete: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete runs with their metrics and weights.",
        discussion: """
            Asks for confirmation when standard input is a terminal; otherwise --yes is required. \
            Running runs are refused (a run whose process has died shows as crashed and can be \
            deleted). Nothing is deleted unless every named run can be. --vacuum then rebuilds the \
            file so that the freed space returns to the file system.

            Examples:
              resnet-runs delete 12
              resnet-runs delete 3-7 9 --yes --vacuum
            """)

    @OptionGroup var store: StoreOptions

    @Argument(help: ArgumentHelp("Runs: ids, ranges (3-7), last, -1, -2, … or labels.", valueName: "run"))
    var runs: [String]

    @Flag(name: [.customShort("y"), .long], help: "Do not ask for confirmation.")
    var yes = false

    @Flag(name: .long, help: "Run VACUUM afterwards to shrink the file.")
    var vacuum = false

    func validate() throws {
        guard !runs.isEmpty else { throw CLIError("delete needs at least one run id") }
        for r in runs { _ = try RunSelector.parse(r) }
    }

    func run() throws {
        let now = try currentDate()
        let db = try store.open(readOnly: false)
        let ids = try RunSelector.resolve(runs, in: db)
        for id in ids {
            let r = try db.run(id, now: now)
            if r.status == .running {
                throw CLIError("run \(id) is running (pid \(r.owner.pid) on \(r.owner.host)); refusing to delete it — stop it first")
            }
        }
        let preview = try db.deletionPreview(ids)
        let what = "\(ids.count) run\(ids.count == 1 ? "" : "s") (\(ids.map { "#\($0)" }.joined(separator: ", "))) with \(preview.epochs) epoch records and \(preview.snapshots) weight snapshot\(preview.snapshots == 1 ? "" : "s") (\(Fmt.bytes(preview.snapshotBytes)))"
        if !yes {
            guard isatty(STDIN_FILENO) != 0 else {
                throw CLIError("refusing to delete without confirmation: standard input is not a terminal (pass --yes)")
            }
            FileHandle.standardError.write(Data("Delete \(what) from \(db.path)? [y/N] ".utf8))
            let answer = (readLine() ?? "").trimmingCharacters(in: .whitespaces).lowercased()
            guard answer == "y" || answer == "yes" else { throw CLIError("not confirmed; nothing deleted") }
        }
        try db.deleteRuns(ids, now: now)
        var message = "Deleted \(what).\n"
        if vacuum {
            let (before, after) = try db.vacuum()
            message += "Vacuumed \(db.path): \(Fmt.bytes(before)) → \(Fmt.bytes(after)).\n"
        }
        writeStdout(message)
    }
}

struct Label: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Set a run's label (an empty TEXT or --clear removes it).")

    @OptionGroup var store: StoreOptions

    @Argument(help: ArgumentHelp("Run: an id, last, -1 (newest), -2, … or a label.", valueName: "run"))
    var runArgument: String

    @Argument(help: ArgumentHelp("New label.", valueName: "text"))
    var text: String?

    @Flag(name: .long, help: "Remove the label.")
    var clear = false

    func validate() throws {
        try RunSelector.checkSingle(runArgument)
        if clear == (text != nil) { throw CLIError("label needs either TEXT or --clear") }
        if let text, text.contains("\n") { throw CLIError("a label must be one line") }
    }

    func run() throws {
        let db = try store.open(readOnly: false)
        let id = try RunSelector.resolveOne(runArgument, in: db)
        try db.setLabel(run: id, label: clear ? nil : text)
        let label = clear ? "" : (text ?? "")
        writeStdout(label.isEmpty ? "Run \(id): label removed.\n" : "Run \(id) labelled \"\(label)\".\n")
    }
}

struct Note: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append a line to a run's notes (--replace to overwrite them).")

    @OptionGroup var store: StoreOptions

    @Argument(help: ArgumentHelp("Run: an id, last, -1 (newest), -2, … or a label.", valueName: "run"))
    var runArgument: String

    @Argument(help: ArgumentHelp("Note text.", valueName: "text"))
    var text: String

    @Flag(name: .long, help: "Replace all notes with TEXT (an empty TEXT clears them).")
    var replace = false

    func validate() throws {
        try RunSelector.checkSingle(runArgument)
        if text.isEmpty && !replace { throw CLIError("note text is empty (use --replace \"\" to clear the notes)") }
    }

    func run() throws {
        let db = try store.open(readOnly: false)
        let id = try RunSelector.resolveOne(runArgument, in: db)
        try db.addNote(run: id, text: text, replace: replace)
        writeStdout(replace ? "Run \(id): notes replaced.\n" : "Run \(id): note added.\n")
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the database file (PRAGMA integrity_check) and verify every stored weight checksum.")

    @OptionGroup var store: StoreOptions

    @Flag(name: .customLong("no-weights"), help: "Skip reading and verifying the weight snapshots.")
    var noWeights = false

    func run() throws {
        let db = try store.open(readOnly: true)
        let problems = try db.integrityProblems()
        if let first = problems.first { throw RunStoreError.corrupt(path: db.path, problem: first) }
        var out = "\(db.path): integrity_check ok\n"
        if !noWeights {
            var count = 0, bytes = 0
            for r in try db.runs() {
                for s in try db.snapshots(run: r.id) {
                    try db.readSnapshot(run: r.id, kind: s.kind) { _ in }
                    count += 1; bytes += s.byteCount
                }
            }
            out += "\(count) weight snapshot\(count == 1 ? "" : "s") verified (\(Fmt.bytes(Int64(bytes))))\n"
        }
        writeStdout(out)
    }
}
