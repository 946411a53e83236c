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
import Synchronization

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
/// each on its own UDP socket and its own game-loop thread; on two machines, each runs one and
/// passes --peer).
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

/// 4. The game loop of one player, 60 frames a second. Each frame applies at most one confirmed
/// tick (that is the game's pace; a frame with none waits) and answers it with this player's
/// input for the tick `inputDelay` ahead. At the end, `finish()` lets the others receive our
/// last input and confirmation before we leave.
func play(_ peer: LockstepPeer<Push>, slot: Int, ticks: Int) -> Ball {
    var game = Ball(players: 2, seed: 42)
    var confirmed: [(tick: Int, inputs: [Push?])] = []
    let frame = Duration.seconds(1) / 60
    var nextFrame = ContinuousClock.now
    while game.tick < ticks, peer.halted == nil {
        confirmed += peer.pollConfirmed()                     // complete ticks, in order
        if !confirmed.isEmpty {
            let ready = confirmed.removeFirst()               // one tick per frame
            game.step(inputs: ready.inputs)                   // nil input: a dropped player
            peer.recordChecksum(tick: ready.tick, checksum: game.checksum())
            peer.submit(Push.choice(of: slot, in: game))      // one input per applied tick
        }
        for event in peer.pollEvents() { print("player \(slot): \(event)") }  // drops, desyncs, halts
        for error in peer.pollErrors() { print("player \(slot): \(error)") }  // players missing, a contested slot
        nextFrame += frame                                    // vsync in a real game
        let wait = nextFrame - ContinuousClock.now
        if wait > .zero { Thread.sleep(forTimeInterval: wait / .seconds(1)) }
    }
    peer.finish()                                             // then leave()
    return game
}

extension Push {
    /// Player 0 pushes the ball back when it is right of centre, player 1 when it is left.
    static func choice(of slot: Int, in game: Ball) -> Push {
        Push(direction: game.position > .zero ? (slot == 0 ? -1 : 0) : (slot == 1 ? 1 : 0))
    }
}

/// 5. Run both players, each on its own thread, and compare.
let ticks = 300
let results = Mutex<[Int: Ball]>([:])
let threads = players.enumerated().map { slot, peer in
    Thread { let game = play(peer, slot: slot, ticks: ticks); results.withLock { $0[slot] = game } }
}
threads.forEach { $0.start() }
while results.withLock({ $0.count }) < players.count { Thread.sleep(forTimeInterval: 0.01) }
let games = results.withLock { $0 }
let sums = (0..<players.count).map { games[$0].map { String($0.checksum()) } ?? "none" }
print("tick \(ticks): checksums \(sums[0]) and \(sums[1]): \(Set(sums).count == 1 ? "in sync" : "DESYNC")")
for p in players { p.leave() } // Disconnect(leaving) to every neighbor
try group.syncShutdownGracefully()
