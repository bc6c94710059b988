/// Batch normalization over the channel (last) axis, as Keras does it: batch statistics with the
/// biased variance in training, moving averages `m ← m·momentum + stat·(1 − momentum)`, and
/// `y = γ·(x − μ)/√(σ² + ε) + β`. An optional fused ReLU writes `max(y, 0)` (the generator fuses a
/// ReLU whose only input is this layer); its backward masks with `y > 0`.
/// Sums accumulate in Double so float32 statistics over 30k rows stay exact to ~1e-7.
///
/// `scratch` must hold 6·channels Doubles.
///
/// With `sync` (data-parallel `--sync-bn`), the per-channel sums of the forward (Σx, then Σ(x − μ)²
/// around the global mean) and of the backward (Σg, Σg·(x − μ)) are summed over all processes and
/// divided by the global row count, so every process normalizes with the whole batch's statistics
/// and updates the moving averages identically.

@inlinable
public func batchNormTraining<T: NetScalar>(x: UnsafePointer<T>, y: UnsafeMutablePointer<T>,
                                            gamma: UnsafePointer<T>, beta: UnsafePointer<T>,
                                            movingMean: UnsafeMutablePointer<T>, movingVariance: UnsafeMutablePointer<T>,
                                            savedMean: UnsafeMutablePointer<T>, savedInvStd: UnsafeMutablePointer<T>,
                                            rows: Int, channels c: Int, momentum: Double, epsilon: Double,
                                            relu: Bool, scratch: UnsafeMutablePointer<Double>,
                                            pool: ThreadPool = .serial, sync: BatchNormSync? = nil) {
    let sum = scratch, sq = scratch + c
    pool.reduceRows(rows, width: c, into: sum, (x, c)) { ctxPointer, range, part in
        let ctx = ctxPointer.pointee
        for r in range {
            let row = ctx.0 + r * ctx.1
            for j in 0..<ctx.1 { part[j] += Double(row[j]) }
        }
    }
    let total = sync?.allreduce(sum, count: c, rows: rows, backward: false) ?? rows
    let inv = 1.0 / Double(total)
    for j in 0..<c { sum[j] *= inv }
    let mean = UnsafePointer(sum)
    pool.reduceRows(rows, width: c, into: sq, (x, c, mean)) { ctxPointer, range, part in
        let ctx = ctxPointer.pointee
        for r in range {
            let row = ctx.0 + r * ctx.1
            for j in 0..<ctx.1 { let d = Double(row[j]) - ctx.2[j]; part[j] += d * d }
        }
    }
    if let sync { _ = sync.allreduce(sq, count: c, rows: rows, backward: false) }
    let scale = UnsafeMutableRawPointer(scratch + 2 * c).assumingMemoryBound(to: T.self)
    let shift = scale + c
    for j in 0..<c {
        let mean = sum[j], variance = sq[j] * inv
        let invStd = 1.0 / (variance + epsilon).squareRoot()
        savedMean[j] = T(mean)
        savedInvStd[j] = T(invStd)
        movingMean[j] = T(Double(movingMean[j]) * momentum + mean * (1 - momentum))
        movingVariance[j] = T(Double(movingVariance[j]) * momentum + variance * (1 - momentum))
        let s = Double(gamma[j]) * invStd
        scale[j] = T(s)
        shift[j] = T(Double(beta[j]) - mean * s)
    }
    normalize(x, y, scale, shift, rows: rows, channels: c, relu: relu, pool: pool)
}

@inlinable
public func batchNormInference<T: NetScalar>(x: UnsafePointer<T>, y: UnsafeMutablePointer<T>,
                                             gamma: UnsafePointer<T>, beta: UnsafePointer<T>,
                                             movingMean: UnsafePointer<T>, movingVariance: UnsafePointer<T>,
                                             rows: Int, channels c: Int, epsilon: Double, relu: Bool,
                                             scratch: UnsafeMutablePointer<Double>, pool: ThreadPool = .serial) {
    let scale = UnsafeMutableRawPointer(scratch).assumingMemoryBound(to: T.self)
    let shift = scale + c
    for j in 0..<c {
        let s = Double(gamma[j]) / (Double(movingVariance[j]) + epsilon).squareRoot()
        scale[j] = T(s)
        shift[j] = T(Double(beta[j]) - Double(movingMean[j]) * s)
    }
    normalize(x, y, scale, shift, rows: rows, channels: c, relu: relu, pool: pool)
}

@inlinable
func normalize<T: NetScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ scale: UnsafePointer<T>,
                             _ shift: UnsafePointer<T>, rows: Int, channels c: Int, relu: Bool, pool: ThreadPool) {
    pool.parallelFor(rows, minimumPerThread: 64, (x, y, scale, shift, c, relu)) { ctxPointer, range in
        let ctx = ctxPointer.pointee
        normalizeRows(ctx.0, ctx.1, ctx.2, ctx.3, range, channels: ctx.4, relu: ctx.5)
    }
}

@inlinable
func normalizeRows<T: NetScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ scale: UnsafePointer<T>,
                                 _ shift: UnsafePointer<T>, _ rows: Range<Int>, channels c: Int, relu: Bool) {
    if relu {
        for r in rows {
            let xr = x + r * c, yr = y + r * c
            for j in 0..<c { let v = xr[j] * scale[j] + shift[j]; yr[j] = v > 0 ? v : 0 }
        }
    } else {
        for r in rows {
            let xr = x + r * c, yr = y + r * c
            for j in 0..<c { yr[j] = xr[j] * scale[j] + shift[j] }
        }
    }
}

/// dγ, dβ (written) and dx (written or accumulated) from dy, with the batch statistics of the forward.
@inlinable
public func batchNormBackward<T: NetScalar>(x: UnsafePointer<T>, y: UnsafePointer<T>, dy: UnsafePointer<T>,
                                            dx: UnsafeMutablePointer<T>?, accumulate: Bool,
                                            gamma: UnsafePointer<T>, savedMean: UnsafePointer<T>,
                                            savedInvStd: UnsafePointer<T>,
                                            dGamma: UnsafeMutablePointer<T>, dBeta: UnsafeMutablePointer<T>,
                                            rows: Int, channels c: Int, relu: Bool,
                                            scratch: UnsafeMutablePointer<Double>, pool: ThreadPool = .serial,
                                            sync: BatchNormSync? = nil) {
    let sg = scratch, sgx = scratch + c
    pool.reduceRows(rows, width: 2 * c, into: sg, (x, y, dy, savedMean, c, relu)) { ctxPointer, range, part in
        let ctx = ctxPointer.pointee
        let (x, y, dy, savedMean, c, relu) = ctx
        gradientSums(x, y, dy, savedMean, range, channels: c, relu: relu, into: part)
    }
    let a = UnsafeMutableRawPointer(scratch + 2 * c).assumingMemoryBound(to: T.self)
    let b = a + c, d = a + 2 * c, mean = a + 3 * c
    // dγ and dβ are this process's share (data-parallel training sums them with the other gradients);
    // the input gradient needs the whole batch's sums.
    for j in 0..<c {
        dBeta[j] = T(sg[j])
        dGamma[j] = T(sgx[j] * Double(savedInvStd[j]))
    }
    let total = sync?.allreduce(sg, count: 2 * c, rows: rows, backward: true) ?? rows
    let inv = 1.0 / Double(total)
    for j in 0..<c {
        let invStd = Double(savedInvStd[j])
        sgx[j] *= invStd                      // Σ g·x̂
        a[j] = T(Double(gamma[j]) * invStd)
        b[j] = T(sg[j] * inv)
        d[j] = T(sgx[j] * inv * invStd)       // multiplies (x − μ) directly
        mean[j] = savedMean[j]
    }
    guard let dx else { return }
    let ca = UnsafePointer(a), cb = UnsafePointer(b), cd = UnsafePointer(d), cmean = UnsafePointer(mean)
    pool.parallelFor(rows, minimumPerThread: 64, ((x, y, dy, dx), (c, relu, accumulate), (ca, cb, cd, cmean))) { ctxPointer, range in
        let ctx = ctxPointer.pointee
        let (t, f, k) = ctx
        batchNormInputGradient(t.0, t.1, t.2, t.3, range, channels: f.0, relu: f.1, accumulate: f.2,
                               a: k.0, b: k.1, d: k.2, mean: k.3)
    }
}

/// part[j] += Σ g, part[c + j] += Σ g·(x − μ) over `rows`, with g = dy masked by y > 0 under a fused
/// ReLU. Written generically the loop stayed scalar (the masked select and the two Double sums per
/// element); Float and Double get vector loops over 16 or 8 channels that do the same IEEE
/// operations in the same order per element (bit-identical), then a scalar tail.
@inlinable
func gradientSums<T: NetScalar>(_ x: UnsafePointer<T>, _ y: UnsafePointer<T>, _ dy: UnsafePointer<T>,
                                _ mean: UnsafePointer<T>, _ rows: Range<Int>, channels c: Int, relu: Bool,
                                into part: UnsafeMutablePointer<Double>) {
    var vectorEnd = 0
    if T.self == Float.self {
        vectorEnd = c - c % 16
        gradientSumsFloat(UnsafeRawPointer(x), UnsafeRawPointer(y), UnsafeRawPointer(dy), UnsafeRawPointer(mean), rows,
                          channels: c, vectorEnd: vectorEnd, relu: relu, into: part)
    } else if T.self == Double.self {
        vectorEnd = c - c % 8
        gradientSumsDouble(UnsafeRawPointer(x), UnsafeRawPointer(y), UnsafeRawPointer(dy), UnsafeRawPointer(mean), rows,
                           channels: c, vectorEnd: vectorEnd, relu: relu, into: part)
    }
    if vectorEnd == c { return }
    for r in rows {
        let xr = x + r * c, yr = y + r * c, gr = dy + r * c
        for j in vectorEnd..<c {
            let g = relu && !(yr[j] > 0) ? 0 : gr[j]
            part[j] += Double(g)
            part[c + j] += Double(g) * Double(xr[j] - mean[j])
        }
    }
}

@inlinable
func gradientSumsFloat(_ x: UnsafeRawPointer, _ y: UnsafeRawPointer, _ dy: UnsafeRawPointer, _ mean: UnsafeRawPointer,
                       _ rows: Range<Int>, channels c: Int, vectorEnd: Int, relu: Bool,
                       into part: UnsafeMutablePointer<Double>) {
    let p = UnsafeMutableRawPointer(part), zero = SIMD16<Float>()
    for r in rows {
        var j = 0
        while j < vectorEnd {
            let o = (r * c + j) * 4
            var g = dy.loadUnaligned(fromByteOffset: o, as: SIMD16<Float>.self)
            if relu { g = zero.replacing(with: g, where: y.loadUnaligned(fromByteOffset: o, as: SIMD16<Float>.self) .> zero) }
            let d = x.loadUnaligned(fromByteOffset: o, as: SIMD16<Float>.self) - mean.loadUnaligned(fromByteOffset: j * 4, as: SIMD16<Float>.self)
            let gLow = SIMD8<Double>(g.lowHalf), gHigh = SIMD8<Double>(g.highHalf)
            let s = j * 8, t = (c + j) * 8
            p.storeBytes(of: p.loadUnaligned(fromByteOffset: s, as: SIMD8<Double>.self) + gLow, toByteOffset: s, as: SIMD8<Double>.self)
            p.storeBytes(of: p.loadUnaligned(fromByteOffset: s + 64, as: SIMD8<Double>.self) + gHigh, toByteOffset: s + 64, as: SIMD8<Double>.self)
            p.storeBytes(of: p.loadUnaligned(fromByteOffset: t, as: SIMD8<Double>.self) + gLow * SIMD8<Double>(d.lowHalf),
                         toByteOffset: t, as: SIMD8<Double>.self)
            p.storeBytes(of: p.loadUnaligned(fromByteOffset: t + 64, as: SIMD8<Double>.self) + gHigh * SIMD8<Double>(d.highHalf),
                         toByteOffset: t + 64, as: SIMD8<Double>.self)
            j += 16
        }
    }
}

@inlinable
func gradientSumsDouble(_ x: UnsafeRawPointer, _ y: UnsafeRawPointer, _ dy: UnsafeRawPointer, _ mean: UnsafeRawPointer,
                        _ rows: Range<Int>, channels c: Int, vectorEnd: Int, relu: Bool,
                        into part: UnsafeMutablePointer<Double>) {
    let p = UnsafeMutableRawPointer(part), zero = SIMD8<Double>()
    for r in rows {
        var j = 0
        while j < vectorEnd {
            let o = (r * c + j) * 8
            var g = dy.loadUnaligned(fromByteOffset: o, as: SIMD8<Double>.self)
            if relu { g = zero.replacing(with: g, where: y.loadUnaligned(fromByteOffset: o, as: SIMD8<Double>.self) .> zero) }
            let d = x.loadUnaligned(fromByteOffset: o, as: SIMD8<Double>.self) - mean.loadUnaligned(fromByteOffset: j * 8, as: SIMD8<Double>.self)
            let s = j * 8, t = (c + j) * 8
            p.storeBytes(of: p.loadUnaligned(fromByteOffset: s, as: SIMD8<Double>.self) + g, toByteOffset: s, as: SIMD8<Double>.self)
            p.storeBytes(of: p.loadUnaligned(fromByteOffset: t, as: SIMD8<Double>.self) + g * d, toByteOffset: t, as: SIMD8<Double>.self)
            j += 8
        }
    }
}

@inlinable
func batchNormInputGradient<T: NetScalar>(_ x: UnsafePointer<T>, _ y: UnsafePointer<T>, _ dy: UnsafePointer<T>,
                                          _ dx: UnsafeMutablePointer<T>, _ rows: Range<Int>, channels c: Int,
                                          relu: Bool, accumulate: Bool, a: UnsafePointer<T>, b: UnsafePointer<T>,
                                          d: UnsafePointer<T>, mean: UnsafePointer<T>) {
    for r in rows {
        let xr = x + r * c, yr = y + r * c, gr = dy + r * c, out = dx + r * c
        if accumulate {
            for j in 0..<c {
                let g = relu && !(yr[j] > 0) ? 0 : gr[j]
                out[j] += a[j] * (g - b[j] - (xr[j] - mean[j]) * d[j])
            }
        } else {
            for j in 0..<c {
                let g = relu && !(yr[j] > 0) ? 0 : gr[j]
                out[j] = a[j] * (g - b[j] - (xr[j] - mean[j]) * d[j])
            }
        }
    }
}
