import Kernels
import XCTest

/// The inference plan's kernels: the convolution with a fused bias/residual/ReLU output pass (serial
/// and on two threads, both GEMM splits), batch-norm folding, and max pooling without argmax.
final class InferenceKernelTests: XCTestCase {
    func checkConvolution<T: NetScalar>(_: T.Type, _ c: ConvTests.Case, residual: Bool, relu: Bool, bias: Bool, threads: Int,
                                        streamRows: Int) {
        let g = c.geometry
        let x = random(T.self, c.n * c.h * c.w * c.cin, seed: 1)
        let w = random(T.self, c.kh * c.kw * c.cin * c.cout, seed: 2)
        let b = random(T.self, c.cout, seed: 3)
        let outCount = c.n * g.outH * g.outW * c.cout
        let r = random(T.self, outCount, seed: 4)
        var expected = ConvTests(name: "reference", testClosure: { _ in }).forwardReference(c, x: x.map(Double.init), w: w.map(Double.init), bias: bias ? b.map(Double.init) : nil)
        for i in expected.indices {
            if residual { expected[i] += Double(r[i]) }
            if relu { expected[i] = max(expected[i], 0) }
        }
        let xb = Buffer(x), wb = Buffer(w), bb = Buffer(b), rb = Buffer(r)
        let y = Buffer<T>(count: outCount, repeating: .nan)
        let workspace = Buffer<T>(count: c.n * g.columnElementsPerSample + 1, repeating: 0)
        let pool = ThreadPool(threads: threads)
        conv2DInference(x: xb.p, weights: wb.p, bias: bias ? UnsafePointer(bb.p) : nil, residual: residual ? UnsafePointer(rb.p) : nil,
                        relu: relu, y: y.p, count: c.n, geometry: g, workspace: workspace.p, pool: pool, streamRows: streamRows)
        assertClose(y.array, expected, tol: tolerance(T.self),
                    "\(c) residual \(residual) relu \(relu) bias \(bias) threads \(threads) streamRows \(streamRows)")
        withExtendedLifetime((xb, wb, bb, rb, workspace)) {}
    }

    func testConvolutionWithFusedEpilogue() {
        // Large enough cases to take the threaded GEMM (rows split, and columns split), and the small ones.
        let cases = ConvTests.cases + [
            ConvTests.Case(n: 4, h: 16, w: 16, cin: 16, cout: 24, kh: 3, kw: 3, same: true),   // m = 1024 ≥ n: rows split
            ConvTests.Case(n: 1, h: 2, w: 2, cin: 256, cout: 512, kh: 1, kw: 1),                // m = 4 < n: columns split
            // m ≤ 64 and enough work: Float streams the weights (`streamGEMM`) with streamRows 64; m = 9
            // leaves a row tail after the 4-row tiles, cout = 200 a column tail after the 32-column tiles.
            ConvTests.Case(n: 1, h: 4, w: 4, cin: 128, cout: 160, kh: 3, kw: 3, same: true),
            ConvTests.Case(n: 1, h: 3, w: 3, cin: 128, cout: 200, kh: 3, kw: 3, same: true),
        ]
        for c in cases {
            for (residual, relu, bias) in [(false, false, true), (false, true, true), (true, true, true), (true, false, false), (false, true, false)] {
                for threads in [1, 2] {
                    // 64: what builds with FMA stream; 0: never (the x86-64-v2 build).
                    for streamRows in [64, 0] {
                        checkConvolution(Double.self, c, residual: residual, relu: relu, bias: bias, threads: threads, streamRows: streamRows)
                        checkConvolution(Float.self, c, residual: residual, relu: relu, bias: bias, threads: threads, streamRows: streamRows)
                    }
                }
            }
        }
    }

    /// The weight-streaming GEMM against a Double reference: rows in and out of the 4-row tiles, k
    /// across the 256-row blocks, column ranges that start inside the matrix and end in a tail.
    func testStreamGEMMAgainstReference() {
        for (m, n, k) in [(1, 32, 1), (4, 64, 256), (5, 96, 257), (7, 40, 600), (16, 200, 1152), (64, 128, 300)] {
            let a = random(Float.self, m * k, seed: 21), b = random(Float.self, k * n, seed: 22)
            for columns in [0..<n, 32..<n, 0..<32] where !columns.isEmpty {
              for fourRowTiles in [true, false] {
                let c = Buffer<Float>(count: m * n, repeating: .nan)
                let ab = Buffer(a), bb = Buffer(b)
                streamGEMM(m: m, n: n, k: k, a: ab.p, lda: k, b: bb.p, ldb: n, c: c.p, ldc: n, columns: columns,
                           fourRowTiles: fourRowTiles)
                let out = c.array
                var expected = [Double](), actual = [Float]()
                for r in 0..<m {
                    for j in columns {
                        var sum = 0.0
                        for p in 0..<k { sum += Double(a[r * k + p]) * Double(b[p * n + j]) }
                        expected.append(sum)
                        actual.append(out[r * n + j])
                    }
                }
                assertClose(actual, expected, tol: 2e-5 * (Double(k).squareRoot() / 8 + 1),
                            "streamGEMM m \(m) n \(n) k \(k) columns \(columns) four-row tiles \(fourRowTiles)")
                // Columns outside the range are not written.
                let outside = (0..<m).flatMap { r in (0..<n).filter { !columns.contains($0) }.map { out[r * n + $0] } }
                XCTAssertTrue(outside.allSatisfy { $0.isNaN }, "streamGEMM wrote outside its columns")
                withExtendedLifetime((ab, bb)) {}
              }
            }
        }
    }

    /// conv(x, W·s) + (b − μ)·s + β equals BN(conv(x, W) + b) with the moving statistics.
    func testFoldingBatchNormIntoAConvolution() {
        let c = ConvTests.Case(h: 5, w: 6, cin: 3, cout: 4, kh: 3, kw: 3, same: true)
        let g = c.geometry
        let x = random(Double.self, c.n * c.h * c.w * c.cin, seed: 5)
        let w = random(Double.self, g.patch * c.cout, seed: 6), b = random(Double.self, c.cout, seed: 7)
        let gamma = random(Double.self, c.cout, seed: 8, scale: 0.5, offset: 1), beta = random(Double.self, c.cout, seed: 9)
        let mean = random(Double.self, c.cout, seed: 10), variance = random(Double.self, c.cout, seed: 11, scale: 0.4, offset: 0.6)
        let epsilon = 1e-3
        var expected = ConvTests(name: "reference", testClosure: { _ in }).forwardReference(c, x: x, w: w, bias: b)
        for i in expected.indices {
            let k = i % c.cout
            expected[i] = (expected[i] - mean[k]) / (variance[k] + epsilon).squareRoot() * gamma[k] + beta[k]
        }
        let wb = Buffer(w), gb = Buffer(gamma), betab = Buffer(beta), bb = Buffer(b), mb = Buffer(mean), vb = Buffer(variance)
        foldBatchNorm(kernel: wb.p, bias: bb.p, gamma: gb.p, beta: betab.p, mean: mb.p, variance: vb.p, epsilon: epsilon,
                      patch: g.patch, channels: c.cout)
        let y = Buffer<Double>(count: expected.count, repeating: .nan)
        let workspace = Buffer<Double>(count: c.n * g.columnElementsPerSample, repeating: 0)
        let xb = Buffer(x)
        conv2DInference(x: xb.p, weights: wb.p, bias: betab.p, residual: nil, relu: false, y: y.p, count: c.n,
                        geometry: g, workspace: workspace.p)
        assertClose(y.array, expected, tol: 1e-12, "folded convolution")

        // A stand-alone batch norm: scale and shift.
        let gs = Buffer(gamma), bs = Buffer(beta)
        foldBatchNormScaleShift(gamma: gs.p, beta: bs.p, mean: mb.p, variance: vb.p, epsilon: epsilon, channels: c.cout)
        let rows = 3, xs = random(Double.self, rows * c.cout, seed: 12), out = Buffer<Double>(count: rows * c.cout, repeating: 0)
        let xsb = Buffer(xs)
        scaleShift(xsb.p, out.p, scale: gs.p, shift: bs.p, rows: rows, channels: c.cout, relu: true)
        let reference = xs.indices.map { i -> Double in
            let k = i % c.cout
            return max(0, (xs[i] - mean[k]) / (variance[k] + epsilon).squareRoot() * gamma[k] + beta[k])
        }
        assertClose(out.array, reference, tol: 1e-12, "scale and shift")
        withExtendedLifetime((xb, xsb, gb, bb, mb, vb)) {}
    }

    func testMaxPoolWithoutArgmaxEqualsTheTrainingKernel() {
        let g = PoolGeometry(inH: 7, inW: 6, channels: 3, outH: 3, outW: 2, poolH: 3, poolW: 3, strideH: 2, strideW: 2)
        let n = 2
        let x = Buffer(random(Float.self, n * 7 * 6 * 3, seed: 13))
        let a = Buffer<Float>(count: n * 3 * 2 * 3, repeating: 0), b = Buffer<Float>(count: n * 3 * 2 * 3, repeating: 0)
        let argmax = UnsafeMutablePointer<Int32>.allocate(capacity: n * 3 * 2 * 3)
        defer { argmax.deallocate() }
        maxPool(x.p, a.p, argmax: argmax, count: n, g)
        maxPool(x.p, b.p, count: n, g, pool: ThreadPool(threads: 2))
        XCTAssertEqual(a.array, b.array)
        withExtendedLifetime(x) {}
    }
}
