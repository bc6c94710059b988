/// One convention for both CLIs (issue #11 item 4), checked on the real binaries: a stored run is
/// named positionally (id, last, -1, label) everywhere, `--format` and `--snapshot` are spelled
/// the same, the old spellings (`--run N`, `--json`, `--weights KIND`) still work with one note,
/// `--version` belongs to the program, and the same kind of error gives the same `error:` line
/// and exit status from either program. Also: `evaluate --format json` is the evaluation file
/// `resnet-runs report --evaluation` reads, through a file or a pipe.
import Foundation
import RunStore
import XCTest

final class ConventionCLITests: XCTestCase {
    var dir: URL!
    var db: URL { dir.appendingPathComponent("runs.db") }
    var runs: URL { get throws { try Paths.resnetRun().deletingLastPathComponent().appendingPathComponent("resnet-runs") } }

    override func setUpWithError() throws {
        dir = try makeTemporaryDirectory(self)
    }

    /// Two tiny runs on a SIGNS directory; the second labelled 基线.
    func trainTwo() throws -> URL {
        let data = try writeSIGNSDirectory(dir.appendingPathComponent("signs"))
        for label in ["first", "基线"] {
            let r = try runCLI(["train", "--model", "tiny", "--data", data.path, "--epochs", "2", "--batch-size", "8",
                                "--lr", "0.003", "--db", db.path, "--threads", "1", "--label", label, "--quiet"], in: dir)
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        return data
    }

    func testOldAndNewSpellingsOfResnetRunAgree() throws {
        let data = try trainTwo()
        let file = data.appendingPathComponent("test_signs.h5").path
        // evaluate: positional run (id, -1, last, label) = --run; --format json = --json; --snapshot = --weights.
        let new = try runCLI(["evaluate", "2", "--db", db.path, "--threads", "1", "--snapshot", "best", "--format", "json"], in: dir)
        XCTAssertEqual(new.status, 0, new.stderr)
        XCTAssertEqual(new.stderr, "")
        for selector in ["-1", "last", "基线"] {
            let r = try runCLI(["evaluate", selector, "--db", db.path, "--threads", "1", "--snapshot", "best", "--format", "json"], in: dir)
            XCTAssertEqual(r.stdout, new.stdout, selector)
        }
        let old = try runCLI(["evaluate", "--run", "2", "--db", db.path, "--threads", "1", "--weights", "best", "--json"], in: dir)
        XCTAssertEqual(old.status, 0, old.stderr)
        XCTAssertEqual(old.stdout, new.stdout)
        XCTAssertEqual(old.stderrLines, ["note: --run is deprecated; pass the run as an argument (resnet-run evaluate 2)",
                                         "note: --weights is deprecated here; use --snapshot best",
                                         "note: --json is deprecated; use --format json"])

        // predict, both forms.
        let p1 = try runCLI(["predict", "-2", "--db", db.path, "--threads", "1", "--data", file, "--index", "1"], in: dir)
        let p2 = try runCLI(["predict", "--run", "1", "--db", db.path, "--threads", "1", "--data", file, "--index", "1"], in: dir)
        XCTAssertEqual(p1.status, 0, p1.stderr)
        XCTAssertEqual(p1.stdout, p2.stdout)
        XCTAssertEqual(p2.stderrLines, ["note: --run is deprecated; pass the run as an argument (resnet-run predict 1)"])

        // export, both forms: the same bytes.
        let e1 = try runCLI(["export", "first", "new.weights.h5", "--weights-only", "--db", db.path, "--snapshot", "final"], in: dir)
        let e2 = try runCLI(["export", "--run", "1", "old.weights.h5", "--weights-only", "--db", db.path, "--weights", "final"], in: dir)
        XCTAssertEqual(e1.status, 0, e1.stderr)
        XCTAssertEqual(e2.status, 0, e2.stderr)
        XCTAssertEqual(e2.stderrLines.count, 2, e2.stderr)
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("new.weights.h5")),
                       try Data(contentsOf: dir.appendingPathComponent("old.weights.h5")))

        // train: --format json = --json (one JSON object per epoch and one for the outcome).
        let common = ["train", "--model", "tiny", "--synthetic", "--synthetic-train", "16", "--synthetic-test", "8",
                      "--epochs", "1", "--db", db.path, "--threads", "1"]
        let jsonNew = try runCLI(common + ["--format", "json"], in: dir)
        let jsonOld = try runCLI(common + ["--json"], in: dir)
        XCTAssertEqual(jsonNew.jsonLines.count, 2, jsonNew.stdout)
        XCTAssertEqual(jsonOld.jsonLines.count, 2, jsonOld.stdout)
        XCTAssertEqual(jsonNew.stderr, "")
        XCTAssertEqual(jsonOld.stderrLines, ["note: --json is deprecated; use --format json"])
    }

    func testBothProgramsReportTheSameErrorsTheSameWay() throws {
        let missing = dir.appendingPathComponent("missing.db").path
        let runsBinary = try runs
        func both(_ runArgs: [String], _ runsArgs: [String]) throws -> (ProcessResult, ProcessResult) {
            (try runCLI(runArgs, in: dir), try runCLI(runsArgs, in: dir, executable: runsBinary))
        }
        // No database.
        var (a, b) = try both(["evaluate", "1", "--db", missing], ["show", "1", "--db", missing])
        XCTAssertEqual(a.status, 2)
        XCTAssertEqual(b.status, 2)
        XCTAssertEqual(a.stderrLines, ["error: no experiment database at \(missing) (pass --db PATH to use another file; read commands never create one)"])
        XCTAssertEqual(a.stderr, b.stderr)

        _ = try trainTwo()
        // No such run, no such label, a range where one run is meant, -N beyond the runs.
        for selector in ["9", "nolabel", "1-2", "-5"] {
            (a, b) = try both(["evaluate", selector, "--db", db.path], ["show", selector, "--db", db.path])
            XCTAssertEqual(a.status, 2, "\(selector): \(a.stderr)")
            XCTAssertEqual(b.status, 2, "\(selector): \(b.stderr)")
            XCTAssertEqual(a.stderrLines.count, 1, a.stderr)
            XCTAssertTrue(a.stderr.hasPrefix("error: "), a.stderr)
            XCTAssertEqual(a.stderr, b.stderr, selector)
        }
        // Unknown option, bad value of a typed option: usage errors, 2, one line naming the option.
        (a, b) = try both(["evaluate", "1", "--bogus"], ["show", "1", "--bogus"])
        XCTAssertEqual([a.status, b.status], [2, 2])
        XCTAssertEqual(a.stderrLines, ["error: Unknown option '--bogus' (see 'resnet-run evaluate --help')"])
        XCTAssertEqual(b.stderrLines, ["error: Unknown option '--bogus' (see 'resnet-runs show --help')"])
        (a, b) = try both(["evaluate", "1", "--format", "xml"], ["show", "1", "--format", "xml"])
        XCTAssertEqual([a.status, b.status], [2, 2])
        XCTAssertEqual(a.stderrLines, ["error: --format: 'xml' is not one of text, json"])
        XCTAssertEqual(a.stderr, b.stderr)
        (a, b) = try both(["train", "--busy-timeout", "-1"], ["list", "--busy-timeout", "-1"])
        XCTAssertEqual([a.status, b.status], [2, 2])
        XCTAssertEqual(a.stderrLines, ["error: --busy-timeout: '-1' is not a number of seconds ≥ 0"])
        XCTAssertEqual(a.stderr, b.stderr)
        // --version: the programs', not their commands'.
        (a, b) = try both(["--version"], ["--version"])
        XCTAssertEqual([a.status, b.status], [0, 0])
        XCTAssertEqual(a.stdout, b.stdout)
        (a, b) = try both(["train", "--version"], ["list", "--version"])
        XCTAssertEqual([a.status, b.status], [2, 2])
        XCTAssertEqual(a.stderrLines, ["error: --version is an option of resnet-run itself: resnet-run --version"])
        XCTAssertFalse(try runCLI(["train", "--help"], in: dir).stdout.contains("--version"))

        // A failure while working — the database locked by another process — is 1 in both.
        let script = """
            "$1" debug-lock --db "$2" --seconds 30 --exclusive > lock.out & holder=$!
            for i in $(seq 300); do grep -q locked lock.out && break; sleep 0.1; done
            "$0" train --model tiny --synthetic --epochs 1 --db "$2" --busy-timeout 0.2 2> a.err; a=$?
            "$1" list --db "$2" --busy-timeout 0.2 2> b.err; b=$?
            kill $holder; wait $holder 2>/dev/null
            echo "$a $b"; cat a.err b.err
            """
        let locked = try runBash(script, [try Paths.resnetRun().path, runsBinary.path, db.path], in: dir)
        let lines = locked.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "1 1", locked.stdout + locked.stderr)
        XCTAssertTrue(lines.dropFirst().allSatisfy { $0.hasPrefix("error: ") && $0.contains("is locked by another process") }, locked.stdout)
        XCTAssertEqual(lines.count, 3, locked.stdout)
    }

    /// `resnet-run evaluate RUN --format json` is what `resnet-runs report --evaluation` reads:
    /// the report gets the confusion matrix and every misclassified image, from a file or a pipe.
    func testEvaluateJSONFeedsTheReport() throws {
        _ = try trainTwo()
        let evaluation = try runCLI(["evaluate", "1", "--db", db.path, "--threads", "1", "--format", "json"], in: dir)
        XCTAssertEqual(evaluation.status, 0, evaluation.stderr)
        let object = try XCTUnwrap(evaluation.jsonLines.first)
        XCTAssertEqual(object["run"] as? Int, 1)
        XCTAssertEqual(object["classes"] as? [String], ["0", "1", "2", "3", "4", "5"])
        let confusion = try XCTUnwrap(object["confusion"] as? [[Int]])
        let misses = try XCTUnwrap(object["misclassified"] as? [[String: Any]])
        let correct = (0..<6).reduce(0) { $0 + confusion[$1][$1] }
        XCTAssertEqual(misses.count, 24 - correct, "every wrong prediction is listed")
        XCTAssertGreaterThan(misses.count, 0, "an untrained tiny model gets some wrong")
        for m in misses {
            XCTAssertNotEqual(m["label"] as? Int, m["predicted"] as? Int)
            XCTAssertEqual((m["probabilities"] as? [Double])?.count, 6)
            let png = try XCTUnwrap(Data(base64Encoded: try XCTUnwrap(m["png_base64"] as? String)))
            XCTAssertTrue(png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "a PNG")
        }
        try Data(evaluation.stdout.utf8).write(to: dir.appendingPathComponent("e.json"))
        let runsBinary = try runs
        let fromFile = try runCLI(["report", "1", "--db", db.path, "--evaluation", "e.json", "--out", "file.html"], in: dir, executable: runsBinary)
        XCTAssertEqual(fromFile.status, 0, fromFile.stderr)
        let html = try String(contentsOf: dir.appendingPathComponent("file.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("<h3>Confusion matrix</h3>"))
        XCTAssertTrue(html.contains("Misclassified test images (\(misses.count))"))
        XCTAssertEqual(html.components(separatedBy: "<figure class=\"miss\"><img").count - 1, misses.count, "every image decoded into the report")

        // The same through a pipe.
        let script = "\"$0\" evaluate 1 --db \"$2\" --threads 1 --format json | \"$1\" report 1 --db \"$2\" --evaluation - --out pipe.html"
        let piped = try runBash(script, [try Paths.resnetRun().path, runsBinary.path, db.path], in: dir)
        XCTAssertEqual(piped.status, 0, piped.stderr)
        let pipedHTML = try String(contentsOf: dir.appendingPathComponent("pipe.html"), encoding: .utf8)
        func withoutTimestamp(_ s: String) -> String { s.replacingOccurrences(of: #"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"#, with: "T", options: .regularExpression) }
        XCTAssertEqual(withoutTimestamp(pipedHTML), withoutTimestamp(html))
    }
}
