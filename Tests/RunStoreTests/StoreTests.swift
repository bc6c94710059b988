/// API-level tests of `RunStore`: runs and epochs, summaries, snapshots and their checksums,
/// crash detection, schema versioning, and refusal of missing / empty / foreign files.
import Foundation
import GRDB
import XCTest
@testable import RunStore

final class StoreTests: XCTestCase {
    var dir: TempDir!
    override func setUpWithError() throws { dir = try TempDir() }
    override func tearDown() { dir.cleanup() }

    func testRunsEpochsAndSummary() throws {
        let store = try RunStore(path: dir.path("e.db"), createIfMissing: true)
        let start = Date(timeIntervalSince1970: 1_000_000)
        let id = try store.createRun(Fixture.config(label: "a", model: "resnet50", lr: 0.001, batch: 16, epochs: 3), startedAt: start)
        XCTAssertEqual(try store.run(id).status, .running)  // owned by this (live) process
        try store.recordEpoch(run: id, epoch: 1, metrics: ["loss": 1.5, "test_accuracy": 0.5], at: start.addingTimeInterval(10))
        try store.recordEpoch(run: id, epoch: 2, metrics: ["loss": .nan, "test_accuracy": 0.7, "custom": -.infinity], at: start.addingTimeInterval(20))
        try store.recordEpoch(run: id, epoch: 3, metrics: ["loss": 0.5, "test_accuracy": 0.6], at: start.addingTimeInterval(30))
        var r = try store.run(id)
        XCTAssertEqual(r.epochsDone, 3)
        XCTAssertEqual(r.finalTestAccuracy, 0.6)
        XCTAssertEqual(r.bestTestAccuracy, 0.7)
        XCTAssertEqual(r.bestEpoch, 2)
        XCTAssertEqual(r.heartbeatAt, start.addingTimeInterval(30))
        XCTAssertEqual(r.hyperparameters["lr"], "0.001")
        // Re-recording an epoch replaces it and refreshes the summary.
        try store.recordEpoch(run: id, epoch: 3, metrics: ["loss": 0.4, "test_accuracy": 0.9], at: start.addingTimeInterval(40))
        r = try store.run(id)
        XCTAssertEqual(r.epochsDone, 3)
        XCTAssertEqual(r.bestTestAccuracy, 0.9)
        XCTAssertEqual(r.bestEpoch, 3)
        let epochs = try store.epochs(run: id)
        XCTAssertEqual(epochs.map(\.epoch), [1, 2, 3])
        XCTAssertTrue(epochs[1].metrics["loss"]!.isNaN)
        XCTAssertEqual(epochs[1].metrics["custom"], -.infinity)
        XCTAssertEqual(epochs[2].metrics, ["loss": 0.4, "test_accuracy": 0.9])
        try store.finishRun(run: id, status: .completed, at: start.addingTimeInterval(100))
        r = try store.run(id)
        XCTAssertEqual(r.status, .completed)
        XCTAssertEqual(r.duration(now: Date()), 100)
        XCTAssertThrowsError(try store.recordEpoch(run: 99, epoch: 1, metrics: [:])) {
            XCTAssertEqual($0 as? RunStoreError, .unknownRun(id: 99, path: dir.path("e.db")))
        }
        XCTAssertThrowsError(try store.finishRun(run: id, status: .running))
        try store.resumeRun(run: id)
        XCTAssertEqual(try store.run(id).status, .running)
        XCTAssertNil(try store.run(id).finishedAt)
    }

    func testLabelsNotesAndDelete() throws {
        let store = try RunStore(path: dir.path("e.db"), createIfMissing: true)
        let a = try store.createRun(Fixture.config(label: nil, model: "m", lr: 0.1, batch: 1, epochs: 1))
        let b = try store.createRun(Fixture.config(label: nil, model: "m", lr: 0.1, batch: 1, epochs: 1))
        try store.setLabel(run: a, label: "first")
        try store.addNote(run: a, text: "one")
        try store.addNote(run: a, text: "two")
        XCTAssertEqual(try store.run(a).label, "first")
        XCTAssertEqual(try store.run(a).notes, "one\ntwo")
        try store.addNote(run: a, text: "", replace: true)
        XCTAssertNil(try store.run(a).notes)
        // Running runs (this live process) cannot be deleted; nothing is deleted then.
        XCTAssertThrowsError(try store.deleteRuns([a, b]))
        XCTAssertEqual(try store.runs().count, 2)
        try store.finishRun(run: a, status: .failed, reason: "NaN loss")
        try store.recordEpoch(run: a, epoch: 1, metrics: ["loss": 1])
        let summary = try store.deleteRuns([a])
        XCTAssertEqual(summary.runs, 1)
        XCTAssertEqual(summary.epochs, 1)
        XCTAssertEqual(try store.runs().map(\.id), [b])
        XCTAssertTrue(try store.epochs(runs: [b])[b]!.isEmpty)
    }

    func tensors(_ bytes: Int) -> [TensorEntry] {
        [TensorEntry(name: "conv1.weight", shape: [bytes / 8, 1], dtype: "float32", offset: 0, byteCount: bytes / 2),
         TensorEntry(name: "fc.bias", shape: [bytes / 16], dtype: "float64", offset: bytes / 2, byteCount: bytes / 2)]
    }

    func testSnapshotRoundTripReplaceAndStreaming() throws {
        let store = try RunStore(path: dir.path("e.db"), createIfMissing: true)
        store.blobChunkSize = 4096 + 3  // odd chunking must not matter
        let id = try store.createRun(Fixture.config(label: nil, model: "m", lr: 0.1, batch: 1, epochs: 1))
        let n = 1 << 20
        let data = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) }
        try data.withUnsafeBytes { try store.saveSnapshot(run: id, kind: .best, epoch: 3, tensors: tensors(n), bytes: $0, extra: ["step": "300"]) }
        var loaded = try store.loadSnapshot(run: id, kind: .best)
        XCTAssertEqual(loaded.bytes, data)
        XCTAssertEqual(loaded.tensors, tensors(n))
        XCTAssertEqual(loaded.extra, ["step": "300"])
        XCTAssertEqual(loaded.epoch, 3)
        // Replace with different content: the old snapshot is gone.
        let data2 = data.map { $0 ^ 0x5A }
        try data2.withUnsafeBytes { try store.saveSnapshot(run: id, kind: .best, epoch: 4, tensors: tensors(n), bytes: $0) }
        loaded = try store.loadSnapshot(run: id, kind: .best)
        XCTAssertEqual(loaded.bytes, data2)
        XCTAssertEqual(loaded.epoch, 4)
        XCTAssertEqual(loaded.extra, [:])
        let infos = try store.snapshots(run: id)
        XCTAssertEqual(infos.count, 1)
        XCTAssertEqual(infos[0].checksum, "xxh64:" + XXH64.hash(data2).hexString)
        // Into a caller buffer, and streamed.
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: n, alignment: 16)
        defer { buffer.deallocate() }
        try store.loadSnapshot(run: id, kind: .best, into: buffer)
        XCTAssertEqual(Array(buffer), data2)
        var streamed: [UInt8] = []
        try store.readSnapshot(run: id, kind: .best) { streamed += $0 }
        XCTAssertEqual(streamed, data2)
        XCTAssertThrowsError(try store.loadSnapshot(run: id, kind: .best, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<10])))
        XCTAssertThrowsError(try store.loadSnapshot(run: id, kind: .final)) { error in
            XCTAssertEqual(error as? RunStoreError, .missingSnapshot(run: id, kind: "final", available: ["best"]))
            XCTAssertTrue("\(error)".contains("available: best"), "\(error)")
        }
        // An empty snapshot is legal.
        try store.saveSnapshot(run: id, kind: .final, epoch: 1, tensors: [], bytes: UnsafeRawBufferPointer(start: nil, count: 0))
        XCTAssertEqual(try store.loadSnapshot(run: id, kind: .final).bytes, [])
    }

    func testManifestValidation() throws {
        let store = try RunStore(path: dir.path("e.db"), createIfMissing: true)
        let id = try store.createRun(Fixture.config(label: nil, model: "m", lr: 0.1, batch: 1, epochs: 1))
        let data = [UInt8](repeating: 1, count: 64)
        let bad: [[TensorEntry]] = [
            [TensorEntry(name: "w", shape: [16], dtype: "float32", offset: 4, byteCount: 64)],   // past the end
            [TensorEntry(name: "w", shape: [3], dtype: "float32", offset: 0, byteCount: 16)],    // shape mismatch
            [TensorEntry(name: "w", shape: [16], dtype: "bfloat7", offset: 0, byteCount: 64)],   // dtype
            [TensorEntry(name: "w", shape: [1], dtype: "float32", offset: 0, byteCount: 4),
             TensorEntry(name: "w", shape: [1], dtype: "float32", offset: 4, byteCount: 4)],     // duplicate
        ]
        for manifest in bad {
            XCTAssertThrowsError(try data.withUnsafeBytes { try store.saveSnapshot(run: id, kind: .final, epoch: 1, tensors: manifest, bytes: $0) }) {
                guard case .invalidArgument = $0 as? RunStoreError else { return XCTFail("\($0)") }
            }
        }
        XCTAssertTrue(try store.snapshots(run: id).isEmpty)
        XCTAssertThrowsError(try data.withUnsafeBytes { try store.saveSnapshot(run: 42, kind: .final, epoch: 1, tensors: [], bytes: $0) })
    }

    /// Flips one byte of a stored blob in the file: reading must fail verification.
    func testChecksumVerifiedOnRead() throws {
        let path = dir.path("e.db")
        let marker = Array("MARKER-0123456789-MARKER".utf8)
        var data = [UInt8](repeating: 0x11, count: 200_000)
        data.replaceSubrange(100_000 ..< 100_000 + marker.count, with: marker)
        do {
            let store = try RunStore(path: path, createIfMissing: true)
            let id = try store.createRun(Fixture.config(label: nil, model: "m", lr: 0.1, batch: 1, epochs: 1))
            try data.withUnsafeBytes { try store.saveSnapshot(run: id, kind: .checkpoint, epoch: 1, tensors: [], bytes: $0) }
            try store.checkpoint()
        }
        var file = try Data(contentsOf: URL(fileURLWithPath: path))
        let range = try XCTUnwrap(file.range(of: Data(marker)))
        file[range.lowerBound + 3] ^= 0xFF
        try file.write(to: URL(fileURLWithPath: path))
        let store = try RunStore(path: path, createIfMissing: false, readOnly: true)
        XCTAssertThrowsError(try store.loadSnapshot(run: 1, kind: .checkpoint)) { error in
            guard case .checksumMismatch(1, "checkpoint", _, _) = error as? RunStoreError else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(try store.integrityProblems(), [])  // structure intact, content damaged
    }

    func testCrashDetection() throws {
        let store = try RunStore(path: dir.path("e.db"), createIfMissing: true)
        let now = Date()
        // A process that has exited (and been reaped) on this host.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let dead = ProcessIdentity(pid: child.processIdentifier, host: ProcessIdentity.hostName(), bootID: ProcessIdentity.bootID(), startTicks: nil)
        let a = try store.createRun(Fixture.config(label: nil, model: "m", lr: 0.1, batch: 1, epochs: 1), startedAt: now, owner: dead)
        XCTAssertEqual(try store.run(a, now: now).status, .crashed)
        XCTAssertEqual(try store.run(a, now: now).recordedStatus, .running)
        // This process, but a previous boot.
        var oldBoot = ProcessIdentity.current()
        oldBoot.bootID = "00000000-0000-0000-0000-000000000000"
        let b = try store.createRun(Fixture.config(label: nil, model: "m", lr: 0.1, batch: 1, epochs: 1), startedAt: now, owner: oldBoot)
        XCTAssertEqual(try store.run(b, now: now).status, .crashed)
        // Same pid, different start time (pid reused).
        var reused = ProcessIdentity.current()
        reused.startTicks = (reused.startTicks ?? 0) &+ 12345
        let c = try store.createRun(Fixture.config(label: nil, model: "m", lr: 0.1, batch: 1, epochs: 1), startedAt: now, owner: reused)
        XCTAssertEqual(try store.run(c, now: now).status, .crashed)
        // Another host: the heartbeat decides.
        let remote = ProcessIdentity(pid: 1, host: "elsewhere", bootID: nil, startTicks: nil)
        let d = try store.createRun(Fixture.config(label: nil, model: "m", lr: 0.1, batch: 1, epochs: 1), startedAt: now, owner: remote)
        XCTAssertEqual(try store.run(d, now: now.addingTimeInterval(60)).status, .running)
        XCTAssertEqual(try store.run(d, now: now.addingTimeInterval(store.staleAfter + 1)).status, .crashed)
        try store.heartbeat(run: d, at: now.addingTimeInterval(store.staleAfter))
        XCTAssertEqual(try store.run(d, now: now.addingTimeInterval(store.staleAfter + 1)).status, .running)
        // This live process.
        let e = try store.createRun(Fixture.config(label: nil, model: "m", lr: 0.1, batch: 1, epochs: 1), startedAt: now)
        XCTAssertEqual(try store.run(e, now: now.addingTimeInterval(86400)).status, .running)
        XCTAssertEqual(Set(try store.runs(status: [.crashed], now: now).map(\.id)), [a, b, c])
    }

    func testMissingEmptyForeignAndNewerFilesAreRefusedUnchanged() throws {
        // Missing: read-only and update opens never create a file.
        let missing = dir.path("missing.db")
        for readOnly in [true, false] {
            XCTAssertThrowsError(try RunStore(path: missing, createIfMissing: false, readOnly: readOnly)) {
                XCTAssertEqual($0 as? RunStoreError, .noDatabase(path: missing))
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: missing))
        XCTAssertThrowsError(try RunStore(path: dir.path("no/such/dir/e.db"), createIfMissing: true)) {
            guard case .missingDirectory = $0 as? RunStoreError else { return XCTFail("\($0)") }
        }
        // Empty file.
        let empty = dir.path("empty.db")
        XCTAssertTrue(FileManager.default.createFile(atPath: empty, contents: Data()))
        XCTAssertThrowsError(try RunStore(path: empty, createIfMissing: false)) {
            XCTAssertEqual($0 as? RunStoreError, .emptyDatabase(path: empty))
        }
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: empty)[.size] as? Int, 0)
        // Another application's SQLite database.
        let foreign = dir.path("foreign.db")
        do { let q = try DatabaseQueue(path: foreign); try q.write { try $0.execute(sql: "CREATE TABLE t(x)") } }
        let before = fileDigest(foreign)
        for readOnly in [true, false] {
            XCTAssertThrowsError(try RunStore(path: foreign, createIfMissing: true, readOnly: readOnly)) {
                XCTAssertEqual($0 as? RunStoreError, .foreignDatabase(path: foreign))
            }
        }
        XCTAssertEqual(fileDigest(foreign), before)
        // A store from a newer schema version.
        let newer = dir.path("newer.db")
        do { _ = try RunStore(path: newer, createIfMissing: true) }
        do { let q = try DatabaseQueue(path: newer); try q.writeWithoutTransaction { try $0.execute(sql: "PRAGMA user_version = 99") } }
        let newerDigest = fileDigest(newer)
        for readOnly in [true, false] {
            XCTAssertThrowsError(try RunStore(path: newer, createIfMissing: true, readOnly: readOnly)) { error in
                guard case .newerSchema = error as? RunStoreError else { return XCTFail("\(error)") }
                XCTAssertTrue("\(error)".contains("schema version 99"), "\(error)")
            }
        }
        XCTAssertEqual(fileDigest(newer), newerDigest)
        XCTAssertFalse(FileManager.default.fileExists(atPath: newer + "-wal"))
        // A current store: WAL, foreign keys, application id, schema version.
        let good = dir.path("good.db")
        _ = try RunStore(path: good, createIfMissing: true)
        let q = try DatabaseQueue(path: good)
        try q.read { db in
            XCTAssertEqual(try String.fetchOne(db, sql: "PRAGMA journal_mode"), "wal")
            XCTAssertEqual(try Int32.fetchOne(db, sql: "PRAGMA application_id"), RunStore.applicationID)
            XCTAssertEqual(try Int.fetchOne(db, sql: "PRAGMA user_version"), RunStore.schemaVersion)
            XCTAssertEqual(try Int.fetchOne(db, sql: "PRAGMA page_size"), RunStore.pageSize)
        }
    }

    func testXXH64ReferenceVectors() {
        // Reference values from libxxhash 0.8.1 (XXH64, seed 0).
        let strings: [(String, String)] = [
            ("", "ef46db3751d8e999"), ("a", "d24ec4f1a98c6e5b"), ("abc", "44bc2cf5ad770999"),
            ("Nobody inspects the spammish repetition", "fbcea83c8a378bf1"),
        ]
        for (s, expected) in strings { XCTAssertEqual(XXH64.hash(Array(s.utf8)).hexString, expected, s) }
        let lengths: [(Int, String)] = [(31, "4a74f3a1a39ad4a1"), (32, "8d57d6a4671cc43d"), (33, "62c9fd21ed857664"),
                                        (100, "efa0ad2d3e70c151"), (1000, "99594f4828043d35"), (100_003, "c333c0bff6f9efdb")]
        for (n, expected) in lengths {
            let data = (0..<n).map { UInt8(truncatingIfNeeded: $0 * 31 + 7) }
            XCTAssertEqual(XXH64.hash(data).hexString, expected, "length \(n)")
            // Streaming in uneven pieces gives the same digest.
            var h = XXH64()
            var i = 0, step = 1
            while i < n {
                let end = min(n, i + step)
                data[i..<end].withUnsafeBytes { h.update($0) }
                i = end
                step = step * 3 % 61 + 1
            }
            XCTAssertEqual(h.hexDigest(), expected, "streamed length \(n)")
        }
    }
}
