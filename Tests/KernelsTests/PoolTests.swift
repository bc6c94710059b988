import Kernels
import XCTest

/// Max pooling (overlapping 3×3/2 windows, argmax, scatter-add backward) and average pooling.
final class PoolTests: XCTestCase {
    func geometry(h: Int, w: Int, c: Int, ph: Int, pw: Int, sh: Int, sw: Int) -> PoolGeometry {
        PoolGeometry(inH: h, inW: w, channels: c, outH: (h - ph) / sh + 1, outW: (w - pw) / sw + 1,
                     poolH: ph, poolW: pw, strideH: sh, strideW: sw)
    }

    static let shapes: [(h: Int, w: Int, c: Int, ph: Int, pw: Int, sh: Int, sw: Int)] = [
        (7, 9, 2, 3, 3, 2, 2),    // ResNet's max pool: overlapping windows
        (8, 5, 3, 2, 2, 2, 2),    // non-overlapping, odd width (last column unused)
        (5, 6, 1, 2, 3, 1, 2),    // rectangular window, stride 1 rows
        (4, 4, 2, 4, 4, 1, 1),    // global
    ]

    func testMaxPoolDouble() { checkMaxPool(Double.self) }
    func testMaxPoolFloat() { checkMaxPool(Float.self) }

    func checkMaxPool<T: NetScalar>(_: T.Type) {
        let n = 2
        for s in Self.shapes {
            let g = geometry(h: s.h, w: s.w, c: s.c, ph: s.ph, pw: s.pw, sh: s.sh, sw: s.sw)
            let inSize = s.h * s.w * s.c, outSize = g.outH * g.outW * s.c
            let x = Buffer<T>(random(T.self, n * inSize, seed: 81))
            let y = Buffer<T>(count: n * outSize, repeating: 99)
            let argmax = UnsafeMutablePointer<Int32>.allocate(capacity: n * outSize)
            defer { argmax.deallocate() }
            maxPool(x.p, y.p, argmax: argmax, count: n, g)
            var expectedY = [T](), expectedArg = [Int32]()
            for b in 0..<n { for oy in 0..<g.outH { for ox in 0..<g.outW { for j in 0..<s.c {
                var best = -T.infinity, arg = -1
                for ky in 0..<s.ph { for kx in 0..<s.pw {
                    let i = ((oy * s.sh + ky) * s.w + ox * s.sw + kx) * s.c + j
                    if x[b * inSize + i] > best { best = x[b * inSize + i]; arg = i }
                } }
                expectedY.append(best); expectedArg.append(Int32(arg))
            } } } }
            XCTAssertEqual(y.array, expectedY, "\(s)")
            XCTAssertEqual(Array(UnsafeBufferPointer(start: argmax, count: n * outSize)), expectedArg,
                           "argmax is the offset within the sample, \(s)")

            let dy = Buffer<T>(random(T.self, n * outSize, seed: 82))
            var expectedDx = [Double](repeating: 0, count: n * inSize)
            for o in 0..<(n * outSize) { expectedDx[(o / outSize) * inSize + Int(expectedArg[o])] += Double(dy[o]) }
            let dx = Buffer<T>(count: n * inSize, repeating: 6)
            maxPoolBackward(dy.p, argmax: argmax, dx.p, count: n, g, accumulate: false)
            assertClose(dx.array, expectedDx, tol: tolerance(T.self, double: 1e-15, float: 1e-7), "max-pool dx \(s)")
            let prior = random(T.self, n * inSize, seed: 83)
            let acc = Buffer<T>(prior)
            maxPoolBackward(dy.p, argmax: argmax, acc.p, count: n, g, accumulate: true)
            assertClose(acc.array, plus(prior.map { Double($0) }, expectedDx), tol: tolerance(T.self, double: 1e-15, float: 1e-7),
                        "max-pool dx accumulated \(s)")
        }
    }

    /// An input that is the maximum of two overlapping windows receives both gradients.
    func testOverlappingWindowsScatterAdd() {
        let g = geometry(h: 3, w: 5, c: 1, ph: 3, pw: 3, sh: 2, sw: 2)   // windows cover columns 0–2 and 2–4
        XCTAssertEqual([g.outH, g.outW], [1, 2])
        var xs = [Double](repeating: 0, count: 15)
        xs[1 * 5 + 2] = 10   // centre row, shared column
        let x = Buffer<Double>(xs), y = Buffer<Double>(count: 2, repeating: 0)
        let argmax = UnsafeMutablePointer<Int32>.allocate(capacity: 2)
        defer { argmax.deallocate() }
        maxPool(x.p, y.p, argmax: argmax, count: 1, g)
        XCTAssertEqual(y.array, [10, 10])
        XCTAssertEqual([argmax[0], argmax[1]], [7, 7])
        let dy = Buffer<Double>([0.25, 0.5]), dx = Buffer<Double>(count: 15, repeating: 1)
        maxPoolBackward(dy.p, argmax: argmax, dx.p, count: 1, g, accumulate: false)
        XCTAssertEqual(dx[7], 0.75)
        XCTAssertEqual(dx.array.reduce(0, +), 0.75)
    }

    func testAvgPoolDouble() { checkAvgPool(Double.self) }
    func testAvgPoolFloat() { checkAvgPool(Float.self) }

    func checkAvgPool<T: NetScalar>(_: T.Type) {
        let n = 2
        let tol = tolerance(T.self, double: 1e-14, float: 1e-6)
        for s in Self.shapes {
            let g = geometry(h: s.h, w: s.w, c: s.c, ph: s.ph, pw: s.pw, sh: s.sh, sw: s.sw)
            let inSize = s.h * s.w * s.c, outSize = g.outH * g.outW * s.c
            let x = Buffer<T>(random(T.self, n * inSize, seed: 84))
            let y = Buffer<T>(count: n * outSize, repeating: 99)
            avgPool(x.p, y.p, count: n, g)
            var expectedY = [Double](), expectedDx = [Double](repeating: 0, count: n * inSize)
            let dy = Buffer<T>(random(T.self, n * outSize, seed: 85))
            var o = 0
            for b in 0..<n { for oy in 0..<g.outH { for ox in 0..<g.outW { for j in 0..<s.c {
                var sum = 0.0
                for ky in 0..<s.ph { for kx in 0..<s.pw {
                    let i = b * inSize + ((oy * s.sh + ky) * s.w + ox * s.sw + kx) * s.c + j
                    sum += Double(x[i])
                    expectedDx[i] += Double(dy[o]) / Double(s.ph * s.pw)
                } }
                expectedY.append(sum / Double(s.ph * s.pw))
                o += 1
            } } } }
            assertClose(y.array, expectedY, tol: tol, "avg-pool y \(s)")
            let dx = Buffer<T>(count: n * inSize, repeating: 6)
            avgPoolBackward(dy.p, dx.p, count: n, g, accumulate: false)
            assertClose(dx.array, expectedDx, tol: tol, "avg-pool dx \(s)")
            let prior = random(T.self, n * inSize, seed: 86)
            let acc = Buffer<T>(prior)
            avgPoolBackward(dy.p, acc.p, count: n, g, accumulate: true)
            assertClose(acc.array, plus(prior.map { Double($0) }, expectedDx), tol: tol, "avg-pool dx accumulated \(s)")
        }
    }
}
