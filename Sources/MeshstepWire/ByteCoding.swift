/// Appends protocol fields to a growing byte buffer. Big-endian fixed-width integers,
/// unsigned LEB128 varints.
public struct ByteWriter: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8]

    /// An empty writer with room reserved for `capacity` bytes.
    public init(capacity: Int = 128) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Appends one byte.
    public mutating func u8(_ v: UInt8) { bytes.append(v) }

    /// Appends `v` as 2 bytes, big-endian.
    public mutating func u16(_ v: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: v >> 8))
        bytes.append(UInt8(truncatingIfNeeded: v))
    }

    /// Appends `v` as 4 bytes, big-endian.
    public mutating func u32(_ v: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt32(shift))) }
    }

    /// Appends `v` as 8 bytes, big-endian.
    public mutating func u64(_ v: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt64(shift))) }
    }

    /// Unsigned LEB128: 7 bits per byte, low bits first, high bit set on all but the last byte.
    public mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// Appends the bytes as they are, with no length prefix.
    public mutating func raw<C: Collection>(_ c: C) where C.Element == UInt8 { bytes.append(contentsOf: c) }

    /// Bytes ``varint(_:)`` writes for `value`: 1 to 10.
    public static func varintSize(_ value: UInt64) -> Int { max(1, (64 - value.leadingZeroBitCount + 6) / 7) }

    /// A varint length prefix followed by the bytes.
    public mutating func lengthPrefixed(_ c: [UInt8]) {
        varint(UInt64(c.count))
        bytes.append(contentsOf: c)
    }
}

/// Reads protocol fields from a byte buffer. Every read checks bounds first and throws
/// ``WireError/truncated(offset:needed:)`` instead of trapping.
public struct ByteReader: Sendable {
    /// The whole buffer, including any bytes before ``offset`` and after ``end``.
    public let bytes: [UInt8]
    /// Index of the next byte to read; every read advances it.
    public private(set) var offset: Int
    /// Index one past the last byte this reader may read; no read goes beyond it.
    public let end: Int

    /// Reads `bytes` from `offset` up to `end` (default: the end of the array).
    public init(_ bytes: [UInt8], offset: Int = 0, end: Int? = nil) {
        self.bytes = bytes
        self.offset = offset
        self.end = end ?? bytes.count
    }

    /// Bytes left to read: ``end`` minus ``offset``.
    public var remaining: Int { end - offset }

    @inline(__always) private func need(_ n: Int) throws(WireError) {
        if n < 0 || remaining < n { throw .truncated(offset: offset, needed: n) }
    }

    /// Reads one byte.
    public mutating func u8() throws(WireError) -> UInt8 {
        try need(1)
        defer { offset += 1 }
        return bytes[offset]
    }

    /// Reads a big-endian 16-bit integer (2 bytes).
    public mutating func u16() throws(WireError) -> UInt16 {
        try need(2)
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    /// Reads a big-endian 32-bit integer (4 bytes).
    public mutating func u32() throws(WireError) -> UInt32 {
        try need(4)
        var v: UInt32 = 0
        for i in 0..<4 { v = v << 8 | UInt32(bytes[offset + i]) }
        offset += 4
        return v
    }

    /// Reads a big-endian 64-bit integer (8 bytes).
    public mutating func u64() throws(WireError) -> UInt64 {
        try need(8)
        var v: UInt64 = 0
        for i in 0..<8 { v = v << 8 | UInt64(bytes[offset + i]) }
        offset += 8
        return v
    }

    /// Reads an unsigned LEB128 varint of at most 10 bytes that fits in 64 bits.
    public mutating func varint() throws(WireError) -> UInt64 {
        let start = offset
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
    public mutating func count(field: String, limit: Int) throws(WireError) -> Int {
        let v = try varint()
        if v > UInt64(limit) { throw .tooLong(field: field, count: v > UInt64(Int.max) ? Int.max : Int(v), limit: limit) }
        return Int(v)
    }

    /// Reads exactly `n` raw bytes (throws ``WireError/truncated(offset:needed:)`` if fewer remain or `n` is negative).
    public mutating func raw(_ n: Int) throws(WireError) -> [UInt8] {
        try need(n)
        defer { offset += n }
        return Array(bytes[offset..<offset + n])
    }

    /// A varint length prefix (bounded by `limit` and by the bytes left) followed by the bytes.
    public mutating func lengthPrefixed(field: String, limit: Int) throws(WireError) -> [UInt8] {
        let n = try count(field: field, limit: limit)
        return try raw(n)
    }

    /// Throws ``WireError/trailingBytes(count:)`` if any bytes remain before ``end``.
    public func expectEnd() throws(WireError) {
        if remaining != 0 { throw .trailingBytes(count: remaining) }
    }
}
