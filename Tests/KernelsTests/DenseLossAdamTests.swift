import Foundation
import Kernels
import XCTest

/// Dense layer, softmax, categorical cross-entropy from logits (Keras 3's path), and Keras 3's Adam.
final class DenseLossAdamTests: XCTestCase {
    func testDenseDouble() { checkDense(Double.self) }
    func testDenseFloat() { checkDense(Float.self) }

    func checkDense<T: NetScalar>(_: T.Type) {
        let n = 3, fin = 7, fout = 5
        let x = Buffer<T>(random(T.self, n * fin, seed: 91)), w = Buffer<T>(random(T.self, fin * fout, seed: 92))
        let bias = Buffer<T>(random(T.self, fout, seed: 93))
        let y = Buffer<T>(count: n * fout, repeating: 9)
        denseForward(x: x.p, weights: w.p, bias: bias.p, y: y.p, count: n, inputs: fin, outputs: fout)
        var expected = [Double]()
        for r in 0..<n { for o in 0..<fout {
            expected.append(Double(bias[o]) + (0..<fin).reduce(0.0) { $0 + Double(x[r * fin + $1]) * Double(w[$1 * fout + o]) })
        } }
        let tol = tolerance(T.self)
        assertClose(y.array, expected, tol: tol, "dense forward")

        let dy = Buffer<T>(random(T.self, n * fout, seed: 94))
        var dW = [Double](repeating: 0, count: fin * fout), dB = [Double](repeating: 0, count: fout)
        var dx = [Double](repeating: 0, count: n * fin)
        for r in 0..<n { for o in 0..<fout {
            let d = Double(dy[r * fout + o])
            dB[o] += d
            for i in 0..<fin { dW[i * fout + o] += Double(x[r * fin + i]) * d; dx[r * fin + i] += Double(w[i * fout + o]) * d }
        } }
        let prior = random(T.self, n * fin, seed: 95)
        for mode in ["write", "accumulate", "no dx"] {
            let gW = Buffer<T>(count: fin * fout, repeating: 3), gB = Buffer<T>(count: fout, repeating: 3)
            let gx = Buffer<T>(mode == "accumulate" ? prior : [T](repeating: 3, count: n * fin))
            denseBackward(x: x.p, weights: w.p, dy: dy.p, dWeights: gW.p, dBias: gB.p, dx: mode == "no dx" ? nil : gx.p,
                          accumulate: mode == "accumulate", count: n, inputs: fin, outputs: fout)
            assertClose(gW.array, dW, tol: tol, "dense dW [\(mode)]")
            assertClose(gB.array, dB, tol: tol, "dense dBias [\(mode)]")
            switch mode {
            case "write": assertClose(gx.array, dx, tol: tol, "dense dx")
            case "accumulate": assertClose(gx.array, plus(prior.map { Double($0) }, dx), tol: tol, "dense dx accumulated")
            default: XCTAssertTrue(gx.array.allSatisfy { $0 == 3 }, "dx nil must leave the buffer alone")
            }
        }
    }

    func naiveSoftmax(_ z: [Double]) -> [Double] {
        let m = z.max()!
        let e = z.map { Foundation.exp($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    func testSoftmaxDouble() { checkSoftmax(Double.self) }
    func testSoftmaxFloat() { checkSoftmax(Float.self) }

    func checkSoftmax<T: NetScalar>(_: T.Type) {
        let n = 4, k = 6
        var zs = random(T.self, n * k, seed: 101, scale: 4)
        for j in 0..<k { zs[3 * k + j] = T(1000 + j) }       // large logits: max-subtracted, no overflow
        let z = Buffer<T>(zs), p = Buffer<T>(count: n * k, repeating: 0)
        softmax(z.p, p.p, count: n, classes: k)
        var expected = [Double]()
        for r in 0..<n { expected += naiveSoftmax((0..<k).map { Double(zs[r * k + $0]) }) }
        assertClose(p.array, expected, tol: tolerance(T.self, double: 1e-14, float: 1e-6), "softmax")
        for r in 0..<n {
            XCTAssertEqual((0..<k).reduce(0.0) { $0 + Double(p[r * k + $1]) }, 1, accuracy: tolerance(T.self, double: 1e-14, float: 1e-6))
        }
        XCTAssertTrue(p.array.allSatisfy { $0.isFinite })
    }

    func testCrossEntropyDouble() { checkCrossEntropy(Double.self) }
    func testCrossEntropyFloat() { checkCrossEntropy(Float.self) }

    /// Independent reference: −Σ y·log softmax(z) with the softmax computed naively in Double.
    func referenceLoss(_ z: [Double], _ y: [Double]) -> Double {
        let m = z.max()!
        let lse = m + Foundation.log(z.reduce(0) { $0 + Foundation.exp($1 - m) })
        return zip(z, y).reduce(0) { $0 + $1.1 * (lse - $1.0) }
    }

    func checkCrossEntropy<T: NetScalar>(_: T.Type) {
        let k = 4
        // Row 0: ordinary; row 1: the label's probability is e^-40 ≈ 4e-18, far below the old clip
        // at 1e-7; row 2: confident and right; row 3: wrong argmax.
        let zs: [[Double]] = [[0.1, 1.9, 0.8, 0.1], [40, 0, 0, 0], [-3, 0, 12, 1], [2, 1.5, 1, 0.5]]
        let labels = [1, 3, 2, 1]
        let z = Buffer<T>(zs.flatMap { $0 }.map { T($0) })
        var ys = [T](repeating: 0, count: 4 * k)
        for (r, l) in labels.enumerated() { ys[r * k + l] = 1 }
        let y = Buffer<T>(ys)
        let result = crossEntropy(logits: z.p, labels: y.p, count: 4, classes: k)
        let reference = (0..<4).map { r in referenceLoss(zs[r].map { Double(T($0)) }, (0..<k).map { Double(ys[r * k + $0]) }) }
        XCTAssertGreaterThan(reference[1], 39.9, "unclipped: a confidently wrong sample keeps its whole loss (clipping capped it at 16.1)")
        XCTAssertEqual(result.loss, reference.reduce(0, +) / 4, accuracy: tolerance(T.self, double: 1e-13, float: 1e-5))
        XCTAssertEqual(result.correct, 2, "rows 0 and 2 are right")
        // A partial count only reads its rows.
        let two = crossEntropy(logits: z.p, labels: y.p, count: 2, classes: k)
        XCTAssertEqual(two.loss, (reference[0] + reference[1]) / 2, accuracy: tolerance(T.self, double: 1e-13, float: 1e-5))
        XCTAssertEqual(two.correct, 1)
        // Huge logits do not overflow (the maximum is shifted out).
        let big = Buffer<T>([T(80), T(-80), 0, 0])
        let one = Buffer<T>([0, 1, 0, 0].map { T($0) })
        XCTAssertEqual(crossEntropy(logits: big.p, labels: one.p, count: 1, classes: k).loss, 160, accuracy: 1e-9)
    }

    func testCrossEntropyBackwardDouble() { checkCrossEntropyBackward(Double.self) }
    func testCrossEntropyBackwardFloat() { checkCrossEntropyBackward(Float.self) }

    func checkCrossEntropyBackward<T: NetScalar>(_: T.Type) {
        let n = 3, k = 5
        let z = Buffer<T>(random(T.self, n * k, seed: 111, scale: 2))
        let p = Buffer<T>(count: n * k, repeating: 0)
        softmax(z.p, p.p, count: n, classes: k)
        var ys = [T](repeating: 0, count: n * k)
        ys[0 * k + 2] = 1; ys[1 * k + 0] = 1; ys[2 * k + 4] = 1
        let y = Buffer<T>(ys)
        let dz = Buffer<T>(count: n * k, repeating: 9)
        crossEntropyBackward(probabilities: p.p, labels: y.p, dLogits: dz.p, count: n, classes: k)
        // (p − y)/n.
        let expected = (0..<(n * k)).map { (Double(p[$0]) - Double(ys[$0])) / Double(n) }
        assertClose(dz.array, expected, tol: tolerance(T.self, double: 1e-15, float: 1e-7), "(p − y)/n")

        // And that is the derivative of mean cross-entropy ∘ softmax (finite differences, Double only).
        if T.self == Double.self {
            let zs = z.doubles
            func loss(_ zz: [Double]) -> Double {
                (0..<n).reduce(0.0) { acc, r in
                    let q = naiveSoftmax(Array(zz[(r * k)..<((r + 1) * k)]))
                    return acc - (0..<k).reduce(0.0) { $0 + Double(ys[r * k + $1]) * Foundation.log(q[$1]) }
                } / Double(n)
            }
            let h = 1e-6
            let fd = zs.indices.map { i -> Double in
                var a = zs, b = zs; a[i] += h; b[i] -= h
                return (loss(a) - loss(b)) / (2 * h)
            }
            assertClose(dz.array, fd, tol: 1e-8, "dLogits vs finite differences")
        }
    }

    /// A confidently wrong sample (its label's probability far below 1e-7) still gets the full
    /// gradient p − y: the clipped loss used to give it zero, so it was never learned again.
    func testCrossEntropyBackwardOfASaturatedWrongRowIsPMinusY() {
        func check<T: NetScalar>(_: T.Type) {
            let k = 3
            let z = Buffer<T>([30, 0, 0, 0.2, 0.5, 0.3].map { T($0) })
            let p = Buffer<T>(count: 2 * k, repeating: 0)
            softmax(z.p, p.p, count: 2, classes: k)
            XCTAssertLessThan(Double(p[1]), 1e-7)
            let y = Buffer<T>([0, 1, 0, 0, 0, 1].map { T($0) })
            let dz = Buffer<T>(count: 2 * k, repeating: 9)
            crossEntropyBackward(probabilities: p.p, labels: y.p, dLogits: dz.p, count: 2, classes: k)
            let expected = (0..<(2 * k)).map { (Double(p[$0]) - Double(y[$0])) / 2 }
            assertClose(dz.array, expected, tol: tolerance(T.self, double: 1e-15, float: 1e-7), "(p − y)/n")
            XCTAssertEqual(Double(dz[1]), -0.5, accuracy: 1e-6, "the label's logit is pushed up")
        }
        check(Double.self)
        check(Float.self)
    }

    // MARK: Adam

    /// Keras 3's Adam, written the way its source reads: β powers of β cast to float32, bias
    /// correction folded into the learning rate, moments updated as m += (g − m)(1 − β₁).
    func kerasAdam(p: inout [Double], m: inout [Double], v: inout [Double], g: [Double], step t: Int,
                   lr: Double, beta1: Double, beta2: Double, epsilon: Double) {
        let b1 = Double(Float(beta1)), b2 = Double(Float(beta2))
        var beta1Power = 1.0, beta2Power = 1.0
        for _ in 0..<t { beta1Power *= b1; beta2Power *= b2 }
        let alpha = lr * (1 - beta2Power).squareRoot() / (1 - beta1Power)
        for i in p.indices {
            m[i] += (g[i] - m[i]) * (1 - beta1)
            v[i] += (g[i] * g[i] - v[i]) * (1 - beta2)
            p[i] -= alpha * m[i] / (v[i].squareRoot() + epsilon)
        }
    }

    func testAdamDouble() { checkAdam(Double.self) }
    func testAdamFloat() { checkAdam(Float.self) }

    func checkAdam<T: NetScalar>(_: T.Type) {
        // 37: two 16-wide Float vectors (four 8-wide Double ones) and a scalar tail.
        let count = 37, lr = 0.01, beta1 = 0.9, beta2 = 0.999, epsilon = 1e-7
        let p = Buffer<T>(random(T.self, count, seed: 121))
        let m = Buffer<T>(count: count, repeating: 0), v = Buffer<T>(count: count, repeating: 0)
        var rp = p.doubles, rm = [Double](repeating: 0, count: count), rv = rm
        for step in 1...6 {
            var gs = random(T.self, count, seed: 200 + UInt64(step), scale: 0.5)
            gs[0] = 0                                         // a zero gradient still moves p by momentum
            let g = Buffer<T>(gs)
            adamUpdate(parameters: p.p, gradients: g.p, m: m.p, v: v.p, count: count, learningRate: lr,
                       beta1: beta1, beta2: beta2, epsilon: epsilon, step: step)
            kerasAdam(p: &rp, m: &rm, v: &rv, g: g.doubles, step: step, lr: lr, beta1: beta1, beta2: beta2, epsilon: epsilon)
            let tol = tolerance(T.self, double: 1e-13, float: 2e-6)
            assertClose(p.array, rp, tol: tol, "Adam parameters after step \(step)")
            assertClose(m.array, rm, tol: tol, "Adam m after step \(step)")
            assertClose(v.array, rv, tol: tol, "Adam v after step \(step)")
        }
    }

    /// The vector loop and the scalar tail do the same operations in the same order: a parameter gets
    /// bit-identical values whichever of them updates it (each element alone takes the scalar path).
    func testAdamVectorAndScalarPathsAreBitIdentical() {
        func check<T: NetScalar>(_: T.Type) {
            let count = 53
            let p0 = random(T.self, count, seed: 7), g = Buffer<T>(random(T.self, count, seed: 8, scale: 0.5))
            let m0 = random(T.self, count, seed: 9, scale: 0.1), v0 = random(T.self, count, seed: 10, scale: 0.01, offset: 0.01)
            let pv = Buffer<T>(p0), mv = Buffer<T>(m0), vv = Buffer<T>(v0)
            adamUpdate(parameters: pv.p, gradients: g.p, m: mv.p, v: vv.p, count: count, learningRate: 0.003,
                       beta1: 0.9, beta2: 0.999, epsilon: 1e-7, step: 3)
            let ps = Buffer<T>(p0), ms = Buffer<T>(m0), vs = Buffer<T>(v0)
            for i in 0..<count {
                adamUpdate(parameters: ps.p + i, gradients: g.p + i, m: ms.p + i, v: vs.p + i, count: 1, learningRate: 0.003,
                           beta1: 0.9, beta2: 0.999, epsilon: 1e-7, step: 3)
            }
            XCTAssertEqual(pv.array, ps.array, "\(T.self) parameters")
            XCTAssertEqual(mv.array, ms.array, "\(T.self) m")
            XCTAssertEqual(vv.array, vs.array, "\(T.self) v")
            XCTAssertNotEqual(pv.array, p0, "the step moved the parameters")
        }
        check(Float.self)
        check(Double.self)
    }

    /// The float32 rounding of β is visible in Double: an exact-β reference differs from the kernel.
    func testAdamUsesFloat32RoundedBetaPowers() {
        let lr = 0.1, g = 0.3
        let p = Buffer<Double>([1]), m = Buffer<Double>([0]), v = Buffer<Double>([0]), grad = Buffer<Double>([g])
        adamUpdate(parameters: p.p, gradients: grad.p, m: m.p, v: v.p, count: 1, learningRate: lr,
                   beta1: 0.9, beta2: 0.999, epsilon: 1e-7, step: 1)
        let mm = 0.1 * g, vv = 0.001 * g * g
        let rounded = 1 - lr * (1 - Double(Float(0.999))).squareRoot() / (1 - Double(Float(0.9))) * mm / (vv.squareRoot() + 1e-7)
        let exact = 1 - lr * (1 - 0.999).squareRoot() / (1 - 0.9) * mm / (vv.squareRoot() + 1e-7)
        XCTAssertEqual(p[0], rounded, accuracy: 1e-14)
        XCTAssertGreaterThan(abs(p[0] - exact), 1e-8, "the test must be able to tell the two apart")
        XCTAssertEqual(p[0], 1 - lr, accuracy: 1e-5, "first Adam step moves by ≈ lr·sign(g)")
    }
}
