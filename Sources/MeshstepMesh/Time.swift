/// A point on a monotonic clock, in nanoseconds. The protocol never reads a clock: the driver
/// (UDP shell or simulator) passes `now` into every call.
public struct MeshTime: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// Nanoseconds since the clock's zero.
    public var nanoseconds: Int64
    /// The point `nanoseconds` after the clock's zero.
    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    /// The clock's origin (the UDP shell's start, or the simulation's first instant).
    public static let zero = MeshTime(nanoseconds: 0)
    /// True when `a` is earlier than `b`.
    public static func < (a: MeshTime, b: MeshTime) -> Bool { a.nanoseconds < b.nanoseconds }
    /// The time `d` after `a`.
    public static func + (a: MeshTime, d: Duration) -> MeshTime { MeshTime(nanoseconds: a.nanoseconds + d.nanoseconds) }
    /// The duration from `b` to `a` (negative when `a` is earlier).
    public static func - (a: MeshTime, b: MeshTime) -> Duration { .nanoseconds(a.nanoseconds - b.nanoseconds) }
    /// The time in seconds since the clock's zero.
    public var seconds: Double { Double(nanoseconds) / 1e9 }
    public var description: String { "\(Double(nanoseconds) / 1e6)ms" }
}

extension Duration {
    /// The duration in whole nanoseconds (saturating).
    public var nanoseconds: Int64 {
        let (s, atto) = components
        let (ns, overflow) = s.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return s < 0 ? Int64.min : Int64.max }
        return ns &+ atto / 1_000_000_000
    }
    /// The duration in milliseconds as a floating-point number (for reports, never for protocol math).
    public var milliseconds: Double { Double(nanoseconds) / 1e6 }
}

/// A small, fast, seeded pseudo-random generator (xoshiro256**, seeded through SplitMix64).
///
/// Used wherever the protocol or the simulator needs reproducible randomness. Not for secrets:
/// the UDP shell seeds the mesh from the system generator.
public struct DeterministicRNG: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// A generator whose whole sequence is fixed by `seed` (expanded to the 256-bit state with SplitMix64).
    public init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitmix(); s1 = splitmix(); s2 = splitmix(); s3 = splitmix()
    }

    /// The next 64 random bits (xoshiro256**).
    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// Derives an independent generator for a sub-component (a node, a link...).
    public mutating func fork() -> DeterministicRNG { DeterministicRNG(seed: next()) }

    /// A uniformly random value in `0..<bound` (bound > 0).
    public mutating func below(_ bound: Int) -> Int { Int(next(upperBound: UInt64(bound))) }

    /// True with probability `p`.
    public mutating func chance(_ p: Double) -> Bool {
        p > 0 && Double(next() >> 11) * 0x1p-53 < p
    }

    /// A double in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }
}
