import Kernels
import XCTest

/// ReLU, residual add (fused ReLU, accumulate flags) and zero padding (asymmetric pads).
final class ElementwiseTests: XCTestCase {
    func testReluDouble() { checkRelu(Double.self) }
    func testReluFloat() { checkRelu(Float.self) }

    func checkRelu<T: NetScalar>(_: T.Type) {
        let n = 37
        var xs = random(T.self, n, seed: 61)
        xs[3] = 0; xs[4] = -0.0
        let x = Buffer<T>(xs), y = Buffer<T>(count: n, repeating: 9)
        relu(x.p, y.p, count: n)
        XCTAssertEqual(y.array, xs.map { $0 > 0 ? $0 : 0 })
        let dy = Buffer<T>(random(T.self, n, seed: 62))
        let dx = Buffer<T>(count: n, repeating: 9)
        reluBackward(y: y.p, dy: dy.p, dx: dx.p, count: n, accumulate: false)
        let masked = (0..<n).map { y[$0] > 0 ? dy[$0] : 0 }
        XCTAssertEqual(dx.array, masked)
        XCTAssertEqual(dx[3], 0, "no gradient at y = 0")
        let prior = random(T.self, n, seed: 63)
        let acc = Buffer<T>(prior)
        reluBackward(y: y.p, dy: dy.p, dx: acc.p, count: n, accumulate: true)
        XCTAssertEqual(acc.array, (0..<n).map { prior[$0] + masked[$0] })
        // In place (y may alias x).
        let inPlace = Buffer<T>(xs)
        relu(inPlace.p, inPlace.p, count: n)
        XCTAssertEqual(inPlace.array, y.array)
        // The mask in place (an add's aliased gradient slot: dx is dy), over the vector body and the tail.
        let maskInPlace = Buffer<T>(dy.array)
        reluBackward(y: y.p, dy: maskInPlace.p, dx: maskInPlace.p, count: n, accumulate: false)
        XCTAssertEqual(maskInPlace.array, masked)
        // NaN in y masks like the scalar `y > 0` (no gradient); NaN in dy passes where y > 0.
        let yNaN = Buffer<T>(y.array), dyNaN = Buffer<T>(dy.array), out = Buffer<T>(count: n, repeating: 9)
        yNaN[1] = .nan; dyNaN[2] = .nan
        reluBackward(y: yNaN.p, dy: dyNaN.p, dx: out.p, count: n, accumulate: false)
        XCTAssertEqual(out[1], 0)
        XCTAssertEqual(out[2].isNaN, y[2] > 0)
        withExtendedLifetime((x, dx, acc, yNaN, dyNaN)) {}
    }

    func testAddDouble() { checkAdd(Double.self) }
    func testAddFloat() { checkAdd(Float.self) }

    func checkAdd<T: NetScalar>(_: T.Type) {
        let n = 29
        let a = Buffer<T>(random(T.self, n, seed: 64)), b = Buffer<T>(random(T.self, n, seed: 65))
        for fused in [false, true] {
            let y = Buffer<T>(count: n, repeating: 7)
            add(a.p, b.p, y.p, count: n, relu: fused)
            let sum = (0..<n).map { a[$0] + b[$0] }
            XCTAssertEqual(y.array, fused ? sum.map { $0 > 0 ? $0 : 0 } : sum, "relu \(fused)")
            if fused { XCTAssertTrue(sum.contains { $0 < 0 }) }

            let dy = Buffer<T>(random(T.self, n, seed: 66))
            let g = (0..<n).map { !fused || y[$0] > 0 ? dy[$0] : 0 }
            let priorA = random(T.self, n, seed: 67), priorB = random(T.self, n, seed: 68)
            for (accA, accB) in [(false, false), (true, false), (false, true), (true, true)] {
                let da = Buffer<T>(accA ? priorA : [T](repeating: 5, count: n))
                let db = Buffer<T>(accB ? priorB : [T](repeating: 5, count: n))
                addBackward(y: y.p, dy: dy.p, da: da.p, accumulateA: accA, db: db.p, accumulateB: accB, count: n, relu: fused)
                XCTAssertEqual(da.array, (0..<n).map { accA ? priorA[$0] + g[$0] : g[$0] }, "da relu \(fused) acc \(accA)")
                XCTAssertEqual(db.array, (0..<n).map { accB ? priorB[$0] + g[$0] : g[$0] }, "db relu \(fused) acc \(accB)")
            }
            // Either input may need no gradient.
            let only = Buffer<T>(count: n, repeating: 5)
            addBackward(y: y.p, dy: dy.p, da: nil, accumulateA: false, db: only.p, accumulateB: false, count: n, relu: fused)
            XCTAssertEqual(only.array, g)
            addBackward(y: y.p, dy: dy.p, da: only.p, accumulateA: true, db: nil, accumulateB: false, count: n, relu: fused)
            XCTAssertEqual(only.array, g.map { $0 + $0 })
        }
    }

    func testZeroPadDouble() { checkZeroPad(Double.self) }
    func testZeroPadFloat() { checkZeroPad(Float.self) }

    func checkZeroPad<T: NetScalar>(_: T.Type) {
        let n = 2, h = 3, w = 5, c = 2
        for (top, bottom, left, right) in [(1, 2, 0, 3), (3, 3, 3, 3), (0, 0, 2, 1), (0, 1, 0, 0)] {
            let oh = h + top + bottom, ow = w + left + right
            let x = Buffer<T>(random(T.self, n * h * w * c, seed: 71))
            let y = Buffer<T>(count: n * oh * ow * c, repeating: 8)
            zeroPad(x.p, y.p, count: n, height: h, width: w, channels: c, top: top, bottom: bottom, left: left, right: right)
            var expected = [T](repeating: 0, count: y.count)
            for b in 0..<n { for r in 0..<h { for col in 0..<w { for j in 0..<c {
                expected[((b * oh + r + top) * ow + col + left) * c + j] = x[((b * h + r) * w + col) * c + j]
            } } } }
            let pads = "pads \(top),\(bottom),\(left),\(right)"
            XCTAssertEqual(y.array, expected, pads)

            let dy = Buffer<T>(random(T.self, y.count, seed: 72))
            let dx = Buffer<T>(count: x.count, repeating: 4)
            zeroPadBackward(dy.p, dx.p, count: n, height: h, width: w, channels: c, top: top, bottom: bottom,
                            left: left, right: right, accumulate: false)
            var crop = [T](repeating: 0, count: x.count)
            for b in 0..<n { for r in 0..<h { for col in 0..<w { for j in 0..<c {
                crop[((b * h + r) * w + col) * c + j] = dy[((b * oh + r + top) * ow + col + left) * c + j]
            } } } }
            XCTAssertEqual(dx.array, crop, pads)
            let prior = random(T.self, x.count, seed: 73)
            let acc = Buffer<T>(prior)
            zeroPadBackward(dy.p, acc.p, count: n, height: h, width: w, channels: c, top: top, bottom: bottom,
                            left: left, right: right, accumulate: true)
            XCTAssertEqual(acc.array, (0..<x.count).map { prior[$0] + crop[$0] }, pads)
            // Adjoint: ⟨pad(x), dy⟩ = ⟨x, padᵀ(dy)⟩.
            XCTAssertEqual(dot(y.doubles, dy.doubles), dot(x.doubles, dx.doubles), accuracy: tolerance(T.self, float: 1e-5) * 10)
        }
    }
}
