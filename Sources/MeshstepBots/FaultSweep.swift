import Foundation
import MeshstepLockstep
import MeshstepMesh
import MeshstepSimulation

/// A seeded sweep of bot matches over the simulated mesh, each with randomly drawn players, loss,
/// latency, jitter, duplication, a crash (and the crashed player's rejoin, and a second crash
/// after it), a partition, a stall, a lying player and an open slot (and the newcomer that fills
/// it mid-match or in the lobby, which may crash), prompt reports and the automatic input
/// delay, judged for safety (nothing honest diverged) and liveness (no
/// healthy honest player lost).
public struct FaultSweep: Sendable {
    /// Matches in the sweep, numbered 0..<runs.
    public var runs: Int
    /// The sweep's seed: each run's faults and its own seed derive from it and the run's index.
    public var seed: UInt64
    /// Length of every match in ticks; at least 120 (``run(shard:from:progress:)`` refuses less),
    /// since crashes and stalls are drawn between tick 30 and 30 ticks before the end.
    public var ticks: Int
    /// Attacks drawn for the lying player.
    public var attacks: [SessionAttack] = SessionAttack.allCases

    /// A sweep of `runs` matches of `ticks` ticks each (480 by default: 8 s at 60 Hz).
    public init(runs: Int, seed: UInt64, ticks: Int = 480) {
        self.runs = runs
        self.seed = seed
        self.ticks = ticks
    }

    /// One run's drawn faults and its verdict.
    public struct Run: Codable, Sendable, Equatable {
        /// The run's index in the sweep (0..<``FaultSweep/runs``).
        public var index: Int
        /// The match's own seed (`--seed`), drawn from the sweep's seed.
        public var seed: UInt64
        /// Players in the match, 2...8.
        public var players: Int
        /// Probability that a datagram is lost on every link, 0...0.30 in steps of 0.01.
        public var loss: Double
        /// One-way base latency of every link in milliseconds, 5...120.
        public var latency_ms: Int
        /// Jitter of every link in milliseconds, 0...30: each datagram waits up to this much
        /// longer.
        public var jitter_ms: Int
        /// Probability that a datagram is delivered twice: 0, or in about one run out of five
        /// 0...0.10 in steps of 0.01.
        public var duplicate: Double
        /// The crashed player as `SLOT@TICK` (`--crash`), or null.
        public var crash: String?
        /// The crashed player coming back as `SLOT@TICK` (`--rejoin`), or null.
        public var rejoin: String?
        /// Another player crashed after the rejoin, as `SLOT@TICK` (a second `--crash`), or null:
        /// while the returning player waits for its checkpoint, or after it resumed.
        public var second_crash: String?
        /// The partition as `START:SLOTS:HEAL` in ticks (`--partition`), or null.
        public var partition: String?
        /// The stalled player as `SLOT@TICK:MS` (`--stall`), or null.
        public var stall: String?
        /// The attack the highest slot makes (`--attacker`), or null for an honest match.
        public var attacker: String?
        /// A slot the match starts without (`--open-slots`), or null.
        public var open_slot: Int?
        /// The newcomer filling the open slot as `SLOT@TICK` (`--late-join`), or null: the slot
        /// then stays empty all match.
        public var late_join: String?
        /// The newcomer crashing as `SLOT@TICK` (a `--crash` of its slot), or null.
        public var newcomer_crash: String?
        /// Spectators following the match: `N` from the start (`--spectators`), or `N@TICK`
        /// arriving mid-match (`--late-spectators`), or null.
        public var spectators: String?
        /// Whether an honest peer whose session halts starts over in the same process and asks
        /// to come back (`--rejoin-when-halted`): in half the runs with a stall or a partition.
        public var rejoin_when_halted: Bool? = nil
        /// Whether the liar starts over when it is voted out, and asks to come back with its
        /// key (`--attacker-rejoins`): in half the runs with a liar.
        public var attacker_rejoins: Bool? = nil
        /// Whether the players report each row at once in a frame of its own
        /// (`--prompt-reports`): in a sixth of the runs.
        public var prompt_reports: Bool? = nil
        /// Whether the lowest slot chooses the input delay from what it measured
        /// (`--auto-input-delay`): in a sixth of the runs.
        public var auto_input_delay: Bool? = nil
        /// `ok`, `safety` (something honest diverged) or `liveness` (a healthy honest player was
        /// dropped or halted, or the survivors did not finish).
        public var verdict: String
        /// Why, when the verdict is not `ok`.
        public var causes: [String]
        /// The command that reproduces this run.
        public var command: String
        /// Honest players an honest peer named in this run (``BotsReport/honest_accused``).
        public var honest_accused: [Int] = []
    }

    /// The totals of a sweep, or of the shard of it that ran. Field names are the JSON keys.
    public struct Summary: Codable, Sendable, Equatable {
        /// Matches that ran (in this shard, from the starting index on).
        public var runs: Int
        /// The sweep's seed.
        public var seed: UInt64
        /// Runs with the verdict `ok`.
        public var ok: Int
        /// Runs with the verdict `safety`: something honest diverged.
        public var safety_violations: Int
        /// Runs with the verdict `liveness`.
        public var liveness_losses: Int
        /// Liveness losses by cause.
        public var liveness_causes: [String: Int]
        /// Every run with a safety violation, in full, to reproduce it.
        public var safety_runs: [Run]
        /// Real time the sweep took, in seconds.
        public var wall_seconds: Double
        /// Runs with each drawn fault or feature: `liar`, `liar_starts_over`,
        /// `halted_players_start_over`, `partition`, `stall`, `crash`, `spectators`,
        /// `prompt_reports`, `auto_input_delay`, `lobby_newcomer`.
        public var drawn: [String: Int] = [:]
        /// Runs in which an honest peer named an honest player (``BotsReport/honest_accused``):
        /// no verdict by itself, but only the liar should be named.
        public var honest_accused_runs: Int = 0
    }

    /// Draws run `index`'s scenario (the same for the same sweep seed and index).
    public func scenario(_ index: Int) -> (BotsScenario, Run) {
        var rng = DeterministicRNG(seed: seed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
        func pick(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
        func chance(_ p: Double) -> Bool { Double(rng.next() % 10_000) / 10_000 < p }
        // A draw from a stream of its own (named by `salt`), so that adding it leaves every
        // other draw of the run as it was: true in one run out of `n`.
        func alone(_ salt: UInt64, oneIn n: UInt64) -> Bool {
            var own = DeterministicRNG(seed: runSeed ^ salt)
            return own.next() % n == 0
        }
        let players = 2 + pick(7)
        let loss = Double(pick(31)) / 100
        let latency = 5 + pick(116), jitter = pick(31)
        let duplicate = chance(0.2) ? Double(pick(11)) / 100 : 0
        let runSeed = rng.next()
        var s = BotsScenario(players: players, ticks: ticks, loss: loss, latency: .milliseconds(latency), jitter: .milliseconds(jitter), seed: runSeed)
        s.duplicate = duplicate
        var run = Run(
            index: index, seed: runSeed, players: players, loss: loss, latency_ms: latency, jitter_ms: jitter, duplicate: duplicate,
            crash: nil, rejoin: nil, second_crash: nil, partition: nil, stall: nil, attacker: nil, open_slot: nil, late_join: nil, newcomer_crash: nil,
            spectators: nil, verdict: "ok", causes: [],
            command: "")
        var flags = "--players \(players) --ticks \(ticks) --loss \(loss) --latency \(latency) --jitter \(jitter) --seed \(runSeed)"
        if duplicate > 0 { flags += " --duplicate \(duplicate)" }
        let attacker = players >= 3 && chance(0.2) ? attacks.isEmpty ? nil : attacks[pick(attacks.count)] : nil
        let honest = attacker == nil ? players : players - 1
        if let attacker {
            s.attack = attacker
            run.attacker = attacker.rawValue
            flags += " --attacker \(attacker.rawValue)"
        }
        if honest >= 3, chance(0.2) {
            let c = (slot: pick(honest), tick: 30 + pick(ticks - 60))
            s.crashes = [c]
            run.crash = "\(c.slot)@\(c.tick)"
            flags += " --crash \(run.crash!)"
            // Back soon after the crash (before or after its drop, which takes the disconnect
            // timeout and a round), early enough that the newcomer's checkpoint and return (a
            // second and a half after its admission) fall inside the match; then, in some runs,
            // another player crashes around that checkpoint.
            if c.tick + 30 <= ticks - 270, chance(0.5) {
                let back = c.tick + 30 + pick(ticks - 270 - (c.tick + 30) + 1)
                s.rejoins = [(slot: c.slot, tick: back)]
                run.rejoin = "\(c.slot)@\(back)"
                flags += " --rejoin \(run.rejoin!)"
                if honest >= 4, chance(0.5) {
                    var other = pick(honest - 1)
                    if other >= c.slot { other += 1 }
                    let t = back + 10 + pick(min(200, ticks - 30 - (back + 10)))
                    s.crashes.append((slot: other, tick: t))
                    run.second_crash = "\(other)@\(t)"
                    flags += " --crash \(run.second_crash!)"
                }
            }
        }
        if players >= 3, chance(0.15) {
            let size = 1 + pick(players - 1)
            var slots: [Int] = []
            while slots.count < size { let v = pick(players); if !slots.contains(v) { slots.append(v) } }
            let start = 30 + pick(ticks / 2), heal = start + 60 + pick(ticks / 2)
            s.partition = BotsPartition(start: start, slots: slots.sorted(), heal: heal)
            run.partition = "\(start):\(slots.sorted().map(String.init).joined(separator: ",")):\(heal)"
            flags += " --partition \(run.partition!)"
        }
        if chance(0.2) {
            let st = BotsStall(slot: pick(honest), tick: 30 + pick(ticks - 60), duration: .milliseconds(100 + pick(3900)))
            s.stalls = [st]
            run.stall = "\(st.slot)@\(st.tick):\(st.duration.nanosecondsClamped / 1_000_000)"
            flags += " --stall \(run.stall!)"
        }
        // An open slot among the honest players no other fault names, filled by a newcomer in
        // most such runs early enough that its checkpoint and return fall inside the match.
        let named = Set(s.crashes.map(\.slot) + s.stalls.map(\.slot))
        let candidates = (0..<honest).filter { !named.contains($0) }
        if players >= 4, !candidates.isEmpty, chance(0.2) {
            let slot = candidates[pick(candidates.count)]
            s.openSlots = [slot]
            run.open_slot = slot
            flags += " --open-slots \(slot)"
            if chance(0.8) {
                // A fifth of the newcomers arrive in the players' lobby (`SLOT@0`).
                let drawn = 1 + pick(max(1, ticks - 270))
                let tick = alone(0x6C6F_6262_79, oneIn: 5) ? 0 : drawn
                s.lateJoins = [(slot: slot, tick: tick)]
                run.late_join = "\(slot)@\(tick)"
                flags += " --late-join \(run.late_join!)"
                // In some runs the newcomer crashes: before it resumed (it is dropped at its
                // return), or after.
                if chance(0.3) {
                    let t = tick + 10 + pick(min(400, ticks - 30 - (tick + 10)))
                    s.crashes.append((slot: slot, tick: t))
                    run.newcomer_crash = "\(slot)@\(t)"
                    flags += " --crash \(run.newcomer_crash!)"
                }
            }
        }
        // Spectators in a fifth of the runs: from the start, or arriving mid-match early enough
        // to fetch a checkpoint and catch up.
        if chance(0.2) {
            let count = 1 + pick(2)
            if chance(0.5) {
                s.spectators = count
                run.spectators = "\(count)"
                flags += " --spectators \(count)"
            } else {
                let tick = 1 + pick(max(1, ticks - 270))
                s.lateSpectators = (count: count, tick: tick)
                run.spectators = "\(count)@\(tick)"
                flags += " --late-spectators \(run.spectators!)"
            }
        }
        // Honest peers that halt start over in half the runs where a stall or a partition can
        // halt one; the liar starts over in half the runs with one.
        if s.partition != nil || !s.stalls.isEmpty, alone(0x7265_6A6F_696E, oneIn: 2) {
            s.rejoinWhenHalted = true
            run.rejoin_when_halted = true
            flags += " --rejoin-when-halted"
        }
        if s.attack != nil, alone(0x6C69_6172, oneIn: 2) {
            s.attackerRejoins = true
            run.attacker_rejoins = true
            flags += " --attacker-rejoins"
        }
        // Prompt reports and the automatic input delay, each in a sixth of the runs.
        if alone(0x7072_6F6D_7074, oneIn: 6) {
            s.promptReports = true
            run.prompt_reports = true
            flags += " --prompt-reports"
        }
        if alone(0x6175_746F, oneIn: 6) {
            s.autoInputDelay = true
            run.auto_input_delay = true
            flags += " --auto-input-delay"
        }
        run.command = "meshstep bots --network sim \(flags) --json"
        return (s, run)
    }

    /// Runs every match whose index is `shard.k` modulo `shard.m`; `progress` sees each finished run.
    /// - Throws: `ScenarioSettingError` for matches shorter than 120 ticks (the
    ///   faults are drawn inside the match), or what a scenario throws.
    public func run(shard: (k: Int, m: Int) = (0, 1), from: Int = 0, progress: ((Run) -> Void)? = nil) throws -> Summary {
        guard ticks >= 120 else {
            throw ScenarioSettingError(flag: "--ticks", value: "\(ticks)", requirement: "at least 120 (faults are drawn inside the match)")
        }
        let started = ContinuousClock.now
        var ok = 0, safety: [Run] = [], liveness = 0
        var causes: [String: Int] = [:]
        var features: [String: Int] = [:], accusedRuns = 0
        for i in stride(from: shard.k, to: runs, by: shard.m) where i >= from {
            let (scenario, drawn) = scenario(i)
            var run = drawn
            for (name, present) in [
                ("liar", scenario.attack != nil), ("liar_starts_over", scenario.attackerRejoins),
                ("halted_players_start_over", scenario.rejoinWhenHalted), ("partition", scenario.partition != nil),
                ("stall", !scenario.stalls.isEmpty), ("crash", !scenario.crashes.isEmpty),
                ("spectators", scenario.spectators > 0 || scenario.lateSpectators != nil),
                ("prompt_reports", scenario.promptReports), ("auto_input_delay", scenario.autoInputDelay),
                ("lobby_newcomer", scenario.lateJoins.contains { $0.tick == 0 }),
            ] where present { features[name, default: 0] += 1 }
            let r = try scenario.run()
            if !r.honest_accused.isEmpty { accusedRuns += 1 }
            run.honest_accused = r.honest_accused
            run.causes = Self.judge(r, scenario: scenario)
            if run.causes.contains(where: { $0.hasPrefix("safety") }) {
                run.verdict = "safety"
                safety.append(run)
            } else if !run.causes.isEmpty {
                run.verdict = "liveness"
                liveness += 1
                for c in Set(run.causes) { causes[c, default: 0] += 1 }
            } else {
                ok += 1
            }
            progress?(run)
        }
        return Summary(
            runs: ok + safety.count + liveness, seed: seed, ok: ok, safety_violations: safety.count, liveness_losses: liveness,
            liveness_causes: causes, safety_runs: safety, wall_seconds: Double((ContinuousClock.now - started).milliseconds) / 1000,
            drawn: features, honest_accused_runs: accusedRuns)
    }

    /// Safety: honest peers never computed different checksums for one tick, and every survivor
    /// and spectator applied the same drops. Liveness: every honest player that was neither
    /// crashed, nor stalled past the disconnect timeout (or nearly as long, and dropped:
    /// ``BotsScenario/excuses(_:dropped:)``), nor on the minority side of a partition
    /// kept its slot and did not halt (or applied every tick first), and the survivors finished
    /// the match.
    public static func judge(_ r: BotsReport, scenario s: BotsScenario) -> [String] {
        var causes: [String] = []
        if !r.honest_checksums_agree { causes.append("safety: honest checksums differ") }
        if !r.drops_agree { causes.append("safety: survivors applied different drops") }
        let dropped = Set(r.drops.map(\.slot))
        var excused = Set(r.crashed + s.stalls.filter { s.excuses($0, dropped: dropped) }.map(\.slot))
        // The quorums a fault needs are counted among the voters (docs/LOCKSTEP.md, "Voters"):
        // an open slot nobody filled is no player; a newcomer in an open slot is none until a
        // later change shows it past its checkpoint (before its arrival it was out of the
        // roster), and one after; a player that came back was a voter before its crash and is
        // none after its return until such a change. Which of those a fault met is not known
        // here: liveness is expected only where a quorum holds either way.
        let neverFilled = Set(s.openSlots).subtracting(s.lateJoins.map(\.slot))
        var faults = s.crashes + s.stalls.map { (slot: $0.slot, tick: $0.tick) }
        if let p = s.partition { faults += (0..<s.players).map { (slot: $0, tick: p.start) } }
        let newcomers = Set(s.lateJoins.filter { a in faults.contains { $0.slot != a.slot } }.map(\.slot))
        let returned = Set(s.rejoins.filter { a in faults.contains { $0.slot != a.slot && $0.tick > a.tick - 120 } }.map(\.slot))
        let roster = (0..<s.players).filter { !neverFilled.contains($0) && !newcomers.contains($0) }
        let withNewcomers = (0..<s.players).filter { !neverFilled.contains($0) }
        var bases = [roster, withNewcomers].flatMap { [$0, $0.filter { !returned.contains($0) }] }
        // A liar voted out is no voter until a change shows it back past its checkpoint, and
        // one that starts over may be out when a fault comes or back in (sweep seed 106 runs
        // 437 and 1116: with the liar out, an exact half of the two voters left was the side
        // holding slot 0).
        if let liar = r.attacker, r.drops.contains(where: { $0.slot == liar }) || r.rejoins.contains(where: { $0.slot == liar }) {
            bases += bases.map { $0.filter { $0 != liar } }
        }
        func quorum(_ slots: some Collection<Int>) -> Bool {
            bases.allSatisfy { base in RosterQuorum.holds(base.filter(slots.contains), of: base, liars: 0) }
        }
        if let p = s.partition {
            // The side without a quorum halts by design (with an exact half, the side without
            // the lowest voter does); a side of newcomers and a few voters may have none.
            let side = Set(p.slots), other = Set(0..<s.players).subtracting(side)
            if quorum(side) {
                excused.formUnion(other)
            } else if quorum(other) {
                excused.formUnion(side)
            } else {
                excused.formUnion(0..<s.players)
            }
            // A crash or a stall on top of a partition can leave no side with a quorum.
            if !s.crashes.isEmpty || !s.stalls.isEmpty { excused.formUnion(0..<s.players) }
        }
        // When the crashed and long-stalled players leave the rest without a quorum (slot 0 of
        // two stalls, say), the rest halts by design. Liveness is promised while the honest,
        // running, connected voters form a quorum by themselves (docs/LOCKSTEP.md, fault model):
        // a liar may withhold its signature.
        // A partition that healed (the slowest survivor passed its heal tick) with no other fault,
        // its halted side starting over: every honest player is back, and their quorum is owed
        // the end of the match (sweep seed 97 run 745 stopped 51 ticks short, excused before).
        var absentForQuorum = excused
        if let p = s.partition, s.rejoinWhenHalted, s.crashes.isEmpty, s.stalls.isEmpty, r.ticks_completed >= p.heal {
            absentForQuorum = Set(r.crashed)
        }
        let rest = (0..<s.players).filter { !absentForQuorum.contains($0) && $0 != r.attacker && !neverFilled.contains($0) }
        if !quorum(rest) { excused.formUnion(0..<s.players) }
        let lostDrop = r.honest_dropped.filter { !excused.contains($0) }
        let lostHalt = r.honest_halted.filter { !excused.contains($0) }
        if !lostDrop.isEmpty { causes.append("liveness: healthy player dropped") }
        if !lostHalt.isEmpty { causes.append("liveness: healthy player halted") }
        if causes.isEmpty, r.ticks_completed < r.ticks, !excused.isSuperset(of: 0..<s.players) {
            causes.append("liveness: survivors did not finish")
        }
        // Spectators follow whatever the survivors finished, unless a partition that outlasts the
        // match leaves them (the bots put them beside the players it names not) with the side
        // that halts: they never hear the players again. One that heals late, even at the last
        // tick, does not excuse them: a spectator left behind starts over from a newer checkpoint,
        // and players whose match is over capture one where they stand.
        var spectatorsCut = false
        if let p = s.partition, p.heal > s.ticks { spectatorsCut = !quorum(Set(0..<s.players).subtracting(p.slots)) }
        if s.spectators + (s.lateSpectators?.count ?? 0) > 0, !spectatorsCut, r.ticks_completed == r.ticks, r.spectator_ticks_completed < r.ticks {
            causes.append("liveness: a spectator did not finish")
        }
        return causes
    }
}
