/// The command-line convention of `resnet-runs` (shared with `resnet-run`, README "Conventions"):
/// `error: …` in one line, exit 2 for bad input or usage and 1 for a failure while working,
/// `--version` on the program only, `--format text|json|csv|markdown`, `--snapshot`, and the old
/// spellings still working with one `note:` line.
import Foundation
import XCTest
@testable import RunStore

final class ConventionTests: XCTestCase {
    var dir: TempDir!
    var db: String!

    override func setUpWithError() throws {
        dir = try TempDir()
        db = dir.path("experiments.db")
        try Fixture.build(at: db)
    }
    override func tearDown() { dir.cleanup() }

    func testUsageErrorsAreOneLineWithExitStatus2() throws {
        for (args, message) in [
            (["list", "--bogus", "--db", db!], "error: Unknown option '--bogus' (see 'resnet-runs list --help')"),
            (["list", "--format", "xml", "--db", db!], "error: --format: 'xml' is not one of text, json, csv, markdown"),
            (["list", "--busy-timeout", "-1", "--db", db!], "error: --busy-timeout: '-1' is not a number of seconds ≥ 0"),
            (["export", "1", "--weights", "w.bin", "--snapshot", "latest", "--db", db!], "error: --snapshot: 'latest' is not one of final, best, checkpoint"),
            (["show", "--db", db!], "error: Missing expected argument '<run>' (see 'resnet-runs show --help')"),
            (["show", "9", "--db", db!], "error: no run 9 in \(db!)"),
            (["show", "-9", "--db", db!], "error: -9: \(db!) holds 5 runs"),
        ] {
            let r = try runCLI(args)
            XCTAssertEqual(r.status, 2, "\(args): \(r.stderr)")
            XCTAssertEqual(r.stdout, "", "\(args)")
            XCTAssertEqual(r.stderr, message + "\n", "\(args)")
        }
    }

    func testVersionBelongsToTheProgram() throws {
        let r = try runCLI(["--version"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "0.1.0\n")
        let sub = try runCLI(["list", "--version", "--db", db])
        XCTAssertEqual(sub.status, 2)
        XCTAssertEqual(sub.stderr, "error: --version is an option of resnet-runs itself: resnet-runs --version\n")
        let help = try runCLI(["list", "--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertFalse(help.stdout.contains("--version"), help.stdout)
        XCTAssertTrue(try runCLI(["--help"]).stdout.contains("--version"))
    }

    func testOldSpellingsWorkWithOneNote() throws {
        let text = try runCLI(["list", "--db", db, "--format", "text"])
        let table = try runCLI(["list", "--db", db, "--format", "table"])
        XCTAssertEqual(table.status, 0, table.stderr)
        XCTAssertEqual(table.stdout, text.stdout)
        XCTAssertEqual(table.stderr, "note: --format table is deprecated; use --format text\n")
        XCTAssertEqual(text.stderr, "")

        let store = try RunStore(path: db, createIfMissing: false)
        let bytes = [UInt8](repeating: 7, count: 64)
        try bytes.withUnsafeBytes { try store.saveSnapshot(run: 1, kind: .best, epoch: 5, tensors: [], bytes: $0) }
        let new = try runCLI(["export", "1", "--db", db, "--weights", dir.path("a.bin"), "--snapshot", "best"])
        XCTAssertEqual(new.status, 0, new.stderr)
        XCTAssertEqual(new.stderr, "")
        let old = try runCLI(["export", "1", "--db", db, "--weights", dir.path("b.bin"), "--kind", "best"])
        XCTAssertEqual(old.status, 0, old.stderr)
        XCTAssertEqual(old.stderr, "note: --kind is deprecated; use --snapshot best\n")
        XCTAssertEqual(FileManager.default.contents(atPath: dir.path("a.bin")), FileManager.default.contents(atPath: dir.path("b.bin")))
    }

    func testRelativeSelectorsEverywhere() throws {
        let last = try runCLI(["show", "-1", "--db", db, "--format", "json"])
        XCTAssertEqual(last.status, 0, last.stderr)
        XCTAssertTrue(last.stdout.contains("\"id\": 5"), last.stdout)
        let second = try runCLI(["show", "--db", db, "-2", "--no-chart"])
        XCTAssertTrue(second.stdout.hasPrefix("Run 4"), second.stdout)
    }
}
