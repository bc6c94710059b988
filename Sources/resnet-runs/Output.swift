/// Terminal styling, aligned text tables, CSV / Markdown / JSON rendering and the number, date
/// and duration formats shared by all commands.
import CLISupport
import Foundation
import TerminalText
import RunStore
#if canImport(Glibc)
import Glibc
#endif

/// ANSI styling, enabled only for a terminal without NO_COLOR (and not TERM=dumb).
struct Style {
    let enabled: Bool

    static func forStdout() -> Style {
        let env = ProcessInfo.processInfo.environment
        let noColor = !(env["NO_COLOR"] ?? "").isEmpty
        return Style(enabled: isatty(STDOUT_FILENO) != 0 && !noColor && env["TERM"] != "dumb")
    }

    enum Kind { case plain, bold, dim, red, green, yellow, cyan, blue, magenta }

    func apply(_ kind: Kind, _ text: String) -> String {
        guard enabled, kind != .plain, !text.isEmpty else { return text }
        let code: String
        switch kind {
        case .plain: return text
        case .bold: code = "1"
        case .dim: code = "2"
        case .red: code = "31"
        case .green: code = "32"
        case .yellow: code = "33"
        case .blue: code = "34"
        case .magenta: code = "35"
        case .cyan: code = "36"
        }
        return "\u{1B}[\(code)m\(text)\u{1B}[0m"
    }

    func bold(_ s: String) -> String { apply(.bold, s) }

    static func statusKind(_ status: RunStatus) -> Kind {
        switch status {
        case .running: return .cyan
        case .completed: return .green
        case .interrupted: return .yellow
        case .failed, .crashed, .diverged: return .red
        case .imported: return .blue
        }
    }

    static let seriesKinds: [Kind] = [.cyan, .yellow, .magenta, .green, .blue, .red]
}

struct Cell {
    var text: String
    var kind: Style.Kind = .plain
    init(_ text: String, _ kind: Style.Kind = .plain) { self.text = text; self.kind = kind }
}

enum Align { case left, right }

/// A table rendered as aligned text, CSV or Markdown.
///
/// Text is aligned by display width (a CJK label takes two columns per character) and fitted to
/// `width` (the terminal's, or COLUMNS; nil for a pipe: nothing is cut): first the `shrinkable`
/// columns are cut down to their minimum (cells end in …), then `overflow` decides — `.drop`
/// leaves out whole columns in the given order (and `hidden` names them), `.fold` prints the
/// columns after the first `keep` in several blocks, each repeating the first `keep` columns.
struct Table {
    var headers: [String]
    var align: [Align]
    var rows: [[Cell]] = []
    /// Column index → the narrowest it may be cut to.
    var shrinkable: [Int: Int] = [:]
    var overflow: Overflow = .fold(keep: 1)

    enum Overflow {
        case drop([Int])
        case fold(keep: Int)
    }

    init(_ headers: [String], align: [Align]? = nil) {
        self.headers = headers
        self.align = align ?? headers.map { _ in .left }
    }

    mutating func add(_ row: [Cell]) { rows.append(row) }
    mutating func add(_ row: [String]) { rows.append(row.map { Cell($0) }) }

    /// Lets the headers of `columns` be cut to the width of their widest value (never the values).
    mutating func headersMayBeCut(_ columns: [Int]) {
        for c in columns {
            let widest = rows.map { c < $0.count ? DisplayWidth.of($0[c].text) : 0 }.max() ?? 0
            shrinkable[c] = max(3, widest)
        }
    }

    /// The columns left out by `.drop` when the table was last fitted to `width`.
    func hidden(width: Int?, indent: String = "") -> [String] {
        layout(width: width, indent: indent).hidden.map { headers[$0] }
    }

    func text(style: Style, indent: String = "", width: Int? = nil) -> String {
        let plan = layout(width: width, indent: indent)
        func line(_ cells: [Cell], header: Bool, _ columns: [Int]) -> String {
            var parts: [String] = []
            for (k, i) in columns.enumerated() {
                let cell = i < cells.count ? cells[i] : Cell("")
                let text = DisplayWidth.truncate(cell.text, to: plan.widths[i])
                let fill = String(repeating: " ", count: max(0, plan.widths[i] - DisplayWidth.of(text)))
                let styled = header ? style.bold(text) : style.apply(cell.kind, text)
                // The last left-aligned column is not padded (no trailing blanks).
                if align[i] == .right { parts.append(fill + styled) }
                else { parts.append(k == columns.count - 1 ? styled : styled + fill) }
            }
            return indent + parts.joined(separator: "  ")
        }
        var blocks: [String] = []
        for columns in plan.blocks {
            var out = line(headers.map { Cell($0) }, header: true, columns) + "\n"
            for row in rows { out += line(row, header: false, columns) + "\n" }
            blocks.append(out)
        }
        var out = blocks.joined(separator: "\n")
        if let width {
            // Last resort (a single column wider than the terminal): cut the line.
            out = out.split(separator: "\n", omittingEmptySubsequences: false).map { l in
                DisplayWidth.of(String(l)) > width ? DisplayWidth.truncate(String(l), to: width) : String(l)
            }.joined(separator: "\n")
        }
        return out
    }

    /// Column widths after shrinking, the blocks of columns to print, the columns dropped.
    func layout(width: Int?, indent: String) -> (widths: [Int], blocks: [[Int]], hidden: [Int]) {
        var widths = headers.map(DisplayWidth.of)
        for row in rows { for (i, c) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], DisplayWidth.of(c.text)) } }
        let natural = widths
        let all = Array(headers.indices)
        guard let width else { return (widths, [all], []) }
        let indentWidth = DisplayWidth.of(indent)
        func total(_ columns: [Int]) -> Int {
            indentWidth + columns.reduce(0) { $0 + widths[$1] } + 2 * max(0, columns.count - 1)
        }
        // Cut the widest shrinkable column first, one column at a time, down to its minimum.
        while total(all) > width {
            let candidates = shrinkable.filter { widths[$0.key] > $0.value }
            guard let (column, minimum) = candidates.max(by: { widths[$0.key] < widths[$1.key] }) else { break }
            widths[column] = max(minimum, widths[column] - (total(all) - width))
        }
        guard total(all) > width else { return (widths, [all], []) }
        switch overflow {
        case .drop(let order):
            var columns = all, hidden: [Int] = []
            for c in order where total(columns) > width {
                columns.removeAll { $0 == c }
                hidden.append(c)
            }
            // Give the room the dropped columns left back to the columns that were cut.
            for c in columns where widths[c] < natural[c] {
                widths[c] = min(natural[c], widths[c] + max(0, width - total(columns)))
            }
            return (widths, [columns], hidden)
        case .fold(let keep):
            let fixed = Array(all.prefix(keep))
            var blocks: [[Int]] = [], current = fixed
            for c in all.dropFirst(keep) {
                if current.count > fixed.count && total(current + [c]) > width {
                    blocks.append(current)
                    current = fixed
                }
                current.append(c)
            }
            blocks.append(current)
            // Give each block's spare room back to its own columns that were cut.
            for block in blocks {
                for c in block.dropFirst(keep) where widths[c] < natural[c] {
                    widths[c] = min(natural[c], widths[c] + max(0, width - total(block)))
                }
            }
            return (widths, blocks, [])
        }
    }

    func csv() -> String {
        var out = headers.map(CSV.field).joined(separator: ",") + "\n"
        for row in rows { out += row.map { CSV.field($0.text) }.joined(separator: ",") + "\n" }
        return out
    }

    func markdown() -> String {
        func esc(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ") }
        var out = "| " + headers.map(esc).joined(separator: " | ") + " |\n"
        out += "|" + align.map { $0 == .right ? " ---: |" : " --- |" }.joined() + "\n"
        for row in rows { out += "| " + row.map { esc($0.text) }.joined(separator: " | ") + " |\n" }
        return out
    }
}

enum CSV {
    static func field(_ s: String) -> String {
        if s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
            return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return s
    }
}

/// JSON building by hand (stable key order, NaN-safe numbers).
enum JSON {
    static func str(_ s: String?) -> String { s.map(JSONText.quote) ?? "null" }
    static func num(_ v: Double?) -> String { v.map(JSONText.number) ?? "null" }
    static func int<I: BinaryInteger>(_ v: I?) -> String { v.map { "\($0)" } ?? "null" }
    static func object(_ pairs: [(String, String)]) -> String {
        "{" + pairs.map { JSONText.quote($0.0) + ": " + $0.1 }.joined(separator: ", ") + "}"
    }
    static func array(_ items: [String]) -> String { "[" + items.joined(separator: ", ") + "]" }
}

enum Fmt {
    /// Local time, minute precision ("2025-03-14 09:26").
    static func date(_ d: Date) -> String {
        var t = time_t(d.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        localtime_r(&t, &parts)
        return String(format: "%04d-%02d-%02d %02d:%02d", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                      Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min))
    }

    /// UTC ISO 8601 ("2025-03-14T09:26:53Z").
    static func iso(_ d: Date?) -> String? {
        guard let d else { return nil }
        var t = time_t(d.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&t, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                      Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }

    static func duration(_ seconds: TimeInterval) -> String {
        let s = Int(seconds.rounded())
        if s < 60 { return "\(s)s" }
        if s < 3600 { return String(format: "%dm%02ds", s / 60, s % 60) }
        if s < 86400 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
        return String(format: "%dd%02dh", s / 86400, (s % 86400) / 3600)
    }

    /// Shortest exact spelling ("0.00015", "1e-05").
    static func lr(_ v: Double) -> String {
        var s = "\(v)"
        if s.hasSuffix(".0") { s.removeLast(2) }
        return s
    }

    static func metric(_ v: Double?, name: String = "") -> String {
        guard let v else { return "-" }
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "inf" : "-inf" }
        if name == "seconds" || name == "images_per_second" || abs(v) >= 1000 { return String(format: "%.1f", v) }
        return String(format: "%.4f", v)
    }

    static func delta(_ v: Double, name: String) -> String {
        if v == 0 { return "±0" }
        let body = metric(abs(v), name: name)
        return (v > 0 ? "+" : "-") + body
    }

    static func bytes(_ n: Int64) -> String { RunStoreError.bytes(n) }

    static func shortHash(_ s: String?) -> String {
        guard let s, !s.isEmpty else { return "-" }
        return s.count > 12 ? String(s.prefix(12)) : s
    }

    static func datasetName(_ path: String) -> String {
        let name = PathNames.file(of: path)
        return name.isEmpty ? path : name
    }
}

/// Metric conventions: which direction is better, and the canonical display order.
enum Metrics {
    /// Keras' order (train, then validation), then test and timings.
    static let canonical = ["loss", "accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy", "seconds", "images_per_second"]

    /// The metric that chose a run's best epoch: its `best_by` hyperparameter (runs recorded
    /// before it existed were chosen by test accuracy).
    static func bestBy(_ r: RunRecord) -> String { r.hyperparameters["best_by"] ?? "test_accuracy" }

    static func lowerIsBetter(_ name: String) -> Bool {
        let n = name.lowercased()
        return n.contains("loss") || n.contains("error") || n == "seconds" || n.hasSuffix("_seconds") || n.contains("time")
    }

    /// Canonical names first, then the rest alphabetically.
    static func ordered(_ names: Set<String>) -> [String] {
        canonical.filter(names.contains) + names.subtracting(canonical).sorted()
    }
}


/// Free text fitted to `width` (nil: as it is): long lines are wrapped at spaces, continuation
/// lines indented like the line's own indentation plus two spaces.
func fitted(_ text: String, width: Int?) -> String {
    guard let width else { return text }
    var out: [String] = []
    let endsWithNewline = text.hasSuffix("\n")
    for line in (endsWithNewline ? String(text.dropLast()) : text).split(separator: "\n", omittingEmptySubsequences: false) {
        let l = String(line)
        if DisplayWidth.of(l) <= width { out.append(l); continue }
        let lead = String(l.prefix { $0 == " " })
        out += DisplayWidth.wrap(l, width: width, indent: lead + "  ")
    }
    return out.joined(separator: "\n") + (endsWithNewline ? "\n" : "")
}
