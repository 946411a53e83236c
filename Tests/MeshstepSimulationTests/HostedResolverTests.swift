import MeshstepMesh
import MeshstepResolver
import MeshstepSimulation
import MeshstepWire
import Testing

@Suite("Hosted resolver in the simulator")
struct HostedResolverTests {
    @Test("nodes register at a real resolver service, resolve through it and form one mesh")
    func meshFormsThroughResolver() throws {
        let sim = MeshSimulator(seed: 11, defaultLink: LinkModel(latency: .milliseconds(20), loss: 0.05))
        defer { sim.stop() }
        sim.hostResolver()
        let creds = try MeshCredentials(meshID: "hosted", access: .password("pw"))
        for _ in 0..<8 { try sim.addNode(credentials: creds, configuration: meshConfig(degree: 3)) }
        for i in 0..<8 { sim.at(.zero + .milliseconds(Int64(i) * 100)) { $0.start(i) } }
        sim.run(until: .zero + .seconds(10))
        #expect(sim.components().count == 1)
        #expect(sim.resolverPeers(in: ResolverMeshID(credentials: creds)).count == 8)
        let stats = try #require(sim.resolverStats)
        // Each node's first register met a cookie round, then two signature checks.
        #expect(stats.registered == 8 && stats.cookiesSent >= 8 && stats.badSignature == 0 && stats.resolves >= 8)
        // Another mesh's nodes see none of them.
        #expect(sim.resolverPeers(in: try ResolverMeshID(meshName: "hosted", access: .password("other"))).isEmpty)
    }
}

@Suite("NAT rebinding in the simulator")
struct RebindingTests {
    @Test("a node whose public port changes mid-session keeps every link: its neighbors move the links to the new address, nothing drops")
    func rebindingMovesLinks() throws {
        let world = try World(nodes: 6, degree: 3, seed: 21)
        defer { world.sim.stop() }
        var downs: [(Int, MeshEvent)] = []
        var moved = 0
        world.sim.observer.event = { node, e, _ in
            switch e {
            case .neighborDown: downs.append((node, e))
            case .neighborMoved: moved += 1
            default: break
            }
        }
        world.sim.run(until: .zero + .seconds(5))
        let before = world.sim.node(0)!.neighborKeys.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
        #expect(before.count >= 2)
        world.sim.rebind(0, to: .ipv4(0x7F00_0001, port: 41_000))
        // Node 0 speaks first (keepalives): each neighbor verifies the tag and moves the link.
        world.sim.run(for: .seconds(3))
        let ref = try #require(world.broadcast(from: 0, [1, 2, 3]))
        world.sim.run(for: .seconds(2))
        #expect(downs.isEmpty, "links dropped: \(downs)")
        #expect(moved == before.count)
        #expect(world.sim.node(0)!.neighborKeys.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) } == before)
        #expect(world.nodesThatDelivered(ref) == Set(1..<6))
        for i in 1..<6 {
            let n = world.sim.node(i)!
            #expect(!n.neighborInfo.contains { $0.address == MeshSimulator.address(of: 0) }, "node \(i) still sends to the old address")
        }
    }

    @Test("a datagram replayed from another address moves nothing")
    func replayedDatagramDoesNotMove() throws {
        let world = try World(nodes: 4, degree: 3, seed: 22)
        defer { world.sim.stop() }
        var captured: [UInt8]?
        world.sim.observer.arrival = { node, bytes, from in
            if node == 1, from == MeshSimulator.address(of: 0), bytes.count > 20, bytes[3] >= 0x06, captured == nil { captured = bytes }
        }
        world.sim.run(until: .zero + .seconds(5))
        let datagram = try #require(captured)
        let attacker = try world.sim.addNode(credentials: MeshCredentials(meshID: "world", access: .password("x")), configuration: meshConfig(degree: 3))
        world.sim.inject(datagram, from: attacker, to: MeshSimulator.address(of: 1), spoofing: .ipv4(0x0A00_0009, port: 666))
        world.sim.run(for: .milliseconds(100))
        let n1 = world.sim.node(1)!
        #expect(n1.stats.neighborsMoved == 0)
        #expect(n1.neighborInfo.contains { $0.address == MeshSimulator.address(of: 0) })
    }
}

@Suite("NATs in the simulator")
struct SimulatedNATTests {
    /// Four nodes, each behind its own NAT of `behavior`, finding each other through the hosted
    /// resolver: the neighbor graph's components after 20 s.
    static func components(_ behavior: NATBehavior, seed: UInt64 = 31, openerHopLimit: UInt8 = 2) throws -> (components: Int, natDrops: Int, openers: Int) {
        let sim = MeshSimulator(seed: seed, defaultLink: LinkModel(latency: .milliseconds(20)))
        defer { sim.stop() }
        sim.hostResolver()
        let creds = try MeshCredentials(meshID: "nat", access: .password("pw"))
        var config = meshConfig(degree: 3)
        config.openerHopLimit = openerHopLimit
        for _ in 0..<4 { try sim.addNode(credentials: creds, configuration: config, behind: sim.addNAT(behavior)) }
        for i in 0..<4 { sim.at(.zero + .milliseconds(Int64(i) * 200)) { $0.start(i) } }
        sim.run(until: .zero + .seconds(20))
        let openers = (0..<4).reduce(0) { $0 + (sim.node($1)?.stats.openersSent ?? 0) }
        return (sim.components().count, sim.natDrops, openers)
    }

    @Test(
        "four nodes behind Linux routers that take unsolicited datagrams to themselves: with path opening (introductions by the resolver, hop-limited openers before the first Connect) they form one mesh; without it, the first Connects spoil the mappings and they do not"
    )
    func routersWithoutInputFilter() throws {
        let opened = try Self.components(.linuxRouterWithoutInputFilter)
        #expect(opened.components == 1, "\(opened)")
        #expect(opened.openers > 0)
        let unopened = try Self.components(.linuxRouterWithoutInputFilter, openerHopLimit: 0)
        #expect(unopened.components > 1, "\(unopened)")
        #expect(unopened.openers == 0)
    }

    /// Every mapping and filtering behaviour (RFC 4787), four nodes each behind its own NAT.
    static let behaviours = NATBehavior.Scope.allCases.flatMap { m in NATBehavior.Scope.allCases.map { NATBehavior(mapping: m, filtering: $0) } }

    @Test(
        "endpoint-independent mapping links whatever the filtering; address-dependent mapping links by the port the answer comes from (peer-reflexive) unless the other side filters by port",
        arguments: behaviours)
    func mappingAndFiltering(_ behavior: NATBehavior) throws {
        let r = try Self.components(behavior)
        let direct =
            behavior.mapping == .endpointIndependent || (behavior.mapping == .addressDependent && behavior.filtering != .addressAndPortDependent)
        if direct {
            #expect(r.components == 1, "\(r)")
            // Dials to peers behind NATs open the path first (PROTOCOL.md §6.7).
            #expect(r.openers > 0)
        } else {
            // Each destination gets its own port and the other side lets only the dialled port
            // in: no direct path exists (``relayedThroughAPublicPlayer`` covers these).
            #expect(r.components == 4, "\(r)")
        }
    }

    /// The behaviours that defeat hole punching between two nodes behind them.
    static let unpunchable = behaviours.filter {
        !($0.mapping == .endpointIndependent || ($0.mapping == .addressDependent && $0.filtering != .addressAndPortDependent))
    }

    @Test(
        "3 players behind NATs that defeat hole punching and one public player: each player asks the public one to relay the players it cannot link to, and every frame reaches every player within 2 hops",
        arguments: unpunchable)
    func relayedThroughAPublicPlayer(_ behavior: NATBehavior) throws {
        let sim = MeshSimulator(seed: 37, defaultLink: LinkModel(latency: .milliseconds(20)))
        defer { sim.stop() }
        sim.hostResolver()
        let creds = try MeshCredentials(meshID: "nat", access: .password("pw"))
        let config = MeshConfiguration.lockstep(players: 4)
        for _ in 0..<3 { try sim.addNode(credentials: creds, configuration: config, behind: sim.addNAT(behavior)) }
        try sim.addNode(credentials: creds, configuration: config)
        for i in 0..<4 { sim.at(.zero + .milliseconds(Int64(i) * 200)) { $0.start(i) } }
        sim.run(until: .zero + .seconds(1))
        let keys = (0..<4).map { sim.node($0)!.key }
        for i in 0..<4 {
            sim.withNode(i) { mesh, _ in
                mesh.protect(keys); return []
            }
        }
        sim.run(until: .zero + .seconds(10))
        // No NATed pair links directly; each links the public player.
        for i in 0..<3 {
            #expect(sim.node(i)!.neighborInfo.map(\.peer) == [keys[3]], "node \(i): \(sim.node(i)!.neighborInfo.map(\.peer))")
        }
        var heard: [Set<Int>] = Array(repeating: [], count: 4)
        var hops: [Int] = []
        var latest = Duration.zero
        let sentAt = sim.now
        sim.observer.delivered = { node, m, at in
            guard let from = keys.firstIndex(of: m.origin) else { return }
            heard[node].insert(from)
            hops.append(m.hops)
            latest = max(latest, at - sentAt)
        }
        for i in 0..<4 { try sim.withNode(i) { mesh, now in try mesh.broadcast([UInt8(i)], now: now).actions } }
        sim.run(for: .seconds(1))
        for i in 0..<4 { #expect(heard[i] == Set((0..<4).filter { $0 != i }), "node \(i) heard \(heard[i].sorted())") }
        // Direct copies arrive with 1 hop, relayed ones with 2.
        #expect(hops.allSatisfy { $0 <= 2 } && hops.filter { $0 == 2 }.count == 6, "hops \(hops)")
        // One relay: two link latencies of 20 ms plus their jitter, no waiting for a pull.
        #expect(latest <= .milliseconds(50), "slowest delivery \(latest)")
        #expect(sim.node(3)!.stats.relayed == 6, "relayed \(sim.node(3)!.stats.relayed)")
    }

    /// Two players behind symmetric NATs and two public ones, lockstep meshes, a hosted
    /// resolver; not started.
    static func twoSymmetricTwoPublic(seed: UInt64) throws -> (MeshSimulator, [PeerKey]) {
        let sim = MeshSimulator(seed: seed, defaultLink: LinkModel(latency: .milliseconds(20)))
        sim.hostResolver()
        let creds = try MeshCredentials(meshID: "nat", access: .password("pw"))
        let config = MeshConfiguration.lockstep(players: 4)
        let symmetric = NATBehavior(mapping: .addressAndPortDependent, filtering: .addressAndPortDependent)
        for _ in 0..<2 { try sim.addNode(credentials: creds, configuration: config, behind: sim.addNAT(symmetric)) }
        for _ in 0..<2 { try sim.addNode(credentials: creds, configuration: config) }
        return (sim, (0..<4).map { sim.node($0)!.key })
    }

    /// Starts the four nodes 200 ms apart and, after a second, protects every key on each.
    static func startAndProtect(_ sim: MeshSimulator, _ keys: [PeerKey]) {
        for i in 0..<4 { sim.at(.zero + .milliseconds(Int64(i) * 200)) { $0.start(i) } }
        sim.run(until: .zero + .seconds(1))
        for i in 0..<4 {
            sim.withNode(i) { mesh, _ in
                mesh.protect(keys); return []
            }
        }
    }

    @Test(
        "a player asked to relay that cannot reach the missing player is replaced: after 2 s the next fellow player in key order is asked, and the missing player is heard through it"
    )
    func relayMovesToAPlayerThatReachesTheOrigin() throws {
        let (sim, keys) = try Self.twoSymmetricTwoPublic(seed: 39)
        defer { sim.stop() }
        // Node 0 asks the public player with the lower key first: make that one unable to reach node 1.
        let first = keys[2] < keys[3] ? 2 : 3, second = 5 - first
        sim.linkOverrides[.init(first, 1)] = LinkModel(loss: 1)
        sim.linkOverrides[.init(1, first)] = LinkModel(loss: 1)
        Self.startAndProtect(sim, keys)
        sim.run(until: .zero + .seconds(12))
        #expect(sim.node(0)!.neighborInfo.map(\.peer).sorted() == [keys[2], keys[3]].sorted())
        #expect(sim.node(1)!.neighborInfo.map(\.peer) == [keys[second]])
        // Node 1 plays: a message every 100 ms for 6 s. Node 0 first hears it only by pulls
        // from the other public player, which makes it move its request there.
        var through: [String] = []
        sim.observer.delivered = { node, m, _ in if node == 0, m.origin == keys[1] { through.append(m.from.description) } }
        for k in 0..<60 {
            sim.at(sim.now + .milliseconds(Int64(k) * 100)) { sim in
                try? sim.withNode(1) { mesh, now in try mesh.broadcast([UInt8(k)], now: now).actions }
            }
        }
        sim.run(for: .seconds(6))
        #expect(through.count == 60 && Set(through) == [keys[second].description], "node 0 heard node 1 through \(Set(through))")
        #expect(sim.node(first)!.stats.relayed == 0, "the player that cannot reach node 1 relayed nothing of it")
        #expect(sim.node(second)!.stats.relayed >= 30, "relayed \(sim.node(second)!.stats.relayed)")
    }

    @Test(
        "a player the session dropped is unprotected: nobody asks a relay for it any more, and its messages are no longer relayed"
    )
    func droppedPlayerIsNoLongerRelayed() throws {
        let (sim, keys) = try Self.twoSymmetricTwoPublic(seed: 41)
        defer { sim.stop() }
        Self.startAndProtect(sim, keys)
        sim.run(until: .zero + .seconds(8))
        // Node 1 keeps publishing; node 0 cannot link to it and gets it through a relay.
        for k in 0..<100 {
            sim.at(sim.now + .milliseconds(Int64(k) * 100)) { sim in
                try? sim.withNode(1) { mesh, now in try mesh.broadcast([UInt8(k)], now: now).actions }
            }
        }
        sim.run(for: .seconds(3))
        let asked = sim.node(0)!.stats.relayRequestsSent
        let relayed = sim.node(2)!.stats.relayed + sim.node(3)!.stats.relayed
        #expect(asked > 0 && relayed > 0, "asked \(asked), relayed \(relayed)")
        // The session drops node 1: every other node unprotects it.
        for i in [0, 2, 3] {
            sim.withNode(i) { mesh, _ in
                mesh.unprotect([keys[1]]); return []
            }
        }
        sim.run(for: .seconds(5))
        #expect(sim.node(0)!.stats.relayRequestsSent == asked)
        // At most what was in flight when the relays learned it.
        #expect(sim.node(2)!.stats.relayed + sim.node(3)!.stats.relayed <= relayed + 2)
    }

    @Test(
        "a home router that forgets its mappings: the node registers again, the others find its new port through the resolver and probe it, every link moves and none drops"
    )
    func homeRouterRebinds() throws {
        let sim = MeshSimulator(seed: 35, defaultLink: LinkModel(latency: .milliseconds(20)))
        defer { sim.stop() }
        sim.hostResolver()
        let creds = try MeshCredentials(meshID: "nat", access: .password("pw"))
        let config = MeshConfiguration.lockstep(players: 4)
        for _ in 0..<4 { try sim.addNode(credentials: creds, configuration: config, behind: sim.addNAT(.homeRouter)) }
        for i in 0..<4 { sim.at(.zero + .milliseconds(Int64(i) * 200)) { $0.start(i) } }
        var downs: [String] = []
        sim.observer.event = { node, e, at in if case .neighborDown = e { downs.append("\(at) node \(node): \(e)") } }
        sim.run(until: .zero + .seconds(8))
        #expect(sim.node(0)?.neighborCount == 3)
        sim.rebindNAT(0)
        sim.run(for: .seconds(3))
        #expect(downs.isEmpty, "\(downs)")
        #expect(sim.node(0)?.neighborCount == 3)
        let moved = (1..<4).reduce(0) { $0 + (sim.node($1)?.stats.neighborsMoved ?? 0) }
        #expect(moved == 3, "links moved: \(moved)")
        // And they carry traffic again: node 0 hears every neighbor within the keepalive interval.
        #expect((1..<4).allSatisfy { sim.node($0)!.neighborInfo.allSatisfy { $0.address.description.hasPrefix("198.51.100.") } })
    }

    @Test("nodes behind one NAT link by their private addresses; others reach them only through the NAT")
    func sameNAT() throws {
        let sim = MeshSimulator(seed: 33)
        defer { sim.stop() }
        sim.hostResolver()
        let creds = try MeshCredentials(meshID: "nat", access: .password("pw"))
        let home = sim.addNAT(.homeRouter)
        for _ in 0..<2 { try sim.addNode(credentials: creds, configuration: meshConfig(degree: 3), behind: home) }
        try sim.addNode(credentials: creds, configuration: meshConfig(degree: 3), behind: sim.addNAT(.homeRouter))
        for i in 0..<3 { sim.at(.zero + .milliseconds(Int64(i) * 200)) { $0.start(i) } }
        sim.run(until: .zero + .seconds(15))
        #expect(sim.components().count == 1)
        let n0 = try #require(sim.node(0))
        #expect(
            n0.neighborInfo.contains { $0.address == sim.currentAddress(of: 1) },
            "node 0 links node 1 by its private address: \(n0.neighborInfo.map(\.address)), node 1 at \(sim.currentAddress(of: 1)), moved \(n0.stats.neighborsMoved)"
        )
    }
}

@Suite("Path opening under a stalled requester")
struct StalledRequesterTests {
    /// Three players started 50 ms apart, each behind a Linux router that takes unsolicited
    /// datagrams to itself; node `stalled`'s first resolve that brings introductions freezes it for `stall` right
    /// after it asked, as a process starved of CPU is.
    static func linkedPairs(stalled: Int, stall: Duration, seed: UInt64) throws -> (pairs: Set<[Int]>, natDrops: Int, froze: Bool) {
        let sim = MeshSimulator(seed: seed, defaultLink: LinkModel(latency: .milliseconds(10)))
        defer { sim.stop() }
        sim.hostResolver()
        let creds = try MeshCredentials(meshID: "nat", access: .password("pw"))
        let config = MeshConfiguration.lockstep(players: 3)
        for _ in 0..<3 { try sim.addNode(credentials: creds, configuration: config, behind: sim.addNAT(.linuxRouterWithoutInputFilter)) }
        let keys = (0..<3).map { sim.node($0)!.key }
        for i in 0..<3 {
            sim.withNode(i) { mesh, _ in
                mesh.protect(keys); return []
            }
        }
        var frozen = false
        sim.resolverHook = { sender, before, after in
            if sender == stalled, after.introductions > before.introductions, !frozen {
                frozen = true
                sim.pause(stalled, until: sim.now + stall)
            }
        }
        for i in 0..<3 { sim.at(.zero + .milliseconds(Int64(i) * 50)) { $0.start(i) } }
        sim.run(until: .zero + .seconds(10))
        var pairs: Set<[Int]> = []
        for i in 0..<3 {
            for n in sim.node(i)!.neighborInfo { if let j = keys.firstIndex(of: n.peer) { pairs.insert([min(i, j), max(i, j)]) } }
        }
        return (pairs, sim.natDrops, frozen)
    }

    @Test(
        "a requester frozen for 600 ms or 2 s right after it asked for introductions still links every pair directly: its NAT was open toward the peers it listed before it asked (without that order, a 600 ms freeze left it unlinked for good)"
    )
    func frozenRequesterLinks() throws {
        var froze = 0
        for seed in UInt64(1)...4 {
            let control = try Self.linkedPairs(stalled: 0, stall: .zero, seed: seed)
            #expect(control.pairs == [[0, 1], [0, 2], [1, 2]], "seed \(seed), no stall: \(control)")
            for stalled in 0..<3 {
                for stall in [Duration.milliseconds(600), .seconds(2)] {
                    let r = try Self.linkedPairs(stalled: stalled, stall: stall, seed: seed)
                    #expect(r.pairs == [[0, 1], [0, 2], [1, 2]], "seed \(seed), node \(stalled) frozen for \(stall): \(r)")
                    if r.froze { froze += 1 }
                }
            }
        }
        // A node whose peers asked for it first never asks, and nothing freezes it: enough
        // runs must have frozen their node, or the test proves nothing.
        #expect(froze >= 8, "\(froze) of 24 runs froze their node")
    }
}
