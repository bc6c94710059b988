/// `resnet-runs compare`: runs side by side — differing hyperparameters (identical ones in one
/// line), final/best metrics with deltas to the first run, per-epoch tables, terminal learning
/// curves, and optionally an SVG plot of loss and accuracy curves.
import ArgumentParser
import CLISupport
import TerminalText
import Foundation
import RunStore

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare runs: differing hyperparameters, final/best metrics with deltas, per-epoch metrics, curves.",
        discussion: """
            The first run is the reference: every other value shows its difference to it with ↑ \
            (higher) or ↓ (lower); ★ marks the best value of each metric (lowest for losses and \
            times, highest otherwise). NaN and infinite values (a diverged run) are shown but \
            never count as best: "best" rows and means use finite values only. Runs of different \
            models or datasets can be compared; the output then says so.

            --metric must name a metric that at least one compared run recorded; otherwise the \
            command fails and lists the metrics it knows.

            Examples:
              resnet-runs compare 12 14 15
              resnet-runs compare 3-7 --all
              resnet-runs compare --last 3 --plot curves.svg
              resnet-runs compare --best 3 --format markdown
            """)

    @OptionGroup var store: StoreOptions

    @Argument(help: ArgumentHelp("Runs: ids, ranges (3-7), last, -1, -2, … or labels (at least two runs in total).", valueName: "run"))
    var runs: [String] = []

    @Option(name: .long, help: ArgumentHelp("Compare the N most recent runs.", valueName: "n"))
    var last: Int?

    @Option(name: .long, help: ArgumentHelp("Compare the N runs with the highest best test accuracy.", valueName: "n"))
    var best: Int?

    @Flag(name: .long, help: "Show all parameters, not only those that differ.")
    var all = false

    @Option(name: .long, parsing: .singleValue,
            help: ArgumentHelp("Metric for the per-epoch tables (repeatable; default: loss, accuracy, val_loss and val_accuracy where recorded, test_loss, test_accuracy).", valueName: "name"))
    var metric: [String] = []

    @Flag(name: .customLong("no-epochs"), help: "Leave out the per-epoch tables.")
    var noEpochs = false

    @Flag(name: .customLong("no-chart"), help: "Leave out the terminal learning curves.")
    var noChart = false

    @Option(name: .long, help: ArgumentHelp("Also write loss and accuracy curves of all compared runs as an SVG file (- : the SVG alone to standard output).", valueName: "file.svg"))
    var plot: String?

    @Option(name: .long, help: "Output format: text, json, csv or markdown.")
    var format: TableFormat = .text

    func validate() throws {
        let modes = (runs.isEmpty ? 0 : 1) + (last == nil ? 0 : 1) + (best == nil ? 0 : 1)
        guard modes == 1 else { throw CLIError("compare takes run ids, or --last N, or --best N (exactly one of them)") }
        for (flag, n) in [("--last", last), ("--best", best)] {
            if let n, n < 2 { throw CLIError("\(flag) must be at least 2, got \(n)") }
        }
    }

    func run() throws {
        if let plot {
            try checkOutputPath(plot, flag: "--plot")
            if plot != "-", !plot.lowercased().hasSuffix(".svg") {
                throw CLIError("--plot: \(plot): the chart is written as SVG; name the file *.svg (or - for standard output)")
            }
        }
        let now = try currentDate()
        let db = try store.open(readOnly: true)
        var ids: [Int64]
        if let last {
            ids = Array(try db.runs(now: now).suffix(last).map(\.id))
        } else if let best {
            ids = try db.runs(now: now).filter { $0.bestTestAccuracy != nil }
                .sorted { ($0.bestTestAccuracy!, -$0.id) > ($1.bestTestAccuracy!, -$1.id) }
                .prefix(best).map(\.id)
        } else {
            ids = try RunSelector.resolve(runs, in: db)
        }
        guard ids.count >= 2 else {
            throw CLIError("compare needs at least two runs, got \(ids.count) (from \(db.path))")
        }
        let records = try ids.map { try db.run($0, now: now) }
        let epochs = try db.epochs(runs: ids)
        try Self.checkMetrics(metric, epochs: epochs)
        let model = Comparison(runs: records, epochs: epochs, now: now, perEpochMetrics: metric)
        if let plot {
            try writeAtomically(Data(model.svg().utf8), to: plot, flag: "--plot")
            // `--plot -`: the SVG alone is the output.
            if plot == "-" { return }
        }
        let style = Style.forStdout()
        switch format {
        case .text: writeStdout(model.text(style: style, all: all, epochs: !noEpochs, charts: !noChart, width: TerminalWidth.columns()))
        case .markdown: writeStdout(model.markdown(all: all, epochs: !noEpochs))
        case .csv: writeStdout(model.csv(all: all, epochs: !noEpochs))
        case .json: writeStdout(model.json(epochs: !noEpochs) + "\n")
        }
        if let plot, format == .text { writeStdout("\nWrote \(plot)\n") }
    }
}

extension Compare {
    /// Every `--metric` must be recorded by at least one of the compared runs.
    static func checkMetrics(_ requested: [String], epochs: [Int64: [EpochRecord]]) throws {
        let known = Set(epochs.values.flatMap { $0.flatMap(\.metrics.keys) })
        let unknown = requested.filter { !known.contains($0) }
        guard !unknown.isEmpty else { return }
        let names = unknown.map { "'\($0)'" }.joined(separator: ", ")
        let list = known.isEmpty ? "these runs recorded no metrics" : "known: " + Metrics.ordered(known).joined(separator: ", ")
        throw CLIError("--metric: unknown metric \(names) (\(list))")
    }
}

/// The computed comparison, rendered in each output format.
struct Comparison {
    let runs: [RunRecord]
    let epochs: [Int64: [EpochRecord]]
    let now: Date
    let params: [(name: String, values: [String])]
    let notes: [String]
    let summary: [SummaryRow]
    let epochMetrics: [String]

    struct SummaryRow {
        var name: String
        var metric: String
        var values: [Double?]
        var lowerIsBetter: Bool
        var bestIndex: Int?
    }

    init(runs: [RunRecord], epochs: [Int64: [EpochRecord]], now: Date, perEpochMetrics: [String]) {
        self.runs = runs
        self.epochs = epochs
        self.now = now
        // Parameters: the recorded columns, then every hyperparameter.
        var params: [(String, [String])] = [
            ("model", runs.map(\.model)),
            ("model_hash", runs.map { Fmt.shortHash($0.modelHash) }),
            ("dataset", runs.map(\.datasetPath)),
            ("dataset_sha256", runs.map { Fmt.shortHash($0.datasetSHA256) }),
            ("train_count", runs.map { "\($0.trainCount)" }),
            ("test_count", runs.map { "\($0.testCount)" }),
            ("epochs_planned", runs.map { "\($0.epochsPlanned)" }),
            ("batch_size", runs.map { "\($0.batchSize)" }),
            ("learning_rate", runs.map { Fmt.lr($0.learningRate) }),
            ("seed", runs.map { "\($0.seed)" }),
            ("threads", runs.map { "\($0.threads)" }),
            ("host", runs.map(\.host)),
            ("program_version", runs.map { $0.programVersion.isEmpty ? "-" : $0.programVersion }),
        ]
        // A hyperparameter that only repeats a recorded column (hp.lr = learning_rate, …) is shown once.
        let columnOf = ["lr": "learning_rate", "batch_size": "batch_size", "epochs": "epochs_planned", "seed": "seed",
                        "threads": "threads", "train_count": "train_count", "test_count": "test_count"]
        func sameNumber(_ a: String, _ b: String) -> Bool { a == b || (Double(a) != nil && Double(a) == Double(b)) }
        let recorded: [String: [String]] = [
            "learning_rate": runs.map { "\($0.learningRate)" }, "batch_size": runs.map { "\($0.batchSize)" },
            "epochs_planned": runs.map { "\($0.epochsPlanned)" }, "seed": runs.map { "\($0.seed)" },
            "threads": runs.map { "\($0.threads)" }, "train_count": runs.map { "\($0.trainCount)" },
            "test_count": runs.map { "\($0.testCount)" },
        ]
        let hyperKeys = Set(runs.flatMap(\.hyperparameters.keys)).sorted()
        for key in hyperKeys {
            let values = runs.map { $0.hyperparameters[key] ?? "-" }
            if let column = columnOf[key], let twin = recorded[column], zip(values, twin).allSatisfy(sameNumber) { continue }
            params.append(("hp." + key, values))
        }
        self.params = params

        var notes: [String] = []
        func describe(_ values: [String]) -> String {
            var order: [String] = []
            var members: [String: [String]] = [:]
            for (i, v) in values.enumerated() {
                if members[v] == nil { order.append(v) }
                members[v, default: []].append("#\(runs[i].id)")
            }
            return order.map { "\($0) (\(members[$0]!.joined(separator: ", ")))" }.joined(separator: ", ")
        }
        if Set(runs.map(\.model)).count > 1 {
            notes.append("these runs train different models: \(describe(runs.map(\.model))); metrics are not directly comparable")
        } else if Set(runs.map(\.modelHash)).count > 1 {
            notes.append("these runs use different descriptions of model \(runs[0].model): \(describe(runs.map { Fmt.shortHash($0.modelHash) }))")
        }
        if Set(runs.map { "\($0.datasetIdentity)|\($0.trainCount)|\($0.testCount)" }).count > 1 {
            notes.append("these runs use different datasets: \(describe(runs.map { "\(Fmt.datasetName($0.datasetPath)) \($0.trainCount)/\($0.testCount)" + ($0.datasetSHA256.map { " " + Fmt.shortHash($0) } ?? "") }))")
        }
        self.notes = notes

        // Final / best per metric, means for timing metrics.
        let allNames = Metrics.ordered(Set(runs.flatMap { epochs[$0.id]?.flatMap(\.metrics.keys) ?? [] }))
        var summary: [SummaryRow] = []
        for name in allNames {
            let lower = Metrics.lowerIsBetter(name)
            // Means and bests are taken over finite values only: a NaN or infinite epoch (a
            // diverged run) is shown as such in the final/per-epoch rows but is never a best.
            let series = runs.map { r in (epochs[r.id] ?? []).compactMap { $0.metrics[name] }.filter { $0.isFinite } }
            if name == "seconds" || name == "images_per_second" {
                summary.append(SummaryRow(name: "mean \(name)", metric: name,
                                          values: series.map { $0.isEmpty ? nil : $0.reduce(0, +) / Double($0.count) },
                                          lowerIsBetter: lower))
                continue
            }
            summary.append(SummaryRow(name: "final \(name)", metric: name,
                                      values: runs.map { r in (epochs[r.id] ?? []).last?.metrics[name] }, lowerIsBetter: lower))
            summary.append(SummaryRow(name: "best \(name)", metric: name,
                                      values: series.map { lower ? $0.min() : $0.max() }, lowerIsBetter: lower))
        }
        summary.append(SummaryRow(name: "epochs done", metric: "epochs", values: runs.map { Double($0.epochsDone) }, lowerIsBetter: false))
        summary.append(SummaryRow(name: "duration", metric: "seconds", values: runs.map { $0.duration(now: now).rounded() }, lowerIsBetter: true))
        for i in summary.indices where summary[i].metric != "epochs" {
            let finite = summary[i].values.enumerated().compactMap { j, v in v.flatMap { $0.isFinite ? (j, $0) : nil } }
            if finite.count >= 2, Set(finite.map(\.1)).count > 1 {
                summary[i].bestIndex = (summary[i].lowerIsBetter ? finite.min { $0.1 < $1.1 } : finite.max { $0.1 < $1.1 })!.0
            }
        }
        self.summary = summary
        let chosen = perEpochMetrics.isEmpty ? ["loss", "accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy"] : perEpochMetrics
        self.epochMetrics = chosen.filter { Set(allNames).contains($0) }
    }

    var runHeaders: [String] { runs.map { "#\($0.id)" + ($0.label.map { " \($0)" } ?? "") } }

    /// `lead` then the items separated by ", ", broken into lines of at most `width` columns
    /// (continuation lines indented like the first item); one line when `width` is nil.
    func wrapped(_ lead: String, _ items: [String], width: Int?) -> String {
        guard let width else { return lead + items.joined(separator: ", ") + "\n" }
        let indent = String(repeating: " ", count: min(lead.count, 8))
        var out = "", line = lead
        for (i, item) in items.enumerated() {
            let piece = item + (i < items.count - 1 ? "," : "")
            let candidate = (line == lead || line == indent) ? line + piece : line + " " + piece
            if candidate.count > width && line != lead && line != indent {
                out += line + "\n"
                line = indent + piece
            } else {
                line = candidate
            }
        }
        return out + line + "\n"
    }

    func partitionedParams(all: Bool) -> (shown: [(name: String, values: [String])], identical: [(String, String)]) {
        var shown: [(name: String, values: [String])] = []
        var identical: [(String, String)] = []
        for p in params {
            let same = Set(p.values).count == 1
            if same && !all { identical.append((p.name, p.values[0])) } else { shown.append(p) }
        }
        return (shown, identical)
    }

    func cellText(_ row: SummaryRow, _ i: Int, arrows: Bool) -> String {
        guard let v = row.values[i] else { return "-" }
        var s = row.metric == "epochs" ? String(Int(v)) : Fmt.metric(v, name: row.metric)
        if row.metric == "seconds" && row.name == "duration" { s = Fmt.duration(v) }
        if i > 0, let ref = row.values[0], v.isFinite, ref.isFinite {
            let d = v - ref
            let ds = row.metric == "epochs" ? (d == 0 ? "±0" : (d > 0 ? "+" : "") + String(Int(d)))
                : row.name == "duration" ? (d == 0 ? "±0" : (d > 0 ? "+" : "-") + Fmt.duration(abs(d)))
                : Fmt.delta(d, name: row.metric)
            s += " (" + ds + (arrows ? (d > 0 ? " ↑" : d < 0 ? " ↓" : "") : "") + ")"
        }
        if row.bestIndex == i { s += " ★" }
        return s
    }

    func epochRows(_ name: String) -> [(epoch: Int, values: [Double?])] {
        let allEpochs = Set(runs.flatMap { (epochs[$0.id] ?? []).map(\.epoch) }).sorted()
        let lookup = runs.map { r in Dictionary((epochs[r.id] ?? []).map { ($0.epoch, $0.metrics) }, uniquingKeysWith: { a, _ in a }) }
        return allEpochs.map { e in (e, lookup.map { $0[e]?[name] }) }
    }

    // MARK: text

    /// `width`: the terminal's (nil: not limited); wide tables fold into blocks of runs that each
    /// repeat the first column, long values are cut (…), notes wrap, charts narrow.
    func text(style: Style, all: Bool, epochs showEpochs: Bool, charts: Bool, width: Int? = nil) -> String {
        var out = style.bold("Comparing \(runs.count) runs") + " (reference: #\(runs[0].id))\n"
        var overview = Table(["RUN", "STATUS", "LABEL", "MODEL", "DATASET", "STARTED", "EPOCHS"],
                             align: [.right, .left, .left, .left, .left, .left, .right])
        for r in runs {
            overview.add([Cell("#\(r.id)"), Cell(r.status.rawValue, Style.statusKind(r.status)), Cell(r.label ?? "-"),
                          Cell(r.model), Cell(Fmt.datasetName(r.datasetPath)), Cell(Fmt.date(r.startedAt)),
                          Cell("\(r.epochsDone)/\(r.epochsPlanned)")])
        }
        overview.shrinkable = [2: 6, 3: 8, 4: 8]
        out += overview.text(style: style, indent: "  ", width: width)
        for note in notes { out += style.apply(.yellow, fitted("Note: \(note).", width: width)) + "\n" }

        let (shown, identical) = partitionedParams(all: all)
        out += "\n" + style.bold(all ? "Parameters" : "Parameters that differ") + "\n"
        if shown.isEmpty { out += "  (none — all \(params.count) parameters are identical)\n" } else {
            var t = Table(["PARAMETER"] + runHeaders, align: [.left] + runs.map { _ in .left })
            for p in shown {
                let same = Set(p.values).count == 1
                t.add([Cell(p.name, same ? .plain : .bold)] + p.values.map { Cell($0) })
            }
            for i in runs.indices { t.shrinkable[i + 1] = 10 }
            out += t.text(style: style, indent: "  ", width: width)
        }
        if !identical.isEmpty {
            out += wrapped("  Identical (\(identical.count)): ", identical.map { "\($0.0)=\($0.1)" }, width: width)
        }

        out += "\n" + style.bold("Metrics") + " (delta to #\(runs[0].id); ★ best)\n"
        var mt = Table(["METRIC"] + runHeaders, align: [.left] + runs.map { _ in .right })
        for row in summary {
            mt.add([Cell(row.name)] + runs.indices.map { i in Cell(cellText(row, i, arrows: true), row.bestIndex == i ? .green : .plain) })
        }
        mt.headersMayBeCut(Array(runs.indices.map { $0 + 1 }))
        out += mt.text(style: style, indent: "  ", width: width)

        if showEpochs {
            for name in epochMetrics {
                out += "\n" + style.bold("Per-epoch \(name)") + "\n"
                var t = Table(["EPOCH"] + runs.map { "#\($0.id)" }, align: Array(repeating: .right, count: runs.count + 1))
                for row in epochRows(name) {
                    t.add([Cell("\(row.epoch)")] + row.values.map { Cell(Fmt.metric($0, name: name)) })
                }
                out += t.text(style: style, indent: "  ", width: width)
            }
        }
        if charts {
            let markers = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
            for (title, names) in [("Loss (train)", ["loss"]), ("Test accuracy", ["test_accuracy", "accuracy"])] {
                guard let name = names.first(where: { n in runs.contains { (epochs[$0.id] ?? []).contains { $0.metrics[n] != nil } } }) else { continue }
                let series = runs.enumerated().map { i, r in
                    Series(label: "#\(r.id)", marker: markers[i % markers.count],
                           points: (epochs[r.id] ?? []).compactMap { e in e.metrics[name].map { (x: e.epoch, y: $0) } }, colorIndex: i)
                }
                let chart = TextChart.render(title: name == "accuracy" ? "Accuracy (train)" : title, series: series, style: style,
                                             maxWidth: width)
                if !chart.isEmpty { out += "\n" + chart }
            }
        }
        return fitted(out, width: width)
    }

    // MARK: markdown / csv / json

    func markdown(all: Bool, epochs showEpochs: Bool) -> String {
        var out = "## Comparing runs " + runs.map { "#\($0.id)" }.joined(separator: ", ") + "\n\n"
        for note in notes { out += "> **Note:** \(note).\n\n" }
        let (shown, identical) = partitionedParams(all: all)
        out += all ? "### Parameters\n\n" : "### Parameters that differ\n\n"
        if shown.isEmpty { out += "All \(params.count) parameters are identical.\n\n" } else {
            var t = Table(["Parameter"] + runHeaders)
            for p in shown { t.add([p.name] + p.values) }
            out += t.markdown() + "\n"
        }
        if !identical.isEmpty {
            out += "Identical (\(identical.count)): " + identical.map { "`\($0.0)=\($0.1)`" }.joined(separator: ", ") + "\n\n"
        }
        out += "### Metrics (delta to #\(runs[0].id); ★ best)\n\n"
        var mt = Table(["Metric"] + runHeaders, align: [.left] + runs.map { _ in .right })
        for row in summary { mt.add([row.name] + runs.indices.map { cellText(row, $0, arrows: true) }) }
        out += mt.markdown()
        if showEpochs {
            for name in epochMetrics {
                out += "\n### Per-epoch \(name)\n\n"
                var t = Table(["Epoch"] + runs.map { "#\($0.id)" }, align: Array(repeating: .right, count: runs.count + 1))
                for row in epochRows(name) { t.add(["\(row.epoch)"] + row.values.map { Fmt.metric($0, name: name) }) }
                out += t.markdown()
            }
        }
        return out
    }

    func csv(all: Bool, epochs showEpochs: Bool) -> String {
        var t = Table(["section", "name", "epoch"] + runs.map { "run \($0.id)" })
        let (shown, _) = partitionedParams(all: true)
        for p in shown where all || Set(p.values).count > 1 { t.add(["parameter", p.name, ""] + p.values) }
        if !all { for p in shown where Set(p.values).count == 1 { t.add(["parameter (identical)", p.name, ""] + p.values) } }
        for row in summary {
            t.add(["metric", row.name, ""] + row.values.map { $0.map { JSONText.number($0).replacingOccurrences(of: "\"", with: "") } ?? "" })
        }
        if showEpochs {
            for name in epochMetrics {
                for row in epochRows(name) {
                    t.add(["epoch", name, "\(row.epoch)"] + row.values.map { $0.map { JSONText.number($0).replacingOccurrences(of: "\"", with: "") } ?? "" })
                }
            }
        }
        return t.csv()
    }

    /// A parameter value as JSON: a number where the text is one (hyperparameters are recorded as
    /// text), null for "-", else a string.
    static func jsonValue(_ text: String) -> String {
        if text == "-" { return "null" }
        if let d = Double(text), d.isFinite, text.first.map({ $0.isNumber || $0 == "-" || $0 == "." }) == true {
            return JSON.num(d)
        }
        return JSON.str(text)
    }

    func json(epochs showEpochs: Bool) -> String {
        let (shown, identical) = partitionedParams(all: false)
        var pairs: [(String, String)] = [
            ("runs", JSON.array(runs.map { r in
                JSON.object([("id", "\(r.id)"), ("label", JSON.str(r.label)), ("status", JSON.str(r.status.rawValue)),
                             ("model", JSON.str(r.model)), ("model_hash", JSON.str(r.modelHash)),
                             ("dataset", JSON.str(r.datasetPath)), ("dataset_sha256", JSON.str(r.datasetSHA256)),
                             ("started", JSON.str(Fmt.iso(r.startedAt)))])
            })),
            ("notes", JSON.array(notes.map { JSON.str($0) })),
            ("parameters", JSON.object([
                ("differing", JSON.object(shown.map { ($0.name, JSON.array($0.values.map(Self.jsonValue))) })),
                ("identical", JSON.object(identical.map { ($0.0, Self.jsonValue($0.1)) })),
            ])),
            ("metrics", JSON.array(summary.map { row in
                JSON.object([("name", JSON.str(row.name)), ("values", JSON.array(row.values.map { JSON.num($0) })),
                             ("deltas", JSON.array(row.values.map { v in
                                 guard let v, let ref = row.values[0] else { return "null" }
                                 return JSON.num(v - ref) })),
                             ("lower_is_better", row.lowerIsBetter ? "true" : "false"),
                             ("best_run", row.bestIndex.map { "\(runs[$0].id)" } ?? "null")])
            })),
        ]
        if showEpochs {
            pairs.append(("epochs", JSON.object(epochMetrics.map { name in
                (name, JSON.array(epochRows(name).map { row in
                    JSON.object([("epoch", "\(row.epoch)"), ("values", JSON.array(row.values.map { JSON.num($0) }))])
                }))
            })))
        }
        return JSON.object(pairs)
    }

    // MARK: SVG

    func svg() -> String {
        func series(_ name: String, dashed: Bool, dotted: Bool = false) -> [Series] {
            runs.enumerated().compactMap { i, r in
                let pts = (epochs[r.id] ?? []).compactMap { e in e.metrics[name].map { (x: e.epoch, y: $0) } }
                return pts.isEmpty ? nil : Series(label: "#\(r.id) \(name)", marker: "-", points: pts, dashed: dashed, dotted: dotted, colorIndex: i)
            }
        }
        let panels = [
            SVGPlot.Panel(title: "Loss", yLabel: "loss", series: series("loss", dashed: false) + series("test_loss", dashed: true)
                          + series("val_loss", dashed: false, dotted: true)),
            SVGPlot.Panel(title: "Accuracy", yLabel: "accuracy", series: series("accuracy", dashed: false) + series("test_accuracy", dashed: true)
                          + series("val_accuracy", dashed: false, dotted: true)),
        ]
        let hasValidation = panels.contains { $0.series.contains(where: \.dotted) }
        let legend = runs.enumerated().map { i, r in
            (label: "#\(r.id)" + (r.label.map { " \($0)" } ?? "") + " — \(r.model), lr \(Fmt.lr(r.learningRate)), batch \(r.batchSize)", colorIndex: i)
        }
        let lines = ["Solid lines: training set; dashed lines: test set" + (hasValidation ? "; dotted lines: validation split." : ".")]
            + notes.map { "Note: \($0)." }
        return SVGPlot.render(title: "Runs " + runs.map { "#\($0.id)" }.joined(separator: ", "), panels: panels, legend: legend, notes: lines)
    }
}
