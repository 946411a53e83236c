import Testing
@testable import MeshstepLockstep
import MeshstepWire

/// An input whose decoder drops the high bit its encoder wrote: it does not read back what it
/// wrote.
struct LossyInput: LockstepInput {
    var value: UInt8
    static let neutral = LossyInput(value: 0)
    func encode(into w: inout ByteWriter) { w.u8(value) }
    static func decode(from r: inout ByteReader) throws(WireError) -> LossyInput { LossyInput(value: try r.u8() & 0x7F) }
}

/// An input whose encoder writes a byte more than its decoder reads: every receiver would refuse
/// its frames (trailing bytes).
struct PaddedInput: LockstepInput {
    var value: UInt8
    static let neutral = PaddedInput(value: 0)
    func encode(into w: inout ByteWriter) { w.u8(value); w.u8(0) }
    static func decode(from r: inout ByteReader) throws(WireError) -> PaddedInput { PaddedInput(value: try r.u8()) }
}

/// An input of any length (a varint count, then the bytes): its decoder reads whatever its reader
/// holds up to the end, so a reused buffer with stale bytes past the input would show.
struct BlobInput: LockstepInput {
    var bytes: [UInt8]
    static let neutral = BlobInput(bytes: [])
    func encode(into w: inout ByteWriter) { w.varint(UInt64(bytes.count)); w.raw(bytes) }
    static func decode(from r: inout ByteReader) throws(WireError) -> BlobInput {
        let n = Int(try r.varint())
        let blob = BlobInput(bytes: try r.raw(n))
        try r.expectEnd()
        return blob
    }
}

@Suite("Inputs as bytes")
struct InputBytesTests {
    @Test("inputs of 0 to 1024 bytes keep their bytes, held inline up to 16 and in an array beyond; equal only when the bytes are")
    func bytesRoundTrip() {
        for n in [0, 1, 2, 15, 16, 17, 40, 1024] {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }
            let b = InputBytes(bytes)
            #expect(b.count == n && b.bytes == bytes, "\(n) bytes")
            #expect(b == InputBytes(bytes))
            var w = ByteWriter()
            b.write(into: &w)
            #expect(w.bytes == bytes)
            if n > 0 {
                var changed = bytes
                changed[n - 1] ^= 1
                #expect(b != InputBytes(changed), "\(n) bytes, last one changed")
            }
        }
        // Trailing zero bytes count: [], [0] and [0, 0] are three inputs.
        #expect(InputBytes([]) != InputBytes([0]) && InputBytes([0]) != InputBytes([0, 0]))
        #expect(InputBytes(Array(repeating: 0, count: 16)) != InputBytes(Array(repeating: 0, count: 17)))
    }

    @Test("rows decoded through one reused buffer give every input exactly, long ones before short ones and dropped slots included")
    func rowsDecodeThroughOneBuffer() {
        let lengths = [40, 0, 17, 3, 1024, 16, 1]
        let inputs = lengths.enumerated().map { i, n in BlobInput(bytes: (0..<n).map { UInt8(truncatingIfNeeded: $0 &+ i &* 31) }) }
        let held = inputs.map { InputBytes(encoding: $0) }
        // Three slots per row; slot 1 of the second row is dropped.
        let rows: ReadyRows = [(5, [held[0], held[1], held[2]]), (6, [held[3], nil, held[4]]), (7, [held[5], held[6], held[0]])]
        let ready = InputBytes.decode(rows, as: BlobInput.self)
        #expect(ready.map(\.tick) == [5, 6, 7])
        #expect(ready[0].inputs == [inputs[0], inputs[1], inputs[2]])
        #expect(ready[1].inputs == [inputs[3], nil, inputs[4]])
        #expect(ready[2].inputs == [inputs[5], inputs[6], inputs[0]])
        // One by one, as before, the same.
        #expect(rows.map { InputBytes.decode($0.row, as: BlobInput.self) } == ready.map(\.inputs))
        #expect(held.map { $0.decode(as: BlobInput.self) } == inputs)
    }

    @Test("an input read from a frame is checked by the game's decoder, which must take exactly its bytes")
    func readChecksWithTheDecoder() throws {
        var r = ByteReader([0x05, 0x09, 0x01, 0x02])
        let first = try InputBytes.read(&r, length: 1, as: Move.self)
        #expect(first.bytes == [0x05] && first.decode(as: Move.self) == Move(direction: 5, boost: false) && r.offset == 1)
        // 9 is no direction: the decoder refuses it, and nothing is returned.
        #expect(throws: WireError.invalidValue(field: "move.direction")) { _ = try InputBytes.read(&r, length: 1, as: Move.self) }
        // Two bytes where a Move takes one: trailing bytes.
        var r2 = ByteReader([0x01, 0x02])
        #expect(throws: WireError.trailingBytes(count: 1)) { _ = try InputBytes.read(&r2, length: 2, as: Move.self) }
        // More bytes than the buffer holds.
        var r3 = ByteReader([0x01])
        #expect(throws: WireError.truncated(offset: 0, needed: 2)) { _ = try InputBytes.read(&r3, length: 2, as: Move.self) }
    }

    @Test("a game whose decoder does not read back exactly what its encoder wrote is stopped at the first submit, naming the type")
    func lossyCodecStopsAtSubmit() async {
        await #expect(processExitsWith: .failure) {
            var s = LockstepSession<LossyInput>(players: 2, localSlot: 0)
            _ = s.submit(LossyInput(value: 0x80), now: .zero)
        }
        await #expect(processExitsWith: .failure) {
            var s = LockstepSession<PaddedInput>(players: 2, localSlot: 0)
            _ = s.submit(PaddedInput(value: 1), now: .zero)
        }
        // A value it does read back is fine.
        var s = LockstepSession<LossyInput>(players: 2, localSlot: 0)
        #expect(!s.submit(LossyInput(value: 0x05), now: .zero).isEmpty)
    }
}
