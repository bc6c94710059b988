/// Deterministic random numbers for initialization and shuffling: xoshiro256** seeded by SplitMix64.
/// The state is four words, so it can be checkpointed and restored exactly.
public struct Xoshiro256: RandomNumberGenerator, Sendable, Equatable {
    public var state: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var s = seed
        func splitmix() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    public init(state: [UInt64]) {
        if state.count != 4 { fatalError("Xoshiro256: a state has 4 words, got \(state.count)") }
        self.state = (state[0], state[1], state[2], state[3])
    }

    public var stateWords: [UInt64] { [state.0, state.1, state.2, state.3] }

    public static func == (a: Xoshiro256, b: Xoshiro256) -> Bool { a.stateWords == b.stateWords }

    @inlinable
    public mutating func next() -> UInt64 {
        let result = ((state.1 &* 5) << 7 | (state.1 &* 5) >> 57) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = (state.3 << 45) | (state.3 >> 19)
        return result
    }

    /// Uniform in [0, 1) with 53 random bits.
    @inlinable
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}

/// Keras' glorot_uniform: U(−limit, limit) with limit = √(6 / (fan_in + fan_out)).
@inlinable
public func glorotUniform<T: NetScalar>(_ w: UnsafeMutablePointer<T>, count: Int, fanIn: Int, fanOut: Int,
                                        rng: inout Xoshiro256) {
    let limit = (6.0 / Double(fanIn + fanOut)).squareRoot()
    for i in 0..<count { w[i] = T((rng.unit() * 2 - 1) * limit) }
}

@inlinable
public func fill<T: NetScalar>(_ p: UnsafeMutablePointer<T>, count: Int, value: T) {
    for i in 0..<count { p[i] = value }
}
