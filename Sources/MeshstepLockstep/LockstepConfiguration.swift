/// Why lockstep settings, a roster or a request cannot be used. Each case names the field and
/// the values involved; ``description`` says what to change.
public enum LockstepConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A numeric setting outside its range (`field` as named in ``LockstepConfiguration``).
    case outOfRange(field: String, value: Int, allowed: ClosedRange<Int>)
    /// `disconnectNotify` must be above zero and at most `disconnectTimeout`.
    case disconnectNotifyAboveTimeout(notify: Duration, timeout: Duration)
    /// `toleratedLiars` above (players - 1) / 3 leaves no honest quorum.
    case tooManyToleratedLiars(tolerated: Int, players: Int)
    /// `stallThreshold` below 20 ms would call every scheduling hiccup a stall.
    case stallThresholdTooShort(Duration)
    /// A player's slot is not one of the roster's.
    case slotOutOfRange(slot: Int, players: Int)
    /// A player signs its inputs and the roster: it needs its key's signer.
    case missingSigner
    /// The session name is over 64 bytes of UTF-8.
    case sessionNameTooLong(bytes: Int)
    /// The roster names a different number of keys than there are players.
    case rosterSize(keys: Int, players: Int)
    /// A roster key is not a 32-byte Ed25519 public key.
    case invalidRosterKey
    /// One key holds two slots.
    case duplicateRosterKey
    /// The roster gives this peer's slot to another key.
    case slotOfAnotherKey(slot: Int)
    /// A spectator has no inputs, so it cannot carry an input-delay change.
    case spectatorCannotChangeDelay
    /// The request needs a running session (the roster is not bound yet).
    case notStarted
    /// ``LockstepConfiguration/openSlots`` names a slot twice, one outside the roster, or every slot.
    case invalidOpenSlots([Int])
    /// An open slot of the descriptor has a key (open slots start empty: 32 zero bytes).
    case keyForOpenSlot(slot: Int)

    public var description: String {
        switch self {
        case let .outOfRange(field, value, allowed):
            "\(field) must be \(allowed.lowerBound)...\(allowed.upperBound) (got \(value))"
        case let .disconnectNotifyAboveTimeout(notify, timeout):
            "disconnectNotify (\(notify)) must be above zero and at most disconnectTimeout (\(timeout))"
        case let .tooManyToleratedLiars(tolerated, players):
            "toleratedLiars must be 0...\((players - 1) / 3) for \(players) players (got \(tolerated)): more liars leave no honest quorum"
        case let .stallThresholdTooShort(threshold): "stallThreshold must be at least 20 ms (got \(threshold))"
        case let .slotOutOfRange(slot, players): "slot must be 0...\(players - 1) (got \(slot))"
        case .missingSigner: "a player needs a signer for its slot's key"
        case let .sessionNameTooLong(bytes): "the session name must be at most 64 bytes (got \(bytes))"
        case let .rosterSize(keys, players): "the roster names \(keys) keys for \(players) players"
        case .invalidRosterKey: "every roster key must be a valid 32-byte Ed25519 public key"
        case .duplicateRosterKey: "one key holds two slots of the roster: every slot needs its own key"
        case let .slotOfAnotherKey(slot): "the roster gives slot \(slot) to another key than this peer's"
        case .spectatorCannotChangeDelay: "a spectator cannot change the input delay"
        case .notStarted: "the session has not started yet"
        case let .invalidOpenSlots(slots):
            "openSlots \(slots) must be distinct slots of the roster, and at least one slot must have a player at the start"
        case let .keyForOpenSlot(slot): "slot \(slot) is open (filled later): its roster key must be 32 zero bytes"
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
    public var redundancy = 4
    /// A checksum is compared every this many ticks.
    public var checksumInterval = 30
    /// Silence after which a ``LockstepEvent/peerSilent(slot:)`` event is raised.
    public var disconnectNotify: Duration = .milliseconds(500)
    /// Silence after which this peer proposes to drop the slot (the drop is agreed, see
    /// ``LockstepSession``).
    public var disconnectTimeout: Duration = .seconds(2)
    /// Frames are cut to fit this many bytes (the mesh payload limit is 1026 by default).
    public var maxFrameBytes = 1000
    /// How many lying players roster quorums are sized for (see ``RosterQuorum``): 0 (the
    /// default) lets a strict majority drop the rest, which keeps the majority side of a
    /// partition live; `b` needs more than `(players + b) / 2` signatures for any roster change.
    public var toleratedLiars = 0
    /// ``LockstepSession/update(now:)`` runs every frame; a longer gap than this between two runs
    /// means this peer itself was not running on time (a stalled loop, a starved or paused
    /// process): the time beyond one frame is held against nobody's silence.
    public var stallThreshold: Duration = .milliseconds(50)
    /// Slots that start empty and that a newcomer may fill while the game runs (docs/LOCKSTEP.md,
    /// "Late join into an open slot"), ascending. The session starts without them (their input is
    /// nil, as for a dropped player); a key the roster admits plays the slot from its admission
    /// on. At least one slot must not be open.
    public var openSlots: [Int] = []
    /// Whether this player sends its report of a row in a frame of its own, without inputs, as
    /// soon as it holds every input of the row (over its links to the players only). Off, the
    /// report rides in the player's next frame, so a tick is agreed about a frame after its last
    /// input arrived (17 ms at 60 Hz) and frames take about 70 bytes per input per peer; on, it
    /// is agreed about two one-way trips after the input left, for one more small frame per
    /// tick to each player (docs/LOCKSTEP.md, "Input agreement"). Each player chooses for
    /// itself: it is not part of ``digest``.
    public var promptReports = false

    /// A configuration for `players` slots (2...64, checked by ``validate()``), every other
    /// value at its default.
    public init(players: Int) { self.players = players }

    /// A copy with ``tickRate`` set to `v` ticks per second (1...1000).
    public func withTickRate(_ v: Int) -> Self { var c = self; c.tickRate = v; return c }
    /// A copy with ``inputDelay`` set to `v` ticks (0...32).
    public func withInputDelay(_ v: Int) -> Self { var c = self; c.inputDelay = v; return c }
    /// A copy with ``redundancy`` set to `v` inputs per frame (1...64).
    public func withRedundancy(_ v: Int) -> Self { var c = self; c.redundancy = v; return c }
    /// A copy with ``checksumInterval`` set to `v` ticks (1...10000).
    public func withChecksumInterval(_ v: Int) -> Self { var c = self; c.checksumInterval = v; return c }
    /// A copy with ``disconnectNotify`` set to `v` (above zero, at most ``disconnectTimeout``).
    public func withDisconnectNotify(_ v: Duration) -> Self { var c = self; c.disconnectNotify = v; return c }
    /// A copy with ``disconnectTimeout`` set to `v` (at least ``disconnectNotify``).
    public func withDisconnectTimeout(_ v: Duration) -> Self { var c = self; c.disconnectTimeout = v; return c }
    /// A copy with ``maxFrameBytes`` set to `v` bytes (200...65000).
    public func withMaxFrameBytes(_ v: Int) -> Self { var c = self; c.maxFrameBytes = v; return c }
    /// A copy with ``toleratedLiars`` set to `v` (0...(players - 1) / 3).
    public func withToleratedLiars(_ v: Int) -> Self { var c = self; c.toleratedLiars = v; return c }
    /// A copy with ``stallThreshold`` set to `v` (at least 20 ms).
    public func withStallThreshold(_ v: Duration) -> Self { var c = self; c.stallThreshold = v; return c }
    /// A copy with ``openSlots`` set to `v`, sorted (distinct slots, not all of them).
    public func withOpenSlots(_ v: [Int]) -> Self { var c = self; c.openSlots = v.sorted(); return c }
    /// A copy with ``promptReports`` set.
    public func withPromptReports(_ v: Bool) -> Self { var c = self; c.promptReports = v; return c }

    /// The open slots written as a command line takes them: comma-separated distinct slots of
    /// `players` ("3", "2,3"), leaving at least two filled at the start; nil for anything else.
    public static func openSlots(parsing text: String, players: Int) -> [Int]? {
        let slots = text.split(separator: ",", omittingEmptySubsequences: false).map { Int(String($0.filter { !$0.isWhitespace })) }
        guard !slots.isEmpty, slots.allSatisfy({ $0.map { (0..<players).contains($0) } ?? false }), Set(slots).count == slots.count,
            slots.count <= players - 2
        else { return nil }
        return slots.compactMap { $0 }.sorted()
    }

    /// Checks every value; the error names the field and the allowed range.
    public func validate() throws(LockstepConfigurationError) {
        guard (2...64).contains(players) else { throw .outOfRange(field: "players", value: players, allowed: 2...64) }
        guard (1...1000).contains(tickRate) else { throw .outOfRange(field: "tickRate", value: tickRate, allowed: 1...1000) }
        guard (0...32).contains(inputDelay) else { throw .outOfRange(field: "inputDelay", value: inputDelay, allowed: 0...32) }
        guard (1...64).contains(redundancy) else { throw .outOfRange(field: "redundancy", value: redundancy, allowed: 1...64) }
        guard (1...10_000).contains(checksumInterval) else { throw .outOfRange(field: "checksumInterval", value: checksumInterval, allowed: 1...10_000) }
        guard disconnectNotify > .zero, disconnectTimeout >= disconnectNotify else {
            throw .disconnectNotifyAboveTimeout(notify: disconnectNotify, timeout: disconnectTimeout)
        }
        guard (200...65_000).contains(maxFrameBytes) else { throw .outOfRange(field: "maxFrameBytes", value: maxFrameBytes, allowed: 200...65_000) }
        guard (0...(players - 1) / 3).contains(toleratedLiars) else {
            throw .tooManyToleratedLiars(tolerated: toleratedLiars, players: players)
        }
        guard stallThreshold >= .milliseconds(20) else { throw .stallThresholdTooShort(stallThreshold) }
        guard Set(openSlots).count == openSlots.count, openSlots.allSatisfy((0..<players).contains), openSlots.count < players else {
            throw .invalidOpenSlots(openSlots)
        }
    }

    /// A stable digest of the values every peer must share.
    public var digest: UInt32 {
        var h = StableHasher()
        h.combine(players); h.combine(tickRate); h.combine(checksumInterval)
        // Sessions without open slots keep the digest they always had.
        if !openSlots.isEmpty { for s in openSlots.sorted() { h.combine(s) } }
        return UInt32(truncatingIfNeeded: h.finalize())
    }

    /// Starts a session as the player in `slot`; `keys` binds every slot to its key and signs
    /// for this one.
    public func startPlayer<Input: LockstepInput>(slot: Int, keys: SessionKeys, input: Input.Type = Input.self) throws(LockstepConfigurationError)
        -> LockstepSession<Input>
    {
        try validate()
        guard (0..<players).contains(slot) else { throw .slotOutOfRange(slot: slot, players: players) }
        try keys.descriptor.validate(against: self)
        guard keys.signer != nil else { throw .missingSigner }
        return LockstepSession(configuration: self, role: .player(slot), keys: keys)
    }

    /// Starts a session as a spectator: it follows the game and sends nothing.
    public func startSpectator<Input: LockstepInput>(keys: SessionKeys, input: Input.Type = Input.self) throws(LockstepConfigurationError) -> LockstepSession<
        Input
    > {
        try validate()
        try keys.descriptor.validate(against: self)
        return LockstepSession(configuration: self, role: .spectator, keys: keys)
    }
}

/// Whether this session plays a slot or watches.
public enum LockstepRole: Sendable, Equatable {
    /// Plays the slot (0...players-1): submits inputs and signs the roster.
    case player(Int)
    /// Follows the game and sends nothing.
    case spectator

    /// The slot played, nil for a spectator.
    public var slot: Int? {
        if case let .player(slot) = self { slot } else { nil }
    }
}
