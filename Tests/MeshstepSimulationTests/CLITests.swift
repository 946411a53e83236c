import Foundation
import Synchronization
import Testing

/// Runs the `meshstep` executable that `swift build` put next to the test bundle.
func runMeshstep(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let binary = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        .deletingLastPathComponent().appendingPathComponent("meshstep").path
    guard FileManager.default.isExecutableFile(atPath: binary) else { throw CLIError.notBuilt([binary]) }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Both pipes at once: a child that fills one while we block reading the other would hang.
    let errData = Mutex(Data())
    let errReader = Thread {
        let d = err.fileHandleForReading.readDataToEndOfFile(); errData.withLock { $0 = d }
    }
    errReader.start()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    while !errReader.isFinished { Thread.sleep(forTimeInterval: 0.005) }
    let stderr = errData.withLock { $0 }
    return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
}

enum CLIError: Error { case notBuilt([String]) }

@Suite("meshstep CLI")
struct CLITests {
    @Test("two processes with the same seed print the same result, bit for bit")
    func crossProcessDeterminism() throws {
        let args = ["sim", "flood", "--nodes", "24", "--degree", "4", "--loss", "0.1", "--messages", "20", "--seed", "5", "--json"]
        let a = try runMeshstep(args), b = try runMeshstep(args)
        #expect(a.status == 0 && b.status == 0)
        func strip(_ s: String) throws -> [String: String] {
            let object = try JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any] ?? [:]
            return object.filter { $0.key != "wall_seconds" }.mapValues { "\($0)" }
        }
        let ra = try strip(a.stdout), rb = try strip(b.stdout)
        #expect(ra == rb)
        #expect(ra["delivered_ratio"] == "1")
        for key in ["nodes", "messages", "delivered_ratio", "rmr", "ldh_max", "diameter", "latency_p50_ms", "latency_p99_ms", "virtual_seconds"] {
            #expect(ra[key] != nil, "missing \(key)")
        }
    }

    @Test("attack runs report the attack fields")
    func attackFields() throws {
        let r = try runMeshstep(["sim", "flood", "--nodes", "12", "--degree", "4", "--messages", "10", "--attacker", "forge", "--json"])
        #expect(r.status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(object["attacker_disconnected"] as? Bool == true)
        #expect((object["attack_rejected"] as? Int ?? 0) > 0)
        #expect(object["honest_delivered_ratio"] as? Double == 1.0)
    }

    @Test(
        "bad flags get a clear error and a non-zero exit",
        arguments: [
            (["sim", "flood", "--loss", "10"], "--loss"),
            (["sim", "flood", "--nodes", "1"], "--nodes"),
            (["sim", "flood", "--attacker", "nice"], "attacker"),
            (["sim", "flood", "--degree", "x"], "degree"),
            // Output paths are checked before the match runs.
            (["bots", "--players", "2", "--ticks", "100", "--record", "/nonexistent-dir/x.replay"], "does not exist"),
            (["bots", "--players", "2", "--ticks", "100", "--desync-dump", "/nonexistent-dir"], "--desync-dump"),
            // A negative number is a value with its own message, not a missing value.
            (["bots", "--players", "2", "--ticks", "-5"], "--ticks must be at least 1"),
            (["bots", "--players", "4", "--rejoin", "2@1200"], "--rejoin 2@1200 needs that slot to crash first"),
            (["bots", "--players", "4", "--crash", "2@300", "--rejoin", "2@600", "--network", "udp"], "--rejoin runs in the simulator only"),
            (["bots", "--players", "4", "--ticks", "600", "--late-spectators", "5@600"], "--late-spectators must be K@TICK"),
            (["bots", "--players", "4", "--open-slots", "3,3"], "--open-slots must be distinct slots"),
            (["bots", "--players", "3", "--open-slots", "1,2"], "leaving at least 2 players"),
            (["bots", "--players", "4", "--late-join", "3@300"], "--late-join 3@300 needs an open slot"),
            (["bots", "--players", "4", "--open-slots", "3", "--late-join", "3@300", "--network", "udp"], "run in the simulator only"),
            (["bot", "--mesh", "m", "--players", "4", "--slot", "0", "--open-slots", "7"], "--open-slots must be distinct slots 0...3"),
            (["sim", "flood", "--latency", "-3"], "must not be negative"),
            (["chat", "--mesh", "m", "--join-timeout", "0"], "--join-timeout must be 1...86400"),
            (["bot", "--mesh", "m", "--players", "2", "--slot", "-1"], "--slot"),
            // The identity file is read (or created) before any socket opens.
            (["bot", "--mesh", "m", "--players", "2", "--slot", "0", "--identity", "/nonexistent-dir/bot.id"], "its folder does not exist"),
            (["chat", "--mesh", "m", "--identity", "/nonexistent-dir/chat.id"], "--identity"),
        ])
    func badFlags(_ args: [String], _ mentions: String) throws {
        let r = try runMeshstep(args)
        #expect(r.status != 0)
        #expect(r.stderr.contains(mentions), "stderr: \(r.stderr)")
        #expect(r.stdout.isEmpty)
    }

    @Test("replay verify: 0 for a good recording, 2 with the reason for a missing or corrupt file (no usage text), never a crash")
    func replayVerifyExitCodes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("meshstep-replay-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("m.replay").path
        let rec = try runMeshstep(["bots", "--players", "2", "--ticks", "120", "--seed", "3", "--record", file])
        #expect(rec.status == 0, "\(rec.stderr)")
        let good = try runMeshstep(["replay", "verify", file])
        #expect(good.status == 0 && good.stdout.contains("verified"), "\(good)")

        let missing = try runMeshstep(["replay", "verify", dir.appendingPathComponent("nothing.replay").path])
        #expect(missing.status == 2 && missing.stderr.contains("no such file"), "\(missing)")
        #expect(!missing.stderr.contains("USAGE"), "\(missing.stderr)")

        let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        let truncated = dir.appendingPathComponent("cut.replay").path
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: truncated))
        let cut = try runMeshstep(["replay", "verify", truncated])
        #expect(cut.status == 2 && cut.stderr.contains("not a valid replay"), "\(cut)")
    }
}
