// Micro-benchmarks of the protocol's hot paths on ordo-one/benchmark, with the crypto they call
// measured in the same run as the baseline (ratios travel between machines; microseconds do not).
// Run: MESHSTEP_BENCHMARKS=1 swift package --disable-sandbox benchmark --target MeshstepMicro
// (add `--format jmh` for JSON). docs/BENCHMARKS.md records the figures.
import Benchmark
import Crypto
@_spi(Adversary) import MeshstepMesh
import MeshstepBots
import MeshstepLockstep
import MeshstepSimulation
import MeshstepWire

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .throughput],
        timeUnits: .microseconds, warmupIterations: 3, maxDuration: .seconds(2), maxIterations: 100_000)

    // MARK: Baselines: the crypto every datagram pays for
    let signer = Curve25519.Signing.PrivateKey()
    let message = [UInt8](repeating: 7, count: 120)
    let signature = try! signer.signature(for: message)
    Benchmark("Ed25519 verify (baseline)") { b in
        for _ in b.scaledIterations { blackHole(signer.publicKey.isValidSignature(signature, for: message)) }
    }
    Benchmark("Ed25519 sign") { b in
        for _ in b.scaledIterations { blackHole(try! signer.signature(for: message)) }
    }
    let hmacKey = SymmetricKey(size: .bits256)
    let linkBytes = [UInt8](repeating: 1, count: 200)
    Benchmark("HMAC-SHA256 over 200 bytes (link tag)", configuration: .init(timeUnits: .nanoseconds, scalingFactor: .kilo)) { b in
        for _ in b.scaledIterations { blackHole(HMAC<SHA256>.authenticationCode(for: linkBytes, using: hmacKey)) }
    }

    // MARK: Codec
    let flood = FloodMessage(
        hopLimit: 32, hops: 1, origin: PeerKey(bytes: Array(signer.publicKey.rawRepresentation)), seq: 12345,
        destination: nil, payload: [UInt8](repeating: 3, count: 64), signature: Array(signature))
    let encoded = Datagram.encode(.flood(flood)) + [UInt8](repeating: 0, count: 16)
    Benchmark("encode flood datagram (64-byte payload)", configuration: .init(timeUnits: .nanoseconds, scalingFactor: .kilo)) { b in
        for _ in b.scaledIterations { blackHole(Datagram.encode(.flood(flood))) }
    }
    Benchmark("decode flood datagram (64-byte payload)", configuration: .init(timeUnits: .nanoseconds, scalingFactor: .kilo)) { b in
        for _ in b.scaledIterations { blackHole(try? Datagram.decode(encoded)) }
    }

    // MARK: One node with 6 neighbors handling flooded messages (one datagram per sample; the
    // other nodes' signing and sealing is outside the measurement)
    let hub = FloodHub()
    Benchmark("mesh: new message (tag, limits, dedup, verify, forward to 5)") { b in
        let datagram = hub.nextNew()
        b.startMeasurement()
        hub.receive(datagram)
        b.stopMeasurement()
        precondition(hub.node.stats.forged == 0 && hub.node.stats.delivered == hub.seq, "not the delivery path: \(hub.node.stats)")
    }
    // The same node taking messages of signed batches of 32 (`broadcast(batch:now:)`): the first
    // of each batch costs a verify, the other 31 the proof's hashes against the remembered root.
    let batchHub = FloodHub()
    Benchmark("mesh: new message of a signed batch of 32 (tag, limits, dedup, proof, forward to 5)") { b in
        let datagram = batchHub.nextBatched()
        b.startMeasurement()
        batchHub.receive(datagram)
        b.stopMeasurement()
        precondition(batchHub.node.stats.forged == 0 && batchHub.node.stats.delivered == batchHub.seq, "not the delivery path: \(batchHub.node.stats)")
    }
    Benchmark("mesh: duplicate from another neighbor (tag, limits, dedup)", configuration: .init(timeUnits: .nanoseconds)) { b in
        let datagram = hub.nextDuplicate()
        let delivered = hub.node.stats.delivered
        b.startMeasurement()
        hub.receive(datagram)
        b.stopMeasurement()
        precondition(hub.node.stats.delivered == delivered, "not the duplicate path: \(hub.node.stats)")
    }

    // MARK: One lockstep tick of one peer, full security, without the simulator
    for players in [8, 16] {
        let room = try! TickRoom(players: players)
        Benchmark("lockstep tick of one peer, \(players) players (full security)") { b in
            let inbound = try room.othersSubmit()
            b.startMeasurement()
            let out = try room.peerZero(inbound)
            b.stopMeasurement()
            room.deliver(out)
            precondition(room.sessions[0].nextTick >= room.ticks - 4, "ticks were not applied: \(room.sessions[0].nextTick) of \(room.ticks)")
        }
    }
}

/// A hub node with six linked neighbors, fed pre-sealed flooded messages of a remote origin
/// (relayed by neighbor 1), and copies of recent ones from the other neighbors.
// The benchmark runs one closure at a time: the fixtures are never shared between threads.
final class FloodHub: @unchecked Sendable {
    var node: MeshNode
    var sender: MeshNode
    var duplicateSenders: [MeshNode]
    var origin: MeshNode
    var seq = 0
    /// Sealed datagrams of the origin's latest signed batch not yet fed.
    var batched: [[UInt8]] = []
    var now: MeshTime
    var recent: [FloodMessage] = []

    init() {
        let sim = MeshSimulator(seed: 1)
        var config = MeshConfiguration()
        config.idealNeighbors = 6
        config.maxNeighbors = 8
        config.inboundLimit = RateLimit(
            messagesPerSecond: 10_000_000, messageBurst: 10_000_000, bytesPerSecond: 1_000_000_000, byteBurst: 1_000_000_000)
        config.outboundLimit = config.inboundLimit
        config.originLimit = config.inboundLimit
        let creds = try! MeshCredentials(meshID: "bench", access: .password("pw"))
        for _ in 0..<7 { _ = try! sim.addNode(credentials: creds, configuration: config) }
        sim.start(0)
        for i in 1..<7 {
            sim.start(i)
            sim.withNode(i) { mesh, now in
                mesh.addCandidates([Referral(peer: sim.node(0)!.key, address: MeshSimulator.address(of: 0))], now: now)
            }
        }
        sim.run(for: .seconds(3))
        node = sim.node(0)!
        precondition(node.neighborCount == 6, "bench topology did not form: \(node.neighborCount) neighbors")
        sender = sim.node(1)!
        duplicateSenders = (3...6).map { sim.node($0)! }
        origin = sim.node(2)!
        now = sim.now
    }

    /// A new message of the remote origin, relayed by neighbor 1.
    func nextNew() -> (bytes: [UInt8], from: MeshAddress) {
        seq += 1
        let m = origin.craftFlood(seq: UInt64(seq), payload: [UInt8](repeating: UInt8(seq & 0xFF), count: 64))
        recent.append(m)
        if recent.count > 200 { recent.removeFirst(100) }
        return (sender.seal(.flood(m), to: node.key)!.bytes, MeshSimulator.address(of: 1))
    }

    /// The next message of the remote origin's signed batches of 32 (its own sequence numbers:
    /// a hub fed these is fed nothing else), relayed by neighbor 1.
    func nextBatched() -> (bytes: [UInt8], from: MeshAddress) {
        if batched.isEmpty {
            let payloads = (0..<32).map { k in [UInt8](repeating: UInt8((seq + k) & 0xFF), count: 64) }
            let seqs = try! origin.broadcast(batch: payloads, now: now).seqs
            batched = seqs.map { sender.seal(.flood(origin.storedMessage(MessageRef(origin: origin.key, seq: $0))!), to: node.key)!.bytes }
        }
        seq += 1
        return (batched.removeFirst(), MeshSimulator.address(of: 1))
    }

    /// A copy of a recent message from one of the four other neighbors.
    func nextDuplicate() -> (bytes: [UInt8], from: MeshAddress) {
        while recent.count < 100 { receive(nextNew()) }
        dupCursor += 1
        let j = dupCursor % duplicateSenders.count
        let m = recent[recent.count - 1 - dupCursor % min(100, recent.count)]
        return (duplicateSenders[j].seal(.flood(m), to: node.key)!.bytes, MeshSimulator.address(of: 3 + j))
    }

    func receive(_ d: (bytes: [UInt8], from: MeshAddress)) {
        now = now + .microseconds(50)
        blackHole(node.receive(d.bytes, from: d.from, now: now))
    }

    var dupCursor = 0
}

/// The work of one peer for one 60 Hz tick in an N-player session: receive the other N-1
/// players' frames (link tag, limits, dedup, decode, lockstep), apply the tick, submit its own
/// input (frame, origin signature, one tagged datagram per link). The other peers' work (done
/// on their own machines) is outside the measured section.
final class TickRoom: @unchecked Sendable {
    let players: Int
    var nodes: [MeshNode]
    var sessions: [LockstepSession<Move>]
    var slotOf: [PeerKey: Int] = [:]
    var now: MeshTime
    var ticks = 0

    init(players: Int) throws {
        self.players = players
        let scenario = BotsScenario(players: players, ticks: 1, loss: 0, latency: .milliseconds(1), jitter: .zero, seed: 1)
        let sim = MeshSimulator(seed: 9)
        let creds = try MeshCredentials(meshID: "tick", access: .password("tick"))
        for _ in 0..<players { try sim.addNode(credentials: creds, configuration: scenario.meshConfiguration()) }
        for i in 0..<players {
            sim.start(i)
            let others = (0..<players).filter { $0 != i }.map { Referral(peer: sim.node($0)!.key, address: MeshSimulator.address(of: $0)) }
            sim.withNode(i) { mesh, now in mesh.addCandidates(others, now: now) }
        }
        sim.run(for: .seconds(3))
        precondition((0..<players).allSatisfy { sim.node($0)!.neighborInfo.count == players - 1 }, "full mesh not formed")
        nodes = (0..<players).map { sim.node($0)! }
        let config = LockstepConfiguration(players: players).withInputDelay(3)
        let identities = nodes.map(\.identity)
        let descriptor = SessionDescriptor(name: "tick", keys: nodes.map(\.key.bytes), configuration: config, gameSeed: 1)
        sessions = try (0..<players).map { i in
            let identity = identities[i]
            return LockstepSession<Move>(
                configuration: config, role: .player(i),
                keys: try SessionKeys(descriptor: descriptor, signer: { @Sendable in identity.sign($0) }))
        }
        for i in 0..<players { slotOf[nodes[i].key] = i }
        now = sim.now
        for i in 0..<players { _ = sessions[i].pollReady() }
    }

    /// The other players' frames for the next tick, as datagrams addressed to peer 0 (their
    /// work, done on their own machines); they also hear each other.
    func othersSubmit() throws -> [(bytes: [UInt8], from: MeshAddress)] {
        now = now + .milliseconds(16)
        var inbound: [(bytes: [UInt8], from: MeshAddress)] = []
        var frames: [(slot: Int, payload: [UInt8])] = []
        for j in 1..<players {
            for _ in sessions[j].pollReady() {}
            let frame = sessions[j].submit(Move(direction: UInt8(ticks % 8), boost: false), now: now - .zero)
            frames.append((j, frame))
            for case let .send(bytes, to) in try nodes[j].broadcast(frame, now: now).actions where to == MeshSimulator.address(of: 0) {
                inbound.append((bytes, MeshSimulator.address(of: j)))
            }
        }
        for (j, frame) in frames {
            for k in 1..<players where k != j { _ = try? sessions[k].receive(frame, fromSlot: j, now: now - .zero) }
        }
        return inbound
    }

    /// Peer 0's work for the tick: the measured part.
    func peerZero(_ inbound: [(bytes: [UInt8], from: MeshAddress)]) throws -> [MeshAction] {
        for d in inbound {
            for case let .deliver(m) in nodes[0].receive(d.bytes, from: d.from, now: now) {
                _ = try? sessions[0].receive(m.payload, fromSlot: slotOf[m.origin]!, now: now - .zero)
            }
        }
        for _ in sessions[0].pollReady() {}
        let mine = sessions[0].submit(Move(direction: 1, boost: false), now: now - .zero)
        return try nodes[0].broadcast(mine, now: now).actions
    }

    /// Peer 0's frame reaches the others (their work).
    func deliver(_ out: [MeshAction]) {
        for case let .send(bytes, to) in out {
            guard let j = (1..<players).first(where: { MeshSimulator.address(of: $0) == to }) else { continue }
            for case let .deliver(m) in nodes[j].receive(bytes, from: MeshSimulator.address(of: 0), now: now) {
                _ = try? sessions[j].receive(m.payload, fromSlot: 0, now: now - .zero)
            }
        }
        ticks += 1
    }
}

struct Move: LockstepInput {
    var direction: UInt8
    var boost: Bool
    static let neutral = Move(direction: 8, boost: false)
    func encode(into w: inout ByteWriter) { w.u8(direction | (boost ? 0x80 : 0)) }
    static func decode(from r: inout ByteReader) throws(WireError) -> Move {
        let b = try r.u8()
        return Move(direction: b & 0x7F, boost: b & 0x80 != 0)
    }
}
