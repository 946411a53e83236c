import Testing
import MeshstepMesh
import MeshstepSimulation
import MeshstepWire

func meshConfig(degree: Int) -> MeshConfiguration {
    var c = MeshConfiguration()
    c.idealNeighbors = degree
    c.minNeighbors = max(1, degree / 2)
    c.maxNeighbors = degree + 2
    return c
}

/// Builds and starts `n` nodes, lets the mesh form, and records deliveries.
final class World {
    let sim: MeshSimulator
    var delivered: [Int: [MessageRef]] = [:]

    init(nodes n: Int, degree: Int, seed: UInt64, link: LinkModel = LinkModel()) throws {
        sim = MeshSimulator(seed: seed, defaultLink: link)
        let creds = try MeshCredentials(meshID: "world", access: .password("pw"))
        for _ in 0..<n { try sim.addNode(credentials: creds, configuration: meshConfig(degree: degree)) }
        for i in 0..<n { sim.at(MeshTime.zero + .milliseconds(Int64(i) * 20)) { $0.start(i) } }
        sim.observer.delivered = { [unowned self] node, m, _ in self.delivered[node, default: []].append(MessageRef(origin: m.origin, seq: m.seq)) }
    }

    func broadcast(from i: Int, _ payload: [UInt8]) -> MessageRef? {
        var ref: MessageRef?
        sim.withNode(i) { mesh, now in
            let (seq, actions) = try! mesh.broadcast(payload, now: now)
            ref = MessageRef(origin: mesh.key, seq: seq)
            return actions
        }
        return ref
    }

    func nodesThatDelivered(_ ref: MessageRef) -> Set<Int> {
        Set(delivered.filter { $0.value.contains(ref) }.keys)
    }

    var live: [Int] { (0..<sim.count).filter { sim.isAlive($0) } }
}

/// Scenario tier (release, `scripts/test scenarios`): meshes of tens to hundreds of nodes.
@Suite("Simulated mesh")
struct SimulatedMeshScenarios {
    @Test("256 nodes, degree 6, 10% loss, jitter: every message reaches every node exactly once, within the hop limit")
    func flood256() throws {
        var s = FloodScenario(nodes: 256, degree: 6, loss: 0.1, messages: 40, seed: 2026)
        s.drain = .seconds(5)
        let r = try s.run()
        #expect(r.delivered_ratio == 1.0)
        #expect(r.duplicate_deliveries == 0)
        #expect(r.corrupt_deliveries == 0)
        #expect(r.ldh_max <= r.hop_limit)
        #expect(r.diameter > 0)
        #expect(r.rmr < 2.0)  // pure flooding at this degree is about 4.5
    }

    @Test("signed batches at 10% loss: every message reaches every node exactly once, for a tenth of the signature checks")
    func signedBatches() throws {
        var single = FloodScenario(nodes: 48, degree: 6, loss: 0.1, messages: 320, seed: 7)
        single.origins = 4
        var batched = single
        batched.batch = 16
        let a = try single.run(), b = try batched.run()
        for r in [a, b] {
            #expect(r.delivered_ratio == 1.0)
            #expect(r.duplicate_deliveries == 0 && r.corrupt_deliveries == 0)
        }
        // Each message signed alone: about one check per delivery (a message taken straight
        // from its origin on the link's word is checked only if it is served on).
        #expect(a.signature_checks_per_delivery > 0.5, "\(a.signature_checks_per_delivery)")
        // In batches of 16: about one per batch, and a few more for copies pulled after loss
        // under a root already forgotten or not yet seen.
        #expect(b.signature_checks_per_delivery < a.signature_checks_per_delivery / 8, "\(b.signature_checks_per_delivery)")
    }

    @Test("same seed, same result; another seed, another run")
    func determinism() throws {
        var a = try FloodScenario(nodes: 32, degree: 4, loss: 0.1, messages: 30, seed: 11).run()
        var b = try FloodScenario(nodes: 32, degree: 4, loss: 0.1, messages: 30, seed: 11).run()
        var c = try FloodScenario(nodes: 32, degree: 4, loss: 0.1, messages: 30, seed: 12).run()
        a.wall_seconds = 0; b.wall_seconds = 0; c.wall_seconds = 0
        #expect(a == b)
        #expect(a.datagrams != c.datagrams)
    }

    @Test("crashed nodes are replaced by neighbor repair and the mesh stays connected")
    func crashRepair() throws {
        let w = try World(nodes: 48, degree: 4, seed: 5, link: LinkModel(latency: .milliseconds(15), jitter: .milliseconds(5), loss: 0.05))
        w.sim.run(until: MeshTime.zero + .seconds(8))
        #expect(w.sim.components().count == 1)
        // Crash every neighbor of node 0 and a few more.
        let victims = Set(w.sim.neighborGraph()[0] + [10, 20, 30])
        for v in victims { w.sim.crash(v) }
        // Dead-link detection (4 s) plus maintenance (1 s) plus handshakes: within seconds.
        w.sim.run(for: .seconds(7))
        let live = w.live
        #expect(w.sim.components().count == 1)
        let graph = w.sim.neighborGraph()
        #expect(live.allSatisfy { graph[$0].count >= 2 })
        #expect(graph[0].allSatisfy { !victims.contains($0) } && !graph[0].isEmpty)
        // And traffic still reaches every survivor exactly once.
        let ref = try #require(w.broadcast(from: 0, [1, 2, 3]))
        w.sim.run(for: .seconds(3))
        #expect(w.nodesThatDelivered(ref) == Set(live).subtracting([0]))
        // A crashed node that restarts (with a new identity) joins again.
        let back = victims.sorted()[0]
        try w.sim.restart(back)
        w.sim.run(for: .seconds(5))
        #expect(w.sim.components().count == 1)
        #expect(graph.count == w.sim.count)
    }

    @Test("a partition splits the mesh; after healing both halves reconnect")
    func partitionAndHeal() throws {
        let w = try World(nodes: 40, degree: 4, seed: 9)
        w.sim.run(until: MeshTime.zero + .seconds(8))
        #expect(w.sim.components().count == 1)
        let left = Array(0..<20), right = Array(20..<40)
        w.sim.partition([left, right])
        w.sim.run(for: .seconds(10))
        let graph = w.sim.neighborGraph()
        #expect(left.allSatisfy { graph[$0].allSatisfy { $0 < 20 } })
        #expect(w.sim.components(among: left).count == 1)
        #expect(w.sim.components(among: right).count == 1)
        // A message inside one half stays there.
        let inside = try #require(w.broadcast(from: 0, [7]))
        w.sim.run(for: .seconds(2))
        #expect(w.nodesThatDelivered(inside) == Set(left).subtracting([0]))
        w.sim.heal()
        // Exploration (every 15-25 s) finds the other half again.
        w.sim.run(for: .seconds(30))
        #expect(w.sim.components().count == 1)
        let across = try #require(w.broadcast(from: 0, [8]))
        w.sim.run(for: .seconds(3))
        #expect(w.nodesThatDelivered(across) == Set(0..<40).subtracting([0]))
    }

    @Test(
        "attackers are rejected, counted and disconnected; honest traffic is untouched",
        arguments: [AttackKind.flood, .forge, .forgeBatch, .replay, .wrongPassword, .malformed])
    func attacks(_ kind: AttackKind) throws {
        let r = try FloodScenario(nodes: 24, degree: 4, loss: 0, messages: 60, seed: 3, attacker: kind).run()
        #expect(r.honest_delivered_ratio == 1.0)
        #expect(r.attacker_disconnected == true)
        #expect((r.attack_rejected ?? 0) > 0)
        #expect(r.attack_delivered == 0)
        #expect(r.corrupt_deliveries == 0)
        #expect(r.duplicate_deliveries == 0)
        #expect(r.honest_links_blocked == 0)
        #expect((r.victim_verifications_per_attack_datagram ?? 99) <= 1)
    }

    @Test(
        "members who know the password, and an off-path spoofer who does not, make no neighbor verify twice and block no link",
        arguments: [AttackKind.graftVerify, .iHaveFlood, .oversized, .spoofHandshake, .resolverFill])
    func memberAttacks(_ kind: AttackKind) throws {
        // The command: meshstep sim flood --nodes 64 --degree 6 --messages 100 --attacker KIND --seed 5
        let r = try FloodScenario(nodes: 64, degree: 6, loss: 0, messages: 100, seed: 5, attacker: kind).run()
        #expect(r.honest_delivered_ratio == 1.0)
        #expect(r.honest_links_blocked == 0)
        let perDatagram = try #require(r.victim_verifications_per_attack_datagram)
        #expect(perDatagram <= 1, "\(perDatagram) verifications per attack datagram")
        #expect(r.corrupt_deliveries == 0 && r.duplicate_deliveries == 0)
        // A failed check costs its sender: a junk signature or an oversized payload gets it cut
        // (the spoofer never gets in).
        if kind != .iHaveFlood { #expect(r.attacker_disconnected == true) }
        if kind == .resolverFill {
            // Every honest node registered; not one of the attacker's keys did; nobody dialled
            // the address it planted.
            #expect(r.honest_registered == 63 && r.attacker_registrations == 0 && r.steered_datagrams == 0)
        }
    }

    @Test("announcements of messages that do not exist do not slow honest delivery")
    func iHaveFloodLatency() throws {
        let calm = try FloodScenario(nodes: 64, degree: 6, loss: 0, messages: 100, seed: 5).run()
        let attacked = try FloodScenario(nodes: 64, degree: 6, loss: 0, messages: 100, seed: 5, attacker: .iHaveFlood).run()
        #expect(attacked.honest_delivered_ratio == 1.0)
        #expect(attacked.latency_p99_ms <= calm.latency_p99_ms * 1.5 + 50, "p99 \(attacked.latency_p99_ms) ms, calm \(calm.latency_p99_ms) ms")
    }

    @Test("under a 100x flood from one neighbor, honest messages still arrive on time")
    func floodAttackLatency() throws {
        let calm = try FloodScenario(nodes: 24, degree: 4, loss: 0, messages: 60, seed: 4).run()
        let attacked = try FloodScenario(nodes: 24, degree: 4, loss: 0, messages: 60, seed: 4, attacker: .flood).run()
        #expect(attacked.honest_delivered_ratio == 1.0)
        #expect(attacked.latency_p99_ms <= calm.latency_p99_ms * 1.5 + 50)
    }
}
