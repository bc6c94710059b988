/// ReLU, residual add (optionally fused with the ReLU that follows it) and zero padding, NHWC.

@inlinable
public func relu<T: NetScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, count: Int) {
    for i in 0..<count { let v = x[i]; y[i] = v > 0 ? v : 0 }
}

/// dx (written or accumulated) = dy where y > 0.
@inlinable
public func reluBackward<T: NetScalar>(y: UnsafePointer<T>, dy: UnsafePointer<T>, dx: UnsafeMutablePointer<T>,
                                       count: Int, accumulate: Bool) {
    if accumulate {
        for i in 0..<count { dx[i] += y[i] > 0 ? dy[i] : 0 }
    } else {
        for i in 0..<count { dx[i] = y[i] > 0 ? dy[i] : 0 }
    }
}

@inlinable
public func add<T: NetScalar>(_ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>,
                              count: Int, relu: Bool) {
    if relu {
        for i in 0..<count { let v = a[i] + b[i]; y[i] = v > 0 ? v : 0 }
    } else {
        for i in 0..<count { y[i] = a[i] + b[i] }
    }
}

/// Passes dy (masked by y > 0 when the ReLU is fused) to both inputs; each written or accumulated.
@inlinable
public func addBackward<T: NetScalar>(y: UnsafePointer<T>, dy: UnsafePointer<T>,
                                      da: UnsafeMutablePointer<T>?, accumulateA: Bool,
                                      db: UnsafeMutablePointer<T>?, accumulateB: Bool,
                                      count: Int, relu: Bool) {
    // Two plain calls rather than a loop over an array of pairs: no allocation in a training step.
    if let da { passGradient(y, dy, da, count: count, relu: relu, accumulate: accumulateA) }
    if let db { passGradient(y, dy, db, count: count, relu: relu, accumulate: accumulateB) }
}

@inlinable
func passGradient<T: NetScalar>(_ y: UnsafePointer<T>, _ dy: UnsafePointer<T>, _ d: UnsafeMutablePointer<T>,
                                count: Int, relu: Bool, accumulate: Bool) {
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
                                  top: Int, bottom: Int, left: Int, right: Int) {
    let ow = w + left + right, oh = h + top + bottom
    for b in 0..<n {
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

/// dx (written or accumulated) = the un-padded window of dy.
@inlinable
public func zeroPadBackward<T: NetScalar>(_ dy: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>, count n: Int,
                                          height h: Int, width w: Int, channels c: Int,
                                          top: Int, bottom: Int, left: Int, right: Int, accumulate: Bool) {
    let ow = w + left + right, oh = h + top + bottom
    for b in 0..<n {
        for r in 0..<h {
            let src = dy + ((b * oh + top + r) * ow + left) * c
            let dst = dx + (b * h + r) * w * c
            if accumulate { for i in 0..<(w * c) { dst[i] += src[i] } } else { dst.update(from: src, count: w * c) }
        }
    }
}
