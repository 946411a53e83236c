import MeshstepWire

/// One player's input as the bytes its ``LockstepInput/encode(into:)`` wrote: what a session
/// stores, compares, folds into input chains and sends.
///
/// The session handles inputs only as these bytes and meets the game's input type at its edges
/// (``LockstepSession/submit(_:now:)`` encodes, ``LockstepSession/pollReady(limit:)`` decodes,
/// a received frame is checked by decoding each new input once). Its own code is then the
/// same for every game: called from the game's module it needs no runtime type lookups.
/// Up to 16 bytes are held in place, without an allocation; larger inputs (up to 1024 bytes, the
/// frame's limit) in an array.
@usableFromInline package struct InputBytes: Equatable, Sendable {
    /// Bytes 0-15 when there are at most 16, zero past ``count``.
    private var inline: (UInt64, UInt64)
    /// Every byte, when there are more than 16.
    private var spilled: [UInt8]?
    /// How many bytes.
    package private(set) var count: Int

    @usableFromInline package static func == (a: InputBytes, b: InputBytes) -> Bool {
        a.count == b.count && a.inline.0 == b.inline.0 && a.inline.1 == b.inline.1 && a.spilled == b.spilled
    }

    /// The bytes of `buffer`.
    package init(_ buffer: UnsafeRawBufferPointer) {
        count = buffer.count
        inline = (0, 0)
        if buffer.count <= 16 {
            spilled = nil
            Swift.withUnsafeMutableBytes(of: &inline) { $0.copyMemory(from: buffer) }
        } else {
            spilled = Array(buffer)
        }
    }

    /// `bytes`.
    @usableFromInline package init(_ bytes: [UInt8]) {
        self = bytes.withUnsafeBytes { InputBytes($0) }
    }

    /// The bytes `input.encode(into:)` writes.
    @inlinable package init<Input: LockstepInput>(encoding input: Input) {
        var w = ByteWriter(capacity: 16)
        input.encode(into: &w)
        self.init(w.bytes)
    }

    /// Reads one input of `length` bytes from `reader`, checking that the game's decoder takes
    /// exactly those bytes (total: bad bytes throw, nothing traps).
    package static func read<Input: LockstepInput>(_ reader: inout ByteReader, length: Int, as _: Input.Type) throws(WireError) -> InputBytes {
        let start = reader.offset
        try reader.skip(length)
        var r = ByteReader(reader.bytes, offset: start, end: start + length)
        _ = try Input.decode(from: &r)
        try r.expectEnd()
        return reader.bytes.withUnsafeBytes { InputBytes(UnsafeRawBufferPointer(rebasing: $0[start..<start + length])) }
    }

    /// Calls `body` with the bytes.
    @usableFromInline package func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        if let spilled { return spilled.withUnsafeBytes(body) }
        var words = inline
        let n = count
        return Swift.withUnsafeBytes(of: &words) { body(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
    }

    /// The bytes as an array.
    @usableFromInline package var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Appends the bytes to `w`.
    package func write(into w: inout ByteWriter) {
        withUnsafeBytes { w.raw($0) }
    }

    /// Whether the game's decoder reads these bytes, all of them, back to `input` (as every peer
    /// will: a receiver refuses an input its decoder does not take whole).
    @inlinable package func readsBack<Input: LockstepInput>(_ input: Input) -> Bool {
        var r = ByteReader(bytes)
        guard let back = try? Input.decode(from: &r) else { return false }
        return back == input && r.remaining == 0
    }

    /// The input these bytes encode. They were written by the game's encoder or checked by its
    /// decoder when they arrived (``read(_:length:as:)``), so decoding them again succeeds:
    /// decoding is a pure function of the bytes.
    /// Inlinable, so that it is specialized to the game's input type where it is called.
    @inlinable package func decode<Input: LockstepInput>(as _: Input.Type) -> Input {
        var scratch: [UInt8] = []
        return decode(as: Input.self, scratch: &scratch)
    }

    /// ``decode(as:)`` through `scratch`, which is overwritten: a `ByteReader` reads an array, and
    /// one array reused across a poll's inputs is one allocation instead of one per input.
    @inlinable package func decode<Input: LockstepInput>(as _: Input.Type, scratch: inout [UInt8]) -> Input {
        scratch.removeAll(keepingCapacity: true)
        withUnsafeBytes { scratch.append(contentsOf: $0) }
        var r = ByteReader(scratch)
        do { return try Input.decode(from: &r) } catch { preconditionFailure("\(Input.self).decode(from:) failed on bytes it accepted before: \(error)") }
    }
}

/// Complete ticks as the session holds them: every slot's input bytes (nil for a dropped slot).
@usableFromInline package typealias ReadyRows = [(tick: Int, row: [InputBytes?])]

extension InputBytes {
    /// `rows` decoded to the game's inputs. Inlinable: in the game's module it is specialized
    /// to the game's input type, where generic code compiled here would look up the type of
    /// every array it builds.
    @inlinable package static func decode<Input: LockstepInput>(_ rows: ReadyRows, as _: Input.Type) -> [(tick: Int, inputs: [Input?])] {
        if rows.isEmpty { return [] }
        var ready: [(tick: Int, inputs: [Input?])] = []
        ready.reserveCapacity(rows.count)
        var scratch: [UInt8] = []
        for r in rows { ready.append((r.tick, decode(r.row, as: Input.self, scratch: &scratch))) }
        return ready
    }

    /// One row decoded: every slot's input (nil for a dropped slot).
    @inlinable package static func decode<Input: LockstepInput>(_ row: [InputBytes?], as _: Input.Type) -> [Input?] {
        var scratch: [UInt8] = []
        return decode(row, as: Input.self, scratch: &scratch)
    }

    /// One row decoded through `scratch` (see ``decode(as:scratch:)``).
    @inlinable package static func decode<Input: LockstepInput>(_ row: [InputBytes?], as _: Input.Type, scratch: inout [UInt8]) -> [Input?] {
        var inputs: [Input?] = []
        inputs.reserveCapacity(row.count)
        for b in row { inputs.append(b?.decode(as: Input.self, scratch: &scratch)) }
        return inputs
    }
}
