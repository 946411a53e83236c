import Foundation
import MeshstepArena
import MeshstepLockstep
import MeshstepSession

/// One match as the client runs it: the local copy of the game, paced by the transport, plus
/// recording, replay verification and the HUD's bookkeeping. No SDL in here.
final class Match {
    /// The game loop: the local copy of the game and the confirmed ticks not yet applied.
    private var driver: LockstepDriver<TankArena>
    var game: TankArena { driver.game }
    let transport: any GameTransport
    /// Set when recording (`--record`).
    private(set) var recording: Replay<TankInput>?
    var hud = HUDModel()
    /// The last tick to play (`--ticks`): nothing beyond it is applied, so every player given
    /// the same value ends on the same tick.
    var stopAt: Int?
    /// Replay verification: the first checkpoint whose checksum differed.
    private(set) var mismatch: (tick: Int, recorded: UInt64, actual: UInt64)?
    private(set) var checkpointsVerified = 0

    /// Set when the match was joined mid-game: the game restored from the players' checkpoint
    /// and catching up on the ticks since (`LockstepDriver.frameBudget(normal:)`).
    private(set) var resumedAt: Int?
    /// Times the session started over after a halt (the others dropped us) to come back.
    private(set) var rejoinsAfterHalt = 0

    private var submittedAt: [Int: Double] = [:]
    private let clock: () -> Double

    /// - Parameter clock: milliseconds, for the latency graph (wall time, or virtual time headless).
    init(transport: any GameTransport, record: Bool, clock: @escaping () -> Double) {
        self.transport = transport
        self.clock = clock
        // The local player's input is read every frame and submitted ahead (see `step`), not as
        // an answer to an applied tick, so the driver only applies.
        driver = LockstepDriver(
            game: TankArena(players: transport.players, seed: transport.seed),
            checksumInterval: transport.checksumInterval, answers: false)
        recording = record ? Replay(players: transport.players, seed: transport.seed) : nil
        hud.localSlot = transport.localSlot
        hud.transportKind = transport.kind
        hud.inputDelay = transport.inputDelay
        hud.stats = transport.stats()
        collectMessages()
    }

    /// One fixed 60 Hz step: submit the local input when due, then apply the next confirmed
    /// tick (two when more than a couple of ticks behind). Returns what happened in the game.
    func step(localInput: () -> TankInput) -> [ArenaEvent] {
        if transport.rejoinIfHalted() {
            // The game goes on from the checkpoint the players send; a replay starts at tick 0.
            rejoinsAfterHalt += 1
            hud.messages.append(("asking to come back into the match", 0))
            hud.halted = nil
            recording = nil
        }
        if let resumed = transport.takeResumedGame() {
            do {
                driver = try LockstepDriver(resuming: resumed, checksumInterval: transport.checksumInterval, answers: false)
                resumedAt = resumed.tick
                recording = nil  // a replay starts at tick 0
            } catch {
                hud.halted = "\(error)"
            }
        }
        if let p = transport.joinProgress {
            hud.notice = ("JOINING A RUNNING MATCH: STATE \(p.received)/\(p.total)", Theme.warn)
        }
        if transport.localSlot != nil, resumedAt == nil || !driver.catchingUp, transport.nextInputTick <= game.tick + transport.inputDelay {
            submittedAt[transport.nextInputTick] = clock()
            transport.submit(localInput())
        }
        driver.receive(transport.pollConfirmed())
        let wasCatchingUp = driver.catchingUp
        var budget = driver.frameBudget(normal: driver.backlog > transport.inputDelay + 2 ? 2 : 1)
        if wasCatchingUp, !driver.catchingUp { hud.notice = nil }
        if driver.catchingUp { hud.notice = ("CATCHING UP: \(driver.backlog) TICKS BEHIND", Theme.warn) }
        if let stopAt { budget = min(budget, max(0, stopAt - game.tick)) }
        var events: [ArenaEvent] = []
        var applied = 0
        while applied < budget, let tick = driver.applyNext(answer: { _, _ in .neutral }) {
            record(tick)
            transport.offerCheckpoint(after: tick.tick, game: game)
            events += game.events
            applied += 1
        }
        // Standing still: a late spectator may need a checkpoint of the game where it stands.
        if applied == 0, driver.ticksApplied > 0 { transport.offerCheckpoint(after: driver.ticksApplied - 1, game: game) }
        // A replay that has run out is finished, not waiting for anyone.
        let ended = (transport as? ReplayTransport)?.finished == true && driver.backlog == 0
        hud.waitingFrames = applied == 0 && !ended ? hud.waitingFrames + 1 : 0
        if applied == 0, hud.halted == nil { hud.halted = transport.haltReason }
        hud.buffered = driver.backlog
        if game.tick % 15 == 0 || applied == 0 { hud.stats = transport.stats() }
        collectMessages()
        for e in events { if let m = message(for: e) { hud.messages.append((m, 0)) } }
        for i in hud.messages.indices { hud.messages[i].age += 1 }
        hud.messages.removeAll { $0.age > 340 }
        return events
    }

    /// Recording, replay verification and latency for a tick the driver applied.
    private func record(_ row: AppliedTick<TankInput>) {
        if let checksum = row.checksum { transport.recordChecksum(tick: row.tick, checksum: checksum) }
        recording?.record(row.inputs, checksum: game.tick % 60 == 0 ? game.checksum() : nil)
        if let replay = transport as? ReplayTransport, let expected = replay.checkpoints[game.tick] {
            let checksum = game.checksum()
            if expected == checksum {
                checkpointsVerified += 1
            } else if mismatch == nil {
                mismatch = (game.tick, expected, checksum)
                hud.messages.append(("REPLAY DIVERGED at tick \(game.tick)", 0))
            }
        }
        if let t0 = submittedAt.removeValue(forKey: row.tick) {
            hud.latency.append(clock() - t0)
            if hud.latency.count > 300 { hud.latency.removeFirst(hud.latency.count - 300) }
        }
    }

    private func collectMessages() {
        for m in transport.pollEvents() { hud.messages.append((m, 0)) }
    }

    private func message(for event: ArenaEvent) -> String? {
        switch event {
        case let .destroyed(target, by): "\(hud.name(by)) destroyed \(hud.name(target))"
        case let .roundOver(winner): winner.map { "\(hud.name($0)) wins round \(game.round)" } ?? "round \(game.round): draw"
        case let .dropped(slot): "\(hud.name(slot)) dropped"
        case let .joined(slot): "\(hud.name(slot)) joined"
        case .roundStarted, .fired, .hit: nil
        }
    }

    /// The recording so far, with a checkpoint on the last applied tick.
    func finishedRecording() -> Replay<TankInput>? {
        guard var r = recording else { return nil }
        if r.checkpoints.last?.tick != r.inputs.count { r.checkpoints.append((r.inputs.count, game.checksum())) }
        return r
    }

    /// The final state for `--state-json`: what the screenshot test checks the picture against.
    func stateJSON() -> [String: Any] {
        let players: [[String: Any]] = game.tanks.enumerated().map { slot, t in
            let (x, y) = Layout.screen(t.x, t.y)
            let c = palette[slot % palette.count]
            return [
                "slot": slot, "name": hud.name(slot), "alive": t.alive, "connected": t.connected,
                "x": x, "y": y, "color": [Int(c.r), Int(c.g), Int(c.b)], "score": t.score, "health": t.health,
            ]
        }
        return [
            "tick": game.tick,
            "round": game.round,
            "checksum": String(game.checksum()),
            "screen": ["width": Int(Screen.width), "height": Int(Screen.height)],
            "arena": ["x": Layout.arenaX, "y": Layout.arenaY, "width": Layout.arenaWidth, "height": Layout.arenaHeight],
            "hud": ["x": 0, "y": Layout.hudY, "width": Int(Screen.width), "height": Layout.hudHeight, "visible": hud.showNetwork],
            "background": [Int(Theme.floor.r), Int(Theme.floor.g), Int(Theme.floor.b)],
            "players": players,
            "halted": transport.haltReason as Any? ?? NSNull(),
        ]
    }
}
