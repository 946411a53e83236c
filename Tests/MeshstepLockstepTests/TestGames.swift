import MeshstepLockstep
import MeshstepWire

/// A move on a 2-D plane: a direction (0...7, or 8 for none) and a boost flag.
struct Move: LockstepInput, Hashable {
    var direction: UInt8
    var boost: Bool
    static let neutral = Move(direction: 8, boost: false)
    func encode(into w: inout ByteWriter) { w.u8(direction | (boost ? 0x80 : 0)) }
    static func decode(from r: inout ByteReader) throws(WireError) -> Move {
        let b = try r.u8()
        guard b & 0x7F <= 8 else { throw .invalidValue(field: "move.direction") }
        return Move(direction: b & 0x7F, boost: b & 0x80 != 0)
    }
}

/// A 40-byte input: a few dozen of them overflow a small frame.
struct Blob: LockstepInput, Hashable {
    var bytes: [UInt8]
    init(seed: UInt8) { bytes = (0..<40).map { seed &+ UInt8($0) } }
    static let neutral = Blob(seed: 0xFF)
    func encode(into w: inout ByteWriter) { for b in bytes { w.u8(b) } }
    static func decode(from r: inout ByteReader) throws(WireError) -> Blob {
        var b = Blob(seed: 0)
        for i in 0..<40 { b.bytes[i] = try r.u8() }
        return b
    }
}

/// Walkers move in fixed-point steps; a seeded wind pushes them. Deterministic by construction.
struct Walkers: LockstepGame {
    typealias Input = Move
    var x: [Fixed]
    var y: [Fixed]
    var wind: GameRandom
    var tick = 0

    init(players: Int, seed: UInt64) {
        x = (0..<players).map { Fixed($0 * 10) }
        y = Array(repeating: .zero, count: players)
        wind = GameRandom(seed: seed)
    }

    mutating func step(inputs: [Move?]) {
        tick += 1
        let gust = wind.unit() - .half
        for (slot, input) in inputs.enumerated() {
            guard let input, input.direction < 8 else { continue }
            let angle = Fixed(Int(input.direction), 8)
            let speed: Fixed = input.boost ? 2 : 1
            x[slot] += Fixed.cos(turns: angle) * speed + gust / 10
            y[slot] += Fixed.sin(turns: angle) * speed
        }
    }

    func checksum() -> UInt64 {
        var h = StableHasher()
        h.combine(tick)
        for v in x { h.combine(v) }
        for v in y { h.combine(v) }
        h.combine(wind)
        return h.finalize()
    }

    func snapshot() -> [UInt8] {
        var w = ByteWriter()
        w.varint(UInt64(x.count)); w.varint(UInt64(tick)); w.u64(wind.state)
        for v in x + y { w.u64(UInt64(bitPattern: v.raw)) }
        return w.bytes
    }

    init(snapshot: [UInt8]) throws {
        var r = ByteReader(snapshot)
        let n = try r.count(field: "players", limit: 256)
        tick = Int(try r.varint())
        wind = GameRandom(seed: 0)
        wind.state = try r.u64()
        x = try (0..<n).map { _ in Fixed(raw: Int64(bitPattern: try r.u64())) }
        y = try (0..<n).map { _ in Fixed(raw: Int64(bitPattern: try r.u64())) }
    }
}

/// Hidden global state shared by every instance: the classic lockstep bug.
nonisolated(unsafe) var sloppyCalls = 0

/// A deliberately nondeterministic game: a hidden global counter (think "a static cache") leaks
/// into the state, so two instances fed the same inputs diverge.
struct SloppyWalkers: LockstepGame {
    typealias Input = Move
    var inner: Walkers
    init(players: Int, seed: UInt64) { inner = Walkers(players: players, seed: seed) }
    mutating func step(inputs: [Move?]) {
        inner.step(inputs: inputs)
        sloppyCalls += 1
        if inner.tick == 50 { inner.x[0] += Fixed(raw: Int64(sloppyCalls % 2)) }
    }
    func checksum() -> UInt64 { inner.checksum() }
    func snapshot() -> [UInt8] { inner.snapshot() }
    init(snapshot: [UInt8]) throws { inner = try Walkers(snapshot: snapshot) }
}

/// A game whose snapshot forgets the wind generator: restore loses state.
struct ForgetfulWalkers: LockstepGame {
    typealias Input = Move
    var inner: Walkers
    init(players: Int, seed: UInt64) { inner = Walkers(players: players, seed: seed) }
    mutating func step(inputs: [Move?]) { inner.step(inputs: inputs) }
    func checksum() -> UInt64 { inner.checksum() }
    func snapshot() -> [UInt8] { inner.snapshot() }
    init(snapshot: [UInt8]) throws {
        inner = try Walkers(snapshot: snapshot)
        inner.wind = GameRandom(seed: 1)  // the bug: wind is not restored
    }
}

/// A bot policy: deterministic from (tick, slot).
func botMove(_ tick: Int, _ slot: Int) -> Move {
    var r = GameRandom(seed: UInt64(tick * 131 + slot))
    return Move(direction: UInt8(r.int(in: 0...8)), boost: r.chance(1, in: 4))
}
