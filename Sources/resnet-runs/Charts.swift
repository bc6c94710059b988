/// Learning-curve charts: a small character-cell chart for the terminal, and an SVG with two
/// panels (loss, accuracy), axes, ticks, grid, labels and a legend for `compare --plot`.
import CLISupport
import Foundation
import TerminalText

struct Series {
    var label: String
    var marker: Character
    var points: [(x: Int, y: Double)]
    var dashed = false
    /// Validation curves (SVG: dotted).
    var dotted = false
    var colorIndex = 0
}

enum TextChart {
    /// Renders points of all series into a `height` × `width` grid with y labels and an epoch axis;
    /// `maxWidth` (the terminal's) narrows the grid so that no line is wider.
    static func render(title: String, series: [Series], width: Int = 56, height: Int = 10, style: Style,
                       maxWidth: Int? = nil) -> String {
        let finite = series.flatMap { $0.points.filter { $0.y.isFinite } }
        guard !finite.isEmpty else { return "" }
        var ymin = finite.map(\.y).min()!, ymax = finite.map(\.y).max()!
        if ymin == ymax { let pad = ymin == 0 ? 0.5 : abs(ymin) * 0.1; ymin -= pad; ymax += pad }
        let xmin = finite.map(\.x).min()!, xmax = finite.map(\.x).max()!
        let labelWidth = [ymax, ymin, (ymax + ymin) / 2].map { String(format: "%.4g", $0).count }.max() ?? 0
        let room = maxWidth.map { max(2, $0 - labelWidth - 2) } ?? width
        let cols = xmax == xmin ? 1 : min(width, room, max(2, (xmax - xmin) * 2 + 1))
        var grid = Array(repeating: Array(repeating: (Character(" "), -1), count: cols), count: height)
        for (si, s) in series.enumerated() {
            for p in s.points where p.y.isFinite {
                let c = xmax == xmin ? 0 : Int((Double(p.x - xmin) / Double(xmax - xmin) * Double(cols - 1)).rounded())
                let r = Int(((ymax - p.y) / (ymax - ymin) * Double(height - 1)).rounded())
                let existing = grid[r][c]
                grid[r][c] = (existing.1 >= 0 && existing.1 != si) ? ("*", -2) : (s.marker, si)
            }
        }
        let labels = (0..<height).map { r -> String in
            guard r == 0 || r == height - 1 || r == height / 2 else { return "" }
            let v = ymax - (ymax - ymin) * Double(r) / Double(height - 1)
            return String(format: "%.4g", v)
        }
        let lw = labels.map(\.count).max() ?? 0
        let legend = series.map { "\($0.marker) \($0.label)" }.joined(separator: "   ")
        var out = fitted(title + "   " + legend + "\n", width: maxWidth)
        if style.enabled, out.hasPrefix(title) { out = style.bold(title) + out.dropFirst(title.count) }
        for r in 0..<height {
            let label = String(repeating: " ", count: lw - labels[r].count) + labels[r]
            var line = label + (labels[r].isEmpty ? " │" : " ┤")
            for (ch, si) in grid[r] {
                if si >= 0 { line += style.apply(Style.seriesKinds[series[si].colorIndex % Style.seriesKinds.count], String(ch)) }
                else { line += String(ch) }
            }
            while line.hasSuffix(" ") { line.removeLast() }
            out += line + "\n"
        }
        out += String(repeating: " ", count: lw + 1) + "└" + String(repeating: "─", count: cols) + "\n"
        // Epoch labels at the start and end of the axis.
        let first = String(xmin), last = String(xmax)
        var axis = String(repeating: " ", count: lw + 2) + first
        if xmax != xmin {
            let gap = max(1, cols - first.count - last.count)
            axis += String(repeating: " ", count: gap) + last
        }
        out += axis + "  epoch\n"
        return out
    }
}

/// An SVG document with one panel per metric group, e.g. loss and accuracy.
enum SVGPlot {
    struct Panel {
        var title: String
        var yLabel: String
        var series: [Series]
    }

    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// "Nice" tick values covering lo...hi.
    static func ticks(_ lo: Double, _ hi: Double, count: Int = 6) -> [Double] {
        guard hi > lo else { return [lo] }
        let raw = (hi - lo) / Double(count)
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2.0, 2.5, 5.0, 10.0].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
        var out: [Double] = []
        var v = (lo / step).rounded(.up) * step
        while v <= hi + step * 1e-9 { out.append(abs(v) < step * 1e-9 ? 0 : v); v += step }
        return out
    }

    static func fmt(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e6 { return String(Int(v)) }
        var s = String(format: "%.4g", v)
        if s.contains(".") && !s.contains("e") { while s.hasSuffix("0") { s.removeLast() } }
        return s
    }

    static func render(title: String, panels: [Panel], legend: [(label: String, colorIndex: Int)], notes: [String]) -> String {
        let panelW = 440.0, panelH = 300.0, marginL = 70.0, marginT = 60.0, gap = 90.0
        let legendRows = Double((legend.count + 2) / 3)
        let width = marginL + Double(panels.count) * panelW + Double(panels.count - 1) * gap + 30
        let height = marginT + panelH + 60 + 22 * legendRows + 20 + 18 * Double(notes.count) + 10
        var svg = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(Int(width / 2))" y="24" text-anchor="middle" font-size="16" font-weight="bold">\(esc(title))</text>

            """
        for (pi, panel) in panels.enumerated() {
            let x0 = marginL + Double(pi) * (panelW + gap), y0 = marginT
            let points = panel.series.flatMap { $0.points.filter { $0.y.isFinite } }
            svg += "<g>\n<text x=\"\(x0 + panelW / 2)\" y=\"\(y0 - 12)\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">\(esc(panel.title))</text>\n"
            svg += "<rect x=\"\(x0)\" y=\"\(y0)\" width=\"\(panelW)\" height=\"\(panelH)\" fill=\"none\" stroke=\"#333\"/>\n"
            guard !points.isEmpty else {
                svg += "<text x=\"\(x0 + panelW / 2)\" y=\"\(y0 + panelH / 2)\" text-anchor=\"middle\" fill=\"#777\">no data</text>\n</g>\n"
                continue
            }
            var xmin = Double(points.map(\.x).min()!), xmax = Double(points.map(\.x).max()!)
            if xmin == xmax { xmin -= 1; xmax += 1 }
            var ymin = points.map(\.y).min()!, ymax = points.map(\.y).max()!
            if ymin == ymax { ymin -= 0.5; ymax += 0.5 }
            let ypad = (ymax - ymin) * 0.05
            ymin -= ypad; ymax += ypad
            func sx(_ x: Double) -> Double { x0 + (x - xmin) / (xmax - xmin) * panelW }
            func sy(_ y: Double) -> Double { y0 + panelH - (y - ymin) / (ymax - ymin) * panelH }
            for t in ticks(ymin, ymax) {
                let y = sy(t)
                svg += "<line x1=\"\(x0)\" y1=\"\(y)\" x2=\"\(x0 + panelW)\" y2=\"\(y)\" stroke=\"#e5e5e5\"/>"
                svg += "<text x=\"\(x0 - 6)\" y=\"\(y + 4)\" text-anchor=\"end\">\(fmt(t))</text>\n"
            }
            for t in ticks(xmin, xmax, count: 6) where t == t.rounded() {
                let x = sx(t)
                svg += "<line x1=\"\(x)\" y1=\"\(y0 + panelH)\" x2=\"\(x)\" y2=\"\(y0 + panelH + 5)\" stroke=\"#333\"/>"
                svg += "<text x=\"\(x)\" y=\"\(y0 + panelH + 18)\" text-anchor=\"middle\">\(fmt(t))</text>\n"
            }
            svg += "<text x=\"\(x0 + panelW / 2)\" y=\"\(y0 + panelH + 38)\" text-anchor=\"middle\">epoch</text>\n"
            svg += "<text transform=\"translate(\(x0 - 50),\(y0 + panelH / 2)) rotate(-90)\" text-anchor=\"middle\">\(esc(panel.yLabel))</text>\n"
            for s in panel.series {
                let pts = s.points.filter { $0.y.isFinite }
                guard !pts.isEmpty else { continue }
                let color = palette[s.colorIndex % palette.count]
                let coords = pts.map { String(format: "%.1f,%.1f", sx(Double($0.x)), sy($0.y)) }.joined(separator: " ")
                svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"6 4\"" : s.dotted ? " stroke-dasharray=\"1 3\" stroke-linecap=\"round\"" : "") points=\"\(coords)\"><title>\(esc(s.label))</title></polyline>\n"
                if pts.count == 1 {
                    svg += "<circle cx=\"\(sx(Double(pts[0].x)))\" cy=\"\(sy(pts[0].y))\" r=\"3\" fill=\"\(color)\"/>\n"
                }
            }
            svg += "</g>\n"
        }
        // Legend: one entry per run, plus the line-style key.
        var ly = marginT + panelH + 66
        for (i, entry) in legend.enumerated() {
            let col = Double(i % 3), x = marginL + col * 300
            if i > 0 && i % 3 == 0 { ly += 22 }
            let color = palette[entry.colorIndex % palette.count]
            svg += "<line x1=\"\(x)\" y1=\"\(ly - 4)\" x2=\"\(x + 28)\" y2=\"\(ly - 4)\" stroke=\"\(color)\" stroke-width=\"3\"/>"
            svg += "<text x=\"\(x + 36)\" y=\"\(ly)\">\(esc(entry.label))</text>\n"
        }
        ly += 8
        for note in notes {
            ly += 18
            svg += "<text x=\"\(marginL)\" y=\"\(ly)\" fill=\"#555\">\(esc(note))</text>\n"
        }
        svg += "</svg>\n"
        return svg
    }
}
