/// A LAN discovery beacon, multicast by a peer that wants neighbors:
/// `"MSLN" | version u8 = 1 | mesh digest (16) | peer key (32) | port u16`, 55 bytes
/// (docs/PROTOCOL.md). It is not authenticated: it only names a candidate, which must still pass
/// the mesh handshake.
public struct LANBeacon: Equatable, Sendable {
    /// The four bytes that start every beacon: ASCII `MSLN`.
    public static let magic: [UInt8] = Array("MSLN".utf8)
    /// The beacon format version this build sends and accepts.
    public static let version: UInt8 = 1
    /// Length of an encoded beacon in bytes: 4 magic, 1 version, 16 digest, 32 key, 2 port.
    public static let size = 55

    /// The first 16 bytes of the mesh's credential digest: peers of other meshes ignore it.
    public var meshDigest: [UInt8]
    /// The sender's Ed25519 public key.
    public var key: [UInt8]
    /// The UDP port of the sender's mesh socket (the address is the datagram's source).
    public var port: UInt16

    /// A beacon announcing `key` at `port` for the mesh with digest `meshDigest`.
    public init(meshDigest: [UInt8], key: [UInt8], port: UInt16) {
        self.meshDigest = meshDigest
        self.key = key
        self.port = port
    }

    /// The encoded beacon: 55 bytes when ``meshDigest`` has 16 bytes and ``key`` 32 (longer ones
    /// are cut to those lengths; shorter ones are not padded).
    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: Self.size)
        w.raw(Self.magic)
        w.u8(Self.version)
        w.raw(meshDigest.prefix(16))
        w.raw(key.prefix(32))
        w.u16(port)
        return w.bytes
    }

    /// Total decoding: anything but a well-formed beacon of this version throws.
    public static func decode(_ bytes: [UInt8]) throws(WireError) -> LANBeacon {
        guard bytes.count <= size else { throw .trailingBytes(count: bytes.count - size) }
        var r = ByteReader(bytes)
        guard try r.raw(4) == magic else { throw .badMagic }
        let v = try r.u8()
        guard v == version else { throw .unsupportedVersion(v) }
        return LANBeacon(meshDigest: try r.raw(16), key: try r.raw(32), port: try r.u16())
    }
}
