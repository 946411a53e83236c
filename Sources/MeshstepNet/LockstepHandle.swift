import MeshstepLockstep
import MeshstepSession

/// What a game loop needs of a lockstep session on a real network, whichever shell runs it:
/// ``LockstepPeer`` (the network's work on an event loop) or ``PolledLockstepPeer`` (on the
/// calling thread). Headless bots and tools written against it run on either.
public protocol LockstepHandle<Input>: AnyObject, Sendable {
    /// The game's input type.
    associatedtype Input: LockstepInput
    /// The session settings every player shares.
    var configuration: LockstepConfiguration { get }
    /// This peer's part: a player's slot, or spectator.
    var role: LockstepRole { get }
    /// Why the session stopped for good, or nil while it runs.
    var halted: HaltReason? { get }
    /// True once every player signed the roster (tick 0 may be applied from then on).
    var allPlayersPresent: Bool { get }
    /// Where the session stands and what it measured of the other players.
    var stats: SessionStats? { get }
    /// The game state this peer resumed from, once (see ``LockstepPeer/takeResumedGame()``).
    func takeResumedGame() -> ResumedGame?
    /// The ticks now complete, with the moment (monotonic uptime nanoseconds) each was seen
    /// complete.
    func pollConfirmedTimed() -> [(tick: Int, inputs: [Input?], at: UInt64)]
    /// `(tick, uptime nanoseconds)` of each local input submitted since the last call.
    func takeSubmitTimes() -> [(tick: Int, at: UInt64)]
    /// Starts recording when each other player's input becomes held here.
    func recordArrivals()
    /// `(slot, tick, uptime nanoseconds)` of the other players' inputs held since the last call.
    func takeArrivals() -> [(slot: Int, tick: Int, at: UInt64)]
    /// Session events since the last call.
    func pollEvents() -> [LockstepEvent]
    /// Network errors since the last call.
    func pollErrors() -> [NetError]
    /// Passes on an applied tick (checksum, answering input) and the game after it.
    func apply<Game: LockstepGame>(_ tick: AppliedTick<Input>, game: Game) where Game.Input == Input
    /// Hands the game after `tick` to the session when a newcomer needs a checkpoint of it: call
    /// it with the tick applied last on a frame that applied nothing (see
    /// ``LockstepPeer/offerCheckpoint(after:game:)``).
    func offerCheckpoint<Game: LockstepGame>(after tick: Int, game: Game) where Game.Input == Input
    /// A snapshot of the session, once started.
    func withSession<T: Sendable>(_ body: @escaping @Sendable (LockstepSession<Input>) -> T) -> T?
    /// Starts the peer over after its session halted, asking to come back into the match.
    func rejoin() throws(RejoinError)
    /// Waits until the other players have our last frames (see ``LockstepPeer/finish(timeout:)``).
    @discardableResult func finish(timeout: Duration) -> Bool
    /// Leaves the mesh cleanly.
    func leave()
}

extension LockstepPeer: LockstepHandle {}
extension PolledLockstepPeer: LockstepHandle {}
