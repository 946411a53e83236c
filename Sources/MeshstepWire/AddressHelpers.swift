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

    /// Whether a datagram to this address may cross a NAT: false for addresses no router
    /// forwards between homes (loopback, link-local, RFC 1918 private, carrier-grade NAT's
    /// shared 100.64.0.0/10, IPv6 unique-local), true for the rest.
    package var mayBeBehindNAT: Bool {
        switch self {
        case let .ipv4(a, _):
            let unrouted = [(0x7F00_0000, 8), (0x0A00_0000, 8), (0xAC10_0000, 12), (0xC0A8_0000, 16), (0xA9FE_0000, 16), (0x6440_0000, 10)]
            return a != 0 && !unrouted.contains { base, bits in a >> (32 - bits) == UInt32(base) >> (32 - bits) }
        case let .ipv6(b, _):
            let loopback = b.dropLast().allSatisfy { $0 == 0 } && b.last == 1
            let linkLocal = b[0] == 0xFE && b[1] & 0xC0 == 0x80
            let uniqueLocal = b[0] & 0xFE == 0xFC
            return !isUnspecified && !loopback && !linkLocal && !uniqueLocal
        }
    }
}
