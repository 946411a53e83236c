/// Why a byte string could not be decoded as a Meshstep datagram.
///
/// Every decoder in ``MeshstepWire`` is *total*: given any byte string it either returns a value
/// or throws one of these cases. None of them traps, and none allocates more than the input's
/// size. The receiving node counts the error and drops the datagram; nothing else happens.
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The datagram ended before a field of `needed` bytes at `offset` could be read.
    case truncated(offset: Int, needed: Int)
    /// The first two bytes are not the `MS` magic: this is not a Meshstep datagram.
    case badMagic
    /// The datagram speaks a protocol version this build does not understand.
    case unsupportedVersion(UInt8)
    /// The message kind byte names no known message.
    case unknownKind(UInt8)
    /// A variable-length integer is longer than 10 bytes or overflows 64 bits.
    case badVarint(offset: Int)
    /// A field holds a value outside its allowed range (`field` names it).
    case invalidValue(field: String)
    /// A list or byte field declares more elements than the protocol allows.
    case tooLong(field: String, count: Int, limit: Int)
    /// Bytes remain after the message was fully decoded.
    case trailingBytes(count: Int)
    /// The datagram is larger than the configured maximum (default 1200 bytes).
    case oversized(size: Int, limit: Int)

    public var description: String {
        switch self {
        case let .truncated(offset, needed): "datagram truncated: needed \(needed) bytes at offset \(offset)"
        case .badMagic: "not a Meshstep datagram (bad magic)"
        case let .unsupportedVersion(v): "unsupported protocol version \(v); this build speaks version \(Wire.version)"
        case let .unknownKind(k): "unknown message kind 0x\(String(k, radix: 16))"
        case let .badVarint(offset): "malformed varint at offset \(offset)"
        case let .invalidValue(field): "invalid value in field \(field)"
        case let .tooLong(field, count, limit): "field \(field) declares \(count) elements, limit is \(limit)"
        case let .trailingBytes(count): "\(count) unexpected trailing bytes"
        case let .oversized(size, limit): "datagram of \(size) bytes exceeds the \(limit)-byte limit"
        }
    }
}
