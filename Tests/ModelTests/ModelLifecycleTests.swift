/// A model owns its kernel threads: building one and dropping it right away — as the CLI does when
/// an error is thrown just after the model is created — joins its workers and never aborts.
import Foundation
import Kernels
import Models
import XCTest

private struct EarlyError: Error {}

final class ModelLifecycleTests: XCTestCase {
    private func buildAndThrow(threads: Int) throws {
        let model = TinyF32(seed: 1, threads: threads)
        XCTAssertEqual(model.pool.threadCount, threads)
        throw EarlyError()
    }

    func testModelsDroppedRightAfterInitJoinTheirThreads() throws {
        let before = ThreadPool.settledLiveWorkerThreads() ?? -1
        try XCTSkipIf(before < 0, "/proc/self/task is not readable here")
        var thrown = 0
        for iteration in 0..<200 {
            do { try buildAndThrow(threads: 2 + iteration % 2) } catch is EarlyError { thrown += 1 }
        }
        XCTAssertEqual(thrown, 200)
        XCTAssertEqual(ThreadPool.liveWorkerThreads(settlingTo: before), before, "no model leaks its kernel threads")
    }

    func testThreadCountIsTheInitializersNotAGlobal() {
        XCTAssertEqual(TinyF64(seed: 0, threads: 3).pool.threadCount, 3)
        XCTAssertEqual(TinyF64(seed: 0, threads: 1).pool.threadCount, 1)
        XCTAssertEqual(TinyF64(seed: 0).pool.threadCount, ThreadPool.availableProcessors)
    }
}
