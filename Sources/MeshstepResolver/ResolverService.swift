import Crypto
import DequeModule
import Logging
import MeshstepMesh
import MeshstepWire

/// Errors in a ``ResolverConfiguration``, each saying what to change.
public enum ResolverConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A field is out of range; the text says which, what is allowed and what was given.
    case invalidValue(String)

    public var description: String {
        switch self {
        case let .invalidValue(what): "invalid resolver configuration: \(what)"
        }
    }
}

/// Tunables of a ``ResolverService``. The defaults suit a public resolver for game sessions.
public struct ResolverConfiguration: Sendable, Equatable {
    /// The longest lifetime the resolver grants a registration (a client asking for more gets
    /// this). A refresh (a newer signed register) extends it from the time of the refresh.
    public var ttlSeconds: UInt32 = 30
    /// Most meshes with at least one registration.
    public var maxMeshes = 1024
    /// Most peers registered in one mesh; further new peers are refused with `meshFull`.
    public var maxPeersPerMesh = 256
    /// Most registrations over all meshes; further new ones are refused with `resolverFull`.
    public var maxRegistrations = 16_384
    /// How far a request's timestamp may be from the resolver's clock, either way.
    public var maxClockSkewSeconds: UInt32 = 120
    /// Requests per second allowed from one source: an IPv4 address, or an IPv6 /64 (one
    /// host's, or one home's, addresses), all ports together.
    public var requestsPerSecondPerSource = 20
    /// Burst allowed from one source.
    public var requestBurstPerSource = 60
    /// Most sources whose rate limit is tracked; the one tracked longest is forgotten first
    /// (in constant time).
    public var maxTrackedSources = 4096
    /// Most peers of one mesh registered from one source (an IPv4 address or an IPv6 /64): a
    /// host with throwaway keys cannot take a mesh's places, while the players of a LAN party
    /// behind one NAT still fit.
    public var maxPeersPerSourcePerMesh = 32
    /// Most registrations from one source over all meshes: one host cannot take the resolver's
    /// places by opening meshes of its own.
    public var maxRegistrationsPerSource = 128
    /// Signature checks (Ed25519, about 50 us each) per second over all sources together, with a
    /// burst of twice as many: requests from many addresses cannot take more than this share of
    /// a core. A register or unregister beyond it goes unanswered (the client retries).
    public var signatureChecksPerSecond = 2000

    /// The defaults described on each property.
    public init() {}

    /// Checks every field.
    /// - Throws: ``ResolverConfigurationError`` naming the field and its allowed range.
    public func validate() throws(ResolverConfigurationError) {
        guard ttlSeconds >= 1 && ttlSeconds <= 86_400 else { throw .invalidValue("ttl must be between 1 and 86400 seconds (got \(ttlSeconds))") }
        guard maxMeshes >= 1 && maxMeshes <= 1_000_000 else { throw .invalidValue("maxMeshes must be between 1 and 1000000 (got \(maxMeshes))") }
        guard maxPeersPerMesh >= 1 && maxPeersPerMesh <= 1_000_000 else {
            throw .invalidValue("max peers per mesh must be between 1 and 1000000 (got \(maxPeersPerMesh))")
        }
        guard maxRegistrations >= 1 && maxRegistrations <= 10_000_000 else {
            throw .invalidValue("maxRegistrations must be between 1 and 10000000 (got \(maxRegistrations))")
        }
        guard maxClockSkewSeconds >= 1 && maxClockSkewSeconds <= 3600 else {
            throw .invalidValue("maxClockSkewSeconds must be between 1 and 3600 (got \(maxClockSkewSeconds))")
        }
        guard requestsPerSecondPerSource >= 1 && requestsPerSecondPerSource <= 1_000_000,
            requestBurstPerSource >= 1 && requestBurstPerSource <= 1_000_000
        else {
            throw .invalidValue("per-source rate and burst must be between 1 and 1000000 (got \(requestsPerSecondPerSource)/s, burst \(requestBurstPerSource))")
        }
        guard signatureChecksPerSecond >= 1 && signatureChecksPerSecond <= 1_000_000 else {
            throw .invalidValue("signatureChecksPerSecond must be between 1 and 1000000 (got \(signatureChecksPerSecond))")
        }
        guard maxPeersPerSourcePerMesh >= 1 && maxPeersPerSourcePerMesh <= 1_000_000 else {
            throw .invalidValue("maxPeersPerSourcePerMesh must be between 1 and 1000000 (got \(maxPeersPerSourcePerMesh))")
        }
        guard maxRegistrationsPerSource >= 1 && maxRegistrationsPerSource <= 10_000_000 else {
            throw .invalidValue("maxRegistrationsPerSource must be between 1 and 10000000 (got \(maxRegistrationsPerSource))")
        }
        guard maxTrackedSources >= 1 && maxTrackedSources <= 10_000_000 else {
            throw .invalidValue("maxTrackedSources must be between 1 and 10000000 (got \(maxTrackedSources))")
        }
    }
}

/// Counters of a ``ResolverService``. Every received datagram lands in exactly one of
/// `registered`, `refreshed`, `unregistered`, `resolves` or a drop/refusal counter.
public struct ResolverStats: Sendable, Equatable, CustomStringConvertible {
    /// Datagrams received, before any check.
    public var received = 0
    /// New registrations.
    public var registered = 0
    /// Registrations extended by a newer signed register.
    public var refreshed = 0
    /// Registrations removed by a signed unregister.
    public var unregistered = 0
    /// Registrations that reached their TTL without a refresh.
    public var expired = 0
    /// Resolve requests answered.
    public var resolves = 0
    /// Introductions sent (``IntroduceMessage``), one per target of a resolve that asked for them.
    public var introductions = 0
    /// Datagrams that are not resolver requests (bad magic, version, kind, truncated, ...).
    public var malformed = 0
    /// Datagrams over ``ResolverWire/maxDatagramSize``.
    public var oversized = 0
    /// Answers (`resolved`, `ack`, `error`) sent to the resolver: dropped.
    public var unexpected = 0
    /// Dropped by the per-source rate limit, unanswered.
    public var rateLimited = 0
    /// Refused with `badSignature` (either signature).
    public var badSignature = 0
    /// Registers refused with `badSignature` because the mesh signature failed: senders that do
    /// not know the mesh's password (a subset of `badSignature`).
    public var badMeshSignature = 0
    /// Ed25519 verifications made (a register costs up to two, an unregister one).
    public var signatureChecks = 0
    /// Registers and unregisters answered with a cookie (``CookieAnswer``) instead of being
    /// checked: they carried none, or one for another address or an older minute.
    public var cookiesSent = 0
    /// Registers and unregisters dropped unanswered because the global signature budget
    /// (``ResolverConfiguration/signatureChecksPerSecond``) was spent.
    public var signatureBudgetExceeded = 0
    /// Refused with `replayed`.
    public var replayed = 0
    /// Refused with `clockSkew`.
    public var clockSkew = 0
    /// Refused with `unknownPeer`.
    public var unknownPeer = 0
    /// Refused with `invalidRequest`.
    public var invalid = 0
    /// Refused with `meshFull` or `resolverFull`.
    public var refusedFull = 0
    /// Datagrams sent back.
    public var sent = 0
    /// Current number of registrations (a gauge).
    public var registrations = 0
    /// Current number of meshes with a registration (a gauge).
    public var meshes = 0

    /// The defaults described on each property.
    public init() {}

    /// One line, `key=value` pairs.
    public var description: String {
        "received=\(received) registered=\(registered) refreshed=\(refreshed) unregistered=\(unregistered) expired=\(expired) resolves=\(resolves) introductions=\(introductions) "
            + "malformed=\(malformed) oversized=\(oversized) unexpected=\(unexpected) rate_limited=\(rateLimited) bad_signature=\(badSignature) bad_mesh_signature=\(badMeshSignature) cookies_sent=\(cookiesSent) signature_checks=\(signatureChecks) signature_budget_exceeded=\(signatureBudgetExceeded) "
            + "replayed=\(replayed) clock_skew=\(clockSkew) unknown_peer=\(unknownPeer) invalid=\(invalid) refused_full=\(refusedFull) "
            + "sent=\(sent) registrations=\(registrations) meshes=\(meshes)"
    }
}

/// What a ``ResolverService`` asks its driver to do.
public enum ResolverServiceAction: Sendable, Equatable {
    /// Send `bytes` in one datagram to `address`.
    case send([UInt8], to: MeshAddress)
    /// Log a line at `level`.
    case log(Logger.Level, String)
}

/// The resolver, sans-IO: datagrams and clock readings in, datagrams and log lines out.
///
/// Keeps, per mesh, the peers that registered with a signed request until their TTL runs out.
/// Never reads a clock and never touches a socket; `ResolverServer` drives it on a SwiftNIO
/// event loop and the tests drive it in virtual time.
///
/// Two clocks come in with every call: `now`, a monotonic time for TTLs and rate limits, and
/// `wallClock`, milliseconds since the Unix epoch, against which request timestamps are checked.
public struct ResolverService: Sendable {
    /// The limits this service enforces.
    public let configuration: ResolverConfiguration
    /// Counters since the service was created.
    public private(set) var stats = ResolverStats()

    struct MeshPeer: Hashable, Sendable {
        var mesh: ResolverMeshID
        var peer: PeerKey
    }

    struct Registration: Sendable {
        var addresses: [MeshAddress]
        var expiresAt: MeshTime
        var lastTimestamp: UInt64
        /// Position in the mesh's `order` array.
        var slot: Int
        /// The source (``MeshAddress/sourceGroup``) the registration came from first.
        var source: MeshAddress
        /// Where the last accepted register came from (IP and port): introductions go there.
        var observed: MeshAddress
        /// The last accepted register's request ID: introductions carry it, so that the peer
        /// can tell them from forgeries.
        var token: UInt64
    }

    struct MeshEntry: Sendable {
        /// Keys in a deterministic order (swap-remove), for seeded sampling.
        var order: [PeerKey] = []
        var peers: [PeerKey: Registration] = [:]
        /// Registrations per source, for ``ResolverConfiguration/maxPeersPerSourcePerMesh``.
        var bySource: [MeshAddress: Int] = [:]

        mutating func insert(_ key: PeerKey, _ reg: Registration) {
            var r = reg
            r.slot = order.count
            order.append(key)
            peers[key] = r
            bySource[r.source, default: 0] += 1
        }

        mutating func remove(_ key: PeerKey) {
            guard let r = peers.removeValue(forKey: key) else { return }
            if let n = bySource[r.source], n > 1 { bySource[r.source] = n - 1 } else { bySource[r.source] = nil }
            let last = order.removeLast()
            if last != key {
                order[r.slot] = last
                peers[last]?.slot = r.slot
            }
        }
    }

    struct Bucket: Sendable {
        /// Tokens scaled by 10^9.
        var tokens: Int64
        var updated: MeshTime
    }

    private var meshes: [ResolverMeshID: MeshEntry] = [:]
    /// The last accepted timestamp of peers that unregistered or expired, kept until a replay of
    /// it would fail the clock-skew check anyway.
    private var tombstones: [MeshPeer: UInt64] = [:]
    private var buckets: [MeshAddress: Bucket] = [:]
    /// Registrations per source over all meshes, for ``ResolverConfiguration/maxRegistrationsPerSource``.
    private var registrationsBySource: [MeshAddress: Int] = [:]
    /// The global signature budget, created at the first check.
    private var signatureBudget: TokenBucket?
    /// Tracked sources, oldest first (may hold sources already forgotten): O(1) eviction.
    private var bucketOrder = Deque<MeshAddress>()
    private var rng: DeterministicRNG
    /// When each (mesh, requester, target) introduction was last sent: at most one a second.
    private var lastIntroduction: [IntroductionPair: MeshTime] = [:]
    /// Most introduction pairs remembered at once; beyond it, no introduction is sent until
    /// ``tick(now:wallClock:)`` forgets old ones.
    static let maxIntroductionPairs = 16_384

    struct IntroductionPair: Hashable, Sendable {
        var mesh: ResolverMeshID
        var from: PeerKey
        var to: PeerKey
    }
    /// The key of return-routability cookies.
    private let cookieKey: SymmetricKey

    /// - Parameters:
    ///   - configuration: limits and TTL; call ``ResolverConfiguration/validate()`` first.
    ///   - seed: seeds the random sample of peers a resolve returns.
    ///   - cookieSecret: the key of the cookies that prove a source address (at least 16 bytes);
    ///     nil (the default) draws 32 bytes of system randomness. Pass one only to replay a run.
    public init(configuration: ResolverConfiguration = ResolverConfiguration(), seed: UInt64, cookieSecret: [UInt8]? = nil) {
        self.configuration = configuration
        rng = DeterministicRNG(seed: seed)
        var system = SystemRandomNumberGenerator()
        cookieKey = SymmetricKey(data: cookieSecret ?? (0..<32).map { _ in UInt8.random(in: 0...255, using: &system) })
    }

    /// Number of registrations over all meshes.
    public var registrationCount: Int { stats.registrations }

    /// The registered peers of `mesh`, in the resolver's internal order (for tests and tools).
    public func peers(in mesh: ResolverMeshID) -> [ResolvedPeer] {
        guard let m = meshes[mesh] else { return [] }
        return m.order.map { ResolvedPeer(peer: $0, addresses: m.peers[$0]?.addresses ?? []) }
    }

    // MARK: Events

    /// Handles one received datagram.
    /// - Parameters:
    ///   - bytes: the datagram's payload.
    ///   - source: where it came from (answers go there).
    ///   - now: monotonic time.
    ///   - wallClock: milliseconds since the Unix epoch.
    public mutating func receive(_ bytes: [UInt8], from source: MeshAddress, now: MeshTime, wallClock: UInt64) -> [ResolverServiceAction] {
        stats.received += 1
        guard take(from: source, now: now) else {
            stats.rateLimited += 1
            return [.log(.debug, "drop from \(source): rate limit of \(configuration.requestsPerSecondPerSource)/s exceeded")]
        }
        let message: ResolverMessage
        do {
            message = try ResolverMessage.decode(bytes)
        } catch {
            if case .oversized = error { stats.oversized += 1 } else { stats.malformed += 1 }
            return [.log(.debug, "drop \(bytes.count) bytes from \(source): \(error)")]
        }
        var out: [ResolverServiceAction] = []
        switch message {
        case let .register(m): handleRegister(m, message: message, source: source, now: now, wallClock: wallClock, into: &out)
        case let .unregister(m): handleUnregister(m, message: message, source: source, now: now, wallClock: wallClock, into: &out)
        case let .resolve(m): handleResolve(m, requestSize: bytes.count, source: source, now: now, into: &out)
        case .resolved, .ack, .error, .cookie, .introduce:
            stats.unexpected += 1
            out.append(.log(.debug, "drop \(message.kind) from \(source): resolvers only take requests"))
        }
        return out
    }

    /// Expires registrations whose TTL has run out and forgets state that is no longer needed.
    /// Call it about once a second.
    public mutating func tick(now: MeshTime, wallClock: UInt64) -> [ResolverServiceAction] {
        var out: [ResolverServiceAction] = []
        for meshID in meshes.keys.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            guard var entry = meshes[meshID] else { continue }
            let expired = entry.order.filter { entry.peers[$0]!.expiresAt <= now }
            for key in expired {
                let reg = entry.peers[key]!
                entry.remove(key)
                forgetRegistration(from: reg.source)
                remember(MeshPeer(mesh: meshID, peer: key), timestamp: reg.lastTimestamp)
                stats.expired += 1
                stats.registrations -= 1
                out.append(.log(.info, "expire mesh=\(meshID) peer=\(key) (no refresh within its TTL)"))
            }
            if entry.peers.isEmpty {
                meshes[meshID] = nil
                stats.meshes -= 1
            } else {
                meshes[meshID] = entry
            }
        }
        let horizon = UInt64(configuration.maxClockSkewSeconds) * 1000
        tombstones = tombstones.filter { $0.value &+ horizon >= wallClock }
        let full = Int64(configuration.requestBurstPerSource) * 1_000_000_000
        buckets = buckets.filter { refilled($0.value, now: now) < full }
        bucketOrder = Deque(bucketOrder.filter { buckets[$0] != nil })
        lastIntroduction = lastIntroduction.filter { now - $0.value < .seconds(1) }
        return out
    }

    // MARK: Requests

    private mutating func handleRegister(
        _ m: RegisterRequest, message: ResolverMessage, source: MeshAddress, now: MeshTime, wallClock: UInt64, into out: inout [ResolverServiceAction]
    ) {
        guard m.ttlSeconds >= 1 else {
            return refuse(m.requestID, .invalidRequest, "register with a TTL of 0", source: source, wallClock: wallClock, into: &out)
        }
        let addresses = Self.effectiveAddresses(m, source: source)
        guard !addresses.isEmpty else {
            return refuse(m.requestID, .invalidRequest, "register with no usable address", source: source, wallClock: wallClock, into: &out)
        }
        guard checkCookie(m.cookie, m.requestID, source: source, now: now, into: &out) else { return }
        guard checkClock(m.timestamp, m.requestID, source: source, wallClock: wallClock, into: &out) else { return }
        // The mesh signature first: someone without the password costs one check and no more.
        guard spendSignatureCheck(now: now, into: &out) else { return }
        guard message.hasValidMeshSignature() else {
            stats.badMeshSignature += 1
            return refuse(
                m.requestID, .badSignature, "register for mesh=\(m.mesh) not signed with its admission key (the sender lacks the password)", source: source,
                wallClock: wallClock, into: &out)
        }
        guard spendSignatureCheck(now: now, into: &out) else { return }
        guard message.hasValidSignature() else {
            return refuse(m.requestID, .badSignature, "register for peer=\(m.peer) with a bad signature", source: source, wallClock: wallClock, into: &out)
        }
        let key = MeshPeer(mesh: m.mesh, peer: m.peer)
        let existing = meshes[m.mesh]?.peers[m.peer]
        let last = existing?.lastTimestamp ?? tombstones[key]
        if let last, m.timestamp <= last {
            return refuse(
                m.requestID, .replayed, "register for peer=\(m.peer) replayed (timestamp \(m.timestamp) <= \(last))", source: source, wallClock: wallClock,
                into: &out)
        }
        let ttl = min(m.ttlSeconds, configuration.ttlSeconds)
        let expiresAt = now + .seconds(Int64(ttl))
        if var reg = existing {
            reg.addresses = addresses
            reg.expiresAt = expiresAt
            reg.lastTimestamp = m.timestamp
            reg.observed = source
            reg.token = m.requestID
            meshes[m.mesh]!.peers[m.peer] = reg
            stats.refreshed += 1
            out.append(.log(.debug, "refresh mesh=\(m.mesh) peer=\(m.peer) ttl=\(ttl)s"))
        } else {
            let entry = meshes[m.mesh]
            if entry == nil && meshes.count >= configuration.maxMeshes {
                return refuse(
                    m.requestID, .resolverFull, "register refused: \(configuration.maxMeshes) meshes already", source: source, wallClock: wallClock, into: &out)
            }
            let group = source.sourceGroup
            if registrationsBySource[group, default: 0] >= configuration.maxRegistrationsPerSource {
                return refuse(
                    m.requestID, .resolverFull, "register refused: \(configuration.maxRegistrationsPerSource) registrations from \(group) already",
                    source: source, wallClock: wallClock, into: &out)
            }
            if let entry, entry.bySource[group, default: 0] >= configuration.maxPeersPerSourcePerMesh {
                return refuse(
                    m.requestID, .meshFull,
                    "register refused: mesh=\(m.mesh) has \(configuration.maxPeersPerSourcePerMesh) peers from \(group) already", source: source,
                    wallClock: wallClock, into: &out)
            }
            if let entry, entry.peers.count >= configuration.maxPeersPerMesh {
                return refuse(
                    m.requestID, .meshFull, "register refused: mesh=\(m.mesh) has \(configuration.maxPeersPerMesh) peers already", source: source,
                    wallClock: wallClock, into: &out)
            }
            if stats.registrations >= configuration.maxRegistrations {
                return refuse(
                    m.requestID, .resolverFull, "register refused: \(configuration.maxRegistrations) registrations already", source: source,
                    wallClock: wallClock, into: &out)
            }
            if entry == nil { stats.meshes += 1 }
            meshes[m.mesh, default: MeshEntry()].insert(
                m.peer,
                Registration(
                    addresses: addresses, expiresAt: expiresAt, lastTimestamp: m.timestamp, slot: 0, source: group, observed: source, token: m.requestID))
            tombstones[key] = nil
            registrationsBySource[group, default: 0] += 1
            stats.registered += 1
            stats.registrations += 1
            out.append(
                .log(
                    .info, "register mesh=\(m.mesh) peer=\(m.peer) addresses=\(addresses.map(\.description).joined(separator: ",")) ttl=\(ttl)s from \(source)")
            )
        }
        send(
            .ack(AckAnswer(requestID: m.requestID, ttlSeconds: ttl, created: existing == nil, serverTime: wallClock, observed: source)), to: source, into: &out)
    }

    private mutating func handleUnregister(
        _ m: UnregisterRequest, message: ResolverMessage, source: MeshAddress, now: MeshTime, wallClock: UInt64, into out: inout [ResolverServiceAction]
    ) {
        guard checkCookie(m.cookie, m.requestID, source: source, now: now, into: &out) else { return }
        guard checkClock(m.timestamp, m.requestID, source: source, wallClock: wallClock, into: &out) else { return }
        guard spendSignatureCheck(now: now, into: &out) else { return }
        guard message.hasValidSignature() else {
            return refuse(m.requestID, .badSignature, "unregister for peer=\(m.peer) with a bad signature", source: source, wallClock: wallClock, into: &out)
        }
        guard let reg = meshes[m.mesh]?.peers[m.peer] else {
            return refuse(m.requestID, .unknownPeer, "unregister of unknown peer=\(m.peer) in mesh=\(m.mesh)", source: source, wallClock: wallClock, into: &out)
        }
        guard m.timestamp > reg.lastTimestamp else {
            return refuse(
                m.requestID, .replayed, "unregister for peer=\(m.peer) replayed (timestamp \(m.timestamp) <= \(reg.lastTimestamp))", source: source,
                wallClock: wallClock, into: &out)
        }
        meshes[m.mesh]!.remove(m.peer)
        forgetRegistration(from: reg.source)
        if meshes[m.mesh]!.peers.isEmpty {
            meshes[m.mesh] = nil
            stats.meshes -= 1
        }
        remember(MeshPeer(mesh: m.mesh, peer: m.peer), timestamp: m.timestamp)
        stats.unregistered += 1
        stats.registrations -= 1
        out.append(.log(.info, "unregister mesh=\(m.mesh) peer=\(m.peer) from \(source)"))
        send(.ack(AckAnswer(requestID: m.requestID, ttlSeconds: 0, created: false, serverTime: wallClock, observed: source)), to: source, into: &out)
    }

    private mutating func handleResolve(
        _ m: ResolveRequest, requestSize: Int, source: MeshAddress, now: MeshTime, into out: inout [ResolverServiceAction]
    ) {
        stats.resolves += 1
        let entry = meshes[m.mesh] ?? MeshEntry()
        var candidates = entry.order.count
        var skip: Int?
        if let e = m.exclude, let r = entry.peers[e] {
            skip = r.slot
            candidates -= 1
        }
        let k = min(Int(m.maxPeers), candidates)
        var chosen: [Int]
        if k == candidates {
            chosen = Array(0..<candidates)
        } else {
            // Floyd's algorithm: k distinct indices out of `candidates`, O(k).
            var picked = Set<Int>()
            chosen = []
            for j in (candidates - k)..<candidates {
                let t = rng.below(j + 1)
                let v = picked.contains(t) ? j : t
                picked.insert(v)
                chosen.append(v)
            }
        }
        // Anti-amplification: the answer stays within a multiple of the request's size.
        var budget = ResolverWire.amplificationFactor * requestSize - Self.resolvedHeaderSize
        var peers: [ResolvedPeer] = []
        for i in chosen {
            let index = skip.map { i >= $0 ? i + 1 : i } ?? i
            let key = entry.order[index]
            let peer = ResolvedPeer(peer: key, addresses: entry.peers[key]!.addresses)
            let size = Self.encodedSize(peer)
            if size > budget { break }
            budget -= size
            peers.append(peer)
        }
        out.append(
            .log(
                .debug,
                "resolve mesh=\(m.mesh) from \(source): \(peers.count) of \(entry.order.count)\(peers.count < chosen.count ? " (answer capped at \(ResolverWire.amplificationFactor)x the \(requestSize)-byte request; pad it)" : "")"
            ))
        // Introductions only for a registered requester asking from the very address its
        // registrations come from: a spoofed request can at most make members send a few
        // datagrams to a member's own address, once a second per pair. Only the peers the
        // request lists: the requester has opened its NAT toward those (PROTOCOL.md §6.7).
        var introduced = false
        if !m.introduce.isEmpty, let e = m.exclude, let requester = entry.peers[e], requester.observed == source {
            introduced = true
            var seen: Set<PeerKey> = [e]
            for k in m.introduce where seen.insert(k).inserted {
                let pair = IntroductionPair(mesh: m.mesh, from: e, to: k)
                guard let target = entry.peers[k] else { continue }
                if let last = lastIntroduction[pair], now - last < .seconds(1) { continue }
                guard lastIntroduction.count < Self.maxIntroductionPairs else { break }
                lastIntroduction[pair] = now
                stats.introductions += 1
                send(.introduce(IntroduceMessage(token: target.token, mesh: m.mesh, peer: e, addresses: requester.addresses)), to: target.observed, into: &out)
            }
        }
        let answer = ResolvedAnswer(
            requestID: m.requestID, registeredCount: UInt32(clamping: entry.order.count), excludedIsRegistered: skip != nil, peers: peers,
            introduced: introduced)
        send(.resolved(answer), to: source, into: &out)
    }

    // MARK: Helpers

    /// Header, request ID, registered count, flags and peer count of a `Resolved`.
    static let resolvedHeaderSize = ResolverWire.headerSize + 8 + 4 + 1 + 1

    static func encodedSize(_ p: ResolvedPeer) -> Int {
        Wire.keySize + 1 + p.addresses.prefix(ResolverWire.maxAddresses).reduce(0) { $0 + ($1.isIPv4 ? 7 : 19) }
    }

    /// Claimed addresses with unspecified IPs replaced by the source's, plus the source itself
    /// when asked; without duplicates, at most ``ResolverWire/maxAddresses``.
    static func effectiveAddresses(_ m: RegisterRequest, source: MeshAddress) -> [MeshAddress] {
        var out: [MeshAddress] = []
        func add(_ a: MeshAddress) {
            if a.port != 0, !a.isUnspecified, !out.contains(a), out.count < ResolverWire.maxAddresses { out.append(a) }
        }
        if m.includeObservedAddress { add(source) }
        for a in m.addresses {
            if a.isUnspecified {
                if a.isIPv4 == source.isIPv4 { add(source.withPort(a.port)) }
            } else {
                add(a)
            }
        }
        return out
    }

    /// Cookies last one to two minutes: the minute they were made in and the next.
    static let cookieEpoch: Int64 = 60_000_000_000

    /// The cookie a ``CookieAnswer`` to `source` carries at `now` (tools and tests).
    public func cookie(for source: MeshAddress, now: MeshTime) -> [UInt8] { cookie(for: source, epoch: now.nanoseconds / Self.cookieEpoch) }

    /// The cookie of `source` in the given epoch: HMAC-SHA256 over the epoch and the address
    /// (IP and port), truncated to 16 bytes.
    func cookie(for source: MeshAddress, epoch: Int64) -> [UInt8] {
        var w = ByteWriter(capacity: 32)
        w.u64(UInt64(bitPattern: epoch))
        ResolverMessage.encode(source, into: &w)
        return Array(HMAC<SHA256>.authenticationCode(for: w.bytes, using: cookieKey).prefix(ResolverWire.cookieSize))
    }

    /// Whether `cookie` is valid for `source` now; when not, answers with a fresh one. No
    /// signature is checked and no state kept for a request without a valid cookie.
    private mutating func checkCookie(_ cookie: [UInt8], _ requestID: UInt64, source: MeshAddress, now: MeshTime, into out: inout [ResolverServiceAction])
        -> Bool
    {
        let epoch = now.nanoseconds / Self.cookieEpoch
        if constantTimeEqual(self.cookie(for: source, epoch: epoch), cookie[...]) || constantTimeEqual(self.cookie(for: source, epoch: epoch - 1), cookie[...])
        {
            return true
        }
        stats.cookiesSent += 1
        send(.cookie(CookieAnswer(requestID: requestID, cookie: self.cookie(for: source, epoch: epoch))), to: source, into: &out)
        return false
    }

    private mutating func checkClock(_ timestamp: UInt64, _ requestID: UInt64, source: MeshAddress, wallClock: UInt64, into out: inout [ResolverServiceAction])
        -> Bool
    {
        let skew = UInt64(configuration.maxClockSkewSeconds) * 1000
        let distance = timestamp > wallClock ? timestamp - wallClock : wallClock - timestamp
        if distance <= skew { return true }
        refuse(
            requestID, .clockSkew, "request timestamp \(timestamp) is \(distance) ms from the resolver's clock", source: source, wallClock: wallClock,
            into: &out)
        return false
    }

    private mutating func refuse(
        _ requestID: UInt64, _ code: ResolverErrorCode, _ why: String, source: MeshAddress, wallClock: UInt64, into out: inout [ResolverServiceAction]
    ) {
        switch code {
        case .badSignature: stats.badSignature += 1
        case .replayed: stats.replayed += 1
        case .clockSkew: stats.clockSkew += 1
        case .unknownPeer: stats.unknownPeer += 1
        case .meshFull, .resolverFull: stats.refusedFull += 1
        case .invalidRequest: stats.invalid += 1
        }
        out.append(.log(code == .meshFull || code == .resolverFull ? .notice : .debug, "refuse from \(source): \(why)"))
        send(.error(ErrorAnswer(requestID: requestID, code: code, serverTime: wallClock)), to: source, into: &out)
    }

    private mutating func send(_ message: ResolverMessage, to address: MeshAddress, into out: inout [ResolverServiceAction]) {
        stats.sent += 1
        out.append(.send(message.encode(), to: address))
    }

    private mutating func forgetRegistration(from group: MeshAddress) {
        if let n = registrationsBySource[group], n > 1 { registrationsBySource[group] = n - 1 } else { registrationsBySource[group] = nil }
    }

    private mutating func remember(_ key: MeshPeer, timestamp: UInt64) {
        if tombstones[key] == nil, tombstones.count >= configuration.maxRegistrations,
            let oldest = tombstones.min(by: { $0.value < $1.value })
        {
            tombstones[oldest.key] = nil
        }
        tombstones[key] = max(timestamp, tombstones[key] ?? 0)
    }

    private func refilled(_ b: Bucket, now: MeshTime) -> Int64 {
        let full = Int64(configuration.requestBurstPerSource) * 1_000_000_000
        guard now > b.updated else { return b.tokens }
        let (added, overflow) = (now.nanoseconds - b.updated.nanoseconds).multipliedReportingOverflow(by: Int64(configuration.requestsPerSecondPerSource))
        return overflow || added >= full - b.tokens ? full : b.tokens + added
    }

    /// Takes one signature check from the global budget; false (and counted) when it is spent.
    private mutating func spendSignatureCheck(now: MeshTime, into out: inout [ResolverServiceAction]) -> Bool {
        let rate = configuration.signatureChecksPerSecond
        var budget = signatureBudget ?? TokenBucket(rate: rate, burst: 2 * rate, now: now)
        let ok = budget.take(1, now: now)
        signatureBudget = budget
        if ok { stats.signatureChecks += 1 }
        if !ok {
            stats.signatureBudgetExceeded += 1
            out.append(.log(.debug, "drop a signed request: the signature budget of \(rate)/s is spent"))
        }
        return ok
    }

    /// Takes one token from the source's bucket (ports are ignored: they are free to vary).
    private mutating func take(from source: MeshAddress, now: MeshTime) -> Bool {
        let key = source.sourceGroup
        let cost: Int64 = 1_000_000_000
        var bucket: Bucket
        if let b = buckets[key] {
            bucket = Bucket(tokens: refilled(b, now: now), updated: max(now, b.updated))
        } else {
            // Forget the source tracked longest (entries already forgotten by `tick` are skipped).
            while buckets.count >= configuration.maxTrackedSources, let oldest = bucketOrder.popFirst() { buckets[oldest] = nil }
            bucket = Bucket(tokens: Int64(configuration.requestBurstPerSource) * 1_000_000_000, updated: now)
            bucketOrder.append(key)
        }
        let ok = bucket.tokens >= cost
        if ok { bucket.tokens -= cost }
        buckets[key] = bucket
        return ok
    }
}
