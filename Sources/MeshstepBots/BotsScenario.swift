import Foundation
import MeshstepArena
import MeshstepLockstep
import MeshstepMesh
import MeshstepSession
import MeshstepSimulation
import MeshstepWire

/// A partition of the players, in ticks: `slots` are cut off from everyone else (the other
/// players and every spectator) from tick `start` until tick `heal`.
public struct BotsPartition: Sendable, Equatable {
    /// The tick at which the cut begins: when the furthest live player has applied that many.
    public var start: Int
    /// The players cut off, as slot numbers (some, not all, of the players).
    public var slots: [Int]
    /// The tick at which the links come back (after `start`, reached the same way).
    public var heal: Int

    /// A partition of `slots` from tick `start` until tick `heal`.
    public init(start: Int, slots: [Int], heal: Int) {
        self.start = start
        self.slots = slots
        self.heal = heal
    }

    /// Parses `START:SLOTS:HEAL`, for example `600:0,1,2,3,4:1200`.
    public init(parsing text: String) throws(ScenarioSettingError) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let start = Int(parts[0]), let heal = Int(parts[2]), start >= 0, heal > start else {
            throw ScenarioSettingError(flag: "--partition", value: text, requirement: "START:SLOTS:HEAL with 0 <= START < HEAL, for example 600:0,1,2,3,4:1200")
        }
        var slots: [Int] = []
        for s in parts[1].split(separator: ",") {
            guard let v = Int(s), v >= 0 else {
                throw ScenarioSettingError(flag: "--partition", value: text, requirement: "a comma-separated list of slot numbers between the colons")
            }
            slots.append(v)
        }
        guard !slots.isEmpty else { throw ScenarioSettingError(flag: "--partition", value: text, requirement: "at least one slot") }
        self.init(start: start, slots: slots, heal: heal)
    }
}

extension BotsScenario {
    /// Whether the others may rightly drop a player for `stall`: the silence they see is the
    /// stall plus the jitter of the frames around it, a few frames lost at either end and the
    /// frame their failure detector checks in, and that reaches the disconnect timeout. (The
    /// latency delays the last frame before the stall and the first after it alike.)
    public func mayDrop(_ stall: BotsStall) -> Bool {
        let frame = Duration.nanoseconds(1_000_000_000 / Int64(max(1, tickRate)))
        return stall.duration + jitter + frame * 4 >= disconnectTimeout
    }

    /// Whether a player's `stall` excuses what happened to it: a stall past the disconnect
    /// timeout always does; one nearly as long (``mayDrop(_:)``) only when the player was
    /// dropped (`dropped`), so that a player that came through it is still judged.
    public func excuses(_ stall: BotsStall, dropped: Set<Int>) -> Bool {
        stall.duration >= disconnectTimeout || (mayDrop(stall) && dropped.contains(stall.slot))
    }
}

/// A stalled player: its whole process freezes at game tick `tick` for `duration` (its mesh too;
/// datagrams to it wait in its socket), as SIGSTOP, a long GC pause or a starved loop would.
public struct BotsStall: Sendable, Equatable {
    /// The player that freezes.
    public var slot: Int
    /// It freezes once it has applied this many ticks of the game.
    public var tick: Int
    /// How long it stays frozen.
    public var duration: Duration

    /// A stall of `slot` at `tick` for `duration`.
    public init(slot: Int, tick: Int, duration: Duration) {
        self.slot = slot
        self.tick = tick
        self.duration = duration
    }

    /// Parses `SLOT@TICK:MS`, for example `2@300:1500`.
    public init(parsing text: String) throws(ScenarioSettingError) {
        let at = text.split(separator: "@")
        let rest = at.count == 2 ? at[1].split(separator: ":") : []
        guard at.count == 2, rest.count == 2, let slot = Int(at[0]), let tick = Int(rest[0]), let ms = Int(rest[1]),
            slot >= 0, tick >= 0, ms > 0
        else {
            throw ScenarioSettingError(flag: "--stall", value: text, requirement: "SLOT@TICK:MS, for example 2@300:1500")
        }
        self.init(slot: slot, tick: tick, duration: .milliseconds(ms))
    }
}

/// The games the bots can play.
public enum BotsGame: String, Sendable, CaseIterable {
    /// The demo's tank arena (2...8 players).
    case tanks
    /// A tiny coin-collecting game for up to 64 players.
    case coins
}

/// N headless bots play a deterministic game in lockstep over a simulated mesh, in virtual time,
/// with optional crashes, a partition and spectators.
public struct BotsScenario: Sendable {
    /// Player slots, 2...64 (at most `TankArena/maxPlayers` for the tank arena).
    public var players: Int
    /// Length of the match in ticks (at least 1).
    public var ticks: Int
    /// Probability that a datagram is lost, on every link, in [0, 1).
    public var loss: Double
    /// One-way base latency of every link.
    public var latency: Duration
    /// Extra delay per datagram, drawn uniformly from `0...jitter` (this also reorders).
    public var jitter: Duration
    /// Probability that a datagram is delivered twice.
    public var duplicate: Double = 0
    /// Seeds everything: the simulated links, the node identities and the game.
    public var seed: UInt64
    /// Ticks per second of every peer's game loop.
    public var tickRate = 60
    /// Input delay in ticks; nil chooses it from the links: two one-way trips of latency plus
    /// jitter and 8 ms (a tick waits for every peer's confirmation, sent at its next frame), in
    /// frames, plus two frames of margin, plus one per started 10% of loss (repairs).
    public var inputDelay: Int?
    /// The lowest slot chooses the input delay a second after the start from what it measured
    /// (`SessionEndpoint`'s `autoInputDelay`), starting from ``inputDelay`` or the value chosen
    /// from the links.
    public var autoInputDelay = false
    /// Peers compare checksums every this many ticks.
    public var checksumInterval = 30
    /// Silence after which a peer proposes to drop a player (the drop is agreed by the others).
    public var disconnectTimeout: Duration = .seconds(2)
    /// `(slot, tick)`: the player's node crashes when the match reaches that tick.
    public var crashes: [(slot: Int, tick: Int)] = []
    /// `(slot, tick)`: a crashed player's node comes back with its identity when the match
    /// reaches that tick, and rejoins (docs/LOCKSTEP.md, "Rejoin").
    public var rejoins: [(slot: Int, tick: Int)] = []
    /// Slots that start empty and that a newcomer may fill while the match runs
    /// (`LockstepConfiguration/openSlots`).
    public var openSlots: [Int] = []
    /// `(slot, tick)`: a newcomer with its own key arrives for open `slot` when the match
    /// reaches that tick, and joins (docs/LOCKSTEP.md, "Late join into an open slot").
    public var lateJoins: [(slot: Int, tick: Int)] = []
    /// Cuts some players off from everyone else for a span of ticks, if set.
    public var partition: BotsPartition?
    /// Mesh nodes without a slot that follow the game.
    public var spectators = 0
    /// Players report each row at once in a frame of its own
    /// (`LockstepConfiguration/promptReports`).
    public var promptReports = false
    /// Spectators that arrive when the match reaches a tick (`count` of them at `tick`): they
    /// resume from a checkpoint the peers take for them (docs/LOCKSTEP.md, "Late join").
    public var lateSpectators: (count: Int, tick: Int)?
    /// Players whose process freezes for a while.
    public var stalls: [BotsStall] = []
    /// A peer whose session halts (the others dropped a player after a stall past the
    /// disconnect timeout, say) starts over in the same process and asks to come back
    /// (`SessionEndpoint.rejoin(now:)`), as the demo does; a spectator asks to follow again.
    public var rejoinWhenHalted = false
    /// The liar (``attack``) starts over the same way when the others voted it out, and lies
    /// again once back.
    public var attackerRejoins = false
    /// The highest slot lies this way (`LockstepAdversary`).
    public var attack: SessionAttack?
    /// Where to write a replay recorded by the lowest surviving slot, if anywhere.
    public var recordPath: String?
    /// Simulates a determinism bug: this slot's game state is nudged after applying this tick.
    public var desyncInjection: (slot: Int, tick: Int)?
    /// Which game the bots play.
    public var game: BotsGame = .tanks
    /// When set, every peer that sees a desync writes its own state at that tick here
    /// (`desync-tick<T>-slot<S>.state`, the game's `snapshot()` bytes): both sides of the
    /// disagreement end up side by side for diffing.
    public var desyncDumpDirectory: String?
    /// Tests: called with the simulator before any node starts (to lose chosen datagrams).
    package var configureSimulator: (@Sendable (MeshSimulator) -> Void)?

    /// A tank-arena match over links with the given latency, jitter and loss; every other
    /// setting starts at its default (no faults, no spectators, input delay from the links).
    public init(players: Int, ticks: Int, loss: Double, latency: Duration, jitter: Duration, seed: UInt64) {
        self.players = players
        self.ticks = ticks
        self.loss = loss
        self.latency = latency
        self.jitter = jitter
        self.seed = seed
    }

    /// Ticks of input delay that hide a one-way latency: the latency in frames, rounded up, plus
    /// two frames in which a lost frame is repaired by the next one.
    public static func delay(forOneWay latency: Duration, tickRate: Int) -> Int {
        InputDelay.ticks(forOneWay: latency, tickRate: tickRate)
    }

    /// Players link directly to every other player and push their frames on all links: the
    /// fastest path, and redundancy inside each frame repairs losses. Players never forward
    /// (no duplicate traffic between them), but they serve pulls, so a survivor that missed a
    /// vanished player's last frames gets them from another survivor.
    public func meshConfiguration() -> MeshConfiguration {
        var c = MeshConfiguration.lockstep(players: players, spectatorLinks: spectators + (lateSpectators?.count ?? 0) > 0 ? 1 : 0)
        // A stalled player's links must outlive a stall the session forgives.
        c.deadLinkTimeout = max(c.deadLinkTimeout, disconnectTimeout * 2)
        // The simulated runs keep the default keepalive (their figures were measured with it).
        c.keepaliveInterval = MeshConfiguration().keepaliveInterval
        return c
    }

    /// Spectators form their own Plumtree below the players and relay among themselves.
    public func spectatorConfiguration() -> MeshConfiguration {
        var c = MeshConfiguration()
        c.idealNeighbors = 4
        c.minNeighbors = 2
        c.maxNeighbors = 10
        c.hopLimit = 16
        return c
    }
}

/// A desync as one peer saw it.
public struct DesyncReport: Codable, Sendable, Equatable {
    /// The peer that saw it: its slot, or for a spectator in the simulator `players` plus its
    /// index among the spectators.
    public var reporter: Int
    /// The tick whose checksums differed.
    public var tick: Int
    /// The slots whose checksum differed from the reporter's.
    public var slots: [Int]

    /// A desync `reporter` saw at `tick`, naming `slots`.
    public init(reporter: Int, tick: Int, slots: [Int]) {
        self.reporter = reporter
        self.tick = tick
        self.slots = slots
    }
}

/// A dropped player readmitted, as the survivors agreed it.
public struct RejoinReport: Codable, Sendable, Equatable, Hashable {
    /// The slot that came back.
    public var slot: Int
    /// The first tick at which its inputs count again.
    public var tick: Int
    /// The tick of the checkpoint it resumed from.
    public var checkpoint: Int
}

/// An agreed drop as applied.
/// A change of the input delay, as a player applied it.
public struct InputDelayChangeReport: Codable, Sendable, Equatable {
    /// The tick after which the new delay holds.
    public var after_tick: Int
    /// The new input delay in ticks.
    public var delay: Int

    /// The change to `delay` after `after_tick`.
    public init(after_tick: Int, delay: Int) {
        self.after_tick = after_tick
        self.delay = delay
    }
}

/// A slot the roster dropped, and from which tick (`drops` in the report).
public struct DropReport: Codable, Sendable, Equatable, Hashable {
    /// The dropped slot.
    public var slot: Int
    /// The first tick applied without it: from here on its input is nil.
    public var tick: Int

    /// The drop of `slot` from `tick` on.
    public init(slot: Int, tick: Int) {
        self.slot = slot
        self.tick = tick
    }
}

/// A slot that stopped for good, and why.
public struct HaltReport: Codable, Sendable, Equatable {
    /// The peer that halted: its slot, or for a spectator in the simulator `players` plus its
    /// index among the spectators.
    public var slot: Int
    /// Ticks it had applied when it stopped.
    public var tick: Int
    /// The `HaltReason`, in words.
    public var reason: String

    /// The halt of `slot` after `tick` ticks, for `reason`.
    public init(slot: Int, tick: Int, reason: String) {
        self.slot = slot
        self.tick = tick
        self.reason = reason
    }
}

/// One remote player's network figures, as the lowest surviving slot saw them at the end.
public struct PlayerStatsReport: Codable, Sendable, Equatable {
    /// The remote player's slot.
    public var slot: Int
    /// Smoothed time in milliseconds from submitting one of the reporter's inputs to this
    /// player's frame acknowledging it; null until measured.
    public var round_trip_ms: Double?
    /// Ticks the reporter is ahead of this player (negative: behind).
    public var frames_ahead: Int
    /// Lockstep payload received from this player, in kilobits per second over the last window
    /// (rounded to 0.1).
    public var kbps_in: Double
    /// Fraction of this player's frames that never arrived, 0...1 (rounded to 0.001).
    public var loss: Double
    /// Inputs of this player that arrived only through a later frame's redundancy or a repair.
    public var repaired_inputs: Int
}

extension PlayerStatsReport {
    /// The report row for one player's session stats (rounded for reading).
    public init(_ s: PlayerNetworkStats) {
        self.init(
            slot: s.slot, round_trip_ms: s.roundTrip?.milliseconds, frames_ahead: s.framesAhead,
            kbps_in: (s.kbpsIn * 10).rounded() / 10, loss: (s.loss * 1000).rounded() / 1000, repaired_inputs: s.repairedInputs)
    }
}

/// The outcome of a bots run. Field names are the JSON keys.
public struct BotsReport: Codable, Sendable, Equatable {
    /// Player slots in the match.
    public var players: Int
    /// Spectator peers that followed it.
    public var spectators: Int
    /// Ticks the match was to last (`--ticks`).
    public var ticks: Int
    /// The run's seed (`--seed`).
    public var seed: UInt64
    /// Input delay in ticks (with an automatic delay, the first survivor's at the end).
    public var input_delay: Int
    /// Every change of the input delay the first survivor applied, in order (with an automatic
    /// delay, or a player that asked for one).
    public var input_delay_changes: [InputDelayChangeReport] = []
    /// Ticks applied by the slowest surviving player (not crashed, not halted).
    public var ticks_completed: Int
    /// Ticks applied by the slowest spectator (0 without spectators).
    public var spectator_ticks_completed: Int
    /// Every peer (players, halted or not, and spectators) had the same checksum at every tick
    /// both computed: nothing diverged.
    public var checksums_agree: Bool
    /// Ticks for which at least one peer computed a checksum (one every checksum interval).
    public var checked_ticks: Int
    /// Desync events raised, counted over every peer that saw one (``desync_events`` keeps the
    /// first 64).
    public var desyncs: Int
    /// Each desync event: which peer saw it, at which tick, naming which slots.
    public var desync_events: [DesyncReport]
    /// Agreed drops `{slot, tick}` as applied by the survivors.
    public var drops: [DropReport]
    /// Every survivor and spectator applied exactly the same drops.
    public var drops_agree: Bool
    /// Slots that halted, with the tick they stopped at and why.
    public var halted: [HaltReport]
    /// Slots crashed on purpose (`--crash`), in ascending order.
    public var crashed: [Int]
    /// Local submit to the moment every surviving peer may apply that input's tick (it holds
    /// the tick's every input and the other players reported the same): virtual time in the
    /// simulator, wall time over UDP.
    public var input_latency_ms_p50: Double
    /// The 99th percentile of the same input latency, in milliseconds.
    public var input_latency_ms_p99: Double
    /// Frames at which a surviving peer was due a tick but could not apply any, summed.
    public var stall_ticks: Int
    /// The longest run of consecutive stalled frames of one player, in milliseconds (frames
    /// times the frame length).
    public var longest_stall_ms: Double
    /// Bytes sent during the session (by the players only, in the simulator), divided by
    /// ticks × players × (players − 1): the wire cost of one input to one other player,
    /// overhead included.
    public var bytes_per_input_per_peer: Double
    /// Inputs of surviving players for ticks of the match that some survivor never held.
    public var inputs_lost: Int
    /// The lying slot (`--attacker`), if any.
    public var attacker: Int?
    /// Every honest player that finished named the attacker (a protocol violation, a forged
    /// slot or equivocation it was caught at).
    public var attacker_named: Bool?
    /// No two honest peers computed different checksums for one tick.
    public var honest_checksums_agree: Bool
    /// Honest players that an honest peer (a player or a spectator) named for a protocol
    /// violation or an equivocation before it applied the match's last tick: only the liar
    /// should be named.
    public var honest_accused: [Int] = []
    /// Errors the peers' session endpoints reported (``SessionEndpoint/takeErrors()``), each as
    /// `peer N: message`: a `meshstep bot` process exits on one, so an honest run has none.
    public var session_errors: [String] = []
    /// Honest slots (not crashed, not stalled past or, if dropped, nearly as long as the timeout,
    /// not the attacker) that were dropped before they applied every tick of the match.
    public var honest_dropped: [Int]
    /// Honest slots, counted as for ``honest_dropped``, that halted.
    public var honest_halted: [Int]
    /// Slots whose process was frozen (`--stall`).
    public var stalled: [Int]
    /// Ticks per second achieved by the slowest survivor (at most the configured tick rate, 60 by default).
    public var ticks_per_second: Double
    /// The lowest surviving slot's network figures for every other player, at the end.
    public var player_stats: [PlayerStatsReport]
    /// Simulated time at which the run ended, in seconds, mesh formation and lobby included
    /// (0 over UDP).
    public var virtual_seconds: Double
    /// Real time the run took, in seconds.
    public var wall_seconds: Double
    /// Readmissions of crashed players that came back (`--rejoin`), as the survivors agreed them.
    public var rejoins: [RejoinReport] = []
    /// Newcomers admitted into open slots (`--late-join`), as the survivors agreed them.
    public var late_joins: [RejoinReport] = []
    /// The slots that started empty (`--open-slots`).
    public var open_slots: [Int] = []
    /// Checkpoint bytes the newcomers received (state transfer), all of them together.
    public var snapshot_bytes: Int = 0
    /// Spectators (late ones included) that applied every tick of the match.
    public var spectators_live_at_end: Int = 0
    /// Late spectators (`--late-spectators`), and the tick they arrived at.
    public var late_spectators: Int = 0
    /// Each player's upload (bytes per second its mesh node sent) while the late spectators
    /// followed the match, divided by its upload before they arrived: what they cost it.
    public var player_upload_ratios: [Double] = []
    /// Over UDP: local submit to the moment another player's peer holds that input (the frame
    /// carrying it received, before any agreement), over every ordered pair of surviving
    /// players, in milliseconds; nil in the simulator. One crossing of the network and both
    /// shells: the part of ``input_latency_ms_p50`` before the reports.
    public var input_arrival_ms_p50: Double?
    /// The 99th percentile of the same arrival latency, in milliseconds.
    public var input_arrival_ms_p99: Double?

    /// A report with every field given; the scenarios fill it in.
    public init(
        players: Int, spectators: Int, ticks: Int, seed: UInt64, input_delay: Int, ticks_completed: Int, spectator_ticks_completed: Int, checksums_agree: Bool,
        checked_ticks: Int, desyncs: Int, desync_events: [DesyncReport], drops: [DropReport], drops_agree: Bool, halted: [HaltReport], crashed: [Int],
        input_latency_ms_p50: Double, input_latency_ms_p99: Double, stall_ticks: Int, longest_stall_ms: Double, bytes_per_input_per_peer: Double,
        inputs_lost: Int, attacker: Int?, attacker_named: Bool?, honest_checksums_agree: Bool, honest_dropped: [Int], honest_halted: [Int], stalled: [Int],
        ticks_per_second: Double, player_stats: [PlayerStatsReport], virtual_seconds: Double, wall_seconds: Double
    ) {
        self.players = players
        self.spectators = spectators
        self.ticks = ticks
        self.seed = seed
        self.input_delay = input_delay
        self.ticks_completed = ticks_completed
        self.spectator_ticks_completed = spectator_ticks_completed
        self.checksums_agree = checksums_agree
        self.checked_ticks = checked_ticks
        self.desyncs = desyncs
        self.desync_events = desync_events
        self.drops = drops
        self.drops_agree = drops_agree
        self.halted = halted
        self.crashed = crashed
        self.input_latency_ms_p50 = input_latency_ms_p50
        self.input_latency_ms_p99 = input_latency_ms_p99
        self.stall_ticks = stall_ticks
        self.longest_stall_ms = longest_stall_ms
        self.bytes_per_input_per_peer = bytes_per_input_per_peer
        self.inputs_lost = inputs_lost
        self.attacker = attacker
        self.attacker_named = attacker_named
        self.honest_checksums_agree = honest_checksums_agree
        self.honest_dropped = honest_dropped
        self.honest_halted = honest_halted
        self.stalled = stalled
        self.ticks_per_second = ticks_per_second
        self.player_stats = player_stats
        self.virtual_seconds = virtual_seconds
        self.wall_seconds = wall_seconds
    }
}

extension BotsScenario {
    /// Runs ``game``: the demo's `TankArena` with `TankBot` by default (every bot test
    /// exercises the rules the SDL client plays), or the tiny ``CoinArena`` for more than 8.
    public func run() throws -> BotsReport {
        switch game {
        case .tanks:
            guard players <= TankArena.maxPlayers else {
                throw ScenarioSettingError(
                    flag: "--players", value: "\(players)", requirement: "at most \(TankArena.maxPlayers) for the tank arena (use --game coins)")
            }
            return try run(game: TankArena.self, policy: { slot, game, tick in TankBot.input(for: slot, in: game, tick: tick) })
        case .coins:
            return try run(game: CoinArena.self, policy: { slot, game, _ in CoinBot.input(for: slot, in: game) })
        }
    }

    /// Runs any game with a bot policy `(slot, state, tick) -> input`. `perturb` simulates a
    /// determinism bug for ``desyncInjection``.
    ///
    /// Every peer is a `SessionEndpoint` driven exactly as the UDP shell drives one: payloads
    /// the mesh delivers, link round trips and a timer every frame (and at its wake-up time) in,
    /// broadcasts out. The roster's keys are the simulated nodes' identities.
    public func run<Game: LockstepGame>(
        game: Game.Type,
        policy: @escaping (Int, Game, Int) -> Game.Input,
        perturb: ((inout Game) -> Void)? = nil
    ) throws -> BotsReport {
        // A determinism bug by default: the state silently advances one extra tick.
        let perturb = perturb ?? { game in game.step(inputs: Array(repeating: Game.Input.neutral, count: players)) }
        guard players >= 2, players <= 64 else { throw ScenarioSettingError(flag: "--players", value: "\(players)", requirement: "2...64") }
        guard ticks >= 1 else { throw ScenarioSettingError(flag: "--ticks", value: "\(ticks)", requirement: "at least 1") }
        guard loss >= 0, loss < 1 else { throw ScenarioSettingError(flag: "--loss", value: "\(loss)", requirement: "in [0, 1)") }
        guard duplicate >= 0, duplicate < 1 else { throw ScenarioSettingError(flag: "--duplicate", value: "\(duplicate)", requirement: "in [0, 1)") }
        guard (0...1000).contains(spectators) else { throw ScenarioSettingError(flag: "--spectators", value: "\(spectators)", requirement: "0...1000") }
        if let late = lateSpectators, !(1...1000).contains(late.count) || late.tick < 1 || late.tick >= ticks {
            throw ScenarioSettingError(
                flag: "--late-spectators", value: "\(late.count)@\(late.tick)", requirement: "COUNT 1...1000 arriving at a tick 1...\(ticks - 1)")
        }
        for c in crashes where !(0..<players).contains(c.slot) || c.tick < 0 {
            throw ScenarioSettingError(flag: "--crash", value: "\(c.slot)@\(c.tick)", requirement: "a slot 0...\(players - 1) and a tick >= 0")
        }
        for r in rejoins where !crashes.contains(where: { $0.slot == r.slot && $0.tick < r.tick }) {
            throw ScenarioSettingError(
                flag: "--rejoin", value: "\(r.slot)@\(r.tick)", requirement: "a slot crashed earlier with --crash \(r.slot)@TICK, TICK < \(r.tick)")
        }
        if Set(openSlots).count != openSlots.count || openSlots.contains(where: { !(0..<players).contains($0) }) || openSlots.count >= players - 1 {
            throw ScenarioSettingError(
                flag: "--open-slots", value: openSlots.map(String.init).joined(separator: ","),
                requirement: "distinct slots 0...\(players - 1), leaving at least 2 players at the start")
        }
        // Tick 0: the newcomer starts with the players, while they are still in the lobby.
        for j in lateJoins where !openSlots.contains(j.slot) || j.tick < 0 || j.tick >= ticks {
            throw ScenarioSettingError(
                flag: "--late-join", value: "\(j.slot)@\(j.tick)", requirement: "a slot listed in --open-slots, arriving at a tick 0...\(ticks - 1)")
        }
        if Set(lateJoins.map(\.slot)).count != lateJoins.count {
            throw ScenarioSettingError(
                flag: "--late-join", value: lateJoins.map { "\($0.slot)@\($0.tick)" }.joined(separator: ","), requirement: "one per slot")
        }
        for c in crashes where openSlots.contains(c.slot) && !lateJoins.contains(where: { $0.slot == c.slot && $0.tick < c.tick }) {
            throw ScenarioSettingError(
                flag: "--crash", value: "\(c.slot)@\(c.tick)", requirement: "a slot that is not open (--open-slots), or filled earlier (--late-join)")
        }
        for st in stalls where !(0..<players).contains(st.slot) {
            throw ScenarioSettingError(flag: "--stall", value: "\(st.slot)@\(st.tick)", requirement: "a slot 0...\(players - 1)")
        }
        if let p = partition, p.slots.contains(where: { !(0..<players).contains($0) }) || Set(p.slots).count == players {
            throw ScenarioSettingError(
                flag: "--partition", value: p.slots.map(String.init).joined(separator: ","), requirement: "distinct slots 0...\(players - 1), not all of them")
        }
        if attack != nil, players < 3 {
            throw ScenarioSettingError(
                flag: "--attacker", value: "with \(players) players", requirement: "used with at least 3 players (2 honest ones to compare)")
        }
        let started = ContinuousClock.now
        let sim = MeshSimulator(seed: seed, defaultLink: LinkModel(latency: latency, jitter: jitter, loss: loss, duplicate: duplicate))
        defer { sim.stop() }  // the scripts below capture the simulator: break the cycle
        configureSimulator?(sim)
        let creds = try MeshCredentials(meshID: "bots", access: .password("bots"))
        let late = lateSpectators?.count ?? 0
        let nodes = players + spectators + late
        let lateNodes = (players + spectators)..<nodes
        // Open slots: their nodes start only when a newcomer arrives (`lateJoins`), if ever.
        let vacant = Set(openSlots)
        var joinedLate = Set<Int>()
        let starters = (0..<players).filter { !vacant.contains($0) }
        for _ in 0..<players { try sim.addNode(credentials: creds, configuration: meshConfiguration()) }
        for _ in 0..<(spectators + late) { try sim.addNode(credentials: creds, configuration: spectatorConfiguration()) }
        let keys = (0..<nodes).map { sim.node($0)!.key }
        let identities = (0..<nodes).map { sim.node($0)!.identity }
        func referral(_ j: Int) -> Referral { Referral(peer: keys[j], address: MeshSimulator.address(of: j)) }
        var rng = DeterministicRNG(seed: seed ^ 0x5EC7_A70B)
        // The players' full mesh forms first; spectators attach afterwards, so they never take
        // the room a player-to-player link needs (those links are protected as well).
        for i in starters {
            sim.start(i)
            let others = starters.filter { $0 != i }
            // The roster is known, so its links are protected from the start (the endpoint
            // protects them again when the session starts, as on real sockets).
            sim.withNode(i) { mesh, now in
                mesh.protect(others.map { keys[$0] })
                return mesh.addCandidates(others.map(referral), now: now)
            }
        }
        sim.run(for: .seconds(3))
        for i in players..<(players + spectators) {
            sim.start(i)
            // A spectator knows a couple of players and a handful of other spectators.
            var picks = [starters[Int(rng.next() % UInt64(starters.count))], starters[Int(rng.next() % UInt64(starters.count))]]
            for _ in 0..<6 where spectators > 1 { picks.append(players + Int(rng.next() % UInt64(spectators))) }
            let unique = Array(Set(picks.filter { $0 != i })).sorted()
            sim.withNode(i) { mesh, now in mesh.addCandidates(unique.map(referral), now: now) }
        }
        if spectators > 0 { sim.run(for: .seconds(5)) }

        // A tick is applied once every peer confirmed its inputs: two one-way trips, and under
        // loss a repair on either, each a frame late (a tick per started 10% of loss).
        let inputDelay =
            self.inputDelay
            ?? min(
                32,
                Self.delay(forOneWay: (latency + jitter) * 2 + .milliseconds(8), tickRate: tickRate)
                    + Int((loss * 10).rounded(.up)))
        let config = LockstepConfiguration(players: players)
            .withTickRate(tickRate).withInputDelay(inputDelay).withChecksumInterval(checksumInterval)
            .withDisconnectTimeout(disconnectTimeout).withDisconnectNotify(min(.milliseconds(500), disconnectTimeout))
            .withOpenSlots(openSlots).withPromptReports(promptReports)
        try config.validate()
        // One program starts every player: the roster's keys are known before the start.
        let descriptor = SessionDescriptor(name: "bots", keys: keys.prefix(players).map(\.bytes), configuration: config, gameSeed: seed)
        var endpoints = try (0..<nodes).map { i in
            let identity = identities[i]
            return try SessionEndpoint<Game.Input>(
                configuration: config, role: i < players ? .player(i) : .spectator, localKey: keys[i], roster: .known(descriptor),
                signer: i < players ? { @Sendable bytes in identity.sign(bytes) } : nil, autoInputDelay: autoInputDelay && i < players)
        }
        let attackerSlot = attack.map { _ in players - 1 }
        var adversary: LockstepAdversary<Game.Input>? = try attack.map { kind in
            let identity = identities[players - 1]
            return LockstepAdversary(
                attack: kind, slot: players - 1,
                keys: try SessionKeys(descriptor: descriptor, signer: { @Sendable bytes in identity.sign(bytes) }))
        }
        var drivers = (0..<nodes).map { p in
            LockstepDriver(game: Game(players: players, seed: seed), checksumInterval: checksumInterval, answers: p < players)
        }
        var submittedAt: [[Int: MeshTime]] = Array(repeating: [:], count: players)  // [slot][tick]
        var confirmedAt: [[Int: MeshTime]] = Array(repeating: [:], count: nodes)
        // The tick each peer resumed from (0: it played from the start).
        var resumedFrom = Array(repeating: 0, count: nodes)
        var checksums: [Int: [UInt64?]] = [:]
        var desyncEvents: [DesyncReport] = []
        var haltedAt: [Int: (tick: Int, reason: String)] = [:]
        var named = Set<Int>()  // honest peers that named the attacker
        var accused = Set<Int>()  // honest slots an honest peer named
        var sessionErrors: [String] = []  // what the endpoints reported (a bot process exits on one)
        var crashed = Set<Int>()
        var rejoined = Set<Int>()
        var recordings = (0..<players).map { _ in Replay<Game.Input>(players: players, seed: seed) }
        let debug = ProcessInfo.processInfo.environment["MESHSTEP_DEBUG"] != nil
        func print(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }  // unbuffered

        var snapshots: [[Int: [UInt8]]] = Array(repeating: [:], count: nodes)
        let dumpDirectory = desyncDumpDirectory
        var delayChanges: [[InputDelayChangeReport]] = Array(repeating: [], count: players)
        func note(_ events: [LockstepEvent], by peer: Int) {
            for e in events {
                if debug { print("[\(sim.now)] peer \(peer) tick \(applied(peer)): \(e)") }
                switch e {
                case let .desync(tick, slots, _):
                    desyncEvents.append(DesyncReport(reporter: peer, tick: tick, slots: slots))
                    if let dir = dumpDirectory, let state = snapshots[peer][tick] {
                        let name = peer < players ? "slot\(peer)" : "spectator\(peer - players)"
                        try? Data(state).write(to: URL(fileURLWithPath: dir).appendingPathComponent("desync-tick\(tick)-\(name).state"))
                    }
                case let .halted(reason): haltedAt[peer] = (applied(peer), reason.description)
                case let .inputDelayChanged(delay, tick) where peer < players:
                    delayChanges[peer].append(InputDelayChangeReport(after_tick: tick, delay: delay))
                case let .violation(slot, _) where slot == attackerSlot: named.insert(peer)
                case let .forgedInput(_, from) where from == attackerSlot: named.insert(peer)
                case let .equivocation(slot, _) where slot == attackerSlot: named.insert(peer)
                // Once its match is over, a peer the run drives only by its wake-ups (one that
                // waits for nothing sends nothing) can look silent to those still waiting for
                // its acknowledgements: what is named after the accuser's last tick is left out.
                case let .violation(slot, _) where peer != attackerSlot, let .equivocation(slot, _) where peer != attackerSlot:
                    if drivers[peer].ticksApplied < ticks { accused.insert(slot) }
                default: break
                }
            }
        }
        let bytesBefore = (0..<players).reduce(0) { $0 + (sim.stats(of: $1)?.bytesSent ?? 0) }
        var t0 = sim.now
        func clock(_ at: MeshTime) -> Duration { at - .zero }
        var wakeups: [MeshTime?] = Array(repeating: nil, count: nodes)

        func broadcast(_ p: Int, _ payload: [UInt8], to slots: [Int]?) {
            sim.withNode(p) { mesh, now in
                do {
                    guard let slots else { return try mesh.broadcast(payload, now: now).actions }
                    var actions: [MeshAction] = []
                    for s in slots { actions += try mesh.send(payload, to: keys[s], now: now).actions }
                    return actions
                } catch {
                    if debug { print("peer \(p): send failed: \(error)") }
                    return []
                }
            }
        }
        var sentByType: [UInt8: (count: Int, bytes: Int)] = [:]
        /// A lockstep message: flooded, or over the links to `direct` only; the attacker's
        /// frames go through its adversary either way.
        func sendFrame(_ p: Int, _ payload: [UInt8], direct peers: [PeerKey]?) {
            if debug { let t = payload.first ?? 0; sentByType[t, default: (0, 0)].count += 1; sentByType[t]!.bytes += payload.count }
            if p == attackerSlot, adversary != nil {
                for out in adversary!.tamper(payload) { broadcast(p, out.payload, to: out.slots) }
            } else if let peers {
                sim.withNode(p) { mesh, now in (try? mesh.sendDirect(payload, to: peers, now: now)) ?? [] }
            } else {
                broadcast(p, payload, to: nil)
            }
        }
        func perform(_ p: Int, _ actions: [SessionAction]) {
            for action in actions {
                switch action {
                case let .broadcast(payload): sendFrame(p, payload, direct: nil)
                case let .direct(payload, to: peers): sendFrame(p, payload, direct: peers)
                case let .protect(peers):
                    sim.withNode(p) { mesh, _ in
                        mesh.protect(peers); return []
                    }
                case let .unprotect(peers):
                    sim.withNode(p) { mesh, _ in
                        mesh.unprotect(peers); return []
                    }
                case let .send(payload, to: key):
                    if debug { let t = 100 + (payload.first ?? 0); sentByType[t, default: (0, 0)].count += 1; sentByType[t]!.bytes += payload.count }
                    sim.withNode(p) { mesh, now in (try? mesh.send(payload, to: key, now: now).actions) ?? [] }
                }
            }
            scheduleWakeup(p)
        }
        func drain(_ p: Int, at: MeshTime) {
            if let resumed = endpoints[p].takeResumedGame() {
                resumedFrom[p] = resumed.tick
                do {
                    drivers[p] = try LockstepDriver(resuming: resumed, checksumInterval: checksumInterval, answers: p < players)
                } catch {
                    print("peer \(p): \(error)")
                }
            }
            let ready = endpoints[p].pollReady()
            for r in ready { confirmedAt[p][r.tick] = at }
            drivers[p].receive(ready)
            note(endpoints[p].takeEvents(), by: p)
            for e in endpoints[p].takeErrors() { sessionErrors.append("peer \(p): \(e)") }
            if haltedAt[p] != nil, p == attackerSlot ? attackerRejoins : rejoinWhenHalted, let actions = try? endpoints[p].rejoin(now: clock(at)) {
                // Its game is replaced by the checkpoint it resumes from; until then it applies
                // nothing.
                haltedAt[p] = nil
                rejoined.insert(p)
                perform(p, actions)
            }
        }
        func scheduleWakeup(_ p: Int) {
            guard let due = endpoints[p].nextWakeupInPlace() else { return }
            let at = MeshTime.zero + due
            guard wakeups[p].map({ at < $0 }) ?? true else { return }
            wakeups[p] = at
            sim.at(max(at, sim.now)) { sim in
                guard wakeups[p] == at else { return }
                wakeups[p] = nil
                guard !crashed.contains(p), !sim.isPaused(p) else { return }
                perform(p, endpoints[p].tick(now: clock(sim.now)))
                drain(p, at: sim.now)
            }
        }
        sim.observer.delivered = { node, message, at in
            guard !crashed.contains(node) else { return }
            perform(node, endpoints[node].receive(message.payload, from: message.origin, now: clock(at)))
            drain(node, at: at)
        }
        if debug {
            sim.observer.event = { node, event, at in
                if case .neighborDown = event { print("\(at) node \(node): \(event)") }
            }
        }

        // The lobby: every player signs the roster; the match starts when every endpoint holds
        // every signature (at most 10 virtual seconds).
        let frame = Duration.nanoseconds(1_000_000_000 / Int64(tickRate))
        var rttRefreshed = Array(repeating: MeshTime?.none, count: nodes)
        var linkCounts = Array(repeating: 0, count: nodes)
        func timers(_ p: Int) {
            // Link round trips change at the keepalive pace: refreshed every quarter second, and
            // at once when the number of links changed (a player's frames go direct only while
            // its links are exactly the other players).
            let linkCount = sim.neighborCount(of: p)
            if rttRefreshed[p].map({ sim.now - $0 >= .milliseconds(250) }) ?? true || linkCount != linkCounts[p] {
                rttRefreshed[p] = sim.now
                linkCounts[p] = linkCount
                endpoints[p].links(sim.neighborInfo(of: p).map { ($0.peer, $0.rtt) })
            }
            perform(p, endpoints[p].tick(now: clock(sim.now)))
            drain(p, at: sim.now)
        }
        let lobbyDeadline = sim.now + .seconds(10)
        func arrived(_ p: Int) -> Bool { !vacant.contains(p) || joinedLate.contains(p) }
        while !endpoints.indices.allSatisfy({ lateNodes.contains($0) || vacant.contains($0) || endpoints[$0].started }), sim.now < lobbyDeadline {
            for p in 0..<nodes where !lateNodes.contains(p) && arrived(p) { timers(p) }
            sim.run(for: frame)
        }
        t0 = sim.now
        let bytesAtStart = (0..<players).map { sim.stats(of: $0)?.bytesSent ?? 0 }
        if debug { print("[\(sim.now)] lobby over: \(endpoints.filter(\.started).count) of \(nodes) started") }

        // The game loop of each peer, at `tickRate` frames per second. A frame applies every tick
        // that is complete up to the one due now; the local input for tick t + inputDelay is read
        // when tick t is applied (so a peer that waits also delays its own next inputs, as a real
        // lockstep client does). A frame that is due a tick but cannot apply any is a stall.
        var stallFrames = 0
        var currentStall = Array(repeating: 0, count: nodes)
        var longestStall = 0
        var finishedAt = Array(repeating: MeshTime?.none, count: nodes)
        var finishBytes: [Int: Int] = [:]
        var stalledUntil: [Int: MeshTime] = [:]
        // A player that applied the last tick goes on sending as `finish(timeout:)` does: until
        // the others hold its newest input (then 3 frames more) or for 3 s at most.
        var finishing = Set<Int>()
        var settledAt: [Int: MeshTime] = [:]
        let maxFrames = ticks + 40 * tickRate
        func applied(_ p: Int) -> Int { drivers[p].ticksApplied }
        func done(_ p: Int) -> Bool {
            applied(p) >= ticks || crashed.contains(p) || endpoints[p].halted != nil || (vacant.contains(p) && !lateJoins.contains { $0.slot == p })
        }
        func record(_ p: Int, _ r: AppliedTick<Game.Input>, at now: MeshTime) {
            let c = r.checksum
            if p < players, !rejoined.contains(p) { recordings[p].record(r.inputs, checksum: c) }
            if let c {
                if dumpDirectory != nil {
                    snapshots[p][r.tick] = drivers[p].game.snapshot()
                    snapshots[p] = snapshots[p].filter { $0.key > r.tick - 20 * checksumInterval }
                }
                checksums[r.tick, default: Array(repeating: nil, count: nodes)][p] = c
            }
            if let bug = desyncInjection, bug.slot == p, bug.tick == r.tick { perturb(&drivers[p].game) }
            if drivers[p].ticksApplied == ticks {
                finishedAt[p] = now
                if p < players { finishing.insert(p) }
                if p < players { finishBytes[p] = sim.stats(of: p)?.bytesSent }
            }
        }
        // Frame k of the match is due at t0 + k frames; `--crash`, `--partition` and `--stall`
        // are keyed by game tick, so they fire when the lowest live player applies that tick.
        var crashesLeft = crashes, stallsLeft = stalls, rejoinsLeft = rejoins, lateJoinsLeft = lateJoins
        var lateArrived = false
        var uploadAtArrival: (at: MeshTime, bytes: [Int])?
        var partitionStarted = false, partitionHealed = false
        func leadTick() -> Int { (0..<players).filter { !crashed.contains($0) && endpoints[$0].halted == nil }.map(applied).max() ?? 0 }
        for k in 0..<maxFrames {
            sim.at(t0 + frame * k) { sim in
                let lead = leadTick()
                // A newcomer crashes only once it arrived (an open slot's node starts then).
                for c in crashesLeft where c.tick <= lead && !crashed.contains(c.slot) && (!vacant.contains(c.slot) || joinedLate.contains(c.slot)) {
                    crashed.insert(c.slot)
                    sim.crash(c.slot)
                }
                crashesLeft.removeAll { crashed.contains($0.slot) }
                for r in rejoinsLeft where r.tick <= lead && crashed.contains(r.slot) {
                    // The same process identity comes back; it finds the match running and
                    // resumes from a checkpoint the others take for it.
                    do {
                        try sim.restart(r.slot, keepingIdentity: true)
                        let identity = identities[r.slot]
                        endpoints[r.slot] = try SessionEndpoint<Game.Input>(
                            configuration: config, role: .player(r.slot), localKey: keys[r.slot], roster: .known(descriptor),
                            signer: { @Sendable bytes in identity.sign(bytes) }, autoInputDelay: autoInputDelay)
                    } catch {
                        print("slot \(r.slot) cannot come back: \(error)")
                        continue
                    }
                    drivers[r.slot] = LockstepDriver(game: Game(players: players, seed: seed), checksumInterval: checksumInterval, answers: true)
                    crashed.remove(r.slot)
                    rejoined.insert(r.slot)
                    let others = (0..<players).filter { $0 != r.slot }
                    sim.withNode(r.slot) { mesh, now in
                        mesh.protect(others.map { keys[$0] } + [keys[r.slot]])
                        return mesh.addCandidates(others.map(referral), now: now)
                    }
                }
                rejoinsLeft.removeAll { rejoined.contains($0.slot) }
                for j in lateJoinsLeft where j.tick <= lead {
                    // A newcomer with a key of its own arrives for an open slot: it asks the
                    // players to admit it, and resumes from the checkpoint they take for it.
                    joinedLate.insert(j.slot)
                    sim.start(j.slot)
                    let others = starters
                    sim.withNode(j.slot) { mesh, now in
                        mesh.protect(others.map { keys[$0] } + [keys[j.slot]])
                        return mesh.addCandidates(others.map(referral), now: now)
                    }
                }
                lateJoinsLeft.removeAll { joinedLate.contains($0.slot) }
                if let l = lateSpectators, !lateArrived, lead >= l.tick {
                    lateArrived = true
                    uploadAtArrival = (sim.now, (0..<players).map { sim.stats(of: $0)?.bytesSent ?? 0 })
                    if debug { print("[\(sim.now)] late spectators arrive; node 0 stats: \(String(describing: sim.stats(of: 0)))") }
                    for i in lateNodes {
                        sim.start(i)
                        // A late spectator knows a couple of players and a handful of spectators
                        // that are already there, or arrive with it.
                        var picks = [Int(rng.next() % UInt64(players)), Int(rng.next() % UInt64(players))]
                        for _ in 0..<6 { picks.append(players + Int(rng.next() % UInt64(spectators + late))) }
                        let unique = Array(Set(picks.filter { $0 != i })).sorted()
                        sim.withNode(i) { mesh, now in mesh.addCandidates(unique.map(referral), now: now) }
                    }
                }
                for st in stallsLeft where st.tick <= applied(st.slot) {
                    stalledUntil[st.slot] = sim.now + st.duration
                    sim.pause(st.slot, until: sim.now + st.duration)
                }
                stallsLeft.removeAll { stalledUntil[$0.slot] != nil }
                if let part = partition {
                    if !partitionStarted, lead >= part.start {
                        partitionStarted = true
                        sim.partition([part.slots, (0..<nodes).filter { !part.slots.contains($0) }])
                    }
                    if partitionStarted, !partitionHealed, lead >= part.heal {
                        partitionHealed = true
                        sim.heal()
                    }
                }
                for p in 0..<nodes where !done(p) && (!lateNodes.contains(p) || lateArrived) && arrived(p) {
                    if let until = stalledUntil[p], sim.now < until { continue }  // frozen: nothing runs
                    timers(p)
                    if endpoints[p].joining, !endpoints[p].started { continue }  // fetching its checkpoint
                    var progressed = false
                    // The bot's answer is its input for the tick `inputDelay` ahead, flooded at once.
                    while applied(p) <= k, applied(p) < ticks, endpoints[p].halted == nil,
                        let r = drivers[p].applyNext(answer: { game, tick in policy(p, game, tick) })
                    {
                        record(p, r, at: sim.now)
                        progressed = true
                        perform(p, endpoints[p].apply(r, game: drivers[p].game, now: clock(sim.now)))
                        // By the tick the session gave the input: the input delay can change.
                        if p < players { for (t, _) in endpoints[p].takeSubmitTimes() { submittedAt[p][t] = sim.now } }
                        drain(p, at: sim.now)
                    }
                    if applied(p) <= k, applied(p) < ticks, !progressed, endpoints[p].halted == nil {
                        if p < players { stallFrames += 1 }
                        currentStall[p] += 1
                        if p < players, stalledUntil[p] == nil { longestStall = max(longestStall, currentStall[p]) }
                    } else {
                        currentStall[p] = 0
                    }
                }
                // A peer standing still (finished, or waiting for a player) hands its game to a
                // checkpoint its session captured where it stands, for a late newcomer. A bot
                // that finished the match stopped short of the rows its session holds past the
                // end (its inputs ran the input delay ahead); a game loop that goes on (as
                // `LockstepMatch`'s does) applies them: a copy of its game does here, answering
                // nothing.
                for p in 0..<nodes where arrived(p) && !crashed.contains(p) && applied(p) > 0 && endpoints[p].halted == nil {
                    if let until = stalledUntil[p], sim.now < until { continue }
                    guard let wanted = endpoints[p].checkpointTicksWanted.max(), wanted == applied(p) - 1 || (applied(p) >= ticks && wanted >= ticks)
                    else { continue }
                    var driver = drivers[p]
                    while driver.ticksApplied <= wanted, driver.applyNext(answer: { game, tick in policy(p, game, tick) }) != nil {}
                    guard driver.ticksApplied == wanted + 1 else { continue }
                    perform(
                        p, endpoints[p].holdCheckpoint(after: wanted, game: driver.game.snapshot(), checksum: driver.game.checksum(), now: clock(sim.now)))
                }
                for p in finishing.sorted() {
                    guard !crashed.contains(p), endpoints[p].halted == nil, let finished = finishedAt[p] else {
                        finishing.remove(p)
                        continue
                    }
                    if let until = stalledUntil[p], sim.now < until { continue }
                    timers(p)
                    if settledAt[p] == nil, endpoints[p].finishProgress() != .waiting { settledAt[p] = sim.now }
                    if sim.now - finished >= .seconds(3) || settledAt[p].map({ sim.now - $0 >= frame * 3 }) == true { finishing.remove(p) }
                }
            }
        }
        var end = t0 + frame * maxFrames
        var t = t0
        while t < end {
            t = min(end, t + .seconds(1))
            sim.run(until: t)
            if debug { print("[\(sim.now)] applied \((0..<nodes).map(applied)) started \(endpoints.map(\.started)) events \(sim.eventsProcessed)") }
            if (0..<nodes).allSatisfy(done) { end = t; break }
        }

        if debug {
            print("payloads flooded by type (100 + type: sent to one peer): \(sentByType.sorted { $0.key < $1.key })")
            for p in 0..<nodes where applied(p) < ticks && arrived(p) {
                let s = endpoints[p].session
                print(
                    "peer \(p) stuck at \(applied(p)): next \(s?.nextTick ?? -1) held \((0..<players).map { s?.heldInputs(of: $0) ?? -9 }) agreed \(s?.agreedThrough ?? -9) freeze \(s?.freezeLimit ?? -9) neighbors \(sim.neighborCount(of: p))"
                )
                print("  roster: \(s?.rosterDebugDescription ?? "-")")
                print("  join: \(endpoints[p].joinDebugDescription)")
            }
            for p in 0..<players { print("peer \(p) join: \(endpoints[p].joinDebugDescription)") }
            for i in [0, 1, players] where i < nodes {
                print("node \(i) stats: \(String(describing: sim.stats(of: i))) neighbors \(sim.neighborCount(of: i))")
            }
        }
        let sessions = endpoints.map(\.session)
        // A player readmitted to play only after the match's last tick (its absence, as the
        // roster has it, lasts past the end) holds no input in the match's last rows: like a
        // dropped one, it is no survivor of this match, even if it catches up no further.
        func returnsAfterTheEnd(_ p: Int) -> Bool { (sessions[p]?.absences[p]?.upperBound ?? 0) >= ticks }
        let survivors = (0..<players).filter { !crashed.contains($0) && endpoints[$0].halted == nil && sessions[$0] != nil && !returnsAfterTheEnd($0) }
        let honest = (0..<players).filter { $0 != attackerSlot }
        let honestSurvivors = survivors.filter { $0 != attackerSlot }
        // The liar's own view of the roster is its business: agreement is among honest peers. A
        // spectator that holds no session (it never resumed, or it started over and found no
        // checkpoint: the players had stopped) has no roster to compare.
        let watchers = survivors.filter { $0 != attackerSlot } + (players..<nodes).filter { sessions[$0] != nil }
        // Input latency: submit of (slot, tick) until the last surviving peer confirmed it.
        var latencies = LatencyHistogram()
        var lost = 0
        // A player that rejoined confirmed nothing before its checkpoint: latencies are measured
        // among the players that stayed.
        let steady = survivors.filter { !rejoined.contains($0) && !joinedLate.contains($0) }
        for s in steady {
            for (tick, at) in submittedAt[s] where tick < ticks {
                let confirmations = steady.compactMap { confirmedAt[$0][tick] }
                if confirmations.count < steady.count { lost += 1; continue }
                latencies.record(confirmations.max()! - at)
            }
        }
        func pct(_ p: Double) -> Double { latencies.milliseconds(atPercentile: p * 100) }
        // Nothing diverged: any two peers that computed a checksum for a tick while in the roster
        // computed the same. A player dropped while cut off (or stalled) may apply a few ticks
        // past its drop tick before the certificate reaches it; it halts then, and those ticks
        // are not part of the game.
        let ownDrop = (0..<nodes).map { p -> Int? in
            guard p < players else { return nil }
            return sessions[p]?.roster.dropTicks[p] ?? endpoints.compactMap({ $0.session?.roster.dropTicks[p] }).first
        }
        func inRoster(_ p: Int, _ tick: Int) -> Bool { ownDrop[p].map { tick < $0 } ?? true }
        let agree = checksums.allSatisfy { tick, row in Set(row.indices.compactMap { inRoster($0, tick) ? row[$0] : nil }).count <= 1 }
        let honestPeers = honest + Array(players..<nodes)
        let honestAgree = checksums.allSatisfy { tick, row in Set(honestPeers.compactMap { inRoster($0, tick) ? row[$0] : nil }).count <= 1 }
        let bytes = (0..<players).reduce(0) { $0 + (sim.stats(of: $1)?.bytesSent ?? 0) } - bytesBefore
        let dropViews = watchers.map { p in
            (sessions[p]?.roster.drops ?? []).map { DropReport(slot: $0.slot, tick: $0.tick) }
        }
        // The drops a group of watchers applied agree when they cut the same ticks out of the
        // ticks they all applied, from the latest resume on: a drop at or past what the slowest
        // applied may not have reached it yet, a readmission whose return lies beyond that counts
        // as the drop it ends (a match can end while its certificate is still on the way to
        // some), and a newcomer knows no tick before its checkpoint. The players are compared
        // among themselves too, so that a spectator left behind hides none of their drops.
        func dropsAgree(_ group: [Int]) -> Bool {
            let horizon = group.map(applied).min() ?? 0
            let from = group.map { resumedFrom[$0] }.max() ?? 0
            // Each peer's view: for every slot without input from some tick through the horizon,
            // that tick. A drop, a vacant open slot (no input from the start) and an absence
            // (an admission's, lasting past the horizon) all leave a slot without input, and
            // one peer may hold as an absence then a drop what another holds as one longer
            // absence (sweep seed 99 run 1178: a spectator resumed from a checkpoint inside the
            // absence): the runs of ticks without input are compared, not their names.
            let views = group.map { p in
                var silent: [Int: [Range<Int>]] = [:]
                for d in sessions[p]?.roster.drops ?? [] where d.tick < horizon { silent[d.slot, default: []].append(d.tick..<horizon) }
                for slot in sessions[p]?.roster.vacantOpenSlots ?? [] { silent[slot, default: []].append(0..<horizon) }
                for (slot, range) in (sessions[p]?.absences ?? []).enumerated() {
                    if let range { silent[slot, default: []].append(range.lowerBound..<max(range.lowerBound, min(range.upperBound, horizon))) }
                }
                var view: [DropReport] = []
                for (slot, ranges) in silent {
                    // The run of ticks without input that reaches the horizon, merged from the end.
                    var start = horizon
                    for r in ranges.sorted(by: { $0.upperBound > $1.upperBound }) where r.upperBound >= start && r.lowerBound < start {
                        start = r.lowerBound
                    }
                    if start < horizon, max(start, from) < horizon { view.append(DropReport(slot: slot, tick: max(start, from))) }
                }
                return view.sorted { ($0.slot, $0.tick) < ($1.slot, $1.tick) }
            }
            if debug, Set(views).count > 1 { print("drops disagree among \(group) (horizon \(horizon), from \(from)): \(views)") }
            return Set(views).count <= 1
        }
        let recorder = steady.first ?? survivors.first ?? 0
        if let recordPath {
            try Data(recordings[recorder].encode()).write(to: URL(fileURLWithPath: recordPath))
        }
        let playerStats = sessions[recorder]?.stats.players.map(PlayerStatsReport.init) ?? []
        let reportedSurvivors = attackerSlot == nil ? survivors : honestSurvivors
        let survivorTicks = reportedSurvivors.map(applied).min() ?? 0
        let lastFinish = reportedSurvivors.compactMap { finishedAt[$0] }.max() ?? end
        // A player stalled past the disconnect timeout may rightly be dropped, and so may one
        // stalled nearly as long (``mayDrop(_:)``) if it was: neither is counted among the honest
        // players that must survive.
        let droppedSlots = Set(dropViews.flatMap { $0.map(\.slot) })
        let excused = Set(crashes.map(\.slot) + stalls.filter { excuses($0, dropped: droppedSlots) }.map(\.slot))
        // A player that applied every tick finished its match: one the others drop after that
        // (it stops sending once done, while they still catch up) lost nothing.
        let mustSurvive = honest.filter { !excused.contains($0) && applied($0) < ticks }
        var report = BotsReport(
            players: players, spectators: spectators, ticks: ticks, seed: seed,
            input_delay: autoInputDelay ? survivors.first.flatMap { sessions[$0]?.inputDelay } ?? inputDelay : inputDelay,
            ticks_completed: survivorTicks,
            spectator_ticks_completed: (players..<nodes).map(applied).min() ?? 0,
            checksums_agree: agree && !checksums.isEmpty, checked_ticks: checksums.count,
            desyncs: desyncEvents.count, desync_events: Array(desyncEvents.prefix(64)),
            drops: dropViews.first ?? [], drops_agree: dropsAgree(watchers) && dropsAgree(watchers.filter { $0 < players }),
            halted: haltedAt.keys.sorted().map { HaltReport(slot: $0, tick: haltedAt[$0]!.tick, reason: haltedAt[$0]!.reason) },
            crashed: crashed.sorted(),
            input_latency_ms_p50: pct(0.5), input_latency_ms_p99: pct(0.99),
            stall_ticks: stallFrames, longest_stall_ms: Double(longestStall) * frame.milliseconds,
            bytes_per_input_per_peer: Double(bytes) / Double(max(1, ticks * players * (players - 1))),
            inputs_lost: lost,
            attacker: attackerSlot,
            attacker_named: attackerSlot.map { _ in honestSurvivors.allSatisfy(named.contains) && !honestSurvivors.isEmpty },
            honest_checksums_agree: honestAgree && !checksums.isEmpty,
            honest_dropped: mustSurvive.filter(droppedSlots.contains),
            honest_halted: mustSurvive.filter { haltedAt[$0] != nil },
            stalled: stalls.map(\.slot).sorted(),
            ticks_per_second: Double(survivorTicks) / max(0.001, (lastFinish - t0).milliseconds / 1000),
            player_stats: playerStats,
            virtual_seconds: (end - .zero).milliseconds / 1000,
            wall_seconds: Double((ContinuousClock.now - started).milliseconds) / 1000)
        report.input_delay_changes = survivors.first.map { delayChanges[$0] } ?? []
        let admissions = watchers.first.flatMap { sessions[$0]?.roster.readmissions } ?? []
        report.honest_accused = accused.sorted()
        report.session_errors = sessionErrors
        report.rejoins = admissions.filter { $0.key == nil }.map { RejoinReport(slot: $0.slot, tick: $0.tick, checkpoint: $0.checkpoint) }
        report.late_joins = admissions.filter { $0.key != nil }.map { RejoinReport(slot: $0.slot, tick: $0.tick, checkpoint: $0.checkpoint) }
        report.open_slots = openSlots.sorted()
        report.snapshot_bytes = (0..<nodes).reduce(0) { $0 + endpoints[$1].transferStats.bytesReceived }
        report.spectators_live_at_end = (players..<nodes).filter { applied($0) >= ticks }.count
        report.late_spectators = late
        if let arrival = uploadAtArrival {
            let before = (arrival.at - t0).milliseconds / 1000
            report.player_upload_ratios = (0..<players).map { p in
                let after = ((finishedAt[p] ?? lastFinish) - arrival.at).milliseconds / 1000
                let b = Double(arrival.bytes[p] - bytesAtStart[p]) / max(0.001, before)
                let a = Double((finishBytes[p] ?? sim.stats(of: p)?.bytesSent ?? 0) - arrival.bytes[p]) / max(0.001, after)
                return (a / max(1, b) * 1000).rounded() / 1000
            }
        }
        return report
    }
}
