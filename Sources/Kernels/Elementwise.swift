/// ReLU, residual add (optionally fused with the ReLU that follows it) and zero padding, NHWC.
/// Parallel closures capture nothing; their data travels in the context tuple (no allocation).

@inlinable
public func relu<T: NetScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, count: Int, pool: ThreadPool = .serial) {
    pool.parallelFor(count, align: 16, minimumPerThread: 4096, (x, y)) { cPointer, range in
        let c = cPointer.pointee
        for i in range { let v = c.0[i]; c.1[i] = v > 0 ? v : 0 }
    }
}

/// dx (written or accumulated) = dy where y > 0.
@inlinable
public func reluBackward<T: NetScalar>(y: UnsafePointer<T>, dy: UnsafePointer<T>, dx: UnsafeMutablePointer<T>,
                                       count: Int, accumulate: Bool, pool: ThreadPool = .serial) {
    pool.parallelFor(count, align: 16, minimumPerThread: 4096, (y, dy, dx, accumulate)) { cPointer, range in
        let c = cPointer.pointee
        let o = range.lowerBound
        passGradient(c.0 + o, c.1 + o, c.2 + o, count: range.count, relu: true, accumulate: c.3)
    }
}

@inlinable
public func add<T: NetScalar>(_ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>,
                              count: Int, relu: Bool, pool: ThreadPool = .serial) {
    pool.parallelFor(count, align: 16, minimumPerThread: 4096, (a, b, y, relu)) { cPointer, range in
        let c = cPointer.pointee
        let (a, b, y, relu) = c
        if relu {
            for i in range { let v = a[i] + b[i]; y[i] = v > 0 ? v : 0 }
        } else {
            for i in range { y[i] = a[i] + b[i] }
        }
    }
}

/// Passes dy (masked by y > 0 when the ReLU is fused) to both inputs; each written or accumulated.
@inlinable
public func addBackward<T: NetScalar>(y: UnsafePointer<T>, dy: UnsafePointer<T>,
                                      da: UnsafeMutablePointer<T>?, accumulateA: Bool,
                                      db: UnsafeMutablePointer<T>?, accumulateB: Bool,
                                      count: Int, relu: Bool, pool: ThreadPool = .serial) {
    pool.parallelFor(count, align: 16, minimumPerThread: 4096, (y, dy, da, db, accumulateA, accumulateB, relu)) { cPointer, range in
        let c = cPointer.pointee
        let (y, dy, da, db, accA, accB, relu) = c
        let o = range.lowerBound
        if let da { passGradient(y + o, dy + o, da + o, count: range.count, relu: relu, accumulate: accA) }
        if let db { passGradient(y + o, dy + o, db + o, count: range.count, relu: relu, accumulate: accB) }
    }
}

@inlinable
func passGradient<T: NetScalar>(_ y: UnsafePointer<T>, _ dy: UnsafePointer<T>, _ d: UnsafeMutablePointer<T>,
                                count: Int, relu: Bool, accumulate: Bool) {
    // The masked cases in explicit vectors: written as a select, `d` often *is* `dy` (an add's gradient
    // masked in place), and the compiler emitted a compare-and-branch per element (the ReLU masks were
    // ~5 % of a ResNet-50 training step). Concrete vector types only: generic SIMD masks are scalar.
    if relu && T.self == Float.self {
        return maskedGradientFloat(UnsafeRawPointer(y), UnsafeRawPointer(dy), UnsafeMutableRawPointer(d), count: count, accumulate: accumulate)
    }
    if relu && T.self == Double.self {
        return maskedGradientDouble(UnsafeRawPointer(y), UnsafeRawPointer(dy), UnsafeMutableRawPointer(d), count: count, accumulate: accumulate)
    }
    switch (relu, accumulate) {
    case (true, false): for i in 0..<count { d[i] = y[i] > 0 ? dy[i] : 0 }
    case (true, true): for i in 0..<count { d[i] += y[i] > 0 ? dy[i] : 0 }
    case (false, false): d.update(from: dy, count: count)
    case (false, true): for i in 0..<count { d[i] += dy[i] }
    }
}

@inlinable
public func zeroPad<T: NetScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, count n: Int,
                                  height h: Int, width w: Int, channels c: Int,
                                  top: Int, bottom: Int, left: Int, right: Int, pool: ThreadPool = .serial) {
    pool.parallelFor(n, (x, y, (h, w, c), (top, bottom, left, right))) { ctxPointer, samples in
        let ctx = ctxPointer.pointee
        let (x, y, (h, w, c), (top, bottom, left, right)) = ctx
        let ow = w + left + right, oh = h + top + bottom
        for b in samples {
            let xb = x + b * h * w * c, yb = y + b * oh * ow * c
            yb.update(repeating: 0, count: top * ow * c)
            for r in 0..<h {
                let yr = yb + (top + r) * ow * c
                yr.update(repeating: 0, count: left * c)
                (yr + left * c).update(from: xb + r * w * c, count: w * c)
                (yr + (left + w) * c).update(repeating: 0, count: right * c)
            }
            (yb + (top + h) * ow * c).update(repeating: 0, count: bottom * ow * c)
        }
    }
}

/// dx (written or accumulated) = the un-padded window of dy.
@inlinable
public func zeroPadBackward<T: NetScalar>(_ dy: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>, count n: Int,
                                          height h: Int, width w: Int, channels c: Int,
                                          top: Int, bottom: Int, left: Int, right: Int, accumulate: Bool,
                                          pool: ThreadPool = .serial) {
    pool.parallelFor(n, (dy, dx, (h, w, c), (top, bottom, left, right), accumulate)) { ctxPointer, samples in
        let ctx = ctxPointer.pointee
        let (dy, dx, (h, w, c), (top, bottom, left, right), accumulate) = ctx
        let ow = w + left + right, oh = h + top + bottom
        for b in samples {
            for r in 0..<h {
                let src = dy + ((b * oh + top + r) * ow + left) * c
                let dst = dx + (b * h + r) * w * c
                if accumulate { for i in 0..<(w * c) { dst[i] += src[i] } } else { dst.update(from: src, count: w * c) }
            }
        }
    }
}

/// d ← (+)= dy where y > 0, else 0, for Float; `d` may be `dy`.
@inlinable
func maskedGradientFloat(_ y: UnsafeRawPointer, _ dy: UnsafeRawPointer, _ d: UnsafeMutableRawPointer, count: Int, accumulate: Bool) {
    let zero = SIMD8<Float>(repeating: 0)
    var j = 0
    while j + 8 <= count {
        var g = dy.loadUnaligned(fromByteOffset: 4 * j, as: SIMD8<Float>.self)
        g.replace(with: zero, where: .!(y.loadUnaligned(fromByteOffset: 4 * j, as: SIMD8<Float>.self) .> zero))
        if accumulate { g += d.loadUnaligned(fromByteOffset: 4 * j, as: SIMD8<Float>.self) }
        d.storeBytes(of: g, toByteOffset: 4 * j, as: SIMD8<Float>.self)
        j += 8
    }
    while j < count {
        var g = y.load(fromByteOffset: 4 * j, as: Float.self) > 0 ? dy.load(fromByteOffset: 4 * j, as: Float.self) : 0
        if accumulate { g += d.load(fromByteOffset: 4 * j, as: Float.self) }
        d.storeBytes(of: g, toByteOffset: 4 * j, as: Float.self)
        j += 1
    }
}

/// d ← (+)= dy where y > 0, else 0, for Double; `d` may be `dy`.
@inlinable
func maskedGradientDouble(_ y: UnsafeRawPointer, _ dy: UnsafeRawPointer, _ d: UnsafeMutableRawPointer, count: Int, accumulate: Bool) {
    let zero = SIMD4<Double>(repeating: 0)
    var j = 0
    while j + 4 <= count {
        var g = dy.loadUnaligned(fromByteOffset: 8 * j, as: SIMD4<Double>.self)
        g.replace(with: zero, where: .!(y.loadUnaligned(fromByteOffset: 8 * j, as: SIMD4<Double>.self) .> zero))
        if accumulate { g += d.loadUnaligned(fromByteOffset: 8 * j, as: SIMD4<Double>.self) }
        d.storeBytes(of: g, toByteOffset: 8 * j, as: SIMD4<Double>.self)
        j += 4
    }
    while j < count {
        var g = y.load(fromByteOffset: 8 * j, as: Double.self) > 0 ? dy.load(fromByteOffset: 8 * j, as: Double.self) : 0
        if accumulate { g += d.load(fromByteOffset: 8 * j, as: Double.self) }
        d.storeBytes(of: g, toByteOffset: 8 * j, as: Double.self)
        j += 1
    }
}
