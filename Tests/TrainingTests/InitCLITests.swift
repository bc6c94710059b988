/// `train --init default|keras`: `keras` starts from the course notebook's initial weights
/// (`glorot_uniform(seed=0)` as Keras draws it), whatever `--seed`; the choice is recorded and a
/// resumed run keeps it; combinations that make no sense are refused in one line.
import Foundation
import Kernels
import Models
import RunStore
import XCTest

final class InitCLITests: XCTestCase {
    var dir: URL!
    var db: URL { dir.appendingPathComponent("runs.db") }
    let common = ["train", "--model", "tiny", "--synthetic", "--synthetic-train", "24", "--synthetic-test", "8",
                  "--batch-size", "8", "--threads", "1"]

    override func setUpWithError() throws {
        dir = try makeTemporaryDirectory(self)
    }

    /// The kernels (glorot-uniform tensors) of a stored float32 snapshot, concatenated. A learning
    /// rate of 1e-30 leaves them bit for bit as they started (zero biases do move, to ±1e-30).
    func storedKernels(run: Int64) throws -> [UInt32] {
        let bytes = try RunStore(path: db.path, createIfMissing: false, readOnly: true).loadSnapshot(run: run, kind: .final).bytes
        return bytes.withUnsafeBytes { raw in
            TinyF32.kernelOffsets.map { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) }
        }
    }

    /// How many of two kernel lists' values differ (a count, not the lists, in a failure message).
    func differing(_ a: [UInt32], _ b: [UInt32]) -> Int {
        a.count != b.count ? max(a.count, b.count) : zip(a, b).filter { $0 != $1 }.count
    }

    func testKerasInitStartsFromTheNotebooksWeightsWhateverTheSeed() throws {
        // A learning rate too small to move float32 weights: the stored weights are the initial ones.
        for (seed, initialization) in [("0", "keras"), ("5", "keras"), ("5", "default")] {
            let r = try runCLI(common + ["--epochs", "1", "--lr", "1e-30", "--seed", seed, "--init", initialization, "--db", db.path], in: dir)
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let notebook = TinyF32(seed: 1, threads: 1)
        notebook.initializeKerasParameters()
        let expected = TinyF32.kernelOffsets.map { notebook.parameters[$0].bitPattern }
        XCTAssertEqual(expected.count, 5064)
        XCTAssertEqual(differing(try storedKernels(run: 1), expected), 0, "--init keras --seed 0")
        XCTAssertEqual(differing(try storedKernels(run: 2), expected), 0, "--init keras --seed 5: the seed only shuffles")
        XCTAssertGreaterThan(differing(try storedKernels(run: 3), expected), 4500, "--init default draws its own weights")
        let runs = try storedRuns(db)
        XCTAssertEqual(runs.map { $0.hyperparameters["init"] }, ["keras", "keras", "default"])

        // Without the flag: the default, recorded as such.
        let plain = try runCLI(common + ["--epochs", "1", "--lr", "1e-30", "--seed", "5", "--db", db.path], in: dir)
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertEqual(try storedRuns(db).first { $0.id == 4 }?.hyperparameters["init"], "default")
        XCTAssertEqual(differing(try storedKernels(run: 4), try storedKernels(run: 3)), 0)
    }

    /// A run killed before its first checkpoint starts over on `--resume`: with the Keras weights
    /// again, so it ends exactly like an uninterrupted `--init keras` run.
    func testResumeKeepsTheInitialization() throws {
        let args = common + ["--epochs", "2", "--lr", "0.003", "--seed", "3", "--init", "keras", "--db", db.path]
        XCTAssertEqual(try runCLI(args, in: dir).status, 0)
        let killed = try runCLI(args + ["--kill-during-snapshot", "1"], in: dir)
        XCTAssertEqual(killed.status, SIGKILL, killed.stderr)
        XCTAssertTrue(try storedSnapshots(db, run: 2).isEmpty, "died before its first checkpoint")
        let resumed = try runCLI(["train", "--resume", "2", "--db", db.path], in: dir)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let run = try XCTUnwrap(try storedRuns(db).first { $0.id == 2 })
        XCTAssertEqual(run.status, .completed)
        XCTAssertEqual(run.hyperparameters["init"], "keras")
        XCTAssertEqual(reproducible(try storedEpochs(db, run: 2)), reproducible(try storedEpochs(db, run: 1)))
        let store = try RunStore(path: db.path, createIfMissing: false, readOnly: true)
        XCTAssertTrue(try store.loadSnapshot(run: 2, kind: .final).bytes == store.loadSnapshot(run: 1, kind: .final).bytes, "final weights equal")
        // The same run from the default initialization ends elsewhere (so the check above can fail).
        let other = try runCLI(common + ["--epochs", "2", "--lr", "0.003", "--seed", "3", "--db", db.path], in: dir)
        XCTAssertEqual(other.status, 0, other.stderr)
        XCTAssertGreaterThan(differing(try storedKernels(run: 3), try storedKernels(run: 1)), 4500)
    }

    func testBadCombinationsAreRefusedInOneLine() throws {
        XCTAssertEqual(try runCLI(common + ["--epochs", "1", "--db", db.path], in: dir).status, 0)
        let cases: [([String], String)] = [
            (common + ["--init", "glorot", "--db", db.path], "error: --init: 'glorot' is not one of default, keras"),
            (common + ["--init", "keras", "--init-from", "1", "--db", db.path],
             "error: --init keras cannot be combined with --init-from: the run starts from that run's weights"),
            (common + ["--init", "default", "--init-from", "1", "--db", db.path],
             "error: --init default cannot be combined with --init-from: the run starts from that run's weights"),
            (["train", "--resume", "1", "--init", "keras", "--db", db.path],
             "error: --init cannot be combined with --resume: a resumed run keeps its own settings"),
        ]
        for (args, message) in cases {
            let r = try runCLI(args, in: dir)
            XCTAssertEqual(r.status, 2, "\(args): \(r.stderr)")
            XCTAssertEqual(r.stderrLines, [message])
        }
        XCTAssertEqual(try storedRuns(db).count, 1, "nothing recorded")
    }
}

extension TinyF32 {
    /// Element offsets of every glorot-uniform tensor, in order.
    static var kernelOffsets: [Int] {
        tensors.flatMap { t -> Range<Int> in
            if case .glorotUniform = t.initializer { return t.offset..<(t.offset + t.count) }
            return 0..<0
        }
    }
}
