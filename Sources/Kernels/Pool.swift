/// Max and average pooling with 'valid' windows, NHWC. Max pooling keeps the argmax (the input
/// offset within the sample) for its backward; overlapping windows scatter-add correctly.
/// Samples run in parallel (their outputs and input gradients are disjoint).

@inlinable
public func maxPool<T: NetScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, argmax: UnsafeMutablePointer<Int32>,
                                  count n: Int, _ g: PoolGeometry, pool: ThreadPool = .serial) {
    pool.parallelFor(n, (x, y, argmax, g)) { ctxPointer, samples in
        let ctx = ctxPointer.pointee
        let (x, y, argmax, g) = ctx
        let c = g.channels
        for b in samples {
            let xb = x + b * g.inH * g.inW * c
            for oy in 0..<g.outH {
                for ox in 0..<g.outW {
                    let o = ((b * g.outH + oy) * g.outW + ox) * c
                    let first = (oy * g.strideH * g.inW + ox * g.strideW) * c
                    for j in 0..<c { y[o + j] = xb[first + j]; argmax[o + j] = Int32(first + j) }
                    for ky in 0..<g.poolH {
                        for kx in 0..<g.poolW {
                            let i = ((oy * g.strideH + ky) * g.inW + ox * g.strideW + kx) * c
                            for j in 0..<c where xb[i + j] > y[o + j] {
                                y[o + j] = xb[i + j]; argmax[o + j] = Int32(i + j)
                            }
                        }
                    }
                }
            }
        }
    }
}

@inlinable
public func maxPoolBackward<T: NetScalar>(_ dy: UnsafePointer<T>, argmax: UnsafePointer<Int32>, _ dx: UnsafeMutablePointer<T>,
                                          count n: Int, _ g: PoolGeometry, accumulate: Bool, pool: ThreadPool = .serial) {
    pool.parallelFor(n, (dy, argmax, dx, g, accumulate)) { ctxPointer, samples in
        let ctx = ctxPointer.pointee
        let (dy, argmax, dx, g, accumulate) = ctx
        let inSize = g.inH * g.inW * g.channels, outSize = g.outH * g.outW * g.channels
        for b in samples {
            let dxb = dx + b * inSize
            if !accumulate { dxb.update(repeating: 0, count: inSize) }
            for o in (b * outSize)..<((b + 1) * outSize) { dxb[Int(argmax[o])] += dy[o] }
        }
    }
}

@inlinable
public func avgPool<T: NetScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, count n: Int, _ g: PoolGeometry,
                                  pool: ThreadPool = .serial) {
    pool.parallelFor(n, (x, y, g)) { ctxPointer, samples in
        let ctx = ctxPointer.pointee
        let (x, y, g) = ctx
        let c = g.channels
        let scale = 1 / T(g.poolH * g.poolW)
        for b in samples {
            let xb = x + b * g.inH * g.inW * c
            for oy in 0..<g.outH {
                for ox in 0..<g.outW {
                    let yo = y + ((b * g.outH + oy) * g.outW + ox) * c
                    yo.update(repeating: 0, count: c)
                    for ky in 0..<g.poolH {
                        for kx in 0..<g.poolW {
                            let xi = xb + ((oy * g.strideH + ky) * g.inW + ox * g.strideW + kx) * c
                            for j in 0..<c { yo[j] += xi[j] }
                        }
                    }
                    for j in 0..<c { yo[j] *= scale }
                }
            }
        }
    }
}

@inlinable
public func avgPoolBackward<T: NetScalar>(_ dy: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>, count n: Int,
                                          _ g: PoolGeometry, accumulate: Bool, pool: ThreadPool = .serial) {
    pool.parallelFor(n, (dy, dx, g, accumulate)) { ctxPointer, samples in
        let ctx = ctxPointer.pointee
        let (dy, dx, g, accumulate) = ctx
        let c = g.channels
        let scale = 1 / T(g.poolH * g.poolW)
        for b in samples {
            let dxb = dx + b * g.inH * g.inW * c
            if !accumulate { dxb.update(repeating: 0, count: g.inH * g.inW * c) }
            for oy in 0..<g.outH {
                for ox in 0..<g.outW {
                    let go = dy + ((b * g.outH + oy) * g.outW + ox) * c
                    for ky in 0..<g.poolH {
                        for kx in 0..<g.poolW {
                            let xi = dxb + ((oy * g.strideH + ky) * g.inW + ox * g.strideW + kx) * c
                            for j in 0..<c { xi[j] += go[j] * scale }
                        }
                    }
                }
            }
        }
    }
}
