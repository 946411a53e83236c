/// The roster as one peer holds it: which slots still play, from which tick each dropped slot's
/// input is nil, and the certified changes that say so. A snapshot (``LockstepSession/roster``):
/// it does not change after it was taken.
public struct RosterStatus: Sendable, Equatable {
    /// `dropTicks[slot]`: the slot's input is nil from this tick on (nil: still in the roster).
    /// An open slot nobody filled yet is at 0, and listed in ``vacantOpenSlots``.
    public var dropTicks: [Int?]
    /// Open slots nobody filled yet (``LockstepConfiguration/openSlots``), ascending.
    public var vacantOpenSlots: [Int] = []
    /// The epoch of the newest adopted roster change: 0 until the first certified drop, then one
    /// more per change.
    public var epoch: Int
    /// The round of the next epoch's change: 0, then one more per round a quorum vetoed.
    public var round: Int
    /// The certificates adopted, oldest first (the newest two are kept).
    public var certificates: [RosterCertificate]
    /// Slots admitted so far, oldest first: dropped players whose keys came back, and newcomers
    /// that filled an open slot (``RosterChange/Admit/key`` set).
    public var readmissions: [RosterChange.Admit]
    /// Slots proven by their own signatures to have told peers different inputs, ascending.
    public var provenEquivocators: [Int]
    /// Why the session stopped for good, if it did.
    public var halted: HaltReason?

    /// Number of player slots, dropped ones included.
    public var players: Int { dropTicks.count }
    /// Slots still in the roster, ascending.
    public var activeSlots: [Int] { dropTicks.indices.filter { dropTicks[$0] == nil } }
    /// The slots dropped so far with the tick each leaves at, ascending by slot (open slots
    /// nobody filled yet are not drops).
    public var drops: [RosterChange.Drop] {
        dropTicks.indices.compactMap { s in vacantOpenSlots.contains(s) ? nil : dropTicks[s].map { RosterChange.Drop(slot: s, tick: $0) } }
    }
}

/// Where one peer's session stands and what it measured of the others: a snapshot
/// (``LockstepSession/stats``), cheap enough to take every frame for a HUD.
public struct SessionStats: Sendable, Equatable {
    /// Ticks between reading a local input and the tick it is for (the same on every peer).
    public var inputDelay: Int
    /// The next tick the game will be handed.
    public var nextTick: Int
    /// The newest tick for which every active slot's input is held (-1: none yet).
    public var confirmedTick: Int
    /// The tick of our newest own input (-1: none yet, or a spectator).
    public var newestOwnInput: Int
    /// The newest checked tick whose checksum every other active player reported equal to ours
    /// (-1: none yet).
    public var checksumsAgreedThrough: Int
    /// How many ticks this peer's game loop is ahead of the slowest active player's, by their
    /// newest inputs (time sync: a game loop that is 2 or more ahead should stretch its frames
    /// a little, as GGPO does).
    public var framesAhead: Int
    /// `acknowledged[slot]`: the newest tick through which `slot` holds all of our inputs.
    public var acknowledged: [Int]
    /// Network figures for every other slot, ascending by slot.
    public var players: [PlayerNetworkStats]
}

/// Network figures for one remote player, as this peer sees them.
public struct PlayerNetworkStats: Sendable, Equatable {
    /// The remote player's slot.
    public var slot: Int
    /// Still in the roster.
    public var active: Bool
    /// Smoothed time from submitting one of our inputs to this player's frame acknowledging it
    /// (a round trip plus up to one frame of the player's send cadence), if measured yet.
    public var roundTrip: Duration?
    /// How many ticks our game loop is ahead of this player's (negative: behind): our newest
    /// input against the newest its frames carried, plus the time since its last frame.
    public var framesAhead: Int
    /// Received lockstep payload rate from this player, kilobits per second (last window).
    public var kbpsIn: Double
    /// Fraction of this player's frames that never arrived (from frame sequence gaps).
    public var loss: Double
    /// Inputs of this player that reached us only through a later frame's redundancy or a repair.
    public var repairedInputs: Int
    /// Time since the last frame from this player.
    public var silence: Duration
}

/// When each of our inputs was submitted, by tick: read on every acknowledgement, so an array
/// of consecutive ticks instead of a hashed dictionary.
struct SubmitTimes: Sendable {
    /// The tick of `times[0]`.
    var first = 0
    var times: [Duration] = []

    subscript(tick: Int) -> Duration? {
        let i = tick - first
        return i >= 0 && i < times.count ? times[i] : nil
    }

    /// Records `tick` submitted at `now`; ticks come in order (a skipped one gets the same time).
    mutating func record(_ tick: Int, at now: Duration) {
        let i = tick - first
        if times.isEmpty || i < 0 || i > times.count + 64 {
            first = tick
            times = [now]
        } else if i < times.count {
            times[i] = now
        } else {
            while times.count <= i { times.append(now) }
        }
    }

    /// Forgets the ticks before `tick`.
    mutating func forget(before tick: Int) {
        let n = min(times.count, tick - first)
        guard n > 0 else { return }
        times.removeFirst(n)
        first += n
    }
}

/// A time smoothed over its samples, in whole nanoseconds (`Duration`'s own `*` and `/` go
/// through 128-bit generic arithmetic): 1/8 gain, as TCP's SRTT, with the smoothed mean deviation
/// of the samples from it, 1/4 gain, as TCP's RTTVAR (RFC 6298).
struct SmoothedTime: Sendable {
    /// The smoothed time; nil before the first sample.
    var value: Int64?
    var deviation: Int64 = 0

    mutating func note(_ sample: Duration) {
        let r = sample.nanosecondsClamped
        guard let smoothed = value else {
            value = r
            deviation = r / 2
            return
        }
        deviation = (deviation * 3 + abs(smoothed - r)) / 4
        value = (smoothed * 7 + r) / 8
    }
}

/// What this peer measured of one remote slot's frames: the raw figures behind
/// ``PlayerNetworkStats``, all of fixed size.
struct SlotTraffic: Sendable {
    /// The lowest and highest frame sequence numbers seen, and how many frames arrived.
    var firstSeq = 0
    var lastSeq = 0
    var frames = 0
    /// The epoch of the newest frame (frames of an earlier one are from before a drop).
    var epoch = 0
    /// The current one-second rate window and the rate of the last complete one.
    var windowStart: Duration = .zero
    var windowBytes = 0
    var kbps: Double = 0
    /// Inputs that arrived only through a later frame.
    var repaired = 0
    /// Smoothed submit-to-acknowledged time of our inputs.
    var roundTripTime = SmoothedTime()
    /// The same time measured only on the newest input each frame acknowledges, never on one a
    /// resend repeated (Karn's rule): how soon this player answers our newest frame.
    var answer = SmoothedTime()
    /// The slot's own next tick, from its newest frame.
    var remoteNextTick = 0
    /// The newest of the slot's own inputs any of its frames carried (-1: none): its game's
    /// progress plus the input delay, what time sync compares (``LockstepSession/framesAhead``).
    var remoteNewestInput = -1

    /// The time between the slot's frames as they arrive, smoothed, and its mean deviation
    /// (RFC 3550's interarrival jitter, over the slot's own pace): in nanoseconds, 0 before two
    /// frames in order arrived. A frame can arrive that much later than its round trip says.
    var arrivalGap: Int64 = 0
    var arrivalJitter: Int64 = 0
    /// When the newest frame arrived.
    var lastArrival: Duration = .zero
    /// Frames that arrived in order since one of the slot's frames went missing (or since the
    /// first).
    var framesSinceMissing = 0

    /// How much later than the link round trip a frame of the slot may arrive before an input
    /// it does not acknowledge counts as lost, in nanoseconds: twice the arrival jitter once
    /// ``Self/lossFreeRun`` frames in a row arrived (about 2.5 s at 60 Hz), else none. Without
    /// loss, a frame that left just before our input arrived is what leaves an input
    /// unacknowledged, and resending it costs bytes; with loss, waiting out the jitter delays
    /// repairs (and the resends the margin saves repair some losses early).
    var lateMargin: Int64 { framesSinceMissing >= Self.lossFreeRun ? 2 * arrivalJitter : 0 }
    static let lossFreeRun = 150

    /// Whether a frame with this sequence number is newer than every one before.
    func isNewest(_ seq: Int) -> Bool { frames == 0 || seq > lastSeq }

    mutating func noteFrame(seq: Int, bytes: Int, now: Duration) {
        if isNewest(seq) {
            if frames > 0 {
                framesSinceMissing = seq == lastSeq + 1 ? framesSinceMissing + 1 : 0
                // Frames a few numbers apart (some lost) spread their gap over the numbers.
                if seq - lastSeq <= 4 {
                    let gap = (now - lastArrival).nanosecondsClamped / Int64(seq - lastSeq)
                    if arrivalGap == 0 {
                        arrivalGap = gap
                    } else {
                        arrivalJitter += (abs(gap - arrivalGap) - arrivalJitter) / 16
                        arrivalGap += (gap - arrivalGap) / 16
                    }
                }
            }
            lastArrival = now
        }
        if frames == 0 {
            firstSeq = seq
            lastSeq = seq
        } else {
            firstSeq = min(firstSeq, seq)
            lastSeq = max(lastSeq, seq)
        }
        frames += 1
        if now - windowStart >= .seconds(1) {
            let seconds = Double((now - windowStart).nanosecondsClamped) / 1e9
            kbps = Double(windowBytes * 8) / 1000 / max(seconds, 0.001)
            windowStart = now
            windowBytes = 0
        }
        windowBytes += bytes
    }

    /// The smoothed submit-to-acknowledged time, if measured yet.
    var roundTrip: Duration? { roundTripTime.value.map { .nanoseconds($0) } }

    /// When an answer to our newest frame is overdue, in nanoseconds: the smoothed answer time
    /// plus four mean deviations (TCP's retransmission timeout, RFC 6298), at least 5 us of
    /// deviation; nil before the first sample.
    var answerTimeout: Int64? {
        answer.value.map { $0 + max(5_000, 4 * answer.deviation) }
    }

    /// Fraction of frames missing from the sequence range seen.
    var loss: Double {
        let expected = frames == 0 ? 0 : lastSeq - firstSeq + 1
        return expected == 0 ? 0 : max(0, Double(expected - frames) / Double(expected))
    }

    /// What was received so far: the frame count and the newest sequence number (-1 before the
    /// first), a mark to measure ``loss(since:)`` from.
    var mark: (frames: Int, newest: Int) { frames == 0 ? (0, -1) : (frames, lastSeq) }

    /// Fraction of frames missing since `mark` (0 when nothing was heard by then or since).
    func loss(since mark: (frames: Int, newest: Int)) -> Double {
        let expected = lastSeq - mark.newest
        guard mark.frames > 0, expected > 0 else { return 0 }
        return max(0, Double(expected - (frames - mark.frames)) / Double(expected))
    }
}
