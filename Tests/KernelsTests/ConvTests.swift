import Kernels
import XCTest

/// Convolution against a direct loop over the Keras (kh, kw, cin, cout) kernel, on small odd shapes:
/// the 1×1 GEMM path, the im2col path, strides, 'valid' and 'same' (including even kernels, whose
/// 'same' padding is asymmetric: the extra row/column goes to the bottom/right).
final class ConvTests: XCTestCase {
    struct Case: CustomStringConvertible {
        var n: Int, h: Int, w: Int, cin: Int, cout: Int, kh: Int, kw: Int, sh: Int, sw: Int, same: Bool

        init(n: Int = 2, h: Int, w: Int, cin: Int, cout: Int, kh: Int, kw: Int, sh: Int = 1, sw: Int = 1, same: Bool = false) {
            self.n = n; self.h = h; self.w = w; self.cin = cin; self.cout = cout
            self.kh = kh; self.kw = kw; self.sh = sh; self.sw = sw; self.same = same
        }

        /// Keras output size and padding.
        var geometry: ConvGeometry {
            let oh = same ? (h + sh - 1) / sh : (h - kh) / sh + 1
            let ow = same ? (w + sw - 1) / sw : (w - kw) / sw + 1
            let th = same ? max((oh - 1) * sh + kh - h, 0) : 0
            let tw = same ? max((ow - 1) * sw + kw - w, 0) : 0
            return ConvGeometry(inH: h, inW: w, inC: cin, outH: oh, outW: ow, outC: cout, kH: kh, kW: kw,
                                strideH: sh, strideW: sw, padTop: th / 2, padLeft: tw / 2)
        }
        var description: String { "\(n)×\(h)×\(w)×\(cin) → \(cout), \(kh)×\(kw)/\(sh),\(sw) \(same ? "same" : "valid")" }
    }

    static let cases: [Case] = [
        Case(n: 3, h: 5, w: 7, cin: 3, cout: 4, kh: 1, kw: 1),                       // pointwise GEMM path
        Case(h: 5, w: 6, cin: 3, cout: 4, kh: 3, kw: 3, same: true),                  // 3×3 same
        Case(h: 7, w: 9, cin: 2, cout: 5, kh: 3, kw: 3, sh: 2, sw: 2),                // 3×3/2 valid
        Case(h: 5, w: 5, cin: 3, cout: 2, kh: 2, kw: 2, same: true),                  // even kernel: pads 0 top, 1 bottom
        Case(h: 7, w: 6, cin: 2, cout: 3, kh: 4, kw: 4, sh: 2, sw: 2, same: true),    // pads 1/2 and 1/2
        Case(h: 7, w: 7, cin: 3, cout: 5, kh: 1, kw: 1, sh: 2, sw: 2),                // strided 1×1 projection (im2col)
        Case(n: 1, h: 11, w: 13, cin: 3, cout: 4, kh: 7, kw: 7, sh: 2, sw: 2),        // stem-like 7×7/2
        Case(h: 6, w: 5, cin: 2, cout: 3, kh: 3, kw: 2, sh: 2, sw: 1, same: true),    // rectangular kernel and stride
        Case(n: 1, h: 3, w: 3, cin: 1, cout: 1, kh: 3, kw: 3, same: true),            // every patch touches the border
    ]

    // MARK: direct reference

    func forwardReference(_ c: Case, x: [Double], w: [Double], bias: [Double]?) -> [Double] {
        let g = c.geometry
        var y = [Double](repeating: 0, count: c.n * g.outH * g.outW * c.cout)
        for b in 0..<c.n { for oy in 0..<g.outH { for ox in 0..<g.outW { for co in 0..<c.cout {
            var s = bias?[co] ?? 0
            for ky in 0..<c.kh { for kx in 0..<c.kw {
                let iy = oy * c.sh + ky - g.padTop, ix = ox * c.sw + kx - g.padLeft
                guard iy >= 0, iy < c.h, ix >= 0, ix < c.w else { continue }
                for ci in 0..<c.cin {
                    s += x[((b * c.h + iy) * c.w + ix) * c.cin + ci] * w[((ky * c.kw + kx) * c.cin + ci) * c.cout + co]
                }
            } }
            y[((b * g.outH + oy) * g.outW + ox) * c.cout + co] = s
        } } } }
        return y
    }

    func backwardReference(_ c: Case, x: [Double], w: [Double], dy: [Double]) -> (dW: [Double], dBias: [Double], dx: [Double]) {
        let g = c.geometry
        var dW = [Double](repeating: 0, count: w.count), dBias = [Double](repeating: 0, count: c.cout)
        var dx = [Double](repeating: 0, count: x.count)
        for b in 0..<c.n { for oy in 0..<g.outH { for ox in 0..<g.outW { for co in 0..<c.cout {
            let d = dy[((b * g.outH + oy) * g.outW + ox) * c.cout + co]
            dBias[co] += d
            for ky in 0..<c.kh { for kx in 0..<c.kw {
                let iy = oy * c.sh + ky - g.padTop, ix = ox * c.sw + kx - g.padLeft
                guard iy >= 0, iy < c.h, ix >= 0, ix < c.w else { continue }
                for ci in 0..<c.cin {
                    let xi = ((b * c.h + iy) * c.w + ix) * c.cin + ci, wi = ((ky * c.kw + kx) * c.cin + ci) * c.cout + co
                    dW[wi] += x[xi] * d
                    dx[xi] += w[wi] * d
                }
            } }
        } } } }
        return (dW, dBias, dx)
    }

    // MARK: tests

    func testGeometriesCoverBothPaths() {
        XCTAssertTrue(Self.cases[0].geometry.isPointwise)
        XCTAssertTrue(Self.cases.dropFirst().allSatisfy { !$0.geometry.isPointwise })
        let even = Self.cases[3].geometry
        XCTAssertEqual([even.outH, even.outW, even.padTop, even.padLeft], [5, 5, 0, 0])
        let strided = Self.cases[4].geometry
        XCTAssertEqual([strided.outH, strided.outW, strided.padTop, strided.padLeft], [4, 3, 1, 1])
    }

    func testForwardDouble() { for c in Self.cases { checkForward(Double.self, c) } }
    func testForwardFloat() { for c in Self.cases { checkForward(Float.self, c) } }
    func testBackwardDouble() { for c in Self.cases { checkBackward(Double.self, c) } }
    func testBackwardFloat() { for c in Self.cases { checkBackward(Float.self, c) } }

    func checkForward<T: NetScalar>(_: T.Type, _ c: Case, file: StaticString = #filePath, line: UInt = #line) {
        let g = c.geometry
        let x = Buffer<T>(random(T.self, c.n * c.h * c.w * c.cin, seed: 1))
        let w = Buffer<T>(random(T.self, c.kh * c.kw * c.cin * c.cout, seed: 2))
        let bias = Buffer<T>(random(T.self, c.cout, seed: 3))
        let outCount = c.n * g.outH * g.outW * c.cout
        let workspace = Buffer<T>(count: max(c.n * g.columnElementsPerSample, 1), repeating: 0)
        let tol = tolerance(T.self)
        for withBias in [true, false] {
            let y = Buffer<T>(count: outCount, repeating: 99)   // garbage: the kernel writes every element
            conv2DForward(x: x.p, weights: w.p, bias: withBias ? UnsafePointer(bias.p) : nil, y: y.p, count: c.n,
                          geometry: g, workspace: workspace.p)
            let expected = forwardReference(c, x: x.doubles, w: w.doubles, bias: withBias ? bias.doubles : nil)
            assertClose(y.array, expected, tol: tol, "conv forward \(c) bias \(withBias)", file: file, line: line)
        }
        // A partial batch touches only its own rows.
        if c.n > 1 {
            let y = Buffer<T>(count: outCount, repeating: 42)
            conv2DForward(x: x.p, weights: w.p, bias: bias.p, y: y.p, count: 1, geometry: g, workspace: workspace.p)
            let perSample = g.outH * g.outW * c.cout
            XCTAssertTrue(y.array[perSample...].allSatisfy { $0 == 42 }, "count: 1 wrote past the first sample", file: file, line: line)
        }
    }

    func checkBackward<T: NetScalar>(_: T.Type, _ c: Case, file: StaticString = #filePath, line: UInt = #line) {
        let g = c.geometry
        let xCount = c.n * c.h * c.w * c.cin
        let x = Buffer<T>(random(T.self, xCount, seed: 4))
        let w = Buffer<T>(random(T.self, c.kh * c.kw * c.cin * c.cout, seed: 5))
        let dy = Buffer<T>(random(T.self, c.n * g.outH * g.outW * c.cout, seed: 6))
        let workspace = Buffer<T>(count: max(c.n * g.columnElementsPerSample, 1), repeating: 0)
        let ref = backwardReference(c, x: x.doubles, w: w.doubles, dy: dy.doubles)
        let tol = tolerance(T.self)
        let prior = Buffer<T>(random(T.self, xCount, seed: 7))

        for mode in ["write", "accumulate", "no dx", "no bias"] {
            let dW = Buffer<T>(count: w.count, repeating: 13)
            let dBias = Buffer<T>(count: c.cout, repeating: 13)
            let dx = Buffer<T>(mode == "accumulate" ? prior.array : [T](repeating: 17, count: xCount))
            conv2DBackward(x: x.p, weights: w.p, dy: dy.p, dWeights: dW.p, dBias: mode == "no bias" ? nil : dBias.p,
                           dx: mode == "no dx" ? nil : dx.p, accumulate: mode == "accumulate", count: c.n,
                           geometry: g, workspace: workspace.p)
            let what = "conv backward \(c) [\(mode)]"
            assertClose(dW.array, ref.dW, tol: tol, what + " dW", file: file, line: line)
            if mode == "no bias" {
                XCTAssertTrue(dBias.array.allSatisfy { $0 == 13 }, what + ": dBias touched", file: file, line: line)
            } else {
                assertClose(dBias.array, ref.dBias, tol: tol, what + " dBias", file: file, line: line)
            }
            switch mode {
            case "accumulate": assertClose(dx.array, plus(prior.doubles, ref.dx), tol: tol, what + " dx", file: file, line: line)
            case "no dx": XCTAssertTrue(dx.array.allSatisfy { $0 == 17 }, what + ": dx touched", file: file, line: line)
            default: assertClose(dx.array, ref.dx, tol: tol, what + " dx", file: file, line: line)
            }
        }
    }

    /// col2im is the adjoint of im2col: ⟨col2im(c), x⟩ = ⟨c, im2col(x)⟩.
    func testIm2colAndCol2imAreAdjoint() {
        for c in Self.cases {
            let g = c.geometry
            let xCount = c.n * c.h * c.w * c.cin, colCount = c.n * g.columnElementsPerSample
            let x = Buffer<Double>(random(Double.self, xCount, seed: 8))
            let col = Buffer<Double>(random(Double.self, colCount, seed: 9))
            let im = Buffer<Double>(count: colCount, repeating: -5)
            im2col(x.p, im.p, count: c.n, g)
            let back = Buffer<Double>(count: xCount, repeating: 0)
            col2im(col.p, back.p, count: c.n, g)
            let lhs = dot(back.doubles, x.doubles), rhs = dot(col.doubles, im.doubles)
            XCTAssertEqual(lhs, rhs, accuracy: 1e-11 * max(1, abs(rhs)), "\(c)")
            // im2col rows are the patches in (ky, kx, c) order, zero outside the input.
            for b in 0..<c.n { for oy in 0..<g.outH { for ox in 0..<g.outW {
                let row = ((b * g.outH + oy) * g.outW + ox) * g.patch
                for ky in 0..<c.kh { for kx in 0..<c.kw { for ci in 0..<c.cin {
                    let iy = oy * c.sh + ky - g.padTop, ix = ox * c.sw + kx - g.padLeft
                    let inside = iy >= 0 && iy < c.h && ix >= 0 && ix < c.w
                    let expected = inside ? x[((b * c.h + iy) * c.w + ix) * c.cin + ci] : 0
                    let actual = im[row + (ky * c.kw + kx) * c.cin + ci]
                    if actual != expected { XCTFail("im2col \(c): (\(b),\(oy),\(ox)) patch (\(ky),\(kx),\(ci)) = \(actual), expected \(expected)"); return }
                }}}
            }}}
        }
    }

    /// col2im adds into what is already there.
    func testCol2imAccumulates() {
        let c = Self.cases[1], g = c.geometry
        let xCount = c.n * c.h * c.w * c.cin
        let col = Buffer<Double>(random(Double.self, c.n * g.columnElementsPerSample, seed: 10))
        let zero = Buffer<Double>(count: xCount, repeating: 0)
        col2im(col.p, zero.p, count: c.n, g)
        let base = random(Double.self, xCount, seed: 11)
        let acc = Buffer<Double>(base)
        col2im(col.p, acc.p, count: c.n, g)
        assertClose(acc.array, plus(base, zero.doubles), tol: 1e-14, "col2im accumulate")
    }
}
