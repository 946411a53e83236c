import MeshstepWire

/// The bits of the `sections` varint: which optional sections follow the inputs, in this order.
enum FrameSection {
    static let report: UInt64 = 1 << 0
    static let statement: UInt64 = 1 << 1
    static let checksums: UInt64 = 1 << 2
    static let controls: UInt64 = 1 << 3
    static let votes: UInt64 = 1 << 4
    static let endorsement: UInt64 = 1 << 5
    static let certificates: UInt64 = 1 << 6
    static let dispute: UInt64 = 1 << 7
    static let veto: UInt64 = 1 << 8
    static let abandonment: UInt64 = 1 << 9
    static let need: UInt64 = 1 << 10
    /// A flag with no body: the frame is a loss repair sent to some players only
    /// (``LockstepFrame/repair``).
    static let repair: UInt64 = 1 << 11
    static let all: UInt64 = (1 << 12) - 1
}

/// One lockstep frame as it travels inside a mesh message (docs/PROTOCOL.md, Appendix C).
///
/// `u8 type=7 | u8 slot | u32 session digest | epoch | nextTick | frameSeq | acks | firstTick |
/// inputs | sections | report? | statement? | checksums? | controls? | votes? | endorsement? |
/// certificates? | dispute? | veto? | abandonment? | need?` (the `repair` section bit is a flag with no body), integers as LEB128 varints unless sized; the
/// frame counter, the acknowledged ticks (every slot's but the sender's), the first input's tick
/// and the report's tick relative to `nextTick` (zigzag), a run of inputs that repeat the one
/// before them as a single varint.
struct LockstepFrame: Sendable {
    static var type: UInt8 { 7 }
    static var maxInputs: Int { 64 }

    var slot: Int
    var digest: UInt32
    var frameSeq: Int
    var epoch: Int
    /// The sender's next tick to apply (for time sync and frames ahead/behind).
    var nextTick: Int
    /// `acks[s]`: the newest tick through which the sender holds every input of slot `s` (-1: none).
    /// The sender's own entry is not sent: decoded, it is the tick of the frame's last input.
    var acks: [Int]
    var firstTick: Int
    /// The sender's inputs from `firstTick` on, as it encoded them.
    var inputs: [InputBytes]
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
    var dispute: Dispute?
    /// The sender's veto of a round of the next epoch (`epoch + 1`).
    var veto: (round: Int, signature: [UInt8])?
    /// A quorum's vetoes of a round of the next epoch, echoed so that every peer moves on.
    var abandonment: RoundAbandonment?
    /// The input delay the sender measured it needs (the automatic input delay): the lowest
    /// active slot lowers the delay only to what every player needs.
    var need: Int? = nil
    /// A loss repair sent to the players it is for only: it repeats the sender's frame number
    /// (the frame it repeats was the last one numbered), so receivers leave it out of their
    /// frame counts, which measure loss.
    var repair = false

    func encode() -> [UInt8] {
        var w = ByteWriter(capacity: 48 + acks.count * 2 + inputs.count * 4)
        w.u8(Self.type)
        w.u8(UInt8(slot))
        w.u32(digest)
        w.varint(UInt64(epoch))
        w.varint(UInt64(nextTick))
        // About one frame per tick: the counter stays near the next tick.
        w.zigzag(frameSeq - nextTick)
        // One per slot but ours (the roster says how many): no count. Ours is the newest of our
        // inputs, the last of the frame's.
        for (s, a) in acks.enumerated() where s != slot { w.zigzag(max(0, a + 1) - nextTick) }
        w.zigzag(firstTick - nextTick)
        w.varint(UInt64(inputs.count))
        // Most ticks repeat the previous input: a run of k repeats is one varint 2(k - 1) + 1,
        // a new input the varint 2 * length + 2 and its bytes.
        var previous: InputBytes?
        var repeats = 0
        for input in inputs {
            if input == previous {
                repeats += 1
                continue
            }
            if repeats > 0 { w.varint(UInt64(2 * (repeats - 1) + 1)) }
            repeats = 0
            w.varint(UInt64(2 * input.count + 2))
            input.write(into: &w)
            previous = input
        }
        if repeats > 0 { w.varint(UInt64(2 * (repeats - 1) + 1)) }
        // Which optional sections follow (most frames carry only a report and, every few
        // ticks, a statement: one byte).
        var present: UInt64 = 0
        if report != nil { present |= FrameSection.report }
        if statement != nil { present |= FrameSection.statement }
        if !checksums.isEmpty { present |= FrameSection.checksums }
        if !controls.isEmpty { present |= FrameSection.controls }
        if !votes.isEmpty { present |= FrameSection.votes }
        if endorsement != nil { present |= FrameSection.endorsement }
        if !certificates.isEmpty { present |= FrameSection.certificates }
        if dispute != nil { present |= FrameSection.dispute }
        if veto != nil { present |= FrameSection.veto }
        if abandonment != nil { present |= FrameSection.abandonment }
        if need != nil { present |= FrameSection.need }
        if repair { present |= FrameSection.repair }
        w.varint(present)
        if let report { w.zigzag(report.tick + 1 - nextTick); report.digest.writeRow(into: &w) }
        if let statement { w.raw(statement) }
        if !checksums.isEmpty {
            w.varint(UInt64(checksums.count))
            for c in checksums { w.varint(UInt64(c.tick)); w.u64(c.checksum) }
        }
        if !controls.isEmpty {
            w.varint(UInt64(controls.count))
            for c in controls { w.varint(UInt64(c.tick)); w.u8(UInt8(c.delay)) }
        }
        if !votes.isEmpty {
            w.varint(UInt64(votes.count))
            for v in votes { w.u8(UInt8(v.slot)); w.varint(UInt64(max(0, v.held + 1))) }
        }
        if let e = endorsement { e.change.encode(into: &w); w.raw(e.signature) }
        if !certificates.isEmpty {
            w.varint(UInt64(certificates.count))
            for c in certificates { c.encode(into: &w) }
        }
        dispute?.encode(into: &w)
        if let veto { w.varint(UInt64(veto.round)); w.raw(veto.signature) }
        abandonment?.encode(into: &w)
        if let need { w.varint(UInt64(need)) }
        return w.bytes
    }

    /// Total decoding: any malformed byte throws; nothing traps. Each input must be one that
    /// `Input.decode(from:)` reads whole.
    static func decode<Input: LockstepInput>(_ payload: [UInt8], players: Int, as input: Input.Type) throws(WireError) -> Self {
        var storage = FrameStorage()
        return try decode(payload, players: players, as: input, storage: &storage)
    }

    /// ``decode(_:players:as:)`` with the acknowledgements and inputs read into `storage`'s
    /// arrays (give them back with ``FrameStorage/keep(_:)`` when done with the frame).
    static func decode<Input: LockstepInput>(
        _ payload: [UInt8], players: Int, as input: Input.Type, storage: inout FrameStorage
    ) throws(WireError) -> Self {
        var r = ByteReader(payload)
        let maxTick = Int(Int32.max)
        guard try r.u8() == type else { throw .invalidValue(field: "lockstep.type") }
        let slot = Int(try r.u8())
        guard slot < players else { throw .invalidValue(field: "lockstep.slot") }
        let digest = try r.u32()
        let epoch = try r.count(field: "lockstep.epoch", limit: 255)
        let nextTick = try r.count(field: "lockstep.nextTick", limit: maxTick)
        let frameSeq = try r.tick(relativeTo: nextTick, field: "lockstep.frameSeq")
        var (acks, inputs) = storage.take()
        acks.reserveCapacity(players)
        for s in 0..<players { acks.append(s == slot ? -1 : try r.tick(relativeTo: nextTick, field: "lockstep.ack") - 1) }
        let first = try r.tick(relativeTo: nextTick, field: "lockstep.firstTick")
        let n = try r.count(field: "lockstep.inputs", limit: maxInputs)
        inputs.reserveCapacity(n)
        while inputs.count < n {
            let h = try r.count(field: "lockstep.input", limit: 2 * 1024 + 2)
            if h % 2 == 1 {
                let k = (h - 1) / 2 + 1
                guard let last = inputs.last, inputs.count + k <= n else { throw .invalidValue(field: "lockstep.inputRun") }
                for _ in 0..<k { inputs.append(last) }
                continue
            }
            guard h >= 2 else { throw .invalidValue(field: "lockstep.input") }
            inputs.append(try InputBytes.read(&r, length: (h - 2) / 2, as: input))
        }
        acks[slot] = first + n - 1
        let present = try r.varint()
        guard present & ~FrameSection.all == 0 else { throw .invalidValue(field: "lockstep.sections") }
        func has(_ bit: UInt64) -> Bool { present & bit != 0 }
        var report: (Int, ChainDigest)?
        if has(FrameSection.report) { report = (try r.tick(relativeTo: nextTick, field: "lockstep.reportTick") - 1, try ChainDigest.readRow(from: &r)) }
        guard !has(FrameSection.statement) || n > 0 else { throw .invalidValue(field: "lockstep.statement") }
        let statement = has(FrameSection.statement) ? try r.raw(64) : nil
        // A section marked present is not empty (one encoding per frame).
        var checks: [(Int, UInt64)] = []
        if has(FrameSection.checksums) {
            for _ in 0..<(try r.count(field: "lockstep.checksums", limit: 8, atLeast: 1)) {
                checks.append((try r.count(field: "lockstep.checksumTick", limit: maxTick), try r.u64()))
            }
        }
        var controls: [(Int, Int)] = []
        if has(FrameSection.controls) {
            for _ in 0..<(try r.count(field: "lockstep.controls", limit: maxInputs, atLeast: 1)) {
                let tick = try r.count(field: "lockstep.controlTick", limit: maxTick)
                let delay = Int(try r.u8())
                guard delay <= 32 else { throw .invalidValue(field: "lockstep.controlDelay") }
                controls.append((tick, delay))
            }
        }
        var votes: [(Int, Int)] = []
        if has(FrameSection.votes) {
            for _ in 0..<(try r.count(field: "lockstep.votes", limit: 64, atLeast: 1)) {
                let s = Int(try r.u8())
                guard s < players else { throw .invalidValue(field: "lockstep.voteSlot") }
                votes.append((s, try r.count(field: "lockstep.voteHeld", limit: maxTick) - 1))
            }
        }
        var endorsement: (change: RosterChange, signature: [UInt8])?
        if has(FrameSection.endorsement) {
            let change = try RosterChange.decode(from: &r, players: players)
            endorsement = (change, try r.raw(64))
        }
        var certificates: [RosterCertificate] = []
        if has(FrameSection.certificates) {
            for _ in 0..<(try r.count(field: "lockstep.certificates", limit: 2, atLeast: 1)) {
                certificates.append(try RosterCertificate.decode(from: &r, players: players))
            }
        }
        let dispute = has(FrameSection.dispute) ? try Dispute.decode(from: &r, players: players, as: input) : nil
        var veto: (round: Int, signature: [UInt8])?
        if has(FrameSection.veto) { veto = (try r.count(field: "lockstep.vetoRound", limit: RosterChange.maxRound), try r.raw(64)) }
        let abandonment = has(FrameSection.abandonment) ? try RoundAbandonment.decode(from: &r, players: players) : nil
        let need = has(FrameSection.need) ? try r.count(field: "lockstep.need", limit: 32) : nil
        try r.expectEnd()
        return LockstepFrame(
            slot: slot, digest: digest, frameSeq: frameSeq, epoch: epoch, nextTick: nextTick, acks: acks,
            firstTick: first, inputs: inputs, controls: controls, votes: votes, endorsement: endorsement,
            certificates: certificates, checksums: checks, report: report, statement: statement, dispute: dispute,
            veto: veto, abandonment: abandonment, need: need, repair: has(FrameSection.repair))
    }
}

/// The arrays of a frame's acknowledgements and inputs, kept between frames: a frame built or
/// read in them allocates none once they have grown to a frame's size.
struct FrameStorage {
    var acks: [Int] = []
    var inputs: [InputBytes] = []

    /// The arrays, emptied; they are unique (written in place) once the frame that last used
    /// them is gone.
    mutating func take() -> (acks: [Int], inputs: [InputBytes]) {
        var taken = (acks, inputs)
        (acks, inputs) = ([], [])
        taken.0.removeAll(keepingCapacity: true)
        taken.1.removeAll(keepingCapacity: true)
        return taken
    }

    /// Keeps the arrays of `frame` for the next one, taking them from it (swapped, not copied:
    /// a copy of the frame to read them would retain every array it holds).
    mutating func keep(taking frame: inout LockstepFrame) {
        swap(&acks, &frame.acks)
        swap(&inputs, &frame.inputs)
    }
}

extension ByteWriter {
    /// A signed integer as a zigzag LEB128 varint (small magnitudes of either sign take one byte).
    mutating func zigzag(_ v: Int) {
        varint(v >= 0 ? UInt64(v) << 1 : (UInt64(-(v + 1)) << 1) | 1)
    }
}

extension ByteReader {
    /// A count in `atLeast ... limit`.
    mutating func count(field: String, limit: Int, atLeast: Int) throws(WireError) -> Int {
        let n = try count(field: field, limit: limit)
        guard n >= atLeast else { throw .invalidValue(field: field) }
        return n
    }

    /// A tick written as a zigzag offset from `base`, checked to lie in 0 ... 2^31 - 1.
    mutating func tick(relativeTo base: Int, field: String) throws(WireError) -> Int {
        let z = try varint()
        guard z <= UInt64(UInt32.max) << 1 else { throw .invalidValue(field: field) }
        let offset = z & 1 == 0 ? Int(z >> 1) : -Int(z >> 1) - 1
        let t = base + offset
        guard t >= 0, t <= Int(Int32.max) else { throw .invalidValue(field: field) }
        return t
    }
}
