import MeshstepWire

/// One lockstep frame as it travels inside a mesh message (docs/PROTOCOL.md, Appendix C).
///
/// `u8 type=7 | u8 slot | u32 session digest | frameSeq | epoch | nextTick | acks | firstTick |
/// inputs | controls | votes | endorsement | certificates | checksums | u8 flags | report? |
/// statement? | dispute? | veto? | abandonment?`, integers as LEB128 varints unless sized.
struct LockstepFrame<Input: LockstepInput>: Sendable {
    static var type: UInt8 { 7 }
    static var maxInputs: Int { 64 }

    var slot: Int
    var digest: UInt32
    var frameSeq: Int
    var epoch: Int
    /// The sender's next tick to apply (for time sync and frames ahead/behind).
    var nextTick: Int
    /// `acks[s]`: the newest tick through which the sender holds every input of slot `s` (-1: none).
    var acks: [Int]
    var firstTick: Int
    var inputs: [Input]
    /// Input-delay changes attached to the sender's own inputs: `(tick, delay)`.
    var controls: [(tick: Int, delay: Int)]
    /// The sender's pending drop proposals: `(slot, held)`, held = newest tick of that slot it holds.
    var votes: [(slot: Int, held: Int)]
    /// The roster change the sender signed for the next epoch, with its signature.
    var endorsement: (change: RosterChange, signature: [UInt8])?
    /// Certificates the sender adopted (echoed so every peer and spectator converges).
    var certificates: [RosterCertificate]
    var checksums: [(tick: Int, checksum: UInt64)]
    /// The newest tick whose every input the sender holds, and its row digest (``InputChain``).
    var report: (tick: Int, digest: ChainDigest)?
    /// The sender's signature over its own chain at the frame's newest input.
    var statement: [UInt8]?
    var dispute: Dispute<Input>?
    /// The sender's veto of a round of the next epoch (`epoch + 1`).
    var veto: (round: Int, signature: [UInt8])?
    /// A quorum's vetoes of a round of the next epoch, echoed so that every peer moves on.
    var abandonment: RoundAbandonment?

    func encode() -> [UInt8] {
        var w = ByteWriter(capacity: 48 + acks.count * 2 + inputs.count * 4)
        w.u8(Self.type)
        w.u8(UInt8(slot))
        w.u32(digest)
        w.varint(UInt64(frameSeq))
        w.varint(UInt64(epoch))
        w.varint(UInt64(nextTick))
        w.varint(UInt64(acks.count))
        for a in acks { w.varint(UInt64(max(0, a + 1))) }
        w.varint(UInt64(firstTick))
        w.varint(UInt64(inputs.count))
        for input in inputs {
            var iw = ByteWriter(capacity: 8)
            input.encode(into: &iw)
            w.lengthPrefixed(iw.bytes)
        }
        w.varint(UInt64(controls.count))
        for c in controls { w.varint(UInt64(c.tick)); w.u8(UInt8(c.delay)) }
        w.varint(UInt64(votes.count))
        for v in votes { w.u8(UInt8(v.slot)); w.varint(UInt64(max(0, v.held + 1))) }
        if let e = endorsement {
            w.u8(1); e.change.encode(into: &w); w.raw(e.signature)
        } else {
            w.u8(0)
        }
        w.varint(UInt64(certificates.count))
        for c in certificates { c.encode(into: &w) }
        w.varint(UInt64(checksums.count))
        for c in checksums { w.varint(UInt64(c.tick)); w.u64(c.checksum) }
        w.u8(
            (report != nil ? 1 : 0) | (statement != nil ? 2 : 0) | (dispute != nil ? 4 : 0)
                | (veto != nil ? 8 : 0) | (abandonment != nil ? 16 : 0))
        if let report { w.varint(UInt64(report.tick + 1)); report.digest.write(into: &w) }
        if let statement { w.raw(statement) }
        dispute?.encode(into: &w)
        if let veto { w.varint(UInt64(veto.round)); w.raw(veto.signature) }
        abandonment?.encode(into: &w)
        return w.bytes
    }

    /// Total decoding: any malformed byte throws; nothing traps.
    static func decode(_ payload: [UInt8], players: Int) throws(WireError) -> Self {
        var r = ByteReader(payload)
        let maxTick = Int(Int32.max)
        guard try r.u8() == type else { throw .invalidValue(field: "lockstep.type") }
        let slot = Int(try r.u8())
        guard slot < players else { throw .invalidValue(field: "lockstep.slot") }
        let digest = try r.u32()
        let frameSeq = try r.count(field: "lockstep.frameSeq", limit: maxTick)
        let epoch = try r.count(field: "lockstep.epoch", limit: 255)
        let nextTick = try r.count(field: "lockstep.nextTick", limit: maxTick)
        let ackCount = try r.count(field: "lockstep.acks", limit: 255)
        guard ackCount == players else { throw .invalidValue(field: "lockstep.acks") }
        var acks: [Int] = []
        acks.reserveCapacity(ackCount)
        for _ in 0..<ackCount { acks.append(try r.count(field: "lockstep.ack", limit: maxTick) - 1) }
        let first = try r.count(field: "lockstep.firstTick", limit: maxTick)
        let n = try r.count(field: "lockstep.inputs", limit: maxInputs)
        var inputs: [Input] = []
        inputs.reserveCapacity(n)
        for _ in 0..<n {
            let body = try r.lengthPrefixed(field: "lockstep.input", limit: 1024)
            var ir = ByteReader(body)
            inputs.append(try Input.decode(from: &ir))
            try ir.expectEnd()
        }
        var controls: [(Int, Int)] = []
        for _ in 0..<(try r.count(field: "lockstep.controls", limit: maxInputs)) {
            let tick = try r.count(field: "lockstep.controlTick", limit: maxTick)
            let delay = Int(try r.u8())
            guard delay <= 32 else { throw .invalidValue(field: "lockstep.controlDelay") }
            controls.append((tick, delay))
        }
        var votes: [(Int, Int)] = []
        for _ in 0..<(try r.count(field: "lockstep.votes", limit: 64)) {
            let s = Int(try r.u8())
            guard s < players else { throw .invalidValue(field: "lockstep.voteSlot") }
            votes.append((s, try r.count(field: "lockstep.voteHeld", limit: maxTick) - 1))
        }
        var endorsement: (change: RosterChange, signature: [UInt8])?
        switch try r.u8() {
        case 0: break
        case 1:
            let change = try RosterChange.decode(from: &r, players: players)
            endorsement = (change, try r.raw(64))
        default: throw .invalidValue(field: "lockstep.endorsement")
        }
        var certificates: [RosterCertificate] = []
        for _ in 0..<(try r.count(field: "lockstep.certificates", limit: 2)) {
            certificates.append(try RosterCertificate.decode(from: &r, players: players))
        }
        var checks: [(Int, UInt64)] = []
        for _ in 0..<(try r.count(field: "lockstep.checksums", limit: 8)) {
            checks.append((try r.count(field: "lockstep.checksumTick", limit: maxTick), try r.u64()))
        }
        let flags = try r.u8()
        guard flags & ~31 == 0 else { throw .invalidValue(field: "lockstep.flags") }
        var report: (Int, ChainDigest)?
        if flags & 1 != 0 { report = (try r.count(field: "lockstep.reportTick", limit: maxTick) - 1, try ChainDigest.read(from: &r)) }
        guard flags & 2 == 0 || n > 0 else { throw .invalidValue(field: "lockstep.statement") }
        let statement = flags & 2 != 0 ? try r.raw(64) : nil
        let dispute = flags & 4 != 0 ? try Dispute<Input>.decode(from: &r, players: players) : nil
        var veto: (round: Int, signature: [UInt8])?
        if flags & 8 != 0 { veto = (try r.count(field: "lockstep.vetoRound", limit: RosterChange.maxRound), try r.raw(64)) }
        let abandonment = flags & 16 != 0 ? try RoundAbandonment.decode(from: &r, players: players) : nil
        try r.expectEnd()
        return LockstepFrame(
            slot: slot, digest: digest, frameSeq: frameSeq, epoch: epoch, nextTick: nextTick, acks: acks,
            firstTick: first, inputs: inputs, controls: controls, votes: votes, endorsement: endorsement,
            certificates: certificates, checksums: checks, report: report, statement: statement, dispute: dispute,
            veto: veto, abandonment: abandonment)
    }
}
