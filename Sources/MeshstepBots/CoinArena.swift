import MeshstepLockstep
import MeshstepWire

/// A bot's or player's input: a direction (0...7 in eighths of a turn, 8 = stand still).
public struct ArenaInput: LockstepInput, Hashable {
    /// Heading in eighths of a turn from +x toward +y (0...7); 8 stands still.
    public var direction: UInt8
    /// Move at 1/2 world unit per tick instead of 1/4.
    public var dash: Bool
    /// Standing still without dashing (direction 8).
    public static let neutral = ArenaInput(direction: 8, dash: false)

    /// An input with the given heading (0...8) and dash.
    public init(direction: UInt8, dash: Bool) {
        self.direction = direction
        self.dash = dash
    }

    /// Writes one byte: the direction in bits 0-6, bit 7 set for a dash.
    public func encode(into w: inout ByteWriter) { w.u8(direction | (dash ? 0x80 : 0)) }

    /// Reads one byte; throws `WireError` when none is left or the direction is above 8.
    public static func decode(from r: inout ByteReader) throws(WireError) -> ArenaInput {
        let b = try r.u8()
        guard b & 0x7F <= 8 else { throw .invalidValue(field: "arena.direction") }
        return ArenaInput(direction: b & 0x7F, dash: b & 0x80 != 0)
    }
}

/// The small reference game the headless bots play: players run around a square arena picking
/// up coins that appear at seeded random places. Fixed-point, integer-only, deterministic.
public struct CoinArena: LockstepGame {
    /// Each player's input for one tick.
    public typealias Input = ArenaInput
    /// Side of the square arena in world units: positions stay in 0...64 on both axes.
    public static let size = Fixed(64)
    /// Coins on the field at any time: a taken coin is replaced at once.
    public static let coins = 4

    /// Each slot's horizontal position, in world units.
    public var x: [Fixed]
    /// Each slot's vertical position, in world units.
    public var y: [Fixed]
    /// Coins each slot has picked up.
    public var score: [Int]
    /// Horizontal positions of the coins on the field, in world units (paired with ``coinY``).
    public var coinX: [Fixed]
    /// Vertical positions of the coins on the field, in world units (paired with ``coinX``).
    public var coinY: [Fixed]
    /// The seeded generator in the state; it places new coins.
    public var random: GameRandom
    /// Ticks applied so far.
    public var tick = 0

    /// The state at tick 0: players on a grid from (8, 8), 16 units apart and four to a row,
    /// and ``coins`` coins at seeded whole-unit places in 2...61.
    public init(players: Int, seed: UInt64) {
        random = GameRandom(seed: seed)
        x = (0..<players).map { Fixed(8 + ($0 % 4) * 16) }
        y = (0..<players).map { Fixed(8 + ($0 / 4) * 16) }
        score = Array(repeating: 0, count: players)
        coinX = []
        coinY = []
        for _ in 0..<Self.coins { spawnCoin() }
    }

    mutating func spawnCoin() {
        coinX.append(Fixed(random.int(in: 2...61)))
        coinY.append(Fixed(random.int(in: 2...61)))
    }

    /// Advances one tick: each slot with an input and a direction moves 1/4 unit (1/2 dashing),
    /// clamped to the arena; a nil input stands still. A player less than 1 unit from a coin on
    /// both axes takes it (the lowest slot on a tie) and a new coin appears.
    public mutating func step(inputs: [ArenaInput?]) {
        tick += 1
        for (slot, input) in inputs.enumerated() where slot < x.count {
            guard let input, input.direction < 8 else { continue }
            let speed = input.dash ? Fixed(1, 2) : Fixed(1, 4)
            let turns = Fixed(Int(input.direction), 8)
            x[slot] = Fixed.clamp(x[slot] + Fixed.cos(turns: turns) * speed, .zero, Self.size)
            y[slot] = Fixed.clamp(y[slot] + Fixed.sin(turns: turns) * speed, .zero, Self.size)
        }
        // Pick-ups in slot order: the lowest slot wins a tie, the same on every peer.
        var c = 0
        while c < coinX.count {
            if let winner = x.indices.first(where: { (x[$0] - coinX[c]).magnitude < 1 && (y[$0] - coinY[c]).magnitude < 1 }) {
                score[winner] += 1
                coinX.remove(at: c)
                coinY.remove(at: c)
                spawnCoin()
            } else {
                c += 1
            }
        }
    }

    /// A hash of the tick, positions, coins, scores and generator state.
    public func checksum() -> UInt64 {
        var h = StableHasher()
        h.combine(tick)
        for v in x + y + coinX + coinY { h.combine(v) }
        for s in score { h.combine(s) }
        h.combine(random)
        return h.finalize()
    }

    /// The whole state as bytes (for desync dumps and state transfer).
    public func snapshot() -> [UInt8] {
        var w = ByteWriter()
        w.varint(UInt64(x.count)); w.varint(UInt64(coinX.count)); w.varint(UInt64(tick)); w.u64(random.state)
        for v in x + y + coinX + coinY { w.u64(UInt64(bitPattern: v.raw)) }
        for s in score { w.varint(UInt64(s)) }
        return w.bytes
    }

    /// Restores a state from ``snapshot()``; throws `WireError` for counts out of range or
    /// bytes missing or left over.
    public init(snapshot: [UInt8]) throws {
        var r = ByteReader(snapshot)
        let n = try r.count(field: "players", limit: 255), k = try r.count(field: "coins", limit: 64)
        tick = try r.count(field: "tick", limit: Int(Int32.max))
        random = GameRandom(seed: 0)
        random.state = try r.u64()
        func fixeds(_ count: Int) throws -> [Fixed] { try (0..<count).map { _ in Fixed(raw: Int64(bitPattern: try r.u64())) } }
        x = try fixeds(n); y = try fixeds(n); coinX = try fixeds(k); coinY = try fixeds(k)
        score = try (0..<n).map { _ in try r.count(field: "score", limit: Int(Int32.max)) }
        try r.expectEnd()
    }
}

/// A bot's policy: head for the nearest coin, dash when it is far. Deterministic from the
/// state the bot sees.
public enum CoinBot {
    /// The input for `slot`: toward the nearest coin (by distance along x plus along y, the
    /// first coin on a tie) in one of eight directions, dashing when it is more than 8 units
    /// away. Neutral for a slot out of range or when no coin is on the field.
    public static func input(for slot: Int, in game: CoinArena) -> ArenaInput {
        guard slot < game.x.count, !game.coinX.isEmpty else { return .neutral }
        var best = 0
        var bestDistance = Fixed(raw: .max)
        for c in game.coinX.indices {
            let d = (game.coinX[c] - game.x[slot]).magnitude + (game.coinY[c] - game.y[slot]).magnitude
            if d < bestDistance { best = c; bestDistance = d }
        }
        let dx = game.coinX[best] - game.x[slot], dy = game.coinY[best] - game.y[slot]
        // Eight directions: pick by the signs and the dominant axis.
        let horizontal = dx.magnitude > dy.magnitude * 2, vertical = dy.magnitude > dx.magnitude * 2
        let direction: UInt8
        switch (dx >= .zero, dy >= .zero, horizontal, vertical) {
        case (true, _, true, _): direction = 0
        case (false, _, true, _): direction = 4
        case (_, true, _, true): direction = 2
        case (_, false, _, true): direction = 6
        case (true, true, _, _): direction = 1
        case (false, true, _, _): direction = 3
        case (false, false, _, _): direction = 5
        case (true, false, _, _): direction = 7
        }
        return ArenaInput(direction: direction, dash: bestDistance > Fixed(8))
    }
}
