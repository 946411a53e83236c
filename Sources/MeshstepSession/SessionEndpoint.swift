import MeshstepLockstep
import MeshstepWire

/// What a session endpoint asks its driver to do.
public enum SessionAction: Sendable, Equatable {
    /// Flood this payload to the session's mesh (the mesh signs it as ours).
    case broadcast([UInt8])
    /// Keep links to these peers (the roster's players, from the lobby on): never shed or prune
    /// them; they form the group whose members relay each other (`MeshNode.protect`).
    case protect([PeerKey])
    /// Stop protecting these peers: the session dropped them for good (`MeshNode.unprotect`).
    case unprotect([PeerKey])
    /// Send this payload to one peer only (a mesh unicast, signed as ours): state transfer.
    case send([UInt8], to: PeerKey)
    /// Send this payload over the links to these neighbors only, unsigned (`MeshNode.sendDirect`):
    /// our frames, when every other player is one of our links.
    case direct([UInt8], to: [PeerKey])
}

/// Problems the user has to act on, raised by the lobby.
public enum SessionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Not every player showed up within the start timeout.
    case playersMissing(slots: [Int], seconds: Int)
    /// Two keys claim one slot before the start: nobody starts until one of them leaves.
    case slotContested(slot: Int, keys: [PeerKey])
    /// The roster was bound without us: another key holds our slot.
    case slotTaken(slot: Int, by: PeerKey)
    /// The game's checkpoint is larger than state transfer carries: nobody can rejoin or join late.
    case checkpointTooLarge(bytes: Int, limit: Int)
    /// This peer found the session running (or waits to fill an open slot) and was not let in
    /// within the start timeout: no player offered a checkpoint, or none admitted its key.
    case notAdmitted(seconds: Int)

    public var description: String {
        switch self {
        case let .playersMissing(slots, seconds):
            "players \(slots.map(String.init).joined(separator: ", ")) did not show up within \(seconds) s; start every player with the same --mesh, --players and distinct --slot"
        case let .slotContested(slot, keys):
            "slot \(slot) is claimed by \(keys.count) different peers (\(keys.map(\.description).joined(separator: ", "))): give every player its own --slot; the match starts when one of them leaves"
        case let .slotTaken(slot, key):
            "slot \(slot) already belongs to peer \(key) in this session: pick a free --slot, or join as a spectator"
        case let .notAdmitted(seconds):
            "the running match did not let us in within \(seconds) s: check that the match runs with the same --mesh, --players and --open-slots, that the slot is open and vacant, and that the players are reachable"
        case let .checkpointTooLarge(bytes, limit):
            "the game's checkpoint takes \(bytes) bytes, more than state transfer carries (\(limit)): make the game's snapshot() smaller, or players who drop cannot come back"
        }
    }
}

/// The sans-IO lockstep session endpoint: everything a session decides, driven by events with
/// `now` passed in. The simulator and the UDP shell drive this same value; they only move bytes
/// and time.
///
/// **Lobby.** Before tick 0 the roster is bound to keys. With a known roster (``Roster/known(_:)``,
/// used when one program starts every player: the bots and the demo), each player signs the
/// descriptor's acceptance and floods it in a *hello*; with ``Roster/claimed(name:gameSeed:)``
/// (independent processes) each player first floods a *claim* of its slot, and once every slot
/// has exactly one claimant every player builds the same `SessionDescriptor` from the claims and
/// signs it. The session starts when every player's signed hello for one descriptor is held;
/// a spectator starts from the same hellos. Two keys claiming one slot is a
/// ``SessionError/slotContested(slot:keys:)`` for everyone, never a silent race. After the start
/// frames from keys outside the roster are ignored and counted (``foreignFrames``).
///
/// **Repair at network speed.** A gap in one slot's inputs compared with the newest held from
/// anyone that outlasts half a link round trip plus a slack (a millisecond at 60 Hz) makes this
/// peer send that player a repair frame at once, whose acknowledgements show the gap, and again
/// after a round trip plus the slack while the gap stays open (the signal or its answer can be
/// lost). Our own input still unacknowledged by a slot whose frame arrived a round trip plus the
/// slack after we sent it (that frame left after ours should have arrived; while the slot's
/// last 150 frames came in order, also twice their arrival jitter later, at most half a frame:
/// without loss a late frame is likelier than a lost input) is resent at once,
/// to that player and to every other whose acknowledgements do not show it yet, when that
/// player's newest frame shows it lacks it too or its link's round trip is a frame interval or
/// more (its frames that could show it are that far away). To players that are all our links a
/// repair frame goes direct, to them only, carries only the inputs they lack and repeats our
/// frame number (``LockstepFrame/repair``: receivers leave it out of the frame counts that
/// measure loss); to a player reached through a relay it is a whole frame, flooded. One repair
/// datagram per other player per frame interval on average, three per other player at once
/// (a flooded frame counts one per other player); none aimed only at players silent for
/// several frames, and none while this peer's own timers run two frame intervals late. For a frame
/// interval after a repair check ran later than the slack, this peer signals no gap and answers
/// only the players that ask: a busy process sees gaps that are only frames it has not read yet,
/// and must not answer with more frames for everyone to process (up to 4 flooded and signed ones
/// per interval took 8 debug-build players on 2 cores from 60 to 5 ticks/s; this budget without
/// the rule, in one run of two, to 33).
///
/// **Input delay** is fixed, or (`init(configuration:role:roster:signer:autoInputDelay:startTimeout:)`
/// with `autoInputDelay`) chosen by the lowest slot a second after the start, then raised by any
/// player that needs more, from the round trips it measures, and lowered by the lowest slot when
/// every player reported it needs less (docs/LOCKSTEP.md, "Automatic input delay"); every change
/// is agreed through the input stream.
public struct SessionEndpoint<Input: LockstepInput>: Sendable {
    /// How the roster's keys are learned.
    public enum Roster: Sendable {
        /// Every slot's key is known in advance.
        case known(SessionDescriptor)
        /// Players claim slots in the lobby; `name` and `gameSeed` complete the descriptor.
        case claimed(name: String, gameSeed: UInt64)
    }

    /// The session parameters, validated when the endpoint was made.
    public let configuration: LockstepConfiguration
    /// Whether this peer plays a slot or watches.
    public let role: LockstepRole
    /// This peer's mesh key (for a player, the key its slot is bound to).
    public let localKey: PeerKey
    let roster: Roster
    let signer: (@Sendable ([UInt8]) -> [UInt8])?
    let autoInputDelay: Bool
    let startTimeout: Duration
    let frameInterval: Duration
    /// A frame and a half, and two frames: precomputed, as `Duration` arithmetic with an
    /// integer is generic and runs in 128 bits (``tick(now:)`` runs every frame).
    let resendAfter: Duration, starvedAfter: Duration

    /// The session, once the roster is bound.
    public internal(set) var session: LockstepSession<Input>?
    /// The descriptor every player signed (nil before the start).
    public var descriptor: SessionDescriptor? { session?.keys.descriptor }
    /// Frames from keys outside the roster, ignored.
    public private(set) var foreignFrames = 0

    // Lobby.
    var claims: [Int: [PeerKey]] = [:]
    var candidate: SessionDescriptor?
    /// Hellos that came before our candidate roster was whole (claims mode), the latest per
    /// sender, at most two per slot: read again once it is, so that a player that arrived last
    /// starts with the others instead of a hello repeat (250 ms) later.
    var earlyHellos: [PeerKey: [UInt8]] = [:]
    /// When the lobby first held a whole candidate roster: for a second from then our claim and
    /// hello go out every 50 ms instead of every 250 ms (``lobbyTick(now:)``).
    var candidateSince: Duration?
    /// Valid acceptances per descriptor hash, by slot.
    var accepted: [[UInt8]: [Int: [UInt8]]] = [:]
    var descriptors: [[UInt8]: SessionDescriptor] = [:]
    var lastLobbySend: Duration?
    var startedWaitingAt: Duration?
    /// Whether the candidate roster's keys were protected before the start (``lobbyTick(now:)``).
    var protectedInLobby = false
    var reportedContest: Set<Int> = []
    var slotOf: [PeerKey: Int] = [:]
    /// The roster epoch whose drops were last unprotected (``releaseDropped()``).
    var releasedEpoch = 0
    var startedAt: Duration?

    // Rejoin and late join (docs/LOCKSTEP.md, "Rejoin" and "State transfer").
    /// Whether this peer found the session already running: it resumes from a checkpoint that
    /// the players vouch for instead of starting at tick 0.
    public internal(set) var joining = false
    /// After ``rejoin(now:)``: the halted session's roster epoch when it halted. A checkpoint
    /// captured at or before it belongs to an earlier admission, and is set aside.
    var resumeAfterEpoch: Int?
    var fetch: CheckpointFetch
    var server = CheckpointServer()
    /// Checkpoints the session captured, waiting for the game's state after the tick before.
    var pendingCheckpoints: [SessionCheckpoint] = []
    var resumedGame: ResumedGame?
    /// When we last offered a checkpoint to a newcomer, and last checked a returning key's hello.
    var lastOfferTo: [PeerKey: Duration] = [:]
    var lastReturnCheck: [PeerKey: Duration] = [:]
    var lastJoinRequest: Duration?
    /// Newcomers that asked to join, when, and the first checkpoint tick they can use.
    var joinRequesters: [PeerKey: (at: Duration, minTick: Int)] = [:]
    /// The mesh's links now (``links(_:)``).
    var neighbors: Set<PeerKey> = [] {
        didSet { routeCache = nil }
    }
    /// ``frameRoute()``'s answer for the roster epoch it was computed in: it depends only on the
    /// links and the roster, and it is asked several times a frame. Cleared when either changes.
    var routeCache: (epoch: Int, route: (players: [PeerKey], others: Bool)?)?
    /// Whether ``everyLinkPlays()`` held under ``routeCache``: once every player linked to us has
    /// sent a frame, that stays so until the links or the roster change (asked every frame).
    /// Cleared whenever ``frameRoute()`` computes a new route, which any such change causes.
    var everyLinkPlayed = false
    /// Newcomers among our links that asked to join lately, and when (at most 64): offered our
    /// checkpoint directly.
    var nearRequesters: [PeerKey: Duration] = [:]
    /// Frames that arrived while fetching the checkpoint: applied once resumed.
    var bufferedFrames: [(payload: [UInt8], origin: PeerKey)] = []
    /// Our next tick and since when it has not moved (``stalledFor(now:)``).
    var progress: (tick: Int, since: Duration)?
    /// Since when a spectator has seen the players' frames name ticks past its own, without a
    /// break (``startOverIfLeftBehind(now:stalled:)``).
    var playersAheadSince: Duration?
    /// When a spectator last asked each slot for its inputs again.
    var historyAsked: [Int: Duration] = [:]
    /// When a player last answered each requester (catch-up frames and relays apart), and its
    /// answers in the current second.
    var historyServed: [HistoryAsker: Duration] = [:]
    var historyBudget: (second: Int64, used: Int) = (0, 0)
    /// History requests this peer sent, and catch-up frames and relayed inputs this player sent.
    public internal(set) var historyRequests = 0, historyAnswers = 0
    /// Relays of a dropped slot's inputs this peer took (``askForDroppedInputs(now:stalled:)``).
    public internal(set) var relayedInputsTaken = 0
    /// When we last asked for a dropped slot's inputs, how many times, and whom lately.
    var relayAskedAt: Duration?
    var relayAsks = 0
    var relayAsked: [Int: Duration] = [:]

    // Running session.
    var lastSent: Duration = .zero
    /// The newest of our inputs in the last frame flooded for spectators (``feedDue(at:)``) and
    /// in the one before it, and when we last submitted an input.
    var fedThrough: Int?
    var fedBefore: Int?
    var lastSubmitAt: Duration?
    var sentAt: [(tick: Int, at: Duration)] = []
    var lastFastResend: [Duration]
    var gapSignaled: [(held: Int, at: Duration)]
    var gapSince: [(held: Int, at: Duration)?]
    /// The repair frames' budget (``takeRepairToken(datagrams:now:)``): credit in time, and when
    /// it was last topped up.
    var repairCredit: Duration = .zero
    var repairCreditAt: Duration?
    /// Until when this process counts as behind: a repair check ran later than the repair slack
    /// (``tick(now:)``).
    var behindUntil: Duration = .zero
    /// When ``tick(now:)`` last ran: a late tick means this process is starved.
    var lastTickAt: Duration?
    /// Whether the last ``tick(now:)`` came more than two frame intervals after the one before.
    var starved = false
    /// What ``repair(after:now:)`` reads from the session on every frame, kept between frames so
    /// that its arrays keep their storage.
    var repairScratch = RepairView()
    var linkRTT: [Duration?]
    /// ``gapWait(_:)`` and ``repairDelay(_:)`` of each slot's link, kept with `linkRTT`: repair
    /// reads them for most slots on every frame, and each costs 128-bit arithmetic.
    var repairTimes: [(gapWait: Duration, repairDelay: Duration)]
    /// The automatic input delay (``chooseInputDelay(now:)``): when it looks next (nil before
    /// the first look).
    var nextDelayCheck: Duration?
    /// The delay the last look needed, when it was more than the current one.
    var raiseWanted: Int?
    /// Looks in a row (by the lowest active slot) in which every player needed less than the
    /// current delay.
    var lowerLooks = 0
    /// The session's longest round trip to a player, sampled each frame since the last look
    /// (nanoseconds).
    var roundTripSamples: [Int64] = []
    /// Each slot's frame counts at the last look (half a second after the start before the
    /// first), from where the next look measures frame loss.
    var lossMark: [(frames: Int, newest: Int)]?
    var events: [LockstepEvent] = []
    var errors: [SessionError] = []
    var submitTimes: [(tick: Int, at: Duration)] = []
    /// Repair checks due (one per newly seen gap).
    var wakeups: [Duration] = []
    /// When to check whether we still wait on the other players with nothing sent since
    /// (``stallCheck(now:)``); armed by each frame sent.
    var stallCheckAt: Duration?
    /// Stall resends since our game last submitted (``stallCheck(now:)`` backs off with them).
    var stallResends = 0
    /// The longest measured link round trip plus ``repairSlack`` (``repairDelay(_:slack:)``
    /// before any is measured): by then an answer to our newest frame is overdue.
    var stallWait: Duration
    /// The slack in the repair timers for a thread scheduled late: a sixteenth of a frame
    /// interval, from 50 us to 1 ms (at 60 Hz, 1 ms). A game ticking faster expects faster
    /// repairs, and sends more frames in which a spurious one is a small part.
    let repairSlack: Int64

    /// An endpoint that joins the session as `role`: it binds the roster (`roster`), then runs
    /// the session once every player has signed it.
    /// - Parameters:
    ///   - configuration: the session's parameters; every peer must use the same.
    ///   - role: the slot played, or a spectator.
    ///   - localKey: this peer's mesh key (for a player, the key its slot is bound to).
    ///   - roster: `.known(descriptor)` when every slot's key is given, or `.claimed(name:gameSeed:)`
    ///     for slots claimed in a lobby on the mesh.
    ///   - signer: signs with `localKey`'s private key (Ed25519); nil for a spectator.
    ///   - autoInputDelay: a second after the start the lowest slot asks everyone for the
    ///     larger of `ceil((its worst link RTT + frame / 2 + 4 ms) / frame) + 2` plus one per
    ///     started 10% of the worst frame loss, and the measured need: `ceil((the longest
    ///     smoothed time from its submit of an input to a player acknowledging it + 4 ms) /
    ///     frame) + 1`. From then on any player asks for more when its measured need stays
    ///     above the delay for two looks 2 s apart (at most 32), and the lowest slot lowers it,
    ///     by at most 2 ticks every 2 s, while every player's need (the measured one, at least
    ///     `ceil((frame / 2 + 4 ms) / frame) + 2`, plus the loss ticks) stays below it.
    ///   - startTimeout: how long to wait for every player before raising
    ///     ``SessionError/playersMissing(slots:seconds:)`` (again after every further timeout).
    public init(
        configuration: LockstepConfiguration, role: LockstepRole, localKey: PeerKey, roster: Roster,
        signer: (@Sendable ([UInt8]) -> [UInt8])?, autoInputDelay: Bool = false,
        startTimeout: Duration = .seconds(30)
    ) throws(LockstepConfigurationError) {
        try configuration.validate()
        if case let .player(slot) = role {
            guard (0..<configuration.players).contains(slot) else { throw .slotOutOfRange(slot: slot, players: configuration.players) }
            guard signer != nil else { throw .missingSigner }
        }
        if case let .known(d) = roster {
            try d.validate(against: configuration)
            if case let .player(slot) = role, d.keys[slot] != localKey.bytes, !d.isOpen(slot) {
                throw .slotOfAnotherKey(slot: slot)
            }
        }
        if case let .claimed(name, _) = roster, name.utf8.count > 64 { throw .sessionNameTooLong(bytes: name.utf8.count) }
        self.configuration = configuration
        self.role = role
        if case let .player(slot) = role { localSlot = slot } else { localSlot = nil }
        self.localKey = localKey
        self.roster = roster
        self.signer = signer
        self.autoInputDelay = autoInputDelay
        self.startTimeout = startTimeout
        frameInterval = .nanoseconds(1_000_000_000 / Int64(configuration.tickRate))
        resendAfter = frameInterval + frameInterval / 2
        starvedAfter = frameInterval * 2
        let slack = min(1_000_000, max(50_000, 1_000_000_000 / Int64(configuration.tickRate) / 16))
        repairSlack = slack
        stallWait = Self.repairDelay(nil, slack: slack)
        let n = configuration.players
        lastFastResend = Array(repeating: .zero, count: n)
        gapSignaled = Array(repeating: (-2, .zero), count: n)
        gapSince = Array(repeating: nil, count: n)
        linkRTT = Array(repeating: nil, count: n)
        repairTimes = Array(repeating: (Self.gapWait(nil, slack: slack), Self.repairDelay(nil, slack: slack)), count: n)
        if case let .known(d) = roster { candidate = d }
        fetch = CheckpointFetch(vouchers: configuration.toleratedLiars + 1)
        if case let .player(slot) = role {
            // A newcomer for an open slot never starts at tick 0: it asks to be admitted into the
            // running session and resumes from the players' checkpoint.
            if configuration.openSlots.contains(slot) { joining = true } else { claims[slot] = [localKey] }
        }
    }

    /// Whether this peer plays an open slot: it joins the running session as a newcomer.
    public var fillsOpenSlot: Bool { localSlot.map(configuration.openSlots.contains) ?? false }

    // Stored: a computed getter called from the per-frame paths made unspecialized generic code
    // copy the whole endpoint to call it.
    /// The slot this peer plays, nil for a spectator.
    public let localSlot: Int?
    /// Whether the roster is bound and the session runs (every player's signed hello is held).
    public var started: Bool { running }
    /// The same for the per-frame paths. Unspecialized generic code copies the whole session to
    /// look into the optional (`session != nil`, `if let s = session`, any `session!` or
    /// `session?` read from a non-mutating method, and a property read through `session!` even
    /// from a mutating one); a mutating method reaches it in place. So the per-frame paths are
    /// mutating, read properties through `session?` and call methods through `session!`. Whether
    /// the session runs is a stored flag, set with it (even `session?.nextTick` copied the session
    /// to look at the optional's tag first).
    private(set) var running = false

    /// Sets the session, once the roster is bound or a checkpoint resumed: `running` goes with it.
    mutating func install(_ s: LockstepSession<Input>) {
        session = s
        running = true
    }
    /// Whether a player that applied its match's last tick (and submitted the input that answers
    /// it) may stop sending. The others still need that input, which carries its confirmation
    /// of the last tick: this says ``FinishProgress/waiting`` until every other active player
    /// acknowledged it or is gone (silent for a second, or a quarter second without a link to
    /// us). Call it after ``tick(now:)``; the shells' `finish(timeout:)` and the simulated bots
    /// both do, and bound the wait.
    public mutating func finishProgress() -> FinishProgress {
        guard running, session?.halted == nil else { return .over }
        let links = neighbors, slots = slotOf
        return session!.othersHoldNewestInput(linked: { s in links.contains { slots[$0] == s } }) ? .settled : .waiting
    }

    /// The session's stats and roster, read in place (nil before the start).
    package mutating func sessionSnapshot() -> (stats: SessionStats, roster: RosterStatus)? { session?.snapshot() }
    /// Whether ``pollReady(limit:)`` would return a tick now (nothing is taken).
    package mutating func hasReadyTick() -> Bool { running && session!.hasReadyTick() }
    /// Set when a received frame made the next tick ready (it was not before the frame), and
    /// cleared only by the caller: a polled read clears it before each datagram and stops where
    /// it is set, without asking ``hasReadyTick()`` (unspecialized, with a type-metadata lookup)
    /// after every datagram.
    @usableFromInline package var frameReadiedTick = false
    /// Per slot, the newest tick through which every input is held (nil before the start).
    package mutating func heldInputsOfEverySlot() -> [Int]? { session?.heldInputsOfEverySlot() }
    /// Why the session stopped for good; nil while it runs and before the start.
    public var halted: HaltReason? { session?.halted }
    /// The slot bound to `key` (after the start).
    public func slot(of key: PeerKey) -> Int? { slotOf[key] }

    // MARK: Events in

    /// A payload the mesh delivered from `origin` (its signature or link already checked).
    public mutating func receive(_ payload: [UInt8], from origin: PeerKey, now: Duration) -> [SessionAction] {
        guard let type = payload.first else { return [] }
        switch type {
        case SessionWire.claim: return receiveClaim(payload, from: origin, now: now)
        case SessionWire.hello: return receiveHello(payload, from: origin, now: now)
        case SessionWire.checkpointOffer: return receiveOffer(payload, from: origin, now: now)
        case SessionWire.chunkRequest:
            guard running else { return [] }
            // A player charges a spectator's chunks to their budget, once per link for one that
            // crosses the mesh.
            let copies = localSlot != nil && slotOf[origin] == nil ? (neighbors.contains(origin) ? 1 : neighbors.count) : nil
            if let slot = slotOf[origin] { session?.noteFetching(slot: slot, now: now) }
            return server.answer(payload, from: origin, now: now, spectatorCopies: copies).map { .send($0, to: origin) }
        case SessionWire.chunk: return receiveChunk(payload, from: origin, now: now)
        case SessionWire.joinRequest: return receiveJoinRequest(payload, from: origin, now: now)
        case SessionWire.historyRequest: return answerHistory(payload, from: origin, now: now)
        case SessionWire.relayedInputs: return receiveRelayedInputs(payload, from: origin, now: now)
        case SessionWire.frame:
            guard running else { return lobbyFrame(payload, from: origin) }
            guard let slot = slotOf[origin] else { foreignFrames += 1; return [] }
            let readyBefore = session!.hasReadyTick()
            do {
                try session!.receive(payload, fromSlot: slot, now: now)
                events += session!.takeEvents()
                collectCheckpoints()
            } catch {
                events.append(.violation(slot: slot, .malformedFrame))
            }
            var actions = repair(after: slot, now: now)
            // A row this frame completed is reported at once, to the players only (spectators
            // get the reports in the flooded frames).
            if configuration.promptReports, let route = frameRoute(), let report = session!.promptReportFrame() {
                actions.append(.direct(report, to: route.players))
            }
            actions += afterChange(now: now)
            actions += releaseDropped()
            // Here, not in a `defer`: a deferred block is a function of its own, and asked the
            // runtime for the session's type once more.
            if !readyBefore, session!.hasReadyTick() { frameReadiedTick = true }
            return actions
        default: return []
        }
    }

    /// The mesh's links now, each with its measured round trip (from the mesh's keepalives):
    /// call every frame or every quarter second. Round trips to players time loss repair; checkpoints
    /// travel over these links first (a newcomer asks holders among them, and a peer offers its
    /// checkpoint to newcomers among them directly).
    public mutating func links(_ links: [(peer: PeerKey, rtt: Duration?)]) {
        // The UDP shell calls this every frame: the set is rebuilt only when the links changed.
        if links.count != neighbors.count || !links.allSatisfy({ neighbors.contains($0.peer) }) {
            neighbors = Set(links.map(\.peer))
            fetch.near = neighbors
        }
        for l in links { linkRoundTrip(l.rtt, to: l.peer) }
    }

    /// The measured round trip of the link to `key` (from the mesh's keepalives).
    public mutating func linkRoundTrip(_ rtt: Duration?, to key: PeerKey) {
        guard let s = slotOf[key] ?? claims.first(where: { $0.value.contains(key) })?.key, linkRTT[s] != rtt else { return }
        linkRTT[s] = rtt
        repairTimes[s] = (Self.gapWait(rtt, slack: repairSlack), Self.repairDelay(rtt, slack: repairSlack))
        var worst: Duration?
        for r in linkRTT { if let r { worst = max(worst ?? .zero, .nanoseconds(Self.roundTripNanoseconds(r) + repairSlack)) } }
        stallWait = worst ?? Self.repairDelay(nil, slack: repairSlack)
    }

    /// Timers: lobby messages, the start timeout, the session's failure detector, resends,
    /// repairs and the automatic input delay. Call every frame interval and at ``nextWakeup``.
    public mutating func tick(now: Duration) -> [SessionAction] {
        // A repair check that runs late means this process is busy: it reads its frames late
        // too, and the gaps it sees are its own (``repair(after:now:)``).
        var due: Duration?
        for w in wakeups where w <= now { due = min(due ?? w, w) }
        if let due, now - due > .nanoseconds(repairSlack) { behindUntil = now + frameInterval }
        wakeups.removeAll { $0 <= now }
        starved = lastTickAt.map { now - $0 > starvedAfter } ?? false
        lastTickAt = now
        guard running else { return lobbyTick(now: now) + joinTick(now: now) }
        var actions: [SessionAction] = []
        // Players that missed our hello, and spectators, learn the roster from these: often
        // right after the start, then every 2 s; not while our links are exactly the other
        // players and each of them has sent us frames (nobody linked to us lacks the roster).
        // The first second, every 50 ms: a player reached by relay may still miss our hello and
        // wait for it while we play (relays form as the roster does, within about 100 ms).
        let sinceStart = now - (startedAt ?? now)
        let interval: Duration = sinceStart < .seconds(1) ? .milliseconds(50) : sinceStart < .seconds(3) ? .milliseconds(250) : .seconds(2)
        if localSlot != nil, lastLobbySend.map({ now - $0 >= interval }) ?? true, !everyLinkPlays() { actions += hello(now: now) }
        chooseInputDelay(now: now)
        session!.update(now: now)
        events += session!.takeEvents()
        // A peer that has sent nothing for a frame and a half (it waits for others) repeats its
        // newest frame: it keeps repairing what others lost, and its votes travelling. A peer
        // whose game loop submits every frame sends nothing extra.
        if session?.halted == nil, localSlot != nil, now - lastSent >= resendAfter {
            // Once we have submitted nothing for a feed interval (the game is over, or waits), it
            // also brings the spectators our inputs they have not had.
            let next = session?.nextLocalTick ?? 0
            let unfed = fedThrough.map { $0 < next - 1 } ?? true
            let idle = lastSubmitAt.map { now - $0 >= frameInterval * LockstepSession<Input>.feedInterval } ?? true
            actions += sendFrame(feed: unfed && idle && frameRoute()?.others == true, now: now) { $0.resendFrame() }
        }
        actions += repair(after: nil, now: now)
        actions += stallCheck(now: now)
        let stalled = stalledFor(now: now)
        actions += releaseDropped() + askForHistory(now: now, stalled: stalled) + askForDroppedInputs(now: now, stalled: stalled)
        return actions + startOverIfLeftBehind(now: now, stalled: stalled)
    }

    /// Unprotects the players the session dropped and protects the ones it readmitted, once per
    /// roster change (both come only with one; doing either twice does nothing).
    mutating func releaseDropped() -> [SessionAction] {
        guard let epoch = session?.epoch, epoch != releasedEpoch else { return [] }
        releasedEpoch = epoch
        bindSlots()
        let active = session!.activeSlots
        let gone = slotOf.filter { !active.contains($0.value) }.map(\.key).sorted()
        var actions: [SessionAction] = gone.isEmpty ? [] : [.unprotect(gone)]
        if !session!.roster.readmissions.isEmpty { actions.append(.protect(slotOf.filter { active.contains($0.value) }.map(\.key).sorted())) }
        return actions
    }

    /// `slotOf` from the keys playing each slot now (open slots filled since the start included).
    mutating func bindSlots() {
        guard let s = session else { return }
        slotOf = [:]
        for (slot, k) in s.keys.bound.enumerated() where k != SessionDescriptor.openSlotKey { slotOf[PeerKey(bytes: k)] = slot }
    }

    /// The keys playing a slot now.
    var boundKeys: [PeerKey] {
        (session?.keys.bound ?? []).filter { $0 != SessionDescriptor.openSlotKey }.map { PeerKey(bytes: $0) }
    }

    /// The earliest time a repair check is due (besides the every-frame ``tick(now:)``).
    public var nextWakeup: Duration? { Self.earliest(stallCheckAt, wakeups) }

    /// The earliest of a stall check and the repair checks.
    static func earliest(_ stall: Duration?, _ wakeups: [Duration]) -> Duration? {
        guard let stall else { return wakeups.min() }
        return min(stall, wakeups.min() ?? stall)
    }

    /// ``nextWakeup`` for a shell that asks after every datagram and every tick. Mutating, and
    /// reading the stored values itself: code specialized to a game's input that calls the
    /// property's getter (even from here, once inlined into it) copies the whole endpoint, about
    /// 2.5 KB, to a temporary first.
    @usableFromInline package mutating func nextWakeupInPlace() -> Duration? { Self.earliest(stallCheckAt, wakeups) }

    /// Records the local input for the next local tick and floods the frame. Call once per
    /// applied tick (the first `inputDelay` ticks are neutral and need none).
    @inlinable public mutating func submit(_ input: Input, now: Duration) -> [SessionAction] {
        submit(LockstepSession<Input>.encode(input), now: now)
    }

    /// ``submit(_:now:)`` with the input encoded.
    @usableFromInline package mutating func submit(_ bytes: InputBytes, now: Duration) -> [SessionAction] {
        guard running, localSlot != nil else { return [] }
        let before = session?.nextLocalTick ?? 0
        lastSubmitAt = now
        // `sentAt` stays in tick order (``repair(after:now:)`` bisects it), across a restart too.
        if let newest = sentAt.last, newest.tick >= before { sentAt.removeAll() }
        // Our game moved: a stall check backed off for the last wait is moot.
        stallResends = 0
        stallCheckAt = nil
        let actions = sendFrame(feed: feedDue(at: before), now: now) { $0.submit(bytes, now: now) }
        let after = session?.nextLocalTick ?? before
        for t in before..<after {
            sentAt.append((t, now))
            submitTimes.append((t, now))
        }
        // The newest 64 at least, trimmed in batches (one a tick moved the other 63 every tick).
        if sentAt.count > 128 { sentAt.removeFirst(sentAt.count - 64) }
        // The newest 4,096 at least, trimmed in batches: trimming one a tick moved them all.
        if submitTimes.count > 8192 { submitTimes.removeFirst(submitTimes.count - 4096) }
        return actions
    }

    /// The ticks now complete, in order (at most `limit`), each with every slot's input.
    @inlinable public mutating func pollReady(limit: Int = 1024) -> [(tick: Int, inputs: [Input?])] {
        InputBytes.decode(pollReadyRows(limit: limit), as: Input.self)
    }

    /// ``pollReady(limit:)`` before decoding: the rows as the session holds them.
    @usableFromInline package mutating func pollReadyRows(limit: Int) -> ReadyRows {
        guard running else { return [] }
        let ready = session!.pollReadyRows(limit: limit)
        events += session!.takeEvents()
        collectCheckpoints()
        return ready
    }

    /// Passes on what `LockstepDriver/applyNext(answer:)` returned: the checksum of a checked
    /// tick, and the local input answering it (flooded by the returned actions). `game` is the
    /// game after the tick: when a returning player needs a checkpoint of that state, it is
    /// taken from it (see ``wantsCheckpoint(after:)``).
    public mutating func apply<Game: LockstepGame>(_ tick: AppliedTick<Input>, game: Game, now: Duration) -> [SessionAction] where Game.Input == Input {
        var actions: [SessionAction] = []
        if wantsCheckpoint(after: tick.tick) {
            actions += holdCheckpoint(after: tick.tick, game: game.snapshot(), checksum: game.checksum(), now: now)
        }
        return actions + apply(tick, now: now)
    }

    /// ``apply(_:game:now:)`` for a game loop that hands the game's state over separately (with
    /// ``holdCheckpoint(after:game:checksum:now:)`` whenever ``wantsCheckpoint(after:)`` says so).
    @inlinable public mutating func apply(_ tick: AppliedTick<Input>, now: Duration) -> [SessionAction] {
        if let checksum = tick.checksum { recordChecksum(tick: tick.tick, checksum: checksum) }
        guard let input = tick.answer else { return [] }
        return submit(input, now: now)
    }

    /// The local checksum after applying `tick` (every tick; only the checked ones are kept).
    public mutating func recordChecksum(tick: Int, checksum: UInt64) {
        guard running else { return }
        session!.recordChecksum(tick: tick, checksum: checksum)
        events += session!.takeEvents()
    }

    /// Asks every peer to switch to `delay` ticks of input delay (agreed through the inputs).
    public mutating func requestInputDelay(_ delay: Int) throws(LockstepConfigurationError) {
        guard running else { throw .notStarted }
        try session!.requestInputDelay(delay)
    }

    /// Whether ``takeEvents()``, ``takeErrors()`` or ``takeResumedGame()`` has something: one
    /// call, reading in place, for a shell that would otherwise make all three after every poll.
    @usableFromInline package mutating func hasNews() -> Bool {
        !events.isEmpty || !errors.isEmpty || resumedGame != nil || (running && session!.hasPendingEvents())
    }

    /// Session events since the last call, oldest first: one queue for everything.
    public mutating func takeEvents() -> [LockstepEvent] {
        if running { events += session!.takeEvents() }
        defer { events = [] }
        return events
    }

    /// Lobby problems the user has to act on, since the last call.
    public mutating func takeErrors() -> [SessionError] {
        defer { errors = [] }
        return errors
    }

    /// Submit-to-acknowledged-by-every-active-player times of our inputs since the last call.
    public mutating func takeAckLatencies() -> [Duration] {
        guard running else { return [] }
        return session!.takeAckLatencies()
    }

    /// `(tick, now)` of each local input when it was submitted, since the last call (the newest
    /// 4,096 to 8,192 of them when nobody took them for longer).
    public mutating func takeSubmitTimes() -> [(tick: Int, at: Duration)] {
        defer { submitTimes = [] }
        return submitTimes
    }

    // MARK: Lobby

    mutating func lobbyTick(now: Duration) -> [SessionAction] {
        if startedWaitingAt == nil { startedWaitingAt = now }
        if !joining, let since = startedWaitingAt, now - since > startTimeout {
            let missing = (0..<configuration.players).filter { s in
                !configuration.openSlots.contains(s) && (candidate.map { accepted[$0.hash]?[s] == nil } ?? (claims[s] == nil))
            }
            errors.append(.playersMissing(slots: missing, seconds: Int(startTimeout.components.seconds)))
            startedWaitingAt = now
        } else if joining, let since = startedWaitingAt, now - since > startTimeout {
            errors.append(.notAdmitted(seconds: Int(startTimeout.components.seconds)))
            startedWaitingAt = now
        }
        var actions: [SessionAction] = []
        // The roster's keys form the group whose members relay each other (and are introduced
        // to each other) from the lobby on, not only from the start: players that cannot link
        // get each other's hellos through a fellow player at once instead of by pulls, so
        // their sessions start together.
        if localSlot != nil, !joining, !protectedInLobby, let c = candidate {
            protectedInLobby = true
            actions.append(.protect(c.keys.filter { $0 != SessionDescriptor.openSlotKey }.map { PeerKey(bytes: $0) }))
        }
        // Every player starts once it holds every other player's hello, and a hello that missed
        // a player (it came before that player's roster was whole and was lost on the way, or a
        // lazy flood held it back: the NAT lab saw both) reaches it only with the next repeat,
        // while the others may already be playing: the first second after the roster is whole,
        // the repeats come every 50 ms.
        if candidate != nil, candidateSince == nil { candidateSince = now }
        let repeatEvery: Duration = candidateSince.map { now - $0 < .seconds(1) } ?? false ? .milliseconds(50) : .milliseconds(250)
        guard localSlot != nil, lastLobbySend.map({ now - $0 >= repeatEvery }) ?? true else { return actions }
        // Until the start: others may not have heard our claim yet even when we built the roster.
        if case .claimed = roster { actions += ownClaim() }
        actions += hello(now: now)
        lastLobbySend = now
        return actions
    }

    mutating func hello(now: Duration) -> [SessionAction] {
        // An open slot's player has no acceptance in the descriptor to sign (it asks to join).
        guard let slot = localSlot, let d = candidate, let signer, !d.isOpen(slot) else { return [] }
        lastLobbySend = now
        let signature = signer(d.acceptanceBytes)
        var actions: [SessionAction] = [.broadcast(SessionWire.encodeHello(slot: slot, descriptor: d, signature: signature, runningAt: session?.nextTick))]
        if accepted[d.hash, default: [:]][slot] == nil {
            accepted[d.hash, default: [:]][slot] = signature
            descriptors[d.hash] = d
            actions += tryStart(now: now)
        }
        return actions
    }

    mutating func receiveClaim(_ payload: [UInt8], from origin: PeerKey, now: Duration) -> [SessionAction] {
        guard case .claimed = roster, let claim = try? SessionWire.decodeClaim(payload) else { return [] }
        guard claim.digest == configuration.digest, claim.slot < configuration.players else { return [] }
        if let s = session {
            // Late claims of a bound slot by another key: tell the claimant's operator nothing we
            // can reach; just count it.
            if s.keys.key(of: claim.slot) != origin.bytes { foreignFrames += 1 }
            return []
        }
        var keys = claims[claim.slot] ?? []
        guard !keys.contains(origin) else { return [] }
        guard keys.count < 4 else { return [] }  // bounded: a contest is reported either way
        keys.append(origin)
        keys.sort()
        claims[claim.slot] = keys
        if keys.count > 1, !reportedContest.contains(claim.slot) {
            reportedContest.insert(claim.slot)
            errors.append(.slotContested(slot: claim.slot, keys: keys))
        }
        // A claimant we had not heard (it just arrived, and missed our claims) gets ours at once
        // rather than at the next repeat: its roster, and so the start, waits for them. At most
        // 4 claimants per slot are heard, so this costs a bounded number of broadcasts.
        return ownClaim() + buildCandidate(now: now)
    }

    /// Our claim of our slot, flooded (none for a spectator, or a player filling an open slot:
    /// it asks to join instead).
    func ownClaim() -> [SessionAction] {
        guard let slot = localSlot, !fillsOpenSlot else { return [] }
        return [.broadcast(SessionWire.encodeClaim(slot: slot, digest: configuration.digest))]
    }

    /// Claims mode: once every slot has exactly one claimant and no key claims two slots, every
    /// player derives the same descriptor.
    mutating func buildCandidate(now: Duration) -> [SessionAction] {
        guard case let .claimed(name, seed) = roster, candidate == nil else { return [] }
        var keys: [[UInt8]] = []
        for s in 0..<configuration.players {
            if configuration.openSlots.contains(s) { keys.append(SessionDescriptor.openSlotKey); continue }
            guard let k = claims[s], k.count == 1 else { return [] }
            keys.append(k[0].bytes)
        }
        guard Set(keys).count == keys.count else { return [] }
        candidate = SessionDescriptor(name: name, keys: keys, configuration: configuration, gameSeed: seed)
        var actions = hello(now: now)
        let early = earlyHellos
        earlyHellos = [:]
        for origin in early.keys.sorted() { actions += receiveHello(early[origin]!, from: origin, now: now) }
        return actions
    }

    mutating func receiveHello(_ payload: [UInt8], from origin: PeerKey, now: Duration) -> [SessionAction] {
        guard let h = try? SessionWire.decodeHello(payload) else { return [] }
        if running { return receiveReturnRequest(h, from: origin, now: now) }
        if let running = h.runningAt, running > configuration.inputDelay + 1 { return noteRunning(h, from: origin, now: now) }
        let d = h.descriptor
        guard d.keys.indices.contains(h.slot), d.keys[h.slot] == origin.bytes, d.matches(configuration),
            (try? d.validate(against: configuration)) != nil
        else { return [] }
        if case let .known(mine) = roster, mine != d { return [] }
        if case let .claimed(name, seed) = roster, d.name != name || d.gameSeed != seed || d.inputDelay != configuration.inputDelay { return [] }
        // A player only tracks the descriptor it derived from the claims (hellos are repeated, so
        // one that arrives early is heard again): a liar cannot fill the table with its own.
        if localSlot != nil, d != candidate {
            if case .claimed = roster, candidate == nil, earlyHellos[origin] != nil || earlyHellos.count < 2 * configuration.players {
                earlyHellos[origin] = payload
            }
            return []
        }
        let hash = d.hash
        if accepted[hash]?[h.slot] != nil { return [] }
        // Bounded: at most a few candidate descriptors are tracked.
        guard accepted[hash] != nil || accepted.count < 8 else { return [] }
        guard d.verifyAcceptance(slot: h.slot, signature: h.signature) else { return [] }
        accepted[hash, default: [:]][h.slot] = h.signature
        descriptors[hash] = d
        // Our slot open in the roster they accepted is not taken: we fill it by joining.
        if case .claimed = roster, let slot = localSlot, d.keys[slot] != localKey.bytes, !d.isOpen(slot),
            (accepted[hash]?.count ?? 0) == configuration.players - configuration.openSlots.count
        {
            errors.append(.slotTaken(slot: slot, by: PeerKey(bytes: d.keys[slot])))
        }
        return tryStart(now: now)
    }

    mutating func tryStart(now: Duration) -> [SessionAction] {
        guard session == nil, !joining else { return [] }
        for (hash, sigs) in accepted where sigs.count == configuration.players - configuration.openSlots.count {
            guard let d = descriptors[hash] else { continue }
            if let slot = localSlot, d.keys[slot] != localKey.bytes { continue }
            if let c = candidate, c != d { continue }
            guard let keys = try? SessionKeys(descriptor: d, signer: localSlot == nil ? nil : signer) else { continue }
            var s = LockstepSession<Input>(configuration: configuration, role: role, keys: keys)
            s.update(now: now)
            install(s)
            startedAt = now
            bindSlots()
            events.append(.started)
            // The whole roster, a player's own key too: that marks it as one of the group whose
            // members relay each other when they cannot link (a spectator is not in it).
            return [.protect(boundKeys)]
        }
        return []
    }

    // MARK: Running

    /// Sends one of our frames: direct to the players when every other player is one of our
    /// links, flooded when `feed` (a frame for spectators, see ``feedDue(at:)``) or when we reach
    /// a player only through a relay.
    mutating func send(_ frame: [UInt8], now: Duration, feed: Bool = false) -> [SessionAction] {
        guard !frame.isEmpty else { return [] }
        lastSent = now
        if stallCheckAt == nil, localSlot != nil, running, session!.waitingOnOthers() { stallCheckAt = Self.wholeMicroseconds(now + stallResendDelay()) }
        guard let route = frameRoute() else { return [.broadcast(frame)] }
        // The players get that frame from the flood too (from us, first): were they skipped,
        // they would pull it from the spectators that pass it on.
        return route.others && feed ? [.broadcast(frame)] : [.direct(frame, to: route.players)]
    }

    /// Builds one of our frames with `build` and sends it; a frame for spectators (`feed`) carries
    /// every input since the two flooded before it.
    mutating func sendFrame(feed: Bool, now: Duration, _ build: (inout LockstepSession<Input>) -> [UInt8]) -> [SessionAction] {
        // Each flooded frame repeats the inputs of the one before it too: a spectator whose copy
        // of one was lost gets them from the next instead of asking a player for its history.
        if feed { session!.feedFloor = (fedBefore ?? fedThrough).map { $0 + 1 } }
        let frame = build(&session!)
        if feed { (fedBefore, fedThrough) = (fedThrough, (session?.nextLocalTick ?? 0) - 1) }
        return send(frame, now: now, feed: feed)
    }

    /// Whether the frame for our input at `tick` is flooded, signed, for the spectators (and
    /// anyone else linked to us that is not a player): one every
    /// ``LockstepSession/feedInterval`` ticks, repeating every input since the two before, so each
    /// spectator checks one signature per player per interval instead of one per tick.
    mutating func feedDue(at tick: Int) -> Bool {
        guard let route = frameRoute(), route.others else { return false }
        if let fed = fedThrough, tick >= fed, tick < fed + LockstepSession<Input>.feedInterval { return false }
        return true
    }

    /// Whether our links are exactly the other active players and every one of them has sent us
    /// a frame: they all run the session.
    mutating func everyLinkPlays() -> Bool {
        guard let route = frameRoute(), !route.others else { return false }
        // `frameRoute()` clears the flag whenever it computes a new route.
        if everyLinkPlayed { return true }
        var slots: [Int] = []
        slots.reserveCapacity(route.players.count)
        for k in route.players {
            guard let slot = slotOf[k] else { return false }
            slots.append(slot)
        }
        everyLinkPlayed = session!.heardFromAll(slots)
        return everyLinkPlayed
    }

    /// The other active players, when every one of them is one of our links, and whether we have
    /// other links too. Our frames then go to the players over each link unsigned, the link's tag
    /// proving they are ours (players never pass frames on). Other links (spectators, a
    /// newcomer, a returning player) need the signed flood, which they can pass on and serve:
    /// they get one every ``LockstepSession/feedInterval`` ticks. Nil when we reach a player only
    /// through a relay: every frame is flooded.
    mutating func frameRoute() -> (players: [PeerKey], others: Bool)? {
        guard let epoch = session?.epoch else { return nil }
        if let cached = routeCache, cached.epoch == epoch { return cached.route }
        let route = computeFrameRoute()
        routeCache = (epoch, route)
        everyLinkPlayed = false
        return route
    }

    mutating func computeFrameRoute() -> (players: [PeerKey], others: Bool)? {
        guard running, let me = localSlot, !neighbors.isEmpty else { return nil }
        var players: [PeerKey] = []
        for k in session!.activeKeys(excluding: me) {
            if k == SessionDescriptor.openSlotKey { continue }
            let key = PeerKey(bytes: k)
            guard neighbors.contains(key) else { return nil }
            players.append(key)
        }
        return (players, players.count != neighbors.count)
    }

    mutating func afterChange(now: Duration) -> [SessionAction] {
        events += session?.takeEvents() ?? []
        return []
    }

    /// Chooses the input delay (with `autoInputDelay`). A player needs, measured: the median
    /// over the frames since its last look of the longest smoothed time from its submit of an
    /// input to an active player's frame acknowledging it, plus 4 ms, in frames, plus one.
    /// That round trip covers what the links cannot show (players reached through a relay),
    /// and includes the acknowledging player's cadence and, smoothed, the repairs of lost
    /// inputs, so one frame of margin is enough. Unlike the time a tick takes to be agreed
    /// (the whole delay, whatever the delay, for a game loop that runs ahead), it does not grow
    /// with the input delay. The estimate from its links: the worst link round trip plus half a
    /// frame plus 4 ms, in frames, plus two, plus the ticks for the worst frame loss since its
    /// last look (``ticksForLoss(_:slot:)``; since half a second after the start for the first:
    /// frames sent before a relay was found never arrive, and in the NAT lab 3% of them raised
    /// the delay from 3 to 4).
    ///
    /// A second after the start the lowest active slot sets the delay to the larger of the two.
    /// Half a second later every other player asks for more if it measured more. From then on
    /// every player looks every 2 s and asks for more when two looks in a row measured more: the
    /// round trips must be up for more than half of each of two windows, so a burst of 2 s or
    /// less never raises the delay.
    ///
    /// At every look each player tells the others its need
    /// (``LockstepSession/announceInputDelayNeed(_:)``): the measured need, at least what the first
    /// look chooses over links of no latency, plus the ticks for the worst frame loss since its
    /// last look (not the links' estimate: a link's round trip comes from keepalives,
    /// which a busy link skips, so after a burst of latency it stays high for tens of seconds).
    /// Only the lowest active slot lowers the
    /// delay: when, in two looks in a row, its own need and the need every other active player
    /// reported in the last 5 s are all below the delay, by at most 2 ticks per look (each tick
    /// down absorbs one of every player's inputs: the newest wins), to no less than the largest
    /// of them. A player that reported nothing keeps the delay where it is.
    mutating func chooseInputDelay(now: Duration) {
        guard autoInputDelay, running, let slot = localSlot, let at = startedAt else { return }
        // Frames sent before a relay was found never arrive: frame loss is measured from half
        // a second in.
        if lossMark == nil {
            guard now >= at + .milliseconds(500) else { return }
            lossMark = session!.frameMarks()
        }
        // A starved process reads its clock late: its round trips say nothing of the network.
        if !starved, roundTripSamples.count < 1024, let r = session!.longestRoundTrip() { roundTripSamples.append(r) }
        // The others look first half a second after the lowest slot, when its choice is in force.
        let first = nextDelayCheck == nil
        let lowest = session!.activeSlots.first == slot
        guard now >= nextDelayCheck ?? at + (first && lowest ? .seconds(1) : .milliseconds(1500)) else { return }
        nextDelayCheck = now + .seconds(2)
        let tickRate = configuration.tickRate
        roundTripSamples.sort()
        let measured =
            roundTripSamples.isEmpty
            ? nil
            : InputDelay.ticks(forOneWay: .nanoseconds(roundTripSamples[roundTripSamples.count / 2]) + .milliseconds(4), tickRate: tickRate) - 1
        roundTripSamples.removeAll(keepingCapacity: true)
        let loss = session!.worstFrameLoss(since: lossMark!)
        lossMark = session!.frameMarks()
        let lossTicks = ticksForLoss(loss, slot: slot)
        // What we need now, as the others are told: the measured need, at least what the first
        // look chooses over links of no latency, plus the loss ticks. (Not the links' estimate:
        // a link's round trip comes from keepalives, which a busy link skips, so after a burst
        // of latency it stays high for tens of seconds.)
        let floor = InputDelay.ticks(forOneWay: frameInterval / 2 + .milliseconds(4), tickRate: tickRate)
        let need = measured.map { min(32, max(floor, $0) + lossTicks) }
        if let need { session!.announceInputDelayNeed(need) }
        let current = session!.inputDelay
        if first {
            if lowest {
                // The estimate from the links, while few round trips are measured yet.
                let worst = linkRTT.indices.compactMap { $0 == slot ? nil : linkRTT[$0] }.max() ?? .milliseconds(20)
                let estimated = InputDelay.ticks(forOneWay: worst + frameInterval / 2 + .milliseconds(4), tickRate: tickRate) + lossTicks
                let delay = min(32, max(estimated, measured ?? 0))
                if delay != current { try? session!.requestInputDelay(delay) }
            } else if let measured, measured > current {
                try? session!.requestInputDelay(min(32, measured))
            }
            return
        }
        // Later, more only for the measured need, and only when it held over two looks in a
        // row (4 s): a burst of latency on one link (a Wi-Fi hiccup) must not raise the delay
        // for the rest of the match.
        if let measured, measured > current {
            lowerLooks = 0
            if let earlier = raiseWanted {
                raiseWanted = nil
                try? session!.requestInputDelay(min(32, earlier, measured))
            } else {
                raiseWanted = measured
            }
            return
        }
        raiseWanted = nil
        // Less only by the lowest slot, only to what everyone needs, after two looks in a row.
        guard lowest, let need, let others = session!.reportedInputDelayNeed(since: now - .seconds(5)), max(need, others) < current else {
            lowerLooks = 0
            return
        }
        lowerLooks += 1
        if lowerLooks >= 2 { try? session!.requestInputDelay(max(need, others, current - 2)) }
    }

    /// The ticks of input delay that cover frame loss `loss` (the worst measured): a run of one
    /// lost frame in a row per started 10%, each costing a frame (the next frame carries the
    /// input again) or, when every other active player is one of our links, the worst link
    /// round trip plus twice the repair slack if that is less: a loss is then repaired at
    /// network speed (a gap signal half a round trip after the frame was due, its answer half a
    /// round trip later). At 20% loss over loopback that is 1 tick, not 2 or 3.
    func ticksForLoss(_ loss: Double, slot: Int) -> Int {
        let rounds = Int64((loss * 10).rounded(.up))
        guard rounds > 0 else { return 0 }
        let frame = Self.roundTripNanoseconds(frameInterval)
        var perLoss: Int64 = 0
        for s in session!.activeSlots where s != slot {
            guard let rtt = linkRTT[s] else { return Int(rounds) }
            perLoss = max(perLoss, Self.roundTripNanoseconds(rtt) + 2 * repairSlack)
        }
        return Int((rounds * min(perLoss, frame) + frame - 1) / frame)
    }

    /// `t` rounded up to a whole microsecond, so a driver whose clock has coarser steps than a
    /// `Duration` wakes at or after it, never a hair before (and then again and again).
    static func wholeMicroseconds(_ t: Duration) -> Duration {
        let c = t.components
        return .microseconds(c.seconds * 1_000_000 + (c.attoseconds + 999_999_999_999) / 1_000_000_000_000)
    }

    /// How long after we sent an input a frame from `slot` that does not acknowledge it may
    /// arrive before the input is resent: a link round trip plus `slack` nanoseconds
    /// (``repairSlack``). A frame that arrives later left after our input should have reached
    /// that player, whatever the split of the round trip between the two ways. Also how long a
    /// gap signal waits for its answer before it is sent again.
    /// (Static, over the round trip: `repair` runs on every frame received, and a call of an
    /// instance method from it copied the whole endpoint in this generic code.)
    /// (In whole nanoseconds: `Duration`'s own `/` goes through 128-bit generic arithmetic.)
    static func repairDelay(_ linkRTT: Duration?, slack: Int64) -> Duration {
        let rtt = linkRTT.map(Self.roundTripNanoseconds) ?? 20_000_000
        return .nanoseconds(rtt + slack)
    }

    /// How long a slot may lag the newest inputs before we call it a loss: half a link round
    /// trip (frames of one tick can arrive that far apart) plus `slack` nanoseconds.
    static func gapWait(_ linkRTT: Duration?, slack: Int64) -> Duration {
        .nanoseconds((linkRTT.map(Self.roundTripNanoseconds) ?? 2_000_000) / 2 + slack)
    }

    /// Repeats our newest frame when we have waited on the other players for ``stallWait`` with
    /// nothing sent: with 2 players, or a frame lost by every other, nobody has a gap to see,
    /// and both sides would otherwise wait for the idle resend a frame and a half later. A
    /// resend that was not needed costs a frame while we wait anyway. Checked at
    /// ``stallCheckAt``, armed by the frames sent while we wait.
    mutating func stallCheck(now: Duration) -> [SessionAction] {
        guard let at = stallCheckAt, at <= now else { return [] }
        stallCheckAt = nil
        // Only while our links are exactly the other players, each heard from: a spectator, a
        // newcomer or a returning player linked to us is served by the idle resend's signed
        // flood and the state transfer, which frames repeated here would only crowd.
        guard running, localSlot != nil, session!.waitingOnOthers(), everyLinkPlays() else { return [] }
        let due = lastSent + stallResendDelay()
        guard now >= due else {
            stallCheckAt = Self.wholeMicroseconds(due)
            return []
        }
        stallResends += 1
        return sendFrame(feed: false, now: now) { $0.resendFrame() }
    }

    /// How long we wait with nothing sent before a stall resend: ``stallWait``, or sooner when
    /// every other player's frames have been answering ours faster (the session's
    /// `answerTimeout`: submit to acknowledged, smoothed, plus four mean deviations; a game
    /// that ticks unthrottled is answered in tens of microseconds on loopback, and waiting a
    /// millisecond slack on each lost frame would throttle it), doubled for each stall resend
    /// since our game last submitted (at most 64 times): a player that is only slow is not sent
    /// a frame every round trip.
    /// Mutating so that it reads the session in place (``running``).
    mutating func stallResendDelay() -> Duration {
        let timeout = running ? session!.answerTimeout() : nil
        let wait = timeout.map { min(stallWait, .nanoseconds($0)) } ?? stallWait
        return wait * (1 << min(stallResends, 6))
    }

    /// A measured round trip in nanoseconds, within 0...60 s.
    static func roundTripNanoseconds(_ rtt: Duration) -> Int64 {
        let c = rtt.components
        return c.seconds >= 60 ? 60_000_000_000 : max(0, c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000)
    }

    /// Whether a repair frame to `datagrams` players may go out now (nil: a flooded one, which
    /// counts one per other player): one datagram per other player per frame interval on average, three
    /// per other player at once. A loss is repaired by a gap signal and the answer to it, either
    /// of which can be lost too and is then signalled again: they come within a few milliseconds
    /// of each other. Counted in datagrams, not frames: on fast links an answer goes to each
    /// player that lacks an input as its frame shows it, and a budget of two frames per frame
    /// interval ran out at 20% loss.
    mutating func takeRepairToken(datagrams: Int?, now: Duration) -> Bool {
        let others = max(1, configuration.players - 1)
        let unit = frameInterval / others
        let cap = unit * (3 * others)
        repairCredit = min(cap, repairCredit + (now - (repairCreditAt ?? now - cap)))
        repairCreditAt = now
        let cost = unit * (datagrams ?? others)
        guard repairCredit >= cost else { return false }
        repairCredit -= cost
        return true
    }

    /// Loss repair at the speed of the network (see the type's documentation).
    mutating func repair(after slot: Int?, now: Duration) -> [SessionAction] {
        guard running, localSlot != nil, !starved else { return [] }
        session!.repairView(excluding: localSlot, into: &repairScratch)  // our own inputs lead by design
        let view = repairScratch
        guard !view.halted else { return [] }
        var lagging: [Int] = []
        var gaps = false
        let active = view.slots, held = view.held
        // Behind, we see gaps that are only frames we have not read yet: we signal none, and
        // answer only the players that ask (a slow process must not multiply everyone's work).
        let behind = now < behindUntil
        if let newest = held.max() {
            for (i, peer) in active.enumerated() {
                guard held[i] < newest else { gapSince[peer] = nil; continue }
                gaps = true
                if gapSince[peer]?.held != held[i] {
                    gapSince[peer] = (held[i], now)
                    // Checked again when a frame in flight would have arrived.
                    if wakeups.count < 16 { wakeups.append(Self.wholeMicroseconds(now + repairTimes[peer].gapWait)) }
                    continue
                }
                guard let since = gapSince[peer], now - since.at >= repairTimes[peer].gapWait else { continue }
                guard gapSignaled[peer].held != held[i] || now - gapSignaled[peer].at >= repairTimes[peer].repairDelay else { continue }
                if !behind { lagging.append(peer) }
            }
        }
        // Wake-ups only recheck gaps: with none left, a pending one would run every timer for
        // nothing (on loopback, one per frame received ahead of another player's).
        if !gaps { wakeups.removeAll() }
        // Our own input overdue at `slot`, judged on each frame from it (its acknowledgements are
        // as old as that frame), resent at most once per repair delay.
        var overdue = false
        var overdueTick = 0
        var overdueSent = Duration.zero
        if let slot, let i = active.firstIndex(of: slot) {
            // A frame can come later than the round trip by the path's jitter: while loss is
            // rare, that margin more before we call our input lost (`lateMargin`), at most half
            // a frame (the slot's own pace sets it, and a liar's must not hold our resends back).
            let margin = min(view.lateMargin[i], Self.roundTripNanoseconds(frameInterval) / 2)
            let delay = repairTimes[slot].repairDelay + .nanoseconds(margin)
            // `sentAt` is in tick order and so in time order: the oldest input the player lacks
            // is the first one after its acknowledgement, found by bisection (this runs on every
            // frame received; a scan cost up to 64 `Duration` comparisons).
            if now - lastFastResend[slot] >= delay {
                let acknowledged = view.acknowledged[i]
                var low = 0, high = sentAt.count
                while low < high {
                    let mid = (low + high) / 2
                    if sentAt[mid].tick <= acknowledged { low = mid + 1 } else { high = mid }
                }
                if low < sentAt.count, now - sentAt[low].at >= delay { (overdue, overdueTick, overdueSent) = (true, sentAt[low].tick, sentAt[low].at) }
            }
        }
        var targets = lagging
        // Our inputs go to every other player whose acknowledgements do not show the overdue one
        // either, when its newest frame left after the input should have arrived (it lacks it),
        // or when it is one of our links and the link's round trip is a frame interval or more:
        // then its frames that can show it are a round trip away, and it may have lost the input
        // too. On a faster link such a frame is at most a frame interval away, and the player is
        // judged when it comes (as is one reached through a relay, which only a flooded frame
        // would reach).
        if overdue, let slot {
            for (i, s) in active.enumerated() where !targets.contains(s) {
                if s == slot {
                    targets.append(s)
                } else if !behind, view.acknowledged[i] < overdueTick {
                    let wait = repairTimes[s].repairDelay
                    let slow = linkRTT[s] != nil && wait >= frameInterval
                    if slow || view.lastHeard[i].map({ $0 - overdueSent >= wait }) == true { targets.append(s) }
                }
            }
        }
        // A player we have not heard from for several frames (gone, or cut off) cannot answer a
        // repair: it is the failure detector's business, and repairs aimed at it only cost.
        // The oldest acknowledgement of our inputs among them bounds what a repair carries.
        var reachable: [Int] = []
        var oldest = Int.max
        for peer in targets {
            if let i = active.firstIndex(of: peer), let heard = view.lastHeard[i], now - heard <= max(frameInterval * 4, repairTimes[peer].repairDelay * 2) {
                reachable.append(peer)
                oldest = min(oldest, view.acknowledged[i])
            }
        }
        targets = reachable
        // A budget of repair datagrams: a peer that cannot keep up must not make everyone else
        // slower too.
        guard !targets.isEmpty else { return [] }
        let keys = session!.keys.bound
        let direct = frameRoute() != nil || targets.allSatisfy { neighbors.contains(PeerKey(bytes: keys[$0])) }
        guard takeRepairToken(datagrams: direct ? targets.count : nil, now: now) else { return [] }
        // Over direct links, to the players it is for only (`repairFrame`), when each of them is
        // one of our links (the others may be reached through a relay); to one reached through
        // a relay, our frames are flooded, and one for some players only would leave a hole in
        // the others' view of our message numbers, which they would then try to pull.
        let frame = direct ? session!.repairFrame(after: oldest) : session!.resendFrame()
        guard !frame.isEmpty else { return [] }
        for peer in lagging {
            gapSignaled[peer] = (held[active.firstIndex(of: peer)!], now)
            // Signalled again when its answer should have come: either way can be lost.
            if wakeups.count < 16 { wakeups.append(Self.wholeMicroseconds(now + repairTimes[peer].repairDelay)) }
        }
        if overdue, let slot { lastFastResend[slot] = now }
        // Our frame's acknowledgements show a lagging player what we miss, and it carries our own
        // overdue inputs.
        guard direct else { return send(frame, now: now) }
        return [.direct(frame, to: targets.map { PeerKey(bytes: keys[$0]) })]
    }
}

/// The input delay that hides a one-way latency: the latency in frames, rounded up, plus two
/// frames in which a lost frame is repaired by the next one (at most 32).
public enum InputDelay {
    /// Ticks of input delay for a one-way `latency` at `tickRate` ticks per second (above zero).
    public static func ticks(forOneWay latency: Duration, tickRate: Int) -> Int {
        let frameNs = 1_000_000_000 / Int64(tickRate)
        let ns = latency.nanosecondsClamped
        return min(32, Int((ns + frameNs - 1) / frameNs) + 2)
    }
}

/// Where a player that applied its match's last tick stands in leaving it (see
/// ``finishProgress()``).
public enum FinishProgress: Sendable, Equatable {
    /// Some other player still lacks our newest input and is not gone: keep sending frames.
    case waiting
    /// Every other player holds our newest input or is gone: a few frame intervals more (so
    /// our acknowledgements of their last inputs travel), then leave.
    case settled
    /// The session halted or never started: there is nothing to finish.
    case over
}
