import Foundation
import MeshstepMesh
import MeshstepBots
import MeshstepNetBots
import MeshstepSimulation
import MeshstepNet
import NIOCore
import NIOPosix
import Testing

@Suite("UDP shell")
struct UDPShellTests {
    @Test("binding a port that is in use is a typed error that says what to do")
    func portInUse() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let creds = try MeshCredentials(meshID: "t", access: .password("p"))
        let first = try UDPMeshPeer.start(credentials: creds, host: "127.0.0.1", port: 0, group: group)
        defer { first.leave() }
        let port = try #require(first.localAddress.port)
        #expect(throws: NetError.portInUse(host: "127.0.0.1", port: port)) {
            try UDPMeshPeer.start(credentials: creds, host: "127.0.0.1", port: port, group: group)
        }
        #expect(NetError.portInUse(host: "127.0.0.1", port: port).description.contains("--port"))
    }

    @Test("two peers on loopback link up and flood to each other; leaving tells the other side")
    func twoPeers() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let creds = try MeshCredentials(meshID: "t", access: .password("p"))
        let got = Received()
        let a = try UDPMeshPeer.start(credentials: creds, host: "127.0.0.1", port: 0, group: group) { peer in
            peer.onDeliver = { message, _ in got.append(message.payload) }
        }
        let b = try UDPMeshPeer.start(credentials: creds, host: "127.0.0.1", port: 0, discovery: Discovery(seeds: [a.localAddress]), group: group)
        let deadline = ContinuousClock.now + .seconds(5)
        while b.neighbors().isEmpty, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(b.neighbors().map(\.peer) == [a.key])
        b.broadcast([1, 2, 3])
        while got.count < 1, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(got.values == [[1, 2, 3]])
        b.leave()
        while !a.neighbors().isEmpty, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(a.neighbors().isEmpty)
        a.leave()
    }

    @Test("a mesh configured for 8 KiB datagrams carries a 7 KiB payload over UDP whole")
    func largeDatagrams() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let creds = try MeshCredentials(meshID: "t", access: .password("p"))
        var config = MeshConfiguration()
        config.maxDatagramSize = 8192
        let got = Received()
        let a = try UDPMeshPeer.start(credentials: creds, configuration: config, host: "127.0.0.1", port: 0, group: group) { peer in
            peer.onDeliver = { message, _ in got.append(message.payload) }
        }
        let b = try UDPMeshPeer.start(
            credentials: creds, configuration: config, host: "127.0.0.1", port: 0, discovery: Discovery(seeds: [a.localAddress]), group: group)
        let deadline = ContinuousClock.now + .seconds(5)
        while b.neighbors().isEmpty, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.01) }
        let payload = (0..<7000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        b.broadcast(payload)
        while got.count < 1, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(got.values == [payload], "received \(got.values.map(\.count)) bytes")
        b.leave()
        a.leave()
    }
}

final class Received: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [[UInt8]] = []
    func append(_ v: [UInt8]) { lock.withLock { items.append(v) } }
    var values: [[UInt8]] { lock.withLock { items } }
    var count: Int { values.count }
}

@Suite("Lockstep over UDP")
struct LockstepOverUDPTests {
    @Test(
        "players spread over several event loops finish in sync, each input held by the others before its tick is agreed; more loops than players is a clear error before anything starts"
    )
    func severalEventLoops() throws {
        var scenario = UDPBotsScenario(players: 3, ticks: 240, loss: 0, seed: 4, inputDelay: 3)
        scenario.eventLoops = 3
        scenario.promptReports = true
        let r = try scenario.run()
        #expect(r.ticks_completed == 240 && r.checksums_agree && r.desyncs == 0 && r.inputs_lost == 0)
        // Every arrival precedes the agreement of its tick on every peer, so their medians too.
        let arrival = try #require(r.input_arrival_ms_p50, "no arrivals recorded")
        #expect(arrival > 0 && arrival <= r.input_latency_ms_p50, "arrival p50 \(arrival) ms, agreement p50 \(r.input_latency_ms_p50) ms")
        #expect((r.input_arrival_ms_p99 ?? 0) >= arrival)
        scenario.eventLoops = 4
        #expect(throws: ScenarioSettingError.self) { try scenario.run() }
    }

    @Test(
        "players on polled peers, a thread each asleep on its socket between frames, finish in sync, each input held by the others before its tick is agreed; spectators with --polled are a clear error"
    )
    func polledPlayers() throws {
        var scenario = UDPBotsScenario(players: 3, ticks: 240, loss: 0.05, seed: 5, inputDelay: 3)
        scenario.polled = true
        scenario.promptReports = true
        let r = try scenario.run()
        #expect(r.ticks_completed == 240 && r.checksums_agree && r.desyncs == 0 && r.inputs_lost == 0)
        let arrival = try #require(r.input_arrival_ms_p50, "no arrivals recorded")
        #expect(arrival > 0 && arrival <= r.input_latency_ms_p50, "arrival p50 \(arrival) ms, agreement p50 \(r.input_latency_ms_p50) ms")
        scenario.spectators = 1
        #expect(throws: ScenarioSettingError.self) { try scenario.run() }
    }

    @Test("the input delay is chosen from the measured round trips and switched mid-session for every player at once")
    func autoInputDelay() throws {
        var scenario = UDPBotsScenario(players: 3, ticks: 240, loss: 0, seed: 9, inputDelay: 1)
        scenario.autoInputDelay = true
        let r = try scenario.run()
        // Loopback: a round trip well under a frame, so ceil((rtt/2 + 4 ms) / frame) + 2 = 3.
        #expect(r.input_delay == 3)
        #expect(r.ticks_completed == 240 && r.checksums_agree && r.desyncs == 0 && r.inputs_lost == 0)
    }

    @Test("--crash SLOT@TICK on real sockets happens when the match reaches TICK: the survivors drop the slot no earlier, agree, and finish in sync")
    func crashAtTick() throws {
        var scenario = UDPBotsScenario(players: 3, ticks: 240, loss: 0, seed: 5, inputDelay: 3)
        scenario.crashes = [(slot: 2, tick: 100)]
        scenario.disconnectTimeout = .milliseconds(500)
        let r = try scenario.run()
        #expect(r.drops.map(\.slot) == [2] && r.drops_agree, "\(r.drops)")
        #expect(r.drops.allSatisfy { $0.tick >= 100 }, "crashed at tick 100 but dropped at \(r.drops)")
        #expect(r.ticks_completed == 240 && r.checksums_agree && r.desyncs == 0)
        #expect(r.halted.isEmpty, "\(r.halted)")
    }

    @Test("spectators over real UDP follow the players to the last tick, fed by the players' flooded frames, with the players' checksums")
    func spectatorsOverUDP() throws {
        var scenario = UDPBotsScenario(players: 3, ticks: 300, loss: 0, seed: 12, inputDelay: 3)
        scenario.spectators = 6
        let cpus = ThreadPlacement.allowed()
        let r = try scenario.run()
        #expect(r.spectators == 6 && r.spectators_live_at_end == 6, "\(r.spectators_live_at_end) of 6 spectators reached tick 300")
        #expect(r.spectator_ticks_completed == 300)
        // Spectators' checksums are part of the agreement: every checked tick has one value.
        #expect(r.ticks_completed == 300 && r.checksums_agree && r.desyncs == 0 && r.halted.isEmpty)
        // The threads the run moved out of the players' way are back where they were.
        #expect(ThreadPlacement.allowed() == cpus)
    }

    @Test("a partition on real sockets: the 3 continue, the 2 halt with a reason, the drops are identical, nothing diverges")
    func partitionOverUDP() throws {
        var scenario = UDPBotsScenario(players: 5, ticks: 400, loss: 0.05, seed: 4, inputDelay: 3)
        scenario.partition = BotsPartition(start: 120, slots: [0, 1, 2], heal: 300)
        scenario.disconnectTimeout = .milliseconds(500)
        let r = try scenario.run()
        #expect(r.halted.map(\.slot) == [3, 4])
        // The 2-side halts on its own (no quorum), or, when a loaded machine delayed its timers
        // past the heal, on the certificate that dropped it: both stop it before any divergence.
        #expect(r.halted.allSatisfy { $0.reason.contains("lost the majority") || $0.reason.contains("dropped by the other players") }, "\(r.halted)")
        #expect(Set(r.drops.map(\.slot)) == [3, 4] && r.drops_agree)
        // The partition starts when the match reaches tick 120 (not at frame 120, which a slow
        // start puts at an earlier tick): the majority holds the others' inputs through it.
        #expect(r.drops.allSatisfy { $0.tick >= 120 }, "\(r.drops)")
        #expect(r.ticks_completed == 400)
        #expect(r.checksums_agree && r.desyncs == 0)
    }
}

@Suite("UDP shell over IPv6")
struct IPv6Tests {
    /// Whether this machine has an IPv6 loopback to bind.
    static let hasIPv6Loopback: Bool = {
        let fd = socket(AF_INET6, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in6()
        addr.sin6_family = sa_family_t(AF_INET6)
        addr.sin6_addr = in6addr_loopback
        return withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) == 0 }
        }
    }()

    @Test("two peers on ::1 link up and flood to each other", .enabled(if: hasIPv6Loopback, "no IPv6 loopback (::1) on this machine"))
    func loopbackIPv6() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let creds = try MeshCredentials(meshID: "t6", access: .password("p"))
        let got = Received()
        let a = try UDPMeshPeer.start(credentials: creds, host: "::1", port: 0, group: group) { peer in
            peer.onDeliver = { message, _ in got.append(message.payload) }
        }
        let b = try UDPMeshPeer.start(credentials: creds, host: "::1", port: 0, discovery: Discovery(seeds: [a.localAddress]), group: group)
        let deadline = ContinuousClock.now + .seconds(5)
        while b.neighbors().isEmpty, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(b.neighbors().map(\.peer) == [a.key])
        b.broadcast([6, 6, 6])
        while got.count < 1, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(got.values == [[6, 6, 6]])
        b.leave()
        a.leave()
    }

    @Test(
        "a dual-stack peer (::) and an IPv4 peer link up and flood both ways: the IPv4 peer is sent to as ::ffff:127.0.0.1",
        .enabled(if: hasIPv6Loopback, "no IPv6 on this machine"))
    func dualStackToIPv4() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let creds = try MeshCredentials(meshID: "t46", access: .password("p"))
        let atA = Received(), atB = Received()
        let a = try UDPMeshPeer.start(credentials: creds, host: "::", port: 0, group: group) { peer in
            peer.onDeliver = { message, _ in atA.append(message.payload) }
        }
        let port = try #require(a.localAddress.port)
        let b = try UDPMeshPeer.start(
            credentials: creds, host: "127.0.0.1", port: 0, discovery: Discovery(seeds: [try SocketAddress(ipAddress: "127.0.0.1", port: port)]), group: group
        ) { peer in
            peer.onDeliver = { message, _ in atB.append(message.payload) }
        }
        let deadline = ContinuousClock.now + .seconds(5)
        while b.neighbors().isEmpty || a.neighbors().isEmpty, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(b.neighbors().map(\.peer) == [a.key])
        #expect(a.neighbors().map(\.peer) == [b.key])
        b.broadcast([4, 4])
        a.broadcast([6, 6])
        while atA.count < 1 || atB.count < 1, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(atA.values == [[4, 4]])
        #expect(atB.values == [[6, 6]])
        b.leave()
        a.leave()
    }
}

extension RealNetworkTests {
    @Suite("guide example")
    struct GuideExample {
        /// The guide's example as two processes on loopback, slot 0 on a fresh port; other ports
        /// when another program took one first.
        static func startTinyGame() throws -> [Child] {
            let binary = try builtProduct("meshstep-example")
            var players: [Child] = []
            for _ in 0..<3 {
                let port = freeUDPPorts(1)[0]
                players = [
                    try Child("slot 0", executable: binary, arguments: ["--slot", "0", "--port", "\(port)"]),
                    try Child("slot 1", executable: binary, arguments: ["--slot", "1", "--peer", "127.0.0.1:\(port)"]),
                ]
                Thread.sleep(forTimeInterval: 0.5)
                if !players[0].isRunning && players[0].stderr.contains("in use") { players.forEach { $0.reap() }; continue }
                break
            }
            return players
        }

        @Test("Examples/TinyGame (the guide's complete game) runs as two processes at the tick rate: 300 ticks take 5 s, both print 'in sync' and exit 0")
        func tinyGameTwoProcesses() throws {
            let started = ContinuousClock.now
            let players = try Self.startTinyGame()
            defer { players.forEach { $0.reap() } }
            let statuses = waitAll(players, timeout: .seconds(60))
            let took = ContinuousClock.now - started
            let dump = players.map(\.transcript).joined(separator: "\n")
            #expect(statuses == [0, 0], "\(dump)")
            let finals = players.map { $0.stdoutLines.last ?? "" }
            #expect(finals.allSatisfy { $0.hasPrefix("tick 300: checksum ") && $0.hasSuffix(", in sync") }, "\(dump)")
            #expect(Set(finals).count == 1, "the two players' final lines differ: \(finals)")
            // One tick per frame at 60 Hz: 300 ticks cannot take less than 5 s (a loop applying
            // every confirmed tick at once ran them in under 2 s).
            #expect(took >= .milliseconds(4900), "300 ticks took \(took): faster than the tick rate")
        }

        @Test(
            "Examples/TinyGame with one player paused (SIGSTOP) past the disconnect timeout: LockstepMatch starts it over by itself, it comes back, and both end in sync"
        )
        func tinyGamePausedPlayerComesBack() throws {
            let players = try Self.startTinyGame()
            defer { players.forEach { $0.reap() } }
            // About tick 60 of 300, slot 1 freezes for 3.5 s: slot 0 (the lowest, half of two)
            // drops it after 2 s and plays on alone.
            Thread.sleep(forTimeInterval: 1)
            players[1].sendSignal(SIGSTOP)
            Thread.sleep(forTimeInterval: 3.5)
            players[1].sendSignal(SIGCONT)
            let statuses = waitAll(players, timeout: .seconds(60))
            let dump = players.map(\.transcript).joined(separator: "\n")
            #expect(statuses == [0, 0], "\(dump)")
            #expect(players[1].stdout.contains("halted: dropped by the other players"), "slot 1 was not dropped:\n\(dump)")
            #expect(players[1].stdout.contains("resumed from the checkpoint"), "slot 1 did not resume from a checkpoint:\n\(dump)")
            let finals = players.map { $0.stdoutLines.last ?? "" }
            #expect(finals.allSatisfy { $0.hasPrefix("tick 300: checksum ") && $0.hasSuffix(", in sync") }, "\(dump)")
            #expect(Set(finals).count == 1, "the two players' final lines differ: \(finals)")
        }

        @Test("Examples/TinyGame without --slot prints its usage and exits 64")
        func tinyGameUsage() throws {
            let binary = try builtProduct("meshstep-example")
            let c = try Child("usage", executable: binary, arguments: [])
            #expect(c.wait(timeout: .seconds(10)) == 64)
            #expect(c.stdout.contains("usage: meshstep-example --slot"))
        }
    }
}
