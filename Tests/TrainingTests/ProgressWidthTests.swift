/// The Keras-style progress bar on a real terminal (a pseudo-terminal from util-linux `script`):
/// it never reaches the terminal's last column — a wrapped line would break the `\r` redraw —
/// whether the width comes from COLUMNS or from the terminal itself (TIOCGWINSZ).
import Foundation
import TerminalText
import XCTest

final class ProgressWidthTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = try makeTemporaryDirectory(self)
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else {
            throw XCTSkip("util-linux script (Debian: bsdutils) is not installed: no pseudo-terminal to draw the bar on")
        }
    }

    /// Trains 2 epochs of the tiny model on a terminal set up by `setup` (shell commands) and
    /// returns every piece of output between carriage returns and newlines, escape codes removed.
    func barOutput(_ setup: String) throws -> [String] {
        let exe = try Paths.resnetRun().path
        let db = dir.appendingPathComponent("runs.db").path
        let command = "\(setup); exec '\(exe)' train --model tiny --synthetic --synthetic-train 96 --synthetic-test 8 --epochs 2 --batch-size 8 --threads 1 --db '\(db)'"
        let r = try runBash("exec /usr/bin/script -qec \"$0\" /dev/null", [command], in: dir)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        return r.stdout.replacingOccurrences(of: "\u{1B}[K", with: "")
            .split(whereSeparator: { $0 == "\r" || $0 == "\n" || $0 == "\r\n" }).map(String.init)
    }

    func check(_ pieces: [String], width: Int, file: StaticString = #filePath, line: UInt = #line) {
        let bars = pieces.filter { $0.contains(" [") && $0.contains("]") }
        XCTAssertGreaterThan(bars.count, 2, "no bar drawn: \(pieces)", file: file, line: line)
        for piece in bars + pieces.filter({ $0.hasPrefix("   - ") }) {
            XCTAssertLessThan(DisplayWidth.of(piece), width, "reaches column \(width): '\(piece)'", file: file, line: line)
        }
        XCTAssertTrue(pieces.contains { $0.contains("ETA: ") }, file: file, line: line)
        XCTAssertTrue(pieces.contains { $0.contains("test_accuracy: ") }, "the epoch's metrics continue on further lines", file: file, line: line)
    }

    func testBarFitsCOLUMNS() throws {
        let pieces = try barOutput("export COLUMNS=60")
        check(pieces, width: 60)
        // At 60 columns the bar is shorter than Keras' 30 cells.
        let bar = try XCTUnwrap(pieces.first { $0.contains("ETA: ") })
        let cells = bar.drop { $0 != "[" }.dropFirst().prefix { $0 != "]" }.count
        XCTAssertLessThan(cells, 30, bar)
        XCTAssertGreaterThanOrEqual(cells, 10, bar)
    }

    func testBarFitsTheTerminalsOwnWidth() throws {
        check(try barOutput("unset COLUMNS; stty cols 80"), width: 80)
        check(try barOutput("unset COLUMNS; stty cols 45"), width: 45)
    }
}
