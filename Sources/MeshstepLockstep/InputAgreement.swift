import Crypto
import MeshstepWire

/// A 16-byte digest (the first half of a SHA-256): what input chains and row reports carry.
/// 128 bits keep a liar who chooses the inputs from finding two histories with one digest
/// (a birthday search costs about 2^64 hashes).
public struct ChainDigest: Sendable, Hashable, CustomStringConvertible {
    /// Bytes 0-7 of the SHA-256, big-endian.
    public var high: UInt64
    /// Bytes 8-15 of the SHA-256, big-endian.
    public var low: UInt64

    init(high: UInt64, low: UInt64) { self.high = high; self.low = low }

    init(sha256 bytes: [UInt8]) {
        // Through a buffer pointer: `SHA256.hash(data:)` and `Array(digest)` take generic paths
        // that run unspecialized here, on every input of every slot.
        var h = SHA256()
        bytes.withUnsafeBytes { h.update(bufferPointer: $0) }
        self.init(digest: h.finalize())
    }

    /// The first 16 bytes of `digest`.
    ///
    /// Read in place: `SHA256Digest.withUnsafeBytes` is generic and not inlinable, and ran
    /// unspecialized (with a type-metadata lookup) for every input of every slot. The digest
    /// stores exactly its 32 bytes, in order; should that layout change size, the generic path
    /// is taken, and `ChainDigestTests` checks that both give the same bytes.
    init(digest: SHA256Digest) {
        let read = { (d: UnsafeRawBufferPointer) -> (UInt64, UInt64) in
            (
                UInt64(bigEndian: d.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                UInt64(bigEndian: d.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            )
        }
        guard MemoryLayout<SHA256Digest>.size == SHA256Digest.byteCount else {
            (high, low) = digest.withUnsafeBytes(read)
            return
        }
        (high, low) = withUnsafeBytes(of: digest, read)
    }

    func write(into w: inout ByteWriter) { w.u64(high); w.u64(low) }

    /// Feeds the 16 bytes ``write(into:)`` writes to `hash`.
    @inline(__always)
    func feed(_ hash: inout SHA256) {
        var words = (high.bigEndian, low.bigEndian)
        withUnsafeBytes(of: &words) { hash.update(bufferPointer: $0) }
    }

    static func read(from r: inout ByteReader) throws(WireError) -> ChainDigest {
        ChainDigest(high: try r.u64(), low: try r.u64())
    }

    /// A row digest as reports carry it: its 12 bytes.
    func writeRow(into w: inout ByteWriter) { w.u64(high); w.u32(UInt32(truncatingIfNeeded: low >> 32)) }

    static func readRow(from r: inout ByteReader) throws(WireError) -> ChainDigest {
        ChainDigest(high: try r.u64(), low: UInt64(try r.u32()) << 32)
    }

    /// The first 8 bytes in hex (enough to tell digests apart in logs).
    public var description: String { String(high, radix: 16) }
}

/// The input history every peer must agree on before it applies a tick (docs/LOCKSTEP.md,
/// "Input agreement"; docs/PROTOCOL.md, Appendix C).
///
/// - A slot's **chain** folds its inputs in tick order: `chain(-1) = H("meshstep-chain-v1" |
///   session hash | u8 slot)`, `chain(t) = H(chain(t-1) | encoded input of t)`. A dropped slot's
///   chain stops at the tick before its drop.
/// - A **row digest** of tick `t` is `H("meshstep-row-v1" | chain_0(t) | ... | chain_n-1(t))`:
///   two peers with one row digest hold the same inputs of every slot through `t`.
/// - A **statement** is a player's Ed25519 signature over its own chain at the newest input of
///   a frame: whoever relays it proves what that player committed to.
enum InputChain {
    static func genesis(session: [UInt8], slot: Int) -> ChainDigest {
        ChainDigest(sha256: Array("meshstep-chain-v1".utf8) + session + [UInt8(slot)])
    }

    /// SHA-256(previous chain value (16 bytes) | the input's bytes), fed in place: every input
    /// of every slot goes through here, and a buffer built for it cost an allocation each.
    static func next(_ previous: ChainDigest, _ input: InputBytes) -> ChainDigest {
        var h = SHA256()
        previous.feed(&h)
        input.withUnsafeBytes { h.update(bufferPointer: $0) }
        return ChainDigest(digest: h.finalize())
    }

    /// A row digest: 12 bytes (96 bits) of the SHA-256, the rest zero. Reports carry only those
    /// 12: finding two histories with one row digest takes about 2^48 hashes, far beyond the
    /// input delay a liar has to find them in.
    static func row(_ chains: [ChainDigest]) -> ChainDigest {
        row(count: chains.count) { chains[$0] }!
    }

    /// The row digest over `count` chain values, `chain(i)` each in slot order, fed in place;
    /// nil as soon as one is nil.
    @inline(__always)
    static func row(count: Int, _ chain: (Int) -> ChainDigest?) -> ChainDigest? {
        var h = SHA256()
        let tag: StaticString = "meshstep-row-v1"
        tag.withUTF8Buffer { h.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        for i in 0..<count {
            guard let c = chain(i) else { return nil }
            c.feed(&h)
        }
        var d = ChainDigest(digest: h.finalize())
        d.low &= 0xFFFF_FFFF_0000_0000
        return d
    }

    /// Bytes in a row report's digest.
    static var rowDigestSize: Int { 12 }

    /// `"meshstep-inputs-v1" | session hash (32) | u8 slot | u32 tick | chain (16)`.
    static func statementBytes(session: [UInt8], slot: Int, tick: Int, chain: ChainDigest) -> [UInt8] {
        var w = ByteWriter(capacity: 72)
        w.raw(Array("meshstep-inputs-v1".utf8))
        w.raw(session)
        w.u8(UInt8(slot))
        w.u32(UInt32(truncatingIfNeeded: tick))
        chain.write(into: &w)
        return w.bytes
    }
}

/// A peer's report of its row digest at `tick`, kept until we hold that row.
struct PendingReport: Sendable {
    /// What a digest that differs from ours means.
    enum Scope: UInt8, Sendable {
        /// From the sender's newest frame in our epoch: a disagreement starts (or goes on).
        case current
        /// From an older frame that came late (reordered, or a repair): the sender's newest
        /// frame, already read, may say otherwise, so a digest that differs starts nothing.
        case stale
        /// From a peer some changes behind us: it only confirms (we show disputes only to peers
        /// in our epoch).
        case olderEpoch
    }
    var tick: Int
    var digest: ChainDigest
    var scope: Scope
}

/// Row digests computed lately, by tick (every peer's report of a tick asks for the same one):
/// a ring of 128, a tick in slot `tick mod 128`, so the newest ones stay. Looked up on every
/// frame sent and received; a hashed dictionary cost a hash per lookup and a rebuild whenever
/// it filled.
struct RowDigestCache: Sendable {
    private static let size = 128
    private var entries = [(tick: Int, digest: ChainDigest)](repeating: (-1, ChainDigest(high: 0, low: 0)), count: size)

    subscript(tick: Int) -> ChainDigest? {
        get {
            let e = entries[tick & (Self.size - 1)]
            return e.tick == tick ? e.digest : nil
        }
        set {
            let i = tick & (Self.size - 1)
            if let newValue { entries[i] = (tick, newValue) } else if entries[i].tick == tick { entries[i].tick = -1 }
        }
    }

    /// Forgets every digest (the roster changed what a row holds).
    mutating func removeAll() { removeAll(from: Int.min) }

    /// Forgets the digests of `tick` and later.
    mutating func removeAll(from tick: Int) {
        for i in entries.indices where entries[i].tick >= tick { entries[i].tick = -1 }
    }
}

/// A slot's chain values for recent ticks: `values[i]` is the chain through tick `from + i`.
struct SlotChain: Sendable {
    /// The chain through tick `from - 1`.
    var before: ChainDigest
    var from: Int
    var values: [ChainDigest] = []

    var head: Int { from + values.count - 1 }
    var last: ChainDigest { values.last ?? before }

    func value(at tick: Int) -> ChainDigest? {
        if tick == from - 1 { return before }
        let i = tick - from
        return i >= 0 && i < values.count ? values[i] : nil
    }

    mutating func append(_ d: ChainDigest) { values.append(d) }

    /// Forgets values before `tick` (keeping the one just before as the base).
    mutating func trim(before tick: Int) {
        // The newest value stays: a dropped slot's chain ends there for good.
        let n = min(values.count - 1, tick - from)
        guard n > 0 else { return }
        before = values[n - 1]
        values.removeFirst(n)
        from += n
    }
}

/// What a peer in a dispute relays: the inputs of one slot after the dispute's base tick, as it
/// holds them, and that slot's own statement over the chain they end at.
struct DisputeEntry: Sendable {
    var slot: Int
    var inputs: [InputBytes]
    var signature: [UInt8]
}

/// A dispute section of a frame: sent while this peer's row digests disagree with someone's.
struct Dispute: Sendable {
    /// The newest tick the sender applied: every peer that applied it holds the same rows
    /// through it, so chains are compared from here.
    var base: Int
    var entries: [DisputeEntry]

    /// Inputs per entry at most: enough to reach from the sender's last applied tick to a
    /// statement over the newest inputs, which are at most about twice the longest input delay
    /// (32) past it while rows disagree.
    static var maxInputs: Int { 64 }

    func encode(into w: inout ByteWriter) {
        w.varint(UInt64(base + 1))
        w.varint(UInt64(entries.count))
        for e in entries {
            w.u8(UInt8(e.slot))
            w.varint(UInt64(e.inputs.count))
            for input in e.inputs {
                w.varint(UInt64(input.count))
                input.write(into: &w)
            }
            w.raw(e.signature)
        }
    }

    static func decode<Input: LockstepInput>(from r: inout ByteReader, players: Int, as input: Input.Type) throws(WireError) -> Dispute {
        let base = try r.count(field: "dispute.base", limit: Int(Int32.max)) - 1
        let n = try r.count(field: "dispute.entries", limit: players)
        var entries: [DisputeEntry] = []
        var previous = -1
        for _ in 0..<n {
            let slot = Int(try r.u8())
            guard slot < players, slot > previous else { throw .invalidValue(field: "dispute.slot") }
            previous = slot
            let count = try r.count(field: "dispute.inputs", limit: maxInputs)
            guard count >= 1 else { throw .invalidValue(field: "dispute.inputs") }
            var inputs: [InputBytes] = []
            for _ in 0..<count {
                let length = try r.count(field: "dispute.input", limit: 1024)
                inputs.append(try InputBytes.read(&r, length: length, as: input))
            }
            entries.append(DisputeEntry(slot: slot, inputs: inputs, signature: try r.raw(64)))
        }
        return Dispute(base: base, entries: entries)
    }
}
