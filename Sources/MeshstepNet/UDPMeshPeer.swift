import Foundation
import Logging
import MeshstepMesh
import MeshstepAddress
import MeshstepResolver
import MeshstepWire
import NIOCore
import NIOPosix

/// How a UDP peer finds the mesh.
public struct Discovery: Sendable {
    /// Static seeds (`--peer HOST:PORT`, repeatable).
    public var seeds: [SocketAddress] = []
    /// A resolver service (`--resolver HOST:PORT`).
    public var resolver: SocketAddress?
    /// LAN discovery (`--lan`): beacons to an IPv4 multicast group, answered by every peer of
    /// the same mesh on the local network. No server, no configuration.
    public var lan = false
    /// The multicast group and port of LAN discovery (the port is shared by every peer of the
    /// machine).
    public var lanGroup = "239.255.77.77"
    /// The UDP port beacons go to and are heard on (shared by every peer of the machine).
    public var lanPort = 7477

    /// Finds the mesh through `seeds`, a `resolver` and/or LAN beacons; with none of them the
    /// peer can only be dialed by others.
    public init(seeds: [SocketAddress] = [], resolver: SocketAddress? = nil, lan: Bool = false) {
        self.seeds = seeds
        self.resolver = resolver
        self.lan = lan
    }
}

/// Drops received datagrams at random (seeded), as a lossy network would: for benchmarks and
/// tests of loss on real sockets (`@_spi(Testing) import MeshstepNet`).
@_spi(Testing) public struct SocketLoss: Sendable {
    /// Chance that each received datagram is dropped (0...1).
    public var probability: Double
    /// Seeds the generator that decides which datagrams are dropped.
    public var seed: UInt64
    /// Drops each received datagram with `probability`, decided by a generator seeded with `seed`.
    public init(probability: Double, seed: UInt64) {
        self.probability = probability
        self.seed = seed
    }
}

/// The thin I/O shell: one `MeshNode` on one UDP socket, driven on one SwiftNIO event loop.
///
/// Every datagram, timer and send happens on ``eventLoop``; relaying and acknowledgements never
/// wait for the game loop. The mesh value is confined to that loop; public methods are safe from
/// any thread (they hop onto the loop). Each datagram is sent with its own `sendto(2)` (a send
/// refused by a firewall or a vanished route is then one lost datagram, not a closed channel).
public final class UDPMeshPeer: @unchecked Sendable {
    /// The event loop that owns the socket and the mesh state; every callback runs on it.
    public let eventLoop: any EventLoop
    /// The address the socket is bound to, with the actual port when 0 was asked for.
    public let localAddress: SocketAddress
    /// This peer's ID in the mesh: the public key of ``identity``.
    public let key: PeerKey
    /// This peer's identity (its key signs roster acceptances and changes).
    public let identity: NodeIdentity
    /// The mesh's name.
    public let meshID: String
    let channel: any Channel
    /// The socket (owned by `channel`, which closes it); sends go through it directly.
    let socket: DatagramSocket
    let logger: Logger
    let origin = NIODeadline.now()
    let ipv6Socket: Bool
    let discovery: Discovery
    /// `discovery.seeds` in the mesh's form, converted once.
    let seedAddresses: [MeshAddress]

    // Confined to `eventLoop`.
    var mesh: MeshNode
    var timer = DeadlineTimer()
    var loss: (probability: Double, rng: DeterministicRNG)?
    var stopped = false
    /// Datagrams from these source ports are dropped on arrival (tests: a partition between
    /// peers of one machine).
    var blockedPorts: Set<Int>?
    var refusals: [(address: MeshAddress, reason: DisconnectReason)] = []
    /// The resolver link, when `discovery.resolver` is set: registers this peer, refreshes the
    /// registration (and re-registers by itself after a resolver restart), resolves candidates
    /// whenever the mesh asks for more.
    var resolverClient: ResolverClient?
    var resolverAddress: SocketAddress?
    var resolverMeshAddress: MeshAddress?
    var resolverTimer = DeadlineTimer()
    var resolverFailure: ResolverClientError?
    var resolverAnswered = false
    /// Where the resolver sees this peer (its NAT's public mapping), from the last acknowledgement.
    var observedByResolver: MeshAddress?
    /// LAN discovery: the listening channel (shared port, multicast group joined) and beacons.
    var lanChannel: (any Channel)?
    var lanTimer: RepeatedTask?
    /// Every second: ``MeshStats`` to swift-metrics (`meshstep_mesh_*`, dimension `mesh`).
    var metricsTask: RepeatedTask?
    lazy var metrics = StatsExporter(prefix: "meshstep_mesh", dimensions: [("mesh", meshID)])
    let digest: [UInt8]
    /// Called on the event loop for every delivered message.
    public var onDeliver: ((DeliveredMessage, MeshTime) -> Void)?
    /// Called on the event loop for every mesh event.
    public var onEvent: ((MeshEvent, MeshTime) -> Void)?
    /// Called on the event loop when the mesh wants more candidates (the resolver link hooks in).
    public var onResolve: ((MeshTime) -> Void)?

    /// Binds `host:port` and joins the mesh through `discovery`.
    ///
    /// - Parameters:
    ///   - identity: the node's Ed25519 key pair (a new one by default).
    ///   - credentials: the mesh name and password.
    ///   - configuration: the mesh's neighbor counts, timers and limits.
    ///   - host: the local address to bind (`0.0.0.0`, `::`, `127.0.0.1`, an interface's address).
    ///   - port: the UDP port; 0 picks a free one (read ``localAddress``).
    ///   - discovery: how to find peers: seeds, a resolver, LAN beacons.
    ///   - group: the event loop group; the peer takes one loop of it.
    ///   - logger: where the shell and the mesh log.
    ///   - configure: called once with the new peer before it starts (before the first datagram),
    ///     to set handlers such as ``onDeliver``.
    /// - Throws: ``NetError/portInUse(host:port:)`` and the other bind errors; a bad
    ///   configuration as ``NetError/bindFailed(host:port:detail:)``.
    public static func start(
        identity: NodeIdentity = NodeIdentity(),
        credentials: MeshCredentials,
        configuration: MeshConfiguration = MeshConfiguration(),
        host: String = "0.0.0.0",
        port: Int = 0,
        discovery: Discovery = Discovery(),
        group: any EventLoopGroup,
        logger: Logger = Logger(label: "meshstep.udp", factory: { _ in SwiftLogNoOpLogHandler() }),
        configure: ((UDPMeshPeer) -> Void)? = nil
    ) throws(NetError) -> UDPMeshPeer {
        try start(
            identity: identity, credentials: credentials, configuration: configuration, host: host, port: port,
            discovery: discovery, socketLoss: nil, group: group, logger: logger, configure: configure)
    }

    /// ``start(identity:credentials:configuration:host:port:discovery:group:logger:configure:)``
    /// with seeded loss of received datagrams, for tests and benchmarks.
    @_spi(Testing) public static func start(
        identity: NodeIdentity = NodeIdentity(),
        credentials: MeshCredentials,
        configuration: MeshConfiguration = MeshConfiguration(),
        host: String = "0.0.0.0",
        port: Int = 0,
        discovery: Discovery = Discovery(),
        socketLoss: SocketLoss?,
        group: any EventLoopGroup,
        logger: Logger = Logger(label: "meshstep.udp", factory: { _ in SwiftLogNoOpLogHandler() }),
        configure: ((UDPMeshPeer) -> Void)? = nil
    ) throws(NetError) -> UDPMeshPeer {
        guard (0...65535).contains(port) else { throw .bindFailed(host: host, port: port, detail: "the port must be 0...65535") }
        let bindAddress: SocketAddress
        do { bindAddress = try SocketAddress(ipAddress: host, port: port) } catch {
            throw .badAddress(host, detail: "not an IP address of this machine")
        }
        let loop = group.next()
        let inbound = InboundHandler()
        // We create and bind the socket ourselves: NIO reads from it, but we send with our own
        // sendto(2), because NIO closes a datagram channel on most send errors, and a send
        // refused by a firewall (EPERM) or a vanished route must be just a lost datagram.
        let fd = try Self.bindSocket(bindAddress, host: host, port: port)
        let channel: any Channel
        let vectorReads = Self.vectorReads(configuration)
        do {
            channel = try DatagramBootstrap(group: loop)
                // NIO reads datagrams into 2 KiB buffers unless told otherwise: a larger one
                // would arrive cut short, fail its link tag and be lost. With vector reads the
                // buffer is split evenly between the datagrams of one call.
                .channelOption(
                    .recvAllocator,
                    value: FixedSizeRecvByteBufferAllocator(capacity: vectorReads * max(2048, configuration.maxDatagramSize))
                )
                .channelOption(.datagramVectorReadMessageCount, value: vectorReads)
                // One read call per wake-up: with vector reads, up to 16 datagrams before the
                // loop's timers and tasks run again (NIO's default of 4 calls would make it 64).
                .channelOption(.maxMessagesPerRead, value: vectorReads > 1 ? UInt(1) : UInt(4))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(inbound) }
                }
                .withBoundSocket(fd)
                .wait()
        } catch {
            close(fd)
            throw .bindFailed(host: host, port: port, detail: "\(error)")
        }
        let local = channel.localAddress ?? bindAddress
        let ipv6 = { if case .v6 = local { true } else { false } }()
        var meshLocal = MeshAddress(local) ?? .ipv4(0, port: UInt16(port))
        if case let .ipv4(v, p) = meshLocal, v == 0 { meshLocal = .ipv4(0x7F00_0001, port: p) }
        let mesh: MeshNode
        do {
            mesh = try MeshNode(
                identity: identity, credentials: credentials, localAddress: meshLocal, configuration: configuration,
                rng: SystemRandomNumberGenerator(), logger: logger,
                firstSequence: MeshNode.firstSequence(unixSeconds: UInt64(max(0, time(nil)))))
        } catch {
            _ = channel.close()
            throw .bindFailed(host: host, port: port, detail: "\(error)")
        }
        let peer = UDPMeshPeer(channel: channel, fd: fd, mesh: mesh, local: local, ipv6: ipv6, discovery: discovery, logger: logger)
        if let resolver = discovery.resolver {
            // Register "the address the resolver sees, this port" (the NAT's public mapping; the
            // resolver also adds the observed source) and, when bound to every address, this
            // host's own IPv4 addresses: players behind one NAT reach each other by those, as
            // most home routers do not hairpin.
            var registered: [MeshAddress] = [
                MeshAddress(bindAddress).map { a in
                    if case let .ipv4(v, _) = a, v == 0 { return .ipv4(0, port: meshLocal.port) }
                    return meshLocal
                } ?? .ipv4(0, port: meshLocal.port)
            ]
            if case .ipv4(0, _) = registered[0] { registered += Self.hostAddresses(port: meshLocal.port).prefix(ResolverWire.maxAddresses - 2) }
            peer.resolverClient = try? ResolverClient(
                identity: identity, credentials: credentials,
                addresses: registered, seed: UInt64.random(in: .min ... .max))
            peer.resolverAddress = ipv6 ? (MeshAddress(resolver).flatMap { try? SocketAddress($0, mappedToIPv6: true) } ?? resolver) : resolver
            peer.resolverMeshAddress = MeshAddress(resolver)
        }
        if let socketLoss { peer.loss = (socketLoss.probability, DeterministicRNG(seed: socketLoss.seed)) }
        configure?(peer)
        if discovery.lan { try peer.startLAN(group: loop) }
        do {
            try loop.submit {
                inbound.peer = peer
                peer.startOnLoop()
            }.wait()
        } catch {
            throw .bindFailed(host: host, port: port, detail: "\(error)")
        }
        return peer
    }

    init(channel: any Channel, fd: CInt, mesh: MeshNode, local: SocketAddress, ipv6: Bool, discovery: Discovery, logger: Logger) {
        self.channel = channel
        socket = DatagramSocket(fd: fd, ipv6: ipv6)
        eventLoop = channel.eventLoop
        self.mesh = mesh
        key = mesh.key
        identity = mesh.identity
        meshID = mesh.credentials.meshID
        localAddress = local
        ipv6Socket = ipv6
        self.discovery = discovery
        seedAddresses = discovery.seeds.compactMap(MeshAddress.init)
        self.logger = logger
        digest = mesh.credentials.digest
    }

    /// Virtual-clock time for the protocol values: monotonic, from when this peer started.
    public var now: MeshTime { MeshTime(nanoseconds: Int64(NIODeadline.now().uptimeNanoseconds - origin.uptimeNanoseconds)) }

    // MARK: Public, thread-safe

    /// Floods `payload` to the mesh. Safe from any thread; the send happens on the event loop.
    public func broadcast(_ payload: [UInt8]) {
        eventLoop.execute { _ = try? self.broadcastOnLoop(payload) }
    }

    /// Floods `payloads` to the mesh, in order, under one signature per 256 of them
    /// (`MeshNode.broadcast(batch:now:)`). Safe from any thread; the sends happen on the event loop.
    public func broadcast(batch payloads: [[UInt8]]) {
        eventLoop.execute { _ = try? self.broadcastOnLoop(batch: payloads) }
    }

    /// Drops every datagram arriving from these source ports (nil: none): a partition between
    /// peers of one machine, for tests and benchmarks.
    @_spi(Testing) public func block(ports: Set<Int>?) {
        eventLoop.execute { self.blockedPorts = ports }
    }

    /// Adds candidate addresses (seeds) at runtime.
    public func addSeeds(_ addresses: [SocketAddress]) {
        eventLoop.execute {
            let t = self.now
            self.perform(self.mesh.addSeedAddresses(addresses.compactMap(MeshAddress.init), now: t))
        }
    }

    /// Datagrams read per recvmmsg(2) on Linux: up to 16, in a buffer of at most 256 KiB. A node
    /// under load (a relay) takes what has queued in one system call instead of one call each.
    /// Elsewhere NIO reads one datagram per call.
    static func vectorReads(_ c: MeshConfiguration) -> Int {
        #if os(Linux)
            max(1, min(16, 262_144 / max(2048, c.maxDatagramSize)))
        #else
            1
        #endif
    }

    /// Mesh counters (bytes, datagrams, drops...). Blocks until the event loop answers.
    public func stats() -> MeshStats {
        (try? eventLoop.submit { self.mesh.stats }.wait()) ?? MeshStats()
    }

    /// Current neighbors.
    public func neighbors() -> [NeighborInfo] {
        (try? eventLoop.submit { self.neighborsOnLoop() }.wait()) ?? []
    }

    /// Current neighbors, on the event loop. Read through an inout access: a plain read of a
    /// property of `mesh` copies the whole node first (retaining every array it holds).
    func neighborsOnLoop() -> [NeighborInfo] { inPlace { $0.neighborInfo } }

    func inPlace<T>(_ body: (inout MeshNode) -> T) -> T { body(&mesh) }

    /// Keeps the links to `peers` (see `MeshNode/protect(_:)`).
    public func protect(_ peers: [PeerKey]) {
        eventLoop.execute { self.mesh.protect(peers) }
    }

    /// Whether the resolver has ever answered this peer.
    public func resolverHasAnswered() -> Bool {
        (try? eventLoop.submit { self.resolverAnswered }.wait()) ?? false
    }

    /// This host's IPv4 addresses with `port`: up, not loopback, not link-local (169.254/16),
    /// in interface order, without duplicates.
    static func hostAddresses(port: UInt16) -> [MeshAddress] {
        var out: [MeshAddress] = []
        for device in (try? System.enumerateDevices()) ?? [] {
            guard let address = device.address.flatMap(MeshAddress.init), case let .ipv4(v, _) = address else { continue }
            if v >> 24 == 127 || v >> 16 == 0xA9FE || v == 0 { continue }
            let candidate = MeshAddress.ipv4(v, port: port)
            if !out.contains(candidate) { out.append(candidate) }
        }
        return out
    }

    /// The address the resolver sees this peer's datagrams come from: behind a NAT, the NAT's
    /// public mapping of this socket (nil without a resolver, or before it answered).
    public func publicAddress() -> MeshAddress? {
        (try? eventLoop.submit { self.observedByResolver }.wait()) ?? nil
    }

    /// The resolver's last failure (unreachable, refused), nil once it answers again.
    public func resolverProblem() -> ResolverClientError? {
        (try? eventLoop.submit { self.resolverFailure }.wait()) ?? nil
    }

    /// Refusals seen while joining (wrong password, wrong mesh...), oldest first.
    public func refusalsSeen() -> [(address: MeshAddress, reason: DisconnectReason)] {
        (try? eventLoop.submit { self.refusals }.wait()) ?? []
    }

    /// Clean shutdown: Disconnect(leaving) to every neighbor, then the socket closes.
    public func leave() {
        let done: EventLoopFuture<Void> = eventLoop.submit {
            guard !self.stopped else { return }
            if self.resolverClient != nil {
                let t = self.now
                self.performResolver(self.resolverClient!.unregister(now: t, wallClock: Self.wallClock()))
            }
            self.perform(self.mesh.leave(now: self.now))
            self.stopOnLoop()
        }
        try? done.wait()
        try? channel.close().wait()
    }

    /// Abrupt stop (tests: a crash): the socket closes, nothing is sent.
    @_spi(Testing) public func kill() {
        try? eventLoop.submit { self.stopOnLoop() }.wait()
        try? channel.close().wait()
    }

    // MARK: Event loop

    /// Floods from the event loop (for code already running there).
    @discardableResult
    public func broadcastOnLoop(_ payload: [UInt8]) throws(MeshSendError) -> UInt64 {
        eventLoop.preconditionInEventLoop()
        guard !stopped else { throw .notRunning }
        let (seq, actions) = try mesh.broadcast(payload, now: now)
        perform(actions)
        return seq
    }

    /// Floods `payloads` from the event loop under one signature per 256 of them
    /// (`MeshNode.broadcast(batch:now:)`): for a burst, a fraction of the signing and of every
    /// receiver's checking.
    @discardableResult
    public func broadcastOnLoop(batch payloads: [[UInt8]]) throws(MeshSendError) -> [UInt64] {
        eventLoop.preconditionInEventLoop()
        guard !stopped else { throw .notRunning }
        let (seqs, actions) = try mesh.broadcast(batch: payloads, now: now)
        perform(actions)
        return seqs
    }

    /// Sends `payload` to `peer` only (directly when it is a neighbor, else over the mesh), on
    /// the event loop.
    public func sendOnLoop(_ payload: [UInt8], to peer: PeerKey) throws(MeshSendError) {
        eventLoop.preconditionInEventLoop()
        guard !stopped else { throw .notRunning }
        perform(try mesh.send(payload, to: peer, now: now).actions)
    }

    /// Sends `payload` over the links to those of `peers` that are neighbors, unsigned
    /// (`MeshNode.sendDirect`), on the event loop.
    public func sendDirectOnLoop(_ payload: [UInt8], to peers: [PeerKey]) throws(MeshSendError) {
        eventLoop.preconditionInEventLoop()
        guard !stopped else { throw .notRunning }
        perform(try mesh.sendDirect(payload, to: peers, now: now))
    }

    static func wallClock() -> UInt64 { UInt64(max(0, Date().timeIntervalSince1970 * 1000)) }

    func startOnLoop() {
        let t = now
        if resolverClient != nil {
            // The resolver introduces peers: dials to peers behind NATs open the path first.
            mesh.useIntroductions(observed: nil, ownAddresses: [])
            performResolver(resolverClient!.register(now: t, wallClock: Self.wallClock()))
            performResolver(resolverClient!.resolve(now: t, wallClock: Self.wallClock()))
        }
        perform(mesh.start(now: t))
        if !seedAddresses.isEmpty { perform(mesh.addSeedAddresses(seedAddresses, now: t)) }
        metricsTask = eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [weak self] _ in
            guard let self, !self.stopped else { return }
            self.metrics.export(self.mesh.stats)
        }
    }

    func stopOnLoop() {
        stopped = true
        lanTimer?.cancel()
        lanTimer = nil
        metricsTask?.cancel()
        metricsTask = nil
        _ = lanChannel?.close()
        timer.cancel()
        resolverTimer.cancel()
    }

    func received(_ bytes: [UInt8], from address: SocketAddress) {
        guard !stopped, let from = MeshAddress(address) else { return }
        if loss != nil, loss!.rng.chance(loss!.probability) { return }
        if let blocked = blockedPorts, let port = address.port, blocked.contains(port) { return }
        if resolverClient != nil, ResolverWire.isResolverDatagram(bytes), from == resolverMeshAddress {
            resolverAnswered = true
            performResolver(resolverClient!.receive(bytes, now: now, wallClock: Self.wallClock()))
            return
        }
        perform(mesh.receive(bytes, from: from, now: now))
    }

    func perform(_ actions: [MeshAction]) {
        for action in actions {
            switch action {
            case let .send(bytes, to):
                if !stopped { socket.send(bytes, to: to, logger: logger) }
            case let .sendOpener(bytes, to, hopLimit):
                if !stopped { socket.send(bytes, to: to, hopLimit: hopLimit, logger: logger) }
            case let .deliver(message):
                onDeliver?(message, now)
            case let .event(event):
                if case let .connectRefused(address, reason) = event { refusals.append((address, reason)) }
                onEvent?(event, now)
            case let .resolve(introduce):
                // The seeds' Connects go out now (they were dropped before, waiting for a retry).
                if !seedAddresses.isEmpty { perform(mesh.addSeedAddresses(seedAddresses, now: now)) }
                // From the mesh socket, after the openers that preceded this action (§6.7).
                if resolverClient != nil {
                    performResolver(resolverClient!.resolve(introduce: introduce, now: now, wallClock: Self.wallClock()))
                }
                onResolve?(now)
            case .locate:
                if resolverClient != nil { performResolver(resolverClient!.resolve(now: now, wallClock: Self.wallClock())) }
            case .reregister:
                if resolverClient != nil { performResolver(resolverClient!.register(now: now, wallClock: Self.wallClock())) }
            }
        }
        arm()
    }

    /// One datagram out to the resolver or the LAN group, now; a failure is a lost datagram.
    /// The mesh's own datagrams go out in ``perform(_:)``. Every send runs on the event loop,
    /// one after another (an opener's hop limit is set on the socket for one datagram).
    func sendDatagram(_ bytes: [UInt8], to address: SocketAddress) {
        guard !stopped else { return }
        socket.send(bytes, to: address, logger: logger)
    }

    /// Sends the resolver client's datagrams from the mesh socket (so NAT mappings match) and
    /// feeds its answers to the mesh.
    func performResolver(_ actions: [ResolverClientAction]) {
        guard let resolverAddress else { return }
        for action in actions {
            switch action {
            case let .send(bytes):
                sendDatagram(bytes, to: resolverAddress)
            case let .event(.resolved(answer)):
                if !answer.referrals.isEmpty { perform(mesh.addCandidates(answer.referrals, introducedTo: answer.introduced, now: now)) }
            case let .event(.introduced(peer)):
                perform(mesh.introduced(peer.referrals, now: now))
            case let .event(.failed(error)):
                if resolverFailure == nil { logger.warning("resolver \(resolverAddress): \(error)") }
                resolverFailure = error
            case let .event(.observedAddress(address)):
                if observedByResolver != nil { logger.info("the resolver sees this peer at a new address: \(address) (a NAT gave it a new public port)") }
                observedByResolver = address
                mesh.useIntroductions(observed: address, ownAddresses: Self.hostAddresses(port: 0))
            case .event(.reachable), .event(.registered), .event(.reregistered):
                resolverFailure = nil
            case .event:
                break
            }
        }
        armResolver()
    }

    func armResolver() {
        guard !stopped, let deadline = resolverClient?.nextDeadline else { return }
        resolverTimer.arm(deadline, origin: origin, on: eventLoop) { [self] in
            resolverTimer.fired()
            guard !stopped, resolverClient != nil else { return }
            performResolver(resolverClient!.tick(now: now, wallClock: Self.wallClock()))
        }
    }

    /// Arms one timer for the mesh's next deadline.
    func arm() {
        guard !stopped, let deadline = inPlace({ $0.nextDeadline }) else { return }
        timer.arm(deadline, origin: origin, on: eventLoop) { [self] in
            timer.fired()
            guard !stopped else { return }
            perform(mesh.timerFired(now: now))
        }
    }

    /// Feeds datagrams from the channel to the peer.
    final class InboundHandler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        var peer: UDPMeshPeer?

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let envelope = unwrapInboundIn(data)
            var buffer = envelope.data
            let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
            peer?.received(bytes, from: envelope.remoteAddress)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            // ICMP errors surface here (port unreachable after a peer died, EPERM from a
            // firewall): a datagram socket carries on.
            peer?.logger.debug("socket error: \(error)")
        }
    }
}
