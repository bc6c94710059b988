/// Batch norm's backward sums run in vector loops (16 Float or 8 Double channels at a time) with a
/// scalar tail; they must give bitwise the sums of the plain loop, with and without the fused ReLU,
/// for channel counts below, at and above the vector width.
@testable import Kernels
import XCTest

final class BatchNormVectorTests: XCTestCase {
    func check<T: NetScalar>(_: T.Type, channels c: Int, rows: Range<Int>, relu: Bool) {
        let total = rows.upperBound
        let x = random(T.self, total * c, seed: 1, scale: 2, offset: 0.5)
        // Some exact zeros and negatives in y, so the ReLU mask has both outcomes.
        let y = random(T.self, total * c, seed: 2).enumerated().map { $0.offset % 7 == 0 ? 0 : $0.element }
        let dy = random(T.self, total * c, seed: 3)
        let mean = random(T.self, c, seed: 4, scale: 0.5)
        var expected = [Double](repeating: 0.25, count: 2 * c)
        for r in rows {
            for j in 0..<c {
                let g = relu && !(y[r * c + j] > 0) ? 0 : dy[r * c + j]
                expected[j] += Double(g)
                expected[c + j] += Double(g) * Double(x[r * c + j] - mean[j])
            }
        }
        var got = [Double](repeating: 0.25, count: 2 * c)
        x.withUnsafeBufferPointer { xp in y.withUnsafeBufferPointer { yp in dy.withUnsafeBufferPointer { gp in
            mean.withUnsafeBufferPointer { mp in got.withUnsafeMutableBufferPointer { out in
                gradientSums(xp.baseAddress!, yp.baseAddress!, gp.baseAddress!, mp.baseAddress!, rows, channels: c, relu: relu,
                             into: out.baseAddress!)
            } }
        } } }
        XCTAssertEqual(got.map(\.bitPattern), expected.map(\.bitPattern), "\(T.self) channels \(c) rows \(rows) relu \(relu)")
    }

    func testVectorSumsAreBitwiseThePlainLoop() {
        for c in [1, 5, 8, 16, 37, 64] {
            for relu in [false, true] {
                check(Float.self, channels: c, rows: 0..<50, relu: relu)
                check(Float.self, channels: c, rows: 7..<23, relu: relu)
                check(Double.self, channels: c, rows: 0..<50, relu: relu)
                check(Double.self, channels: c, rows: 7..<23, relu: relu)
            }
        }
    }
}
