import MeshstepWire

/// A dropped slot's inputs before its drop tick (or before the absence a readmission ended),
/// relayed by a player to a peer that lacks them
/// (docs/PROTOCOL.md C.6, "relayed inputs"): the dropped player itself is gone, and a spectator
/// or a newcomer that lost its last frames could never apply those rows otherwise. The relay
/// carries the relaying player's chain value of the slot at the last of them, which the receiver
/// recomputes from its own chain over the relayed inputs (a check of the message, not of the
/// player: a liar computes it over its own lie). What keeps a lie out is agreement: a row is
/// applied only when every player's report matches it, so a lying relay can hold a row back,
/// until another player's relay replaces it, but never get it applied.
///
/// Wire: `u8 type=14 | u8 slot | u32 first tick | u8 count (1 … 64) | count × (varint length
/// (≤ 1024) | input bytes) | 16-byte chain value of the slot at first tick + count − 1`.
package struct RelayedInputs: Sendable, Equatable {
    /// First byte of the message (a session payload type, beside the frame's 7).
    package static let type: UInt8 = 14
    /// Inputs per message at most.
    package static let maxInputs = 64

    package var slot: Int
    package var firstTick: Int
    package var inputs: [InputBytes]
    /// The relaying player's chain value of ``slot`` at ``lastTick``.
    package var chain: ChainDigest

    package var lastTick: Int { firstTick + inputs.count - 1 }

    package func encode() -> [UInt8] {
        var w = ByteWriter(capacity: 28 + inputs.count * 8)
        w.u8(Self.type)
        w.u8(UInt8(slot))
        w.u32(UInt32(clamping: firstTick))
        w.u8(UInt8(inputs.count))
        for input in inputs {
            w.varint(UInt64(input.count))
            input.write(into: &w)
        }
        chain.write(into: &w)
        return w.bytes
    }

    /// Decodes a relay; throws on a wrong type, a slot outside `players`, a count outside
    /// 1 … 64, an input its type does not decode, or missing or trailing bytes.
    package static func decode<Input: LockstepInput>(_ bytes: [UInt8], players: Int, as input: Input.Type) throws(WireError) -> RelayedInputs {
        var r = ByteReader(bytes)
        guard try r.u8() == type else { throw .invalidValue(field: "relayedInputs.type") }
        let slot = Int(try r.u8())
        guard slot < players else { throw .invalidValue(field: "relayedInputs.slot") }
        let first = Int(try r.u32())
        let count = Int(try r.u8())
        guard count >= 1, count <= maxInputs else { throw .invalidValue(field: "relayedInputs.count") }
        var inputs: [InputBytes] = []
        for _ in 0..<count {
            let length = try r.count(field: "relayedInputs.input", limit: 1024)
            inputs.append(try InputBytes.read(&r, length: length, as: input))
        }
        let chain = try ChainDigest.read(from: &r)
        try r.expectEnd()
        return RelayedInputs(slot: slot, firstTick: first, inputs: inputs, chain: chain)
    }
}

extension LockstepSession {
    /// The tick from which `slot` was dropped, when `tick` lies before it: its drop tick, or the
    /// start of the absence a readmission ended (a player that came back resumed from a
    /// checkpoint after it, and holds none of its inputs before). Nil when the slot plays at
    /// `tick` and can send its inputs itself.
    func droppedAfter(_ slot: Int, _ tick: Int) -> Int? {
        if let d = dropTick[slot], tick < d { return d }
        // Oldest first: the first absence of the slot that starts after `tick`.
        for e in earlierAbsences where e.slot == slot && tick < e.range.lowerBound { return e.range.lowerBound }
        if let a = absent[slot], tick < a.lowerBound { return a.lowerBound }
        return nil
    }

    /// A slot, dropped since, whose inputs before its drop we lack and still need (a row we have
    /// not applied holds them), and the first tick we lack; nil when none.
    package func missingDroppedInputs() -> (slot: Int, from: Int)? {
        for s in 0..<players where s != localSlot {
            let held = heldThrough(s)
            guard let d = droppedAfter(s, held + 1) else { continue }
            if held < d - 1 { return (s, held + 1) }
        }
        return nil
    }

    /// For a spectator, or a player before its return tick (a newcomer or a returning player),
    /// whose row at its next tick disagrees with the reports of every player that applied it
    /// while a slot dropped since (or absent since) has inputs in it: that slot and our next
    /// tick. The `rotation`th request asks about one slot once per reporter before the next
    /// slot, so that no pairing of slot and player is skipped for good. A liar that left can have
    /// sent us one history and the players another (unsigned, over their links); the players
    /// applied theirs without us, and nobody else will tell us.
    package func disputedDroppedInputs(rotation: Int) -> (slot: Int, from: Int)? {
        guard localSlot < 0 || nextTick < returnTick else { return nil }
        var reporters = 0
        // A slot that returns after the row had no say on it (``agreedThrough``).
        for s in 0..<players where s != localSlot && dropTick[s] == nil && !silentAt(s, nextTick) {
            guard let m = mismatchSince[s], m.tick >= nextTick else { return nil }
            reporters += 1
        }
        guard reporters > 0 else { return nil }
        let slots = (0..<players).filter { s in s != localSlot && (droppedAfter(s, nextTick).map { $0 > nextTick } ?? false) }
        guard !slots.isEmpty else { return nil }
        return (slots[rotation / reporters % slots.count], nextTick)
    }

    /// Our inputs of dropped `slot` from `tick` up to its drop tick (at most 64, and none past
    /// the first one we do not hold), with our chain value of the slot at the last of them; nil
    /// if we are no player, the slot is not dropped, or we no longer (or do not yet) hold them.
    package func relayedInputs(of slot: Int, from tick: Int) -> RelayedInputs? {
        guard localSlot >= 0, halted == nil, slot != localSlot, tick >= 0, let d = droppedAfter(slot, tick) else { return nil }
        let first = max(tick, base)
        let end = min(d - 1, first + RelayedInputs.maxInputs - 1, chains[slot].head)
        guard first <= end else { return nil }
        var inputs: [InputBytes] = []
        inputs.reserveCapacity(end - first + 1)
        // Up to the first tick we hold no input at: an absence of the slot that every player
        // applied is no longer among those we keep (``earlierAbsences``), and the asker, which
        // has not applied it, knows it and asks again after it.
        for t in first...end {
            guard let input = input(slot: slot, tick: t) else { break }
            inputs.append(input)
        }
        guard !inputs.isEmpty, let chain = chains[slot].value(at: first + inputs.count - 1) else { return nil }
        return RelayedInputs(slot: slot, firstTick: first, inputs: inputs, chain: chain)
    }

    /// Takes a dropped slot's inputs that player `sender` relayed, if our chain of the slot over
    /// them ends where the relay says. Inputs we hold from the slot itself must be among them
    /// unchanged, unless our rows there were applied without us and every player that applied
    /// them reported otherwise (``disputedDroppedInputs(rotation:)``); inputs an earlier relay gave us are
    /// replaced (the earlier relay may have lied: no row with them was applied). Returns whether
    /// they were taken.
    @discardableResult
    package mutating func receiveRelayed(_ r: RelayedInputs, from sender: Int) -> Bool {
        let s = r.slot
        guard halted == nil, sender >= 0, sender < players, sender != s, sender != localSlot, dropTick[sender] == nil,
            let d = droppedAfter(s, r.firstTick), r.firstTick >= nextTick, r.lastTick < d, let before = chains[s].value(at: r.firstTick - 1)
        else { return false }
        let relayedFrom = min(relayFilledFrom[s] ?? Int.max, disputedDroppedInputs(rotation: 0) != nil ? nextTick : Int.max)
        var chain = before
        var replaced: Int?
        for (i, input) in r.inputs.enumerated() {
            let t = r.firstTick + i
            if let ours = self.input(slot: s, tick: t), ours != input {
                guard t >= relayedFrom else { return false }
                replaced = replaced ?? t
            }
            chain = InputChain.next(chain, input)
        }
        guard chain == r.chain else { return false }
        // Rows from there stood on the replaced inputs.
        if let t = replaced { rewind(s, from: t) }
        var first: Int?
        for (i, input) in r.inputs.enumerated() {
            let t = r.firstTick + i
            let held = self.input(slot: s, tick: t) != nil
            if store(input, slot: s, tick: t, replacing: t >= relayedFrom) == .stored, !held { first = first ?? t }
        }
        if let f = first { relayFilledFrom[s] = min(relayedFrom, f) }
        advanceChain(s)
        checkReports()
        return true
    }
}
