import Foundation
import MeshstepLockstep
import MeshstepMesh
import MeshstepSimulation
import MeshstepWire

/// N headless bots play ``CoinArena`` in lockstep over a simulated mesh, in virtual time.
public struct BotsScenario: Sendable {
    public var players: Int
    public var ticks: Int
    public var loss: Double
    public var latency: Duration
    public var jitter: Duration
    public var seed: UInt64
    public var tickRate = 60
    /// Input delay in ticks; nil chooses it from the link latency (one-way latency plus jitter,
    /// in frames, plus two frames of margin for a lost frame's repair).
    public var inputDelay: Int?
    public var checksumInterval = 30
    /// Where to write a replay recorded by slot 0, if anywhere.
    public var recordPath: String?
    /// Simulates a determinism bug: this slot's game state is nudged after applying this tick.
    public var desyncInjection: (slot: Int, tick: Int)?

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
        let frameNs = 1_000_000_000 / Int64(tickRate)
        return Int((latency.nanoseconds + frameNs - 1) / frameNs) + 2
    }

    /// Every node links directly to every other and pushes its frames on all links, one hop:
    /// the fastest path, and redundancy inside each frame repairs losses.
    public func meshConfiguration() -> MeshConfiguration {
        var c = MeshConfiguration()
        c.idealNeighbors = max(1, players - 1)
        c.minNeighbors = max(1, min(2, players - 1))
        c.maxNeighbors = min(64, players + 2)
        c.minEagerLinks = 64
        c.hopLimit = 1
        return c
    }
}

/// A desync as one peer saw it.
public struct DesyncReport: Codable, Sendable, Equatable {
    public var reporter: Int
    public var tick: Int
    public var slots: [Int]
}

/// The outcome of a bots run. Field names are the JSON keys.
public struct BotsReport: Codable, Sendable, Equatable {
    public var players: Int
    public var ticks: Int
    public var seed: UInt64
    public var input_delay: Int
    /// Ticks applied by the slowest peer.
    public var ticks_completed: Int
    /// Every peer had the same checksum at every checked tick.
    public var checksums_agree: Bool
    public var checked_ticks: Int
    public var desyncs: Int
    /// Each desync event: which peer saw it, at which tick, naming which slots.
    public var desync_events: [DesyncReport]
    /// Agreed drops, `{slot, tick}`: none happen yet (crash handling is the next milestone).
    public var drops: [[String: Int]]
    public var halted: [[String: String]]
    /// Local submit to the moment every peer holds that input (virtual time).
    public var input_latency_ms_p50: Double
    public var input_latency_ms_p99: Double
    /// Frames at which a peer was due a tick but could not apply any, summed over peers.
    public var stall_ticks: Int
    public var longest_stall_ms: Double
    public var bytes_per_input_per_peer: Double
    /// Inputs for ticks of the match that some peer never held.
    public var inputs_lost: Int
    /// Ticks per second achieved by the slowest peer (the tick rate is 60).
    public var ticks_per_second: Double
    public var virtual_seconds: Double
    public var wall_seconds: Double
}

extension BotsScenario {
    public func run() throws -> BotsReport {
        guard players >= 2, players <= 64 else { throw MeshConfigurationError.invalidValue("--players must be 2...64") }
        guard ticks >= 1 else { throw MeshConfigurationError.invalidValue("--ticks must be at least 1") }
        guard loss >= 0, loss < 1 else { throw MeshConfigurationError.invalidValue("--loss must be in [0, 1)") }
        let started = ContinuousClock.now
        let sim = MeshSimulator(seed: seed, defaultLink: LinkModel(latency: latency, jitter: jitter, loss: loss))
        let creds = try MeshCredentials(meshID: "bots", access: .password("bots"))
        for _ in 0..<players { try sim.addNode(credentials: creds, configuration: meshConfiguration()) }
        let keys = (0..<players).map { sim.node($0)!.key }
        var slotOf: [PeerKey: Int] = [:]
        for (i, k) in keys.enumerated() { slotOf[k] = i }
        for i in 0..<players {
            sim.start(i)
            let others = (0..<players).filter { $0 != i }.map { Referral(peer: keys[$0], address: MeshSimulator.address(of: $0)) }
            sim.withNode(i) { mesh, now in mesh.addCandidates(others, now: now) }
        }
        // The mesh forms (full mesh) before the first tick.
        sim.run(for: .seconds(3))

        let inputDelay = self.inputDelay ?? Self.delay(forOneWay: latency + jitter, tickRate: tickRate)
        var sessions = (0..<players).map { LockstepSession<ArenaInput>(players: players, localSlot: $0, inputDelay: inputDelay, checksumInterval: checksumInterval) }
        var games = (0..<players).map { _ in CoinArena(players: players, seed: seed) }
        var readyQueue: [[(tick: Int, inputs: [ArenaInput?])]] = Array(repeating: [], count: players)
        var submittedAt: [[MeshTime]] = Array(repeating: [], count: players) // [slot][tick - inputDelay]
        var confirmedAt: [[Int: MeshTime]] = Array(repeating: [:], count: players)
        var checksums: [Int: [UInt64]] = [:]
        var desyncs = 0
        var desyncEvents: [DesyncReport] = []
        func note(_ events: [LockstepEvent], by peer: Int) {
            for case let .desync(tick, slots, _) in events {
                desyncs += 1
                desyncEvents.append(DesyncReport(reporter: peer, tick: tick, slots: slots))
            }
        }
        var recording = Replay<ArenaInput>(players: players, seed: seed)
        let bytesBefore = (0..<players).reduce(0) { $0 + (sim.node($1)?.stats.bytesSent ?? 0) }

        if ProcessInfo.processInfo.environment["MESHSTEP_DEBUG"] != nil {
            sim.observer.event = { node, event, at in
                if case .neighborDown = event { print("\(at) node \(node): \(event)") }
            }
        }
        sim.observer.delivered = { node, message, at in
            guard let origin = slotOf[message.origin] else { return }
            if let events = try? sessions[node].receive(message.payload, fromSlot: origin) { note(events, by: node) }
            for r in sessions[node].pollReady() {
                confirmedAt[node][r.tick] = at
                readyQueue[node].append(r)
            }
        }

        // The game loop of each peer, at `tickRate` frames per second. A frame applies every tick
        // that is complete up to the one due now; the local input for tick t + inputDelay is read
        // when tick t is applied (so a peer that waits also delays its own next inputs, as a real
        // lockstep client does). A frame that is due a tick but cannot apply any is a stall.
        let frame = Duration.nanoseconds(1_000_000_000 / Int64(tickRate))
        let t0 = sim.now
        var applied = Array(repeating: 0, count: players)
        var stalls = 0
        var currentStall = Array(repeating: 0, count: players)
        var longestStall = 0
        var lastApplyAt = t0
        let maxFrames = ticks + 5 * tickRate
        func apply(_ p: Int, _ r: (tick: Int, inputs: [ArenaInput?]), at now: MeshTime) {
            games[p].step(inputs: r.inputs)
            if p == 0 { recording.record(r.inputs, checksum: r.tick % checksumInterval == 0 ? games[p].checksum() : nil) }
            if r.tick % checksumInterval == 0 {
                checksums[r.tick, default: Array(repeating: 0, count: players)][p] = games[p].checksum()
                note(sessions[p].recordChecksum(tick: r.tick, checksum: games[p].checksum()), by: p)
            }
            if let bug = desyncInjection, bug.slot == p, bug.tick == r.tick { games[p].x[0] += Fixed(raw: 1) }
            applied[p] = r.tick + 1
            if applied[p] == ticks { lastApplyAt = max(lastApplyAt, now) }
        }
        for k in 0..<maxFrames {
            sim.at(t0 + frame * k) { sim in
                for p in 0..<players where applied[p] < ticks {
                    var progressed = false
                    while applied[p] <= k, applied[p] < ticks, !readyQueue[p].isEmpty {
                        let r = readyQueue[p].removeFirst()
                        apply(p, r, at: sim.now)
                        progressed = true
                        // Read the bot's input for the tick `inputDelay` ahead and flood it.
                        let input = CoinBot.input(for: p, in: games[p])
                        let payload = sessions[p].submit(input)
                        submittedAt[p].append(sim.now)
                        sim.withNode(p) { mesh, now in (try? mesh.broadcast(payload, now: now).actions) ?? [] }
                        for r in sessions[p].pollReady() {
                            confirmedAt[p][r.tick] = sim.now
                            readyQueue[p].append(r)
                        }
                    }
                    if !progressed, sessions[p].nextLocalTick > inputDelay {
                        // Nothing new to send: repeat the newest inputs anyway. A peer that waits
                        // must keep repairing the frames others lost, or every wait would grow.
                        let payload = sessions[p].resendFrame()
                        sim.withNode(p) { mesh, now in (try? mesh.broadcast(payload, now: now).actions) ?? [] }
                    }
                    if applied[p] <= k, applied[p] < ticks, !progressed {
                        stalls += 1
                        currentStall[p] += 1
                        longestStall = max(longestStall, currentStall[p])
                    } else {
                        currentStall[p] = 0
                    }
                }
            }
        }
        // The neutral ticks before the first input are ready from the start.
        for p in 0..<players {
            for r in sessions[p].pollReady() {
                confirmedAt[p][r.tick] = sim.now
                readyQueue[p].append(r)
            }
        }
        var end = t0 + frame * maxFrames
        var finishedAt: MeshTime?
        // Stop once every peer has applied every tick (checked once per virtual second).
        var t = t0
        while t < end {
            t = min(end, t + .seconds(1))
            sim.run(until: t)
            if applied.allSatisfy({ $0 >= ticks }) { finishedAt = t; break }
        }
        end = finishedAt ?? end

        // Input latency: submit of (slot, tick) until the last peer confirmed that tick.
        var latencies: [Double] = []
        var lost = 0
        for s in 0..<players {
            // Inputs for ticks past the end of the match are never needed; leave them out.
            for (i, at) in submittedAt[s].enumerated() where i + inputDelay < ticks {
                let tick = i + inputDelay
                let confirmations = (0..<players).compactMap { confirmedAt[$0][tick] }
                if confirmations.count < players { lost += 1; continue }
                latencies.append((confirmations.max()! - at).milliseconds)
            }
        }
        latencies.sort()
        func pct(_ p: Double) -> Double { latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
        let complete = checksums.filter { $0.value.allSatisfy { $0 != 0 } }
        let agree = complete.allSatisfy { Set($0.value).count == 1 }
        let bytes = (0..<players).reduce(0) { $0 + (sim.node($1)?.stats.bytesSent ?? 0) } - bytesBefore
        if let recordPath {
            try Data(recording.encode()).write(to: URL(fileURLWithPath: recordPath))
        }
        return BotsReport(
            players: players, ticks: ticks, seed: seed, input_delay: inputDelay,
            ticks_completed: min(ticks, applied.min() ?? 0),
            checksums_agree: agree && !complete.isEmpty, checked_ticks: complete.count, desyncs: desyncs, desync_events: Array(desyncEvents.prefix(64)),
            drops: [], halted: [],
            input_latency_ms_p50: pct(0.5), input_latency_ms_p99: pct(0.99),
            stall_ticks: stalls, longest_stall_ms: Double(longestStall) * frame.milliseconds,
            bytes_per_input_per_peer: Double(bytes) / Double(max(1, ticks * players * (players - 1))),
            inputs_lost: lost,
            ticks_per_second: Double(min(ticks, applied.min() ?? 0)) / max(0.001, (lastApplyAt - t0).milliseconds / 1000),
            virtual_seconds: (end - .zero).milliseconds / 1000,
            wall_seconds: Double((ContinuousClock.now - started).milliseconds) / 1000)
    }
}
