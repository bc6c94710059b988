/// The pool's ownership contract: workers never outlive their pool (joined on release, even when
/// the pool is dropped before a worker has started), and the serial pool can be shared between
/// threads because it never dispatches or touches its scratch.
import Dispatch
import Foundation
@testable import Kernels
import XCTest

/// Kernel worker threads of this process (other threads — Dispatch's, the test runner's — come and
/// go on their own, so the pool names its workers and only those are counted).
func liveThreadCount() -> Int { ThreadPool.liveWorkerThreads() ?? -1 }

/// The baseline: the count once threads that other tests joined a moment ago have left /proc.
func settledThreadCount() -> Int { ThreadPool.settledLiveWorkerThreads() ?? -1 }

final class ThreadPoolLifecycleTests: XCTestCase {
    func testPoolsDroppedAtOnceOrAfterWorkJoinTheirThreads() throws {
        let before = settledThreadCount()
        try XCTSkipIf(before < 0, "/proc/self/task is not readable here")
        let sums = UnsafeMutablePointer<Double>.allocate(capacity: 4)
        defer { sums.deallocate() }
        for iteration in 0..<200 {
            let threads = 2 + iteration % 3
            let pool = ThreadPool(threads: threads, scratchDoubles: 4)
            if iteration % 2 == 1 {
                // Real work through every worker, then drop.
                pool.reduceRows(4096, width: 4, into: sums, ()) { _, rows, partial in
                    for r in rows { partial[r % 4] += 1 }
                }
                XCTAssertEqual((0..<4).map { sums[$0] }, [1024, 1024, 1024, 1024])
            }
            // Even iterations drop the pool immediately: its workers may not have run yet.
        }
        XCTAssertEqual(ThreadPool.liveWorkerThreads(settlingTo: before), before, "every pool's workers are joined when it is freed")
    }

    func testShutdownIsIdempotentAndJoins() throws {
        let before = settledThreadCount()
        try XCTSkipIf(before < 0, "/proc/self/task is not readable here")
        let pool = ThreadPool(threads: 3)
        // A job through every worker: each has started (and named itself) once it has run.
        let sums = UnsafeMutablePointer<Double>.allocate(capacity: 1)
        defer { sums.deallocate() }
        pool.reduceRows(3 * 64, width: 1, into: sums, ()) { _, rows, partial in partial[0] += Double(rows.count) }
        XCTAssertEqual(sums[0], 192)
        XCTAssertEqual(liveThreadCount(), before + 2)
        pool.shutdown()
        XCTAssertEqual(ThreadPool.liveWorkerThreads(settlingTo: before), before)
        pool.shutdown()
        XCTAssertEqual(liveThreadCount(), before)
    }

    func testSerialPoolIsSafeToShareBetweenThreads() {
        // Both threads reduce through ThreadPool.serial at once; each must see its own sums.
        let rows = 10_000, width = 64
        var results = [[Double]](repeating: [], count: 8)
        results.withUnsafeMutableBufferPointer { out in
            let out = out
            DispatchQueue.concurrentPerform(iterations: 8) { k in
                let sums = UnsafeMutablePointer<Double>.allocate(capacity: width)
                defer { sums.deallocate() }
                for _ in 0..<20 {
                    ThreadPool.serial.reduceRows(rows, width: width, into: sums, Double(k + 1)) { scale, range, partial in
                        for r in range { partial[r % 64] += scale.pointee }
                    }
                }
                out[k] = Array(UnsafeBufferPointer(start: sums, count: width))
            }
        }
        for k in 0..<8 {
            let expected = Double(rows / width) * Double(k + 1)
            XCTAssertEqual(results[k].count, width)
            XCTAssertTrue(results[k].allSatisfy { abs($0 - expected) <= Double(k + 1) }, "thread \(k) saw another's sums")
        }
    }
}
