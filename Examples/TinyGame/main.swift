// A complete small game on Meshstep: two players push a shared ball left and right, over the
// real UDP mesh on loopback, in deterministic lockstep. Everything a game needs is here: the
// input, the game state, the session, the game loop. Run:
//   swift run meshstep-example
import Foundation
import Logging
import MeshstepLockstep
import MeshstepMesh
import MeshstepNet
import MeshstepWire
import NIOPosix

/// 1. The input: small, with a compact encoding and a total decoder.
struct Push: LockstepInput {
    var direction: Int8 // -1, 0 or +1
    static let neutral = Push(direction: 0)
    func encode(into w: inout ByteWriter) { w.u8(UInt8(bitPattern: direction)) }
    static func decode(from r: inout ByteReader) throws(WireError) -> Push {
        let d = Int8(bitPattern: try r.u8())
        guard (-1...1).contains(d) else { throw .invalidValue(field: "push.direction") }
        return Push(direction: d)
    }
}

/// 2. The state: integer or Fixed math only, randomness from a GameRandom kept in the state.
struct Ball: LockstepGame {
    typealias Input = Push
    var position = Fixed(0)
    var velocity = Fixed(0)
    var wind: GameRandom
    var tick = 0

    init(players: Int, seed: UInt64) { wind = GameRandom(seed: seed) }

    mutating func step(inputs: [Push?]) {
        tick += 1
        for input in inputs { if let input { velocity += Fixed(Int(input.direction), 16) } } // nil: a dropped player
        velocity += (wind.unit() - .half) / 64
        position = Fixed.clamp(position + velocity, Fixed(-100), Fixed(100))
        if position.magnitude >= Fixed(100) { velocity = -velocity / 2 }
    }

    func checksum() -> UInt64 {
        var h = StableHasher()
        h.combine(position); h.combine(velocity); h.combine(wind); h.combine(tick)
        return h.finalize()
    }

    func snapshot() -> [UInt8] {
        var w = ByteWriter()
        w.u64(UInt64(bitPattern: position.raw)); w.u64(UInt64(bitPattern: velocity.raw)); w.u64(wind.state); w.varint(UInt64(tick))
        return w.bytes
    }

    init(snapshot: [UInt8]) throws {
        var r = ByteReader(snapshot)
        position = Fixed(raw: Int64(bitPattern: try r.u64()))
        velocity = Fixed(raw: Int64(bitPattern: try r.u64()))
        wind = GameRandom(seed: 0)
        wind.state = try r.u64()
        tick = try r.count(field: "tick", limit: Int(Int32.max))
        try r.expectEnd()
    }
}

/// 3. The session: one mesh peer and one lockstep handle per player (here both in this process,
/// each on its own UDP socket; on two machines, each runs one and passes --peer).
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let credentials = try MeshCredentials(meshID: "tiny-game", access: .password("secret"))
let config = LockstepConfiguration(players: 2).withInputDelay(3).withChecksumInterval(30)
let mesh = MeshConfiguration.lockstep(players: 2)
let first = try UDPMeshPeer.start(credentials: credentials, configuration: mesh, host: "127.0.0.1", port: 0, group: group)
let second = try UDPMeshPeer.start(credentials: credentials, configuration: mesh, host: "127.0.0.1", port: 0,
                                   discovery: Discovery(seeds: [first.localAddress]), group: group)
let logger = Logger(label: "tiny-game")
let players = [try LockstepPeer<Push>(mesh: first, configuration: config, role: .player(0), logger: logger),
               try LockstepPeer<Push>(mesh: second, configuration: config, role: .player(1), logger: logger)]
var games = [Ball(players: 2, seed: 42), Ball(players: 2, seed: 42)]

/// 4. The game loop, 60 frames a second: each frame applies the next confirmed tick (a frame
/// with none waits) and answers it with the player's input for the tick `inputDelay` ahead.
let ticks = 300
var applied = [0, 0]
var confirmed: [[(tick: Int, inputs: [Push?])]] = [[], []]
while !players.allSatisfy(\.allPlayersPresent) { Thread.sleep(forTimeInterval: 0.005) }
while applied.min()! < ticks {
    for p in 0..<2 {
        confirmed[p] += players[p].pollConfirmed()
        guard applied[p] < ticks, !confirmed[p].isEmpty else { continue }
        let ready = confirmed[p].removeFirst()
        games[p].step(inputs: ready.inputs)
        players[p].recordChecksum(tick: ready.tick, checksum: games[p].checksum())
        applied[p] += 1
        // Player 0 pushes the ball back when it is right of centre, player 1 when left.
        let push = Push(direction: games[p].position > .zero ? (p == 0 ? -1 : 0) : (p == 1 ? 1 : 0))
        players[p].submit(push)
        for event in players[p].pollEvents() { print("player \(p): \(event)") }
    }
    Thread.sleep(forTimeInterval: 1.0 / 60)
}
print("tick \(ticks): checksums \(games[0].checksum()) and \(games[1].checksum()): \(games[0].checksum() == games[1].checksum() ? "in sync" : "DESYNC")")
for p in players { p.leave() } // Disconnect(leaving) to every neighbor
try group.syncShutdownGracefully()
