extension MeshAddress {
    /// The same IP address with another port.
    package func withPort(_ port: UInt16) -> MeshAddress {
        switch self {
        case let .ipv4(a, _): .ipv4(a, port: port)
        case let .ipv6(b, _): .ipv6(b, port: port)
        }
    }

    /// Whether both are the same IP address, whatever the ports.
    package func hasSameIP(as other: MeshAddress) -> Bool {
        switch (self, other) {
        case let (.ipv4(a, _), .ipv4(b, _)): a == b
        case let (.ipv6(a, _), .ipv6(b, _)): a == b
        default: false
        }
    }

    /// The source a resolver limits as one: an IPv4 address, or an IPv6 /64 (a host usually
    /// holds a whole /64), the port ignored.
    package var sourceGroup: MeshAddress {
        switch self {
        case let .ipv4(a, _): .ipv4(a, port: 0)
        case let .ipv6(b, _): .ipv6(Array(b.prefix(8)) + [UInt8](repeating: 0, count: 8), port: 0)
        }
    }

    /// True for `0.0.0.0` and `::`.
    package var isUnspecified: Bool {
        switch self {
        case let .ipv4(a, _): a == 0
        case let .ipv6(b, _): b.allSatisfy { $0 == 0 }
        }
    }

    /// The IPv4 address as a number, nil for IPv6.
    package var ipv4Value: UInt32? { if case let .ipv4(a, _) = self { a } else { nil } }
}
