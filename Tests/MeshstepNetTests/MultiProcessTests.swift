import Foundation
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// Real processes on real sockets, one test at a time (the namespace tests included): these
/// games run in real time at 60 Hz, and on a small machine two of them at once would only
/// measure the scheduler.
@Suite("Real network", .serialized)
struct RealNetworkTests {}

extension RealNetworkTests {
    @Suite("processes")
    struct Processes {
        /// Starts one `meshstep bot` per slot on loopback, slots 0 and 1 as seeds, on fresh ports;
        /// retries with other ports when another program took one first.
        static func startBots(
            players: Int, ticks: Int, mesh: String, extra: [String] = [], extraFor: [Int: [String]] = [:], starting: Int? = nil
        ) throws -> (bots: [Child], ports: [Int]) {
            let binary = try meshstepBinary()
            for _ in 0..<3 {
                let ports = freeUDPPorts(players)
                var bots: [Child] = []
                for slot in 0..<(starting ?? players) {
                    bots.append(
                        try Child(
                            "bot \(slot)", executable: binary,
                            arguments: [
                                "bot", "--mesh", mesh, "--password", "pw-\(mesh)", "--players", "\(players)", "--slot", "\(slot)",
                                "--ticks", "\(ticks)", "--host", "127.0.0.1", "--port", "\(ports[slot])",
                                "--peer", "127.0.0.1:\(ports[0])", "--peer", "127.0.0.1:\(ports[1])", "--json",
                            ] + extra + extraFor[slot, default: []]))
                }
                // Every bot binds its port first thing and says so; a port race shows up right away.
                let bound = poll(timeout: .seconds(10)) { lostPortRace(bots) || bots.allSatisfy { $0.stderr.contains("listening on") || !$0.isRunning } }
                if lostPortRace(bots) {
                    bots.forEach { $0.reap() }
                    continue
                }
                #expect(bound, "not every bot bound its port within 10 s")
                return (bots, ports)
            }
            throw HarnessError.commandFailed(command: "meshstep bot", status: 1, stderr: "three port races in a row")
        }

        static func uniqueMesh(_ stem: String) -> String { "\(stem)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))" }

        @Test("4 meshstep bot processes on loopback finish the match with the same checksum at the same final tick, and end within a second of each other")
        func fourProcesses() throws {
            let (bots, _) = try Self.startBots(players: 4, ticks: 300, mesh: Self.uniqueMesh("four"))
            defer { bots.forEach { $0.reap() } }
            let statuses = waitAll(bots, timeout: .seconds(60))
            #expect(statuses == [0, 0, 0, 0], "\(bots.map(\.transcript).joined(separator: "\n"))")
            let reports = try bots.map { try BotReport.parse($0) }
            #expect(reports.map(\.slot) == [0, 1, 2, 3])
            // They end together: each finishes once the others hold its last frames (or left),
            // so nobody waits out a timeout for players that are already gone.
            let ends = bots.compactMap(\.endedAt)
            if let first = ends.min(), let last = ends.max() {
                #expect(last - first < .seconds(1), "the processes ended \(last - first) apart")
            }
            for r in reports {
                #expect(r.ticksCompleted == 300, "slot \(r.slot)")
                #expect(r.finalTick == 299, "slot \(r.slot)")
                #expect(r.drops.isEmpty, "slot \(r.slot) dropped \(r.drops)")
                #expect(r.desyncs == 0, "slot \(r.slot)")
                #expect(r.halted == nil, "slot \(r.slot)")
                #expect(r.inputLatencyMsP50 > 0, "slot \(r.slot): latency figures present")
            }
            let checksums = Set(reports.map(\.checksumAtFinalTick))
            #expect(checksums.count == 1, "checksums differ: \(reports.map(\.checksumAtFinalTick))")
            #expect(!reports[0].checksumAtFinalTick.isEmpty)
        }

        @Test("SIGKILL of one of 4 bot processes mid-game: the other three agree on its drop tick and finish with equal checksums")
        func sigkillMidGame() throws {
            let (bots, _) = try Self.startBots(players: 4, ticks: 600, mesh: Self.uniqueMesh("kill"))
            defer { bots.forEach { $0.reap() } }
            // The lobby closes within a fraction of a second on loopback; 3 s later slot 2 is deep
            // into the 10 s match.
            Thread.sleep(forTimeInterval: 3)
            #expect(bots.allSatisfy { $0.isRunning }, "a bot exited before the kill:\n\(bots.map(\.transcript).joined(separator: "\n"))")
            bots[2].sendSignal(SIGKILL)
            // The kill is immediate; Foundation's `Process` notices the exit on its own monitor
            // queue, which once took over 5 s while the whole real-time tier ran (a clean-clone CI
            // run, session 54): the wait only bounds a hang.
            #expect(bots[2].wait(timeout: .seconds(30)) == SIGKILL)
            #expect(bots[2].killedBySignal)
            let survivors = [bots[0], bots[1], bots[3]]
            let statuses = waitAll(survivors, timeout: .seconds(60))
            #expect(statuses == [0, 0, 0], "\(survivors.map(\.transcript).joined(separator: "\n"))")
            let reports = try survivors.map { try BotReport.parse($0) }
            for r in reports {
                #expect(r.ticksCompleted == 600, "slot \(r.slot)")
                #expect(r.finalTick == 599, "slot \(r.slot)")
                #expect(r.desyncs == 0, "slot \(r.slot)")
                #expect(r.halted == nil, "slot \(r.slot)")
                #expect(r.drops.count == 1 && r.drops.first?.slot == 2, "slot \(r.slot) reports drops \(r.drops)")
            }
            #expect(Set(reports.map(\.drops)).count == 1, "drops differ: \(reports.map(\.drops))")
            let dropTick = try #require(reports.first?.drops.first?.tick)
            // Killed after about 3 s of a 10 s match: mid-game, not in the lobby and not at the end.
            #expect((60..<540).contains(dropTick), "drop tick \(dropTick)")
            #expect(Set(reports.map(\.checksumAtFinalTick)).count == 1, "checksums differ: \(reports.map(\.checksumAtFinalTick))")
        }

        @Test(
            "a bot paused (SIGSTOP) past the disconnect timeout is dropped; with --rejoin-when-halted it starts over in the same process, comes back and finishes with the others' checksum"
        )
        func pausedBotStartsOver() throws {
            let mesh = Self.uniqueMesh("paused")
            let (bots, _) = try Self.startBots(players: 4, ticks: 1200, mesh: mesh, extraFor: [2: ["--rejoin-when-halted"]])
            defer { bots.forEach { $0.reap() } }
            // About 3 s into the 20 s match slot 2 freezes for 4 s: twice the disconnect timeout.
            Thread.sleep(forTimeInterval: 4)
            let running = bots.allSatisfy(\.isRunning)
            #expect(running, "a bot exited early:\n\(bots.map(\.transcript).joined(separator: "\n"))")
            bots[2].sendSignal(SIGSTOP)
            Thread.sleep(forTimeInterval: 4)
            bots[2].sendSignal(SIGCONT)
            let statuses = waitAll(bots, timeout: .seconds(60))
            #expect(statuses == [0, 0, 0, 0], "\(bots.map(\.transcript).joined(separator: "\n"))")
            let reports = try bots.map { try BotReport.parse($0) }
            for r in reports {
                #expect(r.ticksCompleted == 1200, "slot \(r.slot)")
                #expect(r.desyncs == 0 && r.halted == nil, "slot \(r.slot)")
                #expect(r.rejoins?.map(\.slot) == [2], "slot \(r.slot) reports rejoins \(String(describing: r.rejoins))")
            }
            #expect(reports[2].rejoinedAfterHalt == 1)
            #expect(reports[2].resumedAt != nil, "the paused bot did not resume from a checkpoint")
            #expect(Set(reports.map(\.checksumAtFinalTick)).count == 1, "checksums differ: \(reports.map(\.checksumAtFinalTick))")
        }

        @Test(
            "a bot SIGKILLed mid-game and restarted with the same --identity rejoins: readmitted by the others, it resumes from their checkpoint and finishes with their checksum"
        )
        func killedBotRejoins() throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("meshstep-rejoin-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let identity = directory.appendingPathComponent("slot2.identity").path
            let mesh = Self.uniqueMesh("rejoin")
            let (first, ports) = try Self.startBots(players: 4, ticks: 1200, mesh: mesh, extraFor: [2: ["--identity", identity]])
            defer { first.forEach { $0.reap() } }
            // About 3 s into the 20 s match slot 2 dies, and stays dead until the others dropped
            // it (2 s of silence); then the same command starts it again.
            Thread.sleep(forTimeInterval: 4)
            let running = first.allSatisfy(\.isRunning)
            #expect(running, "a bot exited early:\n\(first.map(\.transcript).joined(separator: "\n"))")
            first[2].sendSignal(SIGKILL)
            #expect(first[2].wait(timeout: .seconds(30)) == SIGKILL)
            Thread.sleep(forTimeInterval: 3.5)
            let restarted = try Child(
                "bot 2 again", executable: try meshstepBinary(),
                arguments: [
                    "bot", "--mesh", mesh, "--password", "pw-\(mesh)", "--players", "4", "--slot", "2", "--ticks", "1200",
                    "--host", "127.0.0.1", "--port", "\(ports[2])", "--peer", "127.0.0.1:\(ports[0])", "--peer", "127.0.0.1:\(ports[1])",
                    "--json", "--identity", identity,
                ])
            defer { restarted.reap() }
            let all = [first[0], first[1], restarted, first[3]]
            let statuses = waitAll(all, timeout: .seconds(60))
            #expect(statuses == [0, 0, 0, 0], "\(all.map(\.transcript).joined(separator: "\n"))")
            let reports = try all.map { try BotReport.parse($0) }
            for r in reports {
                #expect(r.ticksCompleted == 1200, "slot \(r.slot)")
                #expect(r.desyncs == 0 && r.halted == nil, "slot \(r.slot)")
                #expect(r.rejoins?.map(\.slot) == [2], "slot \(r.slot) reports rejoins \(String(describing: r.rejoins))")
            }
            #expect(reports[2].resumedAt != nil, "the restarted bot did not resume from a checkpoint")
            #expect((reports[2].snapshotBytes ?? 0) > 0)
            #expect(Set(reports.map(\.checksumAtFinalTick)).count == 1, "checksums differ: \(reports.map(\.checksumAtFinalTick))")
        }

        @Test(
            "a meshstep bot started mid-game for an open slot joins: the players admit its key, it resumes from their checkpoint and all finish with one checksum"
        )
        func newcomerFillsOpenSlot() throws {
            let mesh = Self.uniqueMesh("open")
            let open = ["--open-slots", "3"]
            let (first, ports) = try Self.startBots(players: 4, ticks: 900, mesh: mesh, extra: open, starting: 3)
            defer { first.forEach { $0.reap() } }
            // The three start without slot 3; about 2 s into the 15 s match the newcomer arrives.
            Thread.sleep(forTimeInterval: 3)
            let running = first.allSatisfy(\.isRunning)
            #expect(running, "a bot exited early:\n\(first.map(\.transcript).joined(separator: "\n"))")
            let newcomer = try Child(
                "bot 3 (newcomer)", executable: try meshstepBinary(),
                arguments: [
                    "bot", "--mesh", mesh, "--password", "pw-\(mesh)", "--players", "4", "--slot", "3", "--ticks", "900",
                    "--host", "127.0.0.1", "--port", "\(ports[3])", "--peer", "127.0.0.1:\(ports[0])", "--peer", "127.0.0.1:\(ports[1])",
                    "--json",
                ] + open)
            defer { newcomer.reap() }
            let all = first + [newcomer]
            let statuses = waitAll(all, timeout: .seconds(60))
            #expect(statuses == [0, 0, 0, 0], "\(all.map(\.transcript).joined(separator: "\n"))")
            let reports = try all.map { try BotReport.parse($0) }
            for r in reports {
                #expect(r.ticksCompleted == 900, "slot \(r.slot)")
                #expect(r.desyncs == 0 && r.halted == nil && r.drops.isEmpty, "slot \(r.slot)")
                #expect(r.lateJoins?.map(\.slot) == [3], "slot \(r.slot) reports late joins \(String(describing: r.lateJoins))")
            }
            #expect(reports[3].resumedAt != nil, "the newcomer did not resume from a checkpoint")
            #expect(Set(reports.map(\.checksumAtFinalTick)).count == 1, "checksums differ: \(reports.map(\.checksumAtFinalTick))")
        }

        @Test(
            "meshstep chat between 3 processes: every line reaches the other two exactly once and never echoes; leaves are shown; a wrong password is refused")
        func chatThreeProcesses() throws {
            let binary = try meshstepBinary()
            let mesh = Self.uniqueMesh("chat")
            let names = ["alice", "bob", "carol"]
            let token = String(UInt64.random(in: 0...UInt64.max), radix: 36)
            let lines = names.map { "hello from \($0) \(token)" }
            func chat(_ name: String, port: Int, password: String = "open sesame", seed: Int?) throws -> Child {
                try Child(
                    name, executable: binary,
                    arguments: [
                        "chat", "--mesh", mesh, "--password", password, "--name", name, "--host", "127.0.0.1", "--port", "\(port)",
                    ] + (seed.map { ["--peer", "127.0.0.1:\($0)"] } ?? []), withStdin: true)
            }

            var peers: [Child] = []
            var ports: [Int] = []
            defer { peers.forEach { $0.reap() } }
            for _ in 0..<3 {
                ports = freeUDPPorts(4)
                // Alice first, without seeds; bob and carol join through her once she is bound.
                let alice = try chat("alice", port: ports[0], seed: nil)
                peers = [alice]
                #expect(poll(timeout: .seconds(10)) { alice.stderr.contains("chat: mesh") || !alice.isRunning })
                if lostPortRace(peers) { peers.forEach { $0.reap() }; continue }
                peers += [try chat("bob", port: ports[1], seed: ports[0]), try chat("carol", port: ports[2], seed: ports[0])]
                #expect(poll(timeout: .seconds(10)) { peers.allSatisfy { $0.stderr.contains("chat: mesh") || !$0.isRunning } })
                if lostPortRace(peers) { peers.forEach { $0.reap() }; continue }
                break
            }
            try #require(peers.count == 3 && peers.allSatisfy(\.isRunning), "\(peers.map(\.transcript).joined(separator: "\n"))")
            let dump = { peers.map(\.transcript).joined(separator: "\n") }

            // Handshake: everybody has seen the other two join.
            let joined = poll(timeout: .seconds(20)) {
                zip(names, peers).allSatisfy { name, p in
                    let out = p.stdoutLines
                    return names.filter { $0 != name }.allSatisfy { out.contains("* \($0) joined") }
                }
            }
            try #require(joined, "not everybody saw the others join\n\(dump())")

            for (peer, line) in zip(peers, lines) { try peer.send(line) }
            let delivered = poll(timeout: .seconds(15)) {
                zip(names, peers).allSatisfy { name, p in
                    let out = p.stdoutLines
                    return zip(names, lines).filter { $0.0 != name }.allSatisfy { out.contains("<\($0.0)> \($0.1)") }
                }
            }
            #expect(delivered, "not every line reached the other two\n\(dump())")

            // A wrong password is refused promptly and clearly, while the mesh is up.
            let intruder = try chat("mallory", port: ports[3], password: "guess", seed: ports[0])
            defer { intruder.reap() }
            let started = ContinuousClock.now
            let status = intruder.wait(timeout: .seconds(8))
            let took = ContinuousClock.now - started
            #expect(status == 1, "\(intruder.transcript)")
            // Reported when the doubted handshake times out (3 s: a refusal is not authenticated).
            #expect(took < .seconds(6), "refusal took \(took)")
            #expect(intruder.stderr.contains("wrong password"), "\(intruder.transcript)")
            #expect(intruder.stdout.isEmpty)

            // Carol leaves first: alice and bob are told.
            peers[2].closeStdin()
            #expect(peers[2].wait(timeout: .seconds(10)) == 0, "\(peers[2].transcript)")
            #expect(
                poll(timeout: .seconds(10)) { peers[0].stdoutLines.contains("* carol left") && peers[1].stdoutLines.contains("* carol left") },
                "\(dump())")
            peers[0].closeStdin()
            peers[1].closeStdin()
            #expect(waitAll([peers[0], peers[1]], timeout: .seconds(10)) == [0, 0], "\(dump())")

            // Exactly once, never echoed, nothing from the intruder — checked on the complete output.
            for (name, p) in zip(names, peers) {
                let out = p.stdoutLines
                for (sender, line) in zip(names, lines) {
                    let expected = sender == name ? 0 : 1
                    #expect(
                        out.filter { $0 == "<\(sender)> \(line)" }.count == expected, "\(name) got \(sender)'s line a wrong number of times\n\(p.transcript)")
                    #expect(out.filter { $0.hasSuffix(line) }.count == expected, "\(name)\n\(p.transcript)")
                }
                #expect(!p.stdout.contains("mallory"), "\(name) heard from the intruder\n\(p.transcript)")
                #expect(!out.contains("* \(name) joined"), "\(name) saw its own join\n\(p.transcript)")
            }
        }

        @Test("meshstep bots --network udp with 10% seeded socket loss: all 240 ticks, checksums agree, nothing lost")
        func botsOverUDPWithLoss() throws {
            struct Report: Decodable {
                var ticksCompleted: Int
                var checksumsAgree: Bool
                var desyncs: Int
                var inputsLost: Int
                var players: Int
                var drops: [BotReport.Drop]
            }
            let bots = try Child(
                "bots", executable: try meshstepBinary(),
                arguments: ["bots", "--network", "udp", "--players", "4", "--ticks", "240", "--loss", "0.1", "--json"])
            defer { bots.reap() }
            #expect(bots.wait(timeout: .seconds(60)) == 0, "\(bots.transcript)")
            let line = try #require(bots.stdoutLines.last, "\(bots.transcript)")
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            let report = try decoder.decode(Report.self, from: Data(line.utf8))
            #expect(report.players == 4)
            #expect(report.ticksCompleted == 240)
            #expect(report.checksumsAgree)
            #expect(report.desyncs == 0)
            #expect(report.inputsLost == 0)
            #expect(report.drops.isEmpty)
        }
    }
}
