import Foundation
import Logging
import MeshstepLockstep
import MeshstepMesh
import MeshstepSession
import NIOCore
import NIOPosix

/// Who plays, where, and how to find the others: everything ``LockstepMatch/join(_:logger:)``
/// needs. Every player of a match passes the same `mesh`, `password`, `players` and `gameSeed`.
public struct MatchOptions: Sendable {
    /// The mesh name: peers with the same name and password form one mesh.
    public var mesh: String
    /// The mesh password (nil: an open mesh).
    public var password: String?
    /// Players in the match (2...64).
    public var players: Int
    /// This player's slot (0...players-1), or nil to watch as a spectator.
    public var slot: Int?
    /// `HOST:PORT` of peers to join through.
    public var peers: [String] = []
    /// `HOST:PORT` of a `meshstep resolver`.
    public var resolver: String?
    /// Find peers on the local network by multicast.
    public var lan = false
    /// The local address and UDP port to bind (port 0 picks a free one).
    public var host = "0.0.0.0"
    /// The UDP port to bind (0 picks a free one).
    public var port = 0
    /// The input delay to start with, in ticks; with `autoInputDelay` it is then chosen from
    /// what the players measure.
    public var inputDelay = 3
    /// Let the lowest slot choose the input delay a second after the start, any player raise it
    /// when the round trips it measures need more, and the lowest slot lower it when every
    /// player needs less (`SessionEndpoint`).
    public var autoInputDelay = true
    /// The seed every player's game starts from.
    public var gameSeed: UInt64 = 0
    /// How long to wait for every player before ``NetError/playersMissing(slots:seconds:)``.
    public var startTimeout: Duration = .seconds(30)
    /// When the session halts (the others dropped this player after a pause or a network cut
    /// longer than the disconnect timeout, or it was on the side of a split that stops), start
    /// it over and ask to come back into the match, resuming from the players' checkpoint
    /// (``LockstepMatch/rejoin()``). Off: a halt is final, as ``LockstepMatch/halted`` says.
    public var rejoinWhenHalted = true

    /// Options for `slot` (nil: a spectator) of a `players`-player match on mesh `mesh`; the
    /// other fields keep their defaults.
    public init(
        mesh: String, password: String?, players: Int, slot: Int?,
        peers: [String] = [], resolver: String? = nil, lan: Bool = false, port: Int = 0
    ) {
        self.mesh = mesh
        self.password = password
        self.players = players
        self.slot = slot
        self.peers = peers
        self.resolver = resolver
        self.lan = lan
        self.port = port
    }
}

/// What one frame of ``LockstepMatch/advance(_:)`` did.
public struct MatchFrame: Sendable {
    /// The tick applied this frame (nil: none was ready, the game waits).
    public var appliedTick: Int?
    /// Session events since the last frame: start, drops, desyncs, halts...
    public var events: [LockstepEvent]
    /// Network errors since the last frame: players missing at the start, a contested slot...
    public var errors: [NetError]
}

/// A lockstep match of `Game` over the UDP mesh, in one call: ``join(_:logger:)`` starts the mesh
/// peer and the session, and the game loop calls ``advance(_:)`` once per frame and
/// ``waitForNextFrame()`` between frames. Each frame applies at most one confirmed tick (that
/// paces the game at the tick rate) and answers it with the local player's input; a peer that
/// found the match running (it rejoined, or watches from mid-game) restores the game from the
/// checkpoint the others send it and applies up to `LockstepDriver.catchUpTicksPerFrame` ticks a frame until it caught up. At the end,
/// ``finish(timeout:)`` lets the others receive our last frames, and ``leave()`` says goodbye.
///
/// Use it from one thread (the game loop's). The lower layers (``UDPMeshPeer``,
/// ``LockstepPeer``) stay available for games that need more control: ``peer``.
public final class LockstepMatch<Game: LockstepGame>: @unchecked Sendable {
    /// The session handle (stats, events, input delay, roster).
    public let peer: LockstepPeer<Game.Input>
    /// The game loop's state: the local copy of the game and the confirmed ticks not yet applied.
    public private(set) var driver: LockstepDriver<Game>
    /// The local copy of the game, after the last applied tick.
    public var game: Game { driver.game }
    /// How many ticks the game has applied.
    public var ticksApplied: Int { driver.ticksApplied }
    /// This player's slot (nil: a spectator).
    public let slot: Int?
    /// The tick this peer resumed from, when it found the match running; nil otherwise.
    public private(set) var resumedAt: Int?
    /// Whether this peer is still catching up after resuming (it applies several ticks a frame).
    public var catchingUp: Bool { driver.catchingUp }
    let group: MultiThreadedEventLoopGroup
    /// Frame deadlines, counted from `started`.
    var pacer: FramePacer
    let started = ContinuousClock.now

    /// Whether ``advance(_:)`` starts a halted session over (``MatchOptions/rejoinWhenHalted``).
    public let rejoinWhenHalted: Bool
    /// Times the session started over after a halt.
    public private(set) var rejoinsAfterHalt = 0

    init(peer: LockstepPeer<Game.Input>, game: Game, slot: Int?, group: MultiThreadedEventLoopGroup, rejoinWhenHalted: Bool) {
        self.peer = peer
        self.rejoinWhenHalted = rejoinWhenHalted
        driver = LockstepDriver(game: game, checksumInterval: peer.configuration.checksumInterval, answers: slot != nil)
        self.slot = slot
        self.group = group
        pacer = FramePacer(tickRate: peer.configuration.tickRate)
    }

    /// Binds the UDP socket, joins the mesh and starts the session (players claim their slots
    /// in a lobby on the mesh; the match starts when every player is there).
    /// - Throws: ``NetError`` for a port in use, a bad address or invalid settings.
    public static func join(
        _ options: MatchOptions,
        logger: Logger = Logger(label: "meshstep", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws(NetError) -> LockstepMatch {
        let configuration = LockstepConfiguration(players: options.players).withInputDelay(options.inputDelay)
        do { try configuration.validate() } catch { throw .invalidSession(error) }
        if let slot = options.slot, !(0..<options.players).contains(slot) {
            throw .invalidSession(.slotOutOfRange(slot: slot, players: options.players))
        }
        let credentials: MeshCredentials
        do { credentials = try MeshCredentials(meshID: options.mesh, access: options.password.map { .password($0) } ?? .open) } catch {
            throw .invalidMesh(error)
        }
        var seeds: [SocketAddress] = []
        for p in options.peers { seeds.append(try parseHostPort(p)) }
        let resolver = try options.resolver.map { text throws(NetError) in try parseHostPort(text) }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let mesh: UDPMeshPeer
        do {
            mesh = try UDPMeshPeer.start(
                credentials: credentials,
                configuration: .lockstep(players: options.players, spectatorLinks: 1),
                host: options.host, port: options.port,
                discovery: Discovery(seeds: seeds, resolver: resolver, lan: options.lan),
                group: group, logger: logger)
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
        let peer: LockstepPeer<Game.Input>
        do {
            peer = try LockstepPeer(
                mesh: mesh, configuration: configuration, role: options.slot.map { .player($0) } ?? .spectator,
                gameSeed: options.gameSeed, startTimeout: options.startTimeout,
                autoInputDelay: options.autoInputDelay, logger: logger)
        } catch {
            mesh.leave()
            try? group.syncShutdownGracefully()
            throw .invalidSession(error)
        }
        return LockstepMatch(
            peer: peer, game: Game(players: options.players, seed: options.gameSeed), slot: options.slot, group: group,
            rejoinWhenHalted: options.rejoinWhenHalted)
    }

    /// One frame of the game loop: applies the next confirmed tick, if there is one, and
    /// answers it with `input` (called with the game after that tick; a spectator's is never
    /// called). Returns what happened since the last frame.
    ///
    /// Before the game is restored from a checkpoint (see ``resumedAt``), nothing is applied; a
    /// checkpoint that does not restore is reported as a `ResumeError` thrown on every frame.
    /// With ``MatchOptions/rejoinWhenHalted``, a frame that finds the session halted starts it
    /// over (the frame's events end with the `.halted` one); the game goes on from the
    /// checkpoint the players send once they let it back in.
    @discardableResult
    public func advance(_ input: (Game) -> Game.Input) throws(ResumeError) -> MatchFrame {
        if rejoinWhenHalted, peer.halted != nil, (try? peer.rejoin()) != nil { rejoinsAfterHalt += 1 }
        if let resumed = peer.takeResumedGame() {
            driver = try LockstepDriver(resuming: resumed, checksumInterval: peer.configuration.checksumInterval, answers: slot != nil)
            resumedAt = resumed.tick
        }
        driver.receive(peer.pollConfirmed())
        var applied: Int?
        for _ in 0..<driver.frameBudget() {
            guard peer.halted == nil, let tick = driver.applyNext(answer: { game, _ in input(game) }) else { break }
            peer.apply(tick, game: driver.game)
            applied = tick.tick
        }
        // Standing still: a late spectator may need a checkpoint of the game where it stands.
        if applied == nil, driver.ticksApplied > 0 { peer.offerCheckpoint(after: driver.ticksApplied - 1, game: driver.game) }
        return MatchFrame(appliedTick: applied, events: peer.pollEvents(), errors: peer.pollErrors())
    }

    /// Sleeps until the next frame is due: frames every 1/tickRate seconds from the first call,
    /// without drift (a frame that ran late is followed by a shorter wait), stretched by up to
    /// 4 ms while this player is 2 or more ticks ahead of the slowest one (`FramePacer`).
    public func waitForNextFrame() {
        let due = started + pacer.next(now: .now - started, framesAhead: peer.stats?.framesAhead ?? 0)
        let wait = due - .now
        if wait > .zero { Thread.sleep(forTimeInterval: wait / .seconds(1)) }
    }

    /// Why the session stopped for good, if it did. With ``MatchOptions/rejoinWhenHalted`` a
    /// halt the next ``advance(_:)`` starts over from is not one (its `.halted` event still
    /// comes in that frame's events); only the end of every player (`.rosterEmpty`) is.
    public var halted: HaltReason? {
        guard let reason = peer.halted else { return nil }
        return rejoinWhenHalted && reason != .rosterEmpty ? nil : reason
    }

    /// Starts the session over after a halt and asks to come back into the match (done by
    /// ``advance(_:)`` itself with ``MatchOptions/rejoinWhenHalted``, the default).
    /// - Throws: `RejoinError` while the session runs, or when every player was dropped.
    public func rejoin() throws(RejoinError) {
        try peer.rejoin()
        rejoinsAfterHalt += 1
    }

    /// The newest checked tick whose checksum every other active player reported equal to ours
    /// (-1: none yet): "in sync" through that tick.
    public var checksumsAgreedThrough: Int { peer.withSession { $0.stats.checksumsAgreedThrough } ?? -1 }

    /// Keeps our frames going until every other player holds our last ones (see
    /// ``LockstepPeer/finish(timeout:)``). Call after the last tick, before ``leave()``.
    @discardableResult
    public func finish(timeout: Duration = .seconds(3)) -> Bool { peer.finish(timeout: timeout) }

    /// Leaves the mesh cleanly (Disconnect to every neighbor) and stops the network thread.
    public func leave() {
        peer.leave()
        try? group.syncShutdownGracefully()
    }
}
