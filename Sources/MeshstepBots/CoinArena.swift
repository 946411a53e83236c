import MeshstepLockstep
import MeshstepWire

/// A bot's or player's input: a direction (0...7 in eighths of a turn, 8 = stand still).
public struct ArenaInput: LockstepInput, Hashable {
    public var direction: UInt8
    public var dash: Bool
    public static let neutral = ArenaInput(direction: 8, dash: false)

    public init(direction: UInt8, dash: Bool) {
        self.direction = direction
        self.dash = dash
    }

    public func encode(into w: inout ByteWriter) { w.u8(direction | (dash ? 0x80 : 0)) }

    public static func decode(from r: inout ByteReader) throws(WireError) -> ArenaInput {
        let b = try r.u8()
        guard b & 0x7F <= 8 else { throw .invalidValue(field: "arena.direction") }
        return ArenaInput(direction: b & 0x7F, dash: b & 0x80 != 0)
    }
}

/// The small reference game the headless bots play: players run around a square arena picking
/// up coins that appear at seeded random places. Fixed-point, integer-only, deterministic.
public struct CoinArena: LockstepGame {
    public typealias Input = ArenaInput
    public static let size = Fixed(64)
    public static let coins = 4

    public var x: [Fixed]
    public var y: [Fixed]
    public var score: [Int]
    public var coinX: [Fixed]
    public var coinY: [Fixed]
    public var random: GameRandom
    public var tick = 0

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

    public func checksum() -> UInt64 {
        var h = StableHasher()
        h.combine(tick)
        for v in x + y + coinX + coinY { h.combine(v) }
        for s in score { h.combine(s) }
        h.combine(random)
        return h.finalize()
    }

    public func snapshot() -> [UInt8] {
        var w = ByteWriter()
        w.varint(UInt64(x.count)); w.varint(UInt64(coinX.count)); w.varint(UInt64(tick)); w.u64(random.state)
        for v in x + y + coinX + coinY { w.u64(UInt64(bitPattern: v.raw)) }
        for s in score { w.varint(UInt64(s)) }
        return w.bytes
    }

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
