import MeshstepLockstep
import MeshstepWire

/// One tank: where it is, where it points, and how it is doing this round.
public struct Tank: Equatable, Sendable {
    /// Centre, in world units (0...``TankArena/width`` by 0...``TankArena/height``; y grows downward).
    public var x: Fixed
    /// Centre's vertical coordinate in world units, growing downward (see ``x``).
    public var y: Fixed
    /// Heading in turns, in [0, 1): 0 points along +x, 1/4 along +y (down on screen).
    public var angle: Fixed
    /// Signed speed along the heading this tick, in world units per tick.
    public var speed: Fixed
    /// Hits left before the tank is destroyed.
    public var health: Int
    /// Ticks until the gun can fire again.
    public var reload: Int
    /// On the field this round.
    public var alive: Bool
    /// Still in the session; a dropped player's tank never returns.
    public var connected: Bool
    /// Tanks destroyed plus rounds won.
    public var score: Int
}

/// A shell in flight.
public struct Bullet: Equatable, Sendable {
    /// Position, horizontal, in world units.
    public var x: Fixed
    /// Position, vertical (growing downward), in world units.
    public var y: Fixed
    /// Velocity in world units per tick.
    public var dx: Fixed
    /// Vertical velocity in world units per tick (positive: downward).
    public var dy: Fixed
    /// The slot that fired it.
    public var owner: Int
    /// Ticks left before it fizzles.
    public var ttl: Int
}

/// A purely visual effect kept in the state so every peer (and every replay) shows the same.
public struct Explosion: Equatable, Sendable {
    /// Where it shows, horizontally, in world units: the destroyed tank's centre or the point
    /// where the shell hit.
    public var x: Fixed
    /// Where it shows, vertically (growing downward), in world units.
    public var y: Fixed
    /// Ticks since it started; it disappears at ``TankArena/explosionTicks``.
    public var age: Int
    /// A destroyed tank (true) or a hit that did not destroy (false).
    public var big: Bool
}

/// What happened during the last step, for sounds and on-screen messages.
public enum ArenaEvent: Equatable, Sendable {
    /// The tank in `slot` fired a shell.
    case fired(slot: Int)
    /// A shell fired by slot `by` hit the tank in slot `target` without destroying it.
    case hit(target: Int, by: Int)
    /// A shell fired by slot `by` destroyed the tank in slot `target`; `by` scores a point.
    case destroyed(target: Int, by: Int)
    /// The round ended; `winner` is nil for a draw or a timeout with several survivors.
    case roundOver(winner: Int?)
    /// Round `round` (counted from 1) began after the intermission: every connected tank
    /// respawned.
    case roundStarted(round: Int)
    /// The slot got a nil input: it was dropped from the session.
    case dropped(slot: Int)
    /// The slot got an input again after nil ones (a player that joined late or came back): its
    /// tank drives again from its spawn point.
    case joined(slot: Int)
}

/// An axis-aligned obstacle that stops tanks and shells.
public struct Pillar: Equatable, Sendable {
    /// Centre, horizontal, in world units.
    public var x: Fixed
    /// Centre, vertical (growing downward), in world units.
    public var y: Fixed
    /// Half the side length.
    public var half: Fixed
}

/// The demo game: 1-8 tanks in a walled arena with four pillars. Drive, turn, shoot; the last
/// tank standing wins the round (or the timer runs out), then everyone respawns.
///
/// Deterministic by construction: `Fixed` math, a `GameRandom` in the state, arrays in slot
/// order, no clocks. One world unit is ``pixelsPerUnit`` screen pixels in the reference client.
public struct TankArena: LockstepGame, Equatable {
    /// Each player's controls for one tick.
    public typealias Input = TankInput

    // MARK: Rules

    /// Most slots the arena has: one per spawn point.
    public static let maxPlayers = 8
    /// Arena width in world units (x runs from 0 to 240).
    public static let width = Fixed(240)
    /// Arena height in world units (y runs from 0 to 150, downward).
    public static let height = Fixed(150)
    /// Suggested screen scale: the 240 x 150 world is 960 x 600 pixels.
    public static let pixelsPerUnit = 4
    /// A tank's radius in world units: how close it gets to walls, pillars and other tanks, and
    /// how near its centre a shell must pass to hit.
    public static let tankRadius = Fixed(5)
    /// Speed with thrust held, in world units per tick (0.8).
    public static let forwardSpeed = Fixed(4, 5)
    /// Speed in reverse, in world units per tick (0.5).
    public static let reverseSpeed = Fixed(1, 2)
    /// Turns per tick while a turn key is held (a full circle in 1.6 s at 60 Hz).
    public static let turnRate = Fixed(1, 96)
    /// Shell speed in world units per tick (2.5).
    public static let bulletSpeed = Fixed(5, 2)
    /// Ticks a shell flies before it fizzles (72 ticks, 180 world units).
    public static let bulletTicks = 72
    /// Ticks between two shots of one tank (half a second at 60 Hz).
    public static let reloadTicks = 30
    /// Hits that destroy a tank; every tank starts each round with this health.
    public static let maxHealth = 5
    /// Guns are cold for the first second of a round.
    public static let spawnReloadTicks = 60
    /// A round lasts at most 45 s at 60 Hz.
    public static let roundTicks = 2700
    /// Pause between rounds.
    public static let intermissionTicks = 150
    /// How long an explosion shows, in ticks.
    public static let explosionTicks = 30
    /// The four square pillars (16 world units on a side), placed symmetrically about the centre.
    public static let pillars: [Pillar] = [
        Pillar(x: 75, y: 48, half: 8), Pillar(x: 165, y: 48, half: 8),
        Pillar(x: 75, y: 102, half: 8), Pillar(x: 165, y: 102, half: 8),
    ]
    /// Spawn points around the arena, each facing the centre.
    static let spawns: [(x: Int, y: Int, eighths: Int)] = [
        (25, 75, 0), (215, 75, 4), (120, 15, 2), (120, 135, 6),
        (40, 22, 1), (200, 128, 5), (200, 22, 3), (40, 128, 7),
    ]

    // MARK: State

    /// Number of slots, 1...``maxPlayers``.
    public private(set) var players: Int
    /// One tank per slot, in slot order; a dropped player's tank stays, disconnected, until the
    /// slot's input comes back.
    public private(set) var tanks: [Tank]
    /// Shells in flight, in the order they were fired.
    public private(set) var bullets: [Bullet]
    /// Explosions still showing, oldest first.
    public private(set) var explosions: [Explosion]
    /// The seeded generator in the state; it shuffles the spawn points at each round start.
    public private(set) var random: GameRandom
    /// Ticks applied so far.
    public private(set) var tick: Int
    /// The current round, from 1.
    public private(set) var round: Int
    /// Ticks left in the current round (0 during the intermission).
    public private(set) var roundTicksLeft: Int
    /// Ticks left in the pause after a round (0 while a round is being played).
    public private(set) var intermission: Int
    /// The previous round's winner, -1 for none yet or a draw.
    public private(set) var lastWinner: Int
    /// What happened during the last step.
    public private(set) var events: [ArenaEvent]

    /// True while tanks can move and fire.
    public var roundActive: Bool { intermission == 0 }

    /// The state at tick 0: round 1 under way with `players` tanks (clamped to 1...8) at
    /// seeded spawn points, full health and cold guns.
    public init(players: Int, seed: UInt64) {
        self.players = min(max(players, 1), Self.maxPlayers)
        let blank = Tank(x: .zero, y: .zero, angle: .zero, speed: .zero, health: 0, reload: 0, alive: false, connected: true, score: 0)
        tanks = Array(repeating: blank, count: self.players)
        bullets = []
        explosions = []
        random = GameRandom(seed: seed)
        tick = 0
        round = 0
        roundTicksLeft = 0
        intermission = 0
        lastWinner = -1
        events = []
        startRound()
        events = []
    }

    /// The unit vector of a heading.
    public static func direction(_ angle: Fixed) -> (x: Fixed, y: Fixed) {
        (Fixed.cos(turns: angle), Fixed.sin(turns: angle))
    }

    /// A tank's velocity this tick.
    public func velocity(of slot: Int) -> (x: Fixed, y: Fixed) {
        let d = Self.direction(tanks[slot].angle)
        return (d.x * tanks[slot].speed, d.y * tanks[slot].speed)
    }

    /// Slots still on the field this round.
    public var aliveSlots: [Int] { tanks.indices.filter { tanks[$0].alive } }

    // MARK: Step

    /// Advances one tick. A nil input (or a missing one) takes that slot's tank off the field; an
    /// input for a slot that had none (a late joiner, or a player that came back) puts a fresh
    /// tank on the field at the slot's spawn point. During the intermission only its countdown runs; otherwise tanks turn, drive and
    /// fire, overlapping tanks are pushed apart, shells fly and hit, and the round may end.
    public mutating func step(inputs: [TankInput?]) {
        tick += 1
        events = []
        explosions = explosions.compactMap { e in
            var e = e
            e.age += 1
            return e.age < Self.explosionTicks ? e : nil
        }
        for slot in tanks.indices where tanks[slot].connected && (slot >= inputs.count || inputs[slot] == nil) {
            tanks[slot].connected = false
            tanks[slot].alive = false
            events.append(.dropped(slot: slot))
        }
        for slot in tanks.indices where !tanks[slot].connected && slot < inputs.count && inputs[slot] != nil {
            tanks[slot].connected = true
            spawn(slot, at: Self.spawns[slot % Self.spawns.count])
            tanks[slot].alive = intermission == 0
            events.append(.joined(slot: slot))
        }
        if intermission > 0 {
            intermission -= 1
            if intermission == 0 { startRound() }
            return
        }
        for slot in tanks.indices where tanks[slot].alive {
            drive(slot, inputs[slot] ?? .neutral)
        }
        separateTanks()
        moveBullets()
        roundTicksLeft -= 1
        checkRoundOver()
    }

    mutating func drive(_ slot: Int, _ input: TankInput) {
        var t = tanks[slot]
        if input.left { t.angle -= Self.turnRate }
        if input.right { t.angle += Self.turnRate }
        t.angle = Fixed(raw: t.angle.raw & 0xFFFF)
        t.speed = input.thrust == input.reverse ? .zero : (input.thrust ? Self.forwardSpeed : -Self.reverseSpeed)
        let d = Self.direction(t.angle)
        t.x += d.x * t.speed
        t.y += d.y * t.speed
        (t.x, t.y) = Self.pushOut(t.x, t.y)
        if t.reload > 0 { t.reload -= 1 }
        if input.fire, t.reload == 0 {
            t.reload = Self.reloadTicks
            let muzzle = Self.tankRadius + 2
            bullets.append(
                Bullet(x: t.x + d.x * muzzle, y: t.y + d.y * muzzle, dx: d.x * Self.bulletSpeed, dy: d.y * Self.bulletSpeed, owner: slot, ttl: Self.bulletTicks)
            )
            events.append(.fired(slot: slot))
        }
        tanks[slot] = t
    }

    /// Moves a tank's centre out of the walls and pillars.
    static func pushOut(_ px: Fixed, _ py: Fixed) -> (Fixed, Fixed) {
        let r = tankRadius
        var x = Fixed.clamp(px, r, width - r), y = Fixed.clamp(py, r, height - r)
        for p in pillars {
            // The closest point of the square to the centre.
            let cx = Fixed.clamp(x, p.x - p.half, p.x + p.half), cy = Fixed.clamp(y, p.y - p.half, p.y + p.half)
            let dx = x - cx, dy = y - cy
            let d2 = dx * dx + dy * dy
            guard d2 < r * r else { continue }
            if d2 == .zero {
                // Centre inside the square: leave along the shortest axis.
                let left = x - (p.x - p.half), right = p.x + p.half - x, top = y - (p.y - p.half), bottom = p.y + p.half - y
                let m = min(left, right, top, bottom)
                if m == left {
                    x = p.x - p.half - r
                } else if m == right {
                    x = p.x + p.half + r
                } else if m == top {
                    y = p.y - p.half - r
                } else {
                    y = p.y + p.half + r
                }
            } else {
                let d = d2.squareRoot
                x = cx + dx * r / d
                y = cy + dy * r / d
            }
        }
        return (x, y)
    }

    /// Pushes overlapping tanks apart, lowest slots first.
    mutating func separateTanks() {
        let minimum = Self.tankRadius * 2
        for i in tanks.indices where tanks[i].alive {
            for j in tanks.indices where j > i && tanks[j].alive {
                let dx = tanks[j].x - tanks[i].x, dy = tanks[j].y - tanks[i].y
                let d2 = dx * dx + dy * dy
                guard d2 < minimum * minimum else { continue }
                let d = d2.squareRoot
                // Coincident centres: separate along x, the lower slot to the left.
                let (ux, uy) = d == .zero ? (Fixed.one, Fixed.zero) : (dx / d, dy / d)
                let push = (minimum - d) / 2
                (tanks[i].x, tanks[i].y) = Self.pushOut(tanks[i].x - ux * push, tanks[i].y - uy * push)
                (tanks[j].x, tanks[j].y) = Self.pushOut(tanks[j].x + ux * push, tanks[j].y + uy * push)
            }
        }
    }

    /// True when the point is inside a pillar.
    public static func blocked(_ x: Fixed, _ y: Fixed) -> Bool {
        pillars.contains { (x - $0.x).magnitude <= $0.half && (y - $0.y).magnitude <= $0.half }
    }

    mutating func moveBullets() {
        var kept: [Bullet] = []
        kept.reserveCapacity(bullets.count)
        let r2 = Self.tankRadius * Self.tankRadius
        for var b in bullets {
            b.x += b.dx
            b.y += b.dy
            b.ttl -= 1
            if b.ttl <= 0 || b.x < .zero || b.y < .zero || b.x > Self.width || b.y > Self.height || Self.blocked(b.x, b.y) {
                continue
            }
            let target = tanks.indices.first { s in
                s != b.owner && tanks[s].alive
                    && {
                        let dx = tanks[s].x - b.x, dy = tanks[s].y - b.y; return dx * dx + dy * dy < r2
                    }()
            }
            guard let target else {
                kept.append(b)
                continue
            }
            tanks[target].health -= 1
            if tanks[target].health <= 0 {
                tanks[target].alive = false
                tanks[target].speed = .zero
                tanks[b.owner].score += 1
                explosions.append(Explosion(x: tanks[target].x, y: tanks[target].y, age: 0, big: true))
                events.append(.destroyed(target: target, by: b.owner))
            } else {
                explosions.append(Explosion(x: b.x, y: b.y, age: 0, big: false))
                events.append(.hit(target: target, by: b.owner))
            }
        }
        bullets = kept
    }

    mutating func checkRoundOver() {
        let contenders = tanks.filter(\.connected).count
        let alive = aliveSlots
        let over = roundTicksLeft <= 0 || (contenders >= 2 && alive.count <= 1) || alive.isEmpty
        guard over else { return }
        let winner = alive.count == 1 && contenders >= 2 ? alive[0] : nil
        if let winner { tanks[winner].score += 1 }
        lastWinner = winner ?? -1
        intermission = Self.intermissionTicks
        roundTicksLeft = 0
        bullets = []
        for s in tanks.indices { tanks[s].speed = .zero }
        events.append(.roundOver(winner: winner))
    }

    mutating func startRound() {
        round += 1
        roundTicksLeft = Self.roundTicks
        // A seeded shuffle of the spawn points (Fisher-Yates).
        var order = Array(0..<Self.spawns.count)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, random.int(in: 0...i)) }
        for s in tanks.indices {
            spawn(s, at: Self.spawns[order[s]])
            tanks[s].alive = tanks[s].connected
        }
        events.append(.roundStarted(round: round))
    }

    /// Puts the tank of `slot` at spawn point `p`, still, with full health and a cold gun.
    mutating func spawn(_ slot: Int, at p: (x: Int, y: Int, eighths: Int)) {
        tanks[slot].x = Fixed(p.x)
        tanks[slot].y = Fixed(p.y)
        tanks[slot].angle = Fixed(p.eighths, 8)
        tanks[slot].speed = .zero
        tanks[slot].health = Self.maxHealth
        tanks[slot].reload = Self.spawnReloadTicks
    }

    // MARK: Checksum and snapshot

    /// A hash of the whole state: counters, generator, tanks, shells, explosions and the last
    /// step's events.
    public func checksum() -> UInt64 {
        var h = StableHasher()
        h.combine(players)
        h.combine(tick)
        h.combine(round)
        h.combine(roundTicksLeft)
        h.combine(intermission)
        h.combine(lastWinner)
        h.combine(random)
        for t in tanks {
            h.combine(t.x); h.combine(t.y); h.combine(t.angle); h.combine(t.speed)
            h.combine(t.health); h.combine(t.reload); h.combine(t.alive); h.combine(t.connected); h.combine(t.score)
        }
        h.combine(bullets.count)
        for b in bullets {
            h.combine(b.x); h.combine(b.y); h.combine(b.dx); h.combine(b.dy); h.combine(b.owner); h.combine(b.ttl)
        }
        h.combine(explosions.count)
        for e in explosions { h.combine(e.x); h.combine(e.y); h.combine(e.age); h.combine(e.big) }
        h.combine(bytes: Self.encode(events))
        return h.finalize()
    }

    static let snapshotVersion: UInt8 = 1

    /// The whole state as bytes, format version 1 (for desync dumps and state transfer).
    public func snapshot() -> [UInt8] {
        var w = ByteWriter(capacity: 256 + bullets.count * 40)
        func fixed(_ v: Fixed) { w.u64(UInt64(bitPattern: v.raw)) }
        func int(_ v: Int) { w.u64(UInt64(bitPattern: Int64(v))) }
        w.u8(Self.snapshotVersion)
        w.u8(UInt8(players))
        int(tick); int(round); int(roundTicksLeft); int(intermission); int(lastWinner)
        w.u64(random.state)
        for t in tanks {
            fixed(t.x); fixed(t.y); fixed(t.angle); fixed(t.speed)
            int(t.health); int(t.reload); int(t.score)
            w.u8((t.alive ? 1 : 0) | (t.connected ? 2 : 0))
        }
        w.varint(UInt64(bullets.count))
        for b in bullets { fixed(b.x); fixed(b.y); fixed(b.dx); fixed(b.dy); w.u8(UInt8(b.owner)); int(b.ttl) }
        w.varint(UInt64(explosions.count))
        for e in explosions { fixed(e.x); fixed(e.y); int(e.age); w.u8(e.big ? 1 : 0) }
        w.raw(Self.encode(events))
        return w.bytes
    }

    /// Restores a state from ``snapshot()``. Throws `WireError` for another format version,
    /// out-of-range values (player count, slots, flags), or bytes missing or left over.
    public init(snapshot: [UInt8]) throws {
        var r = ByteReader(snapshot)
        func fixed() throws(WireError) -> Fixed { Fixed(raw: Int64(bitPattern: try r.u64())) }
        func int() throws(WireError) -> Int { Int(Int64(bitPattern: try r.u64())) }
        guard try r.u8() == Self.snapshotVersion else { throw WireError.invalidValue(field: "arena.version") }
        players = Int(try r.u8())
        guard (1...Self.maxPlayers).contains(players) else { throw WireError.invalidValue(field: "arena.players") }
        tick = try int(); round = try int(); roundTicksLeft = try int(); intermission = try int(); lastWinner = try int()
        guard (-1..<players).contains(lastWinner) else { throw WireError.invalidValue(field: "arena.lastWinner") }
        random = GameRandom(seed: 0)
        random.state = try r.u64()
        tanks = []
        for _ in 0..<players {
            let x = try fixed(), y = try fixed(), angle = try fixed(), speed = try fixed()
            let health = try int(), reload = try int(), score = try int()
            let flags = try r.u8()
            guard flags & ~3 == 0 else { throw WireError.invalidValue(field: "arena.tank.flags") }
            tanks.append(
                Tank(x: x, y: y, angle: angle, speed: speed, health: health, reload: reload, alive: flags & 1 != 0, connected: flags & 2 != 0, score: score))
        }
        let bulletCount = try r.count(field: "arena.bullets", limit: r.remaining / 41)
        bullets = []
        for _ in 0..<bulletCount {
            let x = try fixed(), y = try fixed(), dx = try fixed(), dy = try fixed()
            let owner = Int(try r.u8())
            guard owner < players else { throw WireError.invalidValue(field: "arena.bullet.owner") }
            bullets.append(Bullet(x: x, y: y, dx: dx, dy: dy, owner: owner, ttl: try int()))
        }
        let explosionCount = try r.count(field: "arena.explosions", limit: r.remaining / 25)
        explosions = []
        for _ in 0..<explosionCount {
            let x = try fixed(), y = try fixed(), age = try int()
            explosions.append(Explosion(x: x, y: y, age: age, big: try r.u8() != 0))
        }
        events = try Self.decodeEvents(&r, players: players)
        try r.expectEnd()
    }

    static func encode(_ events: [ArenaEvent]) -> [UInt8] {
        var w = ByteWriter(capacity: 4 + events.count * 3)
        w.varint(UInt64(events.count))
        for e in events {
            switch e {
            case let .fired(slot): w.u8(0); w.u8(UInt8(slot))
            case let .hit(target, by): w.u8(1); w.u8(UInt8(target)); w.u8(UInt8(by))
            case let .destroyed(target, by): w.u8(2); w.u8(UInt8(target)); w.u8(UInt8(by))
            case let .roundOver(winner): w.u8(3); w.u8(winner.map { UInt8($0 + 1) } ?? 0)
            case let .roundStarted(round): w.u8(4); w.varint(UInt64(round))
            case let .dropped(slot): w.u8(5); w.u8(UInt8(slot))
            case let .joined(slot): w.u8(6); w.u8(UInt8(slot))
            }
        }
        return w.bytes
    }

    static func decodeEvents(_ r: inout ByteReader, players: Int) throws(WireError) -> [ArenaEvent] {
        func slot() throws(WireError) -> Int {
            let s = Int(try r.u8())
            guard s < players else { throw .invalidValue(field: "arena.event.slot") }
            return s
        }
        let n = try r.count(field: "arena.events", limit: r.remaining / 2)
        var events: [ArenaEvent] = []
        for _ in 0..<n {
            switch try r.u8() {
            case 0: events.append(.fired(slot: try slot()))
            case 1: events.append(.hit(target: try slot(), by: try slot()))
            case 2: events.append(.destroyed(target: try slot(), by: try slot()))
            case 3:
                let w = Int(try r.u8())
                guard w <= players else { throw .invalidValue(field: "arena.event.winner") }
                events.append(.roundOver(winner: w == 0 ? nil : w - 1))
            case 4: events.append(.roundStarted(round: try r.count(field: "arena.event.round", limit: Int(Int32.max))))
            case 5: events.append(.dropped(slot: try slot()))
            case 6: events.append(.joined(slot: try slot()))
            default: throw .invalidValue(field: "arena.event.kind")
            }
        }
        return events
    }
}
