/// `resnet-runs report`: the HTML it writes (structure, escaping, self-containment), bad input,
/// and the file loaded in a real browser — Debian's `chromium` headless — whose DOM and screenshot
/// are checked. Without chromium that test skips (Scripts/check_report_in_browser.sh runs it by
/// hand and fails instead).
import Foundation
import XCTest
@testable import RunStore

final class ReportTests: XCTestCase {
    var dir: TempDir!
    var db: String!

    override func setUpWithError() throws {
        dir = try TempDir()
        db = dir.path("experiments.db")
        try Fixture.build(at: db)
    }
    override func tearDown() { dir.cleanup() }

    /// A valid 2×2 RGB PNG (red, green / blue, yellow).
    static let png2x2 = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFUlEQVR42mP4z8DA0ADEDP//n2AAABoKBEZf/dk4AAAAAElFTkSuQmCC"

    /// An evaluation of `run` with 3 classes, 2 misclassified images (one without an image unless `images`).
    func writeEvaluation(run: Int, name: String = "eval.json", images: Int = 2, extra: String = "") throws -> String {
        let misses = (0..<2).map { i in
            """
            {"index": \(10 + i), "label": \(i), "predicted": 2, "probabilities": [0.2, 0.1, 0.7]\
            \(i < images ? ", \"png_base64\": \"\(Self.png2x2)\"" : "")}
            """
        }
        let json = """
            {"run": \(run), "classes": ["fist", "one", "<two>"], "weights": "best", "epoch": 4, "data": "test_signs.h5",\(extra)
             "confusion": [[8, 1, 1], [0, 9, 1], [0, 0, 10]],
             "misclassified": [\(misses.joined(separator: ", "))]}
            """
        let path = dir.path(name)
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func count(_ text: String, _ needle: String) -> Int { text.components(separatedBy: needle).count - 1 }

    /// The text of the element with `id` up to its closing `</table>` / `</section>`.
    func element(_ html: String, id: String, end: String) throws -> String {
        let start = try XCTUnwrap(html.range(of: "id=\"\(id)\""), "no element \(id)")
        let stop = try XCTUnwrap(html.range(of: end, range: start.upperBound..<html.endIndex))
        return String(html[start.lowerBound..<stop.upperBound])
    }

    /// Nothing in the file refers to anything outside it: no scripts, no external URLs.
    func assertSelfContained(_ html: String, file: StaticString = #filePath, line: UInt = #line) {
        for bad in ["<script", "<link", "<iframe", "@import", "@font-face", "url(", "src=\"http", "href=", "src=\"//", "src=\"file"] {
            XCTAssertFalse(html.lowercased().contains(bad), "report contains \(bad)", file: file, line: line)
        }
        // Every src is an inline image.
        XCTAssertEqual(count(html, "src=\""), count(html, "src=\"data:image/png;base64,"), file: file, line: line)
    }

    func testReportOfSeveralRunsWithAnEvaluation() throws {
        let eval = try writeEvaluation(run: 2)
        let out = dir.path("report.html")
        let r = try runCLI(["report", "1", "lr-2x", "4", "--db", db, "--evaluation", eval, "--out", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stderr, "")
        XCTAssertTrue(r.stdout.hasPrefix("Wrote \(out) (3 runs, 1 evaluation, "), r.stdout)
        let html = try String(contentsOfFile: out, encoding: .utf8)
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">"))
        XCTAssertTrue(html.hasSuffix("</body>\n</html>\n"))
        assertSelfContained(html)
        XCTAssertTrue(html.contains("<h1>Runs #1 baseline, #2 lr-2x, #4 small</h1>"))
        XCTAssertTrue(html.contains("resnet-runs report of \(db!), 2025-01-31T12:00:00Z; the reference for deltas is #1."))
        XCTAssertTrue(html.contains("<p class=\"note\">Note: these runs train different models: resnet50 (#1, #2), resnet18 (#4); metrics are not directly comparable.</p>"))

        // Curves: the compare SVG inline, without its XML declaration.
        let curves = try element(html, id: "curves", end: "</section>")
        XCTAssertFalse(html.contains("<?xml"))
        XCTAssertEqual(count(curves, "<svg xmlns=\"http://www.w3.org/2000/svg\""), 1)
        XCTAssertEqual(count(curves, "<polyline"), 12)

        // The compare table: one row per summary row, deltas to #1, ★ on the best.
        let table = try element(html, id: "compare-table", end: "</table>")
        XCTAssertEqual(count(table, "<tr>"), 1 + 12)
        XCTAssertTrue(table.contains("<tr><th>best test_accuracy</th><td class=\"num\">0.8000</td><td class=\"num best\">0.8421 (+0.0421 ↑) ★</td><td class=\"num\">0.6000 (-0.2000 ↓)</td></tr>"), table)
        XCTAssertTrue(table.contains("<tr><th>epochs done</th><td class=\"num\">5</td><td class=\"num\">5 (±0)</td><td class=\"num\">3 (-2 ↓)</td></tr>"), table)

        // Hyperparameters: every parameter, the differing ones marked.
        let params = try element(html, id: "parameters-table", end: "</table>")
        XCTAssertTrue(params.contains("<tr class=\"differs\"><th>learning_rate</th><td>0.00015</td><td>0.0003</td><td>0.001</td></tr>"), params)
        XCTAssertTrue(params.contains("<tr><th>host</th><td>lab-1</td><td>lab-1</td><td>lab-1</td></tr>"), params)
        XCTAssertTrue(params.contains("<tr class=\"differs\"><th>hp.dropout</th><td>-</td><td>-</td><td>0.1</td></tr>"), params)
        XCTAssertTrue(params.contains("<th>command_line</th><td><code>resnet-run train --lr 0.00015 --batch-size 32</code></td>"), params)

        // The evaluation of run 2: accuracy from the matrix, the matrix, both images.
        let evaluation = try element(html, id: "evaluation-2", end: "</section>")
        XCTAssertTrue(evaluation.contains("<h2>Evaluation of run #2 lr-2x</h2>\n<p>accuracy 0.9000 (27/30); best weights of epoch 4; test set test_signs.h5</p>"), evaluation)
        XCTAssertTrue(evaluation.contains("<th>&lt;two&gt;</th><td>recall</td>") || evaluation.contains("<th>&lt;two&gt;</th><th>recall</th>"), evaluation)
        XCTAssertEqual(count(evaluation, "<td style=\"background:rgba(44,160,44"), 3)
        XCTAssertTrue(evaluation.contains("<h3>Misclassified test images (2)</h3>"))
        XCTAssertEqual(count(evaluation, "<img alt=\"test image 1"), 2)
        XCTAssertEqual(count(evaluation, "src=\"data:image/png;base64,\(Self.png2x2)\""), 2)
        XCTAssertTrue(evaluation.contains("test image 11: true <b>one</b>, predicted <b>&lt;two&gt;</b> (p = 0.700)"), evaluation)
        XCTAssertFalse(html.contains("id=\"evaluation-1\""))
    }

    func testOneRunToStandardOutput() throws {
        let r = try runCLI(["report", "last", "--db", db, "--out", "-"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let html = r.stdout
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
        assertSelfContained(html)
        XCTAssertTrue(html.contains("<h1>Run #5 live</h1>"))
        XCTAssertFalse(html.contains("reference for deltas"))
        let table = try element(html, id: "compare-table", end: "</table>")
        XCTAssertTrue(table.contains("<thead><tr><th>Metric</th><th>#5 live</th></tr></thead>"), table)
        XCTAssertFalse(table.contains("★") || table.contains("↑") || table.contains("±"), table)
        XCTAssertFalse(html.contains("class=\"differs\""))
        XCTAssertFalse(html.contains("class=\"evaluation\""))
        // -1 names the same run as last.
        XCTAssertEqual(try runCLI(["report", "-1", "--db", db, "--out", "-"]).stdout, html)
    }

    func testEveryUserStringIsEscaped() throws {
        let store = try RunStore(path: db, createIfMissing: false)
        var config = Fixture.config(label: "<b>bold</b> & \"quoted\" 'x'", model: "resnet50", lr: 0.001, batch: 8, epochs: 1,
                                    dataset: "/data/<evil>.h5", extra: ["<img src=x onerror=alert(1)>": "</td><script>alert(2)</script>"])
        config.commandLine = "resnet-run train --label '<i>'"
        let id = try store.createRun(config, startedAt: Fixture.t0, owner: Fixture.liveOwner)
        try store.recordEpoch(run: id, epoch: 1, metrics: Fixture.metrics(1, q: 1), at: Fixture.t0.addingTimeInterval(10))
        try store.finishRun(run: id, status: .completed, reason: nil, at: Fixture.t0.addingTimeInterval(20))
        try store.addNote(run: id, text: "<script>alert(3)</script>")
        let r = try runCLI(["report", "1", "\(id)", "--db", db, "--out", "-"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let html = r.stdout
        assertSelfContained(html)
        for raw in ["<b>bold", "<evil>", "<img src=x", "<script>", "</td><script", "<i>"] {
            XCTAssertFalse(html.contains(raw), "unescaped \(raw)")
        }
        XCTAssertTrue(html.contains("&lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot; &#39;x&#39;"))
        XCTAssertTrue(html.contains("<th>hp.&lt;img src=x onerror=alert(1)&gt;</th><td>-</td><td>&lt;/td&gt;&lt;script&gt;alert(2)&lt;/script&gt;</td>"))
        XCTAssertTrue(html.contains("<td>&lt;script&gt;alert(3)&lt;/script&gt;</td></tr>"))
        XCTAssertTrue(html.contains("<code>/data/&lt;evil&gt;.h5</code>"))
        // In the SVG legend too.
        XCTAssertTrue(html.contains("#\(id) &lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;"))
    }

    func testBadInputIsOneLineAndWritesNothing() throws {
        let out = dir.path("report.html")
        func fails(_ args: [String], _ message: String, status: Int32 = 2, file: StaticString = #filePath, line: UInt = #line) throws {
            let r = try runCLI(["report", "--db", db] + args)
            XCTAssertEqual(r.status, status, "\(args): \(r.stderr)", file: file, line: line)
            XCTAssertEqual(r.stdout, "", file: file, line: line)
            XCTAssertTrue(r.stderr.hasPrefix("error: "), r.stderr, file: file, line: line)
            XCTAssertEqual(r.stderr.filter { $0 == "\n" }.count, 1, "not one line: \(r.stderr)", file: file, line: line)
            XCTAssertTrue(r.stderr.contains(message), "\(args): expected '\(message)' in: \(r.stderr)", file: file, line: line)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "\(args) wrote \(out)", file: file, line: line)
            // Not even a temporary file.
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.url.path).filter { $0.contains("report") }, [], file: file, line: line)
        }
        try fails(["--out", out], "report needs at least one run", status: 2)
        try fails(["99", "--out", out], "99")
        try fails(["1", "nolabel", "--out", out], "no run labelled 'nolabel'")
        try fails(["1", "--out", dir.path("missing/report.html")], "--out: directory \(dir.path("missing")) does not exist")
        try fails(["1", "--out", dir.path("report.txt")], "--out: \(dir.path("report.txt")): the report is HTML; name the file *.html")
        try fails(["1", "--out", out, "--evaluation", dir.path("none.json")], "--evaluation \(dir.path("none.json")): no such file")
        try fails(["1", "--out", out, "--evaluation", dir.url.path], "--evaluation \(dir.url.path): is a directory")
        let bad = dir.path("bad.json")
        for (json, message) in [
            ("{\"run\": 1, \"classes\": [\"a\"", "not valid JSON"),
            ("[1, 2]", "expected a JSON object"),
            ("{\"classes\": [\"a\", \"b\"], \"confusion\": [[1, 0], [0, 1]]}", "missing \"run\""),
            ("{\"run\": 1, \"classes\": [\"a\", \"b\"], \"confusion\": [[1, 0]]}", "\"confusion\" has 1 rows, expected 2"),
            ("{\"run\": 1, \"classes\": [\"a\", \"b\"], \"confusion\": [[1, 0], [0, true]]}", "confusion[1][1] must be an integer"),
            ("{\"run\": 1, \"classes\": [\"a\", \"b\"], \"confusion\": [[1, 0], [0, -1]]}", "confusion[1][1] is negative"),
            ("{\"run\": 1, \"classes\": [\"a\", \"b\"], \"confusion\": [[1, 0], [0, 1]], \"misclassified\": [{\"index\": 0, \"label\": 0, \"predicted\": 2, \"probabilities\": [0.5, 0.5]}]}",
             "misclassified[0].predicted is 2, not a class index (0-1)"),
            ("{\"run\": 1, \"classes\": [\"a\", \"b\"], \"confusion\": [[1, 0], [0, 1]], \"misclassified\": [{\"index\": 0, \"label\": 0, \"predicted\": 1, \"probabilities\": [0.5]}]}",
             "misclassified[0].probabilities must be an array of 2 numbers"),
            ("{\"run\": 1, \"classes\": [\"a\", \"b\"], \"confusion\": [[1, 0], [0, 1]], \"misclassified\": [{\"index\": 0, \"label\": 0, \"predicted\": 1, \"probabilities\": [0.5, 0.5], \"png_base64\": \"aGVsbG8=\"}]}",
             "misclassified[0].png_base64 is not a PNG image"),
        ] {
            try json.write(toFile: bad, atomically: true, encoding: .utf8)
            try fails(["1", "--out", out, "--evaluation", bad], "--evaluation \(bad): \(message)")
        }
        try FileManager.default.removeItem(atPath: bad)
        let eval = try writeEvaluation(run: 2)
        try fails(["1", "--out", out, "--evaluation", eval], "--evaluation \(eval): run 2 is not in this report (runs 1)")
        let second = try writeEvaluation(run: 2, name: "e2.json")
        try fails(["1", "2", "--out", out, "--evaluation", eval, "--evaluation", second], "--evaluation \(second): run 2 already has an evaluation (\(eval))")
    }

    // MARK: in a browser

    /// Debian's chromium, or nil: the browser test then skips (fails with RESNET_REPORT_BROWSER=require).
    func chromium() throws -> String? {
        let env = ProcessInfo.processInfo.environment
        // CHROMIUM=PATH uses that browser only (CHROMIUM=none: as if none were installed).
        let candidates = env["CHROMIUM"].map { [$0] } ?? ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) { return found }
        if env["RESNET_REPORT_BROWSER"] == "require" {
            XCTFail("chromium is not installed (apt-get install -y chromium) and RESNET_REPORT_BROWSER=require")
            return nil
        }
        throw XCTSkip("chromium is not installed, so the HTML report is not checked in a browser (apt-get install -y chromium, then swift test or Scripts/check_report_in_browser.sh)")
    }

    func runChromium(_ chromium: String, _ args: [String], page: String) throws -> CLIResult {
        // A fresh profile per launch, and a hard time limit: a browser that hangs fails the test.
        let profile = dir.path("profile-\(UUID().uuidString)")
        return try runProcess("/usr/bin/timeout", ["120", chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
                                                   "--no-first-run", "--user-data-dir=\(profile)"] + args + ["file://" + page])
    }

    func testReportInBrowser() throws {
        guard let chromium = try chromium() else { return }
        let eval = try writeEvaluation(run: 2, images: 1)
        let report = dir.path("report.html")
        let r = try runCLI(["report", "1", "2", "4", "--db", db, "--evaluation", eval, "--out", report])
        XCTAssertEqual(r.status, 0, r.stderr)
        let html = try String(contentsOfFile: report, encoding: .utf8)
        keep(html, as: "report.html")

        // DOM: a copy with a probe that, once everything has loaded, records what the browser made of
        // the page (the report itself has no scripts).
        let probe = """
            <script>
            addEventListener('load', () => {
              const q = s => Array.from(document.querySelectorAll(s));
              const imgs = q('img');
              const lines = q('#curves svg polyline');
              const out = document.createElement('pre');
              out.id = 'probe';
              out.textContent = JSON.stringify({
                images: imgs.length,
                decoded: imgs.filter(i => i.complete && i.naturalWidth === 2 && i.naturalHeight === 2).length,
                imageWidths: imgs.map(i => i.clientWidth),
                curves: lines.length,
                drawn: lines.filter(l => l.getTotalLength() > 50 && l.getBBox().width > 100).length,
                svgWidth: Math.round(document.querySelector('#curves svg').getBoundingClientRect().width),
                compareRows: q('#compare-table tbody tr').length,
                parameterRows: q('#parameters-table tbody tr').length,
                runRows: q('#runs-table tbody tr').length,
                confusionCells: q('#evaluation-2 table.confusion tbody td').length,
                figures: q('figure.miss').length
              });
              document.body.appendChild(out);
            });
            </script>
            """
        let probed = dir.path("probed.html")
        try html.replacingOccurrences(of: "</body>", with: probe + "\n</body>").write(toFile: probed, atomically: true, encoding: .utf8)
        let dom = try runChromium(chromium, ["--dump-dom"], page: probed)
        XCTAssertEqual(dom.status, 0, dom.stderr)
        keep(dom.stdout, as: "dom.html")
        // The serialized DOM: the structure the browser parsed.
        XCTAssertEqual(count(dom.stdout, "<svg "), 1)
        XCTAssertEqual(count(dom.stdout, "<polyline "), 12)
        XCTAssertEqual(count(dom.stdout, "<img "), 1)
        let start = try XCTUnwrap(dom.stdout.range(of: "<pre id=\"probe\">"), "the probe did not run:\n\(dom.stdout.suffix(500))")
        let end = try XCTUnwrap(dom.stdout.range(of: "</pre>", range: start.upperBound..<dom.stdout.endIndex))
        let json = String(dom.stdout[start.upperBound..<end.lowerBound]).replacingOccurrences(of: "&quot;", with: "\"")
        let facts = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], json)
        XCTAssertEqual(facts["images"] as? Int, 1, json)
        XCTAssertEqual(facts["decoded"] as? Int, 1, "the PNG was not decoded: \(json)")
        XCTAssertEqual(facts["imageWidths"] as? [Int], [96], json)
        XCTAssertEqual(facts["curves"] as? Int, 12, json)
        XCTAssertEqual(facts["drawn"] as? Int, 12, "curves not laid out: \(json)")
        XCTAssertGreaterThan(facts["svgWidth"] as? Int ?? 0, 600, json)
        XCTAssertEqual(facts["compareRows"] as? Int, 12, json)
        XCTAssertEqual(facts["parameterRows"] as? Int, count(try element(html, id: "parameters-table", end: "</table>"), "<tr") - 1, json)
        XCTAssertEqual(facts["runRows"] as? Int, 3, json)
        XCTAssertEqual(facts["confusionCells"] as? Int, 3 * 4, json)
        XCTAssertEqual(facts["figures"] as? Int, 2, json)

        // Screenshot of the report itself: a PNG that is not blank.
        let shot = dir.path("report.png")
        let s = try runChromium(chromium, ["--screenshot=\(shot)", "--window-size=1200,1600", "--hide-scrollbars"], page: report)
        XCTAssertEqual(s.status, 0, s.stderr)
        let png = try XCTUnwrap(FileManager.default.contents(atPath: shot), "no screenshot: \(s.stderr)")
        keep(png, as: "report.png")
        XCTAssertTrue(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        let (width, height, rows, values) = try pngStatistics(shot)
        XCTAssertEqual(width, 1200)
        XCTAssertEqual(height, 1600)
        // A blank page has a handful of distinct (filtered) rows and byte values; text and curves many.
        XCTAssertGreaterThan(rows, 100, "screenshot looks blank")
        XCTAssertGreaterThan(values, 64, "screenshot looks blank")
    }

    /// Copies a browser artefact to RESNET_REPORT_KEEP (a directory), when set, for a look by eye.
    func keep(_ content: Any, as name: String) {
        guard let dir = ProcessInfo.processInfo.environment["RESNET_REPORT_KEEP"] else { return }
        let data = (content as? Data) ?? Data(String(describing: content).utf8)
        _ = FileManager.default.createFile(atPath: dir + "/" + name, contents: data)
    }

    /// Width, height, distinct scanlines and distinct byte values of a PNG's decompressed image data
    /// (python3's zlib; without python3, an estimate from the file).
    func pngStatistics(_ path: String) throws -> (Int, Int, Int, Int) {
        let script = """
            import struct, sys, zlib
            data = open(sys.argv[1], 'rb').read()
            pos, idat = 8, b''
            while pos < len(data):
                n, kind = struct.unpack('>I4s', data[pos:pos + 8])
                body = data[pos + 8:pos + 8 + n]
                pos += 12 + n
                if kind == b'IHDR':
                    w, h, depth, color = struct.unpack('>IIBB', body[:10])
                elif kind == b'IDAT':
                    idat += body
            raw = zlib.decompress(idat)
            stride = len(raw) // h
            rows = set(raw[i * stride:(i + 1) * stride] for i in range(h))
            print(w, h, len(rows), len(set(raw)))
            """
        let r = try runProcess("/usr/bin/env", ["python3", "-c", script, path])
        guard r.status != 127 else {
            let data = try XCTUnwrap(FileManager.default.contents(atPath: path))
            let w = data[16..<20].reduce(0) { $0 << 8 | Int($1) }, h = data[20..<24].reduce(0) { $0 << 8 | Int($1) }
            // A blank 1200×1600 screenshot compresses to a few KB.
            return (w, h, data.count > 40_000 ? 101 : 0, Set(data).count > 64 ? 65 : 0)
        }
        XCTAssertEqual(r.status, 0, r.stderr)
        let n = r.stdout.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        guard n.count == 4 else { XCTFail("png statistics: \(r.stdout) \(r.stderr)"); return (0, 0, 0, 0) }
        return (n[0], n[1], n[2], n[3])
    }
}
