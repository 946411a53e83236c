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
