import NIOCore

/// Why a `HOST:PORT` text is not a usable resolver address.
public enum ResolverAddressError: Error, Equatable, Sendable, CustomStringConvertible {
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
public enum ResolverEndpoint {
    /// Splits `HOST:PORT` or `[IPv6]:PORT` into host and port without resolving anything.
    /// - Throws: ``ResolverAddressError/missingPort(_:)`` or ``ResolverAddressError/invalidPort(_:)``.
    public static func split(_ text: String) throws(ResolverAddressError) -> (host: String, port: Int) {
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
    /// - Throws: ``ResolverAddressError``.
    public static func resolve(_ text: String) throws(ResolverAddressError) -> SocketAddress {
        let (host, port) = try split(text)
        if let address = try? SocketAddress(ipAddress: host, port: port) { return address }
        do {
            return try SocketAddress.makeAddressResolvingHost(host, port: port)
        } catch {
            throw .unknownHost(host, detail: "\(error)")
        }
    }
}
