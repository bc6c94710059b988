import Kernels
import XCTest

/// OpenBLAS' run-time kernel choice, and the warning when the environment narrows it.
final class BLASRuntimeTests: XCTestCase {
    /// A user's OPENBLAS_CORETYPE is kept; otherwise OpenBLAS' own choice (or our re-selection) is at
    /// least as wide as the CPU: AVX-512 kernels on an AVX-512 CPU, never the SSE3 fallback on AVX2.
    func testKernelFamilyMatchesTheCPUUnlessForced() throws {
        let core = BLASRuntime.coreName.lowercased()
        if let forced = BLASRuntime.coreTypeFromEnvironment {
            XCTAssertEqual(core, forced.lowercased(), "a user's OPENBLAS_CORETYPE is kept")
            let narrowed = BLASRuntime.cpuHasAVX512 && !BLASRuntime.avx512Cores.contains(core)
            XCTAssertEqual(BLASRuntime.environmentWarning != nil, narrowed, "warned exactly when AVX-512 is given up")
            if narrowed { XCTAssertTrue(BLASRuntime.environmentWarning!.hasPrefix("OPENBLAS_CORETYPE=\(forced) ")) }
            return
        }
        XCTAssertNil(BLASRuntime.environmentWarning)
        if BLASRuntime.cpuHasAVX512 {
            XCTAssertTrue(BLASRuntime.avx512Cores.contains(core), "OpenBLAS runs \(core) kernels on an AVX-512 CPU")
        }
        XCTAssertNotEqual(core, "prescott")
    }
}
