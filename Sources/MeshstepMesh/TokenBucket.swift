/// A token bucket in integer arithmetic: tokens are scaled by 10^9 so that refill over any
/// nanosecond interval is exact.
package struct TokenBucket: Sendable {
    private static let scale: Int64 = 1_000_000_000
    let rate: Int64
    let capacity: Int64
    private var tokens: Int64
    private var updated: MeshTime

    package init(rate: Int, burst: Int, now: MeshTime) {
        // RateLimit.validate keeps both within 1...10^9, so the scaled capacity fits in 63 bits.
        self.rate = Int64(min(max(rate, 1), 1_000_000_000))
        capacity = Int64(min(max(burst, 1), 1_000_000_000)) * Self.scale
        tokens = capacity
        updated = now
    }

    private mutating func refill(_ now: MeshTime) {
        guard now > updated else { return }
        let (added, overflow) = (now.nanoseconds - updated.nanoseconds).multipliedReportingOverflow(by: rate)
        tokens = overflow || added >= capacity - tokens ? capacity : tokens + added
        updated = now
    }

    /// Takes `amount` tokens if available.
    /// - Complexity: O(1).
    package mutating func take(_ amount: Int, now: MeshTime) -> Bool {
        refill(now)
        let cost = Int64(amount) * Self.scale
        guard tokens >= cost else { return false }
        tokens -= cost
        return true
    }

    /// Takes as many of `amount` tokens as are available, and returns how many it took.
    /// - Complexity: O(1).
    package mutating func take(upTo amount: Int, now: MeshTime) -> Int {
        refill(now)
        let n = min(Int64(amount), tokens / Self.scale)
        tokens -= n * Self.scale
        return Int(n)
    }

    /// When `amount` tokens will be available.
    mutating func availableAt(_ amount: Int, now: MeshTime) -> MeshTime {
        refill(now)
        let cost = Int64(amount) * Self.scale
        if tokens >= cost { return now }
        return MeshTime(nanoseconds: now.nanoseconds + (cost - tokens + rate - 1) / rate)
    }
}

/// Duplicate suppression for one origin: the highest sequence number seen and a 256-bit map of
/// the 256 below it. O(1) memory per origin, no per-message cache.
struct SequenceWindow: Sendable {
    static let size: UInt64 = 256
    enum Status { case new, duplicate, tooOld }

    private(set) var highest: UInt64 = 0
    /// Lowest sequence number this node saw from the origin; nothing below it is pulled.
    private(set) var first: UInt64 = 0
    private var bits: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    var isEmpty: Bool { highest == 0 }

    func status(_ seq: UInt64) -> Status {
        if seq == 0 { return .tooOld }
        if highest == 0 || seq > highest { return .new }
        let back = highest - seq
        if back >= Self.size { return .tooOld }
        return bit(back) ? .duplicate : .new
    }

    func contains(_ seq: UInt64) -> Bool { status(seq) == .duplicate }

    /// - Precondition: `status(seq) == .new`.
    mutating func insert(_ seq: UInt64) {
        if highest == 0 {
            highest = seq; first = seq
            bits = (1, 0, 0, 0)
            return
        }
        if seq > highest {
            shift(seq - highest)
            highest = seq
            setBit(0)
        } else {
            setBit(highest - seq)
            if seq < first { first = seq }
        }
    }

    /// Sequence numbers in `lo...hi` (clamped to the window) not yet seen, at most `limit`.
    func missing(upTo hi: UInt64, limit: Int) -> [UInt64] {
        guard hi > 0 else { return [] }
        var lo = max(first == 0 ? 1 : first, hi >= Self.size ? hi - Self.size + 1 : 1)
        if highest >= Self.size { lo = max(lo, highest - Self.size + 1) }
        var out: [UInt64] = []
        var s = hi
        while s >= lo && out.count < limit {
            if status(s) == .new { out.append(s) }
            if s == 0 { break }
            s -= 1
        }
        return out
    }

    private func bit(_ i: UInt64) -> Bool {
        let word: UInt64
        switch i / 64 {
        case 0: word = bits.0
        case 1: word = bits.1
        case 2: word = bits.2
        default: word = bits.3
        }
        return word >> (i % 64) & 1 == 1
    }

    private mutating func setBit(_ i: UInt64) {
        let m: UInt64 = 1 << (i % 64)
        switch i / 64 {
        case 0: bits.0 |= m
        case 1: bits.1 |= m
        case 2: bits.2 |= m
        default: bits.3 |= m
        }
    }

    /// Moves every bit `n` places towards older.
    private mutating func shift(_ n: UInt64) {
        if n >= Self.size { bits = (0, 0, 0, 0); return }
        var w = [bits.0, bits.1, bits.2, bits.3]
        let words = Int(n / 64), rem = n % 64
        for i in stride(from: 3, through: 0, by: -1) {
            let src = i - words
            var v: UInt64 = src >= 0 ? w[src] << rem : 0
            if rem > 0, src - 1 >= 0 { v |= w[src - 1] >> (64 - rem) }
            w[i] = v
        }
        bits = (w[0], w[1], w[2], w[3])
    }
}
