import MeshstepWire

/// Why this peer stopped applying ticks for good.
public enum HaltReason: Sendable, Equatable, CustomStringConvertible {
    /// This peer can reach too few of the roster to continue without risking a split brain:
    /// `reachable` slots (itself included) of `roster`. Only a strict majority continues (an
    /// exact half continues when it holds the lowest slot of the roster).
    case lostMajority(reachable: Int, roster: Int)
    /// The others agreed to drop this peer (it was silent too long for them) from `tick` on.
    case droppedByPeers(tick: Int)
    /// A certified roster change drops a slot from `tick`, but this peer already applied that
    /// tick with the slot's input: continuing would diverge from the others, so it stops.
    case rosterChangeBelowApplied(slot: Int, tick: Int)
    /// Every slot of the roster has been dropped: there is no game left to follow.
    case rosterEmpty
    /// A certified change drops `slot` from `tick`, but this peer knows two signed histories of
    /// that slot that differ before `tick`: it cannot tell which one the others keep, so it stops.
    case disputedInputs(slot: Int, tick: Int)

    public var description: String {
        switch self {
        case let .lostMajority(reachable, roster): "lost the majority: only \(reachable) of \(roster) players reachable, the other side continues"
        case let .droppedByPeers(tick): "dropped by the other players at tick \(tick) (they did not hear from us in time)"
        case let .rosterChangeBelowApplied(slot, tick): "the others dropped slot \(slot) from tick \(tick), which this peer had already applied with its input"
        case .rosterEmpty: "every player has been dropped"
        case let .disputedInputs(slot, tick): "slot \(slot) was dropped from tick \(tick), but its inputs before that tick are disputed"
        }
    }
}

/// Something the session wants the game to know.
public enum LockstepEvent: Sendable, Equatable {
    /// Two or more peers computed different checksums for `tick`. `slots` are the slots whose
    /// checksum differs from the local one; each slot is reported once per tick (a later event
    /// for the same tick names slots whose checksums arrived later).
    case desync(tick: Int, slots: [Int], local: UInt64)
    /// A frame claimed a slot other than its signed origin's: dropped, never applied.
    case forgedInput(claimedSlot: Int, fromSlot: Int)
    /// `slot` committed to two different input histories that first differ at `tick`: it sent
    /// us two inputs for one tick, or another peer relayed its signed statement over inputs that
    /// differ from the ones it sent us (proof). No peer applies the tick; the slot is voted out.
    case equivocation(slot: Int, tick: Int)
    /// A frame from a peer whose session parameters differ (``LockstepConfiguration/digest``).
    case configurationMismatch(slot: Int)
    /// Nothing heard from `slot` for the disconnect-notify interval.
    case peerSilent(slot: Int)
    /// A silent slot is heard again (before it was dropped).
    case peerResumed(slot: Int)
    /// This peer proposed to drop `slot` (silent past the disconnect timeout, or another peer
    /// proposed it); nothing is applied past `heldThrough` until the roster decision.
    case dropProposed(slot: Int, heldThrough: Int)
    /// Agreed drop: every survivor applies nil for `slot` from `tick` on.
    case dropped(slot: Int, tick: Int)
    /// This peer stopped for good; see the reason.
    case halted(HaltReason)
    /// Every player signed the roster: tick 0 may be applied.
    case started
    /// `slot` broke the protocol in a way only a faulty or lying peer does (the frame part is
    /// ignored). Every violation is evidence against that slot, never a command.
    case violation(slot: Int, ProtocolViolation)
    /// The input delay changes to `delay` after `tick` on every peer.
    case inputDelayChanged(delay: Int, afterTick: Int)
    /// A quorum refused the change proposed in `round` of `epoch` (the slots it dropped played
    /// on): nobody will adopt it; whoever signed it goes on, and a later round may propose again.
    case changeRefused(epoch: Int, round: Int)
    /// A certified change readmits `slot` (its key came back): its inputs count again from
    /// `tick` on (see ``RosterChange/Admit``).
    case readmitted(slot: Int, tick: Int)
    /// A certified change binds open `slot` to a newcomer's key: its inputs count from `tick`
    /// on (docs/LOCKSTEP.md, "Late join into an open slot").
    case joined(slot: Int, tick: Int)
    /// This peer resumed the session from a checkpoint taken before `tick` (it rejoined or
    /// joined late) and applies ticks from there on.
    case resumed(tick: Int)
}

/// A check a frame failed that an honest peer's frame always passes.
public enum ProtocolViolation: Sendable, Equatable, CustomStringConvertible {
    /// It acknowledged our inputs through `ack`, but we have sent only through `sent`.
    case ackBeyondSent(ack: Int, sent: Int)
    /// A roster signature (an endorsement or part of a certificate) did not verify.
    case badSignature
    /// It signed two different roster changes for one epoch (the proof is both signatures).
    case conflictingEndorsements(epoch: Int)
    /// A certificate without a quorum of distinct roster signers.
    case certificateWithoutQuorum(epoch: Int)
    /// It keeps voting to drop slots this peer hears from (lying votes, or it is cut off from them).
    case voteAgainstLiveSlots([Int])
    /// A frame that does not decode.
    case malformedFrame
    /// Its row digests have disagreed with ours since `tick` for a whole disconnect timeout,
    /// and no dispute showed whose inputs differ (it may lie about its digests).
    case rowDigestMismatch(tick: Int)

    public var description: String {
        switch self {
        case let .ackBeyondSent(ack, sent): "acknowledged our inputs through tick \(ack), but we sent only through \(sent)"
        case .badSignature: "a roster signature that does not verify"
        case let .conflictingEndorsements(epoch): "signed two different roster changes for epoch \(epoch)"
        case let .certificateWithoutQuorum(epoch): "a roster certificate for epoch \(epoch) without a quorum of signers"
        case let .voteAgainstLiveSlots(slots): "votes to drop slots \(slots.map(String.init).joined(separator: ", ")), which we hear from"
        case .malformedFrame: "a frame that does not decode"
        case let .rowDigestMismatch(tick): "its input history has disagreed with ours since tick \(tick)"
        }
    }
}

/// Why a lockstep payload was rejected.
public enum LockstepError: Error, Equatable, Sendable {
    /// The payload does not decode as a lockstep frame; the wire error says where.
    case malformed(WireError)
    /// The origin slot given to ``LockstepSession/receive(_:fromSlot:now:)`` is not a slot of the
    /// session (outside 0..<players).
    case unknownSlot(Int)
}

/// The lockstep protocol as a sans-IO value: input frames in and out as bytes, confirmed ticks
/// out when every active player's input is held, an agreed roster when players vanish.
///
/// **Inputs.** Each local input is scheduled `inputDelay` ticks ahead and sent in a frame that
/// also repeats every input some peer has not acknowledged (at least the newest `redundancy`):
/// each frame says how far its sender holds every slot's inputs, as GGPO and GGRS acknowledge.
/// Frames ride on the mesh, which authenticates the origin: the driver passes the slot that
/// signed the frame, and a frame claiming another slot is never applied.
///
/// **Certified drops.** The roster is bound to keys before tick 0 (``SessionKeys``). A peer whose
/// own failure detector finds a slot silent past `disconnectTimeout` *votes* against it (the vote
/// records the newest tick of that slot it holds and is evidence for the coordinator, never a
/// command: nobody drops a slot because another peer voted). Silence counts only while this peer
/// itself was running: a stall of its own loop (``LockstepConfiguration/stallThreshold``) is not
/// held against anyone, and a frame that acknowledges inputs we sent after voting refutes the vote.
/// The *coordinator* (the lowest slot this peer does not suspect) waits until every other survivor
/// voted for the same set (or `disconnectTimeout` passed), then signs a ``RosterChange``: each
/// slot leaves one tick past the newest input of it that every survivor holds (by their votes and
/// the rows they confirmed), so nobody needs an input it cannot get. A peer signs (*endorses*) a
/// change only when it was proposed by the rightful coordinator, it suspects every dropped slot
/// itself, and it has not applied any drop tick; it signs one change per epoch and applies
/// nothing at or past the drop ticks until the change is certified. Signatures from a quorum of
/// the roster (``RosterQuorum``) make a ``RosterCertificate``; every survivor and spectator
/// adopts it after checking the signatures and applies nil for the slot from the same tick. A certificate whose drop tick this peer already
/// applied halts it (``HaltReason/rosterChangeBelowApplied(slot:tick:)``) rather than diverge.
///
/// **Input agreement.** A tick is applied only when every other active player reported the same
/// row digest for it (a SHA-256 chain over every slot's inputs), so a player that tells peers
/// different inputs stops them all before the tick instead of splitting them. Each frame carries
/// the sender's signed statement over its own input chain; peers whose digests disagree relay
/// their copies in a dispute, and a copy with a valid statement that differs from ours proves the
/// equivocation (``LockstepEvent/equivocation(slot:tick:)``): the slot is voted out and dropped
/// from the first tick where the histories differ.
///
/// **No split brain.** A peer whose unsuspected slots cannot form a quorum halts with
/// ``HaltReason/lostMajority(reachable:roster:)``; two quorums always share an honest signer.
///
/// **Desync detection.** Every `checksumInterval` ticks the local checksum is piggybacked; a
/// mismatch raises ``LockstepEvent/desync(tick:slots:local:)``.
///
/// Time comes from the caller (`now`, any monotonic origin): no clocks inside.
public struct LockstepSession<Input: LockstepInput>: Sendable {
    /// The parameters the session was started with.
    public let configuration: LockstepConfiguration
    /// The roster's keys (with the open slots filled since the start) and this peer's signer.
    public internal(set) var keys: SessionKeys
    /// Whether this peer plays a slot or watches.
    public let role: LockstepRole
    /// Number of player slots, dropped ones included.
    /// (Always inlined: a call to this getter from the session's per-frame code copied the whole
    /// session to a temporary first.)
    @inline(__always) public var players: Int { configuration.players }
    /// The slot played, -1 for a spectator (inside the session only; ``role`` says it publicly).
    let localSlot: Int
    /// Whether this peer watches without a slot (it sends nothing).
    public var isSpectator: Bool { role == .spectator }
    /// Ticks between reading a local input and the tick it is for; changed for every peer at once
    /// by ``requestInputDelay(_:)``.
    public private(set) var inputDelay: Int
    /// Minimum number of own inputs repeated in every frame (``LockstepConfiguration/redundancy``).
    public var redundancy: Int { configuration.redundancy }
    /// A checksum is compared every this many ticks (``LockstepConfiguration/checksumInterval``).
    public var checksumInterval: Int { configuration.checksumInterval }

    /// Every slot's input by tick, one row per tick from `base`: `inputs[(tick - base) * players
    /// + slot]`, neutral where none is held, as the bytes the game's encoder wrote (``InputBytes``:
    /// the session's code never handles `Input` values between ``submit(_:now:)`` and
    /// ``pollReady(limit:)``).
    var inputs: [InputBytes]
    /// `held[i]`: whether `inputs[i]` was received (or made) rather than a placeholder.
    var held: [Bool]
    /// Ticks below `base` have been applied and forgotten.
    var base = 0
    /// The next tick the game will be handed.
    public private(set) var nextTick = 0
    /// The tick the next local input is for.
    public private(set) var nextLocalTick: Int
    var pendingDelayRequest: Int?
    /// Copies of the next input to add because the delay grew (a shrink needs nothing: the
    /// submissions made while too far ahead are absorbed, the newest wins).
    var delayFill = 0
    /// Delay changes attached to inputs: `controls[slot]` maps tick to delay (few entries).
    var controls: [[(tick: Int, delay: Int)]]
    /// The input delay we measured we need (``announceInputDelayNeed(_:)``) and how many more
    /// frames with inputs carry it.
    var announcedNeed: (need: Int, sendsLeft: Int)?
    /// Each other player's latest reported need, and when it arrived.
    var reportedNeeds: [Int: (need: Int, at: Duration)] = [:]

    var localChecksums: [Int: UInt64] = [:]
    /// Our recent checksums and how many more frames carry each (``checksumSends`` in all: every
    /// frame would cost 10 bytes per checksum for nothing).
    var pendingChecksums: [(tick: Int, checksum: UInt64, sendsLeft: Int)] = []
    /// The oldest of our inputs the next frame must carry (a frame flooded for spectators repeats
    /// every input since the one flooded before it); cleared by that frame.
    package var feedFloor: Int?
    var remoteChecksums: [Int: [Int: UInt64]] = [:]
    /// The newest checked tick whose checksum every other active player reported equal to ours
    /// (-1: none yet).
    package internal(set) var checksumsAgreedThrough = -1
    /// Slots already reported as disagreeing, per tick (each is reported once).
    var reportedDesyncs: [Int: Set<Int>] = [:]
    /// `acked[slot]`: the newest tick through which `slot` holds all of *our* inputs.
    var acked: [Int]

    // Roster.
    /// `dropTick[slot]`: the slot's input is nil from this tick on.
    var dropTick: [Int?]
    /// The epoch of the newest adopted roster change: 0 until the first certified drop, then one
    /// more per change.
    package internal(set) var epoch = 0
    /// The certificates adopted, oldest first (the newest two are kept).
    var certificates: [RosterCertificate] = []
    /// For the newest changes adopted (at most 8), the first tick each changed: rows before it
    /// read the same under the epoch before, so a report from a peer that has not adopted it yet
    /// (a player that finished its match first) still counts there.
    var changeFloors: [(epoch: Int, tick: Int)] = []
    /// How many more frames carry the newest certificates.
    var certificateSends = 0
    /// Our votes: `votes[slot]` = the tick through which we apply at most while `slot` is
    /// suspected (the newest tick of it we held when voting, raised to a drop tick we endorsed).
    var votes: [Int?]
    /// A vote we withdrew (its slot came back), while another player may still cut a drop at it:
    /// a coordinator cuts at the lowest vote it heard, and our frames carried this one. Until
    /// every other active player's newest frame shows no vote against the slot, or the round is
    /// settled (a certificate adopted or the round abandoned), we apply no tick past it, or a
    /// certificate cut there would halt us (a sweep run: `meshstep bots --network sim --players
    /// 4 --ticks 480 --loss 0.28 --latency 64 --jitter 2 --seed 9126314654432232796 --stall
    /// 2@406:2165`).
    var withdrawnVotes: [Int?]
    /// `acked[slot]` when we voted against it: a frame acknowledging more refutes the vote.
    var voteAck: [Int]
    /// When our current set of votes was first complete (the coordinator's grace starts then).
    var votedAt: Duration?
    /// The latest votes seen from each slot (evidence), and that slot's epoch then.
    var peerVotes: [[Int?]]
    var peerEpoch: [Int]
    /// Since when each slot has been voting against slots we hear from.
    var liveVotesSince: [Duration?]
    /// The change we signed for the next epoch (one per epoch), with our signature.
    var endorsed: (change: RosterChange, signature: [UInt8])?
    /// Verified signatures on changes for the next epoch, by signer.
    var endorsements: [Int: (change: RosterChange, signature: [UInt8])] = [:]
    /// Slots proven to have signed two changes for one epoch (ignored for the rest of the epoch).
    var equivocators: Set<Int> = []
    /// The last certificate rejected: a liar repeating it costs no further verification.
    var rejectedCertificate: RosterCertificate?
    /// The round of the next epoch's change: 0, then one more per round a quorum vetoed.
    var round = 0
    /// Our veto of the current round (never together with an endorsement of it).
    var vetoed: [UInt8]?
    /// Slots we suspected at some time in the current round.
    var suspectedThisRound: Set<Int> = []
    /// When each sender's abandonment proof was last checked (each costs signature checks).
    var lastAbandonmentFrom: [Int: Duration] = [:]
    /// Vetoes we gave this epoch to changes that drop us from below their signer.
    var selfVetoes = 0
    static var selfVetoLimit: Int { 16 }
    /// Verified vetoes of the current round, by signer.
    var vetoes: [Int: [UInt8]] = [:]
    /// Slots whose veto of the current round did not verify (not checked again this round).
    var badVetoes: Set<Int> = []
    /// The newest abandoned round of the next epoch, with its proof, and how many more frames
    /// carry it.
    var abandonment: RoundAbandonment?
    var abandonmentSends = 0
    /// The last abandonment proof rejected: a liar repeating it costs no further verification.
    var rejectedAbandonment: RoundAbandonment?
    /// Stops the session for good.
    public private(set) var halted: HaltReason?
    /// Our roster epoch when we halted: the roster changes a halted session goes on adopting
    /// (a later one may readmit us) came after it.
    package private(set) var haltEpoch: Int?

    // Input agreement (InputAgreement.swift).
    /// Every slot's input chain over the recent ticks.
    var chains: [SlotChain]
    /// `confirmedBy[s]`: the newest tick whose row digest `s` reported equal to ours.
    var confirmedBy: [Int]
    /// Row reports we cannot check yet (we lack rows), per slot, oldest first (at most 24).
    var pendingReports: [[PendingReport]]
    /// Since when `s`'s row digests disagree with ours, and from which tick.
    var mismatchSince: [(at: Duration, tick: Int)?]
    /// Statements received: `statements[s][tick]` is `s`'s signature over its chain at `tick`.
    var statements: [[Int: [UInt8]]]
    /// The newest tick a frame of ours carried our statement for (``statementInterval``).
    var statedTick: Int?
    /// When a frame of ours first carried the statement for ``statedTick``.
    var statedAt: Duration = .zero
    /// Our statement for our newest input.
    var ownStatement: (tick: Int, signature: [UInt8])?
    /// Frames that still carry a dispute section, and the slot the next one starts with.
    var disputeSends = 0
    var disputeCursor = 0
    /// When a dispute from each sender was last examined (each costs signature checks).
    var lastDisputeFrom: [Duration?]
    /// Slots proven to have committed to two input histories.
    var provenEquivocators: Set<Int> = []
    /// `vouched[s]`: the slots whose history `s` relayed in its disputes equal to ours through
    /// the tick where its rows first disagreed with ours; reset when a disagreement starts. A
    /// peer whose disagreement these do not explain lies about its rows.
    var vouched: [Set<Int>]
    /// `disputed[s]`: whether a dispute from `s` arrived since its rows began to disagree with
    /// ours (an honest player always sends one; a player lying about its digests may not).
    var disputed: [Bool]
    /// When our disputes last carried each slot's history with its statement.
    var signedEntrySent: [Duration?]
    /// When a dispute was last examined: frames carry a statement each while disputes go on.
    var lastDisputeAt: Duration?
    /// The base of the latest dispute from a peer behind us, and when it came: every other
    /// dispute we send starts there, so that a peer that resumed from a checkpoint behind us
    /// gets the histories of the rows it disagrees about (ours start where we apply next).
    var behindDispute: (base: Int, at: Duration)?
    /// The first tick where a history another peer relayed differs from ours, per slot.
    var conflictTick: [Int?]
    /// Equivocators whose history we replaced with the one they signed (``adoptSigned``): the
    /// inputs they send us that conflict with it are ignored, not held against them again.
    var adoptedFrom: Set<Int> = []
    /// When a relayed signed history of each slot first differed from our unsigned copy.
    var unsignedConflictSince: [Int: Duration] = [:]
    /// Per dropped slot, the first tick whose input a player relayed to us (``receiveRelayed``):
    /// inputs from there may be replaced by another relay.
    var relayFilledFrom: [Int: Int] = [:]

    // Liveness, time sync and stats.
    var now: Duration = .zero
    var lastHeard: [Duration?]
    /// Whether a frame of the slot arrived yet: players start a moment apart (each when it holds
    /// every signed hello), so one not heard yet gets ``startGrace`` on top of the timeouts.
    var heard: [Bool]
    /// How long a player may stay unheard after our start before the usual timeouts run.
    static var startGrace: Duration { .seconds(3) }
    var notified: [Bool]
    var frameSeq = 0
    /// What we measured of each slot's frames (``SlotTraffic``).
    var traffic: [SlotTraffic]
    /// When each of our inputs was submitted (for round trips), by tick.
    var submitTimes = SubmitTimes()
    /// The newest of our inputs repeated by ``resendFrame()``: round trips are not sampled on it.
    var resentThrough = -1
    @usableFromInline var pendingEvents: [LockstepEvent] = []
    var ackLatencies: [Duration] = []
    var ackedByAll = -1
    /// When ``update(now:)`` last ran: the driver calls it every frame, so a longer gap than
    /// ``LockstepConfiguration/stallThreshold`` means this peer itself was not running on time.
    var lastUpdate: Duration?
    /// Since when the slots this peer does not suspect cannot form a quorum.
    var quorumLostSince: Duration?

    // Rejoin (docs/LOCKSTEP.md, "Rejoin").
    /// `absent[s]`: the ticks a readmitted slot has no input in (from its drop to its return).
    var absent: [Range<Int>?]
    /// The absences before each slot's `absent[s]` that this peer has not applied all of (a
    /// spectator far behind; the slot played between them), oldest first; usually none, so the
    /// per-tick checks read one empty array. At most ``earlierAbsencesKept``.
    var earlierAbsences: [(slot: Int, range: Range<Int>)] = []
    /// Earlier absences kept at most: each needs a certified readmission, and the coordinator
    /// waits longer before each readmission of one slot.
    static var earlierAbsencesKept: Int { 32 }
    /// The earlier absences of `slot`, oldest first (for harnesses and tests).
    package func earlierAbsences(of slot: Int) -> [Range<Int>] { earlierAbsences.filter { $0.slot == slot }.map(\.range) }
    /// Each readmitted slot's absence (``absent``), for harnesses that compare rosters.
    package var absences: [Range<Int>?] { absent }
    /// Readmitted slots until their return tick has passed.
    var returning: [Int: RosterChange.Admit] = [:]
    /// When each returning slot's newcomer last asked us for its checkpoint (``noteFetching(slot:now:)``).
    var fetchSeen: [Int: Duration] = [:]
    /// The slots the certificate of the current epoch admitted, and those an earlier one admitted
    /// whose checkpoints lay past every later change's proposer, ascending. They sign no change
    /// of the next epoch, nor count towards its quorums (``voters``): a newcomer has no session
    /// before its checkpoint, and a player that crashed before the others reached it would
    /// otherwise leave them short of a quorum, frozen for good.
    var newcomers: [Int] = []
    /// Dropped slots whose key asked to come back, and when it last did.
    var returnRequests: [Int: Duration] = [:]
    /// When this peer adopted each dropped slot's drop: the coordinator proposes to admit a slot
    /// that was admitted before only after a wait since then (``returnWait(_:)``).
    var droppedAt: [Int: Duration] = [:]
    /// Newcomers' keys that asked to fill a vacant open slot, when each first and last did (at
    /// most 4 per slot).
    var slotRequests: [Int: [[UInt8]: (first: Duration, last: Duration)]] = [:]
    /// While an endorsed change admits a slot: nothing past this tick until it is certified (the
    /// checkpoint must be taken after the change is known).
    var admitFreeze: Int?
    /// Checkpoint ticks still to capture (from certified admissions).
    var checkpointTicks: [Int] = []
    /// Checkpoints captured, for ``takeCheckpoints()``.
    @usableFromInline var capturedCheckpoints: [SessionCheckpoint] = []
    /// Readmissions adopted, oldest first (at most 64 kept).
    var readmissions: [RosterChange.Admit] = []
    /// A local input submitted while too far ahead: stored as soon as the session catches up.
    var pendingLocal: InputBytes?
    /// The neutral input's bytes (what a tick holds where nothing was received).
    let neutralInput: InputBytes
    /// How long a return request stays valid: the returning peer repeats it while it waits.
    static var returnRequestLifetime: Duration { .seconds(5) }

    /// A session with the default configuration for `players`, for in-process tests: the
    /// roster's keys are generated from a fixed seed, so they protect nothing. Everything else
    /// starts a session with ``LockstepConfiguration/startPlayer(slot:keys:input:)``, which validates.
    init(players: Int, localSlot: Int, inputDelay: Int = 2, redundancy: Int = 8, checksumInterval: Int = 30) {
        var c = LockstepConfiguration(players: players)
        c.inputDelay = inputDelay
        c.redundancy = redundancy
        c.checksumInterval = checksumInterval
        let generated = SessionKeys.generated(configuration: c, seed: 0)
        let keys = try! SessionKeys(descriptor: generated.descriptor, signer: generated.signers[localSlot])
        self.init(configuration: c, role: .player(localSlot), keys: keys)
    }

    /// Starts a session with a configuration and keys already validated: the public entry points
    /// are ``LockstepConfiguration/startPlayer(slot:keys:input:)`` and ``LockstepConfiguration/startSpectator(keys:input:)``.
    package init(configuration c: LockstepConfiguration, role: LockstepRole, keys: SessionKeys) {
        self.keys = keys
        let players = c.players
        if case let .player(slot) = role {
            precondition(players >= 1 && players <= 255 && (0..<players).contains(slot), "invalid roster")
            localSlot = slot
        } else {
            localSlot = -1
        }
        var c = c
        c.inputDelay = min(32, max(0, c.inputDelay))
        c.redundancy = min(64, max(1, c.redundancy))
        c.checksumInterval = max(1, c.checksumInterval)
        configuration = c
        self.role = role
        inputDelay = c.inputDelay
        // The first `inputDelay` ticks have no input from anyone: they are neutral everywhere.
        neutralInput = InputBytes(encoding: Input.neutral)
        precondition(neutralInput.readsBack(Input.neutral), "\(Input.self).decode(from:) does not read back exactly what encode(into:) wrote for .neutral")
        inputs = Array(repeating: neutralInput, count: c.inputDelay * c.players)
        held = Array(repeating: true, count: c.inputDelay * c.players)
        nextLocalTick = c.inputDelay
        acked = Array(repeating: c.inputDelay - 1, count: players)
        controls = Array(repeating: [], count: players)
        dropTick = Array(repeating: nil, count: players)
        votes = Array(repeating: nil, count: players)
        withdrawnVotes = Array(repeating: nil, count: players)
        voteAck = Array(repeating: -1, count: players)
        liveVotesSince = Array(repeating: nil, count: players)
        peerVotes = Array(repeating: Array(repeating: nil, count: players), count: players)
        peerEpoch = Array(repeating: 0, count: players)
        lastHeard = Array(repeating: nil, count: players)
        heard = Array(repeating: false, count: players)
        notified = Array(repeating: false, count: players)
        traffic = Array(repeating: SlotTraffic(), count: players)
        chains = (0..<players).map { SlotChain(before: InputChain.genesis(session: keys.sessionHash, slot: $0), from: 0) }
        confirmedBy = Array(repeating: c.inputDelay - 1, count: players)
        pendingReports = Array(repeating: [], count: players)
        mismatchSince = Array(repeating: nil, count: players)
        statements = Array(repeating: [:], count: players)
        lastDisputeFrom = Array(repeating: nil, count: players)
        vouched = Array(repeating: [], count: players)
        disputed = Array(repeating: false, count: players)
        signedEntrySent = Array(repeating: nil, count: players)
        conflictTick = Array(repeating: nil, count: players)
        absent = Array(repeating: nil, count: players)
        // Open slots start vacant: no input from tick 0 on, until a newcomer is admitted.
        for s in keys.descriptor.openSlots where s < players {
            dropTick[s] = 0
            for row in 0..<c.inputDelay { held[row * players + s] = false }
        }
        advanceChains()
    }

    /// A session resumed from `checkpoint` (taken by the players before its tick): a returning
    /// player or a late spectator. Ticks are applied from the checkpoint's tick on; a returning
    /// player's own inputs start at the end of its absence.
    package init(configuration c: LockstepConfiguration, role: LockstepRole, keys: SessionKeys, resuming p: SessionCheckpoint) {
        self.init(configuration: c, role: role, keys: keys)
        base = p.tick
        nextTick = p.tick
        inputDelay = p.inputDelay
        epoch = p.epoch
        inputs = []
        held = []
        for s in 0..<players {
            dropTick[s] = nil
            switch p.slots[s] {
            case .active:
                chains[s] = SlotChain(before: p.chains[s], from: p.tick)
            case let .dropped(d):
                dropTick[s] = d
                chains[s] = SlotChain(before: p.chains[s], from: min(d, p.tick))
            case let .absent(from, until):
                absent[s] = from..<until
                chains[s] = SlotChain(before: p.chains[s], from: p.tick)
                // Another player that returns (or a newcomer that joins) after our checkpoint:
                // it has no say on the rows before its return, and its silence counts from
                // there, as for the players that admitted it. Its own checkpoint is not in ours;
                // ours stands for it.
                if until > p.tick, s != localSlot { returning[s] = RosterChange.Admit(slot: s, checkpoint: min(p.tick, until - 1), tick: until) }
            }
        }
        nextLocalTick = localSlot >= 0 ? max(p.tick + inputDelay, absent[localSlot]?.upperBound ?? 0) : p.tick
        if localSlot >= 0, let back = absent[localSlot]?.upperBound, back > p.tick, back < p.tick + inputDelay {
            // A checkpoint later than our admission's (another newcomer's) less than an input
            // delay before our return: our first input also stands for the ticks from the return
            // to the one it is for, as when the input delay grows. Else nobody ever sends them.
            nextLocalTick = back
            delayFill = p.tick + inputDelay - back
        }
        acked = Array(repeating: nextLocalTick - 1, count: players)
        ackedByAll = nextLocalTick - 1
        confirmedBy = Array(repeating: p.tick - 1, count: players)
        readmissions = p.readmissions
        newcomers = p.newcomers
        for b in p.bindings { self.keys.bind(slot: b.slot, key: b.key) }
        advanceChains()
    }

    // MARK: Driving the session

    /// Records the local input for the next local tick and returns the frame to flood.
    /// A spectator has no inputs: it gets an empty array and nothing is recorded.
    ///
    /// Call once per applied tick (after handing the tick to the game). An input submitted while
    /// this peer is already `inputDelay` ticks ahead is kept and stored when it catches up (the
    /// newest one wins).
    @inlinable public mutating func submit(_ input: Input, now: Duration) -> [UInt8] {
        submit(Self.encode(input), now: now)
    }

    /// ``submit(_:now:)`` at the time of the latest call that passed one (tests that need no clock).
    mutating func submit(_ input: Input) -> [UInt8] {
        submit(Self.encode(input))
    }

    /// The bytes of a local input, checked: every peer decodes them to step its game, so a
    /// codec that does not read back what it wrote would stop them all; it stops here, where
    /// the fault is. Inlinable, so that it is specialized to the game's input type.
    @inlinable package static func encode(_ input: Input) -> InputBytes {
        let bytes = InputBytes(encoding: input)
        precondition(bytes.readsBack(input), "\(Input.self).decode(from:) does not read back exactly what encode(into:) wrote")
        return bytes
    }

    /// ``submit(_:now:)`` with the input encoded.
    @usableFromInline package mutating func submit(_ bytes: InputBytes, now: Duration) -> [UInt8] {
        advanceClock(now)
        return submit(bytes)
    }

    mutating func submit(_ bytes: InputBytes) -> [UInt8] {
        guard localSlot >= 0, halted == nil else { return [] }
        pendingLocal = bytes
        flushLocal()
        return frame()
    }

    /// The newest frame again (same inputs), for a peer that has nothing new to send but must
    /// keep repairing what others lost while it waits. Empty for a spectator or a halted peer.
    public mutating func resendFrame() -> [UInt8] {
        guard localSlot >= 0, halted == nil else { return [] }
        resentThrough = nextLocalTick - 1
        return frame()
    }

    /// A loss repair for some players only (``LockstepFrame/repair``): our newest frame again,
    /// with our inputs after `acknowledged` only (the oldest acknowledgement among the players
    /// it goes to), our frame number unchanged and nothing that is sent a number of times
    /// (checksums, certificates, a round's abandonment, our need, a dispute), so that the
    /// players it does not go to miss nothing. It carries our statement only when the frame it
    /// repeats did (no new signature). Empty for a spectator or a halted peer.
    package mutating func repairFrame(after acknowledged: Int) -> [UInt8] {
        guard localSlot >= 0, halted == nil else { return [] }
        resentThrough = nextLocalTick - 1
        return frame(repairAfter: acknowledged)
    }

    /// Asks every peer to use `delay` ticks of input delay. The request rides on our next input;
    /// the change takes effect on every peer right after the tick carrying it is applied.
    public mutating func requestInputDelay(_ delay: Int) throws(LockstepConfigurationError) {
        guard (0...32).contains(delay) else { throw .outOfRange(field: "inputDelay", value: delay, allowed: 0...32) }
        guard localSlot >= 0 else { throw .spectatorCannotChangeDelay }
        pendingDelayRequest = delay
    }

    /// Tells the other players the input delay we measured we need: our next
    /// ``checksumSends`` frames with inputs carry it (the automatic input delay; the lowest
    /// active slot lowers the delay only to what every player needs).
    package mutating func announceInputDelayNeed(_ need: Int) {
        guard localSlot >= 0 else { return }
        announcedNeed = (min(32, max(0, need)), Self.checksumSends)
    }

    /// The largest input delay the other active players reported they need
    /// (``announceInputDelayNeed(_:)``), each in a frame received since `since`; nil when one of
    /// them reported none since then (its need is unknown).
    package func reportedInputDelayNeed(since: Duration) -> Int? {
        var largest = 0
        for s in 0..<players where s != localSlot && dropTick[s] == nil {
            guard let r = reportedNeeds[s], r.at >= since else { return nil }
            largest = max(largest, r.need)
        }
        return largest
    }

    /// The local checksum after applying `tick` (call every tick; only every
    /// `checksumInterval`-th is kept and sent).
    public mutating func recordChecksum(tick: Int, checksum: UInt64) {
        guard tick >= 0, tick % checksumInterval == 0 else { return }
        localChecksums[tick] = checksum
        if localSlot >= 0 {
            pendingChecksums.append((tick, checksum, Self.checksumSends))
            if pendingChecksums.count > 4 { pendingChecksums.removeFirst() }
        }
        pendingEvents += compare(tick: tick)
    }

    /// Handles a frame flooded by `originSlot` (the slot whose key signed it) at time `now`.
    /// What it caused (inputs held, votes, desyncs, violations...) is queued for ``takeEvents()``.
    /// - Throws: ``LockstepError`` for bytes that are not a frame or an unknown slot; nothing changes.
    public mutating func receive(_ payload: [UInt8], fromSlot originSlot: Int, now: Duration) throws(LockstepError) {
        advanceClock(now)
        try receive(payload, fromSlot: originSlot)
    }

    /// ``receive(_:fromSlot:now:)`` at the time of the latest call that passed one (tests that need no clock).
    mutating func receive(_ payload: [UInt8], fromSlot originSlot: Int) throws(LockstepError) {
        pendingEvents = try handleFrame(payload, fromSlot: originSlot)
    }

    /// The pending events followed by those `payload` causes.
    mutating func handleFrame(_ payload: [UInt8], fromSlot originSlot: Int) throws(LockstepError) -> [LockstepEvent] {
        guard (0..<players).contains(originSlot) else { throw .unknownSlot(originSlot) }
        var f: LockstepFrame
        do { f = try LockstepFrame.decode(payload, players: players, as: Input.self, storage: &receivedFrameStorage) } catch { throw .malformed(error) }
        defer { receivedFrameStorage.keep(taking: &f) }
        var events = takeEvents()
        guard f.slot == originSlot else { return events + [.forgedInput(claimedSlot: f.slot, fromSlot: originSlot)] }
        guard f.digest == keys.digest else { return events + [.configurationMismatch(slot: f.slot)] }
        let slot = f.slot
        guard slot != localSlot else { return events }
        // Certificates first: the roster they set decides what the rest of the frame means.
        for c in f.certificates where c.change.epoch == epoch + 1 { events += adoptIfValid(c, from: slot) }
        if halted != nil { return events }
        if f.epoch < epoch { certificateSends = max(certificateSends, 30) }  // it missed a change
        if dropTick[slot] != nil {
            // A dropped slot's inputs before its drop tick are still needed by survivors that
            // missed them (repaired copies of its old frames arrive through the mesh).
            for i in 0..<f.inputs.count { _ = store(f.inputs[i], slot: slot, tick: f.firstTick + i) }
            advanceChains()
            checkReports()
            return events
        }

        // Liveness and stats. Only a frame newer than any before shows the slot alive now: an
        // old one can arrive late (pulled from another peer's store after the slot crashed).
        // A slot that came back numbers its frames from 1 again, in a later epoch than it left
        // in: frames of its previous run are old whatever their numbers, and its first new frame
        // of a later epoch (one we know) numbered below the last starts the count again. Else a
        // peer that resumed from a checkpoint and heard the previous run's last frames first
        // would not hear it alive until the new numbers passed the old ones (sweep seed 88 run
        // 15: 5 s of votes). Within one run a frame's number and epoch only grow, but a repair
        // repeats the newest number in the epoch it is sent in: it never restarts the count
        // (sweep seed 97 run 745: every repair after a roster change did, and the match stopped).
        if !f.repair, f.epoch > traffic[slot].epoch, f.epoch <= epoch, traffic[slot].frames > 0, f.frameSeq < traffic[slot].lastSeq {
            traffic[slot] = SlotTraffic()
        }
        let fresh = f.epoch >= traffic[slot].epoch && traffic[slot].isNewest(f.frameSeq)
        // A frame of an epoch we cannot reach (the certificate it should carry never came, or
        // did not verify) shows the slot alive in a roster that is not ours: it confirms none of
        // our rows, so it is no sign of life here. An honest peer ahead of us repeats its
        // certificate in its next 120 frames (2 s at 60 Hz), and again whenever it sees us
        // behind (``certificateSends``); a liar that keeps a certificate to itself is voted out
        // as silent (sweep seed 136 run 952).
        let reachable = f.epoch <= epoch
        if fresh {
            traffic[slot].epoch = f.epoch
            if reachable {
                if notified[slot] { notified[slot] = false; events.append(.peerResumed(slot: slot)) }
                lastHeard[slot] = now
            }
        }
        heard[slot] = true
        traffic[slot].remoteNextTick = max(traffic[slot].remoteNextTick, f.nextTick)
        if !f.inputs.isEmpty { traffic[slot].remoteNewestInput = max(traffic[slot].remoteNewestInput, f.firstTick + f.inputs.count - 1) }
        // A repair repeats a number already counted, or stands for a frame the network lost.
        if !f.repair, f.epoch >= traffic[slot].epoch { traffic[slot].noteFrame(seq: f.frameSeq, bytes: payload.count, now: now) }

        if localSlot >= 0 {
            let ack = f.acks[localSlot], sent = nextLocalTick - 1
            if ack > sent {
                // Nobody can hold inputs we have not made yet.
                events.append(.violation(slot: slot, .ackBeyondSent(ack: ack, sent: sent)))
            } else if ack > acked[slot] {
                for t in (acked[slot] + 1)...ack {
                    if let sent = submitTimes[t] { traffic[slot].roundTripTime.note(now - sent) }
                }
                // How soon the player answers our newest frame: sampled on the newest input the
                // frame acknowledges, unless a resend repeated it (Karn's rule: which copy was
                // answered is unknown).
                if ack > resentThrough, let sent = submitTimes[ack] { traffic[slot].answer.note(now - sent) }
                acked[slot] = ack
                noteAckedByAll()
            }
            // It holds inputs we sent after suspecting it, or, in a fresh frame, every input we
            // made (when rows are held back by someone else we make no more): it is alive, the
            // vote is withdrawn (unless we already signed a change dropping it).
            if votes[slot] != nil, reachable, acked[slot] > voteAck[slot] || (fresh && ack == sent), !provenEquivocators.contains(slot) {
                events += withdrawVote(slot)
            }
        }
        // No honest peer can be further ahead than what we have applied plus the longest delay
        // and our own lag; anything beyond is ignored (bounded memory).
        let horizon = max(nextLocalTick, nextTick) + 32 + 64
        let last = f.firstTick + f.inputs.count - 1
        var conflicted = false
        for i in 0..<f.inputs.count where f.firstTick + i < horizon {  // not `indices`: a generic call here
            let tick = f.firstTick + i
            switch store(f.inputs[i], slot: slot, tick: tick) {
            // Stored from a frame whose newest input is later: its own frame was lost.
            case .stored: if tick < last { traffic[slot].repaired += 1 }
            // It sent us two inputs for one tick (the link proves both came from it); from a
            // slot whose signed history we adopted, its unsigned ones are expected.
            case .conflict:
                conflicted = true
                if !adoptedFrom.contains(slot) { events += convict(slot, tick: tick, relayedBy: nil) }
            case .duplicate, .outOfRange: break
            }
        }
        // A statement over inputs we did not keep is over a chain we do not hold.
        if let statement = f.statement, !conflicted, last < horizon, last >= nextTick {
            // Applied ticks need none (a stuck match never trims; a liar cannot fill this).
            if statements[slot].count >= 512 { statements[slot] = statements[slot].filter { $0.key >= nextTick } }
            if statements[slot].count < 512 { statements[slot][last] = statement }
        }
        advanceChain(slot)
        for c in f.controls where c.tick >= nextTick && c.tick < horizon && c.tick >= f.firstTick && c.tick <= last {
            if !controls[slot].contains(where: { $0.tick == c.tick }) { controls[slot].append(c) }
        }
        if let need = f.need { reportedNeeds[slot] = (need, now) }
        // Only checksums a peer can really have computed: on the interval, not beyond our inputs.
        for (tick, checksum) in f.checksums where tick >= max(0, nextTick - 600) && tick < max(nextLocalTick, nextTick) + 64 && tick % checksumInterval == 0 {
            remoteChecksums[tick, default: [:]][slot] = checksum
            events += compare(tick: tick)
        }
        // Votes and endorsements count only from a peer in our epoch, only about slots still in
        // the roster.
        if f.epoch == epoch {
            peerEpoch[slot] = f.epoch
            // The common case (no votes anywhere) allocates nothing.
            if !f.votes.isEmpty || peerVotes[slot].contains(where: { $0 != nil }) {
                var seen = Array(repeating: Int?.none, count: players)
                for v in f.votes where dropTick[v.slot] == nil { seen[v.slot] = v.held }
                peerVotes[slot] = seen
                // A slot whose signed history we adopted lied to us too: once others vote it
                // out (they hold proof), our vote joins theirs.
                for a in adoptedFrom.sorted() where seen[a] != nil && votes[a] == nil && localSlot >= 0 { events += vote(a) }
                events += judgeVotes(of: slot)
            }
            releaseWithdrawnVotes()
            // A refused round first: the endorsement may already belong to the next one.
            if let a = f.abandonment, a.epoch == epoch + 1, a.round >= round { events += adoptAbandonmentIfValid(a, from: slot) }
            // It missed a refused round (its endorsement or veto is of an older one): repeat the proof.
            if round > 0, (f.endorsement.map { $0.change.round < round } ?? false) || (f.veto.map { $0.round < round } ?? false) {
                abandonmentSends = max(abandonmentSends, 30)
            }
            if let v = f.veto, v.round == round { events += noteVeto(v.signature, from: slot) }
            if let e = f.endorsement, e.change.epoch == epoch + 1, e.change.round == round { events += noteEndorsement(e, from: slot) }
            if let r = f.report, r.tick > confirmedBy[slot], r.tick < horizon {
                notePendingReport(PendingReport(tick: r.tick, digest: r.digest, scope: fresh ? .current : .stale), from: slot)
            }
            if let d = f.dispute {
                // Its report in this frame first: the dispute is read against it.
                checkReports()
                events += examine(d, from: slot)
            }
        }
        // A spectator takes a report from a player some changes behind it about rows those
        // changes left alone: the player may have finished its match before it heard of them.
        if localSlot < 0, f.epoch < epoch, let r = f.report, r.tick > confirmedBy[slot], r.tick < min(horizon, rowFloor(ofEpoch: f.epoch)) {
            notePendingReport(PendingReport(tick: r.tick, digest: r.digest, scope: .olderEpoch), from: slot)
        }
        checkReports()
        if f.epoch == epoch { events += coordinate() }
        return events
    }

    /// The first tick a change after epoch `e` changed (`Int.min` when we do not know every
    /// such change): a row before it has the same digest in epoch `e` and in ours.
    func rowFloor(ofEpoch e: Int) -> Int {
        guard e < epoch else { return Int.max }
        guard let first = changeFloors.first, first.epoch <= e + 1 else { return Int.min }
        var floor = Int.max
        for c in changeFloors where c.epoch > e { floor = min(floor, c.tick) }
        return floor
    }

    /// Runs the timers (disconnect notify and timeout, coordinator duties) at `now`. Call at
    /// least once per frame.
    /// Its events (silences, votes, drops, halts) are queued for ``takeEvents()``.
    public mutating func update(now: Duration) {
        pendingEvents = runTimers(now: now)
    }

    /// The pending events followed by those the timers at `now` raise.
    mutating func runTimers(now: Duration) -> [LockstepEvent] {
        if let last = lastUpdate, now - last > configuration.stallThreshold {
            // This peer's own loop did not run on time (a stall, a starved process): the time
            // beyond one frame is nobody's silence (SWIM's Lifeguard: local health first).
            let excess = now - last - .nanoseconds(1_000_000_000 / Int64(configuration.tickRate))
            for s in 0..<players { lastHeard[s] = lastHeard[s].map { min(now, $0 + excess) } }
            if let v = votedAt { votedAt = v + excess }
            if let q = quorumLostSince { quorumLostSince = q + excess }
            for s in 0..<players { liveVotesSince[s] = liveVotesSince[s].map { $0 + excess } }
            for s in 0..<players { mismatchSince[s] = mismatchSince[s].map { ($0.at + excess, $0.tick) } }
        }
        lastUpdate = max(lastUpdate ?? now, now)
        advanceClock(now)
        var events = takeEvents()
        guard halted == nil, localSlot >= 0 else { return events }
        for s in 0..<players where s != localSlot && dropTick[s] == nil {
            if let r = returning[s] {
                // Its newcomer fetches the checkpoint, resumes and catches up meanwhile, and its
                // inputs count from the return tick: silence counts once we wait there, or once
                // we hold its input for that tick (it resumed and plays; crashed then, it left
                // players short of its next inputs and others a tick before its return, waiting
                // for reports the first can no longer match).
                if awaitingReturn(s) { lastHeard[s] = now; continue }
                if nextTick > r.tick { returning[s] = nil }
            }
            var grace = heard[s] ? Duration.zero : Self.startGrace
            if returning[s] != nil, let f = fetchSeen[s], now - f < .seconds(1) { grace = Self.startGrace }
            let silence = now - (lastHeard[s] ?? .zero) - grace
            if silence >= configuration.disconnectNotify, !notified[s] {
                notified[s] = true
                events.append(.peerSilent(slot: s))
            }
            if silence >= configuration.disconnectTimeout, votes[s] == nil { events += vote(s) }
            // Its digests disagree with ours and no dispute showed an equivocator: it may lie
            // about its digests, and it holds everyone back. Evidence, like a silence.
            // A slot whose signed history we adopted disagrees with us each time it sends us
            // unsigned inputs again, until the others relay what it signed: no evidence of more,
            // unless no row agrees for ``persistentMismatch`` (it lied to us over its own link,
            // and it holds every row back). So does one whose signed history we were shown
            // and are about to take (``unsignedGrace``): a newcomer's first rows can disagree
            // with it before the relayed history comes, and an early vote would hold back our
            // reports until a drop that the players it did not lie to never sign.
            // A slot silent past the notify interval sends no dispute that could explain the
            // disagreement (a crashed player an equivocator misled): its silence is judged as
            // one, and it is named for nothing (sweep seed 142 run 833).
            if votes[s] == nil, silence < configuration.disconnectNotify, mismatchCondemns(s), let m = mismatchSince[s] {
                events.append(.violation(slot: s, .rowDigestMismatch(tick: m.tick)))
                events += vote(s)
            }
        }
        events += coordinate()
        return events
    }

    /// Whether `s` comes back (or joins) at a tick we have not reached, and we hold none of its
    /// inputs from there: we do not judge its silence yet (its newcomer may still be fetching a
    /// checkpoint), so its silence is no evidence to us.
    func awaitingReturn(_ s: Int) -> Bool {
        guard let r = returning[s] else { return false }
        return nextTick < r.tick && heldIndex(slot: s, tick: r.tick) == nil
    }

    /// Whether `s`'s rows have disagreed with ours long enough, with nothing to explain it, that
    /// we vote it out: a vote withdrawn at its next acknowledgement (it is alive) stands for this
    /// and is cast again at the next timer.
    func mismatchCondemns(_ s: Int) -> Bool {
        guard let m = mismatchSince[s], now - m.at >= configuration.disconnectTimeout else { return false }
        let adopted = adoptedFrom.contains(s) || unsignedConflictSince[s] != nil
        return adopted ? now - m.at >= Self.persistentMismatch : (!mismatchExplained(s) || mismatchOutlasted(s))
    }

    /// Whether `s`'s rows have disagreed with ours far longer than any honest cause lasts: for
    /// ``persistentMismatch``, with no proven equivocator in the roster, while our disputes
    /// showed it every slot's history it did not vouch for with that slot's statement. An honest
    /// player shown a signed history that differs from its copy takes it within about
    /// ``unsignedGrace`` (``adoptSigned``), or proves the slot lied; one that does neither lies
    /// about its rows, however it words its disputes.
    func mismatchOutlasted(_ s: Int) -> Bool {
        guard let m = mismatchSince[s], now - m.at >= Self.persistentMismatch else { return false }
        for e in provenEquivocators where dropTick[e] == nil { return false }
        // A dropped slot's last inputs may have no statement to show: it counts only in
        // ``mismatchExplained`` (the wait), never here (a liar could hide behind it for good).
        for t in 0..<players where t != s && t != localSlot && dropTick[t] == nil && !vouched[s].contains(t) && !silentAt(t, m.tick) {
            guard let sent = signedEntrySent[t], sent - m.at >= Self.unsignedGrace else { return false }
        }
        return true
    }

    /// Whether rows from `tick` on hold an input of `slot`: it is in the roster, or it was
    /// dropped after `tick` (its last inputs stay in the rows before its drop tick, and a
    /// disagreement about them outlives its drop).
    func inRows(_ slot: Int, _ tick: Int) -> Bool {
        dropTick[slot].map { tick < $0 } ?? true
    }

    /// Whether `slot` has no input at `tick` because it comes back (or joins) after it: its
    /// history cannot make a row there disagree, and nobody can show a signed one.
    func silentAt(_ slot: Int, _ tick: Int) -> Bool {
        returning[slot].map { tick < $0.tick } ?? false
    }

    /// How long a disagreement the slot's disputes explain may last before ``mismatchOutlasted``.
    static var persistentMismatch: Duration { .seconds(6) }

    /// Whether `s`'s rows may disagree with ours through no lie of its own, so that the
    /// disagreement is no evidence against it: an equivocator proven and not dropped yet (its
    /// drop ends the disagreement), or a slot whose history `s` did not vouch for in its disputes
    /// (a player that sent `s` inputs it never signed, or signed differently, can be told from a
    /// lying `s` by nobody but `s`: voting `s` out would let an equivocator drop the honest
    /// players it lied to; the match waits instead). A player that sent no dispute at all since
    /// its rows began to disagree explains nothing.
    func mismatchExplained(_ s: Int) -> Bool {
        guard disputed[s] else { return false }
        // One whose signed history we adopted counts too: it goes on sending us unsigned inputs,
        // so disagreements about it recur for as long as it plays.
        for e in provenEquivocators where dropTick[e] == nil { return true }
        let from = mismatchSince[s]?.tick ?? Int.max
        for t in 0..<players where t != s && t != localSlot && inRows(t, from) && !vouched[s].contains(t) && !silentAt(t, from) { return true }
        return false
    }

    /// The ticks that are now complete, in order, each with every slot's input (nil for a dropped
    /// slot), at most `limit` per call (a spectator catching up gets the rest on the next calls).
    /// Hand them to the game's `step` one by one.
    @inlinable public mutating func pollReady(limit: Int = 1024) -> [(tick: Int, inputs: [Input?])] {
        InputBytes.decode(pollReadyRows(limit: limit), as: Input.self)
    }

    /// ``pollReady(limit:)`` before decoding: the rows as the session holds them.
    @usableFromInline package mutating func pollReadyRows(limit: Int) -> ReadyRows {
        let freeze = freezeLimit
        if halted == nil, dropTick.allSatisfy({ $0 != nil }) { pendingEvents += halt(.rosterEmpty) }
        let agreed = agreedThrough
        // Most calls (one per frame received) find nothing ready: they return before building
        // any array.
        guard halted == nil, limit > 0, nextTick <= freeze, nextTick <= agreed, rowComplete(nextTick) else {
            trim()
            return []
        }
        var ready: ReadyRows = []
        while halted == nil, ready.count < limit, nextTick <= freeze, nextTick <= agreed, let row = row(nextTick) {
            ready.append((nextTick, row))
            applyControls(at: nextTick)
            nextTick += 1
            flushLocal()
            captureDueCheckpoint()
        }
        // A conflict at a tick every player confirmed is settled (someone took the signed
        // history): the equivocator's drop may fall after it.
        if !ready.isEmpty, !provenEquivocators.isEmpty {
            for s in 0..<players { if let t = conflictTick[s], t < nextTick { conflictTick[s] = nil } }
        }
        trim()
        return ready
    }

    /// Every event since the last call, oldest first: the one queue that `update`, `receive`,
    /// `recordChecksum` and `pollReady` feed.
    /// Inlinable: called on every poll from the session endpoint's generic code, where a call
    /// into this generic type costs a type-metadata lookup.
    @inlinable @inline(__always) public mutating func takeEvents() -> [LockstepEvent] {
        if pendingEvents.isEmpty { return [] }
        let events = pendingEvents
        pendingEvents = []
        return events
    }

    /// Whether ``takeEvents()`` has something (mutating only to be read in place).
    package mutating func hasPendingEvents() -> Bool { !pendingEvents.isEmpty }

    /// The newest tick for which every active slot's input is held.
    var confirmedTick: Int {
        var t = nextTick
        while rowComplete(t) { t += 1 }
        return t - 1
    }

    /// The newest tick through which this peer holds every input of `slot` (-1: none yet).
    package func heldInputs(of slot: Int) -> Int { heldThrough(slot) }

    /// Whether ``pollReadyRows(limit:)`` would hand over a tick now (nothing is taken): for a
    /// shell that reads datagrams one at a time and stops at the one that completed a tick.
    /// Mutating only so that a caller holding the session in an optional reads it in place.
    package mutating func hasReadyTick() -> Bool { nextTickReady }

    /// The longest smoothed time from our submit of an input to an active player's frame
    /// acknowledging it (``PlayerNetworkStats/roundTrip``), in nanoseconds; nil before any.
    package func longestRoundTrip() -> Int64? {
        var longest: Int64?
        for s in 0..<players where s != localSlot && dropTick[s] == nil {
            if let r = traffic[s].roundTripTime.value { longest = max(longest ?? r, r) }
        }
        return longest
    }

    /// Each slot's frames received so far, a mark for ``worstFrameLoss(since:)``.
    package func frameMarks() -> [(frames: Int, newest: Int)] { traffic.map(\.mark) }

    /// The worst frame loss of another slot since `marks` (from ``frameMarks()``).
    package func worstFrameLoss(since marks: [(frames: Int, newest: Int)]) -> Double {
        var worst = 0.0
        for s in 0..<players where s != localSlot { worst = max(worst, traffic[s].loss(since: marks[s])) }
        return worst
    }

    /// ``heldInputs(of:)`` of every slot. Mutating only so that a caller holding the session
    /// in an optional reads it in place instead of copying it.
    package mutating func heldInputsOfEverySlot() -> [Int] { (0..<players).map(heldThrough) }

    /// The newest tick whose row `slot` reported with the same digest as ours.
    package func confirmed(by slot: Int) -> Int { confirmedBy[slot] }

    /// Where the other active players are: the median of the next ticks their frames named (the
    /// lower one of an even count), so that one player naming a tick far ahead moves nothing.
    /// Our own next tick when we heard from none.
    package var playersNextTick: Int {
        var ticks: [Int] = []
        for s in 0..<players where s != localSlot && dropTick[s] == nil && heard[s] { ticks.append(traffic[s].remoteNextTick) }
        guard !ticks.isEmpty else { return nextTick }
        ticks.sort()
        return ticks[(ticks.count - 1) / 2]
    }

    /// Whether we vote against some player (we suspect it).
    var suspectsAnyone: Bool { votes.contains { $0 != nil } }

    /// The newest tick through which `slot` has acknowledged holding all of our inputs.
    package func acknowledged(by slot: Int) -> Int { acked[slot] }
    /// Whether a fresh frame from `slot` arrived within the disconnect-notify interval.
    @inline(__always)
    func heardLately(_ slot: Int) -> Bool {
        lastHeard[slot].map { now - $0 < configuration.disconnectNotify } ?? false
    }

    /// What loss repair reads on every frame, in one call: each active slot but `excluded`, with
    /// the newest tick through which we hold its inputs, through which it acknowledged ours, and
    /// when it was last heard, written into `view` (the caller keeps one and its arrays keep
    /// their storage from frame to frame). (Mutating only so that a caller reading it through an
    /// optional reaches this value in place: a non-mutating call from another module copies it
    /// whole.)
    package mutating func repairView(excluding excluded: Int?, into view: inout RepairView) {
        view.halted = halted != nil
        view.slots.removeAll(keepingCapacity: true)
        view.held.removeAll(keepingCapacity: true)
        view.acknowledged.removeAll(keepingCapacity: true)
        view.lastHeard.removeAll(keepingCapacity: true)
        view.slots.reserveCapacity(players)
        view.held.reserveCapacity(players)
        view.acknowledged.reserveCapacity(players)
        view.lastHeard.reserveCapacity(players)
        view.lateMargin.removeAll(keepingCapacity: true)
        view.lateMargin.reserveCapacity(players)
        for s in 0..<players where dropTick[s] == nil && s != excluded {
            view.slots.append(s)
            view.held.append(heldThrough(s))
            view.acknowledged.append(acked[s])
            view.lastHeard.append(lastHeard[s])
            view.lateMargin.append(traffic[s].lateMargin)
        }
    }

    /// The key bound to each active slot but `excluded`, in slot order. Mutating for the same
    /// reason as ``repairView(excluding:)``.
    package mutating func activeKeys(excluding excluded: Int) -> [[UInt8]] {
        var out: [[UInt8]] = []
        out.reserveCapacity(players)
        for s in 0..<players where dropTick[s] == nil && s != excluded { out.append(keys.key(of: s)) }
        return out
    }

    /// Whether a frame from each of `slots` ever arrived; mutating for the same reason as
    /// ``repairView(excluding:)``.
    package mutating func heardFromAll(_ slots: [Int]) -> Bool {
        for s in slots where !heard[s] { return false }
        return true
    }

    /// Slots still in the roster.
    package var activeSlots: [Int] {
        // A loop, not `filter`: a closure over this generic value looks up its type for every slot.
        var slots: [Int] = []
        slots.reserveCapacity(players)
        for s in 0..<players where dropTick[s] == nil { slots.append(s) }
        return slots
    }

    /// Whether every other active player holds our newest input or is gone: silent for a
    /// second, or a quarter second while `linked` says we have no link to it (it left, or
    /// reaches us through a relay and went quiet). A player that applied its match's last tick
    /// goes on sending until then (``SessionEndpoint/finishProgress()``): the others need that
    /// input, which carries its confirmation of the last tick. A spectator owes nobody.
    package func othersHoldNewestInput(linked: (Int) -> Bool) -> Bool {
        guard localSlot >= 0 else { return true }
        let newest = nextLocalTick - 1
        for s in 0..<players where s != localSlot && dropTick[s] == nil && acked[s] < newest {
            let silence = now - (lastHeard[s] ?? now)
            if silence >= .seconds(1) || (!linked(s) && silence >= .milliseconds(250)) { continue }
            return false
        }
        return true
    }

    /// How many ticks this peer is ahead of the slowest active player (time sync: a game loop
    /// that is 2 or more ahead stretches its frames a little, as GGPO does; see ``FramePacer``).
    public var framesAhead: Int {
        var ahead = 0
        for s in activeSlots where s != localSlot { ahead = max(ahead, framesAhead(of: s)) }
        return ahead
    }

    /// Network figures for every other slot.
    var networkStats: [PlayerNetworkStats] {
        (0..<players).filter { $0 != localSlot }.map { stats(slot: $0) }
    }

    /// ``stats`` and ``roster``, in one call. From generic code in
    /// another module (unspecialized), reading a computed property through an optional that
    /// holds the session copies the whole session; a mutating call through it does not.
    package mutating func snapshot() -> (stats: SessionStats, roster: RosterStatus) { (stats, roster) }

    /// The roster negotiation's state, for `MESHSTEP_DEBUG` dumps.
    package var rosterDebugDescription: String {
        func drops(_ c: RosterChange) -> String {
            "r\(c.round) drops \(c.drops.map { "\($0.slot)@\($0.tick)" })"
                + (c.admits.isEmpty ? "" : " admits \(c.admits.map { "\($0.slot)@\($0.checkpoint)>\($0.tick)" })")
        }
        func ticks(_ list: [Int?]) -> String { list.map { $0.map(String.init) ?? "-" }.joined(separator: ",") }
        let e = endorsements.sorted { $0.key < $1.key }.map { "\($0.key): \(drops($0.value.change))" }
        let pv = (0..<players).map { s in "\(ticks(peerVotes[s]))e\(peerEpoch[s])" }
        return [
            "epoch \(epoch) round \(round) votes \(ticks(votes)) endorsed \(endorsed.map { drops($0.change) } ?? "-") vetoed \(vetoed != nil)",
            "endorsements \(e) vetoes \(vetoes.keys.sorted()) conflict \(ticks(conflictTick)) proven \(provenEquivocators.sorted())",
            "equivocators \(equivocators.sorted()) peerVotes \(pv) coordinator \(isCoordinator)",
            "mismatch \(ticks(mismatchSince.map { $0?.tick })) adopted \(adoptedFrom.sorted()) unsigned \(unsignedConflictSince.keys.sorted())",
            "signed through \(ticks(statements.map { $0.keys.max() })) vouched \(vouched.map { $0.sorted() })",
            "confirmed \(confirmedBy) drops \(ticks(dropTick)) returning \(returning.sorted { $0.key < $1.key }.map { "\($0.key)>\($0.value.tick)" }) pending \(pendingReports.map { $0.map(\.tick) })",
        ].joined(separator: " ")
    }

    /// The roster as this peer holds it now.
    public var roster: RosterStatus {
        var status = RosterStatus(
            dropTicks: dropTick, epoch: epoch, round: round, certificates: certificates, readmissions: readmissions,
            provenEquivocators: provenEquivocators.sorted(), halted: halted)
        status.vacantOpenSlots = keys.descriptor.openSlots.filter { dropTick[$0] != nil && keys.key(of: $0) == SessionDescriptor.openSlotKey }
        return status
    }

    /// Where this session stands and what it measured of the other players, now.
    public var stats: SessionStats {
        SessionStats(
            inputDelay: inputDelay, nextTick: nextTick, confirmedTick: confirmedTick,
            newestOwnInput: localSlot >= 0 ? nextLocalTick - 1 : -1, checksumsAgreedThrough: checksumsAgreedThrough,
            framesAhead: framesAhead, acknowledged: acked, players: networkStats)
    }

    // MARK: Roster

    /// Ticks above this are not applied: while we suspect a slot, nothing past the newest tick of
    /// it we held when voting (or past the drop tick we endorsed) until the change is certified.
    @inline(__always)
    package var freezeLimit: Int {
        var limit = Int.max
        for s in 0..<players where dropTick[s] == nil {
            if let v = votes[s] { limit = min(limit, v) }
            if let w = withdrawnVotes[s] { limit = min(limit, w) }
        }
        if let f = admitFreeze { limit = min(limit, f) }
        return limit
    }

    /// Forgets each withdrawn vote (``withdrawnVotes``) once the players whose newest frame of
    /// our epoch still votes against its slot (or whose epoch we do not know) are too few to
    /// certify its drop: a player endorses only a drop it votes for, and keeps its vote once it
    /// endorsed, so no certificate can cut the drop at our old vote any more. (Waiting for every
    /// vote to go would let a liar that never stops voting freeze us.)
    mutating func releaseWithdrawnVotes() {
        for w in 0..<players where withdrawnVotes[w] != nil {
            let roster = voters
            let possibleSigners = roster.filter { v in
                v != localSlot && v != w && (peerEpoch[v] != epoch || peerVotes[v][w] != nil)
            }
            if dropTick[w] != nil || !RosterQuorum.holds(possibleSigners, of: roster, liars: configuration.toleratedLiars) {
                withdrawnVotes[w] = nil
            }
        }
    }

    /// The roster slots this peer does not suspect.
    var unsuspected: [Int] { activeSlots.filter { votes[$0] == nil } }

    /// Withdraws our vote against `slot`, unless we already signed a change dropping it.
    mutating func withdrawVote(_ slot: Int) -> [LockstepEvent] {
        guard votes[slot] != nil, endorsed?.change.drops.contains(where: { $0.slot == slot }) != true else { return [] }
        withdrawnVotes[slot] = votes[slot]
        votes[slot] = nil
        // The remaining suspicions still need a proposal: their grace restarts now (with nil, a
        // coordinator waiting for agreement a liar never gives would wait forever).
        votedAt = suspectsAnyone ? now : nil
        return [.peerResumed(slot: slot)]
    }

    /// The slots whose signatures make the quorums of the next epoch (certificates and
    /// abandonments), and among whom its coordinator is the lowest: the roster but the newcomers
    /// still waiting for their checkpoints as far as the certified changes show (``newcomers``).
    /// The same for every peer that adopted that certificate, so two quorums of one epoch always
    /// share a signer.
    var voters: [Int] {
        var slots: [Int] = []
        slots.reserveCapacity(players)
        for s in 0..<players where dropTick[s] == nil && !newcomers.contains(s) { slots.append(s) }
        return slots
    }

    /// The voters this peer does not suspect.
    var unsuspectedVoters: [Int] { voters.filter { votes[$0] == nil } }

    mutating func vote(_ slot: Int) -> [LockstepEvent] {
        guard votes[slot] == nil, dropTick[slot] == nil, slot != localSlot else { return [] }
        // Never claim less than what we already applied, so the drop tick lies after it.
        let held = max(heldThrough(slot), nextTick - 1)
        votes[slot] = held
        suspectedThisRound.insert(slot)
        voteAck[slot] = acked[slot]
        votedAt = now
        return [.dropProposed(slot: slot, heldThrough: held)]
    }

    /// A peer that keeps voting against slots we hear from is named (evidence, not proof: it
    /// may be cut off from them) once that lasted a whole disconnect timeout. A slot we vote
    /// against ourselves, whose rows disagree with ours (a liar we hear, voted out by others
    /// sooner), that the voter signed a change to drop, or whose return we have not reached
    /// (we count it heard without hearing it: sweep seed 125 run 315, a newcomer that crashed
    /// while the voters waited at its return tick), is no evidence against the voter.
    mutating func judgeVotes(of voter: Int) -> [LockstepEvent] {
        // A voter that signed a change dropping the slot keeps its vote until the round is
        // settled, whatever it hears since (``withdrawIfHopeless()`` is the one way out): the
        // endorsement we hold explains the vote.
        let endorsed = endorsements[voter]?.change.drops
        let live = (0..<players).filter { s in
            s != voter && peerVotes[voter][s] != nil && dropTick[s] == nil && !provenEquivocators.contains(s) && votes[s] == nil
                && mismatchSince[s] == nil && endorsed?.contains(where: { $0.slot == s }) != true
                && (s == localSlot || (now - (lastHeard[s] ?? now) < configuration.disconnectNotify && !awaitingReturn(s)))
        }
        guard !live.isEmpty else { liveVotesSince[voter] = nil; return [] }
        guard let since = liveVotesSince[voter] else { liveVotesSince[voter] = now; return [] }
        guard now - since >= configuration.disconnectTimeout else { return [] }
        liveVotesSince[voter] = now  // named again after another timeout if it goes on
        return [.violation(slot: voter, .voteAgainstLiveSlots(live))]
    }

    /// The coordinator of the voters this peer does not suspect: their lowest slot.
    var isCoordinator: Bool { localSlot >= 0 && unsuspectedVoters.first == localSlot }

    /// Halting, endorsing the coordinator's change, assembling certificates, and (for the
    /// coordinator) proposing a change.
    mutating func coordinate() -> [LockstepEvent] {
        guard localSlot >= 0, halted == nil else { return [] }
        // The common case (nobody suspected, nothing signed) costs no allocation.
        guard !endorsements.isEmpty || suspectsAnyone || !returnRequests.isEmpty || !slotRequests.isEmpty else { return [] }
        let gone = activeSlots.filter { votes[$0] != nil }
        let back = returnCandidates()
        guard !gone.isEmpty || !endorsements.isEmpty || !back.isEmpty else { return [] }
        let roster = voters
        if !gone.isEmpty, !RosterQuorum.holds(unsuspectedVoters, of: roster, liars: configuration.toleratedLiars) {
            // Without a quorum nothing can be certified here, so nothing diverges while we wait:
            // a suspicion may still be refuted. Give up after another disconnect timeout.
            let since = quorumLostSince ?? now
            quorumLostSince = since
            guard now - since >= configuration.disconnectTimeout else { return [] }
            return halt(.lostMajority(reachable: unsuspectedVoters.count, roster: roster.count))
        }
        quorumLostSince = nil
        var events = endorseIfAgreed()
        events += vetoIfRefuted()
        events += withdrawIfHopeless()
        events += assembleCertificate()
        guard halted == nil, endorsed == nil, isCoordinator else { return events }
        if gone.isEmpty {
            // Nobody suspected: admit the vacant slots someone asked for (asked again: a change
            // adopted above may have filled them).
            let back = returnCandidates()
            guard !back.isEmpty else { return events }
            events += endorse(RosterChange(epoch: epoch + 1, round: round, drops: [], admits: back.map(admission)))
            return events + assembleCertificate()
        }
        // Wait until every other survivor suspects the same set, or the grace ran out.
        let grace = configuration.disconnectTimeout
        let waited = votedAt.map { now - $0 >= grace } ?? false
        let survivors = unsuspected
        // A newcomer that resumed (it sends frames of this epoch) votes too: until its vote
        // arrives, the cut could only take it to hold nothing past its checkpoint.
        let resumed = newcomers.filter { votes[$0] == nil && peerEpoch[$0] == epoch }
        let agreed = (unsuspectedVoters + resumed).allSatisfy { s in
            s == localSlot || (peerEpoch[s] == epoch && (0..<players).filter { peerVotes[s][$0] != nil } == gone)
        }
        guard agreed || waited else { return events }
        var drops: [RosterChange.Drop] = []
        for g in gone {
            if let t = conflictTick[g] {
                // An equivocator leaves at the first tick where the histories differ: nobody
                // applied it (the rows disagreed), and every row before it is agreed.
                drops.append(RosterChange.Drop(slot: g, tick: max(t, nextTick)))
                continue
            }
            // Cut it off where every survivor holds it: its last frames came straight over the
            // links, and a survivor lacking an input before the drop tick waits until another
            // player relays it (``receiveRelayed``). What a survivor holds:
            // what its vote says (final once the slot fell silent), and at least every row it
            // confirmed to us (a row holds every slot's input). A returning player needs nothing
            // before its checkpoint (it has not resumed, or resumed there).
            // But never below a row some player may have applied, or no player that did could
            // endorse the cut. Rows before a return tick are applied without the returning
            // player, but never without our report nor beyond what a steady player holds: the
            // lower of those two bounds them (and we applied every row before our next tick).
            // A returning player that then lacks an input below the cut asks a player to relay
            // it, rather than the whole match waiting for good.
            var steady = heldThrough(g), returningHeld = Int.max
            for s in survivors where s != localSlot {
                let held = max(peerVotes[s][g] ?? -1, confirmedBy[s])
                if let r = returning[s] {
                    returningHeld = min(returningHeld, max(held, r.checkpoint - 1))
                } else {
                    steady = min(steady, held)
                }
            }
            let cut = max(min(steady, returningHeld), min(steady, reportedHead))
            drops.append(RosterChange.Drop(slot: g, tick: max(cut + 1, nextTick)))
        }
        events += endorse(RosterChange(epoch: epoch + 1, round: round, drops: drops))
        events += assembleCertificate()
        return events
    }

    /// Signs `change` (one change per epoch) and stops applying at its drop ticks.
    mutating func endorse(_ change: RosterChange) -> [LockstepEvent] {
        guard endorsed == nil, vetoed == nil, change.round == round, round < RosterChange.maxRound,
            let signature = keys.sign(change.signedBytes(session: keys.sessionHash))
        else { return [] }
        endorsed = (change, signature)
        endorsements[localSlot] = (change, signature)
        for d in change.drops { votes[d.slot] = d.tick - 1 }
        if let first = change.admits.map(\.checkpoint).min() { admitFreeze = first - 1 }
        return []
    }

    /// Endorses the change the rightful coordinator signed, if we agree with it: we suspect every
    /// slot it drops, it does not drop us, and we have applied none of its drop ticks.
    mutating func endorseIfAgreed() -> [LockstepEvent] {
        guard endorsed == nil, vetoed == nil else { return [] }
        for (signer, e) in endorsements.sorted(by: { $0.key < $1.key }) {
            let c = e.change
            guard c.round == round else { continue }
            let dropped = Set(c.drops.map(\.slot))
            guard signer == voters.first(where: { !dropped.contains($0) }) else { continue }
            guard c.drops.allSatisfy({ votes[$0.slot] != nil && $0.slot != localSlot && $0.tick >= nextTick }) else { continue }
            // Never past a tick where we know the slot's histories differ.
            guard !dropsPastConflict(c) else { continue }
            // While we suspect a player we sign an admission alone that we did not see asked for
            // (its request never reached us, or expired) when it is otherwise one we would sign:
            // the coordinator, frozen at its checkpoint, cannot sign that player's drop this
            // round, and the silent player with the coordinator may be half the voters (the
            // coordinator first), which no veto of ours can outvote.
            guard c.admits.allSatisfy({ admissible($0, unasked: suspectsAnyone && c.drops.isEmpty) }) else { continue }
            return endorse(c)
        }
        return []
    }

    /// A verified endorsement from `slot` for the next epoch.
    mutating func noteEndorsement(_ e: (change: RosterChange, signature: [UInt8]), from slot: Int) -> [LockstepEvent] {
        guard !equivocators.contains(slot) else { return [] }
        if let held = endorsements[slot] {
            if held.change == e.change { return [] }  // already verified
            // A second change for one epoch: proof of lying if the signature holds.
            guard keys.verify(slot: slot, signature: e.signature, bytes: e.change.signedBytes(session: keys.sessionHash)) else {
                return [.violation(slot: slot, .badSignature)]
            }
            equivocators.insert(slot)
            endorsements[slot] = nil
            return [.violation(slot: slot, .conflictingEndorsements(epoch: e.change.epoch))]
        }
        guard keys.verify(slot: slot, signature: e.signature, bytes: e.change.signedBytes(session: keys.sessionHash)) else {
            return [.violation(slot: slot, .badSignature)]
        }
        // A veto of the same round may be a withdrawal (``withdrawIfHopeless()``), so endorsing
        // and vetoing one round names nobody.
        endorsements[slot] = e
        return []
    }

    /// Whether `change` drops a slot after the first tick where we know its two signed histories
    /// differ (a tick below the next one we apply is settled): the rows between would diverge.
    func dropsPastConflict(_ change: RosterChange) -> Bool {
        change.drops.contains { d in conflictTick[d.slot].map { d.tick > max($0, nextTick) } ?? false }
    }

    /// Vetoes the current round when the coordinator's change in it cuts off a player that
    /// played on: we hold that player's input at its drop tick (or as many of its inputs as of
    /// every player the change keeps), do not suspect it, and heard a fresh frame from it lately
    /// (or the change drops us, and we are here), drops a proven equivocator past the first tick
    /// where we know its histories differ, or readmits a slot from a checkpoint we already applied
    /// past. Never after endorsing the round (``withdrawIfHopeless()`` is the one exception). The signer
    /// must be the coordinator as we see it (the lowest slot we do not suspect), or one that every
    /// dropped slot below it made the coordinator by being suspected (by us too, in this round): a liar that drops live players below it to make itself the
    /// coordinator gets no veto, so it cannot spin rounds or block the real coordinator's change.
    /// A change that drops us from below its signer is the exception: the signer is the
    /// coordinator of everyone who suspects us, and without our veto the round could stay open
    /// for good (the others vetoed it, short of a quorum without us). A liar could draw such vetoes
    /// round after round, so we give at most ``selfVetoLimit`` of them per epoch.
    mutating func vetoIfRefuted() -> [LockstepEvent] {
        guard vetoed == nil, endorsed == nil, localSlot >= 0, round < RosterChange.maxRound else { return [] }
        for (signer, e) in endorsements.sorted(by: { $0.key < $1.key }) where e.change.round == round {
            let dropped = Set(e.change.drops.map(\.slot))
            guard signer == voters.first(where: { !dropped.contains($0) }) else { continue }
            let dropsUs = dropped.contains(localSlot) && localSlot < signer && selfVetoes < Self.selfVetoLimit
            let plausible =
                signer == unsuspectedVoters.first
                || e.change.drops.allSatisfy { $0.slot > signer || suspectedThisRound.contains($0.slot) || (dropsUs && $0.slot == localSlot) }
            guard plausible else { continue }
            // A dropped player counts as playing on once we hold its input at the drop tick, or
            // as many of its inputs as of every player the change keeps: then someone else holds
            // the rows back (a crashed player dropped in the same change), and its input at the
            // drop tick may never come. An admission whose checkpoint we applied past can never
            // have our signature, nor be followed here: its signers would stay frozen before the
            // checkpoint for good.
            var keptHeld = Int.max
            for s in activeSlots where !dropped.contains(s) && votes[s] == nil { keptHeld = min(keptHeld, heldThrough(s)) }
            // A drop past a tick where we know the slot's two histories differ can never have our
            // signature (the rows between would diverge); the coordinator may have signed it as a
            // silent player's drop before it learned of the equivocation, and cannot sign another
            // change this round: without our veto the round would stay open for good.
            // So can an admission we can never sign while we suspect a player (asked for or not:
            // ``endorseIfAgreed()`` signs one we did not see asked for): the coordinator, frozen
            // at its checkpoint, cannot sign that player's drop this round, and nobody passes the
            // checkpoint while the suspected player holds the rows back.
            let refuted =
                e.change.drops.contains { d in
                    if d.slot == localSlot { return true }
                    return votes[d.slot] == nil && !mismatchCondemns(d.slot) && heardLately(d.slot) && !provenEquivocators.contains(d.slot)
                        && heldThrough(d.slot) >= min(d.tick, keptHeld)
                } || dropsPastConflict(e.change) || e.change.admits.contains { $0.checkpoint < nextTick }
                || (suspectsAnyone && e.change.drops.isEmpty && !e.change.admits.allSatisfy { admissible($0, unasked: true) })
            guard refuted, let signature = keys.sign(RosterVeto.signedBytes(session: keys.sessionHash, epoch: epoch + 1, round: round)) else { continue }
            if dropsUs { selfVetoes += 1 }
            vetoed = signature
            vetoes[localSlot] = signature
            return abandonIfVetoed()
        }
        return []
    }

    /// Vetoes the round we endorsed once the vetoes we hold leave too few possible signers for
    /// any certificate of it, so that a round the others refused short of a quorum does not hold
    /// us frozen at its drop ticks for good (a small match whose coordinator signed a drop the
    /// others refute, with the dropped player never vetoing: a liar, or one that then crashed).
    /// Safe: our veto joins an abandonment only of a round no change of which can be certified any
    /// more (docs/LOCKSTEP.md, "Safety").
    mutating func withdrawIfHopeless() -> [LockstepEvent] {
        guard let mine = endorsed, vetoed == nil, localSlot >= 0, mine.change.round == round else { return [] }
        let roster = voters
        let vetoers = Set(vetoes.keys.filter { $0 != localSlot && roster.contains($0) })
        guard !vetoers.isEmpty else { return [] }
        // Our change needs signers outside the slots it drops; any other change of the round
        // needs them outside us (we signed only ours). Its dropped slots are not known: counting
        // them keeps the test conservative.
        let dropped = Set(mine.change.drops.map(\.slot))
        guard !certificatePossible(excluding: dropped, vetoers: vetoers, roster: roster),
            !certificatePossible(excluding: [localSlot], vetoers: vetoers, roster: roster),
            let signature = keys.sign(RosterVeto.signedBytes(session: keys.sessionHash, epoch: epoch + 1, round: round))
        else { return [] }
        vetoed = signature
        vetoes[localSlot] = signature
        return abandonIfVetoed()
    }

    /// Whether a change of this round could still gather a quorum of signers outside `excluded`
    /// while `vetoers` vetoed it: an honest vetoer signs no change of a round it vetoed (one that
    /// withdrew its own signature did so only once that change could no longer be certified),
    /// and at most ``LockstepConfiguration/toleratedLiars`` of the vetoers lie and sign anyway.
    func certificatePossible(excluding excluded: Set<Int>, vetoers: Set<Int>, roster: [Int]) -> Bool {
        let liars = configuration.toleratedLiars
        // With no liar tolerated, one proven to have signed two changes of the round breaks the
        // premise every quorum rests on: a certificate only its signature completes binds no
        // honest player, who would otherwise wait for it for good (sweep seed 136 run 952: the
        // liar completed one and kept it to itself).
        let candidates = roster.filter { !excluded.contains($0) && (liars > 0 || !equivocators.contains($0)) }
        let signers = candidates.filter { !vetoers.contains($0) } + candidates.filter(vetoers.contains).prefix(liars)
        return RosterQuorum.holds(signers.sorted(), of: roster, liars: liars)
    }

    /// A veto of the current round from `slot` (verified once per slot and round).
    mutating func noteVeto(_ signature: [UInt8], from slot: Int) -> [LockstepEvent] {
        guard vetoes[slot] == nil, !badVetoes.contains(slot), activeSlots.contains(slot) else { return [] }
        guard keys.verify(slot: slot, signature: signature, bytes: RosterVeto.signedBytes(session: keys.sessionHash, epoch: epoch + 1, round: round)) else {
            badVetoes.insert(slot)
            return [.violation(slot: slot, .badSignature)]
        }
        vetoes[slot] = signature
        return abandonIfVetoed()
    }

    /// Abandons the current round once vetoes from a quorum of the voters are held.
    mutating func abandonIfVetoed() -> [LockstepEvent] {
        let roster = voters
        let signers = vetoes.keys.filter(roster.contains).sorted()
        guard RosterQuorum.holds(signers, of: roster, liars: configuration.toleratedLiars) else { return [] }
        return abandon(
            RoundAbandonment(
                epoch: epoch + 1, round: round,
                vetoes: signers.map { RosterSignature(slot: $0, signature: vetoes[$0]!) }))
    }

    /// Checks a peer's proof that a round was vetoed by a quorum (vetoes we already verified are
    /// not checked again; the first bad signature ends the check).
    mutating func adoptAbandonmentIfValid(_ a: RoundAbandonment, from sender: Int) -> [LockstepEvent] {
        if a == rejectedAbandonment { return [] }
        // A proof for a round we have not seen costs up to a quorum of verifications: one per
        // sender per 50 ms (an honest peer repeats its proof for a second).
        if let last = lastAbandonmentFrom[sender], now - last < .milliseconds(50) { return [] }
        lastAbandonmentFrom[sender] = now
        let roster = voters
        let signers = a.vetoes.map(\.slot)
        guard signers.allSatisfy(roster.contains), RosterQuorum.holds(signers, of: roster, liars: configuration.toleratedLiars) else {
            return [.violation(slot: sender, .certificateWithoutQuorum(epoch: a.epoch))]
        }
        let bytes = RosterVeto.signedBytes(session: keys.sessionHash, epoch: a.epoch, round: a.round)
        for v in a.vetoes {
            if a.round == round, vetoes[v.slot] == v.signature { continue }
            guard keys.verify(slot: v.slot, signature: v.signature, bytes: bytes) else {
                rejectedAbandonment = a
                return [.violation(slot: sender, .badSignature)]
            }
        }
        return abandon(a)
    }

    /// No change of round `a.round` can ever be certified (a quorum refused it): what we signed in
    /// it binds nobody, so we go on from where we are, and the next round may propose again.
    mutating func abandon(_ a: RoundAbandonment) -> [LockstepEvent] {
        guard a.epoch == epoch + 1, a.round >= round else { return [] }
        if let e = endorsed {
            for d in e.change.drops where votes[d.slot] != nil {
                // Our endorsement froze us at its drop tick; a slot heard lately is no longer
                // suspected, a silent one is suspected afresh.
                votes[d.slot] = heardLately(d.slot) ? nil : max(heldThrough(d.slot), nextTick - 1)
                voteAck[d.slot] = acked[d.slot]
            }
        }
        round = a.round + 1
        withdrawnVotes = Array(repeating: nil, count: players)
        admitFreeze = nil
        suspectedThisRound = Set((0..<players).filter { votes[$0] != nil })
        abandonment = a
        abandonmentSends = 60
        endorsed = nil
        endorsements = [:]
        equivocators = []
        vetoed = nil
        vetoes = [:]
        badVetoes = []
        votedAt = suspectsAnyone ? now : nil
        return [.changeRefused(epoch: a.epoch, round: a.round)]
    }

    /// Adopts a change once endorsements from a quorum of the voters agree on it.
    mutating func assembleCertificate() -> [LockstepEvent] {
        let roster = voters
        var bySigners: [RosterChange: [Int]] = [:]
        for (signer, e) in endorsements where roster.contains(signer) { bySigners[e.change, default: []].append(signer) }
        for (change, signers) in bySigners.sorted(by: { $0.key.drops.count < $1.key.drops.count }) {
            // A slot's signature never counts towards its own drop (an equivocator endorsing a
            // drop past its lie must not complete a quorum).
            let dropped = Set(change.drops.map(\.slot))
            let sorted = signers.filter { !dropped.contains($0) }.sorted()
            guard RosterQuorum.holds(sorted, of: roster, liars: configuration.toleratedLiars) else { continue }
            let cert = RosterCertificate(change: change, signatures: sorted.map { RosterSignature(slot: $0, signature: endorsements[$0]!.signature) })
            return adopt(cert)
        }
        return []
    }

    /// Checks a certificate from a frame: a quorum of distinct roster signers, every signature
    /// valid (signatures we already verified as endorsements are not checked again, so a forged
    /// certificate costs at most one verification before it is rejected).
    mutating func adoptIfValid(_ c: RosterCertificate, from sender: Int) -> [LockstepEvent] {
        if c == rejectedCertificate { return [] }
        let roster = voters
        let dropped = Set(c.change.drops.map(\.slot))
        let signers = c.signatures.map(\.slot)
        guard signers.allSatisfy(roster.contains),
            RosterQuorum.holds(signers.filter { !dropped.contains($0) }, of: roster, liars: configuration.toleratedLiars)
        else {
            return [.violation(slot: sender, .certificateWithoutQuorum(epoch: c.change.epoch))]
        }
        let bytes = c.change.signedBytes(session: keys.sessionHash)
        for sig in c.signatures {
            if let known = endorsements[sig.slot], known.change == c.change, known.signature == sig.signature { continue }
            guard keys.verify(slot: sig.slot, signature: sig.signature, bytes: bytes) else {
                rejectedCertificate = c
                return [.violation(slot: sender, .badSignature)]
            }
        }
        return adopt(c)
    }

    mutating func adopt(_ c: RosterCertificate) -> [LockstepEvent] {
        guard c.change.epoch == epoch + 1 else { return [] }
        var events: [LockstepEvent] = []
        epoch = c.change.epoch
        certificates.append(c)
        if certificates.count > 2 { certificates.removeFirst() }
        let changed = min(c.change.drops.map(\.tick).min() ?? Int.max, c.change.admits.map(\.tick).min() ?? Int.max)
        changeFloors.append((c.change.epoch, changed))
        if changeFloors.count > 8 { changeFloors.removeFirst() }
        certificateSends = 120
        for drop in c.change.drops where dropTick[drop.slot] == nil {
            if drop.slot == localSlot {
                events += halt(.droppedByPeers(tick: drop.tick))
            } else if drop.tick < nextTick {
                events += halt(.rosterChangeBelowApplied(slot: drop.slot, tick: drop.tick))
            } else if let t = conflictTick[drop.slot], max(t, nextTick) < drop.tick {
                events += halt(.disputedInputs(slot: drop.slot, tick: t))
            }
            dropTick[drop.slot] = drop.tick
            droppedAt[drop.slot] = now
            // The slot's chain ends before its drop tick; rows from there on changed, so every
            // digest reported about them is void.
            var chain = chains[drop.slot]
            if chain.head >= drop.tick { chain.values.removeLast(min(chain.values.count, chain.head - drop.tick + 1)) }
            chains[drop.slot] = chain
            for p in 0..<players { confirmedBy[p] = min(confirmedBy[p], drop.tick - 1) }
            rowDigests.removeAll()
            votes[drop.slot] = nil
            for p in 0..<players {
                peerVotes[p][drop.slot] = nil
                // Its votes against the slot are settled: a later vote of a voter left with none
                // gets the full grace before it is judged (sweep seed 128 run 616).
                if !peerVotes[p].contains(where: { $0 != nil }) { liveVotesSince[p] = nil }
            }
            events.append(.dropped(slot: drop.slot, tick: drop.tick))
        }
        for a in c.change.admits { events += readmit(a) }
        // An earlier newcomer stays one while the change shows that its coordinator had not
        // reached the newcomer's checkpoint (a drop tick, or a new checkpoint less a second,
        // lies at or past the proposer's next tick): it cannot have resumed to sign anything.
        let proposedBy = c.change.drops.map(\.tick).min() ?? c.change.admits.map { $0.checkpoint - configuration.tickRate }.min() ?? Int.max
        let admitted = c.change.admits.map(\.slot)
        let waiting = newcomers.filter { s in
            dropTick[s] == nil && !admitted.contains(s) && (readmissions.last { $0.slot == s }?.checkpoint ?? Int.min) > proposedBy
        }
        newcomers = (admitted + waiting).sorted()
        withdrawnVotes = Array(repeating: nil, count: players)
        admitFreeze = nil
        endorsed = nil
        endorsements = [:]
        equivocators = []
        round = 0
        vetoed = nil
        vetoes = [:]
        badVetoes = []
        selfVetoes = 0
        abandonment = nil
        abandonmentSends = 0
        suspectedThisRound = Set((0..<players).filter { votes[$0] != nil && dropTick[$0] == nil })
        pendingReports = Array(repeating: [], count: players)
        mismatchSince = Array(repeating: nil, count: players)
        vouched = Array(repeating: [], count: players)
        disputed = Array(repeating: false, count: players)
        votedAt = suspectsAnyone ? now : nil
        // Votes seen in the old epoch are void; current ones are re-sent with the new epoch.
        for p in 0..<players { peerEpoch[p] = min(peerEpoch[p], epoch - 1) }
        captureDueCheckpoint()
        return events
    }

    mutating func halt(_ reason: HaltReason) -> [LockstepEvent] {
        guard halted == nil else { return [] }
        halted = reason
        haltEpoch = epoch
        return [.halted(reason)]
    }

    // MARK: Inputs

    enum StoreResult { case stored, duplicate, conflict, outOfRange }

    @inline(__always)
    func input(slot: Int, tick: Int) -> InputBytes? {
        guard let i = heldIndex(slot: slot, tick: tick) else { return nil }
        return inputs[i]
    }

    /// Where `slot`'s input for `tick` is in `inputs`, if it is held.
    @inline(__always)
    func heldIndex(slot: Int, tick: Int) -> Int? {
        let i = (tick - base) * players + slot
        return tick >= base && i < held.count && held[i] ? i : nil
    }

    /// Whether `slot` has no input at `tick` by the roster (dropped by then, or away): its
    /// place in the row is nil.
    @inline(__always)
    func inputless(slot s: Int, tick: Int) -> Bool {
        if let d = dropTick[s], tick >= d { return true }
        return absentAt(s, tick)
    }

    /// Whether the game has applied every tick handed to it and answered each (our inputs reach
    /// `nextTick + inputDelay`), and the next tick cannot be handed yet: the session waits on
    /// the other players, not on the game. Mutating only so that a caller holding the session in
    /// an optional reads it in place (a property read through the optional copies the session).
    package mutating func waitingOnOthers() -> Bool {
        guard halted == nil, nextLocalTick >= nextTick + inputDelay else { return false }
        return !nextTickReady
    }

    /// How long after our newest frame an answer from every other active player is overdue, in
    /// nanoseconds: the largest of their answer timeouts (submit to acknowledged, measured on the
    /// frames themselves, plus four mean deviations); nil while one of them has no sample yet.
    /// Mutating for the same reason as ``waitingOnOthers()``.
    package mutating func answerTimeout() -> Int64? {
        var worst: Int64 = 0
        for s in 0..<players where s != localSlot && dropTick[s] == nil {
            guard let t = traffic[s].answerTimeout else { return nil }
            worst = max(worst, t)
        }
        return worst
    }

    /// Whether the next tick can be handed to the game now (``pollReady(limit:)`` would return
    /// it).
    @inline(__always) package var nextTickReady: Bool {
        halted == nil && nextTick <= freezeLimit && nextTick <= agreedThrough && rowComplete(nextTick)
    }

    /// Whether ``row(_:)`` of `tick` is complete, without building it.
    @inline(__always)
    func rowComplete(_ tick: Int) -> Bool {
        // A loop: a closure over `self` on this per-frame path would copy the session.
        for s in 0..<players where !inputless(slot: s, tick: tick) && heldIndex(slot: s, tick: tick) == nil { return false }
        return true
    }

    /// Every slot's input for `tick` if the tick is complete: nil for dropped slots.
    @inline(__always)
    func row(_ tick: Int) -> [InputBytes?]? {
        var row: [InputBytes?] = []
        row.reserveCapacity(players)
        for s in 0..<players {
            if inputless(slot: s, tick: tick) { row.append(nil); continue }
            guard let input = input(slot: s, tick: tick) else { return nil }
            row.append(input)
        }
        return row
    }

    /// The most ticks of inputs held from `base`: a backstop, since frames are read only up to
    /// 96 ticks past our own, and ``trim()`` keeps under about 900 (600 applied ticks for
    /// spectators, or up to 512 a peer has not acknowledged, plus 256 before it trims). Each
    /// row holds every slot, so this bounds what a liar can make us hold to 4096 × players inputs.
    static var maxRows: Int { 1 << 12 }

    /// Holds `input` for `slot` at `tick`; an input already held there stays unless `replacing`
    /// (``adoptSigned`` only).
    mutating func store(_ input: InputBytes, slot: Int, tick: Int, replacing: Bool = false) -> StoreResult {
        let i = tick - base
        guard i >= 0, i < Self.maxRows else { return .outOfRange }
        if inputless(slot: slot, tick: tick) { return .outOfRange }
        let at = i * players + slot
        if held.count <= at {
            let grown = (i + 1) * players
            while inputs.count < grown { inputs.append(neutralInput) }
            held.append(contentsOf: repeatElement(false, count: grown - held.count))
        }
        if held[at], !replacing { return inputs[at] == input ? .duplicate : .conflict }
        inputs[at] = input
        held[at] = true
        return .stored
    }

    /// Stores the pending local input unless this peer is already `inputDelay` ticks ahead. After
    /// the delay grew, the gap is filled with copies of the input.
    mutating func flushLocal() {
        guard let input = pendingLocal, localSlot >= 0 else { return }
        guard nextLocalTick <= nextTick + inputDelay else { return }
        pendingLocal = nil
        for _ in 0...delayFill {
            _ = store(input, slot: localSlot, tick: nextLocalTick)
            submitTimes.record(nextLocalTick, at: now)
            if let d = pendingDelayRequest {
                controls[localSlot].append((nextLocalTick, d))
                pendingDelayRequest = nil
            }
            nextLocalTick += 1
        }
        delayFill = 0
        advanceChain(localSlot)
    }

    mutating func applyControls(at tick: Int) {
        for s in 0..<players {
            guard let i = controls[s].firstIndex(where: { $0.tick == tick }) else { continue }
            let delay = controls[s][i].delay
            if delay != inputDelay {
                if delay > inputDelay { delayFill += delay - inputDelay }
                inputDelay = delay
                pendingEvents.append(.inputDelayChanged(delay: delay, afterTick: tick))
            }
        }
        for s in 0..<players { controls[s].removeAll { $0.tick <= tick } }
    }

    /// The newest tick through which this peer holds every input of `slot`, contiguously.
    @inline(__always)
    func heldThrough(_ slot: Int) -> Int {
        var t = nextTick
        while heldIndex(slot: slot, tick: t) != nil || absentAt(slot, t) { t += 1 }
        return t - 1
    }

    /// The oldest of our inputs some active peer still lacks; a peer more than 512 ticks behind
    /// no longer holds back trimming (it will be dropped by the timeout if it is gone).
    @inline(__always)
    var oldestUnacked: Int {
        var m = Int.max
        for s in 0..<players where s != localSlot && dropTick[s] == nil { m = min(m, acked[s] + 1) }
        return max(m == Int.max ? nextLocalTick : m, nextLocalTick - 512)
    }

    /// Forgets applied ticks, keeping what is needed to resend unacknowledged inputs.
    mutating func trim() {
        let keepFrom = localSlot >= 0 ? min(nextTick - Self.spectatorHistory, nextLocalTick - redundancy, oldestUnacked) : nextTick
        let keep = keepFrom - base
        guard keep > 256 else { return }
        inputs.removeFirst(min(keep * players, inputs.count))
        held.removeFirst(min(keep * players, held.count))
        base += keep
        localChecksums = localChecksums.filter { $0.key >= nextTick - 600 }
        remoteChecksums = remoteChecksums.filter { $0.key >= nextTick - 600 }
        reportedDesyncs = reportedDesyncs.filter { $0.key >= nextTick - 600 }
        submitTimes.forget(before: base)
        for s in 0..<players {
            chains[s].trim(before: nextTick - (localSlot >= 0 ? Self.spectatorHistory : 64))
            statements[s] = statements[s].filter { $0.key >= nextTick - 64 }
        }
    }

    /// A frame of our own inputs from `tick` on (at most 64, the oldest kept when cut to
    /// `maxFrameBytes`), for a spectator that lost them: no votes, endorsement, checksums, report
    /// or dispute, and no new frame sequence number (it says nothing about our liveness). Nil for
    /// a spectator, or when nothing is held from `tick` on (a player keeps about
    /// ``spectatorHistory`` applied ticks).
    package func catchUpFrame(from tick: Int) -> [UInt8]? {
        guard localSlot >= 0, halted == nil else { return nil }
        let first = max(tick, base, 0, absent[localSlot]?.upperBound ?? 0)
        var last = min(nextLocalTick - 1, first + LockstepFrame.maxInputs - 1)
        guard first <= last else { return nil }
        var f = LockstepFrame(
            slot: localSlot, digest: keys.digest, frameSeq: frameSeq, epoch: epoch, nextTick: nextTick,
            acks: acknowledgements,
            firstTick: first, inputs: [], controls: [], votes: [], endorsement: nil, certificates: [], checksums: [])
        // A row report within the frame's inputs: a spectator that fell behind every report
        // confirms its rows with it. The newest row we applied, when it is among them: every
        // player agreed on it, where a newer row may still be disputed (a liar's unsigned
        // inputs) and would confirm nothing.
        var reported = min(last, rowHead)
        if nextTick - 1 >= first { reported = min(reported, nextTick - 1) }
        if reported >= first, let digest = computeRowDigest(reported) { f.report = (reported, digest) }
        // The newest certificates too: a spectator that lost a change's frames would otherwise
        // wait for a player that change dropped (the others echo it only for a while).
        f.certificates = certificates
        let full = last
        while true {
            f.inputs = localInputs(first...last)
            f.controls = controls[localSlot].filter { $0.tick >= first && $0.tick <= last }
            let bytes = f.encode()
            if bytes.count <= configuration.maxFrameBytes { return bytes }
            if first < last {
                last -= max(1, (last - first) / 4)
            } else if !f.certificates.isEmpty {
                f.certificates.removeFirst()
                last = full
            } else {
                return bytes
            }
        }
    }

    /// What our frames acknowledge: the newest tick through which we hold every input of each
    /// slot, -1 for a dropped one. (Loops here and below: a closure would copy this whole
    /// generic value and look up its type per element.)
    @inline(__always)
    var acknowledgements: [Int] {
        var acks: [Int] = []
        acks.reserveCapacity(players)
        appendAcknowledgements(to: &acks)
        return acks
    }

    /// ``acknowledgements``, appended to `acks` (an array kept between frames).
    @inline(__always)
    func appendAcknowledgements(to acks: inout [Int]) {
        for s in 0..<players { acks.append(dropTick[s] == nil ? heldThrough(s) : -1) }
    }

    /// Our votes: each suspected slot with what we held of it.
    @inline(__always)
    var voteList: [(slot: Int, held: Int)] {
        var list: [(slot: Int, held: Int)] = []
        for s in 0..<players { if let held = votes[s] { list.append((s, held)) } }
        return list
    }

    /// Our inputs for `ticks`, neutral where none is held.
    @inline(__always)
    func localInputs(_ ticks: ClosedRange<Int>) -> [InputBytes] {
        var out: [InputBytes] = []
        out.reserveCapacity(ticks.count)
        appendLocalInputs(ticks, to: &out)
        return out
    }

    /// ``localInputs(_:)``, appended to `inputs` (an array kept between frames).
    @inline(__always)
    func appendLocalInputs(_ ticks: ClosedRange<Int>, to inputs: inout [InputBytes]) {
        for t in ticks { inputs.append(input(slot: localSlot, tick: t) ?? neutralInput) }
    }

    /// The fewest ticks between two of our statements, outside disputes.
    static var statementInterval: Int { 8 }
    /// The least time between two of our statements, outside disputes, unless
    /// ``statementIntervalCap`` ticks passed. At 60 Hz the 8 ticks take longer, so this binds
    /// only a session run faster than about 80 ticks/s (an unthrottled benchmark, a catch-up):
    /// a signature costs tens of microseconds, more than the rest of a frame.
    static var statementSpacing: Duration { .milliseconds(100) }
    /// The most ticks between two of our statements, however little time passed (a clock that
    /// does not move, as in tests, still gets them).
    static var statementIntervalCap: Int { 256 }

    /// Whether rows disagree somewhere: then every frame with inputs carries our statement over
    /// the newest of them. A dispute relays each slot's history from the sender's last applied
    /// tick to a statement of that slot; while the rows disagree nobody applies further, so the
    /// newest inputs are at most about twice the input delay (63) past it, within
    /// ``Dispute/maxInputs`` (players stop up to a delay apart). Sparse statements would leave
    /// none in that span when the one sent before it was lost.
    @inline(__always)
    var disputing: Bool {
        if disputeSends > 0 { return true }
        if let at = lastDisputeAt, now - at < .seconds(1) { return true }
        for m in mismatchSince where m != nil { return true }
        return false
    }

    /// Frames that carry each of our checksums (a checksum lost in all of them is one check
    /// fewer, not an error: the next comes `checksumInterval` ticks later).
    static var checksumSends: Int { 4 }

    /// Ticks between two frames a player floods for spectators while it sends its frames to the
    /// other players direct (about 133 ms at 60 ticks per second): each flood costs every
    /// spectator a signature check, and each player's upload the flooded copies.
    package static var feedInterval: Int { 8 }

    /// Applied ticks a player keeps beyond what its peers need, so that a spectator that lost
    /// frames can ask for them again (``catchUpFrame(from:)``): 10 s at 60 ticks per second.
    static var spectatorHistory: Int { 600 }

    /// A frame without inputs that carries our report of the newest row we hold, when that row
    /// is newer than the one our last frame reported (``LockstepConfiguration/promptReports``):
    /// the acknowledgements, votes and endorsement go with it, nothing that is sent a number of
    /// times (certificates, checksums) and no statement.
    package mutating func promptReportFrame() -> [UInt8]? {
        guard localSlot >= 0, halted == nil else { return nil }
        let head = reportableHead
        guard head >= 0, head < Int.max, head > reportedHead else { return nil }
        return frame(inputs: false)
    }

    /// A frame with every input some peer has not acknowledged (at least the newest
    /// `redundancy`, at most 64, cut to `maxFrameBytes`), what we hold of everyone's inputs,
    /// our votes, endorsement and recent certificates, and pending checksums; with
    /// `inputs: false`, the report frame of ``promptReportFrame()``; with `repairAfter`, the
    /// frame of ``repairFrame(after:)``.
    mutating func frame(inputs withInputs: Bool = true, repairAfter: Int? = nil) -> [UInt8] {
        let repair = repairAfter != nil
        if !repair { frameSeq += 1 }
        let last = nextLocalTick - 1
        var first = max(0, min(last - redundancy + 1, oldestUnacked, feedFloor ?? .max), last - (LockstepFrame.maxInputs - 1), base)
        feedFloor = nil
        // A returning player has no inputs before its return tick.
        if let a = absent[localSlot] { first = max(first, a.upperBound) }
        if let r = repairAfter { first = max(first, min(r + 1, last + 1)) }
        var (acks, inputs) = sentFrameStorage.take()
        appendAcknowledgements(to: &acks)
        var f = LockstepFrame(
            slot: localSlot, digest: keys.digest, frameSeq: frameSeq, epoch: epoch, nextTick: nextTick,
            acks: acks,
            firstTick: first, inputs: [], controls: [],
            votes: voteList,
            endorsement: endorsed, certificates: withInputs && !repair && certificateSends > 0 ? certificates : [],
            checksums: withInputs && !repair ? pendingChecksums.map { ($0.tick, $0.checksum) } : [])
        f.repair = repair
        defer { sentFrameStorage.keep(taking: &f) }
        f.veto = vetoed.map { (round: round, signature: $0) }
        let head = reportableHead
        if head >= 0, head < Int.max {
            // A replaced row first, never past what we may report (and as a row we still hold).
            var tick = head
            if let r = rereport {
                rereport = r.sendsLeft > 1 ? (r.tick, r.sendsLeft - 1) : nil
                if r.tick < head, rowDigest(r.tick) != nil { tick = r.tick }
            }
            if let digest = rowDigest(tick) {
                f.report = (tick, digest)
                reportedHead = max(reportedHead, tick)
            }
        }
        guard withInputs else {
            // Our own acknowledgement reads as the tick of our newest input: first + count - 1.
            f.firstTick = last + 1
            return f.encode()
        }
        if !repair {
            if certificateSends > 0 { certificateSends -= 1 }
            if abandonmentSends > 0 { f.abandonment = abandonment; abandonmentSends -= 1 }
            if let n = announcedNeed {
                f.need = n.need
                announcedNeed = n.sendsLeft > 1 ? (n.need, n.sendsLeft - 1) : nil
            }
            for i in pendingChecksums.indices { pendingChecksums[i].sendsLeft -= 1 }
            pendingChecksums.removeAll { $0.sendsLeft <= 0 }
        }
        // One statement per `statementInterval` ticks and `statementSpacing` (a signature costs
        // 64 bytes and tens of microseconds); a repeat of the frame that carried it carries it
        // again; every frame while rows disagree (``disputing``). (No closure over `self` here:
        // it would copy the session.)
        var stating = true
        if let stated = statedTick {
            let due = last - stated >= Self.statementInterval && (now - statedAt >= Self.statementSpacing || last - stated >= Self.statementIntervalCap)
            stating = last == stated || last < stated || due
        }
        if !stating { stating = disputing }
        if repair { stating = statedTick == last }
        if last >= first, stating, let statement = statement(at: last) {
            f.statement = statement
            if statedTick != last { statedAt = now }
            statedTick = last
        }
        var bytes: [UInt8]
        while true {
            f.firstTick = first
            f.inputs = []  // `inputs` unshared, written in place
            inputs.removeAll(keepingCapacity: true)
            if last >= first { appendLocalInputs(first...last, to: &inputs) }
            f.inputs = inputs
            f.controls = controls[localSlot].filter { $0.tick >= first && $0.tick <= last }
            if f.inputs.isEmpty { f.statement = nil }
            bytes = f.encode()
            // Too big: drop the oldest inputs (the newest reach everyone fastest).
            if bytes.count <= configuration.maxFrameBytes || first >= last { break }
            first += max(1, (last - first) / 4)
        }
        guard disputeSends > 0, !repair else { return bytes }
        disputeSends -= 1
        // Our histories of every slot from our last applied tick, each with the slot's own
        // statement, as many as fit; the next frames go on from where this one stopped.
        var base = nextTick - 1
        if let b = behindDispute, now - b.at < .seconds(1), b.base < base, disputeSends % 2 == 0 { base = b.base }
        var dispute = Dispute(base: base, entries: [])
        let start = disputeCursor
        for k in 0..<players {
            let s = (start + k) % players
            // A slot dropped after the base still has inputs in the rows we may disagree about.
            guard inRows(s, dispute.base + 1) else { continue }
            // The first entry of a frame is cut shorter until it fits (large inputs), so that a
            // history too long for one frame cannot stop the dispute for good.
            var limit = Dispute.maxInputs
            var fitted: (Dispute, [UInt8])?
            guard var candidate = disputeEntry(slot: s, base: dispute.base, limit: limit) else { continue }
            while limit >= 1 {
                let entry = candidate
                var trial = f
                trial.dispute = Dispute(base: dispute.base, entries: (dispute.entries + [entry]).sorted { $0.slot < $1.slot })
                let encoded = trial.encode()
                if encoded.count <= configuration.maxFrameBytes { fitted = (trial.dispute!, encoded); break }
                guard dispute.entries.isEmpty else { break }
                limit = min(limit, entry.inputs.count) / 2
                guard limit >= 1, let shorter = disputeEntry(slot: s, base: dispute.base, limit: limit) else { break }
                candidate = shorter
            }
            guard let (grown, encoded) = fitted else {
                if dispute.entries.isEmpty { continue }  // nothing of it fits any frame: skip it
                disputeCursor = s
                break
            }
            dispute = grown
            bytes = encoded
            signedEntrySent[s] = now
            disputeCursor = (s + 1) % players
        }
        return bytes
    }

    // MARK: Input agreement

    /// Extends every slot's chain over the inputs now held contiguously.
    mutating func advanceChains() {
        for s in 0..<players { advanceChain(s) }
    }

    /// Whether slot `s` has no input at `tick` because it was away (dropped, then readmitted).
    @inline(__always)
    func absentAt(_ s: Int, _ tick: Int) -> Bool {
        absent[s]?.contains(tick) == true || (!earlierAbsences.isEmpty && earlierAbsences.contains { $0.slot == s && $0.range.contains(tick) })
    }

    /// Extends `s`'s chain over the inputs of `s` now held (a chain depends on that slot's
    /// inputs only, so a frame from `s` advances only its chain).
    mutating func advanceChain(_ s: Int) {
        let stop = dropTick[s].map { $0 - 1 } ?? Int.max
        let next = chains[s].head + 1
        guard chains[s].head < stop, input(slot: s, tick: next) != nil || absentAt(s, next) else { return }
        // In place: a local copy would share the values' buffer, and the first append would copy
        // the whole buffer.
        while chains[s].head < stop {
            let next = chains[s].head + 1
            // An absent tick adds nothing: the chain keeps its value through the absence.
            if absentAt(s, next) {
                let last = chains[s].last
                chains[s].append(last)
                continue
            }
            guard let input = input(slot: s, tick: next) else { break }
            let digest = InputChain.next(chains[s].last, input)
            chains[s].append(digest)
        }
    }

    /// The newest tick whose every input this peer holds (its row digest can be computed).
    @inline(__always)
    var rowHead: Int {
        var head = Int.max
        for s in 0..<players {
            if let d = dropTick[s], chains[s].head >= d - 1 { continue }
            head = min(head, chains[s].head)
        }
        return head
    }

    /// The newest row our frames may report: ``rowHead``, but while we vote against a slot (or
    /// endorsed its drop) never past the tick our vote says we hold of it. A coordinator cuts a
    /// drop at the lowest such vote; a row we reported past our vote would let the others apply
    /// a tick that the certified drop then cuts off (they halt). A report made before the vote
    /// is within it: what we hold of a slot only grows. Nor past what another unsuspected voter
    /// against the same slot says it holds (down to our last applied row): the drop is cut
    /// there, and a row past it is one that voter cannot check. A vanished player's last inputs
    /// reach some of us and not others, and a disagreement a voter saw at a row it holds would
    /// otherwise stay on its books until the drop, which it may be the one to propose (sweep
    /// seed 95 run 1380: the coordinator kept voting two honest players out and never proposed).
    /// A vote we withdrew counts as well until ``releaseWithdrawnVotes()`` forgets it: others
    /// may still cut the drop there, as ``freezeLimit`` says, and our report past it would let
    /// them apply the tick the cut removes (sweep seed 110 run 547: a player that withdrew its
    /// vote reported the next row, a player holding every report applied it, and the
    /// certificate cut there, made from the votes before, halted that player).
    @inline(__always) var reportableHead: Int {
        var head = rowHead
        for s in 0..<players {
            if let w = withdrawnVotes[s], dropTick[s] == nil { head = min(head, w) }
            guard let v = votes[s] else { continue }
            head = min(head, v)
            for p in 0..<players where p != localSlot && p != s && votes[p] == nil && dropTick[p] == nil && peerEpoch[p] == epoch {
                if let theirs = peerVotes[p][s] { head = min(head, max(theirs, nextTick - 1)) }
            }
        }
        return head
    }

    /// Row digests computed lately, by tick (every peer's report of a tick asks for the same one):
    /// valid until a roster change, which changes what a row holds.
    var rowDigests = RowDigestCache()
    /// The arrays our frames and the frames received are built in, kept between frames.
    var sentFrameStorage = FrameStorage()
    var receivedFrameStorage = FrameStorage()
    /// The newest row our frames reported (``promptReportFrame()``).
    var reportedHead = -1
    /// A row our frames reported on before we replaced inputs in it (``rewind(_:from:)``), to
    /// report again in our next ``rereportSends`` frames instead of the newest row, with the
    /// number of those frames left. A peer that saw the old report holds a disagreement from
    /// there that only a matching report of a row it holds ends; our newest rows may be ones it
    /// cannot check (it lacks a crashed player's last inputs), and it would name us once the
    /// disagreement outlasts a disconnect timeout (sweep seed 131 run 911).
    var rereport: (tick: Int, sendsLeft: Int)?
    /// Frames that report a replaced row again: one lost frame does not leave it unreported.
    static var rereportSends: Int { 3 }

    mutating func rowDigest(_ tick: Int) -> ChainDigest? {
        if let known = rowDigests[tick] { return known }
        guard let digest = computeRowDigest(tick) else { return nil }
        rowDigests[tick] = digest
        return digest
    }

    @inline(__always)
    func computeRowDigest(_ tick: Int) -> ChainDigest? {
        InputChain.row(count: players) { s in
            chains[s].value(at: dropTick[s].map { min(tick, $0 - 1) } ?? tick)
        }
    }

    /// Ticks every other active player confirmed holding with the same inputs as ours: nothing
    /// past it is applied, so an equivocating player can never make two honest peers apply
    /// different inputs.
    @inline(__always)
    package var agreedThrough: Int {
        var m = Int.max
        for s in 0..<players where s != localSlot && dropTick[s] == nil {
            // A returning slot has no say on rows before its return (it held none of them).
            m = min(m, returning[s].map { max(confirmedBy[s], $0.tick - 1) } ?? confirmedBy[s])
        }
        return m
    }

    /// Our signature over our own chain at `tick` (one signature per new tick).
    mutating func statement(at tick: Int) -> [UInt8]? {
        guard localSlot >= 0 else { return nil }
        if let own = ownStatement, own.tick == tick { return own.signature }
        guard let chain = chains[localSlot].value(at: tick),
            let signature = keys.sign(InputChain.statementBytes(session: keys.sessionHash, slot: localSlot, tick: tick, chain: chain))
        else { return nil }
        ownStatement = (tick, signature)
        return signature
    }

    /// Keeps a row report to check once we hold its row: densely just ahead of us, then as a
    /// ladder of rungs 8 ticks apart (at most 24), so that a peer lagging behind the reporters
    /// (a spectator several hops away) always has a report within reach as it catches up. An
    /// older report (a catch-up frame's) goes in its place.
    /// A report of a tick already held is dropped, unless the held one could not start a
    /// disagreement and this one can (the sender's newest frame says it now).
    mutating func notePendingReport(_ r: PendingReport, from slot: Int) {
        // In place: a local copy would share the list's buffer, and changing it would copy it.
        if let i = pendingReports[slot].firstIndex(where: { $0.tick >= r.tick }) {
            guard pendingReports[slot][i].tick != r.tick else {
                if r.scope == .current, pendingReports[slot][i].scope != .current { pendingReports[slot][i] = r }
                return
            }
            pendingReports[slot].insert(r, at: i)
            if pendingReports[slot].count > 24 { pendingReports[slot].removeLast() }
        } else {
            let count = pendingReports[slot].count
            guard count < 8 || (count < 24 && r.tick >= pendingReports[slot][count - 1].tick + 8) else { return }
            pendingReports[slot].append(r)
        }
    }

    /// Compares the row reports we can now check with our own rows.
    mutating func checkReports() {
        let head = rowHead
        for s in 0..<players where !pendingReports[s].isEmpty {
            // Taken out of the list in place, which keeps its buffer for the next reports.
            var i = 0
            while i < pendingReports[s].count {
                let r = pendingReports[s][i]
                guard r.tick > confirmedBy[s] else { pendingReports[s].remove(at: i); continue }
                guard r.tick <= head else { i += 1; continue }
                pendingReports[s].remove(at: i)
                guard let ours = rowDigest(r.tick) else { continue }
                if r.scope == .olderEpoch {
                    // It holds our rows through there; what it says of later ones, it says in our epoch.
                    if ours == r.digest { confirmedBy[s] = r.tick }
                } else if ours == r.digest {
                    confirmedBy[s] = r.tick
                    mismatchSince[s] = nil
                } else if r.scope == .stale {
                    // Said before the sender's newest frame: it may have replaced the row since
                    // (``rereport``), and that frame's report, already read, says what it holds now.
                    continue
                } else if mismatchSince[s] == nil {
                    // Someone's inputs differ between us: show ours, with their statements.
                    mismatchSince[s] = (now, r.tick)
                    vouched[s] = []
                    disputed[s] = false
                    disputeSends = max(disputeSends, 4 * players)
                } else {
                    disputeSends = max(disputeSends, players)
                }
            }
        }
    }

    /// Our history of `slot` after `base` (at most ``Dispute/maxInputs``), ending at an input
    /// for which we hold the slot's statement.
    mutating func disputeEntry(slot s: Int, base: Int, limit: Int = Dispute.maxInputs) -> DisputeEntry? {
        let ticks = presentTicks(s, after: base, count: limit).prefix { $0 <= chains[s].head }
        for n in stride(from: ticks.count, to: 0, by: -1) {
            let e = ticks[n - 1]
            let signature = s == localSlot ? statement(at: e) : statements[s][e]
            guard let signature else { continue }
            var inputs: [InputBytes] = []
            for t in ticks.prefix(n) {
                guard let input = input(slot: s, tick: t) else { return nil }
                inputs.append(input)
            }
            return DisputeEntry(slot: s, inputs: inputs, signature: signature)
        }
        return nil
    }

    /// The ticks of `s`'s next `count` inputs after `base`, which a dispute entry of `s` from
    /// `base` holds: the roster has a readmitted slot give none in its absences, so those ticks
    /// are skipped (its chain keeps its value through them). Sender and receiver are in one
    /// epoch, so they skip the same ticks.
    func presentTicks(_ s: Int, after base: Int, count: Int) -> [Int] {
        var ticks: [Int] = []
        ticks.reserveCapacity(count)
        var t = base + 1
        while ticks.count < count {
            if let a = absent[s], a.contains(t) {
                t = a.upperBound
            } else if let e = earlierAbsences.first(where: { $0.slot == s && $0.range.contains(t) }) {
                t = e.range.upperBound
            } else {
                ticks.append(t)
                t += 1
            }
        }
        return ticks
    }

    /// A dispute from `sender`: any relayed history that differs from ours and carries a valid
    /// statement of its slot proves that slot equivocated (the inputs we hold came from the slot
    /// itself).
    mutating func examine(_ d: Dispute, from sender: Int) -> [LockstepEvent] {
        // Comparing is cheap; checking a statement costs a signature check: one examination with
        // checks per sender per 50 ms.
        let mayVerify = lastDisputeFrom[sender].map { now - $0 >= .milliseconds(50) } ?? true
        if mismatchSince[sender] != nil {
            disputed[sender] = true
            lastDisputeAt = now
        }
        if d.base < nextTick - 1 { behindDispute = (d.base, now) }
        var events: [LockstepEvent] = []
        for e in d.entries where e.slot != localSlot && inRows(e.slot, d.base + 1) {
            guard var chain = chains[e.slot].value(at: d.base) else { continue }
            var differs: Int?
            var compared = d.base
            let ticks = presentTicks(e.slot, after: d.base, count: e.inputs.count)
            for (input, tick) in zip(e.inputs, ticks) {
                guard inRows(e.slot, tick), let ours = self.input(slot: e.slot, tick: tick) else { break }
                if ours != input { differs = tick; break }
                compared = tick
            }
            guard let tick = differs else {
                // The sender holds this slot's inputs as we do, through the tick its rows first
                // disagreed with ours: that slot is not why they disagree. (The statement is not
                // checked: the inputs are ours, so a bad one could only hide a liar's own fault.)
                if let m = mismatchSince[sender], compared >= m.tick { vouched[sender].insert(e.slot) }
                // It showed the slot's history only as far as it holds a statement of it, and we
                // hold a later one: its rows may disagree with someone's past there, over the
                // slot's unsigned inputs, while its reports, held back by its votes, show us
                // none of it. Our disputes show it the signed history (sweep seed 97 run 745).
                if let ours = statements[e.slot].keys.max(), ours > compared, chains[e.slot].head >= ours {
                    disputeSends = max(disputeSends, players)
                }
                continue
            }
            guard mayVerify else { continue }
            lastDisputeFrom[sender] = now
            lastDisputeAt = now
            for input in e.inputs { chain = InputChain.next(chain, input) }
            let end = ticks.last ?? d.base
            let bytes = InputChain.statementBytes(session: keys.sessionHash, slot: e.slot, tick: end, chain: chain)
            guard keys.verify(slot: e.slot, signature: e.signature, bytes: bytes) else { continue }
            if holdsValidStatement(e.slot, from: tick) {
                events += convict(e.slot, tick: tick, relayedBy: sender)
            } else if sender != e.slot, !appliedBySomeone(tick, besides: e.slot) || tick < returnTick {
                // Only a history relayed by another player: the slot's own dispute could hand us
                // a history it signed after the others applied the one it sent them. A row before
                // our own return (we came back, or joined, from a checkpoint) was confirmed and
                // applied without us: that the others applied it does not make our copy theirs.
                let seen = unsignedConflictSince[e.slot] ?? now
                unsignedConflictSince[e.slot] = seen
                // Before our return, a row the sender says it applied was confirmed by every
                // player but us: the history it shows is the one they applied, and waiting for
                // another copy only leaves our rows disagreeing with all of theirs (our copy can
                // be checked only against disputes from before the slot's first unsigned input,
                // which the others send only now and then; sweep seed 125 run 994).
                let appliedBySender = tick < returnTick && traffic[sender].remoteNextTick > tick
                if appliedBySender || adoptedFrom.contains(e.slot) || now - seen >= Self.unsignedGrace { events += adoptSigned(e, base: d.base, from: tick) }
            }
        }
        return events
    }

    /// How long after a relayed signed history of a slot first differed from our unsigned copy we
    /// take it in place of ours (``adoptSigned``): while rows disagree every frame carries a
    /// statement, so a history the slot signed for us too arrives well within this, and the lie
    /// is proven instead.
    static var unsignedGrace: Duration { .seconds(1) }

    /// The tick our own inputs count from, when we resumed as a returning player or a newcomer
    /// (0 otherwise): rows before it were agreed without us.
    var returnTick: Int { localSlot >= 0 ? absent[localSlot]?.upperBound ?? 0 : 0 }

    /// Whether a player other than `liar` says in its frames that it applied `tick` (rows are
    /// applied only when every player confirmed them, so our copy of that row was confirmed:
    /// nothing there may be replaced). The liar's own claim would let it block the adoption.
    func appliedBySomeone(_ tick: Int, besides liar: Int) -> Bool {
        for p in 0..<players where p != localSlot && p != liar && dropTick[p] == nil && traffic[p].remoteNextTick > tick { return true }
        return false
    }

    /// Whether we hold `s`'s valid statement over our own copy of its inputs at some tick from
    /// `tick` on (our disputes then prove its equivocation to everyone).
    mutating func holdsValidStatement(_ s: Int, from tick: Int) -> Bool {
        // The nearest few from `tick` on (a liar may have made some junk); an invalid one is
        // forgotten, so that our disputes never relay it.
        for _ in 0..<4 {
            var nearest: Int?
            for t in statements[s].keys where t >= tick && t < (nearest ?? .max) { nearest = t }
            guard let t = nearest, let chain = chains[s].value(at: t), let signature = statements[s][t] else { return false }
            let bytes = InputChain.statementBytes(session: keys.sessionHash, slot: s, tick: t, chain: chain)
            if keys.verify(slot: s, signature: signature, bytes: bytes) { return true }
            statements[s][t] = nil
        }
        return false
    }

    /// A relayed history of `e.slot` carries the slot's valid statement and differs from ours
    /// from `tick` on, where nothing the slot signed covers our copy: the slot sent us inputs it
    /// never signed. Nobody we could show them to could tell the slot from us lying, so voting it
    /// out would only freeze us; instead we take the history it signed, as another player relayed
    /// it, in place of ours, from a tick no player's frames say it applied (and we did not: rows
    /// that disagree are never applied). We vote against the slot once another player does.
    mutating func adoptSigned(_ e: DisputeEntry, base: Int, from tick: Int) -> [LockstepEvent] {
        let s = e.slot
        guard s != localSlot, inRows(s, tick), tick >= nextTick, tick > base, tick >= chains[s].from, chains[s].head >= tick - 1 else { return [] }
        let ticks = presentTicks(s, after: base, count: e.inputs.count)
        for (input, t) in zip(e.inputs, ticks) where t >= tick {
            if store(input, slot: s, tick: t, replacing: true) == .outOfRange { break }
        }
        rewind(s, from: tick)
        advanceChain(s)
        if let end = ticks.last { statements[s][end] = e.signature }
        // Not proven before: we did not convict it (a conviction's vote stands).
        let newlyProven = provenEquivocators.insert(s).inserted
        var events: [LockstepEvent] = []
        // A vote we cast before, for rows that disagreed with ours, stood on the copy we just
        // replaced: withdrawn, unless we convicted the slot or another player votes it out (both
        // hold proof). Once the slot is marked proven, no acknowledgement withdraws it, and it
        // would hold back every row after it for good (sweep seed 125 run 994).
        if adoptedFrom.insert(s).inserted, newlyProven, !(0..<players).contains(where: { $0 != localSlot && peerVotes[$0][s] != nil }) {
            events += withdrawVote(s)
        }
        if newlyProven { events.append(.equivocation(slot: s, tick: tick)) }
        return events
    }

    /// `s`'s inputs from `tick` on were replaced: its chain, every row digest and every
    /// confirmation from there stood on the old ones, and its statements from there cover the
    /// old ones (our disputes must not show them as its history). Forgets them
    /// (``advanceChain(_:)`` recomputes the chain, and the reports ask again); a row our frames
    /// already reported on is reported again (``rereport``).
    mutating func rewind(_ s: Int, from tick: Int) {
        statements[s] = statements[s].filter { $0.key < tick }
        var chain = chains[s]
        let keep = tick - chain.from
        if keep >= 0, keep < chain.values.count { chain.values.removeLast(chain.values.count - keep) }
        chains[s] = chain
        rowDigests.removeAll(from: tick)
        for p in 0..<players { confirmedBy[p] = min(confirmedBy[p], tick - 1) }
        if reportedHead >= tick { rereport = (min(rereport?.tick ?? tick, tick), Self.rereportSends) }
    }

    /// `slot` committed to two histories first differing at `tick`: named once, voted out, and
    /// (when another peer showed the other history) dropped from no later than that tick.
    mutating func convict(_ slot: Int, tick: Int, relayedBy: Int?) -> [LockstepEvent] {
        guard slot != localSlot, dropTick[slot] == nil else { return [] }
        // A lie from before the slot's readmission is one the roster already forgave (every
        // player forgot what it knew of it, ``readmit(_:)``), and rows that every player applied:
        // a proof only some of us can check would have them vote out a player the rest hear.
        if let back = absent[slot]?.upperBound, tick < back { return [] }
        var events: [LockstepEvent] = []
        if let relay = relayedBy, relay != slot { conflictTick[slot] = min(conflictTick[slot] ?? tick, tick) }
        if provenEquivocators.insert(slot).inserted { events.append(.equivocation(slot: slot, tick: tick)) }
        if localSlot >= 0, votes[slot] == nil { events += vote(slot) }
        return events
    }

    mutating func compare(tick: Int) -> [LockstepEvent] {
        guard let local = localChecksums[tick], let remote = remoteChecksums[tick] else { return [] }
        if tick > checksumsAgreedThrough {
            var all = true
            for s in 0..<players where s != localSlot && dropTick[s] == nil && remote[s] != local { all = false; break }
            if all { checksumsAgreedThrough = tick }
        }
        let known = reportedDesyncs[tick] ?? []
        let differing = remote.filter { $0.value != local && !known.contains($0.key) }.map(\.key).sorted()
        guard !differing.isEmpty else { return [] }
        reportedDesyncs[tick] = known.union(differing)
        return [.desync(tick: tick, slots: differing, local: local)]
    }

    // MARK: Stats

    /// Submit-to-acknowledged-by-every-active-player times of our inputs since the last call:
    /// an upper bound on input latency (it includes the acknowledgement's way back).
    public mutating func takeAckLatencies() -> [Duration] {
        defer { ackLatencies = [] }
        return ackLatencies
    }

    mutating func noteAckedByAll() {
        var m = Int.max
        for s in 0..<players where s != localSlot && dropTick[s] == nil { m = min(m, acked[s]) }
        guard m != Int.max, m > ackedByAll else { return }
        for t in (ackedByAll + 1)...m {
            if let sent = submitTimes[t], ackLatencies.count < 100_000 { ackLatencies.append(now - sent) }
        }
        ackedByAll = m
    }

    mutating func advanceClock(_ t: Duration) {
        if t > now { now = t }
        // Silence is measured from the first time we learn the clock, not from zero.
        for s in 0..<players where lastHeard[s] == nil { lastHeard[s] = now }
    }

    /// Ticks we are ahead of `s`, advanced by the time since we heard from it. A player's
    /// game submits its input for tick t + inputDelay when it applies tick t, so our newest
    /// input against the newest of `s`'s is how far our game loop runs ahead of its. The next
    /// tick each peer hands its game (`nextTick`) would not show it: a tick is handed over once
    /// agreed, and agreement is shared, so a game that applies each tick the moment it is
    /// agreed and one that holds three agreed ticks in hand read the same. (A spectator, which
    /// makes no inputs, compares next ticks.)
    func framesAhead(of s: Int) -> Int {
        let heard = lastHeard[s] ?? now
        let tickNs = 1_000_000_000 / Int64(configuration.tickRate)
        let since = Int((now - heard).nanosecondsClamped / tickNs)
        guard localSlot >= 0, traffic[s].remoteNewestInput >= 0 else { return nextTick - (traffic[s].remoteNextTick + since) }
        return (nextLocalTick - 1) - (traffic[s].remoteNewestInput + since)
    }

    func stats(slot s: Int) -> PlayerNetworkStats {
        let t = traffic[s]
        return PlayerNetworkStats(
            slot: s, active: dropTick[s] == nil, roundTrip: t.roundTrip, framesAhead: framesAhead(of: s),
            kbpsIn: t.kbps, loss: t.loss, repairedInputs: t.repaired, silence: now - (lastHeard[s] ?? now))
    }
}

extension Duration {
    /// Whole nanoseconds (the one conversion every module of the package uses).
    package var nanosecondsClamped: Int64 {
        let c = components
        return c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000
    }
}

extension LockstepEvent: CustomStringConvertible {
    /// One line for logs and on-screen messages. Slots are shown 0-based as `slot N`.
    public var description: String {
        switch self {
        case let .desync(tick, slots, local):
            "desync at tick \(tick): slots \(slots.map(String.init).joined(separator: ", ")) disagree with our checksum \(local)"
        case let .forgedInput(claimed, from): "forged frame: slot \(from) claimed to be slot \(claimed) (ignored)"
        case let .equivocation(slot, tick):
            "slot \(slot) sent different players different inputs (first at tick \(tick)): proven by its signatures"
        case let .configurationMismatch(slot):
            "slot \(slot) runs different session parameters (players, tick rate or checksum interval): its frames are ignored"
        case let .peerSilent(slot): "waiting for slot \(slot): nothing heard"
        case let .peerResumed(slot): "slot \(slot) is back"
        case let .dropProposed(slot, held): "proposing to drop slot \(slot) (silent; its inputs held through tick \(held))"
        case let .dropped(slot, tick): "slot \(slot) dropped from tick \(tick) (agreed by every survivor)"
        case let .halted(reason): "halted: \(reason)"
        case let .inputDelayChanged(delay, tick): "input delay is now \(delay) ticks (after tick \(tick))"
        case let .violation(slot, v): "slot \(slot) broke the protocol: \(v)"
        case .started: "every player signed the roster: the match starts"
        case let .changeRefused(epoch, round): "the roster change proposed for epoch \(epoch) (round \(round)) was refused: the players it dropped are playing"
        case let .readmitted(slot, tick): "slot \(slot) is back: it plays again from tick \(tick) (agreed by the roster)"
        case let .resumed(tick): "resumed from the checkpoint before tick \(tick): catching up"
        case let .joined(slot, tick): "a newcomer fills open slot \(slot): it plays from tick \(tick) (agreed by the roster)"
        }
    }
}

/// ``LockstepSession/repairView(excluding:)``: one entry per active slot, in slot order.
package struct RepairView: Sendable {
    package init() {}
    package var halted = false
    package var slots: [Int] = []
    package var held: [Int] = []
    package var acknowledged: [Int] = []
    package var lastHeard: [Duration?] = []
    /// How much later than its round trip each slot's frame may come, in nanoseconds
    /// (`SlotTraffic.lateMargin`).
    package var lateMargin: [Int64] = []
}
