/// A LAN discovery beacon, multicast by a peer that wants neighbors:
/// `"MSLN" | version u8 = 2 | mesh digest (16) | peer key (32) | port u16 | tag (16)`, 71 bytes
/// (docs/PROTOCOL.md §8.2). The tag is an HMAC of the first 55 bytes under a key derived from the
/// mesh key, so only a member can make a beacon that others follow; a beacon still only names a
/// candidate, which must pass the mesh handshake.
public struct LANBeacon: Equatable, Sendable {
    /// The first four bytes of every beacon.
    public static let magic: [UInt8] = Array("MSLN".utf8)
    /// The beacon format this code reads and writes.
    public static let version: UInt8 = 2
    /// Bytes in a beacon.
    public static let size = 71

    /// The 16-byte mesh digest: peers of other meshes ignore the beacon.
    public var meshDigest: [UInt8]
    /// The sender's Ed25519 public key.
    public var key: [UInt8]
    /// The UDP port of the sender's mesh socket (the address is the datagram's source).
    public var port: UInt16
    /// The membership tag over ``body``.
    public var tag: [UInt8]

    /// A beacon; `tag` is computed over ``body`` by the caller (`MeshCredentials.beaconTag`).
    public init(meshDigest: [UInt8], key: [UInt8], port: UInt16, tag: [UInt8] = []) {
        self.meshDigest = meshDigest
        self.key = key
        self.port = port
        self.tag = tag
    }

    /// The tagged part: every field but the tag, encoded (55 bytes).
    public var body: [UInt8] {
        var w = ByteWriter(capacity: Self.size)
        w.raw(Self.magic)
        w.u8(Self.version)
        w.raw(meshDigest.prefix(16))
        w.raw(key.prefix(32))
        w.u16(port)
        return w.bytes
    }

    /// The 71 bytes on the wire.
    public func encode() -> [UInt8] { body + tag.prefix(16) }

    /// Total decoding: anything but a well-formed beacon of this version throws. The tag is
    /// returned, not checked (the mesh key is not known here).
    public static func decode(_ bytes: [UInt8]) throws(WireError) -> LANBeacon {
        guard bytes.count <= size else { throw .trailingBytes(count: bytes.count - size) }
        var r = ByteReader(bytes)
        guard try r.raw(4) == magic else { throw .badMagic }
        let v = try r.u8()
        guard v == version else { throw .unsupportedVersion(v) }
        return LANBeacon(meshDigest: try r.raw(16), key: try r.raw(32), port: try r.u16(), tag: try r.raw(16))
    }
}
