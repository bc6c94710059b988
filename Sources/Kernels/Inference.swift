/// Kernels of the inference plan: a convolution whose output pass also adds the (folded) bias, a
/// residual and the ReLU; batch-norm folding done once when weights are loaded; max pooling without
/// the argmax that only backward needs. Parallel closures capture nothing (no allocation).

/// y ← relu?(conv(x, W) + b + residual?) for `n` samples, the epilogue applied to each thread's block
/// of the GEMM output right after that thread computed it (while it is still in cache), instead of
/// the training graph's separate bias, batch-norm, add and ReLU passes over the whole activation.
@inlinable
public func conv2DInference<T: NetScalar>(x: UnsafePointer<T>, weights: UnsafePointer<T>, bias: UnsafePointer<T>?,
                                          residual: UnsafePointer<T>?, relu: Bool, y: UnsafeMutablePointer<T>,
                                          count n: Int, geometry g: ConvGeometry, workspace: UnsafeMutablePointer<T>,
                                          pool: ThreadPool = .serial) {
    let m = n * g.outH * g.outW
    let a: UnsafePointer<T>
    if g.isPointwise { a = x } else { im2col(x, workspace, count: n, g, pool: pool); a = UnsafePointer(workspace) }
    gemmWithEpilogue(pool, m: m, n: g.outC, k: g.patch, a: a, b: weights, c: y, bias: bias, residual: residual, relu: relu)
}

/// C[m, n] ← relu?(A[m, k]·B[k, n] + bias[n] + R[m, n]), row-major and dense; split like `parallelGEMM`.
@inlinable
public func gemmWithEpilogue<T: NetScalar>(_ pool: ThreadPool, m: Int, n: Int, k: Int, a: UnsafePointer<T>, b: UnsafePointer<T>,
                                           c: UnsafeMutablePointer<T>, bias: UnsafePointer<T>?,
                                           residual: UnsafePointer<T>?, relu: Bool) {
    let work = Double(m) * Double(n) * Double(k)
    if work <= smallGEMMLimit || pool.threadCount == 1 || work < 2e6 {
        if work <= smallGEMMLimit {
            smallGEMM(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: n, beta: 0, c: c, ldc: n)
        } else {
            T.gemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: n, beta: 0, c: c, ldc: n)
        }
        epilogue(c, ldc: n, rows: 0..<m, columns: 0..<n, bias: bias, residual: residual, relu: relu)
        return
    }
    let context = (m, n, k, a, b, c, bias, residual, relu)
    if m >= n {
        pool.parallelFor(m, align: 16, minimumPerThread: 16, context) { ctxPointer, rows in
            let (_, n, k, a, b, c, bias, residual, relu) = ctxPointer.pointee
            T.gemm(transA: false, transB: false, m: rows.count, n: n, k: k, alpha: 1, a: a + rows.lowerBound * k, lda: k,
                   b: b, ldb: n, beta: 0, c: c + rows.lowerBound * n, ldc: n)
            epilogue(c, ldc: n, rows: rows, columns: 0..<n, bias: bias, residual: residual, relu: relu)
        }
    } else {
        pool.parallelFor(n, align: 16, minimumPerThread: 16, context) { ctxPointer, columns in
            let (m, n, k, a, b, c, bias, residual, relu) = ctxPointer.pointee
            T.gemm(transA: false, transB: false, m: m, n: columns.count, k: k, alpha: 1, a: a, lda: k,
                   b: b + columns.lowerBound, ldb: n, beta: 0, c: c + columns.lowerBound, ldc: n)
            epilogue(c, ldc: n, rows: 0..<m, columns: columns, bias: bias, residual: residual, relu: relu)
        }
    }
}

/// The output pass: bias, residual and ReLU over a block of C, in one sweep.
@inlinable
func epilogue<T: NetScalar>(_ c: UnsafeMutablePointer<T>, ldc: Int, rows: Range<Int>, columns: Range<Int>,
                            bias: UnsafePointer<T>?, residual: UnsafePointer<T>?, relu: Bool) {
    let j0 = columns.lowerBound, width = columns.count
    for r in rows {
        let cr = c + r * ldc + j0
        switch (bias, residual) {
        case let (bias?, residual?):
            let b = bias + j0, rr = residual + r * ldc + j0
            if relu { for j in 0..<width { let v = cr[j] + b[j] + rr[j]; cr[j] = v > 0 ? v : 0 } }
            else { for j in 0..<width { cr[j] = cr[j] + b[j] + rr[j] } }
        case let (bias?, nil):
            let b = bias + j0
            if relu { for j in 0..<width { let v = cr[j] + b[j]; cr[j] = v > 0 ? v : 0 } }
            else { for j in 0..<width { cr[j] += b[j] } }
        case let (nil, residual?):
            let rr = residual + r * ldc + j0
            if relu { for j in 0..<width { let v = cr[j] + rr[j]; cr[j] = v > 0 ? v : 0 } }
            else { for j in 0..<width { cr[j] += rr[j] } }
        case (nil, nil):
            if relu { for j in 0..<width { let v = cr[j]; cr[j] = v > 0 ? v : 0 } }
        }
    }
}

/// Folds a batch norm (moving statistics) into the convolution before it, in place:
/// s = γ/√(σ² + ε); kernel[·, c] ← kernel[·, c]·s; β ← (bias − μ)·s + β (the folded bias lives in β);
/// γ ← s. Computed in Double. Run once per load: it overwrites γ and the kernel.
@inlinable
public func foldBatchNorm<T: NetScalar>(kernel: UnsafeMutablePointer<T>, bias: UnsafePointer<T>?,
                                        gamma: UnsafeMutablePointer<T>, beta: UnsafeMutablePointer<T>,
                                        mean: UnsafePointer<T>, variance: UnsafePointer<T>, epsilon: Double,
                                        patch: Int, channels: Int) {
    for c in 0..<channels {
        let s = Double(gamma[c]) / (Double(variance[c]) + epsilon).squareRoot()
        let b = bias.map { Double($0[c]) } ?? 0
        beta[c] = T((b - Double(mean[c])) * s + Double(beta[c]))
        gamma[c] = T(s)
    }
    for k in 0..<patch {
        let row = kernel + k * channels
        for c in 0..<channels { row[c] = T(Double(row[c]) * Double(gamma[c])) }
    }
}

/// A batch norm with no convolution to fold into, as a per-channel scale and shift: γ ← s,
/// β ← β − μ·s with s = γ/√(σ² + ε). In place, once per load.
@inlinable
public func foldBatchNormScaleShift<T: NetScalar>(gamma: UnsafeMutablePointer<T>, beta: UnsafeMutablePointer<T>,
                                                  mean: UnsafePointer<T>, variance: UnsafePointer<T>,
                                                  epsilon: Double, channels: Int) {
    for c in 0..<channels {
        let s = Double(gamma[c]) / (Double(variance[c]) + epsilon).squareRoot()
        beta[c] = T(Double(beta[c]) - Double(mean[c]) * s)
        gamma[c] = T(s)
    }
}

/// y[r, c] = relu?(x[r, c]·scale[c] + shift[c]).
@inlinable
public func scaleShift<T: NetScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, scale: UnsafePointer<T>,
                                     shift: UnsafePointer<T>, rows: Int, channels: Int, relu: Bool,
                                     pool: ThreadPool = .serial) {
    normalize(x, y, scale, shift, rows: rows, channels: channels, relu: relu, pool: pool)
}

/// Max pooling without recording the argmax (inference).
@inlinable
public func maxPool<T: NetScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, count n: Int, _ g: PoolGeometry,
                                  pool: ThreadPool = .serial) {
    pool.parallelFor(n, (x, y, g)) { ctxPointer, samples in
        let (x, y, g) = ctxPointer.pointee
        let c = g.channels
        for b in samples {
            let xb = x + b * g.inH * g.inW * c
            for oy in 0..<g.outH {
                for ox in 0..<g.outW {
                    let o = y + ((b * g.outH + oy) * g.outW + ox) * c
                    o.update(from: xb + (oy * g.strideH * g.inW + ox * g.strideW) * c, count: c)
                    for ky in 0..<g.poolH {
                        for kx in 0..<g.poolW {
                            let i = xb + ((oy * g.strideH + ky) * g.inW + ox * g.strideW + kx) * c
                            for j in 0..<c where i[j] > o[j] { o[j] = i[j] }
                        }
                    }
                }
            }
        }
    }
}

/// Zero padding with the planner's geometry.
@inlinable
public func zeroPad<T: NetScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, count n: Int, _ g: PadGeometry,
                                  pool: ThreadPool = .serial) {
    zeroPad(x, y, count: n, height: g.height, width: g.width, channels: g.channels,
            top: g.top, bottom: g.bottom, left: g.left, right: g.right, pool: pool)
}

@inlinable
public func zeroPadBackward<T: NetScalar>(_ dy: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>, count n: Int, _ g: PadGeometry,
                                          accumulate: Bool, pool: ThreadPool = .serial) {
    zeroPadBackward(dy, dx, count: n, height: g.height, width: g.width, channels: g.channels,
                    top: g.top, bottom: g.bottom, left: g.left, right: g.right, accumulate: accumulate, pool: pool)
}
