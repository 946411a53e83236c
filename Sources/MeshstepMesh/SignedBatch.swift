import Crypto
import MeshstepWire

/// One Ed25519 signature over many flooded messages (docs/PROTOCOL.md §5.4a).
///
/// The origin builds a hash tree over the batch: a leaf per message (a fresh random salt of the
/// batch, then the message's bytes as it would sign it alone), padded to 2^depth leaves; it signs
/// the root once, and every message carries that signature, the salt and the sibling hashes from
/// its own leaf to the root (``BatchProof``). A receiver rebuilds the root from the message and
/// its proof (`depth` hashes) and checks the signature once per batch: the roots it verified are
/// remembered (``VerifiedBatches``). Each message stands alone: a lost one takes nothing from the
/// others. The salt keeps anyone who can choose what an honest origin batches from preparing two
/// payloads with one leaf in advance: 128-bit hashes resist a second preimage, not a collision.
enum SignedBatch {
    /// Leaves of a hash tree of `count` messages: the smallest power of two that holds them,
    /// as depth 1...``Wire/maxBatchDepth``.
    static func depth(for count: Int) -> Int {
        var d = 1
        while 1 << d < count { d += 1 }
        return d
    }

    /// `H(0x00 ‖ salt ‖ bytes)`: the leaf of a message whose signed bytes, were it signed alone,
    /// are `bytes`, in the batch with `salt`.
    static func leaf(salt: [UInt8], _ bytes: [UInt8]) -> [UInt8] {
        var h = SHA256()
        withUnsafeBytes(of: UInt8(0x00)) { h.update(bufferPointer: $0) }
        salt.withUnsafeBytes { h.update(bufferPointer: $0) }
        bytes.withUnsafeBytes { h.update(bufferPointer: $0) }
        return BatchHash(h.finalize()).bytes
    }

    /// The leaf of message `seq` of `origin` with `payload` (a broadcast) in the batch with
    /// `salt`: ``leaf(salt:_:)`` of its signed bytes, hashed from the fields in place (every
    /// relay does this for every message of a batch).
    static func leaf(salt: [UInt8], meshDigest: [UInt8], origin: PeerKey, seq: UInt64, destination: PeerKey?, payload: [UInt8]) -> BatchHash {
        FloodMessage.withSignedHeader(meshDigest: meshDigest, origin: origin, seq: seq, destination: destination, payloadCount: payload.count) { header in
            // 0x00 ‖ salt ‖ header in one update, the payload in another.
            withUnsafeTemporaryAllocation(byteCount: 1 + salt.count + header.count, alignment: 8) { block in
                block[0] = 0x00
                salt.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: block[1..<(1 + salt.count)]).copyMemory(from: $0) }
                UnsafeMutableRawBufferPointer(rebasing: block[(1 + salt.count)...]).copyMemory(from: header)
                var h = SHA256()
                h.update(bufferPointer: UnsafeRawBufferPointer(block))
                payload.withUnsafeBytes { h.update(bufferPointer: $0) }
                return BatchHash(h.finalize())
            }
        }
    }

    /// The leaf of `m` in the batch with `salt` (``leaf(salt:meshDigest:origin:seq:destination:payload:)``).
    static func leaf(of m: FloodMessage, salt: [UInt8], meshDigest: [UInt8]) -> BatchHash {
        leaf(salt: salt, meshDigest: meshDigest, origin: m.origin, seq: m.seq, destination: m.destination, payload: m.payload)
    }

    /// `H(0x02)`: the leaves that pad a batch to 2^depth.
    static let emptyLeafHash: BatchHash = {
        var h = SHA256()
        withUnsafeBytes(of: UInt8(0x02)) { h.update(bufferPointer: $0) }
        return BatchHash(h.finalize())
    }()

    /// ``emptyLeafHash`` as bytes.
    static var emptyLeaf: [UInt8] { emptyLeafHash.bytes }

    /// `H(0x01 ‖ left ‖ right)`: an inner node.
    static func node(_ left: BatchHash, _ right: BatchHash) -> BatchHash {
        // 0x01 then the two children: 33 bytes assembled on the stack.
        withUnsafeTemporaryAllocation(byteCount: 1 + 2 * Wire.batchHashSize, alignment: 8) { b in
            b[0] = 0x01
            left.store(into: b, at: 1)
            right.store(into: b, at: 1 + Wire.batchHashSize)
            var h = SHA256()
            h.update(bufferPointer: UnsafeRawBufferPointer(b))
            return BatchHash(h.finalize())
        }
    }

    /// The parent of leaf `index`'s ancestor on `level` (`child`) and its `sibling`: which side
    /// each goes on is bit `level` of the index.
    static func parent(of child: BatchHash, sibling: BatchHash, level: Int, index: Int) -> BatchHash {
        (index >> level) & 1 == 0 ? node(child, sibling) : node(sibling, child)
    }

    /// The root over `leaves` (at most 2^depth) and each leaf's path: the sibling hashes from
    /// the leaf up, `depth` × 16 bytes.
    static func tree(_ leaves: [BatchHash], depth: Int) -> (root: BatchHash, paths: [[UInt8]]) {
        let n = Wire.batchHashSize
        var level = leaves
        level.reserveCapacity(1 << depth)
        while level.count < 1 << depth { level.append(emptyLeafHash) }
        // All paths in one buffer, leaf i's at [i * depth * n ..< (i + 1) * depth * n].
        var flat = [UInt8](repeating: 0, count: leaves.count * depth * n)
        flat.withUnsafeMutableBytes { out in
            for l in 0..<depth {
                // Leaf i's ancestor on this level is node i >> l; its sibling goes on the path.
                for i in 0..<leaves.count {
                    level[(i >> l) ^ 1].store(into: out, at: (i * depth + l) * n)
                }
                for j in 0..<(level.count / 2) { level[j] = node(level[2 * j], level[2 * j + 1]) }
                level.removeLast(level.count / 2)
            }
        }
        let paths = (0..<leaves.count).map { Array(flat[($0 * depth * n)..<(($0 + 1) * depth * n)]) }
        return (level[0], paths)
    }

    /// ``tree(_:depth:)`` over leaves given as bytes (16 each).
    static func tree(_ leaves: [[UInt8]], depth: Int) -> (root: [UInt8], paths: [[UInt8]]) {
        let (root, paths) = tree(leaves.map { BatchHash(bytes: $0)! }, depth: depth)
        return (root.bytes, paths)
    }

    /// The root that `proof` leads to from `leaf`; nil when the path has the wrong length (the
    /// decoder never lets one through). Every relay runs this on every message of a batch.
    static func root(leaf: BatchHash, proof: BatchProof) -> BatchHash? {
        let n = Wire.batchHashSize
        guard proof.path.count == Int(proof.depth) * n else { return nil }
        var current = leaf
        proof.path.withUnsafeBytes { path in
            for level in 0..<Int(proof.depth) {
                let sibling = BatchHash(loadingFrom: path, at: level * n)
                current = parent(of: current, sibling: sibling, level: level, index: Int(proof.index))
            }
        }
        return current
    }

    /// ``root(leaf:proof:)`` from a leaf given as bytes; nil for a leaf of the wrong length too.
    static func root(leaf: [UInt8], proof: BatchProof) -> [UInt8]? {
        guard let hash = BatchHash(bytes: leaf) else { return nil }
        return root(leaf: hash, proof: proof)?.bytes
    }

    /// What the origin signs for a batch: `"meshstep-flood-batch-v1" ‖ meshDigest ‖ origin ‖
    /// u8 depth ‖ root`.
    static func signedBytes(meshDigest: [UInt8], origin: PeerKey, depth: Int, root: BatchHash) -> [UInt8] {
        var w = ByteWriter(capacity: 96)
        w.raw(signedLabel)
        w.raw(meshDigest)
        w.raw(origin.bytes)
        w.u8(UInt8(depth))
        w.raw(root.bytes)
        return w.bytes
    }

    /// ``signedBytes(meshDigest:origin:depth:root:)`` with the root given as bytes.
    static func signedBytes(meshDigest: [UInt8], origin: PeerKey, depth: Int, root: [UInt8]) -> [UInt8] {
        signedBytes(meshDigest: meshDigest, origin: origin, depth: depth, root: BatchHash(bytes: root)!)
    }

    /// The domain label that starts what the origin signs for a batch.
    static let signedLabel = Array("meshstep-flood-batch-v1".utf8)
}

/// A 16-byte hash of a batch's tree (a SHA-256 prefix) held inline: no array per node, and a
/// cheap dictionary key. Its two words hold the bytes in memory order.
struct BatchHash: Hashable, Sendable {
    var first: UInt64
    var second: UInt64

    init(first: UInt64, second: UInt64) {
        self.first = first
        self.second = second
    }

    /// The first 16 bytes of `digest`.
    init(_ digest: SHA256Digest) {
        (first, second) = withDigestBytes(digest) {
            ($0.loadUnaligned(fromByteOffset: 0, as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        }
    }

    /// The 16 bytes at `offset` of `buffer` (which must hold them).
    init(loadingFrom buffer: UnsafeRawBufferPointer, at offset: Int) {
        first = buffer.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
        second = buffer.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)
    }

    /// `bytes` as a hash; nil unless there are 16.
    init?(bytes: [UInt8]) {
        guard bytes.count == Wire.batchHashSize else { return nil }
        self = bytes.withUnsafeBytes { BatchHash(loadingFrom: $0, at: 0) }
    }

    /// Writes the 16 bytes at `offset` of `buffer` (which must have room).
    func store(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) {
        buffer.storeBytes(of: first, toByteOffset: offset, as: UInt64.self)
        buffer.storeBytes(of: second, toByteOffset: offset + 8, as: UInt64.self)
    }

    var bytes: [UInt8] { withUnsafeBytes(of: self) { Array($0) } }
}

/// Batch roots whose signatures this node checked, each with the signature bytes that proved it:
/// a message whose rebuilt root is here under its own signature bytes needs no check. (Other
/// bytes over a known root are checked afresh: passed on as they are, they would fail at the
/// next node, which would charge us.) At most ``capacity``, the oldest forgotten first: a
/// forgotten root costs one more check.
struct VerifiedBatches: Sendable {
    struct Key: Hashable, Sendable {
        var origin: PeerKey
        var depth: UInt8
        var root: BatchHash
        var signature: [UInt8]
    }

    static var capacity: Int { 256 }
    private var keys: Set<Key> = []
    private var order: [Key] = []
    private var next = 0

    func contains(_ key: Key) -> Bool { keys.contains(key) }

    mutating func insert(_ key: Key) {
        guard !keys.contains(key) else { return }
        if order.count < Self.capacity {
            order.append(key)
        } else {
            keys.remove(order[next])
            order[next] = key
            next = (next + 1) % Self.capacity
        }
        keys.insert(key)
    }
}

/// The tree nodes of recently verified batches: every node on a verified message's path to its
/// signed root, and every sibling hash its proof gave, is authentic (a second preimage of
/// SHA-256/128 aside). A later message of the batch is authentic when its leaf, hashed up until
/// it meets a known node, equals that node, and its proof's remaining siblings equal the known
/// ones (checked so that we never pass on a proof that fails at the next node). Messages of a
/// batch arrive in order, so most need one or two node hashes instead of `depth`. Each kept node
/// stays the hash of its kept children: a path that contradicts one (which only a collision the
/// origin searched for among its own payloads makes) is left to the full check, or, once
/// verified, starts its tree afresh. Holds the last ``capacity`` batches, the oldest replaced
/// first.
struct BatchTreeCache: Sendable {
    struct Tree: Sendable {
        var origin: PeerKey
        var depth: Int
        var signature: [UInt8]
        /// Level by level from the leaves: level `l` holds 2^(depth - l) nodes.
        var nodes: [BatchHash]
        var known: [Bool]

        init(origin: PeerKey, depth: Int, signature: [UInt8], root: BatchHash) {
            self.origin = origin
            self.depth = depth
            self.signature = signature
            let count = (1 << (depth + 1)) - 1
            nodes = Array(repeating: BatchHash(first: 0, second: 0), count: count)
            known = Array(repeating: false, count: count)
            set(level: depth, position: 0, root)
        }

        func slot(level: Int, position: Int) -> Int { (1 << (depth + 1)) - (1 << (depth + 1 - level)) + position }

        func node(level: Int, position: Int) -> BatchHash? {
            let s = slot(level: level, position: position)
            return known[s] ? nodes[s] : nil
        }

        mutating func set(level: Int, position: Int, _ value: BatchHash) {
            let s = slot(level: level, position: position)
            nodes[s] = value
            known[s] = true
        }
    }

    static var capacity: Int { 8 }
    private var trees: [Tree] = []
    private var next = 0

    /// Whether `leaf` with `proof` is a message of a batch of `origin` signed with `signature`
    /// that is held here. Nodes it authenticates are kept.
    mutating func authenticates(leaf: BatchHash, proof: BatchProof, origin: PeerKey, signature: [UInt8]) -> Bool {
        let depth = Int(proof.depth)
        guard (1...Wire.maxBatchDepth).contains(depth), Int(proof.index) < 1 << depth, proof.path.count == depth * Wire.batchHashSize,
            let t = trees.firstIndex(where: { $0.origin == origin && $0.depth == depth && $0.signature == signature })
        else { return false }
        let index = Int(proof.index)
        return proof.path.withUnsafeBytes { path -> Bool in
            func sibling(_ level: Int) -> BatchHash { BatchHash(loadingFrom: path, at: level * Wire.batchHashSize) }
            var current = leaf
            var level = 0
            // Up until a known node (the root is always known).
            while trees[t].node(level: level, position: index >> level) == nil {
                let s = sibling(level)
                current = SignedBatch.parent(of: current, sibling: s, level: level, index: index)
                level += 1
            }
            guard trees[t].node(level: level, position: index >> level) == current else { return false }
            for above in level..<depth where trees[t].node(level: above, position: (index >> above) ^ 1) != sibling(above) { return false }
            // A known sibling below that differs would mean two subtrees under one node (a
            // collision the origin chose): left to the full check, the tree kept consistent.
            for below in 0..<level {
                if let known = trees[t].node(level: below, position: (index >> below) ^ 1), known != sibling(below) { return false }
            }
            // Authentic: keep the nodes below the meeting point and their siblings.
            var value = leaf
            for below in 0..<level {
                trees[t].set(level: below, position: index >> below, value)
                let s = sibling(below)
                trees[t].set(level: below, position: (index >> below) ^ 1, s)
                value = SignedBatch.parent(of: value, sibling: s, level: below, index: index)
            }
            return true
        }
    }

    /// Keeps the path of a message whose batch root was just verified (`proof` leads from `leaf`
    /// to `root`), starting a tree for its batch if none is held.
    mutating func remember(leaf: BatchHash, proof: BatchProof, root: BatchHash, origin: PeerKey, signature: [UInt8]) {
        let depth = Int(proof.depth)
        guard (1...Wire.maxBatchDepth).contains(depth), Int(proof.index) < 1 << depth, proof.path.count == depth * Wire.batchHashSize else { return }
        func fresh() -> Tree { Tree(origin: origin, depth: depth, signature: signature, root: root) }
        let t: Int
        if let found = trees.firstIndex(where: { $0.origin == origin && $0.depth == depth && $0.signature == signature }) {
            // Another root under the same signature bytes: keep only the newest verified.
            if trees[found].node(level: depth, position: 0) != root { trees[found] = fresh() }
            t = found
        } else if trees.count < Self.capacity {
            trees.append(fresh())
            t = trees.count - 1
        } else {
            trees[next] = fresh()
            t = next
            next = (next + 1) % Self.capacity
        }
        let index = Int(proof.index)
        // The path's nodes and siblings, level by level.
        var nodes: [(level: Int, position: Int, value: BatchHash)] = []
        nodes.reserveCapacity(2 * depth)
        proof.path.withUnsafeBytes { path in
            var value = leaf
            for level in 0..<depth {
                let s = BatchHash(loadingFrom: path, at: level * Wire.batchHashSize)
                nodes.append((level, index >> level, value))
                nodes.append((level, (index >> level) ^ 1, s))
                value = SignedBatch.parent(of: value, sibling: s, level: level, index: index)
            }
        }
        // A path that contradicts a kept node leads to the same root only through a collision
        // (which an origin can search for among its own payloads): start the tree afresh from
        // this path, so that every kept node stays the hash of its kept children.
        if nodes.contains(where: { n in trees[t].node(level: n.level, position: n.position).map { $0 != n.value } ?? false }) { trees[t] = fresh() }
        for n in nodes { trees[t].set(level: n.level, position: n.position, n.value) }
    }
}
