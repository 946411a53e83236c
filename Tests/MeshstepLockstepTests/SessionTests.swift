import Testing
import MeshstepBots
import MeshstepLockstep
import MeshstepWire

@Suite("Lockstep session")
struct SessionTests {
    @Test("two sessions exchange frames and confirm the same ticks")
    func exchange() throws {
        var a = LockstepSession<Move>(players: 2, localSlot: 0, inputDelay: 2)
        var b = LockstepSession<Move>(players: 2, localSlot: 1, inputDelay: 2)
        // Ticks 0 and 1 are neutral for everyone: ready at once.
        #expect(a.pollReady().map(\.tick) == [0, 1])
        for k in 0..<5 {
            let fa = a.submit(botMove(k, 0)), fb = b.submit(botMove(k, 1))
            _ = try a.receive(fb, fromSlot: 1)
            _ = try b.receive(fa, fromSlot: 0)
        }
        let readyA = a.pollReady(), readyB = b.pollReady().filter { $0.tick >= 2 }
        #expect(readyA.map(\.tick) == [2, 3, 4, 5, 6])
        #expect(readyA.map(\.inputs) == readyB.map(\.inputs))
        #expect(readyA[0].inputs == [botMove(0, 0), botMove(0, 1)])
    }

    @Test("a lost frame is repaired by the next one (each frame repeats the newest inputs)")
    func redundancy() throws {
        var a = LockstepSession<Move>(players: 2, localSlot: 0, inputDelay: 0)
        var b = LockstepSession<Move>(players: 2, localSlot: 1, inputDelay: 0)
        _ = a.submit(botMove(0, 0)) // lost
        _ = a.submit(botMove(1, 0)) // lost
        let third = a.submit(botMove(2, 0))
        for k in 0..<3 { _ = b.submit(botMove(k, 1)) }
        _ = try b.receive(third, fromSlot: 0)
        #expect(b.pollReady().map(\.tick) == [0, 1, 2])
    }

    @Test("a frame claiming another player's slot is never applied")
    func forgedSlot() throws {
        var a = LockstepSession<Move>(players: 3, localSlot: 0, inputDelay: 0)
        var mallory = LockstepSession<Move>(players: 3, localSlot: 2, inputDelay: 0)
        // Mallory (slot 1 on the mesh) floods a frame that says it is slot 2.
        let forged = mallory.submit(Move(direction: 0, boost: true))
        let events = try a.receive(forged, fromSlot: 1)
        #expect(events == [.forgedInput(claimedSlot: 2, fromSlot: 1)])
        #expect(a.confirmedTick == -1)
        #expect(throws: LockstepError.self) { try a.receive([1, 2, 3], fromSlot: 1) }
        #expect(throws: LockstepError.unknownSlot(7)) { try a.receive(forged, fromSlot: 7) }
    }

    @Test("different checksums for one tick raise a desync naming the tick and the slot")
    func desync() throws {
        var a = LockstepSession<Move>(players: 2, localSlot: 0, inputDelay: 0, checksumInterval: 10)
        var b = LockstepSession<Move>(players: 2, localSlot: 1, inputDelay: 0, checksumInterval: 10)
        // Both have played past tick 10 (a checksum for a tick beyond our own inputs is ignored).
        for _ in 0...11 { _ = a.submit(.neutral); _ = b.submit(.neutral) }
        #expect(a.recordChecksum(tick: 10, checksum: 111).isEmpty)
        _ = b.recordChecksum(tick: 10, checksum: 222)
        let frame = b.submit(.neutral)
        let events = try a.receive(frame, fromSlot: 1)
        #expect(events == [.desync(tick: 10, slots: [1], local: 111)])
        // Reported once.
        #expect(try a.receive(b.submit(.neutral), fromSlot: 1).isEmpty)
    }
}

@Suite("Headless bots")
struct BotsTests {
    @Test("8 bots, 3600 ticks at 60 Hz, 10% loss, 30 ms latency, 10 ms jitter: all complete, checksums agree, no input lost")
    func eightBotsUnderLoss() throws {
        let r = try BotsScenario(players: 8, ticks: 3600, loss: 0.1, latency: .milliseconds(30), jitter: .milliseconds(10), seed: 3).run()
        #expect(r.ticks_completed == 3600)
        #expect(r.ticks_per_second > 59.9)
        #expect(r.checksums_agree)
        #expect(r.checked_ticks >= 120)
        #expect(r.desyncs == 0)
        #expect(r.inputs_lost == 0)
        #expect(r.input_latency_ms_p99 < 150)
    }

    @Test("a determinism bug in one peer is caught live: every other peer names the tick and the slot")
    func liveDesync() throws {
        var scenario = BotsScenario(players: 4, ticks: 300, loss: 0.05, latency: .milliseconds(20), jitter: .milliseconds(5), seed: 8)
        scenario.desyncInjection = (slot: 2, tick: 100)
        let r = try scenario.run()
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

    @Test("the reference game passes sync-test mode")
    func referenceGameIsDeterministic() {
        let report = SyncTest<CoinArena>(players: 8, seed: 5).run(ticks: 1200) { tick, slot in
            ArenaInput(direction: UInt8((tick / 30 + slot) % 9), dash: (tick + slot) % 7 == 0)
        }
        #expect(report.firstMismatchTick == nil)
    }
}
