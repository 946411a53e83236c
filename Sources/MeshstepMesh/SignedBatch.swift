import Crypto
import MeshstepWire

/// One Ed25519 signature over many flooded messages (docs/PROTOCOL.md §5.4a).
///
/// The origin builds a hash tree over the batch: a leaf per message (its bytes as it would sign
/// it alone), padded to 2^depth leaves; it signs the root once, and every message carries that
/// signature and the sibling hashes from its own leaf to the root (``BatchProof``). A receiver
/// rebuilds the root from the message and its proof (`depth` hashes) and checks the signature
/// once per batch: the roots it verified are remembered (``VerifiedBatches``). Each message
/// stands alone: a lost one takes nothing from the others.
enum SignedBatch {
    /// Leaves of a hash tree of `count` messages: the smallest power of two that holds them,
    /// as depth 1...``Wire/maxBatchDepth``.
    static func depth(for count: Int) -> Int {
        var d = 1
        while 1 << d < count { d += 1 }
        return d
    }

    /// `H(0x00 ‖ bytes)`: the leaf of a message whose signed bytes, were it signed alone, are `bytes`.
    static func leaf(_ bytes: [UInt8]) -> [UInt8] { hash(0x00, bytes, []) }

    /// `H(0x01 ‖ left ‖ right)`: an inner node.
    static func node(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] { hash(0x01, left, right) }

    /// `H(0x02)`: the leaves that pad a batch to 2^depth.
    static let emptyLeaf: [UInt8] = hash(0x02, [], [])

    /// The first ``Wire/batchHashSize`` bytes of the SHA-256 of `prefix ‖ a ‖ b`.
    static func hash(_ prefix: UInt8, _ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
        var h = SHA256()
        withUnsafeBytes(of: prefix) { h.update(bufferPointer: $0) }
        a.withUnsafeBytes { h.update(bufferPointer: $0) }
        b.withUnsafeBytes { h.update(bufferPointer: $0) }
        return h.finalize().withUnsafeBytes { Array($0.prefix(Wire.batchHashSize)) }
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

    /// The root that `proof` leads to from `leaf`. (Every relay runs this on every message of a
    /// batch: one buffer holds `0x01 ‖ left ‖ right`, and each level's hash is written back into
    /// its place for the next, with no array per level.)
    static func root(leaf: [UInt8], proof: BatchProof) -> [UInt8] {
        let n = Wire.batchHashSize
        guard leaf.count == n, proof.path.count == Int(proof.depth) * n else { return [] }
        var block = [UInt8](repeating: 0x01, count: 1 + 2 * n)
        var current = leaf
        block.withUnsafeMutableBytes { b in
            proof.path.withUnsafeBytes { path in
                for level in 0..<Int(proof.depth) {
                    let sibling = UnsafeRawBufferPointer(rebasing: path[(level * n)..<((level + 1) * n)])
                    let left = (Int(proof.index) >> level) & 1 == 0
                    current.withUnsafeBytes { c in
                        UnsafeMutableRawBufferPointer(rebasing: b[(left ? 1 : 1 + n)...]).copyMemory(from: c)
                    }
                    UnsafeMutableRawBufferPointer(rebasing: b[(left ? 1 + n : 1)...]).copyMemory(from: sibling)
                    var h = SHA256()
                    h.update(bufferPointer: UnsafeRawBufferPointer(b))
                    h.finalize().withUnsafeBytes { d in
                        current.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: d[0..<n])) }
                    }
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

/// Batch roots whose signatures this node checked, each with the signature that proved it (a
/// message naming a known root with other signature bytes is checked afresh: passed on as it
/// is, it would fail at the next node, which would charge us). At most ``capacity``, the
/// oldest forgotten first: a forgotten root costs one more signature check.
struct VerifiedBatches: Sendable {
    struct Key: Hashable, Sendable {
        var origin: PeerKey
        var depth: UInt8
        var root: [UInt8]
    }

    static var capacity: Int { 256 }
    private var signatures: [Key: [UInt8]] = [:]
    private var order: [Key] = []
    private var next = 0

    /// Whether `key`'s root was verified with exactly `signature`.
    func contains(_ key: Key, signature: [UInt8]) -> Bool { signatures[key] == signature }

    mutating func insert(_ key: Key, signature: [UInt8]) {
        guard signatures[key] == nil else { return }
        if order.count < Self.capacity {
            order.append(key)
        } else {
            signatures[order[next]] = nil
            order[next] = key
            next = (next + 1) % Self.capacity
        }
        signatures[key] = signature
    }
}
