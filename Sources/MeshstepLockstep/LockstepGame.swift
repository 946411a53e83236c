import MeshstepWire

/// A player's input for one tick: a small value with a compact, versionable binary encoding.
public protocol LockstepInput: Equatable, Sendable {
    /// The input used for a tick when a player has none (for example after it was dropped).
    static var neutral: Self { get }
    /// Appends the input's bytes (at most 1024 in a frame); ``decode(from:)`` must read them
    /// back to an equal value. The session keeps and sends these bytes, and every peer decodes
    /// them to step its game: ``LockstepSession/submit(_:now:)`` checks the round trip and stops
    /// the process, naming the type, where it fails.
    func encode(into writer: inout ByteWriter)
    /// Total decoding: throws on bad bytes, never traps.
    static func decode(from reader: inout ByteReader) throws(WireError) -> Self
}

/// The one protocol a game implements to run on Meshstep: a deterministic state machine.
///
/// Rules for `step`: integer or ``Fixed`` math only, randomness only from a ``GameRandom`` kept
/// in the state, no clocks, no dictionaries iterated in hash order, no `Hasher`.
public protocol LockstepGame: Sendable {
    /// One player's input for one tick.
    associatedtype Input: LockstepInput

    /// The state at tick 0 for `players` slots and a shared seed.
    init(players: Int, seed: UInt64)

    /// Advances one tick. `inputs[slot]` is that slot's input, or nil for a slot that has been
    /// dropped from the session.
    mutating func step(inputs: [Input?])

    /// A stable checksum of the whole state (use ``StableHasher``).
    func checksum() -> UInt64

    /// The whole state as bytes (snapshots for late joiners, desync dumps).
    func snapshot() -> [UInt8]

    /// Restores a state from ``snapshot()``.
    init(snapshot: [UInt8]) throws
}
