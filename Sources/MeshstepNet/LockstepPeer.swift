import Foundation
import Logging
import MeshstepLockstep
import MeshstepMesh
import MeshstepSession
import MeshstepWire
import NIOConcurrencyHelpers
import NIOCore

/// A lockstep session on real UDP: the handle a game loop talks to.
///
/// A thin shell around `SessionEndpoint` (every decision lives there, and the simulator runs
/// the same value): the endpoint lives on the mesh's event loop (`NIOLoopBound`), which feeds it
/// delivered payloads, link round trips and a timer every frame interval (and at the endpoint's
/// own wake-up time), and carries out its actions. Frames are received, acknowledged, resent and
/// relayed there whatever the game loop is doing. The game calls ``submit(_:)`` once per applied
/// tick, ``pollConfirmed()`` every frame, and reads ``pollEvents()``, ``stats`` and ``roster``; all of them
/// are safe from any thread.
///
/// The roster is bound to keys before tick 0 (see `SessionEndpoint`): with
/// `roster: .known(descriptor)` every slot's key is given; by default players claim their slots
/// in a lobby on the mesh and every player signs the resulting descriptor.
public final class LockstepPeer<Input: LockstepInput>: @unchecked Sendable {
    /// The mesh peer the session runs on: its socket, event loop and identity.
    public let mesh: UDPMeshPeer
    /// The session settings every player shares (players, tick rate, input delay...).
    public let configuration: LockstepConfiguration
    /// This peer's part: a player's slot, or spectator.
    public let role: LockstepRole
    let logger: Logger
    let endpoint: NIOLoopBoundBox<SessionEndpoint<Input>>
    var pump: RepeatedTask?
    var wakeup: Scheduled<Void>?
    var wakeupAt: Duration?
    /// The checkpoint ticks last published to the game thread.
    var publishedWanted: Set<Int> = []
    /// Called on the event loop when ticks become complete (``onReady(_:)``).
    var readyHandler: (@Sendable () -> Void)?
    /// Whether the handler runs now, and whether more ticks became complete meanwhile (a
    /// submit from inside it can complete the next tick): it runs again instead of nesting.
    var handlingReady = false
    var readyAgain = false
    /// Per slot, the newest tick held at the last check, while arrivals are recorded
    /// (``recordArrivals()``); nil otherwise.
    var arrivalsHeld: [Int]?

    let shared = NIOLockedValueBox(LockstepPeerShared())

    /// Starts the lockstep session on an already running mesh peer.
    /// - Parameters:
    ///   - mesh: the running mesh peer the session floods its frames over.
    ///   - configuration: the session's parameters; every player must use the same.
    ///   - role: the slot played, or a spectator.
    ///   - roster: how slots are bound to keys: `.known(descriptor)`, or (nil) claims in a lobby
    ///     named after the mesh with game seed `gameSeed`.
    ///   - startTimeout: how long to wait for every player before reporting
    ///     ``NetError/playersMissing(slots:seconds:)`` as an error.
    ///   - autoInputDelay: the lowest slot chooses the input delay a second after the start, any
    ///     player raises it when the round trips it measures need more, and the lowest slot
    ///     lowers it when every player needs less (see `SessionEndpoint`).
    ///   - gameSeed: the seed of the game every player starts from (part of the signed roster).
    ///   - logger: where the session logs its events at debug level.
    public init(
        mesh: UDPMeshPeer, configuration: LockstepConfiguration, role: LockstepRole,
        roster: SessionEndpoint<Input>.Roster? = nil, gameSeed: UInt64 = 0,
        startTimeout: Duration = .seconds(30), autoInputDelay: Bool = false, logger: Logger
    ) throws(LockstepConfigurationError) {
        let identity = mesh.identity
        var signer: (@Sendable ([UInt8]) -> [UInt8])?
        if role != .spectator { signer = { @Sendable bytes in identity.sign(bytes) } }
        let value = try SessionEndpoint<Input>(
            configuration: configuration, role: role, localKey: mesh.key,
            roster: roster ?? .claimed(name: String(mesh.meshID.utf8.prefix(64)) ?? "meshstep", gameSeed: gameSeed),
            signer: signer, autoInputDelay: autoInputDelay, startTimeout: startTimeout)
        self.mesh = mesh
        self.configuration = configuration
        self.role = role
        self.logger = logger
        endpoint = NIOLoopBoundBox.makeBoxSendingValue(value, eventLoop: mesh.eventLoop)
        let interval = TimeAmount.nanoseconds(1_000_000_000 / Int64(configuration.tickRate))
        try? mesh.eventLoop.submit {
            mesh.onDeliver = { [weak self] message, now in self?.delivered(message, now: now) }
            self.frameTick()
            self.pump = mesh.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [weak self] _ in self?.frameTick() }
        }.wait()
    }

    // MARK: Game thread API

    /// Submits the local input for the next local tick and floods the frame. Call once per
    /// applied tick (the first `inputDelay` ticks are neutral and need none).
    ///
    /// Inlinable: the input is encoded (and the codec checked) in the game's module, and the
    /// event loop gets the bytes.
    @inlinable public func submit(_ input: Input) {
        submit(bytes: LockstepSession<Input>.encode(input))
    }

    @usableFromInline func submit(bytes: InputBytes) {
        // From the event loop (a game stepped in ``onReady(_:)``) the frame goes out at once.
        guard !mesh.eventLoop.inEventLoop else { return submitOnLoop(bytes) }
        mesh.eventLoop.execute { self.submitOnLoop(bytes) }
    }

    func submitOnLoop(_ bytes: InputBytes) {
        perform(endpoint.value.submit(bytes, now: clock))
        drain()
    }

    /// Runs `body` on the event loop each time ticks become complete, right after they do.
    ///
    /// For a headless peer (a bot, a referee process, a benchmark) that steps its game where the
    /// network runs: `body` polls (``pollConfirmed()``), applies, and submits
    /// (``apply(_:)``), and the next frame leaves without waking another thread. `body` runs
    /// on the event loop, so it must be quick; a game with its own loop (rendering, pacing)
    /// polls from its own thread instead. Set it once, before the ticks it should see; capture
    /// the peer weakly in `body` (the peer keeps `body`).
    public func onReady(_ body: @escaping @Sendable () -> Void) {
        guard !mesh.eventLoop.inEventLoop else { return readyHandler = body }
        try? mesh.eventLoop.submit { self.readyHandler = body }.wait()
    }

    /// Ticks now complete, in order, each with every slot's input (nil for a dropped slot).
    /// Nothing while a resumed game waits to be taken (``takeResumedGame()``): the ticks after a
    /// checkpoint belong to the game restored from it, not to the one the loop still runs.
    ///
    /// Inlinable: the inputs are decoded in the game's module, specialized to its input type.
    @inlinable public func pollConfirmed() -> [(tick: Int, inputs: [Input?])] {
        InputBytes.decode(takeReady().rows, as: Input.self)
    }

    /// ``pollConfirmed()`` with the moment (monotonic uptime nanoseconds) each tick became
    /// complete on the event loop: for latency measurements across peers of one process.
    @inlinable public func pollConfirmedTimed() -> [(tick: Int, inputs: [Input?], at: UInt64)] {
        let (rows, at) = takeReady()
        var ready: [(tick: Int, inputs: [Input?], at: UInt64)] = []
        ready.reserveCapacity(rows.count)
        var scratch: [UInt8] = []
        for (r, at) in zip(rows, at) { ready.append((r.tick, InputBytes.decode(r.row, as: Input.self, scratch: &scratch), at)) }
        return ready
    }

    /// The complete ticks queued for the game, as bytes, and when each became complete; none
    /// while a resumed game waits to be taken.
    @usableFromInline func takeReady() -> (rows: ReadyRows, at: [UInt64]) {
        shared.withLockedValue { s in
            guard s.resumed == nil, !s.ready.isEmpty else { return ([], []) }
            defer { s.ready = []; s.readyAt = [] }
            return (s.ready, s.readyAt)
        }
    }

    /// Submit times and arrivals not taken yet are kept up to this many (the newest; trimmed in
    /// batches): a game that never takes them does not grow.
    static var keptTimes: Int { 8192 }

    /// `(tick, uptime nanoseconds)` of each local input as the event loop recorded it (the
    /// newest 8,192 at most, when not taken for longer).
    public func takeSubmitTimes() -> [(tick: Int, at: UInt64)] {
        shared.withLockedValue { s in
            defer { s.submitted = [] }; return s.submitted
        }
    }

    /// Starts recording when each other player's input for each tick becomes held here (the
    /// moment the frame completing it was received, monotonic uptime nanoseconds): with
    /// ``takeSubmitTimes()`` of the other peers of one process, the one-way input latency,
    /// before any agreement. For benchmarks; it costs a little on every frame received.
    public func recordArrivals() {
        guard !mesh.eventLoop.inEventLoop else { return arrivalsHeld = arrivalsHeld ?? [] }
        try? mesh.eventLoop.submit { self.arrivalsHeld = self.arrivalsHeld ?? [] }.wait()
    }

    /// `(slot, tick, uptime nanoseconds)` of the other players' inputs held since the last
    /// call, while ``recordArrivals()`` is on (the newest 8,192 at most).
    public func takeArrivals() -> [(slot: Int, tick: Int, at: UInt64)] {
        shared.withLockedValue { s in
            defer { s.arrivals = [] }; return s.arrivals
        }
    }

    /// The local checksum after applying `tick` (every tick; only the checked ones are sent).
    public func recordChecksum(tick: Int, checksum: UInt64) {
        guard !mesh.eventLoop.inEventLoop else { return recordChecksumOnLoop(tick: tick, checksum: checksum) }
        mesh.eventLoop.execute { self.recordChecksumOnLoop(tick: tick, checksum: checksum) }
    }

    func recordChecksumOnLoop(tick: Int, checksum: UInt64) {
        endpoint.value.recordChecksum(tick: tick, checksum: checksum)
        drain()
    }

    /// Passes on what `LockstepDriver/applyNext(answer:)` returned: the checksum of a checked
    /// tick and the local input answering it.
    @inlinable public func apply(_ tick: AppliedTick<Input>) {
        if let checksum = tick.checksum { recordChecksum(tick: tick.tick, checksum: checksum) }
        if let input = tick.answer { submit(input) }
    }

    /// ``apply(_:)`` that also hands the game after the tick to the session when a newcomer (a
    /// returning player, a late spectator) needs a checkpoint of it: call this one whenever the
    /// game is at hand.
    @inlinable public func apply<Game: LockstepGame>(_ tick: AppliedTick<Input>, game: Game) where Game.Input == Input {
        offerCheckpoint(after: tick.tick, game: game)
        apply(tick)
    }

    /// Hands the game after `tick` to the session when a newcomer needs a checkpoint of it (a
    /// cheap check otherwise): for game loops that submit and record checksums themselves
    /// rather than through ``apply(_:game:)``. Call after applying every tick, and with the
    /// tick applied last on a frame that applied nothing: a session that stood still for a
    /// second because its game gave no input for its next tick (the match is over, or the game
    /// paused) captures a checkpoint where it stands when a late spectator asks.
    public func offerCheckpoint<Game: LockstepGame>(after tick: Int, game: Game) where Game.Input == Input {
        guard shared.withLockedValue({ $0.checkpointsWanted.contains(tick) }) else { return }
        let state = game.snapshot(), checksum = game.checksum()
        mesh.eventLoop.execute {
            self.perform(self.endpoint.value.holdCheckpoint(after: tick, game: state, checksum: checksum, now: self.clock))
            self.drain()
        }
    }

    /// The game state this peer resumed from (it found the session running: a restarted player
    /// or a late spectator), once; restore the game with `LockstepDriver(resuming:...)` and apply
    /// the confirmed ticks from its tick on.
    public func takeResumedGame() -> ResumedGame? {
        shared.withLockedValue { s in
            defer { s.resumed = nil }; return s.resumed
        }
    }

    /// Whether this peer found the session running without it and resumes from a checkpoint.
    public var joining: Bool { shared.withLockedValue { $0.joining } }

    /// What state transfer moved here (nil before the first frame interval).
    public var transferStats: StateTransferStats? { shared.withLockedValue { $0.transfer } }

    /// Starts this peer over after its session halted, and asks to come back into the match
    /// (see `SessionEndpoint.rejoin(now:)`): the game then takes the state to restore from
    /// ``takeResumedGame()``, and the ticks from there on come as before. Ticks the halted
    /// session completed that were not taken are let go.
    /// - Throws: `RejoinError` while the session runs, or when every player was dropped.
    public func rejoin() throws(RejoinError) {
        let result: Result<Void, RejoinError>? = try? mesh.eventLoop.submit { () -> Result<Void, RejoinError> in
            do throws(RejoinError) {
                let actions = try self.endpoint.value.rejoin(now: self.clock)
                self.shared.withLockedValue {
                    $0.ready = []
                    $0.readyAt = []
                    $0.resumed = nil
                    $0.stats = nil
                    $0.roster = nil
                    $0.finish = .over
                }
                self.perform(actions)
                self.drain()
                return .success(())
            } catch {
                return .failure(error)
            }
        }.wait()
        // A peer that left has no event loop to start over on.
        guard let result else { throw .notHalted }
        try result.get()
    }

    /// Asks every peer to switch to `delay` ticks of input delay (agreed through the inputs).
    public func requestInputDelay(_ delay: Int) {
        mesh.eventLoop.execute { try? self.endpoint.value.requestInputDelay(delay) }
    }

    /// Session events since the last call (start, drops, desyncs, halts...).
    public func pollEvents() -> [LockstepEvent] {
        shared.withLockedValue { s in
            defer { s.events = [] }; return s.events
        }
    }

    /// Network errors since the last call (players missing at the start, a contested slot...).
    public func pollErrors() -> [NetError] {
        shared.withLockedValue { s in
            defer { s.errors = [] }; return s.errors
        }
    }

    /// Where the session stands and what it measured of the other players, refreshed every
    /// frame interval (nil until every player signed the roster).
    public var stats: SessionStats? { shared.withLockedValue { $0.stats } }
    /// The roster as this peer holds it, refreshed every frame interval (nil before the start).
    public var roster: RosterStatus? { shared.withLockedValue { $0.roster } }

    /// Submit-to-acknowledged-by-all times of our inputs since the start (constant memory).
    public func ackLatencies() -> LatencyHistogram { shared.withLockedValue { $0.ackLatencies } }

    /// Why the session stopped for good, or nil while it runs (refreshed every frame interval).
    public var halted: HaltReason? { shared.withLockedValue { $0.roster?.halted } }
    /// True once every player signed the roster (tick 0 may be applied from then on).
    public var allPlayersPresent: Bool { shared.withLockedValue { $0.stats != nil } }

    /// A snapshot of the session, once started (read on the event loop).
    public func withSession<T: Sendable>(_ body: @escaping @Sendable (LockstepSession<Input>) -> T) -> T? {
        try? mesh.eventLoop.submit { self.inPlace { $0.session.map(body) } }.wait() ?? nil
    }

    /// Ends the match for this player; call it after applying the match's last tick (and
    /// submitting the input that answers it, as for every tick), then call ``leave()``.
    ///
    /// The other players still need what we sent last: our newest input and our confirmation
    /// of the last tick (no tick is applied until every player has confirmed it). So this keeps
    /// the frame pump running until every other active player has acknowledged our newest input
    /// (which went out after the last tick was applied, so with its confirmation) or is gone
    /// (it left first, or crashed: silent for a moment), then a few frame intervals more so that
    /// our acknowledgements of their last inputs travel too. It returns at once when the session
    /// halted or never started.
    ///
    /// - Parameter timeout: the longest wait, for players that neither answer nor leave.
    /// - Returns: whether every other player was accounted for before the timeout.
    @discardableResult
    public func finish(timeout: Duration = .seconds(3)) -> Bool {
        let started = ContinuousClock.now
        let deadline = started + timeout
        var done = false
        while ContinuousClock.now < deadline {
            // The event loop asks the session every frame interval (``SessionEndpoint/finishProgress()``).
            switch shared.withLockedValue({ $0.finish }) {
            case .over: return false
            case .settled: done = true
            case .waiting: break
            }
            if done { break }
            Thread.sleep(forTimeInterval: 0.005)
        }
        let grace = Duration.seconds(3) / configuration.tickRate
        let left = deadline - ContinuousClock.now
        if left > .zero { Thread.sleep(forTimeInterval: Double(min(grace, left).nanosecondsClamped) / 1e9) }
        return done
    }

    /// Stops the frame pump and leaves the mesh cleanly (Disconnect(leaving) to neighbors).
    public func leave() {
        try? mesh.eventLoop.submit {
            self.pump?.cancel()
            self.wakeup?.cancel()
        }.wait()
        mesh.leave()
    }

    // MARK: Event loop

    var clock: Duration { mesh.now - .zero }

    func delivered(_ message: DeliveredMessage, now: MeshTime) {
        let actions = endpoint.value.receive(message.payload, from: message.origin, now: now - .zero)
        if arrivalsHeld != nil { noteArrivals() }  // before our answers go out
        perform(actions)
        drain()
    }

    /// Records the other players' inputs that became held with the frame just received.
    func noteArrivals() {
        guard let held = inPlace({ $0.heldInputsOfEverySlot() }) else { return }
        let new = Self.arrivals(held: held, before: arrivalsHeld, local: role.slot)
        arrivalsHeld = held
        if !new.isEmpty {
            shared.withLockedValue {
                $0.arrivals += new
                if $0.arrivals.count > 2 * Self.keptTimes { $0.arrivals.removeFirst($0.arrivals.count - Self.keptTimes) }
            }
        }
    }

    /// The other players' inputs that became held now (`held`: per slot, the newest tick held;
    /// `before`: the same at the last check), stamped with the time. The first check only sets
    /// the baseline: what was held before it is not an arrival.
    static func arrivals(held: [Int], before: [Int]?, local: Int?) -> [(slot: Int, tick: Int, at: UInt64)] {
        guard let before, before.count == held.count else { return [] }
        let at = NIODeadline.now().uptimeNanoseconds
        var new: [(slot: Int, tick: Int, at: UInt64)] = []
        for s in held.indices where s != local && held[s] > before[s] {
            for t in (before[s] + 1)...held[s] { new.append((s, t, at)) }
        }
        return new
    }

    /// Every frame interval: link round trips in, timers, and the shared snapshot.
    func frameTick() {
        endpoint.value.links(mesh.neighborsOnLoop().map { ($0.peer, $0.rtt) })
        perform(endpoint.value.tick(now: clock))
        drain()
        publish()
    }

    func perform(_ actions: [SessionAction]) {
        for action in actions {
            switch action {
            case let .broadcast(payload):
                do { try mesh.broadcastOnLoop(payload) } catch {
                    logger.warning("cannot send a lockstep message: \(error)")
                }
            case let .protect(peers):
                mesh.mesh.protect(peers)
            case let .unprotect(peers):
                mesh.mesh.unprotect(peers)
            case let .send(payload, to: peer):
                do { try mesh.sendOnLoop(payload, to: peer) } catch {
                    logger.warning("cannot send a state-transfer message: \(error)")
                }
            case let .direct(payload, to: peers):
                do { try mesh.sendDirectOnLoop(payload, to: peers) } catch {
                    logger.warning("cannot send a lockstep frame: \(error)")
                }
            }
        }
        armWakeup()
    }

    /// Reads the endpoint where it lives (on the event loop). The box's getter would copy the
    /// whole endpoint, retaining and releasing every array of its session, on every datagram.
    func inPlace<T>(_ body: (inout SessionEndpoint<Input>) -> T) -> T { body(&endpoint.value) }

    /// Schedules the endpoint's next repair check, and cancels the armed one when the endpoint
    /// no longer needs it (the gap it was for closed).
    func armWakeup() {
        let due = inPlace({ $0.nextWakeup })
        guard due != wakeupAt else { return }
        wakeup?.cancel()
        wakeup = nil
        wakeupAt = due
        guard let due else { return }
        let delay = max(.zero, due - clock)
        wakeup = mesh.eventLoop.scheduleTask(in: .nanoseconds(delay.nanosecondsClamped)) { [weak self] in
            guard let self else { return }
            self.wakeupAt = nil
            self.perform(self.endpoint.value.tick(now: self.clock))
            self.drain()
        }
    }

    func drain() {
        // One access to the box: each checks the thread and looks up the endpoint's type.
        let (resumed, complete, wanted, events, sessionErrors, submitted, acks) = inPlace { e in
            (
                e.takeResumedGame(), e.pollReadyRows(limit: 1024), e.checkpointTicksWanted, e.takeEvents(), e.takeErrors(),
                e.takeSubmitTimes(), e.takeAckLatencies()  // no acknowledgements before the start
            )
        }
        let errors = sessionErrors.map(NetError.init)
        if resumed != nil || wanted != publishedWanted {
            publishedWanted = wanted
            shared.withLockedValue {
                // Ticks still queued belong to the game the checkpoint replaces.
                if let resumed { $0.resumed = resumed; $0.ready = []; $0.readyAt = [] }
                $0.checkpointsWanted = wanted
            }
        }
        guard !complete.isEmpty || !events.isEmpty || !errors.isEmpty || !submitted.isEmpty || !acks.isEmpty else { return }
        for e in events { logger.debug("session: \(e)") }
        let at = NIODeadline.now().uptimeNanoseconds
        let nowClock = clock
        let submitTimes = submitted.map { s -> (tick: Int, at: UInt64) in
            (s.tick, at &- UInt64(max(0, (nowClock - s.at).nanosecondsClamped)))
        }
        shared.withLockedValue {
            $0.ready += complete
            $0.readyAt += repeatElement(at, count: complete.count)
            $0.events += events
            $0.errors += errors
            $0.submitted += submitTimes
            if $0.submitted.count > 2 * Self.keptTimes { $0.submitted.removeFirst($0.submitted.count - Self.keptTimes) }
            for a in acks { $0.ackLatencies.record(a) }
        }
        if !complete.isEmpty { runReadyHandler() }
    }

    func runReadyHandler() {
        guard let handler = readyHandler else { return }
        guard !handlingReady else { return readyAgain = true }
        handlingReady = true
        repeat {
            readyAgain = false
            handler()
        } while readyAgain
        handlingReady = false
    }

    func publish() {
        let (joining, transfer) = inPlace { ($0.joining, $0.transferStats) }
        shared.withLockedValue {
            $0.joining = joining
            $0.transfer = transfer
        }
        // A mutating call: `session.map` or a property read would copy the whole session.
        guard let (stats, roster) = inPlace({ $0.sessionSnapshot() }) else { return }
        let finish = inPlace { $0.finishProgress() }
        shared.withLockedValue {
            $0.stats = stats
            $0.roster = roster
            $0.finish = finish
        }
    }
}

/// What a `LockstepPeer`'s event loop hands the game thread, under one lock. Not generic: the
/// complete ticks wait here as input bytes, and the poll calls decode them in the game's module.
struct LockstepPeerShared {
    /// Complete ticks not taken yet, as the session holds them (every slot's input bytes), and
    /// when each became complete (uptime nanoseconds).
    var ready: ReadyRows = []
    var readyAt: [UInt64] = []
    var submitted: [(tick: Int, at: UInt64)] = []
    var events: [LockstepEvent] = []
    var errors: [NetError] = []
    var ackLatencies = LatencyHistogram()
    /// Snapshots of the session, refreshed every frame interval once it started.
    var roster: RosterStatus?
    var stats: SessionStats?
    /// Whether the others hold our newest input (``LockstepPeer/finish(timeout:)``).
    var finish: FinishProgress = .over
    /// Ticks after which a newcomer needs a checkpoint of the game (see
    /// `LockstepPeer.apply(_:game:)`).
    var checkpointsWanted: Set<Int> = []
    /// The game state this peer resumed from, until the game loop takes it.
    var resumed: ResumedGame?
    /// Whether the session found running without us: it resumes from a checkpoint.
    var joining = false
    var transfer: StateTransferStats?
    /// Other players' inputs as they became held here, while recorded.
    var arrivals: [(slot: Int, tick: Int, at: UInt64)] = []
}

extension NetError {
    @usableFromInline init(_ e: SessionError) {
        switch e {
        case let .playersMissing(slots, seconds): self = .playersMissing(slots: slots, seconds: seconds)
        case let .slotContested(slot, keys): self = .slotContested(slot: slot, keys: keys.map(\.description))
        case let .slotTaken(slot, key): self = .slotTaken(slot: slot, by: key.description)
        case let .checkpointTooLarge(bytes, limit): self = .checkpointTooLarge(bytes: bytes, limit: limit)
        case let .notAdmitted(seconds): self = .notAdmitted(seconds: seconds)
        }
    }
}
