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
        return h.finalize().withUnsafeBytes { Array($0.prefix(Wire.batchHashSize)) }
    }

    /// `H(0x02)`: the leaves that pad a batch to 2^depth.
    static let emptyLeaf: [UInt8] = {
        var h = SHA256()
        withUnsafeBytes(of: UInt8(0x02)) { h.update(bufferPointer: $0) }
        return h.finalize().withUnsafeBytes { Array($0.prefix(Wire.batchHashSize)) }
    }()

    /// `H(0x01 ‖ left ‖ right)`: an inner node.
    static func node(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Wire.batchHashSize)
        var block = [UInt8](repeating: 0, count: 1 + 2 * Wire.batchHashSize)
        block.withUnsafeMutableBytes { b in
            left.withUnsafeBytes { l in right.withUnsafeBytes { r in out.withUnsafeMutableBytes { hashNode(l, r, block: b, into: $0) } } }
        }
        return out
    }

    /// Writes `H(0x01 ‖ left ‖ right)` into `out`, with `block` (1 + 2 × 16 bytes) as room to
    /// assemble the input: what ``node(_:_:)`` and ``root(leaf:proof:)`` share.
    static func hashNode(
        _ left: UnsafeRawBufferPointer, _ right: UnsafeRawBufferPointer, block: UnsafeMutableRawBufferPointer, into out: UnsafeMutableRawBufferPointer
    ) {
        let n = Wire.batchHashSize
        block[0] = 0x01
        UnsafeMutableRawBufferPointer(rebasing: block[1..<(1 + n)]).copyMemory(from: left)
        UnsafeMutableRawBufferPointer(rebasing: block[(1 + n)..<(1 + 2 * n)]).copyMemory(from: right)
        var h = SHA256()
        h.update(bufferPointer: UnsafeRawBufferPointer(block))
        h.finalize().withUnsafeBytes { out.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
    }

    /// The root over `leaves` (at most 2^depth) and each leaf's path: the sibling hashes from
    /// the leaf up.
    static func tree(_ leaves: [[UInt8]], depth: Int) -> (root: [UInt8], paths: [[UInt8]]) {
        var level = leaves + Array(repeating: emptyLeaf, count: (1 << depth) - leaves.count)
        var paths = Array(repeating: [UInt8](), count: leaves.count)
        for l in 0..<depth {
            // Leaf i's ancestor on this level is node i >> l; its sibling goes on the path.
            for i in paths.indices { paths[i] += level[(i >> l) ^ 1] }
            var up: [[UInt8]] = []
            up.reserveCapacity(level.count / 2)
            for j in stride(from: 0, to: level.count, by: 2) { up.append(node(level[j], level[j + 1])) }
            level = up
        }
        return (level[0], paths)
    }

    /// The root that `proof` leads to from `leaf`; nil when the leaf or the path has the wrong
    /// length (the decoder never lets one through). Every relay runs this on every message of a
    /// batch, so each level's hash is written back in place, with no array per level.
    static func root(leaf: [UInt8], proof: BatchProof) -> [UInt8]? {
        let n = Wire.batchHashSize
        guard leaf.count == n, proof.path.count == Int(proof.depth) * n else { return nil }
        var block = [UInt8](repeating: 0, count: 1 + 2 * n)
        var current = leaf
        var next = leaf
        block.withUnsafeMutableBytes { b in
            proof.path.withUnsafeBytes { path in
                for level in 0..<Int(proof.depth) {
                    let sibling = UnsafeRawBufferPointer(rebasing: path[(level * n)..<((level + 1) * n)])
                    current.withUnsafeBytes { c in
                        next.withUnsafeMutableBytes { out in
                            if (Int(proof.index) >> level) & 1 == 0 {
                                hashNode(c, sibling, block: b, into: out)
                            } else {
                                hashNode(sibling, c, block: b, into: out)
                            }
                        }
                    }
                    swap(&current, &next)
                }
            }
        }
        return current
    }

    /// What the origin signs for a batch: `"meshstep-flood-batch-v1" ‖ meshDigest ‖ origin ‖
    /// u8 depth ‖ root`.
    static func signedBytes(meshDigest: [UInt8], origin: PeerKey, depth: Int, root: [UInt8]) -> [UInt8] {
        var w = ByteWriter(capacity: 96)
        w.raw(Array("meshstep-flood-batch-v1".utf8))
        w.raw(meshDigest)
        w.raw(origin.bytes)
        w.u8(UInt8(depth))
        w.raw(root)
        return w.bytes
    }
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
        var root: [UInt8]
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
