// Real-socket benchmarks on loopback, for docs/BENCHMARKS.md: unthrottled 2-player lockstep and
// the relay throughput of one node, each next to the raw-UDP baseline (Benchmarks/udp-baseline.c,
// compiled and run by this command, in the same run) as a ratio: the machines are noisy, ratios
// travel between them. Run:
//   MESHSTEP_BENCHMARKS=1 swift build -c release --product meshstep-netbench && .build/release/meshstep-netbench [--json]
import Foundation
import Logging
import MeshstepLockstep
import MeshstepMesh
@_spi(Testing) import MeshstepNet
import MeshstepWire
import NIOPosix

struct Tick: LockstepInput {
    var value: UInt8
    static let neutral = Tick(value: 0)
    func encode(into w: inout ByteWriter) { w.u8(value) }
    static func decode(from r: inout ByteReader) throws(WireError) -> Tick { Tick(value: try r.u8()) }
}

/// The smallest game: a running sum of the inputs (so the benchmark measures the protocol).
struct Counter: LockstepGame {
    var sum: UInt64 = 0
    init(players: Int, seed: UInt64) { sum = seed }
    init(snapshot: [UInt8]) { sum = snapshot.reduce(0) { $0 << 8 | UInt64($1) } }
    mutating func step(inputs: [Tick?]) { for i in inputs { sum = sum &* 31 &+ UInt64(i?.value ?? 0) } }
    func checksum() -> UInt64 { sum }
    func snapshot() -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: sum >> (56 - 8 * $0)) } }
}

func lockstepConfig(players: Int) -> MeshConfiguration {
    var c = MeshConfiguration.lockstep(players: players)
    // Unthrottled: the benchmark sends far more than a 60 Hz game.
    let unlimited = RateLimit(messagesPerSecond: 1_000_000, messageBurst: 100_000, bytesPerSecond: 500_000_000, byteBurst: 100_000_000)
    c.originLimit = unlimited
    c.inboundLimit = unlimited
    c.outboundLimit = unlimited
    return c
}

/// Process CPU time (user + system) so far.
func processCPU() -> Duration {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func d(_ t: timeval) -> Duration { .seconds(Int64(t.tv_sec)) + .microseconds(Int64(t.tv_usec)) }
    return d(usage.ru_utime) + d(usage.ru_stime)
}

/// Two players submit and apply as fast as the protocol allows (no 60 Hz pacing): ticks per
/// second, and the process's CPU time per tick (both players, every thread).
func unthrottledLockstep(loss: Double, seconds: Double) throws -> (ticksPerSecond: Double, cpuPerTick: Duration) {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    defer { try? group.syncShutdownGracefully() }
    let creds = try MeshCredentials(meshID: "netbench", access: .password("netbench"))
    let a = try UDPMeshPeer.start(
        credentials: creds, configuration: lockstepConfig(players: 2), host: "127.0.0.1", port: 0,
        socketLoss: loss > 0 ? SocketLoss(probability: loss, seed: 1) : nil, group: group)
    let b = try UDPMeshPeer.start(
        credentials: creds, configuration: lockstepConfig(players: 2), host: "127.0.0.1", port: 0,
        discovery: Discovery(seeds: [a.localAddress]),
        socketLoss: loss > 0 ? SocketLoss(probability: loss, seed: 2) : nil, group: group)
    let config = LockstepConfiguration(players: 2).withInputDelay(2).withTickRate(1000).withDisconnectTimeout(.seconds(10))
    let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
    let peers = [
        try LockstepPeer<Tick>(mesh: a, configuration: config, role: .player(0), logger: logger),
        try LockstepPeer<Tick>(mesh: b, configuration: config, role: .player(1), logger: logger),
    ]
    let deadline = ContinuousClock.now + .seconds(10)
    while !peers.allSatisfy(\.allPlayersPresent), ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.001) }
    var drivers = peers.map { _ in LockstepDriver(game: Counter(players: 2, seed: 0), checksumInterval: config.checksumInterval, answers: true) }
    let start = ContinuousClock.now
    let cpuBefore = processCPU()
    let end = start + .milliseconds(Int64(seconds * 1000))
    while ContinuousClock.now < end {
        var progressed = false
        for (i, p) in peers.enumerated() {
            drivers[i].receive(p.pollConfirmed())
            while let tick = drivers[i].applyNext(answer: { _, tick in Tick(value: UInt8(truncatingIfNeeded: tick)) }) {
                p.apply(tick)
                progressed = true
            }
        }
        if !progressed { Thread.sleep(forTimeInterval: 0.00002) }
    }
    let elapsed = ContinuousClock.now - start
    let cpu = processCPU() - cpuBefore
    for p in peers { p.leave() }
    let ticks = max(1, drivers.map(\.ticksApplied).min()!)
    return (Double(ticks) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18), cpu / ticks)
}

/// A -- R -- B on loopback: A floods as fast as it can, R forwards; messages forwarded per second.
func relayThroughput(seconds: Double) throws -> (forwarded: Double, delivered: Double) {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    defer { try? group.syncShutdownGracefully() }
    let creds = try MeshCredentials(meshID: "relaybench", access: .password("relaybench"))
    var leaf = lockstepConfig(players: 2)
    leaf.propagationFilter = nil
    leaf.idealNeighbors = 1; leaf.maxNeighbors = 1; leaf.minNeighbors = 1
    leaf.hopLimit = 8
    leaf.messageCacheCapacity = 65536
    var relay = leaf
    relay.idealNeighbors = 2; relay.maxNeighbors = 2
    let r = try UDPMeshPeer.start(credentials: creds, configuration: relay, host: "127.0.0.1", port: 0, group: group)
    let a = try UDPMeshPeer.start(
        credentials: creds, configuration: leaf, host: "127.0.0.1", port: 0, discovery: Discovery(seeds: [r.localAddress]), group: group)
    let b = try UDPMeshPeer.start(
        credentials: creds, configuration: leaf, host: "127.0.0.1", port: 0, discovery: Discovery(seeds: [r.localAddress]), group: group)
    let deadline = ContinuousClock.now + .seconds(10)
    while (r.neighbors().count < 2 || a.neighbors().isEmpty || b.neighbors().isEmpty), ContinuousClock.now < deadline {
        Thread.sleep(forTimeInterval: 0.005)
    }
    let payload = [UInt8](repeating: 0xAB, count: 100)
    let before = r.stats().forwarded, deliveredBefore = b.stats().delivered
    let start = ContinuousClock.now
    let end = start + .milliseconds(Int64(seconds * 1000))
    // Keep A's event loop busy flooding in batches, leaving room for its other work.
    final class Flag: @unchecked Sendable { var stop = false }
    let flag = Flag()
    @Sendable func pump() {
        guard !flag.stop else { return }
        for _ in 0..<32 { _ = try? a.broadcastOnLoop(payload) }
        a.eventLoop.execute { pump() }
    }
    a.eventLoop.execute { pump() }
    while ContinuousClock.now < end { Thread.sleep(forTimeInterval: 0.01) }
    try a.eventLoop.submit { flag.stop = true }.wait()
    let elapsed = ContinuousClock.now - start
    let secs = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let forwarded = Double(r.stats().forwarded - before) / secs
    let delivered = Double(b.stats().delivered - deliveredBefore) / secs
    for p in [a, b, r] { p.leave() }
    return (forwarded, delivered)
}

/// The raw-UDP figures of this machine, now.
struct Baseline: Decodable {
    var rtt_p50_us: Double
    var rtt_p99_us: Double
    var one_way_p50_us: Double
    var relay_per_second: Double
}

/// Compiles Benchmarks/udp-baseline.c with the system's C compiler and runs it.
func runBaseline() -> Result<Baseline, BaselineError> {
    let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("udp-baseline.c").path
    guard FileManager.default.fileExists(atPath: source) else { return .failure(.missing(source)) }
    let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin") + ":/usr/bin:/usr/local/bin"
    guard
        let compiler = ["cc", "gcc", "clang"].lazy.flatMap({ c in path.split(separator: ":").map { "\($0)/\(c)" } })
            .first(where: { FileManager.default.isExecutableFile(atPath: $0) })
    else { return .failure(.noCompiler) }
    let binary = FileManager.default.temporaryDirectory.appendingPathComponent("udp-baseline-\(getpid())").path
    defer { try? FileManager.default.removeItem(atPath: binary) }
    func run(_ tool: String, _ arguments: [String]) -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        do { try p.run() } catch { return (-1, "\(error)") }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
    let compiled = run(compiler, ["-O2", "-pthread", "-o", binary, source])
    guard compiled.status == 0 else { return .failure(.compileFailed(compiled.output)) }
    let ran = run(binary, [])
    guard ran.status == 0, let line = ran.output.split(separator: "\n").last(where: { $0.hasPrefix("json: ") }),
        let baseline = try? JSONDecoder().decode(Baseline.self, from: Data(line.dropFirst(6).utf8))
    else { return .failure(.runFailed(ran.output)) }
    return .success(baseline)
}

enum BaselineError: Error, CustomStringConvertible {
    case missing(String)
    case noCompiler
    case compileFailed(String)
    case runFailed(String)
    var description: String {
        switch self {
        case let .missing(path): "\(path) is not there (run the benchmark from a checkout of the repository)"
        case .noCompiler: "no C compiler (cc, gcc or clang) on PATH: apt-get install gcc"
        case let .compileFailed(output): "compiling udp-baseline.c failed: \(output)"
        case let .runFailed(output): "udp-baseline did not report its figures: \(output)"
        }
    }
}

let json = CommandLine.arguments.contains("--json")
func say(_ line: String) { if !json { print(line) } }
#if DEBUG
    say("meshstep-netbench: loopback UDP, DEBUG build (figures for the docs come from swift build -c release), next to raw UDP measured in the same run")
#else
    say("meshstep-netbench: loopback UDP, release build, next to raw UDP measured in the same run")
#endif
let baseline = runBaseline()
switch baseline {
case let .success(b):
    say(
        String(
            format: "raw UDP (Benchmarks/udp-baseline.c, run now): round trip p50 %.1f us (p99 %.1f), one-way %.1f us; relay %.0f datagrams/s",
            b.rtt_p50_us, b.rtt_p99_us, b.one_way_p50_us, b.relay_per_second))
case let .failure(error):
    say("raw UDP baseline not measured: \(error); the figures below have no ratio")
}
let raw = try? baseline.get()
var results: [String: Any] = [:]
if let raw {
    results["baseline"] = [
        "rtt_p50_us": raw.rtt_p50_us, "rtt_p99_us": raw.rtt_p99_us, "one_way_p50_us": raw.one_way_p50_us, "relay_per_second": raw.relay_per_second,
    ]
}
var unthrottled: [String: Double] = [:]
var cpuPerTick: [String: Double] = [:]
for loss in [0.0, 0.1] {
    let (rate, cpu) = try unthrottledLockstep(loss: loss, seconds: 3)
    let cpuMicroseconds = Double(cpu.components.attoseconds) / 1e12 + Double(cpu.components.seconds) * 1e6
    // A raw ping-pong completes 1e6 / rtt round trips a second; a lockstep tick between two
    // players needs each one's input to cross once, so the raw round-trip rate is the yardstick.
    let perRoundTrip = raw.map { rate / (1e6 / $0.rtt_p50_us) }
    say(
        String(
            format: "unthrottled lockstep, 2 players, %2.0f%% loss: %8.0f ticks/s, %.1f us of CPU per tick (both players)", loss * 100, rate, cpuMicroseconds)
            + (perRoundTrip.map { String(format: "  = %.3f ticks per raw round trip time", $0) } ?? ""))
    unthrottled[loss == 0 ? "0" : "\(loss)"] = rate
    cpuPerTick[loss == 0 ? "0" : "\(loss)"] = cpuMicroseconds
    results["lockstep_\(Int(loss * 100))pct_ticks_per_second"] = rate
    if let perRoundTrip { results["lockstep_\(Int(loss * 100))pct_ticks_per_raw_round_trip"] = perRoundTrip }
}
results["unthrottled_ticks_per_second"] = unthrottled
results["unthrottled_cpu_us_per_tick"] = cpuPerTick
let relay = try relayThroughput(seconds: 3)
let relayRatio = raw.map { relay.forwarded / $0.relay_per_second }
say(
    String(format: "relay A-R-B, 100-byte payloads: %8.0f forwarded/s by R, %8.0f delivered/s at B", relay.forwarded, relay.delivered)
        + (relayRatio.map { String(format: "  = %.3f of the raw relay", $0) } ?? ""))
results["relay_forwarded_per_second"] = relay.forwarded
results["relay_delivered_per_second"] = relay.delivered
if let relayRatio { results["relay_vs_raw"] = relayRatio }
if json {
    let data = try JSONSerialization.data(withJSONObject: results, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}
