/// Convolution, NHWC, as GEMM on OpenBLAS.
///
/// A 1×1 stride-1 unpadded convolution is a plain GEMM on the activation; every other one goes
/// through im2col (patch order ky, kx, c — Keras' kernel layout (kh, kw, cin, cout) flattened, so
/// the kernel is already the right-hand matrix) and col2im for the input gradient.
///
///     forward   y[M, Cout]  = col[M, K] · W[K, Cout] + b        M = n·OH·OW, K = KH·KW·Cin
///     backward  dW[K, Cout] = colᵀ · dy ;  db = Σ_rows dy ;  dcol = dy · Wᵀ → col2im → dx

/// Gathers input patches into rows of `col` ([n·OH·OW, KH·KW·Cin]), samples in parallel.
@inlinable
public func im2col<T: NetScalar>(_ x: UnsafePointer<T>, _ col: UnsafeMutablePointer<T>, count n: Int,
                                 _ g: ConvGeometry, pool: ThreadPool = .serial) {
    pool.parallelFor(n, (x, col, g)) { cPointer, samples in let c = cPointer.pointee; im2colSamples(c.0, c.1, samples, c.2) }
}

@inlinable
func im2colSamples<T: NetScalar>(_ x: UnsafePointer<T>, _ col: UnsafeMutablePointer<T>, _ samples: Range<Int>,
                                 _ g: ConvGeometry) {
    let rowLength = g.kW * g.inC
    let sampleSize = g.inH * g.inW * g.inC
    var dst = col + samples.lowerBound * g.columnElementsPerSample
    for b in samples {
        let xb = x + b * sampleSize
        for oy in 0..<g.outH {
            let iy0 = oy * g.strideH - g.padTop
            for ox in 0..<g.outW {
                let ix0 = ox * g.strideW - g.padLeft
                // Valid kx range for this output column: contiguous in memory.
                let kx0 = max(0, -ix0), kx1 = min(g.kW, g.inW - ix0)
                for ky in 0..<g.kH {
                    let iy = iy0 + ky
                    if iy < 0 || iy >= g.inH || kx1 <= kx0 {
                        dst.update(repeating: 0, count: rowLength)
                    } else {
                        if kx0 > 0 { dst.update(repeating: 0, count: kx0 * g.inC) }
                        (dst + kx0 * g.inC).update(from: xb + (iy * g.inW + ix0 + kx0) * g.inC,
                                                   count: (kx1 - kx0) * g.inC)
                        if kx1 < g.kW { (dst + kx1 * g.inC).update(repeating: 0, count: (g.kW - kx1) * g.inC) }
                    }
                    dst += rowLength
                }
            }
        }
    }
}

/// Scatter-adds `col` rows back into `dx` (the adjoint of `im2col`). `dx` must be initialized.
/// Samples are disjoint in `dx`, so they run in parallel.
@inlinable
public func col2im<T: NetScalar>(_ col: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>, count n: Int,
                                 _ g: ConvGeometry, pool: ThreadPool = .serial) {
    pool.parallelFor(n, (col, dx, g)) { cPointer, samples in let c = cPointer.pointee; col2imSamples(c.0, c.1, samples, c.2) }
}

@inlinable
func col2imSamples<T: NetScalar>(_ col: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>, _ samples: Range<Int>,
                                 _ g: ConvGeometry) {
    let rowLength = g.kW * g.inC
    let sampleSize = g.inH * g.inW * g.inC
    var src = col + samples.lowerBound * g.columnElementsPerSample
    for b in samples {
        let xb = dx + b * sampleSize
        for oy in 0..<g.outH {
            let iy0 = oy * g.strideH - g.padTop
            for ox in 0..<g.outW {
                let ix0 = ox * g.strideW - g.padLeft
                let kx0 = max(0, -ix0), kx1 = min(g.kW, g.inW - ix0)
                for ky in 0..<g.kH {
                    let iy = iy0 + ky
                    if iy >= 0 && iy < g.inH && kx1 > kx0 {
                        let d = xb + (iy * g.inW + ix0 + kx0) * g.inC
                        let s = src + kx0 * g.inC
                        for i in 0..<((kx1 - kx0) * g.inC) { d[i] += s[i] }
                    }
                    src += rowLength
                }
            }
        }
    }
}

/// Copies `bias` into every row of `y` ([rows, channels]).
@inlinable
public func broadcastRows<T: NetScalar>(_ bias: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, rows: Int, channels: Int,
                                        pool: ThreadPool = .serial) {
    pool.parallelFor(rows, minimumPerThread: 256, (bias, y, channels)) { cPointer, range in
        let c = cPointer.pointee
        for r in range { (c.1 + r * c.2).update(from: c.0, count: c.2) }
    }
}

/// `out[c] = Σ_r x[r, c]` (written, not accumulated), accumulated in Double.
@inlinable
public func columnSums<T: NetScalar>(_ x: UnsafePointer<T>, _ out: UnsafeMutablePointer<T>, rows: Int, channels: Int,
                                     pool: ThreadPool = .serial) {
    pool.reserveScratch(2 * channels)
    // The last thread's scratch half is free during the reduction; use the first thread's upper half.
    let total = pool.scratchBase + channels
    pool.reduceRows(rows, width: channels, into: total, (x, channels)) { ctxPointer, range, part in
        let ctx = ctxPointer.pointee
        for r in range {
            let row = ctx.0 + r * ctx.1
            for c in 0..<ctx.1 { part[c] += Double(row[c]) }
        }
    }
    for c in 0..<channels { out[c] = T(total[c]) }
}

/// y ← conv(x, W) + b for `n` samples.
@inlinable
public func conv2DForward<T: NetScalar>(x: UnsafePointer<T>, weights: UnsafePointer<T>, bias: UnsafePointer<T>?,
                                        y: UnsafeMutablePointer<T>, count n: Int, geometry g: ConvGeometry,
                                        workspace: UnsafeMutablePointer<T>, pool: ThreadPool = .serial) {
    let m = n * g.outH * g.outW
    var beta: T = 0
    if let bias { broadcastRows(bias, y, rows: m, channels: g.outC, pool: pool); beta = 1 }
    let a: UnsafePointer<T>
    if g.isPointwise { a = x } else { im2col(x, workspace, count: n, g, pool: pool); a = UnsafePointer(workspace) }
    parallelGEMM(pool, transA: false, transB: false, m: m, n: g.outC, k: g.patch, alpha: 1, a: a, lda: g.patch,
           b: weights, ldb: g.outC, beta: beta, c: y, ldc: g.outC)
}

/// dW, db (written) and dx (written or accumulated; skipped when nil) from dy.
@inlinable
public func conv2DBackward<T: NetScalar>(x: UnsafePointer<T>, weights: UnsafePointer<T>, dy: UnsafePointer<T>,
                                         dWeights: UnsafeMutablePointer<T>, dBias: UnsafeMutablePointer<T>?,
                                         dx: UnsafeMutablePointer<T>?, accumulate: Bool,
                                         count n: Int, geometry g: ConvGeometry, workspace: UnsafeMutablePointer<T>,
                                         pool: ThreadPool = .serial) {
    let m = n * g.outH * g.outW
    if let dBias { columnSums(dy, dBias, rows: m, channels: g.outC, pool: pool) }
    let a: UnsafePointer<T>
    if g.isPointwise { a = x } else { im2col(x, workspace, count: n, g, pool: pool); a = UnsafePointer(workspace) }
    parallelGEMM(pool, transA: true, transB: false, m: g.patch, n: g.outC, k: m, alpha: 1, a: a, lda: g.patch,
           b: dy, ldb: g.outC, beta: 0, c: dWeights, ldc: g.outC)
    guard let dx else { return }
    if g.isPointwise {
        parallelGEMM(pool, transA: false, transB: true, m: m, n: g.patch, k: g.outC, alpha: 1, a: dy, lda: g.outC,
               b: weights, ldb: g.outC, beta: accumulate ? 1 : 0, c: dx, ldc: g.patch)
    } else {
        // The workspace held the columns for dW; it is free again and now receives dcol.
        parallelGEMM(pool, transA: false, transB: true, m: m, n: g.patch, k: g.outC, alpha: 1, a: dy, lda: g.outC,
               b: weights, ldb: g.outC, beta: 0, c: workspace, ldc: g.patch)
        let sampleSize = g.inH * g.inW * g.inC
        pool.parallelFor(n, (UnsafePointer(workspace), dx, g, accumulate, sampleSize)) { cPointer, samples in
            let c = cPointer.pointee
            if !c.3 { (c.1 + samples.lowerBound * c.4).update(repeating: 0, count: samples.count * c.4) }
            col2imSamples(c.0, c.1, samples, c.2)
        }
    }
}
