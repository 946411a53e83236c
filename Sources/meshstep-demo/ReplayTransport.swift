import Foundation
import MeshstepArena
import MeshstepLockstep

/// Plays a recorded match back through the same loop as a live one: a "transport" that
/// confirms one recorded tick per tick and has no local player.
final class ReplayTransport: GameTransport {
    let replay: Replay<TankInput>
    private var next = 0
    private var announced = false
    /// Checkpoint checksums by tick, to verify the re-simulation as it goes.
    let checkpoints: [Int: UInt64]

    init(replay: Replay<TankInput>) {
        self.replay = replay
        var c: [Int: UInt64] = [:]
        for p in replay.checkpoints { c[p.tick] = p.checksum }
        checkpoints = c
    }

    var localSlot: Int? { nil }
    var players: Int { replay.players }
    var seed: UInt64 { replay.seed }
    var inputDelay: Int { 0 }
    var nextInputTick: Int { next }
    var kind: String { "replay" }
    var names = PlayerNames()
    /// Recorded ticks.
    var length: Int { replay.inputs.count }
    var finished: Bool { next >= replay.inputs.count }

    func submit(_ input: TankInput) {}

    func pollConfirmed() -> [(tick: Int, inputs: [TankInput?])] {
        guard next < replay.inputs.count else { return [] }
        defer { next += 1 }
        return [(next, replay.inputs[next])]
    }

    func recordChecksum(tick: Int, checksum: UInt64) {}
    /// Nothing is compared: the replay's own checkpoints are checked by the match.
    var checksumInterval: Int { 60 }

    func pollEvents() -> [String] {
        guard !announced else { return [] }
        announced = true
        return ["replay: \(replay.players) players, \(replay.inputs.count) ticks, \(replay.checkpoints.count) checkpoints"]
    }

    func stats() -> [PeerStatsView] {
        (0..<players).map { PeerStatsView(slot: $0, name: names.callAt($0), isLocal: false, pingMs: nil, ticksAhead: 0, kbpsIn: 0, connected: true) }
    }

    func shutdown() {}
}
