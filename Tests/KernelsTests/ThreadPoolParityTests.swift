import Kernels
import XCTest

/// Every kernel run on a 2-thread pool gives the serial result (which the other suites check
/// against naive references). Shapes are just large enough to cross the kernels' thresholds for
/// splitting work (GEMM ≥ 2·10⁶ multiply-adds, ≥ 64 rows per thread for reductions, several
/// samples for im2col and pooling), and odd so chunks are uneven.
final class ThreadPoolParityTests: XCTestCase {
    static let pool = ThreadPool(threads: 2, scratchDoubles: 64)

    func assertSame(_ parallel: Buffer<Double>, _ serial: Buffer<Double>, _ what: String, tol: Double = 1e-12,
                    file: StaticString = #filePath, line: UInt = #line) {
        assertClose(parallel.array, serial.doubles, tol: tol, what + " (2 threads vs serial)", file: file, line: line)
    }

    func testConvolution() {
        let pool = Self.pool
        for g in [ConvGeometry(inH: 17, inW: 15, inC: 16, outH: 17, outW: 15, outC: 33, kH: 3, kW: 3,
                               strideH: 1, strideW: 1, padTop: 1, padLeft: 1),            // im2col, rows split
                  ConvGeometry(inH: 17, inW: 15, inC: 64, outH: 17, outW: 15, outC: 40, kH: 1, kW: 1,
                               strideH: 1, strideW: 1, padTop: 0, padLeft: 0),            // pointwise
                  ConvGeometry(inH: 9, inW: 9, inC: 8, outH: 2, outW: 2, outC: 300, kH: 7, kW: 7,
                               strideH: 2, strideW: 2, padTop: 0, padLeft: 0)] {          // wide: columns split
            let n = 5
            let x = Buffer<Double>(random(Double.self, n * g.inH * g.inW * g.inC, seed: 301))
            let w = Buffer<Double>(random(Double.self, g.patch * g.outC, seed: 302))
            let b = Buffer<Double>(random(Double.self, g.outC, seed: 303))
            let dy = Buffer<Double>(random(Double.self, n * g.outH * g.outW * g.outC, seed: 304))
            let prior = random(Double.self, x.count, seed: 305)
            var results: [[Buffer<Double>]] = []
            for p in [ThreadPool.serial, pool] {
                let ws = Buffer<Double>(count: n * g.columnElementsPerSample, repeating: 0)
                let y = Buffer<Double>(count: dy.count, repeating: 0)
                conv2DForward(x: x.p, weights: w.p, bias: b.p, y: y.p, count: n, geometry: g, workspace: ws.p, pool: p)
                let dW = Buffer<Double>(count: w.count, repeating: 0), dB = Buffer<Double>(count: g.outC, repeating: 0)
                let dx = Buffer<Double>(count: x.count, repeating: 0)
                conv2DBackward(x: x.p, weights: w.p, dy: dy.p, dWeights: dW.p, dBias: dB.p, dx: dx.p, accumulate: false,
                               count: n, geometry: g, workspace: ws.p, pool: p)
                let acc = Buffer<Double>(prior)
                conv2DBackward(x: x.p, weights: w.p, dy: dy.p, dWeights: dW.p, dBias: dB.p, dx: acc.p, accumulate: true,
                               count: n, geometry: g, workspace: ws.p, pool: p)
                results.append([y, dW, dB, dx, acc])
            }
            for (i, what) in ["y", "dW", "dBias", "dx", "dx accumulated"].enumerated() {
                assertSame(results[1][i], results[0][i], "conv \(g.kH)×\(g.kW) → \(g.outC) \(what)")
            }
        }
    }

    func testDense() {
        let pool = Self.pool
        for (n, fin, fout) in [(8, 500, 600), (700, 60, 50)] {
            let x = Buffer<Double>(random(Double.self, n * fin, seed: 311)), w = Buffer<Double>(random(Double.self, fin * fout, seed: 312))
            let b = Buffer<Double>(random(Double.self, fout, seed: 313)), dy = Buffer<Double>(random(Double.self, n * fout, seed: 314))
            var results: [[Buffer<Double>]] = []
            for p in [ThreadPool.serial, pool] {
                let y = Buffer<Double>(count: n * fout, repeating: 0)
                denseForward(x: x.p, weights: w.p, bias: b.p, y: y.p, count: n, inputs: fin, outputs: fout, pool: p)
                let dW = Buffer<Double>(count: w.count, repeating: 0), dB = Buffer<Double>(count: fout, repeating: 0)
                let dx = Buffer<Double>(count: x.count, repeating: 1)
                denseBackward(x: x.p, weights: w.p, dy: dy.p, dWeights: dW.p, dBias: dB.p, dx: dx.p, accumulate: true,
                              count: n, inputs: fin, outputs: fout, pool: p)
                results.append([y, dW, dB, dx])
            }
            for (i, what) in ["y", "dW", "dBias", "dx"].enumerated() {
                assertSame(results[1][i], results[0][i], "dense \(n)×\(fin)→\(fout) \(what)")
            }
        }
    }

    func testBatchNorm() {
        let pool = Self.pool
        let rows = 301, c = 7
        let x = Buffer<Double>(random(Double.self, rows * c, seed: 321, scale: 2, offset: 0.5))
        let gamma = Buffer<Double>(random(Double.self, c, seed: 322, scale: 0.5, offset: 1))
        let beta = Buffer<Double>(random(Double.self, c, seed: 323))
        let dy = Buffer<Double>(random(Double.self, rows * c, seed: 324))
        for relu in [false, true] {
            var results: [[Buffer<Double>]] = []
            for p in [ThreadPool.serial, pool] {
                let mm = Buffer<Double>(count: c, repeating: 0), mv = Buffer<Double>(count: c, repeating: 1)
                let sm = Buffer<Double>(count: c, repeating: 0), si = Buffer<Double>(count: c, repeating: 0)
                let y = Buffer<Double>(count: rows * c, repeating: 0), scratch = Buffer<Double>(count: 6 * c, repeating: 0)
                batchNormTraining(x: x.p, y: y.p, gamma: gamma.p, beta: beta.p, movingMean: mm.p, movingVariance: mv.p,
                                  savedMean: sm.p, savedInvStd: si.p, rows: rows, channels: c, momentum: 0.99,
                                  epsilon: 1e-3, relu: relu, scratch: scratch.p, pool: p)
                let dx = Buffer<Double>(count: rows * c, repeating: 0.5)
                let dG = Buffer<Double>(count: c, repeating: 0), dB = Buffer<Double>(count: c, repeating: 0)
                batchNormBackward(x: x.p, y: y.p, dy: dy.p, dx: dx.p, accumulate: true, gamma: gamma.p, savedMean: sm.p,
                                  savedInvStd: si.p, dGamma: dG.p, dBeta: dB.p, rows: rows, channels: c, relu: relu,
                                  scratch: scratch.p, pool: p)
                let yi = Buffer<Double>(count: rows * c, repeating: 0)
                batchNormInference(x: x.p, y: yi.p, gamma: gamma.p, beta: beta.p, movingMean: mm.p, movingVariance: mv.p,
                                   rows: rows, channels: c, epsilon: 1e-3, relu: relu, scratch: scratch.p, pool: p)
                results.append([y, mm, mv, sm, si, dx, dG, dB, yi])
            }
            for (i, what) in ["y", "moving mean", "moving variance", "mean", "1/σ", "dx", "dγ", "dβ", "inference y"].enumerated() {
                assertSame(results[1][i], results[0][i], "BN relu \(relu) \(what)")
            }
        }
    }

    func testPoolingPaddingAndElementwise() {
        let pool = Self.pool
        let n = 5, h = 13, w = 11, c = 3
        let x = Buffer<Double>(random(Double.self, n * h * w * c, seed: 331))
        let g = PoolGeometry(inH: h, inW: w, channels: c, outH: 6, outW: 5, poolH: 3, poolW: 3, strideH: 2, strideW: 2)
        let dyPool = Buffer<Double>(random(Double.self, n * 6 * 5 * c, seed: 332))
        let big = 40_003
        let a = Buffer<Double>(random(Double.self, big, seed: 333)), b = Buffer<Double>(random(Double.self, big, seed: 334))
        let dyBig = Buffer<Double>(random(Double.self, big, seed: 335))
        var results: [[Buffer<Double>]] = []
        for p in [ThreadPool.serial, pool] {
            var out: [Buffer<Double>] = []
            let y = Buffer<Double>(count: dyPool.count, repeating: 0)
            let argmax = UnsafeMutablePointer<Int32>.allocate(capacity: dyPool.count)
            defer { argmax.deallocate() }
            maxPool(x.p, y.p, argmax: argmax, count: n, g, pool: p)
            let dx = Buffer<Double>(count: x.count, repeating: 2)
            maxPoolBackward(dyPool.p, argmax: argmax, dx.p, count: n, g, accumulate: false, pool: p)
            let ya = Buffer<Double>(count: dyPool.count, repeating: 0)
            avgPool(x.p, ya.p, count: n, g, pool: p)
            let dxa = Buffer<Double>(count: x.count, repeating: 2)
            avgPoolBackward(dyPool.p, dxa.p, count: n, g, accumulate: true, pool: p)
            out += [y, dx, ya, dxa]

            let padded = Buffer<Double>(count: n * (h + 3) * (w + 4) * c, repeating: 9)
            zeroPad(x.p, padded.p, count: n, height: h, width: w, channels: c, top: 1, bottom: 2, left: 3, right: 1, pool: p)
            let back = Buffer<Double>(count: x.count, repeating: 1)
            zeroPadBackward(padded.p, back.p, count: n, height: h, width: w, channels: c, top: 1, bottom: 2, left: 3, right: 1,
                            accumulate: true, pool: p)
            out += [padded, back]

            let r = Buffer<Double>(count: big, repeating: 0)
            relu(a.p, r.p, count: big, pool: p)
            let dr = Buffer<Double>(count: big, repeating: 3)
            reluBackward(y: r.p, dy: dyBig.p, dx: dr.p, count: big, accumulate: true, pool: p)
            let s = Buffer<Double>(count: big, repeating: 0)
            add(a.p, b.p, s.p, count: big, relu: true, pool: p)
            let da = Buffer<Double>(count: big, repeating: 1), db = Buffer<Double>(count: big, repeating: 1)
            addBackward(y: s.p, dy: dyBig.p, da: da.p, accumulateA: true, db: db.p, accumulateB: false, count: big, relu: true, pool: p)
            out += [r, dr, s, da, db]

            let params = Buffer<Double>(a.array), m = Buffer<Double>(count: big, repeating: 0), v = Buffer<Double>(count: big, repeating: 0)
            for step in 1...2 {
                adamUpdate(parameters: params.p, gradients: dyBig.p, m: m.p, v: v.p, count: big, learningRate: 0.01,
                           beta1: 0.9, beta2: 0.999, epsilon: 1e-7, step: step, pool: p)
            }
            out += [params, m, v]
            results.append(out)
        }
        let names = ["max pool", "max-pool dx", "avg pool", "avg-pool dx", "zero pad", "zero-pad dx",
                     "relu", "relu dx", "add", "add da", "add db", "adam p", "adam m", "adam v"]
        for (i, what) in names.enumerated() { assertSame(results[1][i], results[0][i], what) }
    }
}
