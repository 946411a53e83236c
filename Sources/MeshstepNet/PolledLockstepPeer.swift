import Foundation
import Logging
import MeshstepAddress
import MeshstepLockstep
import MeshstepMesh
import MeshstepSession
import MeshstepWire
import NIOConcurrencyHelpers
import NIOCore

/// A lockstep session on a UDP socket that the game's own thread drives, as GGPO and GGRS are
/// driven: no event loop and no thread hand-off between the network and the game.
///
/// The same sans-IO values as ``LockstepPeer`` (a `MeshNode` and a `SessionEndpoint`, which
/// decide everything), driven by whichever thread calls in: ``pollConfirmed()`` reads every
/// datagram waiting on the non-blocking socket, runs the node's and the session's timers and
/// returns the ticks now complete; ``apply(_:)`` sends the frame answering a tick with a
/// `sendto(2)` on the calling thread. For a loop that steps as fast as the protocol allows (a
/// headless fast-forward, a referee, a benchmark) this is the cheapest embedding: 2 players on
/// loopback with a thread each run several times faster than through ``LockstepPeer``
/// (docs/BENCHMARKS.md).
///
/// A loop that calls in more often than every half millisecond (stepping as fast as the ticks
/// come) has each read stop at the datagram that completed a tick: ``pollConfirmed()`` hands
/// the tick over, and ``apply(_:)`` reads on right after its own frame is out, up to the next
/// completed tick. The two players' threads then run in step, each reading the other's frame
/// as it arrives, and the system call that finds the socket empty is off the path from the
/// other player's frame to ours. Every eighth such read in a row reads the socket empty, so
/// datagrams that complete no tick wait at most a few ticks. A loop calling in once a frame
/// reads everything waiting on every call.
///
/// **Slowness is not death.** A game thread that stops calling in (a level load, a breakpoint,
/// a paused render loop) would leave the frames, acknowledgements and keepalives unanswered. A
/// standby thread takes its place after `standbyAfter` without a call: it waits on the socket
/// and does the same work until the game calls in again, so the other players see a peer that is
/// slow to apply ticks, never a silent one. While the game calls in, the standby thread sleeps.
/// It covers a game away for up to the session's disconnect timeout: a game thread that hangs
/// for good is then found silent and dropped, as a stalled process would be.
///
/// Call ``leave()`` when done: it says goodbye to the neighbors and closes the socket. A peer
/// let go without it closes its socket silently when freed.
///
/// Discovery is by seeds (``init(identity:credentials:meshConfiguration:configuration:role:roster:gameSeed:host:port:seeds:startTimeout:autoInputDelay:standbyAfter:logger:)``):
/// the resolver service, LAN beacons and NAT traversal run on ``UDPMeshPeer``.
///
/// Thread-safe: every call takes one lock (uncontended while only the game thread calls in).
public final class PolledLockstepPeer<Input: LockstepInput>: @unchecked Sendable {
    /// This peer's public key in the mesh.
    public let key: PeerKey
    /// The bound socket address (with the port picked when 0 was asked).
    public let localAddress: SocketAddress
    /// The session settings every player shares.
    public let configuration: LockstepConfiguration
    /// This peer's part: a player's slot, or spectator.
    public let role: LockstepRole
    @usableFromInline let socket: DatagramSocket
    @usableFromInline let logger: Logger
    @usableFromInline let origin = NIODeadline.now()
    @usableFromInline let frameInterval: Duration
    let standbyAfter: Duration?
    @usableFromInline let lock = NIOLock()
    /// Everything the calls decide with, under `lock`: one value, so that a call is one access
    /// to this class's storage (each access to a class's stored property is checked for
    /// exclusivity at run time, and a poll through separate properties made a dozen).
    @usableFromInline var core: PolledPeerCore<Input>
    var standbyPolls = 0
    /// Threads blocked in select(2) on the socket (``wait(atMost:)``, the standby thread): the
    /// socket is closed when the last one is out, never under one.
    var waiters = 0
    var closed = false
    /// Wakes the standby thread from its sleep (``leave()``).
    let standbyWake = DispatchSemaphore(value: 0)

    /// Binds `host:port`, joins the mesh through `seeds` and starts the session.
    ///
    /// - Parameters:
    ///   - identity: the node's Ed25519 key pair (a new one by default).
    ///   - credentials: the mesh name and password.
    ///   - meshConfiguration: the mesh's settings (`MeshConfiguration.lockstep(players:)` by
    ///     default).
    ///   - configuration: the session's parameters; every player must use the same.
    ///   - role: the slot played, or a spectator.
    ///   - roster: how slots are bound to keys: `.known(descriptor)`, or (nil) claims in a lobby
    ///     named after the mesh with game seed `gameSeed`.
    ///   - gameSeed: the seed of the game every player starts from (part of the signed roster).
    ///   - host: the local address to bind (`0.0.0.0`, `::`, `127.0.0.1`...).
    ///   - port: the UDP port; 0 picks a free one (read ``localAddress``).
    ///   - seeds: peers to dial (any member of the mesh).
    ///   - startTimeout: how long to wait for every player before reporting
    ///     ``NetError/playersMissing(slots:seconds:)`` in ``pollErrors()``.
    ///   - autoInputDelay: the lowest slot chooses the input delay a second after the start, any
    ///     player raises it when the round trips it measures need more, and the lowest slot
    ///     lowers it when every player needs less (see `SessionEndpoint`).
    ///   - standbyAfter: how long the game may go without calling in before the standby thread
    ///     does its work (nil: no standby thread; the game must call in at least every few
    ///     frame intervals, or the other players see it stall and, after the session's
    ///     disconnect timeout, drop it).
    ///   - logger: where the peer logs.
    /// - Throws: ``NetError/portInUse(host:port:)`` and the other bind errors,
    ///   ``NetError/invalidSession(_:)`` or ``NetError/invalidMesh(_:)`` for bad settings.
    public convenience init(
        identity: NodeIdentity = NodeIdentity(), credentials: MeshCredentials, meshConfiguration: MeshConfiguration? = nil,
        configuration: LockstepConfiguration, role: LockstepRole, roster: SessionEndpoint<Input>.Roster? = nil, gameSeed: UInt64 = 0,
        host: String = "0.0.0.0", port: Int = 0, seeds: [SocketAddress] = [], startTimeout: Duration = .seconds(30),
        autoInputDelay: Bool = false, standbyAfter: Duration? = .milliseconds(50), logger: Logger
    ) throws(NetError) {
        try self.init(
            identity: identity, credentials: credentials, meshConfiguration: meshConfiguration, configuration: configuration, role: role,
            roster: roster, gameSeed: gameSeed, host: host, port: port, seeds: seeds, startTimeout: startTimeout, autoInputDelay: autoInputDelay,
            standbyAfter: standbyAfter, socketLoss: nil, logger: logger)
    }

    /// The initializer above with seeded loss of received datagrams, for tests and benchmarks.
    @_spi(Testing) public init(
        identity: NodeIdentity = NodeIdentity(), credentials: MeshCredentials, meshConfiguration: MeshConfiguration? = nil,
        configuration: LockstepConfiguration, role: LockstepRole, roster: SessionEndpoint<Input>.Roster? = nil, gameSeed: UInt64 = 0,
        host: String = "0.0.0.0", port: Int = 0, seeds: [SocketAddress] = [], startTimeout: Duration = .seconds(30),
        autoInputDelay: Bool = false, standbyAfter: Duration? = .milliseconds(50), socketLoss: SocketLoss?, logger: Logger
    ) throws(NetError) {
        guard (0...65535).contains(port) else { throw .bindFailed(host: host, port: port, detail: "the port must be 0...65535") }
        if let standbyAfter, !(.milliseconds(1) ... .seconds(60)).contains(standbyAfter) {
            throw .invalidSession(.outOfRange(field: "standbyAfter (ms)", value: Int(standbyAfter.nanosecondsClamped / 1_000_000), allowed: 1...60_000))
        }
        let meshConfig = meshConfiguration ?? .lockstep(players: configuration.players)
        do { try meshConfig.validate() } catch { throw .invalidMesh(error) }
        let bindAddress: SocketAddress
        do { bindAddress = try SocketAddress(ipAddress: host, port: port) } catch {
            throw .badAddress(host, detail: "not an IP address of this machine")
        }
        var signer: (@Sendable ([UInt8]) -> [UInt8])?
        if role != .spectator { signer = { @Sendable bytes in identity.sign(bytes) } }
        // The session's settings are checked before anything is bound.
        let endpoint: SessionEndpoint<Input>
        do {
            endpoint = try SessionEndpoint<Input>(
                configuration: configuration, role: role, localKey: identity.key,
                roster: roster ?? .claimed(name: String(credentials.meshID.utf8.prefix(64)) ?? "meshstep", gameSeed: gameSeed),
                signer: signer, autoInputDelay: autoInputDelay, startTimeout: startTimeout)
        } catch {
            throw .invalidSession(error)
        }
        let fd = try UDPMeshPeer.bindSocket(bindAddress, host: host, port: port)
        let local = (try? DatagramSocket.localAddress(fd)) ?? bindAddress
        var meshLocal = MeshAddress(local) ?? .ipv4(0, port: UInt16(port))
        if case let .ipv4(v, p) = meshLocal, v == 0 { meshLocal = .ipv4(0x7F00_0001, port: p) }
        let node: MeshNode
        do {
            node = try MeshNode(
                identity: identity, credentials: credentials, localAddress: meshLocal, configuration: meshConfig,
                rng: SystemRandomNumberGenerator(), logger: logger,
                firstSequence: MeshNode.firstSequence(unixSeconds: UInt64(max(0, time(nil)))))
        } catch {
            close(fd)
            throw .bindFailed(host: host, port: port, detail: "\(error)")
        }
        key = identity.key
        localAddress = local
        self.configuration = configuration
        self.role = role
        self.logger = logger
        let socket = DatagramSocket(fd: fd, ipv6: { if case .v6 = local { true } else { false } }())
        self.socket = socket
        frameInterval = .nanoseconds(1_000_000_000 / Int64(configuration.tickRate))
        self.standbyAfter = standbyAfter
        core = PolledPeerCore(
            node: node, endpoint: endpoint, socket: socket, logger: logger,
            buffer: .allocate(byteCount: max(2048, meshConfig.maxDatagramSize), alignment: 16),
            frameInterval: frameInterval.nanoseconds, localSlot: role.slot,
            loss: socketLoss.map { ($0.probability, DeterministicRNG(seed: $0.seed)) })
        lock.withLock {
            let now = clock
            core.start(seeds: seeds.compactMap(MeshAddress.init), now: now)
        }
        if let standbyAfter { startStandby(after: standbyAfter) }
    }

    // MARK: The game's calls

    /// Does the network's work (every datagram waiting, the timers due) and returns the ticks
    /// now complete, in order, each with every slot's input (nil for a dropped slot). Nothing
    /// while a resumed game waits to be taken (``takeResumedGame()``). Called again within half a
    /// millisecond, it reads only up to the datagram that completed a tick, and ``apply(_:)``
    /// reads on (see the type's documentation).
    @inlinable public func pollConfirmed() -> [(tick: Int, inputs: [Input?])] {
        lock.withLock {
            let now = clock
            return core.pollConfirmed(now: now)
        }
    }

    /// Does the network's work (every datagram waiting, the timers due) without taking ticks.
    @inlinable public func poll() {
        lock.withLock {
            let now = clock
            core.called(now: now)
            core.poll(now: now)
        }
    }

    /// Blocks until a datagram waits on the socket, a timer is due or `atMost` passed, then does
    /// the network's work: for a loop with nothing else to do than wait for the next tick,
    /// instead of calling ``pollConfirmed()`` in a spin.
    /// Returns at once after ``leave()``.
    public func wait(atMost: Duration) {
        let due: Duration? = lock.withLock {
            let now = clock
            guard !core.stopped else { return nil }
            core.called(now: now)
            waiters += 1
            return min(core.untilDue(now: now), atMost)
        }
        guard let due else { return }
        if due > .zero { socket.waitReadable(timeout: due) }
        lock.withLock {
            waiters -= 1
            guard !core.stopped else { return closeIfIdle() }
            let now = clock
            core.called(now: now)
            core.poll(now: now)
        }
    }

    /// Passes on what `LockstepDriver/applyNext(answer:)` returned: the checksum of a checked
    /// tick and the local input answering it, whose frame leaves from this thread.
    @inlinable public func apply(_ tick: AppliedTick<Input>) {
        lock.withLock {
            let now = clock
            core.apply(tick, now: now)
        }
    }

    /// ``apply(_:)`` that also hands the game after the tick to the session when a newcomer (a
    /// returning player, a late spectator) needs a checkpoint of it: call this one whenever the
    /// game is at hand.
    @inlinable public func apply<Game: LockstepGame>(_ tick: AppliedTick<Input>, game: Game) where Game.Input == Input {
        lock.withLock {
            let now = clock
            core.apply(tick, game: game, now: now)
        }
    }

    /// Hands the game after `tick` to the session when a newcomer needs a checkpoint of it (a
    /// cheap check otherwise): for a game loop that applied nothing this frame, with the tick
    /// it applied last. A session that stood still for a second because its game gave no input
    /// for its next tick (the match is over, or the game paused) captures one where it stands
    /// when a late spectator asks.
    public func offerCheckpoint<Game: LockstepGame>(after tick: Int, game: Game) where Game.Input == Input {
        lock.withLock {
            guard core.endpoint.wantsCheckpoint(after: tick) else { return }
            let now = clock
            core.apply(now: now) { $0.holdCheckpoint(after: tick, game: game.snapshot(), checksum: game.checksum(), now: now - .zero) }
        }
    }

    /// ``pollConfirmed()`` with the moment (monotonic uptime nanoseconds) the ticks were taken:
    /// for latency measurements across peers of one process.
    public func pollConfirmedTimed() -> [(tick: Int, inputs: [Input?], at: UInt64)] {
        let ready = pollConfirmed()
        let at = NIODeadline.now().uptimeNanoseconds
        return ready.map { ($0.tick, $0.inputs, at) }
    }

    /// `(tick, uptime nanoseconds)` of each local input submitted since the last call (the
    /// newest 4,096 at least).
    public func takeSubmitTimes() -> [(tick: Int, at: UInt64)] {
        lock.withLock {
            let base = origin.uptimeNanoseconds
            return core.endpoint.takeSubmitTimes().map { ($0.tick, base &+ UInt64(max(0, $0.at.nanosecondsClamped))) }
        }
    }

    /// Starts recording when each other player's input for each tick becomes held here (the
    /// moment the frame completing it was read, monotonic uptime nanoseconds): with
    /// ``takeSubmitTimes()`` of the other peers of one process, the one-way input latency. For
    /// benchmarks; it costs a little on every frame received.
    public func recordArrivals() {
        lock.withLock { core.arrivalsHeld = core.arrivalsHeld ?? [] }
    }

    /// `(slot, tick, uptime nanoseconds)` of the other players' inputs held since the last
    /// call, while ``recordArrivals()`` is on (the newest 8,192 at most).
    public func takeArrivals() -> [(slot: Int, tick: Int, at: UInt64)] {
        lock.withLock {
            defer { core.arrivals = [] }
            return core.arrivals
        }
    }

    /// A snapshot of the session, once started.
    public func withSession<T: Sendable>(_ body: @escaping @Sendable (LockstepSession<Input>) -> T) -> T? {
        lock.withLock { core.endpoint.session.map(body) }
    }

    /// The game state this peer resumed from (it found the session running: a restarted player
    /// or a late spectator), once; restore the game with `LockstepDriver(resuming:...)` and
    /// apply the confirmed ticks from its tick on.
    public func takeResumedGame() -> ResumedGame? {
        lock.withLock {
            // The ticks held back while it waited are handed over from the next poll.
            defer {
                core.resumed = nil
                core.touched()
            }
            return core.resumed
        }
    }

    /// Starts this peer over after its session halted, and asks to come back into the match
    /// (see `SessionEndpoint.rejoin(now:)`): the game then takes the state to restore from
    /// ``takeResumedGame()``, and the ticks from there on come as before. Ticks the halted
    /// session completed that were not taken are let go.
    /// - Throws: `RejoinError` while the session runs, or when every player was dropped.
    public func rejoin() throws(RejoinError) {
        lock.lock()
        defer { lock.unlock() }
        try core.rejoin(now: clock)
    }

    /// Asks every peer to switch to `delay` ticks of input delay (agreed through the inputs).
    public func requestInputDelay(_ delay: Int) throws(LockstepConfigurationError) {
        lock.lock()
        defer { lock.unlock() }
        try core.endpoint.requestInputDelay(delay)
        core.touched()
    }

    /// Session events since the last call (start, drops, desyncs, halts...).
    public func pollEvents() -> [LockstepEvent] {
        lock.withLock {
            defer { core.events = [] }
            return core.events
        }
    }

    /// Network errors since the last call (players missing at the start, a contested slot...).
    public func pollErrors() -> [NetError] {
        lock.withLock {
            defer { core.errors = [] }
            return core.errors
        }
    }

    /// Where the session stands and what it measured of the other players (nil until every
    /// player signed the roster).
    public var stats: SessionStats? { lock.withLock { core.endpoint.sessionSnapshot()?.stats } }
    /// The roster as this peer holds it (nil before the start).
    public var roster: RosterStatus? { lock.withLock { core.endpoint.sessionSnapshot()?.roster } }
    /// Why the session stopped for good, or nil while it runs.
    public var halted: HaltReason? { roster?.halted }
    /// True once every player signed the roster (tick 0 may be applied from then on).
    public var allPlayersPresent: Bool { lock.withLock { core.endpoint.started } }
    /// The mesh node's counters (datagrams, bytes, drops...).
    public var meshStats: MeshStats { lock.withLock { core.node.stats } }
    /// The mesh neighbors and their measured round trips.
    public var neighbors: [NeighborInfo] { lock.withLock { core.node.neighborInfo } }
    /// How many times the standby thread did the game's work because the game had not called
    /// in for `standbyAfter`.
    public var standbyPollCount: Int { lock.withLock { standbyPolls } }

    /// Ends the match for this player; call it after applying the match's last tick (and
    /// submitting the input that answers it, as for every tick), then call ``leave()``.
    ///
    /// As ``LockstepPeer/finish(timeout:)``: the other players still need our newest input and
    /// our confirmation of the last tick, so this keeps doing the network's work until every
    /// other active player has acknowledged our newest input or is gone (it left, or has been
    /// silent for a second), then a few frame intervals more so that our acknowledgements of
    /// their last inputs travel too. It returns at once when the session halted or never
    /// started.
    ///
    /// - Parameter timeout: the longest wait, for players that neither answer nor leave.
    /// - Returns: whether every other player was accounted for before the timeout.
    @discardableResult
    public func finish(timeout: Duration = .seconds(3)) -> Bool {
        guard !lock.withLock({ core.stopped }) else { return false }
        let deadline = ContinuousClock.now + timeout
        var done = false
        while ContinuousClock.now < deadline {
            switch lock.withLock({ core.endpoint.finishProgress() }) {
            case .over: return false
            case .settled: done = true
            case .waiting: break
            }
            if done { break }
            wait(atMost: .milliseconds(5))
        }
        let grace = ContinuousClock.now + min(frameInterval * 3, max(.zero, deadline - ContinuousClock.now))
        while ContinuousClock.now < grace { wait(atMost: .milliseconds(5)) }
        return done
    }

    /// Leaves the mesh cleanly (Disconnect(leaving) to neighbors), stops the standby thread and
    /// closes the socket (once no thread waits on it). Call ``finish(timeout:)`` first at the end
    /// of a match: the other players may still need our last frames. Every call after it does
    /// nothing (``pollConfirmed()`` returns no tick).
    public func leave() {
        lock.withLock {
            guard !core.stopped else { return }
            core.leave(now: clock)
            closeIfIdle()
        }
        standbyWake.signal()
    }

    /// A peer dropped without ``leave()`` closes its socket without a word: the others find it
    /// silent and drop it after the session's disconnect timeout.
    deinit {
        if !closed { close(socket.fd) }
        core.buffer.deallocate()
    }

    /// Closes the socket after ``leave()`` once no thread waits on it (under the lock).
    func closeIfIdle() {
        guard core.stopped, waiters == 0, !closed else { return }
        closed = true
        close(socket.fd)
    }

    // MARK: Under the lock

    @inlinable var clock: MeshTime { MeshTime(nanoseconds: Int64(NIODeadline.now().uptimeNanoseconds - origin.uptimeNanoseconds)) }

    // MARK: Standby

    /// What the standby thread does next.
    enum StandbyStep {
        /// Sleep this long: the game calls in.
        case sleep(Duration)
        /// Wait on the socket this long, then do the game's work (``standbyPoll(after:)``).
        case watch(Duration)
    }

    /// Starts the standby thread. It holds the peer weakly, and only between its waits: a peer
    /// that is let go without ``leave()`` is freed, and the thread ends.
    func startStandby(after: Duration) {
        let socket = self.socket, wake = standbyWake
        let thread = Thread { [weak self] in
            while let step = self?.standbyNext(after: after) {
                switch step {
                case let .sleep(d):
                    _ = wake.wait(timeout: .now() + .nanoseconds(Int(d.nanosecondsClamped)))
                case let .watch(d):
                    socket.waitReadable(timeout: d)
                    self?.standbyPoll(after: after)
                }
            }
        }
        thread.name = "meshstep-standby"
        thread.start()
    }

    /// The standby thread's next step, or nil to end: it sleeps while the game calls in, and
    /// once the game has not for `after`, waits on the socket (or the next timer) and does the
    /// game's network work, until the game calls in again. It stops covering a game away for
    /// longer than the session's disconnect timeout (a game thread that hangs for good): the
    /// others then find this player silent and drop it, as they would a stalled process.
    func standbyNext(after: Duration) -> StandbyStep? {
        lock.withLock {
            guard !core.stopped else { return nil }
            let now = clock
            let quiet = Duration.nanoseconds(now.nanoseconds - core.lastCall)
            // Asleep until the game would be overdue (a tenth of `after` at least, so a busy game
            // does not wake this thread often).
            if quiet < after { return .sleep(max(after - quiet, after / 10)) }
            if quiet > max(after, configuration.disconnectTimeout) { return .sleep(after) }
            waiters += 1
            return .watch(min(max(core.untilDue(now: now), .zero), after))
        }
    }

    /// After the standby thread's wait on the socket: the game's network work, unless the game
    /// called in meanwhile.
    func standbyPoll(after: Duration) {
        lock.withLock {
            waiters -= 1
            guard !core.stopped else { return closeIfIdle() }
            let now = clock
            guard Duration.nanoseconds(now.nanoseconds - core.lastCall) >= after else { return }
            standbyPolls += 1
            core.poll(now: now)
        }
    }
}

/// The state and the work of a ``PolledLockstepPeer``, under its lock: the node, the session
/// endpoint and what the game has not taken yet. A value, so that each of the game's calls is a
/// single access to the peer's storage.
///
/// Most polls find no datagram and no timer due (a game loop spinning on `pollConfirmed()`): they
/// read the socket once and compare the clock with one deadline, and touch the session only when
/// something reached it since the last hand-over.
@usableFromInline struct PolledPeerCore<Input: LockstepInput> {
    /// A game calling in again within this many nanoseconds is stepping as fast as the ticks
    /// come (``pollConfirmed(now:)`` stops its read at the completed tick).
    @usableFromInline static var spinningWithin: Int64 { 500_000 }
    @usableFromInline var node: MeshNode
    @usableFromInline var endpoint: SessionEndpoint<Input>
    @usableFromInline let socket: DatagramSocket
    @usableFromInline let logger: Logger
    /// The receive buffer, allocated once (freed by the peer's deinit).
    @usableFromInline let buffer: UnsafeMutableRawBufferPointer
    /// The session's tick period, in nanoseconds.
    @usableFromInline let frameInterval: Int64
    @usableFromInline let localSlot: Int?
    @usableFromInline var loss: (probability: Double, rng: DeterministicRNG)?
    /// When the session's next every-frame tick is due (nanoseconds on the peer's clock).
    @usableFromInline var nextFrameTick: Int64 = 0
    /// The earliest of the node's timers, the session's wake-up and the next frame tick: until
    /// then, a poll without a datagram has nothing to do.
    @usableFromInline var nextDue: Int64 = 0
    /// When the game last called in (the standby thread's cue), in nanoseconds.
    @usableFromInline var lastCall: Int64 = 0
    @usableFromInline var stopped = false
    /// The last read stopped at a datagram that made a tick ready (or at its limit): more may
    /// wait.
    @usableFromInline var readOn = false
    /// Reads stopped at a completed tick since the socket was last read empty.
    @usableFromInline var stoppedReads = 0
    /// A read stopped at the tick it completed, and the game has not polled the ready ticks
    /// since: the next reads wait for it (without asking the generic endpoint each time).
    @usableFromInline var readyTickWaits = false
    /// Something reached the node or the session since the game last took the ready ticks:
    /// only then can there be new ones.
    @usableFromInline var unread = true
    /// The same since the session's events and errors were last collected.
    @usableFromInline var uncollected = true
    @usableFromInline var events: [LockstepEvent] = []
    @usableFromInline var errors: [NetError] = []
    @usableFromInline var resumed: ResumedGame?
    /// Per slot, the newest tick held at the last check, while arrivals are recorded; nil
    /// otherwise.
    @usableFromInline var arrivalsHeld: [Int]?
    @usableFromInline var arrivals: [(slot: Int, tick: Int, at: UInt64)] = []

    init(
        node: MeshNode, endpoint: SessionEndpoint<Input>, socket: DatagramSocket, logger: Logger, buffer: UnsafeMutableRawBufferPointer,
        frameInterval: Int64, localSlot: Int?, loss: (probability: Double, rng: DeterministicRNG)?
    ) {
        self.node = node
        self.endpoint = endpoint
        self.socket = socket
        self.logger = logger
        self.buffer = buffer
        self.frameInterval = frameInterval
        self.localSlot = localSlot
        self.loss = loss
    }

    mutating func start(seeds: [MeshAddress], now: MeshTime) {
        called(now: now)
        mesh(node.start(now: now), now: now)
        if !seeds.isEmpty { mesh(node.addSeedAddresses(seeds, now: now), now: now) }
        touched()
    }

    /// The endpoint started over (``PolledLockstepPeer/rejoin()``): nothing the halted session
    /// left is handed to the game.
    mutating func rejoin(now: MeshTime) throws(RejoinError) {
        called(now: now)
        session(try endpoint.rejoin(now: now - .zero), now: now)
        resumed = nil
        readOn = false
        readyTickWaits = false
        touched()
    }

    mutating func leave(now: MeshTime) {
        mesh(node.leave(now: now), now: now)
        stopped = true
    }

    /// Notes a call from the game.
    @inlinable mutating func called(now: MeshTime) { lastCall = now.nanoseconds }

    /// How long until the next timer, the session's wake-up or the next frame tick.
    @inlinable func untilDue(now: MeshTime) -> Duration { .nanoseconds(nextDue &- now.nanoseconds) }

    /// The network's work, then the ticks complete, in order (none while a resumed game waits
    /// to be taken).
    ///
    /// While the game calls in more often than every half millisecond (a loop stepping as fast
    /// as the ticks come), the read stops at the datagram that made a tick ready: the game
    /// applies it and sends its frame first, and ``apply(_:now:)`` reads on right after that
    /// send (see ``read(now:stopAtReadyTick:)``). Finding the socket empty costs a system call,
    /// which is then no longer on the path from the other player's frame to ours. A game
    /// calling in once a frame reads everything waiting, as ``poll(now:)`` does.
    @inlinable mutating func pollConfirmed(now: MeshTime) -> [(tick: Int, inputs: [Input?])] {
        let spinning = now.nanoseconds &- lastCall < Self.spinningWithin
        called(now: now)
        guard !stopped else { return [] }
        network(now: now, stopAtReadyTick: spinning)
        guard unread, resumed == nil else { return [] }
        unread = false
        let limit = 1024
        let ready = endpoint.pollReady(limit: limit)
        readyTickWaits = false
        if ready.count == limit { unread = true }
        // Taking the ticks may have raised events (a checked tick's desync).
        uncollected = true
        return ready
    }

    /// Every datagram waiting (at most 256 a call, so that a flood cannot hold the caller), the
    /// timers due, and the session's news for the game's calls.
    @inlinable mutating func poll(now: MeshTime) {
        guard !stopped else { return }
        network(now: now, stopAtReadyTick: false)
    }

    /// Reads datagrams (all waiting, or up to the one that made a tick ready), runs the timers
    /// due and collects the session's news.
    @inlinable mutating func network(now: MeshTime, stopAtReadyTick: Bool) {
        var worked = read(now: now, stopAtReadyTick: stopAtReadyTick)
        if now.nanoseconds >= nextDue {
            timers(now: now)
            worked = true
        }
        if worked { touched() }
        if uncollected { collect() }
    }

    /// Reads the datagrams waiting, at most 256 (so that a flood cannot hold the caller), into
    /// the node. Returns whether any was read.
    ///
    /// With `stopAtReadyTick` (a game stepping as fast as the ticks come), the read stops at the
    /// datagram that made a tick ready, and a read is skipped while a tick a stopped read
    /// completed waits to be taken: ``readOn`` notes that more may wait, and the read after
    /// the game's next frame goes on. A tick becomes ready at most once per tick the game
    /// takes, and every eighth read in a row that would stop reads the socket empty instead:
    /// datagrams that complete no tick cannot pile up behind those that do.
    @inlinable mutating func read(now: MeshTime, stopAtReadyTick: Bool) -> Bool {
        let stopping = stopAtReadyTick && stoppedReads < 8
        if stopping, readOn, resumed == nil, readyTickWaits { return false }
        readOn = false
        var worked = false
        var received = 0
        while let (count, from) = socket.receive(into: buffer) {
            received += 1
            let lost = loss != nil && loss!.rng.chance(loss!.probability)
            if !lost, let from {
                // Only a tick that becomes ready during this read stops it: the endpoint notes a
                // frame that made one ready, so no generic call asks after every datagram.
                endpoint.frameReadiedTick = false
                mesh(node.receive(Array(UnsafeRawBufferPointer(rebasing: buffer[0..<count])), from: from, now: now), now: now)
                worked = true
                if stopping, endpoint.frameReadiedTick {
                    readyTickWaits = true
                    readOn = true
                    stoppedReads += 1
                    return worked
                }
            }
            if received == 256 {
                readOn = true
                return worked
            }
        }
        stoppedReads = 0
        return worked
    }

    /// Passes on what the driver applied (see `PolledLockstepPeer.apply(_:)`).
    @inlinable mutating func apply(_ tick: AppliedTick<Input>, now: MeshTime) {
        apply(now: now) { $0.apply(tick, now: now - .zero) }
    }

    /// As ``apply(_:now:)``, with the game for a checkpoint.
    @inlinable mutating func apply<Game: LockstepGame>(_ tick: AppliedTick<Input>, game: Game, now: MeshTime) where Game.Input == Input {
        apply(now: now) { $0.apply(tick, game: game, now: now - .zero) }
    }

    /// A call from the game that hands a tick to the endpoint (`body`), its frame out at once;
    /// then the datagrams a stopped read left, up to the next completed tick.
    @inlinable mutating func apply(now: MeshTime, _ body: (inout SessionEndpoint<Input>) -> [SessionAction]) {
        called(now: now)
        guard !stopped else { return }
        session(body(&endpoint), now: now)
        if readOn { _ = read(now: now, stopAtReadyTick: true) }
        touched()
    }

    /// The node's timer and the session's tick when due (every frame interval, and at the
    /// session's wake-up time).
    @inlinable mutating func timers(now: MeshTime) {
        if let due = node.nextDeadline, due <= now { mesh(node.timerFired(now: now), now: now) }
        let t = now - .zero
        if now.nanoseconds >= nextFrameTick {
            nextFrameTick = now.nanoseconds &+ frameInterval
            endpoint.links(node.neighborInfo.map { ($0.peer, $0.rtt) })
            session(endpoint.tick(now: t), now: now)
        } else if let wakeup = endpoint.nextWakeupInPlace(), wakeup <= t {
            session(endpoint.tick(now: t), now: now)
        }
    }

    /// Notes that the node or the session was reached: there may be ticks, events or errors to
    /// hand over, and their deadlines may have moved.
    @inlinable mutating func touched() {
        unread = true
        uncollected = true
        refreshDue()
    }

    /// `nextDue` after the node or the session changed.
    @inlinable mutating func refreshDue() {
        var next = nextFrameTick
        if let d = node.nextDeadline { next = min(next, d.nanoseconds) }
        if let w = endpoint.nextWakeupInPlace() { next = min(next, w.nanoseconds) }
        nextDue = next
    }

    /// Events, errors and a resumed game from the session, for the game's calls. The peer's own
    /// arrays are touched only when there is something for them.
    @inlinable mutating func collect() {
        uncollected = false
        guard endpoint.hasNews() else { return }
        if let game = endpoint.takeResumedGame() { resumed = game }
        let new = endpoint.takeEvents()
        if !new.isEmpty {
            for e in new { logger.debug("session: \(e)") }
            events += new
        }
        let failed = endpoint.takeErrors()
        if !failed.isEmpty { errors += failed.map(NetError.init) }
    }

    /// The node's actions: datagrams out, deliveries into the session.
    @inlinable mutating func mesh(_ actions: [MeshAction], now: MeshTime) {
        for action in actions {
            switch action {
            case let .send(bytes, to):
                socket.send(bytes, to: to, logger: logger)
            case let .sendOpener(bytes, to, hopLimit):
                socket.send(bytes, to: to, hopLimit: hopLimit, logger: logger)
            case let .deliver(message):
                let actions = endpoint.receive(message.payload, from: message.origin, now: now - .zero)
                if arrivalsHeld != nil { noteArrivals() }  // before our answers go out
                session(actions, now: now)
            case let .event(event):
                logger.debug("mesh: \(event)")
            case .resolve, .locate, .reregister:
                // No resolver here: the seeds are dialled again when the node asks for peers.
                break
            }
        }
    }

    /// The session's actions, through the node.
    @inlinable mutating func session(_ actions: [SessionAction], now: MeshTime) {
        for action in actions {
            do {
                switch action {
                case let .broadcast(payload): mesh(try node.broadcast(payload, now: now).actions, now: now)
                case let .send(payload, to): mesh(try node.send(payload, to: to, now: now).actions, now: now)
                case let .direct(payload, to): mesh(try node.sendDirect(payload, to: to, now: now), now: now)
                case let .protect(peers): node.protect(peers)
                case let .unprotect(peers): node.unprotect(peers)
                }
            } catch {
                logger.warning("cannot send a lockstep message: \(error)")
            }
        }
    }

    /// Records the other players' inputs that became held with the frame just received.
    @usableFromInline mutating func noteArrivals() {
        guard let held = endpoint.heldInputsOfEverySlot() else { return }
        arrivals += LockstepPeer<Input>.arrivals(held: held, before: arrivalsHeld, local: localSlot)
        arrivalsHeld = held
        if arrivals.count > 16_384 { arrivals.removeFirst(arrivals.count - 8192) }
    }
}
