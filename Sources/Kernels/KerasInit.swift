/// The course notebooks' initial weights, bit for bit: Keras 3 on TensorFlow with
/// `kernel_initializer=glorot_uniform(seed=0)` on every layer.
///
/// How Keras 3.15 draws them (keras/src/initializers/random_initializers.py,
/// keras/src/random/seed_generator.py, keras/src/backend/tensorflow/random.py):
/// - `VarianceScaling.__call__` (glorot_uniform = scale 1, fan_avg, uniform):
///   `scale /= max(1., (fan_in + fan_out) / 2.)`, `limit = sqrt(3. * scale)` in Python doubles, then
///   `keras.random.uniform(shape, -limit, limit, dtype, seed=0)`.
/// - An integer seed is *stateless*: `draw_seed(seed)` is the pair `[seed, 0]` in the backend's seed
///   dtype (int64 on TensorFlow), which `_cast_seed` reduces with `floormod(·, int32.max − 1)` to
///   int32. Every call with the same seed and shape therefore returns the same tensor: in the
///   notebook, kernels of equal shape are equal.
/// - `tf.random.stateless_uniform(shape, seed, minval=tf.cast(-limit, dtype), maxval=tf.cast(limit,
///   dtype))`: `tf.cast` of a Python float goes through a float32 tensor, so even float64 weights
///   use the float32-rounded limit. The op turns the seed pair into a Philox key and counter
///   (`StatelessRandomGetKeyCounter`: one Philox-4x32-10 block of counter (seed0, seed0 >> 32,
///   seed1, seed1 >> 32) under the fixed key (0x3ec8f720, 0x02461e29) gives key (r0, r1) and
///   counter (0, 0, r2, r3)), draws Philox blocks with a 128-bit counter incremented from its
///   lowest word, and maps them to [0, 1): float32 from one word, `((x & 0x7fffff) | 0x3f800000)`
///   as a float minus 1; float64 from two words (x0, x1), `((x0 & 0xfffff) << 32 | x1) | 1023 << 52`
///   as a double minus 1. Then `u * (maxval − minval) + minval`, each operation rounded in dtype.
/// Zeros for biases and β and the moving mean, ones for γ and the moving variance are Keras'
/// defaults and need no random numbers.

/// Philox-4x32-10 as TensorFlow implements it (tensorflow/core/lib/random/philox_random.h).
public struct Philox4x32: Sendable, Equatable {
    public var key: (UInt32, UInt32)
    public var counter: (UInt32, UInt32, UInt32, UInt32)

    public init(key: (UInt32, UInt32), counter: (UInt32, UInt32, UInt32, UInt32)) {
        self.key = key
        self.counter = counter
    }

    public static func == (a: Philox4x32, b: Philox4x32) -> Bool {
        a.key == b.key && a.counter.0 == b.counter.0 && a.counter.1 == b.counter.1
            && a.counter.2 == b.counter.2 && a.counter.3 == b.counter.3
    }

    /// The generator `tf.random.stateless_uniform` uses for `seed` (a pair of int32, sign-extended
    /// as TensorFlow reads an int32 seed tensor into 64 bits).
    public init(statelessSeed seed: (Int32, Int32)) {
        let s0 = UInt64(bitPattern: Int64(seed.0)), s1 = UInt64(bitPattern: Int64(seed.1))
        var scramble = Philox4x32(key: (0x3EC8_F720, 0x0246_1E29),
                                  counter: (UInt32(truncatingIfNeeded: s0), UInt32(truncatingIfNeeded: s0 >> 32),
                                            UInt32(truncatingIfNeeded: s1), UInt32(truncatingIfNeeded: s1 >> 32)))
        let mix = scramble.next()
        self.init(key: (mix.0, mix.1), counter: (0, 0, mix.2, mix.3))
    }

    /// The next block of four words; advances the counter by one.
    public mutating func next() -> (UInt32, UInt32, UInt32, UInt32) {
        var c = counter
        var k = key
        for round in 0..<10 {
            let p0 = UInt64(0xD251_1F53) &* UInt64(c.0)
            let p1 = UInt64(0xCD9E_8D57) &* UInt64(c.2)
            c = (UInt32(truncatingIfNeeded: p1 >> 32) ^ c.1 ^ k.0, UInt32(truncatingIfNeeded: p1),
                 UInt32(truncatingIfNeeded: p0 >> 32) ^ c.3 ^ k.1, UInt32(truncatingIfNeeded: p0))
            if round < 9 { k = (k.0 &+ 0x9E37_79B9, k.1 &+ 0xBB67_AE85) }
        }
        counter.0 &+= 1
        if counter.0 == 0 {
            counter.1 &+= 1
            if counter.1 == 0 {
                counter.2 &+= 1
                if counter.2 == 0 { counter.3 &+= 1 }
            }
        }
        return c
    }
}

/// A scalar TensorFlow's stateless uniform can produce, with its word-to-[0, 1) mapping (every
/// `NetScalar` is one).
public protocol KerasUniformScalar: BinaryFloatingPoint {
    /// Philox words per value (1 for float32, 2 for float64).
    static var philoxWordsPerValue: Int { get }
    /// TensorFlow's `Uint32ToFloat` / `Uint64ToDouble`: a value in [0, 1) from `words[0..<philoxWordsPerValue]`.
    static func unitInterval(_ w0: UInt32, _ w1: UInt32) -> Self
}

extension Float: KerasUniformScalar {
    public static var philoxWordsPerValue: Int { 1 }
    @inlinable public static func unitInterval(_ w0: UInt32, _: UInt32) -> Float {
        Float(bitPattern: (w0 & 0x7F_FFFF) | 0x3F80_0000) - 1
    }
}

extension Double: KerasUniformScalar {
    public static var philoxWordsPerValue: Int { 2 }
    @inlinable public static func unitInterval(_ w0: UInt32, _ w1: UInt32) -> Double {
        Double(bitPattern: (UInt64(1023) << 52) | (UInt64(w0 & 0xF_FFFF) << 32) | UInt64(w1)) - 1
    }
}

public enum KerasInit {
    /// The int32 pair Keras 3's TF backend hands `tf.random.stateless_uniform` for an integer
    /// initializer seed: `[seed, 0]` reduced modulo `int32.max − 1`.
    public static func seedPair(_ seed: UInt64) -> (Int32, Int32) {
        (Int32(seed % UInt64(Int32.max - 1)), 0)
    }

    /// `glorot_uniform`'s limit as Keras computes it (Python doubles): √(3 · 1 / max(1, (fan_in + fan_out) / 2)).
    public static func glorotLimit(fanIn: Int, fanOut: Int) -> Double {
        let scale = 1.0 / max(1.0, Double(fanIn + fanOut) / 2.0)
        return (3.0 * scale).squareRoot()
    }

    /// `tf.random.stateless_uniform(count, seed, minval: -limit, maxval: limit, dtype: T)` with the
    /// limit passed through `tf.cast` (float32) as Keras does, written to `w`.
    public static func uniform<T: NetScalar>(_ w: UnsafeMutablePointer<T>, count: Int, limit: Double,
                                                      seed: (Int32, Int32)) {
        let limit32 = Double(Float(limit))
        let minval = T(-limit32), maxval = T(limit32)
        let range = maxval - minval
        var philox = Philox4x32(statelessSeed: seed)
        // One Philox block gives 4 float32 or 2 float64 values; a partial last block is cut short.
        var i = 0
        while i < count {
            let b = philox.next()
            if T.philoxWordsPerValue == 1 {
                w[i] = T.unitInterval(b.0, 0) * range + minval
                if i + 1 < count { w[i + 1] = T.unitInterval(b.1, 0) * range + minval }
                if i + 2 < count { w[i + 2] = T.unitInterval(b.2, 0) * range + minval }
                if i + 3 < count { w[i + 3] = T.unitInterval(b.3, 0) * range + minval }
                i += 4
            } else {
                w[i] = T.unitInterval(b.0, b.1) * range + minval
                if i + 1 < count { w[i + 1] = T.unitInterval(b.2, b.3) * range + minval }
                i += 2
            }
        }
    }

    /// Keras' `glorot_uniform(seed: seed)` for a tensor with these fans, bit for bit.
    public static func glorotUniform<T: NetScalar>(_ w: UnsafeMutablePointer<T>, count: Int, fanIn: Int, fanOut: Int,
                                                            seed: UInt64 = 0) {
        uniform(w, count: count, limit: glorotLimit(fanIn: fanIn, fanOut: fanOut), seed: seedPair(seed))
    }
}

extension GeneratedModel {
    /// The notebook's initial weights: every kernel `glorot_uniform(seed: seed)` as Keras 3 on
    /// TensorFlow draws it (equal shapes get equal values), Keras' zeros and ones elsewhere; Adam's
    /// moments and step reset. `seed` is the notebook's initializer seed (0), not the run's.
    public func initializeKerasParameters(seed: UInt64 = 0) {
        for t in Self.tensors {
            switch t.initializer {
            case let .glorotUniform(fanIn, fanOut):
                KerasInit.glorotUniform(parameters + t.offset, count: t.count, fanIn: fanIn, fanOut: fanOut, seed: seed)
            case let .constant(value):
                fill(parameters + t.offset, count: t.count, value: Scalar(value))
            }
        }
        adamM.update(repeating: 0, count: Self.trainableParameterCount)
        adamV.update(repeating: 0, count: Self.trainableParameterCount)
        step = 0
    }
}
