import Foundation
@_spi(Adversary) import MeshstepMesh
import MeshstepResolver
import MeshstepWire

/// How the one misbehaving node of a flood run attacks.
public enum AttackKind: String, Sendable, CaseIterable, Codable {
    /// Sends 100 times its inbound allowance of valid, signed messages to every neighbor.
    case flood
    /// Sends messages claiming other origins, and altered copies of relayed messages.
    case forge
    /// Re-sends messages it received earlier, over and over.
    case replay
    /// A member passes on messages of honest signed batches with their payload altered, a path
    /// hash flipped or other signature bytes under sequence numbers its neighbors have not seen,
    /// and every batch message it relays at once with other signature bytes (the same root,
    /// which its neighbors may have verified): every copy must fail its own check, none taken
    /// on a remembered root (honest nodes then publish in batches of 8).
    case forgeBatch = "forge-batch"
    /// Tries to join with the wrong password.
    case wrongPassword = "wrong-password"
    /// Sends random bytes and link-tagged garbage.
    case malformed
    /// A member sends its own message with hop limit 1 and a junk signature straight to each
    /// neighbor (the direct path is taken on the link's word), then Grafts naming it 24 times a
    /// datagram, to make the neighbor verify the signature again and again.
    case graftVerify = "graft-verify"
    /// A member announces (IHave) messages that do not exist, 24 a datagram, to fill the
    /// neighbors' pull tables so that honest announcements find no room.
    case iHaveFlood = "ihave-flood"
    /// A member sends validly signed messages with payloads over the mesh's limit (in datagrams
    /// under the datagram limit).
    case oversized
    /// An off-path attacker (it knows every node's address and public key, not the password, and
    /// sees no traffic) sprays Confirms spoofed from honest nodes' addresses naming their keys,
    /// and junk Welcomes spoofed from honest nodes' addresses, to break honest handshakes.
    case spoofHandshake = "spoof-handshake"
    /// Every node registers at and resolves through a real resolver in the simulated network.
    /// An attacker without the password, who knows the mesh's resolver ID, sprays registrations
    /// under throwaway keys from spoofed source addresses (and from its own, within its rate
    /// limit), each claiming an address where nothing listens: to fill the mesh's places and
    /// to steer joiners' Connects to an address of its choosing.
    case resolverFill = "resolver-fill"
}

/// Parameters of a flood run: N nodes form a mesh through the protocol's own maintenance, then
/// honest nodes flood M messages; the run measures delivery, redundancy, hops and latency.
public struct FloodScenario: Sendable {
    /// Nodes in the mesh, the attacker included (at least 2, or 4 with an attacker).
    public var nodes: Int
    /// Ideal neighbor count of every node (1...32); the minimum is half of it, the maximum two more.
    public var degree: Int
    /// Probability that a link loses a datagram, in [0, 1).
    public var loss: Double
    /// Honest messages to flood (at least 1), one every ``messageInterval``.
    public var messages: Int
    /// Seeds every random choice: equal parameters give an equal report (except `wall_seconds`).
    public var seed: UInt64
    /// How the last node misbehaves, or nil for an all-honest run.
    public var attacker: AttackKind?
    /// One-way base latency of every link.
    public var latency: Duration = .milliseconds(20)
    /// Extra delay per datagram, drawn uniformly from `0...jitter` (it also reorders).
    public var jitter: Duration = .milliseconds(10)
    /// Time between two honest messages (from random honest origins).
    public var messageInterval: Duration = .milliseconds(20)
    /// Time the mesh gets to form before the first message.
    public var warmup: Duration = .seconds(8)
    /// Time after the last message for stragglers.
    public var drain: Duration = .seconds(6)
    /// Bytes in each honest message (the first 8 hold the message number).
    public var payloadSize = 64
    /// How many distinct honest nodes publish (nil: any honest node, chosen per message). Games
    /// have few publishers sending many messages; each origin then gets a tree of its own.
    public var origins: Int?
    /// Baseline for comparison: every link pushes every message (no pruning), as in classic
    /// flooding (Peer Channel, gossipsub's mesh without IDONTWANT).
    public var pureFlooding = false
    /// Messages each publication floods at once, under one signature
    /// (`MeshNode.broadcast(batch:now:)`; 1 to 256, 1: each signed alone). The message rate stays
    /// one per ``messageInterval``: a publication of `batch` goes out every `batch` intervals.
    public var batch = 1
    /// Called about once per virtual second with the fraction done.
    public var progress: (@Sendable (Double) -> Void)?

    /// A scenario with the default timings and payload size; ``validate()`` checks the ranges.
    public init(nodes: Int, degree: Int, loss: Double, messages: Int, seed: UInt64, attacker: AttackKind? = nil) {
        self.nodes = nodes
        self.degree = degree
        self.loss = loss
        self.messages = messages
        self.seed = seed
        self.attacker = attacker
    }

    /// Messages per publication: ``batch``, or 8 against the batch forger (it needs batches to
    /// tamper with).
    var publication: Int { attacker == .forgeBatch && batch == 1 ? 8 : batch }

    /// The mesh configuration the scenario gives every node: ideal = degree.
    public func meshConfiguration() -> MeshConfiguration {
        var c = MeshConfiguration()
        c.idealNeighbors = degree
        c.minNeighbors = max(1, degree / 2)
        c.maxNeighbors = degree + 2
        // A low allowance keeps a 100x attack cheap to simulate; honest traffic here stays well under it.
        c.inboundLimit = RateLimit(messagesPerSecond: 300, messageBurst: 150, bytesPerSecond: 256 << 10, byteBurst: 128 << 10)
        c.outboundLimit = RateLimit(messagesPerSecond: 280, messageBurst: 140, bytesPerSecond: 240 << 10, byteBurst: 120 << 10)
        c.originLimit = RateLimit(messagesPerSecond: 50, messageBurst: 25, bytesPerSecond: 64 << 10, byteBurst: 32 << 10)
        if publication > 1 {
            // An origin's batches arrive as bursts, bunched further by repairs; a message over
            // the allowance is dropped for good (it counts as seen). Room for four batches.
            c.originLimit.messageBurst = max(25, 4 * publication)
            c.originLimit.byteBurst = max(32 << 10, 4 * publication * (payloadSize + 256))
        }
        if pureFlooding {
            // Pure flooding pushes every message on every link: allow for that load.
            c.minEagerLinks = 64
            c.inboundLimit = RateLimit(messagesPerSecond: 2000, messageBurst: 1000, bytesPerSecond: 2 << 20, byteBurst: 1 << 20)
            c.outboundLimit = c.inboundLimit
        }
        return c
    }

    /// - Throws: ``ScenarioSettingError`` for a flag out of range, `MeshstepMesh/MeshConfigurationError` for a mesh setting.
    public func validate() throws {
        guard nodes >= 2 else { throw ScenarioSettingError(flag: "--nodes", value: "\(nodes)", requirement: "at least 2") }
        guard degree >= 1, degree <= 32 else { throw ScenarioSettingError(flag: "--degree", value: "\(degree)", requirement: "1...32") }
        guard loss >= 0, loss < 1 else { throw ScenarioSettingError(flag: "--loss", value: "\(loss)", requirement: "in [0, 1)") }
        guard messages >= 1 else { throw ScenarioSettingError(flag: "--messages", value: "\(messages)", requirement: "at least 1") }
        if attacker != nil, nodes < 4 { throw ScenarioSettingError(flag: "--nodes", value: "\(nodes)", requirement: "at least 4 with --attacker") }
        if let origins, origins < 1 { throw ScenarioSettingError(flag: "--origins", value: "\(origins)", requirement: "at least 1") }
        guard (1...(1 << Wire.maxBatchDepth)).contains(batch) else {
            throw ScenarioSettingError(flag: "--batch", value: "\(batch)", requirement: "1...\(1 << Wire.maxBatchDepth)")
        }
        try meshConfiguration().validate()
    }
}

/// The outcome of a flood run. Field names are the JSON keys.
public struct FloodReport: Codable, Sendable, Equatable {
    /// Nodes in the run, the attacker included.
    public var nodes: Int
    /// Ideal neighbor count, as configured.
    public var degree: Int
    /// Per-datagram loss probability of every link, as configured.
    public var loss: Double
    /// Honest messages actually published (a refused send is not counted).
    public var messages: Int
    /// The run's seed.
    public var seed: UInt64
    /// Distinct publishers (0: any node).
    public var origins: Int
    /// "plumtree" (the protocol) or "flood" (the pure-flooding baseline).
    public var strategy: String
    /// Deliveries / (messages × (nodes − 1)).
    public var delivered_ratio: Double
    /// Mean over messages of copies received / (nodes − 1) − 1.
    public var rmr: Double
    /// Most hops any delivery took.
    public var ldh_max: Int
    /// The hop limit every node used (`MeshstepMesh/MeshConfiguration/hopLimit`).
    public var hop_limit: Int
    /// Diameter of the neighbor graph at the end (−1 if disconnected).
    public var diameter: Int
    /// Mean neighbor count of the live nodes at the end.
    public var mean_degree: Double
    /// Median send-to-delivery latency over all deliveries, in milliseconds of virtual time.
    public var latency_p50_ms: Double
    /// 99th percentile of the send-to-delivery latency, in milliseconds of virtual time.
    public var latency_p99_ms: Double
    /// Slowest delivery, in milliseconds of virtual time.
    public var latency_max_ms: Double
    /// Messages delivered twice to one application (must be 0).
    public var duplicate_deliveries: Int
    /// Deliveries whose payload differs from what the origin sent (must be 0).
    public var corrupt_deliveries: Int
    /// Missing messages given up on by pulls.
    public var lost: Int
    /// Datagrams sent by all nodes (the attacker's included), lost ones included.
    public var datagrams: Int
    /// Messages each publication flooded under one signature (``FloodScenario/batch``).
    public var batch = 1
    /// Ed25519 verifications by the honest nodes still running at the end, from the first
    /// publication on (handshakes before it excluded, later ones counted), per delivery to them:
    /// about 1 when each message is signed alone.
    public var signature_checks_per_delivery: Double = 0
    /// Simulated time the run covered (warmup, traffic and drain), in seconds.
    public var virtual_seconds: Double
    /// Real time the run took, in seconds: the only field that varies between equal runs.
    public var wall_seconds: Double
    /// The attack's ``AttackKind`` raw value (`wrong-password`...), or nil when every node was honest.
    public var attacker: String?
    /// Deliveries to honest nodes / (messages × (honest nodes − 1)). Nil without an attacker.
    public var honest_delivered_ratio: Double?
    /// Datagrams from the attacker that a node rejected or discarded as duplicates. Nil without an attacker.
    public var attack_rejected: Int?
    /// Whether the defences shut the attacker out: it never linked (wrong password), or every link
    /// it held longer than the rate-limit grace was cut for misbehaviour. Nil without an attacker.
    public var attacker_disconnected: Bool?
    /// Links to the attacker that honest nodes cut for misbehaviour or rate abuse.
    public var attacker_links_cut: Int?
    /// Honest nodes that delivered any message from the attacker's forged or altered set.
    public var attack_delivered: Int?
    /// Origin-signature verifications honest nodes made while handling the attacker's
    /// datagrams, per datagram it sent them (an amplification factor). Nil without an attacker.
    public var victim_verifications_per_attack_datagram: Double?
    /// Pairs of honest nodes where one was refused by the other for a failed authentication and
    /// the two never linked during the run. Nil without an attacker.
    public var honest_links_blocked: Int?
    /// `resolver-fill`: honest nodes registered at the resolver at the end of the run.
    public var honest_registered: Int?
    /// `resolver-fill`: registrations of the attacker's keys in the honest mesh at the end.
    public var attacker_registrations: Int?
    /// `resolver-fill`: datagrams honest nodes sent to the address the attacker planted.
    public var steered_datagrams: Int?
}

extension FloodScenario {
    /// Runs the scenario. Deterministic for a given set of parameters, except `wall_seconds`.
    public func run() throws -> FloodReport {
        try validate()
        let started = ContinuousClock.now
        let config = meshConfiguration()
        let credentials = try MeshCredentials(meshID: "flood-sim", access: .password("correct horse"))
        let sim = MeshSimulator(seed: seed, defaultLink: LinkModel(latency: latency, jitter: jitter, loss: loss))
        defer { sim.stop() }  // observers and scripts capture the simulator: break the cycle
        let attackerIndex: Int? = attacker.map { _ in nodes - 1 }
        for i in 0..<nodes {
            var creds = credentials
            if i == attackerIndex, attacker == .wrongPassword || attacker == .spoofHandshake || attacker == .resolverFill {
                creds = try MeshCredentials(meshID: "flood-sim", access: .password("wrong guess"))
            }
            try sim.addNode(credentials: creds, configuration: config)
        }
        let honest = (0..<nodes).filter { $0 != attackerIndex }
        if attacker == .resolverFill { sim.hostResolver() }
        var steered = 0
        sim.observer.unroutable = { node, to in if node != attackerIndex, to == Adversary.plantedAddress { steered += 1 } }

        // Nodes join over the first second; each asks the simulated resolver for peers.
        for i in 0..<nodes {
            sim.at(MeshTime.zero + .nanoseconds(Int64(i) * 1_000_000_000 / Int64(nodes))) { $0.start(i) }
        }

        // Bookkeeping.
        struct Sent { var at: MeshTime; var payload: [UInt8]; var deliveries = 0; var copies = 0 }
        var sent: [MessageRef: Sent] = [:]
        var order: [MessageRef] = []
        var deliveredAt: [MessageRef: Set<Int>] = [:]
        var latencies = LatencyHistogram()
        var ldh = 0
        var hopSum = 0
        var duplicates = 0
        var corrupt = 0
        var honestDeliveries = 0
        var attackDelivered = 0
        var attackRejected = 0
        var attackDatagrams = 0, attackVerifications = 0
        var honestRefusals = Set<[Int]>(), honestLinked = Set<[Int]>()
        var attackerEverLinked = false
        let attackerKey = attackerIndex.flatMap { sim.node($0)?.key }

        sim.observer.delivered = { node, m, at in
            let ref = MessageRef(origin: m.origin, seq: m.seq)
            guard var s = sent[ref] else {
                if m.origin == attackerKey { return }  // the attacker's own valid messages
                if node != attackerIndex { attackDelivered += 1 }
                return
            }
            if deliveredAt[ref, default: []].insert(node).inserted == false { duplicates += 1 }
            if m.payload != s.payload { corrupt += 1 }
            s.deliveries += 1
            sent[ref] = s
            if node != attackerIndex { honestDeliveries += 1 }
            latencies.record(at - s.at)
            ldh = max(ldh, m.hops)
            hopSum += m.hops
        }
        // Links honest nodes held to the attacker: when each opened, and how it ended.
        var attackerLinks: [Int: (opened: MeshTime, closed: DisconnectReason?)] = [:]
        var punishedLinks = 0
        var debugEvents: [String] = []
        let debugNode = ProcessInfo.processInfo.environment["MESHSTEP_DEBUG_NODE"].flatMap { Int($0) }
        sim.observer.event = { node, e, at in
            if node == debugNode { debugEvents.append("\(at) node \(node): \(e)") }
            guard node != attackerIndex else { return }
            switch e {
            case let .neighborUp(peer, _) where peer != attackerKey:
                if let j = sim.index(ofKey: peer) { honestLinked.insert([min(node, j), max(node, j)]) }
            case let .connectRefused(address, reason) where reason == .authenticationFailed || reason == .wrongMesh:
                if let j = sim.index(of: address), j != attackerIndex { honestRefusals.insert([min(node, j), max(node, j)]) }
            case let .neighborUp(peer, _) where peer == attackerKey:
                attackerEverLinked = true
                attackerLinks[node] = (at, nil)
            case let .neighborDown(peer, _, reason, _) where peer == attackerKey:
                attackerLinks[node]?.closed = reason
                if reason == .misbehaving || reason == .rateLimited { punishedLinks += 1 }
            default: break
            }
        }
        sim.observer.arrival = { node, bytes, _ in
            // Every copy of a message that arrives, alone (Flood) or with others (Floods).
            let kind = Datagram.peekKind(bytes)
            guard kind == 0x10 || kind == 0x16, let d = try? Datagram.decode(bytes, maxSize: 65_507) else { return }
            let copies: [FloodMessage]
            switch d.message {
            case let .flood(m): copies = [m]
            case let .floods(list): copies = list
            default: return
            }
            for m in copies { if var s = sent[m.ref] { s.copies += 1; sent[m.ref] = s } }
        }

        // Honest traffic.
        let t0 = MeshTime.zero + warmup
        var pick = DeterministicRNG(seed: seed ^ 0x5EED_F100D)
        var publishers = honest
        if let origins {
            var chosen: [Int] = []
            while chosen.count < min(origins, honest.count) { chosen.append(publishers.remove(at: pick.below(publishers.count))) }
            publishers = chosen
        }
        let batch = publication
        for first in stride(from: 0, to: messages, by: batch) {
            let origin = publishers[pick.below(publishers.count)]
            // The same message rate whatever the batch: `batch` messages every `batch` intervals.
            sim.at(t0 + messageInterval * first) { sim in
                let payloads = (first..<min(messages, first + batch)).map { k in
                    var payload = [UInt8](repeating: 0, count: payloadSize)
                    withUnsafeBytes(of: UInt64(k).bigEndian) { for (j, b) in $0.enumerated() where j < payload.count { payload[j] = b } }
                    return payload
                }
                sim.withNode(origin) { mesh, now in
                    do {
                        // (A batch of one is signed alone, as `broadcast(_:now:)` does.)
                        let (seqs, actions) = try mesh.broadcast(batch: payloads, now: now)
                        for (seq, payload) in zip(seqs, payloads) {
                            let ref = MessageRef(origin: mesh.key, seq: seq)
                            sent[ref] = Sent(at: now, payload: payload)
                            order.append(ref)
                        }
                        return actions
                    } catch { return [] }
                }
            }
        }
        // Flooded messages' signature checks from the first publication on (the handshakes'
        // checks come before it, and the attacker's links' are counted apart).
        var checksBefore: [Int: Int] = [:]
        sim.at(t0) { sim in
            for i in honest { checksBefore[i] = sim.stats(of: i)?.signatureChecks ?? 0 }
        }
        // An attack lasts at least five seconds and then until the end of the run.
        let trafficEnd = t0 + max(messageInterval * messages, attacker == nil ? .zero : .seconds(5))
        let end = trafficEnd + drain

        // The attack.
        if let attackerIndex, let attacker {
            let adversary = Adversary(kind: attacker, index: attackerIndex, honest: honest, rate: config.inboundLimit.messagesPerSecond * 100)
            adversary.schedule(on: sim, from: t0, until: end)
            // Attribute rejections precisely: any datagram from the attacker's address that a node
            // did not accept shows up as a rise in that node's rejection counters.
            sim.resolverHook = { sender, before, after in
                guard sender == attackerIndex else { return }
                attackDatagrams += 1
                attackVerifications += after.signatureChecks - before.signatureChecks
                if after.badSignature + after.cookiesSent + after.rateLimited + after.signatureBudgetExceeded
                    > before.badSignature + before.cookiesSent + before.rateLimited + before.signatureBudgetExceeded
                {
                    attackRejected += 1
                }
            }
            sim.datagramHook = { node, sender, before, after in
                guard sender == attackerIndex else { return }
                attackDatagrams += 1
                attackVerifications += after.signatureChecks - before.signatureChecks
                let rejectedBefore = before.rejectedTotal + before.duplicates
                let rejectedAfter = after.rejectedTotal + after.duplicates
                if rejectedAfter > rejectedBefore { attackRejected += 1 }
            }
        }

        // Run, reporting progress once per virtual second.
        var t = MeshTime.zero
        while t < end {
            t = min(end, t + .seconds(1))
            sim.run(until: t)
            progress?(t.seconds / end.seconds)
        }

        // Metrics.
        let recipients = Double(nodes - 1)
        let totalDeliveries = sent.values.reduce(0) { $0 + $1.deliveries }
        let rmr = order.isEmpty ? 0 : order.reduce(0.0) { $0 + Double(sent[$1]!.copies) / recipients - 1 } / Double(order.count)
        let graph = sim.neighborGraph()
        let live = (0..<nodes).filter { sim.isAlive($0) }
        let lost = live.reduce(0) { $0 + (sim.stats(of: $1)?.lost ?? 0) }
        let grafts = live.reduce(0) { $0 + (sim.stats(of: $1)?.graftsSent ?? 0) }
        let prunes = live.reduce(0) { $0 + (sim.stats(of: $1)?.prunesSent ?? 0) }
        if ProcessInfo.processInfo.environment["MESHSTEP_DEBUG"] != nil {
            print("grafts \(grafts) prunes \(prunes) meanhops \(Double(hopSum) / Double(max(1, latencies.count)))")
            for ref in order {
                let got = deliveredAt[ref] ?? []
                for i in honest where !got.contains(i) && sim.node(i)?.key != ref.origin {
                    print(
                        "missing: node \(i) ref \(ref.origin) seq \(ref.seq) sent at \(sent[ref]!.at) neighbors now \(graph[i].count) started \(sim.isAlive(i))"
                    )
                }
            }
            debugEvents.forEach { print($0) }
        }

        var report = FloodReport(
            nodes: nodes, degree: degree, loss: loss, messages: order.count, seed: seed, origins: origins ?? 0, strategy: pureFlooding ? "flood" : "plumtree",
            delivered_ratio: Double(totalDeliveries) / (Double(order.count) * recipients),
            rmr: rmr, ldh_max: ldh, hop_limit: Int(config.hopLimit), diameter: sim.diameter() ?? -1,
            mean_degree: Double(live.reduce(0) { $0 + graph[$1].count }) / Double(max(live.count, 1)),
            latency_p50_ms: latencies.milliseconds(atPercentile: 50), latency_p99_ms: latencies.milliseconds(atPercentile: 99),
            latency_max_ms: latencies.maxMilliseconds,
            duplicate_deliveries: duplicates, corrupt_deliveries: corrupt, lost: lost,
            datagrams: sim.datagramsSent, virtual_seconds: end.seconds,
            wall_seconds: Double((ContinuousClock.now - started).milliseconds) / 1000)
        report.batch = batch
        let running = honest.filter { sim.isAlive($0) && checksBefore[$0] != nil }
        let checks = running.reduce(0) { $0 + (sim.stats(of: $1)?.signatureChecks ?? 0) - checksBefore[$1]! }
        let runningSet = Set(running)
        let deliveriesToThem = deliveredAt.values.reduce(0) { $0 + $1.intersection(runningSet).count }
        report.signature_checks_per_delivery = deliveriesToThem == 0 ? 0 : Double(checks) / Double(deliveriesToThem)
        if attackerIndex != nil, let attacker {
            report.attacker = attacker.rawValue
            report.honest_delivered_ratio = Double(honestDeliveries) / (Double(order.count) * Double(honest.count - 1))
            report.attack_rejected = attackRejected
            // Disconnected means: it never got in (wrong password), or every link it held long
            // enough for the defences to act (rate-limit strikes take a few seconds) was cut
            // for misbehaviour. A banned attacker may still reach nodes that have not banned it
            // yet; those links are cut in turn.
            let grace = Duration.seconds(config.rateLimitStrikes + 2)
            let uncut = attackerLinks.values.filter { $0.closed == nil && end - $0.opened > grace }
            report.attacker_disconnected =
                attacker == .wrongPassword || attacker == .spoofHandshake || attacker == .resolverFill
                ? !attackerEverLinked : (punishedLinks > 0 && uncut.isEmpty)
            report.attacker_links_cut = punishedLinks
            report.attack_delivered = attackDelivered
            report.victim_verifications_per_attack_datagram = attackDatagrams == 0 ? 0 : Double(attackVerifications) / Double(attackDatagrams)
            report.honest_links_blocked = honestRefusals.subtracting(honestLinked).count
            if attacker == .resolverFill {
                let registered = Set(sim.resolverPeers(in: ResolverMeshID(credentials: credentials)).map(\.peer))
                let honestKeys = Set(honest.compactMap { sim.node($0)?.key })
                report.honest_registered = registered.intersection(honestKeys).count
                report.attacker_registrations = registered.subtracting(honestKeys).count
                report.steered_datagrams = steered
            }
        }
        return report
    }
}

extension Adversary {
    /// `spoof-handshake`: from the start, every 10 ms, 256 Confirms and 256 Welcomes with junk
    /// proofs between random pairs of honest nodes, each from the other one's address. The attacker's own node
    /// never joins (it has the wrong password); it only lends its place in the network.
    func spoofHandshakes(on sim: MeshSimulator, from start: MeshTime, until end: MeshTime) {
        var rng = DeterministicRNG(seed: 0x5900F ^ UInt64(index))
        var t = start
        while t < end {
            sim.at(t) { sim in
                for _ in 0..<256 {
                    let a = honest[rng.below(honest.count)], b = honest[rng.below(honest.count)]
                    guard a != b, let keyA = sim.node(a)?.key else { continue }
                    let junk = [UInt8](repeating: UInt8(truncatingIfNeeded: rng.next()), count: 32)
                    let confirm = Datagram.encode(.confirm(Confirm(sender: keyA, proof: junk, signature: junk + junk)))
                    sim.inject(confirm, from: index, to: MeshSimulator.address(of: b), spoofing: MeshSimulator.address(of: a))
                    let welcome = Datagram.encode(.welcome(Welcome(proof: junk, signature: junk + junk, referrals: [])))
                    sim.inject(welcome, from: index, to: MeshSimulator.address(of: a), spoofing: MeshSimulator.address(of: b))
                }
            }
            t = t + .milliseconds(10)
        }
    }
}

extension Adversary {
    /// Where `resolver-fill` tries to steer joiners: node 0's IP at a port where nothing listens.
    static let plantedAddress = MeshAddress.ipv4(0x7F00_0001, port: 9)

    /// `resolver-fill`: from the start, every 10 ms, 32 registrations in the honest mesh (whose
    /// resolver ID the attacker is given), each under a fresh key it signs validly, with a mesh
    /// signature from the admission key of its own wrong password, claiming ``plantedAddress``:
    /// 31 spoofed from random addresses, one from its own address with the cookie it gets there.
    func fillResolver(on sim: MeshSimulator, from start: MeshTime, until end: MeshTime) {
        guard let honestMesh = try? MeshCredentials(meshID: "flood-sim", access: .password("correct horse")),
            let guess = try? MeshCredentials(meshID: "flood-sim", access: .password("wrong guess"))
        else { return }
        let target = ResolverMeshID(credentials: honestMesh)
        var rng = DeterministicRNG(seed: 0xF111 ^ UInt64(index))
        var t = start
        while t < end {
            sim.at(t) { sim in
                for k in 0..<32 {
                    let throwaway = NodeIdentity(rng: &rng)
                    let own = k == 0
                    let source =
                        own ? MeshSimulator.address(of: index) : MeshAddress.ipv4(0x0B00_0000 | UInt32(truncatingIfNeeded: rng.next() >> 40), port: 5000)
                    var request = RegisterRequest(
                        requestID: rng.next(), mesh: target, peer: throwaway.key, addresses: [Self.plantedAddress], includeObservedAddress: false,
                        ttlSeconds: 3600, timestamp: MeshSimulator.wallClockAtZero + UInt64(sim.now.nanoseconds / 1_000_000),
                        cookie: own ? sim.resolverCookie(for: source) : ResolverWire.noCookie)
                    let transcript = ResolverMessage.register(request).signedTranscript()
                    request.signature = throwaway.sign(transcript)
                    request.meshSignature = guess.signAdmission(transcript)
                    sim.inject(ResolverMessage.register(request).encode(), from: index, to: MeshSimulator.resolverAddress, spoofing: source)
                }
            }
            t = t + .milliseconds(10)
        }
    }
}

/// The misbehaving node's script.
struct Adversary {
    let kind: AttackKind
    let index: Int
    let honest: [Int]
    /// Messages per second per neighbor for the flood attack.
    let rate: Int

    func schedule(on sim: MeshSimulator, from start: MeshTime, until end: MeshTime) {
        guard kind != .wrongPassword else { return }  // its ordinary join attempts are the attack
        // Handshakes and registrations happen while the mesh forms: these attacks start with them.
        if kind == .spoofHandshake { return spoofHandshakes(on: sim, from: .zero, until: end) }
        if kind == .resolverFill { return fillResolver(on: sim, from: .zero, until: end) }
        // Within the inbound allowance (300 datagrams a second a link) for the member attacks:
        // what they test is the cost of each datagram, not the rate limit.
        let step: Duration =
            switch kind {
            case .flood: .milliseconds(1)
            case .graftVerify, .oversized: .milliseconds(50)
            case .iHaveFlood, .spoofHandshake, .resolverFill: .milliseconds(10)
            default: .milliseconds(5)
            }
        var seq: UInt64 = 1_000_000
        var rng = DeterministicRNG(seed: 0xBAD ^ UInt64(index))
        var replayPool: [FloodMessage] = []
        var t = start
        while t < end {
            sim.at(t) { sim in
                // The attacker's own node seals what it sends, so that each datagram carries a
                // fresh link sequence number: replay protection at the link layer is not what
                // these attacks test.
                sim.withNode(index) { mesh, _ in
                    let peers = mesh.neighborKeys
                    guard !peers.isEmpty else { return [] }
                    switch kind {
                    case .flood:
                        // `rate` per second per neighbor, in 1 ms slices; one signature per message.
                        for _ in 0..<max(1, rate / 1000) {
                            seq += 1
                            let m = mesh.craftFlood(seq: seq, payload: [UInt8](repeating: 0xAA, count: 32))
                            for p in peers { if let s = mesh.seal(.flood(m), to: p) { sim.inject(s.bytes, from: index, to: s.address) } }
                        }
                    case .forge:
                        // A message claiming an honest origin, with a made-up signature.
                        let victim = sim.node(honest[rng.below(honest.count)])!.key
                        let fake = FloodMessage(
                            hopLimit: 8, hops: 1, origin: victim, seq: rng.next() >> 20 | 1, destination: nil,
                            payload: [UInt8](repeating: 0x66, count: 32), signature: [UInt8](repeating: 0x01, count: 64))
                        for p in peers { if let s = mesh.seal(.flood(fake), to: p) { sim.inject(s.bytes, from: index, to: s.address) } }
                    case .forgeBatch:
                        if replayPool.isEmpty || rng.chance(0.2) { replayPool = mesh.recentStoredMessages(limit: 64).filter { $0.proof != nil } }
                        guard !replayPool.isEmpty else { return [] }
                        var m = replayPool[rng.below(replayPool.count)]
                        m.seq += 1000 + rng.next() % 1000
                        switch rng.below(3) {
                        case 0: m.payload[0] ^= 0x80
                        case 1: m.proof!.path[rng.below(m.proof!.path.count)] ^= 0x01
                        default: m.signature[rng.below(64)] ^= 0x02
                        }
                        for p in peers { if let s = mesh.seal(.flood(m), to: p) { sim.inject(s.bytes, from: index, to: s.address) } }
                    case .replay:
                        if replayPool.isEmpty || rng.chance(0.2) { replayPool = mesh.recentStoredMessages(limit: 64) }
                        guard !replayPool.isEmpty else { return [] }
                        let m = replayPool[rng.below(replayPool.count)]
                        for p in peers { if let s = mesh.seal(.flood(m), to: p) { sim.inject(s.bytes, from: index, to: s.address) } }
                    case .malformed:
                        for p in peers {
                            // Random bytes (bad tag) and a tagged body that does not decode.
                            let junk = (0..<(1 + rng.below(300))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                            let address = MeshSimulator.address(of: sim.index(ofKey: p) ?? 0)
                            sim.inject(junk, from: index, to: address)
                            var w = ByteWriter()
                            w.raw([0x4D, 0x53, Wire.version, 0x10])
                            w.varint(mesh.takeLinkSeq(to: p))
                            w.raw((0..<(rng.below(40))).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
                            if let s = mesh.sealRaw(w.bytes, to: p) { sim.inject(s.bytes, from: index, to: s.address) }
                        }
                    case .graftVerify:
                        // Its own message, junk-signed, straight to each neighbor (hop limit 1:
                        // nobody forwards it), then Grafts naming it 24 times.
                        seq += 1
                        var m = mesh.craftFlood(seq: seq, payload: [UInt8](repeating: 0x47, count: 32))
                        m.hopLimit = 1
                        m.signature = [UInt8](repeating: 0, count: 64)
                        for p in peers {
                            if let s = mesh.seal(.flood(m), to: p) { sim.inject(s.bytes, from: index, to: s.address) }
                            for _ in 0..<4 {
                                if let s = mesh.seal(.graft(Array(repeating: m.ref, count: Wire.maxRefsPerMessage)), to: p) {
                                    sim.inject(s.bytes, from: index, to: s.address)
                                }
                            }
                        }
                    case .iHaveFlood:
                        // Messages that do not exist, from origins made up or honest.
                        for p in peers {
                            let refs = (0..<Wire.maxRefsPerMessage).map { _ in
                                MessageRef(origin: sim.node(honest[rng.below(honest.count)])!.key, seq: 1_000_000 + rng.next() >> 40)
                            }
                            if let s = mesh.seal(.iHave(refs), to: p) { sim.inject(s.bytes, from: index, to: s.address) }
                        }
                    case .oversized:
                        // Validly signed, but over the payload limit every honest node keeps to.
                        seq += 1
                        let m = mesh.craftFlood(seq: seq, payload: [UInt8](repeating: 0x4F, count: mesh.maxPayloadSize + 40))
                        for p in peers { if let s = mesh.seal(.flood(m), to: p) { sim.inject(s.bytes, from: index, to: s.address) } }
                    case .wrongPassword, .spoofHandshake, .resolverFill:
                        break
                    }
                    return []
                }
            }
            t = t + step
        }
        if kind == .forge || kind == .forgeBatch {
            // Also alter every message the attacker relays, at once (its neighbors may not have it
            // yet): flip a payload byte and keep the signature; a batch message keeps its
            // sequence number and payload and gets other signature bytes, over a root its
            // neighbors may have verified already.
            let previous = sim.observer.delivered
            sim.observer.delivered = { node, m, at in
                previous?(node, m, at)
                guard node == index else { return }
                sim.withNode(index) { mesh, _ in
                    guard var altered = mesh.storedMessage(MessageRef(origin: m.origin, seq: m.seq)), !altered.payload.isEmpty else { return [] }
                    if kind == .forgeBatch {
                        guard altered.proof != nil else { return [] }
                        altered.signature[0] ^= 0x04
                    } else {
                        altered.payload[0] ^= 0xFF
                    }
                    for p in mesh.neighborKeys where p != m.from {
                        if let s = mesh.seal(.flood(altered), to: p) { sim.inject(s.bytes, from: index, to: s.address) }
                    }
                    return []
                }
            }
        }
    }
}
