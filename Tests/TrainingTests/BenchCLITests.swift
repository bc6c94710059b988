import Foundation
import Kernels
import XCTest

/// `resnet-run bench` as a process: the JSON says which OpenBLAS kernels ran and whether the
/// environment chose them, and an AVX-512 CPU held to AVX2 kernels gets a one-line note.
final class BenchCLITests: XCTestCase {
    func testBenchReportsAndWarnsAboutAForcedKernelFamily() throws {
        let process = Process()
        process.executableURL = try Paths.resnetRun()
        process.arguments = ["bench", "--model", "tiny", "--steps", "1", "--inference-batches", "1", "--skip-gemm"]
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_CORETYPE"] = "Haswell"
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let errData = err.fileHandleForReading.readDataToEndOfFile()   // small: read one, then the other
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let stderr = String(decoding: errData, as: UTF8.self)
        XCTAssertEqual(process.terminationStatus, 0, stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: outData) as? [String: Any])
        XCTAssertEqual(json["blas_core_forced_by_environment"] as? String, "Haswell")
        XCTAssertEqual(json["blas_core"] as? String, "Haswell")
        let warned = stderr.contains("note: OPENBLAS_CORETYPE=Haswell holds OpenBLAS to Haswell kernels on this AVX-512 CPU")
        XCTAssertEqual(warned, BLASRuntime.cpuHasAVX512, stderr)
    }
}

extension BenchCLITests {
    /// `bench --profile`: the training profile covers every step of the table, the inference profile
    /// every fused step at the batch size and at batch 1, each with shares that add up to one.
    func testProfileCoversTrainingAndInference() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bench-profile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try runCLI(["bench", "--model", "tiny", "--steps", "2", "--inference-batches", "2", "--skip-gemm", "--profile"],
                                in: dir)
        XCTAssertEqual(result.status, 0, result.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        func check(_ profile: [String: Any]?, rows expected: Int, backward: Bool, _ what: String) throws {
            let layers = try XCTUnwrap(profile?["layers"] as? [[String: Any]], what)
            XCTAssertEqual(layers.count, expected, what)
            let shares = layers.compactMap { $0["share"] as? Double }
            XCTAssertEqual(shares.count, layers.count, what)
            XCTAssertEqual(shares.reduce(0, +), 1, accuracy: 0.01, what)
            XCTAssertEqual(shares, shares.sorted(by: >), "\(what): slowest first")
            XCTAssertEqual(layers.allSatisfy { $0["backward_ms"] != nil }, backward, what)
        }
        // Training rows are layers (plus the loss and Adam); tiny has 53 layers with a kernel step.
        let training = json["profile"] as? [String: Any]
        XCTAssertGreaterThan((training?["layers"] as? [[String: Any]])?.count ?? 0, 20)
        try check(training, rows: (training?["layers"] as? [[String: Any]])?.count ?? -1, backward: true, "training")
        let inference = try XCTUnwrap(json["inference_profile"] as? [String: Any])
        for key in ["batch", "batch1"] {
            try check(inference[key] as? [String: Any], rows: 18, backward: false, "inference \(key)")
        }
        let names = ((inference["batch"] as? [String: Any])?["layers"] as? [[String: Any]])?.compactMap { $0["layer"] as? String } ?? []
        XCTAssertTrue(names.contains("res2a_branch1+bn2a_branch1+add+activation_3"), "fused steps are named after their layers: \(names)")
        XCTAssertTrue(result.stderr.contains("inference, batch 1:"), result.stderr)
        XCTAssertTrue(result.stderr.contains("training step, batch 8:"), result.stderr)
    }
}
