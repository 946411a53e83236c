import MeshstepLockstep
import MeshstepWire

/// The game's state a newcomer resumes from (``SessionEndpoint/takeResumedGame()``).
public struct ResumedGame: Sendable, Equatable {
    /// The first tick to apply: the state is the one after tick `tick - 1`.
    public var tick: Int
    /// The game's `LockstepGame.snapshot()` at that point.
    public var state: [UInt8]
    /// The game's checksum at that point, as the players computed it.
    public var checksum: UInt64
}

/// Why a resumed game could not be restored.
public enum ResumeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The game's `init(snapshot:)` refused the transferred state.
    case snapshotRejected(tick: Int, reason: String)
    /// The restored game's checksum differs from the one the players computed: the game's
    /// `snapshot()` and `init(snapshot:)` do not round-trip its whole state.
    case checksumMismatch(tick: Int, expected: UInt64, restored: UInt64)

    public var description: String {
        switch self {
        case let .snapshotRejected(tick, reason): "the checkpoint before tick \(tick) does not restore: \(reason)"
        case let .checksumMismatch(tick, expected, restored):
            "the game restored from the checkpoint before tick \(tick) has checksum \(restored), the players have \(expected): make snapshot() and init(snapshot:) cover the whole state (SyncTest checks it)"
        }
    }
}

extension LockstepDriver {
    /// A driver for a newcomer: the game restored from `resumed` and checked against the
    /// players' checksum, applying ticks from `resumed.tick` on, catching up
    /// (`LockstepDriver.catchingUp`).
    /// - Throws: ``ResumeError`` when the state does not restore, or restores to another checksum.
    public init(resuming resumed: ResumedGame, checksumInterval: Int, answers: Bool) throws(ResumeError) {
        let game: Game
        do { game = try Game(snapshot: resumed.state) } catch { throw .snapshotRejected(tick: resumed.tick, reason: "\(error)") }
        let restored = game.checksum()
        guard restored == resumed.checksum else { throw .checksumMismatch(tick: resumed.tick, expected: resumed.checksum, restored: restored) }
        self.init(game: game, checksumInterval: checksumInterval, answers: answers, ticksApplied: resumed.tick)
        catchingUp = true
    }
}

/// Why ``SessionEndpoint/rejoin(now:)`` cannot start a peer over.
public enum RejoinError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The session runs, or has not started: there is nothing to come back into yet.
    case notHalted
    /// Every player was dropped: the match is over.
    case matchOver

    public var description: String {
        switch self {
        case .notHalted: "the session has not halted: rejoin only after `halted` names a reason"
        case .matchOver: "every player was dropped: the match is over, start a new one"
        }
    }
}

/// What state transfer moved at one peer.
public struct StateTransferStats: Sendable, Equatable {
    /// Checkpoint bytes this peer received (verified chunks).
    public var bytesReceived: Int
    /// Checkpoint bytes this peer served to newcomers.
    public var bytesServed: Int
    /// Chunks that failed their hash-tree proof (their senders are no longer asked).
    public var rejectedChunks: Int
    /// Chunks of the checkpoint being fetched that arrived, and how many it has (0 and 0 when
    /// nothing is being fetched).
    public var progress: (received: Int, total: Int)

    public static func == (a: Self, b: Self) -> Bool {
        a.bytesReceived == b.bytesReceived && a.bytesServed == b.bytesServed && a.rejectedChunks == b.rejectedChunks
            && a.progress == b.progress
    }
}

extension SessionEndpoint {
    /// Whether a returning player or a late spectator needs a checkpoint of the game after
    /// `tick`: then pass the game with ``apply(_:game:now:)`` (or hand its state to
    /// ``holdCheckpoint(after:game:checksum:now:)``).
    public func wantsCheckpoint(after tick: Int) -> Bool {
        pendingCheckpoints.contains { $0.tick == tick + 1 }
    }

    /// One line on this peer's join and checkpoint state, for debugging a stuck newcomer.
    package var joinDebugDescription: String {
        "joining \(joining) after epoch \(resumeAfterEpoch ?? -1) minTick \(fetch.minTick) offers \(fetch.offers.values.map(\.tick)) bytes \(fetch.bytesReceived) candidate \(candidate != nil) fetch \(fetch.progress) held \(server.held.map(\.tick)) wanted \(pendingCheckpoints.map(\.tick)) requesters \(joinRequesters.count)"
    }

    /// Takes the checkpoints the session captured; only players take them (newcomers trust the
    /// players' offers). A spectator serves only the checkpoint it resumed from, to its links.
    mutating func collectCheckpoints() {
        let captured = session?.takeCheckpoints() ?? []
        if localSlot != nil { pendingCheckpoints += captured }
    }

    /// The ticks after which a newcomer needs a checkpoint of the game (``wantsCheckpoint(after:)``).
    public var checkpointTicksWanted: Set<Int> { Set(pendingCheckpoints.map { $0.tick - 1 }) }

    /// Holds the checkpoint of the game after `tick` (its `LockstepGame.snapshot()` and
    /// checksum) for newcomers, and offers it to the returning players at once.
    public mutating func holdCheckpoint(after tick: Int, game: [UInt8], checksum: UInt64, now: Duration) -> [SessionAction] {
        guard let s = session, let i = pendingCheckpoints.firstIndex(where: { $0.tick == tick + 1 }) else { return [] }
        var cp = pendingCheckpoints[i]
        pendingCheckpoints.removeAll { $0.tick <= tick + 1 }
        cp.game = game
        cp.gameChecksum = checksum
        let bytes = cp.encode(sessionHash: s.keys.sessionHash)
        guard bytes.count <= SessionCheckpoint.maxBytes else {
            errors.append(.checkpointTooLarge(bytes: bytes.count, limit: SessionCheckpoint.maxBytes))
            return []
        }
        guard let offer = server.hold(bytes, tick: cp.tick, now: now) else { return [] }
        var to: [PeerKey] = []
        for (slot, state) in cp.slots.enumerated() {
            if case .absent = state { to.append(PeerKey(bytes: s.keys.key(of: slot))) }
        }
        for key in to { lastOfferTo[key] = now }
        var actions: [SessionAction] = to.map { .send(SessionWire.encodeOffer(offer), to: $0) }
        joinRequesters = joinRequesters.filter { now - $0.value.at < Self.joinRequestLifetime }
        // Late spectators: one offer flooded for all of them (a unicast to each would cross the
        // mesh once per newcomer); one still waiting asks again (every second).
        let served = joinRequesters.filter { $0.value.minTick <= cp.tick }.map(\.key)
        for key in served { joinRequesters[key] = nil }
        if !served.isEmpty { actions.append(.broadcast(SessionWire.encodeOffer(offer))) }
        return actions
    }

    /// The game state this peer resumed from, once (nil before, and after the first call):
    /// restore the game with `LockstepDriver(resuming:checksumInterval:answers:)`.
    public mutating func takeResumedGame() -> ResumedGame? {
        defer { resumedGame = nil }
        return resumedGame
    }

    /// What state transfer moved here.
    public var transferStats: StateTransferStats {
        StateTransferStats(
            bytesReceived: fetch.bytesReceived, bytesServed: server.bytesServed, rejectedChunks: fetch.rejectedChunks,
            progress: fetch.chosen == nil ? (0, 0) : fetch.progress)
    }

    // MARK: Players: serving newcomers

    /// A hello while the session runs: from a dropped slot's key it asks to come back (checked
    /// once a second per key); from a returning one it asks again for its checkpoint.
    mutating func receiveReturnRequest(
        _ h: (slot: Int, descriptor: SessionDescriptor, signature: [UInt8], runningAt: Int?), from origin: PeerKey, now: Duration
    ) -> [SessionAction] {
        guard let s = session, localSlot != nil, h.runningAt == nil, slotOf[origin] == h.slot, h.descriptor == s.keys.descriptor else { return [] }
        if lastReturnCheck.count >= 256 { lastReturnCheck = lastReturnCheck.filter { now - $0.value < .seconds(1) } }
        guard lastReturnCheck[origin].map({ now - $0 >= .seconds(1) }) ?? true, lastReturnCheck.count < 256 else { return [] }
        lastReturnCheck[origin] = now
        if s.activeSlots.contains(h.slot) { return offerOfAdmission(slot: h.slot, to: origin, now: now) }
        guard h.descriptor.verifyAcceptance(slot: h.slot, signature: h.signature) else { return [] }
        session!.noteReturnRequest(slot: h.slot, now: now)
        events += session!.takeEvents()
        return []
    }

    /// How far behind our next tick a held checkpoint may be and still be offered to a newcomer
    /// while the session does not move: half the applied ticks a player keeps for history
    /// requests (600).
    static var heldOfferReach: Int { 300 }

    /// How long a join request counts (the newcomer repeats it every second while it waits).
    static var joinRequestLifetime: Duration { .seconds(10) }

    /// A spectator arriving while the session runs asks to join: every player schedules a
    /// checkpoint (on a half-second grid), past what its frames already carried, and floods an
    /// offer of it once it holds it (one for every newcomer waiting).
    mutating func receiveJoinRequest(_ payload: [UInt8], from origin: PeerKey, now: Duration) -> [SessionAction] {
        // Every peer that runs the session offers what it holds to a newcomer on its links;
        // only players schedule checkpoints (their offers are what a newcomer trusts).
        guard let s = session, let request = try? SessionWire.decodeJoinRequest(payload), request.digest == configuration.digest else { return [] }
        var actions: [SessionAction] = []
        if request.slot == nil, neighbors.contains(origin), slotOf[origin] == nil {
            // A newcomer on one of our links: offered what we hold at once, over the link (a
            // spectator that resumed serves the checkpoint it resumed from: spectators relay to
            // spectators, and the players' upload stays flat).
            if nearRequesters.count >= 64 { nearRequesters = nearRequesters.filter { now - $0.value < .seconds(2) } }
            if nearRequesters.count < 64 { nearRequesters[origin] = now }
            actions += offer(to: origin, now: now)
        }
        guard localSlot != nil else { return actions }
        if let slot = request.slot {
            // A newcomer for an open slot (or its holder coming back): admitted by a roster change,
            // or, once admitted, offered its checkpoint again.
            guard s.keys.descriptor.isOpen(slot) else { return [] }
            if slotOf[origin] == slot, s.activeSlots.contains(slot) {
                session!.noteFetching(slot: slot, now: now)
                return offerOfAdmission(slot: slot, to: origin, now: now)
            }
            session!.noteSlotRequest(slot: slot, key: origin.bytes, now: now)
            events += session!.takeEvents()
            return []
        }
        guard slotOf[origin] == nil else { return actions }
        let tick = session!.scheduleCheckpoint(spacing: max(1, configuration.tickRate / 2))
        if joinRequesters[origin] == nil {
            if joinRequesters.count >= 1024 { joinRequesters = joinRequesters.filter { now - $0.value.at < Self.joinRequestLifetime } }
            guard joinRequesters.count < 1024 else { return actions }
            joinRequesters[origin] = (now, tick)
        } else {
            joinRequesters[origin]!.at = now
        }
        // The offer goes out, flooded, once the scheduled checkpoint is captured. A session that
        // has not moved for a second (the match is over, or it waits for a player) may never
        // reach that tick. If what holds us is our own game (it gave no input for our next
        // tick: the match is over, or the game paused), we capture a checkpoint where we stand,
        // once (the game hands its state after the tick it applied last), and flood its offer as
        // for a scheduled one: a spectator that started over takes none before the tick it
        // stood at, and an older one we hold may be just that (sweep seed 108 run 619). A
        // session that waits for other players captures nothing (it may be the side of a
        // partition that halts): a newcomer elsewhere in the mesh is offered the newest
        // checkpoint we hold, when it is recent enough to catch up from with history requests.
        if let p = progress, now - p.since >= .seconds(1) {
            let here = s.nextTick
            if s.halted == nil, s.nextLocalTick <= here, (server.newest?.tick ?? .min) < here {
                if !wantsCheckpoint(after: here - 1) {
                    session!.captureCheckpointNow()
                    collectCheckpoints()
                }
                if wantsCheckpoint(after: here - 1) { joinRequesters[origin]?.minTick = here }
            } else if let held = server.newest, held.tick >= p.tick - Self.heldOfferReach {
                if !neighbors.contains(origin) { actions += offer(to: origin, now: now) }
            }
        }
        return actions
    }

    /// Offers the newest checkpoint held to the newcomer of `slot`, admitted or readmitted: only
    /// one of its latest admission, not one of an earlier one (an earlier admission of the same
    /// key binds the slot to it too, and the newcomer would resume in a roster that no longer
    /// holds; the players capture that admission's checkpoint when they reach it).
    mutating func offerOfAdmission(slot: Int, to peer: PeerKey, now: Duration) -> [SessionAction] {
        guard let s = session else { return [] }
        let admitted = s.roster.readmissions.last { $0.slot == slot }?.checkpoint ?? 0
        return server.newest.map { $0.tick >= admitted } == true ? offer(to: peer, now: now) : []
    }

    /// Offers the newest checkpoint held to `peer` (a returning player, or a newcomer on one of
    /// our links), at most once a second.
    mutating func offer(to peer: PeerKey, now: Duration) -> [SessionAction] {
        guard let newest = server.newest else { return [] }
        if lastOfferTo.count >= 1024 { lastOfferTo = lastOfferTo.filter { now - $0.value < .seconds(1) } }
        guard lastOfferTo[peer].map({ now - $0 >= .seconds(1) }) ?? true, lastOfferTo.count < 1024 else { return [] }
        lastOfferTo[peer] = now
        return [.send(SessionWire.encodeOffer(newest), to: peer)]
    }

    // MARK: Coming back after a halt

    /// Starts this peer over after its session halted, as a newcomer of the same match: a player
    /// asks to come back into its slot (the others readmit it as they would a restarted process
    /// with its key, docs/LOCKSTEP.md, "Rejoin"), a spectator asks to follow again. Both resume
    /// from a checkpoint the players vouch for: ``takeResumedGame()`` hands the game to restore,
    /// then the ticks from there on come as before.
    ///
    /// Everything the halted session held is let go: ticks not yet taken, the roster, the
    /// stats. Undelivered events and errors stay queued. The mesh's links and their round
    /// trips are kept. A player comes back only once the others dropped its slot (a peer
    /// halted by a roster change they do not see is dropped once it has been silent past the
    /// disconnect timeout), and one the others proved an equivocator never does; until it is
    /// let in, ``takeErrors()`` reports ``SessionError/notAdmitted(seconds:)`` every start
    /// timeout.
    /// - Returns: the first request to come back (a player's hello), to send at once.
    /// - Throws: ``RejoinError/notHalted`` while the session runs or before it started;
    ///   ``RejoinError/matchOver`` when every player was dropped.
    public mutating func rejoin(now: Duration) throws(RejoinError) -> [SessionAction] {
        guard let reason = halted, descriptor != nil else { throw .notHalted }
        guard reason != .rosterEmpty, var fresh = newcomer() else { throw .matchOver }
        // Holders may still keep a checkpoint of an earlier admission of ours (for a minute):
        // only one captured after our halt can admit us now. Not after the newest change we
        // know of: a halted session goes on adopting changes, and one of them may be the
        // admission whose checkpoint we need.
        fresh.resumeAfterEpoch = session?.haltEpoch
        self = fresh
        return hello(now: now)
    }

    /// This endpoint as a newcomer of the same match, fetching a checkpoint: the same parameters
    /// it was made with and the roster every player signed (they validated then, and still do);
    /// the mesh's links and their round trips (the fetch asks holders among them first);
    /// undelivered events and errors. Nil before the session ran.
    mutating func newcomer() -> Self? {
        guard let d = descriptor,
            var fresh = try? Self(
                configuration: configuration, role: role, localKey: localKey, roster: .known(d), signer: signer,
                autoInputDelay: autoInputDelay, startTimeout: startTimeout)
        else { return nil }
        fresh.joining = true
        fresh.neighbors = neighbors
        fresh.fetch.near = neighbors
        fresh.linkRTT = linkRTT
        fresh.repairTimes = repairTimes
        fresh.events = takeEvents()
        fresh.errors = errors
        return fresh
    }

    /// How long a spectator's next tick may stand while the players are past it before it
    /// starts over from a newer checkpoint (``startOverIfLeftBehind(now:stalled:)``).
    static var spectatorStartOverAfter: Duration { .seconds(5) }

    /// A spectator whose next tick has not moved for ``spectatorStartOverAfter`` while the
    /// players' frames named later ticks all along starts over from a checkpoint past it, as a
    /// late spectator does: its history requests got it nowhere. Catch-up frames carry the
    /// players' two newest roster certificates, so one that missed three changes (cut off by a
    /// partition) could never learn the first of them, and took no report of a later epoch
    /// (sweep seed 97 run 1436: both late spectators stopped at tick 162 for good). The clock
    /// starts when the players are first seen ahead, not when we stopped: after a stall the
    /// players shared, they are ahead for a moment, and we follow them with the session we
    /// hold (sweep seed 108 run 619: the spectators started over the instant the last player
    /// went on, which then ran to its last tick and stopped). The game loop restores the game
    /// from ``takeResumedGame()`` as for a first resume; the session's events say
    /// `.resumed(tick:)`.
    mutating func startOverIfLeftBehind(now: Duration, stalled: Duration) -> [SessionAction] {
        guard localSlot == nil, running, session?.halted == nil, let next = session?.nextTick, let players = session?.playersNextTick,
            players > next
        else {
            playersAheadSince = nil
            return []
        }
        let ahead = now - (playersAheadSince ?? now)
        if playersAheadSince == nil { playersAheadSince = now }
        guard min(stalled, ahead) >= Self.spectatorStartOverAfter, var fresh = newcomer() else { return [] }
        fresh.fetch.minTick = next + 1
        self = fresh
        return joinTick(now: now)
    }

    // MARK: Newcomers: fetching and resuming

    /// A running player's hello reached us in the lobby. Past its first `inputDelay` ticks the
    /// session went on without us (no tick after them is applied without every player's input):
    /// we were dropped, so we resume from a checkpoint. Before that we are only late to start.
    mutating func noteRunning(
        _ h: (slot: Int, descriptor: SessionDescriptor, signature: [UInt8], runningAt: Int?), from origin: PeerKey, now: Duration
    ) -> [SessionAction] {
        let d = h.descriptor
        guard d.keys.indices.contains(h.slot), d.keys[h.slot] == origin.bytes, origin != localKey, !d.isOpen(h.slot), d.matches(configuration)
        else { return [] }
        if let c = candidate {
            guard c == d else { return [] }
        } else {
            // Claims mode: take the roster the players signed if it is ours to join.
            guard case let .claimed(name, seed) = roster, d.name == name, d.gameSeed == seed,
                localSlot.map({ d.keys[$0] == localKey.bytes || d.isOpen($0) }) ?? true,
                (try? d.validate(against: configuration)) != nil, d.verifyAcceptance(slot: h.slot, signature: h.signature)
            else { return [] }
            candidate = d
        }
        joining = true
        return []
    }

    /// Join requests (a spectator's or an open slot's newcomer's, once a second unless its fetch
    /// made progress within the last second) and chunk requests while fetching.
    mutating func joinTick(now: Duration) -> [SessionAction] {
        guard joining else { return [] }
        var actions: [SessionAction] = []
        // Each request is flooded to the whole mesh and makes every player schedule a checkpoint:
        // a fetch under way needs none. One that stalls (its holders let the checkpoint go) asks
        // again, for newer offers.
        let fetching = fetch.isProgressing(now: now, within: .seconds(1))
        if localSlot == nil || fillsOpenSlot, !fetching, lastJoinRequest.map({ now - $0 >= .seconds(1) }) ?? true {
            lastJoinRequest = now
            actions.append(.broadcast(SessionWire.encodeJoinRequest(digest: configuration.digest, slot: localSlot)))
        }
        return actions + fetch.requests(now: now).map { .send($0.payload, to: $0.to) }
    }

    /// An offer counts as a voucher from a roster player; anyone else (a spectator that holds
    /// the checkpoint) can only serve chunks of a checkpoint the players vouched for.
    mutating func receiveOffer(_ payload: [UInt8], from origin: PeerKey, now: Duration) -> [SessionAction] {
        guard joining, session == nil, let d = candidate, let offer = try? SessionWire.decodeOffer(payload) else { return [] }
        guard fetch.note(offer, from: origin, vouches: d.keys.contains(origin.bytes), now: now) else { return [] }
        return fetch.requests(now: now).map { .send($0.payload, to: $0.to) }
    }

    /// A roster player's frame before we started. Past its first `inputDelay` ticks the session
    /// runs without us: we fetch a checkpoint, and keep the frames that arrive meanwhile (they
    /// carry the inputs after it; at most 4,096).
    mutating func lobbyFrame(_ payload: [UInt8], from origin: PeerKey) -> [SessionAction] {
        guard let d = candidate, origin != localKey else { return [] }
        // Frames of the roster's keys, and of keys that may have filled an open slot since (they
        // are used only if the checkpoint binds the slot to them).
        let rosterKey = d.keys.contains(origin.bytes)
        guard rosterKey || (payload.count > 1 && d.isOpen(Int(payload[1]))) else { return [] }
        let next = rosterKey ? SessionWire.peekNextTick(frame: payload) : nil
        if !joining, let next, next > configuration.inputDelay + 1 { joining = true }
        if joining, bufferedFrames.count < 4096 {
            bufferedFrames.append((payload, origin))
            if let next { fetch.liveFrom = min(fetch.liveFrom ?? next, next) }
        }
        return []
    }

    mutating func receiveChunk(_ payload: [UInt8], from origin: PeerKey, now: Duration) -> [SessionAction] {
        guard joining, session == nil else { return [] }
        fetch.receive(payload, from: origin, now: now)
        guard let bytes = fetch.complete else { return [] }
        return resume(from: bytes, now: now)
    }

    /// Starts the session from a complete, verified checkpoint. One that does not decode, or (for
    /// a returning player) one that does not readmit our slot, is set aside for a later one.
    mutating func resume(from bytes: [UInt8], now: Duration) -> [SessionAction] {
        guard let d = candidate, let tick = fetch.chosen?.tick else { return [] }
        func setAside() -> [SessionAction] {
            fetch = fetch.afterSettingAside(tick: tick)
            return []
        }
        guard let cp = try? SessionCheckpoint.decode(bytes, sessionHash: d.hash, players: configuration.players) else { return setAside() }
        if let epoch = resumeAfterEpoch, cp.epoch <= epoch { return setAside() }
        if let slot = localSlot {
            guard case let .absent(_, until) = cp.slots[slot] else { return setAside() }
            // Not one captured before our admission's own checkpoint: the players' frames carry
            // their newest 64 inputs, which reach back to that checkpoint (its return lead and
            // the input delay are 32 ticks at most) but not necessarily further; a lost frame
            // between an earlier one and there would never come again (sweep seed 101 run 145:
            // a player back from a checkpoint 29 ticks earlier lacked 6 of one player's inputs
            // for good, and the match stopped).
            if let admit = cp.readmissions.last(where: { $0.slot == slot && $0.tick == until }), cp.tick < admit.checkpoint {
                return setAside()
            }
            // An open slot must be ours in the checkpoint: admitted with our key.
            if d.isOpen(slot), !cp.bindings.contains(where: { $0.slot == slot && $0.key == localKey.bytes }) { return setAside() }
        }
        guard let keys = try? SessionKeys(descriptor: d, signer: localSlot == nil ? nil : signer) else { return setAside() }
        var s = LockstepSession<Input>(configuration: configuration, role: role, keys: keys, resuming: cp)
        s.update(now: now)
        install(s)
        routeCache = nil
        startedAt = now
        bindSlots()
        releasedEpoch = s.epoch
        events.append(.resumed(tick: cp.tick))
        resumedGame = ResumedGame(tick: cp.tick, state: cp.game, checksum: cp.gameChecksum)
        // The frames that arrived while we fetched carry the inputs after the checkpoint.
        for f in bufferedFrames {
            if let slot = slotOf[f.origin] { try? session!.receive(f.payload, fromSlot: slot, now: now) }
        }
        bufferedFrames = []
        events += session!.takeEvents()
        // We serve the checkpoint we resumed from to newcomers on our links that asked lately.
        var actions: [SessionAction] = [.protect(boundKeys)]
        if server.hold(bytes, tick: cp.tick, now: now) != nil {
            for key in nearRequesters.filter({ now - $0.value < .seconds(2) && neighbors.contains($0.key) }).keys.sorted() {
                actions += offer(to: key, now: now)
            }
        }
        return actions
    }

    // MARK: Spectators that lost frames

    /// How long our next tick has not moved (zero when it just did, or before the session
    /// runs): measured once per ``tick(now:)`` for both kinds of history request.
    mutating func stalledFor(now: Duration) -> Duration {
        guard let next = session?.nextTick else {
            progress = nil
            return .zero
        }
        guard let p = progress, p.tick == next else {
            progress = (next, now)
            return .zero
        }
        return now - p.since
    }

    /// Catch-up frames a player sends per second at most, all spectators together.
    static var historyAnswersPerSecond: Int { 10 }

    /// How far behind the players a spectator asks again as soon as its answers are used up:
    /// a catch-up frame's worth of ticks (at most 64 inputs). A spectator that follows the feed
    /// is a feed interval or two behind.
    static var catchingUpBehind: Int { 64 }

    /// A spectator whose next tick has not moved for 500 ms asks each player whose inputs lag the
    /// newest it holds for them, from the first one missing (at most every 500 ms per player):
    /// frames it lost and the mesh could not repair are never sent again otherwise. While most
    /// players are ``catchingUpBehind`` ticks or more ahead, it asks once stuck for 100 ms, each
    /// player at most every 250 ms: a spectator far behind (after a partition, or at heavy
    /// loss, where one answer in two is lost) catches up at the pace of its answers instead of
    /// one round of them a second.
    mutating func askForHistory(now: Duration, stalled: Duration) -> [SessionAction] {
        // Read through `session?` until a request is due: `let s = session` copies the session.
        guard localSlot == nil, running, session?.halted == nil, let next = session?.nextTick else { return [] }
        guard stalled >= .milliseconds(100) else { return [] }
        let far = (session?.playersNextTick ?? next) - next >= Self.catchingUpBehind
        guard stalled >= .milliseconds(500) || far, let s = session else { return [] }
        let pace: Duration = far ? .milliseconds(250) : .milliseconds(500)
        let active = s.activeSlots
        let held = active.map { s.heldInputs(of: $0) }
        guard let newest = held.max() else { return [] }
        var actions: [SessionAction] = []
        for (slot, h) in zip(active, held) {
            // It has not confirmed our next row, or its inputs lag the others': its catch-up frame
            // carries both the inputs and a row report within them. The report first: inputs
            // far past our next tick are not kept (the session's horizon), and without the
            // report we apply none of those we hold.
            let from = h >= next && s.confirmed(by: slot) < next ? next : (h < newest || h < next ? h + 1 : nil)
            guard let from else { continue }
            if let asked = historyAsked[slot], now - asked < pace { continue }
            historyAsked[slot] = now
            historyRequests += 1
            actions.append(.send(SessionWire.encodeHistoryRequest(fromTick: from), to: PeerKey(bytes: s.keys.key(of: slot))))
        }
        return actions
    }

    /// A player answers a spectator's history request with a catch-up frame of its own inputs:
    /// at most one answer per requester per 200 ms and ``historyAnswersPerSecond`` in all, so
    /// spectators cannot turn a player into a bandwidth source.
    /// With a slot, the request is for a dropped slot's inputs, from any peer (a player that
    /// resumed from a checkpoint may lack them too), answered with ``RelayedInputs`` under the
    /// same limits, paced apart from catch-up frames: a spectator that catches up asks for both,
    /// and its catch-up requests must not crowd out the relay it stopped for.
    mutating func answerHistory(_ payload: [UInt8], from origin: PeerKey, now: Duration) -> [SessionAction] {
        guard localSlot != nil, session != nil, let request = try? SessionWire.decodeHistoryRequest(payload) else { return [] }
        guard request.slot != nil || slotOf[origin] == nil else { return [] }
        let asker = HistoryAsker(key: origin, relay: request.slot != nil)
        if let last = historyServed[asker], now - last < .milliseconds(200) { return [] }
        let second = now.components.seconds
        if historyBudget.second != second { historyBudget = (second, 0) }
        guard historyBudget.used < Self.historyAnswersPerSecond else { return [] }
        if historyServed.count >= 256 { historyServed = historyServed.filter { now - $0.value < .seconds(1) } }
        guard historyServed.count < 256 else { return [] }
        let answer: [UInt8]?
        if let slot = request.slot {
            answer = session!.relayedInputs(of: slot, from: request.tick)?.encode()
        } else {
            answer = session!.catchUpFrame(from: request.tick)
        }
        guard let answer else { return [] }
        historyBudget.used += 1
        historyServed[asker] = now
        historyAnswers += 1
        return [.send(answer, to: origin)]
    }

    /// A peer whose next tick has not moved for 500 ms while it lacks inputs of a dropped slot
    /// before that slot's drop tick (it lost the slot's last frames, and the slot is gone) asks
    /// one player for them, another player each time (at most every 500 ms).
    mutating func askForDroppedInputs(now: Duration, stalled: Duration) -> [SessionAction] {
        guard running, session?.halted == nil, stalled >= .milliseconds(500) else { return [] }
        if let asked = relayAskedAt, now - asked < .milliseconds(500) { return [] }
        guard let missing = session?.missingDroppedInputs() ?? session?.disputedDroppedInputs(rotation: relayAsks), let s = session else { return [] }
        let players = s.activeSlots.filter { $0 != localSlot && $0 != missing.slot }
        guard !players.isEmpty else { return [] }
        let player = players[relayAsks % players.count]
        relayAsks += 1
        relayAskedAt = now
        relayAsked[player] = now
        historyRequests += 1
        let request = SessionWire.encodeHistoryRequest(fromTick: missing.from, slot: missing.slot)
        return [.send(request, to: PeerKey(bytes: s.keys.key(of: player)))]
    }

    /// Relayed inputs of a dropped slot from a player we asked within the last 2 s.
    mutating func receiveRelayedInputs(_ payload: [UInt8], from origin: PeerKey, now: Duration) -> [SessionAction] {
        guard running, let sender = slotOf[origin], let asked = relayAsked[sender], now - asked < .seconds(2), let players = session?.players,
            let relay = try? RelayedInputs.decode(payload, players: players, as: Input.self)
        else { return [] }
        let readyBefore = session!.hasReadyTick()
        if session!.receiveRelayed(relay, from: sender) {
            relayAsked[sender] = nil
            relayedInputsTaken += 1
        }
        events += session!.takeEvents()
        if !readyBefore, session!.hasReadyTick() { frameReadiedTick = true }
        return []
    }
}

/// Who asked a player for history, and whether for a dropped slot's inputs (paced apart from
/// catch-up frames, ``SessionEndpoint/answerHistory(_:from:now:)``).
struct HistoryAsker: Hashable {
    var key: PeerKey
    var relay: Bool
}
