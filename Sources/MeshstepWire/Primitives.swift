/// Protocol-wide constants. Changing any of them changes the wire format: bump ``version``.
public enum Wire {
    /// The two magic bytes that start every datagram: ASCII `MS`.
    public static let magic: (UInt8, UInt8) = (0x4D, 0x53)
    /// The protocol version this build speaks. A datagram of another version is rejected.
    /// Still 1 while nothing is released; from the first release, every layout change bumps it.
    public static let version: UInt8 = 1
    /// Magic, version, kind.
    public static let headerSize = 4
    /// Default and recommended maximum datagram size: fits an IPv6 minimum-MTU path.
    public static let defaultMaxDatagramSize = 1200
    /// Link authentication tag appended to every post-handshake datagram (truncated HMAC-SHA256).
    public static let tagSize = 16
    /// Bytes in an Ed25519 public key (``PeerKey``), and in an ephemeral X25519 public key.
    public static let keySize = 32
    /// Bytes in an Ed25519 signature.
    public static let signatureSize = 64
    /// Bytes in a random handshake nonce (Connect, Challenge, Refuse).
    public static let nonceSize = 16
    /// Bytes in an HMAC-SHA256 password proof (Confirm, Welcome).
    public static let proofSize = 32
    /// Bytes in a mesh digest: a SHA-256 over the mesh ID, truncated.
    public static let meshDigestSize = 16
    /// Most referrals one message may carry (Peer Channel used 10 too).
    public static let maxReferrals = 10
    /// Most message references in one IHave, Graft, Prune or Ping summary. 24 refs from 24
    /// different origins take at most 1063 bytes with header, link number and tag: within the
    /// default 1200-byte datagram (configurations must allow at least that much).
    public static let maxRefsPerMessage = 24
    /// Most origins one relay request may name (a session has at most 64 players, and a player
    /// needs relaying only for the few it cannot reach directly).
    public static let maxRelayOrigins = 16
    /// Most levels of a signed batch's hash tree: a batch holds at most 2^8 = 256 messages, and
    /// each of them carries 8 sibling hashes at most (docs/PROTOCOL.md §5.4a; in a Floods
    /// datagram the next message of a batch writes only the levels it does not share, §3.10c).
    public static let maxBatchDepth = 8
    /// Bytes in a batch tree's hash (a SHA-256, truncated).
    public static let batchHashSize = 16
    /// Bytes of the random salt in every leaf of a signed batch.
    public static let batchSaltSize = 16
    /// Most Flood messages one Floods datagram (kind `0x16`) may hold.
    public static let maxFloodsPerDatagram = 64
}

/// A 32-byte Ed25519 public key: the identity of a node. A peer's ID *is* its public key, so
/// anyone can verify what it signs without a directory.
///
/// Stored as four words so that equality and hashing are cheap.
public struct PeerKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The key bytes as four big-endian words: `w0` holds bytes 0-7, `w3` bytes 24-31.
    public let w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

    /// - Precondition: `bytes.count == 32` (decoders check this before calling).
    public init(bytes: [UInt8]) {
        precondition(bytes.count == Wire.keySize, "a PeerKey has 32 bytes")
        func word(_ i: Int) -> UInt64 {
            var v: UInt64 = 0
            for j in 0..<8 { v = v << 8 | UInt64(bytes[i * 8 + j]) }
            return v
        }
        w0 = word(0); w1 = word(1); w2 = word(2); w3 = word(3)
    }

    /// The first 8 key bytes, big-endian: how a keepalive summary names an origin the receiver
    /// already heard of in full (``ShortRef``).
    public var tag: UInt64 { w0 }

    /// The 32 key bytes as sent on the wire (RFC 8032 encoding).
    public var bytes: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: Wire.keySize) { buffer, count in
            write(into: UnsafeMutableRawBufferPointer(buffer), at: 0)
            count = Wire.keySize
        }
    }

    /// Writes the 32 key bytes at `offset` of `buffer`, which must have room for them: how the
    /// hot paths put a key into what they hash without an array per key.
    @inlinable
    public func write(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) {
        precondition(offset >= 0 && offset + Wire.keySize <= buffer.count, "no room for a PeerKey")
        buffer.storeBytes(of: w0.bigEndian, toByteOffset: offset, as: UInt64.self)
        buffer.storeBytes(of: w1.bigEndian, toByteOffset: offset + 8, as: UInt64.self)
        buffer.storeBytes(of: w2.bigEndian, toByteOffset: offset + 16, as: UInt64.self)
        buffer.storeBytes(of: w3.bigEndian, toByteOffset: offset + 24, as: UInt64.self)
    }

    /// Unsigned lexicographic order of the 32 bytes (used to break duplicate-link ties).
    public static func < (a: PeerKey, b: PeerKey) -> Bool {
        (a.w0, a.w1, a.w2, a.w3) < (b.w0, b.w1, b.w2, b.w3)
    }

    /// The first 8 bytes in hex: enough to tell peers apart in logs.
    public var description: String {
        let s = String(w0, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}

/// A UDP endpoint as carried in referrals: IPv4 or IPv6 address plus port.
public enum MeshAddress: Hashable, Sendable, CustomStringConvertible {
    /// An IPv4 address as a big-endian 32-bit number (`192.0.2.1` is `0xC0000201`).
    case ipv4(UInt32, port: UInt16)
    /// The 16 address bytes, big-endian.
    case ipv6([UInt8], port: UInt16)

    /// The UDP port, whatever the address family.
    public var port: UInt16 {
        switch self {
        case let .ipv4(_, port), let .ipv6(_, port): port
        }
    }

    /// The address part without the port, as text (`192.0.2.1`, `2001:db8:0:0:0:0:0:1`).
    public var hostString: String {
        switch self {
        case let .ipv4(a, _):
            return "\(a >> 24).\(a >> 16 & 0xFF).\(a >> 8 & 0xFF).\(a & 0xFF)"
        case let .ipv6(b, _):
            var groups: [String] = []
            for i in stride(from: 0, to: 16, by: 2) { groups.append(String(UInt16(b[i]) << 8 | UInt16(b[i + 1]), radix: 16)) }
            return groups.joined(separator: ":")
        }
    }

    /// `192.0.2.1:7400` or `[2001:db8:0:0:0:0:0:1]:7400`.
    public var description: String {
        switch self {
        case .ipv4: "\(hostString):\(port)"
        case .ipv6: "[\(hostString)]:\(port)"
        }
    }

    func encode(into w: inout ByteWriter) {
        switch self {
        case let .ipv4(a, port):
            w.u8(4); w.u32(a); w.u16(port)
        case let .ipv6(b, port):
            w.u8(6); w.raw(b); w.u16(port)
        }
    }

    static func decode(from r: inout ByteReader) throws(WireError) -> MeshAddress {
        switch try r.u8() {
        case 4: return .ipv4(try r.u32(), port: try r.u16())
        case 6: return .ipv6(try r.raw(16), port: try r.u16())
        default: throw .invalidValue(field: "address.family")
        }
    }
}

/// A peer known by key and address, as passed in referrals and by resolvers.
public struct Referral: Hashable, Sendable {
    /// The peer's identity key.
    public var peer: PeerKey
    /// The UDP endpoint at which the peer is reachable.
    public var address: MeshAddress
    /// A referral to `peer` at `address`.
    public init(peer: PeerKey, address: MeshAddress) {
        self.peer = peer
        self.address = address
    }
}

/// Identifies one flooded message: its origin and that origin's sequence number.
public struct MessageRef: Hashable, Sendable, Comparable {
    /// The peer that created the message.
    public var origin: PeerKey
    /// The origin's sequence number of the message.
    public var seq: UInt64
    /// The reference to message `seq` of `origin`.
    public init(origin: PeerKey, seq: UInt64) {
        self.origin = origin
        self.seq = seq
    }
    /// Orders by origin key first, then by sequence number.
    public static func < (a: MessageRef, b: MessageRef) -> Bool { (a.origin, a.seq) < (b.origin, b.seq) }
}

extension ByteReader {
    mutating func peerKey() throws(WireError) -> PeerKey { PeerKey(bytes: try raw(Wire.keySize)) }
}
