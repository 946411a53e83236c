/// A 64-bit hash that is the same in every process, on every machine, in every run (FNV-1a with
/// a final avalanche). Use it for game-state checksums. Swift's `Hasher` is seeded per process
/// and must never be used for anything two peers compare.
public struct StableHasher: Sendable {
    private var state: UInt64 = 0xCBF2_9CE4_8422_2325
    private static let prime: UInt64 = 0x0000_0100_0000_01B3

    /// A hasher with nothing combined yet.
    public init() {}

    /// Folds one byte into the hash.
    public mutating func combine(byte: UInt8) {
        state = (state ^ UInt64(byte)) &* Self.prime
    }

    /// Folds the bytes into the hash in order.
    public mutating func combine<C: Collection>(bytes: C) where C.Element == UInt8 {
        for b in bytes { combine(byte: b) }
    }

    /// Little-endian bytes of the value, so the result does not depend on the host.
    public mutating func combine(_ value: UInt64) {
        var v = value
        for _ in 0..<8 { combine(byte: UInt8(truncatingIfNeeded: v)); v >>= 8 }
    }

    /// The value as 64 bits, 8 little-endian bytes (the same on 32- and 64-bit hosts).
    public mutating func combine(_ value: Int) { combine(UInt64(bitPattern: Int64(value))) }
    /// The value sign-extended to 64 bits: the same bytes as an equal `Int`.
    public mutating func combine(_ value: Int32) { combine(UInt64(bitPattern: Int64(value))) }
    /// One byte: 1 for true, 0 for false.
    public mutating func combine(_ value: Bool) { combine(byte: value ? 1 : 0) }
    /// The value's ``Fixed/raw`` integer, 8 little-endian bytes.
    public mutating func combine(_ value: Fixed) { combine(UInt64(bitPattern: value.raw)) }
    /// The generator's ``GameRandom/state``, so a checksum covers where its sequence stands.
    public mutating func combine(_ value: GameRandom) { combine(value.state) }

    /// The hash so far (the hasher can keep going).
    public func finalize() -> UInt64 {
        var z = state
        z = (z ^ (z >> 33)) &* 0xFF51_AFD7_ED55_8CCD
        z = (z ^ (z >> 33)) &* 0xC4CE_B9FE_1A85_EC53
        return z ^ (z >> 33)
    }
}
