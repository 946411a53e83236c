import Foundation
import Logging
import MeshstepArena
import MeshstepBots
import MeshstepLockstep
import MeshstepMesh
import MeshstepSession
@_spi(Testing) import MeshstepNet
import MeshstepSimulation
import MeshstepWire
import NIOCore
import NIOPosix

/// One bot playing the tank arena in real time over a `LockstepPeer` or a `PolledLockstepPeer`.
public final class RealtimeBot: @unchecked Sendable {
    /// The bot's slot, or -1 for a spectator.
    public let slot: Int
    /// The lockstep session the bot plays through (a `LockstepPeer` on a UDP mesh peer, or a
    /// `PolledLockstepPeer`).
    public let peer: any LockstepHandle<TankInput>
    /// The game loop: the tank arena and the confirmed ticks not yet applied.
    public private(set) var driver: LockstepDriver<TankArena>
    /// The arena after the last applied tick.
    public var game: TankArena { driver.game }
    /// Ticks applied so far (the next tick to apply).
    public var applied: Int { driver.ticksApplied }
    /// Checksums of the checked ticks, when ``recordsHistory`` (compared across bots).
    public private(set) var checksums: [Int: UInt64] = [:]
    /// When each tick became complete on the peer's event loop (uptime nanoseconds), by tick,
    /// when ``recordsHistory``.
    public private(set) var confirmedAt: [Int: UInt64] = [:]
    /// When the event loop recorded the bot's own input for each tick (uptime nanoseconds), by
    /// tick, when ``recordsHistory``.
    public private(set) var submittedAt: [Int: UInt64] = [:]
    /// When each other player's input became held on this bot's peer (uptime nanoseconds), by
    /// slot and tick, when ``recordsHistory``.
    public private(set) var arrivedAt: [Int: [Int: UInt64]] = [:]
    /// Every event the peer raised, in order (kept for the whole run).
    public private(set) var events: [LockstepEvent] = []
    /// Frames at which the bot was short of the tick due and applied none.
    public private(set) var stalls = 0
    /// The longest run of consecutive stalled frames.
    public private(set) var longestStall = 0
    var currentStall = 0
    /// The runs of 3 or more stalled frames (50 ms at 60 Hz), the first 64: the tick due when
    /// each began and its length in frames.
    public private(set) var stallRuns: [(tick: Int, frames: Int)] = []
    /// When the bot applied the match's last tick (uptime nanoseconds); nil until then.
    public private(set) var finishedAt: UInt64?
    /// When the first drop was adopted (uptime nanoseconds), and the ticks applied by then.
    public private(set) var firstDrop: (applied: Int, at: UInt64)?
    /// Ticks applied when the current frame began (a stalled frame applies none).
    var appliedAtFrameStart = 0
    /// A bot that resumed from a checkpoint (it rejoined, or joined late) counts its frames from
    /// there, with room to catch up on the ticks the others applied meanwhile.
    var frameOffset = 0
    /// The tick this bot resumed from, if it did.
    public private(set) var resumedAt: Int?
    /// Why a resumed state could not be restored (the bot then stays out of the game).
    public private(set) var resumeError: ResumeError?
    /// Set to take the bot out as if its process died: ``poll(_:ticks:)`` then does nothing and
    /// ``runRealtime(bots:ticks:tickRate:deadline:onFrame:)`` counts it as done.
    public var crashed = false
    /// Whether a halted session starts over and asks to come back (`LockstepHandle.rejoin()`),
    /// as the demo does: a bot the others dropped after its process was paused plays on.
    public var rejoinWhenHalted = false
    /// Times the bot started over after a halt.
    public private(set) var rejoinsAfterHalt = 0
    /// Why the last attempt to start over was refused (the match is over); nil otherwise.
    public private(set) var rejoinRefused: RejoinError?

    /// `MESHSTEP_DEBUG` set: every event is written to standard error as it is polled.
    static let debug = ProcessInfo.processInfo.environment["MESHSTEP_DEBUG"] != nil

    /// Whether ``checksums``, ``confirmedAt`` and ``submittedAt`` are kept (a map entry per tick:
    /// what `bots --network udp` compares and computes exact latencies from). A long-running
    /// single bot keeps none of them, so its memory stays flat.
    public let recordsHistory: Bool

    /// A bot for `slot` on `peer`, starting the arena from `seed` (the same on every peer) with
    /// the peer's player count and checksum interval. A spectator peer's bot submits no inputs.
    public init(slot: Int, peer: any LockstepHandle<TankInput>, seed: UInt64, recordsHistory: Bool = true) {
        self.recordsHistory = recordsHistory
        self.slot = slot
        self.peer = peer
        if recordsHistory, slot >= 0 { peer.recordArrivals() }
        driver = LockstepDriver(
            game: TankArena(players: peer.configuration.players, seed: seed),
            checksumInterval: peer.configuration.checksumInterval, answers: peer.role != .spectator)
    }

    /// Applies every complete tick up to the one due at frame `k` and submits one input per
    /// applied tick. Called several times per frame while the bot waits, so a repaired input is
    /// used as soon as it arrives, not at the next frame.
    public func poll(_ k: Int, ticks: Int) {
        if rejoinWhenHalted, !crashed, rejoinRefused == nil, applied < ticks, peer.halted != nil {
            do {
                try peer.rejoin()
                rejoinsAfterHalt += 1
                if Self.debug { FileHandle.standardError.write(Data("[frame \(k)] slot \(slot) tick \(applied): starts over, asking to come back\n".utf8)) }
            } catch {
                rejoinRefused = error
            }
        }
        guard !crashed, applied < ticks, peer.halted == nil, resumeError == nil else { return }
        if let resumed = peer.takeResumedGame() {
            do {
                driver = try LockstepDriver(resuming: resumed, checksumInterval: peer.configuration.checksumInterval, answers: peer.role != .spectator)
                resumedAt = resumed.tick
                frameOffset = resumed.tick + 64 - k
                appliedAtFrameStart = applied
            } catch {
                resumeError = error
                FileHandle.standardError.write(Data("slot \(slot): \(error)\n".utf8))
                return
            }
        }
        let confirmed = peer.pollConfirmedTimed()
        if recordsHistory {
            for c in confirmed { confirmedAt[c.tick] = c.at }
            for (t, at) in peer.takeSubmitTimes() { submittedAt[t] = at }
            for a in peer.takeArrivals() { arrivedAt[a.slot, default: [:]][a.tick] = a.at }
        } else {
            _ = peer.takeSubmitTimes()
        }
        driver.receive(confirmed.lazy.map { (tick: $0.tick, inputs: $0.inputs) })
        let new = peer.pollEvents()
        if Self.debug { for e in new { FileHandle.standardError.write(Data("[frame \(k)] slot \(slot) tick \(applied): \(e)\n".utf8)) } }
        if firstDrop == nil, new.contains(where: { if case .dropped = $0 { true } else { false } }) {
            firstDrop = (applied, NIODeadline.now().uptimeNanoseconds)
        }
        events += new
        let slot = self.slot
        let before = applied
        while applied <= k + frameOffset, applied < ticks,
            let tick = driver.applyNext(answer: { game, tick in TankBot.input(for: slot, in: game, tick: tick) })
        {
            if recordsHistory, let c = tick.checksum { checksums[tick.tick] = c }
            if applied == ticks { finishedAt = NIODeadline.now().uptimeNanoseconds }
            peer.apply(tick, game: driver.game)
        }
        // Standing still: a late spectator may need a checkpoint of the game where it stands.
        if applied == before, applied > 0 { peer.offerCheckpoint(after: applied - 1, game: driver.game) }
    }

    /// Whether the bot is out of the game for good: crashed, finished, or halted (and not
    /// starting over).
    func done(ticks: Int) -> Bool {
        crashed || applied >= ticks || (peer.halted != nil && (!rejoinWhenHalted || rejoinRefused != nil))
    }

    /// Whether the bot has what frame `k` is due (or is out of the game).
    func caughtUp(_ k: Int, ticks: Int) -> Bool {
        crashed || applied > k + frameOffset || applied >= ticks || peer.halted != nil || resumeError != nil
    }

    /// End of frame `k`: a bot that applied nothing in this frame while short of the tick due is
    /// stalled for this frame (one that runs a few ticks behind its own clock but keeps applying
    /// is not).
    func endFrame(_ k: Int, ticks: Int) {
        defer { appliedAtFrameStart = applied }
        if caughtUp(k, ticks: ticks) || applied > appliedAtFrameStart {
            if currentStall >= 3, stallRuns.count < 64 { stallRuns.append((appliedAtFrameStart, currentStall)) }
            currentStall = 0
        } else {
            stalls += 1
            currentStall += 1
            longestStall = max(longestStall, currentStall)
        }
    }
}

/// Runs real-time game loops at the tick rate on the calling thread until every bot finished,
/// halted or crashed, or `deadline` passes. Frame 0 starts when every player has been heard.
/// While a bot waits for the tick due, it is polled every half millisecond.
/// - Returns: when frame 0 started (uptime nanoseconds), nil if it never did.
@discardableResult
public func runRealtime(
    bots: [RealtimeBot], ticks: Int, tickRate: Int, deadline: Duration,
    onFrame: ((Int) -> Void)? = nil
) -> UInt64? {
    let frameNs = UInt64(1_000_000_000 / tickRate)
    let limit = ContinuousClock.now + deadline
    var started: UInt64?
    while started == nil {
        guard ContinuousClock.now < limit else { return nil }
        if bots.allSatisfy({ $0.crashed || $0.peer.allPlayersPresent }) {
            started = NIODeadline.now().uptimeNanoseconds
        } else {
            Thread.sleep(forTimeInterval: 0.002)
        }
    }
    var k = 0
    // Time sync (one bot per loop, i.e. one player per process): a player 2 or more ticks ahead
    // of the slowest peer stretches its frames (`FramePacer.stretch`), so it slows smoothly
    // instead of running into a stall.
    var stretch: UInt64 = 0
    while ContinuousClock.now < limit {
        if bots.count == 1, let ahead = bots[0].peer.stats?.framesAhead {
            stretch += UInt64(FramePacer.stretch(framesAhead: ahead).nanosecondsClamped)
        }
        let due = started! + UInt64(k) * frameNs + stretch
        let now = NIODeadline.now().uptimeNanoseconds
        if now < due { Thread.sleep(forTimeInterval: Double(due - now) / 1e9) }
        onFrame?(k)
        while true {
            for bot in bots { bot.poll(k, ticks: ticks) }
            // Only players hold the frame: a spectator behind catches up in later frames (it
            // applies every confirmed tick up to the one due), and waiting on it would only
            // spin this thread.
            if bots.allSatisfy({ $0.slot < 0 || $0.caughtUp(k, ticks: ticks) }) { break }
            if NIODeadline.now().uptimeNanoseconds >= due + frameNs { break }
            Thread.sleep(forTimeInterval: 0.0005)
        }
        for bot in bots { bot.endFrame(k, ticks: ticks) }
        if bots.allSatisfy({ $0.done(ticks: ticks) }) { return started }
        k += 1
    }
    return started
}

/// `meshstep bots --network udp`: N bots in one process, each on its own UDP socket on
/// loopback, with optional socket-level loss and crashes.
public struct UDPBotsScenario: Sendable {
    /// Player slots, 2...`TankArena/maxPlayers`.
    public var players: Int
    /// Length of the match in ticks.
    public var ticks: Int
    /// Probability that a peer's socket drops a received datagram, in [0, 1); 0 for none.
    public var loss: Double
    /// Seeds the game and each socket's losses.
    public var seed: UInt64
    /// Input delay in ticks (the starting value with ``autoInputDelay``).
    public var inputDelay: Int
    /// Ticks per second of every bot's game loop.
    public var tickRate = 60
    /// `(slot, tick)`: the bot's mesh is killed when the furthest live player reaches that tick.
    public var crashes: [(slot: Int, tick: Int)] = []
    /// Silence after which a peer proposes to drop a player (the drop is agreed by the others).
    public var disconnectTimeout: Duration = .seconds(2)
    /// Cuts some players off from every other peer (their ports are blocked) for a span of
    /// ticks, if set.
    public var partition: BotsPartition?
    /// Spectator peers (each on its own socket, all on one event-loop thread) that follow the
    /// game; one that lost frames asks the players for them again (docs/KNOWN_ISSUES.md has how
    /// far 16 of them on 2 cores get).
    public var spectators = 0
    /// Let the session choose the input delay from what the players measure (starting from
    /// `inputDelay`; `SessionEndpoint`'s `autoInputDelay`).
    public var autoInputDelay = false
    /// Players report each row at once in a frame of its own
    /// (`LockstepConfiguration/promptReports`).
    public var promptReports = false
    /// Event-loop threads the players share (1...players), round robin: with more than one, the
    /// players' work runs on several cores at once, as it would on separate machines.
    public var eventLoops = 1
    /// Each player on a `PolledLockstepPeer` driven by a thread of its own that sleeps on its
    /// socket between frames (`PolledLockstepPeer/wait(atMost:)`), instead of a `LockstepPeer`
    /// on an event loop: no hand-off between the network and the game. Players only: no
    /// spectators, crashes or partition, one event loop.
    public var polled = false

    /// A tank-arena match on loopback; every other setting starts at its default (no crashes,
    /// no partition, no spectators, a fixed input delay).
    public init(players: Int, ticks: Int, loss: Double, seed: UInt64, inputDelay: Int = 2) {
        self.players = players
        self.ticks = ticks
        self.loss = loss
        self.seed = seed
        self.inputDelay = inputDelay
    }

    /// Starts every peer on its own loopback socket, plays the match in real time on the calling
    /// thread, lets the survivors finish, and reports it as `BotsScenario/run()` does
    /// (`virtual_seconds` is 0; no attacker, no stalls).
    /// - Parameter logger: receives the meshes' and peers' logs; silent by default.
    /// - Throws: `ScenarioSettingError` for a player count outside 2...8, or the error of a
    ///   socket or peer that cannot start.
    public func run(logger: Logger = Logger(label: "meshstep.bots", factory: { _ in SwiftLogNoOpLogHandler() })) throws -> BotsReport {
        guard (2...TankArena.maxPlayers).contains(players) else {
            throw ScenarioSettingError(flag: "--players", value: "\(players)", requirement: "2...\(TankArena.maxPlayers) for the tank arena")
        }
        guard (1...players).contains(eventLoops) else {
            throw ScenarioSettingError(flag: "--event-loops", value: "\(eventLoops)", requirement: "1...\(players) (one per player at most)")
        }
        if polled {
            if spectators > 0 || !crashes.isEmpty || partition != nil || eventLoops != 1 {
                throw ScenarioSettingError(
                    flag: "--polled", value: "set", requirement: "players only: without --spectators, --crash, --partition and --event-loops")
            }
            return try runPolled(logger: logger)
        }
        let started = ContinuousClock.now
        let group = MultiThreadedEventLoopGroup(numberOfThreads: eventLoops)
        defer { try? group.syncShutdownGracefully() }
        // Spectators run on a thread of their own, as they would on their own machines: their
        // signature checks must not take the players' event loop.
        let spectatorGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? spectatorGroup.syncShutdownGracefully() }
        // The spectators' threads out of the players' way, the players' threads (this one
        // included, until the run ends) off the spectators' CPU.
        let placement: (spectators: [Int], players: [Int]) = spectators > 0 ? ThreadPlacement.split() : ([], [])
        let callerCPUs = ThreadPlacement.allowed()
        if spectators > 0 {
            _ = try spectatorGroup.next().submit { ThreadPlacement.pin(to: placement.spectators) }.wait()
            for loop in group.makeIterator() { _ = try loop.submit { ThreadPlacement.pin(to: placement.players) }.wait() }
            ThreadPlacement.pin(to: placement.players)
        }
        defer { if spectators > 0 { ThreadPlacement.pin(to: callerCPUs) } }
        let creds = try MeshCredentials(meshID: "bots-udp", access: .password("bots"))
        var peers: [UDPMeshPeer] = []
        let playerMesh = MeshConfiguration.lockstep(players: players, spectatorLinks: spectators > 0 ? 1 : 0)
        for i in 0..<players {
            let loss = self.loss > 0 ? SocketLoss(probability: self.loss, seed: seed &+ UInt64(i) &* 0x9E37) : nil
            peers.append(
                try UDPMeshPeer.start(
                    credentials: creds, configuration: playerMesh, host: "127.0.0.1", port: 0,
                    socketLoss: loss, group: group, logger: logger))
        }
        for (i, p) in peers.enumerated() { p.addSeeds(peers.indices.filter { $0 != i }.map { peers[$0].localAddress }) }
        // Spectators: their own Plumtree below the players, attached once the players have linked.
        var spectatorMesh = MeshConfiguration()
        spectatorMesh.idealNeighbors = 3
        spectatorMesh.minNeighbors = 2
        spectatorMesh.maxNeighbors = 8
        spectatorMesh.hopLimit = 16
        spectatorMesh.keepaliveInterval = .milliseconds(500)
        let playerAddresses = peers.map(\.localAddress)
        if spectators > 0 {
            let formed = ContinuousClock.now + .seconds(5)
            while peers.contains(where: { $0.neighbors().count < players - 1 }), ContinuousClock.now < formed { Thread.sleep(forTimeInterval: 0.01) }
        }
        for k in 0..<spectators {
            let loss = self.loss > 0 ? SocketLoss(probability: self.loss, seed: seed &+ UInt64(players + k) &* 0x9E37) : nil
            let spectator = try UDPMeshPeer.start(
                credentials: creds, configuration: spectatorMesh, host: "127.0.0.1", port: 0,
                discovery: Discovery(
                    seeds: [playerAddresses[k % players], playerAddresses[(k + 1) % players]]
                        + peers.dropFirst(players).suffix(2).map(\.localAddress)),
                socketLoss: loss, group: spectatorGroup, logger: logger)
            peers.append(spectator)
        }
        let config = LockstepConfiguration(players: players).withTickRate(tickRate).withInputDelay(inputDelay).withPromptReports(promptReports)
            .withDisconnectTimeout(disconnectTimeout).withDisconnectNotify(min(.milliseconds(500), disconnectTimeout))
        // One program starts every player, so the roster's keys are known before the start.
        let descriptor = SessionDescriptor(name: "bots-udp", keys: peers.prefix(players).map(\.key.bytes), configuration: config, gameSeed: seed)
        let sessions = try peers.enumerated().map { i, mesh in
            try LockstepPeer<TankInput>(
                mesh: mesh, configuration: config, role: i < players ? .player(i) : .spectator,
                roster: .known(descriptor), autoInputDelay: autoInputDelay, logger: logger)
        }
        let bots = sessions.enumerated().map { i, session in RealtimeBot(slot: i < players ? i : -1, peer: session, seed: seed) }
        let bytesBefore = peers.reduce(0) { $0 + $1.stats().bytesSent }
        let crashes = self.crashes, partition = self.partition, playerCount = self.players
        let ports = peers.map { $0.localAddress.port ?? 0 }
        // `--crash` and `--partition` happen when the match reaches their tick: when the furthest
        // surviving player has applied that many ticks (as in the simulator), not at a frame count.
        var partitionStarted = false, partitionHealed = false
        func block(starting: Bool, _ part: BotsPartition) {
            // The listed slots on one side, everyone else (spectators included) on the other.
            let sideA = Set(part.slots)
            for (i, p) in peers.enumerated() {
                let inA = i < playerCount && sideA.contains(i)
                let others = peers.indices.filter { j in (j < playerCount && sideA.contains(j)) != inA }.map { ports[$0] }
                p.block(ports: starting ? Set(others) : nil)
            }
        }
        // Spectators' game loops run on a thread of their own too: on a real network they are
        // other machines, and their bursts of catching up must not delay the players' frames.
        let limit = Duration.seconds(Int64(ticks / tickRate) + 60)
        let watchers = Array(bots.dropFirst(players))
        let spectatorLoop = Thread { [ticks, tickRate] in
            ThreadPlacement.pin(to: placement.spectators)
            _ = runRealtime(bots: watchers, ticks: ticks, tickRate: tickRate, deadline: limit)
        }
        if !watchers.isEmpty { spectatorLoop.start() }
        let frame0 = runRealtime(bots: Array(bots.prefix(players)), ticks: ticks, tickRate: tickRate, deadline: limit) { _ in
            let lead = bots.prefix(playerCount).filter { !$0.crashed && $0.peer.halted == nil }.map(\.applied).max() ?? 0
            for c in crashes where c.tick <= lead && !bots[c.slot].crashed {
                bots[c.slot].crashed = true
                sessions[c.slot].mesh.kill()
            }
            if let part = partition {
                if !partitionStarted, lead >= part.start { partitionStarted = true; block(starting: true, part) }
                if partitionStarted, !partitionHealed, lead >= part.heal { partitionHealed = true; block(starting: false, part) }
            }
        }
        // The players keep serving while the spectators follow to the end (or their deadline).
        while !watchers.isEmpty, !spectatorLoop.isFinished { Thread.sleep(forTimeInterval: 0.005) }
        let bytes = peers.reduce(0) { $0 + $1.stats().bytesSent } - bytesBefore
        if RealtimeBot.debug {
            for (i, p) in peers.prefix(players).enumerated() {
                let s = p.stats()
                FileHandle.standardError.write(
                    "peer \(i): \(s.datagramsSent) datagrams, \(s.bytesSent) bytes sent, \(s.directSent) direct, \(s.originated) flooded; session \(bots[i].peer.stats.map { "\($0)" } ?? "-")\n"
                        .data(using: .utf8)!)
            }
        }
        let survivors = bots.prefix(players).filter { !$0.crashed && $0.peer.halted == nil }
        // Every survivor finishes at once (each keeps serving the others while it waits).
        let finishing = survivors.map(\.peer).map { peer in Thread { peer.finish(timeout: .seconds(2)) } }
        finishing.forEach { $0.start() }
        while finishing.contains(where: { !$0.isFinished }) { Thread.sleep(forTimeInterval: 0.005) }
        var report = makeReport(
            bots: Array(bots.prefix(players)), spectators: Array(bots.dropFirst(players)), survivors: Array(survivors),
            bytes: bytes, started: started, frame0: frame0)
        report.spectators_live_at_end = bots.dropFirst(players).filter { $0.applied >= ticks }.count
        for b in bots where !b.crashed { b.peer.leave() }
        return report
    }

    /// ``run(logger:)`` with ``polled``: a `PolledLockstepPeer` and a thread per player.
    func runPolled(logger: Logger) throws -> BotsReport {
        let started = ContinuousClock.now
        let creds = try MeshCredentials(meshID: "bots-udp", access: .password("bots"))
        let identities = (0..<players).map { _ in NodeIdentity() }
        let config = LockstepConfiguration(players: players).withTickRate(tickRate).withInputDelay(inputDelay).withPromptReports(promptReports)
            .withDisconnectTimeout(disconnectTimeout).withDisconnectNotify(min(.milliseconds(500), disconnectTimeout))
        let descriptor = SessionDescriptor(name: "bots-udp", keys: identities.map(\.key.bytes), configuration: config, gameSeed: seed)
        var peers: [PolledLockstepPeer<TankInput>] = []
        defer { for p in peers { p.leave() } }
        for i in 0..<players {
            let loss = self.loss > 0 ? SocketLoss(probability: self.loss, seed: seed &+ UInt64(i) &* 0x9E37) : nil
            peers.append(
                try PolledLockstepPeer<TankInput>(
                    identity: identities[i], credentials: creds, meshConfiguration: .lockstep(players: players), configuration: config,
                    role: .player(i), roster: .known(descriptor), host: "127.0.0.1", seeds: peers.map(\.localAddress),
                    autoInputDelay: autoInputDelay, socketLoss: loss, logger: logger))
        }
        let bots = peers.enumerated().map { i, peer in RealtimeBot(slot: i, peer: peer, seed: seed) }
        let limit = ContinuousClock.now + .seconds(Int64(ticks / tickRate) + 60)
        // The lobby: each peer's standby thread would do this too, 50 ms late each time.
        while !peers.allSatisfy(\.allPlayersPresent), ContinuousClock.now < limit { for p in peers { p.wait(atMost: .milliseconds(1)) } }
        let bytesBefore = peers.reduce(0) { $0 + $1.meshStats.bytesSent }
        let frameNs = UInt64(1_000_000_000 / tickRate)
        let frame0 = NIODeadline.now().uptimeNanoseconds + 10_000_000
        let ticks = self.ticks
        let loops = zip(peers, bots).map { peer, bot in
            Thread { Self.playPolled(bot, on: peer, ticks: ticks, frame0: frame0, frameNs: frameNs, limit: limit) }
        }
        loops.forEach { $0.start() }
        while loops.contains(where: { !$0.isFinished }) { Thread.sleep(forTimeInterval: 0.005) }
        let bytes = peers.reduce(0) { $0 + $1.meshStats.bytesSent } - bytesBefore
        let survivors = bots.filter { $0.peer.halted == nil }
        let finishing = survivors.map(\.peer).map { peer in Thread { peer.finish(timeout: .seconds(2)) } }
        finishing.forEach { $0.start() }
        while finishing.contains(where: { !$0.isFinished }) { Thread.sleep(forTimeInterval: 0.005) }
        return makeReport(bots: bots, spectators: [], survivors: survivors, bytes: bytes, started: started, frame0: frame0)
    }

    /// One player's game loop on its own thread: frame `k` is due at `frame0 + k * frameNs`;
    /// between frames the thread sleeps on the peer's socket, and takes every tick as soon as it
    /// completes (applying only the ticks due).
    static func playPolled(
        _ bot: RealtimeBot, on peer: PolledLockstepPeer<TankInput>, ticks: Int, frame0: UInt64, frameNs: UInt64, limit: ContinuousClock.Instant
    ) {
        var k = 0
        while ContinuousClock.now < limit {
            let due = frame0 + UInt64(k) * frameNs
            var now = NIODeadline.now().uptimeNanoseconds
            while now < due {
                peer.wait(atMost: .nanoseconds(Int64(due - now)))
                bot.poll(k - 1, ticks: ticks)
                now = NIODeadline.now().uptimeNanoseconds
            }
            bot.poll(k, ticks: ticks)
            while !bot.caughtUp(k, ticks: ticks), now < due + frameNs {
                peer.wait(atMost: .nanoseconds(Int64(min(1_000_000, due + frameNs - now))))
                bot.poll(k, ticks: ticks)
                now = NIODeadline.now().uptimeNanoseconds
            }
            bot.endFrame(k, ticks: ticks)
            if bot.applied >= ticks || peer.halted != nil { return }
            k += 1
        }
    }

    func makeReport(bots: [RealtimeBot], spectators: [RealtimeBot], survivors: [RealtimeBot], bytes: Int, started: ContinuousClock.Instant, frame0: UInt64?)
        -> BotsReport
    {
        var latencies = LatencyHistogram()
        var lost = 0
        for s in survivors {
            for (tick, at) in s.submittedAt where tick < ticks {
                let confirmations = survivors.compactMap { $0.confirmedAt[tick] }
                if confirmations.count < survivors.count { lost += 1; continue }
                latencies.record(.nanoseconds(Int64(confirmations.max()!) - Int64(at)))
            }
        }
        func pct(_ p: Double) -> Double { latencies.milliseconds(atPercentile: p * 100) }
        // One crossing: each input to each other surviving player's peer.
        var arrivals = LatencyHistogram()
        for s in survivors where s.slot >= 0 {
            for (tick, at) in s.submittedAt where tick < ticks {
                for q in survivors where q !== s {
                    if let arrived = q.arrivedAt[s.slot]?[tick] { arrivals.record(.nanoseconds(max(0, Int64(arrived) - Int64(at)))) }
                }
            }
        }
        var byTick: [Int: Set<UInt64>] = [:]
        for b in bots + spectators { for (t, c) in b.checksums { byTick[t, default: []].insert(c) } }
        let agree = !byTick.isEmpty && byTick.values.allSatisfy { $0.count == 1 }
        let dropViews = (survivors + spectators).map { b in
            (b.peer.withSession { s in s.roster.drops } ?? []).map { DropReport(slot: $0.slot, tick: $0.tick) }
        }
        var desyncs: [DesyncReport] = []
        var halted: [HaltReport] = []
        for b in bots {
            for case let .desync(tick, slots, _) in b.events { desyncs.append(DesyncReport(reporter: b.slot, tick: tick, slots: slots)) }
            // A crashed player stops for good (as in the simulator); what its dead session concluded alone is not a halt.
            if !b.crashed, let h = b.peer.halted { halted.append(HaltReport(slot: b.slot, tick: b.applied, reason: h.description)) }
        }
        let first = survivors.first
        let playerStats = (first?.peer.stats?.players ?? []).map(PlayerStatsReport.init)
        let completed = survivors.map(\.applied).min() ?? 0
        let startNs = frame0 ?? 0
        let endNs = survivors.compactMap(\.finishedAt).max() ?? startNs
        let frameMs = 1000.0 / Double(tickRate)
        let crashedSlots = Set(bots.filter(\.crashed).map(\.slot))
        let droppedSlots = Set(dropViews.flatMap { $0.map(\.slot) })
        let honestDropped = (0..<players).filter { !crashedSlots.contains($0) && droppedSlots.contains($0) }
        let honestHalted = halted.map(\.slot).filter { !crashedSlots.contains($0) }
        var report = BotsReport(
            players: players, spectators: spectators.count, ticks: ticks, seed: seed, input_delay: survivors.first?.peer.stats?.inputDelay ?? inputDelay,
            ticks_completed: completed, spectator_ticks_completed: spectators.map(\.applied).min() ?? 0,
            checksums_agree: agree, checked_ticks: byTick.count, desyncs: desyncs.count, desync_events: Array(desyncs.prefix(64)),
            drops: dropViews.first ?? [], drops_agree: Set(dropViews).count <= 1,
            halted: halted, crashed: bots.filter(\.crashed).map(\.slot),
            input_latency_ms_p50: pct(0.5), input_latency_ms_p99: pct(0.99),
            stall_ticks: survivors.reduce(0) { $0 + $1.stalls },
            longest_stall_ms: Double(survivors.map(\.longestStall).max() ?? 0) * frameMs,
            bytes_per_input_per_peer: Double(bytes) / Double(max(1, ticks * players * (players - 1))),
            inputs_lost: lost,
            attacker: nil, attacker_named: nil, honest_checksums_agree: agree, honest_dropped: honestDropped,
            honest_halted: honestHalted, stalled: [],
            ticks_per_second: endNs > startNs ? Double(completed) / (Double(endNs - startNs) / 1e9) : 0,
            player_stats: playerStats,
            virtual_seconds: 0,
            wall_seconds: Double((ContinuousClock.now - started).milliseconds) / 1000)
        if let first = survivors.first {
            for case let .inputDelayChanged(delay, tick) in first.events {
                report.input_delay_changes.append(InputDelayChangeReport(after_tick: tick, delay: delay))
            }
        }
        if arrivals.count > 0 {
            report.input_arrival_ms_p50 = arrivals.milliseconds(atPercentile: 50)
            report.input_arrival_ms_p99 = arrivals.milliseconds(atPercentile: 99)
        }
        return report
    }
}

/// Where `meshstep bots --network udp` runs its threads. On a real network each spectator is
/// another machine: its signature checks and relaying must not take CPU from the players. In
/// one process, on a machine with 2 or more CPUs, the spectators' threads therefore run on the
/// last CPU this process may use and the players' threads on the others; sharing every CPU,
/// 16 spectators' bursts of work after each flooded frame delayed the players' event loop by
/// milliseconds on a 2-core machine. (A lower priority alone did not help; with it, a loaded
/// machine would starve the spectators.)
package enum ThreadPlacement {
    /// The CPUs the calling thread may run on, in order (empty where not known).
    package static func allowed() -> [Int] {
        #if os(Linux)
            var set = cpu_set_t()
            guard let call = affinityCall("sched_getaffinity"), call(0, MemoryLayout<cpu_set_t>.size, &set) == 0 else { return [] }
            return withUnsafeBytes(of: &set) { bytes in (0..<(bytes.count * 8)).filter { bytes[$0 / 8] & (1 << ($0 % 8)) != 0 } }
        #else
            return []
        #endif
    }

    /// Restricts the calling thread to `cpus` (nothing when empty); returns whether it did.
    @discardableResult
    static func pin(to cpus: [Int]) -> Bool {
        #if os(Linux)
            guard !cpus.isEmpty else { return false }
            var set = cpu_set_t()
            withUnsafeMutableBytes(of: &set) { bytes in
                for cpu in cpus where cpu / 8 < bytes.count { bytes[cpu / 8] |= UInt8(1 << (cpu % 8)) }
            }
            guard let call = affinityCall("sched_setaffinity") else { return false }
            return call(0, MemoryLayout<cpu_set_t>.size, &set) == 0
        #else
            return false
        #endif
    }

    #if os(Linux)
        /// glibc's `sched_getaffinity`/`sched_setaffinity` (pid 0: the calling thread), which
        /// Swift's Glibc module leaves out (they need `_GNU_SOURCE`).
        static func affinityCall(_ name: String) -> (@convention(c) (pid_t, Int, UnsafeMutableRawPointer) -> CInt)? {
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
            return unsafeBitCast(symbol, to: (@convention(c) (pid_t, Int, UnsafeMutableRawPointer) -> CInt).self)
        }
    #endif

    /// The split for one run: the spectators' CPUs and the players' (both empty when the
    /// process may use a single CPU: nothing is pinned then).
    static func split() -> (spectators: [Int], players: [Int]) {
        let cpus = allowed()
        guard cpus.count >= 2 else { return ([], []) }
        return ([cpus.last!], Array(cpus.dropLast()))
    }
}
