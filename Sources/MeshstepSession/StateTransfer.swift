import Crypto
import MeshstepLockstep
import MeshstepWire

/// A 16-byte digest (the first half of a SHA-256): the nodes of a checkpoint's hash tree.
public struct TransferDigest: Sendable, Hashable, CustomStringConvertible {
    /// The 16 bytes.
    public var bytes: [UInt8]

    init(bytes: [UInt8]) { self.bytes = bytes }

    init(hashing parts: [UInt8]...) {
        var h = SHA256()
        for p in parts { h.update(data: p) }
        bytes = Array(Array(h.finalize()).prefix(16))
    }

    /// The first 8 bytes in hex.
    public var description: String { bytes.prefix(8).map { String($0, radix: 16) }.joined() }
}

/// The hash tree over a checkpoint's chunks (docs/PROTOCOL.md, "State transfer"): each chunk
/// comes with the siblings on its path, so a newcomer checks every chunk on arrival against the
/// root the players vouched for, whichever holder sent it, and a holder that sends a bad chunk
/// is caught by that chunk alone.
///
/// - leaf `i` = `H(0x00 | chunk i)`, a node = `H(0x01 | left | right)`; a node without a right
///   sibling moves up unchanged;
/// - root = `H(0x02 | u32 size | top node)`, so the root also fixes the size (and so the number
///   of chunks).
struct CheckpointTree: Sendable {
    /// Bytes per chunk: a chunk message with its proof fits a mesh payload.
    static let chunkSize = 768
    /// At most this many chunks (`SessionCheckpoint.maxBytes` / ``chunkSize``).
    static let maxChunks = SessionCheckpoint.maxBytes / chunkSize

    let bytes: [UInt8]
    /// `levels[0]` are the leaves; the last level has one node.
    let levels: [[TransferDigest]]
    let root: TransferDigest

    init(bytes: [UInt8]) {
        self.bytes = bytes
        let n = Self.chunkCount(size: bytes.count)
        var level = (0..<n).map { i in TransferDigest(hashing: [0], Array(Self.slice(bytes, i))) }
        var levels = [level]
        while level.count > 1 {
            var up: [TransferDigest] = []
            var i = 0
            while i < level.count {
                up.append(i + 1 < level.count ? TransferDigest(hashing: [1], level[i].bytes, level[i + 1].bytes) : level[i])
                i += 2
            }
            levels.append(up)
            level = up
        }
        self.levels = levels
        root = Self.root(size: bytes.count, top: level[0])
    }

    static func root(size: Int, top: TransferDigest) -> TransferDigest {
        var w = ByteWriter(capacity: 5)
        w.u8(2); w.u32(UInt32(size))
        return TransferDigest(hashing: w.bytes, top.bytes)
    }

    /// Chunks of a checkpoint of `size` bytes (at least one).
    static func chunkCount(size: Int) -> Int { max(1, (size + chunkSize - 1) / chunkSize) }

    static func slice(_ bytes: [UInt8], _ i: Int) -> ArraySlice<UInt8> {
        bytes[min(bytes.count, i * chunkSize)..<min(bytes.count, (i + 1) * chunkSize)]
    }

    var chunkCount: Int { levels[0].count }

    func chunk(_ i: Int) -> [UInt8] { Array(Self.slice(bytes, i)) }

    /// The siblings on chunk `i`'s path to the top, bottom up (levels where it has none are skipped).
    func proof(_ i: Int) -> [TransferDigest] {
        var proof: [TransferDigest] = []
        var index = i
        for level in levels.dropLast() {
            let sibling = index ^ 1
            if sibling < level.count { proof.append(level[sibling]) }
            index /= 2
        }
        return proof
    }

    /// Whether `chunk` is chunk `index` of the checkpoint of `size` bytes with `root`.
    static func verify(chunk: [UInt8], index: Int, proof: [TransferDigest], size: Int, root: TransferDigest) -> Bool {
        let n = chunkCount(size: size)
        guard index < n else { return false }
        let expected = min(chunkSize, size - index * chunkSize)
        guard chunk.count == max(0, expected) else { return false }
        var node = TransferDigest(hashing: [0], chunk)
        var i = index, width = n, used = 0
        while width > 1 {
            let sibling = i ^ 1
            if sibling < width {
                guard used < proof.count else { return false }
                node = i & 1 == 0 ? TransferDigest(hashing: [1], node.bytes, proof[used].bytes) : TransferDigest(hashing: [1], proof[used].bytes, node.bytes)
                used += 1
            }
            i /= 2
            width = (width + 1) / 2
        }
        return used == proof.count && Self.root(size: size, top: node) == root
    }
}

/// A player's offer of a checkpoint: its tick, size and hash-tree root.
public struct CheckpointOffer: Sendable, Hashable {
    /// The first tick still to apply after restoring the checkpoint.
    public var tick: Int
    /// Encoded size in bytes.
    public var size: Int
    /// The root of its hash tree.
    public var root: TransferDigest
}

extension SessionWire {
    /// First byte of a checkpoint offer: `u8 type=10 | u32 tick | u32 size | 16-byte root`.
    public static let checkpointOffer: UInt8 = 10
    /// First byte of a chunk request: `u8 type=11 | u32 tick | 16-byte root | u8 count (1...32) |
    /// count x u16 index`.
    public static let chunkRequest: UInt8 = 11
    /// First byte of a chunk: `u8 type=12 | u32 tick | 16-byte root | u16 index | u8 proof count
    /// (at most 10) | proof count x 16 bytes | varint length | chunk bytes`.
    public static let chunk: UInt8 = 12
    /// First byte of a join request: `u8 type=13 | u32 configuration digest`, flooded by a
    /// spectator that arrives while the session runs (players answer with checkpoint offers).
    public static let joinRequest: UInt8 = 13

    /// First byte of a history request: `u8 type=9 | u32 tick | [u8 slot]`, unicast by a
    /// spectator to the player whose inputs from `tick` on it lost (the player answers with a
    /// catch-up frame), or with `slot`, by any peer to a player, for the inputs of that dropped
    /// slot from `tick` on (answered with relayed inputs, type 14).
    public static let historyRequest: UInt8 = 9
    /// First byte of relayed inputs of a dropped slot (`RelayedInputs`).
    public static let relayedInputs: UInt8 = RelayedInputs.type

    static func encodeHistoryRequest(fromTick tick: Int, slot: Int? = nil) -> [UInt8] {
        var w = ByteWriter(capacity: 6)
        w.u8(historyRequest); w.u32(UInt32(clamping: max(0, tick)))
        if let slot { w.u8(UInt8(clamping: slot)) }
        return w.bytes
    }

    static func decodeHistoryRequest(_ bytes: [UInt8]) throws(WireError) -> (tick: Int, slot: Int?) {
        var r = ByteReader(bytes)
        guard try r.u8() == historyRequest else { throw .invalidValue(field: "historyRequest.type") }
        let tick = Int(try r.u32())
        let slot = r.remaining > 0 ? Int(try r.u8()) : nil
        try r.expectEnd()
        return (tick, slot)
    }

    /// The most chunk indices one request names.
    public static let maxChunksPerRequest = 32

    static func encodeOffer(_ o: CheckpointOffer) -> [UInt8] {
        var w = ByteWriter(capacity: 25)
        w.u8(checkpointOffer); w.u32(UInt32(clamping: o.tick)); w.u32(UInt32(clamping: o.size)); w.raw(o.root.bytes)
        return w.bytes
    }

    static func decodeOffer(_ bytes: [UInt8]) throws(WireError) -> CheckpointOffer {
        var r = ByteReader(bytes)
        guard try r.u8() == checkpointOffer else { throw .invalidValue(field: "offer.type") }
        let tick = Int(try r.u32())
        let size = Int(try r.u32())
        guard size >= 1, size <= SessionCheckpoint.maxBytes else { throw .invalidValue(field: "offer.size") }
        let root = TransferDigest(bytes: try r.raw(16))
        try r.expectEnd()
        return CheckpointOffer(tick: tick, size: size, root: root)
    }

    static func encodeChunkRequest(tick: Int, root: TransferDigest, indices: [Int]) -> [UInt8] {
        var w = ByteWriter(capacity: 22 + indices.count * 2)
        w.u8(chunkRequest); w.u32(UInt32(clamping: tick)); w.raw(root.bytes)
        w.u8(UInt8(indices.count))
        for i in indices { w.u16(UInt16(i)) }
        return w.bytes
    }

    static func decodeChunkRequest(_ bytes: [UInt8]) throws(WireError) -> (tick: Int, root: TransferDigest, indices: [Int]) {
        var r = ByteReader(bytes)
        guard try r.u8() == chunkRequest else { throw .invalidValue(field: "chunkRequest.type") }
        let tick = Int(try r.u32())
        let root = TransferDigest(bytes: try r.raw(16))
        let n = Int(try r.u8())
        guard (1...maxChunksPerRequest).contains(n) else { throw .invalidValue(field: "chunkRequest.count") }
        var indices: [Int] = []
        for _ in 0..<n {
            let i = Int(try r.u16())
            guard i < CheckpointTree.maxChunks else { throw .invalidValue(field: "chunkRequest.index") }
            indices.append(i)
        }
        try r.expectEnd()
        return (tick, root, indices)
    }

    static func encodeChunk(tick: Int, root: TransferDigest, index: Int, proof: [TransferDigest], data: [UInt8]) -> [UInt8] {
        var w = ByteWriter(capacity: 30 + proof.count * 16 + data.count)
        w.u8(chunk); w.u32(UInt32(clamping: tick)); w.raw(root.bytes); w.u16(UInt16(index))
        w.u8(UInt8(proof.count))
        for p in proof { w.raw(p.bytes) }
        w.lengthPrefixed(data)
        return w.bytes
    }

    static func decodeChunk(_ bytes: [UInt8]) throws(WireError) -> (tick: Int, root: TransferDigest, index: Int, proof: [TransferDigest], data: [UInt8]) {
        var r = ByteReader(bytes)
        guard try r.u8() == chunk else { throw .invalidValue(field: "chunk.type") }
        let tick = Int(try r.u32())
        let root = TransferDigest(bytes: try r.raw(16))
        let index = Int(try r.u16())
        guard index < CheckpointTree.maxChunks else { throw .invalidValue(field: "chunk.index") }
        let n = Int(try r.u8())
        guard n <= 10 else { throw .invalidValue(field: "chunk.proof") }
        var proof: [TransferDigest] = []
        for _ in 0..<n { proof.append(TransferDigest(bytes: try r.raw(16))) }
        let data = try r.lengthPrefixed(field: "chunk.data", limit: CheckpointTree.chunkSize)
        try r.expectEnd()
        return (tick, root, index, proof, data)
    }

    /// `u8 type=13 | u32 configuration digest | [u8 slot]`: a late spectator's request, or with
    /// `slot` a newcomer's request to fill that open slot (or its holder's to come back).
    static func encodeJoinRequest(digest: UInt32, slot: Int? = nil) -> [UInt8] {
        var w = ByteWriter(capacity: 6)
        w.u8(joinRequest); w.u32(digest)
        if let slot { w.u8(UInt8(slot)) }
        return w.bytes
    }

    static func decodeJoinRequest(_ bytes: [UInt8]) throws(WireError) -> (digest: UInt32, slot: Int?) {
        var r = ByteReader(bytes)
        guard try r.u8() == joinRequest else { throw .invalidValue(field: "joinRequest.type") }
        let digest = try r.u32()
        let slot = r.remaining == 1 ? Int(try r.u8()) : nil
        try r.expectEnd()
        return (digest, slot)
    }
}

/// A holder's side of state transfer: the checkpoints it serves (at most two, for a minute each)
/// and the rate it serves them at: at most ``chunksPerSecondPerPeer`` chunks a second to one
/// newcomer and ``chunksPerSecond`` to all together, so newcomers never crowd out the frames. A
/// player serves spectators at most ``playerChunksPerSecondToSpectators`` chunk copies a second,
/// all together (a chunk for a peer that is not one of its links is flooded: one copy per link):
/// its upload is for the game, and the spectators that resumed serve each other at the full rate.
struct CheckpointServer: Sendable {
    static let chunksPerSecond = 240
    static let chunksPerSecondPerPeer = 120
    static let playerChunksPerSecondToSpectators = 8
    static let lifetime: Duration = .seconds(60)

    var held: [(tree: CheckpointTree, tick: Int, since: Duration)] = []
    var second: Int64 = -1
    var sent = 0
    var sentToSpectators = 0
    var sentTo: [PeerKey: Int] = [:]
    /// Chunk bytes sent, all newcomers together.
    var bytesServed = 0

    mutating func hold(_ bytes: [UInt8], tick: Int, now: Duration) -> CheckpointOffer? {
        guard bytes.count <= SessionCheckpoint.maxBytes else { return nil }
        held.removeAll { now - $0.since > Self.lifetime || $0.tick == tick }
        held.append((CheckpointTree(bytes: bytes), tick, now))
        if held.count > 2 { held.removeFirst() }
        return newest
    }

    /// The newest checkpoint held, if any.
    var newest: CheckpointOffer? { held.last.map { CheckpointOffer(tick: $0.tick, size: $0.tree.bytes.count, root: $0.tree.root) } }

    /// The chunks `payload` asks for, within the rates (the rest are left for the requester to
    /// ask again). `spectatorCopies`, when we play and `peer` only watches: the datagrams each
    /// chunk for it costs us, charged to the spectators' budget.
    mutating func answer(_ payload: [UInt8], from peer: PeerKey, now: Duration, spectatorCopies: Int? = nil) -> [[UInt8]] {
        guard let req = try? SessionWire.decodeChunkRequest(payload),
            let h = held.last(where: { $0.tick == req.tick && $0.tree.root == req.root })
        else { return [] }
        let s = now.components.seconds
        if s != second { second = s; sent = 0; sentToSpectators = 0; sentTo = [:] }
        var out: [[UInt8]] = []
        for i in req.indices where i < h.tree.chunkCount {
            guard sent < Self.chunksPerSecond, sentTo[peer, default: 0] < Self.chunksPerSecondPerPeer, sentTo.count <= 64 || sentTo[peer] != nil else { break }
            if let copies = spectatorCopies {
                // At least one chunk a second even across the mesh: a newcomer with no holder on
                // its links is slowed, never stranded.
                let cost = min(max(1, copies), Self.playerChunksPerSecondToSpectators)
                guard sentToSpectators + cost <= Self.playerChunksPerSecondToSpectators else { break }
                sentToSpectators += cost
            }
            sent += 1
            sentTo[peer, default: 0] += 1
            let data = h.tree.chunk(i)
            bytesServed += data.count
            out.append(SessionWire.encodeChunk(tick: h.tick, root: h.tree.root, index: i, proof: h.tree.proof(i), data: data))
        }
        return out
    }
}

/// A newcomer's side of state transfer (sans-IO): it takes offers from the roster's players,
/// picks a checkpoint that `vouchers` distinct players offered alike, asks the holders for its
/// chunks in turn (each chunk again from the next holder when it has not arrived within
/// ``retry``), checks every chunk against the root, and hands over the bytes once all arrived.
///
/// Holders among the newcomer's mesh links (``near``: players, or spectators that resumed from
/// the same checkpoint) come first: a request to any other peer crosses the whole mesh. Of the
/// vouched checkpoints it takes one with a near holder, else the newest; it asks far holders
/// only when no near one appeared within ``farWait``.
struct CheckpointFetch: Sendable {
    static let retry: Duration = .milliseconds(250)
    /// How long a newcomer without a holder among its links waits for one before asking holders
    /// across the mesh.
    static let farWait: Duration = .seconds(1)
    /// Chunks asked for and not yet arrived, at most.
    static let window = 64
    /// Up to this many chunks due, they are asked of two holders at once.
    static let askedTwiceUpTo = 4

    let vouchers: Int
    /// Offers of older checkpoints are ignored (one was set aside as not ours to resume from).
    var minTick = 0
    var offers: [PeerKey: CheckpointOffer] = [:]
    /// Offerers whose offers count as vouchers (roster players).
    var vouchedBy: Set<PeerKey> = []
    /// The newcomer's mesh links now.
    var near: Set<PeerKey> = []
    /// The oldest next tick of the players' frames the newcomer kept: the inputs from there on
    /// arrive live, so a checkpoint from there on needs nothing the players must send again.
    var liveFrom: Int?
    var chosen: CheckpointOffer?
    var chosenAt: Duration = .zero
    /// When the chosen checkpoint was chosen or last brought a new chunk.
    var progressAt: Duration = .zero
    var holders: [PeerKey] = []
    var bad: Set<PeerKey> = []
    var chunks: [[UInt8]?] = []
    var askedAt: [Duration?] = []
    var nextHolder = 0
    /// Bytes of verified chunks received.
    var bytesReceived = 0
    /// Chunks that failed their proof.
    var rejectedChunks = 0

    init(vouchers: Int) { self.vouchers = max(1, vouchers) }

    /// A fresh fetch for a checkpoint after `tick`, once the one at `tick` was set aside (not
    /// ours to resume from). It keeps what does not depend on the checkpoint: our links (a
    /// fetch that forgot them would wait ``farWait`` before asking anyone, until the links
    /// change), the frames kept, the holders that lied, and the counts.
    func afterSettingAside(tick: Int) -> CheckpointFetch {
        var next = CheckpointFetch(vouchers: vouchers)
        next.minTick = tick + 1
        next.near = near
        next.liveFrom = liveFrom
        next.bad = bad
        next.bytesReceived = bytesReceived
        next.rejectedChunks = rejectedChunks
        return next
    }

    /// Notes `offer` from `holder`: a roster player `vouches` for it; anyone else may only
    /// serve it. Returns true when the checkpoint to fetch changed (the fetch starts, or a better
    /// one replaces one whose chunks have not started arriving). At most 256 offerers are
    /// remembered.
    mutating func note(_ offer: CheckpointOffer, from holder: PeerKey, vouches: Bool = true, now: Duration = .zero) -> Bool {
        guard !bad.contains(holder), offer.tick >= minTick, offers[holder] != nil || offers.count < 256 else { return false }
        offers[holder] = offer
        if vouches { vouchedBy.insert(holder) }
        if let c = chosen { holders = backers(of: c) }
        // Once chunks arrive the checkpoint stays (offers are flooded for every newcomer, and
        // restarting on each would never finish), unless no holder of it is left.
        if chosen != nil, chunks.contains(where: { $0 != nil }), !holders.isEmpty { return false }
        guard let best = bestVouched(), best != chosen else { return false }
        chosen = best
        chosenAt = now
        progressAt = now
        holders = backers(of: best)
        let n = CheckpointTree.chunkCount(size: best.size)
        chunks = Array(repeating: nil, count: n)
        askedAt = Array(repeating: nil, count: n)
        return true
    }

    /// The offerers of `offer` still in good standing, sorted.
    func backers(of offer: CheckpointOffer) -> [PeerKey] {
        offers.filter { $0.value == offer && !bad.contains($0.key) }.map(\.key).sorted()
    }

    /// Of the checkpoints `vouchers` players offered alike, one with a holder among our links
    /// (if it is not older than the frames we kept: ``liveFrom``), else the newest.
    func bestVouched() -> CheckpointOffer? {
        // One pass over the offerers (at most 256): each checkpoint's vouchers, and whether a
        // holder of it is on our links.
        var tally: [CheckpointOffer: (vouchers: Int, near: Bool)] = [:]
        for (holder, offer) in offers where !bad.contains(holder) {
            var t = tally[offer, default: (0, false)]
            if vouchedBy.contains(holder) { t.vouchers += 1 }
            if near.contains(holder) { t.near = true }
            tally[offer] = t
        }
        func close(_ o: CheckpointOffer, _ t: (vouchers: Int, near: Bool)) -> Bool { t.near && liveFrom.map { o.tick >= $0 } == true }
        return tally.filter { $0.value.vouchers >= vouchers }.max { a, b in
            let nearA = close(a.key, a.value), nearB = close(b.key, b.value)
            if nearA != nearB { return !nearA }
            if a.key.tick != b.key.tick { return a.key.tick < b.key.tick }
            return a.key.root.bytes.lexicographicallyPrecedes(b.key.root.bytes)
        }?.key
    }

    /// Chunk requests due at `now`: missing chunks not asked for within ``retry``, spread over
    /// the holders among our links (over every holder once ``farWait`` passed without one), at
    /// most ``window`` outstanding; up to ``askedTwiceUpTo`` of them, from two holders at once.
    mutating func requests(now: Duration) -> [(to: PeerKey, payload: [UInt8])] {
        guard let c = chosen, !holders.isEmpty else { return [] }
        let close = holders.filter(near.contains)
        guard !close.isEmpty || now - chosenAt >= Self.farWait else { return [] }
        let pool = close.isEmpty ? holders : close
        var due: [Int] = []
        var outstanding = 0
        for i in chunks.indices where chunks[i] == nil {
            if let at = askedAt[i], now - at < Self.retry { outstanding += 1; continue }
            due.append(i)
        }
        due = Array(due.prefix(max(0, Self.window - outstanding)))
        guard !due.isEmpty else { return [] }
        var out: [(PeerKey, [UInt8])] = []
        // A few chunks due (a small checkpoint, or the last ones of a big one): all from two
        // holders at once. At 28% loss a request and its answer both arrive about one time in
        // two, and each lost round costs a ``retry``; a newcomer has about two seconds past its
        // checkpoint before the players give up on it.
        if due.count <= Self.askedTwiceUpTo, pool.count >= 2 {
            for i in due { askedAt[i] = now }
            let request = SessionWire.encodeChunkRequest(tick: c.tick, root: c.root, indices: due)
            for _ in 0..<2 {
                out.append((pool[nextHolder % pool.count], request))
                nextHolder += 1
            }
            return out
        }
        // Spread over every holder at once, at most 16 chunks per request.
        let size = min(16, (due.count + pool.count - 1) / pool.count)
        var start = 0
        while start < due.count {
            let batch = Array(due[start..<min(due.count, start + size)])
            start += batch.count
            let holder = pool[nextHolder % pool.count]
            nextHolder += 1
            for i in batch { askedAt[i] = now }
            out.append((holder, SessionWire.encodeChunkRequest(tick: c.tick, root: c.root, indices: batch)))
        }
        return out
    }

    /// A chunk from `holder`; a chunk that fails its proof marks the holder bad.
    mutating func receive(_ payload: [UInt8], from holder: PeerKey, now: Duration = .zero) {
        guard let c = chosen, let m = try? SessionWire.decodeChunk(payload), m.tick == c.tick, m.root == c.root,
            m.index < chunks.count, chunks[m.index] == nil
        else { return }
        guard CheckpointTree.verify(chunk: m.data, index: m.index, proof: m.proof, size: c.size, root: c.root) else {
            rejectedChunks += 1
            bad.insert(holder)
            holders.removeAll { $0 == holder }
            return
        }
        chunks[m.index] = m.data
        bytesReceived += m.data.count
        progressAt = max(progressAt, now)
    }

    /// Whether a checkpoint is chosen and was chosen, or brought a chunk, within `window`: the
    /// fetch is under way and needs no new offers.
    func isProgressing(now: Duration, within window: Duration) -> Bool {
        chosen != nil && !holders.isEmpty && now - progressAt < window
    }

    /// The whole checkpoint once every chunk arrived.
    var complete: [UInt8]? {
        guard chosen != nil, !chunks.isEmpty, chunks.allSatisfy({ $0 != nil }) else { return nil }
        return chunks.flatMap { $0! }
    }

    /// Chunks received of the chosen checkpoint, and how many it has.
    var progress: (received: Int, total: Int) { (chunks.count(where: { $0 != nil }), chunks.count) }
}
