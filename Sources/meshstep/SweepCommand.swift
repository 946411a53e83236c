import ArgumentParser
import Foundation
import MeshstepBots

struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run N seeded bot matches with random faults and liars; print a verdict per run and a summary.",
        discussion: """
            Each run draws 2-8 players, loss 0-30%, latency 5-120 ms, jitter 0-30 ms, sometimes \
            duplication, a crash (in some runs the crashed player rejoins, and another crashes around \
            its return), a partition, a stall (0.1-4 s), a lying player (any attack of \
            `bots --attacker`), an open slot (in most such runs a newcomer fills it mid-match, and \
            in some of those crashes) and 1-2 spectators (from the start or arriving mid-match), and \
            runs them in the simulator. In half the runs with a stall or a partition, an honest \
            player that halts starts over (`--rejoin-when-halted`); in half the runs with a liar, \
            the liar starts over when it is voted out (`--attacker-rejoins`). A run's verdict is `ok`, \
            `safety` (honest peers computed different checksums, or survivors applied different \
            drops) or `liveness` (a healthy honest player was dropped or halted, the survivors did \
            not finish, or a spectator did not follow them to the end). Each line \
            names the `meshstep bots` command that reproduces the run. Exit status 1 on any safety \
            violation. --shard K/M runs every M-th run starting at K (for parallel processes).
            """
    )

    @Option(parsing: .unconditional, help: "Matches to run.") var runs: Int = 100
    @Option(parsing: .unconditional, help: "Sweep seed (each run's own seed derives from it and the run's index).") var seed: UInt64 = 1
    @Option(parsing: .unconditional, help: "Ticks per match.") var ticks: Int = 480
    @Option(help: "K/M: run only the runs whose index is K modulo M.") var shard: String?
    @Option(parsing: .unconditional, help: "Skip the runs below this index (resume a sweep).") var from: Int = 0
    @Flag(help: "Print the summary as one JSON object (after the per-run lines).") var json = false
    @Flag(help: "Print only failing runs, runs where an honest peer named an honest player, and the summary.") var quiet = false

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
        guard ticks >= 120 else { throw ValidationError("--ticks must be at least 120 (faults are drawn inside the match)") }
        _ = try parsedShard()
    }

    func parsedShard() throws -> (k: Int, m: Int) {
        guard let shard else { return (0, 1) }
        let parts = shard.split(separator: "/")
        guard parts.count == 2, let k = Int(parts[0]), let m = Int(parts[1]), m >= 1, (0..<m).contains(k) else {
            throw ValidationError("--shard must be K/M with 0 <= K < M, for example 0/2 (got \(shard))")
        }
        return (k, m)
    }

    func run() throws {
        let (k, m) = try parsedShard()
        let quiet = self.quiet
        let summary = try FaultSweep(runs: runs, seed: seed, ticks: ticks).run(shard: (k, m), from: from) { run in
            guard !quiet || run.verdict != "ok" || !run.honest_accused.isEmpty else { return }
            let causes = run.causes.isEmpty ? "" : " (" + run.causes.joined(separator: "; ") + ")"
            let accused = run.honest_accused.isEmpty ? "" : " (honest players named by an honest peer: \(run.honest_accused))"
            FileHandle.standardOutput.write(Data("run \(run.index): \(run.verdict)\(causes)\(accused): \(run.command)\n".utf8))  // unbuffered
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(summary), as: UTF8.self))
        } else {
            let causes = summary.liveness_causes.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
            print(
                "sweep: \(summary.runs) runs (seed \(seed)), \(summary.ok) ok, \(summary.safety_violations) safety violations, \(summary.liveness_losses) liveness losses\(causes.isEmpty ? "" : " (" + causes + ")") in \(String(format: "%.1f", summary.wall_seconds)) s"
            )
        }
        if summary.safety_violations > 0 { throw ExitCode(1) }
    }
}
