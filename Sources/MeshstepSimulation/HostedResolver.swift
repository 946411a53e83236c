import MeshstepMesh
import MeshstepResolver
import MeshstepWire

/// A `ResolverService` inside the simulated network, and the `ResolverClient` of every started
/// node: the same values `meshstep resolver` and `UDPMeshPeer` drive, here datagram by datagram
/// in virtual time.
struct HostedResolver {
    var service: ResolverService
    var clients: [Int: ResolverClient] = [:]
    var clientWakeAt: [Int: MeshTime] = [:]
}

extension MeshSimulator {
    /// Where the hosted resolver listens (see ``hostResolver(configuration:)``).
    public static let resolverAddress = MeshAddress.ipv4(0x0AFF_FF01, port: 7400)
    /// The wall clock of virtual time zero, in milliseconds since the Unix epoch (the resolver
    /// checks signed timestamps against it).
    public static let wallClockAtZero: UInt64 = 1_700_000_000_000

    /// Puts a real `ResolverService` at ``resolverAddress``. From then on every node started
    /// registers there with its own `ResolverClient` (signed by its key and its mesh's admission
    /// key) and resolves through it, instead of the built-in random sample of live nodes.
    /// Datagrams to and from the resolver cross links that behave as ``defaultLink``.
    /// Call it before starting nodes.
    public func hostResolver(configuration: ResolverConfiguration = ResolverConfiguration()) {
        var secret: [UInt8] = []
        for _ in 0..<4 { withUnsafeBytes(of: rng.next()) { secret += $0 } }
        resolver = HostedResolver(service: ResolverService(configuration: configuration, seed: rng.next(), cookieSecret: secret))
        push(now + .seconds(1), .resolverTick)
    }

    /// The hosted resolver's counters, or nil when there is none.
    public var resolverStats: ResolverStats? { resolver?.service.stats }

    /// The peers registered in a mesh at the hosted resolver (empty when there is none).
    public func resolverPeers(in mesh: ResolverMeshID) -> [ResolvedPeer] { resolver?.service.peers(in: mesh) ?? [] }

    /// The cookie the hosted resolver gives `address` now: what a sender at that address learns
    /// from one answer (attack scripts that own an address use it).
    public func resolverCookie(for address: MeshAddress) -> [UInt8] { resolver?.service.cookie(for: address, now: now) ?? ResolverWire.noCookie }

    /// Milliseconds since the Unix epoch at virtual time `now`.
    var wallClock: UInt64 { Self.wallClockAtZero + UInt64(now.nanoseconds / 1_000_000) }

    func startResolverClient(_ i: Int) {
        guard resolver != nil, let identity = nodes[i].identity else { return }
        guard
            var client = try? ResolverClient(
                identity: identity, credentials: nodes[i].credentials, addresses: [nodes[i].address], seed: rng.next())
        else { return }
        let actions = client.register(now: now, wallClock: wallClock)
        resolver!.clients[i] = client
        // The resolver introduces peers: dials to peers behind NATs open the path first.
        mutate(i) { $0.useIntroductions(observed: nil, ownAddresses: []) }
        performClient(i, actions)
    }

    func resolveThroughResolver(_ i: Int, introduce: [PeerKey]) {
        guard var client = resolver?.clients[i], hasMesh(i) else { return }
        let actions = client.resolve(introduce: introduce, now: now, wallClock: wallClock)
        resolver!.clients[i] = client
        performClient(i, actions)
    }

    func reregister(_ i: Int) {
        guard var client = resolver?.clients[i] else { return }
        let actions = client.register(now: now, wallClock: wallClock)
        resolver!.clients[i] = client
        performClient(i, actions)
    }

    func resolverReceive(_ bytes: [UInt8], from source: MeshAddress, sender: Int) {
        guard resolver != nil else { return }
        let before = resolver!.service.stats
        let actions = resolver!.service.receive(bytes, from: source, now: now, wallClock: wallClock)
        resolverHook?(sender, before, resolver!.service.stats)
        for case let .send(answer, to) in actions {
            datagramsSent += 1
            guard let (j, _) = route(from: nil, source: Self.resolverAddress, to: to), !rng.chance(defaultLink.loss) else {
                datagramsDropped += 1
                continue
            }
            push(now + defaultLink.latency, .datagram(to: j, from: Self.resolverAddress, sender: -1, bytes: answer))
        }
    }

    func resolverAnswer(_ bytes: [UInt8], to i: Int) {
        guard var client = resolver?.clients[i], ResolverWire.isResolverDatagram(bytes) else { return }
        let actions = client.receive(bytes, now: now, wallClock: wallClock)
        resolver!.clients[i] = client
        performClient(i, actions)
    }

    func resolverClientTimer(_ i: Int) {
        guard resolver?.clientWakeAt[i] == now, var client = resolver?.clients[i] else { return }
        resolver!.clientWakeAt[i] = nil
        let actions = client.tick(now: now, wallClock: wallClock)
        resolver!.clients[i] = client
        performClient(i, actions)
    }

    func resolverTick() {
        guard resolver != nil else { return }
        _ = resolver!.service.tick(now: now, wallClock: wallClock)
        push(now + .seconds(1), .resolverTick)
    }

    /// Carries out a client's actions: requests go to the resolver, resolved peers become the
    /// node's candidates; then its next timer is set.
    func performClient(_ i: Int, _ actions: [ResolverClientAction]) {
        for action in actions {
            switch action {
            case let .send(bytes): transmit(bytes, from: i, to: Self.resolverAddress)
            case let .event(.resolved(answer)):
                withNode(i) { mesh, now in mesh.addCandidates(answer.referrals, introducedTo: answer.introduced, now: now) }
            case let .event(.introduced(peer)):
                withNode(i) { mesh, now in mesh.introduced(peer.referrals, now: now) }
            case let .event(.observedAddress(address)):
                withNode(i) { mesh, _ in
                    mesh.useIntroductions(observed: address, ownAddresses: [nodes[i].address])
                    return []
                }
            case .event: break
            }
        }
        guard let deadline = resolver?.clients[i]?.nextDeadline else { return }
        if resolver!.clientWakeAt[i].map({ deadline < $0 }) ?? true {
            let t = max(deadline, now)
            resolver!.clientWakeAt[i] = t
            push(t, .resolverClientTimer(i))
        }
    }
}
