import Testing
import Foundation
import MeshstepArena
import MeshstepBots
@testable import MeshstepLockstep
import MeshstepWire
import MeshstepMesh
import MeshstepSimulation

/// Sessions exchanging frames in memory, frame by frame in virtual time: each frame every live
/// player runs its timers, applies what is ready, submits one input per applied tick, and its
/// frames reach the peers `canHear` allows.
struct Room {
    var sessions: [LockstepSession<Move>]
    var drivers: [LockstepDriver<Walkers>]
    var games: [Walkers] { drivers.map(\.game) }
    var alive: [Bool]
    var canHear: (_ from: Int, _ to: Int, _ frame: Int) -> Bool = { _, _, _ in true }
    /// Peers whose game loop stalls (they keep sending frames but apply nothing).
    var frozen: Set<Int> = []
    var events: [[LockstepEvent]]
    var checksums: [[Int: UInt64]]
    var frame = 0
    /// Virtual time between two frames (16 ms: about 60 Hz).
    var frameMilliseconds = 16

    init(players: Int, spectators: Int = 0, configuration: (LockstepConfiguration) -> LockstepConfiguration = { $0 }) throws {
        let config = configuration(LockstepConfiguration(players: players).withChecksumInterval(10))
        let generated = SessionKeys.generated(configuration: config, seed: 7)
        sessions = try (0..<players).map {
            try config.startPlayer(slot: $0, keys: SessionKeys(descriptor: generated.descriptor, signer: generated.signers[$0]))
        }
        sessions += try (0..<spectators).map { _ in try config.startSpectator(keys: SessionKeys(descriptor: generated.descriptor, signer: nil)) }
        // Every tick is checksummed (the sessions compare every 10th) so tests can compare any tick.
        drivers = (0..<players + spectators).map { LockstepDriver(game: Walkers(players: players, seed: 1), checksumInterval: 1, answers: $0 < players) }
        alive = Array(repeating: true, count: players + spectators)
        events = Array(repeating: [], count: players + spectators)
        checksums = Array(repeating: [:], count: players + spectators)
    }

    var players: Int { sessions[0].players }

    mutating func run(frames: Int) throws {
        for _ in 0..<frames { try step() }
    }

    mutating func step() throws {
        let now = Duration.milliseconds(frame * frameMilliseconds)
        var outbox: [(from: Int, bytes: [UInt8])] = []
        for p in sessions.indices where alive[p] {
            sessions[p].update(now: now)
            var sent = false
            if !frozen.contains(p) { drivers[p].receive(sessions[p].pollReady()) }
            while let r = drivers[p].applyNext(answer: { _, tick in botMove(tick, p) }) {
                checksums[p][r.tick] = r.checksum
                sessions[p].recordChecksum(tick: r.tick, checksum: r.checksum!)
                if let input = r.answer {
                    outbox.append((p, sessions[p].submit(input, now: now)))
                    sent = true
                }
            }
            events[p] += sessions[p].takeEvents()
            if !sent, p < players { outbox.append((p, sessions[p].resendFrame())) }
        }
        for (from, bytes) in outbox where !bytes.isEmpty {
            for to in sessions.indices where to != from && alive[to] && canHear(from, to, frame) {
                try sessions[to].receive(bytes, fromSlot: from, now: now)
                events[to] += sessions[to].takeEvents()
            }
        }
        frame += 1
    }
}

@Suite("Lockstep session")
struct SessionTests {
    @Test("two sessions exchange frames and confirm the same ticks")
    func exchange() throws {
        var a = LockstepSession<Move>(players: 2, localSlot: 0, inputDelay: 2)
        var b = LockstepSession<Move>(players: 2, localSlot: 1, inputDelay: 2)
        // Ticks 0 and 1 are neutral for everyone: ready at once.
        #expect(a.pollReady().map(\.tick) == [0, 1])
        #expect(b.pollReady().map(\.tick) == [0, 1])
        var readyA: [(tick: Int, inputs: [Move?])] = [], readyB: [(tick: Int, inputs: [Move?])] = []
        for k in 0..<5 {
            let fa = a.submit(botMove(k, 0)), fb = b.submit(botMove(k, 1))
            try a.receive(fb, fromSlot: 1)
            try b.receive(fa, fromSlot: 0)
            readyA += a.pollReady()
            readyB += b.pollReady()
        }
        // The newest tick waits for the other's confirmation, in its next frame.
        #expect(readyA.map(\.tick) == [2, 3, 4, 5])
        _ = try a.receive(b.resendFrame(), fromSlot: 1)
        try b.receive(a.resendFrame(), fromSlot: 0)
        readyA += a.pollReady()
        readyB += b.pollReady()
        #expect(readyA.map(\.tick) == [2, 3, 4, 5, 6])
        #expect(readyA.map(\.inputs) == readyB.map(\.inputs))
        #expect(readyA[0].inputs == [botMove(0, 0), botMove(0, 1)])
    }

    @Test(
        "time sync sees a game loop that applies each tick the moment it is agreed as ahead of one that holds agreed ticks in hand (their next ticks are equal: only their inputs tell)"
    )
    func framesAheadFromInputs() throws {
        var a = LockstepSession<Move>(players: 2, localSlot: 0, inputDelay: 3)
        var b = LockstepSession<Move>(players: 2, localSlot: 1, inputDelay: 3)
        // `a` applies every tick as soon as it is handed over; `b` takes ticks as soon as they
        // are agreed too, but its game applies one a frame and only with 3 more in hand: its
        // inputs (one per applied tick) come 3 ticks after a's.
        var inHand: [Int] = []
        var aheadOfB: [Int] = [], behindA: [Int] = []
        for step in 0..<40 {
            let now = Duration.milliseconds(16 * step)
            var fromA: [[UInt8]] = [], fromB: [[UInt8]] = []
            for r in a.pollReady() { fromA.append(a.submit(botMove(r.tick, 0), now: now)) }
            inHand += b.pollReady().map(\.tick)
            if inHand.count > 3 || (step < 3 && !inHand.isEmpty) { fromB.append(b.submit(botMove(inHand.removeFirst(), 1), now: now)) }
            if fromA.isEmpty { fromA.append(a.resendFrame()) }
            if fromB.isEmpty { fromB.append(b.resendFrame()) }
            for f in fromA where !f.isEmpty { try b.receive(f, fromSlot: 0, now: now) }
            for f in fromB where !f.isEmpty { try a.receive(f, fromSlot: 1, now: now) }
            if step >= 30 {
                aheadOfB.append(a.stats.framesAhead)
                behindA.append(b.stats.framesAhead)
            }
        }
        // Their next ticks stay within one of each other; a's game loop runs 3 ahead.
        #expect(abs(a.stats.nextTick - b.stats.nextTick) <= 1)
        #expect(aheadOfB.allSatisfy { $0 >= 2 }, "a's frames ahead: \(aheadOfB)")
        #expect(behindA.allSatisfy { $0 <= 0 }, "b's frames ahead: \(behindA)")
    }

    @Test(
        "each player's input-delay need reaches the others in its next frames with inputs; the largest is known only while every other active player reported one recently"
    )
    func inputDelayNeeds() throws {
        var a = LockstepSession<Move>(players: 3, localSlot: 0, inputDelay: 3)
        var b = LockstepSession<Move>(players: 3, localSlot: 1, inputDelay: 3)
        var c = LockstepSession<Move>(players: 3, localSlot: 2, inputDelay: 3)
        b.announceInputDelayNeed(5)
        c.announceInputDelayNeed(40)  // more than any delay: sent as 32
        try a.receive(b.submit(botMove(0, 1), now: .seconds(1)), fromSlot: 1, now: .seconds(1))
        #expect(a.reportedInputDelayNeed(since: .zero) == nil, "slot 2 reported no need yet")
        try a.receive(c.submit(botMove(0, 2), now: .seconds(2)), fromSlot: 2, now: .seconds(2))
        #expect(a.reportedInputDelayNeed(since: .zero) == 32)
        #expect(a.reportedInputDelayNeed(since: .milliseconds(1500)) == nil, "slot 1's need is older")
        // Four frames carry it, then no more.
        var carried = 0
        for t in 1...6 where try LockstepFrame.decode(b.submit(botMove(t, 1), now: .seconds(3)), players: 3, as: Move.self).need == 5 { carried += 1 }
        #expect(carried == 3, "the first frame and three more")
    }

    @Test("a lost frame is repaired by the next one (each frame repeats the newest inputs)")
    func redundancy() throws {
        var a = LockstepSession<Move>(players: 2, localSlot: 0, inputDelay: 3)
        var b = LockstepSession<Move>(players: 2, localSlot: 1, inputDelay: 3)
        #expect(a.pollReady().count == 3 && b.pollReady().count == 3)
        _ = a.submit(botMove(0, 0))  // lost
        _ = a.submit(botMove(1, 0))  // lost
        let third = a.submit(botMove(2, 0))
        for k in 0..<3 { _ = b.submit(botMove(k, 1)) }
        try b.receive(third, fromSlot: 0)
        #expect(b.confirmedTick == 5)
        #expect(b.stats.players[0].repairedInputs == 2 && b.stats.confirmedTick == 5)
        // Applied once `a` confirms holding the same inputs.
        _ = try a.receive(b.resendFrame(), fromSlot: 1)
        try b.receive(a.resendFrame(), fromSlot: 0)
        #expect(b.pollReady().map(\.tick) == [3, 4, 5])
    }

    @Test("a peer cannot run further ahead than its input delay: the newest early input wins")
    func noRunAhead() throws {
        var a = LockstepSession<Move>(players: 2, localSlot: 0, inputDelay: 1)
        _ = a.pollReady()
        // Tick 0 is applied (neutral): inputs for ticks 1 and 2 may be sent, not more.
        _ = a.submit(botMove(0, 0))
        _ = a.submit(botMove(1, 0))
        #expect(a.nextLocalTick == 3)
        _ = a.submit(botMove(2, 0))
        _ = a.submit(botMove(3, 0))
        #expect(a.nextLocalTick == 3)  // held back until tick 1 is applied
    }

    @Test("a frame claiming another player's slot is never applied")
    func forgedSlot() throws {
        var a = LockstepSession<Move>(players: 3, localSlot: 0, inputDelay: 0)
        var mallory = LockstepSession<Move>(players: 3, localSlot: 2, inputDelay: 0)
        // Mallory (slot 1 on the mesh) floods a frame that says it is slot 2.
        let forged = mallory.submit(Move(direction: 0, boost: true))
        try a.receive(forged, fromSlot: 1)
        let events = a.takeEvents()
        #expect(events == [.forgedInput(claimedSlot: 2, fromSlot: 1)])
        #expect(a.confirmedTick == -1)
        #expect(throws: LockstepError.self) { try a.receive([1, 2, 3], fromSlot: 1) }
        #expect(throws: LockstepError.unknownSlot(7)) { try a.receive(forged, fromSlot: 7) }
    }

    @Test("two different inputs for one tick from one slot name it and vote it out; the first is kept")
    func equivocation() throws {
        var a = LockstepSession<Move>(players: 2, localSlot: 0, inputDelay: 0)
        var b1 = LockstepSession<Move>(players: 2, localSlot: 1, inputDelay: 0)
        var b2 = b1
        let honest = b1.submit(Move(direction: 1, boost: false))
        let other = b2.submit(Move(direction: 5, boost: true))
        try a.receive(honest, fromSlot: 1)
        #expect(a.takeEvents().isEmpty)
        try a.receive(other, fromSlot: 1)
        let events = a.takeEvents()
        #expect(events.first == .equivocation(slot: 1, tick: 0))
        #expect(events.contains(.dropProposed(slot: 1, heldThrough: 0)))
        #expect(a.provenEquivocators == [1])
        #expect(a.input(slot: 1, tick: 0) == InputBytes(encoding: Move(direction: 1, boost: false)))
    }

    @Test("a peer with different session parameters is reported, its frames ignored")
    func configurationMismatch() throws {
        var a = LockstepSession<Move>(players: 2, localSlot: 0, inputDelay: 0, checksumInterval: 30)
        var b = LockstepSession<Move>(players: 2, localSlot: 1, inputDelay: 0, checksumInterval: 60)
        try a.receive(b.submit(.neutral), fromSlot: 1)
        #expect(a.takeEvents() == [.configurationMismatch(slot: 1)])
        #expect(a.confirmedTick == -1)
    }

    @Test("the configuration builder validates and names the field")
    func builder() throws {
        #expect(throws: LockstepConfigurationError.self) { try LockstepConfiguration(players: 1).validate() }
        #expect(throws: LockstepConfigurationError.outOfRange(field: "inputDelay", value: 40, allowed: 0...32)) {
            try LockstepConfiguration(players: 4).withInputDelay(40).validate()
        }
        let config = LockstepConfiguration(players: 4).withInputDelay(3).withChecksumInterval(20)
        let generated = SessionKeys.generated(configuration: config, seed: 1)
        let keys = try SessionKeys(descriptor: generated.descriptor, signer: generated.signers[2])
        #expect(throws: LockstepConfigurationError.self) { let _: LockstepSession<Move> = try config.startPlayer(slot: 4, keys: keys) }
        // A roster for 4 players does not fit a session of 5.
        #expect(throws: LockstepConfigurationError.self) {
            let _: LockstepSession<Move> = try LockstepConfiguration(players: 5).startPlayer(slot: 2, keys: keys)
        }
        // A player must be able to sign.
        #expect(throws: LockstepConfigurationError.self) {
            let _: LockstepSession<Move> = try config.startPlayer(slot: 2, keys: SessionKeys(descriptor: generated.descriptor, signer: nil))
        }
        let s: LockstepSession<Move> = try config.startPlayer(slot: 2, keys: keys)
        #expect(s.localSlot == 2 && s.inputDelay == 3 && s.checksumInterval == 20 && s.role == .player(2))
        let spectator: LockstepSession<Move> = try config.startSpectator(keys: SessionKeys(descriptor: generated.descriptor, signer: nil))
        #expect(spectator.isSpectator)
        var watcher = spectator
        #expect(watcher.submit(.neutral).isEmpty)
    }

    @Test("different checksums for one tick raise a desync naming the tick and the slot")
    func desync() throws {
        var room = try Room(players: 2)
        try room.run(frames: 15)
        #expect(room.events.allSatisfy { $0.isEmpty })
        // Tick 20 is on the interval: peer b computes something else there.
        var a = room.sessions[0], b = room.sessions[1]
        var aGame = room.games[0]
        var events: [LockstepEvent] = []
        for _ in 0..<40 {
            for r in a.pollReady() { aGame.step(inputs: r.inputs); a.recordChecksum(tick: r.tick, checksum: aGame.checksum()); _ = a.submit(.neutral) }
            for r in b.pollReady() { b.recordChecksum(tick: r.tick, checksum: 222); _ = b.submit(.neutral) }
            try a.receive(b.resendFrame(), fromSlot: 1)
            events += a.takeEvents()
            try b.receive(a.resendFrame(), fromSlot: 0)
        }
        // Every checked tick from here on disagrees: each is reported once, naming slot 1, with
        // our own checksum for that tick.
        var ticks: [Int] = []
        for case let .desync(tick, slots, local) in events {
            #expect(slots == [1] && a.localChecksums[tick] == local)
            ticks.append(tick)
        }
        #expect(ticks.count == events.count && ticks.count >= 3)
        #expect(ticks == Array(Set(ticks)).sorted() && ticks.allSatisfy { $0 % 10 == 0 })
        try a.receive(b.resendFrame(), fromSlot: 1)
        #expect(!a.takeEvents().contains { if case .desync = $0 { true } else { false } })
    }

    @Test("the input delay changes through the input stream: every peer switches after the same tick")
    func inputDelayChange() throws {
        var room = try Room(players: 3)
        try room.run(frames: 30)
        try room.sessions[1].requestInputDelay(6)
        try room.run(frames: 60)
        var switched: [Int] = []
        for p in 0..<3 {
            let changes = room.events[p].compactMap { if case let .inputDelayChanged(d, t) = $0 { (d, t) } else { nil } }
            #expect(changes.count == 1 && changes[0].0 == 6)
            switched.append(changes.first?.1 ?? -1)
            #expect(room.sessions[p].inputDelay == 6)
        }
        #expect(Set(switched).count == 1)
        // And back down: no input lost, no desync, everyone keeps going.
        try room.sessions[0].requestInputDelay(1)
        try room.run(frames: 60)
        for p in 0..<3 { #expect(room.sessions[p].inputDelay == 1) }
        #expect(Set(room.checksums.map { $0[100] }).count == 1)
        #expect(room.sessions.map(\.nextTick).min()! > 140)
    }

    @Test("a vanished player is dropped by every survivor at the same tick; the others go on")
    func agreedDrop() throws {
        var room = try Room(players: 4) { $0.withDisconnectTimeout(.milliseconds(300)).withDisconnectNotify(.milliseconds(100)) }
        try room.run(frames: 40)
        room.alive[2] = false
        try room.run(frames: 100)
        let survivors = [0, 1, 3]
        let rosters = survivors.map { room.sessions[$0].roster }
        #expect(Set(rosters.map { "\($0.dropTicks)" }).count == 1)
        let dropAt = try #require(rosters[0].dropTicks[2])
        #expect(rosters[0].drops == [RosterChange.Drop(slot: 2, tick: dropAt)] && rosters[0].activeSlots == [0, 1, 3])
        #expect(rosters.allSatisfy { $0.epoch == 1 && $0.certificates.count == 1 && $0.halted == nil })
        for s in survivors {
            #expect(room.sessions[s].nextTick > dropAt + 30)
            #expect(room.events[s].contains(.dropped(slot: 2, tick: dropAt)))
            #expect(room.events[s].contains(.peerSilent(slot: 2)))
        }
        // Same state everywhere after the drop.
        let t = room.sessions.map(\.nextTick).min()! - 1
        #expect(Set(survivors.map { room.checksums[$0][t] }).count == 1)
    }

    @Test("a player signs its input chain once per 8 ticks: the others hold its statements 8 ticks apart")
    func statementCadence() throws {
        var room = try Room(players: 2)
        try room.run(frames: 60)
        let ticks = room.sessions[1].statements[0].keys.sorted()
        #expect(ticks.count >= 5, "\(ticks)")
        #expect(zip(ticks, ticks.dropFirst()).allSatisfy { $1 - $0 == LockstepSession<Move>.statementInterval }, "\(ticks)")
        #expect(room.sessions.allSatisfy { $0.nextTick > 50 })
    }

    @Test("a session run far faster than 60 Hz signs at most once per 100 ms, and at least once per 256 ticks on a clock that stands still")
    func statementSpacing() throws {
        // Slot 0's statement ticks as slot 1 receives them over 600 frames `milliseconds` apart
        // (the sessions keep recent statements only: collected as they come).
        func statementTicks(frameMilliseconds milliseconds: Int) throws -> (ticks: [Int], nextTicks: [Int]) {
            var room = try Room(players: 2)
            room.frameMilliseconds = milliseconds
            var seen = Set<Int>()
            for _ in 0..<600 {
                try room.step()
                seen.formUnion(room.sessions[1].statements[0].keys)
            }
            return (seen.sorted(), room.sessions.map(\.nextTick))
        }
        let cap = LockstepSession<Move>.statementIntervalCap
        let fast = try statementTicks(frameMilliseconds: 1)
        #expect(fast.nextTicks.allSatisfy { $0 > 500 })
        #expect(fast.ticks.count >= 4, "\(fast.ticks)")
        // A tick per millisecond at most: 100 ms is at least 100 ticks.
        #expect(zip(fast.ticks, fast.ticks.dropFirst()).allSatisfy { $1 - $0 >= 100 && $1 - $0 <= cap }, "\(fast.ticks)")
        let still = try statementTicks(frameMilliseconds: 0)
        #expect(still.ticks.count >= 2, "\(still.ticks)")
        #expect(zip(still.ticks, still.ticks.dropFirst()).allSatisfy { $1 - $0 == cap }, "\(still.ticks)")
    }

    @Test("a survivor that missed the vanished player's last inputs: the slot is cut where every survivor holds it, and nobody waits for inputs it cannot get")
    func dropWhereEveryoneHolds() throws {
        var room = try Room(players: 3) { $0.withDisconnectTimeout(.milliseconds(300)).withDisconnectNotify(.milliseconds(100)) }
        try room.run(frames: 20)
        // Slot 2's last frames reach slot 0 only, then slot 2 dies. (Its frames went straight
        // over the links: no survivor can pull from another what it missed.)
        room.canHear = { from, to, _ in !(from == 2 && to == 1) }
        try room.run(frames: 3)
        room.alive[2] = false
        let before = room.sessions[1].heldThrough(2)
        #expect(before < room.sessions[0].heldThrough(2))
        room.canHear = { _, _, _ in true }
        try room.run(frames: 40)
        // The drop comes right after the newest input both survivors hold: slot 0 leaves out
        // the inputs only it received (nobody applied them).
        let d0 = try #require(room.sessions[0].dropTick[2]), d1 = try #require(room.sessions[1].dropTick[2])
        #expect(d0 == d1 && d0 == before + 1)
        #expect(room.sessions[0].nextTick > d0 + 10 && room.sessions[1].nextTick > d0 + 10)
        #expect(room.checksums[0][d0 + 10] != nil && room.checksums[0][d0 + 10] == room.checksums[1][d0 + 10])
    }

    @Test("a partition: the strict majority continues, the minority halts with a reason, nothing diverges")
    func partition() throws {
        var room = try Room(players: 5) { $0.withDisconnectTimeout(.milliseconds(300)).withDisconnectNotify(.milliseconds(100)) }
        try room.run(frames: 30)
        let side = [3, 4]
        room.canHear = { from, to, _ in side.contains(from) == side.contains(to) }
        try room.run(frames: 120)
        for s in side {
            #expect(room.sessions[s].halted == .lostMajority(reachable: 2, roster: 5))
        }
        for s in [0, 1, 2] {
            #expect(room.sessions[s].halted == nil)
            #expect(room.sessions[s].activeSlots == [0, 1, 2])
        }
        // Heal: the majority keeps going, the halted side stays halted; no tick diverged.
        room.canHear = { _, _, _ in true }
        try room.run(frames: 60)
        #expect(room.sessions[3].halted != nil && room.sessions[4].halted != nil)
        for tick in 0..<room.sessions[3].nextTick {
            let values = Set((0..<5).compactMap { room.checksums[$0][tick] })
            #expect(values.count <= 1)
        }
    }

    @Test("an even split: the half holding the lowest slot continues")
    func tieBreak() throws {
        var room = try Room(players: 4) { $0.withDisconnectTimeout(.milliseconds(300)).withDisconnectNotify(.milliseconds(100)) }
        try room.run(frames: 30)
        room.canHear = { from, to, _ in (from < 2) == (to < 2) }
        try room.run(frames: 120)
        #expect(room.sessions[0].halted == nil && room.sessions[1].halted == nil)
        #expect(room.sessions[2].halted == .lostMajority(reachable: 2, roster: 4))
        #expect(room.sessions[3].halted == .lostMajority(reachable: 2, roster: 4))
    }

    @Test("spectators follow the game, apply the same drops and compute the same checksums")
    func spectators() throws {
        var room = try Room(players: 3, spectators: 2) { $0.withDisconnectTimeout(.milliseconds(300)).withDisconnectNotify(.milliseconds(100)) }
        try room.run(frames: 40)
        room.alive[1] = false
        try room.run(frames: 100)
        let drop = room.sessions[0].dropTick[1]
        #expect(drop != nil)
        for s in [3, 4] {
            #expect(room.sessions[s].dropTick[1] == drop)
            #expect(room.sessions[s].nextTick > 100)
            for (tick, c) in room.checksums[s] { #expect(room.checksums[0][tick] == c) }
        }
    }

    @Test("time sync: a peer that runs ahead of a slower one sees how far ahead it is")
    func framesAhead() throws {
        var room = try Room(players: 2) { $0.withInputDelay(4) }
        try room.run(frames: 30)
        #expect(room.sessions[0].framesAhead <= 1 && room.sessions[1].framesAhead <= 1)
        // Peer 1's game loop stalls for 10 frames (its frames still arrive): peer 0 can run
        // ahead only by the input delay, and knows by how much.
        room.frozen = [1]
        try room.run(frames: 10)
        #expect(room.sessions[0].framesAhead >= 3)
        room.frozen = []
        try room.run(frames: 40)
        // The room runs unpaced (every ready tick at once), so the two leapfrog by up to the
        // input delay, never more; the game loops' 60 Hz pacing is what keeps them level.
        #expect(room.sessions[0].framesAhead <= 4 && room.sessions[1].framesAhead <= 4)
        #expect(room.sessions[0].nextTick > 120 && room.sessions[1].nextTick > 120)
    }

    @Test("network stats: round trip, loss and frames ahead per player")
    func stats() throws {
        var room = try Room(players: 3)
        room.canHear = { from, to, frame in !(from == 2 && to == 0 && frame % 4 == 0) }
        try room.run(frames: 200)
        let summary = room.sessions[0].stats
        let stats = summary.players
        #expect(stats.map(\.slot) == [1, 2])
        #expect(summary.confirmedTick >= summary.nextTick - 1 && summary.newestOwnInput > summary.nextTick)
        #expect(summary.acknowledged[1] > 150 && summary.acknowledged[2] > 150)
        #expect(stats[0].loss == 0)
        #expect(stats[1].loss > 0.2 && stats[1].loss < 0.3)
        #expect(stats.allSatisfy { $0.roundTrip != nil && $0.active && abs($0.framesAhead) <= 2 })
        #expect(stats[1].repairedInputs > 0)
    }

    @Test("a player that finished waits until every other player holds its newest input, or is gone: silent a second, or a quarter second without a link")
    func finishWaitsForTheNewestInput() throws {
        var room = try Room(players: 3, spectators: 1)
        try room.run(frames: 60)
        // Slot 2 stops hearing slot 0: it lacks slot 0's newest inputs but goes on sending.
        room.canHear = { from, to, _ in !(from == 0 && to == 2) }
        try room.run(frames: 10)
        #expect(!room.sessions[0].othersHoldNewestInput(linked: { _ in true }))
        #expect(!room.sessions[0].othersHoldNewestInput(linked: { _ in false }))
        #expect(room.sessions[3].othersHoldNewestInput(linked: { _ in true }), "a spectator owes nobody")
        // Slot 2 falls silent: without a link it is gone after a quarter second, with one after a second.
        room.alive[2] = false
        try room.run(frames: 20)
        #expect(!room.sessions[0].othersHoldNewestInput(linked: { _ in true }))
        #expect(room.sessions[0].othersHoldNewestInput(linked: { $0 != 2 }))
        try room.run(frames: 50)
        #expect(room.sessions[0].othersHoldNewestInput(linked: { _ in true }))
    }
}

/// Scenario tier (release, `scripts/test scenarios`): many peers over the simulated mesh.
@Suite("Headless bots")
struct BotsScenarios {
    @Test("compact frames: 8 bots at 20% loss, 30 ms + 10 ms jitter send at most 140 bytes per input per peer, keep 60 ticks/s and never stall 100 ms")
    func compactFramesUnderLoss() throws {
        let r = try BotsScenario(players: 8, ticks: 1800, loss: 0.2, latency: .milliseconds(30), jitter: .milliseconds(10), seed: 1).run()
        #expect(r.ticks_completed == 1800 && r.checksums_agree && r.desyncs == 0)
        #expect(r.bytes_per_input_per_peer <= 140, "\(r.bytes_per_input_per_peer) bytes per input per peer")
        #expect(r.ticks_per_second > 59.9)
        #expect(r.longest_stall_ms <= 100)
    }

    @Test(
        "Welcomes lost between two players while the match starts: the link is used only once both ends hold it, so nothing stalls",
        arguments: [21, 22, 23] as [UInt64])
    func lostWelcomesAtTheStart(seed: UInt64) throws {
        var scenario = BotsScenario(players: 4, ticks: 300, loss: 0, latency: .milliseconds(5), jitter: .zero, seed: seed)
        // Every Welcome between slots 1 and 2 is lost until after the lobby (it begins once the
        // mesh had 3 s to form): the responder holds the link, the initiator never gets it.
        scenario.configureSimulator = { sim in
            sim.dropHook = { [unowned sim] from, to, bytes in
                Set([from, to]) == [1, 2] && Datagram.peekKind(bytes) == 0x04 && sim.now < MeshTime.zero + .milliseconds(3500)
            }
        }
        let r = try scenario.run()
        #expect(r.ticks_completed == 300 && r.checksums_agree && r.drops.isEmpty)
        #expect(r.longest_stall_ms <= 50, "longest stall \(r.longest_stall_ms) ms")
    }

    @Test(
        "two players that never link get each other's frames at once through the one fellow player that reaches both",
        arguments: [31, 32, 33] as [UInt64])
    func relayFoundAtOnce(seed: UInt64) throws {
        let r = try Self.relayScenario(seed: seed, loseFirstRequest: false)
        #expect(r.ticks_completed == 300 && r.checksums_agree && r.drops.isEmpty)
        #expect(r.longest_stall_ms <= 50, "longest stall \(r.longest_stall_ms) ms")
    }

    @Test("a relay request that is lost is sent again 100 ms later, not at the next second", arguments: [31, 32, 33] as [UInt64])
    func lostRelayRequestAskedAgain(seed: UInt64) throws {
        let r = try Self.relayScenario(seed: seed, loseFirstRequest: true)
        #expect(r.ticks_completed == 300 && r.checksums_agree && r.drops.isEmpty)
        #expect(r.longest_stall_ms <= 150, "longest stall \(r.longest_stall_ms) ms")
    }

    @Test(
        "the same at 20% loss, 15 ms links with 5 ms of jitter: relayed frames keep the match within 150 ms stalls and a p99 under 200 ms (a relay request lost three times in a row, or hellos pulled late in the lobby, stalled seeds 44-50 for up to 1.6 s)",
        arguments: Array(41...50) as [UInt64])
    func relayedUnderLoss(seed: UInt64) throws {
        let r = try Self.relayScenario(seed: seed, loseFirstRequest: false, ticks: 1200, loss: 0.2, latency: .milliseconds(15), jitter: .milliseconds(5))
        #expect(r.ticks_completed == 1200 && r.checksums_agree && r.drops.isEmpty)
        #expect(r.longest_stall_ms <= 150, "longest stall \(r.longest_stall_ms) ms")
        #expect(r.input_latency_ms_p99 < 200, "input latency p99 \(r.input_latency_ms_p99) ms")
    }

    @Test(
        "a frame lost on fast links is repaired within milliseconds, not by the next frame: 4 players on 1 ms links at 20% loss agree on a tick within 25 ms at p50 and 55 ms at p99, for at most twice the loss-free bytes (one repair frame per frame interval, flooded, gave 34 and 68 ms)",
        arguments: [1, 2, 3] as [UInt64])
    func lossRepairedAtNetworkSpeed(seed: UInt64) throws {
        let lossy = try BotsScenario(players: 4, ticks: 600, loss: 0.2, latency: .milliseconds(1), jitter: .zero, seed: seed).run()
        let clean = try BotsScenario(players: 4, ticks: 600, loss: 0, latency: .milliseconds(1), jitter: .zero, seed: seed).run()
        #expect(lossy.ticks_completed == 600 && lossy.checksums_agree && lossy.drops.isEmpty)
        #expect(lossy.input_latency_ms_p50 < 25, "p50 \(lossy.input_latency_ms_p50) ms")
        #expect(lossy.input_latency_ms_p99 < 55, "p99 \(lossy.input_latency_ms_p99) ms")
        #expect(
            lossy.bytes_per_input_per_peer <= 2 * clean.bytes_per_input_per_peer,
            "\(lossy.bytes_per_input_per_peer) bytes against \(clean.bytes_per_input_per_peer) loss-free")
        // Repairs are left out of the frame counts: the loss each player measures is the network's.
        for p in lossy.player_stats { #expect(p.loss > 0.12 && p.loss < 0.28, "slot \(p.slot) measured loss \(p.loss)") }
    }

    @Test(
        "frame loss costs input delay by what a repair takes: at 20% loss on 1 ms links one tick (delay 4, no frame stalled), on 30 ms links a frame per lost frame in a row (delay 10)",
        arguments: [1, 2] as [UInt64])
    func autoDelayForLossByRepairTime(seed: UInt64) throws {
        func run(latency: Duration, jitter: Duration) throws -> BotsReport {
            var scenario = BotsScenario(players: 4, ticks: 1200, loss: 0.2, latency: latency, jitter: jitter, seed: seed)
            scenario.autoInputDelay = true
            return try scenario.run()
        }
        // Over fast links a lost frame is repaired in about a round trip: the links' 3 (half a
        // frame plus 4 ms, plus two) and one for loss; a frame per started 10% of loss gave 6.
        let near = try run(latency: .milliseconds(1), jitter: .zero)
        #expect(near.input_delay == 4, "\(near.input_delay_changes)")
        #expect(near.ticks_completed == 1200 && near.checksums_agree && near.stall_ticks == 0, "\(near.stall_ticks) stalled frames")
        // Over links a frame or more long, the next frame's copy is the quicker repair.
        let far = try run(latency: .milliseconds(30), jitter: .milliseconds(10))
        #expect(far.input_delay >= 10, "\(far.input_delay_changes)")
        #expect(far.ticks_completed == 1200 && far.checksums_agree)
    }

    @Test(
        "the automatic input delay covers a pair of players far from each other that the lowest slot cannot see: 60 ticks/s, not the 30 a delay chosen from the lowest slot's links alone gave",
        arguments: [41, 42] as [UInt64])
    func autoDelayCoversAFarPair(seed: UInt64) throws {
        // Slot 0 is 5 ms from everyone; slots 2 and 3 are 60 ms apart. A tick is agreed once
        // slot 3 holds slot 2's input and slot 2's confirmation of it came back: over 120 ms.
        func run(auto: Bool) throws -> BotsReport {
            var scenario = BotsScenario(players: 4, ticks: 1200, loss: 0, latency: .milliseconds(5), jitter: .milliseconds(2), seed: seed)
            scenario.autoInputDelay = auto
            scenario.configureSimulator = { sim in
                let far = LinkModel(latency: .milliseconds(60), jitter: .milliseconds(2))
                sim.linkOverrides[.init(2, 3)] = far
                sim.linkOverrides[.init(3, 2)] = far
            }
            return try scenario.run()
        }
        let fixed = try run(auto: false)
        #expect(fixed.input_delay == 4 && fixed.ticks_per_second < 45, "the links' delay: \(fixed.ticks_per_second) ticks/s")
        let auto = try run(auto: true)
        #expect(auto.ticks_completed == 1200 && auto.checksums_agree && auto.drops.isEmpty)
        #expect(auto.ticks_per_second > 59.5, "\(auto.ticks_per_second) ticks/s with input delay \(auto.input_delay)")
        #expect(auto.input_delay >= 9)
    }

    @Test(
        "mid-match, the automatic input delay rises when two players stay far apart for good, and not for a burst of latency of a second and a half",
        arguments: [41, 42] as [UInt64])
    func autoDelayRisesForLastingLatencyOnly(seed: UInt64) throws {
        // From 8 s on (the match runs from about 1 s to 21 s), slots 2 and 3 are 60 ms apart:
        // until 9.5 s only, or for good.
        func run(until end: Duration?) throws -> BotsReport {
            var scenario = BotsScenario(players: 4, ticks: 1200, loss: 0, latency: .milliseconds(5), jitter: .milliseconds(2), seed: seed)
            scenario.autoInputDelay = true
            scenario.configureSimulator = { sim in
                let far = LinkModel(latency: .milliseconds(60), jitter: .milliseconds(2))
                sim.at(MeshTime.zero + .seconds(8)) { sim in
                    sim.linkOverrides[.init(2, 3)] = far
                    sim.linkOverrides[.init(3, 2)] = far
                }
                if let end {
                    sim.at(MeshTime.zero + end) { sim in sim.linkOverrides = [:] }
                }
            }
            return try scenario.run()
        }
        let burst = try run(until: .milliseconds(9500))
        #expect(burst.ticks_completed == 1200 && burst.checksums_agree && burst.drops.isEmpty)
        #expect(burst.input_delay <= 4, "input delay \(burst.input_delay) after a 1.5 s burst")
        let lasting = try run(until: nil)
        #expect(lasting.ticks_completed == 1200 && lasting.checksums_agree && lasting.drops.isEmpty)
        #expect(lasting.input_delay >= 9, "input delay \(lasting.input_delay) with the pair far apart for 13 s")
    }

    @Test(
        "the automatic input delay comes back down when two players that were far apart for 8 s are near again, and not below what the far pair needs while they are far",
        arguments: [41, 42] as [UInt64])
    func autoDelayComesBackDown(seed: UInt64) throws {
        // From 8 s to 16 s (the match runs from about 1 s to 41 s) slots 2 and 3 are 60 ms apart.
        var scenario = BotsScenario(players: 4, ticks: 2400, loss: 0, latency: .milliseconds(5), jitter: .milliseconds(2), seed: seed)
        scenario.autoInputDelay = true
        scenario.inputDelay = 4
        scenario.configureSimulator = { sim in
            let far = LinkModel(latency: .milliseconds(60), jitter: .milliseconds(2))
            sim.at(MeshTime.zero + .seconds(8)) { sim in
                sim.linkOverrides[.init(2, 3)] = far
                sim.linkOverrides[.init(3, 2)] = far
            }
            sim.at(MeshTime.zero + .seconds(16)) { sim in sim.linkOverrides = [:] }
        }
        let r = try scenario.run()
        let changes = r.input_delay_changes.map { "\($0.delay) after \($0.after_tick)" }.joined(separator: ", ")
        print("auto delay seed \(seed): \(changes); \(r.ticks_per_second) ticks/s, \(r.stall_ticks) stalled frames, longest \(r.longest_stall_ms) ms")
        #expect(r.ticks_completed == 2400 && r.checksums_agree && r.drops.isEmpty && r.inputs_lost == 0)
        let highest = r.input_delay_changes.map(\.delay).max() ?? 0
        #expect(highest >= 9, "the delay rose to \(highest) only: \(changes)")
        let risen = try #require(r.input_delay_changes.firstIndex { $0.delay == highest })
        let before = risen > 0 ? r.input_delay_changes[risen - 1].delay : 4
        #expect(r.input_delay <= before, "the delay ended at \(r.input_delay), above the \(before) before the pair went far apart: \(changes)")
        // Nothing comes down while the pair is far apart, though the lowest slot, near everyone,
        // needs no more than before (at 16 s every player is at tick 670-810).
        let lowered = r.input_delay_changes[risen...].first { $0.delay < highest }
        #expect((lowered?.after_tick ?? 0) > 800, "lowered after tick \(lowered?.after_tick ?? -1), while the pair was far apart: \(changes)")
    }

    /// Slot 2 reaches slot 3 only; slots 0 and 1 reach each other and slot 3. Whichever fellow
    /// player slot 0 or 1 would pick first, only slot 3 can relay slot 2. With
    /// `loseFirstRequest`, the first relay request each player sends is lost.
    static func relayScenario(
        seed: UInt64, loseFirstRequest: Bool, ticks: Int = 300, loss: Double = 0, latency: Duration = .milliseconds(5), jitter: Duration = .zero,
        autoInputDelay: Bool = false
    ) throws -> BotsReport {
        var scenario = BotsScenario(players: 4, ticks: ticks, loss: loss, latency: latency, jitter: jitter, seed: seed)
        scenario.autoInputDelay = autoInputDelay
        scenario.configureSimulator = { sim in
            var lostRequest: Set<Int> = []
            sim.dropHook = { from, to, bytes in
                if Set([from, to]) == [0, 2] || Set([from, to]) == [1, 2] { return true }
                guard loseFirstRequest, Datagram.peekKind(bytes) == 0x14, !lostRequest.contains(from) else { return false }
                lostRequest.insert(from)
                return true
            }
        }
        let r = try scenario.run()
        print(
            "relay scenario seed \(seed) loss \(loss) loseFirstRequest \(loseFirstRequest) auto \(autoInputDelay): longest stall \(r.longest_stall_ms) ms, p50 \(r.input_latency_ms_p50) ms, p99 \(r.input_latency_ms_p99) ms, delay \(r.input_delay), stalled ticks \(r.stall_ticks)"
        )
        return r
    }

    @Test("8 bots, 3600 ticks at 60 Hz, 10% loss, 30 ms latency, 10 ms jitter: all complete, checksums agree, no input lost")
    func eightBotsUnderLoss() throws {
        let r = try BotsScenario(players: 8, ticks: 3600, loss: 0.1, latency: .milliseconds(30), jitter: .milliseconds(10), seed: 3).run()
        #expect(r.ticks_completed == 3600)
        #expect(r.ticks_per_second > 59.9)
        #expect(r.checksums_agree)
        #expect(r.checked_ticks >= 120)
        #expect(r.desyncs == 0)
        #expect(r.inputs_lost == 0)
        // Two one-way trips (confirmation before applying, up to 80 ms here) plus a repair.
        #expect(r.input_latency_ms_p99 < 200)
        #expect(r.drops.isEmpty && r.halted.isEmpty)
    }

    @Test("a determinism bug in one peer is caught live: every other peer names the tick and the slot")
    func liveDesync() throws {
        var scenario = BotsScenario(players: 4, ticks: 300, loss: 0.05, latency: .milliseconds(20), jitter: .milliseconds(5), seed: 8)
        scenario.desyncInjection = (slot: 2, tick: 100)
        let dumps = FileManager.default.temporaryDirectory.appendingPathComponent("desync-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dumps, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dumps) }
        scenario.desyncDumpDirectory = dumps.path
        let r = try scenario.run()
        // Both sides' states at the first disagreeing tick, side by side for diffing.
        let mine = try Data(contentsOf: dumps.appendingPathComponent("desync-tick120-slot0.state"))
        let theirs = try Data(contentsOf: dumps.appendingPathComponent("desync-tick120-slot2.state"))
        #expect(!mine.isEmpty && mine != theirs)
        #expect(try TankArena(snapshot: Array(mine)).checksum() != TankArena(snapshot: Array(theirs)).checksum())
        #expect(!r.checksums_agree)
        // Checksums are compared every 30 ticks: the first check after the bug is tick 120.
        let byOthers = r.desync_events.filter { $0.reporter != 2 }
        #expect(Set(byOthers.map(\.reporter)) == [0, 1, 3])
        #expect(byOthers.allSatisfy { $0.slots == [2] && $0.tick >= 120 })
        for reporter in [0, 1, 3] { #expect(byOthers.filter { $0.reporter == reporter }.map(\.tick).min() == 120) }
        let bySlot2 = r.desync_events.filter { $0.reporter == 2 }
        #expect(bySlot2.first?.tick == 120)
        #expect(Set(bySlot2.flatMap(\.slots)) == [0, 1, 3])
    }

    @Test(
        "a player crashes at a random tick (many seeds): every survivor drops it at the same tick and finishes",
        arguments: [11, 12, 13, 14, 15, 16] as [UInt64])
    func crash(seed: UInt64) throws {
        var rng = GameRandom(seed: seed)
        var scenario = BotsScenario(players: 5, ticks: 600, loss: 0.1, latency: .milliseconds(30), jitter: .milliseconds(10), seed: seed)
        let victim = rng.int(in: 0...4), at = rng.int(in: 60...500)
        scenario.crashes = [(slot: victim, tick: at)]
        scenario.disconnectTimeout = .milliseconds(500)
        let r = try scenario.run()
        #expect(r.crashed == [victim])
        #expect(r.drops.count == 1 && r.drops[0].slot == victim && r.drops[0].tick >= at)
        #expect(r.drops_agree)
        #expect(r.halted.isEmpty)
        #expect(r.ticks_completed == 600)
        #expect(r.checksums_agree && r.desyncs == 0)
    }

    @Test("partition 5|3: the 5 continue, the 3 halt with a reason; after healing nothing diverged")
    func partition() throws {
        var scenario = BotsScenario(players: 8, ticks: 900, loss: 0.1, latency: .milliseconds(30), jitter: .milliseconds(10), seed: 21)
        scenario.partition = BotsPartition(start: 300, slots: [0, 1, 2, 3, 4], heal: 600)
        scenario.disconnectTimeout = .milliseconds(500)
        let r = try scenario.run()
        #expect(r.halted.map(\.slot) == [5, 6, 7])
        #expect(r.halted.allSatisfy { $0.reason.contains("lost the majority") })
        #expect(Set(r.drops.map(\.slot)) == [5, 6, 7] && r.drops_agree)
        // Each slot is cut where every survivor holds it: within the input delay of the cut.
        #expect(r.drops.allSatisfy { (300...316).contains($0.tick) }, "\(r.drops)")
        #expect(r.ticks_completed == 900)
        #expect(r.checksums_agree && r.desyncs == 0)
    }

    @Test("100 spectators follow an 8-player game to the end with matching checksums, and the players keep 60 ticks/s")
    func hundredSpectators() throws {
        var scenario = BotsScenario(players: 8, ticks: 120, loss: 0.1, latency: .milliseconds(30), jitter: .milliseconds(10), seed: 5)
        scenario.spectators = 100
        let r = try scenario.run()
        #expect(r.spectators == 100)
        #expect(r.spectator_ticks_completed == 120)
        #expect(r.ticks_completed == 120)
        #expect(r.checksums_agree && r.desyncs == 0 && r.checked_ticks == 4)
        #expect(r.ticks_per_second > 59.9)
        #expect(r.drops.isEmpty && r.halted.isEmpty)
    }

    @Test("the reference game passes sync-test mode")
    func referenceGameIsDeterministic() {
        let report = SyncTest<CoinArena>(players: 8, seed: 5).run(ticks: 1200) { tick, slot in
            ArenaInput(direction: UInt8((tick / 30 + slot) % 9), dash: (tick + slot) % 7 == 0)
        }
        #expect(report.firstMismatchTick == nil)
    }
}
