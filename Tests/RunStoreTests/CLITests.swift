/// End-to-end tests of the `resnet-runs` binary run as a child process on real SQLite files:
/// golden outputs of `list` and `compare` on fixed data (timestamps injected through the store
/// API, "now" through RESNET_RUNS_NOW, TZ=UTC), the other formats, show/export/delete/label/note,
/// SVG plots, and bad input (one line on stderr, non-zero exit, file unchanged).
import Foundation
import GRDB
import XCTest
@testable import RunStore

final class CLITests: XCTestCase {
    var dir: TempDir!
    var db: String!

    override func setUpWithError() throws {
        dir = try TempDir()
        db = dir.path("experiments.db")
        try Fixture.build(at: db)
    }
    override func tearDown() { dir.cleanup() }

    func assertGolden(_ result: CLIResult, _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(result.status, 0, result.stderr, file: file, line: line)
        XCTAssertEqual(result.stderr, "", file: file, line: line)
        if result.stdout != expected {
            let a = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
            let b = expected.split(separator: "\n", omittingEmptySubsequences: false)
            let i = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
            XCTFail("output differs at line \(i + 1):\n got: \(i < a.count ? String(a[i]) : "<end>")\nwant: \(i < b.count ? String(b[i]) : "<end>")\nfull output:\n\(result.stdout)",
                    file: file, line: line)
        }
    }

    /// A failing command: exactly one line on stderr containing `message`, the given exit status,
    /// nothing on stdout, and the database file unchanged.
    func assertFails(_ args: [String], _ message: String, status: Int32 = 2, env: [String: String] = [:],
                     file: StaticString = #filePath, line: UInt = #line) throws {
        let before = fileDigest(db)
        let r = try runCLI(args, env: env)
        XCTAssertEqual(r.status, status, "\(args): \(r.stderr)", file: file, line: line)
        XCTAssertEqual(r.stdout, "", "\(args)", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("error: "), r.stderr, file: file, line: line)
        XCTAssertEqual(r.stderr.filter { $0 == "\n" }.count, 1, "not one line: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.contains(message), "\(args): expected '\(message)' in: \(r.stderr)", file: file, line: line)
        XCTAssertEqual(fileDigest(db), before, "\(args) changed the database", file: file, line: line)
    }

    // MARK: golden

    func testListGolden() throws {
        assertGolden(try runCLI(["list", "--db", db]), Self.goldenList)
    }

    func testCompareGolden() throws {
        assertGolden(try runCLI(["compare", "1", "2", "4", "--db", db]), Self.goldenCompare)
        assertGolden(try runCLI(["compare", "1-2", "--db", db, "--format", "markdown", "--no-epochs"]), Self.goldenCompareMarkdown)
    }

    // MARK: list

    func testListFiltersSortingAndFormats() throws {
        var r = try runCLI(["list", "--db", db, "--status", "completed,crashed", "--format", "csv", "--sort", "best", "--desc"])
        XCTAssertEqual(r.status, 0, r.stderr)
        var lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines[0], "id,status,label,started,duration_seconds,model,dataset,lr,batch_size,epochs_done,epochs_planned,final_test_accuracy,best_test_accuracy,best_epoch")
        XCTAssertEqual(lines.dropFirst().map { $0.split(separator: ",")[0] }, ["2", "1", "3"])
        XCTAssertEqual(lines[1], "2,completed,lr-2x,2025-01-02T12:00:00Z,1535,resnet50,/data/cifar10.h5,0.0003,32,5,5,0.8421,0.8421,5")

        r = try runCLI(["list", "--db", db, "--model", "resnet50", "--sort", "started", "--limit", "2"])
        lines = r.stdout.split(separator: "\n").map(String.init)
        // Header, two runs, and the legend of the * that marks best accuracies without stored weights.
        XCTAssertEqual(lines.count, 4, r.stdout)
        XCTAssertTrue(lines[1].hasPrefix(" 1  completed  baseline"), r.stdout)
        XCTAssertTrue(lines[2].hasPrefix(" 2  completed  lr-2x"), r.stdout)
        XCTAssertEqual(lines[3], "* no stored weights of that epoch (see resnet-runs show RUN)")

        r = try runCLI(["list", "--db", db, "--format", "json"])
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(json.map { $0["id"] as? Int }, [5, 4, 3, 2, 1])
        XCTAssertEqual(json.map { $0["status"] as? String }, ["running", "interrupted", "crashed", "completed", "completed"])
        XCTAssertEqual(json[3]["best_test_accuracy"] as? Double, 0.8421)
        XCTAssertEqual(json[3]["started"] as? String, "2025-01-02T12:00:00Z")
        XCTAssertEqual(json[3]["duration_seconds"] as? Int, 1535)
        XCTAssertTrue(json[2]["finished"] is NSNull)

        r = try runCLI(["list", "--db", db, "--format", "markdown", "--status", "interrupted"])
        XCTAssertEqual(r.stdout, """
            | ID | STATUS | LABEL | STARTED | DURATION | MODEL | DATASET | LR | BATCH | EPOCHS | FINAL ACC | BEST ACC |
            | ---: | --- | --- | --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |
            | 4 | interrupted | small | 2025-01-04 12:00 | 15m25s | resnet18 | cifar10-small.h5 | 0.001 | 32 | 3/4 | 0.6000 | 0.6000* |

            \\* no stored weights of that epoch (see resnet-runs show RUN)

            """)

        // Empty store.
        let empty = dir.path("empty.db")
        _ = try RunStore(path: empty, createIfMissing: true)
        r = try runCLI(["list", "--db", empty])
        XCTAssertEqual(r.stdout, "No runs in \(empty).\n")
        XCTAssertEqual(try runCLI(["list", "--db", empty, "--format", "json"]).stdout, "[]\n")
    }

    func testColorOnlyWhenRequestedByTerminal() throws {
        // Piped output never carries escape codes, even without NO_COLOR.
        let r = try runCLI(["list", "--db", db], env: ["NO_COLOR": ""])
        XCTAssertFalse(r.stdout.contains("\u{1B}["))
    }

    // MARK: compare

    func testCompareModesAndFormats() throws {
        var r = try runCLI(["compare", "--last", "2", "--db", db, "--format", "json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        var json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual((json["runs"] as? [[String: Any]])?.map { $0["id"] as? Int }, [4, 5])

        r = try runCLI(["compare", "--best", "2", "--db", db, "--format", "json"])
        json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual((json["runs"] as? [[String: Any]])?.map { $0["id"] as? Int }, [2, 1])
        XCTAssertEqual(json["notes"] as? [String], [])
        let params = try XCTUnwrap(json["parameters"] as? [String: Any])
        // Numbers are JSON numbers, text stays text.
        XCTAssertEqual((params["differing"] as? [String: [Double]])?["learning_rate"], [0.0003, 0.00015])
        XCTAssertEqual((params["identical"] as? [String: Any])?["batch_size"] as? Int, 32)
        XCTAssertEqual((params["identical"] as? [String: Any])?["host"] as? String, "lab-1")
        let metrics = try XCTUnwrap(json["metrics"] as? [[String: Any]])
        let bestAcc = try XCTUnwrap(metrics.first { $0["name"] as? String == "best test_accuracy" })
        XCTAssertEqual(bestAcc["values"] as? [Double], [0.8421, 0.8])
        XCTAssertEqual(bestAcc["best_run"] as? Int, 2)
        let deltas = try XCTUnwrap(bestAcc["deltas"] as? [Double])
        XCTAssertEqual(deltas[1], 0.8 - 0.8421, accuracy: 1e-12)
        let epochs = try XCTUnwrap(json["epochs"] as? [String: [[String: Any]]])
        XCTAssertEqual(epochs["test_accuracy"]?.count, 5)

        r = try runCLI(["compare", "1", "3", "--db", db, "--format", "csv", "--metric", "test_accuracy"])
        let lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines[0], "section,name,epoch,run 1,run 3")
        XCTAssertTrue(lines.contains("parameter,batch_size,,32,64"), r.stdout)
        XCTAssertTrue(lines.contains("metric,final test_accuracy,,0.8,0.5619"), r.stdout)
        XCTAssertTrue(lines.contains("epoch,test_accuracy,3,0.66,"), r.stdout)
        XCTAssertFalse(lines.contains { $0.hasPrefix("epoch,loss") })

        // --all lists identical parameters in the table as well.
        r = try runCLI(["compare", "1", "2", "--db", db, "--all", "--no-epochs", "--no-chart"])
        XCTAssertTrue(r.stdout.contains("\nParameters\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("  batch_size       32                32\n"), r.stdout)
        XCTAssertFalse(r.stdout.contains("Identical ("))
    }

    func testComparePlotWritesSVG() throws {
        let svgPath = dir.path("curves.svg")
        let r = try runCLI(["compare", "1", "2", "4", "--db", db, "--plot", svgPath, "--no-epochs", "--no-chart"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasSuffix("Wrote \(svgPath)\n"))
        let svg = try String(contentsOfFile: svgPath, encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\""))
        XCTAssertTrue(svg.hasSuffix("</svg>\n"))
        // Two panels with axis labels, one solid (train) and one dashed (test) curve per run and panel.
        for text in [">Loss</text>", ">Accuracy</text>", ">epoch</text>", ">loss</text>", ">accuracy</text>",
                     ">#1 baseline — resnet50, lr 0.00015, batch 32</text>", ">#4 small — resnet18, lr 0.001, batch 32</text>",
                     "Note: these runs train different models"] {
            XCTAssertTrue(svg.contains(text), "missing \(text)")
        }
        XCTAssertEqual(svg.components(separatedBy: "<polyline").count - 1, 12)
        XCTAssertEqual(svg.components(separatedBy: "stroke-dasharray").count - 1, 6)
        XCTAssertEqual(svg.components(separatedBy: "<g>").count, svg.components(separatedBy: "</g>").count)
        XCTAssertFalse(svg.contains("nan") || svg.contains("inf"))
        try assertFails(["compare", "1", "2", "--db", db, "--plot", dir.path("missing/curves.svg")], "--plot: directory \(dir.path("missing")) does not exist")
        try assertFails(["compare", "1", "2", "--db", db, "--plot", dir.url.path], "--plot: \(dir.url.path) is a directory")
    }

    // MARK: show / export

    func testShow() throws {
        var r = try runCLI(["show", "3", "--db", db])
        XCTAssertEqual(r.status, 0, r.stderr)
        for text in ["Run 3  crashed\n", "  status          crashed (recorded as running; process gone, last heartbeat 2025-01-03 12:10)",
                     "  dataset sha256  c0ffee00112233445566", "  examples        50000 train, 10000 test",
                     "  host            lab-1, 2 threads, pid 777", "Hyperparameters\n  batch_size  64\n  beta_1      0.9\n",
                     "Weights\n  (none stored)", "  EPOCH    LOSS  ACCURACY  TEST_LOSS  TEST_ACCURACY  SECONDS  IMAGES_PER_SECOND  RECORDED",
                     "      2  0.7000    0.6286     0.7700         0.5619    302.0              166.5  2025-01-03 12:10",
                     "Loss   ● loss   ○ test_loss", "Accuracy   ● accuracy   ○ test_accuracy"] {
            XCTAssertTrue(r.stdout.contains(text), "missing \(text) in\n\(r.stdout)")
        }
        r = try runCLI(["show", "1", "--db", db, "--format", "json"])
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(json["label"] as? String, "baseline")
        XCTAssertEqual((json["epochs"] as? [[String: Any]])?.count, 5)
        XCTAssertEqual((json["hyperparameters"] as? [String: String])?["optimizer"], "adam")
    }

    func testExportWeightsAndMetrics() throws {
        let n = 3 * 4 * 1000 * 4 + 8 * 10
        let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) }
        let tensors = [TensorEntry(name: "conv.weight", shape: [3, 4, 1000], dtype: "float32", offset: 0, byteCount: 48000),
                       TensorEntry(name: "fc.bias", shape: [10], dtype: "float64", offset: 48000, byteCount: 80)]
        do {
            let store = try RunStore(path: db, createIfMissing: false)
            try bytes.withUnsafeBytes { try store.saveSnapshot(run: 1, kind: .best, epoch: 5, tensors: tensors, bytes: $0, extra: ["step": "7810"]) }
        }
        let weights = dir.path("w.bin"), csv = dir.path("m.csv")
        let r = try runCLI(["export", "1", "--db", db, "--weights", weights, "--metrics", csv])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: weights)), Data(bytes))
        let manifest = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: weights + ".json"))) as? [String: Any])
        XCTAssertEqual(manifest["kind"] as? String, "best")
        XCTAssertEqual(manifest["byte_order"] as? String, "little")
        XCTAssertEqual(manifest["checksum"] as? String, "xxh64:" + XXH64.hash(bytes).hexString)
        XCTAssertEqual(manifest["data_file"] as? String, "w.bin")
        XCTAssertEqual((manifest["extra"] as? [String: String])?["step"], "7810")
        let t = try XCTUnwrap(manifest["tensors"] as? [[String: Any]])
        XCTAssertEqual(t.map { $0["name"] as? String }, ["conv.weight", "fc.bias"])
        XCTAssertEqual(t[0]["shape"] as? [Int], [3, 4, 1000])
        XCTAssertEqual(t[1]["offset"] as? Int, 48000)
        XCTAssertEqual(t[1]["dtype"] as? String, "float64")
        let metrics = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(metrics.count, 6)
        XCTAssertEqual(metrics[0], "epoch,recorded_at,loss,accuracy,test_loss,test_accuracy,seconds,images_per_second")
        XCTAssertEqual(metrics[5], "5,2025-01-01T12:25:25Z,0.3333,0.9,0.3667,0.8,305,166.5")

        try assertFails(["export", "2", "--db", db, "--weights", dir.path("x.bin")], "run 2 has no 'final' weight snapshot (run 2 has no stored weights)")
        try assertFails(["export", "1", "--db", db, "--weights", dir.path("x.bin"), "--snapshot", "final"], "run 1 has no 'final' weight snapshot (available: best)")
        try assertFails(["export", "1", "--db", db, "--weights", dir.path("nope/x.bin")], "--weights: directory \(dir.path("nope")) does not exist")
        try assertFails(["export", "1", "--db", db], "export needs --weights FILE and/or --metrics FILE.csv", status: 2)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path("x.bin")))
    }

    // MARK: changes

    func testLabelNoteDeleteAndVacuum() throws {
        var r = try runCLI(["label", "3", "retry me", "--db", db])
        XCTAssertEqual(r.stdout, "Run 3 labelled \"retry me\".\n")
        r = try runCLI(["note", "3", "diverged at epoch 2", "--db", db])
        r = try runCLI(["note", "3", "check the data loader", "--db", db])
        XCTAssertEqual(r.status, 0, r.stderr)
        var run = try RunStore(path: db, createIfMissing: false).run(3)
        XCTAssertEqual(run.label, "retry me")
        XCTAssertEqual(run.notes, "diverged at epoch 2\ncheck the data loader")
        r = try runCLI(["label", "3", "--clear", "--db", db])
        run = try RunStore(path: db, createIfMissing: false).run(3)
        XCTAssertNil(run.label)

        // Deleting needs confirmation; stdin is not a terminal here.
        try assertFails(["delete", "3", "--db", db], "standard input is not a terminal (pass --yes)")
        // A running run (fresh heartbeat) is refused, and nothing else in the request is deleted.
        try assertFails(["delete", "4-5", "--yes", "--db", db], "run 5 is running (pid 99 on lab-3)")
        // Give run 1 a large snapshot so that VACUUM has something to return.
        do {
            let store = try RunStore(path: db, createIfMissing: false)
            let big = [UInt8](repeating: 3, count: 4 << 20)
            try big.withUnsafeBytes { try store.saveSnapshot(run: 1, kind: .final, epoch: 5, tensors: [], bytes: $0) }
            try store.checkpoint()
        }
        let sizeBefore = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: db)[.size] as? Int)
        r = try runCLI(["delete", "1", "3-4", "--yes", "--vacuum", "--db", db])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("Deleted 3 runs (#1, #3, #4) with 10 epoch records and 1 weight snapshot (4.2 MB).\nVacuumed "), r.stdout)
        let sizeAfter = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: db)[.size] as? Int)
        XCTAssertLessThan(sizeAfter, sizeBefore - 4_000_000)
        let store = try RunStore(path: db, createIfMissing: false, readOnly: true)
        XCTAssertEqual(try store.runs().map(\.id), [2, 5])
        XCTAssertEqual(try store.integrityProblems(), [])
    }

    // MARK: bad input

    func testBadInputIsOneLineAndChangesNothing() throws {
        let missing = dir.path("nothing-here.db")
        for command in [["list"], ["show", "1"], ["compare", "1", "2"], ["export", "1", "--metrics", dir.path("m.csv")], ["label", "1", "x"], ["delete", "1", "--yes"]] {
            let r = try runCLI(command + ["--db", missing])
            XCTAssertEqual(r.status, 2, "\(command): a missing database is bad input")
            XCTAssertEqual(r.stderr, "error: no experiment database at \(missing) (pass --db PATH to use another file; read commands never create one)\n")
            XCTAssertFalse(FileManager.default.fileExists(atPath: missing), "\(command) created the database")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path("m.csv")))
        try assertFails(["show", "42", "--db", db], "no run 42 in \(db!)")
        try assertFails(["show", "abc", "--db", db], "no run labelled 'abc' in \(db!) (a run is named by its id, a range like 3-7, last, -1, or its label)")
        try assertFails(["show", "0", "--db", db], "invalid run id '0': run ids are positive integers")
        try assertFails(["show", "1-3", "--db", db], "expected one run id, got the range '1-3'")
        try assertFails(["compare", "1", "9-3", "--db", db], "invalid run range '9-3': 9 is after 3")
        try assertFails(["compare", "1", "2-x", "--db", db], "invalid run range '2-x'")
        try assertFails(["compare", "1", "7-9", "--db", db], "no runs with ids 7-9 in \(db!)")
        try assertFails(["compare", "1", "1", "--db", db], "compare needs at least two runs, got 1")
        try assertFails(["compare", "--last", "2", "1", "--db", db], "compare takes run ids, or --last N, or --best N", status: 2)
        try assertFails(["label", "77", "x", "--db", db], "no run 77 in")
        try assertFails(["list", "--limit", "0", "--db", db], "--limit must be at least 1", status: 2)
        try assertFails(["list", "--limit", "x", "--db", db], "The value 'x' is invalid for '--limit <n>'", status: 2)
        try assertFails(["list", "--sort", "speed", "--db", db], "--sort: no run has 'speed'; columns: id, status,")
        try assertFails(["list", "--status", "sleeping", "--db", db], "--status: unknown status 'sleeping'")
        try assertFails(["list", "--db", dir.url.path], "is not a regular file")
        try assertFails(["list", "--db", db], "RESNET_RUNS_NOW must be Unix seconds", env: ["RESNET_RUNS_NOW": "yesterday"])
        let text = dir.path("notes.txt")
        try "hello, not a database\n".write(toFile: text, atomically: true, encoding: .utf8)
        let r = try runCLI(["list", "--db", text])
        XCTAssertEqual(r.stderr, "error: \(text) is not an SQLite database (the file does not start with the SQLite header)\n")
        XCTAssertEqual(try String(contentsOfFile: text, encoding: .utf8), "hello, not a database\n")
    }

    // MARK: damaged files

    /// Overwrites the root page of the `run` table with garbage: the report names the file and
    /// quotes the first problem `PRAGMA integrity_check` finds.
    func testCorruptDatabaseIsReportedWithIntegrityCheck() throws {
        var rootPage = 0
        do {
            let q = try DatabaseQueue(path: db)
            try q.writeWithoutTransaction { db in
                _ = try Row.fetchAll(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)")
                rootPage = try Int.fetchOne(db, sql: "SELECT rootpage FROM sqlite_schema WHERE name = 'run'")!
            }
        }
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: db))
        try handle.seek(toOffset: UInt64((rootPage - 1) * RunStore.pageSize))
        try handle.write(contentsOf: Data((0..<RunStore.pageSize).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }))
        try handle.close()
        for command in [["list"], ["show", "1"], ["compare", "1", "2"]] {
            let before = fileDigest(db)
            let r = try runCLI(command + ["--db", db])
            XCTAssertEqual(r.status, 1)
            XCTAssertTrue(r.stderr.hasPrefix("error: database \(db!) is corrupt: "), r.stderr)
            XCTAssertTrue(r.stderr.contains("page \(rootPage)") || r.stderr.contains("Page \(rootPage)"), r.stderr)
            XCTAssertEqual(r.stderr.filter { $0 == "\n" }.count, 1, r.stderr)
            XCTAssertEqual(fileDigest(db), before)
        }
        let check = try runCLI(["check", "--db", db])
        XCTAssertEqual(check.status, 1)
        XCTAssertTrue(check.stderr.contains("is corrupt"), check.stderr)
    }

    func testTruncatedDatabase() throws {
        do { _ = try RunStore(path: db, createIfMissing: false).checkpoint() }
        let data = try Data(contentsOf: URL(fileURLWithPath: db))
        try data.prefix(60).write(to: URL(fileURLWithPath: db))
        let r = try runCLI(["list", "--db", db])
        XCTAssertEqual(r.stderr, "error: \(db!) is not an SQLite database (the file is truncated to 60 bytes)\n")
    }

    func testCheckVerifiesWeights() throws {
        do {
            let store = try RunStore(path: db, createIfMissing: false)
            let data = [UInt8](repeating: 9, count: 10_000)
            try data.withUnsafeBytes { try store.saveSnapshot(run: 2, kind: .final, epoch: 5, tensors: [], bytes: $0) }
        }
        let r = try runCLI(["check", "--db", db])
        XCTAssertEqual(r.stdout, "\(db!): integrity_check ok\n1 weight snapshot verified (10.0 kB)\n")
    }

    // MARK: golden texts

    static let goldenList = #"""
ID  STATUS       LABEL     STARTED           DURATION  MODEL     DATASET                LR  BATCH  EPOCHS  FINAL ACC  BEST ACC
 5  running      live      2025-01-31 11:00     1h00m  resnet50  cifar10.h5         0.0001     32    1/10     0.5200   0.5200*
 4  interrupted  small     2025-01-04 12:00    15m25s  resnet18  cifar10-small.h5    0.001     32     3/4     0.6000   0.6000*
 3  crashed      -         2025-01-03 12:00    10m10s  resnet50  cifar10.h5        0.00015     64     2/5     0.5619   0.5619*
 2  completed    lr-2x     2025-01-02 12:00    25m35s  resnet50  cifar10.h5         0.0003     32     5/5     0.8421   0.8421*
 1  completed    baseline  2025-01-01 12:00    25m35s  resnet50  cifar10.h5        0.00015     32     5/5     0.8000   0.8000*
* no stored weights of that epoch (see resnet-runs show RUN)

"""#

    static let goldenCompare = #"""
Comparing 3 runs (reference: #1)
  RUN  STATUS       LABEL     MODEL     DATASET           STARTED           EPOCHS
   #1  completed    baseline  resnet50  cifar10.h5        2025-01-01 12:00     5/5
   #2  completed    lr-2x     resnet50  cifar10.h5        2025-01-02 12:00     5/5
   #4  interrupted  small     resnet18  cifar10-small.h5  2025-01-04 12:00     3/4
Note: these runs train different models: resnet50 (#1, #2), resnet18 (#4); metrics are not directly comparable.
Note: these runs use different datasets: cifar10.h5 50000/10000 c0ffee001122 (#1, #2), cifar10-small.h5 50000/10000 beef0011 (#4).

Parameters that differ
  PARAMETER       #1 baseline       #2 lr-2x          #4 small
  model           resnet50          resnet50          resnet18
  model_hash      5f1c0a9e7d2b      5f1c0a9e7d2b      9a8b7c6d5e4f
  dataset         /data/cifar10.h5  /data/cifar10.h5  /data/cifar10-small.h5
  dataset_sha256  c0ffee001122      c0ffee001122      beef0011
  epochs_planned  5                 5                 4
  learning_rate   0.00015           0.0003            0.001
  hp.dropout      -                 -                 0.1
  Identical (9): train_count=50000, test_count=10000, batch_size=32, seed=0, threads=2, host=lab-1, program_version=resnet-run 0.1.0, hp.beta_1=0.9, hp.optimizer=adam

Metrics (delta to #1; ★ best)
  METRIC                  #1 baseline              #2 lr-2x              #4 small
  final loss                   0.3333  0.3167 (-0.0166 ↓) ★    0.5500 (+0.2167 ↑)
  best loss                    0.3333  0.3167 (-0.0166 ↓) ★    0.5500 (+0.2167 ↑)
  final accuracy               0.9000  0.9474 (+0.0474 ↑) ★    0.6727 (-0.2273 ↓)
  best accuracy                0.9000  0.9474 (+0.0474 ↑) ★    0.6727 (-0.2273 ↓)
  final test_loss              0.3667  0.3483 (-0.0184 ↓) ★    0.6050 (+0.2383 ↑)
  best test_loss               0.3667  0.3483 (-0.0184 ↓) ★    0.6050 (+0.2383 ↑)
  final test_accuracy          0.8000  0.8421 (+0.0421 ↑) ★    0.6000 (-0.2000 ↓)
  best test_accuracy           0.8000  0.8421 (+0.0421 ↑) ★    0.6000 (-0.2000 ↓)
  mean seconds                  303.0            303.0 (±0)      302.0 (-1.0 ↓) ★
  mean images_per_second        166.5            166.5 (±0)            166.5 (±0)
  epochs done                       5                5 (±0)              3 (-2 ↓)
  duration                     25m35s           25m35s (±0)  15m25s (-10m10s ↓) ★

Per-epoch loss
  EPOCH      #1      #2      #4
      1  1.0000  0.9500  1.1000
      2  0.6667  0.6333  0.7333
      3  0.5000  0.4750  0.5500
      4  0.4000  0.3800       -
      5  0.3333  0.3167       -

Per-epoch accuracy
  EPOCH      #1      #2      #4
      1  0.5800  0.6105  0.5273
      2  0.6600  0.6947  0.6000
      3  0.7400  0.7789  0.6727
      4  0.8200  0.8632       -
      5  0.9000  0.9474       -

Per-epoch test_loss
  EPOCH      #1      #2      #4
      1  1.1000  1.0450  1.2100
      2  0.7333  0.6967  0.8067
      3  0.5500  0.5225  0.6050
      4  0.4400  0.4180       -
      5  0.3667  0.3483       -

Per-epoch test_accuracy
  EPOCH      #1      #2      #4
      1  0.5200  0.5474  0.4727
      2  0.5900  0.6211  0.5364
      3  0.6600  0.6947  0.6000
      4  0.7300  0.7684       -
      5  0.8000  0.8421       -

Loss (train)   A #1   B #2   C #4
   1.1 ┤C
       │A
       │B
       │
       │  C
0.6648 ┤  *
       │    C
       │    *
       │      *
0.3167 ┤        *
       └─────────
        1       5  epoch

Test accuracy   A #1   B #2   C #4
0.8421 ┤        B
       │        A
       │      B
       │      A
       │    *
0.6369 ┤  B
       │  A C
       │B C
       │A
0.4727 ┤C
       └─────────
        1       5  epoch

"""#

    static let goldenCompareMarkdown = #"""
## Comparing runs #1, #2

### Parameters that differ

| Parameter | #1 baseline | #2 lr-2x |
| --- | --- | --- |
| learning_rate | 0.00015 | 0.0003 |

Identical (14): `model=resnet50`, `model_hash=5f1c0a9e7d2b`, `dataset=/data/cifar10.h5`, `dataset_sha256=c0ffee001122`, `train_count=50000`, `test_count=10000`, `epochs_planned=5`, `batch_size=32`, `seed=0`, `threads=2`, `host=lab-1`, `program_version=resnet-run 0.1.0`, `hp.beta_1=0.9`, `hp.optimizer=adam`

### Metrics (delta to #1; ★ best)

| Metric | #1 baseline | #2 lr-2x |
| --- | ---: | ---: |
| final loss | 0.3333 | 0.3167 (-0.0166 ↓) ★ |
| best loss | 0.3333 | 0.3167 (-0.0166 ↓) ★ |
| final accuracy | 0.9000 | 0.9474 (+0.0474 ↑) ★ |
| best accuracy | 0.9000 | 0.9474 (+0.0474 ↑) ★ |
| final test_loss | 0.3667 | 0.3483 (-0.0184 ↓) ★ |
| best test_loss | 0.3667 | 0.3483 (-0.0184 ↓) ★ |
| final test_accuracy | 0.8000 | 0.8421 (+0.0421 ↑) ★ |
| best test_accuracy | 0.8000 | 0.8421 (+0.0421 ↑) ★ |
| mean seconds | 303.0 | 303.0 (±0) |
| mean images_per_second | 166.5 | 166.5 (±0) |
| epochs done | 5 | 5 (±0) |
| duration | 25m35s | 25m35s (±0) |

"""#
}
