import ArgumentParser
import CSDL2
import Foundation
import MeshstepNet
import MeshstepArena
import MeshstepLockstep
import MeshstepAddress

/// `meshstep-demo`: the SDL2 reference client. Play TankArena against bots, watch the lockstep
/// HUD, record and replay matches, or run headless and take a screenshot.
@main
struct MeshstepDemo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "meshstep-demo",
        abstract: "Meshstep's demo game: tanks in a deterministic lockstep arena, against bots or peers.",
        discussion: """
            Keys: arrows or WASD drive and turn, SPACE fires, H or F1 toggles the network HUD, \
            TAB shows the scoreboard, ESC quits. See docs/DEMO.md.

            Exit status: 0 done (with --replay: every checkpoint matched); 1 an error (no \
            display, missing assets, network); 2 the --replay file cannot be used (missing, \
            corrupt or truncated); 3 the replay diverged from its recording; 64 a bad flag.
            """
    )

    @Option(parsing: .unconditional, help: "Bots to play against (0-7).")
    var bots: Int = 3

    @Option(help: "Play over the network: join the mesh with this name (with --players, --slot and --peer).")
    var mesh: String?
    @Option(help: "The mesh password (with --mesh).")
    var password: String?
    @Option(help: "A peer to contact, HOST:PORT (repeatable; with --mesh).")
    var peer: [String] = []
    @Option(help: "A resolver to find peers through, HOST:PORT (with --mesh).")
    var resolver: String?
    @Flag(help: "Find peers on the local network (with --mesh).")
    var lan = false
    @Option(parsing: .unconditional, help: "UDP port to listen on (with --mesh).")
    var port: Int?
    @Flag(help: "Watch a mesh match without playing (with --mesh).")
    var spectate = false
    @Option(parsing: .unconditional, help: "Players in the mesh match (with --mesh; every player passes the same number).")
    var players: Int?
    @Option(
        help:
            "SLOTS (comma-separated): slots of the mesh match that start empty; a player started later with one of them as --slot joins the running match (with --mesh; every player passes the same list)."
    )
    var openSlots: String?
    @Option(parsing: .unconditional, help: "Your slot in the mesh match, 0...players-1 (with --mesh, unless --spectate).")
    var slot: Int?

    @Option(help: "Record the match to this replay file.")
    var record: String?
    @Option(help: "Play back a replay file and verify its checksums.")
    var replay: String?

    @Flag(help: "No window: render off-screen with SDL's dummy drivers; every player is a bot.")
    var headless = false
    @Option(
        parsing: .unconditional,
        help:
            "Stop once the game has played this many ticks (60 per second): every player of a network match given the same value ends at the same tick. Headless default: 600, or the whole recording with --replay."
    )
    var ticks: Int?
    @Option(help: "Write the last frame to this .bmp file.")
    var screenshot: String?
    @Option(parsing: .unconditional, help: "Match seed (default: from the clock).")
    var seed: UInt64?
    @Option(help: "Folder with font.bmp, sprites and sounds (default: ./Assets or next to the executable).")
    var assets: String?
    @Option(name: .customLong("state-json"), help: "Write the final game state as JSON (positions in screen pixels).")
    var stateJSON: String?
    @Option(help: "Testing: freeze the main loop for MS milliseconds at frame FRAME (FRAME:MS), as a busy machine or a debugger would.")
    var stallMain: String?

    /// `--stall-main FRAME:MS`, checked by ``validate()``.
    var mainStall: (frame: Int, milliseconds: Int)? {
        guard let stallMain else { return nil }
        let parts = stallMain.split(separator: ":")
        guard parts.count == 2, let f = Int(parts[0]), let ms = Int(parts[1]), f >= 1, (1...60_000).contains(ms) else { return nil }
        return (f, ms)
    }

    func validate() throws {
        guard (0...7).contains(bots) else { throw ValidationError("--bots must be 0...7 (got \(bots)): at most 8 tanks in the arena") }
        if let port, !(1...65535).contains(port) { throw ValidationError("--port must be 1...65535 (got \(port))") }
        for p in peer where (try? HostPort.split(p)) == nil { throw ValidationError("--peer \(p): expected HOST:PORT, e.g. 192.168.1.20:7400") }
        if let resolver, (try? HostPort.split(resolver)) == nil { throw ValidationError("--resolver \(resolver): expected HOST:PORT") }
        if let ticks, ticks < 1 { throw ValidationError("--ticks must be at least 1 (got \(ticks))") }
        if let mesh, mesh.isEmpty { throw ValidationError("--mesh needs a non-empty name") }
        if mesh == nil,
            password != nil || !peer.isEmpty || resolver != nil || lan || port != nil || spectate || players != nil || slot != nil || openSlots != nil
        {
            throw ValidationError(
                "--players, --slot, --open-slots, --password, --peer, --resolver, --lan, --port and --spectate are for network play and need --mesh NAME (against bots on this machine, use --bots N)"
            )
        }
        if mesh != nil {
            guard let players, (2...8).contains(players) else { throw ValidationError("--mesh needs --players 2...8 (the same on every machine)") }
            if !spectate {
                guard let slot, (0..<players).contains(slot) else {
                    throw ValidationError("--mesh needs --slot 0...\((players) - 1) (distinct per player), or --spectate")
                }
            }
            if let openSlots, LockstepConfiguration.openSlots(parsing: openSlots, players: players) == nil {
                throw ValidationError(
                    "--open-slots must be distinct slots 0...\(players - 1), comma-separated, leaving at least 2 players at the start, for example 3 or 2,3 (got \(openSlots))"
                )
            }
        }
        if replay != nil, record != nil { throw ValidationError("--replay and --record cannot be combined") }
        if replay != nil, mesh != nil { throw ValidationError("--replay plays a file locally; it cannot be combined with --mesh") }
        if let screenshot, !screenshot.lowercased().hasSuffix(".bmp") { throw ValidationError("--screenshot writes a BMP: give a path ending in .bmp") }
        // Output files are checked now, not after a whole match.
        for (flag, path) in [("--record", record), ("--screenshot", screenshot), ("--state-json", stateJSON)] {
            if let path, let problem = OutputFile.problem(at: path, example: "match") { throw ValidationError("\(flag) \(problem)") }
        }
        if let stallMain, mainStall == nil { throw ValidationError("--stall-main \(stallMain): expected FRAME:MS, e.g. 200:3000 (FRAME >= 1, MS 1...60000)") }
    }

    func run() throws {
        do {
            try play()
        } catch let error as DemoError {
            var stderr = StandardError()
            print("error: \(error)", to: &stderr)
            if case .replay = error { throw ExitCode(2) }
            throw ExitCode(1)
        }
    }

    private func play() throws {
        // The transport: a recording to play back, or bots as in-process lockstep peers.
        let transport: any GameTransport
        if let replay {
            let bytes: [UInt8]
            do { bytes = Array(try Data(contentsOf: URL(fileURLWithPath: replay))) } catch {
                throw DemoError.replay("cannot read replay \(replay): \(error.localizedDescription)")
            }
            do { transport = ReplayTransport(replay: try Replay<TankInput>.decode(bytes)) } catch {
                throw DemoError.replay("cannot play \(replay): \(error)")
            }
        } else if let mesh {
            var h = StableHasher()
            for b in mesh.utf8 { h.combine(Int(b)) }
            do {
                transport = try MeshTransport(
                    mesh: mesh, password: password, seeds: peer, resolver: resolver, lan: lan, port: port ?? 7500, players: players ?? 2,
                    slot: spectate ? nil : slot, openSlots: openSlots.flatMap { LockstepConfiguration.openSlots(parsing: $0, players: players ?? 2) } ?? [],
                    seed: seed ?? h.finalize())
            } catch { throw DemoError.network("\(error)") }
        } else if headless {
            // Headless runs as fast as it can, so its bots are in-memory peers: same lockstep
            // sessions, deterministic, no wall clock (the screenshot test relies on it).
            do { transport = try LocalTransport(bots: bots, seed: seed ?? UInt64(Date().timeIntervalSince1970 * 1000)) } catch {
                throw DemoError.network("cannot start the in-memory sessions: \(error)")
            }
        } else {
            do { transport = try MeshTransport(bots: bots, seed: seed ?? UInt64(Date().timeIntervalSince1970 * 1000)) } catch {
                throw DemoError.network("cannot open the loopback mesh for the bots: \(error)")
            }
        }

        if headless {
            setenv("SDL_VIDEODRIVER", "dummy", 0)
            setenv("SDL_AUDIODRIVER", "dummy", 0)
        }
        if SDL_Init(0) != 0 { throw DemoError.sdl(sdlError()) }
        defer { SDL_Quit() }
        let screen = headless ? try Screen(headless: ()) : try Screen(windowTitle: "Meshstep Arena")
        let directory = try wrap { () throws(AssetError) in try Assets.locate(assets) }
        let loaded = try wrap { () throws(AssetError) in try Assets(directory: directory, renderer: screen.renderer) }
        let renderer = Renderer(screen: screen, assets: loaded)
        let mixer = Mixer()
        defer { mixer.close() }

        var frame = 0
        let frequency = Double(SDL_GetPerformanceFrequency())
        let started = SDL_GetPerformanceCounter()
        let headless = self.headless
        let match = Match(transport: transport, record: record != nil) {
            // Headless runs as fast as it can: measure latency in virtual 60 Hz time.
            headless ? Double(frame) * 1000 / 60 : Double(SDL_GetPerformanceCounter() - started) / frequency * 1000
        }
        let replaying = transport as? ReplayTransport
        let limit = ticks ?? (headless ? (replaying?.length ?? 600) : nil)
        match.stopAt = limit
        match.hud.showKeys = !headless && transport.localSlot != nil
        if headless {
            match.hud.localName = "BOT 1"
            transport.names.localName = "BOT 1"
        }

        func sounds(_ events: [ArenaEvent]) {
            for e in events {
                switch e {
                case let .fired(slot): mixer.play(loaded.shoot, volume: slot == transport.localSlot ? 60 : 25)
                case .hit: mixer.play(loaded.hit, volume: 60)
                case .destroyed: mixer.play(loaded.explode, volume: 90)
                case .roundOver: mixer.play(loaded.roundOver, volume: 70)
                case .roundStarted, .dropped, .joined: break
                }
            }
        }

        var running = true
        var finishedFor = 0
        if headless {
            // As fast as the game can go; over a network, as fast as the inputs arrive.
            var lastProgress = ContinuousClock.now
            while running, match.game.tick < (limit ?? 600) {
                let before = match.game.tick
                let events = match.step { TankBot.input(for: 0, in: match.game, tick: match.game.tick) }
                sounds(events)
                frame += 1
                if replaying?.finished == true && match.game.tick == before { running = false }
                renderer.draw(match.game, hud: match.hud)
                mixer.pump()
                if match.game.tick > before { lastProgress = .now; continue }
                if transport.haltReason != nil { break }
                if ContinuousClock.now - lastProgress > .seconds(30) {
                    var stderr = StandardError()
                    print("error: the game made no progress for 30 s at tick \(match.game.tick) (waiting for players); stopping", to: &stderr)
                    break
                }
                Thread.sleep(forTimeInterval: 0.001)
            }
        } else {
            let keys = Keyboard()
            let tickSeconds = 1.0 / 60
            var last = SDL_GetPerformanceCounter()
            var accumulator = 0.0
            while running {
                var event = SDL_Event()
                while SDL_PollEvent(&event) != 0 {
                    if event.type == SDL_QUIT.rawValue { running = false }
                    if event.type == SDL_KEYDOWN.rawValue, event.key.repeat == 0 {
                        let key = event.key.keysym.sym
                        if key == Int32(SDLK_ESCAPE.rawValue) { running = false }
                        if key == Int32(SDLK_h.rawValue) || key == Int32(SDLK_F1.rawValue) { match.hud.showNetwork.toggle() }
                    }
                }
                let now = SDL_GetPerformanceCounter()
                accumulator = min(0.25, accumulator + Double(now - last) / frequency)
                last = now
                while accumulator >= tickSeconds, running {
                    // Time sync: 2 or more ticks ahead of the slowest player, each frame waits up
                    // to 4 ms longer (FramePacer.stretch), so that we slow down instead of stalling.
                    accumulator -= tickSeconds + FramePacer.stretch(framesAhead: transport.framesAhead) / .seconds(1)
                    sounds(match.step { keys.input() })
                    frame += 1
                    if let stall = mainStall, frame == stall.frame { Thread.sleep(forTimeInterval: Double(stall.milliseconds) / 1000) }
                    if let limit, match.game.tick >= limit { running = false }
                    if frame > 360 { match.hud.showKeys = false }
                    if let replaying, replaying.finished {
                        finishedFor += 1
                        match.hud.notice =
                            match.mismatch == nil
                            ? ("REPLAY VERIFIED: every checksum matched", Theme.good)
                            : ("REPLAY DIVERGED at tick \(match.mismatch!.tick)", Theme.bad)
                        if finishedFor > 240 { running = false }  // four seconds to read the verdict
                    }
                }
                match.hud.showScoreboard = keys.tab
                renderer.draw(match.game, hud: match.hud)
                screen.present()
                mixer.pump()
                if accumulator < tickSeconds { SDL_Delay(1) }
            }
        }

        // Final frame, then the outputs.
        renderer.draw(match.game, hud: match.hud)
        transport.shutdown()
        if let screenshot { try screen.saveScreenshot(to: screenshot) }
        if let stateJSON {
            let data = try JSONSerialization.data(withJSONObject: match.stateJSON(), options: [.sortedKeys, .prettyPrinted])
            try data.write(to: URL(fileURLWithPath: stateJSON))
        }
        if let record, let recording = match.finishedRecording() {
            try Data(recording.encode()).write(to: URL(fileURLWithPath: record))
            print("recorded \(recording.inputs.count) ticks to \(record)")
        }
        let checksum = match.game.checksum()
        if match.rejoinsAfterHalt > 0 { print("dropped by the others and came back \(match.rejoinsAfterHalt) time(s)") }
        if let resumed = match.resumedAt { print("joined the running match at tick \(resumed) (from the players' checkpoint)") }
        print("played \(match.game.tick) ticks, \(match.game.round) round(s), scores \(match.game.tanks.map(\.score)), final checksum \(checksum)")
        if let replaying {
            if let m = match.mismatch {
                var stderr = StandardError()
                print("error: replay diverged at tick \(m.tick): recorded checksum \(m.recorded), re-simulated \(m.actual)", to: &stderr)
                throw ExitCode(3)
            }
            if match.game.tick == replaying.length {
                print("replay verified: \(match.checkpointsVerified) checkpoints matched, final checksum \(checksum) matches the recording")
            } else {
                print("replay stopped at tick \(match.game.tick) of \(replaying.length); \(match.checkpointsVerified) checkpoints matched so far")
            }
        }
    }

    private func wrap<T>(_ body: () throws(AssetError) -> T) throws(DemoError) -> T {
        do { return try body() } catch { throw .asset(error) }
    }
}

/// Reads the local player's controls from SDL's keyboard state.
struct Keyboard {
    private let state: UnsafePointer<UInt8>

    init() { state = SDL_GetKeyboardState(nil) }

    private func down(_ codes: SDL_Scancode...) -> Bool { codes.contains { state[Int($0.rawValue)] != 0 } }

    func input() -> TankInput {
        TankInput(
            thrust: down(SDL_SCANCODE_UP, SDL_SCANCODE_W),
            reverse: down(SDL_SCANCODE_DOWN, SDL_SCANCODE_S),
            left: down(SDL_SCANCODE_LEFT, SDL_SCANCODE_A),
            right: down(SDL_SCANCODE_RIGHT, SDL_SCANCODE_D),
            fire: down(SDL_SCANCODE_SPACE, SDL_SCANCODE_RCTRL, SDL_SCANCODE_LCTRL)
        )
    }

    var tab: Bool { down(SDL_SCANCODE_TAB) }
}
