/// A seeded pseudo-random generator for game state (PCG-XSH-RR 32). Its whole state is one
/// `UInt64`, so it lives inside the game state, is saved in snapshots and hashed in checksums.
///
/// Never use `Int.random` or `SystemRandomNumberGenerator` in game code: peers would diverge.
public struct GameRandom: Hashable, Sendable {
    /// The generator's whole state: copy it with the game state, hash it in checksums.
    public var state: UInt64
    static let multiplier: UInt64 = 6_364_136_223_846_793_005
    static let increment: UInt64 = 1_442_695_040_888_963_407

    /// A generator seeded with `seed`: the same seed gives the same sequence on every peer.
    public init(seed: UInt64) {
        state = 0
        _ = next()
        state &+= seed
        _ = next()
    }

    /// The next 32 random bits.
    public mutating func next() -> UInt32 {
        let old = state
        state = old &* Self.multiplier &+ Self.increment
        let xorshifted = UInt32(truncatingIfNeeded: ((old >> 18) ^ old) >> 27)
        let rot = UInt32(truncatingIfNeeded: old >> 59)
        return xorshifted >> rot | xorshifted << ((~rot &+ 1) & 31)
    }

    /// A uniform integer in `range` (empty or reversed ranges give the lower bound).
    public mutating func int(in range: ClosedRange<Int>) -> Int {
        // Wrapping arithmetic: any range works, including the full Int range (span 0 below).
        let span = UInt64(bitPattern: Int64(range.upperBound) &- Int64(range.lowerBound)) &+ 1
        if span == 1 { return range.lowerBound }
        // Modulo reduction (slightly biased for huge spans, identical on every peer); spans
        // beyond 32 bits use two draws.
        let draw = span != 0 && span <= UInt64(UInt32.max) ? UInt64(next()) : (UInt64(next()) << 32 | UInt64(next()))
        return range.lowerBound &+ Int(truncatingIfNeeded: span == 0 ? draw : draw % span)
    }

    /// A uniform fixed-point value in [0, 1).
    public mutating func unit() -> Fixed { Fixed(raw: Int64(next() >> 16)) }

    /// True with probability `numerator / denominator`.
    public mutating func chance(_ numerator: Int, in denominator: Int) -> Bool {
        denominator > 0 && int(in: 0...(denominator - 1)) < numerator
    }
}
