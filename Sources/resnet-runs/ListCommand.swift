/// `resnet-runs list`: one line per run with status, timing, model, dataset, key
/// hyperparameters and test accuracy; filters, sorting, and table/JSON/CSV/Markdown output.
import ArgumentParser
import CLISupport
import TerminalText
import Foundation
import RunStore

enum ListColumn: String, CaseIterable, ExpressibleByArgument {
    case id, status, label, started, duration, model, dataset, lr, batch, epochs, final, best
}

struct ListRuns: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List runs: id, status, label, start, duration, model, dataset, lr, batch, epochs, test accuracy.",
        discussion: """
            Newest runs come first unless --sort is given. FINAL is the test accuracy of the last \
            recorded epoch, BEST the test accuracy of the best epoch: the one with the highest \
            validation accuracy when the run held out a validation split, else the highest \
            test accuracy. EPOCHS is done/planned. \
            A BEST value marked * is an epoch whose weights are not stored (no final, best or \
            checkpoint snapshot of that epoch, e.g. the run was killed before saving them): \
            `resnet-runs show RUN` says which weights there are. JSON output has \
            "best_epoch_weights_stored" and "stored_weights" (epoch of each stored snapshot kind); \
            CSV keeps the plain number. With --sort, runs without a finite value for the column \
            (none recorded, NaN or infinite) come last in either direction.

            Examples:
              resnet-runs list --status completed --sort best --desc --limit 5
              resnet-runs list --where 'test_accuracy > 0.8 and lr < 0.001'
              resnet-runs list --format csv > runs.csv
            """)

    @OptionGroup var store: StoreOptions

    @Option(name: .long, parsing: .singleValue,
            help: ArgumentHelp("Only runs with this status (repeatable or comma-separated): \(RunStatus.allCases.map(\.rawValue).joined(separator: ", ")).",
                               valueName: "status"))
    var status: [String] = []

    @Option(name: .long, help: ArgumentHelp("Only runs of this model (exact name).", valueName: "name"))
    var model: String?

    @Option(name: .long, help: ArgumentHelp("Only runs for which EXPR holds, e.g. 'test_accuracy > 0.8 and lr < 0.001' (any metric of the last epoch, hyperparameter or column; and/or; < <= > >= = !=).", valueName: "expr"))
    var `where`: String?

    @Option(name: .long, help: ArgumentHelp("Sort by a column (\(ListColumn.allCases.map(\.rawValue).joined(separator: ", "))) or by any last-epoch metric or hyperparameter (test_loss, hp.beta_1, …). Ascending unless --desc.", valueName: "name"))
    var sort: String?

    @Option(name: .long, help: ArgumentHelp("Show these columns instead of the default ones, comma-separated: the table's columns, any last-epoch metric or hyperparameter (e.g. id,label,test_loss,hp.beta_1).", valueName: "names"))
    var columns: String?

    @Flag(name: .long, help: "Sort in descending order.")
    var desc = false

    @Option(name: .long, help: ArgumentHelp("Show at most this many runs (after sorting).", valueName: "n"))
    var limit: Int?

    @Option(name: .long, help: "Output format: text, json, csv or markdown.")
    var format: TableFormat = .text

    func validate() throws {
        if let limit, limit < 1 { throw CLIError("--limit must be at least 1, got \(limit)") }
    }

    static func parseStatuses(_ values: [String]) throws -> Set<RunStatus>? {
        guard !values.isEmpty else { return nil }
        var out = Set<RunStatus>()
        for value in values.flatMap({ $0.split(separator: ",") }) {
            let v = value.trimmingCharacters(in: .whitespaces).lowercased()
            guard let s = RunStatus(rawValue: v) else {
                throw CLIError("--status: unknown status '\(value)' (choose from \(RunStatus.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            out.insert(s)
        }
        return out
    }

    func run() throws {
        let statuses = try Self.parseStatuses(status)
        let now = try currentDate()
        let db = try store.open(readOnly: true)
        var runs = try db.runs(status: statuses, model: model, now: now)
        // Each run's named values (last-epoch metrics, hyperparameters, columns) for --where, --sort
        // by a non-column name and --columns: one read of the epochs, only when one of them asks.
        var named: [Int64: [String: String]]?
        func values() throws -> [Int64: [String: String]] {
            if let named { return named }
            let epochs = try db.epochs(runs: runs.map(\.id))
            let all = Dictionary(uniqueKeysWithValues: runs.map { ($0.id, WhereFilter.fields($0, lastEpoch: epochs[$0.id]?.last)) })
            named = all
            return all
        }
        if let text = `where` {
            let filter = try WhereFilter(text)
            let fields = try values()
            if !runs.isEmpty { try filter.checkNames(against: Set(fields.values.flatMap(\.keys))) }
            runs = runs.filter { filter.matches(fields[$0.id] ?? [:]) }
        }
        if let sort, let column = ListColumn(rawValue: sort) {
            runs = Self.sorted(runs, by: column, descending: desc, now: now)
        } else if let sort {
            // Any metric of the last epoch or hyperparameter, by the names --where knows.
            let all = try values()
            let fields = runs.map { all[$0.id] ?? [:] }
            if !runs.isEmpty, !fields.contains(where: { $0[sort] != nil }) {
                let names = Set(fields.flatMap(\.keys)).filter { !$0.hasPrefix("hp.") }.sorted()
                throw CLIError("--sort: no run has '\(sort)'; columns: \(ListColumn.allCases.map(\.rawValue).joined(separator: ", ")); other names: \(names.joined(separator: ", "))")
            }
            runs = Self.sorted(runs, descending: desc) { r in
                guard let text = all[r.id]?[sort] else { return .missing }
                if let d = Double(text) { return d.isFinite ? .number(d) : .missing }
                return .text(text)
            }
        } else {
            runs.reverse()
            if desc { runs.reverse() }
        }
        if let limit { runs = Array(runs.prefix(limit)) }
        if runs.isEmpty, model != nil || statuses != nil || `where` != nil, (format == .text || format == .markdown) {
            // Filters that match nothing: say what there is, rather than "No runs".
            let all = try db.runs(now: now)
            if !all.isEmpty {
                var what: [String] = []
                if let model { what.append("--model \(model)") }
                if !status.isEmpty { what.append("--status \(status.joined(separator: ","))") }
                if let text = `where` { what.append("--where '\(text)'") }
                let models = Set(all.map(\.model)).sorted().joined(separator: ", ")
                let states = Set(all.map(\.status.rawValue)).sorted().joined(separator: ", ")
                writeStdout(fitted("No runs match \(what.joined(separator: " ")) among the \(all.count) runs in \(db.path) (models: \(models); statuses: \(states)).\n", width: TerminalWidth.columns()))
                return
            }
        }
        if let columns {
            let all = try values()
            writeStdout(try Self.renderColumns(runs, columns, fields: runs.map { all[$0.id] ?? [:] }, format: format, now: now,
                                               style: Style.forStdout(), width: TerminalWidth.columns()))
            return
        }
        let weights = try db.storedWeightEpochs()
        writeStdout(Self.render(runs, weights: weights, format: format, now: now, style: Style.forStdout(), path: db.path,
                                width: TerminalWidth.columns()))
    }

    /// `--columns`: a table of exactly the named values (a default column, a last-epoch metric or a
    /// hyperparameter), numbers unformatted in CSV and JSON.
    /// `fields`: each run's named values (`WhereFilter.fields`), aligned with `runs`.
    static func renderColumns(_ runs: [RunRecord], _ spec: String, fields: [[String: String]], format: TableFormat,
                              now: Date, style: Style, width: Int? = nil) throws -> String {
        let names = spec.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !names.isEmpty else { throw CLIError("--columns: give at least one name, e.g. id,label,test_accuracy") }
        let known = Set(fields.flatMap(\.keys))
        if !runs.isEmpty, let unknown = names.first(where: { ListColumn(rawValue: $0) == nil && !known.contains($0) }) {
            let others = known.filter { !$0.hasPrefix("hp.") }.sorted().joined(separator: ", ")
            throw CLIError("--columns: no run has '\(unknown)'; columns: \(ListColumn.allCases.map(\.rawValue).joined(separator: ", ")); other names: \(others)")
        }
        func value(_ r: RunRecord, _ f: [String: String], _ name: String, display: Bool) -> String {
            if let column = ListColumn(rawValue: name) {
                switch sortKey(r, column, now: now) {
                case .missing: return display ? "-" : ""
                case .text(let t): return t
                case .number(let d):
                    if column == .started { return display ? Fmt.date(r.startedAt) : (Fmt.iso(r.startedAt) ?? "") }
                    if column == .duration && display { return Fmt.duration(d) }
                    if [.final, .best].contains(column) && display { return Fmt.metric(d) }
                    return JSONText.number(d).replacingOccurrences(of: "\"", with: "")
                }
            }
            guard let text = f[name] else { return display ? "-" : "" }
            if display, let d = Double(text), d.isFinite, d != d.rounded() { return Fmt.metric(d, name: name) }
            return text
        }
        if format == .json {
            let items = zip(runs, fields).map { r, f in
                JSON.object(names.map { n in
                    let v = value(r, f, n, display: false)
                    return (n, v.isEmpty ? "null" : (Double(v).map { JSON.num($0) } ?? JSON.str(v)))
                })
            }
            return items.isEmpty ? "[]\n" : "[\n  " + items.joined(separator: ",\n  ") + "\n]\n"
        }
        let display = format != .csv
        var table = Table(display ? names.map { $0.uppercased() } : names)
        for (r, f) in zip(runs, fields) { table.add(names.map { Cell(value(r, f, $0, display: display)) }) }
        switch format {
        case .csv: return table.csv()
        case .markdown: return table.markdown()
        default: return runs.isEmpty ? "No runs.\n" : table.text(style: style, width: width)
        }
    }

    enum SortKey { case number(Double), text(String), missing }

    static func sortKey(_ r: RunRecord, _ column: ListColumn, now: Date) -> SortKey {
        // NaN and ±infinity are no usable value: such runs sort with the runs that have none.
        func num(_ v: Double?) -> SortKey { v.map { $0.isFinite ? .number($0) : .missing } ?? .missing }
        func txt(_ v: String?) -> SortKey { v.map { .text($0) } ?? .missing }
        switch column {
        case .id: return .number(Double(r.id))
        case .status: return .text(r.status.rawValue)
        case .label: return txt(r.label)
        case .started: return .number(r.startedAt.timeIntervalSince1970)
        case .duration: return .number(r.duration(now: now))
        case .model: return .text(r.model)
        case .dataset: return .text(Fmt.datasetName(r.datasetPath))
        case .lr: return num(r.learningRate)
        case .batch: return .number(Double(r.batchSize))
        case .epochs: return .number(Double(r.epochsDone))
        case .final: return num(r.finalTestAccuracy)
        case .best: return num(r.bestTestAccuracy)
        }
    }

    /// Stable sort; runs without a (finite) value for the column always come last, in either
    /// direction; ties keep id order.
    static func sorted(_ runs: [RunRecord], by column: ListColumn, descending: Bool, now: Date) -> [RunRecord] {
        sorted(runs, descending: descending) { sortKey($0, column, now: now) }
    }

    static func sorted(_ runs: [RunRecord], descending: Bool, key: (RunRecord) -> SortKey) -> [RunRecord] {
        let keyed = runs.map { (key($0), $0) }
        return keyed.sorted { a, b in
            switch (a.0, b.0) {
            case let (.number(x), .number(y)) where x != y: return descending ? x > y : x < y
            case let (.text(x), .text(y)) where x != y: return descending ? x > y : x < y
            case (.missing, .number), (.missing, .text): return false
            case (.number, .missing), (.text, .missing): return true
            default: return a.1.id < b.1.id
            }
        }.map(\.1)
    }

    /// The table's columns left out first when the terminal is too narrow: STARTED, DATASET,
    /// DURATION, BATCH, MODEL, LR, EPOCHS, FINAL ACC, LABEL, STATUS (ID and BEST ACC stay).
    static let droppedFirst = [3, 6, 4, 8, 5, 7, 9, 10, 2, 1]

    static let headers = ["ID", "STATUS", "LABEL", "STARTED", "DURATION", "MODEL", "DATASET", "LR", "BATCH", "EPOCHS", "FINAL ACC", "BEST ACC"]

    /// Whether the weights of the run's best epoch are in some stored snapshot (nil: no best epoch).
    static func bestEpochWeightsStored(_ r: RunRecord, _ weights: [Int64: [SnapshotKind: Int]]) -> Bool? {
        guard let best = r.bestEpoch else { return nil }
        return (weights[r.id] ?? [:]).values.contains(best)
    }

    static let unstoredMark = "*"
    static let unstoredLegend = "* no stored weights of that epoch (see resnet-runs show RUN)"

    /// `width`: the terminal's (nil: not limited); the text table leaves out columns to fit it,
    /// in `droppedFirst` order, and says which.
    static func render(_ runs: [RunRecord], weights: [Int64: [SnapshotKind: Int]], format: TableFormat, now: Date,
                       style: Style, path: String, width: Int? = nil) -> String {
        if format == .json {
            let items = runs.map { r in
                JSON.object([
                    ("id", "\(r.id)"), ("status", JSON.str(r.status.rawValue)), ("label", JSON.str(r.label)),
                    ("started", JSON.str(Fmt.iso(r.startedAt))), ("finished", JSON.str(Fmt.iso(r.finishedAt))),
                    ("duration_seconds", JSON.num(r.duration(now: now).rounded())),
                    ("model", JSON.str(r.model)), ("model_hash", JSON.str(r.modelHash)),
                    ("dataset", JSON.str(r.datasetPath)), ("lr", JSON.num(r.learningRate)),
                    ("batch_size", "\(r.batchSize)"), ("epochs_done", "\(r.epochsDone)"),
                    ("epochs_planned", "\(r.epochsPlanned)"),
                    ("final_test_accuracy", JSON.num(r.finalTestAccuracy)),
                    ("best_test_accuracy", JSON.num(r.bestTestAccuracy)), ("best_epoch", JSON.int(r.bestEpoch)),
                    ("best_epoch_weights_stored", bestEpochWeightsStored(r, weights).map { $0 ? "true" : "false" } ?? "null"),
                    ("stored_weights", JSON.object(SnapshotKind.allCases.compactMap { k in weights[r.id]?[k].map { (k.rawValue, "\($0)") } })),
                ])
            }
            return items.isEmpty ? "[]\n" : "[\n  " + items.joined(separator: ",\n  ") + "\n]\n"
        }
        if format == .csv {
            // Values for a spreadsheet or a script: numbers unformatted, times ISO 8601, epochs split.
            var csv = Table(["id", "status", "label", "started", "duration_seconds", "model", "dataset", "lr", "batch_size",
                             "epochs_done", "epochs_planned", "final_test_accuracy", "best_test_accuracy", "best_epoch"])
            func number(_ v: Double?) -> String { v.map { JSONText.number($0).replacingOccurrences(of: "\"", with: "") } ?? "" }
            for r in runs {
                csv.add([Cell("\(r.id)"), Cell(r.status.rawValue), Cell(r.label ?? ""), Cell(Fmt.iso(r.startedAt) ?? ""),
                         Cell(number(r.duration(now: now).rounded())), Cell(r.model), Cell(r.datasetPath),
                         Cell(number(r.learningRate)), Cell("\(r.batchSize)"), Cell("\(r.epochsDone)"), Cell("\(r.epochsPlanned)"),
                         Cell(number(r.finalTestAccuracy)), Cell(number(r.bestTestAccuracy)), Cell(r.bestEpoch.map { "\($0)" } ?? "")])
            }
            return csv.csv()
        }
        var table = Table(headers, align: [.right, .left, .left, .left, .right, .left, .left, .right, .right, .right, .right, .right])
        table.shrinkable = [2: 6, 5: 8, 6: 8]
        table.overflow = .drop(droppedFirst)
        var marked = false
        for r in runs {
            var best = Fmt.metric(r.bestTestAccuracy)
            if format != .csv, bestEpochWeightsStored(r, weights) == false {
                best += unstoredMark
                marked = true
            }
            table.add([
                Cell("\(r.id)"), Cell(r.status.rawValue, Style.statusKind(r.status)), Cell(r.label ?? "-"),
                Cell(Fmt.date(r.startedAt)), Cell(Fmt.duration(r.duration(now: now))), Cell(r.model),
                // An imported run was not trained here: no learning rate, batch or epochs to show.
                Cell(Fmt.datasetName(r.datasetPath)), Cell(r.status == .imported ? "-" : Fmt.lr(r.learningRate)),
                Cell(r.status == .imported ? "-" : "\(r.batchSize)"),
                Cell(r.status == .imported ? "-" : "\(r.epochsDone)/\(r.epochsPlanned)"), Cell(Fmt.metric(r.finalTestAccuracy)),
                Cell(best, .bold),
            ])
        }
        switch format {
        case .csv: return table.csv()
        case .markdown: return table.markdown() + (marked ? "\n\\" + unstoredLegend + "\n" : "")
        default:
            if runs.isEmpty { return "No runs in \(path).\n" }
            var out = table.text(style: style, width: width) + (marked ? unstoredLegend + "\n" : "")
            let hidden = table.hidden(width: width)
            if !hidden.isEmpty {
                out += "(\(hidden.joined(separator: ", ")) left out to fit \(width ?? 0) columns; --columns or --format csv show them)\n"
            }
            return fitted(out, width: width)
        }
    }
}
