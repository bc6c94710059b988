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
