import MeshstepWire

/// The lies a player who knows the mesh password can tell a session. ``LockstepAdversary``
/// mounts them; `meshstep bots --attacker KIND` runs one against honest bots, and a game's own
/// tests can do the same.
public enum SessionAttack: String, Sendable, CaseIterable, Codable {
    /// Frames carry a certificate dropping an honest slot from a tick already applied, signed by
    /// the attacker alone (the other signatures are junk).
    case forgedDecision = "forged-decision"
    /// Frames vote to drop every other slot.
    case lyingVotes = "lying-votes"
    /// Frames acknowledge everyone's inputs through tick 2147483646.
    case ackOverflow = "ack-overflow"
    /// Frames carry the attacker's signed change dropping every other slot, and a certificate of
    /// it with only that signature.
    case dropAll = "drop-all"
    /// Every frame is sent a second time claiming another player's slot.
    case slotClaim = "slot-claim"
    /// Different inputs for the same ticks to different players (one half gets the real inputs,
    /// the other altered ones).
    case equivocate
    /// As ``equivocate``, but the altered inputs go without a statement or a dispute: the liar
    /// signs only the history it tells the first half, so nothing it sent the second half can be
    /// shown to anyone else. The second half takes the signed history the first half relays in
    /// its disputes in place of its own copy; nobody is dropped, and the match slows down.
    case equivocateUnsigned = "equivocate-unsigned"
    /// Every frame reports a wrong digest of the sender's newest row: it holds everyone back by
    /// never confirming a row (and sends no dispute, since its own rows agree with everyone's).
    case lyingDigests = "lying-digests"
    /// As ``lyingDigests``, and every frame carries an empty dispute: it vouches for no slot, as
    /// an honest player does for a slot whose history it holds without that slot's statement.
    case lyingDisputes = "lying-disputes"
}

/// A lying player's frame rewriter: takes each payload the attacker's honest session endpoint
/// wants to flood and returns what the attacker sends instead, and to whom.
public struct LockstepAdversary<Input: LockstepInput>: Sendable {
    /// The lie this adversary tells.
    public let attack: SessionAttack
    /// The attacker's own slot (the one its frames are signed for).
    public let slot: Int
    let keys: SessionKeys
    var lastEpoch = 0
    /// The chain of the altered inputs the equivocator signs for its second audience.
    var alteredChain: SlotChain

    /// A liar playing `slot` with the given attack.
    /// - Parameters:
    ///   - attack: the lie it tells.
    ///   - slot: the slot it plays (its key signs the roster like any player's).
    ///   - keys: the session's keys with the attacker's own signer.
    public init(attack: SessionAttack, slot: Int, keys: SessionKeys) {
        self.attack = attack
        self.slot = slot
        self.keys = keys
        alteredChain = SlotChain(before: InputChain.genesis(session: keys.sessionHash, slot: slot), from: 0)
        // The first ticks are neutral everywhere (nobody sends them).
        for _ in 0..<keys.descriptor.inputDelay { alteredChain.append(InputChain.next(alteredChain.last, InputBytes(encoding: Input.neutral))) }
    }

    /// What to send in place of `payload`: each entry goes to the listed slots, or floods to
    /// everyone when `slots` is nil.
    public mutating func tamper(_ payload: [UInt8]) -> [(payload: [UInt8], slots: [Int]?)] {
        let players = keys.descriptor.players
        guard payload.first == LockstepFrame.type, var f = try? LockstepFrame.decode(payload, players: players, as: Input.self) else {
            return [(payload, nil)]
        }
        let others = (0..<players).filter { $0 != slot }
        switch attack {
        case .forgedDecision:
            let victim = others.first!
            let change = RosterChange(epoch: f.epoch + 1, drops: [RosterChange.Drop(slot: victim, tick: max(0, f.nextTick - 10))])
            let mine = keys.sign(change.signedBytes(session: keys.sessionHash)) ?? []
            let junk = [UInt8](repeating: 0x5A, count: 64)
            let signers = [slot] + others.filter { $0 != victim }
            f.certificates = [RosterCertificate(change: change, signatures: signers.map { RosterSignature(slot: $0, signature: $0 == slot ? mine : junk) })]
            return [(f.encode(), nil)]
        case .lyingVotes:
            f.votes = others.map { (slot: $0, held: f.acks[$0]) }
            return [(f.encode(), nil)]
        case .ackOverflow:
            f.acks = Array(repeating: Int(Int32.max) - 1, count: players)
            return [(f.encode(), nil)]
        case .dropAll:
            let change = RosterChange(epoch: f.epoch + 1, drops: others.map { RosterChange.Drop(slot: $0, tick: f.nextTick + 1) })
            let mine = keys.sign(change.signedBytes(session: keys.sessionHash)) ?? []
            f.endorsement = (change, mine)
            f.certificates = [RosterCertificate(change: change, signatures: [RosterSignature(slot: slot, signature: mine)])]
            return [(f.encode(), nil)]
        case .slotClaim:
            var claimed = f
            claimed.slot = others.first!
            return [(payload, nil), (claimed.encode(), nil)]
        case .lyingDigests, .lyingDisputes:
            if let r = f.report { f.report = (r.tick, ChainDigest(high: r.digest.high ^ 1, low: r.digest.low)) }
            if attack == .lyingDisputes { f.dispute = Dispute(base: f.nextTick - 1, entries: []) }
            return [(f.encode(), nil)]
        case .equivocate, .equivocateUnsigned:
            // The lower half of the others gets the real inputs, the upper half altered ones.
            // With `equivocate` both versions carry a valid statement: the attacker signs each
            // history it tells. With `equivocateUnsigned` the altered one carries none, nor the
            // dispute (whose history of the attacker is the real one, with its statement).
            let half = others.count / 2
            var altered = f
            let fixed = keys.descriptor.inputDelay
            altered.inputs = f.inputs.enumerated().map { f.firstTick + $0.offset < fixed ? $0.element : Self.alter($0.element) }
            for (i, input) in altered.inputs.enumerated() where f.firstTick + i == alteredChain.head + 1 {
                alteredChain.append(InputChain.next(alteredChain.last, input))
            }
            let last = f.firstTick + f.inputs.count - 1
            if f.statement != nil, !altered.inputs.isEmpty, let chain = alteredChain.value(at: last) {
                altered.statement = keys.sign(InputChain.statementBytes(session: keys.sessionHash, slot: slot, tick: last, chain: chain))
            }
            if alteredChain.values.count > 1024 { alteredChain.trim(before: alteredChain.head - 256) }
            if attack == .equivocateUnsigned {
                altered.statement = nil
                altered.dispute = nil
            }
            return [(payload, Array(others.prefix(half))), (altered.encode(), Array(others.dropFirst(half)))]
        }
    }

    /// A different valid input: the encoding with its lowest bit flipped, else neutral.
    static func alter(_ input: InputBytes) -> InputBytes {
        let value = input.decode(as: Input.self)
        var bytes = input.bytes
        if !bytes.isEmpty { bytes[bytes.count - 1] ^= 1 }
        var r = ByteReader(bytes)
        if let changed = try? Input.decode(from: &r), changed != value { return InputBytes(encoding: changed) }
        return value == .neutral ? input : InputBytes(encoding: Input.neutral)
    }
}
