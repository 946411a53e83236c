// Micro-benchmarks of the mesh protocol's hot paths, against the cost of the crypto they call,
// measured in the same run. Run: swift run -c release meshstep-bench
import Crypto
import Foundation
@_spi(Adversary) import MeshstepMesh
import MeshstepSimulation
import MeshstepWire

func pad(_ s: String) -> String { s.padding(toLength: 56, withPad: " ", startingAt: 0) }

@MainActor func measure(_ label: String, iterations: Int, _ body: (Int) -> Void) -> Double {
    // One warm-up pass, then the best of three timed passes (the machine is noisy).
    body(0)
    var best = Double.infinity
    for _ in 0..<3 {
        let start = ContinuousClock.now
        for i in 0..<iterations { body(i) }
        let elapsed = ContinuousClock.now - start
        best = min(best, Double(elapsed.components.attoseconds) / 1e12 + Double(elapsed.components.seconds) * 1e6)
    }
    let perOp = best / Double(iterations)
    print(pad(label) + String(format: "%9.2f us/op", perOp))
    return perOp
}

var sink = 0

// MARK: Crypto baselines
let signer = Curve25519.Signing.PrivateKey()
let message = [UInt8](repeating: 7, count: 120)
let signature = try! signer.signature(for: message)
let verifyUS = measure("Ed25519 verify (baseline)", iterations: 4000) { _ in
    if signer.publicKey.isValidSignature(signature, for: message) { sink += 1 }
}
_ = measure("Ed25519 sign", iterations: 4000) { _ in sink += (try! signer.signature(for: message)).count }
let hmacKey = SymmetricKey(size: .bits256)
_ = measure("HMAC-SHA256 over 200 bytes (link tag)", iterations: 100_000) { _ in
    sink += HMAC<SHA256>.authenticationCode(for: [UInt8](repeating: 1, count: 200), using: hmacKey).byteCount
}

// MARK: Codec
let flood = FloodMessage(hopLimit: 32, hops: 1, origin: PeerKey(bytes: Array(signer.publicKey.rawRepresentation)), seq: 12345,
                         destination: nil, payload: [UInt8](repeating: 3, count: 64), signature: Array(signature))
let encoded = Datagram.encode(.flood(flood)) + [UInt8](repeating: 0, count: 16)
_ = measure("encode flood datagram (64-byte payload)", iterations: 200_000) { _ in sink += Datagram.encode(.flood(flood)).count }
_ = measure("decode flood datagram (64-byte payload)", iterations: 200_000) { _ in sink += (try? Datagram.decode(encoded)) != nil ? 1 : 0 }

// MARK: Protocol: one node with 6 neighbors handling flooded messages
var config = MeshConfiguration()
config.idealNeighbors = 6
config.maxNeighbors = 8
config.inboundLimit = RateLimit(messagesPerSecond: 10_000_000, messageBurst: 10_000_000, bytesPerSecond: 1_000_000_000, byteBurst: 1_000_000_000)
config.outboundLimit = config.inboundLimit
config.originLimit = config.inboundLimit
let creds = try MeshCredentials(meshID: "bench", access: .password("pw"))
let sim = MeshSimulator(seed: 1)
for _ in 0..<7 { try sim.addNode(credentials: creds, configuration: config) }
sim.start(0)
for i in 1..<7 {
    sim.start(i)
    sim.withNode(i) { mesh, now in mesh.addCandidates([Referral(peer: sim.node(0)!.key, address: MeshSimulator.address(of: 0))], now: now) }
}
sim.run(for: .seconds(3))
let hub = sim.node(0)!
precondition(hub.neighborCount == 6, "bench topology did not form: \(hub.neighborCount) neighbors")
var sender = sim.node(1)!
let count = 20_000
// Messages from a remote origin (node 2), relayed to the hub by node 1: pre-signed and pre-sealed.
let origin = sim.node(2)!
let datagrams: [[UInt8]] = (0..<count).map { k in
    let m = origin.craftFlood(seq: UInt64(k + 1), payload: [UInt8](repeating: UInt8(k & 0xFF), count: 64))
    return sender.seal(.flood(m), to: hub.key)!.bytes
}
// Copies of the newest 256 messages (the duplicate window) from the four other neighbors.
let dupSenders = [3, 4, 5, 6]
let dupDatagrams: [[[UInt8]]] = dupSenders.map { j in
    var neighbor = sim.node(j)!
    return (count - 256..<count).map { k in
        let m = origin.craftFlood(seq: UInt64(k + 1), payload: [UInt8](repeating: UInt8(k & 0xFF), count: 64))
        return neighbor.seal(.flood(m), to: hub.key)!.bytes
    }
}

/// Feeds every datagram once to `node` (50 us of virtual time apart) and returns us per datagram.
@MainActor func timeReceive(_ node: inout MeshNode, _ list: [[UInt8]], from: MeshAddress, at start: inout MeshTime) -> Double {
    let begin = ContinuousClock.now
    for d in list {
        start = start + .microseconds(50)
        sink += node.receive(d, from: from, now: start).count
    }
    let e = ContinuousClock.now - begin
    return (Double(e.components.seconds) * 1e6 + Double(e.components.attoseconds) / 1e12) / Double(list.count)
}

var best = (new: Double.infinity, dup: Double.infinity)
var t = sim.now
for _ in 0..<3 {
    var node = hub
    best.new = min(best.new, timeReceive(&node, datagrams, from: MeshSimulator.address(of: 1), at: &t))
    var dup = 0.0
    for (j, list) in zip(dupSenders, dupDatagrams) { dup += timeReceive(&node, list, from: MeshSimulator.address(of: j), at: &t) / Double(dupSenders.count) }
    best.dup = min(best.dup, dup)
    precondition(node.stats.delivered == count && node.stats.duplicates == 256 * dupSenders.count,
                 "bench did not exercise the intended paths: \(node.stats)")
}
print(pad("new message: tag, limits, dedup, verify, forward to 5") + String(format: "%9.2f us/op  (%.2fx one Ed25519 verify)", best.new, best.new / verifyUS))
print(pad("duplicate from another neighbor: tag, limits, dedup") + String(format: "%9.2f us/op  (%.2fx one Ed25519 verify)", best.dup, best.dup / verifyUS))
print(String(format: "protocol overhead beyond the signature check: %.2f us per new message", best.new - verifyUS))
if sink == 42 { print("") }
