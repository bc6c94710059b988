/// Tables fit the terminal (issue #11 item 5): with COLUMNS=60 no line of list, show or compare
/// is wider than 60 columns, and a CJK label (two columns per character) keeps every column
/// aligned. Piped output without COLUMNS is not cut.
import Foundation
import TerminalText
import XCTest
@testable import RunStore

final class WidthTests: XCTestCase {
    var dir: TempDir!
    var db: String!

    override func setUpWithError() throws {
        dir = try TempDir()
        db = dir.path("experiments.db")
        let store = try Fixture.build(at: db)
        try store.setLabel(run: 1, label: "基线")
        try store.setLabel(run: 2, label: "学习率加倍-lr-2x")
    }
    override func tearDown() { dir.cleanup() }

    func assertFits(_ args: [String], _ width: Int, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let r = try runCLI(args + ["--db", db], env: ["COLUMNS": "\(width)"])
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
        for l in r.stdout.split(separator: "\n") where DisplayWidth.of(String(l)) > width {
            XCTFail("\(args): a line of \(DisplayWidth.of(String(l))) columns: \(l)", file: file, line: line)
        }
        return r.stdout
    }

    func testNoLineWiderThanColumns() throws {
        for width in [60, 40, 100] {
            let list = try assertFits(["list"], width)
            XCTAssertTrue(list.contains("基线"), list)
            _ = try assertFits(["list", "--columns", "id,label,test_loss,test_accuracy,hp.beta_1,model,dataset"], width)
            _ = try assertFits(["show", "1"], width)
            _ = try assertFits(["show", "4"], width)
            _ = try assertFits(["compare", "1", "2", "4"], width)
            _ = try assertFits(["compare", "1-5", "--all"], width)
        }
        // At 60 columns list leaves columns out, says which, and keeps the ids and best accuracies.
        let list = try assertFits(["list"], 60)
        XCTAssertTrue(list.hasPrefix("ID  STATUS"), list)
        XCTAssertTrue(list.contains("left out to"), list)
        XCTAssertTrue(list.contains("BEST ACC"), list)
        // compare folds its tables into blocks instead of cutting numbers.
        let compare = try assertFits(["compare", "1", "2", "4", "--no-chart"], 60)
        for value in ["0.8421 (+0.0421 ↑) ★", "0.6000 (-0.2000 ↓)", "25m35s"] {
            XCTAssertTrue(compare.contains(value), "\(value) lost:\n\(compare)")
        }
    }

    /// Every line of the list table (its last column is right-aligned) has the same display
    /// width: with 基线 counted as 2 columns a character, the columns after it stay aligned.
    func testCJKLabelsAlign() throws {
        for env in [[:], ["COLUMNS": "60"]] {
            let r = try runCLI(["list", "--db", db], env: env)
            let table = r.stdout.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("*") && !$0.hasPrefix("(") && !$0.hasPrefix("  ") }
            XCTAssertEqual(Set(table.map(DisplayWidth.of)).count, 1, "\(env): misaligned\n\(r.stdout)")
            let header = try XCTUnwrap(table.first)
            let row = try XCTUnwrap(table.first { $0.contains("基线") })
            // The label starts under LABEL, and what follows it under the next header.
            let labelStart = DisplayWidth.of(String(row[..<row.range(of: "基线")!.lowerBound]))
            XCTAssertEqual(labelStart, DisplayWidth.of(String(header[..<header.range(of: "LABEL")!.lowerBound])))
            if env.isEmpty {
                let started = DisplayWidth.of(String(header[..<header.range(of: "STARTED")!.lowerBound]))
                let date = DisplayWidth.of(String(row[..<row.range(of: "2025-01-01")!.lowerBound]))
                XCTAssertEqual(started, date, "\(header)\n\(row)")
            }
        }
        // show and compare align the label the same way.
        let compare = try runCLI(["compare", "1", "2", "--db", db, "--no-chart", "--no-epochs"]).stdout
        let overview = compare.split(separator: "\n").prefix(4).dropFirst().map(String.init)
        let starts = overview.map { line -> Int in
            let i = line.range(of: "cifar10.h5")?.lowerBound ?? line.range(of: "DATASET")!.lowerBound
            return DisplayWidth.of(String(line[..<i]))
        }
        XCTAssertEqual(Set(starts).count, 1, overview.joined(separator: "\n"))
    }

    func testPipedOutputIsNotCut() throws {
        let r = try runCLI(["compare", "1", "2", "--db", db, "--no-chart"])
        XCTAssertTrue(r.stdout.contains("#2 学习率加倍-lr-2x"), r.stdout)
        XCTAssertFalse(r.stdout.contains("…"), r.stdout)
    }
}
