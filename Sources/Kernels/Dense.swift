/// Dense layer, softmax and categorical cross-entropy from logits (Keras 3's path); Adam is in Adam.swift.

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

/// Mean categorical cross-entropy of `n` rows from their logits, as Keras 3 computes it for a
/// softmax head (`loss_path: from_logits` in the fixture manifest: TensorFlow's
/// `softmax_cross_entropy_with_logits` on the Dense layer's pre-activation): a row's loss is
/// Σ_j y_j·(logsumexp(z) − z_j), evaluated in Double with the maximum shifted out. No probability
/// is clipped, so a confidently wrong sample keeps its full loss (the old clipped path capped it
/// at −log 1e-7 ≈ 16.1) and its gradient. Also returns how many rows' argmax matches the label's.
@inlinable
public func crossEntropy<T: NetScalar>(logits z: UnsafePointer<T>, labels y: UnsafePointer<T>,
                                       count n: Int, classes k: Int) -> (loss: Double, correct: Int) {
    var total = 0.0
    var correct = 0
    for r in 0..<n {
        let zr = z + r * k, yr = y + r * k
        var best = 0, label = 0
        for j in 1..<max(k, 1) {
            if zr[j] > zr[best] { best = j }
            if yr[j] > yr[label] { label = j }
        }
        let m = Double(zr[best])
        var sum = 0.0
        for j in 0..<k { sum += Double.exp(Double(zr[j]) - m) }
        let logSumExp = m + Double.log(sum)
        var rowLoss = 0.0
        for j in 0..<k where yr[j] != 0 { rowLoss += Double(yr[j]) * (logSumExp - Double(zr[j])) }
        total += rowLoss
        if best == label { correct += 1 }
    }
    return (total / Double(n), correct)
}

/// d(mean loss)/d logits of `crossEntropy(logits:…)`: (p·Σ_k y_k − y)/n, i.e. (p − y)/n for
/// one-hot labels, with p = softmax(z) as the forward pass computed it. `scale` replaces 1/n
/// (data-parallel training: 1/global batch, so that the processes' gradients sum to the mean's).
@inlinable
public func crossEntropyBackward<T: NetScalar>(probabilities p: UnsafePointer<T>, labels y: UnsafePointer<T>,
                                               dLogits: UnsafeMutablePointer<T>, count n: Int, classes k: Int,
                                               scale: Double? = nil) {
    let invN = scale.map { T($0) } ?? 1 / T(n)
    for r in 0..<n {
        let pr = p + r * k, yr = y + r * k, dz = dLogits + r * k
        var s: T = 0
        for j in 0..<k { s += yr[j] }
        for j in 0..<k { dz[j] = (pr[j] * s - yr[j]) * invN }
    }
}
