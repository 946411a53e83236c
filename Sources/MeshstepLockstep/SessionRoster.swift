import Crypto
import MeshstepWire

/// What every player of one session agrees on before tick 0: who holds each slot (by Ed25519
/// public key) and the parameters the game runs with. Its ``hash`` names the session on the wire
/// (frames carry its first four bytes) and is what roster certificates are signed over, so a key
/// outside the descriptor can never play a slot and a certificate of one session is worthless in
/// another.
///
/// Encoding (docs/PROTOCOL.md, Appendix C): `"meshstep-session-v1" | lengthPrefixed(name) |
/// u8 players | u16 tickRate | u8 inputDelay | u16 checksumInterval | u8 toleratedLiars |
/// u64 gameSeed | players x 32-byte key`; with open slots the magic is `"meshstep-session-v2"`
/// and a `u64` mask of the open slots (bit `s` for slot `s`) follows the seed, their keys being
/// 32 zero bytes. The hash is SHA-256 of those bytes.
public struct SessionDescriptor: Sendable, Equatable {
    /// The session's name (the mesh ID for the bots and the demo), at most 64 bytes of UTF-8.
    public var name: String
    /// `keys[slot]`: the raw 32-byte Ed25519 public key that plays `slot`.
    public var keys: [[UInt8]]
    /// Ticks per second the game runs at (``LockstepConfiguration/tickRate``).
    public var tickRate: Int
    /// The input delay in ticks the session starts with; it may change later through the inputs.
    public var inputDelay: Int
    /// A checksum is compared every this many ticks (``LockstepConfiguration/checksumInterval``).
    public var checksumInterval: Int
    /// How many lying players the roster quorums are sized for (see ``RosterQuorum``).
    public var toleratedLiars: Int
    /// The game's shared seed.
    public var gameSeed: UInt64
    /// Slots that start empty and may be filled while the game runs
    /// (``LockstepConfiguration/openSlots``), ascending; their ``keys`` are 32 zero bytes.
    public var openSlots: [Int]

    /// Number of player slots: one per key.
    public var players: Int { keys.count }

    /// The key standing for an open slot's missing player.
    public static let openSlotKey = [UInt8](repeating: 0, count: 32)

    /// A descriptor giving `keys[slot]` each slot, with the shared values of `configuration`
    /// (tick rate, input delay, checksum interval, tolerated liars, open slots). The keys of
    /// open slots are replaced by ``openSlotKey``. Nothing else is checked here: see
    /// ``validate(against:)``.
    public init(name: String, keys: [[UInt8]], configuration: LockstepConfiguration, gameSeed: UInt64) {
        self.name = name
        let open = configuration.openSlots.sorted()
        self.keys = keys.enumerated().map { open.contains($0.offset) ? Self.openSlotKey : $0.element }
        tickRate = configuration.tickRate
        inputDelay = configuration.inputDelay
        checksumInterval = configuration.checksumInterval
        toleratedLiars = configuration.toleratedLiars
        self.gameSeed = gameSeed
        openSlots = open
    }

    /// Whether `slot` starts empty and may be filled while the game runs.
    public func isOpen(_ slot: Int) -> Bool { openSlots.contains(slot) }

    /// The slots that have a player at the start, ascending.
    public var filledSlots: [Int] { (0..<players).filter { !isOpen($0) } }

    /// Checks the descriptor against the configuration this peer was started with.
    public func validate(against c: LockstepConfiguration) throws(LockstepConfigurationError) {
        guard name.utf8.count <= 64 else { throw .sessionNameTooLong(bytes: name.utf8.count) }
        guard keys.count == c.players else { throw .rosterSize(keys: keys.count, players: c.players) }
        guard openSlots == c.openSlots.sorted() else { throw .invalidOpenSlots(openSlots) }
        guard keys.allSatisfy({ $0.count == 32 }) else { throw .invalidRosterKey }
        if let s = openSlots.first(where: { keys[$0] != Self.openSlotKey }) { throw .keyForOpenSlot(slot: s) }
        let filled = filledSlots.map { keys[$0] }
        guard Set(filled).count == filled.count else { throw .duplicateRosterKey }
        guard filled.allSatisfy({ (try? Curve25519.Signing.PublicKey(rawRepresentation: $0)) != nil }) else {
            throw .invalidRosterKey
        }
    }

    /// The encoding given in ``SessionDescriptor``, each number clamped to its field's width;
    /// ``hash`` is taken over these bytes.
    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: 72 + keys.count * 32)
        w.raw(Array((openSlots.isEmpty ? "meshstep-session-v1" : "meshstep-session-v2").utf8))
        w.lengthPrefixed(Array(name.utf8))
        w.u8(UInt8(clamping: players))
        w.u16(UInt16(clamping: tickRate))
        w.u8(UInt8(clamping: inputDelay))
        w.u16(UInt16(clamping: checksumInterval))
        w.u8(UInt8(clamping: toleratedLiars))
        w.u64(gameSeed)
        if !openSlots.isEmpty { w.u64(openSlots.reduce(UInt64(0)) { $0 | 1 << UInt64($1 & 63) }) }
        for k in keys { w.raw(k) }
        return w.bytes
    }

    /// SHA-256 of ``encode()``.
    public var hash: [UInt8] { Array(SHA256.hash(data: encode())) }
}

/// Quorum arithmetic for roster changes. With `n` players in the current roster of which at most
/// `b` lie, a change needs signatures from more than `(n + b) / 2` of them: any two such sets
/// intersect in at least one honest player, and an honest player signs one change per round of an
/// epoch (and signs in a later round only once a quorum refused the earlier one, see
/// ``RoundAbandonment``), so two different changes can never both be certified for one epoch. With `b = 0` an exact half
/// also counts when it holds the lowest slot of the roster (two such halves share that slot).
public enum RosterQuorum {
    /// Whether `signers` (distinct slots of `roster`, sorted ascending) form a quorum.
    public static func holds(_ signers: [Int], of roster: [Int], liars b: Int) -> Bool {
        let n = roster.count, k = signers.count
        if 2 * k > n + b { return true }
        return b == 0 && 2 * k == n && roster.first.map(signers.contains) == true
    }
}

/// A change of the roster: the slots dropped in `epoch`, each from its tick on, and the slots
/// readmitted (a dropped player that came back), proposed in `round` of that epoch (a round that
/// a quorum vetoed is abandoned, and the next one may propose again; see ``RoundAbandonment``).
public struct RosterChange: Sendable, Equatable, Hashable {
    /// 1 for the first change of a session, then 2, 3, ...
    public var epoch: Int
    /// 0 for the first proposal of the epoch; one more after each abandoned round.
    public var round: Int
    /// `(slot, tick)` sorted by slot: the slot's input is nil from `tick` on.
    public var drops: [Drop]
    /// Dropped slots that play again, sorted by slot (never a slot of ``drops``).
    public var admits: [Admit]

    /// One slot leaving the roster, and the tick it leaves at.
    public struct Drop: Sendable, Equatable, Hashable {
        /// The slot dropped.
        public var slot: Int
        /// The first tick at which the slot's input is nil.
        public var tick: Int
        /// A drop of `slot` from `tick` on.
        public init(slot: Int, tick: Int) { self.slot = slot; self.tick = tick }
    }

    /// A vacant slot admitted: a dropped player's key came back (docs/LOCKSTEP.md, "Rejoin"),
    /// or a newcomer's ``key`` fills an open slot ("Late join into an open slot"). Every player
    /// keeps a checkpoint of the game before tick ``checkpoint`` for the newcomer, which resumes
    /// from it; the slot's inputs count from ``tick`` on (nil until then).
    public struct Admit: Sendable, Equatable, Hashable {
        /// The slot admitted.
        public var slot: Int
        /// The tick whose state (before it is applied) every player keeps for the newcomer.
        public var checkpoint: Int
        /// The first tick at which the slot's input counts again (after ``checkpoint``).
        public var tick: Int
        /// The raw Ed25519 key bound to the open slot from now on; nil when the slot's own key
        /// returns.
        public var key: [UInt8]?
        /// `slot` resumes from the state before `checkpoint` and plays from `tick` on, with
        /// `key` when a newcomer fills an open slot.
        public init(slot: Int, checkpoint: Int, tick: Int, key: [UInt8]? = nil) {
            self.slot = slot
            self.checkpoint = checkpoint
            self.tick = tick
            self.key = key
        }

        func encode(into w: inout ByteWriter) {
            w.u8(UInt8(slot))
            w.varint(UInt64(checkpoint))
            w.varint(UInt64(tick))
            if let key { w.u8(1); w.raw(key) } else { w.u8(0) }
        }

        static func decode(from r: inout ByteReader, players: Int, field: String) throws(WireError) -> Admit {
            let slot = Int(try r.u8())
            guard slot < players else { throw .invalidValue(field: field + "Slot") }
            let checkpoint = try r.count(field: field + "Checkpoint", limit: Int(Int32.max))
            let tick = try r.count(field: field + "Tick", limit: Int(Int32.max))
            guard tick > checkpoint else { throw .invalidValue(field: field + "Tick") }
            switch try r.u8() {
            case 0: return Admit(slot: slot, checkpoint: checkpoint, tick: tick)
            case 1: return Admit(slot: slot, checkpoint: checkpoint, tick: tick, key: try r.raw(32))
            default: throw .invalidValue(field: field + "Key")
            }
        }
    }

    /// A change for `round` (0 by default) of `epoch`; `drops` and `admits` are sorted by slot here.
    public init(epoch: Int, round: Int = 0, drops: [Drop], admits: [Admit] = []) {
        self.epoch = epoch
        self.round = round
        self.drops = drops.sorted { $0.slot < $1.slot }
        self.admits = admits.sorted { $0.slot < $1.slot }
    }

    /// The most rounds one epoch may take (each needs a quorum's vetoes).
    public static let maxRound = 65535

    /// The bytes a player signs: `"meshstep-roster-v4" | session hash (32) | varint epoch |
    /// varint round | varint drops | (u8 slot | varint tick) x drops | varint admits |
    /// (u8 slot | varint checkpoint | varint tick | u8 hasKey | [32-byte key]) x admits`.
    public func signedBytes(session: [UInt8]) -> [UInt8] {
        var w = ByteWriter(capacity: 64 + drops.count * 4 + admits.count * 40)
        w.raw(Array("meshstep-roster-v4".utf8))
        w.raw(session)
        encode(into: &w)
        return w.bytes
    }

    func encode(into w: inout ByteWriter) {
        w.varint(UInt64(epoch))
        w.varint(UInt64(round))
        w.varint(UInt64(drops.count))
        for d in drops { w.u8(UInt8(d.slot)); w.varint(UInt64(d.tick)) }
        w.varint(UInt64(admits.count))
        for a in admits { a.encode(into: &w) }
    }

    static func decode(from r: inout ByteReader, players: Int) throws(WireError) -> RosterChange {
        let epoch = try r.count(field: "roster.epoch", limit: 255)
        guard epoch >= 1 else { throw .invalidValue(field: "roster.epoch") }
        let round = try r.count(field: "roster.round", limit: maxRound)
        let n = try r.count(field: "roster.drops", limit: players)
        var drops: [Drop] = []
        for _ in 0..<n {
            let s = Int(try r.u8())
            guard s < players, drops.last.map({ $0.slot < s }) ?? true else { throw .invalidValue(field: "roster.dropSlot") }
            drops.append(Drop(slot: s, tick: try r.count(field: "roster.dropTick", limit: Int(Int32.max))))
        }
        let m = try r.count(field: "roster.admits", limit: players)
        guard n + m >= 1 else { throw .invalidValue(field: "roster.drops") }
        var admits: [Admit] = []
        for _ in 0..<m {
            let a = try Admit.decode(from: &r, players: players, field: "roster.admit")
            guard admits.last.map({ $0.slot < a.slot }) ?? true, !drops.contains(where: { $0.slot == a.slot }) else {
                throw .invalidValue(field: "roster.admitSlot")
            }
            admits.append(a)
        }
        return RosterChange(epoch: epoch, round: round, drops: drops, admits: admits)
    }
}

/// A player's refusal of a round: "I have not signed, and will never sign, a change in round
/// `round` of epoch `epoch`". An honest player vetoes only a change it knows to be wrong (it
/// holds the input of a dropped slot at that slot's drop tick: the slot played on), and never
/// both endorses and vetoes one round.
public enum RosterVeto {
    /// The bytes a player signs: `"meshstep-veto-v1" | session hash (32) | varint epoch |
    /// varint round`.
    public static func signedBytes(session: [UInt8], epoch: Int, round: Int) -> [UInt8] {
        var w = ByteWriter(capacity: 64)
        w.raw(Array("meshstep-veto-v1".utf8))
        w.raw(session)
        w.varint(UInt64(epoch))
        w.varint(UInt64(round))
        return w.bytes
    }
}

/// Vetoes from a quorum of the roster for one round: proof that no change of that round can
/// ever be certified (any two quorums share an honest player, who signs one or the other, never
/// both), so the players that signed a change in it may go on, and the next round may propose
/// again.
public struct RoundAbandonment: Sendable, Equatable {
    /// The epoch the refused round belongs to.
    public var epoch: Int
    /// The refused round of that epoch.
    public var round: Int
    /// Signatures over ``RosterVeto/signedBytes(session:epoch:round:)``, sorted by slot.
    public var vetoes: [RosterSignature]

    /// An abandonment of `round` of `epoch`; `vetoes` are sorted by slot here.
    public init(epoch: Int, round: Int, vetoes: [RosterSignature]) {
        self.epoch = epoch
        self.round = round
        self.vetoes = vetoes.sorted { $0.slot < $1.slot }
    }

    func encode(into w: inout ByteWriter) {
        w.varint(UInt64(epoch))
        w.varint(UInt64(round))
        RosterSignature.encode(vetoes, into: &w)
    }

    static func decode(from r: inout ByteReader, players: Int) throws(WireError) -> RoundAbandonment {
        let epoch = try r.count(field: "abandonment.epoch", limit: 255)
        guard epoch >= 1 else { throw .invalidValue(field: "abandonment.epoch") }
        let round = try r.count(field: "abandonment.round", limit: RosterChange.maxRound)
        return RoundAbandonment(epoch: epoch, round: round, vetoes: try RosterSignature.decodeList(from: &r, players: players, field: "abandonment.veto"))
    }
}

/// One player's signature on a roster change (or on a veto of a round).
public struct RosterSignature: Sendable, Equatable, Hashable {
    /// The slot whose roster key signed.
    public var slot: Int
    /// 64-byte Ed25519 signature over ``RosterChange/signedBytes(session:)``.
    public var signature: [UInt8]
    /// The signature of the player in `slot`.
    public init(slot: Int, signature: [UInt8]) { self.slot = slot; self.signature = signature }

    /// `varint k | k x (u8 slot, 64-byte signature)`, slots ascending (sorted by the caller).
    static func encode(_ list: [RosterSignature], into w: inout ByteWriter) {
        w.varint(UInt64(list.count))
        for s in list { w.u8(UInt8(s.slot)); w.raw(s.signature) }
    }

    /// The list ``encode(_:into:)`` writes: at most `players`, slots below `players` and ascending.
    static func decodeList(from r: inout ByteReader, players: Int, field: String) throws(WireError) -> [RosterSignature] {
        let n = try r.count(field: field, limit: players)
        var list: [RosterSignature] = []
        for _ in 0..<n {
            let s = Int(try r.u8())
            guard s < players, list.last.map({ $0.slot < s }) ?? true else { throw .invalidValue(field: field + "Slot") }
            list.append(RosterSignature(slot: s, signature: try r.raw(64)))
        }
        return list
    }
}

/// A roster change with signatures from a quorum of the roster it changes: the only thing that
/// makes a peer drop a slot.
public struct RosterCertificate: Sendable, Equatable {
    /// The change certified.
    public var change: RosterChange
    /// Signatures over the change's ``RosterChange/signedBytes(session:)``, sorted by slot.
    public var signatures: [RosterSignature]
    /// A certificate of `change`; `signatures` are sorted by slot here (the quorum is checked by
    /// the session that receives it, not here).
    public init(change: RosterChange, signatures: [RosterSignature]) {
        self.change = change
        self.signatures = signatures.sorted { $0.slot < $1.slot }
    }

    func encode(into w: inout ByteWriter) {
        change.encode(into: &w)
        RosterSignature.encode(signatures, into: &w)
    }

    static func decode(from r: inout ByteReader, players: Int) throws(WireError) -> RosterCertificate {
        let change = try RosterChange.decode(from: &r, players: players)
        return RosterCertificate(change: change, signatures: try RosterSignature.decodeList(from: &r, players: players, field: "roster.signature"))
    }
}

/// The keys a session checks signatures with, and this peer's own signer (nil for a spectator).
/// A slot's key is the descriptor's, until a certified roster change binds an open slot to a
/// newcomer's key (``bind(slot:key:)``).
public struct SessionKeys: Sendable {
    /// The descriptor the keys come from: each slot's signatures are checked with the key it
    /// gives that slot (or the key an admission bound to an open slot since).
    public let descriptor: SessionDescriptor
    /// SHA-256 of the descriptor.
    public let sessionHash: [UInt8]
    /// `bound[slot]`: the raw key playing the slot now (``SessionDescriptor/openSlotKey`` for an
    /// open slot nobody filled yet).
    public private(set) var bound: [[UInt8]]
    var publicKeys: [Curve25519.Signing.PublicKey?]
    let signer: (@Sendable ([UInt8]) -> [UInt8])?

    /// The keys of `descriptor`'s roster, checked (each a valid Ed25519 public key; open slots
    /// have none yet).
    /// - Parameters:
    ///   - descriptor: the session every player signed: its roster keys and parameters.
    ///   - signer: signs bytes with the private key of the local slot's roster key
    ///     (Ed25519); nil for a spectator.
    /// - Throws: ``LockstepConfigurationError/invalidRosterKey``.
    public init(descriptor: SessionDescriptor, signer: (@Sendable ([UInt8]) -> [UInt8])?) throws(LockstepConfigurationError) {
        guard descriptor.keys.allSatisfy({ $0.count == 32 }) else { throw .invalidRosterKey }
        var keys: [Curve25519.Signing.PublicKey?] = []
        for (slot, k) in descriptor.keys.enumerated() {
            if descriptor.isOpen(slot) { keys.append(nil); continue }
            guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: k) else { throw .invalidRosterKey }
            keys.append(key)
        }
        self.descriptor = descriptor
        sessionHash = descriptor.hash
        bound = descriptor.keys
        publicKeys = keys
        self.signer = signer
    }

    /// The raw key playing `slot` now.
    public func key(of slot: Int) -> [UInt8] { bound[slot] }

    /// The slot `key` plays now, if any.
    public func slot(of key: [UInt8]) -> Int? {
        (0..<bound.count).first { bound[$0] == key && publicKeys[$0] != nil }
    }

    /// Binds open `slot` to `key` (a certified admission): from now on its signatures are
    /// checked with `key`. Returns false, changing nothing, for a slot that is not open, a key
    /// that is not a valid Ed25519 key, or one that already plays another slot.
    @discardableResult
    public mutating func bind(slot: Int, key: [UInt8]) -> Bool {
        guard let k = bindable(slot: slot, key: key) else { return false }
        bound[slot] = key
        publicKeys[slot] = k
        return true
    }

    /// The parsed `key` if ``bind(slot:key:)`` would accept it for `slot`.
    func bindable(slot: Int, key: [UInt8]) -> Curve25519.Signing.PublicKey? {
        guard descriptor.isOpen(slot), key.count == 32, self.slot(of: key).map({ $0 == slot }) ?? true else { return nil }
        return try? Curve25519.Signing.PublicKey(rawRepresentation: key)
    }

    /// The first four bytes of the session hash: frames of another session are told apart.
    public var digest: UInt32 {
        sessionHash.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }

    func verify(slot: Int, signature: [UInt8], bytes: [UInt8]) -> Bool {
        guard publicKeys.indices.contains(slot), signature.count == 64, let key = publicKeys[slot] else { return false }
        return key.isValidSignature(signature, for: bytes)
    }

    func sign(_ bytes: [UInt8]) -> [UInt8]? { signer?(bytes) }

    /// Deterministic keys for every slot from a seed, with each slot's signer: for tests and
    /// simulations in one process, where no key needs to stay secret.
    public static func generated(
        name: String = "test", configuration: LockstepConfiguration, gameSeed: UInt64 = 1,
        seed: UInt64
    ) -> (descriptor: SessionDescriptor, signers: [@Sendable ([UInt8]) -> [UInt8]]) {
        var privates: [Curve25519.Signing.PrivateKey] = []
        for slot in 0..<configuration.players {
            var h = SHA256()
            h.update(data: Array("meshstep-generated-key".utf8))
            withUnsafeBytes(of: seed.littleEndian) { h.update(bufferPointer: $0) }
            withUnsafeBytes(of: UInt64(slot).littleEndian) { h.update(bufferPointer: $0) }
            // 32 bytes always form a valid Ed25519 seed.
            privates.append(try! Curve25519.Signing.PrivateKey(rawRepresentation: Array(h.finalize())))
        }
        let descriptor = SessionDescriptor(
            name: name, keys: privates.map { Array($0.publicKey.rawRepresentation) },
            configuration: configuration, gameSeed: gameSeed)
        let signers: [@Sendable ([UInt8]) -> [UInt8]] = privates.map { key in { bytes in Array(try! key.signature(for: bytes)) } }
        return (descriptor, signers)
    }
}

extension SessionDescriptor {
    /// Total decoding of ``encode()``: any malformed byte throws.
    public static func decode(_ bytes: [UInt8]) throws(WireError) -> SessionDescriptor {
        var r = ByteReader(bytes)
        let magic = try r.raw(19)
        let v2 = magic == Array("meshstep-session-v2".utf8)
        guard v2 || magic == Array("meshstep-session-v1".utf8) else { throw .invalidValue(field: "session.magic") }
        let nameBytes = try r.lengthPrefixed(field: "session.name", limit: 64)
        guard let name = String(validating: nameBytes, as: UTF8.self) else { throw .invalidValue(field: "session.name") }
        let players = Int(try r.u8())
        guard (2...64).contains(players) else { throw .invalidValue(field: "session.players") }
        var c = LockstepConfiguration(players: players)
        c.tickRate = Int(try r.u16())
        c.inputDelay = Int(try r.u8())
        c.checksumInterval = Int(try r.u16())
        c.toleratedLiars = Int(try r.u8())
        let seed = try r.u64()
        if v2 {
            let mask = try r.u64()
            c.openSlots = (0..<players).filter { mask & 1 << UInt64($0) != 0 }
            guard mask >> UInt64(players) == 0, !c.openSlots.isEmpty, c.openSlots.count < players else {
                throw .invalidValue(field: "session.openSlots")
            }
        }
        var keys: [[UInt8]] = []
        for _ in 0..<players { keys.append(try r.raw(32)) }
        try r.expectEnd()
        let d = SessionDescriptor(name: name, keys: keys, configuration: c, gameSeed: seed)
        // Total: an open slot's key must be zeros on the wire too (the init would zero it).
        guard d.keys == keys else { throw .invalidValue(field: "session.openSlotKey") }
        return d
    }

    /// What a player signs to accept this descriptor before tick 0:
    /// `"meshstep-accept-v1" | hash (32)`.
    public var acceptanceBytes: [UInt8] { Array("meshstep-accept-v1".utf8) + hash }

    /// Whether `signature` is the acceptance of the key holding `slot` (never for an open slot).
    public func verifyAcceptance(slot: Int, signature: [UInt8]) -> Bool {
        guard keys.indices.contains(slot), !isOpen(slot), signature.count == 64,
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: keys[slot])
        else { return false }
        return key.isValidSignature(signature, for: acceptanceBytes)
    }

    /// Whether the values every peer must share match `c` (players, tick rate, checksum
    /// interval, tolerated liars, open slots); the input delay may differ (it is agreed through
    /// the inputs).
    public func matches(_ c: LockstepConfiguration) -> Bool {
        players == c.players && tickRate == c.tickRate && checksumInterval == c.checksumInterval && toleratedLiars == c.toleratedLiars
            && openSlots == c.openSlots.sorted()
    }
}
