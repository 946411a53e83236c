import Testing
import MeshstepArena
@testable import MeshstepLockstep
import MeshstepWire

/// Runs `ticks` ticks with every slot driven by ``TankBot`` (or dropped: nil), returning the
/// game, the inputs applied and the checksum after every tick.
func botMatch(players: Int, seed: UInt64, ticks: Int, drop: (_ tick: Int, _ slot: Int) -> Bool = { _, _ in false })
    -> (game: TankArena, inputs: [[TankInput?]], checksums: [UInt64], events: [(tick: Int, event: ArenaEvent)])
{
    var game = TankArena(players: players, seed: seed)
    var inputs: [[TankInput?]] = []
    var checksums: [UInt64] = []
    var events: [(Int, ArenaEvent)] = []
    for tick in 0..<ticks {
        let row: [TankInput?] = (0..<players).map { drop(tick, $0) ? nil : TankBot.input(for: $0, in: game, tick: tick) }
        game.step(inputs: row)
        inputs.append(row)
        checksums.append(game.checksum())
        events += game.events.map { (game.tick, $0) }
    }
    return (game, inputs, checksums, events)
}

@Suite("TankArena rules")
struct ArenaRuleTests {
    @Test("two independent instances fed the same inputs compute the same checksum every tick")
    func sameInputsSameChecksums() {
        let first = botMatch(players: 4, seed: 7, ticks: 1500)
        // A second instance replays the recorded inputs without running the bots.
        var other = TankArena(players: 4, seed: 7)
        var sequence: [UInt64] = []
        for row in first.inputs {
            other.step(inputs: row)
            sequence.append(other.checksum())
        }
        #expect(sequence == first.checksums)
        #expect(other == first.game)
        // And a third, bots and all, from scratch.
        #expect(botMatch(players: 4, seed: 7, ticks: 1500).checksums == first.checksums)
        // The checksum really covers the state: it changes as the match goes on.
        #expect(Set(first.checksums).count == first.checksums.count)
        // A different seed is a different match.
        #expect(botMatch(players: 4, seed: 8, ticks: 1500).checksums.last != first.checksums.last)
    }

    @Test("the rules give the same bits on every machine: pinned checksum of a reference match")
    func pinnedChecksum() {
        // If you change the rules on purpose, print the new value and update it here.
        let match = botMatch(players: 4, seed: 7, ticks: 600)
        #expect(match.checksums[599] == Self.pinned, "checksum now \(match.checksums[599])")
    }
    static let pinned: UInt64 = 9_088_735_349_254_414_742

    @Test("sync test: two replicas and snapshot/restore every 7 ticks agree for 2400 ticks", arguments: [2, 4, 8])
    func syncTest(players: Int) {
        var shadow = TankArena(players: players, seed: 11)
        var row: [TankInput] = []
        let report = SyncTest<TankArena>(players: players, seed: 11).run(ticks: 2400) { tick, slot in
            // The bots read a shadow replica, stepped once all slots of a tick are known.
            if slot == 0 { row = (0..<players).map { TankBot.input(for: $0, in: shadow, tick: tick) } }
            if slot == players - 1 { shadow.step(inputs: row) }
            return row[slot]
        }
        #expect(report.firstMismatchTick == nil)
        #expect(report.kind == nil)
        #expect(report.ticksRun == 2400)
        #expect(report.finalChecksum == shadow.checksum())
    }

    @Test("snapshot mid-match restores exactly and continues identically")
    func snapshotRoundTrip() throws {
        let match = botMatch(players: 6, seed: 3, ticks: 777)
        var game = match.game
        // Mid-match: the snapshot has moving parts to get right, not just tanks standing still.
        #expect(game.tick == 777)
        #expect(!game.bullets.isEmpty || !game.explosions.isEmpty, "seed 3 at tick 777 has no bullet and no explosion in flight")
        let bytes = game.snapshot()
        var restored = try TankArena(snapshot: bytes)
        #expect(restored == game)
        #expect(restored.checksum() == game.checksum())
        #expect(restored.snapshot() == bytes)
        for tick in 777..<1500 {
            let row: [TankInput?] = (0..<6).map { TankBot.input(for: $0, in: game, tick: tick) }
            game.step(inputs: row)
            restored.step(inputs: row)
        }
        #expect(restored.checksum() == game.checksum())
        // Every truncation of a snapshot is rejected, never trapped on.
        for n in 0..<bytes.count { #expect(throws: (any Error).self) { _ = try TankArena(snapshot: Array(bytes[0..<n])) } }
        // So are trailing bytes and a wrong version.
        #expect(throws: (any Error).self) { _ = try TankArena(snapshot: bytes + [0]) }
        var wrongVersion = bytes
        wrongVersion[0] = 99
        #expect(throws: (any Error).self) { _ = try TankArena(snapshot: wrongVersion) }
    }

    @Test("bots are purposeful: they hit, destroy and finish rounds, and scores change")
    func botsPlay() {
        let match = botMatch(players: 4, seed: 5, ticks: 3000)
        let hits = match.events.filter { if case .hit = $0.event { true } else { false } }
        let kills = match.events.filter { if case .destroyed = $0.event { true } else { false } }
        let rounds = match.events.filter { if case .roundOver = $0.event { true } else { false } }
        // The first hit lands within 6 s of play (guns are cold for the first second).
        #expect(hits.first.map { $0.tick < 360 } == true, "first hit at \(String(describing: hits.first?.tick))")
        #expect(kills.count >= 6, "kills: \(kills.count)")
        #expect(rounds.count >= 2, "rounds: \(rounds.count)")
        #expect(match.game.tanks.map(\.score).reduce(0, +) == kills.count + rounds.filter { $0.event != .roundOver(winner: nil) }.count)
        #expect(match.game.round == rounds.count + (match.game.roundActive ? 1 : 0))
        // Nobody shoots themselves.
        for case let (_, .destroyed(target, by)) in match.events { #expect(target != by) }
    }

    @Test("a bot hunts down a player who does nothing")
    func botHuntsIdleTarget() {
        var game = TankArena(players: 2, seed: 21)
        var destroyedAt: Int?
        for tick in 0..<1200 where destroyedAt == nil {
            game.step(inputs: [TankBot.input(for: 0, in: game, tick: tick), .neutral])
            if game.events.contains(.destroyed(target: 1, by: 0)) { destroyedAt = game.tick }
        }
        #expect(destroyedAt != nil)
        #expect(game.tanks[0].score == 2)  // one kill plus the round
    }

    @Test("dodging works: a bot that dodges is hit by a smaller share of the shells fired at it")
    func botDodges() {
        func hitRate(dodging: Bool) -> (hits: Int, shots: Int) {
            var game = TankArena(players: 2, seed: 4)
            var hits = 0, shots = 0
            for tick in 0..<12000 {
                let a = TankBot.input(for: 0, in: game, tick: tick)
                let b = TankBot.input(for: 1, in: game, tick: tick, dodge: dodging)
                game.step(inputs: [a, b])
                hits += game.events.filter { $0 == .hit(target: 1, by: 0) || $0 == .destroyed(target: 1, by: 0) }.count
                shots += game.events.filter { $0 == .fired(slot: 0) }.count
            }
            return (hits, shots)
        }
        let plain = hitRate(dodging: false), dodging = hitRate(dodging: true)
        // hits/shots with dodging < hits/shots without, compared without division.
        #expect(dodging.hits * plain.shots < plain.hits * dodging.shots, "without dodging \(plain), with \(dodging)")
    }

    @Test("a slot whose input comes back (a late joiner, a player that came back) drives again from its spawn point")
    func slotJoins() {
        var game = TankArena(players: 3, seed: 4)
        game.step(inputs: [.neutral, .neutral, nil])
        #expect(game.events.contains(.dropped(slot: 2)))
        for _ in 0..<50 { game.step(inputs: [.neutral, .neutral, nil]) }
        #expect(!game.tanks[2].connected && !game.tanks[2].alive)
        game.step(inputs: [.neutral, .neutral, .neutral])
        #expect(game.events.contains(.joined(slot: 2)))
        #expect(game.tanks[2].connected && game.tanks[2].alive && game.tanks[2].health == TankArena.maxHealth)
        // The event survives a snapshot, like the others.
        let restored = try? TankArena(snapshot: game.snapshot())
        #expect(restored?.events == game.events && restored?.checksum() == game.checksum())
    }

    @Test("a dropped slot (nil input) leaves the field and the others play on")
    func droppedSlot() {
        let match = botMatch(players: 4, seed: 9, ticks: 3000) { tick, slot in slot == 2 && tick >= 100 }
        let drops = match.events.filter { if case .dropped = $0.event { true } else { false } }
        #expect(drops.count == 1)
        #expect(drops.first?.tick == 101)
        #expect(drops.first?.event == .dropped(slot: 2))
        #expect(!match.game.tanks[2].alive && !match.game.tanks[2].connected)
        // Slot 2 never fires or gets hit after the drop, and rounds still end.
        for (tick, event) in match.events where tick > 101 {
            #expect(event != .fired(slot: 2))
            if case let .destroyed(target, by) = event { #expect(target != 2 && by != 2) }
        }
        #expect(match.events.filter { $0.tick > 101 && $0.event == .roundStarted(round: match.game.round) }.count <= 1)
        #expect(match.game.round >= 4)
        // A slot missing from a short input array counts as dropped too.
        var game = TankArena(players: 3, seed: 1)
        game.step(inputs: [.neutral])
        #expect(game.events == [.dropped(slot: 1), .dropped(slot: 2)])
    }

    @Test("rounds time out after roundTicks when nobody fights, and a lone player is never declared winner")
    func roundTimeout() {
        var game = TankArena(players: 1, seed: 2)
        for _ in 0..<TankArena.roundTicks - 1 { game.step(inputs: [.neutral]) }
        #expect(game.roundActive && game.round == 1)
        game.step(inputs: [.neutral])
        #expect(game.events == [.roundOver(winner: nil)])
        #expect(game.intermission == TankArena.intermissionTicks)
        for _ in 0..<TankArena.intermissionTicks { game.step(inputs: [.neutral]) }
        #expect(game.events == [.roundStarted(round: 2)])
        #expect(game.tanks[0].alive && game.tanks[0].health == TankArena.maxHealth && game.tanks[0].score == 0)
    }

    @Test("tanks stay inside the arena and out of the pillars")
    func bounds() {
        var game = TankArena(players: 8, seed: 12)
        for tick in 0..<2000 {
            game.step(inputs: (0..<8).map { TankBot.input(for: $0, in: game, tick: tick) })
            for t in game.tanks where t.alive {
                #expect(t.x >= TankArena.tankRadius && t.x <= TankArena.width - TankArena.tankRadius)
                #expect(t.y >= TankArena.tankRadius && t.y <= TankArena.height - TankArena.tankRadius)
                #expect(!TankArena.blocked(t.x, t.y))
            }
        }
    }
}

@Suite("TankInput encoding")
struct TankInputTests {
    @Test("every byte decodes or throws; the 32 valid ones round-trip")
    func totalDecoder() throws {
        var valid = 0
        for b in 0...255 {
            var r = ByteReader([UInt8(b)])
            if b & 0xE0 == 0 {
                let input = try TankInput.decode(from: &r)
                var w = ByteWriter()
                input.encode(into: &w)
                #expect(w.bytes == [UInt8(b)])
                valid += 1
            } else {
                #expect(throws: WireError.invalidValue(field: "tank.input")) { _ = try TankInput.decode(from: &r) }
            }
        }
        #expect(valid == 32)
        var empty = ByteReader([])
        #expect(throws: WireError.truncated(offset: 0, needed: 1)) { _ = try TankInput.decode(from: &empty) }
        #expect(TankInput(thrust: true, fire: true).bits == 0x11)
        #expect(TankInput.neutral.bits == 0)
    }
}

@Suite("TankArena over the engine")
struct ArenaEngineTests {
    @Test("a recorded bot match replays to the same final checksum; an edited input is caught")
    func replay() throws {
        let match = botMatch(players: 4, seed: 13, ticks: 1800) { tick, slot in slot == 3 && tick >= 900 }
        var replay = Replay<TankInput>(players: 4, seed: 13)
        for (i, row) in match.inputs.enumerated() {
            replay.record(row, checksum: (i + 1) % 60 == 0 ? match.checksums[i] : nil)
        }
        let decoded = try Replay<TankInput>.decode(replay.encode())
        #expect(decoded == replay)
        #expect(decoded.verify(with: TankArena.self) == .verified(ticks: 1800, checkpoints: 30, finalChecksum: match.game.checksum()))
        // Change one input in the middle: re-simulation diverges at the next checkpoint.
        var edited = decoded
        for tick in 1000..<1200 { for slot in 0..<3 { edited.inputs[tick][slot] = TankInput(thrust: true, left: true) } }
        if case let .mismatch(tick, _, _) = edited.verify(with: TankArena.self) {
            #expect(tick > 1000 && tick <= 1260)
        } else {
            Issue.record("an edited replay verified")
        }
    }

    @Test(
        "an hour of 4 tank-arena players records, encodes and decodes row for row; prints the resident memory the recording takes beside a row per tick as its own array"
    )
    func anHourRecorded() throws {
        let match = botMatch(players: 4, seed: 13, ticks: 3600)
        let hour = 216_000
        func residentKB() -> Int {
            // /proc/self/statm: total and resident pages.
            guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
            return (Int(text.split(separator: " ")[1]) ?? 0) * 4
        }
        let before = residentKB()
        var replay = Replay<TankInput>(players: 4, seed: 13)
        for tick in 0..<hour { replay.record(match.inputs[tick % 3600], checksum: (tick + 1) % 60 == 0 ? UInt64(tick) : nil) }
        let recorded = residentKB()
        // The layout before: a row per tick as an array of its own (each built afresh, as a
        // game's rows are: not one storage shared by copies).
        var rows: [[TankInput?]] = []
        for tick in 0..<hour { rows.append(match.inputs[tick % 3600].map { $0 }) }
        let arrays = residentKB()
        let file = replay.encode()
        print(
            "an hour of 4 players: \(file.count / 1024) KB file; recording \(recorded - before) KB resident, a row per tick as an array \(arrays - recorded) KB"
        )
        #expect(replay.inputs.count == hour && rows.count == hour)
        let decoded = try Replay<TankInput>.decode(file)
        #expect(decoded == replay)
        for tick in [0, 3599, 3600, 123_457, hour - 1] { #expect(decoded.inputs[tick] == match.inputs[tick % 3600]) }
        // A short row is padded with nils; a row set in place changes that row only.
        var edited = Replay<TankInput>(players: 4, seed: 1)
        edited.record([.neutral, nil])
        edited.record([nil, nil, nil, .neutral])
        edited.inputs[0][2] = TankInput(thrust: true, left: true)
        #expect(edited.inputs[0] == [.neutral, nil, TankInput(thrust: true, left: true), nil])
        #expect(edited.inputs[1] == [nil, nil, nil, .neutral])
        #expect(try Replay<TankInput>.decode(edited.encode()) == edited)
    }

    @Test("4 and 8 lockstep sessions exchanging frames in memory with 20% loss stay in sync", arguments: [4, 8])
    func sessionsInMemory(players: Int) throws {
        var sessions = (0..<players).map { LockstepSession<TankInput>(players: players, localSlot: $0, inputDelay: 3) }
        var drivers = (0..<players).map { _ in LockstepDriver(game: TankArena(players: players, seed: 17), checksumInterval: 1, answers: true) }
        var games: [TankArena] { drivers.map(\.game) }
        var loss = GameRandom(seed: 99)
        var inboxes: [[(bytes: [UInt8], from: Int)]] = Array(repeating: [], count: players)
        var checks: [[UInt64]] = Array(repeating: [], count: players)
        var events: [LockstepEvent] = []
        let target = 1200
        var rounds = 0
        while games.contains(where: { $0.tick < target }) && rounds < 20 * target {
            rounds += 1
            for p in 0..<players {
                for message in inboxes[p] { try sessions[p].receive(message.bytes, fromSlot: message.from) }
                inboxes[p] = []
                var frames: [[UInt8]] = []
                drivers[p].receive(sessions[p].pollReady())
                while drivers[p].ticksApplied < target, let r = drivers[p].applyNext(answer: { game, _ in TankBot.input(for: p, in: game, tick: game.tick) }) {
                    checks[p].append(r.checksum!)
                    sessions[p].recordChecksum(tick: r.tick, checksum: r.checksum!)
                    frames.append(sessions[p].submit(r.answer!))
                }
                if frames.isEmpty { frames = [sessions[p].resendFrame()] }
                events += sessions[p].takeEvents()
                for frame in frames {
                    for q in 0..<players where q != p && !loss.chance(1, in: 5) { inboxes[q].append((frame, p)) }
                }
            }
        }
        #expect(events.isEmpty)
        for p in 0..<players {
            #expect(games[p].tick == target)
            #expect(checks[p] == checks[0])
        }
        #expect(games[0].tanks.map(\.score).reduce(0, +) > 0)
    }
}
