// Everything the client knows about networking is in this file: the `GameTransport` protocol the
// game loop talks to; `LocalTransport`, the bots as in-process lockstep sessions in memory
// (headless runs and tests); and `MeshTransport`, the real UDP mesh (you and the bots on
// loopback, or network play with --mesh). ReplayTransport.swift plays a file through the same
// protocol. All calls into the lockstep session stay in these files.
import Foundation
import Logging
import MeshstepArena
import MeshstepLockstep
import MeshstepMesh
import MeshstepNet
import MeshstepSession
import NIOCore
import NIOPosix

/// One peer's row in the network HUD.
struct PeerStatsView: Sendable {
    var slot: Int
    /// "YOU", "BOT 2", a peer's name...
    var name: String
    var isLocal: Bool
    /// Round-trip time to this peer in milliseconds; nil when unknown (or for ourselves).
    var pingMs: Double?
    /// How many ticks this peer's inputs are ahead of ours (negative: behind).
    var ticksAhead: Int
    /// Lockstep traffic received from this peer, kilobits per second.
    var kbpsIn: Double
    var connected: Bool
}

/// What a player is called on screen: the same name in the arena, the scoreboard, the network
/// HUD and the messages. Slots are shown counted from 1.
struct PlayerNames {
    var localSlot: Int?
    /// "YOU"; "BOT 1" when a bot plays the local slot (headless).
    var localName = "YOU"
    /// Slots played by in-process bots.
    var bots: Set<Int> = []

    func callAt(_ slot: Int) -> String {
        if slot == localSlot { return localName }
        return bots.contains(slot) ? "BOT \(slot + 1)" : "P\(slot + 1)"
    }

    /// A session event as one line, every slot named as on screen.
    func line(for event: LockstepEvent) -> String {
        switch event {
        case let .desync(tick, slots, _): "DESYNC at tick \(tick) with " + slots.map(callAt).joined(separator: ", ")
        case let .forgedInput(claimed, from): "forged input: \(callAt(from)) claimed \(callAt(claimed))'s slot"
        case let .equivocation(slot, tick): "\(callAt(slot)) sent different inputs to different players (tick \(tick))"
        case let .configurationMismatch(slot): "\(callAt(slot)) plays with different settings"
        case let .peerSilent(slot): "waiting for \(callAt(slot))..."
        case let .peerResumed(slot): "\(callAt(slot)) is back"
        case let .dropProposed(slot, _): "\(callAt(slot)) is not answering: proposed for dropping"
        case let .dropped(slot, tick): "\(callAt(slot)) dropped at tick \(tick)"
        case let .violation(slot, v): "\(callAt(slot)): \(v)"
        default: event.description
        }
    }
}

/// What the game loop needs from a network: submit the local input once per tick, get back
/// the ticks for which every player's input is known, in order.
protocol GameTransport: AnyObject {
    /// The local player's slot; nil when only watching (spectator, replay).
    var localSlot: Int? { get }
    var players: Int { get }
    /// The match seed every peer agreed on.
    var seed: UInt64 { get }
    /// Ticks between reading the local input and applying it.
    var inputDelay: Int { get }
    /// The tick the next `submit` is for: the loop submits while this is at most
    /// `appliedTicks + inputDelay`.
    var nextInputTick: Int { get }
    /// Sends the local input for `nextInputTick`.
    func submit(_ input: TankInput)
    /// Ticks now complete, each with every slot's input (nil: slot dropped).
    func pollConfirmed() -> [(tick: Int, inputs: [TankInput?])]
    /// The local checksum after applying `tick`, compared with the other peers' (desyncs).
    func recordChecksum(tick: Int, checksum: UInt64)
    /// Ticks whose checksums are compared: multiples of this.
    var checksumInterval: Int { get }
    /// Human-readable happenings: joined, dropped, desync, waiting... (players named by `names`).
    func pollEvents() -> [String]
    /// What each player is called, the same on every part of the screen.
    var names: PlayerNames { get set }
    func stats() -> [PeerStatsView]
    /// A one-word description for the HUD ("local", "mesh"...).
    var kind: String { get }
    /// Leaves the match cleanly (tells the others).
    func shutdown()
    /// Why the local session stopped for good, if it did (shown on screen).
    var haltReason: String? { get }
    /// The state to restore once, when this peer found the match running (it watches from
    /// mid-game, or rejoined): the loop rebuilds its game from it.
    func takeResumedGame() -> ResumedGame?
    /// When the local session halted (the others dropped us after a pause or a cut longer than
    /// the disconnect timeout), starts it over to come back into the match; whether it did
    /// (false when there was nothing to do, or the match is over).
    func rejoinIfHalted() -> Bool
    /// While fetching that state: chunks received and total (nil otherwise).
    var joinProgress: (received: Int, total: Int)? { get }
    /// The game after `tick`, for a newcomer that needs a checkpoint of it.
    func offerCheckpoint(after tick: Int, game: TankArena)
    /// How many ticks the local session runs ahead of the slowest player (time sync).
    var framesAhead: Int { get }
}

extension GameTransport {
    var haltReason: String? { nil }
    func takeResumedGame() -> ResumedGame? { nil }
    func rejoinIfHalted() -> Bool { false }
    var joinProgress: (received: Int, total: Int)? { nil }
    func offerCheckpoint(after tick: Int, game: TankArena) {}
    var framesAhead: Int { 0 }
}

/// The local player plus `bots` in-process peers, each a real `LockstepSession` with its own
/// copy of the game, exchanging encoded frames in memory: lockstep is exercised exactly as over
/// a network with zero latency and no loss.
final class LocalTransport: GameTransport {
    let players: Int
    let seed: UInt64
    let inputDelay: Int
    let localSlot: Int?
    var kind: String { "local" }
    var names = PlayerNames()

    private var session: LockstepSession<TankInput>
    private struct BotPeer {
        var session: LockstepSession<TankInput>
        var driver: LockstepDriver<TankArena>
    }
    private var bots: [BotPeer]
    private var confirmed: [(tick: Int, inputs: [TankInput?])] = []
    private var events: [String] = []
    private var bytesFromBots: [Int]
    /// Submits since the rate window started: 60 of them are one second of play at 60 Hz.
    private var rateWindowTicks = 0
    private var rateKbps: [Double]
    private var closed = false
    /// Virtual time: one frame (1/60 s) per local input. Frames arrive the moment they are sent.
    private var now = Duration.zero

    /// - Parameters:
    ///   - bots: in-process bot peers, slots 1...bots (the local player is slot 0).
    init(bots: Int, seed: UInt64, inputDelay: Int = 3) throws {
        players = bots + 1
        self.seed = seed
        self.inputDelay = inputDelay
        localSlot = 0
        // One process plays every slot: the roster's keys are generated here, from the seed.
        let config = LockstepConfiguration(players: players).withInputDelay(inputDelay)
        let generated = SessionKeys.generated(configuration: config, seed: seed)
        func start(_ slot: Int) throws -> LockstepSession<TankInput> {
            try config.startPlayer(slot: slot, keys: SessionKeys(descriptor: generated.descriptor, signer: generated.signers[slot]))
        }
        session = try start(0)
        self.bots = try (1..<players).map { slot in
            BotPeer(
                session: try start(slot),
                driver: LockstepDriver(
                    game: TankArena(players: bots + 1, seed: seed),
                    checksumInterval: config.checksumInterval, answers: true))
        }
        bytesFromBots = Array(repeating: 0, count: players)
        rateKbps = Array(repeating: 0, count: players)
        names = PlayerNames(localSlot: 0, bots: Set(1..<players))
        for slot in 1..<players { events.append("\(names.callAt(slot)) joined (in-process peer)") }
        pumpBots()
        confirmed += session.pollReady()
    }

    var nextInputTick: Int { session.nextLocalTick }
    var checksumInterval: Int { session.checksumInterval }

    func submit(_ input: TankInput) {
        guard !closed else { return }
        now += .seconds(1) / 60
        let frame = session.submit(input, now: now)
        rateWindowTicks += 1
        if rateWindowTicks >= 60 {
            rateKbps = bytesFromBots.map { Double($0 * 8) / 1000 * 60 / Double(rateWindowTicks) }
            bytesFromBots = Array(repeating: 0, count: players)
            rateWindowTicks = 0
        }
        for i in bots.indices { deliver(frame, from: 0, to: i) }
        pumpBots()
        confirmed += session.pollReady()
    }

    func pollConfirmed() -> [(tick: Int, inputs: [TankInput?])] {
        defer { confirmed = [] }
        return confirmed
    }

    func recordChecksum(tick: Int, checksum: UInt64) {
        session.recordChecksum(tick: tick, checksum: checksum)
        note(session.takeEvents())
    }

    func pollEvents() -> [String] {
        defer { events = [] }
        return events
    }

    func stats() -> [PeerStatsView] {
        var rows = [PeerStatsView(slot: 0, name: names.callAt(0), isLocal: true, pingMs: nil, ticksAhead: 0, kbpsIn: 0, connected: !closed)]
        for (i, bot) in bots.enumerated() {
            let slot = i + 1
            rows.append(
                PeerStatsView(
                    slot: slot, name: names.callAt(slot), isLocal: false, pingMs: 0,
                    ticksAhead: bot.session.nextLocalTick - session.nextLocalTick, kbpsIn: rateKbps[slot], connected: true
                ))
        }
        return rows
    }

    func shutdown() {
        guard !closed else { return }
        closed = true
        events.append("left the match")
    }

    // MARK: In-memory delivery

    private func deliver(_ frame: [UInt8], from slot: Int, to botIndex: Int) {
        do {
            try bots[botIndex].session.receive(frame, fromSlot: slot, now: now)
            note(bots[botIndex].session.takeEvents())
        } catch {
            events.append("\(names.callAt(botIndex + 1)) rejected a frame from \(names.callAt(slot)): \(error)")
        }
    }

    /// Lets every bot apply what it can and answer with its next input, until nobody moves.
    /// A tick is applied once every peer confirmed holding its inputs, and confirmations ride on
    /// the next frames: when nobody moves, everyone repeats its newest frame once, and the bots
    /// go on if that confirmed something.
    private func pumpBots() {
        for round in 0..<4 {
            guard pumpBotsOnce() || round == 0 else { break }
            let mine = session.resendFrame()
            for i in bots.indices { deliver(mine, from: 0, to: i) }
            for i in bots.indices {
                let frame = bots[i].session.resendFrame()
                do { try session.receive(frame, fromSlot: i + 1, now: now); note(session.takeEvents()) } catch {
                    events.append("rejected a frame from \(names.callAt(i + 1)): \(error)")
                }
                for j in bots.indices where j != i { deliver(frame, from: i + 1, to: j) }
            }
        }
    }

    /// One pass of ``pumpBots()``; whether any bot applied a tick.
    private func pumpBotsOnce() -> Bool {
        var any = false
        var progress = true
        while progress {
            progress = false
            for i in bots.indices {
                let slot = i + 1
                bots[i].driver.receive(bots[i].session.pollReady())
                while let applied = bots[i].driver.applyNext(answer: { game, _ in TankBot.input(for: slot, in: game, tick: game.tick) }) {
                    progress = true
                    if let checksum = applied.checksum { bots[i].session.recordChecksum(tick: applied.tick, checksum: checksum) }
                    note(bots[i].session.takeEvents())
                    guard let input = applied.answer else { continue }
                    let frame = bots[i].session.submit(input, now: now)
                    bytesFromBots[slot] += frame.count
                    do { try session.receive(frame, fromSlot: slot, now: now); note(session.takeEvents()) } catch {
                        events.append("rejected a frame from \(names.callAt(slot)): \(error)")
                    }
                    for j in bots.indices where j != i { deliver(frame, from: slot, to: j) }
                }
            }
            any = any || progress
        }
        return any
    }

    private func note(_ lockstepEvents: [LockstepEvent]) {
        events += lockstepEvents.map(names.line(for:))
    }
}

/// Real peers over the UDP mesh: the local player (or a spectator) plus, by default, `bots`
/// in-process bot peers, each with its own socket on loopback, exactly as remote players would
/// be. With a mesh name and discovery flags, the other players are other machines.
final class MeshTransport: GameTransport {
    let players: Int
    let seed: UInt64
    let inputDelay: Int
    let localSlot: Int?
    var kind: String { "udp mesh" }
    var names = PlayerNames()

    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let me: LockstepPeer<TankInput>
    var framesAhead: Int { me.stats?.framesAhead ?? 0 }
    private final class BotPeer {
        let slot: Int
        let peer: LockstepPeer<TankInput>
        var driver: LockstepDriver<TankArena>
        init(slot: Int, peer: LockstepPeer<TankInput>, game: TankArena) {
            self.slot = slot
            self.peer = peer
            driver = LockstepDriver(game: game, checksumInterval: peer.configuration.checksumInterval, answers: true)
        }
    }
    private var bots: [BotPeer] = []
    private var closed = false
    private var announcedStart = false

    /// Local play: slot 0 is the keyboard, slots 1...bots are bots, all over loopback UDP.
    init(bots: Int, seed: UInt64, inputDelay: Int = 3) throws {
        players = bots + 1
        self.seed = seed
        self.inputDelay = inputDelay
        localSlot = 0
        let creds = try MeshCredentials(meshID: "demo-\(seed)", access: .password("demo-\(seed)"))
        let config = LockstepConfiguration(players: players).withInputDelay(inputDelay)
        let meshConfig = MeshConfiguration.lockstep(players: players)
        var meshes: [UDPMeshPeer] = []
        for _ in 0..<players {
            meshes.append(try UDPMeshPeer.start(credentials: creds, configuration: meshConfig, host: "127.0.0.1", port: 0, group: group))
        }
        for (i, m) in meshes.enumerated() { m.addSeeds(meshes.indices.filter { $0 != i }.map { meshes[$0].localAddress }) }
        let logger = Logger(label: "meshstep.demo", factory: { _ in SwiftLogNoOpLogHandler() })
        // One program starts every player: the roster's keys are known before the start.
        let descriptor = SessionDescriptor(name: "demo-\(seed)", keys: meshes.map(\.key.bytes), configuration: config, gameSeed: seed)
        me = try LockstepPeer(mesh: meshes[0], configuration: config, role: .player(0), roster: .known(descriptor), logger: logger)
        for slot in 1..<players {
            let peer = try LockstepPeer<TankInput>(
                mesh: meshes[slot], configuration: config, role: .player(slot),
                roster: .known(descriptor), logger: logger)
            self.bots.append(BotPeer(slot: slot, peer: peer, game: TankArena(players: players, seed: seed)))
        }
        names = PlayerNames(localSlot: 0, bots: Set(1..<players))
    }

    /// Network play: join `mesh` as `slot` of `players` (or as a spectator when `slot` is nil);
    /// `openSlots` start empty, and a player for one of them joins the running match.
    init(
        mesh: String, password: String?, seeds: [String], resolver: String?, lan: Bool, port: Int, players: Int, slot: Int?, openSlots: [Int] = [],
        seed: UInt64, inputDelay: Int = 4
    ) throws {
        self.players = players
        self.seed = seed
        self.inputDelay = inputDelay
        localSlot = slot
        let creds = try MeshCredentials(meshID: mesh, access: password.map { .password($0) } ?? .open)
        let config = LockstepConfiguration(players: players).withInputDelay(inputDelay).withOpenSlots(openSlots)
        var seedAddresses: [SocketAddress] = []
        for s in seeds { seedAddresses.append(try parseHostPort(s)) }
        let node = try UDPMeshPeer.start(
            credentials: creds, configuration: MeshConfiguration.lockstep(players: players, spectatorLinks: 1),
            host: "0.0.0.0", port: port, discovery: Discovery(seeds: seedAddresses, resolver: try resolver.map { try parseHostPort($0) }, lan: lan),
            group: group)
        let logger = Logger(label: "meshstep.demo", factory: { _ in SwiftLogNoOpLogHandler() })
        // Players claim their slots in a lobby on the mesh and sign the roster that results.
        me = try LockstepPeer(mesh: node, configuration: config, role: slot.map { .player($0) } ?? .spectator, gameSeed: seed, logger: logger)
        names = PlayerNames(localSlot: slot)
    }

    var nextInputTick: Int { me.withSession { $0.nextLocalTick } ?? 0 }
    var checksumInterval: Int { me.configuration.checksumInterval }

    /// Only the end of every player: the demo starts over from any other halt
    /// (``rejoinIfHalted()``), which is then not the end of its match.
    var haltReason: String? {
        guard let reason = me.halted, reason == .rosterEmpty else { return nil }
        return reason.description
    }

    func takeResumedGame() -> ResumedGame? { me.takeResumedGame() }

    func rejoinIfHalted() -> Bool {
        guard !closed, me.halted != nil else { return false }
        return (try? me.rejoin()) != nil
    }

    var joinProgress: (received: Int, total: Int)? {
        guard me.joining, !me.allPlayersPresent else { return nil }
        return me.transferStats?.progress ?? (0, 0)
    }

    func offerCheckpoint(after tick: Int, game: TankArena) { me.offerCheckpoint(after: tick, game: game) }

    func submit(_ input: TankInput) {
        guard !closed else { return }
        me.submit(input)
    }

    func pollConfirmed() -> [(tick: Int, inputs: [TankInput?])] {
        pumpBots()
        return me.pollConfirmed()
    }

    func recordChecksum(tick: Int, checksum: UInt64) { me.recordChecksum(tick: tick, checksum: checksum) }

    func pollEvents() -> [String] {
        var lines: [String] = []
        if !announcedStart, me.allPlayersPresent {
            announcedStart = true
            lines.append("all \(players) players connected over UDP")
        }
        lines += me.pollEvents().map(names.line(for:))
        lines += me.pollErrors().map(\.description)
        return lines
    }

    func stats() -> [PeerStatsView] {
        var rows: [PeerStatsView] = []
        if let localSlot {
            rows.append(PeerStatsView(slot: localSlot, name: names.callAt(localSlot), isLocal: true, pingMs: nil, ticksAhead: 0, kbpsIn: 0, connected: !closed))
        }
        for s in me.stats?.players ?? [] {
            rows.append(
                PeerStatsView(
                    slot: s.slot, name: names.callAt(s.slot), isLocal: false,
                    pingMs: s.roundTrip?.milliseconds,
                    ticksAhead: -s.framesAhead, kbpsIn: s.kbpsIn, connected: s.active))
        }
        return rows.sorted { $0.slot < $1.slot }
    }

    func shutdown() {
        guard !closed else { return }
        closed = true
        // The others still need our last frames (our last inputs and confirmations): wait until
        // they hold them or left, then Disconnect(leaving) to every neighbor; the sockets close.
        me.finish(timeout: .seconds(2))
        me.leave()
        for b in bots { b.peer.leave() }
        try? group.syncShutdownGracefully()
    }

    /// The in-process bots play like any peer: apply what is confirmed, answer with an input.
    private func pumpBots() {
        for b in bots {
            b.driver.receive(b.peer.pollConfirmed())
            let slot = b.slot
            while let applied = b.driver.applyNext(answer: { game, tick in TankBot.input(for: slot, in: game, tick: tick) }) {
                b.peer.apply(applied, game: b.driver.game)
            }
        }
    }
}

extension LocalTransport {
    var haltReason: String? { session.halted?.description }
}
