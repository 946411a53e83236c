import Foundation
import Testing
#if canImport(Glibc)
    import Glibc
#endif

// Helpers for the real-network tests: child processes with captured output, free ports, polling
// with deadlines, and the `meshstep bot` JSON.

enum HarnessError: Error, CustomStringConvertible {
    case notBuilt([String])
    case commandFailed(command: String, status: Int32, stderr: String)
    case toolMissing(String)

    var description: String {
        switch self {
        case let .notBuilt(paths): "an executable is not built (looked at \(paths.joined(separator: ", "))); run 'swift build --build-tests' first"
        case let .commandFailed(command, status, stderr): "'\(command)' exited \(status): \(stderr)"
        case let .toolMissing(tool): "\(tool) is not installed"
        }
    }
}

/// The `meshstep` executable of this build (absolute path).
func meshstepBinary() throws -> String {
    // MESHSTEP_BINARY picks another build (for example a release build, to measure).
    if let chosen = ProcessInfo.processInfo.environment["MESHSTEP_BINARY"] {
        guard FileManager.default.isExecutableFile(atPath: chosen) else { throw HarnessError.notBuilt([chosen]) }
        return chosen
    }
    return try builtProduct("meshstep")
}

/// An executable product built with this test bundle: it sits in the same products folder
/// (`.build/debug` or `.build/release`, whichever built the tests).
func builtProduct(_ name: String) throws -> String {
    let bundle = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
    let path = bundle.deletingLastPathComponent().appendingPathComponent(name).path
    guard FileManager.default.isExecutableFile(atPath: path) else { throw HarnessError.notBuilt([path]) }
    return path
}

/// Finds a system tool (`ip`, `nft`) on the usual paths.
func systemTool(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    let dirs = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
    return dirs.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes; returns whether it held.
@discardableResult
func poll(timeout: Duration, _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + timeout
    while true {
        if condition() { return true }
        if ContinuousClock.now >= deadline { return false }
        Thread.sleep(forTimeInterval: 0.01)
    }
}

/// A child process whose stdout and stderr are read continuously (so it never blocks on a full
/// pipe) and whose stdin can optionally be written line by line.
final class Child: @unchecked Sendable {
    let label: String
    private let process = Process()
    private let outPipe = Pipe(), errPipe = Pipe()
    private let inPipe: Pipe?
    private let cond = NSCondition()
    private var outData = Data(), errData = Data()
    private var openStreams = 2
    private var streamsClosedAt: ContinuousClock.Instant?

    init(_ label: String, executable: String, arguments: [String], withStdin: Bool = false) throws {
        Child.ignoreSIGPIPE
        self.label = label
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = outPipe
        process.standardError = errPipe
        if withStdin {
            let p = Pipe()
            inPipe = p
            process.standardInput = p
        } else {
            inPipe = nil
            process.standardInput = FileHandle.nullDevice
        }
        // No other child may inherit these pipes: a leaked copy of a stdin pipe's write end would
        // keep that child from ever seeing end of file. (The child's own ends are dup'ed onto
        // 0, 1 and 2, which stay open across exec.)
        for pipe in [outPipe, errPipe] + (inPipe.map { [$0] } ?? []) {
            for fd in [pipe.fileHandleForReading.fileDescriptor, pipe.fileHandleForWriting.fileDescriptor] {
                _ = fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC)
            }
        }
        try process.run()
        pump(outPipe.fileHandleForReading.fileDescriptor, isStdout: true)
        pump(errPipe.fileHandleForReading.fileDescriptor, isStdout: false)
    }

    /// Writing to a child that already exited must be an error, not a signal that kills the tests.
    private static let ignoreSIGPIPE: Void = {
        signal(SIGPIPE, SIG_IGN); return ()
    }()

    private func pump(_ fd: Int32, isStdout: Bool) {
        Thread.detachNewThread { [self] in
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = read(fd, &buffer, buffer.count)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                cond.lock()
                if isStdout { outData.append(contentsOf: buffer[0..<n]) } else { errData.append(contentsOf: buffer[0..<n]) }
                cond.unlock()
            }
            cond.lock()
            openStreams -= 1
            if openStreams == 0 { streamsClosedAt = .now }
            cond.broadcast()
            cond.unlock()
        }
    }

    var pid: pid_t { process.processIdentifier }
    var stdout: String { cond.lock(); defer { cond.unlock() }; return String(decoding: outData, as: UTF8.self) }
    var stderr: String { cond.lock(); defer { cond.unlock() }; return String(decoding: errData, as: UTF8.self) }
    var stdoutLines: [String] { stdout.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }
    var isRunning: Bool { process.isRunning }
    /// When the child's stdout and stderr both reached end of file: when it exited, to within
    /// the pump threads' wake-up.
    var endedAt: ContinuousClock.Instant? { cond.lock(); defer { cond.unlock() }; return streamsClosedAt }

    /// Waits for the process to exit and for both output pipes to reach end of file.
    /// Returns the exit status (the signal number when killed), or nil on timeout.
    func wait(timeout: Duration) -> Int32? {
        let deadline = ContinuousClock.now + timeout
        guard poll(timeout: timeout, { !process.isRunning }) else { return nil }
        let left = deadline - ContinuousClock.now
        let until = Date(timeIntervalSinceNow: max(0.5, Double(left.components.seconds) + Double(left.components.attoseconds) / 1e18))
        cond.lock()
        while openStreams > 0 { if !cond.wait(until: until) { break } }
        cond.unlock()
        return process.terminationStatus
    }

    var killedBySignal: Bool { !process.isRunning && process.terminationReason == .uncaughtSignal }

    func send(_ line: String) throws {
        guard let inPipe else { return }
        try inPipe.fileHandleForWriting.write(contentsOf: Data((line + "\n").utf8))
    }

    func closeStdin() {
        try? inPipe?.fileHandleForWriting.close()
    }

    func sendSignal(_ sig: Int32) {
        if process.isRunning { _ = kill(process.processIdentifier, sig) }
    }

    /// Cleanup for `defer`: SIGKILL if still running, and reap it.
    func reap() {
        closeStdin()
        if process.isRunning {
            sendSignal(SIGKILL)
            _ = wait(timeout: .seconds(5))
        }
    }

    /// Everything the child printed, for failure messages.
    var transcript: String {
        "[\(label)] status \(process.isRunning ? "running" : String(process.terminationStatus))\n--- stdout\n\(stdout)--- stderr\n\(stderr)"
    }
}

/// `count` distinct UDP ports below the ephemeral range (so port-0 sockets of other programs do
/// not take them between this check and the bind), each checked free on `host` right now.
func freeUDPPorts(_ count: Int, host: String = "127.0.0.1") -> [Int] {
    var ports: [Int] = []
    while ports.count < count {
        let candidate = Int.random(in: 20000..<32000)
        if !ports.contains(candidate), udpPortIsFree(candidate, host: host) { ports.append(candidate) }
    }
    return ports
}

func udpPortIsFree(_ port: Int, host: String) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr(host)
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    return result == 0
}

/// A child lost a race for its port to another program: the run is retried with new ports.
func lostPortRace(_ children: [Child]) -> Bool {
    children.contains { $0.stderr.contains("is in use") }
}

/// The JSON object `meshstep bot --json` prints.
struct BotReport: Decodable, Equatable {
    struct Drop: Decodable, Equatable, Hashable, CustomStringConvertible {
        var slot: Int
        var tick: Int
        var description: String { "\(slot)@\(tick)" }
    }
    struct Halt: Decodable, Equatable {
        var slot: Int
        var reason: String
    }
    var slot: Int
    var players: Int
    var ticks: Int
    var ticksCompleted: Int
    var finalTick: Int
    var checksumAtFinalTick: String
    var drops: [Drop]
    /// Slots readmitted after a drop (a bot restarted with its identity), as this bot saw them.
    var rejoins: [Drop]?
    /// Open slots newcomers filled, as this bot saw them.
    var lateJoins: [Drop]?
    /// The tick this bot resumed from, when it found the match running.
    var resumedAt: Int?
    var rejoinedAfterHalt: Int?
    var snapshotBytes: Int?
    var desyncs: Int
    var halted: Halt?
    var inputLatencyMsP50: Double
    var inputLatencyMsP99: Double
    var wallSeconds: Double
    var bytesPerInputPerPeer: Double?
    var longestStallMs: Double?
    var ticksPerSecond: Double?
    var ticksPerSecondAfterDrop: Double?
    /// Each link to another player: its slot and smoothed keepalive round trip.
    struct Link: Decodable, Equatable {
        var slot: Int
        var rttMs: Double
    }
    var links: [Link]?
    var relayedMessages: Int?
    /// Where the resolver saw this bot's datagrams come from (its NAT's public mapping).
    var publicAddress: String?

    static func parse(_ child: Child) throws -> BotReport {
        let line = try #require(child.stdoutLines.last, "no JSON on stdout\n\(child.transcript)")
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(BotReport.self, from: Data(line.utf8))
    }
}

/// Runs the bots to completion (or `timeout`), kills any that are left, and returns their exit
/// statuses (nil: still running at the deadline, then killed).
func waitAll(_ children: [Child], timeout: Duration) -> [Int32?] {
    let deadline = ContinuousClock.now + timeout
    return children.map { child in
        let status = child.wait(timeout: max(.milliseconds(100), deadline - ContinuousClock.now))
        if status == nil { child.reap() }
        return status
    }
}

/// CPU time of the whole machine (from /proc/stat) and of some processes (from /proc/PID/stat),
/// to tell how much of the machine other programs took during a real-time test.
struct CPUSample {
    let at = ContinuousClock.now
    /// Busy time of every core together, in clock ticks.
    let machineBusy: Double
    /// user + system time of the processes, in clock ticks.
    let processes: Double

    init(pids: [pid_t]) {
        func fields(_ path: String) -> [Substring] {
            (try? String(contentsOfFile: path, encoding: .utf8)).map { $0.split(separator: " ", omittingEmptySubsequences: true) } ?? []
        }
        // cpu  user nice system idle iowait irq softirq steal
        let cpu = fields("/proc/stat").prefix(9).dropFirst().compactMap { Double($0) }
        machineBusy = cpu.count == 8 ? cpu.reduce(0, +) - cpu[3] - cpu[4] : 0
        processes = pids.reduce(0) { sum, pid in
            // Fields after the command name (in parentheses, which may hold spaces): utime is the
            // 12th, stime the 13th.
            guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = text.lastIndex(of: ")")
            else { return sum }
            let rest = text[text.index(after: close)...].split(separator: " ")
            guard rest.count > 12, let u = Double(rest[11]), let s = Double(rest[12]) else { return sum }
            return sum + u + s
        }
    }

    /// Cores' worth of CPU that everything but the sampled processes used since `earlier`.
    func otherCores(since earlier: CPUSample) -> Double {
        let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        let wall = Double((at - earlier.at).components.attoseconds) / 1e18 + Double((at - earlier.at).components.seconds)
        guard wall > 0, ticksPerSecond > 0 else { return 0 }
        return max(0, (machineBusy - earlier.machineBusy) - (processes - earlier.processes)) / ticksPerSecond / wall
    }
}
