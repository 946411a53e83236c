/// Appends protocol fields to a growing byte buffer. Big-endian fixed-width integers,
/// unsigned LEB128 varints.
///
/// Every frame and mesh message is built with it, from other modules, so its methods are
/// `@inlinable`: called across modules they would otherwise run as calls, one array append per
/// byte.
public struct ByteWriter: Sendable {
    @usableFromInline var storage: [UInt8]

    /// The bytes written so far.
    @inlinable public var bytes: [UInt8] { storage }

    /// An empty writer with room reserved for `capacity` bytes.
    @inlinable public init(capacity: Int = 128) {
        storage = []
        storage.reserveCapacity(capacity)
    }

    /// Appends one byte.
    @inlinable public mutating func u8(_ v: UInt8) { storage.append(v) }

    /// Appends `v` as 2 bytes, big-endian.
    @inlinable public mutating func u16(_ v: UInt16) { fixed(v.bigEndian) }

    /// Appends `v` as 4 bytes, big-endian.
    @inlinable public mutating func u32(_ v: UInt32) { fixed(v.bigEndian) }

    /// Appends `v` as 8 bytes, big-endian.
    @inlinable public mutating func u64(_ v: UInt64) { fixed(v.bigEndian) }

    /// Appends the in-memory bytes of `v` in one append (callers pass it big-endian).
    @inlinable @inline(__always) mutating func fixed<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v) { storage.append(contentsOf: $0) }
    }

    /// Unsigned LEB128: 7 bits per byte, low bits first, high bit set on all but the last byte.
    @inlinable public mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            storage.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        storage.append(UInt8(v))
    }

    /// Appends the bytes as they are, with no length prefix.
    @inlinable public mutating func raw<C: Collection>(_ c: C) where C.Element == UInt8 { storage.append(contentsOf: c) }

    /// Bytes ``varint(_:)`` writes for `value`: 1 to 10.
    @inlinable public static func varintSize(_ value: UInt64) -> Int { max(1, (64 - value.leadingZeroBitCount + 6) / 7) }

    /// A varint length prefix followed by the bytes.
    @inlinable public mutating func lengthPrefixed(_ c: [UInt8]) {
        varint(UInt64(c.count))
        storage.append(contentsOf: c)
    }
}

/// Reads protocol fields from a byte buffer. Every read checks bounds first and throws
/// ``WireError/truncated(offset:needed:)`` instead of trapping. `@inlinable` for the reason
/// ``ByteWriter`` is.
public struct ByteReader: Sendable {
    /// The whole buffer, including any bytes before ``offset`` and after ``end``.
    public let bytes: [UInt8]
    @usableFromInline var position: Int
    /// Index one past the last byte this reader may read; no read goes beyond it.
    public let end: Int

    /// Reads `bytes` from `offset` up to `end` (default, and at most: the end of the array).
    @inlinable public init(_ bytes: [UInt8], offset: Int = 0, end: Int? = nil) {
        precondition(offset >= 0, "a ByteReader starts at a byte of its buffer")
        self.bytes = bytes
        self.position = offset
        // The fixed-width reads load through a pointer: `end` never passes the buffer's end.
        self.end = min(end ?? bytes.count, bytes.count)
    }

    /// Index of the next byte to read; every read advances it.
    @inlinable public var offset: Int { position }

    /// Bytes left to read: ``end`` minus ``offset``.
    @inlinable public var remaining: Int { end - position }

    @inlinable @inline(__always) func need(_ n: Int) throws(WireError) {
        if n < 0 || end - position < n { throw .truncated(offset: position, needed: n) }
    }

    /// Reads one byte.
    @inlinable public mutating func u8() throws(WireError) -> UInt8 {
        try need(1)
        defer { position += 1 }
        return bytes[position]
    }

    /// Reads a big-endian 16-bit integer (2 bytes).
    @inlinable public mutating func u16() throws(WireError) -> UInt16 { try fixed() }

    /// Reads a big-endian 32-bit integer (4 bytes).
    @inlinable public mutating func u32() throws(WireError) -> UInt32 { try fixed() }

    /// Reads a big-endian 64-bit integer (8 bytes).
    @inlinable public mutating func u64() throws(WireError) -> UInt64 { try fixed() }

    /// One unaligned big-endian load after one bounds check.
    @inlinable @inline(__always) mutating func fixed<T: FixedWidthInteger>() throws(WireError) -> T {
        try need(MemoryLayout<T>.size)
        let at = position
        position += MemoryLayout<T>.size
        return T(bigEndian: bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: T.self) })
    }

    /// Reads an unsigned LEB128 varint of at most 10 bytes that fits in 64 bits.
    @inlinable public mutating func varint() throws(WireError) -> UInt64 {
        // One byte, the common case (counts, small ticks, lengths under 128).
        if position < end, bytes[position] < 0x80 {
            defer { position += 1 }
            return UInt64(bytes[position])
        }
        let start = position
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            if shift >= 70 { throw .badVarint(offset: start) }
            let b = try u8()
            let low = UInt64(b & 0x7F)
            if shift == 63 && low > 1 { throw .badVarint(offset: start) }
            result |= low << shift
            if b & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// A varint that must not exceed `limit`, returned as `Int`.
    @inlinable public mutating func count(field: String, limit: Int) throws(WireError) -> Int {
        let v = try varint()
        if v > UInt64(limit) { throw .tooLong(field: field, count: v > UInt64(Int.max) ? Int.max : Int(v), limit: limit) }
        return Int(v)
    }

    /// Reads exactly `n` raw bytes (throws ``WireError/truncated(offset:needed:)`` if fewer remain or `n` is negative).
    @inlinable public mutating func raw(_ n: Int) throws(WireError) -> [UInt8] {
        try need(n)
        defer { position += n }
        return Array(bytes[position..<position + n])
    }

    /// Reads exactly `n` raw bytes onto the end of `out` (throws
    /// ``WireError/truncated(offset:needed:)`` as ``raw(_:)`` does, and then appends nothing).
    @inlinable public mutating func raw(_ n: Int, appendingTo out: inout [UInt8]) throws(WireError) {
        try need(n)
        out += bytes[position..<position + n]
        position += n
    }

    /// Moves past `n` bytes without copying them (throws ``WireError/truncated(offset:needed:)``
    /// if fewer remain or `n` is negative).
    @inlinable public mutating func skip(_ n: Int) throws(WireError) {
        try need(n)
        position += n
    }

    /// A varint length prefix (bounded by `limit` and by the bytes left) followed by the bytes.
    @inlinable public mutating func lengthPrefixed(field: String, limit: Int) throws(WireError) -> [UInt8] {
        let n = try count(field: field, limit: limit)
        return try raw(n)
    }

    /// Throws ``WireError/trailingBytes(count:)`` if any bytes remain before ``end``.
    @inlinable public func expectEnd() throws(WireError) {
        if remaining != 0 { throw .trailingBytes(count: remaining) }
    }
}
