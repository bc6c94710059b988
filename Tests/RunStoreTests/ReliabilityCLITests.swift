/// `resnet-runs` run as a process for the reliability issue: the `diverged` status, NaN/inf in
/// sorting and "best", `compare --metric` errors, `delete --vacuum` sizes, where the best weights
/// are, `ulimit -f`, and read commands / writers meeting files of other users (as root, through
/// setpriv as `nobody` and `daemon`).
import Foundation
import XCTest
@testable import RunStore
@testable import resnet_runs

final class ReliabilityCLITests: XCTestCase {
    var dir: TempDir!
    var db: String!

    override func setUpWithError() throws {
        dir = try TempDir()
        db = dir.path("experiments.db")
    }
    override func tearDown() {
        chmod(dir.url.path, 0o755)
        dir.cleanup()
    }

    /// Exactly one line on stderr starting `error: `, nothing on stdout.
    func assertOneLineError(_ r: CLIResult, _ expected: String, status: Int32 = 2,
                            file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, status, r.stderr, file: file, line: line)
        XCTAssertEqual(r.stdout, "", file: file, line: line)
        XCTAssertEqual(r.stderr, "error: \(expected)\n", file: file, line: line)
    }

    // MARK: diverged, NaN and infinity

    /// A: completed (lr 0.001); B: diverged (lr 0.01, NaN in epoch 2); C: failed with an infinite
    /// learning rate, an infinite test accuracy and a -inf loss.
    func buildNonFiniteStore() throws -> (a: Int64, b: Int64, c: Int64) {
        let store = try RunStore(path: db, createIfMissing: true)
        let owner = ProcessIdentity(pid: 1, host: "elsewhere", bootID: nil, startTicks: nil)
        let t0 = Fixture.t0
        let a = try store.createRun(Fixture.config(label: "a", model: "m", lr: 0.001, batch: 8, epochs: 2), startedAt: t0, owner: owner)
        try store.recordEpoch(run: a, epoch: 1, metrics: ["loss": 1.0, "test_accuracy": 0.5], at: t0.addingTimeInterval(10))
        try store.recordEpoch(run: a, epoch: 2, metrics: ["loss": 0.8, "test_accuracy": 0.6], at: t0.addingTimeInterval(20))
        try store.finishRun(run: a, status: .completed, at: t0.addingTimeInterval(30))
        let b = try store.createRun(Fixture.config(label: "b", model: "m", lr: 0.01, batch: 8, epochs: 2), startedAt: t0, owner: owner)
        try store.recordEpoch(run: b, epoch: 1, metrics: ["loss": 0.9, "test_accuracy": 0.7], at: t0.addingTimeInterval(10))
        try store.recordEpoch(run: b, epoch: 2, metrics: ["loss": .nan, "test_accuracy": .nan], at: t0.addingTimeInterval(20))
        try store.finishRun(run: b, status: .diverged, reason: "loss became NaN in epoch 2", at: t0.addingTimeInterval(30))
        let c = try store.createRun(Fixture.config(label: "c", model: "m", lr: .infinity, batch: 8, epochs: 2), startedAt: t0, owner: owner)
        try store.recordEpoch(run: c, epoch: 1, metrics: ["loss": 2.0, "test_accuracy": .infinity], at: t0.addingTimeInterval(10))
        try store.recordEpoch(run: c, epoch: 2, metrics: ["loss": -.infinity, "test_accuracy": .infinity], at: t0.addingTimeInterval(20))
        try store.finishRun(run: c, status: .failed, at: t0.addingTimeInterval(30))
        return (a, b, c)
    }

    func csvIDs(_ r: CLIResult) -> [String] {
        r.stdout.split(separator: "\n").dropFirst().map { String($0.split(separator: ",")[0]) }
    }

    func testDivergedStatusIsListedFilteredAndRed() throws {
        let (_, b, _) = try buildNonFiniteStore()
        var r = try runCLI(["list", "--db", db, "--status", "diverged", "--format", "csv"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(csvIDs(r), ["\(b)"])
        XCTAssertTrue(r.stdout.contains("\(b),diverged,b,"), r.stdout)
        r = try runCLI(["show", "\(b)", "--db", db])
        XCTAssertTrue(r.stdout.contains("  status          diverged — loss became NaN in epoch 2\n"), r.stdout)
        XCTAssertEqual(Style.statusKind(.diverged), .red)
        XCTAssertEqual(Style(enabled: true).apply(Style.statusKind(.diverged), "diverged"), "\u{1B}[31mdiverged\u{1B}[0m")
        for args in [["list", "--help"], ["--help"]] {
            r = try runCLI(args)
            XCTAssertTrue(r.stdout.contains("diverged"), "\(args): \(r.stdout)")
        }
        assertOneLineError(try runCLI(["list", "--db", db, "--status", "exploded"]),
                           "--status: unknown status 'exploded' (choose from running, completed, interrupted, failed, crashed, diverged, imported)")
    }

    /// Schema v3's status: listed, filtered and blue (runs are made by `resnet-run import`).
    func testImportedStatusIsListedFilteredAndBlue() throws {
        let db = dir.path("imported.db")
        let store = try RunStore(path: db, createIfMissing: true)
        let config = Fixture.config(label: "course-pretrained", model: "tiny", lr: 0, batch: 0, epochs: 0)
        let id = try [Float(1)].withUnsafeBytes {
            try store.createImportedRun(config, reason: "imported from x.h5", tensors: [
                TensorEntry(name: "w", shape: [1], dtype: "float32", offset: 0, byteCount: 4)], bytes: $0)
        }
        _ = try store.createRun(Fixture.config(label: "trained", model: "tiny", lr: 0.001, batch: 8, epochs: 1))
        let r = try runCLI(["list", "--db", db, "--status", "imported", "--format", "csv"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("course-pretrained") && r.stdout.contains("imported"), r.stdout)
        XCTAssertFalse(r.stdout.contains(",trained,"), r.stdout)
        XCTAssertEqual(try store.run(id).status, .imported)
        XCTAssertEqual(try store.snapshots(run: id).map(\.kind), [.final])
        XCTAssertEqual(Style.statusKind(.imported), .blue)
        // Not trained here: the table shows no learning rate, batch or epochs for it.
        let table = try runCLI(["list", "--db", db, "--status", "imported"])
        let row = try XCTUnwrap(table.stdout.split(separator: "\n").first { $0.contains("course-pretrained") })
        XCTAssertFalse(row.contains("0/0"), String(row))
        XCTAssertTrue(row.contains("  -  "), String(row))
    }

    func testSortingNeverPutsNonFiniteValuesFirst() throws {
        let (a, b, c) = try buildNonFiniteStore()
        // An infinite learning rate sorts with the missing values: last, in both directions.
        XCTAssertEqual(csvIDs(try runCLI(["list", "--db", db, "--sort", "lr", "--desc", "--format", "csv"])), ["\(b)", "\(a)", "\(c)"])
        XCTAssertEqual(csvIDs(try runCLI(["list", "--db", db, "--sort", "lr", "--format", "csv"])), ["\(a)", "\(b)", "\(c)"])
        // Test accuracies of NaN / infinity never count as the best or the final one.
        XCTAssertEqual(csvIDs(try runCLI(["list", "--db", db, "--sort", "best", "--desc", "--format", "csv"])), ["\(b)", "\(a)", "\(c)"])
        XCTAssertEqual(csvIDs(try runCLI(["list", "--db", db, "--sort", "final", "--desc", "--format", "csv"])), ["\(a)", "\(b)", "\(c)"])
        let keys = [1.0, .nan, .infinity, -.infinity, 0.5].map { v -> ListRuns.SortKey in
            var r = try! RunStore(path: db, createIfMissing: false, readOnly: true).run(a)
            r.bestTestAccuracy = v
            return ListRuns.sortKey(r, .best, now: Fixture.now)
        }
        XCTAssertEqual(keys.map { if case .missing = $0 { return true } else { return false } }, [false, true, true, true, false])
    }

    func testCompareNeverStarsNonFiniteValues() throws {
        let (a, b, c) = try buildNonFiniteStore()
        var r = try runCLI(["compare", "\(a)", "\(b)", "\(c)", "--db", db, "--format", "json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let metrics = try XCTUnwrap(json["metrics"] as? [[String: Any]])
        func row(_ name: String) throws -> [String: Any] { try XCTUnwrap(metrics.first { $0["name"] as? String == name }, name) }
        func values(_ name: String) throws -> [String] { (try row(name)["values"] as? [Any] ?? []).map { "\($0)" } }
        // One finite value among NaN and -inf: nothing to rank, no best.
        XCTAssertEqual(try values("final loss"), ["0.8", "NaN", "-Infinity"])
        XCTAssertTrue(try row("final loss")["best_run"] is NSNull)
        // "best" rows are taken over finite values only.
        XCTAssertEqual(try values("best loss"), ["0.8", "0.9", "2"])
        XCTAssertEqual(try row("best loss")["best_run"] as? Int, Int(a))
        XCTAssertEqual(try values("final test_accuracy"), ["0.6", "NaN", "Infinity"])
        XCTAssertTrue(try row("final test_accuracy")["best_run"] is NSNull)
        XCTAssertEqual(try values("best test_accuracy"), ["0.6", "0.7", "<null>"])
        XCTAssertEqual(try row("best test_accuracy")["best_run"] as? Int, Int(b))

        r = try runCLI(["compare", "\(a)", "\(b)", "\(c)", "--db", db, "--no-epochs", "--no-chart"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let table = r.stdout.components(separatedBy: "; ★ best)\n")[1]
        var stars = 0
        for line in table.split(separator: "\n") {
            for cell in line.components(separatedBy: "  ") where cell.contains("★") {
                stars += 1
                XCTAssertFalse(cell.contains("NaN") || cell.contains("inf"), "starred a non-finite value: \(line)")
            }
        }
        XCTAssertEqual(stars, 2, table)  // best loss (#a) and best test_accuracy (#b)
        XCTAssertTrue(table.contains("NaN") && table.contains("inf"), table)
    }

    func testCompareRejectsUnknownMetric() throws {
        let (a, b, _) = try buildNonFiniteStore()
        let before = fileDigest(db)
        assertOneLineError(try runCLI(["compare", "\(a)", "\(b)", "--db", db, "--metric", "nope"]),
                           "--metric: unknown metric 'nope' (known: loss, test_accuracy)")
        let svg = dir.path("curves.svg")
        assertOneLineError(try runCLI(["compare", "\(a)", "\(b)", "--db", db, "--metric", "loss", "--metric", "acc", "--metric", "x", "--plot", svg]),
                           "--metric: unknown metric 'acc', 'x' (known: loss, test_accuracy)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: svg), "no plot is written for a failed command")
        XCTAssertEqual(fileDigest(db), before)
        let ok = try runCLI(["compare", "\(a)", "\(b)", "--db", db, "--metric", "loss", "--no-chart"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertTrue(ok.stdout.contains("Per-epoch loss"))
        XCTAssertFalse(ok.stdout.contains("Per-epoch test_accuracy"))
    }

    // MARK: delete --vacuum

    func testVacuumReportsTheSizesBeforeAndAfter() throws {
        try Fixture.build(at: db)
        do {
            let store = try RunStore(path: db, createIfMissing: false)
            let big = [UInt8](repeating: 3, count: 4 << 20)
            try big.withUnsafeBytes { try store.saveSnapshot(run: 1, kind: .final, epoch: 5, tensors: [], bytes: $0) }
            try store.checkpoint()
        }
        let before = RunStore.fileSize(db)
        let r = try runCLI(["delete", "1", "--yes", "--vacuum", "--db", db])
        XCTAssertEqual(r.status, 0, r.stderr)
        let after = RunStore.fileSize(db)
        XCTAssertLessThan(after, before - 4_000_000)
        XCTAssertTrue(r.stdout.hasSuffix("Vacuumed \(db!): \(RunStoreError.bytes(before)) → \(RunStoreError.bytes(after)).\n"), r.stdout)
    }

    // MARK: where the best weights are

    func testShowAndListSayWhichBestWeightsAreStored() throws {
        try Fixture.build(at: db)
        do {
            let store = try RunStore(path: db, createIfMissing: false)
            let w = [UInt8](repeating: 1, count: 4096)
            // Run 1's best epoch is 5, but it was killed while writing epoch 5's weights: the
            // stored 'best' snapshot is still epoch 4's.
            try w.withUnsafeBytes { try store.saveSnapshot(run: 1, kind: .best, epoch: 4, tensors: [], bytes: $0, extra: ["test_accuracy": "0.73"]) }
            // Run 2 stored the weights of its best epoch.
            try w.withUnsafeBytes { try store.saveSnapshot(run: 2, kind: .best, epoch: 5, tensors: [], bytes: $0, extra: ["test_accuracy": "0.8421"]) }
            // Run 4 stored only a checkpoint, of an earlier epoch.
            try w.withUnsafeBytes { try store.saveSnapshot(run: 4, kind: .checkpoint, epoch: 2, tensors: [], bytes: $0) }
        }
        var r = try runCLI(["show", "1", "--db", db])
        XCTAssertTrue(r.stdout.contains("  best test acc   0.8000 at epoch 5\n  best weights    epoch 4, test acc 0.7300 (the weights of best epoch 5 were not stored)\n"), r.stdout)
        r = try runCLI(["show", "2", "--db", db])
        XCTAssertTrue(r.stdout.contains("  best weights    epoch 5, test acc 0.8421\n"), r.stdout)
        r = try runCLI(["show", "3", "--db", db])
        XCTAssertTrue(r.stdout.contains("  best weights    no stored weights\n"), r.stdout)
        r = try runCLI(["show", "4", "--db", db])
        XCTAssertTrue(r.stdout.contains("  best weights    no 'best' snapshot (stored: checkpoint of epoch 2)\n"), r.stdout)
        r = try runCLI(["show", "1", "--db", db, "--format", "json"])
        let show = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(show["best_epoch"] as? Int, 5)
        XCTAssertEqual(show["best_weights_epoch"] as? Int, 4)

        r = try runCLI(["list", "--db", db])
        let lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains { $0.hasPrefix(" 1  completed") && $0.hasSuffix("0.8000   0.8000*") }, r.stdout)
        XCTAssertTrue(lines.contains { $0.hasPrefix(" 2  completed") && $0.hasSuffix("0.8421    0.8421") }, r.stdout)
        XCTAssertEqual(lines.last, "* no stored weights of that epoch (see resnet-runs show RUN)")
        r = try runCLI(["list", "--db", db, "--format", "json"])
        let list = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        let byID = Dictionary(uniqueKeysWithValues: list.map { ($0["id"] as! Int, $0) })
        XCTAssertEqual(byID[1]?["best_epoch_weights_stored"] as? Bool, false)
        XCTAssertEqual(byID[1]?["stored_weights"] as? [String: Int], ["best": 4])
        XCTAssertEqual(byID[2]?["best_epoch_weights_stored"] as? Bool, true)
        XCTAssertEqual(byID[3]?["stored_weights"] as? [String: Int], [:])
        XCTAssertEqual(byID[4]?["stored_weights"] as? [String: Int], ["checkpoint": 2])
        // A list of runs that all have their best weights needs no legend.
        r = try runCLI(["list", "--db", db, "--status", "completed", "--sort", "best", "--desc", "--limit", "1"])
        XCTAssertEqual(r.stdout.split(separator: "\n").count, 2, r.stdout)
        XCTAssertFalse(r.stdout.contains("*"), r.stdout)
    }

    // MARK: file-size limit

    func testFileSizeLimitIsReportedInsteadOfKillingTheProcess() throws {
        // bash's `ulimit -f` counts KiB: 2 MiB. The writer's 4 MiB snapshot cannot fit in the WAL.
        let r = try runProcess("/bin/bash", ["-c", "ulimit -f 2048; \"$0\" debug-writer --db \"$1\" --epochs 1 --epoch-ms 1 --snapshot-kb 4096",
                                             resnetRunsBinary, db])
        XCTAssertNotEqual(r.status, 128 + SIGXFSZ, "killed by SIGXFSZ")
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertEqual(r.stdout, "run 1\nepoch 1 committed\n")
        XCTAssertEqual(r.stderr, "error: database \(db!): \(db!)-wal reached this process's file-size limit of 2.1 MB (ulimit -f); nothing of the failed write was kept — raise the limit (ulimit -f unlimited)\n")
        let store = try RunStore(path: db, createIfMissing: false, readOnly: true)
        XCTAssertEqual(try store.integrityProblems(), [])
        XCTAssertEqual(try store.epochs(run: 1).map(\.epoch), [1])
        XCTAssertEqual(try store.snapshots(run: 1), [])
    }

    // MARK: other users

    static let nobody: uid_t = 65534
    static let daemon: uid_t = 1

    func requireRootWithSetpriv() throws {
        guard geteuid() == 0 else {
            throw XCTSkip("needs root to run resnet-runs as other users (setpriv); running as uid \(geteuid())")
        }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else {
            throw XCTSkip("running as root without /usr/bin/setpriv: cannot run commands as another user")
        }
    }

    func owner(_ path: String) -> uid_t? {
        var st = stat()
        return stat(path, &st) == 0 ? st.st_uid : nil
    }

    func journalFiles(_ path: String) -> [String] {
        [path + "-wal", path + "-shm"].filter { FileManager.default.fileExists(atPath: $0) }
    }

    /// The fixture store in a world-writable directory, owned by `daemon`, all connections closed.
    func sharedStoreOwnedByDaemon() throws -> String {
        let shared = dir.path("shared")
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
        XCTAssertEqual(chmod(shared, 0o777), 0)
        let path = shared + "/experiments.db"
        try Fixture.build(at: path)
        XCTAssertEqual(journalFiles(path), [], "the fixture's connection is closed")
        XCTAssertEqual(chown(path, Self.daemon, Self.daemon), 0)
        return path
    }

    func testAnotherUsersListLeavesNoFilesAndTheOwnerCanStillWrite() throws {
        try requireRootWithSetpriv()
        // A database owned by root in a directory `nobody` can read but not write.
        try Fixture.build(at: db)
        XCTAssertEqual(RunStore.userName(Self.nobody), "nobody")
        var r = try runCLI(asUser: Self.nobody, ["list", "--db", db])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, CLITests.goldenList)
        for command in [["show", "1"], ["compare", "1", "2", "--no-chart"], ["check"]] {
            r = try runCLI(asUser: Self.nobody, command + ["--db", db])
            XCTAssertEqual(r.status, 0, "\(command): \(r.stderr)")
        }
        XCTAssertEqual(journalFiles(db), [])
        r = try runCLI(["label", "1", "after nobody", "--db", db])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try RunStore(path: db, createIfMissing: false).run(1).label, "after nobody")

        // The reported case: the owner is an ordinary user (daemon) and the directory is
        // writable by everyone. Another user's `list` must not leave -wal/-shm files of its own,
        // which would make the owner's next write fail.
        let shared = try sharedStoreOwnedByDaemon()
        r = try runCLI(asUser: Self.nobody, ["list", "--db", shared])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, CLITests.goldenList)
        XCTAssertEqual(journalFiles(shared), [], "files left by nobody: \(journalFiles(shared).map { "\($0) uid \(owner($0) ?? 0)" })")
        r = try runCLI(asUser: Self.daemon, ["label", "2", "owner writes", "--db", shared])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try RunStore(path: shared, createIfMissing: false, readOnly: true).run(2).label, "owner writes")
    }

    func testReadCommandsWorkInAReadOnlyDirectory() throws {
        try requireRootWithSetpriv()
        try Fixture.build(at: db)
        XCTAssertEqual(chmod(dir.url.path, 0o555), 0)
        for user in [Self.nobody] {
            for command in [["list"], ["show", "3"], ["compare", "1", "2"], ["check"]] {
                let r = try runCLI(asUser: user, command + ["--db", db])
                XCTAssertEqual(r.status, 0, "\(command): \(r.stderr)")
                XCTAssertEqual(r.stderr, "")
            }
        }
        // The owner itself, on read-only media (here: a directory it cannot write).
        XCTAssertEqual(chown(db, Self.nobody, Self.nobody), 0)
        let r = try runCLI(asUser: Self.nobody, ["list", "--db", db])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, CLITests.goldenList)
        XCTAssertEqual(journalFiles(db), [])
        // Writes there fail as before, in one line.
        let w = try runCLI(asUser: Self.nobody, ["label", "1", "x", "--db", db])
        XCTAssertEqual(w.status, 1)
        XCTAssertTrue(w.stderr.hasPrefix("error: database \(db!)"), w.stderr)
        XCTAssertEqual(w.stderr.filter { $0 == "\n" }.count, 1, w.stderr)
    }

    func testAnotherUserReadsWhatALiveWriterCommitted() throws {
        try requireRootWithSetpriv()
        let writer = try Fixture.build(at: db)
        // The writer's connection stays open: its -wal (not checkpointed) and -shm exist.
        let id = try writer.createRun(Fixture.config(label: "in-wal", model: "resnet50", lr: 0.1, batch: 32, epochs: 1),
                                      owner: ProcessIdentity(pid: 1, host: "elsewhere", bootID: nil, startTicks: nil))
        XCTAssertEqual(journalFiles(db).count, 2)
        let before = journalFiles(db).map { "\($0) \(owner($0) ?? 9)" }
        let r = try runCLI(asUser: Self.nobody, ["list", "--db", db, "--format", "csv"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("\n\(id),running,in-wal,"), r.stdout)
        XCTAssertEqual(journalFiles(db).map { "\($0) \(owner($0) ?? 9)" }, before)
        try writer.finishRun(run: id, status: .completed)
    }

    func testAnotherUserMeetingAWALWithoutItsIndexIsTold() throws {
        try requireRootWithSetpriv()
        let writer = try Fixture.build(at: db)
        _ = try writer.createRun(Fixture.config(label: "in-wal", model: "resnet50", lr: 0.1, batch: 32, epochs: 1))
        // A copy of the database and its (non-empty) WAL, without the -shm index.
        let copy = dir.path("copy.db")
        try FileManager.default.copyItem(atPath: db, toPath: copy)
        try FileManager.default.copyItem(atPath: db + "-wal", toPath: copy + "-wal")
        XCTAssertGreaterThan(RunStore.fileSize(copy + "-wal"), 0)
        let r = try runCLI(asUser: Self.nobody, ["list", "--db", copy])
        assertOneLineError(r, "database \(copy): its write-ahead log \(copy)-wal has no \(copy)-shm index, and user nobody will not create one in a file owned by root; run any resnet-runs command as root first (it tidies the log up)", status: 1)
        XCTAssertEqual(journalFiles(copy), [copy + "-wal"])
        // The owner's read command recovers the log and removes it on close; then nobody can read.
        let owner = try runCLI(["list", "--db", copy, "--format", "csv"])
        XCTAssertTrue(owner.stdout.contains(",running,in-wal,"), owner.stdout)
        XCTAssertEqual(journalFiles(copy), [])
        let again = try runCLI(asUser: Self.nobody, ["list", "--db", copy, "--format", "csv"])
        XCTAssertEqual(again.stdout, owner.stdout)
    }

    func testWriterMeetingAnotherUsersJournalFileSaysWhich() throws {
        try requireRootWithSetpriv()
        let shared = try sharedStoreOwnedByDaemon()
        // What an older resnet-runs `list` run by nobody left behind.
        let shm = shared + "-shm"
        XCTAssertTrue(FileManager.default.createFile(atPath: shm, contents: Data(count: 32768), attributes: [.posixPermissions: 0o644]))
        XCTAssertEqual(chown(shm, Self.nobody, Self.nobody), 0)
        let before = fileDigest(shared)
        let r = try runCLI(asUser: Self.daemon, ["label", "1", "x", "--db", shared])
        assertOneLineError(r, "database \(shared): \(shm) belongs to user nobody and cannot be written by user daemon (a command run as nobody left it); remove it if no process of nobody is using the database, or run as nobody", status: 1)
        XCTAssertEqual(fileDigest(shared), before)
        // Read commands of the owner still work (read-only, through the existing files).
        let list = try runCLI(asUser: Self.daemon, ["list", "--db", shared])
        XCTAssertEqual(list.status, 0, list.stderr)
        // Once the file is gone, the owner writes again.
        XCTAssertEqual(unlink(shm), 0)
        XCTAssertEqual(try runCLI(asUser: Self.daemon, ["label", "1", "x", "--db", shared]).status, 0)
    }
}
