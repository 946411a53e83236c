import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
    import Glibc
#endif

// These tests run the `meshstep-demo` binary built with this test bundle (no SDL in this test
// target). They show as skipped, with the reason, when the binary has not been built.

/// The client in the test bundle's products folder (`.build/debug` or `.build/release`), or nil.
let demoBinary: String? = {
    let exe = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
    let path = exe.deletingLastPathComponent().appendingPathComponent("meshstep-demo").path
    return FileManager.default.isExecutableFile(atPath: path) ? path : nil
}()

let skipReason = "meshstep-demo is not built (run `swift build --product meshstep-demo`; it needs libsdl2-dev)"

struct RunResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs the demo with `arguments`; `environment` changes are applied on top of ours (nil removes).
func runDemo(_ arguments: [String], environment: [String: String?] = [:], started: ((Process) -> Void)? = nil) throws -> RunResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: demoBinary!)
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    process.environment = env
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    started?(process)
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
    return RunResult(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
}

func temporaryDirectory() throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("meshstep-demo-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

/// A minimal reader for uncompressed 24- and 32-bit BMP files (BI_RGB or BI_BITFIELDS).
struct Bitmap {
    var width: Int
    var height: Int
    /// Row-major, top row first.
    var pixels: [(r: UInt8, g: UInt8, b: UInt8)]

    enum Failure: Error {
        case notBMP
        case unsupported(String)
        case truncated
    }

    init(_ data: [UInt8]) throws {
        func u16(_ o: Int) throws -> Int { guard o + 2 <= data.count else { throw Failure.truncated }; return Int(data[o]) | Int(data[o + 1]) << 8 }
        func u32(_ o: Int) throws -> UInt32 {
            guard o + 4 <= data.count else { throw Failure.truncated }
            return UInt32(data[o]) | UInt32(data[o + 1]) << 8 | UInt32(data[o + 2]) << 16 | UInt32(data[o + 3]) << 24
        }
        guard data.count > 54, data[0] == 0x42, data[1] == 0x4D else { throw Failure.notBMP }
        let offset = Int(try u32(10))
        width = Int(Int32(bitPattern: try u32(18)))
        let rawHeight = Int(Int32(bitPattern: try u32(22)))
        height = abs(rawHeight)
        let bpp = try u16(28), compression = try u32(30)
        guard bpp == 24 || bpp == 32 else { throw Failure.unsupported("\(bpp) bits per pixel") }
        var masks: (UInt32, UInt32, UInt32) = bpp == 32 ? (0x00FF_0000, 0x0000_FF00, 0x0000_00FF) : (0, 0, 0)
        if compression == 3 {
            masks = (try u32(54), try u32(58), try u32(62))
        } else if compression != 0 {
            throw Failure.unsupported("compression \(compression)")
        }
        func channel(_ v: UInt32, _ mask: UInt32) -> UInt8 { mask == 0 ? 0 : UInt8(truncatingIfNeeded: (v & mask) >> UInt32(mask.trailingZeroBitCount)) }
        let rowSize = (width * bpp / 8 + 3) & ~3
        guard offset + rowSize * height <= data.count else { throw Failure.truncated }
        pixels = []
        pixels.reserveCapacity(width * height)
        for y in 0..<height {
            let row = rawHeight > 0 ? height - 1 - y : y  // positive height: stored bottom-up
            let base = offset + row * rowSize
            for x in 0..<width {
                if bpp == 24 {
                    let o = base + x * 3
                    pixels.append((data[o + 2], data[o + 1], data[o]))
                } else {
                    let o = base + x * 4
                    let v = UInt32(data[o]) | UInt32(data[o + 1]) << 8 | UInt32(data[o + 2]) << 16 | UInt32(data[o + 3]) << 24
                    pixels.append((channel(v, masks.0), channel(v, masks.1), channel(v, masks.2)))
                }
            }
        }
    }

    func pixel(_ x: Int, _ y: Int) -> (r: UInt8, g: UInt8, b: UInt8)? {
        guard x >= 0, y >= 0, x < width, y < height else { return nil }
        return pixels[y * width + x]
    }
}

@Suite("meshstep-demo client", .serialized, .enabled(if: demoBinary != nil, Comment(rawValue: skipReason)))
struct DemoClientTests {
    @Test("headless screenshot matches the reported game state")
    func headlessScreenshot() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let shot = dir.appendingPathComponent("shot.bmp").path, state = dir.appendingPathComponent("state.json").path
        let r = try runDemo(["--headless", "--ticks", "300", "--screenshot", shot, "--state-json", state, "--seed", "7"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let image = try Bitmap(Array(try Data(contentsOf: URL(fileURLWithPath: shot))))
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: state))) as? [String: Any] ?? [:]
        let screen = json["screen"] as? [String: Int] ?? [:]
        #expect(image.width == screen["width"] && image.height == screen["height"])
        #expect(json["tick"] as? Int == 300)

        // The background is not one flat colour: floor, grid, pillars, border.
        let arena = json["arena"] as? [String: Int] ?? [:]
        var arenaColours = Set<UInt32>()
        for y in stride(from: arena["y"] ?? 0, to: (arena["y"] ?? 0) + (arena["height"] ?? 0), by: 3) {
            for x in stride(from: 0, to: arena["width"] ?? 0, by: 3) {
                if let p = image.pixel(x, y) { arenaColours.insert(UInt32(p.r) << 16 | UInt32(p.g) << 8 | UInt32(p.b)) }
            }
        }
        #expect(arenaColours.count > 8, "arena colours: \(arenaColours.count)")

        // Every live tank shows its player's colour within a few pixels of its position.
        let players = json["players"] as? [[String: Any]] ?? []
        #expect(players.count == 4)
        var checked = 0
        for p in players where p["alive"] as? Bool == true {
            let x = p["x"] as? Int ?? -1, y = p["y"] as? Int ?? -1, c = p["color"] as? [Int] ?? []
            var found = false
            for dy in -4...4 {
                for dx in -4...4 {
                    guard let px = image.pixel(x + dx, y + dy), c.count == 3 else { continue }
                    if abs(Int(px.r) - c[0]) <= 6 && abs(Int(px.g) - c[1]) <= 6 && abs(Int(px.b) - c[2]) <= 6 { found = true }
                }
            }
            #expect(found, "slot \(p["slot"] ?? "?") colour \(c) not found near (\(x), \(y))")
            checked += 1
        }
        #expect(checked >= 1)

        // The HUD strip has text drawn in it (bright pixels on the dark panel).
        let hud = json["hud"] as? [String: Any] ?? [:]
        let hx = hud["x"] as? Int ?? 0, hy = hud["y"] as? Int ?? 0, hw = hud["width"] as? Int ?? 0, hh = hud["height"] as? Int ?? 0
        #expect(hud["visible"] as? Bool == true)
        var bright = 0
        for y in hy..<(hy + hh) {
            for x in hx..<(hx + hw) {
                if let p = image.pixel(x, y), Int(p.r) + Int(p.g) + Int(p.b) > 450 { bright += 1 }
            }
        }
        #expect(bright > 500, "bright HUD pixels: \(bright)")

        // Same seed, same match, same picture: the whole client is deterministic headless.
        let shot2 = dir.appendingPathComponent("shot2.bmp").path
        let again = try runDemo(["--headless", "--ticks", "300", "--screenshot", shot2, "--seed", "7"])
        #expect(again.status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: shot)) == Data(contentsOf: URL(fileURLWithPath: shot2)))
    }

    @Test("a recorded headless match replays to the same final checksum; a tampered file fails")
    func recordAndReplay() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("match.msrp").path
        let rec = try runDemo(["--headless", "--ticks", "900", "--bots", "5", "--seed", "3", "--record", file])
        #expect(rec.status == 0, "stderr: \(rec.stderr)")
        func finalChecksum(_ s: String) -> String? {
            s.split(separator: "\n").first { $0.hasPrefix("played ") }?.split(separator: " ").last.map(String.init)
        }
        let recorded = finalChecksum(rec.stdout)
        #expect(recorded != nil)

        let play = try runDemo(["--headless", "--replay", file])
        #expect(play.status == 0, "stderr: \(play.stderr)")
        #expect(finalChecksum(play.stdout) == recorded)
        #expect(play.stdout.contains("replay verified"), "stdout: \(play.stdout)")

        // Flip one byte in the middle of the recorded inputs.
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: file)))
        bytes[bytes.count / 2] ^= 0x08
        let tampered = dir.appendingPathComponent("tampered.msrp").path
        try Data(bytes).write(to: URL(fileURLWithPath: tampered))
        let bad = try runDemo(["--headless", "--replay", tampered])
        #expect(bad.status == 2, "a file that is not a valid replay exits 2, as 'meshstep replay verify' does")
        #expect(bad.stderr.contains("replay"), "stderr: \(bad.stderr)")
        let missing = try runDemo(["--headless", "--replay", dir.appendingPathComponent("none.msrp").path])
        #expect(missing.status == 2 && missing.stderr.contains("cannot read replay"), "stderr: \(missing.stderr)")
    }

    @Test("without a display and without --headless: exit 1 and a hint to use --headless")
    func noDisplay() throws {
        let r = try runDemo(
            ["--ticks", "1", "--seed", "1"], environment: ["DISPLAY": nil, "WAYLAND_DISPLAY": nil, "SDL_VIDEODRIVER": nil, "XDG_RUNTIME_DIR": nil])
        #expect(r.status == 1, "stdout: \(r.stdout) stderr: \(r.stderr)")
        #expect(r.stderr.contains("--headless"), "stderr: \(r.stderr)")
    }

    @Test(
        "bad flags give clear errors",
        arguments: [
            (["--bots", "9"], "--bots"),
            (["--peer", "nohost"], "--peer"),
            (["--port", "70000"], "--port"),
            (["--lan"], "--mesh"),
            (["--headless", "--screenshot", "shot.png"], ".bmp"),
            // Output paths are checked before the match, not lost after it.
            (["--headless", "--record", "/nonexistent-dir/x.replay"], "does not exist"),
            (["--headless", "--state-json", "/nonexistent-dir/s.json"], "mkdir -p /nonexistent-dir"),
            (["--headless", "--record", "/tmp"], "is a folder"),
        ])
    func badFlags(_ args: [String], _ mentions: String) throws {
        let r = try runDemo(args)
        #expect(r.status != 0 && r.status != 1)
        #expect(r.stderr.contains(mentions), "stderr: \(r.stderr)")
    }

    @Test(
        "network play validates its flags: --players and --slot are required",
        arguments: [
            (["--mesh", "friends", "--password", "pw", "--peer", "10.0.0.2:7400"], "--players"),
            (["--mesh", "friends", "--players", "2"], "--slot"),
            (["--mesh", "friends", "--players", "2", "--slot", "2"], "--slot"),
            (["--mesh", "friends", "--players", "3", "--slot", "0", "--open-slots", "1,2"], "leaving at least 2 players"),
            (["--mesh", "friends", "--players", "4", "--slot", "0", "--open-slots", "7"], "--open-slots must be distinct slots 0...3"),
            (["--open-slots", "1"], "need --mesh NAME"),
            (["--players", "2", "--slot", "1"], "--mesh"),
            (["--headless", "--ticks", "0"], "--ticks"),
        ])
    func meshFlags(_ args: [String], _ mentions: String) throws {
        let r = try runDemo(args)
        #expect(r.status == 64)
        #expect(r.stderr.contains(mentions), "stderr: \(r.stderr)")
    }

    @Test("missing or corrupt assets: exit 1 naming the file and the fix")
    func badAssets() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let empty = try runDemo(["--headless", "--ticks", "1", "--assets", dir.path])
        #expect(empty.status == 1)
        #expect(empty.stderr.contains("font.bmp") && empty.stderr.contains("generate.py"), "stderr: \(empty.stderr)")

        // A full copy of the assets with a truncated tank sprite.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let source = root.appendingPathComponent("Assets")
        for name in try FileManager.default.contentsOfDirectory(atPath: source.path) {
            try FileManager.default.copyItem(at: source.appendingPathComponent(name), to: dir.appendingPathComponent(name))
        }
        let tank = dir.appendingPathComponent("tank2.bmp")
        try Data(try Data(contentsOf: tank).prefix(100)).write(to: tank)
        let corrupt = try runDemo(["--headless", "--ticks", "1", "--assets", dir.path])
        #expect(corrupt.status == 1)
        #expect(corrupt.stderr.contains("tank2.bmp") && corrupt.stderr.contains("corrupt"), "stderr: \(corrupt.stderr)")
    }
}

/// An X server for windowed runs (Debian's `xvfb`), if installed.
let xvfbBinary: String? = ["/usr/bin/Xvfb", "/usr/local/bin/Xvfb"].first { FileManager.default.isExecutableFile(atPath: $0) }

/// An Xvfb server on a free display number, killed (SIGKILL: the test process may block SIGTERM,
/// and a child inherits the blocked mask) when released.
final class VirtualDisplay {
    let number: Int
    let server = Process()
    init(offset: Int) throws {
        number = 200 + offset + Int(getpid() % 400)
        server.executableURL = URL(fileURLWithPath: xvfbBinary!)
        server.arguments = [":\(number)", "-screen", "0", "1280x800x24", "-nolisten", "tcp"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        let socket = "/tmp/.X11-unix/X\(number)"
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: socket) { Thread.sleep(forTimeInterval: 0.05) }
    }
    var ready: Bool { FileManager.default.fileExists(atPath: "/tmp/.X11-unix/X\(number)") }
    deinit { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
}

@Suite("meshstep-demo windowed, under Xvfb", .serialized)
struct DemoWindowedTests {
    @Test(
        "the default demo (you and 3 bots over loopback UDP) survives the whole process stopped for 3 s (SIGSTOP, SIGCONT): nobody is dropped, nothing halts, the game goes on",
        .enabled(if: demoBinary != nil && xvfbBinary != nil, "needs meshstep-demo and Xvfb (apt-get install xvfb)"))
    func processStopped() throws {
        let display = try VirtualDisplay(offset: 450)
        #expect(display.ready, "Xvfb did not start on :\(display.number)")
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let state = dir.appendingPathComponent("state.json").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: demoBinary!)
        process.arguments = ["--ticks", "600", "--state-json", state, "--seed", "7"]
        var env = ProcessInfo.processInfo.environment
        env["DISPLAY"] = ":\(display.number)"; env["SDL_AUDIODRIVER"] = "dummy"
        env["SDL_VIDEODRIVER"] = nil; env["WAYLAND_DISPLAY"] = nil
        process.environment = env
        process.standardOutput = FileHandle.nullDevice
        let err = Pipe()
        process.standardError = err
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        Thread.sleep(forTimeInterval: 3)  // well into the match
        kill(process.processIdentifier, SIGSTOP)
        Thread.sleep(forTimeInterval: 3)
        kill(process.processIdentifier, SIGCONT)
        let deadline = ContinuousClock.now + .seconds(60)
        while process.isRunning, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.05) }
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(!process.isRunning && process.terminationStatus == 0, "stderr: \(stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: state))) as? [String: Any] ?? [:]
        #expect(json["halted"] is NSNull, "halted: \(json["halted"] ?? "missing")")
        let players = json["players"] as? [[String: Any]] ?? []
        #expect(players.count == 4 && players.allSatisfy { $0["connected"] as? Bool == true }, "\(players)")
        #expect(json["tick"] as? Int == 600, "tick \(json["tick"] ?? "missing")")
    }

    @Test(
        "the default demo (you and 3 bots over loopback UDP) survives a 3 s stall of its main thread: nobody is dropped, nothing halts, the game goes on",
        .enabled(if: demoBinary != nil && xvfbBinary != nil, "needs meshstep-demo and Xvfb (apt-get install xvfb)"))
    func mainThreadStall() throws {
        let display = try VirtualDisplay(offset: 0)
        let number = display.number
        #expect(display.ready, "Xvfb did not start on :\(number)")

        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let state = dir.appendingPathComponent("state.json").path
        // 10 s of play; at frame 200 the main loop (which also pumps the bots) sleeps 3 s.
        let r = try runDemo(
            ["--ticks", "600", "--stall-main", "200:3000", "--state-json", state, "--seed", "7"],
            environment: ["DISPLAY": ":\(number)", "SDL_AUDIODRIVER": "dummy", "SDL_VIDEODRIVER": nil, "WAYLAND_DISPLAY": nil])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: state))) as? [String: Any] ?? [:]
        #expect(json["halted"] is NSNull, "halted: \(json["halted"] ?? "missing")")
        let players = json["players"] as? [[String: Any]] ?? []
        #expect(players.count == 4 && players.allSatisfy { $0["connected"] as? Bool == true }, "\(players)")
        // The game went on well past the stall (a loaded machine renders fewer frames per tick).
        #expect((json["tick"] as? Int ?? 0) >= 300, "tick \(json["tick"] ?? "missing")")
    }
}

@Suite("meshstep-demo network play", .serialized, .enabled(if: demoBinary != nil, Comment(rawValue: skipReason)))
struct DemoNetworkPlayTests {
    @Test("two headless demo processes in one mesh with --ticks 300 both end at tick 300 with the same checksum")
    func twoProcessesEndTogether() throws {
        let mesh = "demo-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        var result: [RunResult] = []
        for _ in 0..<3 {  // another program may take the port between the check and the bind
            let port = Int.random(in: 20_000...30_000)
            let common = ["--headless", "--mesh", mesh, "--password", "pw", "--players", "2", "--ticks", "300", "--seed", "5"]
            let results = Mutex<[Int: RunResult]>([:])
            let threads = [
                common + ["--slot", "0", "--port", "\(port)"],
                common + ["--slot", "1", "--peer", "127.0.0.1:\(port)"],
            ].enumerated().map { i, args in
                Thread {
                    let r = try? runDemo(args, environment: ["SDL_AUDIODRIVER": "dummy"]); results.withLock { $0[i] = r }
                }
            }
            threads.forEach { $0.start() }
            while results.withLock({ $0.count }) < 2 { Thread.sleep(forTimeInterval: 0.05) }
            result = results.withLock { [$0[0], $0[1]] }.compactMap { $0 }
            if result.contains(where: { $0.stderr.contains("in use") }) { continue }
            break
        }
        try #require(result.count == 2)
        for r in result { #expect(r.status == 0, "stdout: \(r.stdout)\nstderr: \(r.stderr)") }
        let finals = result.map { r in r.stdout.split(separator: "\n").first { $0.hasPrefix("played ") }.map(String.init) ?? "none" }
        #expect(finals.allSatisfy { $0.hasPrefix("played 300 ticks") }, "\(finals)")
        let sums = finals.map { $0.components(separatedBy: "final checksum ").last ?? "" }
        #expect(Set(sums).count == 1 && !sums[0].isEmpty, "\(finals)")
    }

    @Test("a headless demo player started mid-game for an open slot joins the running match, and all three end with one checksum")
    func playerFillsOpenSlot() throws {
        let mesh = "demo-open-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let port = Int.random(in: 40_001...50_000)
        let common = ["--headless", "--mesh", mesh, "--password", "pw", "--players", "3", "--open-slots", "2", "--seed", "5", "--ticks", "900"]
        let results = Mutex<[Int: RunResult]>([:])
        let runs: [(delay: Double, args: [String])] = [
            (0, common + ["--slot", "0", "--port", "\(port)"]),
            (0, common + ["--slot", "1", "--peer", "127.0.0.1:\(port)", "--port", "\(port + 1)"]),
            // Players run 60 ticks a second: about tick 180 when the newcomer arrives.
            (3, common + ["--slot", "2", "--peer", "127.0.0.1:\(port)", "--port", "\(port + 2)"]),
        ]
        let threads = runs.enumerated().map { i, run in
            Thread {
                Thread.sleep(forTimeInterval: run.delay)
                let r = try? runDemo(run.args, environment: ["SDL_AUDIODRIVER": "dummy"]); results.withLock { $0[i] = r }
            }
        }
        threads.forEach { $0.start() }
        while results.withLock({ $0.count }) < 3 { Thread.sleep(forTimeInterval: 0.05) }
        let all = results.withLock { [$0[0], $0[1], $0[2]] }.compactMap { $0 }
        try #require(all.count == 3)
        for (i, r) in all.enumerated() { #expect(r.status == 0, "slot \(i): stdout: \(r.stdout)\nstderr: \(r.stderr)") }
        let joined = all[2].stdout.split(separator: "\n").first { $0.hasPrefix("joined the running match at tick ") }
        let tick = joined.flatMap { Int($0.dropFirst("joined the running match at tick ".count).prefix { $0.isNumber }) }
        #expect((tick ?? 0) > 0, "the newcomer did not join mid-game: \(all[2].stdout)")
        let finals = all.map { r in r.stdout.split(separator: "\n").first { $0.hasPrefix("played ") }.map(String.init) ?? "none" }
        #expect(finals.allSatisfy { $0.hasPrefix("played 900 ticks") }, "\(finals)")
        let sums = finals.map { $0.components(separatedBy: "final checksum ").last ?? "" }
        #expect(Set(sums).count == 1 && !sums[0].isEmpty, "\(finals)")
    }

    @Test(
        "a headless demo player paused (SIGSTOP) past the disconnect timeout is dropped, starts over by itself, comes back and ends with the others' checksum"
    )
    func pausedPlayerComesBack() throws {
        let mesh = "demo-paused-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let port = Int.random(in: 30_001...40_000)
        let common = ["--headless", "--mesh", mesh, "--password", "pw", "--players", "3", "--seed", "5", "--ticks", "900"]
        let results = Mutex<[Int: RunResult]>([:])
        let paused = Mutex<Process?>(nil)
        let runs = [
            common + ["--slot", "0", "--port", "\(port)"],
            common + ["--slot", "1", "--peer", "127.0.0.1:\(port)", "--port", "\(port + 1)"],
            common + ["--slot", "2", "--peer", "127.0.0.1:\(port)", "--port", "\(port + 2)"],
        ]
        let threads = runs.enumerated().map { i, args in
            Thread {
                let r = try? runDemo(args, environment: ["SDL_AUDIODRIVER": "dummy"]) { p in if i == 2 { paused.withLock { $0 = p } } }
                results.withLock { $0[i] = r }
            }
        }
        threads.forEach { $0.start() }
        // About tick 180 of 900, slot 2's whole process freezes for 4 s (the others drop it after 2).
        Thread.sleep(forTimeInterval: 3)
        let pid = try #require(paused.withLock { $0?.processIdentifier })
        kill(pid, SIGSTOP)
        Thread.sleep(forTimeInterval: 4)
        kill(pid, SIGCONT)
        let deadline = ContinuousClock.now + .seconds(60)
        while results.withLock({ $0.count }) < 3, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.05) }
        let all = results.withLock { [$0[0], $0[1], $0[2]] }.compactMap { $0 }
        try #require(all.count == 3)
        for (i, r) in all.enumerated() { #expect(r.status == 0, "slot \(i): stdout: \(r.stdout)\nstderr: \(r.stderr)") }
        #expect(all[2].stdout.contains("dropped by the others and came back 1 time(s)"), "\(all[2].stdout)")
        #expect(all[2].stdout.contains("joined the running match at tick "), "\(all[2].stdout)")
        let finals = all.map { r in r.stdout.split(separator: "\n").first { $0.hasPrefix("played ") }.map(String.init) ?? "none" }
        #expect(finals.allSatisfy { $0.hasPrefix("played 900 ticks") }, "\(finals)")
        let sums = finals.map { $0.components(separatedBy: "final checksum ").last ?? "" }
        #expect(Set(sums).count == 1 && !sums[0].isEmpty, "\(finals)")
    }

    @Test("a headless spectator started mid-game joins the running match from the players' checkpoint and follows it")
    func spectatorJoinsMidGame() throws {
        let mesh = "demo-late-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let port = Int.random(in: 30_001...40_000)
        let common = ["--headless", "--mesh", mesh, "--password", "pw", "--players", "2", "--seed", "5"]
        let results = Mutex<[Int: RunResult]>([:])
        let runs: [(delay: Double, args: [String])] = [
            (0, common + ["--ticks", "1200", "--slot", "0", "--port", "\(port)"]),
            (0, common + ["--ticks", "1200", "--slot", "1", "--peer", "127.0.0.1:\(port)", "--port", "\(port + 1)"]),
            // Players run 60 ticks a second: about tick 240 when the spectator arrives.
            (4, common + ["--ticks", "1000", "--spectate", "--peer", "127.0.0.1:\(port)", "--port", "\(port + 2)"]),
        ]
        let threads = runs.enumerated().map { i, run in
            Thread {
                Thread.sleep(forTimeInterval: run.delay)
                let r = try? runDemo(run.args, environment: ["SDL_AUDIODRIVER": "dummy"]); results.withLock { $0[i] = r }
            }
        }
        threads.forEach { $0.start() }
        while results.withLock({ $0.count }) < 3 { Thread.sleep(forTimeInterval: 0.05) }
        let spectator = try #require(results.withLock { $0[2] })
        #expect(spectator.status == 0, "stdout: \(spectator.stdout)\nstderr: \(spectator.stderr)")
        let joined = spectator.stdout.split(separator: "\n").first { $0.hasPrefix("joined the running match at tick ") }
        let tick = joined.flatMap { Int($0.dropFirst("joined the running match at tick ".count).prefix { $0.isNumber }) }
        #expect((tick ?? 0) > 0, "the spectator did not resume mid-game: \(spectator.stdout)")
        #expect(spectator.stdout.contains("played 1000 ticks"), "\(spectator.stdout)")
        for i in 0..<2 { #expect(results.withLock { $0[i]?.status } == 0, "player \(i): \(results.withLock { $0[i]?.stderr ?? "" })") }
    }
}
