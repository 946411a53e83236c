import MeshstepWire
import NIOCore

/// Why a `HOST:PORT` text is not a usable address.
public enum HostPortError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No `:PORT` part, or an IPv6 address without brackets.
    case missingPort(String)
    /// The port is not a number in 1...65535.
    case invalidPort(String)
    /// The host is neither an IP address nor a name that resolves.
    case unknownHost(String, detail: String)

    public var description: String {
        switch self {
        case let .missingPort(text):
            "\"\(text)\" is not HOST:PORT; write it as 192.0.2.1:7400, resolver.example.org:7400 or [2001:db8::1]:7400"
        case let .invalidPort(text):
            "the port in \"\(text)\" must be a number between 1 and 65535"
        case let .unknownHost(host, detail):
            "cannot find host \"\(host)\" (\(detail)); check the spelling or use an IP address"
        }
    }
}

/// Parsing of `--resolver HOST:PORT` (and any other `HOST:PORT` flag).
public enum HostPort {
    /// Splits `HOST:PORT` or `[IPv6]:PORT` into host and port without resolving anything.
    /// - Throws: ``HostPortError/missingPort(_:)`` or ``HostPortError/invalidPort(_:)``.
    public static func split(_ text: String) throws(HostPortError) -> (host: String, port: Int) {
        let host: Substring, portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { throw .missingPort(text) }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty else { throw .missingPort(text) }
            host = parts[0]
            portText = parts[1]
        }
        guard !host.isEmpty else { throw .missingPort(text) }
        guard let port = Int(portText), (1...65535).contains(port) else { throw .invalidPort(text) }
        return (String(host), port)
    }

    /// Parses and resolves `HOST:PORT` (blocking DNS lookup for names).
    /// - Throws: ``HostPortError``.
    public static func resolve(_ text: String) throws(HostPortError) -> SocketAddress {
        let (host, port) = try split(text)
        if let address = try? SocketAddress(ipAddress: host, port: port) { return address }
        do {
            return try SocketAddress.makeAddressResolvingHost(host, port: port)
        } catch {
            throw .unknownHost(host, detail: "\(error)")
        }
    }
}

extension SocketAddress {
    /// The SwiftNIO socket address of a mesh address. With `mappedToIPv6`, an IPv4 address
    /// becomes `::ffff:a.b.c.d`, for sending from an IPv6 socket.
    public init(_ address: MeshAddress, mappedToIPv6: Bool = false) throws {
        switch address {
        case .ipv4 where mappedToIPv6:
            try self.init(ipAddress: "::ffff:" + address.hostString, port: Int(address.port))
        default:
            try self.init(ipAddress: address.hostString, port: Int(address.port))
        }
    }
}

extension MeshAddress {
    /// The mesh address of a SwiftNIO socket address; IPv4-mapped IPv6 addresses
    /// (`::ffff:a.b.c.d`) become IPv4. Nil for Unix domain sockets.
    public init?(_ address: SocketAddress) {
        switch address {
        case let .v4(a):
            self = .ipv4(UInt32(bigEndian: a.address.sin_addr.s_addr), port: UInt16(address.port ?? 0))
        case let .v6(a):
            var raw = a.address.sin6_addr
            self.init(ipv6: withUnsafeBytes(of: &raw) { Array($0) }, port: UInt16(address.port ?? 0))
        default:
            return nil
        }
    }

    /// The mesh address of an IPv6 address (its 16 bytes) and port; an IPv4-mapped address
    /// (`::ffff:a.b.c.d`) becomes IPv4.
    public init(ipv6 bytes: [UInt8], port: UInt16) {
        if bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
            self = .ipv4(UInt32(bytes[12]) << 24 | UInt32(bytes[13]) << 16 | UInt32(bytes[14]) << 8 | UInt32(bytes[15]), port: port)
        } else {
            self = .ipv6(bytes, port: port)
        }
    }
}
