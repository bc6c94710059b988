import Kernels
import XCTest

/// xoshiro256** seeded by SplitMix64, and Keras' glorot-uniform initializer on top of it.
final class RandomTests: XCTestCase {
    /// Values from an independent implementation (Python, the reference algorithms).
    func testKnownSequences() {
        var zero = Xoshiro256(seed: 0)
        XCTAssertEqual((0..<4).map { _ in zero.next() },
                       [0x99ec5f36cb75f2b4, 0xbf6e1f784956452a, 0x1a5f849d4933e6e0, 0x6aa594f1262d2d2c])
        var fortyTwo = Xoshiro256(seed: 42)
        XCTAssertEqual((0..<4).map { _ in fortyTwo.next() },
                       [0x15780b2e0c2ec716, 0x6104d9866d113a7e, 0xae17533239e499a1, 0xecb8ad4703b360a1])
        // SplitMix64(0) → the first state word.
        XCTAssertEqual(Xoshiro256(seed: 0).stateWords[0], 0xe220a8397b1dcdaf)
    }

    func testDeterminismAndStateRoundTrip() {
        var a = Xoshiro256(seed: 1234), b = Xoshiro256(seed: 1234), c = Xoshiro256(seed: 1235)
        let sa = (0..<100).map { _ in a.next() }
        XCTAssertEqual(sa, (0..<100).map { _ in b.next() })
        XCTAssertNotEqual(sa, (0..<100).map { _ in c.next() })
        XCTAssertEqual(a, b)

        let words = a.stateWords
        XCTAssertEqual(words.count, 4)
        var restored = Xoshiro256(state: words)
        XCTAssertEqual(restored, a)
        let ahead = (0..<50).map { _ in a.next() }
        XCTAssertEqual((0..<50).map { _ in restored.next() }, ahead)
        XCTAssertNotEqual(a, Xoshiro256(state: words), "the state advances")
    }

    func testUnitIsInTheHalfOpenInterval() {
        var rng = Xoshiro256(seed: 5)
        var sum = 0.0, lo = 1.0, hi = 0.0
        let n = 20_000
        for _ in 0..<n {
            let u = rng.unit()
            XCTAssertTrue(u >= 0 && u < 1)
            sum += u; lo = min(lo, u); hi = max(hi, u)
        }
        XCTAssertEqual(sum / Double(n), 0.5, accuracy: 0.01)
        XCTAssertLessThan(lo, 0.001)
        XCTAssertGreaterThan(hi, 0.999)
    }

    func testGlorotUniform() {
        func check<T: NetScalar>(_: T.Type) {
            let count = 20_000, fanIn = 3 * 3 * 16, fanOut = 3 * 3 * 32
            let limit = (6.0 / Double(fanIn + fanOut)).squareRoot()
            let w = Buffer<T>(count: count, repeating: 0)
            var rng = Xoshiro256(seed: 77)
            glorotUniform(w.p, count: count, fanIn: fanIn, fanOut: fanOut, rng: &rng)
            let values = w.doubles
            XCTAssertTrue(values.allSatisfy { abs($0) <= limit }, "range ±√(6/(fan_in + fan_out))")
            XCTAssertGreaterThan(values.max()!, 0.99 * limit)
            XCTAssertLessThan(values.min()!, -0.99 * limit)
            let mean = values.reduce(0, +) / Double(count)
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(count)
            let sd = limit / 3.0.squareRoot()
            XCTAssertEqual(mean, 0, accuracy: 4 * sd / Double(count).squareRoot(), "mean ≈ 0")
            XCTAssertEqual(variance, limit * limit / 3, accuracy: 0.03 * limit * limit / 3, "variance of U(−l, l)")

            // Deterministic per seed; a different seed gives different weights; the generator advances by count.
            let again = Buffer<T>(count: count, repeating: 0)
            var rng2 = Xoshiro256(seed: 77)
            glorotUniform(again.p, count: count, fanIn: fanIn, fanOut: fanOut, rng: &rng2)
            XCTAssertEqual(again.array, w.array)
            XCTAssertEqual(rng2, rng)
            var manual = Xoshiro256(seed: 77)
            for _ in 0..<count { _ = manual.next() }
            XCTAssertEqual(manual, rng, "one draw per weight")
            let other = Buffer<T>(count: count, repeating: 0)
            var rng3 = Xoshiro256(seed: 78)
            glorotUniform(other.p, count: count, fanIn: fanIn, fanOut: fanOut, rng: &rng3)
            XCTAssertNotEqual(other.array, w.array)
        }
        check(Double.self)
        check(Float.self)
    }

    func testFill() {
        let b = Buffer<Float>(count: 9, repeating: 0)
        fill(b.p, count: 7, value: 2.5)
        XCTAssertEqual(b.array, [2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 0, 0])
    }
}
