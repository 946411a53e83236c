import Foundation
import MeshstepBots
import Testing

@testable import MeshstepLockstep
@testable import MeshstepSession
import MeshstepWire

@Suite("State transfer and rejoin")
struct RejoinTests {
    static func key(_ i: UInt8) -> PeerKey { PeerKey(bytes: Array(repeating: i, count: 32)) }

    @Test("a roster change with readmissions round-trips, and bad ones are typed errors")
    func admitsOnTheWire() throws {
        let change = RosterChange(epoch: 3, round: 1, drops: [], admits: [RosterChange.Admit(slot: 2, checkpoint: 1260, tick: 1290)])
        var w = ByteWriter(capacity: 32)
        change.encode(into: &w)
        var r = ByteReader(w.bytes)
        #expect(try RosterChange.decode(from: &r, players: 4) == change)
        // Readmitting a slot the same change drops, a return before the checkpoint, nothing at all.
        for bad in [
            [3, 0, 1, 2, 10, 1, 2, 20, 30],  // drops slot 2 and admits slot 2
            [3, 0, 0, 1, 2, 30, 30],  // return tick not after the checkpoint
            [3, 0, 0, 0],  // no drop, no admit
        ] as [[UInt8]] {
            var r = ByteReader(bad)
            #expect(throws: WireError.self) { try RosterChange.decode(from: &r, players: 4) }
        }
        // The signed bytes name the version and cover the readmissions.
        let other = RosterChange(epoch: 3, round: 1, drops: [], admits: [RosterChange.Admit(slot: 2, checkpoint: 1260, tick: 1291)])
        #expect(change.signedBytes(session: []) != other.signedBytes(session: []))
        #expect(change.signedBytes(session: []).starts(with: Array("meshstep-roster-v4".utf8)))
    }

    @Test("a checkpoint round-trips; one of another session or with a bad field is refused")
    func checkpointEncoding() throws {
        let chains = (0..<3).map { ChainDigest(high: UInt64($0), low: 7) }
        var cp = SessionCheckpoint(
            tick: 1260, epoch: 2, inputDelay: 8, slots: [.active, .absent(from: 1260, until: 1290), .dropped(400)], chains: chains,
            readmissions: [RosterChange.Admit(slot: 1, checkpoint: 1260, tick: 1290)], newcomers: [1])
        cp.game = Array(repeating: 9, count: 2000)
        cp.gameChecksum = 0xDEAD_BEEF
        let hash = Array(repeating: UInt8(1), count: 32)
        let bytes = cp.encode(sessionHash: hash)
        #expect(try SessionCheckpoint.decode(bytes, sessionHash: hash, players: 3) == cp)
        #expect(throws: WireError.self) { try SessionCheckpoint.decode(bytes, sessionHash: Array(repeating: 2, count: 32), players: 3) }
        #expect(throws: WireError.self) { try SessionCheckpoint.decode(bytes, sessionHash: hash, players: 4) }
        #expect(throws: WireError.self) { try SessionCheckpoint.decode(Array(bytes.dropLast()), sessionHash: hash, players: 3) }
        for n in stride(from: 0, to: bytes.count, by: 97) {
            #expect(throws: WireError.self) { try SessionCheckpoint.decode(Array(bytes.prefix(n)), sessionHash: hash, players: 3) }
        }
        // A newcomer must be a slot in the roster, named once, in order.
        for newcomers in [[2], [1, 1], [0, 3]] {
            var bad = cp
            bad.newcomers = newcomers
            #expect(throws: WireError.self) { try SessionCheckpoint.decode(bad.encode(sessionHash: hash), sessionHash: hash, players: 3) }
        }
    }

    @Test("every chunk proves itself against the root; a changed byte, index or size does not", arguments: [1, 767, 768, 769, 5000, 20_000])
    func hashTree(size: Int) {
        let bytes = (0..<size).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 13) }
        let tree = CheckpointTree(bytes: bytes)
        #expect(tree.chunkCount == CheckpointTree.chunkCount(size: size))
        for i in 0..<tree.chunkCount {
            let chunk = tree.chunk(i), proof = tree.proof(i)
            #expect(CheckpointTree.verify(chunk: chunk, index: i, proof: proof, size: size, root: tree.root))
            var tampered = chunk
            tampered[tampered.count / 2] ^= 1
            #expect(!CheckpointTree.verify(chunk: tampered, index: i, proof: proof, size: size, root: tree.root))
            if tree.chunkCount > 1 {
                #expect(!CheckpointTree.verify(chunk: chunk, index: (i + 1) % tree.chunkCount, proof: proof, size: size, root: tree.root))
            }
            #expect(!CheckpointTree.verify(chunk: chunk, index: i, proof: proof, size: size + 1, root: tree.root))
        }
    }

    @Test("a newcomer takes only a checkpoint enough players vouch for, and a holder sending a bad chunk is asked no more")
    func fetchFromSeveralHolders() throws {
        let bytes = (0..<5000).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 11) }
        var server = CheckpointServer()
        let held = server.hold(bytes, tick: 600, now: .zero)
        let offer = try #require(held)
        var fetch = CheckpointFetch(vouchers: 2)
        // One liar's offer of another state is not enough, nor one honest offer alone.
        let lie = fetch.note(CheckpointOffer(tick: 600, size: 5000, root: TransferDigest(bytes: Array(repeating: 0, count: 16))), from: Self.key(9))
        let first = fetch.note(offer, from: Self.key(1))
        let early = fetch.requests(now: .zero)
        let second = fetch.note(offer, from: Self.key(2))
        let third = fetch.note(offer, from: Self.key(3))  // one more backer, same checkpoint
        #expect(!lie && !first && early.isEmpty && second && !third)
        var now = Duration.zero
        var rounds = 0
        while fetch.complete == nil, rounds < 20 {
            rounds += 1
            for (holder, request) in fetch.requests(now: now) {
                for chunk in server.answer(request, from: Self.key(50), now: now) {
                    if holder == Self.key(2) {
                        // Holder 2 lies: it flips a byte of every chunk it sends.
                        var bad = chunk
                        bad[bad.count - 1] ^= 0xFF
                        fetch.receive(bad, from: holder)
                    } else {
                        fetch.receive(chunk, from: holder)
                    }
                }
            }
            now += CheckpointFetch.retry
        }
        #expect(fetch.complete == bytes)
        #expect(fetch.bad == [Self.key(2)])
        #expect(fetch.rejectedChunks >= 1)
        #expect(fetch.bytesReceived == bytes.count)
    }

    @Test(
        "a newcomer asks holders among its links first and far ones only after a wait, prefers a checkpoint a neighbor holds, and keeps one whose chunks arrive"
    )
    func fetchPrefersLinks() throws {
        let older = (0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 7) }, newerBytes = (0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 11) }
        var server = CheckpointServer()
        let heldOlder = server.hold(older, tick: 600, now: .zero), heldNewer = server.hold(newerBytes, tick: 630, now: .zero)
        let offer = try #require(heldOlder), newer = try #require(heldNewer)
        var fetch = CheckpointFetch(vouchers: 1)
        fetch.liveFrom = 590
        fetch.near = [Self.key(7)]
        // Two checkpoints vouched for by players across the mesh: the newest, asked for only
        // after the wait for a holder among our links.
        _ = fetch.note(offer, from: Self.key(1), now: .zero)
        _ = fetch.note(newer, from: Self.key(2), now: .zero)
        #expect(fetch.chosen == newer)
        #expect(fetch.requests(now: .milliseconds(500)).isEmpty)
        // A spectator on one of our links that resumed from the older one offers it (it vouches
        // for nothing, the player did): that one is taken, and asked from the link only.
        let switched = fetch.note(offer, from: Self.key(7), vouches: false, now: .milliseconds(600))
        #expect(switched && fetch.chosen == offer)
        let requests = fetch.requests(now: .milliseconds(600))
        #expect(!requests.isEmpty && requests.allSatisfy { $0.to == Self.key(7) })
        // Once its chunks arrive, a newer offer (flooded for other newcomers) does not restart it.
        for (_, request) in requests {
            for chunk in server.answer(request, from: Self.key(50), now: .milliseconds(600)) { fetch.receive(chunk, from: Self.key(7)) }
        }
        #expect(fetch.complete == older)
        let restarted = fetch.note(newer, from: Self.key(7), vouches: false, now: .seconds(1))
        #expect(!restarted)

        // With no holder among its links, a newcomer asks across the mesh after the wait; a
        // neighbor's checkpoint older than the frames it kept is not preferred.
        var far = CheckpointFetch(vouchers: 1)
        far.liveFrom = 620
        far.near = [Self.key(7)]
        _ = far.note(offer, from: Self.key(7), vouches: false, now: .zero)
        _ = far.note(offer, from: Self.key(1), now: .zero)
        _ = far.note(newer, from: Self.key(2), now: .zero)
        #expect(far.chosen == newer)
        let waiting = far.requests(now: CheckpointFetch.farWait - .milliseconds(1))
        let across = far.requests(now: CheckpointFetch.farWait)
        #expect(waiting.isEmpty && !across.isEmpty && across.allSatisfy { $0.to == Self.key(2) })
    }

    @Test(
        "a newcomer asks two holders at once for the last few chunks, and a checkpoint set aside does not make it forget its links (sweep: a newcomer at 28% loss resumed 2.6 s after its checkpoint)"
    )
    func fetchAsksTwiceAndKeepsLinks() throws {
        let bytes = (0..<2000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        var server = CheckpointServer()
        let held = server.hold(bytes, tick: 223, now: .zero)
        let offer = try #require(held)
        var fetch = CheckpointFetch(vouchers: 2)
        fetch.near = [Self.key(1), Self.key(2), Self.key(3)]
        fetch.liveFrom = 200
        _ = fetch.note(CheckpointOffer(tick: 120, size: 700, root: TransferDigest(bytes: Array(repeating: 1, count: 16))), from: Self.key(1))
        // The first checkpoint was not ours: the next fetch still knows our links at once.
        fetch = fetch.afterSettingAside(tick: 120)
        #expect(fetch.near == [Self.key(1), Self.key(2), Self.key(3)] && fetch.liveFrom == 200 && fetch.minTick == 121 && fetch.chosen == nil)
        _ = fetch.note(offer, from: Self.key(1), now: .seconds(7))
        _ = fetch.note(offer, from: Self.key(2), now: .seconds(7))
        let requests = fetch.requests(now: .seconds(7))
        // Three chunks: one request for all of them to each of two holders on our links.
        #expect(requests.count == 2 && Set(requests.map(\.to)).count == 2 && requests[0].payload == requests[1].payload)
        #expect(requests.allSatisfy { fetch.near.contains($0.to) })
        #expect(fetch.requests(now: .seconds(7) + .milliseconds(100)).isEmpty, "asked again before the retry")
        // Only the second holder's answer arrives: that is enough.
        for chunk in server.answer(requests[1].payload, from: Self.key(50), now: .seconds(7)) { fetch.receive(chunk, from: requests[1].to) }
        #expect(fetch.complete == bytes)
    }

    @Test("a fetch under way counts as progressing (its join requests pause) until a second passes without a chunk")
    func fetchProgress() throws {
        var server = CheckpointServer()
        let bytes = Array(repeating: UInt8(9), count: 3 * CheckpointTree.chunkSize)
        let held = server.hold(bytes, tick: 60, now: .zero)
        let offer = try #require(held)
        var fetch = CheckpointFetch(vouchers: 1)
        fetch.near = [Self.key(1)]
        #expect(!fetch.isProgressing(now: .zero, within: .seconds(1)))
        _ = fetch.note(offer, from: Self.key(1), now: .milliseconds(100))
        #expect(fetch.isProgressing(now: .milliseconds(1099), within: .seconds(1)))
        #expect(!fetch.isProgressing(now: .milliseconds(1100), within: .seconds(1)))
        // A chunk arrives: progressing again for a second.
        let request = SessionWire.encodeChunkRequest(tick: 60, root: offer.root, indices: [0])
        for chunk in server.answer(request, from: Self.key(50), now: .seconds(1)) { fetch.receive(chunk, from: Self.key(1), now: .milliseconds(1500)) }
        #expect(fetch.progress.received == 1)
        #expect(fetch.isProgressing(now: .milliseconds(2499), within: .seconds(1)))
        #expect(!fetch.isProgressing(now: .milliseconds(2500), within: .seconds(1)))
    }

    @Test("a holder serves at a bounded rate, to one newcomer and to all")
    func servingIsBounded() throws {
        var server = CheckpointServer()
        let bytes = Array(repeating: UInt8(3), count: 200 * CheckpointTree.chunkSize)
        let held = server.hold(bytes, tick: 60, now: .zero)
        let offer = try #require(held)
        var served = 0
        for batch in stride(from: 0, to: 200, by: 32) {
            let request = SessionWire.encodeChunkRequest(tick: 60, root: offer.root, indices: Array(batch..<min(200, batch + 32)))
            served += server.answer(request, from: Self.key(1), now: .milliseconds(10)).count
        }
        #expect(served == CheckpointServer.chunksPerSecondPerPeer)
        var others = 0
        for peer in 2...9 {
            let request = SessionWire.encodeChunkRequest(tick: 60, root: offer.root, indices: Array(0..<32))
            others += server.answer(request, from: Self.key(UInt8(peer)), now: .milliseconds(20)).count
        }
        #expect(served + others == CheckpointServer.chunksPerSecond)
        // A player serves the spectators together a small share, and the players in full.
        var player = CheckpointServer()
        _ = player.hold(bytes, tick: 60, now: .zero)
        var toSpectators = 0
        for peer in 2...9 {
            let request = SessionWire.encodeChunkRequest(tick: 60, root: offer.root, indices: Array(0..<32))
            toSpectators += player.answer(request, from: Self.key(UInt8(peer)), now: .milliseconds(20), spectatorCopies: 1).count
        }
        #expect(toSpectators == CheckpointServer.playerChunksPerSecondToSpectators)
        let toPlayer = player.answer(
            SessionWire.encodeChunkRequest(tick: 60, root: offer.root, indices: Array(0..<32)), from: Self.key(1), now: .milliseconds(30))
        #expect(toPlayer.count == 32)
        let nextSecond = player.answer(
            SessionWire.encodeChunkRequest(tick: 60, root: offer.root, indices: [0]), from: Self.key(2), now: .seconds(1), spectatorCopies: 1)
        #expect(nextSecond.count == 1)
        // A request for a checkpoint not held gets nothing.
        let wrong = SessionWire.encodeChunkRequest(tick: 61, root: offer.root, indices: [0])
        let none = server.answer(wrong, from: Self.key(1), now: .seconds(2))
        #expect(none.isEmpty)
    }

    @Test("a crashed player comes back with its key and rejoins: readmitted at an agreed tick, it resumes from a checkpoint and finishes in agreement")
    func crashedPlayerRejoins() throws {
        var scenario = BotsScenario(players: 4, ticks: 900, loss: 0.05, latency: .milliseconds(20), jitter: .milliseconds(5), seed: 4)
        scenario.crashes = [(slot: 1, tick: 200)]
        scenario.rejoins = [(slot: 1, tick: 400)]
        scenario.disconnectTimeout = .milliseconds(500)
        let r = try scenario.run()
        #expect(r.rejoins.map(\.slot) == [1])
        #expect(r.rejoins.allSatisfy { $0.tick > $0.checkpoint && $0.checkpoint >= 400 })
        #expect(r.ticks_completed == 900)
        #expect(r.checksums_agree && r.desyncs == 0)
        #expect(r.drops.isEmpty && r.drops_agree && r.halted.isEmpty)
        #expect(r.snapshot_bytes > 0)
    }

    /// With 2 players the one holder's offer is the only one: the player that started over must
    /// ask it over their link at once (it kept its links), not wait a second for holders
    /// elsewhere, or it misses its return tick half a second after the checkpoint.
    @Test(
        "a player paused past the disconnect timeout is dropped, starts over in the same process, and plays to the end in agreement",
        arguments: [(players: 4, latency: 20, timeout: 2000), (players: 2, latency: 1, timeout: 500)])
    func pausedPlayerStartsOver(players: Int, latency: Int, timeout: Int) throws {
        var scenario = BotsScenario(players: players, ticks: 600, loss: 0.02, latency: .milliseconds(latency), jitter: .zero, seed: 3)
        scenario.disconnectTimeout = .milliseconds(timeout)
        scenario.stalls = [BotsStall(slot: 1, tick: 200, duration: .milliseconds(timeout * 2))]
        let halts = try scenario.run()
        #expect(halts.halted.map(\.slot) == [1] && halts.rejoins.isEmpty)
        scenario.rejoinWhenHalted = true
        let r = try scenario.run()
        #expect(r.halted.isEmpty)
        #expect(r.rejoins.map(\.slot) == [1], "readmitted once: \(r.rejoins)")
        #expect(r.ticks_completed == 600, "the player that started over is a survivor: it reached the end")
        #expect(r.checksums_agree && r.desyncs == 0 && r.drops_agree)
        #expect(r.snapshot_bytes > 0)
    }

    @Test("players on the side of a split that halts start over once it heals, and come back into the match")
    func splitSideStartsOver() throws {
        var scenario = BotsScenario(players: 5, ticks: 900, loss: 0.05, latency: .milliseconds(20), jitter: .zero, seed: 1)
        scenario.partition = try BotsPartition(parsing: "200:3,4:400")
        scenario.rejoinWhenHalted = true
        let r = try scenario.run()
        #expect(r.halted.isEmpty)
        #expect(r.rejoins.map(\.slot).sorted() == [3, 4])
        #expect(r.ticks_completed == 900)
        #expect(r.checksums_agree && r.desyncs == 0 && r.drops_agree)
    }

    /// Holders keep a checkpoint for a minute: the one of the player's first admission (before
    /// tick 193) was still offered after its second drop, and the player resumed from it, halted
    /// on learning the later drop, started over and took it again, for good.
    @Test("a player dropped a second time starts over and never resumes from its earlier admission's checkpoint (sweep seed 74, run 258)")
    func noResumeFromAnEarlierAdmission() throws {
        var scenario = BotsScenario(players: 6, ticks: 480, loss: 0.04, latency: .milliseconds(88), jitter: .zero, seed: 10094633226990288997)
        scenario.crashes = [(slot: 0, tick: 62), (slot: 4, tick: 129)]
        scenario.rejoins = [(slot: 0, tick: 105)]
        scenario.stalls = [BotsStall(slot: 0, tick: 360, duration: .milliseconds(2586))]
        scenario.rejoinWhenHalted = true
        let r = try scenario.run()
        #expect(r.ticks_completed == 480 && r.checksums_agree)
        #expect(r.rejoins.map(\.slot) == [0, 0] && r.rejoins.allSatisfy { $0.tick > $0.checkpoint })
        #expect(FaultSweep.judge(r, scenario: scenario).isEmpty, "\(FaultSweep.judge(r, scenario: scenario))")
    }

    /// The newcomer of open slot 3, cut off while it fetched its checkpoint, was dropped at its
    /// return tick (219) and readmitted for 408 once the partition healed. It then finished the
    /// stale fetch (before 189), learned from the players' frames both its drop and its
    /// readmission, and halted; starting over, it set aside the readmission's own checkpoint
    /// (378) as no newer than the epoch it had halted in (it had adopted the readmission), and
    /// the players dropped it again at 408.
    @Test("a player that starts over after its halted session learned of its readmission resumes from that readmission's checkpoint")
    func startOverAfterLearningTheReadmission() throws {
        var scenario = BotsScenario(players: 4, ticks: 480, loss: 0.05, latency: .milliseconds(30), jitter: .milliseconds(5), seed: 3)
        scenario.openSlots = [3]
        scenario.lateJoins = [(slot: 3, tick: 100)]
        scenario.partition = BotsPartition(start: 150, slots: [3], heal: 300)
        scenario.rejoinWhenHalted = true
        let r = try scenario.run()
        #expect(r.late_joins.map(\.slot) == [3])
        #expect(r.rejoins.map(\.slot) == [3] && r.rejoins.allSatisfy { $0.checkpoint < $0.tick })
        #expect(r.drops.isEmpty && r.honest_dropped.isEmpty, "drops \(r.drops)")
        #expect(r.ticks_completed == 480 && r.checksums_agree)
        #expect(FaultSweep.judge(r, scenario: scenario).isEmpty, "\(FaultSweep.judge(r, scenario: scenario))")
    }

    /// The players cut a returning player's drop below rows the spectator had applied (every
    /// player had reported them to it, not yet to the coordinator), and it halted
    /// (`rosterChangeBelowApplied`); starting over, it follows to the end.
    @Test("a spectator halted by a drop cut below rows it applied starts over and follows to the end (sweep seed 75, run 128)")
    func spectatorStartsOver() throws {
        var scenario = BotsScenario(players: 4, ticks: 480, loss: 0, latency: .milliseconds(103), jitter: .milliseconds(20), seed: 11257450591260509210)
        scenario.partition = BotsPartition(start: 146, slots: [1], heal: 240)
        scenario.stalls = [BotsStall(slot: 1, tick: 279, duration: .milliseconds(2220))]
        scenario.spectators = 1
        scenario.rejoinWhenHalted = true
        let r = try scenario.run()
        #expect(r.spectator_ticks_completed == 480 && r.checksums_agree)
        #expect(FaultSweep.judge(r, scenario: scenario).isEmpty, "\(FaultSweep.judge(r, scenario: scenario))")
    }

    @Test("rejoin(now:) is refused while the session has not halted")
    func rejoinOnlyAfterAHalt() throws {
        let config = LockstepConfiguration(players: 2)
        var endpoint = try SessionEndpoint<Move>(
            configuration: config, role: .player(0), localKey: Self.key(1), roster: .claimed(name: "m", gameSeed: 0), signer: { _ in [] })
        #expect(throws: RejoinError.notHalted) { try endpoint.rejoin(now: .zero) }
        #expect("\(RejoinError.notHalted)".contains("halted"))
    }

    /// A newcomer has no session before its checkpoint and signs nothing; counted in the quorum
    /// of the next change, it left the others one signature short of dropping a player that
    /// crashed before they reached that checkpoint, and they waited for good.
    @Test(
        "a player that crashes while a readmitted one waits for its checkpoint is dropped without it, and the newcomer then resumes",
        arguments: [(crash: 0, tick: 620), (crash: 1, tick: 640)])
    func crashBeforeTheNewcomersCheckpoint(crash: Int, tick: Int) throws {
        var scenario = BotsScenario(players: 4, ticks: 1200, loss: 0, latency: .milliseconds(20), jitter: .zero, seed: 1)
        scenario.crashes = [(slot: 3, tick: 300), (slot: crash, tick: tick)]
        scenario.rejoins = [(slot: 3, tick: 600)]
        let r = try scenario.run()
        #expect(r.drops.map(\.slot) == [crash] && r.drops_agree && r.halted.isEmpty)
        #expect(r.rejoins.map(\.slot) == [3])
        #expect(r.rejoins.allSatisfy { $0.checkpoint > tick })
        #expect(r.ticks_completed == 1200)
        #expect(r.checksums_agree && r.desyncs == 0)
    }

    @Test("a newcomer admitted into an open slot is not needed to drop a player that crashes before its checkpoint")
    func crashBeforeALateJoinersCheckpoint() throws {
        var scenario = BotsScenario(players: 4, ticks: 1200, loss: 0.05, latency: .milliseconds(20), jitter: .milliseconds(5), seed: 3)
        scenario.openSlots = [3]
        scenario.lateJoins = [(slot: 3, tick: 300)]
        scenario.crashes = [(slot: 0, tick: 340)]
        let r = try scenario.run()
        #expect(r.late_joins.map(\.slot) == [3])
        #expect(r.late_joins.allSatisfy { $0.checkpoint > 340 })
        #expect(r.drops.map(\.slot) == [0] && r.drops_agree && r.halted.isEmpty)
        #expect(r.ticks_completed == 1200)
        #expect(r.checksums_agree && r.desyncs == 0)
    }
}

extension RejoinTests {
    @Test("spectators arriving mid-game resume from a checkpoint and follow to the end in agreement")
    func lateSpectators() throws {
        var scenario = BotsScenario(players: 4, ticks: 420, loss: 0.05, latency: .milliseconds(20), jitter: .milliseconds(5), seed: 6)
        scenario.lateSpectators = (count: 4, tick: 180)
        let r = try scenario.run()
        #expect(r.late_spectators == 4)
        #expect(r.spectators_live_at_end == 4)
        #expect(r.spectator_ticks_completed == 420 && r.ticks_completed == 420)
        #expect(r.checksums_agree && r.desyncs == 0)
        #expect(r.snapshot_bytes > 0)
        #expect(r.player_upload_ratios.count == 4)
    }
}

/// Scenario tier: the acceptance run.
@Suite("Rejoin")
struct RejoinScenarios {
    @Test("6 players, 5% loss, 30 ms: slot 2 crashes at 600, comes back at 1200, rejoins; all six finish 2400 ticks in agreement")
    func rejoinUnderLoss() throws {
        var scenario = BotsScenario(players: 6, ticks: 2400, loss: 0.05, latency: .milliseconds(30), jitter: .zero, seed: 21)
        scenario.crashes = [(slot: 2, tick: 600)]
        scenario.rejoins = [(slot: 2, tick: 1200)]
        let r = try scenario.run()
        #expect(r.rejoins.map(\.slot) == [2])
        #expect(r.ticks_completed == 2400)
        #expect(r.checksums_agree && r.desyncs == 0)
        #expect(r.halted.isEmpty && r.drops_agree)
    }

    @Test(
        "6 players, 2 open slots filled by newcomers at ticks 300 and 600, 3 spectators arriving at 900, 5% loss: all finish 1500 ticks in agreement"
    )
    func openSlotsFilledUnderLoss() throws {
        var scenario = BotsScenario(players: 6, ticks: 1500, loss: 0.05, latency: .milliseconds(30), jitter: .zero, seed: 5)
        scenario.openSlots = [4, 5]
        scenario.lateJoins = [(slot: 4, tick: 300), (slot: 5, tick: 600)]
        scenario.lateSpectators = (count: 3, tick: 900)
        let r = try scenario.run()
        #expect(r.late_joins.map(\.slot) == [4, 5])
        #expect(r.ticks_completed == 1500 && r.ticks_per_second > 59.5)
        #expect(r.spectators_live_at_end == 3)
        #expect(r.checksums_agree && r.desyncs == 0)
        #expect(r.halted.isEmpty && r.drops.isEmpty && r.drops_agree)
    }

    @Test("20 spectators arrive mid-game at 10% loss: all reach the last tick in agreement, the players keep 60 ticks/s")
    func lateSpectatorsUnderLoss() throws {
        var scenario = BotsScenario(players: 4, ticks: 900, loss: 0.1, latency: .milliseconds(30), jitter: .milliseconds(10), seed: 9)
        scenario.lateSpectators = (count: 20, tick: 450)
        let r = try scenario.run()
        #expect(r.spectators_live_at_end == 20)
        #expect(r.ticks_completed == 900 && r.ticks_per_second > 59.5)
        #expect(r.checksums_agree && r.desyncs == 0)
    }

    @Test("spectators from the start follow a long match at 10% loss to the end (catch-up frames repair what the mesh lost)")
    func spectatorsFollowLongMatch() throws {
        var scenario = BotsScenario(players: 4, ticks: 1500, loss: 0.1, latency: .milliseconds(30), jitter: .zero, seed: 1)
        scenario.spectators = 12
        let r = try scenario.run()
        #expect(r.spectator_ticks_completed == 1500 && r.spectators_live_at_end == 12)
        #expect(r.checksums_agree && r.desyncs == 0)
    }
}
