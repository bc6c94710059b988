/// `resnet-runs report RUN… --out report.html`: one self-contained HTML file — learning curves
/// (the SVG of `compare --plot`), the compare table, every run's hyperparameters and, for runs
/// given an evaluation file, a confusion matrix and the misclassified test images with their
/// probabilities. Inline CSS and SVG, images as data: URIs, no scripts: it opens offline, in any
/// browser, from an e-mail attachment or a CI artifact.
import ArgumentParser
import CLISupport
import Foundation
import RunStore

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write an HTML report of runs: learning curves, compare table, hyperparameters, evaluations.",
        discussion: """
            The report is one self-contained file: inline CSS and SVG, test images as data: URIs, \
            no scripts, nothing loaded from the network. With one run it has no deltas; with \
            several, the first run is the reference, as in `compare`.

            The confusion matrix and the misclassified test images need the model, which this \
            program does not link. They come from a JSON file per run, given with --evaluation \
            (repeatable; - reads standard input), which `resnet-run evaluate RUN --format json` \
            writes:

              {"run": 3, "classes": ["0", "1", "2", "3", "4", "5"],
               "confusion": [[20, 0, 0, 0, 0, 0], …],
               "misclassified": [{"index": 17, "label": 2, "predicted": 3,
                                  "probabilities": [0.01, 0.02, 0.30, 0.62, 0.03, 0.02],
                                  "png_base64": "iVBORw0KGgo…"}]}

            confusion[i][j] counts the test images of true class i predicted as class j. label and \
            predicted are indices into classes; probabilities has one value per class; png_base64 \
            (optional) is the test image as a base64 PNG. Optional "weights", "epoch" and "data" \
            are shown; other keys are ignored. The run must be one of the reported runs.

            Examples:
              resnet-runs report last
              resnet-runs report baseline 3-5 --out runs.html
              resnet-runs report 3 --evaluation eval3.json --out - > report.html
              resnet-run evaluate 3 --format json | resnet-runs report 3 --evaluation -
            """)

    @OptionGroup var store: StoreOptions

    @Argument(help: ArgumentHelp("Runs: ids, ranges (3-7), last, -1, -2, … or labels (at least one).", valueName: "run"))
    var runs: [String] = []

    @Option(name: .long, help: ArgumentHelp("Output file, *.html (- : standard output).", valueName: "file.html"))
    var out = "report.html"

    @Option(name: .long, parsing: .singleValue,
            help: ArgumentHelp("Confusion matrix and misclassified images of one run, as JSON (repeatable; format above; - : standard input).", valueName: "file.json"))
    var evaluation: [String] = []

    func validate() throws {
        guard !runs.isEmpty else { throw CLIError("report needs at least one run (an id, a range like 3-7, last, -1 or a label)") }
        if evaluation.filter({ $0 == "-" }).count > 1 { throw CLIError("--evaluation -: standard input can be read only once") }
        if evaluation.contains("-") && out == "-" {
            throw CLIError("--evaluation - and --out -: standard input and output are both taken; write the report to a file")
        }
    }

    func run() throws {
        try checkOutputPath(out, flag: "--out")
        if out != "-", !(out.lowercased().hasSuffix(".html") || out.lowercased().hasSuffix(".htm")) {
            throw CLIError("--out: \(out): the report is HTML; name the file *.html (or - for standard output)")
        }
        let evaluations = try evaluation.map(Evaluation.load)
        let now = try currentDate()
        let db = try store.open(readOnly: true)
        let ids = try RunSelector.resolve(runs, in: db)
        var seen: [Int64: String] = [:]
        for (e, path) in zip(evaluations, evaluation) {
            guard ids.contains(e.run) else {
                throw CLIError("--evaluation \(path): run \(e.run) is not in this report (runs \(ids.map(String.init).joined(separator: ", ")))")
            }
            if let first = seen[e.run] { throw CLIError("--evaluation \(path): run \(e.run) already has an evaluation (\(first))") }
            seen[e.run] = path
        }
        let records = try ids.map { try db.run($0, now: now) }
        let model = Comparison(runs: records, epochs: try db.epochs(runs: ids), now: now, perEpochMetrics: [])
        let html = ReportHTML.render(model, evaluations: evaluations, storePath: db.path)
        try writeAtomically(Data(html.utf8), to: out, flag: "--out")
        if out != "-" {
            let e = evaluations.count
            writeStdout("Wrote \(out) (\(records.count) run\(records.count == 1 ? "" : "s"), \(e) evaluation\(e == 1 ? "" : "s"), \(Fmt.bytes(Int64(html.utf8.count))))\n")
        }
    }
}

/// One run's evaluation on its test set, as read from `--evaluation FILE` (format in `report --help`).
struct Evaluation {
    struct Miss {
        var index: Int
        var label: Int
        var predicted: Int
        var probabilities: [Double]
        var png: Data?
    }

    var run: Int64
    var classes: [String]
    var confusion: [[Int]]
    var misclassified: [Miss]
    var weights: String?
    var epoch: Int?
    var data: String?

    var total: Int { confusion.reduce(0) { $0 + $1.reduce(0, +) } }
    var correct: Int { confusion.indices.reduce(0) { $0 + confusion[$1][$1] } }

    /// Reads and checks one file; every problem is one line naming the file.
    static func load(_ path: String) throws -> Evaluation {
        func fail(_ why: String) -> CLIError { CLIError("--evaluation \(path): \(why)") }
        let bytes: Data
        if path == "-" {
            // `resnet-run evaluate RUN --format json | resnet-runs report RUN --evaluation -`
            bytes = FileHandle.standardInput.readDataToEndOfFile()
            guard !bytes.isEmpty else { throw fail("standard input is empty (pipe resnet-run evaluate RUN --format json into it)") }
        } else {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw fail("no such file") }
            guard !isDir.boolValue else { throw fail("is a directory") }
            guard let contents = FileManager.default.contents(atPath: path) else { throw fail("cannot read the file") }
            bytes = contents
        }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: bytes) } catch {
            throw fail("not valid JSON (\(oneLine(error)))")
        }
        do { return try parse(object) } catch let why as Why { throw fail(why.text) }
    }

    struct Why: Error { var text: String; init(_ text: String) { self.text = text } }

    static func oneLine(_ error: Error) -> String {
        let ns = error as NSError
        let text = (ns.userInfo[NSDebugDescriptionErrorKey] as? String) ?? ns.localizedDescription
        return text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    /// A JSON number (not a boolean, which Foundation also hands over as an NSNumber).
    static func number(_ value: Any?) -> Double? {
        guard let value, type(of: value) != Bool.self, let n = value as? NSNumber else { return nil }
        return String(cString: n.objCType) == "c" ? nil : n.doubleValue
    }

    static func parse(_ object: Any) throws -> Evaluation {
        guard let top = object as? [String: Any] else { throw Why("expected a JSON object {\"run\": …, \"classes\": …, \"confusion\": …}") }
        func int(_ value: Any?, _ name: String) throws -> Int {
            guard let n = number(value), let i = Int(exactly: n) else {
                throw Why("\(name) must be an integer")
            }
            return i
        }
        guard top["run"] != nil else { throw Why("missing \"run\" (the run id)") }
        let run = try int(top["run"], "\"run\"")
        guard run > 0 else { throw Why("\"run\" must be a positive run id, got \(run)") }
        guard let rawClasses = top["classes"] as? [Any], !rawClasses.isEmpty else { throw Why("\"classes\" must be a non-empty array of class names") }
        let classes = try rawClasses.enumerated().map { i, c -> String in
            if let s = c as? String { return s }
            if let n = number(c) { return Fmt.lr(n) }
            throw Why("classes[\(i)] must be a string or a number")
        }
        let k = classes.count
        guard let rows = top["confusion"] as? [Any] else { throw Why("\"confusion\" must be an array of \(k) rows") }
        guard rows.count == k else { throw Why("\"confusion\" has \(rows.count) rows, expected \(k) (one per class)") }
        let confusion = try rows.enumerated().map { i, row -> [Int] in
            guard let cells = row as? [Any], cells.count == k else { throw Why("confusion[\(i)] must be an array of \(k) counts") }
            return try cells.enumerated().map { j, c in
                let n = try int(c, "confusion[\(i)][\(j)]")
                guard n >= 0 else { throw Why("confusion[\(i)][\(j)] is negative (\(n))") }
                return n
            }
        }
        let rawMisses = top["misclassified"] ?? []
        guard let misses = rawMisses as? [Any] else { throw Why("\"misclassified\" must be an array") }
        let misclassified = try misses.enumerated().map { i, m -> Miss in
            let at = "misclassified[\(i)]"
            guard let m = m as? [String: Any] else { throw Why("\(at) must be an object") }
            let index = try int(m["index"], "\(at).index")
            let label = try int(m["label"], "\(at).label")
            let predicted = try int(m["predicted"], "\(at).predicted")
            for (name, v) in [("label", label), ("predicted", predicted)] where !(0..<k).contains(v) {
                throw Why("\(at).\(name) is \(v), not a class index (0-\(k - 1))")
            }
            guard label != predicted else { throw Why("\(at): label and predicted are both \(label), so it is not misclassified") }
            guard let ps = m["probabilities"] as? [Any], ps.count == k else { throw Why("\(at).probabilities must be an array of \(k) numbers") }
            let probabilities = try ps.map { p -> Double in
                guard let n = number(p), n.isFinite, n >= 0, n <= 1 else {
                    throw Why("\(at).probabilities must be numbers between 0 and 1")
                }
                return n
            }
            var png: Data?
            if let text = m["png_base64"], !(text is NSNull) {
                guard let s = text as? String, let data = Data(base64Encoded: s, options: .ignoreUnknownCharacters) else {
                    throw Why("\(at).png_base64 is not base64")
                }
                guard data.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else { throw Why("\(at).png_base64 is not a PNG image") }
                png = data
            }
            return Miss(index: index, label: label, predicted: predicted, probabilities: probabilities, png: png)
        }
        func optionalString(_ key: String) -> String? {
            if let s = top[key] as? String { return s }
            if let n = number(top[key]) { return Fmt.lr(n) }
            return nil
        }
        return Evaluation(run: Int64(run), classes: classes, confusion: confusion, misclassified: misclassified,
                          weights: optionalString("weights"), epoch: number(top["epoch"]).flatMap { Int(exactly: $0) },
                          data: optionalString("data"))
    }
}

/// The report's HTML. Every string that comes from the store or an evaluation file is escaped.
enum ReportHTML {
    static func esc(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    static let css = """
        :root { color-scheme: light; }
        body { font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif; font-size: 14px;
               color: #222; background: #fff; margin: 24px auto; max-width: 1180px; padding: 0 16px; line-height: 1.4; }
        h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; }
        h3 { font-size: 15px; margin: 18px 0 6px; }
        .meta, .hint { color: #666; } .note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 6px 10px; }
        table { border-collapse: collapse; margin: 4px 0 8px; }
        th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
        thead th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
        td.best { color: #1a7f37; font-weight: bold; } tr.differs th { background: #fff3c4; }
        code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px; word-break: break-all; }
        .swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
        #curves svg { max-width: 100%; height: auto; }
        table.confusion td { text-align: right; min-width: 36px; font-variant-numeric: tabular-nums; }
        .grid { display: flex; flex-wrap: wrap; gap: 12px; }
        figure.miss { margin: 0; border: 1px solid #ddd; border-radius: 4px; padding: 8px; width: 210px; }
        figure.miss img { width: 96px; height: 96px; image-rendering: pixelated; display: block; margin: 0 auto 6px; border: 1px solid #ccc; }
        figure.miss .noimage { width: 96px; height: 96px; margin: 0 auto 6px; background: #eee; color: #777; display: flex;
                               align-items: center; justify-content: center; font-size: 11px; }
        table.probs { width: 100%; font-size: 12px; } table.probs td { border: none; padding: 1px 3px; }
        table.probs tr.label td:first-child { font-weight: bold; color: #1a7f37; } table.probs tr.predicted td:first-child { font-weight: bold; color: #c62828; }
        .bar { display: block; height: 9px; background: #90a4ae; } tr.label .bar { background: #2ca02c; } tr.predicted .bar { background: #d62728; }
        details { margin: 6px 0; } summary { cursor: pointer; }
        """

    static func render(_ model: Comparison, evaluations: [Evaluation], storePath: String) -> String {
        let runs = model.runs
        let runList = runs.map { "#\($0.id)" + ($0.label.map { " " + $0 } ?? "") }.joined(separator: ", ")
        var h = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(esc("Runs " + runList))</title>
            <style>
            \(css)
            </style>
            </head>
            <body>
            <header>
            <h1>\(esc((runs.count == 1 ? "Run " : "Runs ") + runList))</h1>
            <p class="meta">resnet-runs report of \(esc(storePath)), \(esc(Fmt.iso(model.now) ?? ""))\(runs.count > 1 ? "; the reference for deltas is #\(runs[0].id)" : "").</p>
            </header>

            """
        for note in model.notes { h += "<p class=\"note\">Note: \(esc(note)).</p>\n" }

        // Learning curves: the SVG of `compare --plot`, inline (without its XML declaration).
        var svg = model.svg()
        if svg.hasPrefix("<?xml"), let end = svg.firstIndex(of: "\n") { svg = String(svg[svg.index(after: end)...]) }
        h += "<section id=\"curves\">\n<h2>Learning curves</h2>\n\(svg)</section>\n"

        // Runs.
        h += "<section id=\"runs\">\n<h2>Runs</h2>\n<table id=\"runs-table\">\n<thead><tr><th>Run</th><th>Status</th><th>Label</th><th>Model</th><th>Dataset</th><th>Started (UTC)</th><th>Duration</th><th>Epochs</th><th>Notes</th></tr></thead>\n<tbody>\n"
        for (i, r) in runs.enumerated() {
            let color = SVGPlot.palette[i % SVGPlot.palette.count]
            let status = r.status.rawValue + (r.statusReason.map { " (\($0))" } ?? "")
            h += "<tr><td><span class=\"swatch\" style=\"background:\(color)\"></span>#\(r.id)</td><td>\(esc(status))</td><td>\(esc(r.label ?? "-"))</td>"
            h += "<td>\(esc(r.model))</td><td><code>\(esc(r.datasetPath))</code></td><td>\(esc(Fmt.iso(r.startedAt) ?? ""))</td>"
            h += "<td class=\"num\">\(esc(Fmt.duration(r.duration(now: model.now))))</td><td class=\"num\">\(r.epochsDone)/\(r.epochsPlanned)</td><td>\(esc(r.notes ?? ""))</td></tr>\n"
        }
        h += "</tbody>\n</table>\n</section>\n"

        // The compare table.
        let heads = model.runHeaders.map { "<th>\(esc($0))</th>" }.joined()
        h += "<section id=\"metrics\">\n<h2>Metrics</h2>\n"
        h += runs.count > 1 ? "<p class=\"hint\">In brackets: the difference to #\(runs[0].id). ★ marks the best value of each row.</p>\n" : ""
        h += "<table id=\"compare-table\">\n<thead><tr><th>Metric</th>\(heads)</tr></thead>\n<tbody>\n"
        for row in model.summary {
            h += "<tr><th>\(esc(row.name))</th>"
            for i in runs.indices {
                h += "<td class=\"num\(row.bestIndex == i ? " best" : "")\">\(esc(model.cellText(row, i, arrows: true)))</td>"
            }
            h += "</tr>\n"
        }
        h += "</tbody>\n</table>\n</section>\n"

        // Hyperparameters: all of them, the ones that differ highlighted.
        h += "<section id=\"parameters\">\n<h2>Hyperparameters</h2>\n"
        h += runs.count > 1 ? "<p class=\"hint\">Highlighted: parameters that differ between the runs.</p>\n" : ""
        h += "<table id=\"parameters-table\">\n<thead><tr><th>Parameter</th>\(heads)</tr></thead>\n<tbody>\n"
        for p in model.params + [(name: "command_line", values: runs.map(\.commandLine))] {
            let differs = runs.count > 1 && Set(p.values).count > 1
            h += "<tr\(differs ? " class=\"differs\"" : "")><th>\(esc(p.name))</th>"
            h += p.values.map { p.name == "command_line" ? "<td><code>\(esc($0))</code></td>" : "<td>\(esc($0))</td>" }.joined() + "</tr>\n"
        }
        h += "</tbody>\n</table>\n</section>\n"

        // Per-epoch values, folded.
        if !model.epochMetrics.isEmpty {
            h += "<section id=\"epochs\">\n<h2>Per-epoch metrics</h2>\n"
            for name in model.epochMetrics {
                h += "<details><summary>\(esc(name))</summary>\n<table>\n<thead><tr><th>Epoch</th>"
                h += runs.map { "<th>#\($0.id)</th>" }.joined() + "</tr></thead>\n<tbody>\n"
                for row in model.epochRows(name) {
                    h += "<tr><td class=\"num\">\(row.epoch)</td>" + row.values.map { "<td class=\"num\">\(esc(Fmt.metric($0, name: name)))</td>" }.joined() + "</tr>\n"
                }
                h += "</tbody>\n</table>\n</details>\n"
            }
            h += "</section>\n"
        }

        // Evaluations, in the order of the runs.
        for r in runs {
            guard let e = evaluations.first(where: { $0.run == r.id }) else { continue }
            h += evaluationSection(e, run: r)
        }
        h += "</body>\n</html>\n"
        return h
    }

    static func evaluationSection(_ e: Evaluation, run r: RunRecord) -> String {
        let name = "#\(r.id)" + (r.label.map { " " + $0 } ?? "")
        var h = "<section id=\"evaluation-\(r.id)\" class=\"evaluation\">\n<h2>Evaluation of run \(esc(name))</h2>\n"
        var facts: [String] = []
        if e.total > 0 {
            facts.append(String(format: "accuracy %.4f", Double(e.correct) / Double(e.total)) + " (\(e.correct)/\(e.total))")
        }
        if let w = e.weights { facts.append("\(w) weights" + (e.epoch.map { " of epoch \($0)" } ?? "")) }
        else if let epoch = e.epoch { facts.append("weights of epoch \(epoch)") }
        if let d = e.data { facts.append("test set \(d)") }
        if !facts.isEmpty { h += "<p>\(esc(facts.joined(separator: "; ")))</p>\n" }

        h += "<h3>Confusion matrix</h3>\n<p class=\"hint\">Rows: true class; columns: predicted class. Shading: share of the row.</p>\n"
        h += "<table class=\"confusion\">\n<thead><tr><th>true \\ predicted</th>"
        h += e.classes.map { "<th>\(esc($0))</th>" }.joined() + "<th>recall</th></tr></thead>\n<tbody>\n"
        for (i, row) in e.confusion.enumerated() {
            let total = row.reduce(0, +)
            h += "<tr><th>\(esc(e.classes[i]))</th>"
            for (j, n) in row.enumerated() {
                let share = total == 0 ? 0 : Double(n) / Double(total)
                let rgb = i == j ? "44,160,44" : "214,39,40"
                let style = n == 0 ? "" : String(format: " style=\"background:rgba(\(rgb),%.2f)\"", 0.12 + 0.6 * share)
                h += "<td\(style)>\(n)</td>"
            }
            h += "<td>" + (total == 0 ? "-" : String(format: "%.3f", Double(row[i]) / Double(total))) + "</td></tr>\n"
        }
        h += "</tbody>\n</table>\n"

        h += "<h3>Misclassified test images (\(e.misclassified.count))</h3>\n"
        if e.misclassified.isEmpty {
            h += "<p class=\"hint\">None listed.</p>\n"
        } else {
            h += "<div class=\"grid\">\n"
            for m in e.misclassified {
                let p = m.probabilities[m.predicted]
                h += "<figure class=\"miss\">"
                if let png = m.png {
                    h += "<img alt=\"test image \(m.index)\" src=\"data:image/png;base64,\(png.base64EncodedString())\">"
                } else {
                    h += "<div class=\"noimage\">no image</div>"
                }
                h += "<figcaption>test image \(m.index): true <b>\(esc(e.classes[m.label]))</b>, predicted <b>\(esc(e.classes[m.predicted]))</b>"
                h += String(format: " (p = %.3f)", p) + "</figcaption>\n<table class=\"probs\">"
                for (c, q) in m.probabilities.enumerated() {
                    let cls = c == m.label ? " class=\"label\"" : c == m.predicted ? " class=\"predicted\"" : ""
                    h += "<tr\(cls)><td>\(esc(e.classes[c]))</td><td style=\"width:60%\"><span class=\"bar\" style=\"width:\(String(format: "%.1f", q * 100))%\"></span></td>"
                    h += "<td class=\"num\">\(String(format: "%.3f", q))</td></tr>"
                }
                h += "</table></figure>\n"
            }
            h += "</div>\n"
        }
        return h + "</section>\n"
    }
}
