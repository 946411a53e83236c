import MeshstepMesh
import MeshstepResolver
import MeshstepSimulation
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
