/// Convolution, NHWC, as GEMM on OpenBLAS.
///
/// A 1×1 stride-1 unpadded convolution is a plain GEMM on the activation; every other one goes
/// through im2col (patch order ky, kx, c — Keras' kernel layout (kh, kw, cin, cout) flattened, so
/// the kernel is already the right-hand matrix) and col2im for the input gradient.
///
///     forward   y[M, Cout]  = col[M, K] · W[K, Cout] + b        M = n·OH·OW, K = KH·KW·Cin
///     backward  dW[K, Cout] = colᵀ · dy ;  db = Σ_rows dy ;  dcol = dy · Wᵀ → col2im → dx

/// Literal geometry of one convolution, written by the generator.
public struct ConvGeometry: Sendable {
    public var inH: Int, inW: Int, inC: Int
    public var outH: Int, outW: Int, outC: Int
    public var kH: Int, kW: Int, strideH: Int, strideW: Int
    /// Zero padding before the first row/column; padding after the last is implied by out sizes.
    public var padTop: Int, padLeft: Int

    @inlinable
    public init(inH: Int, inW: Int, inC: Int, outH: Int, outW: Int, outC: Int,
                kH: Int, kW: Int, strideH: Int, strideW: Int, padTop: Int, padLeft: Int) {
        self.inH = inH; self.inW = inW; self.inC = inC
        self.outH = outH; self.outW = outW; self.outC = outC
        self.kH = kH; self.kW = kW; self.strideH = strideH; self.strideW = strideW
        self.padTop = padTop; self.padLeft = padLeft
    }

    @inlinable public var patch: Int { kH * kW * inC }
    @inlinable public var isPointwise: Bool {
        kH == 1 && kW == 1 && strideH == 1 && strideW == 1 && padTop == 0 && padLeft == 0
            && inH == outH && inW == outW
    }
    /// Elements of im2col workspace per sample.
    @inlinable public var columnElementsPerSample: Int { outH * outW * patch }
}

/// Gathers input patches into rows of `col` ([n·OH·OW, KH·KW·Cin]).
@inlinable
public func im2col<T: NetScalar>(_ x: UnsafePointer<T>, _ col: UnsafeMutablePointer<T>, count n: Int,
                                 _ g: ConvGeometry) {
    let rowLength = g.kW * g.inC
    let sampleSize = g.inH * g.inW * g.inC
    var dst = col
    for b in 0..<n {
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
@inlinable
public func col2im<T: NetScalar>(_ col: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>, count n: Int,
                                 _ g: ConvGeometry) {
    let rowLength = g.kW * g.inC
    let sampleSize = g.inH * g.inW * g.inC
    var src = col
    for b in 0..<n {
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
public func broadcastRows<T: NetScalar>(_ bias: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, rows: Int, channels: Int) {
    for r in 0..<rows { (y + r * channels).update(from: bias, count: channels) }
}

/// `out[c] = Σ_r x[r, c]` (written, not accumulated).
@inlinable
public func columnSums<T: NetScalar>(_ x: UnsafePointer<T>, _ out: UnsafeMutablePointer<T>, rows: Int, channels: Int) {
    out.update(repeating: 0, count: channels)
    for r in 0..<rows {
        let row = x + r * channels
        for c in 0..<channels { out[c] += row[c] }
    }
}

/// y ← conv(x, W) + b for `n` samples.
@inlinable
public func conv2DForward<T: NetScalar>(x: UnsafePointer<T>, weights: UnsafePointer<T>, bias: UnsafePointer<T>?,
                                        y: UnsafeMutablePointer<T>, count n: Int, geometry g: ConvGeometry,
                                        workspace: UnsafeMutablePointer<T>) {
    let m = n * g.outH * g.outW
    var beta: T = 0
    if let bias { broadcastRows(bias, y, rows: m, channels: g.outC); beta = 1 }
    let a: UnsafePointer<T>
    if g.isPointwise { a = x } else { im2col(x, workspace, count: n, g); a = UnsafePointer(workspace) }
    T.gemm(transA: false, transB: false, m: m, n: g.outC, k: g.patch, alpha: 1, a: a, lda: g.patch,
           b: weights, ldb: g.outC, beta: beta, c: y, ldc: g.outC)
}

/// dW, db (written) and dx (written or accumulated; skipped when nil) from dy.
@inlinable
public func conv2DBackward<T: NetScalar>(x: UnsafePointer<T>, weights: UnsafePointer<T>, dy: UnsafePointer<T>,
                                         dWeights: UnsafeMutablePointer<T>, dBias: UnsafeMutablePointer<T>?,
                                         dx: UnsafeMutablePointer<T>?, accumulate: Bool,
                                         count n: Int, geometry g: ConvGeometry, workspace: UnsafeMutablePointer<T>) {
    let m = n * g.outH * g.outW
    if let dBias { columnSums(dy, dBias, rows: m, channels: g.outC) }
    let a: UnsafePointer<T>
    if g.isPointwise { a = x } else { im2col(x, workspace, count: n, g); a = UnsafePointer(workspace) }
    T.gemm(transA: true, transB: false, m: g.patch, n: g.outC, k: m, alpha: 1, a: a, lda: g.patch,
           b: dy, ldb: g.outC, beta: 0, c: dWeights, ldc: g.outC)
    guard let dx else { return }
    if g.isPointwise {
        T.gemm(transA: false, transB: true, m: m, n: g.patch, k: g.outC, alpha: 1, a: dy, lda: g.outC,
               b: weights, ldb: g.outC, beta: accumulate ? 1 : 0, c: dx, ldc: g.patch)
    } else {
        // The workspace held the columns for dW; it is free again and now receives dcol.
        T.gemm(transA: false, transB: true, m: m, n: g.patch, k: g.outC, alpha: 1, a: dy, lda: g.outC,
               b: weights, ldb: g.outC, beta: 0, c: workspace, ldc: g.patch)
        if !accumulate { dx.update(repeating: 0, count: n * g.inH * g.inW * g.inC) }
        col2im(workspace, dx, count: n, g)
    }
}
