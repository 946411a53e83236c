import MeshstepWire

/// Something the session wants the game to know.
public enum LockstepEvent: Sendable, Equatable {
    /// Two or more peers computed different checksums for `tick`. `slots` are the slots whose
    /// checksum differs from the local one.
    case desync(tick: Int, slots: [Int], local: UInt64)
    /// A frame claimed a slot other than its signed origin's: dropped, never applied.
    case forgedInput(claimedSlot: Int, fromSlot: Int)
}

/// Why a lockstep payload was rejected.
public enum LockstepError: Error, Equatable, Sendable {
    case malformed(WireError)
    case unknownSlot(Int)
}

/// The lockstep protocol as a sans-IO value: input frames in and out as bytes, confirmed ticks
/// out when every active player's input is held.
///
/// Each local input is scheduled `inputDelay` ticks ahead and sent in a frame that also repeats
/// every input some peer has not acknowledged (at least the previous `redundancy - 1`): each
/// frame carries how far its sender holds every slot's inputs, as GGPO and GGRS acknowledge.
/// Frames ride on the mesh, which authenticates the origin: the driver passes the slot that
/// signed the frame, and a frame claiming another slot is dropped (``LockstepEvent/forgedInput(claimedSlot:fromSlot:)``).
/// Every `checksumInterval` ticks the local checksum is piggybacked; a mismatch with another
/// slot's checksum for the same tick raises ``LockstepEvent/desync(tick:slots:local:)``.
///
/// Not yet here (next milestone): agreed drops, partitions, time sync, spectators, late join.
public struct LockstepSession<Input: LockstepInput>: Sendable {
    public let players: Int
    public let localSlot: Int
    public let inputDelay: Int
    public let redundancy: Int
    public let checksumInterval: Int

    /// `inputs[slot][tick - base]`.
    var inputs: [[Input?]]
    /// Ticks below `base` have been applied and forgotten.
    var base = 0
    /// The next tick the game will be handed.
    public private(set) var nextTick = 0
    /// The tick the next local input is for.
    public private(set) var nextLocalTick: Int
    var localChecksums: [Int: UInt64] = [:]
    var pendingChecksums: [(tick: Int, checksum: UInt64)] = []
    var remoteChecksums: [Int: [Int: UInt64]] = [:]
    var reportedDesyncs: Set<Int> = []
    /// `acked[slot]`: the newest tick through which `slot` holds all of *our* inputs (-1: none).
    var acked: [Int]

    public init(players: Int, localSlot: Int, inputDelay: Int = 2, redundancy: Int = 8, checksumInterval: Int = 30) {
        precondition(players >= 1 && players <= 255 && (0..<players).contains(localSlot), "invalid roster")
        self.players = players
        self.localSlot = localSlot
        self.inputDelay = max(0, inputDelay)
        self.redundancy = max(1, redundancy)
        self.checksumInterval = max(1, checksumInterval)
        // The first `inputDelay` ticks have no input from anyone: they are neutral everywhere.
        inputs = Array(repeating: Array(repeating: Input.neutral, count: self.inputDelay), count: players)
        nextLocalTick = self.inputDelay
        acked = Array(repeating: self.inputDelay - 1, count: players)
    }

    /// Records the local input for the next local tick and returns the frame to flood.
    public mutating func submit(_ input: Input) -> [UInt8] {
        store(input, slot: localSlot, tick: nextLocalTick)
        nextLocalTick += 1
        return frame()
    }

    /// The newest frame again (same inputs), for a peer that has nothing new to send but must
    /// keep repairing what others lost while it waits.
    public func resendFrame() -> [UInt8] { frame() }

    /// The local checksum after applying `tick` (call every tick; only every
    /// `checksumInterval`-th is kept and sent).
    public mutating func recordChecksum(tick: Int, checksum: UInt64) -> [LockstepEvent] {
        guard tick >= 0, tick % checksumInterval == 0 else { return [] }
        localChecksums[tick] = checksum
        pendingChecksums.append((tick, checksum))
        if pendingChecksums.count > 4 { pendingChecksums.removeFirst() }
        return compare(tick: tick)
    }

    /// Handles a frame flooded by `originSlot` (the slot whose key signed it).
    public mutating func receive(_ payload: [UInt8], fromSlot originSlot: Int) throws(LockstepError) -> [LockstepEvent] {
        guard (0..<players).contains(originSlot) else { throw .unknownSlot(originSlot) }
        var r = ByteReader(payload)
        let slot: Int, first: Int
        var ackOfUs: Int?
        var received: [Input] = []
        var checks: [(Int, UInt64)] = []
        do {
            guard try r.u8() == 1 else { throw WireError.invalidValue(field: "lockstep.type") }
            slot = Int(try r.u8())
            // What the sender holds of each slot's inputs: tick + 1, 0 for none.
            let ackCount = try r.count(field: "lockstep.acks", limit: 255)
            for s in 0..<ackCount {
                let value = try r.count(field: "lockstep.ack", limit: Int(Int32.max)) - 1
                if s == localSlot { ackOfUs = value }
            }
            first = try r.count(field: "lockstep.firstTick", limit: Int(Int32.max))
            let n = try r.count(field: "lockstep.inputs", limit: 64)
            for _ in 0..<n {
                let body = try r.lengthPrefixed(field: "lockstep.input", limit: 1024)
                var ir = ByteReader(body)
                received.append(try Input.decode(from: &ir))
                try ir.expectEnd()
            }
            let c = try r.count(field: "lockstep.checksums", limit: 8)
            for _ in 0..<c { checks.append((try r.count(field: "lockstep.checksumTick", limit: Int(Int32.max)), try r.u64())) }
            try r.expectEnd()
        } catch let e as WireError {
            throw .malformed(e)
        } catch {
            throw .malformed(.invalidValue(field: "lockstep"))
        }
        guard slot == originSlot else { return [.forgedInput(claimedSlot: slot, fromSlot: originSlot)] }
        // Applied only now that the whole frame decoded: a malformed frame changes nothing.
        if let ackOfUs, slot != localSlot { acked[slot] = max(acked[slot], ackOfUs) }
        // No honest peer can be further ahead than our own inputs plus its input delay.
        let horizon = nextLocalTick + inputDelay
        for (i, input) in received.enumerated() where first + i < horizon { store(input, slot: slot, tick: first + i) }
        var events: [LockstepEvent] = []
        // Only checksums a peer can really have computed: on the interval, not beyond our inputs.
        for (tick, checksum) in checks where tick >= max(0, nextTick - 600) && tick < nextLocalTick && tick % checksumInterval == 0 {
            remoteChecksums[tick, default: [:]][slot] = checksum
            events += compare(tick: tick)
        }
        return events
    }

    /// The ticks that are now complete, in order, each with every slot's input. Hand them to
    /// the game's `step` one by one.
    public mutating func pollReady() -> [(tick: Int, inputs: [Input?])] {
        var ready: [(Int, [Input?])] = []
        while (0..<players).allSatisfy({ input(slot: $0, tick: nextTick) != nil }) {
            ready.append((nextTick, (0..<players).map { input(slot: $0, tick: nextTick) }))
            nextTick += 1
        }
        trim()
        return ready
    }

    /// The newest tick for which every slot's input is held.
    public var confirmedTick: Int {
        var t = nextTick
        while (0..<players).allSatisfy({ input(slot: $0, tick: t) != nil }) { t += 1 }
        return t - 1
    }

    // MARK: Internals

    func input(slot: Int, tick: Int) -> Input? {
        let i = tick - base
        guard i >= 0, i < inputs[slot].count else { return nil }
        return inputs[slot][i]
    }

    mutating func store(_ input: Input, slot: Int, tick: Int) {
        let i = tick - base
        guard i >= 0, i < 1 << 16 else { return } // already applied, or absurdly far ahead
        if inputs[slot].count <= i { inputs[slot].append(contentsOf: Array(repeating: nil, count: i - inputs[slot].count + 1)) }
        if inputs[slot][i] == nil { inputs[slot][i] = input }
    }

    /// The newest tick through which this peer holds every input of `slot`, contiguously.
    func heldThrough(_ slot: Int) -> Int {
        var t = nextTick
        while input(slot: slot, tick: t) != nil { t += 1 }
        return t - 1
    }

    /// The oldest of our inputs some peer still lacks.
    var oldestUnacked: Int {
        var m = Int.max
        for s in 0..<players where s != localSlot { m = min(m, acked[s] + 1) }
        return m == Int.max ? nextLocalTick : m
    }

    /// Forgets applied ticks, keeping what is needed to resend unacknowledged inputs.
    mutating func trim() {
        let keep = min(nextTick, nextLocalTick - redundancy, oldestUnacked) - base
        guard keep > 256 else { return }
        for s in 0..<players { inputs[s].removeFirst(min(keep, inputs[s].count)) }
        base += keep
        localChecksums = localChecksums.filter { $0.key >= nextTick - 600 }
        remoteChecksums = remoteChecksums.filter { $0.key >= nextTick - 600 }
    }

    /// A frame with every input some peer has not acknowledged (at least the newest
    /// `redundancy`, at most 64), what we hold of everyone's inputs, and pending checksums.
    func frame() -> [UInt8] {
        let last = nextLocalTick - 1
        let first = max(inputDelay, min(last - redundancy + 1, oldestUnacked), last - 63, base)
        var w = ByteWriter(capacity: 32 + redundancy * 4 + players * 2)
        w.u8(1)
        w.u8(UInt8(localSlot))
        w.varint(UInt64(players))
        for s in 0..<players { w.varint(UInt64(max(0, heldThrough(s) + 1))) }
        w.varint(UInt64(first))
        w.varint(UInt64(max(0, last - first + 1)))
        if last >= first {
            for t in first...last {
                var iw = ByteWriter(capacity: 8)
                (input(slot: localSlot, tick: t) ?? .neutral).encode(into: &iw)
                w.lengthPrefixed(iw.bytes)
            }
        }
        w.varint(UInt64(pendingChecksums.count))
        for c in pendingChecksums { w.varint(UInt64(c.tick)); w.u64(c.checksum) }
        return w.bytes
    }

    mutating func compare(tick: Int) -> [LockstepEvent] {
        guard let local = localChecksums[tick], let remote = remoteChecksums[tick], !reportedDesyncs.contains(tick) else { return [] }
        let differing = remote.filter { $0.value != local }.map(\.key).sorted()
        guard !differing.isEmpty else { return [] }
        reportedDesyncs.insert(tick)
        return [.desync(tick: tick, slots: differing, local: local)]
    }
}
