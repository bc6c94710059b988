/// Output paths as users type them: one-character names (Foundation's path functions trap on
/// them), `-` for standard output, and a chart name that is not SVG.
import Foundation
import XCTest
@testable import RunStore

final class OutputPathTests: XCTestCase {
    var dir: TempDir!
    var db: String!

    override func setUpWithError() throws {
        dir = try TempDir()
        db = dir.path("experiments.db")
        try Fixture.build(at: db)
    }
    override func tearDown() { dir.cleanup() }

    func testPathNamesSplitLikeAShell() {
        XCTAssertEqual(PathNames.directory(of: "a"), "")
        XCTAssertEqual(PathNames.file(of: "a"), "a")
        XCTAssertEqual(PathNames.directory(of: "/a"), "/")
        XCTAssertEqual(PathNames.directory(of: "x/y/z.csv"), "x/y")
        XCTAssertEqual(PathNames.file(of: "x/y/z.csv"), "z.csv")
        XCTAssertEqual(PathNames.directory(of: "x//y"), "x")
        XCTAssertEqual(PathNames.file(of: "dir/"), "dir")
        XCTAssertEqual(PathNames.directory(of: "../a"), "..")
    }

    func testOneCharacterOutputPathsWork() throws {
        let cwd = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(dir.url.path))
        defer { _ = FileManager.default.changeCurrentDirectoryPath(cwd) }
        let metrics = try runCLI(["export", "1", "--metrics", "a", "--db", db])
        XCTAssertEqual(metrics.status, 0, metrics.stderr)
        XCTAssertTrue(try String(contentsOfFile: dir.path("a"), encoding: .utf8).hasPrefix("epoch,recorded_at,"))
        let plot = try runCLI(["compare", "1", "2", "--plot", "p.svg", "--db", db])
        XCTAssertEqual(plot.status, 0, plot.stderr)
        XCTAssertTrue(try String(contentsOfFile: dir.path("p.svg"), encoding: .utf8).contains("<svg"))
    }

    func testDashMeansStandardOutput() throws {
        let metrics = try runCLI(["export", "1", "--metrics", "-", "--db", db])
        XCTAssertEqual(metrics.status, 0, metrics.stderr)
        XCTAssertTrue(metrics.stdout.hasPrefix("epoch,recorded_at,"), metrics.stdout)
        XCTAssertEqual(metrics.stderr.split(separator: "\n").count, 1, "the summary goes to stderr: \(metrics.stderr)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "-"))
        let plot = try runCLI(["compare", "1", "2", "--plot", "-", "--db", db])
        XCTAssertEqual(plot.status, 0, plot.stderr)
        XCTAssertTrue(plot.stdout.hasPrefix("<svg") || plot.stdout.hasPrefix("<?xml"), String(plot.stdout.prefix(80)))
        XCTAssertTrue(plot.stdout.hasSuffix("</svg>\n") || plot.stdout.hasSuffix("</svg>"), "the SVG alone")
    }

    func testPlotMustBeSVG() throws {
        let r = try runCLI(["compare", "1", "2", "--plot", "curves.png", "--db", db])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--plot: curves.png: the chart is written as SVG; name the file *.svg (or - for standard output)"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path("curves.png")))
    }
}

/// `compare` on a narrow terminal: no line wider than COLUMNS in the identical-parameters list,
/// and a hyperparameter that repeats a recorded column is listed once.
final class CompareWidthTests: XCTestCase {
    func testIdenticalParametersWrapToCOLUMNSAndAreNotRepeated() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let db = dir.path("experiments.db")
        try Fixture.build(at: db)
        let r = try runCLI(["compare", "1", "2", "--db", db], env: ["COLUMNS": "60"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n")
        guard let start = lines.firstIndex(where: { $0.hasPrefix("  Identical (") }) else { return XCTFail(r.stdout) }
        var block = [lines[start]]
        var i = start + 1
        while i < lines.count, lines[i].hasPrefix("        ") { block.append(lines[i]); i += 1 }
        XCTAssertGreaterThan(block.count, 1, "wrapped: \(block)")
        for line in block { XCTAssertLessThanOrEqual(line.count, 60, String(line)) }
        XCTAssertFalse(r.stdout.contains("hp.lr"), "hp.lr repeats learning_rate")
        XCTAssertFalse(r.stdout.contains("hp.batch_size"), "hp.batch_size repeats batch_size")
    }
}

final class ListFilterMessageTests: XCTestCase {
    func testAFilterThatMatchesNothingSaysWhatThereIs() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let db = dir.path("experiments.db")
        try Fixture.build(at: db)
        let r = try runCLI(["list", "--model", "tin", "--db", db])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("No runs match --model tin among the "), r.stdout)
        XCTAssertTrue(r.stdout.contains("models: resnet18, resnet50"), r.stdout)
    }
}

/// Runs named the way people remember them: last, -N, a label.
final class RunSelectorTests: XCTestCase {
    func testLastRelativeAndLabelSelectors() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let db = dir.path("experiments.db")
        try Fixture.build(at: db)
        let store = try RunStore(path: db, createIfMissing: false, readOnly: true)
        let ids = try store.runs().map(\.id)
        let newest = try XCTUnwrap(ids.last)

        var r = try runCLI(["show", "last", "--db", db, "--format", "json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual((try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])?["id"] as? Int, Int(newest))
        r = try runCLI(["show", "-2", "--db", db, "--format", "json"])
        XCTAssertEqual((try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])?["id"] as? Int, Int(ids[ids.count - 2]))
        r = try runCLI(["compare", "baseline", "lr-2x", "--db", db, "--format", "json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(((try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])?["runs"] as? [[String: Any]])?.map { $0["id"] as? Int }, [1, 2])
        r = try runCLI(["show", "nosuchlabel", "--db", db])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("no run labelled 'nosuchlabel' in \(db)"), r.stderr)
        r = try runCLI(["show", "-99", "--db", db])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("-99: \(db) holds \(ids.count) runs"), r.stderr)
    }
}

final class WhereFilterTests: XCTestCase {
    func testWhereSelectsByMetricsAndHyperparametersAndRejectsTypos() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let db = dir.path("experiments.db")
        try Fixture.build(at: db)
        let store = try RunStore(path: db, createIfMissing: false, readOnly: true)
        let epochs = try store.epochs(runs: try store.runs().map(\.id))
        func ids(_ args: [String]) throws -> [Int] {
            let r = try runCLI(["list", "--db", db, "--format", "json", "--sort", "id"] + args)
            XCTAssertEqual(r.status, 0, r.stderr)
            return ((try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]]) ?? []).compactMap { $0["id"] as? Int }
        }
        let expected = try store.runs().filter { r in
            guard let acc = epochs[r.id]?.last?.metrics["test_accuracy"] else { return false }
            return acc > 0.8 && r.learningRate < 0.001
        }.map { Int($0.id) }
        XCTAssertFalse(expected.isEmpty, "the fixture has such runs")
        XCTAssertEqual(try ids(["--where", "test_accuracy > 0.8 and lr < 0.001"]), expected)
        XCTAssertEqual(try ids(["--where", "label = baseline or label = 'lr-2x'"]), [1, 2])
        XCTAssertEqual(try ids(["--where", "hp.optimizer = adam and model != resnet18"]).contains(4), false)

        // --sort by a metric that is not a column: the last epoch's test_loss, ascending.
        let byLoss = try store.runs().filter { epochs[$0.id]?.last?.metrics["test_loss"] != nil }
            .sorted { (epochs[$0.id]!.last!.metrics["test_loss"]!, $0.id) < (epochs[$1.id]!.last!.metrics["test_loss"]!, $1.id) }
            .map { Int($0.id) }
        let sorted = try runCLI(["list", "--db", db, "--format", "json", "--sort", "test_loss"])
        XCTAssertEqual(sorted.status, 0, sorted.stderr)
        let sortedIDs = ((try JSONSerialization.jsonObject(with: Data(sorted.stdout.utf8)) as? [[String: Any]]) ?? []).compactMap { $0["id"] as? Int }
        XCTAssertEqual(Array(sortedIDs.prefix(byLoss.count)), byLoss, "runs with the metric first, by value")
        let typo = try runCLI(["list", "--db", db, "--where", "test_acc > 0.5"])
        XCTAssertNotEqual(typo.status, 0)
        XCTAssertTrue(typo.stderr.contains("--where: no run has 'test_acc'; known names: "), typo.stderr)
        let badOp = try runCLI(["list", "--db", db, "--where", "lr ~ 3"])
        XCTAssertNotEqual(badOp.status, 0)
        XCTAssertTrue(badOp.stderr.contains("'~' is not a comparison"), badOp.stderr)
    }
}

final class ListColumnsTests: XCTestCase {
    func testColumnsPicksAnyNamedValue() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let db = dir.path("experiments.db")
        try Fixture.build(at: db)
        let store = try RunStore(path: db, createIfMissing: false, readOnly: true)
        let runs = try store.runs()
        let epochs = try store.epochs(runs: runs.map(\.id))
        let r = try runCLI(["list", "--db", db, "--columns", "id,label,test_loss,hp.optimizer", "--format", "csv", "--sort", "id"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "id,label,test_loss,hp.optimizer")
        XCTAssertEqual(lines.count, runs.count + 1)
        for (line, run) in zip(lines.dropFirst(), runs) {
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            XCTAssertEqual(cells[0], "\(run.id)")
            XCTAssertEqual(cells[1], run.label ?? "")
            XCTAssertEqual(Double(cells[2]), epochs[run.id]?.last?.metrics["test_loss"], "run \(run.id)")
            XCTAssertEqual(cells[3], run.hyperparameters["optimizer"] ?? "")
        }
        let bad = try runCLI(["list", "--db", db, "--columns", "id,nope"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--columns: no run has 'nope'; columns: id, status,"), bad.stderr)
    }
}
