/// When a game loop's next frame is due: a fixed rate without drift, with time sync.
///
/// A player whose session runs 2 or more ticks ahead of the slowest player
/// (``SessionStats/framesAhead``) stretches each frame by a millisecond per tick ahead beyond the
/// first, at most 4 ms, so that it slows down smoothly instead of running into a stall while it
/// waits for the others' inputs (GGPO waits outright at 3 or more ahead). A frame that ran late is
/// followed by a shorter wait; after a stall longer than 10 frames the pacer starts afresh
/// instead of racing to catch up.
///
/// Sans-IO: the caller passes the time in and sleeps (or renders) until the returned deadline.
///
/// ```swift
/// var pacer = FramePacer(tickRate: 60)
/// while playing {
///     runOneFrame()
///     let due = pacer.next(now: clock.now - start, framesAhead: session.stats.framesAhead)
///     sleep(until: start + due)
/// }
/// ```
public struct FramePacer: Sendable, Equatable {
    /// One frame at the tick rate.
    public let frameInterval: Duration
    /// When the next frame is due, once ``next(now:framesAhead:)`` was called.
    public private(set) var nextFrame: Duration?
    /// The time added to frames so far by time sync (a figure for stats and tests).
    public private(set) var stretched: Duration = .zero

    /// A pacer for `tickRate` frames a second (1...1000, as ``LockstepConfiguration/tickRate``).
    public init(tickRate: Int) {
        frameInterval = .seconds(1) / max(1, min(1000, tickRate))
    }

    /// How much one frame is stretched when the session is `framesAhead` ticks ahead of the
    /// slowest player: nothing below 2, then 1 ms per tick beyond the first, at most 4 ms.
    public static func stretch(framesAhead: Int) -> Duration {
        framesAhead >= 2 ? .milliseconds(min(4, framesAhead - 1)) : .zero
    }

    /// Call once per frame, after its work, with the current time and how far ahead the session
    /// is: returns when the next frame is due (in the past when this loop is late: run it at once).
    public mutating func next(now: Duration, framesAhead: Int) -> Duration {
        let stretch = Self.stretch(framesAhead: framesAhead)
        stretched += stretch
        let due = (nextFrame ?? now) + frameInterval + stretch
        // A long stall (a debugger, a suspended process): go on from now, at the normal rate.
        nextFrame = now - due > frameInterval * 10 ? now : due
        return nextFrame!
    }
}
