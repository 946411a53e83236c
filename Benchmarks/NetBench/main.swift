// Real-socket benchmarks on loopback, for docs/BENCHMARKS.md: unthrottled 2-player lockstep and
// the relay throughput of one node, each next to the raw-UDP baseline (Benchmarks/udp-baseline.c,
// compiled and run by this command, in the same run) as a ratio: the machines are noisy, ratios
// travel between them. Each unthrottled run also says where a tick's CPU goes: user and kernel
// time, context switches and datagrams per tick, next to the same session run in memory on one
// thread (the protocol alone) and with each game stepped on its event loop (no hand-offs). Run:
//   MESHSTEP_BENCHMARKS=1 swift build -c release --product meshstep-netbench && .build/release/meshstep-netbench [--json]
import Foundation
import Logging
import MeshstepLockstep
import MeshstepMesh
@_spi(Testing) import MeshstepNet
import MeshstepSession
import MeshstepWire
import NIOCore
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

/// The process's CPU time and context switches so far (getrusage).
struct Usage {
    var user: Duration
    var system: Duration
    /// Waits for something (a lock, a wakeup, a datagram): each costs a thread hand-off.
    var voluntarySwitches: Int
    var involuntarySwitches: Int
    var cpu: Duration { user + system }

    /// This process's usage, or (`thread`) the calling thread's alone.
    static func now(thread: Bool = false) -> Usage {
        var usage = rusage()
        // RUSAGE_THREAD (1 on Linux) needs _GNU_SOURCE, which Swift's Glibc module leaves out.
        getrusage(thread ? 1 : RUSAGE_SELF.rawValue, &usage)
        func d(_ t: timeval) -> Duration { .seconds(Int64(t.tv_sec)) + .microseconds(Int64(t.tv_usec)) }
        return Usage(user: d(usage.ru_utime), system: d(usage.ru_stime), voluntarySwitches: usage.ru_nvcsw, involuntarySwitches: usage.ru_nivcsw)
    }

    static func - (a: Usage, b: Usage) -> Usage {
        Usage(
            user: a.user - b.user, system: a.system - b.system, voluntarySwitches: a.voluntarySwitches - b.voluntarySwitches,
            involuntarySwitches: a.involuntarySwitches - b.involuntarySwitches)
    }
}

extension Duration {
    var microseconds: Double { Double(components.seconds) * 1e6 + Double(components.attoseconds) / 1e12 }
}

/// What one unthrottled run measured, per applied tick (both players together).
struct TickCost {
    var ticksPerSecond: Double
    var usage: Usage
    var ticks: Int
    var datagrams: Int

    func perTick(_ d: Duration) -> Double { d.microseconds / Double(ticks) }
    var json: [String: Double] {
        [
            "ticks_per_second": ticksPerSecond, "cpu_us": perTick(usage.cpu), "user_us": perTick(usage.user), "system_us": perTick(usage.system),
            "voluntary_switches": Double(usage.voluntarySwitches) / Double(ticks),
            "involuntary_switches": Double(usage.involuntarySwitches) / Double(ticks),
            "datagrams": Double(datagrams) / Double(ticks),
        ]
    }
}

/// Two players submit and apply as fast as the protocol allows (no 60 Hz pacing): ticks per
/// second, and the process's CPU time per tick (both players, every thread).
/// One peer's game, stepped on its event loop (``LockstepPeer/onReady(_:)``).
final class LoopGame: @unchecked Sendable {
    var driver = LockstepDriver(game: Counter(players: 2, seed: 0), checksumInterval: benchSession.checksumInterval, answers: true)
    var stopped = false

    func step(_ peer: LockstepPeer<Tick>) {
        guard !stopped else { return }
        driver.receive(peer.pollConfirmed())
        while let tick = driver.applyNext(answer: { _, tick in Tick(value: UInt8(truncatingIfNeeded: tick)) }) { peer.apply(tick) }
    }
}

/// `onLoop`: each player's game steps on its peer's event loop as soon as ticks complete (no
/// thread between the network and the game); otherwise one game thread polls both peers.
func unthrottledLockstep(loss: Double, seconds: Double, onLoop: Bool = false) throws -> TickCost {
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
    let config = benchSession
    let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
    let peers = [
        try LockstepPeer<Tick>(mesh: a, configuration: config, role: .player(0), logger: logger),
        try LockstepPeer<Tick>(mesh: b, configuration: config, role: .player(1), logger: logger),
    ]
    let deadline = ContinuousClock.now + .seconds(10)
    while !peers.allSatisfy(\.allPlayersPresent), ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.001) }
    var drivers = peers.map { _ in LockstepDriver(game: Counter(players: 2, seed: 0), checksumInterval: config.checksumInterval, answers: true) }
    let games = peers.map { _ in LoopGame() }
    let start = ContinuousClock.now
    let usageBefore = Usage.now()
    let sentBefore = a.stats().datagramsSent + b.stats().datagramsSent
    let end = start + .milliseconds(Int64(seconds * 1000))
    if onLoop {
        for (p, game) in zip(peers, games) {
            p.onReady { [weak p] in if let p { game.step(p) } }
            // The ticks that completed before the handler was set.
            p.mesh.eventLoop.execute { game.step(p) }
        }
        while ContinuousClock.now < end { Thread.sleep(forTimeInterval: 0.01) }
        for (p, game) in zip(peers, games) { try p.mesh.eventLoop.submit { game.stopped = true }.wait() }
        drivers = games.map(\.driver)
    }
    while !onLoop, ContinuousClock.now < end {
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
    let usage = Usage.now() - usageBefore
    let sent = a.stats().datagramsSent + b.stats().datagramsSent - sentBefore
    for p in peers { p.leave() }
    let ticks = max(1, drivers.map(\.ticksApplied).min()!)
    return TickCost(ticksPerSecond: Double(ticks) / (elapsed.microseconds / 1e6), usage: usage, ticks: ticks, datagrams: sent)
}

/// Unthrottled ticks through the shipped polled embedding (`PolledLockstepPeer`): a thread per
/// peer, each calling `pollConfirmed()` and `apply(_:)` in a loop, as a headless fast-forward
/// would. The same shape as `threadPerPeerLockstep`, with the shell's own socket, lock and
/// standby thread instead of the harness's.
func polledLockstep(seconds: Double, loss: Double = 0, session: LockstepConfiguration = benchSession) throws -> TickCost {
    let creds = try MeshCredentials(meshID: "netbench", access: .password("netbench"))
    let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
    let a = try PolledLockstepPeer<Tick>(
        credentials: creds, meshConfiguration: lockstepConfig(players: 2), configuration: session, role: .player(0),
        host: "127.0.0.1", socketLoss: loss > 0 ? SocketLoss(probability: loss, seed: 1) : nil, logger: logger)
    let b = try PolledLockstepPeer<Tick>(
        credentials: creds, meshConfiguration: lockstepConfig(players: 2), configuration: session, role: .player(1),
        host: "127.0.0.1", seeds: [a.localAddress], socketLoss: loss > 0 ? SocketLoss(probability: loss, seed: 2) : nil, logger: logger)
    let peers = [a, b]
    defer { for p in peers { p.leave() } }
    let ready = ContinuousClock.now + .seconds(10)
    while !peers.allSatisfy(\.allPlayersPresent), ContinuousClock.now < ready { for p in peers { p.wait(atMost: .milliseconds(1)) } }
    guard peers.allSatisfy(\.allPlayersPresent) else { throw BenchError.inMemorySessionDidNotStart }
    final class Applied: @unchecked Sendable { var ticks = 0 }
    let applied = [Applied(), Applied()]
    let start = ContinuousClock.now
    let usageBefore = Usage.now()
    let sentBefore = peers.reduce(0) { $0 + $1.meshStats.datagramsSent }
    let end = start + .milliseconds(Int64(seconds * 1000))
    let done = DispatchGroup()
    for (i, peer) in peers.enumerated() {
        done.enter()
        Thread {
            var driver = LockstepDriver(game: Counter(players: 2, seed: 0), checksumInterval: session.checksumInterval, answers: true)
            while ContinuousClock.now < end {
                driver.receive(peer.pollConfirmed())
                while let tick = driver.applyNext(answer: { _, tick in Tick(value: UInt8(truncatingIfNeeded: tick)) }) { peer.apply(tick) }
            }
            applied[i].ticks = driver.ticksApplied
            done.leave()
        }.start()
    }
    done.wait()
    let elapsed = ContinuousClock.now - start
    let usage = Usage.now() - usageBefore
    let ticks = max(1, applied.map(\.ticks).min()!)
    let sent = peers.reduce(0) { $0 + $1.meshStats.datagramsSent } - sentBefore
    return TickCost(ticksPerSecond: Double(ticks) / (elapsed.microseconds / 1e6), usage: usage, ticks: ticks, datagrams: sent)
}

/// `players` polled peers at 60 Hz, a thread each that sleeps on its socket between frames
/// (`PolledLockstepPeer.wait(atMost:)`): submit-to-complete latency of every input on every
/// peer, in microseconds (p50, p99), and the datagrams per input per peer.
func polledLatency(players: Int, ticks: Int, prompt: Bool) throws -> (p50: Double, p99: Double, datagrams: Double) {
    let creds = try MeshCredentials(meshID: "netbench-latency", access: .password("netbench"))
    let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
    let session = LockstepConfiguration(players: players).withInputDelay(3).withPromptReports(prompt)
    var peers: [PolledLockstepPeer<Tick>] = []
    for i in 0..<players {
        peers.append(
            try PolledLockstepPeer<Tick>(
                credentials: creds, configuration: session, role: .player(i), host: "127.0.0.1", seeds: peers.map(\.localAddress), logger: logger))
    }
    defer { for p in peers { p.leave() } }
    let ready = ContinuousClock.now + .seconds(10)
    while !peers.allSatisfy(\.allPlayersPresent), ContinuousClock.now < ready { for p in peers { p.wait(atMost: .milliseconds(1)) } }
    guard peers.allSatisfy(\.allPlayersPresent) else { throw BenchError.inMemorySessionDidNotStart }
    final class Times: @unchecked Sendable {
        var submitted: [Int: UInt64] = [:]
        var complete: [Int: UInt64] = [:]
    }
    let times = peers.map { _ in Times() }
    let sentBefore = peers.reduce(0) { $0 + $1.meshStats.datagramsSent }
    let frame = UInt64(1_000_000_000 / session.tickRate)
    let start = NIODeadline.now().uptimeNanoseconds + 20_000_000
    let done = DispatchGroup()
    for (i, peer) in peers.enumerated() {
        done.enter()
        Thread {
            var driver = LockstepDriver(game: Counter(players: players, seed: 0), checksumInterval: session.checksumInterval, answers: true)
            let limit = ContinuousClock.now + .seconds(Int64(ticks / 60 + 10))
            while driver.ticksApplied < ticks, ContinuousClock.now < limit {
                let confirmed = peer.pollConfirmed()
                let now = NIODeadline.now().uptimeNanoseconds
                for c in confirmed { times[i].complete[c.tick] = now }
                driver.receive(confirmed)
                let due = Int((now - min(now, start)) / frame)
                while driver.ticksApplied <= due, let tick = driver.applyNext(answer: { _, t in Tick(value: UInt8(truncatingIfNeeded: t)) }) {
                    if let input = tick.answer { _ = input; times[i].submitted[tick.tick + session.inputDelay] = NIODeadline.now().uptimeNanoseconds }
                    peer.apply(tick)
                }
                let next = start + UInt64(driver.ticksApplied) * frame
                let wait = next > now ? Duration.nanoseconds(Int64(next - now)) : .microseconds(200)
                peer.wait(atMost: min(wait, .milliseconds(20)))
            }
            let linger = ContinuousClock.now + .milliseconds(200)
            while ContinuousClock.now < linger { peer.wait(atMost: .milliseconds(5)) }
            done.leave()
        }.start()
    }
    done.wait()
    var latencies = LatencyHistogram()
    for s in times {
        for (tick, at) in s.submitted {
            for other in times { if let c = other.complete[tick] { latencies.record(.nanoseconds(Int64(c) - Int64(at))) } }
        }
    }
    let sent = peers.reduce(0) { $0 + $1.meshStats.datagramsSent } - sentBefore
    return (
        latencies.milliseconds(atPercentile: 50) * 1000, latencies.milliseconds(atPercentile: 99) * 1000, Double(sent) / Double(ticks * players * (players - 1))
    )
}

/// The value after `name` on the command line (`--loss 0.1`), if it is a number.
func valueOption(_ name: String) -> Double? {
    let args = CommandLine.arguments
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    return Double(args[i + 1])
}

/// The unthrottled benchmark's session: 2 players, 1,000 frames a second at most, input delay 2
/// (`--input-delay N` for the profiling aids); with `--prompt-reports`, each row's report goes
/// out at once in a frame of its own (``LockstepConfiguration/promptReports``) instead of riding
/// in the next input frame.
let benchSession = LockstepConfiguration(players: 2).withInputDelay(valueOption("--input-delay").map { Int($0) } ?? 2).withTickRate(1000)
    .withDisconnectTimeout(.seconds(10)).withPromptReports(CommandLine.arguments.contains("--prompt-reports"))

/// Non-blocking UDP sockets on 127.0.0.1, one per peer, for a single thread to poll.
final class LoopbackSockets {
    let fds: [Int32]
    let addresses: [MeshAddress]
    /// Each socket's receiving side (its own buffer).
    let receivers: [PeerSocket]

    init(count: Int) throws {
        var fds: [Int32] = []
        var addresses: [MeshAddress] = []
        func fail() -> BenchError {
            let error = BenchError.socket(errno)
            for fd in fds { close(fd) }
            return error
        }
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            guard fd >= 0 else { throw fail() }
            fds.append(fd)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
            }
            guard bound else { throw fail() }
            addresses.append(.ipv4(0x7F00_0001, port: UInt16(bigEndian: address.sin_port)))
        }
        self.fds = fds
        self.addresses = addresses
        receivers = fds.map { PeerSocket(fd: $0) }
    }

    deinit { for fd in fds { close(fd) } }

    func send(_ bytes: [UInt8], from i: Int, to: MeshAddress) {
        guard case let .ipv4(host, port) = to else { return }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = host.bigEndian
        address.sin_port = port.bigEndian
        _ = bytes.withUnsafeBytes { b in
            withUnsafePointer(to: &address) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fds[i], b.baseAddress, b.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
    }

    /// The next datagram waiting at socket `i`, with its sender; nil when none is.
    func receive(at i: Int) -> ([UInt8], MeshAddress)? { receivers[i].receive() }

    /// recvfrom(2) failures other than "nothing waiting".
    var receiveErrors: Int { receivers.reduce(0) { $0 + $1.errors } }

    /// Loses `probability` of what each socket receives, after the kernel had it (as the UDP
    /// shell's `SocketLoss` does), each with its own generator seeded by its index.
    func lose(_ probability: Double) {
        for (i, r) in receivers.enumerated() { r.loss = (probability, DeterministicRNG(seed: UInt64(7 + i))) }
    }
}

/// Receiving on one of `LoopbackSockets`, from one thread: its own buffer, and (optionally) a
/// seeded loss of what the kernel delivered, as the UDP shell's `SocketLoss` loses it.
final class PeerSocket: @unchecked Sendable {
    let fd: Int32
    var buffer = [UInt8](repeating: 0, count: 65_536)
    var loss: (probability: Double, rng: DeterministicRNG)?
    /// recvfrom(2) failures other than "nothing waiting".
    var errors = 0

    init(fd: Int32, loss: (probability: Double, rng: DeterministicRNG)? = nil) {
        self.fd = fd
        self.loss = loss
    }

    /// The next datagram waiting (and not lost), with its sender; nil when none is.
    func receive() -> ([UInt8], MeshAddress)? {
        while true {
            var from = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let fd = fd
            let n = buffer.withUnsafeMutableBytes { b in
                withUnsafeMutablePointer(to: &from) { p in
                    p.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, b.baseAddress, b.count, 0, $0, &length) }
                }
            }
            guard n >= 0 else {
                // Nothing waiting is the common case; anything else is the benchmark's own fault.
                if errno != EAGAIN, errno != EWOULDBLOCK { errors += 1 }
                return nil
            }
            if var l = loss {
                let lost = Double(l.rng.next() % 1_000_000) / 1e6 < l.probability
                loss = l
                if lost { continue }
            }
            return (Array(buffer[0..<n]), .ipv4(UInt32(bigEndian: from.sin_addr.s_addr), port: UInt16(bigEndian: from.sin_port)))
        }
    }
}

/// One peer of the harness's sessions: its `MeshNode` and `SessionEndpoint`, driven as the UDP
/// shell drives them (deliveries into the session, the session's actions through the node, the
/// node's timer, a session tick every frame interval and at its wake-up time). Its datagrams go
/// to `transmit`; time is whatever the caller passes.
/// Used by one thread at a time (`threadPerPeerLockstep` hands each to its thread before it starts).
final class BenchPeer: @unchecked Sendable {
    var node: MeshNode
    var endpoint: SessionEndpoint<Tick>
    let frameInterval: Duration
    var nextFrameTick: Duration = .zero
    /// Datagrams handed to `transmit`.
    var datagrams = 0
    let transmit: ([UInt8], MeshAddress) -> Void

    init(node: MeshNode, endpoint: SessionEndpoint<Tick>, tickRate: Int, transmit: @escaping ([UInt8], MeshAddress) -> Void) {
        self.node = node
        self.endpoint = endpoint
        self.frameInterval = .nanoseconds(1_000_000_000 / Int64(tickRate))
        self.transmit = transmit
    }

    /// The node's actions: datagrams out, deliveries into the session.
    func mesh(_ actions: [MeshAction], now: MeshTime) {
        for action in actions {
            switch action {
            case let .send(bytes, to), let .sendOpener(bytes, to, _):
                datagrams += 1
                transmit(bytes, to)
            case let .deliver(m): session(endpoint.receive(m.payload, from: m.origin, now: now - .zero), now: now)
            default: break
            }
        }
    }

    /// The session's actions, through the node.
    func session(_ actions: [SessionAction], now: MeshTime) {
        for action in actions {
            switch action {
            case let .broadcast(payload): if let r = try? node.broadcast(payload, now: now) { mesh(r.actions, now: now) }
            case let .send(payload, to): if let r = try? node.send(payload, to: to, now: now) { mesh(r.actions, now: now) }
            case let .direct(payload, to): if let r = try? node.sendDirect(payload, to: to, now: now) { mesh(r, now: now) }
            case let .protect(peers): node.protect(peers)
            case let .unprotect(peers): node.unprotect(peers)
            }
        }
    }

    func receive(_ bytes: [UInt8], from: MeshAddress, now: MeshTime) { mesh(node.receive(bytes, from: from, now: now), now: now) }

    // In place: reading a property of `node` or `endpoint` through its getter copies the whole
    // value (every array it holds retained and released), which would dwarf the protocol.
    func withNode<T>(_ body: (inout MeshNode) -> T) -> T { body(&node) }
    func withEndpoint<T>(_ body: (inout SessionEndpoint<Tick>) -> T) -> T { body(&endpoint) }

    /// Runs the node's timer and the session's tick when due.
    func timers(now: MeshTime) {
        if let due = withNode({ $0.nextDeadline }), due <= now { mesh(node.timerFired(now: now), now: now) }
        let t = now - .zero
        if t >= nextFrameTick || withEndpoint({ $0.nextWakeupInPlace() }).map({ $0 <= t }) == true {
            if t >= nextFrameTick {
                nextFrameTick = t + frameInterval
                let links = withNode { $0.neighborInfo.map { ($0.peer, $0.rtt) } }
                endpoint.links(links)
            }
            session(endpoint.tick(now: t), now: now)
        }
    }

    /// The next timer of the node or the session, or frame tick.
    var nextDue: Int64 {
        var next = nextFrameTick.nanoseconds
        if let d = withNode({ $0.nextDeadline }) { next = min(next, d.nanoseconds) }
        if let w = withEndpoint({ $0.nextWakeupInPlace() }) { next = min(next, w.nanoseconds) }
        return next
    }

    var started: Bool { withEndpoint { $0.started } }

    /// Applies what the session completed, answering each tick with the next input.
    @discardableResult
    func play(_ driver: inout LockstepDriver<Counter>, now: MeshTime) -> Bool {
        var progressed = false
        driver.receive(endpoint.pollReady())
        while let tick = driver.applyNext(answer: { _, tick in Tick(value: UInt8(truncatingIfNeeded: tick)) }) {
            session(endpoint.apply(tick, now: now - .zero), now: now)
            progressed = true
        }
        return progressed
    }
}

/// The same session with no sockets and no threads: every peer's `MeshNode` and
/// `SessionEndpoint` on this thread, their datagrams handed over in memory, every timer driven
/// as the UDP shell drives it, in virtual time. Its CPU per tick is the protocol's own (link tags, frames, input
/// agreement, statements and their signatures); what the UDP run spends beyond it goes to the
/// shell: NIO, thread hand-offs and syscalls.
final class InMemoryPeers {
    let addresses: [MeshAddress]
    let session: LockstepConfiguration
    var peers: [BenchPeer] = []
    var queue: [(to: Int, bytes: [UInt8], from: MeshAddress)] = []
    var datagrams: Int { peers.reduce(0) { $0 + $1.datagrams } }
    /// Virtual time: it moves 5 us per round of work, and jumps to the next timer when nothing
    /// is left to do, so the peers never wait (the UDP shell's timers, in memory).
    var virtualNanos: Int64 = 0
    var now: MeshTime { MeshTime(nanoseconds: virtualNanos) }

    /// With `sockets`, every datagram goes through a real non-blocking UDP socket on loopback
    /// (one per peer, still on this one thread: no event loop, no wake-ups), as a GGRS-style
    /// polling game loop does; otherwise it is handed over in memory.
    let sockets: LoopbackSockets?

    init(players: Int = 2, session: LockstepConfiguration = benchSession, sockets: LoopbackSockets? = nil) throws {
        self.session = session
        self.sockets = sockets
        let addresses = sockets?.addresses ?? (0..<players).map { MeshAddress.ipv4(0x7F00_0001, port: UInt16(40001 + $0)) }
        self.addresses = addresses
        let nodes = try benchNodes(addresses: addresses, session: session)
        for (i, (node, endpoint)) in nodes.enumerated() {
            peers.append(
                BenchPeer(node: node, endpoint: endpoint, tickRate: session.tickRate) { [unowned self] bytes, to in
                    if let sockets = self.sockets { return sockets.send(bytes, from: i, to: to) }
                    // The harness's own lookup stays out of the peers' figures.
                    guard case let .ipv4(_, port) = to, Int(port) >= 40001, Int(port) - 40001 < addresses.count else { return }
                    self.queue.append((Int(port) - 40001, bytes, addresses[i]))
                })
        }
        startMeshes(peers, addresses: addresses, now: now)
    }

    func endpoint<T>(_ i: Int, _ body: (inout SessionEndpoint<Tick>) -> T) -> T { peers[i].withEndpoint(body) }
    func mesh(_ i: Int, _ actions: [MeshAction]) { peers[i].mesh(actions, now: now) }
    func session(_ i: Int, _ actions: [SessionAction]) { peers[i].session(actions, now: now) }

    /// Moves time on: a little after work, to the next timer when idle.
    func advance(idle: Bool) {
        guard idle else { return virtualNanos += 5_000 }
        virtualNanos = max(virtualNanos + 1_000, nextDue())
    }

    /// The next timer of any node or session, or frame tick.
    func nextDue() -> Int64 { peers.map(\.nextDue).min()! }

    /// Delivers what is queued, and runs every timer that is due.
    func pump() {
        if let sockets {
            // Everything each socket holds (on loopback a datagram is there once sendto returns).
            var received = true
            while received {
                received = false
                for j in peers.indices {
                    while let (bytes, from) = sockets.receive(at: j) {
                        received = true
                        peers[j].receive(bytes, from: from, now: now)
                    }
                }
            }
        }
        // Drained by index (deliveries append more): `removeFirst` moved the whole queue each time.
        var next = 0
        while next < queue.count {
            let d = queue[next]
            next += 1
            peers[d.to].receive(d.bytes, from: d.from, now: now)
        }
        queue.removeAll(keepingCapacity: true)
        for p in peers { p.timers(now: now) }
    }
}

/// Starts every peer's node, each with the peers before it as candidates to dial.
func startMeshes(_ peers: [BenchPeer], addresses: [MeshAddress], now: MeshTime) {
    for (i, p) in peers.enumerated() {
        p.mesh(p.node.start(now: now), now: now)
        let earlier = (0..<i).map { Referral(peer: peers[$0].node.key, address: addresses[$0]) }
        if !earlier.isEmpty { p.mesh(p.node.addCandidates(earlier, now: now), now: now) }
    }
}

/// A mesh node and a session endpoint for each of `addresses`, one player each, the benchmark's
/// settings, every node's RNG seeded by its slot.
func benchNodes(addresses: [MeshAddress], session: LockstepConfiguration = benchSession) throws -> [(MeshNode, SessionEndpoint<Tick>)] {
    let creds = try MeshCredentials(meshID: "netbench", access: .password("netbench"))
    return try addresses.indices.map { i in
        let identity = NodeIdentity()
        let node = try MeshNode(
            identity: identity, credentials: creds, localAddress: addresses[i], configuration: lockstepConfig(players: addresses.count),
            rng: DeterministicRNG(seed: UInt64(i + 1)))
        let endpoint = try SessionEndpoint<Tick>(
            configuration: session, role: .player(i), localKey: node.key, roster: .claimed(name: "netbench", gameSeed: 0),
            signer: { @Sendable in identity.sign($0) })
        return (node, endpoint)
    }
}

/// Unthrottled ticks of the in-memory pair: the protocol's own ceiling on one thread.
func inMemoryLockstep(seconds: Double, sockets: Bool = false, loss: Double = 0) throws -> TickCost {
    let pair = try InMemoryPeers(sockets: sockets ? try LoopbackSockets(count: 2) : nil)
    if loss > 0 { pair.sockets?.lose(loss) }
    let ready = ContinuousClock.now + .seconds(10)
    while !pair.peers.allSatisfy(\.started), ContinuousClock.now < ready {
        pair.pump()
        pair.advance(idle: true)
    }
    guard pair.peers.allSatisfy(\.started) else { throw BenchError.inMemorySessionDidNotStart }
    var drivers = (0..<2).map { _ in LockstepDriver(game: Counter(players: 2, seed: 0), checksumInterval: benchSession.checksumInterval, answers: true) }
    let start = ContinuousClock.now
    let usageBefore = Usage.now()
    let sentBefore = pair.datagrams
    let end = start + .milliseconds(Int64(seconds * 1000))
    while ContinuousClock.now < end {
        var progressed = false
        for i in 0..<2 where pair.peers[i].play(&drivers[i], now: pair.now) { progressed = true }
        pair.pump()
        pair.advance(idle: !progressed)
    }
    let elapsed = ContinuousClock.now - start
    let usage = Usage.now() - usageBefore
    let ticks = max(1, drivers.map(\.ticksApplied).min()!)
    if let errors = pair.sockets?.receiveErrors, errors > 0 { print("warning: \(errors) recvfrom failures in the polling run") }
    return TickCost(ticksPerSecond: Double(ticks) / (elapsed.microseconds / 1e6), usage: usage, ticks: ticks, datagrams: pair.datagrams - sentBefore)
}

/// Unthrottled ticks with a thread per peer, each polling its own non-blocking socket on
/// loopback in real time and stepping its own game (`BenchPeer`): no event loop and no hand-off,
/// the two peers run in parallel as two processes would. The shape of GGRS's benchmark loop with
/// a core per player; `loss` drops received datagrams after the kernel had them.
func threadPerPeerLockstep(seconds: Double, loss: Double = 0) throws -> TickCost {
    let sockets = try LoopbackSockets(count: 2)
    let origin = ContinuousClock.now
    @Sendable func now() -> MeshTime { MeshTime(nanoseconds: (ContinuousClock.now - origin).nanoseconds) }
    let peers = try benchNodes(addresses: sockets.addresses).enumerated().map { i, pair in
        BenchPeer(node: pair.0, endpoint: pair.1, tickRate: benchSession.tickRate) { bytes, to in sockets.send(bytes, from: i, to: to) }
    }
    // Each thread receives on its own socket, with its own buffer and loss generator.
    let receivers = sockets.receivers
    if loss > 0 { sockets.lose(loss) }
    @Sendable func poll(_ i: Int) {
        let t = now()
        while let (bytes, from) = receivers[i].receive() { peers[i].receive(bytes, from: from, now: t) }
        peers[i].timers(now: t)
    }
    startMeshes(peers, addresses: sockets.addresses, now: now())
    let ready = ContinuousClock.now + .seconds(10)
    while !peers.allSatisfy(\.started), ContinuousClock.now < ready { for i in 0..<2 { poll(i) } }
    guard peers.allSatisfy(\.started) else { throw BenchError.inMemorySessionDidNotStart }
    // One box per thread: two threads storing into one array would race.
    final class Applied: @unchecked Sendable { var ticks = 0 }
    let applied = [Applied(), Applied()]
    let start = ContinuousClock.now
    let usageBefore = Usage.now()
    let sentBefore = peers.reduce(0) { $0 + $1.datagrams }
    let end = start + .milliseconds(Int64(seconds * 1000))
    let done = DispatchGroup()
    for i in 0..<2 {
        done.enter()
        let thread = Thread {
            var driver = LockstepDriver(game: Counter(players: 2, seed: 0), checksumInterval: benchSession.checksumInterval, answers: true)
            while ContinuousClock.now < end {
                poll(i)
                peers[i].play(&driver, now: now())
            }
            applied[i].ticks = driver.ticksApplied
            done.leave()
        }
        thread.start()
    }
    done.wait()
    let elapsed = ContinuousClock.now - start
    let usage = Usage.now() - usageBefore
    let ticks = max(1, applied.map(\.ticks).min()!)
    let errors = receivers.reduce(0) { $0 + $1.errors }
    if errors > 0 { print("warning: \(errors) recvfrom failures in the thread-per-peer run") }
    return TickCost(
        ticksPerSecond: Double(ticks) / (elapsed.microseconds / 1e6), usage: usage, ticks: ticks, datagrams: peers.reduce(0) { $0 + $1.datagrams } - sentBefore)
}

/// One player's CPU per tick in a `players`-player session at 60 Hz, every peer in memory on
/// this thread in virtual time (each frame: every game applies what is complete and submits,
/// then every datagram is delivered and every timer runs up to the next frame): the issue's
/// CPU goal is under 1% of a core per peer, 166 us per tick.
func inMemoryAt60Hz(players: Int, ticks: Int) throws -> Duration {
    let peers = try InMemoryPeers(players: players, session: LockstepConfiguration(players: players).withDisconnectTimeout(.seconds(10)))
    func started() -> Bool { peers.peers.indices.allSatisfy { i in peers.endpoint(i) { $0.started } } }
    let ready = ContinuousClock.now + .seconds(20)
    while !started(), ContinuousClock.now < ready {
        peers.pump()
        peers.advance(idle: true)
    }
    guard started() else { throw BenchError.inMemorySessionDidNotStart }
    var drivers = (0..<players).map { _ in LockstepDriver(game: Counter(players: players, seed: 0), checksumInterval: 30, answers: true) }
    let frame: Int64 = 1_000_000_000 / 60
    let usageBefore = Usage.now()
    var frameEnd = peers.virtualNanos
    for k in 0..<ticks {
        // Frame k: each game applies its ticks through k as they complete (a game loop waits
        // within its frame for the tick due), answering each with its next input.
        var progressed = true
        while progressed {
            progressed = false
            for i in 0..<players where drivers[i].ticksApplied <= k {
                drivers[i].receive(peers.endpoint(i) { $0.pollReady() })
                while drivers[i].ticksApplied <= k, let tick = drivers[i].applyNext(answer: { _, tick in Tick(value: UInt8(truncatingIfNeeded: tick)) }) {
                    let t = peers.now
                    peers.session(i, peers.endpoint(i) { $0.apply(tick, now: t - .zero) })
                    progressed = true
                }
            }
            peers.pump()
            peers.virtualNanos += 5_000
        }
        frameEnd += frame
        while peers.nextDue() < frameEnd {
            peers.virtualNanos = max(peers.virtualNanos + 1_000, peers.nextDue())
            peers.pump()
        }
        peers.virtualNanos = frameEnd
    }
    let applied = drivers.map(\.ticksApplied).min()!
    guard applied >= ticks - 10 else { throw BenchError.inMemoryStalled(applied: applied, of: ticks) }
    return (Usage.now() - usageBefore).cpu / (applied * players)
}

enum BenchError: Error {
    case inMemorySessionDidNotStart
    case socket(Int32)
    case inMemoryStalled(applied: Int, of: Int)
}

/// A -- R -- B on loopback: A floods as fast as it can, R forwards; messages forwarded per second,
/// and R's CPU time per message forwarded. Each node has an event-loop thread of its own, as the
/// raw relay's sender, relay and sink have (3 threads on the machine's cores). A floods `burst`
/// messages per turn of its event loop: each signed alone, or (`batched`) the burst under one
/// signature (`MeshNode.broadcast(batch:now:)`).
func relayThroughput(seconds: Double, batched: Bool, burst: Int = 32) throws -> RelayRun {
    let groups = (0..<3).map { _ in MultiThreadedEventLoopGroup(numberOfThreads: 1) }
    defer { for g in groups { try? g.syncShutdownGracefully() } }
    let creds = try MeshCredentials(meshID: "relaybench", access: .password("relaybench"))
    var leaf = lockstepConfig(players: 2)
    leaf.propagationFilter = nil
    leaf.idealNeighbors = 1; leaf.maxNeighbors = 1; leaf.minNeighbors = 1
    leaf.hopLimit = 8
    leaf.messageCacheCapacity = 65536
    var relay = leaf
    relay.idealNeighbors = 2; relay.maxNeighbors = 2
    let r = try UDPMeshPeer.start(credentials: creds, configuration: relay, host: "127.0.0.1", port: 0, group: groups[0])
    let a = try UDPMeshPeer.start(
        credentials: creds, configuration: leaf, host: "127.0.0.1", port: 0, discovery: Discovery(seeds: [r.localAddress]), group: groups[1])
    let b = try UDPMeshPeer.start(
        credentials: creds, configuration: leaf, host: "127.0.0.1", port: 0, discovery: Discovery(seeds: [r.localAddress]), group: groups[2])
    let deadline = ContinuousClock.now + .seconds(10)
    while (r.neighbors().count < 2 || a.neighbors().isEmpty || b.neighbors().isEmpty), ContinuousClock.now < deadline {
        Thread.sleep(forTimeInterval: 0.005)
    }
    let payload = [UInt8](repeating: 0xAB, count: 100)
    let before = r.stats().forwarded, deliveredBefore = b.stats().delivered, sentBefore = r.stats().datagramsSent
    let checksBefore = r.stats().signatureChecks
    let relayCPUBefore = try r.eventLoop.submit { Usage.now(thread: true) }.wait()
    let originCPUBefore = try a.eventLoop.submit { Usage.now(thread: true) }.wait()
    let sinkCPUBefore = try b.eventLoop.submit { Usage.now(thread: true) }.wait()
    let originatedBefore = a.stats().originated
    let start = ContinuousClock.now
    let end = start + .milliseconds(Int64(seconds * 1000))
    // Keep A's event loop busy flooding in batches, leaving room for its other work.
    final class Flag: @unchecked Sendable { var stop = false }
    let flag = Flag()
    @Sendable func pump() {
        guard !flag.stop else { return }
        if batched {
            _ = try? a.broadcastOnLoop(batch: Array(repeating: payload, count: burst))
        } else {
            for _ in 0..<burst { _ = try? a.broadcastOnLoop(payload) }
        }
        a.eventLoop.execute { pump() }
    }
    a.eventLoop.execute { pump() }
    while ContinuousClock.now < end { Thread.sleep(forTimeInterval: 0.01) }
    try a.eventLoop.submit { flag.stop = true }.wait()
    let elapsed = ContinuousClock.now - start
    let secs = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let relayCPU = try r.eventLoop.submit { Usage.now(thread: true) }.wait() - relayCPUBefore
    let originCPU = try a.eventLoop.submit { Usage.now(thread: true) }.wait() - originCPUBefore
    let sinkCPU = try b.eventLoop.submit { Usage.now(thread: true) }.wait() - sinkCPUBefore
    let originated = a.stats().originated - originatedBefore
    let count = r.stats().forwarded - before
    let forwarded = Double(count) / secs
    let delivered = Double(b.stats().delivered - deliveredBefore) / secs
    // R's datagrams to B per message forwarded (keepalives included: a handful).
    let datagrams = Double(r.stats().datagramsSent - sentBefore) / Double(max(1, count))
    let checks = Double(r.stats().signatureChecks - checksBefore) / Double(max(1, count))
    let deliveredCount = b.stats().delivered - deliveredBefore
    // Profiling aid: each node's counters (totals since it started), to see where messages go
    // (A's datagrams that R never read were dropped by the kernel: R's receive buffer was full).
    if ProcessInfo.processInfo.environment["MESHSTEP_RELAY_STATS"] != nil {
        for (name, p) in [("A", a), ("R", r), ("B", b)] {
            let st = p.stats()
            print(
                "\(name): originated \(st.originated) sent \(st.datagramsSent) received \(st.datagramsReceived) copies \(st.floodCopiesReceived) forwarded \(st.forwarded) delivered \(st.delivered) rateLimited \(st.rateLimited) originRateLimited \(st.originRateLimited) outboundDropped \(st.outboundDropped) lost \(st.lost) grafts \(st.graftsSent)/\(st.graftsServed) dup \(st.duplicates) stale \(st.stale)"
            )
        }
    }
    for p in [a, b, r] { p.leave() }
    return RelayRun(
        forwarded: forwarded, delivered: delivered, relayMicroseconds: relayCPU.cpu.microseconds / Double(max(1, count)),
        datagramsPerMessage: datagrams, signatureChecksPerMessage: checks,
        originMicroseconds: originCPU.cpu.microseconds / Double(max(1, originated)),
        sinkMicroseconds: sinkCPU.cpu.microseconds / Double(max(1, deliveredCount)))
}

/// What one relay run measured: rates, and each node's CPU per message it handled.
struct RelayRun {
    var forwarded: Double
    var delivered: Double
    /// R's CPU per message forwarded.
    var relayMicroseconds: Double
    var datagramsPerMessage: Double
    var signatureChecksPerMessage: Double
    /// A's CPU per message originated (building, signing, storing, sending).
    var originMicroseconds: Double
    /// B's CPU per message delivered.
    var sinkMicroseconds: Double
}

/// The raw-UDP figures of this machine, now.
struct Baseline: Decodable {
    var rtt_p50_us: Double
    var rtt_p99_us: Double
    var one_way_p50_us: Double
    /// Half the round trip of the ping-pong paced at 60 Hz (each datagram wakes an idle thread).
    var paced_one_way_p50_us: Double
    var relay_per_second: Double
    /// The raw relay thread's own CPU time per datagram it re-sent (user and system).
    var relay_cpu_us_per_datagram: Double
}

/// The raw relay alone (`udp-baseline relay`), measured just before one of ours.
struct RelayBaseline: Decodable {
    var relay_per_second: Double
    var relay_cpu_us_per_datagram: Double
}

/// Benchmarks/udp-baseline.c, compiled with the system's C compiler once per process and run
/// whenever a figure needs its baseline.
final class BaselineTool {
    let binary: String

    init() throws(BaselineError) {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("udp-baseline.c").path
        guard FileManager.default.fileExists(atPath: source) else { throw .missing(source) }
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin") + ":/usr/bin:/usr/local/bin"
        guard
            let compiler = ["cc", "gcc", "clang"].lazy.flatMap({ c in path.split(separator: ":").map { "\($0)/\(c)" } })
                .first(where: { FileManager.default.isExecutableFile(atPath: $0) })
        else { throw .noCompiler }
        binary = FileManager.default.temporaryDirectory.appendingPathComponent("udp-baseline-\(getpid())").path
        let compiled = Self.run(compiler, ["-O2", "-pthread", "-o", binary, source])
        guard compiled.status == 0 else { throw .compileFailed(compiled.output) }
    }

    deinit { try? FileManager.default.removeItem(atPath: binary) }

    static func run(_ tool: String, _ arguments: [String]) -> (status: Int32, output: String) {
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

    /// Runs the binary with `arguments` and decodes its `json: ` line.
    func measure<T: Decodable>(_ arguments: [String], as: T.Type) throws(BaselineError) -> T {
        let ran = Self.run(binary, arguments)
        guard ran.status == 0, let line = ran.output.split(separator: "\n").last(where: { $0.hasPrefix("json: ") }),
            let figures = try? JSONDecoder().decode(T.self, from: Data(line.dropFirst(6).utf8))
        else { throw .runFailed(ran.output) }
        return figures
    }
}

/// The raw-UDP figures of this machine, now, and the tool for more of them.
func runBaseline() -> (tool: BaselineTool?, figures: Result<Baseline, BaselineError>) {
    let tool: BaselineTool
    do { tool = try BaselineTool() } catch { return (nil, .failure(error)) }
    do { return (tool, .success(try tool.measure([], as: Baseline.self))) } catch { return (tool, .failure(error)) }
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
/// The profiling aids' number (seconds, or ticks for `--paced-16`), wherever it stands among the
/// flags (not the value of `--loss` or `--input-delay`).
let numberArgument: Double? = {
    let args = CommandLine.arguments
    let values = Set(["--loss", "--input-delay"].compactMap { args.firstIndex(of: $0).map { $0 + 1 } })
    return args.indices.dropFirst().lazy.filter { !values.contains($0) }.compactMap { Double(args[$0]) }.first
}()
func say(_ line: String) { if !json { print(line) } }
#if DEBUG
    say("meshstep-netbench: loopback UDP, DEBUG build (figures for the docs come from swift build -c release), next to raw UDP measured in the same run")
#else
    say("meshstep-netbench: loopback UDP, release build, next to raw UDP measured in the same run")
#endif
if CommandLine.arguments.contains("--on-loops") {
    // Profiling aid: only the unthrottled UDP run with the games on the event loops
    // (`--on-loops [SECONDS]`).
    let seconds = numberArgument ?? 3
    let onLoop = try unthrottledLockstep(loss: 0, seconds: seconds, onLoop: true)
    print(String(format: "unthrottled lockstep, 2 players, games on the event loops: %.0f ticks/s, ", onLoop.ticksPerSecond) + describe(onLoop))
    exit(0)
}
if CommandLine.arguments.contains("--game-thread") {
    // Profiling aid: only the unthrottled UDP run with one game thread polling both peers, the
    // headline `unthrottled_ticks_per_second["0"]` (`--game-thread [SECONDS]`).
    let seconds = numberArgument ?? 3
    let run = try unthrottledLockstep(loss: 0, seconds: seconds)
    print(String(format: "unthrottled lockstep, 2 players, a game thread, loss-free: %.0f ticks/s, ", run.ticksPerSecond) + describe(run))
    exit(0)
}
if CommandLine.arguments.contains("--relay") {
    // Profiling aid: only the relay run (`--relay [SECONDS]`; `--batched`: in batches of 32,
    // `--batched64`: of 64, `--batched256`: of 256; `--raw`: the raw relay just before it).
    let seconds = numberArgument ?? 3
    let burst = CommandLine.arguments.contains("--batched256") ? 256 : CommandLine.arguments.contains("--batched64") ? 64 : 32
    let batched = burst > 32 || CommandLine.arguments.contains("--batched")
    // With `--raw`, the raw relay runs just before, for the ratio.
    let raw = CommandLine.arguments.contains("--raw") ? try BaselineTool().measure(["relay"], as: RelayBaseline.self) : nil
    let relay = try relayThroughput(seconds: seconds, batched: batched, burst: burst)
    print(
        String(
            format:
                "relay A-R-B, 100-byte payloads%@: %.0f forwarded/s by R, %.0f delivered/s at B; R: %.1f us of CPU, %.2f datagrams and %.3f signature checks per message; CPU per message at A %.1f us, at B %.1f us",
            batched ? " in signed batches of \(burst)" : "", relay.forwarded, relay.delivered, relay.relayMicroseconds, relay.datagramsPerMessage,
            relay.signatureChecksPerMessage, relay.originMicroseconds, relay.sinkMicroseconds)
            + (raw.map {
                String(
                    format: "; raw relay just before: %.0f/s, %.2f us of CPU per datagram: forwarded %.3f of its rate, cpu_vs_raw %.2f",
                    $0.relay_per_second, $0.relay_cpu_us_per_datagram, relay.forwarded / $0.relay_per_second,
                    $0.relay_cpu_us_per_datagram / relay.relayMicroseconds)
            } ?? ""))
    exit(0)
}
if CommandLine.arguments.contains("--polled-latency") {
    // Profiling aid: 4 polled peers at 60 Hz, each thread asleep on its socket between frames,
    // by default and with prompt reports (`--polled-latency [TICKS]`).
    for prompt in [false, true] {
        let r = try polledLatency(players: 4, ticks: numberArgument.map { Int($0) } ?? 600, prompt: prompt)
        print(
            String(
                format: "polled, 4 players, 60 Hz, prompt reports %@: submit to complete p50 %.0f us, p99 %.0f us, %.2f datagrams per input per peer",
                prompt ? "on" : "off", r.p50, r.p99, r.datagrams))
    }
    exit(0)
}
if CommandLine.arguments.contains("--polled") {
    // Profiling aid: only the run through `PolledLockstepPeer`, a thread per peer, the headline
    // `unthrottled_ticks_per_second` (`--polled [SECONDS] [--loss P] [--input-delay N]`).
    let loss = valueOption("--loss") ?? 0
    let run = try polledLockstep(seconds: numberArgument ?? 3, loss: loss)
    print(
        String(
            format: "PolledLockstepPeer, a thread per peer, 2 players, input delay %d, %.0f%% loss: %.0f ticks/s, ", benchSession.inputDelay, loss * 100,
            run.ticksPerSecond)
            + describe(run))
    exit(0)
}
if CommandLine.arguments.contains("--thread-per-peer") {
    // Profiling aid: only the loss-free run with a thread per peer polling its own socket
    // (`--thread-per-peer [SECONDS]`).
    let run = try threadPerPeerLockstep(seconds: numberArgument ?? 3)
    print(String(format: "a thread per peer polling its own loopback socket, 2 players: %.0f ticks/s, ", run.ticksPerSecond) + describe(run))
    exit(0)
}
if CommandLine.arguments.contains("--in-memory") || CommandLine.arguments.contains("--polling") {
    // Profiling aids: only the unthrottled in-memory pair (`--in-memory [SECONDS]`), or the same
    // pair on one thread polling real loopback sockets (`--polling [SECONDS]`).
    let seconds = numberArgument ?? 3
    let polling = CommandLine.arguments.contains("--polling")
    let cost = try inMemoryLockstep(seconds: seconds, sockets: polling)
    if polling {
        print(String(format: "one thread polling loopback sockets, 2 players: %.0f ticks/s over %d ticks, ", cost.ticksPerSecond, cost.ticks) + describe(cost));
        exit(0)
    }
    print(String(format: "in memory (no sockets, one thread), 2 players: %.0f ticks/s over %d ticks, ", cost.ticksPerSecond, cost.ticks) + describe(cost))
    exit(0)
}
let (baselineTool, baseline) = runBaseline()
switch baseline {
case let .success(b):
    say(
        String(
            format:
                "raw UDP (Benchmarks/udp-baseline.c, run now): round trip p50 %.1f us (p99 %.1f), one-way %.1f us (%.1f paced at 60 Hz); relay %.0f datagrams/s, %.2f us of its CPU per datagram",
            b.rtt_p50_us, b.rtt_p99_us, b.one_way_p50_us, b.paced_one_way_p50_us, b.relay_per_second, b.relay_cpu_us_per_datagram))
case let .failure(error):
    say("raw UDP baseline not measured: \(error); the figures below have no ratio")
}
let raw = try? baseline.get()
var results: [String: Any] = [:]
if let raw {
    results["baseline"] = [
        "rtt_p50_us": raw.rtt_p50_us, "rtt_p99_us": raw.rtt_p99_us, "one_way_p50_us": raw.one_way_p50_us, "paced_one_way_p50_us": raw.paced_one_way_p50_us,
        "relay_per_second": raw.relay_per_second, "relay_cpu_us_per_datagram": raw.relay_cpu_us_per_datagram,
    ]
}
var unthrottled: [String: Double] = [:]
var cpuPerTick: [String: Double] = [:]
var breakdown: [String: Any] = [:]
func describe(_ c: TickCost) -> String {
    String(
        format: "%.1f us of CPU per tick (user %.1f, system %.1f), %.2f voluntary + %.2f involuntary context switches, %.2f datagrams",
        c.perTick(c.usage.cpu), c.perTick(c.usage.user), c.perTick(c.usage.system),
        Double(c.usage.voluntarySwitches) / Double(c.ticks), Double(c.usage.involuntarySwitches) / Double(c.ticks), Double(c.datagrams) / Double(c.ticks))
}
if CommandLine.arguments.contains("--paced-16") {
    // Profiling aid: only the 16-player in-memory run (`--paced-16 [TICKS]`).
    let ticks = numberArgument.map { Int($0) } ?? 600
    let perPeer = try inMemoryAt60Hz(players: 16, ticks: ticks)
    print(String(format: "in memory, 16 players at 60 Hz: %.1f us of CPU per peer per tick", perPeer.microseconds))
    exit(0)
}
// The protocol alone, on one thread: the ceiling the UDP shell is measured against.
let inMemory = try inMemoryLockstep(seconds: 3)
say(String(format: "in memory (no sockets, one thread), 2 players: %8.0f ticks/s, ", inMemory.ticksPerSecond) + describe(inMemory))
breakdown["in_memory"] = inMemory.json
/// Runs `run` loss-free and at 10% loss, printing each as `label` and keeping its breakdown
/// under `breakdownKey` + the loss: ticks per second keyed by loss, and the loss-free run.
@MainActor func lossSweep(_ label: String, breakdownKey: String, _ run: (Double) throws -> TickCost) rethrows -> (rates: [String: Double], lossFree: TickCost?)
{
    var rates: [String: Double] = [:]
    var lossFree: TickCost?
    for loss in [0.0, 0.1] {
        let cost = try run(loss)
        let key = loss == 0 ? "0" : "\(loss)"
        say(String(format: "%@, 2 players, %2.0f%% loss: %8.0f ticks/s, ", label, loss * 100, cost.ticksPerSecond) + describe(cost))
        rates[key] = cost.ticksPerSecond
        breakdown[breakdownKey + key] = cost.json
        if loss == 0 { lossFree = cost }
    }
    return (rates, lossFree)
}
/// Where a loss-free tick's CPU goes (both players, every thread): the protocol (the in-memory
/// figure), the kernel, and the rest of the process's user time; printed, and returned for the
/// JSON.
func split(_ cost: TickCost) -> [String: Double] {
    let proto = inMemory.perTick(inMemory.usage.cpu)
    let system = cost.perTick(cost.usage.system)
    let shell = max(0, cost.perTick(cost.usage.user) - proto)
    say(String(format: "    of which: protocol %.1f us (in-memory figure), kernel %.1f us, the rest of the user time %.1f us", proto, system, shell))
    return ["protocol": proto, "kernel": system, "shell_user": shell]
}
// The same pair on one thread with real non-blocking sockets on loopback (a GGRS-style polling
// game loop: no event loop, no thread hand-offs): the protocol plus the kernel.
let polling = try lossSweep("one thread polling loopback sockets", breakdownKey: "one_thread_sockets_loss_") {
    try inMemoryLockstep(seconds: 3, sockets: true, loss: $0)
}
let pollingLossFree = polling.lossFree
var gameThreadLossFree: TickCost?
var polledLossFree: TickCost?
results["unthrottled_one_thread_sockets_ticks_per_second"] = polling.rates
// A thread per peer, each polling its own socket and stepping its own game: no event loop and
// no hand-off, the peers in parallel (one core each): what the protocol and the kernel allow.
let perPeer = try lossSweep("a thread per peer polling its socket", breakdownKey: "thread_per_peer_loss_") {
    try threadPerPeerLockstep(seconds: 3, loss: $0)
}
let perPeerLossFree = perPeer.lossFree
results["unthrottled_thread_per_peer_ticks_per_second"] = perPeer.rates
// The headline: the shipped polled embedding (`PolledLockstepPeer`), a thread per peer, each
// calling `pollConfirmed()` and `apply(_:)` in a loop.
for loss in [0.0, 0.1] {
    let cost = try polledLockstep(seconds: 3, loss: loss)
    let rate = cost.ticksPerSecond
    // A raw ping-pong completes 1e6 / rtt round trips a second; a lockstep tick between two
    // players needs each one's input to cross once, so the raw round-trip rate is the yardstick.
    let perRoundTrip = raw.map { rate / (1e6 / $0.rtt_p50_us) }
    say(
        String(format: "unthrottled lockstep, PolledLockstepPeer, 2 players, %2.0f%% loss: %8.0f ticks/s", loss * 100, rate)
            + (perRoundTrip.map { String(format: "  = %.3f ticks per raw round trip time", $0) } ?? ""))
    say("    " + describe(cost))
    let key = loss == 0 ? "0" : "\(loss)"
    unthrottled[key] = rate
    cpuPerTick[key] = cost.perTick(cost.usage.cpu)
    breakdown["polled_loss_\(key)"] = cost.json
    if loss == 0 {
        polledLossFree = cost
        // The rest of the user time: the shell's lock, clock reads and copies, and the polls that
        // find nothing while a thread waits on the other.
        breakdown["polled_split_us"] = split(cost)
    }
    results["lockstep_\(Int(loss * 100))pct_ticks_per_second"] = rate
    if let perRoundTrip { results["lockstep_\(Int(loss * 100))pct_ticks_per_raw_round_trip"] = perRoundTrip }
}
// The same with input delay 8: more frames in flight, each repeating the inputs not yet
// acknowledged, so most losses are repaired by the next frame instead of a timer.
var deeper: [String: Double] = [:]
for loss in [0.0, 0.1] {
    let cost = try polledLockstep(seconds: 3, loss: loss, session: benchSession.withInputDelay(8))
    say(
        String(format: "unthrottled lockstep, PolledLockstepPeer, input delay 8, %2.0f%% loss: %8.0f ticks/s, ", loss * 100, cost.ticksPerSecond)
            + describe(cost))
    deeper[loss == 0 ? "0" : "\(loss)"] = cost.ticksPerSecond
}
results["unthrottled_polled_input_delay_8_ticks_per_second"] = deeper
// Through the event-loop embedding (`LockstepPeer` on `UDPMeshPeer`), one game thread polling
// both peers: what the thread hand-offs cost.
var eventLoopRates: [String: Double] = [:]
for loss in [0.0, 0.1] {
    let cost = try unthrottledLockstep(loss: loss, seconds: 3)
    let rate = cost.ticksPerSecond
    say(String(format: "unthrottled lockstep, LockstepPeer and a game thread, 2 players, %2.0f%% loss: %8.0f ticks/s", loss * 100, rate))
    say("    " + describe(cost))
    let key = loss == 0 ? "0" : "\(loss)"
    eventLoopRates[key] = rate
    breakdown["udp_loss_\(key)"] = cost.json
    if loss == 0 {
        gameThreadLossFree = cost
        // The rest of the user time: NIO, thread hand-offs, locks, copies.
        breakdown["udp_split_us"] = split(cost)
    }
}
results["unthrottled_event_loop_ticks_per_second"] = eventLoopRates
// The same, with each game stepped on its peer's event loop: what the hand-offs between the
// game thread and the event loops cost.
let onLoop = try unthrottledLockstep(loss: 0, seconds: 3, onLoop: true)
say(String(format: "unthrottled lockstep, 2 players, games on the event loops: %8.0f ticks/s", onLoop.ticksPerSecond))
say("    " + describe(onLoop))
breakdown["udp_loss_0_games_on_loops"] = onLoop.json
// The kernel's time per datagram sent: polling, it is the send and the receive; with event loops
// it also wakes the receiving thread (and the game thread, when there is one).
var kernelPerDatagram: [String: Double] = [:]
let measured: [(String, TickCost?)] = [
    ("one_thread_polling", pollingLossFree), ("thread_per_peer", perPeerLossFree), ("polled_lockstep_peer", polledLossFree),
    ("game_thread", gameThreadLossFree),
    ("games_on_the_event_loops", onLoop),
]
for (name, cost) in measured {
    if let cost, cost.datagrams > 0 { kernelPerDatagram[name] = cost.usage.system.microseconds / Double(cost.datagrams) }
}
if let p = kernelPerDatagram["one_thread_polling"], let g = kernelPerDatagram["game_thread"], let l = kernelPerDatagram["games_on_the_event_loops"] {
    say(
        String(
            format:
                "kernel time per datagram sent: %.1f us polling on one thread, %.1f us with the event loops, %.1f us with a game thread too (waking threads)",
            p, l, g))
}
breakdown["kernel_us_per_datagram"] = kernelPerDatagram
// The CPU goal: one peer's work per tick at 60 Hz with many players (in memory: the protocol).
var paced: [String: Double] = [:]
for players in [8, 16] {
    let perPeer = try inMemoryAt60Hz(players: players, ticks: 600)
    say(String(format: "in memory, %d players at 60 Hz: %.1f us of CPU per peer per tick (goal: under 166 us, 1%% of a core)", players, perPeer.microseconds))
    paced["\(players)"] = perPeer.microseconds
}
breakdown["in_memory_60hz_cpu_us_per_peer_per_tick"] = paced
// Input latency through the polled embedding: 4 players at 60 Hz on loopback, each on a thread
// asleep on its socket between frames, each row's report sent at once (`promptReports`):
// submit to complete on every peer, which takes two crossings (the input, then the reports).
let latency = try polledLatency(players: 4, ticks: 600, prompt: true)
say(
    String(
        format:
            "polled, 4 players at 60 Hz, prompt reports: submit to complete p50 %.0f us, p99 %.0f us (two crossings; raw one-way %@), %.2f datagrams per input per peer",
        latency.p50, latency.p99, raw.map { String(format: "%.1f us", $0.paced_one_way_p50_us) } ?? "not measured", latency.datagrams))
results["polled_prompt_reports_latency_us"] = ["p50": latency.p50, "p99": latency.p99, "datagrams_per_input_per_peer": latency.datagrams]
results["unthrottled_ticks_per_second"] = unthrottled
results["unthrottled_cpu_us_per_tick"] = cpuPerTick
results["unthrottled_breakdown"] = breakdown
// A, R and B on a thread each: what R forwards, and the CPU it spends per message (its ceiling
// with a core to itself is a million over that). The headline `relay_*` keys are batches of
// 256 under one signature, the most one batch holds (`MeshNode.broadcast(batch:now:)`); then
// each message signed alone (`relay_each_signed_*`), batches of 32 and of 64.
// `*_vs_raw` is messages forwarded per second over the raw relay's datagrams per second, with
// the three threads sharing the cores as they do; `*_cpu_vs_raw` is the raw relay thread's CPU
// per datagram over R's per message: what each forwards with a core to itself.
for (label, key, batched, burst) in [
    ("batches of 256: ", "relay_", true, 256), ("each signed:    ", "relay_each_signed_", false, 32), ("batches of 32:  ", "relay_batched_", true, 32),
    ("batches of 64:  ", "relay_batched64_", true, 64),
] {
    // The raw relay measured just before this run (the run's minute, not the suite's first):
    // the machine's speed drifts by tens of percent over minutes. The suite's first baseline
    // stands in if that measurement fails (`*_raw_reference` says which one was used).
    let adjacent = try? baselineTool?.measure(["relay"], as: RelayBaseline.self)
    let reference =
        adjacent ?? raw.map { RelayBaseline(relay_per_second: $0.relay_per_second, relay_cpu_us_per_datagram: $0.relay_cpu_us_per_datagram) }
    let run = try relayThroughput(seconds: 3, batched: batched, burst: burst)
    let ratio = reference.map { run.forwarded / $0.relay_per_second }
    let cpuRatio = reference.map { $0.relay_cpu_us_per_datagram / run.relayMicroseconds }
    // Which raw relay the ratios compare with: "just_before" this run, or the suite's "first_baseline".
    if let adjacent {
        results[key + "raw_per_second"] = adjacent.relay_per_second
        results[key + "raw_cpu_us_per_datagram"] = adjacent.relay_cpu_us_per_datagram
        results[key + "raw_reference"] = "just_before"
    } else if reference != nil {
        results[key + "raw_reference"] = "first_baseline"
        say("(the raw relay could not run just before this one: the ratios below are against the first baseline)")
    }
    say(
        String(
            format: "relay A-R-B, 100-byte payloads, %@ %8.0f forwarded/s by R, %8.0f delivered/s at B; R: %.1f us of CPU, %.2f datagrams per message",
            label, run.forwarded, run.delivered, run.relayMicroseconds, run.datagramsPerMessage)
            + (ratio.map { String(format: "  = %.3f of the raw relay", $0) } ?? "")
            + (cpuRatio.map { String(format: " (%.2f of its CPU per datagram)", 1 / $0) } ?? ""))
    if let cpuRatio { results[key + "cpu_vs_raw"] = cpuRatio }
    results[key + "forwarded_per_second"] = run.forwarded
    results[key + "delivered_per_second"] = run.delivered
    results[key + "cpu_us_per_forwarded"] = run.relayMicroseconds
    results[key + "datagrams_per_forwarded"] = run.datagramsPerMessage
    results[key + "origin_cpu_us_per_message"] = run.originMicroseconds
    results[key + "sink_cpu_us_per_message"] = run.sinkMicroseconds
    if let ratio { results[key + "vs_raw"] = ratio }
}
if json {
    let data = try JSONSerialization.data(withJSONObject: results, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}
