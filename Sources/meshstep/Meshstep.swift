import ArgumentParser
import Foundation
import MeshstepNet
import MeshstepArena
import MeshstepBots
import MeshstepNetBots
import MeshstepLockstep
import MeshstepSimulation

@main
struct Meshstep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "meshstep",
        abstract: "Peer-to-peer game sessions over a signed, password-protected mesh.",
        subcommands: [Sim.self, Bots.self, Sweep.self, Bot.self, Chat.self, ReplayCommand.self, ResolverCommand.self]
    )
}

struct Sim: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run protocol scenarios in the seeded network simulator (virtual time).",
        subcommands: [SimFlood.self]
    )
}

extension AttackKind: ExpressibleByArgument {}
extension SessionAttack: ExpressibleByArgument {}

struct SimFlood: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flood",
        abstract: "Form a mesh of N nodes and flood M messages; report delivery, redundancy, hops and latency.",
        discussion: """
            Nodes join over the first virtual second through a simulated resolver and build the mesh \
            with the real maintenance protocol; after a warm-up, random honest nodes each flood a \
            message every 20 ms. Same arguments, same result (except wall_seconds). In the JSON, \
            "diameter" is the overlay's longest shortest path at the end, -1 when it is split.
            """
    )

    @Option(parsing: .unconditional, help: "Number of nodes (2 or more).") var nodes: Int = 64
    @Option(parsing: .unconditional, help: "Ideal neighbors per node.") var degree: Int = 6
    @Option(parsing: .unconditional, help: "Loss probability on every link, in [0, 1).") var loss: Double = 0
    @Option(parsing: .unconditional, help: "Messages to flood.") var messages: Int = 100
    @Option(parsing: .unconditional, help: "Seed for every random choice.") var seed: UInt64 = 1
    @Option(parsing: .unconditional, help: "Publish from this many distinct nodes (default: any node, chosen per message).") var origins: Int?
    @Option(help: "Make the last node misbehave: \(AttackKind.allCases.map(\.rawValue).joined(separator: ", ")).") var attacker: AttackKind?
    @Option(parsing: .unconditional, help: "One-way link latency in milliseconds.") var latency: Int = 20
    @Option(parsing: .unconditional, help: "Jitter in milliseconds (uniform, added to the latency).") var jitter: Int = 10
    @Flag(help: "Baseline: push every message on every link (no redundancy control).") var pureFlooding = false
    @Option(parsing: .unconditional, help: "Messages each publication floods at once under one signature (1-64; 1: each signed alone).")
    var batch: Int = 1
    @Flag(help: "Print one JSON object instead of a summary.") var json = false
    @Flag(help: "No progress on stderr.") var quiet = false

    func validate() throws {
        guard nodes >= 2 else { throw ValidationError("--nodes must be at least 2 (got \(nodes))") }
        guard degree >= 1 && degree <= 32 else { throw ValidationError("--degree must be between 1 and 32 (got \(degree))") }
        guard loss >= 0 && loss < 1 else { throw ValidationError("--loss is a probability in [0, 1) (got \(loss)); 10% is 0.1") }
        guard messages >= 1 else { throw ValidationError("--messages must be at least 1") }
        guard latency >= 0, jitter >= 0 else { throw ValidationError("--latency and --jitter must not be negative") }
        if attacker != nil && nodes < 4 { throw ValidationError("--attacker needs at least 4 nodes") }
        if let origins, origins < 1 { throw ValidationError("--origins must be at least 1") }
        guard (1...64).contains(batch) else { throw ValidationError("--batch must be between 1 and 64 (got \(batch))") }
    }

    func run() throws {
        var scenario = FloodScenario(nodes: nodes, degree: degree, loss: loss, messages: messages, seed: seed, attacker: attacker)
        scenario.origins = origins
        scenario.pureFlooding = pureFlooding
        scenario.batch = batch
        scenario.latency = .milliseconds(latency)
        scenario.jitter = .milliseconds(jitter)
        // Progress only on a terminal: in a log file the carriage returns pile up on one line.
        let showProgress = !quiet && nodes >= 256 && isatty(STDERR_FILENO) != 0
        if showProgress {
            scenario.progress = { fraction in
                FileHandle.standardError.write(Data("\rsimulating: \(Int(fraction * 100))%".utf8))
            }
        }
        let report = try scenario.run()
        if showProgress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.summary)
        }
    }
}

extension FloodReport {
    var summary: String {
        var lines = [
            "flood: \(nodes) nodes, degree \(degree), loss \(loss * 100)%, \(messages) messages from \(origins == 0 ? "any node" : "\(origins) origins"), seed \(seed), \(strategy == "flood" ? "pure flooding (baseline)" : "eager/lazy push")",
            "  delivered     \(String(format: "%.6f", delivered_ratio)) of all (node, message) pairs; duplicates to the app: \(duplicate_deliveries)",
            "  redundancy    RMR \(String(format: "%.3f", rmr)) (0 = every node got exactly one copy; pure flooding at degree 6 is about 4)",
            "  hops          max \(ldh_max) (limit \(hop_limit)); overlay diameter \(diameter >= 0 ? "\(diameter)" : "none (the overlay is split: some nodes cannot reach others)"); mean degree \(String(format: "%.2f", mean_degree))",
            "  latency       p50 \(String(format: "%.1f", latency_p50_ms)) ms, p99 \(String(format: "%.1f", latency_p99_ms)) ms, max \(String(format: "%.1f", latency_max_ms)) ms (virtual)",
            "  time          \(String(format: "%.1f", virtual_seconds)) s virtual in \(String(format: "%.2f", wall_seconds)) s wall; \(datagrams) datagrams",
            "  signatures    \(String(format: "%.3f", signature_checks_per_delivery)) checks per delivery\(batch > 1 ? " (\(batch) messages per signed batch)" : "")",
        ]
        if let attacker {
            lines.append(
                "  attack        \(attacker): \(attack_rejected ?? 0) attack datagrams rejected, attacker disconnected: \(attacker_disconnected ?? false), honest delivery \(String(format: "%.6f", honest_delivered_ratio ?? 0)), forged deliveries \(attack_delivered ?? 0)"
            )
            lines.append(
                "  cost          \(String(format: "%.3f", victim_verifications_per_attack_datagram ?? 0)) signature checks per attack datagram; honest links blocked: \(honest_links_blocked ?? 0)"
            )
        }
        return lines.joined(separator: "\n")
    }
}

struct Bots: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Headless bots play the demo's tank arena in lockstep over a network; report one verdict.",
        discussion: """
            With --network sim everything runs in virtual time, reproducibly from --seed. \
            --crash SLOT@TICK kills a player's node at a tick (repeatable); the survivors agree on one \
            drop tick; --rejoin SLOT@TICK brings a crashed player back with its identity, and the \
            survivors readmit it at an agreed tick while it resumes from a checkpoint they send it. \
            --partition START:SLOTS:HEAL cuts SLOTS off from everyone else between two \
            ticks: the side holding a strict majority of the roster continues, the other halts. \
            --spectators K adds K mesh nodes without a slot that follow the game (with --network udp \
            and 2 or more CPUs their threads run on a CPU of their own, as if on other machines). \
            --open-slots SLOTS \
            starts the match without those slots; --late-join SLOT@TICK brings a newcomer with its own \
            key into one of them, admitted by the players at an agreed tick (at TICK 0 it starts with \
            them, in the lobby). Exit status 1 when \
            checksums disagree or a desync was reported.
            """
    )

    @Option(parsing: .unconditional, help: "Players (2...64).") var players: Int = 4
    @Option(parsing: .unconditional, help: "Ticks to play (60 per second).") var ticks: Int = 600
    @Option(
        help:
            "Network: sim (virtual time, seeded) or udp (each bot on its own UDP socket on loopback, real time; --loss drops datagrams at the sockets, seeded)."
    ) var network: String = "sim"
    @Option(parsing: .unconditional, help: "Loss probability on every link, in [0, 1).") var loss: Double = 0
    @Option(parsing: .unconditional, help: "One-way link latency in milliseconds.") var latency: Int = 30
    @Option(parsing: .unconditional, help: "Jitter in milliseconds (uniform, added to the latency).") var jitter: Int = 0
    @Option(parsing: .unconditional, help: "Probability that a datagram is delivered twice, in [0, 1) (sim only).") var duplicate: Double = 0
    @Option(parsing: .unconditional, help: "Seed for every random choice.") var seed: UInt64 = 1
    @Option(
        parsing: .unconditional, help: "Input delay in ticks (default: sim: from --latency and --jitter; udp: 3, then chosen from what the players measure).")
    var inputDelay: Int?
    @Option(name: .customLong("crash"), help: "SLOT@TICK: crash that player's node when the match reaches TICK (repeatable).") var crashes: [String] = []
    @Option(
        name: .customLong("rejoin"),
        help: "SLOT@TICK: bring a player crashed with --crash back with its identity when the match reaches TICK; it rejoins (sim only; repeatable).")
    var rejoins: [String] = []
    @Option(help: "SLOTS (comma-separated): slots that start empty and may be filled while the match runs (sim only).") var openSlots: String?
    @Option(
        name: .customLong("late-join"),
        help: "SLOT@TICK: a newcomer with its own key arrives for open SLOT when the match reaches TICK and joins (sim only; repeatable).")
    var lateJoins: [String] = []
    @Option(help: "START:SLOTS:HEAL: cut SLOTS (comma-separated) off from the rest from tick START until tick HEAL.") var partition: String?
    @Option(parsing: .unconditional, help: "Spectators: mesh nodes without a slot that follow the game (0...1000).") var spectators: Int = 0
    @Flag(
        help:
            "Players report each row at once in a frame of its own: a tick is agreed two one-way trips after its inputs left, not a frame later, for more bytes."
    )
    var promptReports = false
    @Flag(
        help:
            "Sim only: the lowest slot chooses the input delay a second after the start from what it measured (over UDP this is the default without --input-delay)."
    )
    var autoInputDelay = false
    @Option(help: "UDP only: event-loop threads the players share (1...players; several use several cores, as separate machines would).")
    var eventLoops = 1
    @Flag(
        help:
            "UDP only: each player on a PolledLockstepPeer driven by a thread of its own that sleeps on its socket between frames (no event loop, no hand-off); players only."
    )
    var polled = false
    @Option(
        help:
            "K@TICK: K spectators arrive when the match reaches TICK and resume from a checkpoint the peers take for them (sim only)."
    ) var lateSpectators: String?
    @Option(
        name: .customLong("stall"), help: "SLOT@TICK:MS: freeze that player's whole process for MS milliseconds when it reaches TICK (sim only; repeatable).")
    var stalls: [String] = []
    @Flag(
        help:
            "An honest peer whose session halts (dropped after a --stall past the disconnect timeout, or cut off by a --partition) starts over in the same process and asks to come back, as the demo does (sim only)."
    )
    var rejoinWhenHalted = false
    @Flag(help: "With --attacker: the liar, voted out, starts over at once and lies again once readmitted (sim only).")
    var attackerRejoins = false
    @Option(help: "The highest slot lies: \(SessionAttack.allCases.map(\.rawValue).joined(separator: ", ")) (sim only).") var attacker: SessionAttack?
    @Option(help: "Game: tanks (the demo's arena, 2...8 players) or coins (up to 64).") var game: String = "tanks"
    @Option(parsing: .unconditional, help: "Disconnect timeout in milliseconds (silence before a drop is proposed).") var disconnectTimeout: Int = 2000
    @Option(help: "Record the lowest surviving slot's view of the match to this replay file.") var record: String?
    @Option(help: "On a desync, every peer that sees it writes its state at that tick into this directory, for diffing (sim only).") var desyncDump: String?
    @Flag(help: "Print one JSON object instead of a summary.") var json = false

    func validate() throws {
        // Output paths are checked now, not after the whole match.
        if let record, let problem = OutputFile.problem(at: record) { throw ValidationError("--record \(problem)") }
        if let desyncDump {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: desyncDump, isDirectory: &isDirectory), isDirectory.boolValue,
                FileManager.default.isWritableFile(atPath: desyncDump)
            else {
                throw ValidationError("--desync-dump \(desyncDump) must be an existing, writable folder (mkdir -p \(desyncDump))")
            }
        }
        guard network == "sim" || network == "udp" else {
            throw ValidationError("--network must be sim (virtual time) or udp (real sockets on loopback), got \(network)")
        }
        if network == "udp" {
            if latency != 30 || jitter != 0 {
                throw ValidationError(
                    "--network udp runs on real loopback sockets: --latency and --jitter are simulator-only (use network namespaces for real link delays)")
            }
        }
        guard (2...64).contains(players) else { throw ValidationError("--players must be between 2 and 64 (got \(players))") }
        guard ticks >= 1 else { throw ValidationError("--ticks must be at least 1") }
        guard loss >= 0 && loss < 1 else { throw ValidationError("--loss is a probability in [0, 1) (got \(loss)); 10% is 0.1") }
        guard latency >= 0, jitter >= 0 else { throw ValidationError("--latency and --jitter must not be negative") }
        guard duplicate >= 0 && duplicate < 1 else { throw ValidationError("--duplicate is a probability in [0, 1) (got \(duplicate))") }
        if network == "udp", duplicate > 0 { throw ValidationError("--duplicate runs in the simulator only (--network sim)") }
        if let inputDelay, !(0...60).contains(inputDelay) { throw ValidationError("--input-delay must be 0...60 ticks") }
        if network == "udp", autoInputDelay {
            throw ValidationError("--auto-input-delay is for --network sim: over UDP the delay is chosen by itself unless --input-delay is given")
        }
        guard let g = BotsGame(rawValue: game) else { throw ValidationError("--game must be tanks or coins (got \(game))") }
        if g == .tanks, players > TankArena.maxPlayers {
            throw ValidationError("the tank arena has \(TankArena.maxPlayers) slots: use --game coins for \(players) players")
        }
        guard (0...1000).contains(spectators) else { throw ValidationError("--spectators must be 0...1000 (got \(spectators))") }
        guard disconnectTimeout >= 100 else { throw ValidationError("--disconnect-timeout must be at least 100 ms") }
        let crashed = try parsedCrashes()
        for r in try parsedRejoins() where !crashed.contains(where: { $0.slot == r.slot && $0.tick < r.tick }) {
            throw ValidationError("--rejoin \(r.slot)@\(r.tick) needs that slot to crash first: add --crash \(r.slot)@TICK with TICK < \(r.tick)")
        }
        _ = try parsedLateSpectators()
        if network == "udp", lateSpectators != nil {
            throw ValidationError("--late-spectators runs in the simulator only (--network sim)")
        }
        let open = try parsedOpenSlots()
        for j in try parsedLateJoins() where !open.contains(j.slot) || j.tick < 0 || j.tick >= ticks {
            throw ValidationError("--late-join \(j.slot)@\(j.tick) needs an open slot (--open-slots \(j.slot)) and a TICK in 0...\(ticks - 1)")
        }
        if network == "udp", openSlots != nil || !lateJoins.isEmpty {
            throw ValidationError(
                "--open-slots and --late-join run in the simulator only (--network sim); on sockets, start `meshstep bot --open-slots` for the newcomer")
        }
        if network == "udp", !rejoins.isEmpty {
            throw ValidationError("--rejoin runs in the simulator only (--network sim); on sockets, restart `meshstep bot` with the same --identity")
        }
        for text in stalls {
            let st = try BotsStall(parsing: text)
            guard (0..<players).contains(st.slot) else { throw ValidationError("--stall \(text): slot must be 0...\(players - 1)") }
        }
        if network == "udp", !stalls.isEmpty || attacker != nil || rejoinWhenHalted {
            throw ValidationError("--stall, --attacker and --rejoin-when-halted run in the simulator only (--network sim)")
        }
        if attacker != nil, players < 3 { throw ValidationError("--attacker needs at least 3 players") }
        if attackerRejoins, attacker == nil { throw ValidationError("--attacker-rejoins needs --attacker KIND") }
        if network != "udp", eventLoops != 1 { throw ValidationError("--event-loops applies to --network udp only (the simulator runs in virtual time)") }
        if !(1...max(1, players)).contains(eventLoops) {
            throw ValidationError("--event-loops must be 1...\(players) (one per player at most; got \(eventLoops))")
        }
        if let partition { _ = try BotsPartition(parsing: partition) }
        if polled {
            guard network == "udp" else { throw ValidationError("--polled applies to --network udp only") }
            if spectators > 0 || !crashes.isEmpty || partition != nil || eventLoops != 1 {
                throw ValidationError("--polled runs players only: drop --spectators, --crash, --partition and --event-loops")
            }
        }
    }

    func parsedCrashes() throws -> [(slot: Int, tick: Int)] { try crashes.map { try slotAtTick($0, flag: "--crash", example: "3@600") } }

    func parsedRejoins() throws -> [(slot: Int, tick: Int)] { try rejoins.map { try slotAtTick($0, flag: "--rejoin", example: "2@1200") } }

    func parsedLateJoins() throws -> [(slot: Int, tick: Int)] { try lateJoins.map { try slotAtTick($0, flag: "--late-join", example: "3@600") } }

    func parsedOpenSlots() throws -> [Int] { try parseOpenSlots(openSlots, players: players) }

    /// `SLOT@TICK` with a slot of this match and a tick of at least 0.
    func slotAtTick(_ text: String, flag: String, example: String) throws -> (slot: Int, tick: Int) {
        let parts = text.split(separator: "@")
        guard parts.count == 2, let slot = Int(parts[0]), let tick = Int(parts[1]), (0..<players).contains(slot), tick >= 0 else {
            throw ValidationError("\(flag) must be SLOT@TICK with SLOT in 0...\(players - 1) and TICK >= 0, for example \(example) (got \(text))")
        }
        return (slot, tick)
    }

    func parsedLateSpectators() throws -> (count: Int, tick: Int)? {
        guard let text = lateSpectators else { return nil }
        let parts = text.split(separator: "@")
        guard parts.count == 2, let count = Int(parts[0]), let tick = Int(parts[1]), (1...1000).contains(count), tick >= 1, tick < ticks else {
            throw ValidationError("--late-spectators must be K@TICK with K in 1...1000 and TICK in 1...\(ticks - 1), for example 200@900 (got \(text))")
        }
        return (count, tick)
    }

    func run() throws {
        if network == "udp" {
            var udp = UDPBotsScenario(players: players, ticks: ticks, loss: loss, seed: seed, inputDelay: inputDelay ?? 3)
            udp.autoInputDelay = inputDelay == nil
            udp.partition = try partition.map { try BotsPartition(parsing: $0) }
            udp.spectators = spectators
            udp.promptReports = promptReports
            udp.eventLoops = eventLoops
            udp.polled = polled
            udp.crashes = try parsedCrashes()
            udp.disconnectTimeout = .milliseconds(disconnectTimeout)
            try report(udp.run())
            return
        }
        var scenario = BotsScenario(players: players, ticks: ticks, loss: loss, latency: .milliseconds(latency), jitter: .milliseconds(jitter), seed: seed)
        scenario.inputDelay = inputDelay
        scenario.duplicate = duplicate
        scenario.recordPath = record
        scenario.crashes = try parsedCrashes()
        scenario.rejoins = try parsedRejoins()
        scenario.openSlots = try parsedOpenSlots()
        scenario.lateJoins = try parsedLateJoins()
        scenario.lateSpectators = try parsedLateSpectators()
        scenario.partition = try partition.map { try BotsPartition(parsing: $0) }
        scenario.spectators = spectators
        scenario.promptReports = promptReports
        scenario.autoInputDelay = autoInputDelay
        scenario.desyncDumpDirectory = desyncDump
        scenario.game = BotsGame(rawValue: game) ?? .tanks
        scenario.disconnectTimeout = .milliseconds(disconnectTimeout)
        scenario.stalls = try stalls.map { try BotsStall(parsing: $0) }
        scenario.rejoinWhenHalted = rejoinWhenHalted
        scenario.attackerRejoins = attackerRejoins
        scenario.attack = attacker
        try report(scenario.run())
    }

    func report(_ report: BotsReport) throws {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(
                """
                bots: \(report.players) players, \(report.ticks) ticks, seed \(report.seed), input delay \(report.input_delay) ticks
                  completed   \(report.ticks_completed) ticks (slowest survivor) at \(String(format: "%.1f", report.ticks_per_second)) ticks/s; checksums agree: \(report.checksums_agree) over \(report.checked_ticks) checks; desyncs \(report.desyncs)
                  latency     input p50 \(String(format: "%.1f", report.input_latency_ms_p50)) ms, p99 \(String(format: "%.1f", report.input_latency_ms_p99)) ms (submit to agreed by all)\(report.input_arrival_ms_p50.map { String(format: "; arrival p50 %.3f ms, p99 %.3f ms (submit to held by another player)", $0, report.input_arrival_ms_p99 ?? 0) } ?? "")
                  stalls      \(report.stall_ticks) stalled frames, longest \(String(format: "%.1f", report.longest_stall_ms)) ms; inputs lost \(report.inputs_lost)\(report.attacker == nil && !report.honest_accused.isEmpty ? "; players named by a peer (a violation, or votes against players it hears) \(report.honest_accused)" : "")
                  \(report.attacker.map { "attacker    slot \($0) (\(attacker?.rawValue ?? "")): named by every honest player: \(report.attacker_named ?? false); honest checksums agree: \(report.honest_checksums_agree); honest dropped \(report.honest_dropped), halted \(report.honest_halted)\(report.honest_accused.isEmpty ? "" : ", named by an honest peer \(report.honest_accused)")\n  " } ?? "")roster      drops \(report.drops.isEmpty ? "none" : report.drops.map { "\($0.slot)@\($0.tick)" }.joined(separator: " ")) (agreed: \(report.drops_agree)); rejoins \(report.rejoins.isEmpty ? "none" : report.rejoins.map { "\($0.slot)@\($0.tick)" }.joined(separator: " "))\(report.open_slots.isEmpty ? "" : "; open slots \(report.open_slots.map(String.init).joined(separator: ",")), late joins \(report.late_joins.isEmpty ? "none" : report.late_joins.map { "\($0.slot)@\($0.tick)" }.joined(separator: " "))")\(report.snapshot_bytes > 0 ? " (\(report.snapshot_bytes) checkpoint bytes)" : ""); halted \(report.halted.isEmpty ? "none" : report.halted.map { "\($0.slot) at \($0.tick): \($0.reason)" }.joined(separator: "; ")); spectators \(report.spectators)\(report.late_spectators > 0 ? " + \(report.late_spectators) late" : "") reached tick \(report.spectator_ticks_completed)\(report.player_upload_ratios.isEmpty ? "" : "; player upload with them x\(report.player_upload_ratios.max() ?? 0) (max)")
                  wire        \(String(format: "%.1f", report.bytes_per_input_per_peer)) bytes per input per peer
                  time        \(String(format: "%.1f", report.virtual_seconds)) s virtual in \(String(format: "%.2f", report.wall_seconds)) s wall
                """)
            if !report.session_errors.isEmpty { print("  errors      \(report.session_errors.joined(separator: "; "))") }
        }
        // With a liar, its own checksums and the desyncs it causes are the attack, not a failure.
        let agree = report.attacker == nil ? report.checksums_agree && report.desyncs == 0 : report.honest_checksums_agree
        if !agree || !report.drops_agree { throw ExitCode(1) }
    }
}

struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "replay", abstract: "Work with recorded matches.", subcommands: [ReplayVerify.self])
}

struct ReplayVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Re-simulate a recording of the tank arena and check every checkpoint.",
        discussion: """
            Exit status: 0 every checkpoint matched; 1 a checkpoint differs (the re-simulated game \
            diverged from the recording); 2 the file cannot be used (missing, unreadable, not a \
            replay, corrupt or truncated), with the reason on stderr.
            """
    )

    @Argument(help: "The replay file (from 'meshstep bots --record FILE' or 'meshstep-demo --record FILE').") var file: String

    func run() throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            let reason = FileManager.default.fileExists(atPath: file) ? "not readable (a folder, or no permission)" : "no such file"
            FileHandle.standardError.write(Data("error: cannot read replay \(file): \(reason)\n".utf8))
            throw ExitCode(2)
        }
        let replay: Replay<TankInput>
        do {
            replay = try Replay<TankInput>.decode(Array(data))
        } catch {
            FileHandle.standardError.write(Data("error: \(file) is not a valid replay: \(error)\n".utf8))
            throw ExitCode(2)
        }
        switch replay.verify(with: TankArena.self) {
        case let .verified(ticks, checkpoints, final):
            print("verified: \(ticks) ticks, \(checkpoints) checkpoints match; final checksum \(String(final, radix: 16))")
        case let .mismatch(tick, recorded, actual):
            print("MISMATCH at tick \(tick): recorded \(String(recorded, radix: 16)), re-simulated \(String(actual, radix: 16))")
            throw ExitCode(1)
        }
    }
}

/// `--open-slots` (bots and bot): distinct slots of the match, comma-separated, leaving at least
/// two players at the start; sorted.
func parseOpenSlots(_ text: String?, players: Int) throws -> [Int] {
    guard let text else { return [] }
    guard let slots = LockstepConfiguration.openSlots(parsing: text, players: players) else {
        throw ValidationError(
            "--open-slots must be distinct slots 0...\(players - 1), comma-separated, leaving at least 2 players at the start, for example 3 or 2,3 (got \(text))"
        )
    }
    return slots
}
