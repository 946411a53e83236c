import Foundation
import Logging
import MeshstepLockstep
import MeshstepMesh
import MeshstepWire
import NIOCore
import Testing

@_spi(Testing) import MeshstepNet

/// One byte of input per tick.
struct Nibble: LockstepInput {
    var value: UInt8
    static let neutral = Nibble(value: 0)
    func encode(into w: inout ByteWriter) { w.u8(value) }
    static func decode(from r: inout ByteReader) throws(WireError) -> Nibble { Nibble(value: try r.u8()) }
}

/// A running hash of every input: any difference in what two peers applied shows in it.
struct RunningSum: LockstepGame {
    var sum: UInt64
    init(players: Int, seed: UInt64) { sum = seed }
    init(snapshot: [UInt8]) { sum = snapshot.reduce(0) { $0 << 8 | UInt64($1) } }
    mutating func step(inputs: [Nibble?]) { for i in inputs { sum = sum &* 31 &+ UInt64(i?.value ?? 0xFF) } }
    func checksum() -> UInt64 { sum }
    func snapshot() -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: sum >> (56 - 8 * $0)) } }
}

/// What one player's game thread saw.
final class PolledRun: @unchecked Sendable {
    var ticks = 0
    var checksum: UInt64 = 0
    var events: [LockstepEvent] = []
    var finished = false
    private let lock = NSLock()
    private var ended = false
    /// Whether the thread that ran is through (read from other threads).
    var done: Bool {
        get { lock.withLock { ended } }
        set { lock.withLock { ended = newValue } }
    }
}

@Suite("Polled lockstep peer")
struct PolledPeerTests {
    let creds = try! MeshCredentials(meshID: "polled", access: .password("p"))
    let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    func pair(_ config: LockstepConfiguration, standby: Duration?) throws -> [PolledLockstepPeer<Nibble>] {
        let a = try PolledLockstepPeer<Nibble>(
            credentials: creds, configuration: config, role: .player(0), host: "127.0.0.1", standbyAfter: standby, logger: logger)
        let b = try PolledLockstepPeer<Nibble>(
            credentials: creds, configuration: config, role: .player(1), host: "127.0.0.1", seeds: [a.localAddress], standbyAfter: standby,
            logger: logger)
        return [a, b]
    }

    /// Each peer on a thread of its own plays `ticks` ticks (slot 1's thread stops calling in
    /// for `stall` at tick `stallAt`), then keeps polling until the other has its last frames.
    func play(
        _ peers: [PolledLockstepPeer<Nibble>], ticks: Int, stallAt: Int = -1, stall: Duration = .zero, serveUntil: @escaping @Sendable () -> Bool = { true }
    ) -> [PolledRun] {
        let runs = peers.map { _ in PolledRun() }
        let done = DispatchGroup()
        let deadline = ContinuousClock.now + .seconds(30)
        for (i, peer) in peers.enumerated() {
            done.enter()
            Thread {
                var driver = LockstepDriver(game: RunningSum(players: 2, seed: 7), checksumInterval: peer.configuration.checksumInterval, answers: true)
                var stalled = false
                while driver.ticksApplied < ticks, ContinuousClock.now < deadline {
                    driver.receive(peer.pollConfirmed())
                    while driver.ticksApplied < ticks,
                        let tick = driver.applyNext(answer: { _, t in Nibble(value: UInt8(truncatingIfNeeded: t &* 7 &+ i)) })
                    {
                        peer.apply(tick)
                        if i == 1, !stalled, driver.ticksApplied == stallAt {
                            stalled = true
                            Thread.sleep(forTimeInterval: Double(stall.nanosecondsClamped) / 1e9)
                        }
                    }
                    runs[i].events += peer.pollEvents()
                    peer.wait(atMost: .milliseconds(2))
                }
                // The other player needs our last inputs and confirmations.
                runs[i].finished = peer.finish(timeout: .seconds(3))
                // Spectators may still need our history.
                while !serveUntil(), ContinuousClock.now < deadline { peer.wait(atMost: .milliseconds(5)) }
                runs[i].events += peer.pollEvents()
                runs[i].ticks = driver.ticksApplied
                runs[i].checksum = driver.game.checksum()
                done.leave()
            }.start()
        }
        done.wait()
        for p in peers { p.leave() }
        return runs
    }

    /// docs/NETWORK.md's example: one player's whole game loop on a polled peer.
    static func examplePlayer(slot: Int, port: Int, seeds: [SocketAddress], lastTick: Int, logger: Logger) throws -> UInt64 {
        let peer = try PolledLockstepPeer<Nibble>(
            credentials: MeshCredentials(meshID: "arena", access: .password("secret")),
            configuration: LockstepConfiguration(players: 2), role: .player(slot),
            host: "127.0.0.1", port: port, seeds: seeds, logger: logger)
        var driver = LockstepDriver(game: RunningSum(players: 2, seed: 0), checksumInterval: 30, answers: true)
        while driver.ticksApplied < lastTick {
            driver.receive(peer.pollConfirmed())
            while driver.ticksApplied < lastTick, let tick = driver.applyNext(answer: { _, t in Nibble(value: UInt8(truncatingIfNeeded: t)) }) {
                peer.apply(tick, game: driver.game)
            }
            peer.wait(atMost: .milliseconds(1))  // or render a frame
        }
        peer.finish()
        peer.leave()
        return driver.game.checksum()
    }

    @Test("docs/NETWORK.md's example loop: two players, each on its own thread, play 120 ticks and agree")
    func networkGuideExample() throws {
        let logger = self.logger
        // Two ports free a moment ago (the example binds its own).
        let ports = try (0..<2).map { _ in
            let probe = try PolledLockstepPeer<Nibble>(
                credentials: creds, configuration: LockstepConfiguration(players: 2), role: .player(0), host: "127.0.0.1", standbyAfter: nil, logger: logger)
            defer { probe.leave() }
            return try #require(probe.localAddress.port)
        }
        let addresses = try ports.map { try SocketAddress(ipAddress: "127.0.0.1", port: $0) }
        let runs = [PolledRun(), PolledRun()]
        let threads = (0..<2).map { slot in
            Thread {
                runs[slot].checksum = (try? Self.examplePlayer(slot: slot, port: ports[slot], seeds: [addresses[1 - slot]], lastTick: 120, logger: logger)) ?? 0
                runs[slot].done = true
            }
        }
        threads.forEach { $0.start() }
        let deadline = ContinuousClock.now + .seconds(20)
        while !runs.allSatisfy(\.done), ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(runs.allSatisfy { $0.done })
        #expect(runs[0].checksum != 0 && runs[0].checksum == runs[1].checksum)
    }

    @Test("two polled peers, a thread each, play 2,000 unthrottled ticks on loopback and end with the same checksum")
    func unthrottledPair() throws {
        let config = LockstepConfiguration(players: 2).withInputDelay(2).withTickRate(1000)
        let peers = try pair(config, standby: .milliseconds(50))
        let runs = play(peers, ticks: 2000)
        #expect(runs.map(\.ticks) == [2000, 2000])
        #expect(runs[0].checksum == runs[1].checksum)
        #expect(runs.map(\.finished) == [true, true], "finish(timeout:) did not see the other player acknowledge our last input")
        // The standby thread sleeps while the game calls in (a few polls at most, for a thread
        // descheduled on a loaded machine).
        #expect(peers.map(\.standbyPollCount).max()! < 10, "standby polls: \(peers.map(\.standbyPollCount))")
        #expect(!runs.flatMap(\.events).contains { if case .desync = $0 { true } else { false } })
    }

    @Test(
        "a loop stepping as fast as the ticks come: pollConfirmed stops reading at the frame that completed a tick, and the reads after the game's own frames take the rest"
    )
    func readStopsAtTheReadyTick() throws {
        let config = LockstepConfiguration(players: 2).withInputDelay(2).withTickRate(60)
        let peers = try pair(config, standby: nil)
        defer { for p in peers { p.leave() } }
        let (a, b) = (peers[0], peers[1])
        let ready = ContinuousClock.now + .seconds(10)
        while !peers.allSatisfy(\.allPlayersPresent), ContinuousClock.now < ready { for p in peers { p.wait(atMost: .milliseconds(1)) } }
        let present = peers.allSatisfy(\.allPlayersPresent)
        try #require(present)
        var drivers = (0..<2).map { _ in LockstepDriver(game: RunningSum(players: 2, seed: 7), checksumInterval: config.checksumInterval, answers: true) }
        func answer(_ i: Int) -> (RunningSum, Int) -> Nibble { { _, t in Nibble(value: UInt8(truncatingIfNeeded: t &* 7 &+ i)) } }
        /// One turn of peer `i`'s loop: what is confirmed, then every tick ready; how many.
        func turn(_ i: Int) -> Int {
            drivers[i].receive(peers[i].pollConfirmed())
            var applied = 0
            while let tick = drivers[i].applyNext(answer: answer(i)) {
                peers[i].apply(tick)
                applied += 1
            }
            return applied
        }
        // Datagrams that are not the mesh's: the node counts and drops them.
        let junk = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(junk) }
        var to = sockaddr_in()
        to.sin_family = sa_family_t(AF_INET)
        to.sin_port = in_port_t(UInt16(b.localAddress.port!).bigEndian)
        to.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        func sendJunk() {
            let bytes = [UInt8](repeating: 0xEE, count: 40)
            _ = withUnsafePointer(to: &to) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(junk, bytes, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        // The two loops take turns on this thread. A stopped read shows when B's next turn comes
        // right after its last (within half a millisecond: a thread descheduled in between
        // reads everything, so a few turns are tried).
        var stops = 0
        let deadline = ContinuousClock.now + .seconds(20)
        while stops < 3, ContinuousClock.now < deadline {
            _ = turn(1)
            let sent = a.meshStats.datagramsSent, received = b.meshStats.datagramsReceived
            // A's frame (in B's socket as soon as sendto returns, on loopback) completes B's next
            // tick; three more datagrams wait behind it.
            guard turn(0) > 0 else { continue }
            for _ in 0..<3 { sendJunk() }
            let waiting = a.meshStats.datagramsSent - sent + 3
            let confirmed = b.pollConfirmed()
            let readByPoll = b.meshStats.datagramsReceived - received
            drivers[1].receive(confirmed)
            var applied = false
            while let tick = drivers[1].applyNext(answer: answer(1)) {
                b.apply(tick)
                applied = true
            }
            if readByPoll < waiting {
                // Stopped at the ready tick: the tick was handed over. The read after each of
                // the game's frames goes on (stopping again only where another tick completes),
                // so the game's next turns read the rest: nothing is left behind.
                #expect(!confirmed.isEmpty)
                #expect(applied)
                #expect(b.meshStats.datagramsReceived - received > readByPoll, "apply read nothing after its frame")
                var turns = 0
                while b.meshStats.datagramsReceived - received < waiting, turns < waiting {
                    _ = turn(1)
                    turns += 1
                }
                #expect(b.meshStats.datagramsReceived - received >= waiting, "datagrams left unread after \(turns) turns")
                stops += 1
            }
        }
        #expect(stops == 3, "no poll stopped at the ready tick in 20 s of turns")
    }

    @Test(
        "a game thread that stops calling in for 1.2 s: with the standby thread the other player never finds it silent, without one it does; both finish in sync"
    )
    func standbyCoversAStall() throws {
        let config = LockstepConfiguration(players: 2).withInputDelay(2).withTickRate(60).withDisconnectTimeout(.seconds(10))
        for standby in [Duration.milliseconds(50), nil] {
            let peers = try pair(config, standby: standby)
            let runs = play(peers, ticks: 120, stallAt: 40, stall: .milliseconds(1200))
            let standbyPolls = peers[1].standbyPollCount
            #expect(runs.map(\.ticks) == [120, 120])
            #expect(runs[0].checksum == runs[1].checksum)
            let silent = runs[0].events.contains { if case .peerSilent(slot: 1) = $0 { true } else { false } }
            if standby != nil {
                #expect(!silent, "player 0 found the stalled player silent: \(runs[0].events)")
                #expect(standbyPolls > 0)
            } else {
                #expect(silent, "without a standby thread the stall must show: \(runs[0].events)")
                #expect(standbyPolls == 0)
            }
            // The stalled player does not blame the other for its own stall.
            #expect(!runs[1].events.contains { if case .peerSilent = $0 { true } else { false } }, "\(runs[1].events)")
            #expect(!runs.flatMap(\.events).contains { if case .dropped = $0 { true } else { false } })
        }
    }

    @Test(
        "a polled player whose game thread stops calling in past the disconnect timeout is dropped; rejoin() starts it over, it resumes from the other's checkpoint and both finish in agreement"
    )
    func pausedPlayerRejoins() throws {
        let config = LockstepConfiguration(players: 2).withInputDelay(2).withTickRate(60)
            .withDisconnectTimeout(.milliseconds(500)).withDisconnectNotify(.milliseconds(250))
        let peers = try pair(config, standby: nil)
        let ticks = 480
        let runs = peers.map { _ in PolledRun() }
        let refused = PolledRun()
        let done = DispatchGroup()
        let start = ContinuousClock.now
        let deadline = start + .seconds(40)
        for (i, peer) in peers.enumerated() {
            done.enter()
            Thread {
                var driver = LockstepDriver(game: RunningSum(players: 2, seed: 7), checksumInterval: config.checksumInterval, answers: true)
                var stalled = false, rejoined = false, resumed = false
                // At the tick rate: alone, slot 0 would otherwise play the rest of the match at
                // once. Slot 1 catches up from its checkpoint as fast as it can.
                func due() -> Int { resumed ? ticks : Int((ContinuousClock.now - start) / .milliseconds(1000 / 60)) + 1 }
                while driver.ticksApplied < ticks, ContinuousClock.now < deadline {
                    if i == 1, peer.halted != nil, !rejoined {
                        rejoined = true
                        do { try peer.rejoin() } catch { refused.events.append(.halted(.rosterEmpty)) }
                    }
                    if let game = peer.takeResumedGame() {
                        guard let restored = try? LockstepDriver<RunningSum>(resuming: game, checksumInterval: config.checksumInterval, answers: true)
                        else { break }
                        driver = restored
                        resumed = true
                    }
                    driver.receive(peer.pollConfirmed())
                    while driver.ticksApplied < min(ticks, due()),
                        let tick = driver.applyNext(answer: { _, t in Nibble(value: UInt8(truncatingIfNeeded: t &* 7 &+ i)) })
                    {
                        peer.apply(tick, game: driver.game)
                        if i == 1, !stalled, driver.ticksApplied == 120 {
                            stalled = true
                            Thread.sleep(forTimeInterval: 2)
                        }
                    }
                    runs[i].events += peer.pollEvents()
                    peer.wait(atMost: .milliseconds(2))
                }
                runs[i].finished = peer.finish(timeout: .seconds(3))
                runs[i].events += peer.pollEvents()
                runs[i].ticks = driver.ticksApplied
                runs[i].checksum = driver.game.checksum()
                done.leave()
            }.start()
        }
        done.wait()
        let halted = peers[1].halted
        for p in peers { p.leave() }
        #expect(refused.events.isEmpty, "rejoin() was refused")
        #expect(runs.map(\.ticks) == [ticks, ticks])
        #expect(runs[0].checksum == runs[1].checksum)
        #expect(halted == nil)
        // Dropped, halted, back: slot 0 saw the drop and the readmission, slot 1 its halt and its resume.
        #expect(runs[0].events.contains { if case .dropped(slot: 1, _) = $0 { true } else { false } }, "\(runs[0].events)")
        #expect(runs[0].events.contains { if case .readmitted(slot: 1, _) = $0 { true } else { false } }, "\(runs[0].events)")
        #expect(runs[1].events.contains { if case .halted = $0 { true } else { false } }, "\(runs[1].events)")
        #expect(runs[1].events.contains { if case .resumed = $0 { true } else { false } }, "\(runs[1].events)")
    }

    @Test("a polled spectator follows two polled players to the last tick, fed by their flooded frames, with their checksum")
    func spectator() throws {
        let config = LockstepConfiguration(players: 2).withInputDelay(2).withTickRate(100)
        let playerMesh = MeshConfiguration.lockstep(players: 2, spectatorLinks: 1)
        let a = try PolledLockstepPeer<Nibble>(
            credentials: creds, meshConfiguration: playerMesh, configuration: config, role: .player(0), host: "127.0.0.1", logger: logger)
        let b = try PolledLockstepPeer<Nibble>(
            credentials: creds, meshConfiguration: playerMesh, configuration: config, role: .player(1), host: "127.0.0.1", seeds: [a.localAddress],
            logger: logger)
        var watcherMesh = MeshConfiguration()
        watcherMesh.hopLimit = 16
        let watcher = try PolledLockstepPeer<Nibble>(
            credentials: creds, meshConfiguration: watcherMesh, configuration: config, role: .spectator, host: "127.0.0.1",
            seeds: [a.localAddress, b.localAddress], logger: logger)
        // The players' lobby runs on their standby threads and can finish before the spectator
        // has linked to them; their ticks wait for the game loops below. The spectator must hold
        // both hellos first to start at tick 0 (one that comes later resumes from a checkpoint,
        // which this loop does not take).
        let lobbyDeadline = ContinuousClock.now + .seconds(10)
        while !watcher.allPlayersPresent, ContinuousClock.now < lobbyDeadline { watcher.wait(atMost: .milliseconds(5)) }
        try #require(watcher.allPlayersPresent, "the spectator never held both players' hellos")
        let ticks = 300
        let watched = PolledRun()
        let follow = Thread {
            var driver = LockstepDriver(game: RunningSum(players: 2, seed: 7), checksumInterval: config.checksumInterval, answers: false)
            let deadline = ContinuousClock.now + .seconds(20)
            while driver.ticksApplied < ticks, ContinuousClock.now < deadline {
                driver.receive(watcher.pollConfirmed())
                while driver.ticksApplied < ticks, let tick = driver.applyNext(answer: { _, _ in Nibble.neutral }) { watcher.apply(tick) }
                watcher.wait(atMost: .milliseconds(5))
            }
            watched.ticks = driver.ticksApplied
            watched.checksum = driver.game.checksum()
            watched.done = true
        }
        follow.start()
        let runs = play([a, b], ticks: ticks) { watched.done }
        watcher.leave()
        #expect(runs.map(\.ticks) == [ticks, ticks])
        #expect(watched.ticks == ticks, "the spectator reached tick \(watched.ticks) of \(ticks)")
        #expect(watched.checksum == runs[0].checksum && runs[0].checksum == runs[1].checksum)
    }

    @Test("after leave() every call returns at once and takes nothing; a peer let go without leave() is freed, its standby thread with it")
    func afterLeave() throws {
        let config = LockstepConfiguration(players: 2)
        let peer = try PolledLockstepPeer<Nibble>(credentials: creds, configuration: config, role: .player(0), host: "127.0.0.1", logger: logger)
        peer.leave()
        let start = ContinuousClock.now
        peer.wait(atMost: .seconds(2))
        #expect(peer.pollConfirmed().isEmpty)
        #expect(!peer.finish(timeout: .seconds(2)))
        peer.leave()
        #expect(ContinuousClock.now - start < .milliseconds(500))
        weak var forgotten: PolledLockstepPeer<Nibble>?
        do {
            let dropped = try PolledLockstepPeer<Nibble>(
                credentials: creds, configuration: config, role: .player(1), host: "127.0.0.1", standbyAfter: .milliseconds(5), logger: logger)
            forgotten = dropped
            Thread.sleep(forTimeInterval: 0.05)  // the standby thread at work
        }
        let deadline = ContinuousClock.now + .seconds(2)
        while forgotten != nil, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(forgotten == nil, "the standby thread keeps a peer nobody holds alive")
    }

    @Test("bad settings are typed errors before anything is bound")
    func badSettings() throws {
        let config = LockstepConfiguration(players: 2)
        #expect(throws: NetError.self) {
            try PolledLockstepPeer<Nibble>(credentials: creds, configuration: config, role: .player(0), host: "127.0.0.1", standbyAfter: .zero, logger: logger)
        }
        // A port that was free a moment ago: the rejected peer must leave it free.
        let probe = try PolledLockstepPeer<Nibble>(credentials: creds, configuration: config, role: .player(0), host: "127.0.0.1", logger: logger)
        let freePort = try #require(probe.localAddress.port)
        probe.leave()
        #expect(throws: NetError.self) {
            try PolledLockstepPeer<Nibble>(credentials: creds, configuration: config, role: .player(5), host: "127.0.0.1", port: freePort, logger: logger)
        }
        let rebound = try PolledLockstepPeer<Nibble>(
            credentials: creds, configuration: config, role: .player(0), host: "127.0.0.1", port: freePort, logger: logger)
        rebound.leave()
        let first = try PolledLockstepPeer<Nibble>(credentials: creds, configuration: config, role: .player(0), host: "127.0.0.1", logger: logger)
        defer { first.leave() }
        let port = try #require(first.localAddress.port)
        #expect(throws: NetError.portInUse(host: "127.0.0.1", port: port)) {
            try PolledLockstepPeer<Nibble>(credentials: creds, configuration: config, role: .player(1), host: "127.0.0.1", port: port, logger: logger)
        }
    }
}
