/// Bad input to `resnet-run train` (and `evaluate`/`predict`): one clear line on stderr, a
/// non-zero exit status, and nothing half-written — no `running` row, and for input that can be
/// checked before the run starts, no row at all.
import Datasets
import Foundation
import RunStore
import XCTest

final class BadInputTests: XCTestCase {
    var dir: URL!
    var db: URL { dir.appendingPathComponent("runs.db") }

    override func setUpWithError() throws {
        dir = try makeTemporaryDirectory(self)
    }

    /// Runs `train` with `arguments` and expects exit ≠ 0, exactly one stderr line equal to
    /// `error: ` + `message` (or containing `contains`), and no run rows.
    func expectRejected(_ arguments: [String], message: String? = nil, contains: [String] = [],
                        file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try runCLI(["train"] + arguments, in: dir)
        XCTAssertNotEqual(result.status, 0, "accepted: \(arguments)", file: file, line: line)
        XCTAssertEqual(result.stdout, "", file: file, line: line)
        let lines = result.stderrLines.filter { !$0.hasPrefix("note: ") }
        XCTAssertEqual(lines.count, 1, "not one line: \(result.stderr)", file: file, line: line)
        if let message { XCTAssertEqual(lines.first, "error: " + message, file: file, line: line) }
        for word in contains {
            XCTAssertTrue(result.stderr.contains(word), "'\(word)' not in: \(result.stderr)", file: file, line: line)
        }
        let runs = (try? storedRuns(db)) ?? []
        XCTAssertEqual(runs.count, 0, "a run row was written for \(arguments)", file: file, line: line)
    }

    var tinySynthetic: [String] {
        ["--model", "tiny", "--synthetic", "--synthetic-train", "16", "--synthetic-test", "8", "--epochs", "1", "--db", db.path]
    }

    func testBadLearningRates() throws {
        try expectRejected(tinySynthetic + ["--lr", "0"],
                           message: "--lr: 0 is not a learning rate; it must be a finite number > 0 (Keras' default is 0.001)")
        try expectRejected(tinySynthetic + ["--lr", "-0.5"], contains: ["--lr: -0.5 is not a learning rate"])
        try expectRejected(tinySynthetic + ["--lr", "nan"], contains: ["--lr: nan is not a learning rate"])
        try expectRejected(tinySynthetic + ["--lr", "inf"], contains: ["--lr: inf is not a learning rate"])
        try expectRejected(tinySynthetic + ["--lr", "fast"], message: "--lr: 'fast' is not a number")
    }

    func testBadEpochsBatchSizeModelThreads() throws {
        try expectRejected(tinySynthetic + ["--epochs", "0"], message: "--epochs: 0 is not allowed; train for at least 1 epoch")
        try expectRejected(tinySynthetic + ["--epochs", "two"], message: "--epochs: 'two' is not a whole number")
        try expectRejected(tinySynthetic + ["--batch-size", "0"], message: "--batch-size: 0 is not allowed; it must be at least 1")
        try expectRejected(tinySynthetic + ["--batch-size", "9"],
                           message: "--batch-size: 9 is above what tiny is compiled for (capacity 8 set in tiny.arch)")
        try expectRejected(["--model", "resnet50-signs", "--batch-size", "64", "--db", db.path],
                           message: "--batch-size: 64 is above what resnet50-signs is compiled for (capacity 32 set in resnet50-signs.arch)")
        try expectRejected(["--model", "resnet51", "--db", db.path], contains: ["--model: unknown model 'resnet51'; available: resnet50-imagenet, resnet50-signs, tiny, tiny-float64"])
        try expectRejected(tinySynthetic + ["--threads", "0"], message: "--threads: 0 is not allowed; it must be at least 1")
        try expectRejected(tinySynthetic + ["--seed", "-1"], contains: ["--seed: '-1' is not a seed"])
    }

    func testMissingTruncatedAndNonHDF5DataFiles() throws {
        try expectRejected(["--model", "tiny", "--data", dir.appendingPathComponent("nowhere").path, "--db", db.path],
                           contains: ["nowhere: directory not found"])
        let empty = dir.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        try expectRejected(["--model", "tiny", "--data", empty.path, "--db", db.path],
                           contains: ["empty/train_signs.h5: file not found"])
        try expectRejected(["--model", "tiny", "--data-file", dir.appendingPathComponent("none.h5").path, "--split", "4", "--db", db.path],
                           contains: ["none.h5: file not found"])

        let text = dir.appendingPathComponent("text.h5")
        try Data("not an hdf5 file at all\n".utf8).write(to: text)
        try expectRejected(["--model", "tiny", "--data-file", text.path, "--split", "4", "--db", db.path],
                           contains: ["text.h5: not an HDF5 file"])

        let data = try writeSIGNSDirectory(dir.appendingPathComponent("signs"))
        let whole = try Data(contentsOf: data.appendingPathComponent("train_signs.h5"))
        let truncated = dir.appendingPathComponent("truncated")
        try FileManager.default.createDirectory(at: truncated, withIntermediateDirectories: true)
        try whole.prefix(whole.count / 2).write(to: truncated.appendingPathComponent("train_signs.h5"))
        try FileManager.default.copyItem(at: data.appendingPathComponent("test_signs.h5"), to: truncated.appendingPathComponent("test_signs.h5"))
        try expectRejected(["--model", "tiny", "--data", truncated.path, "--db", db.path],
                           contains: ["train_signs.h5", "truncated"])
    }

    func testWrongDatasetNamesShapesDtypesAndLabels() throws {
        let bad = dir.appendingPathComponent("bad")
        try FileManager.default.createDirectory(at: bad, withIntermediateDirectories: true)
        let good = try writeSIGNSDirectory(dir.appendingPathComponent("good"))
        let test = good.appendingPathComponent("test_signs.h5")
        let n = 8, pixels = [UInt8](repeating: 100, count: 8 * 16 * 16 * 3)

        // Wrong names: a file without SIGNS datasets.
        let names = bad.appendingPathComponent("names.h5")
        try HDF5Writer.write(path: names.path, datasets: [.init("images", shape: [n, 16, 16, 3], .uint8(pixels))])
        try expectRejected(["--model", "tiny", "--data-file", names.path, "--split", "4", "--db", db.path],
                           contains: ["'train_set_x'", "not found", "'images'"])

        // Wrong image shape (32×32 for a 16×16 model).
        let shape = bad.appendingPathComponent("shape.h5")
        try HDF5Writer.writeSIGNS(path: shape.path, split: "train", images: [UInt8](repeating: 0, count: n * 32 * 32 * 3),
                                  shape: [n, 32, 32, 3], labels: [Int64](repeating: 1, count: n), classes: [0, 1, 2, 3, 4, 5])
        try expectRejected(["--model", "tiny", "--data-file", shape.path, "--split", "4", "--db", db.path],
                           message: "\(shape.path): dataset 'train_set_x' has shape (8, 32, 32, 3), the model 'tiny' expects (N, 16, 16, 3)")

        // Float images.
        let dtype = bad.appendingPathComponent("dtype.h5")
        try HDF5Writer.writeSIGNS(path: dtype.path, split: "train", images: .float32([Float](repeating: 0.5, count: pixels.count)),
                                  shape: [n, 16, 16, 3], labels: .int64([Int64](repeating: 1, count: n)), labelShape: [n],
                                  classes: [0, 1, 2, 3, 4, 5])
        try expectRejected(["--model", "tiny", "--data-file", dtype.path, "--split", "4", "--db", db.path],
                           contains: ["'train_set_x' has dtype float32", "expects uint8"])

        // Label out of range, in a directory's train file.
        let labels = dir.appendingPathComponent("labels")
        try FileManager.default.createDirectory(at: labels, withIntermediateDirectories: true)
        try HDF5Writer.writeSIGNS(path: labels.appendingPathComponent("train_signs.h5").path, split: "train", images: pixels,
                                  shape: [n, 16, 16, 3], labels: [0, 1, 2, 3, 4, 5, 6, 1], classes: [0, 1, 2, 3, 4, 5])
        try FileManager.default.copyItem(at: test, to: labels.appendingPathComponent("test_signs.h5"))
        try expectRejected(["--model", "tiny", "--data", labels.path, "--db", db.path],
                           contains: ["label 6 at index 6, outside [0, 6)"])

        // A split that leaves nothing to test on.
        try expectRejected(["--model", "tiny", "--data-file", test.path, "--split", "24", "--db", db.path],
                           contains: ["--split 24:", "holds 24 images"])
    }

    func testUnusableDatabasePaths() throws {
        try expectRejected(tinySynthetic.dropLast(2) + ["--db", dir.path],
                           message: "--db: \(dir.path) is not a regular file, so it cannot be an experiment database")
        try expectRejected(tinySynthetic.dropLast(2) + ["--db", dir.appendingPathComponent("no/such/dir/x.db").path],
                           contains: ["--db: cannot create database", "does not exist"])
        let text = dir.appendingPathComponent("notes.db")
        try Data(String(repeating: "these are not SQLite pages\n", count: 10).utf8).write(to: text)
        try expectRejected(tinySynthetic.dropLast(2) + ["--db", text.path], contains: ["--db: \(text.path) is not an SQLite database"])
        XCTAssertEqual(try String(contentsOf: text, encoding: .utf8).count, 270, "the file is left as it was")
    }

    func testReadOnlyDatabase() throws {
        // File permissions do not bind root (CI runs as root), so there the second run is started
        // as an unprivileged user through util-linux's setpriv.
        let setpriv = URL(fileURLWithPath: "/usr/bin/setpriv")
        let asRoot = geteuid() == 0
        if asRoot && !FileManager.default.isExecutableFile(atPath: setpriv.path) {
            throw XCTSkip("running as root without /usr/bin/setpriv: permissions cannot make the database read-only")
        }
        // Make a valid store with one completed run, then make it read-only.
        let ok = try runCLI(["train"] + tinySynthetic, in: dir)
        XCTAssertEqual(ok.status, 0, ok.stderr)
        try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: db.path)
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: dir.path)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir.path) }
        let result = asRoot
            ? try runCLI(["--reuid=65534", "--regid=65534", "--clear-groups", try Paths.resnetRun().path, "train"] + tinySynthetic,
                         in: dir, executable: setpriv)
            : try runCLI(["train"] + tinySynthetic, in: dir)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("read-only") || result.stderr.contains("readonly"), result.stderr)
        XCTAssertEqual(result.stderrLines.count, 1, result.stderr)
        print("read-only --db: \(result.stderr)")
        XCTAssertEqual(try storedRuns(db).count, 1)
        XCTAssertFalse(try storedRuns(db).contains { $0.recordedStatus == .running })
    }

    func testResumeOfUnknownCompletedOrForeignRuns() throws {
        let missing = try runCLI(["train", "--resume", "3", "--db", db.path], in: dir)
        XCTAssertEqual(missing.status, 2)
        XCTAssertEqual(missing.stderrLines.count, 1)
        XCTAssertTrue(missing.stderr.contains("no experiment database at \(db.path)"), missing.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: db.path), "resume never creates a database")

        let ok = try runCLI(["train"] + tinySynthetic, in: dir)
        XCTAssertEqual(ok.status, 0, ok.stderr)
        let unknown = try runCLI(["train", "--resume", "7", "--db", db.path], in: dir)
        XCTAssertEqual(unknown.status, 2)
        XCTAssertEqual(unknown.stderrLines, ["error: no run 7 in \(db.path)"])
        let completed = try runCLI(["train", "--resume", "1", "--db", db.path], in: dir)
        XCTAssertEqual(completed.stderrLines, ["error: run 1 is already completed (1/1 epochs); nothing to resume — extend it with --epochs N (more than 1), or start a new run"])
        let conflicting = try runCLI(["train", "--resume", "1", "--lr", "0.1", "--db", db.path], in: dir)
        XCTAssertEqual(conflicting.stderrLines, ["error: --lr cannot be combined with --resume: a resumed run keeps its own settings"])
        // --resume takes a run selector like every command that names a stored run.
        let last = try runCLI(["train", "--resume", "last", "--db", db.path], in: dir)
        XCTAssertEqual(last.stderrLines, ["error: run 1 is already completed (1/1 epochs); nothing to resume — extend it with --epochs N (more than 1), or start a new run"])
        let label = try runCLI(["train", "--resume", "nolabel", "--db", db.path], in: dir)
        XCTAssertEqual(label.status, 2)
        XCTAssertEqual(label.stderrLines, ["error: no run labelled 'nolabel' in \(db.path) (a run is named by its id, a range like 3-7, last, -1, or its label)"])
        let range = try runCLI(["train", "--resume", "1-3", "--db", db.path], in: dir)
        XCTAssertEqual(range.stderrLines, ["error: expected one run id, got the range '1-3'"])

        // A failed run without a checkpoint (it failed before finishing an epoch) is refused.
        let runs = try storedRuns(db)
        XCTAssertEqual(runs.count, 1)
        XCTAssertFalse(runs.contains { $0.recordedStatus == .running })
    }

    func testEvaluateAndPredictBadInput() throws {
        let noDB = try runCLI(["evaluate", "1", "--db", db.path], in: dir)
        XCTAssertEqual(noDB.status, 2)
        XCTAssertEqual(noDB.stderrLines.count, 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: db.path))
        let ok = try runCLI(["train"] + tinySynthetic, in: dir)
        XCTAssertEqual(ok.status, 0, ok.stderr)
        let unknown = try runCLI(["evaluate", "4", "--db", db.path], in: dir)
        XCTAssertEqual(unknown.stderrLines, ["error: no run 4 in \(db.path)"])
        let kind = try runCLI(["evaluate", "1", "--db", db.path, "--snapshot", "latest"], in: dir)
        XCTAssertEqual(kind.status, 2)
        XCTAssertEqual(kind.stderrLines, ["error: --snapshot: 'latest' is not one of final, best, checkpoint"])
        let oldKind = try runCLI(["evaluate", "1", "--db", db.path, "--weights", "latest"], in: dir)
        XCTAssertEqual(oldKind.stderrLines, ["error: --weights: 'latest' is not one of final, best, checkpoint"])
        let noCheckpoint = try runCLI(["evaluate", "1", "--db", db.path, "--snapshot", "checkpoint"], in: dir)
        XCTAssertEqual(noCheckpoint.stderrLines.count, 1)
        XCTAssertTrue(noCheckpoint.stderr.contains("run 1 has no 'checkpoint' weight snapshot"), noCheckpoint.stderr)
        let missing = try runCLI(["predict", "1", "--db", db.path, "--data", "nothing.h5", "--index", "0"], in: dir)
        XCTAssertEqual(missing.stderrLines, ["error: --data nothing.h5: no such file or directory"])
    }
}
