import Foundation
import Logging
import MeshstepMesh
import MeshstepAddress
import MeshstepResolver
import MeshstepResolverServer
import MeshstepWire
import NIOCore
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// A blocking UDP socket on 127.0.0.1 with a receive timeout: the smallest possible real client.
final class LoopbackSocket {
    let fd: Int32
    let port: UInt16

    init(timeoutMilliseconds: Int = 2000) throws {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let ok = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard ok == 0 else { close(fd); throw POSIXError(.EADDRINUSE) }
        var timeout = timeval(tv_sec: timeoutMilliseconds / 1000, tv_usec: (timeoutMilliseconds % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        port = UInt16(bigEndian: bound.sin_port)
        self.fd = fd
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8], toPort port: Int) {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        _ = bytes.withUnsafeBytes { buffer in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, buffer.baseAddress, buffer.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
    }

    /// One datagram, or nil after the timeout.
    func receive() -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 2048)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n >= 0 ? Array(buffer.prefix(n)) : nil
    }
}

func monotonicNow() -> MeshTime { MeshTime(nanoseconds: Int64(NIODeadline.now().uptimeNanoseconds)) }
func wallClockNow() -> UInt64 { UInt64(Date().timeIntervalSince1970 * 1000) }

/// Sends a client's datagrams over the socket and feeds the answers back until the client has
/// nothing more to send; returns its events.
func drive(_ actions: [ResolverClientAction], _ client: inout ResolverClient, over socket: LoopbackSocket, port: Int) -> [ResolverClientEvent] {
    var events = actions.compactMap(\.event)
    var pending = actions.compactMap(\.bytes)
    while !pending.isEmpty {
        socket.send(pending.removeFirst(), toPort: port)
        guard let reply = socket.receive() else { break }
        let more = client.receive(reply, now: monotonicNow(), wallClock: wallClockNow())
        events += more.compactMap(\.event)
        pending += more.compactMap(\.bytes)
    }
    return events
}

@Suite("resolver server on real sockets", .serialized)
struct ServerTests {
    @Test("two clients register over UDP on loopback, one resolves the other, stop reports the counters")
    func realSockets() throws {
        let server = try ResolverServer.start(host: "127.0.0.1", port: 0, seed: 1, logger: Logger(label: "test.resolver"))
        defer { server.stop() }
        #expect(server.localPort > 0)
        let socketA = try LoopbackSocket(), socketB = try LoopbackSocket()
        var a = try ResolverClient(identity: identity(1), credentials: arenaCredentials, addresses: [.ipv4(0, port: socketA.port)], seed: 1)
        var b = try ResolverClient(identity: identity(2), credentials: arenaCredentials, addresses: [.ipv4(0, port: socketB.port)], seed: 2)
        #expect(
            drive(a.register(now: monotonicNow(), wallClock: wallClockNow()), &a, over: socketA, port: server.localPort) == [
                .observedAddress(.ipv4(0x7F00_0001, port: UInt16(socketA.port))), .registered(ttlSeconds: 30, created: true),
            ])
        #expect(
            drive(b.register(now: monotonicNow(), wallClock: wallClockNow()), &b, over: socketB, port: server.localPort) == [
                .observedAddress(.ipv4(0x7F00_0001, port: UInt16(socketB.port))), .registered(ttlSeconds: 30, created: true),
            ])
        let events = drive(b.resolve(now: monotonicNow(), wallClock: wallClockNow()), &b, over: socketB, port: server.localPort)
        guard case let .resolved(answer)? = events.first, events.count == 1 else { Issue.record("no answer: \(events)"); return }
        #expect(answer.registeredCount == 2 && answer.excludedIsRegistered)
        // The unspecified address became 127.0.0.1, the observed one is the same: one address.
        #expect(answer.referrals == [Referral(peer: identity(1).key, address: ip(127, 0, 0, 1, port: socketA.port))])
        #expect(drive(a.unregister(now: monotonicNow(), wallClock: wallClockNow()), &a, over: socketA, port: server.localPort) == [.unregistered])
        // Junk is dropped unanswered; the resolve after it (same socket, so read after it) is answered.
        socketB.send([0xFF, 0x00], toPort: server.localPort)
        #expect(drive(b.resolve(now: monotonicNow(), wallClock: wallClockNow()), &b, over: socketB, port: server.localPort).count == 1)
        let stats = server.stop()
        // Each client's first register is answered with a cookie, then acknowledged.
        #expect(stats.registered == 2 && stats.resolves == 2 && stats.unregistered == 1 && stats.cookiesSent == 2 && stats.sent == 7)
        #expect(stats.received == 8 && stats.malformed == 1 && stats.registrations == 1)
        #expect(server.stop() == stats)
    }

    @Test("a client re-registers with a restarted server on the same port")
    func restartOnSamePort() throws {
        let first = try ResolverServer.start(host: "127.0.0.1", port: 0, logger: Logger(label: "test.resolver"))
        let port = first.localPort
        let socket = try LoopbackSocket()
        var client = try ResolverClient(identity: identity(6), credentials: arenaCredentials, addresses: [], seed: 6)
        #expect(
            drive(client.register(now: monotonicNow(), wallClock: wallClockNow()), &client, over: socket, port: port) == [
                .observedAddress(.ipv4(0x7F00_0001, port: UInt16(socket.port))), .registered(ttlSeconds: 30, created: true),
            ])
        #expect(first.stop().registrations == 1)
        let second = try ResolverServer.start(host: "127.0.0.1", port: port, logger: Logger(label: "test.resolver"))
        defer { second.stop() }
        // The refresh is due a third of the TTL later; tell the client it is that time.
        let due = try #require(client.nextDeadline)
        #expect(drive(client.tick(now: due, wallClock: wallClockNow()), &client, over: socket, port: port) == [.reregistered])
        #expect(second.stats().registrations == 1)
    }

    @Test("the server's repeated task expires registrations (TTL 1 s, real time)")
    func realExpiry() throws {
        var configuration = ResolverConfiguration()
        configuration.ttlSeconds = 1
        let server = try ResolverServer.start(host: "127.0.0.1", port: 0, configuration: configuration, logger: Logger(label: "test.resolver"))
        defer { server.stop() }
        let socket = try LoopbackSocket()
        var client = try ResolverClient(identity: identity(7), credentials: arenaCredentials, addresses: [], seed: 7)
        #expect(
            drive(client.register(now: monotonicNow(), wallClock: wallClockNow()), &client, over: socket, port: server.localPort) == [
                .observedAddress(.ipv4(0x7F00_0001, port: UInt16(socket.port))), .registered(ttlSeconds: 1, created: true),
            ])
        // Expiry runs once a second: poll the counters for up to 5 s.
        let deadline = Date().addingTimeInterval(5)
        while server.stats().expired == 0 && Date() < deadline { usleep(100_000) }
        let stats = server.stats()
        #expect(stats.expired == 1 && stats.registrations == 0 && stats.meshes == 0)
    }

    /// Whether this machine can bind an IPv6 socket (`::`).
    static let hasIPv6: Bool = {
        let fd = socket(AF_INET6, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return false }
        close(fd)
        return true
    }()

    @Test(
        "bound to ::, the server answers IPv4 clients and registers them as IPv4",
        .enabled(if: hasIPv6, "no IPv6 on this machine"))
    func dualStack() throws {
        let server = try ResolverServer.start(host: "::", port: 0, seed: 1, logger: Logger(label: "test.resolver"))
        defer { server.stop() }
        let socket = try LoopbackSocket()
        var client = try ResolverClient(identity: identity(4), credentials: arenaCredentials, addresses: [], seed: 4)
        #expect(
            drive(client.register(now: monotonicNow(), wallClock: wallClockNow()), &client, over: socket, port: server.localPort) == [
                .observedAddress(.ipv4(0x7F00_0001, port: UInt16(socket.port))), .registered(ttlSeconds: 30, created: true),
            ])
        var other = try ResolverClient(identity: identity(5), credentials: arenaCredentials, addresses: [], seed: 5)
        let events = drive(other.resolve(now: monotonicNow(), wallClock: wallClockNow()), &other, over: try LoopbackSocket(), port: server.localPort)
        guard case let .resolved(answer)? = events.first else { Issue.record("no answer: \(events)"); return }
        #expect(answer.referrals == [Referral(peer: identity(4).key, address: ip(127, 0, 0, 1, port: socket.port))])
    }

    @Test("socket address conversions")
    func conversions() throws {
        let v6 = MeshAddress.ipv6([0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1], port: 7400)
        #expect(MeshAddress(try SocketAddress(v6)) == v6)
        #expect(MeshAddress(try SocketAddress(ip(192, 0, 2, 1, port: 7400))) == ip(192, 0, 2, 1, port: 7400))
        #expect(MeshAddress(try SocketAddress(ip(192, 0, 2, 1, port: 7400), mappedToIPv6: true)) == ip(192, 0, 2, 1, port: 7400))
        #expect(try SocketAddress(ip(192, 0, 2, 1, port: 7400), mappedToIPv6: true).protocol == .inet6)
    }

    @Test("a second server on the same port fails with portInUse")
    func portInUse() throws {
        let server = try ResolverServer.start(host: "127.0.0.1", port: 0, logger: Logger(label: "test.resolver"))
        defer { server.stop() }
        #expect(
            throws: ResolverServerError.portInUse(
                host: "127.0.0.1", port: server.localPort, detail: "another program is bound to UDP 127.0.0.1 port \(server.localPort)")
        ) {
            try ResolverServer.start(host: "127.0.0.1", port: server.localPort, logger: Logger(label: "test.resolver"))
        }
    }
}

/// The `meshstep` executable built with this test bundle (in the same products folder).
func meshstepBinary() throws -> String {
    let path = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        .deletingLastPathComponent().appendingPathComponent("meshstep").path
    guard FileManager.default.isExecutableFile(atPath: path) else { throw POSIXError(.ENOENT) }
    return path
}

@Suite("meshstep resolver CLI", .serialized)
struct ResolverCLITests {
    @Test("a busy port gives exit code 1 and says what to do")
    func busyPort() throws {
        let busy = try LoopbackSocket()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try meshstepBinary())
        process.arguments = ["resolver", "--host", "127.0.0.1", "--port", "\(busy.port)"]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = Pipe()
        try process.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 1)
        #expect(stderr.contains("port \(busy.port) is in use"), "stderr: \(stderr)")
        #expect(stderr.contains("pick another with --port"), "stderr: \(stderr)")
    }

    @Test("--metrics-port serves the counters to Prometheus at /metrics; 404 elsewhere")
    func prometheusEndpoint() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try meshstepBinary())
        process.arguments = ["resolver", "--host", "127.0.0.1", "--port", "0", "--metrics-port", "0"]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = Pipe()
        try process.run()
        defer { process.terminate() }
        var log = ""
        while !(log.contains("listening") && log.contains("metrics on")) {
            let chunk = err.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            log += String(decoding: chunk, as: UTF8.self)
        }
        guard let udp = log.range(of: #"port (\d+)"#, options: .regularExpression), let port = Int(log[udp].dropFirst(5)),
            let http = log.range(of: #"127\.0\.0\.1:(\d+)/metrics"#, options: .regularExpression),
            let metricsPort = Int(log[http].dropFirst(10).dropLast(8))
        else {
            Issue.record("no listening lines: \(log)")
            return
        }
        let socket = try LoopbackSocket()
        var client = try ResolverClient(identity: identity(4), credentials: arenaCredentials, addresses: [], seed: 4)
        #expect(drive(client.register(now: monotonicNow(), wallClock: wallClockNow()), &client, over: socket, port: port).count == 2)
        // The counters are exported at every tick of the resolver (1 s).
        var body = ""
        for _ in 0..<40 where !body.contains("meshstep_resolver_registered_total 1") {
            Thread.sleep(forTimeInterval: 0.1)
            body = try httpGet("/metrics", port: metricsPort)
        }
        #expect(body.hasPrefix("HTTP/1.1 200 OK"), "\(body)")
        #expect(body.contains("meshstep_resolver_registered_total 1"), "\(body)")
        #expect(body.contains("meshstep_resolver_cookies_sent_total 1"), "\(body)")
        #expect(body.contains("meshstep_resolver_registrations 1"), "\(body)")
        #expect(try httpGet("/", port: metricsPort).hasPrefix("HTTP/1.1 404"))
    }

    @Test("SIGTERM stops the resolver with a final stats line and exit code 0")
    func gracefulStop() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try meshstepBinary())
        process.arguments = ["resolver", "--host", "127.0.0.1", "--port", "0"]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Wait for the "listening" line and read the port from it.
        var log = ""
        while !log.contains("listening") {
            let chunk = err.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            log += String(decoding: chunk, as: UTF8.self)
        }
        guard let range = log.range(of: #"port (\d+)"#, options: .regularExpression), let port = Int(log[range].dropFirst(5)) else {
            process.terminate()
            Issue.record("no listening line: \(log)")
            return
        }
        let socket = try LoopbackSocket()
        var client = try ResolverClient(identity: identity(3), credentials: arenaCredentials, addresses: [], seed: 3)
        #expect(
            drive(client.register(now: monotonicNow(), wallClock: wallClockNow()), &client, over: socket, port: port) == [
                .observedAddress(.ipv4(0x7F00_0001, port: UInt16(socket.port))), .registered(ttlSeconds: 30, created: true),
            ])
        kill(process.processIdentifier, SIGTERM)
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        log += String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0)
        #expect(stdout.hasPrefix("resolver stopped: received=2 registered=1 "), "stdout: \(stdout)")  // a cookie round, then the register
        #expect(log.contains("register mesh=\(arena) peer=\(identity(3).key) addresses=127.0.0.1:\(socket.port)"), "log: \(log)")
    }
}

@Suite("HOST:PORT parsing")
struct EndpointTests {
    @Test("accepted forms")
    func accepted() throws {
        #expect(try HostPort.split("192.0.2.1:7400") == ("192.0.2.1", 7400))
        #expect(try HostPort.split("[2001:db8::1]:7400") == ("2001:db8::1", 7400))
        #expect(try HostPort.split("resolver.example.org:1") == ("resolver.example.org", 1))
        #expect(MeshAddress(try HostPort.resolve("127.0.0.1:7400")) == ip(127, 0, 0, 1, port: 7400))
        #expect(MeshAddress(try HostPort.resolve("localhost:7400"))?.port == 7400)
    }

    @Test(
        "rejected forms say how to write it",
        arguments: [
            ("192.0.2.1", HostPortError.missingPort("192.0.2.1")),
            ("2001:db8::1:7400", .missingPort("2001:db8::1:7400")),
            (":7400", .missingPort(":7400")),
            ("[::1]7400", .missingPort("[::1]7400")),
            ("192.0.2.1:0", .invalidPort("192.0.2.1:0")),
            ("192.0.2.1:x", .invalidPort("192.0.2.1:x")),
            ("192.0.2.1:70000", .invalidPort("192.0.2.1:70000")),
        ])
    func rejected(_ text: String, _ expected: HostPortError) {
        #expect(throws: expected) { try HostPort.split(text) }
    }

    @Test("an unknown host is a typed error")
    func unknownHost() {
        #expect {
            try HostPort.resolve("no-such-host.invalid:7400")
        } throws: { error in
            guard case .unknownHost("no-such-host.invalid", _)? = error as? HostPortError else { return false }
            return "\(error)".contains("check the spelling")
        }
    }
}

/// One HTTP/1.1 GET on 127.0.0.1 with `Connection: close`; the whole response as text.
func httpGet(_ path: String, port: Int) throws -> String {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EIO) }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
    let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
    _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        response += buffer[0..<n]
    }
    return String(decoding: response, as: UTF8.self)
}
