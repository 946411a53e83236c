import Foundation
import Logging
import MeshstepAddress
import MeshstepLockstep
import MeshstepMesh
import MeshstepWire
import NIOCore
import NIOPosix

// The socket-level plumbing of the UDP shell: binding the socket, and the one timer per event
// loop that the mesh's and the resolver client's deadlines re-arm.

extension UDPMeshPeer {
    /// A non-blocking UDP socket bound to `address` (dual-stack for `::`).
    static func bindSocket(_ address: SocketAddress, host: String, port: Int) throws(NetError) -> CInt {
        let family: CInt
        switch address {
        case .v4: family = AF_INET
        case .v6: family = AF_INET6
        default: throw .badAddress(host, detail: "not an IP address")
        }
        let fd = Glibc.socket(family, CInt(SOCK_DGRAM.rawValue) | CInt(SOCK_NONBLOCK.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .bindFailed(host: host, port: port, detail: String(cString: strerror(errno))) }
        if family == AF_INET6 {
            var off: CInt = 0
            _ = setsockopt(fd, CInt(IPPROTO_IPV6), IPV6_V6ONLY, &off, socklen_t(MemoryLayout<CInt>.size))
        }
        let result = address.withSockAddr { sa, len in bind(fd, sa, socklen_t(len)) }
        if result != 0 {
            let code = errno
            close(fd)
            if code == EADDRINUSE { throw .portInUse(host: host, port: port) }
            throw .bindFailed(host: host, port: port, detail: String(cString: strerror(code)))
        }
        return fd
    }
}

/// One pending timer on an event loop, re-armed only when the wanted deadline changes.
struct DeadlineTimer {
    private var task: Scheduled<Void>?
    private var deadline: MeshTime?

    /// Fires `body` at `wanted` (protocol time since `origin`), replacing an earlier deadline.
    mutating func arm(_ wanted: MeshTime, origin: NIODeadline, on loop: any EventLoop, _ body: @escaping @Sendable () -> Void) {
        if deadline == wanted { return }
        task?.cancel()
        deadline = wanted
        task = loop.scheduleTask(deadline: .uptimeNanoseconds(origin.uptimeNanoseconds + UInt64(max(0, wanted.nanoseconds))), body)
    }

    /// Call first thing when the timer fires, so the next `arm` schedules again.
    mutating func fired() { deadline = nil }

    mutating func cancel() {
        task?.cancel()
        task = nil
        deadline = nil
    }
}

/// A bound non-blocking UDP socket: sends that count their failures as lost datagrams, and
/// receives with the sender's address. Used by one thread at a time (the event loop, or the
/// holder of a `PolledLockstepPeer`'s lock).
@usableFromInline final class DatagramSocket: @unchecked Sendable {
    let fd: CInt
    /// Whether the socket is IPv6 (dual-stack): IPv4 destinations are sent to as `::ffff:a.b.c.d`.
    @usableFromInline let ipv6: Bool
    var sendFailures = 0

    init(fd: CInt, ipv6: Bool) {
        self.fd = fd
        self.ipv6 = ipv6
    }

    /// The address `fd` is bound to.
    static func localAddress(_ fd: CInt) throws -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let r = withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard r == 0 else { throw NetError.bindFailed(host: "?", port: 0, detail: String(cString: strerror(errno))) }
        switch CInt(storage.ss_family) {
        case AF_INET:
            let a = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in.self) }
            return SocketAddress(a, host: "")
        default:
            let a = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in6.self) }
            return SocketAddress(a, host: "")
        }
    }

    /// One datagram out to a mesh address, now (IPv4 as `::ffff:a.b.c.d` from an IPv6 socket).
    /// The socket address is built on the stack: no lookup, no allocation, on every datagram.
    /// Failures are counted as lost datagrams, as for a socket address.
    @usableFromInline func send(_ bytes: [UInt8], to address: MeshAddress, hopLimit: UInt8? = nil, logger: Logger) {
        switch address {
        case let .ipv4(host, port) where !ipv6:
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            sin.sin_addr.s_addr = host.bigEndian
            send(bytes, to: &sin, hopLimit: hopLimit, logger: logger, named: address)
        case let .ipv4(host, port):
            var sin6 = Self.ipv6Address(port: port) { b in
                b[10] = 0xFF
                b[11] = 0xFF
                b.storeBytes(of: host.bigEndian, toByteOffset: 12, as: UInt32.self)
            }
            send(bytes, to: &sin6, hopLimit: hopLimit, logger: logger, named: address)
        case let .ipv6(raw, port):
            // An IPv6 destination from an IPv4 socket fails in sendto, and is counted there; so
            // is an address that is not 16 bytes (no decoder makes one).
            guard raw.count == 16 else { sendFailures += 1; return }
            var sin6 = Self.ipv6Address(port: port) { $0.copyBytes(from: raw) }
            send(bytes, to: &sin6, hopLimit: hopLimit, logger: logger, named: address)
        }
    }

    /// A `sockaddr_in6` for `port`, its 16 address bytes written by `address` (zeroed first).
    private static func ipv6Address(port: UInt16, _ address: (UnsafeMutableRawBufferPointer) -> Void) -> sockaddr_in6 {
        var sin6 = sockaddr_in6()
        sin6.sin6_family = sa_family_t(AF_INET6)
        sin6.sin6_port = port.bigEndian
        withUnsafeMutableBytes(of: &sin6.sin6_addr, address)
        return sin6
    }

    /// One datagram out, now. Any failure (a firewall's EPERM, a full buffer's EAGAIN, an
    /// unreachable network) is counted and otherwise treated as a lost datagram. With a
    /// `hopLimit`, the socket's TTL (IPv4) and unicast hop limit (IPv6) are set for this one
    /// datagram and put back after it.
    @usableFromInline func send(_ bytes: [UInt8], to address: SocketAddress, hopLimit: UInt8? = nil, logger: Logger) {
        address.withSockAddr { sa, len in send(bytes, to: sa, length: len, hopLimit: hopLimit, logger: logger, named: address) }
    }

    /// Sends to a `sockaddr_in` or `sockaddr_in6`.
    private func send<Address>(_ bytes: [UInt8], to address: inout Address, hopLimit: UInt8?, logger: Logger, named name: MeshAddress) {
        withUnsafePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                send(bytes, to: $0, length: MemoryLayout<Address>.size, hopLimit: hopLimit, logger: logger, named: name)
            }
        }
    }

    private func send(
        _ bytes: [UInt8], to sa: UnsafePointer<sockaddr>, length: Int, hopLimit: UInt8?, logger: Logger, named address: some CustomStringConvertible
    ) {
        if let hopLimit { setHopLimit(CInt(hopLimit)) }
        defer { if hopLimit != nil { setHopLimit(-1) } }
        let fd = fd
        let sent = bytes.withUnsafeBytes { buffer in sendto(fd, buffer.baseAddress, buffer.count, 0, sa, socklen_t(length)) }
        guard sent < 0 else { return }
        let code = errno
        sendFailures += 1
        if sendFailures == 1 {
            logger.info("send to \(address) failed: \(String(cString: strerror(code))) (counted as a lost datagram; further failures at debug)")
        } else {
            logger.debug("send to \(address) failed: \(String(cString: strerror(code)))")
        }
    }

    /// Sets the hop limit of the socket's next datagrams; -1 restores the system default.
    func setHopLimit(_ value: CInt) {
        var v = value
        // A dual-stack socket sends to IPv4 destinations with IP_TTL: set both.
        if ipv6 { _ = setsockopt(fd, CInt(IPPROTO_IPV6), IPV6_UNICAST_HOPS, &v, socklen_t(MemoryLayout<CInt>.size)) }
        _ = setsockopt(fd, CInt(IPPROTO_IP), IP_TTL, &v, socklen_t(MemoryLayout<CInt>.size))
    }

    /// The next datagram waiting, read into `buffer`: its length and sender (nil for an address
    /// family the mesh does not use); nil when none waits. A datagram longer than `buffer` is
    /// cut short (and then fails its link tag).
    @usableFromInline func receive(into buffer: UnsafeMutableRawBufferPointer) -> (count: Int, from: MeshAddress?)? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let n = withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, buffer.baseAddress, buffer.count, 0, $0, &length) }
        }
        // EAGAIN: nothing waits. Other errors (an ICMP error queued by an earlier send) end
        // this round of reads too; the next call reads on.
        guard n >= 0 else { return nil }
        return (n, MeshAddress(storage: storage))
    }

    /// Blocks until a datagram waits or `timeout` passes, to the microsecond (select(2);
    /// poll(2), in whole milliseconds, for a descriptor beyond select's 1024).
    func waitReadable(timeout: Duration) {
        let ns = max(0, timeout.nanosecondsClamped)
        guard fd < 1024 else {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&p, 1, CInt(clamping: (ns + 999_999) / 1_000_000))
            return
        }
        var set = fd_set()
        let fd = Int(fd)
        // glibc's fd_set: 1024 bits in `long` words, bit `fd % 64` of word `fd / 64`.
        withUnsafeMutablePointer(to: &set.__fds_bits) { bits in
            bits.withMemoryRebound(to: Int.self, capacity: 1024 / Int.bitWidth) { $0[fd / Int.bitWidth] |= 1 << (fd % Int.bitWidth) }
        }
        var tv = timeval(tv_sec: Int(ns / 1_000_000_000), tv_usec: Int((ns % 1_000_000_000 + 999) / 1000))
        _ = select(Int32(fd + 1), &set, nil, nil, &tv)
    }
}

extension MeshAddress {
    /// The mesh address of a socket address as the kernel gives it; IPv4-mapped IPv6 addresses
    /// become IPv4.
    init?(storage: sockaddr_storage) {
        var storage = storage
        switch CInt(storage.ss_family) {
        case AF_INET:
            let a = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in.self) }
            self = .ipv4(UInt32(bigEndian: a.sin_addr.s_addr), port: UInt16(bigEndian: a.sin_port))
        case AF_INET6:
            let a = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in6.self) }
            var raw = a.sin6_addr
            self.init(ipv6: withUnsafeBytes(of: &raw) { Array($0) }, port: UInt16(bigEndian: a.sin6_port))
        default:
            return nil
        }
    }
}
