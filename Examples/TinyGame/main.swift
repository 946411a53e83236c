// A complete small game on Meshstep: two players push a shared ball left and right over the real UDP
// mesh, in deterministic lockstep. Run `swift run meshstep-example --slot 0 --port 7500` in one terminal
// and `swift run meshstep-example --slot 1 --peer 127.0.0.1:7500` in another.
import Foundation
import MeshstepLockstep
import MeshstepNet
import MeshstepWire

/// 1. The input: small, with a compact encoding and a total decoder.
struct Push: LockstepInput {
    var direction: Int8  // -1, 0 or +1
    static let neutral = Push(direction: 0)
    func encode(into w: inout ByteWriter) { w.u8(UInt8(bitPattern: direction)) }
    static func decode(from r: inout ByteReader) throws(WireError) -> Push {
        let d = Int8(bitPattern: try r.u8())
        if (-1...1).contains(d) { return Push(direction: d) } else { throw .invalidValue(field: "push.direction") }
    }
}

/// 2. The state: integer or Fixed math only, randomness from a GameRandom kept in the state.
struct Ball: LockstepGame {
    var position = Fixed(0), velocity = Fixed(0), wind: GameRandom, tick = 0
    init(players: Int, seed: UInt64) { wind = GameRandom(seed: seed) }
    mutating func step(inputs: [Push?]) {  // nil: a dropped player
        tick += 1
        for input in inputs { if let input { velocity += Fixed(Int(input.direction), 16) } }
        velocity += (wind.unit() - .half) / 64
        position = Fixed.clamp(position + velocity, Fixed(-100), Fixed(100))
        if position.magnitude >= Fixed(100) { velocity = -velocity / 2 }
    }
    func checksum() -> UInt64 {
        var h = StableHasher(); h.combine(position); h.combine(velocity); h.combine(wind); h.combine(tick)
        return h.finalize()
    }
    func snapshot() -> [UInt8] {
        var w = ByteWriter()
        for v in [position.raw, velocity.raw, Int64(bitPattern: wind.state)] { w.u64(UInt64(bitPattern: v)) }
        w.varint(UInt64(tick))
        return w.bytes
    }
    init(snapshot: [UInt8]) throws {
        var r = ByteReader(snapshot)
        position = Fixed(raw: Int64(bitPattern: try r.u64())); velocity = Fixed(raw: Int64(bitPattern: try r.u64()))
        wind = GameRandom(seed: 0); wind.state = try r.u64(); tick = try r.count(field: "tick", limit: 1 << 31)
        try r.expectEnd()
    }
}

/// 3. The match: this player's slot and how to find the other; the session starts when both are there.
let args = CommandLine.arguments
func option(_ name: String) -> String? { args.firstIndex(of: name).flatMap { args.dropFirst($0 + 1).first } }
guard let slot = option("--slot").flatMap(Int.init), slot == 0 || slot == 1 else {
    print("usage: meshstep-example --slot 0|1 [--port PORT] [--peer HOST:PORT]"); exit(64)
}
let peers = option("--peer").map { [$0] } ?? [], port = option("--port").flatMap(Int.init) ?? 0
let options = MatchOptions(mesh: "tiny-game", password: "secret", players: 2, slot: slot, peers: peers, port: port)
let match = try LockstepMatch<Ball>.join(options)

/// 4. The game loop, 60 frames a second: each frame applies at most one confirmed tick and answers
/// it with this player's input (player 0 pushes the ball back when right of centre, player 1 when left).
while match.ticksApplied < 300, match.halted == nil {
    let frame = try match.advance { Push(direction: $0.position > .zero ? (slot == 0 ? -1 : 0) : (slot == 1 ? 1 : 0)) }
    for event in frame.events { print("player \(slot): \(event)") }  // start, drops, desyncs...
    for error in frame.errors { print("player \(slot): \(error)"); exit(1) }
    match.waitForNextFrame()
}
match.finish()  // the other player gets our last input and confirmation, then we leave
let inSync = match.checksumsAgreedThrough >= 270  // both checksums equal at the last checked tick
print("tick \(match.ticksApplied): checksum \(match.game.checksum()), \(inSync ? "in sync" : "NOT CONFIRMED IN SYNC")")
match.leave(); exit(inSync ? 0 : 1)
