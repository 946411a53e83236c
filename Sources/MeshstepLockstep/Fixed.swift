/// A deterministic fixed-point number: 64-bit two's complement with 16 fractional bits (Q47.16).
///
/// Floating point is not safe for lockstep games: compilers may fuse or reorder operations and
/// `libm` functions differ between platforms, so two peers can diverge from the same inputs.
/// `Fixed` uses integer arithmetic only; every operation gives the same bits everywhere.
/// Overflow wraps (it never traps), which is also deterministic.
public struct Fixed: Comparable, Hashable, Sendable, CustomStringConvertible, ExpressibleByIntegerLiteral {
    /// Fractional bits in ``raw``: one unit of `raw` is 1/65536.
    public static let fractionBits = 16
    /// 1 (raw 65536).
    public static let one = Fixed(raw: 1 << 16)
    /// 0 (raw 0).
    public static let zero = Fixed(raw: 0)
    /// 0.5 (raw 32768).
    public static let half = Fixed(raw: 1 << 15)
    /// π to 16 fractional bits.
    public static let pi = Fixed(raw: 205_887)

    /// The underlying integer (value × 65536).
    public var raw: Int64

    /// A value from its underlying integer (value × 65536).
    public init(raw: Int64) { self.raw = raw }
    /// The integer `value`; integers beyond ±2^47 wrap.
    public init(_ value: Int) { raw = Int64(value) &<< 16 }
    /// An integer literal, as ``init(_:)`` (so `let speed: Fixed = 3` works).
    public init(integerLiteral value: Int) { self.init(value) }
    /// `numerator / denominator`, rounded toward zero. Denominator 0 gives 0 (never traps).
    public init(_ numerator: Int, _ denominator: Int) {
        raw = denominator == 0 ? 0 : (Int64(numerator) &<< 16).dividedReportingOverflow(by: Int64(denominator)).partialValue
    }

    /// The integer part, rounded toward negative infinity.
    public var floor: Int { Int(raw >> 16) }
    /// Rounded to the nearest integer (halves away from zero).
    public var rounded: Int {
        let m = raw.magnitude + (1 << 15)  // fits: magnitude <= 2^63
        return raw >= 0 ? Int(m >> 16) : -Int(m >> 16)
    }
    /// For display only: never feed this back into game state.
    public var double: Double { Double(raw) / 65536 }
    public var description: String { "\(double)" }

    /// Whether `a` is less than `b` (compares the raw values).
    public static func < (a: Fixed, b: Fixed) -> Bool { a.raw < b.raw }
    /// The exact sum; wraps on overflow.
    public static func + (a: Fixed, b: Fixed) -> Fixed { Fixed(raw: a.raw &+ b.raw) }
    /// The exact difference; wraps on overflow.
    public static func - (a: Fixed, b: Fixed) -> Fixed { Fixed(raw: a.raw &- b.raw) }
    /// The negation; the most negative value wraps to itself.
    public static prefix func - (a: Fixed) -> Fixed { Fixed(raw: 0 &- a.raw) }
    /// Adds `b` to `a`; wraps on overflow.
    public static func += (a: inout Fixed, b: Fixed) { a = a + b }
    /// Subtracts `b` from `a`; wraps on overflow.
    public static func -= (a: inout Fixed, b: Fixed) { a = a - b }

    /// The product, rounded toward negative infinity (the low 16 bits are cut); wraps on overflow.
    public static func * (a: Fixed, b: Fixed) -> Fixed {
        let (high, low) = a.raw.multipliedFullWidth(by: b.raw)
        // (high:low) >> 16, truncated to 64 bits: wraps on overflow like the other operators.
        return Fixed(raw: Int64(truncatingIfNeeded: (UInt64(bitPattern: high) << 48) | (low >> 16)))
    }

    /// The product with an integer, exact; wraps on overflow.
    public static func * (a: Fixed, b: Int) -> Fixed { Fixed(raw: a.raw &* Int64(b)) }
    /// Multiplies `a` by `b`, rounded toward negative infinity; wraps on overflow.
    public static func *= (a: inout Fixed, b: Fixed) { a = a * b }

    /// Division rounded toward zero; dividing by zero gives zero (never traps).
    public static func / (a: Fixed, b: Fixed) -> Fixed {
        guard b.raw != 0 else { return .zero }
        let negative = (a.raw < 0) != (b.raw < 0)
        let n = a.raw.magnitude, d = b.raw.magnitude
        // The quotient does not fit 64 bits: saturate rather than trap.
        // The quotient must fit 63 bits (sign-aware): n * 2^16 / d < 2^63  <=>  n >> 47 < d.
        guard n >> 47 < d else { return Fixed(raw: negative ? Int64.min : Int64.max) }
        let (q, _) = d.dividingFullWidth((high: n >> 48, low: n << 16))
        let r = Int64(truncatingIfNeeded: q)
        return Fixed(raw: negative ? 0 &- r : r)
    }

    /// Division by an integer, rounded toward zero; dividing by zero gives zero (never traps).
    public static func / (a: Fixed, b: Int) -> Fixed { b == 0 ? .zero : Fixed(raw: a.raw.dividedReportingOverflow(by: Int64(b)).partialValue) }

    /// The absolute value; the most negative value wraps to itself.
    public var magnitude: Fixed { Fixed(raw: raw < 0 ? 0 &- raw : raw) }

    /// `v` limited to `lo...hi` (`hi` when `lo` is above `hi`).
    public static func clamp(_ v: Fixed, _ lo: Fixed, _ hi: Fixed) -> Fixed { min(max(v, lo), hi) }

    /// Square root (of the magnitude), exact to the last bit by integer Newton iteration.
    public var squareRoot: Fixed {
        // sqrt(raw * 2^16) = sqrt(value) * 2^16, computed as sqrt(raw) * 2^8 with the low bits
        // refined, so no bits of large values are shifted away.
        let m = raw.magnitude
        if m == 0 { return .zero }
        func isqrt(_ n: UInt64) -> UInt64 {
            var x = UInt64(1) << ((64 - n.leadingZeroBitCount + 1) / 2)
            while true {
                let y = (x + n / x) / 2
                if y >= x { return x }
                x = y
            }
        }
        if m < 1 << 47 { return Fixed(raw: Int64(isqrt(m << 16))) }
        return Fixed(raw: Int64(isqrt(m) << 8))
    }

    /// Sine of an angle in turns (1 = a full circle), by a fixed polynomial: no `libm`.
    /// Maximum error about 0.0016.
    public static func sin(turns: Fixed) -> Fixed {
        // Reduce to [0, 1) turn; the second half-turn is the negative of the first.
        var t = turns.raw & 0xFFFF
        var sign: Int64 = 1
        if t >= 0x8000 { t -= 0x8000; sign = -1 }
        // Bhaskara I on [0, π]: sin(x) ≈ 16x(π − x) / (5π² − 4x(π − x)). In units where
        // π = P = 0x8000 the (π/P)² factors cancel: sin ≈ 16a / (5P² − 4a), a = t(P − t).
        let p: Int64 = 0x8000
        let a = t * (p - t)
        return Fixed(raw: sign * ((16 * a) << 16) / (5 * p * p - 4 * a))
    }

    /// Cosine of an angle in turns (1 = a full circle): ``sin(turns:)`` a quarter turn later,
    /// with the same error.
    public static func cos(turns: Fixed) -> Fixed { sin(turns: turns + Fixed(raw: 0x4000)) }
}
