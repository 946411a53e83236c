import Crypto
import Foundation
import Testing
@_spi(Adversary) @testable import MeshstepMesh
import MeshstepWire

@Suite("Signed batches: one signature over many flooded messages")
struct SignedBatchTests {
    func line() throws -> Net { try Net.line() }

    func payloads(_ n: Int) -> [[UInt8]] { (0..<n).map { [UInt8(truncatingIfNeeded: $0), 0xAB, UInt8(truncatingIfNeeded: $0 >> 8)] } }

    @Test("every leaf's path leads to the root, and only from its own index", arguments: [2, 3, 5, 8, 33, 64])
    func tree(count: Int) throws {
        let salt = [UInt8](repeating: 7, count: 16)
        let leaves = (0..<count).map { SignedBatch.leaf(salt: salt, [UInt8(truncatingIfNeeded: $0), 1, 2]) }
        let depth = SignedBatch.depth(for: count)
        #expect(1 << depth >= count && (depth == 1 || 1 << (depth - 1) < count))
        let (root, paths) = SignedBatch.tree(leaves, depth: depth)
        for i in 0..<count {
            let proof = BatchProof(depth: UInt8(depth), index: UInt8(i), salt: salt, path: paths[i])
            #expect(SignedBatch.root(leaf: leaves[i], proof: proof) == root)
            var moved = proof
            moved.index = UInt8((i + 1) % (1 << depth))
            #expect(SignedBatch.root(leaf: leaves[i], proof: moved) != root)
            #expect(SignedBatch.root(leaf: leaves[(i + 1) % count], proof: proof) != root)
        }
        // Another salt, another root.
        let resalted = (0..<count).map { SignedBatch.leaf(salt: [UInt8](repeating: 8, count: 16), [UInt8(truncatingIfNeeded: $0), 1, 2]) }
        #expect(SignedBatch.tree(resalted, depth: depth).root != root)
        // A path of the wrong length leads nowhere.
        #expect(SignedBatch.root(leaf: leaves[0], proof: BatchProof(depth: UInt8(depth), index: 0, salt: salt, path: [1, 2, 3])) == nil)
    }

    @Test("a leaf hashed from a message's fields is the leaf of its signed bytes", arguments: [0, 1, 127, 128, 300, 1200])
    func leafFromFields(payloadSize: Int) throws {
        let salt = (0..<16).map { UInt8($0 * 3) }
        let digest = (0..<16).map { UInt8(0x40 + $0) }
        let origin = PeerKey(bytes: (0..<32).map { UInt8(255 - $0) })
        let payload = (0..<payloadSize).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        for destination in [nil, PeerKey(bytes: [UInt8](repeating: 0xC3, count: 32))] {
            for seq: UInt64 in [1, 0x0102_0304_0506_0708] {
                let signed = FloodMessage.signedBytes(meshDigest: digest, origin: origin, seq: seq, destination: destination, payload: payload)
                // The signed bytes as docs/PROTOCOL.md spells them.
                var w = ByteWriter()
                w.raw(Array("meshstep-flood-v1".utf8))
                w.raw(digest)
                w.raw(origin.bytes)
                w.u64(seq)
                if let destination { w.u8(1); w.raw(destination.bytes) } else { w.u8(0) }
                w.lengthPrefixed(payload)
                #expect(signed == w.bytes)
                let fast = SignedBatch.leaf(salt: salt, meshDigest: digest, origin: origin, seq: seq, destination: destination, payload: payload)
                #expect(fast.bytes == SignedBatch.leaf(salt: salt, signed))
            }
        }
    }

    @Test("the tree cache takes a batch's later messages on known nodes, and nothing with a changed leaf, sibling, index or signature")
    func treeCache() throws {
        let salt = [UInt8](repeating: 9, count: 16)
        let depth = 3
        let leaves = (0..<8).map { SignedBatch.leaf(salt: salt, [UInt8($0), 0xEE]) }.map { BatchHash(bytes: $0)! }
        let (root, paths) = SignedBatch.tree(leaves, depth: depth)
        let origin = PeerKey(bytes: [UInt8](repeating: 0x31, count: 32))
        let signature = [UInt8](repeating: 0x44, count: 64)
        func proof(_ i: Int, path: [UInt8]? = nil) -> BatchProof { BatchProof(depth: UInt8(depth), index: UInt8(i), salt: salt, path: path ?? paths[i]) }
        var cache = BatchTreeCache()
        func auth(leaf: BatchHash, proof: BatchProof, origin: PeerKey, signature: [UInt8]) -> Bool {
            cache.authenticates(leaf: leaf, proof: proof, origin: origin, signature: signature)
        }
        // Nothing is known before a verified path.
        #expect(!auth(leaf: leaves[5], proof: proof(5), origin: origin, signature: signature))
        cache.remember(leaf: leaves[5], proof: proof(5), root: root, origin: origin, signature: signature)
        // Another signature (or origin) is another batch.
        #expect(!auth(leaf: leaves[4], proof: proof(4), origin: origin, signature: [UInt8](repeating: 0x45, count: 64)))
        #expect(!auth(leaf: leaves[4], proof: proof(4), origin: PeerKey(bytes: [UInt8](repeating: 0x32, count: 32)), signature: signature))
        // A changed sibling above the meeting point would fail at the next node: refused.
        for i in [0, 2, 7] {
            var path = paths[i]
            path[path.count - 1] ^= 1
            #expect(!auth(leaf: leaves[i], proof: proof(i, path: path), origin: origin, signature: signature))
            var low = paths[i]
            low[0] ^= 1
            #expect(!auth(leaf: leaves[i], proof: proof(i, path: low), origin: origin, signature: signature))
        }
        // Another leaf at a position, or a leaf at another position: refused.
        #expect(!auth(leaf: leaves[3], proof: proof(4), origin: origin, signature: signature))
        #expect(!auth(leaf: leaves[4], proof: proof(3), origin: origin, signature: signature))
        #expect(!auth(leaf: leaves[0], proof: BatchProof(depth: UInt8(depth), index: 8, salt: salt, path: paths[0]), origin: origin, signature: signature))
        // Every true message of the batch, in any order.
        for i in [4, 0, 1, 7, 2, 3, 6, 5] {
            #expect(auth(leaf: leaves[i], proof: proof(i), origin: origin, signature: signature))
        }
    }

    @Test("a verified path that contradicts kept nodes (a collision the origin found) starts the tree afresh: no stale node vouches for a proof")
    func treeCacheStaysConsistent() throws {
        let salt = [UInt8](repeating: 3, count: 16)
        let hashes = (0..<4).map { BatchHash(bytes: SignedBatch.leaf(salt: salt, [UInt8($0), 0x77]))! }
        let (a, b) = (hashes[0], hashes[1])
        let (root, paths) = SignedBatch.tree(hashes, depth: 2)
        let origin = PeerKey(bytes: [UInt8](repeating: 0x51, count: 32))
        let signature = [UInt8](repeating: 0x66, count: 64)
        var cache = BatchTreeCache()
        cache.remember(leaf: a, proof: BatchProof(depth: 2, index: 0, salt: salt, path: paths[0]), root: root, origin: origin, signature: signature)
        // As if the origin had found leaves 2' and 3' and a node N' with H(N' ‖ H(2' ‖ 3')) = root:
        // the caller verified that root, so `remember` takes the path as it comes.
        let (leaf2, x, nPrime) = (BatchHash(first: 2, second: 2), BatchHash(first: 3, second: 3), BatchHash(first: 4, second: 4))
        let mPrime = SignedBatch.node(leaf2, x)
        cache.remember(
            leaf: leaf2, proof: BatchProof(depth: 2, index: 2, salt: salt, path: x.bytes + nPrime.bytes), root: root, origin: origin, signature: signature)
        // Leaf b with a path under the new right subtree leads nowhere honest nodes accept; kept
        // a and b from before the collision must not vouch for it.
        let ok = cache.authenticates(
            leaf: b, proof: BatchProof(depth: 2, index: 1, salt: salt, path: a.bytes + mPrime.bytes), origin: origin, signature: signature)
        #expect(!ok)
    }

    @Test("the tree, path and signed bytes are those of docs/PROTOCOL.md §5.7 byte for byte")
    func knownAnswers() throws {
        func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }
        let salt = [UInt8](repeating: 0x5A, count: 16)
        let leaves = ["m0", "m1", "m2"].map { SignedBatch.leaf(salt: salt, Array($0.utf8)) }
        #expect(leaves.map(hex) == ["0d674ffc4a47f0ab28cd2a78e79575a2", "46d92324c606c834cc2bff07d6a2de53", "eddcd5b00d420193a3eaf1df0412c01f"])
        #expect(hex(SignedBatch.emptyLeaf) == "dbc1b4c900ffe48d575b5da5c6380401")
        let (root, paths) = SignedBatch.tree(leaves, depth: 2)
        #expect(hex(root) == "35b3dc02b6561d3dd5ff7485e3b2740e")
        #expect(hex(paths[2]) == "dbc1b4c900ffe48d575b5da5c63804015cd3d997c21224473b536f86097be01d")
        #expect(SignedBatch.root(leaf: leaves[2], proof: BatchProof(depth: 2, index: 2, salt: salt, path: paths[2])) == root)
        let signed = SignedBatch.signedBytes(
            meshDigest: [UInt8](repeating: 0x11, count: 16), origin: PeerKey(bytes: [UInt8](repeating: 0x22, count: 32)), depth: 2, root: root)
        #expect(signed.count == 88)
        #expect(hex(Array(SHA256.hash(data: signed))) == "1d088889357d636bc731f5e25240d1eefc18de7270354b9a42b9955b352cd763")
    }

    @Test("a batch crosses a relay: every message delivered once and in order, one signature check per node per 256")
    func crossesRelay() throws {
        var net = try line()
        let checks = net.nodes.map(\.stats.signatureChecks)
        let sent = payloads(260)
        let (seqs, actions) = try net.nodes[0].broadcast(batch: sent, now: net.now)
        net.apply(actions, from: 0)
        net.flush()
        #expect(seqs == Array(1...260))
        #expect(net.delivered[1].map(\.payload) == sent)
        #expect(net.delivered[2].map(\.payload) == sent)
        #expect(net.delivered[2].map(\.seq) == Array(1...260))
        // 256 under one signature and 4 under another: two checks at the relay and at the end.
        #expect(net.nodes[1].stats.signatureChecks - checks[1] == 2)
        #expect(net.nodes[2].stats.signatureChecks - checks[2] == 2)
        #expect(net.nodes[2].stats.batchProofsAccepted == 258)
        #expect(net.nodes[1].stats.forwarded == 260)
        #expect(net.nodes.allSatisfy { $0.stats.forged == 0 })
        // A batch of one is a message signed alone.
        let one = try net.nodes[0].broadcast(batch: [[1]], now: net.now)
        net.apply(one.actions, from: 0)
        net.flush()
        #expect(net.nodes[2].storedMessage(MessageRef(origin: net.nodes[0].key, seq: 261))?.proof == nil)
        #expect(net.delivered[2].last?.payload == [1])
    }

    @Test(
        "a batch goes out several messages to a datagram, and a relay forwards it the same way: each message delivered once, in order, the allowances charged per message"
    )
    func packedIntoFloodsDatagrams() throws {
        var net = try line()
        let sent = payloads(32).map { $0 + [UInt8](repeating: 0xCD, count: 97) }  // 100-byte payloads
        let (_, actions) = try net.nodes[0].broadcast(batch: sent, now: net.now)
        net.apply(actions, from: 0)
        let fromOrigin = net.inFlightKinds
        // 32 messages of a batch take 6 to 7 datagrams of at most 1200 bytes, not 32.
        #expect(fromOrigin.allSatisfy { $0 == 0x16 } && (4...8).contains(fromOrigin.count), "\(fromOrigin)")
        #expect(net.wire.allSatisfy { $0.bytes.count <= 1200 })
        var relayed: [UInt8] = []
        while !net.wire.isEmpty {
            if net.wire[0].to == 2 { relayed.append(Datagram.peekKind(net.wire[0].bytes) ?? 0) }
            net.step()
        }
        #expect(relayed.count == fromOrigin.count && relayed.allSatisfy { $0 == 0x16 }, "\(relayed)")
        #expect(net.delivered[2].map(\.payload) == sent && net.delivered[1].map(\.payload) == sent)
        #expect(net.nodes[1].stats.forwarded == 32 && net.nodes[2].stats.rateLimited == 0)
        #expect(net.nodes[0].stats.datagramsSent < 12)
        // One message alone still goes as a Flood.
        _ = try net.broadcast(0, [9])
        #expect(net.inFlightKinds == [0x10])
    }

    @Test(
        "of a Floods datagram holding more messages than the receiver's inbound tokens, it takes as many as it has tokens for, counts the rest against the sender, and pulls them later"
    )
    func floodsBeyondTheInboundBurst() throws {
        var net = Net()
        for i in 0..<2 {
            try net.add {
                $0.minNeighbors = 1; $0.idealNeighbors = 1; $0.maxNeighbors = 1
                // The receiver admits bursts of 8 messages; the sender's own limits allow 64.
                if i == 1 { $0.inboundLimit = RateLimit(messagesPerSecond: 8, messageBurst: 8, bytesPerSecond: 1 << 20, byteBurst: 1 << 20) }
            }
        }
        net.link(0, 1)
        let (_, actions) = try net.nodes[0].broadcast(batch: payloads(12), now: net.now)
        net.apply(actions, from: 0)
        #expect(net.inFlightKinds == [0x16])
        let before = net.nodes[1].stats.rateLimited
        net.flush()
        #expect(net.nodes[1].stats.rateLimited == before + 1)
        let first = net.delivered[1].count
        #expect((1..<12).contains(first), "\(first) delivered at once")
        // The rest are pulled once the receiver's allowance refilled and a keepalive names them
        // (a full summary every 8 keepalives): nothing is lost, and the link stays.
        net.advance(.seconds(15))
        #expect(net.delivered[1].map(\.payload).sorted { $0.lexicographicallyPrecedes($1) } == payloads(12).sorted { $0.lexicographicallyPrecedes($1) })
        #expect(net.nodes[1].neighborInfo.first?.peer == net.nodes[0].key)
    }

    @Test("a batch message lost on the way is pulled later, and its proof checks on the root already verified")
    func lostMemberIsPulled() throws {
        var net = try line()
        let sent = payloads(4)
        let checks = net.nodes.map(\.stats.signatureChecks)
        let (_, actions) = try net.nodes[0].broadcast(batch: sent, now: net.now)
        net.apply(actions, from: 0)
        net.unpackFloods()
        // The third message's datagram to the relay is lost.
        let third = net.wire.indices.filter { net.wire[$0].to == 1 }[2]
        net.wire.remove(at: third)
        net.flush()
        #expect(net.delivered[2].map(\.payload) == [sent[0], sent[1], sent[3]])
        net.advance(.seconds(3))
        #expect(Set(net.delivered[2].map(\.payload)) == Set(sent))
        #expect(net.delivered[2].count == 4)
        #expect(net.nodes.allSatisfy { $0.stats.forged == 0 })
        // One check each for the whole batch, the pulled copy included.
        #expect(net.nodes[1].stats.signatureChecks - checks[1] == 1)
        #expect(net.nodes[2].stats.signatureChecks - checks[2] == 1)
        #expect(net.nodes[2].stats.batchProofsAccepted == 3)
    }

    @Test("batch messages taken from their origin on the link's word are checked once, when a pull asks for them")
    func uncheckedUntilServed() throws {
        // The relay delivers but passes nothing on: what its origin sends it is taken on the link.
        var net = Net()
        for i in 0..<3 {
            try net.add {
                $0.minNeighbors = 1; $0.idealNeighbors = 1; $0.maxNeighbors = 2
                if i == 1 { $0.propagationFilter = { _ in .local } }
            }
        }
        net.link(0, 1)
        net.link(2, 1)
        let checks = net.nodes.map(\.stats.signatureChecks)
        let sent = payloads(6)
        let (_, actions) = try net.nodes[0].broadcast(batch: sent, now: net.now)
        net.apply(actions, from: 0)
        net.flush()
        #expect(net.delivered[1].map(\.payload) == sent)
        #expect(net.nodes[1].stats.signatureChecks == checks[1])
        #expect(net.delivered[2].isEmpty)
        // Node 2 learns of them from the relay's keepalive summaries and pulls them: the relay
        // checks the batch once before it serves the first, and node 2 once for all six.
        net.advance(.seconds(4))
        #expect(Set(net.delivered[2].map(\.payload)) == Set(sent))
        #expect(net.nodes[1].stats.signatureChecks - checks[1] == 1)
        #expect(net.nodes[2].stats.signatureChecks - checks[2] == 1)
        #expect(net.nodes.allSatisfy { $0.stats.forged == 0 })
    }

    @Test("a batch message with an altered payload, a wrong path or other signature bytes is dropped, counted and costs its sender")
    func forgeries() throws {
        var net = try line()
        // Node 0's batch of 4 reaches the relay (node 1) and node 2, except its last message,
        // lost before the relay.
        let (_, actions) = try net.nodes[0].broadcast(batch: payloads(4), now: net.now)
        net.apply(actions, from: 0)
        net.unpackFloods()
        let last = try #require(net.wire.indices.last { net.wire[$0].to == 1 })
        net.wire.remove(at: last)
        net.flush()
        let origin = net.nodes[0].key
        let genuine = try #require(net.nodes[0].storedMessage(MessageRef(origin: origin, seq: 4)))
        #expect(net.nodes[2].storedMessage(MessageRef(origin: origin, seq: 4)) == nil)
        var forgeries: [FloodMessage] = []
        // Node 2, a member, offers the missing message altered three ways.
        var altered = genuine
        altered.payload = [6, 6, 6]
        forgeries.append(altered)
        var badPath = genuine
        badPath.proof!.path[0] ^= 1
        forgeries.append(badPath)
        // The root the relay verified, with other signature bytes: checked again, not waved through.
        var otherSignature = genuine
        otherSignature.signature[10] ^= 0x40
        forgeries.append(otherSignature)
        let checks = net.nodes[1].stats.signatureChecks
        for f in forgeries {
            let sealed = net.nodes[2].seal(.flood(f), to: net.nodes[1].key)
            net.wire.append((1, Net.address(2), try #require(sealed).bytes))
        }
        net.flush()
        #expect(net.nodes[1].stats.forged == 3)
        #expect(net.nodes[1].stats.signatureChecks - checks == 3)
        #expect(!net.delivered[1].contains { $0.seq == 4 })
        #expect(net.nodes[1].neighborInfo.first { $0.peer == net.nodes[2].key }?.misbehaviourScore == 75)
        // The genuine message is still taken after all that.
        let sealed = net.nodes[0].seal(.flood(genuine), to: net.nodes[1].key)
        net.wire.append((1, Net.address(0), try #require(sealed).bytes))
        net.flush()
        #expect(net.delivered[1].contains { $0.seq == 4 && $0.payload == genuine.payload })
    }

    @Test("a payload too large for a batch with its proof is refused before anything is sent")
    func tooLarge() throws {
        var net = try line()
        let limit = net.nodes[0].maxPayloadSize(inBatchOf: 40)
        // 1,026 less depth, index, salt and six 16-byte hashes.
        #expect(limit == 912)
        #expect(net.nodes[0].maxPayloadSize(inBatchOf: 1) == net.nodes[0].maxPayloadSize)
        let originated = net.nodes[0].stats.originated
        #expect(throws: MeshSendError.payloadTooLarge(size: limit + 1, limit: limit)) {
            _ = try net.nodes[0].broadcast(batch: Array(repeating: [1], count: 39) + [[UInt8](repeating: 0, count: limit + 1)], now: net.now)
        }
        #expect(net.nodes[0].stats.originated == originated)
        #expect(net.wire.isEmpty)
        // At the limit, the largest fits every datagram on the way.
        let (_, actions) = try net.nodes[0].broadcast(batch: Array(repeating: [UInt8](repeating: 3, count: limit), count: 40), now: net.now)
        net.apply(actions, from: 0)
        net.flush()
        #expect(net.delivered[2].count == 40)
    }
}
