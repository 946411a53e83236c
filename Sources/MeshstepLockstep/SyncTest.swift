/// Sync-test mode: catches nondeterminism in a game's own code before it reaches a network.
///
/// Runs two instances of the game side by side on the same inputs and compares checksums every
/// tick; every `rollbackInterval` ticks one instance is also saved, stepped, restored from the
/// snapshot and stepped again, which catches state that `snapshot()` forgets (GGRS's synctest
/// does the same with rollbacks).
public struct SyncTest<Game: LockstepGame> {
    /// The outcome of ``SyncTest/run(ticks:input:)``.
    public struct Report: Sendable, Equatable {
        /// The first tick whose checksums differ, or nil when the game is deterministic.
        public var firstMismatchTick: Int?
        /// What differed: "replica" (two runs diverged) or "snapshot" (restore lost state).
        public var kind: String?
        /// Ticks both instances completed before the run stopped (all of them when nothing differed).
        public var ticksRun: Int
        /// The first instance's checksum when the run stopped.
        public var finalChecksum: UInt64
    }

    /// Player slots both instances are created with.
    public var players: Int
    /// The seed both instances are created with.
    public var seed: UInt64
    /// Ticks between two save-step-restore-step checks (7 by default; 0 turns them off).
    public var rollbackInterval = 7

    /// A sync test of a game for `players` slots and `seed`.
    public init(players: Int, seed: UInt64) {
        self.players = players
        self.seed = seed
    }

    /// Runs `ticks` ticks on two replicas, with a snapshot and restore every few ticks, and
    /// reports the first tick where their checksums differ.
    /// - Parameters:
    ///   - ticks: how many ticks to run.
    ///   - input: the input of `slot` at `tick` (a bot policy, a recording...).
    /// - Complexity: O(ticks × cost of a step).
    public func run(ticks: Int, input: (_ tick: Int, _ slot: Int) -> Game.Input) -> Report {
        var a = Game(players: players, seed: seed)
        var b = Game(players: players, seed: seed)
        for tick in 0..<ticks {
            let inputs: [Game.Input?] = (0..<players).map { input(tick, $0) }
            if rollbackInterval > 0, tick % rollbackInterval == 0 {
                // Save, step, restore, step again: the result must not change.
                let saved = a.snapshot()
                var probe = a
                probe.step(inputs: inputs)
                guard let restoredBase = try? Game(snapshot: saved) else {
                    return Report(firstMismatchTick: tick, kind: "snapshot", ticksRun: tick, finalChecksum: a.checksum())
                }
                var restored = restoredBase
                restored.step(inputs: inputs)
                if restored.checksum() != probe.checksum() {
                    return Report(firstMismatchTick: tick + 1, kind: "snapshot", ticksRun: tick, finalChecksum: a.checksum())
                }
            }
            a.step(inputs: inputs)
            b.step(inputs: inputs)
            if a.checksum() != b.checksum() {
                return Report(firstMismatchTick: tick + 1, kind: "replica", ticksRun: tick + 1, finalChecksum: a.checksum())
            }
        }
        return Report(firstMismatchTick: nil, kind: nil, ticksRun: ticks, finalChecksum: a.checksum())
    }
}
