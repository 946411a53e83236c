import MeshstepLockstep
import MeshstepWire

/// The session's lobby messages, flooded over the mesh beside the frames (the first byte tells
/// them apart; docs/PROTOCOL.md, Appendix C):
/// - claim: `u8 type=5 | u8 slot | u32 configuration digest` (claims mode only);
/// - hello: `u8 type=4 | u8 slot | lengthPrefixed(descriptor) | 64-byte Ed25519 signature over
///   the descriptor's acceptance bytes | [u32 running at]` by the key the descriptor gives `slot`;
/// - state transfer: checkpoint offers, chunk requests, chunks and join requests (types 10-13,
///   `StateTransfer.swift`).
public enum SessionWire {
    /// First byte of a lockstep frame (handed to the session, not decoded here).
    public static let frame: UInt8 = 7
    /// First byte of a hello.
    public static let hello: UInt8 = 4
    /// First byte of a claim.
    public static let claim: UInt8 = 5

    /// A claim of `slot` under the configuration `digest` (`LockstepConfiguration.digest`).
    public static func encodeClaim(slot: Int, digest: UInt32) -> [UInt8] {
        var w = ByteWriter(capacity: 6)
        w.u8(claim); w.u8(UInt8(slot)); w.u32(digest)
        return w.bytes
    }

    /// Decodes a claim; throws on a wrong type byte, missing or trailing bytes. The slot is not
    /// checked against the number of players.
    public static func decodeClaim(_ bytes: [UInt8]) throws(WireError) -> (slot: Int, digest: UInt32) {
        var r = ByteReader(bytes)
        guard try r.u8() == claim else { throw .invalidValue(field: "claim.type") }
        let slot = Int(try r.u8())
        let digest = try r.u32()
        try r.expectEnd()
        return (slot, digest)
    }

    /// The sender's next tick in a lockstep frame (its header: `u8 type | u8 slot | u32 digest |
    /// varint epoch | varint nextTick`), without decoding the rest; nil for anything else.
    public static func peekNextTick(frame bytes: [UInt8]) -> Int? {
        var r = ByteReader(bytes)
        guard (try? r.u8()) == frame, (try? r.u8()) != nil, (try? r.u32()) != nil,
            (try? r.varint()) != nil, let next = try? r.count(field: "frame.nextTick", limit: Int(Int32.max))
        else { return nil }
        return next
    }

    /// A hello: `slot` accepts `descriptor` with `signature` over its acceptance bytes. A player
    /// of a running session adds `runningAt` (its next tick): a peer still in the lobby learns
    /// that the session started without it, and resumes from a checkpoint instead.
    public static func encodeHello(slot: Int, descriptor: SessionDescriptor, signature: [UInt8], runningAt: Int? = nil) -> [UInt8] {
        var w = ByteWriter(capacity: 132 + descriptor.players * 32)
        w.u8(hello); w.u8(UInt8(slot))
        w.lengthPrefixed(descriptor.encode())
        w.raw(signature)
        if let runningAt { w.u32(UInt32(clamping: runningAt)) }
        return w.bytes
    }

    /// Decodes a hello; throws on bad bytes, a descriptor that does not decode, or a slot outside
    /// the descriptor's roster. The signature is not verified here
    /// (`SessionDescriptor.verifyAcceptance(slot:signature:)` does that).
    public static func decodeHello(_ bytes: [UInt8]) throws(WireError) -> (slot: Int, descriptor: SessionDescriptor, signature: [UInt8], runningAt: Int?) {
        var r = ByteReader(bytes)
        guard try r.u8() == hello else { throw .invalidValue(field: "hello.type") }
        let slot = Int(try r.u8())
        let d = try SessionDescriptor.decode(try r.lengthPrefixed(field: "hello.descriptor", limit: 2200))
        let sig = try r.raw(64)
        let running = r.remaining == 4 ? Int(try r.u32()) : nil
        try r.expectEnd()
        guard slot < d.players else { throw .invalidValue(field: "hello.slot") }
        return (slot, d, sig, running)
    }
}
