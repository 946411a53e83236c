import MeshstepWire

/// Why a replay file could not be read.
public enum ReplayError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The bytes do not start with the `"MSRP"` magic, or are too short to be a replay.
    case notAReplay
    /// The file's format version; this build reads version 1 only.
    case unsupportedVersion(UInt8)
    /// The bytes do not decode (truncated or altered); `detail` says where.
    case corrupt(String)
    /// The integrity trailer does not match the content: the file was changed or damaged.
    case integrityMismatch

    public var description: String {
        switch self {
        case .notAReplay: "not a Meshstep replay file (bad magic)"
        case let .unsupportedVersion(v): "replay format version \(v) is not supported by this build"
        case let .corrupt(detail): "replay file is corrupt: \(detail)"
        case .integrityMismatch: "replay file integrity check failed: it was modified or damaged"
        }
    }
}

/// A recorded session: the roster, the seed, every tick's inputs and periodic checksums.
///
/// Format (all integers big-endian or LEB128 varints): `"MSRP" | version u8 | players varint |
/// seed u64 | ticks varint | per tick, per slot: present u8 (0|1) [+ length-prefixed input] |
/// checkpoints varint | (tick varint, checksum u64)* | integrity u64` where integrity is
/// ``StableHasher`` over everything before it.
public struct Replay<Input: LockstepInput>: Sendable, Equatable {
    /// Player slots of the recorded session.
    public var players: Int
    /// The game's shared seed (what ``LockstepGame/init(players:seed:)`` was given).
    public var seed: UInt64
    /// `inputs[tick][slot]`, nil where the slot was dropped: one row of ``players`` entries per
    /// tick.
    public var inputs: ReplayInputs<Input>
    /// Checksums after the given tick was applied.
    public var checkpoints: [(tick: Int, checksum: UInt64)]

    /// An empty recording for `players` slots and the game's `seed`.
    public init(players: Int, seed: UInt64) {
        self.players = players
        self.seed = seed
        inputs = ReplayInputs(width: players)
        checkpoints = []
    }

    public static func == (a: Replay, b: Replay) -> Bool {
        a.players == b.players && a.seed == b.seed && a.inputs == b.inputs
            && a.checkpoints.map(\.tick) == b.checkpoints.map(\.tick) && a.checkpoints.map(\.checksum) == b.checkpoints.map(\.checksum)
    }

    /// Appends one applied tick (and a checkpoint when `checksum` is given). `tickInputs` has
    /// one entry per slot (a shorter row is padded with nils; a longer one is a programming
    /// error and stops the program).
    public mutating func record(_ tickInputs: [Input?], checksum: UInt64? = nil) {
        inputs.append(tickInputs)
        if let checksum { checkpoints.append((inputs.count, checksum)) }
    }

    /// The replay file's bytes (the format in ``Replay``), ending with the integrity trailer.
    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: 64 + inputs.count * players * 4)
        w.raw(Array("MSRP".utf8)); w.u8(1)
        w.varint(UInt64(players)); w.u64(seed); w.varint(UInt64(inputs.count))
        let width = inputs.width
        for tick in 0..<inputs.count {
            for slot in 0..<players {
                if let input = slot < width ? inputs.storage[tick * width + slot] : nil {
                    w.u8(1)
                    var iw = ByteWriter(capacity: 8)
                    input.encode(into: &iw)
                    w.lengthPrefixed(iw.bytes)
                } else {
                    w.u8(0)
                }
            }
        }
        w.varint(UInt64(checkpoints.count))
        for c in checkpoints { w.varint(UInt64(c.tick)); w.u64(c.checksum) }
        var h = StableHasher()
        h.combine(bytes: w.bytes)
        w.u64(h.finalize())
        return w.bytes
    }

    /// Decodes a replay. Total: every byte string decodes or throws ``ReplayError``.
    public static func decode(_ bytes: [UInt8]) throws(ReplayError) -> Replay {
        guard bytes.count >= 4 + 1 + 8, Array(bytes[0..<4]) == Array("MSRP".utf8) else { throw .notAReplay }
        guard bytes[4] == 1 else { throw .unsupportedVersion(bytes[4]) }
        var h = StableHasher()
        h.combine(bytes: bytes[0..<(bytes.count - 8)])
        var tail = ByteReader(bytes, offset: bytes.count - 8)
        guard (try? tail.u64()) == h.finalize() else { throw .integrityMismatch }
        var r = ByteReader(bytes, offset: 5, end: bytes.count - 8)
        do {
            let players = try r.count(field: "players", limit: 256)
            var replay = Replay(players: players, seed: try r.u64())
            // Each tick takes at least one byte per slot: bounds the allocation by the file size.
            let ticks = try r.count(field: "ticks", limit: players == 0 ? 0 : r.remaining / players)
            replay.inputs.reserveCapacity(ticks)
            for _ in 0..<ticks {
                for _ in 0..<players {
                    switch try r.u8() {
                    case 0: replay.inputs.storage.append(nil)
                    case 1:
                        let body = try r.lengthPrefixed(field: "input", limit: 4096)
                        var ir = ByteReader(body)
                        let input = try Input.decode(from: &ir)
                        try ir.expectEnd()
                        replay.inputs.storage.append(input)
                    default: throw WireError.invalidValue(field: "input.present")
                    }
                }
                replay.inputs.rows += 1
            }
            let n = try r.count(field: "checkpoints", limit: r.remaining / 9)
            for _ in 0..<n {
                let tick = try r.count(field: "checkpoint.tick", limit: ticks)
                replay.checkpoints.append((tick, try r.u64()))
            }
            try r.expectEnd()
            return replay
        } catch {
            throw .corrupt("\(error)")
        }
    }
}

/// Every recorded tick's inputs, `self[tick][slot]`: one row of ``width`` entries per tick,
/// kept in one flat array (a row per tick as an array of its own took 5.8 times the replay
/// file's size in memory: an hour of 4 players, 14.4 MB).
public struct ReplayInputs<Input: LockstepInput>: RandomAccessCollection, MutableCollection, Sendable, Equatable {
    /// Entries per row: the replay's player slots.
    public let width: Int
    /// The rows one after the other.
    var storage: [Input?] = []
    /// Rows held (with a width of 0, the storage cannot count them).
    var rows = 0

    /// No rows, each of `width` entries.
    public init(width: Int) {
        self.width = Swift.max(0, width)
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { rows }

    /// The row of `tick`. A row set has at most ``width`` entries (padded with nils); a longer
    /// one is a programming error and stops the program.
    public subscript(tick: Int) -> [Input?] {
        get {
            precondition(tick >= 0 && tick < rows, "tick \(tick) is outside the replay's \(rows) rows")
            return Array(storage[(tick * width)..<((tick + 1) * width)])
        }
        set {
            precondition(tick >= 0 && tick < rows, "tick \(tick) is outside the replay's \(rows) rows")
            precondition(newValue.count <= width, "a replay row has one entry per slot: \(newValue.count) for \(width) slots")
            for slot in 0..<width { storage[tick * width + slot] = slot < newValue.count ? newValue[slot] : nil }
        }
    }

    /// Appends a row of at most ``width`` entries (padded with nils).
    public mutating func append(_ row: [Input?]) {
        precondition(row.count <= width, "a replay row has one entry per slot: \(row.count) for \(width) slots")
        storage.append(contentsOf: row)
        if row.count < width { storage.append(contentsOf: repeatElement(nil, count: width - row.count)) }
        rows += 1
    }

    /// Makes room for `rows` rows in all.
    public mutating func reserveCapacity(_ rows: Int) {
        storage.reserveCapacity(rows * width)
    }
}

/// The outcome of re-simulating a replay.
public enum ReplayVerdict: Sendable, Equatable {
    /// Every checkpoint matched; the final state's checksum is given.
    case verified(ticks: Int, checkpoints: Int, finalChecksum: UInt64)
    /// The re-simulated state differs from the recording at `tick`.
    case mismatch(tick: Int, recorded: UInt64, actual: UInt64)
}

extension Replay {
    /// Re-simulates the recording with `Game` and compares every checkpoint.
    /// - Complexity: O(ticks × cost of a step).
    public func verify<Game: LockstepGame>(with game: Game.Type) -> ReplayVerdict where Game.Input == Input {
        var state = Game(players: players, seed: seed)
        var next = 0
        let sorted = checkpoints.sorted { $0.tick < $1.tick }
        if let first = sorted.first, first.tick == 0, first.checksum != state.checksum() {
            return .mismatch(tick: 0, recorded: first.checksum, actual: state.checksum())
        }
        for (i, row) in inputs.enumerated() {
            state.step(inputs: row)
            let tick = i + 1
            while next < sorted.count, sorted[next].tick <= tick {
                if sorted[next].tick == tick, sorted[next].checksum != state.checksum() {
                    return .mismatch(tick: tick, recorded: sorted[next].checksum, actual: state.checksum())
                }
                next += 1
            }
        }
        return .verified(ticks: inputs.count, checkpoints: sorted.count, finalChecksum: state.checksum())
    }
}
