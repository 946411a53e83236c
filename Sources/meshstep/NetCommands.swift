import ArgumentParser
import Foundation
import Logging
import MeshstepArena
import MeshstepBots
import MeshstepNetBots
import MeshstepLockstep
import MeshstepMesh
import MeshstepNet
import MeshstepWire
import NIOCore
import NIOPosix
import Synchronization

/// The flags every real-network command shares: which mesh, and how to find it.
struct MeshOptions: ParsableArguments {
    @Option(help: "Mesh name: peers with the same name (and password) form one mesh.") var mesh: String
    @Option(help: "Mesh password (never sent; proven by challenge-response). Without it the mesh is open.") var password: String?
    @Option(name: .customLong("peer"), help: "HOST:PORT of a peer to join through (repeatable).") var peers: [String] = []
    @Option(help: "HOST:PORT of a 'meshstep resolver' service.") var resolver: String?
    @Flag(help: "LAN discovery: find peers of this mesh on the local network by multicast (239.255.77.77, UDP 7477).") var lan = false
    @Option(help: "Local address to bind (0.0.0.0, ::, or one of this machine's addresses).") var host: String = "0.0.0.0"
    @Option(parsing: .unconditional, help: "Local UDP port (0 picks a free one).") var port: Int = 0
    @Option(help: "Log level: trace, debug, info, warning, error.") var logLevel: String = "warning"
    @Option(help: "File with this peer's identity, created (mode 0600) when missing: a restarted process comes back as the same peer.")
    var identity: String?

    func validate() throws {
        guard !mesh.isEmpty, mesh.utf8.count <= 64 else { throw ValidationError("--mesh must be 1...64 bytes") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level must be trace, debug, info, warning or error") }
        for p in peers { do { _ = try parseHostPort(p) } catch { throw ValidationError("--peer: \(error)") } }
        if let resolver { do { _ = try parseHostPort(resolver) } catch { throw ValidationError("--resolver: \(error)") } }
        // Read (or created) before anything starts: a bad path fails at once, not after a join.
        if identity != nil { _ = try nodeIdentity() }
    }

    /// The identity from `--identity`, or a fresh one for this run.
    func nodeIdentity() throws -> NodeIdentity {
        guard let identity else { return NodeIdentity() }
        do { return try IdentityFile.loadOrCreate(at: identity).identity } catch { throw ValidationError("--identity: \(error)") }
    }

    /// Holds the `--identity` file for the rest of the process (a second process with it fails).
    func holdIdentity() throws {
        guard let identity else { return }
        do { try IdentityFile.holdForThisProcess(identity) } catch { throw ValidationError("--identity: \(error)") }
    }

    func credentials() throws -> MeshCredentials {
        try MeshCredentials(meshID: mesh, access: password.map { .password($0) } ?? .open)
    }

    func discovery() throws -> Discovery {
        Discovery(seeds: try peers.map { try parseHostPort($0) }, resolver: try resolver.map { try parseHostPort($0) }, lan: lan)
    }

    func logger(_ label: String) -> Logger {
        var l = Logger(label: label, factory: { StreamLogHandler.standardError(label: $0) })
        l.logLevel = Logger.Level(rawValue: logLevel) ?? .warning
        return l
    }
}

/// A refusal that ends a join: a wrong password or another mesh at the address we dialed.
func refusal(seenBy peer: UDPMeshPeer) -> NetError? {
    peer.refusalsSeen().first { [.authenticationFailed, .wrongMesh].contains($0.reason) }
        .map { NetError.refused(address: $0.address.description, reason: $0.reason) }
}

/// Fails fast with a clear message when the mesh refuses us or nobody answers.
func awaitMesh(_ peer: UDPMeshPeer, options: MeshOptions, timeout: Duration) throws {
    let hasSeeds = !options.peers.isEmpty || options.resolver != nil  // LAN: the first peer waits like any first peer
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if !peer.neighbors().isEmpty { return }
        if let problem = peer.resolverProblem(), case .unreachable = problem, options.peers.isEmpty {
            throw NetError.resolverUnreachable(options.resolver ?? "?")
        }
        if let refused = refusal(seenBy: peer) { throw refused }
        if !hasSeeds { return }  // the first peer of a mesh waits for others to find it
        Thread.sleep(forTimeInterval: 0.02)
    }
    if let resolver = options.resolver, !peer.resolverHasAnswered() { throw NetError.resolverUnreachable(resolver) }
    throw NetError.meshNotFound(meshID: options.mesh, seconds: Int(timeout.components.seconds))
}

struct Bot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "One bot player in its own process, on a real UDP socket: plays the tank arena in lockstep with the others.",
        discussion: """
            Start one process per slot with the same --mesh, --players and --ticks, each with its own \
            --slot, and point them at each other with --peer (or a --resolver). The game starts when \
            every player has been heard. Prints one JSON object (with --json) when the match ends. \
            A bot restarted with the same --identity while the match runs rejoins it: the others \
            readmit its slot and send it a checkpoint to resume from. With --open-slots (the same on \
            every bot) those slots start empty; a bot started later for one of them joins the running \
            match: the players admit its key and send it a checkpoint. With --rejoin-when-halted a bot             whose session halts (the others dropped it after it was paused or cut off past the             disconnect timeout) starts over in the same process and comes back the same way.
            """
    )

    @OptionGroup var meshOptions: MeshOptions
    @Option(parsing: .unconditional, help: "Players in the match (2...8).") var players: Int
    @Option(parsing: .unconditional, help: "This bot's slot (0...players-1).") var slot: Int
    @Option(parsing: .unconditional, help: "Ticks to play (60 per second).") var ticks: Int = 600
    @Option(parsing: .unconditional, help: "Input delay in ticks (0...32) to start with.") var inputDelay: Int = 3
    @Flag(help: "Let the lowest slot choose the input delay a second after the start, and any player raise it when it measures that it needs more.")
    var autoInputDelay = false
    @Option(parsing: .unconditional, help: "Game seed (default: derived from the mesh name, so every bot agrees).") var seed: UInt64?
    @Option(parsing: .unconditional, help: "Milliseconds of silence before a player is proposed for dropping.") var disconnectTimeout: Int = 2000
    @Option(parsing: .unconditional, help: "Seconds to wait for every player to show up (or, joining a running match, to be let in).")
    var startTimeout: Int = 30
    @Option(help: "SLOTS (comma-separated): slots that start empty and that a bot started later may fill; the same on every bot.")
    var openSlots: String?
    @Flag(help: "When the session halts (the others dropped this bot), start over in the same process and ask to come back into the match.")
    var rejoinWhenHalted = false
    @Flag(help: "Print one JSON object.") var json = false

    func parsedOpenSlots() throws -> [Int] { try parseOpenSlots(openSlots, players: players) }

    func validate() throws {
        guard (2...TankArena.maxPlayers).contains(players) else { throw ValidationError("--players must be 2...\(TankArena.maxPlayers)") }
        guard (0..<players).contains(slot) else { throw ValidationError("--slot must be 0...\(players - 1)") }
        _ = try parsedOpenSlots()
        guard ticks >= 1 else { throw ValidationError("--ticks must be at least 1") }
        guard (0...32).contains(inputDelay) else { throw ValidationError("--input-delay must be 0...32") }
        guard disconnectTimeout >= 100 else { throw ValidationError("--disconnect-timeout must be at least 100 ms") }
    }

    func run() throws {
        let started = ContinuousClock.now
        let logger = meshOptions.logger("meshstep.bot.\(slot)")
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let meshConfig = MeshConfiguration.lockstep(players: players)
        let mesh: UDPMeshPeer
        do {
            try meshOptions.holdIdentity()
            mesh = try UDPMeshPeer.start(
                identity: try meshOptions.nodeIdentity(), credentials: try meshOptions.credentials(), configuration: meshConfig,
                host: meshOptions.host,
                port: meshOptions.port, discovery: try meshOptions.discovery(), group: group, logger: logger)
        } catch { throw fail(error) }
        FileHandle.standardError.write(Data("bot \(slot): listening on \(mesh.localAddress)\n".utf8))
        do { try awaitMesh(mesh, options: meshOptions, timeout: .seconds(Int64(startTimeout))) } catch { throw fail(error) }
        var h = StableHasher()
        for b in meshOptions.mesh.utf8 { h.combine(Int(b)) }
        let gameSeed = seed ?? h.finalize()
        let config = LockstepConfiguration(players: players).withInputDelay(inputDelay)
            .withDisconnectTimeout(.milliseconds(disconnectTimeout)).withDisconnectNotify(.milliseconds(min(500, disconnectTimeout)))
            .withOpenSlots(try parsedOpenSlots())
        // Independent processes: each bot claims its slot in the lobby and every bot signs the
        // roster that results (a second key claiming a slot is reported, and nobody starts).
        let peer = try LockstepPeer<TankInput>(
            mesh: mesh, configuration: config, role: .player(slot), gameSeed: gameSeed,
            startTimeout: .seconds(Int64(startTimeout)), autoInputDelay: autoInputDelay, logger: logger)
        // Its latency figures come from the session's acknowledgements: no per-tick maps kept.
        let bot = RealtimeBot(slot: slot, peer: peer, seed: gameSeed, recordsHistory: false)
        bot.rejoinWhenHalted = rejoinWhenHalted
        let bytesBefore = mesh.stats().bytesSent
        var lobbyError: (any Error)?
        // The lobby: give up when the start timeout passes (the peer reports who is missing),
        // not only after the whole match's deadline.
        while !peer.allPlayersPresent, lobbyError == nil {
            lobbyError = peer.pollErrors().first
            if lobbyError == nil { Thread.sleep(forTimeInterval: 0.005) }
        }
        // The network path itself, precisely (input latency moves in whole frames): each link's
        // smoothed keepalive round trip, by the slot at its other end. A player missing here
        // reached us through a relay. Taken a second before the last tick: nobody can finish
        // the match before this bot's input for the last tick has gone out, while after it the
        // players that finish first leave and their links go down.
        func directLinks() -> [[String: Any]] {
            let rosterKeys = peer.withSession { $0.keys.bound } ?? []
            return mesh.neighbors().compactMap { n in
                guard let s = rosterKeys.firstIndex(of: n.peer.bytes), let rtt = n.rtt else { return nil }
                return ["slot": s, "rtt_ms": Double(rtt.nanosecondsClamped) / 1e6, "address": n.address.description]
            }.sorted { ($0["slot"] as! Int) < ($1["slot"] as! Int) }
        }
        let linksFrame = max(ticks / 2, ticks - 60)
        var links: [[String: Any]]?
        var frame0: UInt64?
        if lobbyError == nil {
            frame0 = runRealtime(bots: [bot], ticks: ticks, tickRate: 60, deadline: .seconds(Int64(ticks / 60 + startTimeout + 60))) { k in
                if k == linksFrame { links = directLinks() }
            }
        }
        let ended = bot.finishedAt ?? NIODeadline.now().uptimeNanoseconds
        func rate(_ ticks: Int, since: UInt64) -> Double { ended > since ? Double(ticks) / (Double(ended - since) / 1e9) : 0 }
        // A bot that rejoined counts the ticks it applied from its checkpoint on.
        let ticksPerSecond = frame0.map { rate(bot.applied - (bot.resumedAt ?? 0), since: $0) } ?? 0
        let afterDrop: Any = bot.firstDrop.map { rate(bot.applied - $0.applied, since: $0.at) } ?? NSNull()
        // The match's outcome, before lingering: peers that finish first leave, and a halt or a
        // drop noticed while we wait for the last acks is not part of the match.
        let halted = peer.halted
        let drops = (peer.withSession { $0.roster.drops } ?? []).map { ["slot": $0.slot, "tick": $0.tick] }
        let admissions = peer.withSession { $0.roster.readmissions } ?? []
        let rejoins = admissions.filter { $0.key == nil }.map { ["slot": $0.slot, "tick": $0.tick, "checkpoint": $0.checkpoint] }
        let lateJoins = admissions.filter { $0.key != nil }.map { ["slot": $0.slot, "tick": $0.tick, "checkpoint": $0.checkpoint] }
        // A match that ended early (a halt, a rejoin's shorter run): the links now.
        if links == nil { links = directLinks() }
        let meshStats = mesh.stats()
        if bot.applied >= ticks {
            peer.finish(timeout: .seconds(3))
        }
        let bytes = mesh.stats().bytesSent - bytesBefore
        let latencies = peer.ackLatencies()
        func pct(_ p: Double) -> Double { latencies.milliseconds(atPercentile: p * 100) }
        let events = bot.events + peer.pollEvents()
        let desyncs = events.filter { if case .desync = $0 { true } else { false } }.count
        // Read before leaving: the session's stats go with it.
        let sessionStats = peer.stats
        peer.leave()
        let finalTick = bot.applied - 1
        let result: [String: Any] = [
            "slot": slot, "key": mesh.key.description, "players": players, "ticks": ticks, "port": mesh.localAddress.port ?? 0,
            "ticks_completed": bot.applied, "final_tick": finalTick,
            "checksum_at_final_tick": String(bot.game.checksum()),
            "drops": drops, "rejoins": rejoins, "late_joins": lateJoins, "resumed_at": bot.resumedAt as Any? ?? NSNull(), "desyncs": desyncs,
            "rejoined_after_halt": bot.rejoinsAfterHalt,
            "snapshot_bytes": peer.transferStats?.bytesReceived ?? 0,
            "halted": halted.map { ["slot": slot, "reason": $0.description] as [String: Any] } as Any? ?? NSNull(),
            "input_latency_ms_p50": pct(0.5), "input_latency_ms_p99": pct(0.99),
            "input_latency_kind": "submit to acknowledged by every peer (an upper bound: includes the way back)",
            "ticks_per_second": ticksPerSecond, "ticks_per_second_after_drop": afterDrop,
            "stall_ticks": bot.stalls, "longest_stall_ms": Double(bot.longestStall) * 1000 / 60,
            "stalls_over_50ms": bot.stallRuns.map { ["tick": $0.tick, "ms": Double($0.frames) * 1000 / 60] },
            "input_delay": sessionStats?.inputDelay as Any? ?? NSNull(),
            "input_delay_changes": events.compactMap { e -> [String: Int]? in
                guard case let .inputDelayChanged(delay, tick) = e else { return nil }
                return ["after_tick": tick, "delay": delay]
            },
            "player_stats": (sessionStats?.players ?? []).map { p -> [String: Any] in
                let r = PlayerStatsReport(p)
                return [
                    "slot": r.slot, "round_trip_ms": r.round_trip_ms as Any? ?? NSNull(), "frames_ahead": r.frames_ahead, "kbps_in": r.kbps_in,
                    "loss": r.loss, "repaired_inputs": r.repaired_inputs,
                ]
            },
            "bytes_per_input_per_peer": Double(bytes) / Double(max(1, ticks * (players - 1))),
            "links": links ?? [], "relayed_messages": meshStats.relayed, "relay_requests_sent": meshStats.relayRequestsSent,
            "public_address": mesh.publicAddress()?.description as Any? ?? NSNull(),
            "seed": String(gameSeed),
            "wall_seconds": Double((ContinuousClock.now - started).milliseconds) / 1000,
        ]
        if json {
            let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(
                "bot \(slot): \(bot.applied)/\(ticks) ticks, final tick \(finalTick) checksum \(bot.game.checksum()), drops \(drops), desyncs \(desyncs)\(halted.map { ", halted: \($0)" } ?? "")"
            )
        }
        if let lobbyError { throw fail(lobbyError) }
        if bot.applied < ticks && halted == nil { throw fail(ValidationError("the match did not finish in time")) }
    }
}

/// One line on stdout, unbuffered (a pipe reader sees it at once).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// One line on stderr (status, not chat content).
func note(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Prints the error on stderr and exits 1.
func fail(_ error: any Error) -> ExitCode {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    return ExitCode(1)
}

struct Chat: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serverless group chat over the mesh: lines from stdin go to everyone, lines from others are printed.",
        discussion: """
            Works with a terminal or a pipe as stdin. Joins and leaves are shown. A wrong password \
            is reported as a refusal and exits 1.
            """
    )

    @OptionGroup var meshOptions: MeshOptions
    @Option(help: "Your nickname.") var name: String = ProcessInfo.processInfo.environment["USER"] ?? "anonymous"
    @Option(
        parsing: .unconditional,
        help: "Give up (exit 1) if no peer answered within this many seconds. Default: wait; the first peer of a mesh waits for the others.") var joinTimeout:
        Int?
    @Option(parsing: .unconditional, help: "Milliseconds to stay after stdin ends (so the last lines and the goodbye travel).") var linger: Int = 1000

    func validate() throws {
        guard !name.isEmpty, name.utf8.count <= 32 else { throw ValidationError("--name must be 1...32 bytes") }
        if let joinTimeout, !(1...86_400).contains(joinTimeout) {
            throw ValidationError("--join-timeout must be 1...86400 seconds (got \(joinTimeout)); leave it out to wait for others as long as it takes")
        }
        guard (0...60_000).contains(linger) else { throw ValidationError("--linger must be 0...60000 milliseconds (got \(linger))") }
    }

    static func encode(kind: UInt8, name: String, text: String) -> [UInt8] {
        var w = ByteWriter()
        w.u8(0x43); w.u8(kind)
        w.lengthPrefixed(Array(name.utf8.prefix(32)))
        w.lengthPrefixed(Array(text.utf8.prefix(900)))
        return w.bytes
    }

    func run() throws {
        // Before any thread starts: Ctrl-C and SIGTERM must reach us even while the main thread
        // sits in readLine on an open terminal.
        ShutdownSignals.block()
        let joined = Mutex<UDPMeshPeer?>(nil)
        let name = name
        ShutdownSignals.onSignal { _ in
            if let peer = joined.withLock({ $0 }) { Self.leave(peer, name: name) }
            Foundation.exit(0)
        }

        let logger = meshOptions.logger("meshstep.chat")
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let peer: UDPMeshPeer
        do {
            try meshOptions.holdIdentity()
            peer = try UDPMeshPeer.start(
                identity: try meshOptions.nodeIdentity(), credentials: try meshOptions.credentials(), host: meshOptions.host,
                port: meshOptions.port,
                discovery: try meshOptions.discovery(), group: group, logger: logger
            ) { peer in
                peer.onDeliver = { message, _ in
                    var r = ByteReader(message.payload)
                    guard (try? r.u8()) == 0x43, let kind = try? r.u8(),
                        let nick = try? r.lengthPrefixed(field: "name", limit: 32), let text = try? r.lengthPrefixed(field: "text", limit: 900)
                    else { return }
                    let who = String(decoding: nick, as: UTF8.self), line = String(decoding: text, as: UTF8.self)
                    switch kind {
                    case 1: say("<\(who)> \(line)")
                    case 2: say("* \(who) joined")
                    case 3: say("* \(who) left")
                    default: break
                    }
                }
            }
        } catch { throw fail(error) }
        note("chat: mesh '\(meshOptions.mesh)' on \(peer.localAddress)")
        do { try awaitChatMesh(peer) } catch { throw fail(error) }
        peer.broadcast(Self.encode(kind: 2, name: name, text: ""))
        joined.withLock { $0 = peer }
        while let line = readLine() {
            guard !line.isEmpty else { continue }
            peer.broadcast(Self.encode(kind: 1, name: name, text: line))
        }
        Thread.sleep(forTimeInterval: Double(linger) / 1000)
        joined.withLock { $0 = nil }
        Self.leave(peer, name: name)
    }

    /// Says goodbye to the mesh, gives the goodbye a moment to travel, then sends Disconnect.
    static func leave(_ peer: UDPMeshPeer, name: String) {
        peer.broadcast(encode(kind: 3, name: name, text: ""))
        Thread.sleep(forTimeInterval: 0.2)
        peer.leave()
    }

    /// Waits for a first neighbor. A refusal (wrong password or mesh) or an unreachable resolver
    /// fails at once. Nobody answering is normal for the first peer of a mesh: without
    /// --join-timeout the chat says so and goes on; the others' joins are shown when they come.
    /// A refusal that arrives later still ends the chat with its reason.
    func awaitChatMesh(_ peer: UDPMeshPeer) throws {
        let hasSeeds = !meshOptions.peers.isEmpty || meshOptions.resolver != nil
        let started = ContinuousClock.now
        let deadline = joinTimeout.map { started + .seconds($0) }
        // Long enough for a resolver's answer and a handshake with a listed peer, even with a
        // lost datagram or two.
        let quiet = started + .seconds(3)
        while true {
            if !peer.neighbors().isEmpty { return }
            if let refused = refusal(seenBy: peer) { throw refused }
            if let problem = peer.resolverProblem(), case .unreachable = problem, meshOptions.peers.isEmpty {
                throw NetError.resolverUnreachable(meshOptions.resolver ?? "?")
            }
            let now = ContinuousClock.now
            if let deadline, now >= deadline {
                if let resolver = meshOptions.resolver, !peer.resolverHasAnswered() { throw NetError.resolverUnreachable(resolver) }
                throw NetError.meshNotFound(meshID: meshOptions.mesh, seconds: joinTimeout ?? 0)
            }
            let resolverDone = meshOptions.resolver == nil || peer.resolverHasAnswered()
            if deadline == nil, !hasSeeds || (now >= quiet && resolverDone) { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        note("chat: nobody else is in mesh '\(meshOptions.mesh)' yet; waiting for others (they are shown as they join; Ctrl-C leaves)")
        // A refusal can still come (a peer of the mesh that starts later, or a slow answer): it
        // ends the chat with its reason instead of leaving us alone in silence.
        Thread.detachNewThread {
            while peer.neighbors().isEmpty {
                if let refused = refusal(seenBy: peer) {
                    note("error: \(refused)")
                    Foundation.exit(1)
                }
                Thread.sleep(forTimeInterval: 0.2)
            }
        }
    }
}
