import Crypto
import DequeModule
import HeapModule
import Logging
import MeshstepWire
import OrderedCollections

/// One node's membership in one mesh, as a sans-IO state machine.
///
/// `MeshNode` reads no clock, opens no socket and draws no global randomness. The driver — the
/// UDP shell in production, `MeshstepSimulation` in tests — feeds it events (a datagram
/// arrived, a timer fired, candidates were resolved, the application sends) together with the
/// current time, and carries out the ``MeshAction``s each call returns. After every call the
/// driver arms a timer for ``nextDeadline``.
///
/// What it does, in the spirit of WCF Peer Channel and further:
/// - **Links**: a four-step handshake (Connect, Challenge, Confirm, Welcome/Refuse) proving the
///   mesh password both ways without sending it, and each peer's Ed25519 identity; per-link,
///   per-direction keys tag every later datagram.
/// - **Neighbor maintenance**: min/ideal/max neighbors, repair below ideal, pruning of the least
///   useful link above it, referrals, duplicate-link resolution, keepalives with RTT, dead links.
/// - **Flooding**: signed messages with per-origin sequence numbers and a sliding duplicate
///   window, hop limits, propagation filters, unicast. Redundant copies are cut Plumtree-style
///   (eager push on tree links, announcements elsewhere, pulls to repair loss), with keepalive
///   summaries as a second loss-recovery path.
/// - **Protection**: per-neighbor token buckets in, pacing out, misbehaviour scores and bans.
public struct MeshNode: Sendable {
    // MARK: Identity and configuration
    /// The node's Ed25519 key pair; it signs handshakes and the messages the node originates.
    public let identity: NodeIdentity
    /// The mesh this node belongs to: its ID, access, digest and key.
    public let credentials: MeshCredentials
    /// The node's tunables, as validated at creation.
    public let configuration: MeshConfiguration
    /// The address other peers reach this node at (advertised in referrals).
    public let localAddress: MeshAddress
    var logger: Logger
    var rng: any RandomNumberGenerator & Sendable

    // MARK: Links
    var neighbors: OrderedDictionary<PeerKey, Neighbor> = [:]
    var neighborByAddress: [MeshAddress: PeerKey] = [:]
    var outgoing: OrderedDictionary<MeshAddress, OutgoingHandshake> = [:]
    var incoming: OrderedDictionary<MeshAddress, IncomingHandshake> = [:]
    var candidates: OrderedDictionary<MeshAddress, Candidate> = [:]
    var banned: OrderedDictionary<PeerKey, MeshTime> = [:]

    // MARK: Flooding
    var origins: OrderedDictionary<PeerKey, OriginState> = [:]
    var store: MessageStore
    var missing: OrderedDictionary<MessageRef, Missing> = [:]
    /// How many ``missing`` entries each neighbor's announcements opened: bounded per announcer,
    /// so that one neighbor announcing messages that do not exist cannot crowd out the others.
    var missingOpenedBy: [PeerKey: Int] = [:]
    var nextSeq: UInt64 = 1
    var summaryCursor = 0
    /// Origins of the newest messages, oldest first (at most half a summary).
    var recentOrigins: [PeerKey] = []
    /// Stored messages accepted on a direct link's authentication whose signature has not been
    /// checked yet (checked before they are served to anyone).
    var unverified: Set<MessageRef> = []
    /// Batch roots whose signatures were checked (ours included), so each batch costs one.
    var verifiedBatches = VerifiedBatches()
    /// The tree nodes of recently verified batches, so that most of a batch's messages cost a
    /// hash or two instead of a hash per level.
    var batchTrees = BatchTreeCache()
    /// Links to these peers are never shed or pruned for being less useful (see ``protect(_:)``).
    var protectedPeers: Set<PeerKey> = []
    /// Set by ``useIntroductions(observed:ownAddresses:)``.
    var introductionsInUse = false
    /// Whether this node's socket is behind a NAT (nil: unknown, assume so).
    var behindNAT: Bool?
    /// Neighbors we asked to relay protected peers we cannot link to (told to stop when we no
    /// longer need it).
    var relayAsked: Set<PeerKey> = []
    /// Origins some neighbor asked us to relay, with the latest expiry among the requests (a
    /// quick test on the hot path; only protected peers, so at most the group's size).
    var relayedOrigins: [PeerKey: MeshTime] = [:]
    /// Members we hold no link to: how each reaches us (``RelayChoice``), and when a relayed copy
    /// of its messages last arrived.
    var relayVia: [PeerKey: RelayChoice] = [:]
    /// When relay requests last went out (``requestRelays(now:)``).
    var relayRequestsAt = MeshTime.zero
    var relayHeard: [PeerKey: MeshTime] = [:]
    /// When a copy of each such member's messages last reached us by any way (a pull, another
    /// relay): heard, but not through the relay asked, means that relay does not work.
    var originHeard: [PeerKey: MeshTime] = [:]
    /// Answers to handshake messages, across all sources.
    var handshakeBucket: TokenBucket
    /// Link datagrams from unknown addresses tried against every link's key (a NAT rebinding
    /// moves a neighbor to a new address): 20 a second, so spraying them costs little.
    var roamingBucket = TokenBucket(rate: 20, burst: 20, now: .zero)
    /// Quiet links: when to ask the resolver again, and when to register again.
    var nextQuietResolveAt = MeshTime.zero
    var nextReregisterAt = MeshTime.zero

    // MARK: Time
    var timers = Heap<TimerEntry>()
    var timerCounter: UInt64 = 0
    var nextResolveAt = MeshTime.zero
    /// When an answer may next trigger a resolve before ``nextResolveAt`` (`requestResolve(early:)`).
    var nextEarlyResolveAt = MeshTime.zero
    /// The peers our latest resolve asked to be introduced to (§6.7).
    var requestedIntroductions: [PeerKey] = []
    /// Peers an honoured request introduced us to, and when we dial them ourselves if neither a
    /// link nor a handshake with them exists by then (at most one request's worth).
    var introductionFallback: [PeerKey: MeshTime] = [:]
    var nextExploreAt = MeshTime.zero
    var lastScoreDecay = MeshTime.zero
    var running = false

    // MARK: Output of the current call
    var out: [MeshAction] = []
    var pendingIHave: OrderedDictionary<PeerKey, [MessageRef]> = [:]
    var pendingGraft: OrderedDictionary<PeerKey, [MessageRef]> = [:]
    /// Flood messages to send per link at the end of the current entry point (``finish()``).
    var pendingFloods: OrderedDictionary<PeerKey, [FloodMessage]> = [:]

    /// Counters of everything done and rejected.
    public internal(set) var stats = MeshStats()
    /// Verdicts of flooded messages' signature checks shared with the other nodes of a
    /// simulation (set by the simulator only; nil: every signature is checked here).
    package var signatureMemo: SignatureMemo?

    /// Creates a node. Call ``start(now:)`` next.
    /// - Parameters:
    ///   - identity: the node's Ed25519 key pair: its key is its name in the mesh.
    ///   - credentials: the mesh name and password every member shares.
    ///   - configuration: neighbor counts, timers, limits (``MeshConfiguration``).
    ///   - localAddress: the address this node's datagrams come from, as peers see it.
    ///   - rng: every random choice (nonces, candidate picks) comes from here. Pass a seeded
    ///     ``DeterministicRNG`` in tests; production passes `SystemRandomNumberGenerator()`.
    ///   - logger: where the node logs; never bootstrapped by the library.
    ///   - firstSequence: the sequence number of this node's first message. Peers drop messages
    ///     of an origin below what they saw from it, so a process that comes back with the same
    ///     identity must start above its previous life: pass ``firstSequence(unixSeconds:)``.
    /// - Throws: ``MeshConfigurationError`` if the configuration is inconsistent.
    public init(
        identity: NodeIdentity,
        credentials: MeshCredentials,
        localAddress: MeshAddress,
        configuration: MeshConfiguration = MeshConfiguration(),
        rng: any RandomNumberGenerator & Sendable,
        logger: Logger = Logger(label: "meshstep.mesh", factory: { _ in SwiftLogNoOpLogHandler() }),
        firstSequence: UInt64 = 1
    ) throws(MeshConfigurationError) {
        try configuration.validate()
        nextSeq = max(1, firstSequence)
        self.identity = identity
        self.credentials = credentials
        self.configuration = configuration
        self.localAddress = localAddress
        self.rng = rng
        self.logger = logger
        store = MessageStore(capacity: configuration.messageCacheCapacity)
        handshakeBucket = TokenBucket(rate: configuration.handshakesPerSecond, burst: configuration.handshakesPerSecond, now: .zero)
    }

    // MARK: - Public API

    /// A first sequence number from the wall clock (`unixSeconds`), above every number a previous
    /// process with the same identity used unless it sent more than 65,536 messages a second on
    /// average: seconds since 2025-01-01, times 65,536 (a few bytes more per message than
    /// starting at 1).
    public static func firstSequence(unixSeconds: UInt64) -> UInt64 {
        max(1, unixSeconds &- min(unixSeconds, 1_735_689_600)) << 16
    }

    /// This node's ID: the public key of its ``identity``.
    public var key: PeerKey { identity.key }

    /// Keeps the links to `peers` whatever their measured utility: they are never shed to admit a
    /// starving joiner nor pruned above the ideal degree. A lockstep session protects its
    /// players' links, so spectators joining the players' nodes never cost a player-to-player
    /// link (which would add a hop to every frame).
    ///
    /// When `peers` includes this node's own key, the node is a member of the group: it asks its
    /// fellow members to relay the members it cannot link to, and relays for them
    /// (PROTOCOL.md §7.10).
    public mutating func protect(_ peers: [PeerKey]) {
        let before = protectedPeers.count
        protectedPeers.formUnion(peers)
        // New members we hold no link to get their relays asked for at once, not at the next
        // housekeeping (up to 100 ms later): a session starts only once every player's hello
        // reached every other, and those hellos cross by relay.
        if protectedPeers.count > before { schedule(.relayCheck, at: .zero) }
    }

    /// Stops protecting `peers` (a session dropped them): their links are ordinary again, no
    /// relay is asked for them, and their messages are no longer relayed by this node.
    public mutating func unprotect(_ peers: [PeerKey]) {
        protectedPeers.subtract(peers)
        for p in peers {
            relayedOrigins[p] = nil
            relayVia[p] = nil
            relayHeard[p] = nil
            originHeard[p] = nil
        }
    }
    /// True while the node has at least one neighbor.
    public var isOnline: Bool { neighbors.values.contains { $0.confirmed } }
    /// How many established links the node has (handshakes in progress, and links we accepted
    /// that the peer has not used yet, not counted).
    public var neighborCount: Int { neighbors.values.reduce(0) { $0 + ($1.confirmed ? 1 : 0) } }
    /// The keys of the current neighbors, in link order.
    public var neighborKeys: [PeerKey] { neighbors.values.filter(\.confirmed).map(\.key) }

    /// A snapshot of every established link, in link order. A link we accepted is listed (and
    /// announced with ``MeshEvent/neighborUp(_:_:)``) once the peer used it: until then its
    /// Welcome may have been lost, and the peer would drop what we send over it.
    public var neighborInfo: [NeighborInfo] {
        neighbors.values.lazy.filter(\.confirmed).map {
            NeighborInfo(
                peer: $0.key, address: $0.address, initiatedByUs: $0.initiatedByUs, rtt: $0.srtt.map { .nanoseconds($0) },
                eager: $0.eager, utility: $0.utility, misbehaviourScore: $0.score, outboundQueue: $0.queue.count)
        }
    }

    /// When the driver must call ``timerFired(now:)`` next (nil when nothing is scheduled).
    public var nextDeadline: MeshTime? { timers.min?.deadline }

    /// Starts maintenance and asks for candidates.
    public mutating func start(now: MeshTime) -> [MeshAction] {
        currentTime = now
        guard !running else { return [] }
        running = true
        lastScoreDecay = now
        schedule(.housekeeping, at: now + .milliseconds(100))
        schedule(.maintenance, at: now)
        nextExploreAt = now + jittered(configuration.exploreInterval)
        return finish()
    }

    /// Feeds candidate peers (from the resolver, LAN discovery or static seeds).
    /// - Parameters:
    ///   - referrals: the peers and their addresses.
    ///   - introducedTo: the resolver introduced this node to these peers
    ///     (`ResolvedAnswer.introduced`): they start sending to it now, so the node opens its NAT
    ///     toward each at once (PROTOCOL.md §6.7).
    ///   - now: the current time.
    public mutating func addCandidates(_ referrals: [Referral], introducedTo: Bool = false, now: MeshTime) -> [MeshAction] {
        currentTime = now
        learn(referrals, fromResolver: true, now: now)
        if running, introducedTo {
            dialAtOnce(referrals, now: now)
            for k in requestedIntroductions where introductionFallback[k] == nil {
                introductionFallback[k] = now + Self.introductionFallbackDelay
            }
        }
        if running, neighbors.count + peersBeingDialled() < configuration.idealNeighbors { maintain(now: now) }
        // Peers that wait for an introduction, not asked for: ask now (§6.7), not a whole
        // resolve interval later; the first answer of all is one such.
        if running, !introducedTo, introductionsInUse {
            let wanted = introductionTargets(now: now)
            if referrals.contains(where: { r in wanted.contains { $0.key == r.peer } }) { requestResolve(now: now, early: true) }
        }
        return finish()
    }

    /// How long after an honoured request for introductions we dial a listed peer ourselves
    /// when it has not linked with us: the peer dials us at once, but its Connects cannot get
    /// through a NAT that gives each destination a port of its own (the resolver saw another);
    /// only our own dial links then. Later than the peer's dial, so the two do not race.
    static let introductionFallbackDelay = Duration.seconds(1)

    /// Dials, as introduced (through an opening, §6.7), the peers of an honoured request that
    /// have neither linked with us nor started a handshake since.
    mutating func dialIntroductionFallbacks(now: MeshTime) {
        for k in introductionFallback.keys.sorted() where introductionFallback[k]! <= now {
            introductionFallback[k] = nil
            guard neighbors[k] == nil, !incoming.values.contains(where: { $0.remote == k }),
                !outgoing.keys.contains(where: { candidates[$0]?.key == k })
            else { continue }
            var dial: [Referral] = []
            for (address, c) in candidates where c.key == k {
                candidates[address]!.introducedUntil = now + configuration.introductionLifetime
                dial.append(Referral(peer: k, address: address))
            }
            dialAtOnce(dial, now: now)
        }
    }

    /// The resolver introduced these peers (`ResolverClientEvent.introduced`): each asked for
    /// this node and is opening its side now. The node dials each at once, sending full Connects
    /// after ``MeshConfiguration/openingTime`` (PROTOCOL.md §6.7), when it is one of the
    /// session's peers or there is room for another link.
    public mutating func introduced(_ referrals: [Referral], now: MeshTime) -> [MeshAction] {
        currentTime = now
        guard running else { return [] }
        stats.introductions += 1
        learn(referrals, fromResolver: true, now: now)
        for r in referrals where candidates[r.address]?.key == r.peer {
            candidates[r.address]!.introducedUntil = now + configuration.introductionLifetime
        }
        dialAtOnce(referrals, now: now)
        return finish()
    }

    /// Whether a resolve should ask the resolver for introductions (`ResolveRequest.introduce`):
    /// the node lacks a link to one of its session's peers, or has fewer links than it wants.
    /// ``MeshAction/resolve(introduce:)`` names the peers.
    public var wantsIntroductions: Bool {
        neighbors.count < configuration.idealNeighbors || protectedPeers.contains { neighbors[$0] == nil && $0 != key }
    }

    /// Tells the node that its driver finds peers through a resolver that introduces them. From
    /// then on, dials to peers at addresses that may be behind a NAT open the path first and
    /// wait for an introduction (PROTOCOL.md §6.7).
    /// - Parameters:
    ///   - observed: where the resolver sees this node's datagrams come from (nil: not known
    ///     yet). The node is behind a NAT unless that is one of `ownAddresses`; until it is
    ///     known, it assumes so. A node not behind a NAT sends no openers (it has no NAT to open).
    ///   - ownAddresses: the host's own addresses (ports ignored).
    public mutating func useIntroductions(observed: MeshAddress?, ownAddresses: [MeshAddress]) {
        introductionsInUse = true
        behindNAT = observed.map { o in !ownAddresses.contains { $0.hasSameIP(as: o) } }
    }

    /// Feeds candidate addresses whose keys are not known yet (static seeds).
    public mutating func addSeedAddresses(_ addresses: [MeshAddress], now: MeshTime) -> [MeshAction] {
        currentTime = now
        for a in addresses where a != localAddress { addCandidate(address: a, key: nil, now: now) }
        if running { maintain(now: now) }
        return finish()
    }

    /// Handles one received datagram. Never traps on any input; every rejection is counted.
    public mutating func receive(_ bytes: consuming [UInt8], from address: MeshAddress, now: MeshTime) -> [MeshAction] {
        currentTime = now
        guard running else { return [] }
        stats.datagramsReceived += 1
        stats.bytesReceived += bytes.count
        handleDatagram(consume bytes, from: address, now: now)
        return finish()
    }

    /// Runs every timer that is due.
    public mutating func timerFired(now: MeshTime) -> [MeshAction] {
        currentTime = now
        guard running else { return [] }
        while let top = timers.min, top.deadline <= now {
            _ = timers.popMin()
            fire(top.kind, now: now)
        }
        return finish()
    }

    /// Floods `payload` to every node of the mesh.
    /// - Returns: the message's sequence number and the actions to carry out.
    /// - Throws: ``MeshSendError/payloadTooLarge(size:limit:)`` when it does not fit a datagram.
    public mutating func broadcast(_ payload: [UInt8], now: MeshTime) throws(MeshSendError) -> (seq: UInt64, actions: [MeshAction]) {
        let seq = try originate(payload, destination: nil, now: now)
        return (seq, finish())
    }

    /// Floods `payloads`, in order, under one signature per 256 of them instead of one each: a
    /// hash tree over them is signed once, and each message carries the path from its own leaf
    /// to the signed root (docs/PROTOCOL.md §5.4a). Every node that receives them checks one
    /// signature per batch, so a burst costs the origin, every relay and every receiver a
    /// fraction of its signature checks; each message still stands alone (lost, pulled,
    /// delivered and deduplicated like any other). One payload is flooded as ``broadcast(_:now:)``
    /// would.
    ///
    /// A batch counts against the origin's allowance at every node (``MeshConfiguration/originLimit``,
    /// a burst of 500 by default) as so many single messages, and a message lost on the way is
    /// pulled only while it is among its origin's newest 256: keep bursts well within both.
    /// - Returns: the messages' sequence numbers, in order, and the actions to carry out.
    /// - Throws: ``MeshSendError/payloadTooLarge(size:limit:)`` when a payload does not fit a
    ///   datagram with its proof (``maxPayloadSize(inBatchOf:)``); then nothing is sent.
    public mutating func broadcast(batch payloads: [[UInt8]], now: MeshTime) throws(MeshSendError) -> (seqs: [UInt64], actions: [MeshAction]) {
        currentTime = now
        guard running else { throw .notRunning }
        let most = 1 << Wire.maxBatchDepth
        let chunks = stride(from: 0, to: payloads.count, by: most).map { payloads[$0..<min(payloads.count, $0 + most)] }
        for chunk in chunks {
            let limit = maxPayloadSize(inBatchOf: chunk.count)
            for p in chunk where p.count > limit { throw .payloadTooLarge(size: p.count, limit: limit) }
        }
        var seqs: [UInt64] = []
        seqs.reserveCapacity(payloads.count)
        for chunk in chunks { seqs += originateBatch(Array(chunk), now: now) }
        return (seqs, finish())
    }

    /// The largest payload ``broadcast(batch:now:)`` accepts in a batch of `count` (its share
    /// of 256): ``maxPayloadSize`` less the batch proof each message carries (18 bytes and 16 per
    /// level of the tree: 146 bytes for 129 to 256 messages).
    public func maxPayloadSize(inBatchOf count: Int) -> Int {
        let n = min(count, 1 << Wire.maxBatchDepth)
        return n <= 1 ? maxPayloadSize : maxPayloadSize - BatchProof.size(depth: SignedBatch.depth(for: n))
    }

    /// Sends `payload` to one peer: directly when it is a neighbor, else over the mesh, where only
    /// that peer delivers it.
    public mutating func send(_ payload: [UInt8], to peer: PeerKey, now: MeshTime) throws(MeshSendError) -> (seq: UInt64, actions: [MeshAction]) {
        let seq = try originate(payload, destination: peer, now: now)
        return (seq, finish())
    }

    /// Sends `payload` to each of `peers` that is a neighbor now, over its link only: no origin
    /// key, sequence number or signature (the link's tag proves who sent it), and never forwarded.
    /// The cheap way to reach neighbors that need a message and nobody else; peers that are not
    /// neighbors are skipped (``neighborKeys`` tells which are: a link we accepted counts once the
    /// peer has used it).
    /// - Throws: ``MeshSendError/payloadTooLarge(size:limit:)`` when it does not fit a datagram.
    public mutating func sendDirect(_ payload: [UInt8], to peers: [PeerKey], now: MeshTime) throws(MeshSendError) -> [MeshAction] {
        currentTime = now
        guard running else { throw .notRunning }
        guard payload.count <= maxDirectPayloadSize else { throw .payloadTooLarge(size: payload.count, limit: maxDirectPayloadSize) }
        for p in peers {
            guard let i = confirmedLink(p) else { continue }
            stats.directSent += 1
            sendLinkMessage(.direct(payload), link: i, now: now)
        }
        return finish()
    }

    /// The largest payload ``sendDirect(_:to:now:)`` accepts: a datagram less its header, link
    /// sequence number and tag.
    public var maxDirectPayloadSize: Int {
        configuration.maxDatagramSize - (4 + 10 + 16)
    }

    /// The largest payload ``broadcast(_:now:)`` accepts with this configuration.
    public var maxPayloadSize: Int {
        configuration.maxDatagramSize - Self.floodOverhead
    }

    /// A Flood datagram's bytes besides the payload, at most: header 4, link seq <= 10, hop
    /// fields 2, origin 32, seq <= 10, destination flag+key 33, length <= 3, signature 64, tag 16.
    static var floodOverhead: Int { 4 + 10 + 2 + 32 + 10 + 33 + 3 + 64 + 16 }

    /// Leaves the mesh: sends Disconnect(leaving) to every neighbor and stops.
    public mutating func leave(now: MeshTime) -> [MeshAction] {
        currentTime = now
        guard running else { return [] }
        for key in Array(neighbors.keys) { closeLink(key, reason: .leaving, now: now, notify: true) }
        outgoing.removeAll(); incoming.removeAll()
        running = false
        timers = Heap()
        return finish()
    }

    // MARK: - Timers

    enum TimerKind: Hashable, Sendable {
        case housekeeping
        case maintenance
        case graft(MessageRef)
        case pacing(PeerKey)
        /// Our Welcome goes out again while the initiator has not used the link (§6.3).
        case welcome(PeerKey)
        /// Relays are asked for at once if any is due (``protect(_:)`` named new members).
        case relayCheck
        /// Our Connect or Confirm to this address goes out again if no answer came (§6.1).
        case handshake(MeshAddress)
    }

    struct TimerEntry: Comparable, Sendable {
        var deadline: MeshTime
        var order: UInt64
        var kind: TimerKind
        static func < (a: TimerEntry, b: TimerEntry) -> Bool { (a.deadline, a.order) < (b.deadline, b.order) }
        static func == (a: TimerEntry, b: TimerEntry) -> Bool { a.deadline == b.deadline && a.order == b.order }
    }

    mutating func schedule(_ kind: TimerKind, at deadline: MeshTime) {
        timerCounter += 1
        timers.insert(TimerEntry(deadline: deadline, order: timerCounter, kind: kind))
    }

    mutating func fire(_ kind: TimerKind, now: MeshTime) {
        switch kind {
        case .housekeeping:
            housekeeping(now: now)
            schedule(.housekeeping, at: now + .milliseconds(100))
        case .maintenance:
            maintain(now: now)
            // Below the minimum (or alone) maintenance runs at its fast pace.
            let fast = neighbors.count < configuration.minNeighbors
            schedule(.maintenance, at: now + (fast ? configuration.aloneMaintenanceInterval : configuration.maintenanceInterval))
        case let .graft(ref):
            graftTimerFired(ref, now: now)
        case let .pacing(key):
            drainQueue(key, now: now)
        case let .welcome(key):
            welcomeTimerFired(key, now: now)
        case .relayCheck:
            if relayRequestDue(now: now) { requestRelays(now: now) }
        case let .handshake(address):
            retransmitHandshake(to: address, now: now)
        }
    }

    /// A duration scaled by a random factor in [0.75, 1.25), so that nodes do not act in lockstep.
    mutating func jittered(_ d: Duration) -> Duration {
        let ns = d.nanoseconds
        return .nanoseconds(ns * 3 / 4 + Int64(rng.next(upperBound: UInt64(max(ns / 2, 1)))))
    }

    mutating func randomNonce() -> [UInt8] {
        var n: [UInt8] = []
        n.reserveCapacity(16)
        for _ in 0..<2 { withUnsafeBytes(of: rng.next()) { n.append(contentsOf: $0) } }
        return n
    }

    // MARK: - Output

    /// Flushes batched announcements and pulls, and returns the call's actions.
    mutating func finish() -> [MeshAction] {
        if !pendingFloods.isEmpty { sendPendingFloods() }
        if !pendingIHave.isEmpty {
            let batch = pendingIHave
            pendingIHave.removeAll(keepingCapacity: true)
            stats.iHavesSent += send(batch, as: Message.iHave)
        }
        if !pendingGraft.isEmpty {
            let batch = pendingGraft
            pendingGraft.removeAll(keepingCapacity: true)
            stats.graftsSent += send(batch, as: Message.graft)
        }
        // Most calls (timers, a frame received) return nothing: they allocate nothing. A call
        // with actions hands its buffer over and leaves one of the same capacity (a relay's
        // calls return many actions each: growing a new buffer from empty cost a copy per
        // doubling).
        if out.isEmpty { return [] }
        let result = out
        out.removeAll(keepingCapacity: true)
        return result
    }

    /// Sends batched refs per neighbor in datagram-sized chunks; returns how many datagrams.
    mutating func send(_ batch: OrderedDictionary<PeerKey, [MessageRef]>, as make: ([MessageRef]) -> Message) -> Int {
        var sent = 0
        for (key, refs) in batch {
            for chunk in stride(from: 0, to: refs.count, by: Wire.maxRefsPerMessage) {
                sendLinkMessage(make(Array(refs[chunk..<min(chunk + Wire.maxRefsPerMessage, refs.count)])), to: key, now: nil)
                sent += 1
            }
        }
        return sent
    }

    mutating func emit(_ event: MeshEvent) { out.append(.event(event)) }

    /// Sends an untagged handshake datagram.
    mutating func sendRaw(_ bytes: [UInt8], to address: MeshAddress) {
        stats.datagramsSent += 1
        stats.bytesSent += bytes.count
        out.append(.send(bytes, to: address))
    }

    /// Encodes `message` for the link at index `i`: the link's next sequence number, then the tag.
    mutating func seal(_ message: Message, link i: Int) -> [UInt8] {
        var bytes = Datagram.encode(message, linkSeq: neighbors.values[i].nextLinkSeq)
        neighbors.values[i].nextLinkSeq += 1
        neighbors.values[i].keys.appendTag(to: &bytes)
        return bytes
    }

    /// Encodes, tags and sends a message on an established link, subject to pacing.
    mutating func sendLinkMessage(_ message: Message, to key: PeerKey, now: MeshTime?) {
        guard let i = neighbors.index(forKey: key) else { return }
        sendLinkMessage(message, link: i, now: now)
    }

    /// ``sendLinkMessage(_:to:now:)`` on the link at index `i` of `neighbors`.
    mutating func sendLinkMessage(_ message: Message, link i: Int, now: MeshTime?) {
        let bytes = seal(message, link: i)
        let t = now ?? currentTime
        // A Floods datagram costs a message token per Flood it holds, as at the receiver.
        let cost: Int = if case let .floods(list) = message { list.count } else { 1 }
        // Both buckets are asked before either is charged: a refusal takes nothing.
        if neighbors.values[i].queue.isEmpty, neighbors.values[i].outMessages.availableAt(cost, now: t) <= t,
            neighbors.values[i].outBytes.availableAt(bytes.count, now: t) <= t
        {
            _ = neighbors.values[i].outMessages.take(cost, now: t)
            _ = neighbors.values[i].outBytes.take(bytes.count, now: t)
            stats.datagramsSent += 1
            stats.bytesSent += bytes.count
            out.append(.send(bytes, to: neighbors.values[i].address))
        } else if neighbors.values[i].queue.count < configuration.outboundQueueLimit {
            if neighbors.values[i].queue.isEmpty {
                let at = max(neighbors.values[i].outMessages.availableAt(cost, now: t), neighbors.values[i].outBytes.availableAt(bytes.count, now: t))
                schedule(.pacing(neighbors.keys[i]), at: at)
            }
            neighbors.values[i].queue.append(bytes)
        } else {
            stats.outboundDropped += 1
        }
    }

    mutating func drainQueue(_ key: PeerKey, now: MeshTime) {
        guard let i = neighbors.index(forKey: key) else { return }
        while let head = neighbors.values[i].queue.first {
            let cost = Datagram.messageCount(head)
            let at = max(neighbors.values[i].outMessages.availableAt(cost, now: now), neighbors.values[i].outBytes.availableAt(head.count, now: now))
            guard at <= now else {
                schedule(.pacing(key), at: at)
                break
            }
            _ = neighbors.values[i].outMessages.take(cost, now: now)
            _ = neighbors.values[i].outBytes.take(head.count, now: now)
            neighbors.values[i].queue.removeFirst()
            stats.datagramsSent += 1
            stats.bytesSent += head.count
            out.append(.send(head, to: neighbors.values[i].address))
        }
    }

    /// Set at the start of every entry point that has a time.
    var currentTime: MeshTime = .zero
}

// MARK: - Per-link and per-origin state

struct Neighbor: Sendable {
    let key: PeerKey
    /// Where the peer's datagrams come from and ours go; it moves when the peer's NAT rebinds.
    var address: MeshAddress
    let keys: LinkKeys
    let initiatedByUs: Bool
    /// Whether the peer has shown that it holds this link: at once for a link we initiated (its
    /// Welcome came), and for one we accepted when the first datagram tagged with the link's
    /// keys arrives. Until then the link is not announced: its Welcome may have been lost.
    var confirmed = true
    let since: MeshTime
    var lastHeard: MeshTime
    var nextPingAt: MeshTime
    var pendingPings: [(nonce: UInt64, sentAt: MeshTime)] = []
    var srtt: Int64?
    var rttvar: Int64 = 0
    var eager = true
    var utility = 0
    var utilitySamples = 0
    var reportedDegree = 0
    var inMessages: TokenBucket
    var inBytes: TokenBucket
    var dropsThisSecond = 0
    var strikes = 0
    var score = 0
    var outMessages: TokenBucket
    var outBytes: TokenBucket
    var queue: Deque<[UInt8]> = []
    var backlogSince: MeshTime?
    /// The Welcome we sent (responder side), resent if the initiator repeats its Confirm.
    var welcomeBytes: [UInt8]?
    var acceptedConfirm: Confirm?
    /// Responder side, while unconfirmed: when our Welcome goes out again, and the wait before
    /// that (doubling up to `handshakeRetry`).
    var welcomeDue = MeshTime.zero
    var welcomeRetry = Duration.zero
    /// Initiator side: the proof of the Welcome we accepted. The same Welcome again means the
    /// responder has not heard from us on the link yet.
    var acceptedWelcomeProof: [UInt8]?
    /// The initiator's handshake nonce (responder side): a late Refuse must echo it.
    var initiatorNonce: [UInt8]?
    /// Refs this neighbor sent us recently: a third copy of one from the same neighbor is a replay.
    var recentRefs = RecentRefs()
    /// Link sequence numbers: ours towards the peer, and the window of theirs already accepted.
    var nextLinkSeq: UInt64 = 1
    var linkWindow = SequenceWindow()
    /// Origins whose messages this neighbor asked us to relay to it (``Message/relay(_:)``), and
    /// until when: it cannot link to them itself.
    var relayOrigins: [PeerKey] = []
    var relayUntil = MeshTime.zero
    /// Keepalives sent, and the newest sequence number of each origin our summaries told it.
    var pingsSent = 0
    var summarized: [PeerKey: UInt64] = [:]
    /// The origins its summaries named in full, by tag: what its short entries stand for.
    var namedOrigins: [UInt64: PeerKey] = [:]
    /// Keepalives skipped in a row because the link was busy (``MeshNode/keepaliveSkips``).
    var keepalivesSkipped = 0
}

struct OutgoingHandshake: Sendable {
    enum Phase: Sendable {
        case connectSent
        case confirmSent(remote: PeerKey, transcript: HandshakeTranscript, keys: LinkKeys)
    }
    var nonce: [UInt8]
    var ephemeral: EphemeralKey
    var phase: Phase
    var startedAt: MeshTime
    var lastSentAt: MeshTime
    var lastSent: [UInt8]
    /// When the message of the current phase first went out: while `lastSentAt` is still that
    /// time, its answer times the round trip (Karn's rule: not the answer to a repeat).
    var phaseSentAt: MeshTime
    /// How long after `lastSentAt` the message goes out again (doubling up to
    /// ``MeshConfiguration/handshakeRetry``).
    var retryWait: Duration
    /// Path opening (§6.7): only openers go out until then, then the Connect in full.
    var openUntil: MeshTime?
    /// An authentication failure was reported (a Refuse) or seen (a Welcome that did not
    /// verify). Neither is authenticated, so neither ends the handshake: the real answer may
    /// still come. Reported as ``MeshEvent/connectRefused(_:reason:)`` if the handshake times out.
    var authenticationDoubted = false
}

struct IncomingHandshake: Sendable {
    var remote: PeerKey
    var remoteNonce: [UInt8]
    var remoteEphemeral: [UInt8]
    /// The joiner's neighbor count from its Connect.
    var remoteDegree: Int
    var nonce: [UInt8]
    var ephemeral: EphemeralKey
    var startedAt: MeshTime
    var challengeBytes: [UInt8]
}

struct Candidate: Sendable {
    var key: PeerKey?
    var failures = 0
    var retryAfter = MeshTime.zero
    /// Until then the resolver's introduction allows full Connects (§6.7).
    var introducedUntil: MeshTime?
}

struct OriginState: Sendable {
    var window = SequenceWindow()
    var messages: TokenBucket?
    var bytes: TokenBucket?
    var publicKey: Curve25519.Signing.PublicKey?
    var lastActive: MeshTime
}

struct Missing: Sendable {
    var announcers: [PeerKey]
    var attempts = 0
    /// The announcer whose quota this entry counts against (the first).
    let openedBy: PeerKey

    init(openedBy peer: PeerKey) {
        announcers = [peer]
        openedBy = peer
    }
}

// MARK: - Adversary hooks

/// Hooks that let the simulator play a *misbehaving* member: craft link-tagged datagrams with
/// this node's link keys and replay what it stored. Not part of the supported API.
extension MeshNode {
    /// Tags a message for a link with the link's next sequence number.
    @_spi(Adversary) public mutating func seal(_ message: Message, to peer: PeerKey) -> (bytes: [UInt8], address: MeshAddress)? {
        guard let i = neighbors.index(forKey: peer) else { return nil }
        return (seal(message, link: i), neighbors.values[i].address)
    }

    /// Tags arbitrary bytes (which should start with a header and a link sequence number).
    @_spi(Adversary) public func sealRaw(_ body: [UInt8], to peer: PeerKey) -> (bytes: [UInt8], address: MeshAddress)? {
        guard let n = neighbors[peer] else { return nil }
        return (body + n.keys.tag(body), n.address)
    }

    /// The next link sequence number towards `peer` (to build raw bodies).
    @_spi(Adversary) public mutating func takeLinkSeq(to peer: PeerKey) -> UInt64 {
        guard let i = neighbors.index(forKey: peer) else { return 0 }
        defer { neighbors.values[i].nextLinkSeq += 1 }
        return neighbors.values[i].nextLinkSeq
    }

    /// Whether a link to `peer` is held, announced or not (a link we accepted is announced when
    /// the initiator uses it).
    @_spi(Adversary) public func holdsLink(to peer: PeerKey) -> Bool { neighbors[peer] != nil }

    /// The message `ref` from the pull cache, if the node still holds it.
    @_spi(Adversary) public func storedMessage(_ ref: MessageRef) -> FloodMessage? { store[ref] }

    /// The newest `limit` messages in the pull cache, oldest first.
    @_spi(Adversary) public func recentStoredMessages(limit: Int) -> [FloodMessage] { store.recent(limit) }

    /// A message from this node, validly signed, that bypasses its own pacing and sequence state.
    @_spi(Adversary) public func craftFlood(seq: UInt64, payload: [UInt8]) -> FloodMessage {
        let sig = identity.sign(FloodMessage.signedBytes(meshDigest: credentials.digest, origin: key, seq: seq, destination: nil, payload: payload))
        return FloodMessage(hopLimit: configuration.hopLimit, hops: 1, origin: key, seq: seq, destination: nil, payload: payload, signature: sig)
    }
}

/// How often each of the last 64 refs came from one neighbor. An honest neighbor sends a message
/// once, twice at most (a pull answered after its retry); a third copy is a replay. A scan of 64
/// sequence numbers, not a hash table: cheaper than hashing each ref three times, and the same
/// cost whatever refs a neighbor sends.
struct RecentRefs: Sendable {
    static let size = 64
    /// Slot by slot: the ref's sequence number, its origin (nil: empty) and its count.
    private var seqs = [UInt64](repeating: 0, count: size)
    private var origins = [PeerKey?](repeating: nil, count: size)
    private var counts = [Int](repeating: 0, count: size)
    private var next = 0

    private func slot(of ref: MessageRef) -> Int? {
        seqs.withUnsafeBufferPointer { s in
            for i in 0..<Self.size where s[i] == ref.seq && origins[i] == ref.origin { return i }
            return nil
        }
    }

    /// Takes the oldest slot for `ref` with `count`.
    private mutating func add(_ ref: MessageRef, count: Int) {
        seqs[next] = ref.seq
        origins[next] = ref.origin
        counts[next] = count
        next = (next + 1) % Self.size
    }

    /// Records one more copy of `ref` and returns how many this neighbor has now sent.
    mutating func record(_ ref: MessageRef) -> Int {
        if let i = slot(of: ref) {
            counts[i] += 1
            return counts[i]
        }
        add(ref, count: 1)
        return 1
    }

    /// We asked this neighbor for `ref` (a Graft): its answer is not a replay. Each Graft
    /// excuses one copy; a stalled announcer answering a queue of our Grafts at once sends
    /// several.
    mutating func expect(_ ref: MessageRef) {
        if let i = slot(of: ref) {
            counts[i] -= 1
            return
        }
        add(ref, count: -1)
    }
}
