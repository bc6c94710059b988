import Kernels
import XCTest

/// Batch normalization as Keras does it: batch statistics with the biased variance, moving averages
/// with momentum 0.99, optional fused ReLU; backward against a naive formula and finite differences.
final class BatchNormTests: XCTestCase {
    let rows = 13, channels = 5, epsilon = 1e-3, momentum = 0.99

    struct Reference {
        var mean: [Double], variance: [Double], y: [Double], movingMean: [Double], movingVariance: [Double]
    }

    func reference(x: [Double], gamma: [Double], beta: [Double], movingMean: [Double], movingVariance: [Double],
                   relu: Bool) -> Reference {
        let c = channels
        var mean = [Double](repeating: 0, count: c), variance = [Double](repeating: 0, count: c)
        for j in 0..<c {
            let column = (0..<rows).map { x[$0 * c + j] }
            mean[j] = column.reduce(0, +) / Double(rows)
            variance[j] = column.map { ($0 - mean[j]) * ($0 - mean[j]) }.reduce(0, +) / Double(rows)   // biased
        }
        var y = [Double](repeating: 0, count: x.count)
        for r in 0..<rows { for j in 0..<c {
            let v = gamma[j] * (x[r * c + j] - mean[j]) / (variance[j] + epsilon).squareRoot() + beta[j]
            y[r * c + j] = relu ? max(v, 0) : v
        } }
        return Reference(mean: mean, variance: variance, y: y,
                         movingMean: (0..<c).map { movingMean[$0] * momentum + mean[$0] * (1 - momentum) },
                         movingVariance: (0..<c).map { movingVariance[$0] * momentum + variance[$0] * (1 - momentum) })
    }

    func testTrainingDouble() { checkTraining(Double.self) }
    func testTrainingFloat() { checkTraining(Float.self) }

    func checkTraining<T: NetScalar>(_: T.Type) {
        let c = channels
        let x = Buffer<T>(random(T.self, rows * c, seed: 21, scale: 2, offset: 0.7))
        let gamma = Buffer<T>(random(T.self, c, seed: 22, scale: 0.5, offset: 1))
        let beta = Buffer<T>(random(T.self, c, seed: 23, scale: 0.5))
        let mm0 = random(T.self, c, seed: 24), mv0 = random(T.self, c, seed: 25, scale: 0.4, offset: 1)
        for relu in [false, true] {
            let mm = Buffer<T>(mm0), mv = Buffer<T>(mv0)
            let savedMean = Buffer<T>(count: c, repeating: 0), savedInvStd = Buffer<T>(count: c, repeating: 0)
            let y = Buffer<T>(count: rows * c, repeating: 77)
            let scratch = Buffer<Double>(count: 6 * c, repeating: .nan)
            batchNormTraining(x: x.p, y: y.p, gamma: gamma.p, beta: beta.p, movingMean: mm.p, movingVariance: mv.p,
                              savedMean: savedMean.p, savedInvStd: savedInvStd.p, rows: rows, channels: c,
                              momentum: momentum, epsilon: epsilon, relu: relu, scratch: scratch.p)
            let ref = reference(x: x.doubles, gamma: gamma.doubles, beta: beta.doubles,
                                movingMean: mm0.map { Double($0) }, movingVariance: mv0.map { Double($0) }, relu: relu)
            let tol = tolerance(T.self, double: 1e-12, float: 1e-5)
            assertClose(y.array, ref.y, tol: tol, "BN training y relu \(relu)")
            assertClose(savedMean.array, ref.mean, tol: tol, "saved mean")
            assertClose(savedInvStd.array, ref.variance.map { 1 / ($0 + epsilon).squareRoot() }, tol: tol, "saved 1/σ")
            assertClose(mm.array, ref.movingMean, tol: tol, "moving mean")
            assertClose(mv.array, ref.movingVariance, tol: tol, "moving variance")
            if relu {
                XCTAssertTrue(y.array.allSatisfy { $0 >= 0 })
                XCTAssertTrue(y.array.contains(0), "data should exercise the ReLU")
            }
        }
    }

    func testMovingAveragesConvergeToTheBatchStatistics() {
        let c = channels
        let x = Buffer<Double>(random(Double.self, rows * c, seed: 26, scale: 3, offset: -2))
        let gamma = Buffer<Double>(count: c, repeating: 1), beta = Buffer<Double>(count: c, repeating: 0)
        let mm = Buffer<Double>(count: c, repeating: 0), mv = Buffer<Double>(count: c, repeating: 1)
        let sm = Buffer<Double>(count: c, repeating: 0), si = Buffer<Double>(count: c, repeating: 0)
        let y = Buffer<Double>(count: rows * c, repeating: 0), scratch = Buffer<Double>(count: 6 * c, repeating: 0)
        for _ in 0..<3 {
            batchNormTraining(x: x.p, y: y.p, gamma: gamma.p, beta: beta.p, movingMean: mm.p, movingVariance: mv.p,
                              savedMean: sm.p, savedInvStd: si.p, rows: rows, channels: c, momentum: momentum,
                              epsilon: epsilon, relu: false, scratch: scratch.p)
        }
        let ref = reference(x: x.doubles, gamma: gamma.doubles, beta: beta.doubles, movingMean: [Double](repeating: 0, count: c),
                            movingVariance: [Double](repeating: 1, count: c), relu: false)
        let keep = momentum * momentum * momentum
        assertClose(mm.array, ref.mean.map { $0 * (1 - keep) }, tol: 1e-13, "moving mean after 3 steps")
        assertClose(mv.array, ref.variance.map { keep + $0 * (1 - keep) }, tol: 1e-13, "moving variance after 3 steps")
        // Normalized output: zero mean, unit (biased) variance up to ε.
        for j in 0..<c {
            let col = (0..<rows).map { y[$0 * c + j] }
            XCTAssertEqual(col.reduce(0, +) / Double(rows), 0, accuracy: 1e-12)
        }
    }

    func testInferenceDouble() { checkInference(Double.self) }
    func testInferenceFloat() { checkInference(Float.self) }

    func checkInference<T: NetScalar>(_: T.Type) {
        let c = channels
        let x = Buffer<T>(random(T.self, rows * c, seed: 31, scale: 2))
        let gamma = Buffer<T>(random(T.self, c, seed: 32, scale: 0.5, offset: 1))
        let beta = Buffer<T>(random(T.self, c, seed: 33, scale: 0.5))
        let mm = Buffer<T>(random(T.self, c, seed: 34, scale: 0.5))
        let mv = Buffer<T>(random(T.self, c, seed: 35, scale: 0.4, offset: 1))
        for relu in [false, true] {
            let y = Buffer<T>(count: rows * c, repeating: 5)
            let scratch = Buffer<Double>(count: 6 * c, repeating: 0)
            batchNormInference(x: x.p, y: y.p, gamma: gamma.p, beta: beta.p, movingMean: mm.p, movingVariance: mv.p,
                               rows: rows, channels: c, epsilon: epsilon, relu: relu, scratch: scratch.p)
            var expected = [Double](repeating: 0, count: rows * c)
            for r in 0..<rows { for j in 0..<c {
                let v = Double(gamma[j]) * (Double(x[r * c + j]) - Double(mm[j])) / (Double(mv[j]) + epsilon).squareRoot() + Double(beta[j])
                expected[r * c + j] = relu ? max(0, v) : v
            } }
            assertClose(y.array, expected, tol: tolerance(T.self, double: 1e-13, float: 1e-6), "BN inference relu \(relu)")
        }
    }

    // MARK: backward

    /// L = Σ w ⊙ BN(x; γ, β) (after the fused ReLU when on): dL/dy = w.
    func loss(x: [Double], gamma: [Double], beta: [Double], weights: [Double], relu: Bool) -> Double {
        let c = channels
        let ref = reference(x: x, gamma: gamma, beta: beta, movingMean: [Double](repeating: 0, count: c),
                            movingVariance: [Double](repeating: 1, count: c), relu: relu)
        return dot(ref.y, weights)
    }

    struct Gradients { var dx: [Double], dGamma: [Double], dBeta: [Double] }

    /// Runs the kernel's forward (to get saved statistics and y) and backward.
    func kernelGradients<T: NetScalar>(_: T.Type, x xs: [T], gamma gs: [T], beta bs: [T], dy dys: [T], relu: Bool,
                                      accumulateOnto prior: [T]?, dxNil: Bool = false) -> (dx: [T], dGamma: [T], dBeta: [T]) {
        let c = channels
        let x = Buffer<T>(xs), gamma = Buffer<T>(gs), beta = Buffer<T>(bs), dy = Buffer<T>(dys)
        let mm = Buffer<T>(count: c, repeating: 0), mv = Buffer<T>(count: c, repeating: 1)
        let sm = Buffer<T>(count: c, repeating: 0), si = Buffer<T>(count: c, repeating: 0)
        let y = Buffer<T>(count: rows * c, repeating: 0), scratch = Buffer<Double>(count: 6 * c, repeating: 0)
        batchNormTraining(x: x.p, y: y.p, gamma: gamma.p, beta: beta.p, movingMean: mm.p, movingVariance: mv.p,
                          savedMean: sm.p, savedInvStd: si.p, rows: rows, channels: c, momentum: momentum,
                          epsilon: epsilon, relu: relu, scratch: scratch.p)
        let dx = Buffer<T>(prior ?? [T](repeating: 3, count: rows * c))
        let dGamma = Buffer<T>(count: c, repeating: 9), dBeta = Buffer<T>(count: c, repeating: 9)
        scratch.p.update(repeating: .nan, count: 6 * c)
        batchNormBackward(x: x.p, y: y.p, dy: dy.p, dx: dxNil ? nil : dx.p, accumulate: prior != nil, gamma: gamma.p,
                          savedMean: sm.p, savedInvStd: si.p, dGamma: dGamma.p, dBeta: dBeta.p,
                          rows: rows, channels: c, relu: relu, scratch: scratch.p)
        return (dx.array, dGamma.array, dBeta.array)
    }

    func testBackwardMatchesFiniteDifferences() {
        let c = channels
        let x = random(Double.self, rows * c, seed: 41, scale: 2, offset: 0.3)
        let gamma = random(Double.self, c, seed: 42, scale: 0.5, offset: 1)
        let beta = random(Double.self, c, seed: 43, scale: 0.5)
        let w = random(Double.self, rows * c, seed: 44)
        for relu in [false, true] {
            let k = kernelGradients(Double.self, x: x, gamma: gamma, beta: beta, dy: w, relu: relu, accumulateOnto: nil)
            let h = 1e-6
            func fd(_ f: (Double) -> Double) -> Double { (f(h) - f(-h)) / (2 * h) }
            let dx = x.indices.map { i in fd { d in var xp = x; xp[i] += d; return loss(x: xp, gamma: gamma, beta: beta, weights: w, relu: relu) } }
            let dGamma = gamma.indices.map { j in fd { d in var g = gamma; g[j] += d; return loss(x: x, gamma: g, beta: beta, weights: w, relu: relu) } }
            let dBeta = beta.indices.map { j in fd { d in var b = beta; b[j] += d; return loss(x: x, gamma: gamma, beta: b, weights: w, relu: relu) } }
            assertClose(k.dx, dx, tol: 1e-7, "BN dx vs finite differences, relu \(relu)")
            assertClose(k.dGamma, dGamma, tol: 1e-7, "BN dγ vs finite differences, relu \(relu)")
            assertClose(k.dBeta, dBeta, tol: 1e-7, "BN dβ vs finite differences, relu \(relu)")
            XCTAssertGreaterThan(k.dx.map(abs).max()!, 1e-3)
        }
    }

    /// The textbook formula dx = γ/σ · (g − mean(g) − x̂·mean(g·x̂)), g = dy masked by the ReLU.
    func naiveBackward(x: [Double], gamma: [Double], beta: [Double], dy: [Double], relu: Bool) -> Gradients {
        let c = channels
        let ref = reference(x: x, gamma: gamma, beta: beta, movingMean: [Double](repeating: 0, count: c),
                            movingVariance: [Double](repeating: 1, count: c), relu: relu)
        var out = Gradients(dx: [Double](repeating: 0, count: x.count), dGamma: [], dBeta: [])
        for j in 0..<c {
            let sigma = (ref.variance[j] + epsilon).squareRoot()
            let xhat = (0..<rows).map { (x[$0 * c + j] - ref.mean[j]) / sigma }
            let g = (0..<rows).map { relu && !(ref.y[$0 * c + j] > 0) ? 0 : dy[$0 * c + j] }
            let meanG = g.reduce(0, +) / Double(rows)
            let meanGX = zip(g, xhat).map { $0 * $1 }.reduce(0, +) / Double(rows)
            for r in 0..<rows { out.dx[r * c + j] = gamma[j] / sigma * (g[r] - meanG - xhat[r] * meanGX) }
            out.dGamma.append(meanGX * Double(rows))
            out.dBeta.append(meanG * Double(rows))
        }
        return out
    }

    func testBackwardDoubleAgainstFormula() { checkBackwardFormula(Double.self) }
    func testBackwardFloatAgainstFormula() { checkBackwardFormula(Float.self) }

    func checkBackwardFormula<T: NetScalar>(_: T.Type) {
        let c = channels
        let x = random(T.self, rows * c, seed: 51, scale: 2, offset: -0.4)
        let gamma = random(T.self, c, seed: 52, scale: 0.5, offset: 1)
        let beta = random(T.self, c, seed: 53, scale: 0.5)
        let dy = random(T.self, rows * c, seed: 54)
        let prior = random(T.self, rows * c, seed: 55)
        let tol = tolerance(T.self, double: 1e-12, float: 2e-5)
        for relu in [false, true] {
            let ref = naiveBackward(x: x.map { Double($0) }, gamma: gamma.map { Double($0) }, beta: beta.map { Double($0) },
                                    dy: dy.map { Double($0) }, relu: relu)
            let written = kernelGradients(T.self, x: x, gamma: gamma, beta: beta, dy: dy, relu: relu, accumulateOnto: nil)
            assertClose(written.dx, ref.dx, tol: tol, "BN dx relu \(relu)")
            assertClose(written.dGamma, ref.dGamma, tol: tol, "BN dγ relu \(relu)")
            assertClose(written.dBeta, ref.dBeta, tol: tol, "BN dβ relu \(relu)")
            let accumulated = kernelGradients(T.self, x: x, gamma: gamma, beta: beta, dy: dy, relu: relu, accumulateOnto: prior)
            assertClose(accumulated.dx, plus(prior.map { Double($0) }, ref.dx), tol: tol, "BN dx accumulated relu \(relu)")
            let noDx = kernelGradients(T.self, x: x, gamma: gamma, beta: beta, dy: dy, relu: relu, accumulateOnto: nil, dxNil: true)
            XCTAssertTrue(noDx.dx.allSatisfy { $0 == 3 }, "dx nil must leave the buffer alone")
            assertClose(noDx.dGamma, ref.dGamma, tol: tol, "BN dγ without dx")
        }
    }
}
