import MeshstepWire

/// Everything a peer needs to resume a running session at one tick: the session's state before
/// that tick (roster, input delay, every slot's input chain) and the game's state. Every honest
/// player that applied the same ticks captures the same checkpoint, byte for byte, so a newcomer
/// can take it from several players at once and check it against what they all vouch for
/// (docs/LOCKSTEP.md, "State transfer").
///
/// Encoding (docs/PROTOCOL.md, Appendix C): `"meshstep-checkpoint-v3" | session hash (32) |
/// varint tick | varint epoch | u8 inputDelay | u8 players | players x (u8 kind | kind fields |
/// 16-byte chain) | varint bindings | bindings x (u8 slot | 32-byte key) | varint readmissions |
/// readmissions x admit (as in a roster change) | varint newcomers | newcomers x u8 slot | u64
/// game checksum | varint length | game bytes`, where kind 0 is an active slot, 1 a dropped one (`varint drop tick`) and 2 one absent
/// until its return (`varint from | varint until`); bindings are the open slots filled since the
/// start, ascending, with the key playing each.
public struct SessionCheckpoint: Sendable, Equatable {
    /// What a slot is at the checkpoint's tick.
    public enum SlotState: Sendable, Equatable {
        /// In the roster.
        case active
        /// Dropped from this tick on.
        case dropped(Int)
        /// Readmitted: no input in `from..<until`, inputs again from `until` on.
        case absent(from: Int, until: Int)
    }

    /// The first tick still to apply: the state is the one after tick `tick - 1`.
    public var tick: Int
    /// The roster epoch (certified changes adopted).
    public var epoch: Int
    /// The input delay in force at `tick`.
    public var inputDelay: Int
    /// Every slot's place in the roster.
    public var slots: [SlotState]
    /// Every slot's input chain through `tick - 1` (a dropped slot's: through its last input).
    var chains: [ChainDigest]
    /// An open slot filled since the start, and the raw key playing it.
    public struct Binding: Sendable, Equatable {
        /// The open slot.
        public var slot: Int
        /// The raw Ed25519 key that plays it.
        public var key: [UInt8]
    }
    /// Open slots filled since the start, ascending, with the key playing each now.
    public var bindings: [Binding] = []
    /// Readmissions adopted so far (for reports), oldest first.
    public var readmissions: [RosterChange.Admit]
    /// The slots the certificate of ``epoch`` admitted, ascending: they count towards no quorum of
    /// the next epoch.
    public var newcomers: [Int] = []
    /// The game's checksum after tick `tick - 1` (the receiver checks the restored game with it).
    public var gameChecksum: UInt64 = 0
    /// The game's ``LockstepGame/snapshot()`` after tick `tick - 1`.
    public var game: [UInt8] = []

    /// The largest encoded checkpoint a peer sends or accepts (768 chunks of 768 bytes).
    public static let maxBytes = 576 * 1024

    /// The encoding given in the type's documentation, for the session `sessionHash`.
    public func encode(sessionHash: [UInt8]) -> [UInt8] {
        var w = ByteWriter(capacity: 96 + slots.count * 24 + game.count)
        w.raw(Array("meshstep-checkpoint-v3".utf8))
        w.raw(sessionHash)
        w.varint(UInt64(tick))
        w.varint(UInt64(epoch))
        w.u8(UInt8(clamping: inputDelay))
        w.u8(UInt8(slots.count))
        for (s, state) in slots.enumerated() {
            switch state {
            case .active: w.u8(0)
            case let .dropped(d): w.u8(1); w.varint(UInt64(d))
            case let .absent(from, until): w.u8(2); w.varint(UInt64(from)); w.varint(UInt64(until))
            }
            chains[s].write(into: &w)
        }
        w.varint(UInt64(bindings.count))
        for b in bindings { w.u8(UInt8(b.slot)); w.raw(b.key) }
        w.varint(UInt64(readmissions.count))
        for a in readmissions { a.encode(into: &w) }
        w.varint(UInt64(newcomers.count))
        for s in newcomers { w.u8(UInt8(s)) }
        w.u64(gameChecksum)
        w.varint(UInt64(game.count))
        w.raw(game)
        return w.bytes
    }

    /// Total decoding of ``encode(sessionHash:)`` for a session of `players` slots named by
    /// `sessionHash`: any malformed byte, or a checkpoint of another session, throws.
    public static func decode(_ bytes: [UInt8], sessionHash: [UInt8], players: Int) throws(WireError) -> SessionCheckpoint {
        guard bytes.count <= maxBytes else { throw .invalidValue(field: "checkpoint.size") }
        var r = ByteReader(bytes)
        guard try r.raw(22) == Array("meshstep-checkpoint-v3".utf8) else { throw .invalidValue(field: "checkpoint.magic") }
        guard try r.raw(32) == sessionHash else { throw .invalidValue(field: "checkpoint.session") }
        let limit = Int(Int32.max)
        let tick = try r.count(field: "checkpoint.tick", limit: limit)
        let epoch = try r.count(field: "checkpoint.epoch", limit: 255)
        let delay = Int(try r.u8())
        guard delay <= 32 else { throw .invalidValue(field: "checkpoint.inputDelay") }
        guard Int(try r.u8()) == players else { throw .invalidValue(field: "checkpoint.players") }
        var slots: [SlotState] = []
        var chains: [ChainDigest] = []
        for _ in 0..<players {
            switch try r.u8() {
            case 0: slots.append(.active)
            case 1: slots.append(.dropped(try r.count(field: "checkpoint.dropTick", limit: limit)))
            case 2:
                let from = try r.count(field: "checkpoint.absentFrom", limit: limit)
                let until = try r.count(field: "checkpoint.absentUntil", limit: limit)
                guard from < until, until > tick else { throw .invalidValue(field: "checkpoint.absent") }
                slots.append(.absent(from: from, until: until))
            default: throw .invalidValue(field: "checkpoint.slotKind")
            }
            chains.append(try ChainDigest.read(from: &r))
        }
        guard slots.contains(where: { if case .dropped = $0 { false } else { true } }) else { throw .invalidValue(field: "checkpoint.roster") }
        var bindings: [Binding] = []
        for _ in 0..<(try r.count(field: "checkpoint.bindings", limit: players)) {
            let slot = Int(try r.u8())
            guard slot < players, bindings.last.map({ $0.slot < slot }) ?? true else { throw .invalidValue(field: "checkpoint.bindingSlot") }
            bindings.append(Binding(slot: slot, key: try r.raw(32)))
        }
        var readmissions: [RosterChange.Admit] = []
        for _ in 0..<(try r.count(field: "checkpoint.readmissions", limit: 64)) {
            readmissions.append(try RosterChange.Admit.decode(from: &r, players: players, field: "checkpoint.readmission"))
        }
        var newcomers: [Int] = []
        for _ in 0..<(try r.count(field: "checkpoint.newcomers", limit: players)) {
            let slot = Int(try r.u8())
            guard slot < players, newcomers.last.map({ $0 < slot }) ?? true else { throw .invalidValue(field: "checkpoint.newcomer") }
            if case .dropped = slots[slot] { throw .invalidValue(field: "checkpoint.newcomer") }
            newcomers.append(slot)
        }
        let checksum = try r.u64()
        let game = try r.lengthPrefixed(field: "checkpoint.game", limit: maxBytes)
        try r.expectEnd()
        return SessionCheckpoint(
            tick: tick, epoch: epoch, inputDelay: delay, slots: slots, chains: chains, bindings: bindings, readmissions: readmissions,
            newcomers: newcomers, gameChecksum: checksum, game: game)
    }
}

// MARK: - Rejoin

extension LockstepSession {
    /// Notes that the key of dropped `slot` asked to come back (its signed hello arrived): the
    /// coordinator proposes to readmit it, and every player endorses only a readmission it saw
    /// asked for. Requests for slots in the roster are ignored.
    package mutating func noteReturnRequest(slot: Int, now: Duration) {
        advanceClock(now)
        guard (0..<players).contains(slot), dropTick[slot] != nil, slot != localSlot, halted == nil else { return }
        returnRequests[slot] = now
    }

    /// Notes that a newcomer's `key` asked to fill open `slot` (its request came through the mesh,
    /// which checked it was signed by `key`): the coordinator proposes to admit one such key, and
    /// every player endorses only a key it saw asking. Requests for a slot that is not open, not
    /// vacant, or for a key that already plays a slot are ignored; at most 4 keys per slot are
    /// kept (the oldest requests expire first). The key that filled the slot before it was
    /// dropped asks to come back (``noteReturnRequest(slot:now:)``).
    package mutating func noteSlotRequest(slot: Int, key: [UInt8], now: Duration) {
        advanceClock(now)
        guard (0..<players).contains(slot), keys.descriptor.isOpen(slot), dropTick[slot] != nil, halted == nil, key.count == 32,
            key != SessionDescriptor.openSlotKey
        else { return }
        // The key that filled the slot before it was dropped asks to come back.
        if keys.key(of: slot) == key { return noteReturnRequest(slot: slot, now: now) }
        guard keys.slot(of: key) == nil else { return }
        var list = (slotRequests[slot] ?? [:]).filter { now - $0.value.last < Self.returnRequestLifetime }
        guard list[key] != nil || list.count < 4 else { return }
        list[key] = (list[key]?.first ?? now, now)
        slotRequests[slot] = list
    }

    /// Schedules a checkpoint for a newcomer (a late spectator): at the first multiple of
    /// `spacing` past our input delay ahead, so that every frame sent from now on carries the
    /// inputs it needs after it. Every player that schedules one for that tick captures the same
    /// bytes. Returns the tick; one already scheduled ahead is reused.
    @discardableResult
    package mutating func scheduleCheckpoint(spacing: Int) -> Int {
        let spacing = max(1, spacing)
        if let t = checkpointTicks.first(where: { $0 > nextTick + inputDelay }) { return t }
        let t = ((nextTick + inputDelay) / spacing + 1) * spacing
        checkpointTicks.append(t)
        return t
    }

    /// Captures the checkpoint before ``nextTick`` at once, for a newcomer that asked while the
    /// session stands still for want of our own input (the match is over, or the game paused):
    /// a tick scheduled ahead may never come. The game hands its state after the tick it
    /// applied last.
    package mutating func captureCheckpointNow() {
        guard halted == nil else { return }
        checkpointTicks.append(nextTick)
        captureDueCheckpoint()
    }

    /// A returning slot's newcomer asked us for its checkpoint (a chunk or join request from its
    /// key): it is alive and fetching. While we wait at its return tick it gets ``startGrace``
    /// on top of the timeouts as long as such requests keep coming (at most that once: a liar
    /// that fetches for ever holds the match those 3 s, no more). A player that stood still
    /// (a crash before) plays up to the return tick in a fraction of a second once it goes
    /// on, and a fetch at heavy loss takes seconds (sweep seed 110 run 314: a newcomer resumed
    /// 10 ms after the drop that a lone player certified 1.5 s after reaching its tick). A
    /// newcomer that asks nobody here (cut off, crashed) is dropped as before.
    package mutating func noteFetching(slot: Int, now: Duration) {
        guard returning[slot] != nil, dropTick[slot] == nil else { return }
        fetchSeen[slot] = now
    }

    /// Checkpoints captured since the last call (each before the tick of a certified
    /// readmission), without the game's part: the caller adds the game's state after applying
    /// the tick before.
    /// Inlinable for the same reason as ``takeEvents()``: the endpoint calls it on every poll.
    @inlinable @inline(__always) package mutating func takeCheckpoints() -> [SessionCheckpoint] {
        if capturedCheckpoints.isEmpty { return [] }
        let captured = capturedCheckpoints
        capturedCheckpoints = []
        return captured
    }

    /// Vacant slots that someone asked lately to play: a dropped slot's own key, or a newcomer
    /// for an open slot; ascending.
    mutating func returnCandidates() -> [Int] {
        guard !returnRequests.isEmpty || !slotRequests.isEmpty else { return [] }
        // A player we saw sign two input histories does not come back with the same key.
        returnRequests = returnRequests.filter {
            dropTick[$0.key] != nil && now - $0.value < Self.returnRequestLifetime && !provenEquivocators.contains($0.key)
        }
        slotRequests = slotRequests.compactMapValues { list in
            let fresh = list.filter { now - $0.value.last < Self.returnRequestLifetime }
            return fresh.isEmpty ? nil : fresh
        }.filter { dropTick[$0.key] != nil }
        return Set(returnRequests.keys).union(slotRequests.keys).filter(mayReturnYet).sorted()
    }

    /// Whether the wait before admitting `slot` again is over: none the first time; after that,
    /// a second since we adopted its last drop, doubling with every admission of the slot this
    /// match (at most 32 s). A member voted out for lying that asks to come back at once would
    /// otherwise cost the match a drop and a readmission every few seconds, for good; an honest
    /// player that keeps dropping out is let back ever more slowly. Only the coordinator's
    /// proposals wait: endorsers keep their rules, so nothing here can split them.
    func mayReturnYet(_ slot: Int) -> Bool {
        guard let since = droppedAt[slot] else { return true }
        let before = readmissions.reduce(0) { $0 + ($1.slot == slot ? 1 : 0) }
        return now - since >= Self.returnWait(admittedBefore: before)
    }

    /// The wait before admitting a slot admitted `admittedBefore` times already.
    static func returnWait(admittedBefore: Int) -> Duration {
        admittedBefore == 0 ? .zero : .seconds(1 << min(admittedBefore - 1, 5))
    }

    /// The admission the coordinator proposes for `slot`: the checkpoint a second ahead (time
    /// for the change to be certified everywhere before anyone reaches it), the return half a
    /// second later (time for the newcomer to fetch the checkpoint and catch up while the others
    /// play on), and always past the slot's drop tick. The slot's own key comes first; otherwise
    /// the newcomer whose request this peer heard first.
    func admission(_ slot: Int) -> RosterChange.Admit {
        let rate = configuration.tickRate
        let checkpoint = max(nextTick + rate, dropTick[slot] ?? 0)
        // First come, first served (ties by key): endorsers accept any key they saw asking.
        let key: [UInt8]? =
            returnRequests[slot] != nil
            ? nil
            : slotRequests[slot]?.min { a, b in
                a.value.first != b.value.first ? a.value.first < b.value.first : a.key.lexicographicallyPrecedes(b.key)
            }?.key
        return RosterChange.Admit(
            slot: slot, checkpoint: checkpoint, tick: checkpoint + Self.returnLead(tickRate: rate, inputDelay: inputDelay), key: key)
    }

    /// Ticks between a readmission's checkpoint and its return: half a second, at least the input
    /// delay plus two, and at most 32 (the players' frames then still carry every input the
    /// newcomer needs from the checkpoint on).
    static func returnLead(tickRate: Int, inputDelay: Int) -> Int {
        min(32, max(inputDelay + 2, tickRate / 2))
    }

    /// Whether we sign `a`: the slot is vacant, the key it admits asked for it lately (the slot's
    /// own key, or a newcomer's for an open slot that plays no other slot), and we have not
    /// applied the checkpoint's tick (which lies within ten seconds and past the drop). With
    /// `unasked`, a request we did not see (it never reached us, or expired) does not count
    /// against it.
    func admissible(_ a: RosterChange.Admit, unasked: Bool = false) -> Bool {
        guard let d = dropTick[a.slot], a.slot != localSlot else { return false }
        let asked: Duration?
        if let key = a.key {
            guard keys.bindable(slot: a.slot, key: key) != nil else { return false }
            asked = slotRequests[a.slot]?[key]?.last
        } else {
            // An open slot nobody filled yet has no key of its own to come back.
            guard keys.key(of: a.slot) != SessionDescriptor.openSlotKey else { return false }
            guard !provenEquivocators.contains(a.slot) else { return false }
            asked = returnRequests[a.slot]
        }
        guard unasked || asked.map({ now - $0 < Self.returnRequestLifetime }) == true else { return false }
        let rate = configuration.tickRate
        return a.checkpoint >= max(nextTick, d) && a.checkpoint <= nextTick + 10 * rate
            && a.tick > a.checkpoint && a.tick - a.checkpoint <= 64
    }

    /// Adopts the readmission of `a.slot`: nil for it until `a.tick`, its inputs after, and a
    /// checkpoint captured before `a.checkpoint` for the newcomer.
    mutating func readmit(_ a: RosterChange.Admit) -> [LockstepEvent] {
        guard let d = dropTick[a.slot] else { return [] }
        var events: [LockstepEvent] = []
        if a.slot == localSlot { return [] }  // we were dropped and halted: not ours to follow
        if a.tick < nextTick { events += halt(.rosterChangeBelowApplied(slot: a.slot, tick: a.tick)) }
        let s = a.slot
        if let key = a.key { keys.bind(slot: s, key: key) }
        // A peer still behind the last absence (a spectator) must not wait for inputs the slot
        // never had. Dropped where that absence ended (a newcomer that never showed up by its
        // return tick), the slot is away from its start; one it played after is kept while we
        // have not applied all of it.
        var start = d
        if let last = absent[s] {
            if last.upperBound >= d {
                start = min(last.lowerBound, d)
            } else {
                earlierAbsences.removeAll { $0.range.upperBound <= nextTick }
                if last.upperBound > nextTick {
                    if earlierAbsences.count >= Self.earlierAbsencesKept { earlierAbsences.removeFirst() }
                    earlierAbsences.append((s, last))
                }
            }
        }
        absent[s] = start..<max(d, a.tick)
        dropTick[s] = nil
        returning[s] = a
        returnRequests[s] = nil
        slotRequests[s] = nil
        // A key that filled this slot no longer waits for another.
        if let key = a.key { for t in slotRequests.keys { slotRequests[t]?[key] = nil } }
        // The newcomer holds nothing: our inputs from the checkpoint on go to it again.
        acked[s] = a.checkpoint - 1
        voteAck[s] = acked[s]
        lastHeard[s] = now
        heard[s] = true
        fetchSeen[s] = nil
        notified[s] = false
        traffic[s] = SlotTraffic()
        statements[s] = [:]
        controls[s] = []
        conflictTick[s] = nil
        provenEquivocators.remove(s)
        adoptedFrom.remove(s)
        unsignedConflictSince[s] = nil
        relayFilledFrom[s] = nil
        vouched[s] = []
        disputed[s] = false
        peerVotes[s] = Array(repeating: nil, count: players)
        liveVotesSince[s] = nil
        peerEpoch[s] = 0
        lastDisputeFrom[s] = nil
        // Rows from its return on now hold its inputs: reports about them are void.
        for p in 0..<players { confirmedBy[p] = min(confirmedBy[p], a.tick - 1) }
        rowDigests.removeAll()
        advanceChain(s)
        if a.checkpoint >= nextTick { checkpointTicks.append(a.checkpoint) }
        readmissions.append(a)
        if readmissions.count > 64 { readmissions.removeFirst() }
        events.append(a.key == nil ? .readmitted(slot: s, tick: a.tick) : .joined(slot: s, tick: a.tick))
        return events
    }

    /// Captures the checkpoint due before ``nextTick``, if one is.
    mutating func captureDueCheckpoint() {
        guard !checkpointTicks.isEmpty else { return }
        let t = nextTick
        checkpointTicks.removeAll { $0 < t }
        guard checkpointTicks.contains(t) else { return }
        checkpointTicks.removeAll { $0 == t }
        var slots: [SessionCheckpoint.SlotState] = []
        var values: [ChainDigest] = []
        for s in 0..<players {
            if let d = dropTick[s] {
                slots.append(.dropped(d))
                // A dropped slot's chain ends before its drop tick (its newest value is kept).
                values.append(chains[s].value(at: min(t, d) - 1) ?? chains[s].last)
            } else {
                if let a = absent[s], a.upperBound > t {
                    slots.append(.absent(from: max(a.lowerBound, t), until: a.upperBound))
                } else {
                    slots.append(.active)
                }
                guard let v = chains[s].value(at: t - 1) else { return }  // not held: no checkpoint
                values.append(v)
            }
        }
        let bindings = keys.descriptor.openSlots.compactMap { s in
            keys.key(of: s) == SessionDescriptor.openSlotKey ? nil : SessionCheckpoint.Binding(slot: s, key: keys.key(of: s))
        }
        capturedCheckpoints.append(
            SessionCheckpoint(
                tick: t, epoch: epoch, inputDelay: inputDelay, slots: slots, chains: values, bindings: bindings, readmissions: readmissions,
                newcomers: newcomers))
        if capturedCheckpoints.count > 4 { capturedCheckpoints.removeFirst() }
    }
}
