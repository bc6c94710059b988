/// Adam as Keras 3 applies it, over the contiguous block of trainable parameters (one loop for the
/// whole model, split across the kernel threads).
#if canImport(Glibc)
import Glibc
#endif

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
        let (p, g, m, v, (alpha, b1, b2, eps)) = ctxPointer.pointee
        adamRange(p, g, m, v, range, alpha: alpha, b1: b1, b2: b2, eps: eps)
    }
}

/// One thread's share of the step. Written generically, the loop stayed scalar (a `sqrtf` call per
/// parameter, ~50 ms of a ResNet-50 step); only concrete vector types get vector square roots and
/// divisions, so Float and Double have their own loops (the type check folds away when specialized).
/// The vector loops do the same IEEE operations in the same order as the scalar one: results are
/// bit-identical.
@inlinable
func adamRange<T: NetScalar>(_ p: UnsafeMutablePointer<T>, _ g: UnsafePointer<T>, _ m: UnsafeMutablePointer<T>,
                             _ v: UnsafeMutablePointer<T>, _ range: Range<Int>, alpha: T, b1: T, b2: T, eps: T) {
    var i = range.lowerBound
    if T.self == Float.self {
        i = adamVectors(SIMD16<Float>.self, p, g, m, v, range, alpha: alpha, b1: b1, b2: b2, eps: eps)
    } else if T.self == Double.self {
        i = adamVectors(SIMD8<Double>.self, p, g, m, v, range, alpha: alpha, b1: b1, b2: b2, eps: eps)
    }
    while i < range.upperBound {
        let gi = g[i]
        let mi = m[i] + (gi - m[i]) * b1
        let vi = v[i] + (gi * gi - v[i]) * b2
        m[i] = mi
        v[i] = vi
        p[i] -= alpha * mi / (vi.squareRoot() + eps)
        i += 1
    }
}

/// The vector body for a concrete vector type `V` whose scalar is `T`; returns where the scalar tail
/// starts.
@inlinable @inline(__always)
func adamVectors<T: NetScalar, V: SIMD>(_: V.Type, _ p: UnsafeMutablePointer<T>, _ g: UnsafePointer<T>,
                                        _ m: UnsafeMutablePointer<T>, _ v: UnsafeMutablePointer<T>, _ range: Range<Int>,
                                        alpha: T, b1: T, b2: T, eps: T) -> Int where V.Scalar: BinaryFloatingPoint {
    let pr = UnsafeMutableRawPointer(p), gr = UnsafeRawPointer(g), mr = UnsafeMutableRawPointer(m), vr = UnsafeMutableRawPointer(v)
    let alphaV = V(repeating: V.Scalar(alpha)), b1V = V(repeating: V.Scalar(b1)), b2V = V(repeating: V.Scalar(b2))
    let epsV = V(repeating: V.Scalar(eps))
    let stride = MemoryLayout<T>.stride
    var i = range.lowerBound
    while i + V.scalarCount <= range.upperBound {
        let o = i * stride
        let gi = gr.loadUnaligned(fromByteOffset: o, as: V.self)
        let m0 = mr.loadUnaligned(fromByteOffset: o, as: V.self), v0 = vr.loadUnaligned(fromByteOffset: o, as: V.self)
        let mi = m0 + (gi - m0) * b1V
        let vi = v0 + (gi * gi - v0) * b2V
        mr.storeBytes(of: mi, toByteOffset: o, as: V.self)
        vr.storeBytes(of: vi, toByteOffset: o, as: V.self)
        let pi = pr.loadUnaligned(fromByteOffset: o, as: V.self)
        pr.storeBytes(of: pi - alphaV * mi / (vi.squareRoot() + epsV), toByteOffset: o, as: V.self)
        i += V.scalarCount
    }
    return i
}

@inlinable
func pow(_ x: Double, _ y: Double) -> Double { Double.exp(y * Double.log(x)) }
