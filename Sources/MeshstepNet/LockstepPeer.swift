import Foundation
import Logging
import MeshstepLockstep
import MeshstepMesh
import MeshstepWire
import NIOConcurrencyHelpers
import NIOCore

/// A lockstep session on real UDP: the handle a game loop talks to.
///
/// The session and the mesh live on the peer's event loop: frames are received, acknowledged,
/// resent and relayed there every frame interval whatever the game loop is doing. The game calls
/// ``submit(_:)`` once per applied tick, ``pollConfirmed()`` every frame, and reads
/// ``pollEvents()`` and ``stats()``; all of them are safe from any thread.
///
/// Slots are bound to mesh identities on first use: the first key whose signed frames claim a
/// slot owns it for the session; a second key claiming it is reported as a forged input and
/// ignored. Until every player has been heard once (the lobby), no disconnect timer runs.
public final class LockstepPeer<Input: LockstepInput>: @unchecked Sendable {
    public let mesh: UDPMeshPeer
    public let configuration: LockstepConfiguration
    public let role: LockstepRole
    let logger: Logger
    let startTimeout: Duration

    // Confined to the mesh's event loop.
    var session: LockstepSession<Input>
    var slotOf: [PeerKey: Int] = [:]
    var keyOf: [PeerKey?]
    var lobbyDone = false
    var startedAt: MeshTime?
    var lastSentAt: MeshTime = .zero
    /// When each of our inputs was first sent (recent ones only), for fast repair.
    var sentAt: [(tick: Int, at: MeshTime)] = []
    var lastFastResend: [MeshTime]
    var gapSignaled: [(held: Int, at: MeshTime)]
    /// Since when (and at which held tick) each slot lags the newest inputs we hold.
    var gapSince: [(held: Int, at: MeshTime)?]
    var extraWindowStart: MeshTime = .zero
    var extraSent = 0
    let frameInterval: Duration
    /// Link round trip per slot (from the mesh's keepalives), refreshed every frame interval.
    var linkRTT: [Duration?]
    /// Choose the input delay from measured latency (see ``init(mesh:configuration:role:startTimeout:autoInputDelay:logger:)``).
    let autoInputDelay: Bool
    var autoDelayDone = false
    var lobbyDoneAt: MeshTime?
    var pump: RepeatedTask?

    // Shared with the game thread.
    struct Shared {
        var ready: [(tick: Int, inputs: [Input?], at: UInt64)] = []
        var submitted: [(tick: Int, at: UInt64)] = []
        var events: [LockstepEvent] = []
        var errors: [NetError] = []
        var stats: [PlayerNetworkStats] = []
        var inputDelay = 0
        var halted: HaltReason?
        var lobbyDone = false
        var ackLatencies: [Duration] = []
        var activeSlots: [Int] = []
        var framesAhead = 0
    }
    let shared = NIOLockedValueBox(Shared())

    /// Starts the lockstep session on an already running mesh peer.
    /// - Parameter startTimeout: how long to wait for every player before reporting
    ///   ``NetError/playersMissing(slots:seconds:)`` as an error event.
    /// - Parameter autoInputDelay: when true, the lowest slot measures the link round trips for
    ///   a second after every player is present and asks everyone (through the input stream) for
    ///   the input delay that hides the slowest one-way latency plus a margin:
    ///   `ceil((maxRTT / 2 + 4 ms) / frame) + 2` (two frames to repair a loss), at most 32.
    public init(mesh: UDPMeshPeer, configuration: LockstepConfiguration, role: LockstepRole,
                startTimeout: Duration = .seconds(30), autoInputDelay: Bool = false, logger: Logger) throws(LockstepConfigurationError) {
        self.autoInputDelay = autoInputDelay
        try configuration.validate()
        if case let .player(slot) = role, !(0..<configuration.players).contains(slot) {
            throw .invalid("slot must be 0...\(configuration.players - 1) (got \(slot))")
        }
        self.mesh = mesh
        self.configuration = configuration
        self.role = role
        self.logger = logger
        self.startTimeout = startTimeout
        session = LockstepSession(configuration: configuration, role: role)
        keyOf = Array(repeating: nil, count: configuration.players)
        linkRTT = Array(repeating: nil, count: configuration.players)
        lastFastResend = Array(repeating: .zero, count: configuration.players)
        gapSignaled = Array(repeating: (-2, .zero), count: configuration.players)
        gapSince = Array(repeating: nil, count: configuration.players)
        frameInterval = .nanoseconds(1_000_000_000 / Int64(configuration.tickRate))
        if case let .player(slot) = role { keyOf[slot] = mesh.key; slotOf[mesh.key] = slot }
        let interval = TimeAmount.nanoseconds(1_000_000_000 / Int64(configuration.tickRate))
        try? mesh.eventLoop.submit {
            mesh.onDeliver = { [weak self] message, now in self?.delivered(message, now: now) }
            self.startedAt = mesh.now
            self.publish()
            self.pump = mesh.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [weak self] _ in self?.frameTick() }
        }.wait()
    }

    // MARK: Game thread API

    /// Submits the local input for the next local tick and floods the frame. Call once per
    /// applied tick (the first `inputDelay` ticks are neutral and need none).
    public func submit(_ input: Input) {
        mesh.eventLoop.execute {
            let before = self.session.nextLocalTick
            let frame = self.session.submit(input, now: self.clock)
            let at = NIODeadline.now().uptimeNanoseconds
            let after = self.session.nextLocalTick
            if after > before {
                self.shared.withLockedValue { s in for t in before..<after { s.submitted.append((t, at)) } }
                let now = self.mesh.now
                for t in before..<after { self.sentAt.append((t, now)) }
                if self.sentAt.count > 64 { self.sentAt.removeFirst(self.sentAt.count - 64) }
            }
            self.send(frame)
            self.drain()
        }
    }

    /// Ticks now complete, in order, each with every slot's input (nil for a dropped slot).
    public func pollConfirmed() -> [(tick: Int, inputs: [Input?])] {
        shared.withLockedValue { s in defer { s.ready = [] }; return s.ready.map { ($0.tick, $0.inputs) } }
    }

    /// ``pollConfirmed()`` with the moment (monotonic uptime nanoseconds) each tick became
    /// complete on the event loop: for latency measurements across peers of one process.
    public func pollConfirmedTimed() -> [(tick: Int, inputs: [Input?], at: UInt64)] {
        shared.withLockedValue { s in defer { s.ready = [] }; return s.ready }
    }

    /// `(tick, uptime nanoseconds)` of each local input as the event loop recorded it.
    public func takeSubmitTimes() -> [(tick: Int, at: UInt64)] {
        shared.withLockedValue { s in defer { s.submitted = [] }; return s.submitted }
    }

    /// The local checksum after applying `tick` (every tick; only the checked ones are sent).
    public func recordChecksum(tick: Int, checksum: UInt64) {
        mesh.eventLoop.execute {
            let events = self.session.recordChecksum(tick: tick, checksum: checksum)
            self.shared.withLockedValue { $0.events += events }
        }
    }

    /// Asks every peer to switch to `delay` ticks of input delay (agreed through the inputs).
    public func requestInputDelay(_ delay: Int) {
        mesh.eventLoop.execute { try? self.session.requestInputDelay(delay) }
    }

    /// Session events since the last call (drops, desyncs, halts...).
    public func pollEvents() -> [LockstepEvent] {
        shared.withLockedValue { s in defer { s.events = [] }; return s.events }
    }

    /// Network errors since the last call (players missing at the start...).
    public func pollErrors() -> [NetError] {
        shared.withLockedValue { s in defer { s.errors = [] }; return s.errors }
    }

    /// Per-player network figures (refreshed every frame interval).
    public func stats() -> [PlayerNetworkStats] { shared.withLockedValue { $0.stats } }

    /// Submit-to-acknowledged-by-all times since the last call.
    public func takeAckLatencies() -> [Duration] {
        shared.withLockedValue { s in defer { s.ackLatencies = [] }; return s.ackLatencies }
    }

    public var inputDelay: Int { shared.withLockedValue { $0.inputDelay } }
    public var halted: HaltReason? { shared.withLockedValue { $0.halted } }
    /// True once every player has been heard (the session's timers run from then on).
    public var allPlayersPresent: Bool { shared.withLockedValue { $0.lobbyDone } }
    public var activeSlots: [Int] { shared.withLockedValue { $0.activeSlots } }
    /// How many ticks this peer is ahead of the slowest active player (time sync), once every
    /// player has been heard.
    public var framesAheadOfSlowest: Int? { shared.withLockedValue { $0.lobbyDone ? $0.framesAhead : nil } }

    /// A snapshot of the session (read on the event loop).
    public func withSession<T: Sendable>(_ body: @escaping @Sendable (LockstepSession<Input>) -> T) -> T? {
        try? mesh.eventLoop.submit { body(self.session) }.wait()
    }

    /// Keeps resending our frames until every active player holds our inputs through `tick`
    /// (so nobody has to drop us for leaving early), at most `timeout`.
    public func linger(untilAckedThrough tick: Int, timeout: Duration) {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let done = (try? mesh.eventLoop.submit { () -> Bool in
                let s = self.session
                return s.activeSlots.allSatisfy { $0 == s.localSlot || s.acknowledged(by: $0) >= tick }
            }.wait()) ?? true
            if done { return }
            Thread.sleep(forTimeInterval: 0.005)
        }
    }

    /// Stops the frame pump and leaves the mesh cleanly (Disconnect(leaving) to neighbors).
    public func leave() {
        try? mesh.eventLoop.submit { self.pump?.cancel() }.wait()
        mesh.leave()
    }

    // MARK: Event loop

    var clock: Duration { mesh.now - .zero }

    func delivered(_ message: DeliveredMessage, now: MeshTime) {
        let payload = message.payload
        guard payload.count >= 2, payload[0] == 2 else { return } // not a lockstep frame
        var slot = slotOf[message.origin]
        if slot == nil {
            let claimed = Int(payload[1])
            guard claimed < configuration.players else { return }
            if keyOf[claimed] == nil {
                keyOf[claimed] = message.origin
                slotOf[message.origin] = claimed
                slot = claimed
                mesh.mesh.protect([message.origin])
                logger.debug("slot \(claimed) is \(message.origin)")
            } else {
                // The slot belongs to someone else: report, never apply.
                shared.withLockedValue { $0.events.append(.forgedInput(claimedSlot: claimed, fromSlot: -1)) }
                return
            }
        }
        do {
            let events = try session.receive(payload, fromSlot: slot!, now: now - .zero)
            if !events.isEmpty { shared.withLockedValue { $0.events += events } }
        } catch {
            logger.debug("bad lockstep frame from slot \(slot!): \(error)")
        }
        fastRepair(after: slot!, now: now)
        drain()
    }

    /// Every frame interval: timers, repairs, and the shared snapshot.
    func frameTick() {
        let now = mesh.now
        let rtts = mesh.mesh.neighborInfo
        for (slot, key) in keyOf.enumerated() {
            if let key, let info = rtts.first(where: { $0.peer == key }) { linkRTT[slot] = info.rtt }
        }
        if !lobbyDone {
            if keyOf.allSatisfy({ $0 != nil }) {
                lobbyDone = true
            } else if let since = startedAt, now - since > startTimeout {
                let missing = keyOf.indices.filter { keyOf[$0] == nil }
                shared.withLockedValue { $0.errors.append(.playersMissing(slots: missing, seconds: Int(startTimeout.components.seconds))) }
                startedAt = now // report again after another timeout
            }
        }
        if lobbyDone, lobbyDoneAt == nil { lobbyDoneAt = now }
        if autoInputDelay, !autoDelayDone, let since = lobbyDoneAt, now - since >= .seconds(1) {
            autoDelayDone = true
            // Only the lowest active slot asks, so there is one request; everyone switches at
            // the same tick when it is applied.
            if session.activeSlots.first == session.localSlot {
                let rtts = keyOf.indices.compactMap { $0 == session.localSlot ? nil : linkRTT[$0] }
                let worst = rtts.max() ?? .milliseconds(20)
                let frameNs = 1_000_000_000 / Int64(configuration.tickRate)
                let oneWay = worst / 2 + .milliseconds(4)
                let ns = oneWay.components.seconds * 1_000_000_000 + oneWay.components.attoseconds / 1_000_000_000
                let delay = min(32, Int((ns + frameNs - 1) / frameNs) + 2)
                if delay != session.inputDelay {
                    try? session.requestInputDelay(delay)
                    logger.info("input delay \(delay) ticks from a measured round trip of \(worst)")
                }
            }
        }
        if lobbyDone {
            let events = session.update(now: now - .zero)
            if !events.isEmpty { shared.withLockedValue { $0.events += events } }
        }
        // Keep our newest inputs, acks, proposals and decisions travelling while we wait.
        if !session.isSpectator, now - lastSentAt >= .nanoseconds(1_000_000_000 / Int64(configuration.tickRate)) {
            send(session.resendFrame())
        }
        drain()
        publish()
    }

    /// How long an input may stay unacknowledged by `slot` before it is resent: one and a half
    /// link round trips plus a millisecond (the frame that acknowledges it may be in flight).
    func repairDelay(_ slot: Int) -> Duration {
        let rtt = linkRTT[slot] ?? .milliseconds(20)
        return max(.milliseconds(1), rtt + rtt / 2 + .milliseconds(1))
    }

    /// How long a slot may lag the newest inputs before we call it a loss: half a link round
    /// trip (frames of one tick can arrive that far apart) plus a millisecond.
    func gapWait(_ slot: Int) -> Duration {
        (linkRTT[slot] ?? .milliseconds(2)) / 2 + .milliseconds(1)
    }

    /// Loss repair at the speed of the network instead of the frame rate, in two steps:
    /// 1. a peer that holds later inputs of other players than of some slot has probably lost
    ///    a frame of that slot: it sends its own frame at once, whose acknowledgements show the gap;
    /// 2. a peer whose input is still unacknowledged by `slot` after `repairDelay` sends its frame
    ///    (which repeats every unacknowledged input) again at once.
    /// At most 4 extra frames per frame interval.
    func fastRepair(after slot: Int?, now: MeshTime) {
        guard !session.isSpectator, session.halted == nil else { return }
        // A budget of extra frames per frame interval, so repairs never become a storm.
        if now - extraWindowStart >= frameInterval { extraWindowStart = now; extraSent = 0 }
        guard extraSent < 4 else { return }
        // Step 1: a gap in some slot's inputs compared to the newest we hold from anyone that
        // lasts longer than a frame in flight would (half a round trip + 1 ms): signalled once
        // per gap (and again after a repair delay if it persists). A timer re-checks, since no
        // other frame may arrive before the next frame interval.
        let active = session.activeSlots.filter { $0 != session.localSlot } // our own inputs lead by design
        let held = active.map { session.heldInputs(of: $0) }
        if let newest = held.max() {
            for (i, s) in active.enumerated() {
                guard held[i] < newest else { gapSince[s] = nil; continue }
                if gapSince[s]?.held != held[i] {
                    gapSince[s] = (held[i], now)
                    let wait = gapWait(s)
                    _ = mesh.eventLoop.scheduleTask(in: .nanoseconds(Int64(wait.components.attoseconds / 1_000_000_000) + wait.components.seconds * 1_000_000_000)) { [weak self] in
                        guard let self else { return }
                        self.fastRepair(after: nil, now: self.mesh.now)
                    }
                    continue
                }
                guard let since = gapSince[s], now - since.at >= gapWait(s) else { continue }
                guard gapSignaled[s].held != held[i] || now - gapSignaled[s].at >= repairDelay(s) else { continue }
                gapSignaled[s] = (held[i], now)
                extraSent += 1
                send(session.resendFrame())
                return
            }
        }
        // Step 2: our own input overdue at `slot`, judged only on a fresh frame from it (its
        // acknowledgements are as old as its last frame), resent at most once per repair delay.
        guard let slot else { return }
        let delay = repairDelay(slot)
        guard now - lastFastResend[slot] >= delay else { return }
        guard let overdue = sentAt.last(where: { now - $0.at >= delay }), session.acknowledged(by: slot) < overdue.tick else { return }
        lastFastResend[slot] = now
        extraSent += 1
        send(session.resendFrame())
    }

    func send(_ frame: [UInt8]) {
        guard !frame.isEmpty else { return }
        lastSentAt = mesh.now
        do { try mesh.broadcastOnLoop(frame) } catch {
            logger.warning("cannot send a lockstep frame: \(error)")
        }
    }

    func drain() {
        let complete = session.pollReady()
        let events = session.takeEvents()
        let acks = session.takeAckLatencies()
        guard !complete.isEmpty || !events.isEmpty || !acks.isEmpty else { return }
        let at = NIODeadline.now().uptimeNanoseconds
        let ready = complete.map { (tick: $0.tick, inputs: $0.inputs, at: at) }
        shared.withLockedValue {
            $0.ready += ready
            $0.events += events
            $0.ackLatencies += acks
        }
    }

    func publish() {
        let stats = session.networkStats, delay = session.inputDelay
        let halted = session.halted, lobby = lobbyDone, active = session.activeSlots, ahead = session.framesAhead
        shared.withLockedValue {
            $0.stats = stats
            $0.inputDelay = delay
            $0.halted = halted
            $0.lobbyDone = lobby
            $0.activeSlots = active
            $0.framesAhead = ahead
        }
    }
}
