import MeshstepLockstep
import MeshstepWire

/// One player's controls for one tick of ``TankArena``: five buttons in one byte.
///
/// Encoding: a single byte, bit 0 thrust, bit 1 reverse, bit 2 turn left, bit 3 turn right,
/// bit 4 fire. Bits 5-7 must be zero: the decoder rejects them, so a future version can use
/// them without an old peer silently misreading its frames.
public struct TankInput: LockstepInput, Hashable, CustomStringConvertible {
    /// Drive forward.
    public var thrust: Bool
    /// Drive backward (slower). With `thrust` also held, the two cancel out.
    public var reverse: Bool
    /// Turn counter-clockwise on screen (the angle decreases).
    public var left: Bool
    /// Turn clockwise on screen (the angle increases).
    public var right: Bool
    /// Fire a shell when the gun has reloaded.
    public var fire: Bool

    /// No button held.
    public static let neutral = TankInput()

    /// The given buttons held; every button defaults to released.
    public init(thrust: Bool = false, reverse: Bool = false, left: Bool = false, right: Bool = false, fire: Bool = false) {
        self.thrust = thrust
        self.reverse = reverse
        self.left = left
        self.right = right
        self.fire = fire
    }

    /// The encoded byte.
    public var bits: UInt8 {
        (thrust ? 0x01 : 0) | (reverse ? 0x02 : 0) | (left ? 0x04 : 0) | (right ? 0x08 : 0) | (fire ? 0x10 : 0)
    }

    /// Decodes one byte; throws for bits outside the five defined ones.
    public init(bits: UInt8) throws(WireError) {
        guard bits & 0xE0 == 0 else { throw .invalidValue(field: "tank.input") }
        self.init(thrust: bits & 0x01 != 0, reverse: bits & 0x02 != 0, left: bits & 0x04 != 0, right: bits & 0x08 != 0, fire: bits & 0x10 != 0)
    }

    /// Writes ``bits``: one byte.
    public func encode(into writer: inout ByteWriter) { writer.u8(bits) }

    /// Reads one byte; throws `WireError` when none is left or bits 5-7 are set.
    public static func decode(from reader: inout ByteReader) throws(WireError) -> TankInput {
        try TankInput(bits: try reader.u8())
    }

    public var description: String {
        let names = [(thrust, "T"), (reverse, "R"), (left, "L"), (right, "Rt"), (fire, "F")].filter(\.0).map(\.1)
        return names.isEmpty ? "-" : names.joined(separator: "+")
    }
}
