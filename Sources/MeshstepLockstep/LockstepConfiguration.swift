/// Why a session configuration was refused. Each case says what to change.
public enum LockstepConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalid(String)

    public var description: String {
        switch self {
        case let .invalid(message): "invalid lockstep configuration: \(message)"
        }
    }
}

/// The parameters of a lockstep session. Every peer of one session must use the same values for
/// the fields covered by ``digest`` (players, tick rate, checksum interval): frames carry the
/// digest and a peer with different values is reported, never silently mixed in.
///
/// Build one with the chainable `with...` methods, then start a session:
/// ```swift
/// let session = try LockstepConfiguration(players: 4)
///     .withInputDelay(3)
///     .withDisconnectTimeout(.seconds(2))
///     .withChecksumInterval(30)
///     .startPlayer(slot: 1, keys: keys, input: Move.self)
/// ```
/// Defaults follow GGRS and GGPO where they agree: disconnect notify after 500 ms, drop after
/// 2 s of silence, a checksum every 30 ticks (two per second at 60 Hz).
public struct LockstepConfiguration: Sendable, Equatable {
    /// Number of player slots (2...64). Spectators come on top and take no slot.
    public var players: Int
    /// Ticks per second the game runs at; used for time sync and latency figures.
    public var tickRate = 60
    /// Ticks between reading a local input and the tick it applies to (0...32). Hides latency:
    /// about one-way latency in ticks, plus one or two for repairs.
    public var inputDelay = 2
    /// Minimum number of own inputs repeated in every frame (1...64), even when acknowledged.
    public var redundancy = 8
    /// A checksum is compared every this many ticks.
    public var checksumInterval = 30
    /// Silence after which a ``LockstepEvent/peerSilent(slot:)`` event is raised.
    public var disconnectNotify: Duration = .milliseconds(500)
    /// Silence after which this peer proposes to drop the slot (the drop is agreed, see
    /// ``LockstepSession``).
    public var disconnectTimeout: Duration = .seconds(2)
    /// Frames are cut to fit this many bytes (the mesh payload limit is 1026 by default).
    public var maxFrameBytes = 1000
    /// Whether the driver should let spectators join (a mesh-side policy; recorded here so the
    /// whole session configuration lives in one place).
    public var spectatorsAllowed = true
    /// How many lying players roster quorums are sized for (see ``RosterQuorum``): 0 (the
    /// default) lets a strict majority drop the rest, which keeps the majority side of a
    /// partition live; `b` needs more than `(players + b) / 2` signatures for any roster change.
    public var toleratedLiars = 0
    /// ``LockstepSession/update(now:)`` runs every frame; a longer gap than this between two runs
    /// means this peer itself was not running on time (a stalled loop, a starved or paused
    /// process): the time beyond one frame is held against nobody's silence.
    public var stallThreshold: Duration = .milliseconds(50)

    public init(players: Int) { self.players = players }

    public func withTickRate(_ v: Int) -> Self { var c = self; c.tickRate = v; return c }
    public func withInputDelay(_ v: Int) -> Self { var c = self; c.inputDelay = v; return c }
    public func withRedundancy(_ v: Int) -> Self { var c = self; c.redundancy = v; return c }
    public func withChecksumInterval(_ v: Int) -> Self { var c = self; c.checksumInterval = v; return c }
    public func withDisconnectNotify(_ v: Duration) -> Self { var c = self; c.disconnectNotify = v; return c }
    public func withDisconnectTimeout(_ v: Duration) -> Self { var c = self; c.disconnectTimeout = v; return c }
    public func withMaxFrameBytes(_ v: Int) -> Self { var c = self; c.maxFrameBytes = v; return c }
    public func withSpectatorsAllowed(_ v: Bool) -> Self { var c = self; c.spectatorsAllowed = v; return c }
    public func withToleratedLiars(_ v: Int) -> Self { var c = self; c.toleratedLiars = v; return c }
    public func withStallThreshold(_ v: Duration) -> Self { var c = self; c.stallThreshold = v; return c }

    /// Checks every value; the error names the field and the allowed range.
    public func validate() throws(LockstepConfigurationError) {
        guard (2...64).contains(players) else { throw .invalid("players must be 2...64 (got \(players))") }
        guard (1...1000).contains(tickRate) else { throw .invalid("tickRate must be 1...1000 (got \(tickRate))") }
        guard (0...32).contains(inputDelay) else { throw .invalid("inputDelay must be 0...32 ticks (got \(inputDelay))") }
        guard (1...64).contains(redundancy) else { throw .invalid("redundancy must be 1...64 (got \(redundancy))") }
        guard (1...10_000).contains(checksumInterval) else { throw .invalid("checksumInterval must be 1...10000 (got \(checksumInterval))") }
        guard disconnectNotify > .zero, disconnectTimeout >= disconnectNotify else {
            throw .invalid("need 0 < disconnectNotify <= disconnectTimeout")
        }
        guard (200...65_000).contains(maxFrameBytes) else { throw .invalid("maxFrameBytes must be 200...65000 (got \(maxFrameBytes))") }
        guard (0...(players - 1) / 3).contains(toleratedLiars) else {
            throw .invalid("toleratedLiars must be 0...\((players - 1) / 3) for \(players) players (got \(toleratedLiars)): more liars leave no honest quorum")
        }
        guard stallThreshold >= .milliseconds(20) else { throw .invalid("stallThreshold must be at least 20 ms") }
    }

    /// A stable digest of the values every peer must share.
    public var digest: UInt32 {
        var h = StableHasher()
        h.combine(players); h.combine(tickRate); h.combine(checksumInterval)
        return UInt32(truncatingIfNeeded: h.finalize())
    }

    /// Starts a session as the player in `slot`; `keys` binds every slot to its key and signs
    /// for this one.
    public func startPlayer<Input: LockstepInput>(slot: Int, keys: SessionKeys, input: Input.Type = Input.self) throws(LockstepConfigurationError) -> LockstepSession<Input> {
        try validate()
        guard (0..<players).contains(slot) else { throw .invalid("slot must be 0...\(players - 1) (got \(slot))") }
        try keys.descriptor.validate(against: self)
        guard keys.signer != nil else { throw .invalid("a player needs a signer for its slot's key") }
        return LockstepSession(configuration: self, role: .player(slot), keys: keys)
    }

    /// Starts a session as a spectator: it follows the game and sends nothing.
    public func startSpectator<Input: LockstepInput>(keys: SessionKeys, input: Input.Type = Input.self) throws(LockstepConfigurationError) -> LockstepSession<Input> {
        try validate()
        try keys.descriptor.validate(against: self)
        return LockstepSession(configuration: self, role: .spectator, keys: keys)
    }
}

/// Whether this session plays a slot or watches.
public enum LockstepRole: Sendable, Equatable {
    case player(Int)
    case spectator
}
