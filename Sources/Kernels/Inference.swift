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
                                          pool: ThreadPool = .serial, streamRows: Int = streamGEMMMaximumRows) {
    let m = n * g.outH * g.outW
    let a: UnsafePointer<T>
    if g.isPointwise { a = x } else { im2col(x, workspace, count: n, g, pool: pool); a = UnsafePointer(workspace) }
    gemmWithEpilogue(pool, m: m, n: g.outC, k: g.patch, a: a, b: weights, c: y, bias: bias, residual: residual, relu: relu,
                     streamRows: streamRows)
}

/// C[m, n] ← relu?(A[m, k]·B[k, n] + bias[n] + R[m, n]), row-major and dense; split like `parallelGEMM`.
/// Float products of at most `streamRows` rows stream the weights (tests pass it to cover both paths
/// in any build).
@inlinable
public func gemmWithEpilogue<T: NetScalar>(_ pool: ThreadPool, m: Int, n: Int, k: Int, a: UnsafePointer<T>, b: UnsafePointer<T>,
                                           c: UnsafeMutablePointer<T>, bias: UnsafePointer<T>?,
                                           residual: UnsafePointer<T>?, relu: Bool, streamRows: Int = streamGEMMMaximumRows) {
    let work = Double(m) * Double(n) * Double(k)
    // Few rows against many weights (batch-1 and small-batch inference in the late stages): stream
    // the weights once instead of letting OpenBLAS pack them (see `streamGEMM`).
    if T.self == Float.self && m <= streamRows && n >= 32 && work >= 2e6 {
        let context = (m, n, k, UnsafeRawPointer(a), UnsafeRawPointer(b), UnsafeMutableRawPointer(c), bias, residual, relu)
        pool.parallelFor(n, align: 32, minimumPerThread: 32, context) { ctxPointer, columns in
            let (m, n, k, a, b, c, bias, residual, relu) = ctxPointer.pointee
            streamGEMM(m: m, n: n, k: k, a: a.assumingMemoryBound(to: Float.self), lda: k,
                       b: b.assumingMemoryBound(to: Float.self), ldb: n,
                       c: c.assumingMemoryBound(to: Float.self), ldc: n, columns: columns)
            epilogue(c.assumingMemoryBound(to: T.self), ldc: n, rows: 0..<m, columns: columns, bias: bias, residual: residual,
                     relu: relu)
        }
        return
    }
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
    if bias == nil && residual == nil && !relu { return }
    let j0 = columns.lowerBound, width = columns.count
    for r in rows {
        epilogueRow(c + r * ldc + j0, bias.map { $0 + j0 }, residual.map { $0 + r * ldc + j0 }, count: width, relu: relu)
    }
}

/// One row of the output pass. Written generically, the in-place ReLU compiled to a compare-and-branch
/// per element, and generic SIMD masks (`SIMD8<T>`, even `V: SIMD`) went element by element through the
/// stack; only concrete vector types get vector compares, so Float and Double each have their own loop
/// (the type check folds away in a specialized caller). A NaN becomes 0, as in the training kernels.
@inlinable
func epilogueRow<T: NetScalar>(_ c: UnsafeMutablePointer<T>, _ bias: UnsafePointer<T>?, _ residual: UnsafePointer<T>?,
                               count: Int, relu: Bool) {
    if T.self == Float.self {
        epilogueRowFloat(UnsafeMutableRawPointer(c), bias.map(UnsafeRawPointer.init), residual.map(UnsafeRawPointer.init), count: count, relu: relu)
    } else if T.self == Double.self {
        epilogueRowDouble(UnsafeMutableRawPointer(c), bias.map(UnsafeRawPointer.init), residual.map(UnsafeRawPointer.init), count: count, relu: relu)
    } else {
        for j in 0..<count {
            var v = c[j]
            if let bias { v += bias[j] }
            if let residual { v += residual[j] }
            c[j] = relu ? (v > 0 ? v : 0) : v
        }
    }
}

@inlinable
func epilogueRowFloat(_ c: UnsafeMutableRawPointer, _ bias: UnsafeRawPointer?, _ residual: UnsafeRawPointer?, count: Int, relu: Bool) {
    let zero = SIMD8<Float>(repeating: 0)
    var j = 0
    while j + 8 <= count {
        var v = c.loadUnaligned(fromByteOffset: 4 * j, as: SIMD8<Float>.self)
        if let bias { v += bias.loadUnaligned(fromByteOffset: 4 * j, as: SIMD8<Float>.self) }
        if let residual { v += residual.loadUnaligned(fromByteOffset: 4 * j, as: SIMD8<Float>.self) }
        if relu { v.replace(with: zero, where: .!(v .> zero)) }
        c.storeBytes(of: v, toByteOffset: 4 * j, as: SIMD8<Float>.self)
        j += 8
    }
    while j < count {
        var v = c.load(fromByteOffset: 4 * j, as: Float.self)
        if let bias { v += bias.load(fromByteOffset: 4 * j, as: Float.self) }
        if let residual { v += residual.load(fromByteOffset: 4 * j, as: Float.self) }
        if relu && !(v > 0) { v = 0 }
        c.storeBytes(of: v, toByteOffset: 4 * j, as: Float.self)
        j += 1
    }
}

@inlinable
func epilogueRowDouble(_ c: UnsafeMutableRawPointer, _ bias: UnsafeRawPointer?, _ residual: UnsafeRawPointer?, count: Int, relu: Bool) {
    let zero = SIMD4<Double>(repeating: 0)
    var j = 0
    while j + 4 <= count {
        var v = c.loadUnaligned(fromByteOffset: 8 * j, as: SIMD4<Double>.self)
        if let bias { v += bias.loadUnaligned(fromByteOffset: 8 * j, as: SIMD4<Double>.self) }
        if let residual { v += residual.loadUnaligned(fromByteOffset: 8 * j, as: SIMD4<Double>.self) }
        if relu { v.replace(with: zero, where: .!(v .> zero)) }
        c.storeBytes(of: v, toByteOffset: 8 * j, as: SIMD4<Double>.self)
        j += 4
    }
    while j < count {
        var v = c.load(fromByteOffset: 8 * j, as: Double.self)
        if let bias { v += bias.load(fromByteOffset: 8 * j, as: Double.self) }
        if let residual { v += residual.load(fromByteOffset: 8 * j, as: Double.self) }
        if relu && !(v > 0) { v = 0 }
        c.storeBytes(of: v, toByteOffset: 8 * j, as: Double.self)
        j += 1
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
