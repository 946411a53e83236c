/// A 64-bit hash that is the same in every process, on every machine, in every run (FNV-1a with
/// a final avalanche). Use it for game-state checksums. Swift's `Hasher` is seeded per process
/// and must never be used for anything two peers compare.
public struct StableHasher: Sendable {
    private var state: UInt64 = 0xCBF2_9CE4_8422_2325
    private static let prime: UInt64 = 0x0000_0100_0000_01B3

    public init() {}

    public mutating func combine(byte: UInt8) {
        state = (state ^ UInt64(byte)) &* Self.prime
    }

    public mutating func combine<C: Collection>(bytes: C) where C.Element == UInt8 {
        for b in bytes { combine(byte: b) }
    }

    /// Little-endian bytes of the value, so the result does not depend on the host.
    public mutating func combine(_ value: UInt64) {
        var v = value
        for _ in 0..<8 { combine(byte: UInt8(truncatingIfNeeded: v)); v >>= 8 }
    }

    public mutating func combine(_ value: Int) { combine(UInt64(bitPattern: Int64(value))) }
    public mutating func combine(_ value: Int32) { combine(UInt64(bitPattern: Int64(value))) }
    public mutating func combine(_ value: Bool) { combine(byte: value ? 1 : 0) }
    public mutating func combine(_ value: Fixed) { combine(UInt64(bitPattern: value.raw)) }
    public mutating func combine(_ value: GameRandom) { combine(value.state) }

    /// The hash so far (the hasher can keep going).
    public func finalize() -> UInt64 {
        var z = state
        z = (z ^ (z >> 33)) &* 0xFF51_AFD7_ED55_8CCD
        z = (z ^ (z >> 33)) &* 0xC4CE_B9FE_1A85_EC53
        return z ^ (z >> 33)
    }
}
