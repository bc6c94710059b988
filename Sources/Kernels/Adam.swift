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
        let ctx = ctxPointer.pointee
        let (p, g, m, v, (alpha, b1, b2, eps)) = ctx
        for i in range {
            let gi = g[i]
            let mi = m[i] + (gi - m[i]) * b1
            let vi = v[i] + (gi * gi - v[i]) * b2
            m[i] = mi
            v[i] = vi
            p[i] -= alpha * mi / (vi.squareRoot() + eps)
        }
    }
}

@inlinable
func pow(_ x: Double, _ y: Double) -> Double { Double.exp(y * Double.log(x)) }
