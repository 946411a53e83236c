import MeshstepWire
import NIOCore

/// What went wrong on the real network. Each message says what to do about it.
public enum NetError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Another program already uses the UDP port.
    case portInUse(host: String, port: Int)
    /// The socket could not be bound for another reason.
    case bindFailed(host: String, port: Int, detail: String)
    /// `HOST:PORT` did not parse or does not resolve.
    case badAddress(String, detail: String)
    /// The mesh refused us: wrong password (or another mesh on that port).
    case refused(address: String, reason: DisconnectReason)
    /// No peer of the mesh answered before the deadline.
    case meshNotFound(meshID: String, seconds: Int)
    /// Not every player showed up before the start deadline.
    case playersMissing(slots: [Int], seconds: Int)
    /// The resolver did not answer.
    case resolverUnreachable(String)
    /// The peer was already stopped.
    case stopped

    public var description: String {
        switch self {
        case let .portInUse(host, port): "UDP port \(port) on \(host) is in use by another program; pick another with --port (0 picks a free one)"
        case let .bindFailed(host, port, detail): "cannot bind UDP \(host):\(port): \(detail)"
        case let .badAddress(text, detail): "bad address '\(text)': \(detail); expected HOST:PORT, for example 192.168.1.20:7500 or [::1]:7500"
        case let .refused(address, reason):
            switch reason {
            case .authenticationFailed: "the mesh at \(address) refused us: wrong password (check --password)"
            case .wrongMesh: "the peer at \(address) belongs to another mesh (check --mesh)"
            default: "the mesh at \(address) refused us: \(reason)"
            }
        case let .meshNotFound(meshID, seconds): "no peer of mesh '\(meshID)' answered within \(seconds) s; check --peer/--resolver/--lan, the mesh name, and that UDP is not blocked by a firewall"
        case let .playersMissing(slots, seconds): "players \(slots.map(String.init).joined(separator: ", ")) did not show up within \(seconds) s; start every player with the same --mesh, --players and distinct --slot"
        case let .resolverUnreachable(address): "the resolver at \(address) does not answer; check the address and that 'meshstep resolver' runs there"
        case .stopped: "the peer has stopped"
        }
    }
}

/// Parses `HOST:PORT` (`[v6]:port` for IPv6) into a socket address.
public func parseHostPort(_ text: String) throws(NetError) -> SocketAddress {
    guard let colon = text.lastIndex(of: ":") else { throw .badAddress(text, detail: "no port") }
    var host = String(text[..<colon])
    guard let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
        throw .badAddress(text, detail: "the port must be 1...65535")
    }
    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    guard !host.isEmpty else { throw .badAddress(text, detail: "no host") }
    do {
        return try SocketAddress(ipAddress: host, port: port)
    } catch {
        do { return try SocketAddress.makeAddressResolvingHost(host, port: port) } catch {
            throw .badAddress(text, detail: "cannot resolve host '\(host)'")
        }
    }
}

extension SocketAddress {
    /// This IPv4 address as an IPv4-mapped IPv6 address (for a socket bound to `::`).
    func mappedToIPv6() -> SocketAddress {
        guard case .v4 = self, let m = meshAddress, let mapped = m.socketAddress(ipv6Socket: true) else { return self }
        return mapped
    }

    /// The mesh's wire form of this address (nil for Unix sockets).
    var meshAddress: MeshAddress? {
        switch self {
        case let .v4(a):
            return .ipv4(UInt32(bigEndian: a.address.sin_addr.s_addr), port: UInt16(port ?? 0))
        case let .v6(a):
            var addr = a.address.sin6_addr
            let bytes = withUnsafeBytes(of: &addr) { Array($0) }
            // IPv4-mapped (::ffff:a.b.c.d) is reported as IPv4, so both forms meet.
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
                let v = bytes[12..<16].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                return .ipv4(v, port: UInt16(port ?? 0))
            }
            return .ipv6(bytes, port: UInt16(port ?? 0))
        default:
            return nil
        }
    }
}

extension MeshAddress {
    /// The socket address for this mesh address. `ipv6Socket`: map IPv4 into IPv6 for a socket
    /// bound to `::`.
    func socketAddress(ipv6Socket: Bool) -> SocketAddress? {
        switch self {
        case let .ipv4(v, port):
            let text = "\(v >> 24).\(v >> 16 & 0xFF).\(v >> 8 & 0xFF).\(v & 0xFF)"
            return try? SocketAddress(ipAddress: ipv6Socket ? "::ffff:\(text)" : text, port: Int(port))
        case let .ipv6(bytes, port):
            guard bytes.count == 16 else { return nil }
            var groups: [String] = []
            for i in stride(from: 0, to: 16, by: 2) { groups.append(String(UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1]), radix: 16)) }
            return try? SocketAddress(ipAddress: groups.joined(separator: ":"), port: Int(port))
        }
    }
}
