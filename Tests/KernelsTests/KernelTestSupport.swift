import Kernels
import XCTest

/// A heap buffer of `T` for passing to kernels (they take raw pointers). Tests are small, so
/// every buffer is its own allocation; it lives as long as the `Buffer` object.
final class Buffer<T: NetScalar> {
    let pointer: UnsafeMutablePointer<T>
    let count: Int

    init(_ values: [T]) {
        count = values.count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(from: values, count: count)
    }

    convenience init(count: Int, repeating value: T) { self.init([T](repeating: value, count: count)) }

    deinit { pointer.deallocate() }

    var p: UnsafeMutablePointer<T> { pointer }
    var array: [T] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
    var doubles: [Double] { array.map { Double($0) } }
    subscript(i: Int) -> T { get { pointer[i] } set { pointer[i] = newValue } }
}

/// Deterministic uniform values in [-scale, scale), rounded to `T` (the reference then sees exactly
/// the values the kernel sees).
func random<T: NetScalar>(_: T.Type, _ count: Int, seed: UInt64, scale: Double = 1, offset: Double = 0) -> [T] {
    var rng = Xoshiro256(seed: seed)
    return (0..<count).map { _ in T(offset + scale * (2 * rng.unit() - 1)) }
}

/// Tolerance for a result whose Double reference is exact to rounding: tight in Double, looser in Float.
func tolerance<T: NetScalar>(_: T.Type, double: Double = 1e-12, float: Double = 2e-5) -> Double {
    T.self == Double.self ? double : float
}

/// Element-wise |actual − expected| ≤ tol · max(1, max|expected|).
func assertClose<T: NetScalar>(_ actual: [T], _ expected: [Double], tol: Double, _ what: String,
                               file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "\(what): count", file: file, line: line)
    guard actual.count == expected.count else { return }
    let scale = max(1, expected.map(abs).max() ?? 0)
    var worst = 0.0, worstIndex = -1
    for i in actual.indices {
        let d = abs(Double(actual[i]) - expected[i])
        if !(d <= worst) || d.isNaN { worst = d; worstIndex = i }
    }
    if worstIndex >= 0, !(worst <= tol * scale) {
        XCTFail("\(what) [\(T.self)]: element \(worstIndex) is \(actual[worstIndex]), expected \(expected[worstIndex]) "
                + "(error \(worst) > \(tol * scale))", file: file, line: line)
    }
}

func assertClose(_ actual: Double, _ expected: Double, tol: Double, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual, expected, accuracy: tol * max(1, abs(expected)), what, file: file, line: line)
}

func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

/// Element-wise a + b (expected value of an accumulating kernel).
func plus(_ a: [Double], _ b: [Double]) -> [Double] {
    precondition(a.count == b.count)
    return zip(a, b).map { $0 + $1 }
}
