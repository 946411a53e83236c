import HeapModule
@_spi(Adversary) import MeshstepMesh
import MeshstepResolver
import MeshstepWire

/// How a simulated link treats each datagram.
public struct LinkModel: Sendable, Equatable {
    /// One-way base latency.
    public var latency: Duration
    /// Extra delay drawn uniformly from `0...jitter` per datagram (this also reorders).
    public var jitter: Duration
    /// Probability that a datagram is lost.
    public var loss: Double
    /// Probability that a datagram is delivered twice.
    public var duplicate: Double
    /// Serialization rate of the sender's uplink on this link, or nil for unlimited.
    public var bandwidthBytesPerSecond: Int?

    /// A link model; the defaults are 20 ms latency, up to 5 ms of jitter, no loss, no duplicates
    /// and unlimited bandwidth.
    public init(
        latency: Duration = .milliseconds(20), jitter: Duration = .milliseconds(5), loss: Double = 0, duplicate: Double = 0, bandwidthBytesPerSecond: Int? = nil
    ) {
        self.latency = latency
        self.jitter = jitter
        self.loss = loss
        self.duplicate = duplicate
        self.bandwidthBytesPerSecond = bandwidthBytesPerSecond
    }
}

/// A discrete-event network simulator in virtual time that drives real `MeshNode` values.
///
/// Everything random — link loss, jitter, node identities, each node's own generator — derives
/// from one seed, and events at equal times run in the order they were scheduled, so a run is
/// reproducible bit for bit. Not thread-safe: one simulator, one thread.
public final class MeshSimulator {
    /// Callbacks that watch a run from outside the nodes; each is optional.
    public struct Observer {
        /// A node delivered a message to its application.
        public var delivered: ((_ node: Int, _ message: DeliveredMessage, _ at: MeshTime) -> Void)?
        /// A node emitted an event.
        public var event: ((_ node: Int, _ event: MeshEvent, _ at: MeshTime) -> Void)?
        /// A datagram reached a live node (after loss), before the node handles it.
        public var arrival: ((_ node: Int, _ bytes: [UInt8], _ from: MeshAddress) -> Void)?
        /// A node sent a datagram to an address where nothing listens (neither a node nor the
        /// resolver): for example an address an attacker planted.
        public var unroutable: ((_ node: Int, _ to: MeshAddress) -> Void)?
        /// An observer with no callbacks.
        public init() {}
    }

    /// A node's place in the network; its mesh state is in ``meshes``, so that reading this
    /// record copies no `MeshNode`.
    struct SimNode {
        /// Where the node's datagrams come from and where others reach it (its public address).
        var address: MeshAddress
        var credentials: MeshCredentials
        var configuration: MeshConfiguration
        var wakeAt: MeshTime?
        var startedAt: MeshTime?
        var identity: NodeIdentity?
    }

    enum Payload {
        case datagram(to: Int, from: MeshAddress, sender: Int, bytes: [UInt8])
        case timer(Int)
        case resolve(Int, introduce: [PeerKey])
        case script(Int)
        case toResolver(from: MeshAddress, sender: Int, bytes: [UInt8])
        case resolverClientTimer(Int)
        case resolverTick
    }

    struct Event: Comparable {
        var time: MeshTime
        var order: UInt64
        var payload: Payload
        static func < (a: Event, b: Event) -> Bool { (a.time, a.order) < (b.time, b.order) }
        static func == (a: Event, b: Event) -> Bool { a.time == b.time && a.order == b.order }
    }

    /// The current virtual time; it only moves forward, inside ``run(until:)``.
    public private(set) var now = MeshTime.zero
    /// The simulator's generator: link loss, jitter, duplication, resolver samples, and the
    /// identities and generators of new nodes all draw from it.
    public var rng: DeterministicRNG
    /// How a link treats datagrams unless ``linkOverrides`` has an entry for the pair.
    public var defaultLink: LinkModel
    /// Per directed pair (from, to) overrides of ``defaultLink``.
    public var linkOverrides: [Pair: LinkModel] = [:]
    /// Callbacks for deliveries, events and arrivals; ``stop()`` clears them.
    public var observer = Observer()
    /// Called around every datagram a node handles, with the index of the node that really sent
    /// it (whatever source address it claims) and the handler's stats before and after:
    /// attribution of rejections and costs in attack scenarios.
    public var datagramHook: ((_ node: Int, _ sender: Int, _ before: MeshStats, _ after: MeshStats) -> Void)?
    /// Asked for every datagram that would travel from node `from` to node `to` (before the
    /// link's own loss): true drops it. Tests lose chosen messages with it (a Welcome, say).
    public var dropHook: ((_ from: Int, _ to: Int, _ bytes: [UInt8]) -> Bool)?
    /// How many candidates a simulated resolver returns (Peer Channel: a random sample).
    public var resolveSampleSize = 8
    /// Events processed so far.
    public private(set) var eventsProcessed = 0
    /// Datagrams nodes sent or ``inject(_:from:to:)`` injected, dropped ones included.
    public internal(set) var datagramsSent = 0
    /// Datagrams dropped in transit: lost on the link, cut by a partition, or addressed to no node.
    public internal(set) var datagramsDropped = 0

    var nodes: [SimNode] = []
    /// Each node's mesh, nil before it is made and after a crash. Boxed: `MeshNode` holds
    /// existentials (its logger and random source), so reading one from an array of optionals
    /// would copy it whole, retaining every buffer it holds, on every event.
    var meshes: [MeshCell?] = []
    final class MeshCell {
        var mesh: MeshNode
        init(_ mesh: MeshNode) { self.mesh = mesh }
    }
    /// Every node's flooded-signature verdicts, shared: a message checked by one node costs the
    /// others no second Ed25519 check (each still counts it; ``SignatureMemo``).
    let signatureMemo = SignatureMemo()
    var addressIndex: [MeshAddress: Int] = [:]
    var queue = Heap<Event>()
    var order: UInt64 = 0
    var scripts: [Int: (MeshSimulator) -> Void] = [:]
    var nextScript = 0
    var group: [Int]? = nil
    var busyUntil: [Pair: MeshTime] = [:]
    /// Nodes frozen until a time, as a stopped process is: see ``pause(_:until:)``.
    var pausedUntil: [Int: MeshTime] = [:]
    /// The hosted resolver and the nodes' clients, after ``hostResolver(configuration:)``.
    var resolver: HostedResolver?
    /// NATs (``addNAT(_:)``) and which node sits behind which.
    var nats: [SimulatedNAT] = []
    var natOf: [Int: Int] = [:]
    /// Datagrams a NAT's filter dropped (nobody behind it had sent to their source).
    public internal(set) var natDrops = 0
    /// Called around every datagram the hosted resolver handles, with the index of the node
    /// that really sent it (whatever source it claims) and the resolver's stats before and after.
    public var resolverHook: ((_ sender: Int, _ before: ResolverStats, _ after: ResolverStats) -> Void)?

    /// A directed pair of nodes (sender, receiver), the key of ``linkOverrides``.
    public struct Pair: Hashable, Sendable {
        /// Sending and receiving node indices.
        public var from: Int, to: Int
        /// The direction from node `from` to node `to`.
        public init(_ from: Int, _ to: Int) { self.from = from; self.to = to }
    }

    /// An empty network in which every random choice derives from `seed`, and every link behaves
    /// as `defaultLink` unless overridden.
    public init(seed: UInt64, defaultLink: LinkModel = LinkModel()) {
        rng = DeterministicRNG(seed: seed)
        self.defaultLink = defaultLink
    }

    // MARK: Nodes

    /// The simulated address of node `index` (a label only: nothing is sent on a real network).
    public static func address(of index: Int) -> MeshAddress { .ipv4(0x7F00_0000 | UInt32(index + 1), port: 7000) }

    /// Adds a node (not yet started). Its identity and generator derive from the simulator's seed.
    @discardableResult
    public func addNode(credentials: MeshCredentials, configuration: MeshConfiguration) throws -> Int {
        try addNode(credentials: credentials, configuration: configuration, at: Self.address(of: nodes.count))
    }

    func addNode(credentials: MeshCredentials, configuration: MeshConfiguration, at address: MeshAddress) throws -> Int {
        let index = nodes.count
        nodes.append(SimNode(address: address, credentials: credentials, configuration: configuration))
        meshes.append(nil)
        addressIndex[address] = index
        try makeMesh(index)
        return index
    }

    func makeMesh(_ index: Int, keepingIdentity: Bool = false) throws {
        var idRNG = rng.fork()
        let identity = keepingIdentity ? nodes[index].identity! : NodeIdentity(rng: &idRNG)
        nodes[index].identity = identity
        // A process that comes back as itself numbers its messages from the clock, above its
        // previous life's (as `UDPMeshPeer` does with the wall clock).
        let first = keepingIdentity ? MeshNode.firstSequence(unixSeconds: 1_735_689_600 + UInt64(max(1, (now - .zero).components.seconds + 1))) : 1
        var mesh = try MeshNode(
            identity: identity, credentials: nodes[index].credentials, localAddress: nodes[index].address,
            configuration: nodes[index].configuration, rng: rng.fork(), firstSequence: first)
        mesh.signatureMemo = signatureMemo
        meshes[index] = MeshCell(mesh)
        nodes[index].wakeAt = nil
        nodes[index].startedAt = nil
    }

    /// Nodes ever added, crashed ones included (indices run `0..<count`).
    public var count: Int { nodes.count }

    /// The index of the live node with this key.
    public func index(ofKey key: PeerKey) -> Int? {
        nodes.indices.first { meshes[$0]?.mesh.key == key }
    }

    /// Messages node `i` holds in its pull cache (newest last).
    public func recentMessages(at i: Int, limit: Int = 64) -> [FloodMessage] {
        meshes[i]?.mesh.recentStoredMessages(limit: limit) ?? []
    }
    /// A copy of node `i`'s mesh state, or nil after a crash. A copy retains every buffer the
    /// node holds: for what a driver reads on every tick, use ``stats(of:)``,
    /// ``neighborCount(of:)`` or ``neighborInfo(of:)``, which read the node in place.
    public func node(_ i: Int) -> MeshNode? { meshes[i]?.mesh }
    /// Node `i`'s counters, or nil after a crash.
    public func stats(of i: Int) -> MeshStats? { meshes[i]?.mesh.stats }
    /// How many confirmed links node `i` holds (0 after a crash).
    public func neighborCount(of i: Int) -> Int { meshes[i]?.mesh.neighborCount ?? 0 }
    /// Node `i`'s confirmed links with their round trips (none after a crash).
    public func neighborInfo(of i: Int) -> [NeighborInfo] { meshes[i]?.mesh.neighborInfo ?? [] }
    func hasMesh(_ i: Int) -> Bool { meshes[i] != nil }
    /// Whether node `i` has been started and not crashed since.
    public func isAlive(_ i: Int) -> Bool { hasMesh(i) && nodes[i].startedAt != nil }
    /// The index of the node at this simulated address, crashed or not.
    public func index(of address: MeshAddress) -> Int? { addressIndex[address] }

    /// Starts node `i` now.
    public func start(_ i: Int) {
        guard hasMesh(i), nodes[i].startedAt == nil else { return }
        nodes[i].startedAt = now
        startResolverClient(i)
        let actions = mutate(i) { $0.start(now: now) }
        apply(actions, from: i)
    }

    /// Runs `body` on node `i`'s mesh *in place*, in its cell: mutating it copies none of its
    /// buffers (copy-on-write would otherwise copy the whole message cache on every event).
    /// `body` must not reach node `i`'s mesh again (an exclusivity violation stops the test).
    func mutate<T>(_ i: Int, _ body: (inout MeshNode) throws -> T) rethrows -> T {
        let cell = meshes[i]!
        return try body(&cell.mesh)
    }

    /// Kills node `i` at once: no Disconnect is sent; its state is gone.
    public func crash(_ i: Int) {
        meshes[i] = nil
        nodes[i].startedAt = nil
        nodes[i].wakeAt = nil
        resolver?.clients[i] = nil
        resolver?.clientWakeAt[i] = nil
    }

    /// Restarts a crashed node at the same address, as a new process would: with a fresh
    /// identity, or (`keepingIdentity`) with its old one, as a process that reads its identity
    /// file does.
    public func restart(_ i: Int, keepingIdentity: Bool = false) throws {
        try makeMesh(i, keepingIdentity: keepingIdentity)
        start(i)
    }

    /// Moves node `i` to `address`, as a NAT that drops its mapping and makes a new one does
    /// (a new public port mid-session): from now on its datagrams come from `address`, only
    /// datagrams to `address` reach it, and those in flight to the old one are lost. The node
    /// itself is not told.
    public func rebind(_ i: Int, to address: MeshAddress) {
        precondition(addressIndex[address] == nil, "address \(address) is taken")
        precondition(natOf[i] == nil, "rebind moves a node with a public address; a NAT's node has a private one")
        addressIndex[nodes[i].address] = nil
        nodes[i].address = address
        addressIndex[address] = i
    }

    /// The address node `i` is reached at now (``address(of:)`` until a ``rebind(_:to:)``).
    public func currentAddress(of i: Int) -> MeshAddress { nodes[i].address }

    /// Splits the network: datagrams between nodes of different groups are dropped. Nodes not
    /// listed form group 0.
    public func partition(_ groups: [[Int]]) {
        var g = [Int](repeating: 0, count: nodes.count)
        for (k, members) in groups.enumerated() { for m in members { g[m] = k + 1 } }
        group = g
    }

    /// Ends a ``partition(_:)``: every node can reach every other again.
    public func heal() { group = nil }

    /// Freezes node `i` until `until`, as a stalled or stopped process is (SIGSTOP, a long GC
    /// pause, a starved loop): its timers and every datagram that reaches it wait, queued in
    /// arrival order, and are handled when it resumes. It sends nothing meanwhile.
    public func pause(_ i: Int, until: MeshTime) {
        pausedUntil[i] = max(pausedUntil[i] ?? until, until)
    }

    /// Whether node `i` is frozen now.
    public func isPaused(_ i: Int) -> Bool { pausedUntil[i].map { $0 > now } ?? false }

    /// Calls `body` with mutable access to node `i`'s mesh, then carries out the returned actions.
    public func withNode(_ i: Int, _ body: (inout MeshNode, MeshTime) throws -> [MeshAction]) rethrows {
        guard hasMesh(i), nodes[i].startedAt != nil else { return }
        let now = self.now
        let actions = try mutate(i) { try body(&$0, now) }
        apply(actions, from: i)
    }

    /// Sends raw bytes as if node `from` sent them (attackers, malformed input).
    public func inject(_ bytes: [UInt8], from: Int, to address: MeshAddress) {
        transmit(bytes, from: from, to: address)
    }

    /// Sends raw bytes from node `from`'s place in the network with a forged source address (an
    /// off-path attacker spoofing another node: the network delivers, the answers go to `source`).
    public func inject(_ bytes: [UInt8], from: Int, to address: MeshAddress, spoofing source: MeshAddress) {
        transmit(bytes, from: from, to: address, source: source)
    }

    // MARK: Scheduling

    /// Drops every pending event, script and observer. Scripts and observers usually capture the
    /// code that drives the simulator, and so the simulator itself: call this when a run is over,
    /// or the whole simulation stays in memory.
    public func stop() {
        queue = Heap<Event>()
        scripts = [:]
        observer = Observer()
        datagramHook = nil
        resolverHook = nil
    }

    /// Runs `body` at virtual time `at`.
    public func at(_ time: MeshTime, _ body: @escaping (MeshSimulator) -> Void) {
        let id = nextScript
        nextScript += 1
        scripts[id] = body
        push(time, .script(id))
    }

    func push(_ time: MeshTime, _ payload: Payload) {
        order += 1
        queue.insert(Event(time: time, order: order, payload: payload))
    }

    /// Processes every event up to and including `time`, then sets the clock to `time`.
    public func run(until time: MeshTime) {
        while let e = queue.min, e.time <= time {
            _ = queue.popMin()
            now = e.time
            eventsProcessed += 1
            process(e.payload)
        }
        now = max(now, time)
    }

    /// Processes every event for the next `d` of virtual time.
    public func run(for d: Duration) { run(until: now + d) }

    func process(_ payload: Payload) {
        switch payload {
        case let .datagram(to, from, sender, bytes):
            guard hasMesh(to), nodes[to].startedAt != nil else { return }
            if let until = pausedUntil[to], until > now { push(until, payload); return }
            if from == Self.resolverAddress, resolver != nil { return resolverAnswer(bytes, to: to) }
            observer.arrival?(to, bytes, from)
            let now = self.now
            let (actions, before, after) = mutate(to) { mesh in
                let before = mesh.stats
                let actions = mesh.receive(bytes, from: from, now: now)
                return (actions, before, mesh.stats)
            }
            datagramHook?(to, sender, before, after)
            apply(actions, from: to)
        case let .timer(i):
            guard nodes[i].wakeAt == now, hasMesh(i) else { return }
            if let until = pausedUntil[i], until > now { nodes[i].wakeAt = until; push(until, payload); return }
            nodes[i].wakeAt = nil
            let now = self.now
            let actions = mutate(i) { $0.timerFired(now: now) }
            apply(actions, from: i)
        case let .resolve(i, introduce):
            guard hasMesh(i) else { return }
            if resolver != nil { return resolveThroughResolver(i, introduce: introduce) }
            var live: [Int] = []
            for j in nodes.indices where j != i && isAlive(j) { live.append(j) }
            var sample: [Referral] = []
            while sample.count < resolveSampleSize, !live.isEmpty {
                let j = live.remove(at: rng.below(live.count))
                if let key = meshes[j]?.mesh.key { sample.append(Referral(peer: key, address: nodes[j].address)) }
            }
            withNode(i) { mesh, now in mesh.addCandidates(sample, now: now) }
        case let .script(id):
            if let body = scripts.removeValue(forKey: id) { body(self) }
        case let .toResolver(from, sender, bytes): resolverReceive(bytes, from: from, sender: sender)
        case let .resolverClientTimer(i): resolverClientTimer(i)
        case .resolverTick: resolverTick()
        }
    }

    func apply(_ actions: [MeshAction], from i: Int) {
        for action in actions {
            switch action {
            case let .send(bytes, to): transmit(bytes, from: i, to: to)
            case let .sendOpener(bytes, to, hopLimit): transmitOpener(bytes, from: i, to: to, hopLimit: hopLimit)
            case let .deliver(m): observer.delivered?(i, m, now)
            case let .event(e): observer.event?(i, e, now)
            // The hosted resolver's round trip is simulated datagram by datagram.
            case let .resolve(introduce): push(resolver == nil ? now + defaultLink.latency * 2 : now, .resolve(i, introduce: introduce))
            case .locate: if resolver != nil { push(now, .resolve(i, introduce: [])) }
            case .reregister: reregister(i)
            }
        }
        if let deadline = meshes[i]?.mesh.nextDeadline, nodes[i].wakeAt.map({ deadline < $0 }) ?? true {
            let t = max(deadline, now)
            nodes[i].wakeAt = t
            push(t, .timer(i))
        }
    }

    func transmit(_ bytes: [UInt8], from i: Int, to address: MeshAddress, source: MeshAddress? = nil) {
        datagramsSent += 1
        if address == Self.resolverAddress, resolver != nil {
            if rng.chance(defaultLink.loss) { datagramsDropped += 1; return }
            let from = natSource(from: i, to: address, source: source ?? nodes[i].address)
            push(now + defaultLink.latency, .toResolver(from: from, sender: i, bytes: bytes))
            return
        }
        guard let (j, seenSource) = route(from: i, source: source ?? nodes[i].address, to: address) else {
            datagramsDropped += 1
            observer.unroutable?(i, address)
            return
        }
        if let g = group, g[i] != g[j] { datagramsDropped += 1; return }
        if let dropHook, dropHook(i, j, bytes) { datagramsDropped += 1; return }
        let link = linkOverrides[Pair(i, j)] ?? defaultLink
        if rng.chance(link.loss) { datagramsDropped += 1; return }
        var departure = now
        if let bw = link.bandwidthBytesPerSecond {
            let pair = Pair(i, j)
            departure = max(now, busyUntil[pair] ?? now) + .nanoseconds(Int64(bytes.count) * 1_000_000_000 / Int64(bw))
            busyUntil[pair] = departure
        }
        let copies = rng.chance(link.duplicate) ? 2 : 1
        for _ in 0..<copies {
            let jitter = link.jitter.nanoseconds > 0 ? Int64(rng.next(upperBound: UInt64(link.jitter.nanoseconds) + 1)) : 0
            push(departure + link.latency + .nanoseconds(jitter), .datagram(to: j, from: seenSource, sender: i, bytes: bytes))
        }
    }

    // MARK: Topology

    /// The current neighbor graph among live nodes, as adjacency lists of node indices.
    public func neighborGraph() -> [[Int]] {
        // By key: behind a NAT a neighbor's address is the NAT's, not the node's.
        var keyIndex: [PeerKey: Int] = [:]
        for i in nodes.indices { if let k = meshes[i]?.mesh.key { keyIndex[k] = i } }
        return nodes.indices.map { i in
            guard isAlive(i) else { return [] }
            return neighborInfo(of: i).compactMap { keyIndex[$0.peer] }.filter { isAlive($0) }
        }
    }

    /// Connected components of the live nodes (each sorted), via BFS over ``neighborGraph()``.
    public func components(among members: [Int]? = nil) -> [[Int]] {
        let graph = neighborGraph()
        let allowed = Set(members ?? nodes.indices.filter { isAlive($0) })
        var seen = Set<Int>()
        var result: [[Int]] = []
        for s in allowed.sorted() where !seen.contains(s) {
            var comp = [s]
            seen.insert(s)
            var k = 0
            while k < comp.count {
                for n in graph[comp[k]] where allowed.contains(n) && !seen.contains(n) {
                    seen.insert(n)
                    comp.append(n)
                }
                k += 1
            }
            result.append(comp.sorted())
        }
        return result
    }

    /// The largest shortest-path distance between live nodes (nil if disconnected).
    public func diameter() -> Int? {
        let graph = neighborGraph()
        let live = nodes.indices.filter { isAlive($0) }
        var best = 0
        var dist = [Int](repeating: -1, count: nodes.count)
        for s in live {
            for i in dist.indices { dist[i] = -1 }
            dist[s] = 0
            var frontier = [s]
            var reached = 1
            while !frontier.isEmpty {
                var next: [Int] = []
                for u in frontier {
                    for v in graph[u] where dist[v] < 0 {
                        dist[v] = dist[u] + 1
                        best = max(best, dist[v])
                        reached += 1
                        next.append(v)
                    }
                }
                frontier = next
            }
            if reached < live.count { return nil }
        }
        return best
    }
}

extension Duration {
    static func * (d: Duration, k: Int) -> Duration { .nanoseconds(d.nanoseconds * Int64(k)) }
}
