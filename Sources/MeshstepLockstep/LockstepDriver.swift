/// The game side of a lockstep session, written once: confirmed ticks in; the game stepped, the
/// checked ticks' checksums and the local player's answers out.
///
/// Every game loop in Meshstep runs on it: `LockstepMatch` (UDP), the simulator and UDP bots,
/// the demo and the benchmarks. It holds no clock and does no I/O: the caller hands it the ticks
/// a session reports complete (``receive(_:)``), calls ``applyNext(answer:)`` as often as its
/// pacing allows (once per frame for a game shown on screen), and passes on what each applied
/// tick returns: the checksum to the session's checksum exchange, the answer to its `submit`.
///
/// ```swift
/// driver.receive(session.pollReady())
/// if let applied = driver.applyNext(answer: { game, _ in readLocalInput(game) }) {
///     if let checksum = applied.checksum { session.recordChecksum(tick: applied.tick, checksum: checksum) }
///     if let input = applied.answer { frame = session.submit(input, now: now) }
/// }
/// ```
public struct LockstepDriver<Game: LockstepGame>: Sendable {
    /// The game after the last applied tick. Settable for state transfer and fault injection.
    public var game: Game
    /// How many ticks have been applied (the next tick to apply).
    public var ticksApplied: Int { nextTick }
    @usableFromInline var nextTick = 0
    /// Checksums are computed for ticks that are multiples of this (the session compares only
    /// those; hashing the whole state every tick would be wasted).
    public let checksumInterval: Int
    /// Whether this peer answers each applied tick with an input (false for a spectator).
    public let answers: Bool
    /// Whether the driver resumed from a checkpoint and still has more than two confirmed ticks
    /// waiting: it applies ``catchUpTicksPerFrame`` a frame (``frameBudget(normal:)``) until
    /// the backlog is down to two.
    public package(set) var catchingUp = false
    // The per-tick methods below are inlinable: specialized in the game's module, they skip
    // the runtime type lookups that generic code compiled here needs for every tick.
    @usableFromInline var pending: [ConfirmedTick<Game.Input>] = []
    @usableFromInline var head = 0

    /// Ticks a frame applies while catching up after a resume: faster than real time, and
    /// bounded so a frame still renders and the session's timers still run.
    public static var catchUpTicksPerFrame: Int { 16 }

    /// A driver that applies ticks from `ticksApplied` on, to `game`.
    /// - Parameters:
    ///   - game: the state at tick 0 (or at a transferred tick, with `ticksApplied`).
    ///   - checksumInterval: the session's ``LockstepConfiguration/checksumInterval`` (at least 1).
    ///   - answers: true for a player, false for a spectator.
    ///   - ticksApplied: the first tick still to apply.
    public init(game: Game, checksumInterval: Int, answers: Bool, ticksApplied: Int = 0) {
        self.game = game
        self.checksumInterval = max(1, checksumInterval)
        self.answers = answers
        self.nextTick = ticksApplied
    }

    /// Confirmed ticks waiting to be applied.
    @inlinable public var backlog: Int { pending.count - head }

    /// How many ticks to apply this frame (call once per frame, after ``receive(_:)``):
    /// ``catchUpTicksPerFrame`` while catching up after a resume, else `normal`.
    public mutating func frameBudget(normal: Int = 1) -> Int {
        if catchingUp, backlog <= 2 { catchingUp = false }
        return catchingUp ? Self.catchUpTicksPerFrame : normal
    }

    /// Queues ticks the session reports complete, in order. A tick before the next one due (one
    /// from before a resume) is ignored: applying it would step the game twice.
    @inlinable public mutating func receive(_ ticks: some Sequence<(tick: Int, inputs: [Game.Input?])>) {
        for t in ticks where t.tick >= (pending.last.map { $0.tick + 1 } ?? nextTick) {
            pending.append(ConfirmedTick(tick: t.tick, inputs: t.inputs))
        }
    }

    /// Applies the next queued tick, if any: steps the game, checksums it when the tick is a
    /// checked one, and (for a player) asks `answer` for the local input that answers it, given
    /// the game after the tick and the tick's number.
    @inlinable public mutating func applyNext(answer: (Game, Int) -> Game.Input) -> AppliedTick<Game.Input>? {
        guard head < pending.count else { return nil }
        let next = pending[head]
        head += 1
        if head >= 64, head * 2 >= pending.count {
            pending.removeFirst(head)
            head = 0
        }
        game.step(inputs: next.inputs)
        nextTick = next.tick + 1
        let checksum = next.tick % checksumInterval == 0 ? game.checksum() : nil
        return AppliedTick(
            tick: next.tick, inputs: next.inputs, checksum: checksum,
            answer: answers ? answer(game, next.tick) : nil)
    }
}

/// A tick whose every input is known, as a session reports it.
public struct ConfirmedTick<Input: LockstepInput>: Sendable {
    /// The tick's number (0 is the first tick of the session).
    public var tick: Int
    /// Every slot's input (nil for a dropped slot).
    public var inputs: [Input?]

    /// A confirmed tick as ``LockstepSession/pollReady(limit:)`` reports it.
    public init(tick: Int, inputs: [Input?]) {
        self.tick = tick
        self.inputs = inputs
    }
}

/// What ``LockstepDriver/applyNext(answer:)`` did with one tick.
public struct AppliedTick<Input: LockstepInput>: Sendable {
    /// The tick applied.
    public var tick: Int
    /// The inputs it was applied with.
    public var inputs: [Input?]
    /// The game's checksum after the tick, for a checked tick (pass it to the session's
    /// `recordChecksum`); nil otherwise.
    public var checksum: UInt64?
    /// The local input answering this tick (pass it to the session's `submit`); nil for a
    /// spectator.
    public var answer: Input?

    @usableFromInline init(tick: Int, inputs: [Input?], checksum: UInt64?, answer: Input?) {
        self.tick = tick
        self.inputs = inputs
        self.checksum = checksum
        self.answer = answer
    }
}
