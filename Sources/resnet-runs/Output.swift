/// Terminal styling, aligned text tables, CSV / Markdown / JSON rendering and the number, date
/// and duration formats shared by all commands.
import Foundation
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
struct Table {
    var headers: [String]
    var align: [Align]
    var rows: [[Cell]] = []

    init(_ headers: [String], align: [Align]? = nil) {
        self.headers = headers
        self.align = align ?? headers.map { _ in .left }
    }

    mutating func add(_ row: [Cell]) { rows.append(row) }
    mutating func add(_ row: [String]) { rows.append(row.map { Cell($0) }) }

    func text(style: Style, indent: String = "") -> String {
        var widths = headers.map(\.count)
        for row in rows { for (i, c) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], c.text.count) } }
        func pad(_ s: String, _ i: Int) -> String {
            let fill = String(repeating: " ", count: max(0, widths[i] - s.count))
            return align[i] == .right ? fill + s : s + fill
        }
        func line(_ cells: [Cell], header: Bool) -> String {
            var parts: [String] = []
            for i in 0..<widths.count {
                let cell = i < cells.count ? cells[i] : Cell("")
                // Do not pad the last left-aligned column (no trailing blanks).
                var padded = (i == widths.count - 1 && align[i] == .left) ? cell.text : pad(cell.text, i)
                if header { padded = style.bold(padded) }
                else if cell.kind != .plain {
                    let content = style.apply(cell.kind, cell.text)
                    padded = padded.replacingOccurrences(of: cell.text, with: content)
                }
                parts.append(padded)
            }
            return indent + parts.joined(separator: "  ")
        }
        var out = line(headers.map { Cell($0) }, header: true) + "\n"
        for row in rows { out += line(row, header: false) + "\n" }
        return out
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
    static let canonical = ["loss", "accuracy", "test_loss", "test_accuracy", "seconds", "images_per_second"]

    static func lowerIsBetter(_ name: String) -> Bool {
        let n = name.lowercased()
        return n.contains("loss") || n.contains("error") || n == "seconds" || n.hasSuffix("_seconds") || n.contains("time")
    }

    /// Canonical names first, then the rest alphabetically.
    static func ordered(_ names: Set<String>) -> [String] {
        canonical.filter(names.contains) + names.subtracting(canonical).sorted()
    }
}

/// The width to wrap long lines to: `COLUMNS` when set, else the terminal's; nil when standard
/// output is not a terminal and `COLUMNS` is unset (scripts get one line per item).
enum Terminal {
    static var width: Int? {
        if let text = ProcessInfo.processInfo.environment["COLUMNS"], let n = Int(text), n >= 20 { return n }
        guard isatty(STDOUT_FILENO) != 0 else { return nil }
        var size = winsize()
        if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col >= 20 { return Int(size.ws_col) }
        return 80
    }
}
