/// Dense layer, softmax, categorical cross-entropy (Keras' clipping) and Adam (Keras' update rule).

/// y[n, out] = x[n, in] · W[in, out] + b
@inlinable
public func denseForward<T: NetScalar>(x: UnsafePointer<T>, weights: UnsafePointer<T>, bias: UnsafePointer<T>,
                                       y: UnsafeMutablePointer<T>, count n: Int, inputs: Int, outputs: Int,
                                       pool: ThreadPool = .serial) {
    broadcastRows(bias, y, rows: n, channels: outputs)
    parallelGEMM(pool, transA: false, transB: false, m: n, n: outputs, k: inputs, alpha: 1, a: x, lda: inputs,
           b: weights, ldb: outputs, beta: 1, c: y, ldc: outputs)
}

@inlinable
public func denseBackward<T: NetScalar>(x: UnsafePointer<T>, weights: UnsafePointer<T>, dy: UnsafePointer<T>,
                                        dWeights: UnsafeMutablePointer<T>, dBias: UnsafeMutablePointer<T>,
                                        dx: UnsafeMutablePointer<T>?, accumulate: Bool,
                                        count n: Int, inputs: Int, outputs: Int, pool: ThreadPool = .serial) {
    columnSums(dy, dBias, rows: n, channels: outputs, pool: pool)
    parallelGEMM(pool, transA: true, transB: false, m: inputs, n: outputs, k: n, alpha: 1, a: x, lda: inputs,
           b: dy, ldb: outputs, beta: 0, c: dWeights, ldc: outputs)
    if let dx {
        parallelGEMM(pool, transA: false, transB: true, m: n, n: inputs, k: outputs, alpha: 1, a: dy, lda: outputs,
               b: weights, ldb: outputs, beta: accumulate ? 1 : 0, c: dx, ldc: inputs)
    }
}

/// Row-wise softmax (max-subtracted).
@inlinable
public func softmax<T: NetScalar>(_ logits: UnsafePointer<T>, _ probabilities: UnsafeMutablePointer<T>, count n: Int, classes k: Int) {
    for r in 0..<n {
        let z = logits + r * k, p = probabilities + r * k
        var m = z[0]
        for j in 1..<max(k, 1) where z[j] > m { m = z[j] }
        var s: T = 0
        for j in 0..<k { p[j] = T.exp(z[j] - m); s += p[j] }
        let inv = 1 / s
        for j in 0..<k { p[j] *= inv }
    }
}

/// Keras' probability clipping in categorical cross-entropy.
public let crossEntropyEpsilon = 1e-7

/// Mean categorical cross-entropy of `n` rows and the number whose argmax matches the label's.
@inlinable
public func crossEntropy<T: NetScalar>(probabilities p: UnsafePointer<T>, labels y: UnsafePointer<T>,
                                       count n: Int, classes k: Int) -> (loss: Double, correct: Int) {
    var total = 0.0
    var correct = 0
    let eps = crossEntropyEpsilon
    for r in 0..<n {
        let pr = p + r * k, yr = y + r * k
        var rowLoss = 0.0
        var best = 0, label = 0
        for j in 0..<k {
            let q = min(max(Double(pr[j]), eps), 1 - eps)
            if yr[j] != 0 { rowLoss -= Double(yr[j]) * Double.log(q) }
            if pr[j] > pr[best] { best = j }
            if yr[j] > yr[label] { label = j }
        }
        total += rowLoss
        if best == label { correct += 1 }
    }
    return (total / Double(n), correct)
}

/// d(mean loss)/d logits through softmax and the clip: where a probability is clipped its
/// derivative is zero, so dz_j = (q_j·Σ_k y_k·m_k − y_j·m_j) / n with m_k = [ε < q_k < 1 − ε].
@inlinable
public func crossEntropyBackward<T: NetScalar>(probabilities p: UnsafePointer<T>, labels y: UnsafePointer<T>,
                                               dLogits: UnsafeMutablePointer<T>, count n: Int, classes k: Int) {
    let eps = T(crossEntropyEpsilon)
    let invN = 1 / T(n)
    for r in 0..<n {
        let pr = p + r * k, yr = y + r * k, dz = dLogits + r * k
        var s: T = 0
        for j in 0..<k where pr[j] > eps && pr[j] < 1 - eps { s += yr[j] }
        for j in 0..<k {
            let mask: T = pr[j] > eps && pr[j] < 1 - eps ? 1 : 0
            dz[j] = (pr[j] * s - yr[j] * mask) * invN
        }
    }
}

/// One Adam step over `count` parameters, as Keras 3 computes it:
/// α = lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ); m += (g − m)(1 − β₁); v += (g² − v)(1 − β₂); p −= α·m/(√v + ε).
/// Keras raises β to the power t after casting it through float32 (also for float64 weights), so
/// the bias correction does too; the moment updates use the exact 1 − β.
@inlinable
public func adamUpdate<T: NetScalar>(parameters p: UnsafeMutablePointer<T>, gradients g: UnsafePointer<T>,
                                     m: UnsafeMutablePointer<T>, v: UnsafeMutablePointer<T>, count: Int,
                                     learningRate: Double, beta1: Double, beta2: Double, epsilon: Double, step t: Int,
                                     pool: ThreadPool = .serial) {
    let beta1Power = pow(Double(Float(beta1)), Double(t)), beta2Power = pow(Double(Float(beta2)), Double(t))
    let alpha = T(learningRate * (1 - beta2Power).squareRoot() / (1 - beta1Power))
    let b1 = T(1 - beta1), b2 = T(1 - beta2), eps = T(epsilon)
    pool.parallelFor(count, align: 16, minimumPerThread: 8192, (p, g, m, v, (alpha, b1, b2, eps))) { ctxPointer, range in
        let ctx = ctxPointer.pointee
        let (p, g, m, v, (alpha, b1, b2, eps)) = ctx
        for i in range {
            let gi = g[i]
            let mi = m[i] + (gi - m[i]) * b1
            let vi = v[i] + (gi * gi - v[i]) * b2
            m[i] = mi
            v[i] = vi
            p[i] -= alpha * mi / (vi.squareRoot() + eps)
        }
    }
}

@inlinable
func pow(_ x: Double, _ y: Double) -> Double { Double.exp(y * Double.log(x)) }
