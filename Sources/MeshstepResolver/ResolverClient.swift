import MeshstepMesh
import MeshstepWire

/// Tunables of a ``ResolverClient``.
public struct ResolverClientConfiguration: Sendable, Equatable {
    /// The lifetime asked for; the resolver may grant less (its `--ttl`).
    public var ttlSeconds: UInt32 = 30
    /// A registration is refreshed after this fraction of the granted TTL (default a third, so
    /// two refreshes may be lost before it expires).
    public var refreshFraction: Double = 1.0 / 3.0
    /// Wait before the first retry of an unanswered request; doubles on every retry.
    public var initialRetry: Duration = .milliseconds(500)
    /// Longest wait between retries.
    public var maxRetry: Duration = .seconds(8)
    /// Unanswered attempts after which ``ResolverClientError/unreachable(operation:attempts:)``
    /// is reported. Registration keeps retrying every `maxRetry` afterwards (so a node finds a
    /// resolver that comes back); resolve and unregister give up.
    public var attemptsBeforeUnreachable = 5
    /// Ask the resolver to also register the address it sees the requests come from (the NAT's
    /// public address, when there is one).
    public var includeObservedAddress = true

    /// The defaults: TTL 30 s, refresh at a third, retries from 0.5 s to 8 s, unreachable after 5.
    public init() {}
}

/// Errors a ``ResolverClient`` reports, each saying what to do.
public enum ResolverClientError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The resolver did not answer `attempts` requests in a row.
    case unreachable(operation: ResolverClient.Operation, attempts: Int)
    /// The resolver answered with a refusal.
    case refused(operation: ResolverClient.Operation, code: ResolverErrorCode)
    /// More addresses than a registration may carry.
    case tooManyAddresses(Int)

    public var description: String {
        switch self {
        case let .unreachable(operation, attempts):
            "resolver unreachable: \(attempts) \(operation) requests got no answer; check the --resolver HOST:PORT, that `meshstep resolver` runs there, and that its UDP port is open in firewalls"
        case let .refused(operation, code):
            "the resolver refused the \(operation): \(code)"
        case let .tooManyAddresses(n):
            "a registration carries at most \(ResolverWire.maxAddresses) addresses (got \(n)); pass fewer"
        }
    }
}

/// What happened, as reported by a ``ResolverClient``.
public enum ResolverClientEvent: Sendable, Equatable {
    /// The resolver acknowledged a register. `created` is false for an ordinary refresh.
    case registered(ttlSeconds: UInt32, created: Bool)
    /// The resolver had lost this node's registration (it restarted, or expired it while it was
    /// unreachable) and the client registered again by itself.
    case reregistered
    /// The answer to ``ResolverClient/resolve(maxPeers:introduce:now:wallClock:)``. No peers means the
    /// mesh is unknown to the resolver (or only this node is in it).
    case resolved(ResolvedAnswer)
    /// The registration is gone (acknowledged, or the resolver did not have it).
    case unregistered
    /// Something failed; see the error's description.
    case failed(ResolverClientError)
    /// The resolver answered again after ``ResolverClientError/unreachable(operation:attempts:)``.
    case reachable
    /// The address the resolver sees this node's registrations come from changed (the first
    /// acknowledgement, or a NAT that gave the node a new public port): see
    /// ``ResolverClient/observedAddress``.
    case observedAddress(MeshAddress)
    /// The resolver introduced another peer of the mesh: it asked for this node and is sending
    /// to it now (``IntroduceMessage``). Send to it at once as well (`MeshNode.introduced`).
    case introduced(ResolvedPeer)
}

/// What a ``ResolverClient`` asks its driver to do.
public enum ResolverClientAction: Sendable, Equatable {
    /// Send these bytes in one datagram to the resolver.
    case send([UInt8])
    /// Report this event to the application.
    case event(ResolverClientEvent)
}

/// Talks to one resolver for one node and one mesh, sans-IO: builds signed requests, matches
/// answers, refreshes the registration before it expires, retries with backoff and
/// re-registers by itself after the resolver restarted.
///
/// The driver sends every ``ResolverClientAction/send(_:)`` to the resolver's address, passes
/// every datagram from that address to ``receive(_:now:wallClock:)`` (use
/// ``ResolverWire/isResolverDatagram(_:)`` to tell them from mesh datagrams on a shared
/// socket) and calls ``tick(now:wallClock:)`` at ``nextDeadline`` or more often.
///
/// Two clocks come in with every call: `now`, a monotonic time for timers, and `wallClock`,
/// milliseconds since the Unix epoch, for the signed timestamps.
public struct ResolverClient: Sendable {
    /// A kind of request, for errors.
    public enum Operation: String, Sendable, Equatable, CustomStringConvertible {
        /// `register`: a registration or one of its refreshes; `unregister`: its removal;
        /// `resolve`: a request for peers.
        case register, unregister, resolve
        public var description: String { rawValue }
    }

    private struct Pending: Sendable {
        var operation: Operation
        var requestID: UInt64
        var attempts: Int
        var nextAttemptAt: MeshTime
        var maxPeers: UInt8 = 0
        var introduce: [PeerKey] = []
        /// Immediate resends after a clock-skew or replay refusal.
        var corrections = 0
    }

    /// The node key that signs registrations.
    public let identity: NodeIdentity
    /// The mesh's credentials: their admission key signs registrations as well.
    public let credentials: MeshCredentials
    /// The mesh this client registers in and resolves (named by its admission public key).
    public let mesh: ResolverMeshID
    /// Timers and retry policy.
    public let configuration: ResolverClientConfiguration
    /// Addresses this node registers (unspecified IPs mean "the address the resolver sees").
    public private(set) var addresses: [MeshAddress]
    /// Whether the last register was acknowledged and has not been unregistered.
    public private(set) var isRegistered = false
    /// Where the resolver last saw this node's registration come from: behind a NAT, its public
    /// mapping (nil until the first acknowledgement).
    public private(set) var observedAddress: MeshAddress?
    /// Whether the client keeps a registration alive (between ``register(now:wallClock:)`` and
    /// ``unregister(now:wallClock:)``).
    public private(set) var wantsRegistration = false
    /// When the next refresh is due.
    public private(set) var refreshAt: MeshTime?
    /// Resolver clock minus this node's clock, in milliseconds, learned from the resolver.
    public private(set) var clockOffsetMilliseconds: Int64 = 0
    /// True between an ``ResolverClientError/unreachable(operation:attempts:)`` report and the
    /// next answer.
    public private(set) var isUnreachable = false

    private var pendingRegister: Pending?
    private var pendingResolve: Pending?
    private var pendingUnregister: Pending?
    private var lastTimestamp: UInt64 = 0
    /// Request IDs of the last two acknowledged registers: an introduction must carry one.
    private var registrationTokens: [UInt64] = []
    /// The resolver's last cookie for this client's address (``CookieAnswer``).
    private var cookie = ResolverWire.noCookie
    /// An acknowledged registration existed since the last ``register(now:wallClock:)``.
    private var wasRegistered = false
    private var rng: DeterministicRNG

    /// - Parameters:
    ///   - identity: the node's key; it signs registrations.
    ///   - credentials: the mesh to register in and resolve; registrations carry a signature with
    ///     its admission key, which only members can make.
    ///   - configuration: retries, refresh interval and timeouts (``ResolverClientConfiguration``).
    ///   - addresses: at most 4 addresses the node is reachable at; may be empty when
    ///     `includeObservedAddress` is on.
    ///   - seed: seeds request IDs; pass system randomness (`UInt64.random(in: .min ... .max)`)
    ///     outside tests, so that off-path attackers cannot guess them.
    /// - Throws: ``ResolverClientError/tooManyAddresses(_:)``.
    public init(
        identity: NodeIdentity, credentials: MeshCredentials, addresses: [MeshAddress],
        configuration: ResolverClientConfiguration = ResolverClientConfiguration(),
        seed: UInt64
    ) throws(ResolverClientError) {
        guard addresses.count <= ResolverWire.maxAddresses else { throw .tooManyAddresses(addresses.count) }
        self.identity = identity
        self.credentials = credentials
        mesh = ResolverMeshID(credentials: credentials)
        self.addresses = addresses
        self.configuration = configuration
        rng = DeterministicRNG(seed: seed)
    }

    /// The earliest time ``tick(now:wallClock:)`` has something to do.
    public var nextDeadline: MeshTime? {
        [pendingRegister?.nextAttemptAt, pendingResolve?.nextAttemptAt, pendingUnregister?.nextAttemptAt, pendingRegister == nil ? refreshAt : nil]
            .compactMap { $0 }.min()
    }

    // MARK: Commands

    /// Registers now and keeps the registration alive until ``unregister(now:wallClock:)``.
    public mutating func register(now: MeshTime, wallClock: UInt64) -> [ResolverClientAction] {
        wantsRegistration = true
        wasRegistered = false
        pendingUnregister = nil
        return sendRegister(now: now, wallClock: wallClock)
    }

    /// Changes the registered addresses and re-registers at once if registered.
    /// - Throws: ``ResolverClientError/tooManyAddresses(_:)``.
    public mutating func setAddresses(_ new: [MeshAddress], now: MeshTime, wallClock: UInt64) throws(ResolverClientError) -> [ResolverClientAction] {
        guard new.count <= ResolverWire.maxAddresses else { throw .tooManyAddresses(new.count) }
        addresses = new
        return wantsRegistration ? sendRegister(now: now, wallClock: wallClock) : []
    }

    /// Asks for up to `maxPeers` (1...10) peers of the mesh, this node excluded. The answer
    /// comes as ``ResolverClientEvent/resolved(_:)``; a resolve still unanswered is replaced.
    /// The resolver also introduces this node to the peers `introduce` lists (the first
    /// ``ResolverWire/maxIntroductions``; ``ResolveRequest/introduce``), which then send to it
    /// at once: list only peers this node has already sent to from its mesh socket
    /// (`MeshAction.resolve(introduce:)` names them).
    public mutating func resolve(
        maxPeers: Int = ResolverWire.maxPeersPerAnswer, introduce: [PeerKey] = [], now: MeshTime, wallClock: UInt64
    ) -> [ResolverClientAction] {
        let n = UInt8(min(max(maxPeers, 1), ResolverWire.maxPeersPerAnswer))
        var p = Pending(
            operation: .resolve, requestID: rng.next(), attempts: 0, nextAttemptAt: now, maxPeers: n,
            introduce: Array(introduce.prefix(ResolverWire.maxIntroductions)))
        let bytes = resolveBytes(&p, now: now)
        pendingResolve = p
        return [.send(bytes)]
    }

    /// Stops refreshing and removes the registration (retried a few times, then given up:
    /// it expires at the resolver anyway).
    public mutating func unregister(now: MeshTime, wallClock: UInt64) -> [ResolverClientAction] {
        wantsRegistration = false
        pendingRegister = nil
        refreshAt = nil
        var p = Pending(operation: .unregister, requestID: 0, attempts: 0, nextAttemptAt: now)
        let bytes = unregisterBytes(&p, now: now, wallClock: wallClock)
        pendingUnregister = p
        return [.send(bytes)]
    }

    // MARK: Events

    /// Handles a datagram from the resolver. Anything that is not the answer to an outstanding
    /// request (malformed, stale, spoofed with a wrong request ID) is ignored.
    public mutating func receive(_ bytes: [UInt8], now: MeshTime, wallClock: UInt64) -> [ResolverClientAction] {
        guard let message = try? ResolverMessage.decode(bytes) else { return [] }
        if case let .introduce(m) = message {
            guard m.mesh == mesh, m.peer != identity.key, registrationTokens.contains(m.token) else { return [] }
            return [.event(.introduced(ResolvedPeer(peer: m.peer, addresses: m.addresses)))]
        }
        let id = message.requestID
        var out: [ResolverClientAction] = []
        if pendingRegister?.requestID == id || pendingResolve?.requestID == id || pendingUnregister?.requestID == id, isUnreachable {
            isUnreachable = false
            out.append(.event(.reachable))
        }
        if let p = pendingRegister, p.requestID == id {
            handleRegisterAnswer(message, pending: p, now: now, wallClock: wallClock, into: &out)
        } else if let p = pendingUnregister, p.requestID == id {
            switch message {
            case .ack:
                pendingUnregister = nil
                isRegistered = false
                out.append(.event(.unregistered))
            case let .error(e) where e.code == .unknownPeer:
                pendingUnregister = nil
                isRegistered = false
                out.append(.event(.unregistered))
            case let .error(e) where (e.code == .clockSkew || e.code == .replayed) && p.corrections < Self.maxCorrections:
                adoptServerTime(e.serverTime, wallClock: wallClock)
                var q = p
                q.corrections += 1
                out.append(.send(unregisterBytes(&q, now: now, wallClock: wallClock)))
                pendingUnregister = q
            case let .cookie(c) where p.corrections < Self.maxCorrections:
                cookie = c.cookie
                var q = p
                q.corrections += 1
                out.append(.send(unregisterBytes(&q, now: now, wallClock: wallClock)))
                pendingUnregister = q
            case let .error(e):
                pendingUnregister = nil
                out.append(.event(.failed(.refused(operation: .unregister, code: e.code))))
            default:
                break
            }
        } else if let p = pendingResolve, p.requestID == id, case let .resolved(answer) = message {
            pendingResolve = nil
            out.append(.event(.resolved(answer)))
            // The resolver does not list us although it acknowledged us: it restarted or we
            // expired there. Register again now rather than at the next refresh.
            if wantsRegistration, isRegistered, !answer.excludedIsRegistered, pendingRegister == nil {
                isRegistered = false
                out += sendRegister(now: now, wallClock: wallClock)
            }
        }
        return out
    }

    /// Runs timers: retries, refreshes, unreachable reports.
    public mutating func tick(now: MeshTime, wallClock: UInt64) -> [ResolverClientAction] {
        var out: [ResolverClientAction] = []
        if var p = pendingRegister, p.nextAttemptAt <= now {
            if noteMissedAnswer(&p, into: &out) {
                out.append(.send(registerBytes(&p, now: now, wallClock: wallClock)))
                pendingRegister = p
            }
        } else if pendingRegister == nil, wantsRegistration, let r = refreshAt, r <= now {
            out += sendRegister(now: now, wallClock: wallClock)
        }
        if var p = pendingResolve, p.nextAttemptAt <= now {
            if noteMissedAnswer(&p, into: &out) {
                out.append(.send(resolveBytes(&p, now: now)))
                pendingResolve = p
            } else {
                pendingResolve = nil
            }
        }
        if var p = pendingUnregister, p.nextAttemptAt <= now {
            if noteMissedAnswer(&p, into: &out) {
                out.append(.send(unregisterBytes(&p, now: now, wallClock: wallClock)))
                pendingUnregister = p
            } else {
                pendingUnregister = nil
            }
        }
        return out
    }

    // MARK: Internals

    private mutating func handleRegisterAnswer(
        _ message: ResolverMessage, pending p: Pending, now: MeshTime, wallClock: UInt64, into out: inout [ResolverClientAction]
    ) {
        switch message {
        case let .ack(a):
            pendingRegister = nil
            registrationTokens = Array((registrationTokens + [a.requestID]).suffix(2))
            if observedAddress != a.observed {
                observedAddress = a.observed
                out.append(.event(.observedAddress(a.observed)))
            }
            let lost = wasRegistered && a.created
            isRegistered = true
            wasRegistered = true
            let ttl = Double(max(a.ttlSeconds, 1))
            refreshAt = now + .nanoseconds(Int64(ttl * configuration.refreshFraction * 1e9))
            out.append(.event(lost ? .reregistered : .registered(ttlSeconds: a.ttlSeconds, created: a.created)))
        case let .error(e) where (e.code == .clockSkew || e.code == .replayed) && p.corrections < Self.maxCorrections:
            adoptServerTime(e.serverTime, wallClock: wallClock)
            var q = p
            q.corrections += 1
            out.append(.send(registerBytes(&q, now: now, wallClock: wallClock)))
            pendingRegister = q
        case let .cookie(c) where p.corrections < Self.maxCorrections:
            // Prove the address: send the same registration again with the resolver's cookie.
            cookie = c.cookie
            var q = p
            q.corrections += 1
            out.append(.send(registerBytes(&q, now: now, wallClock: wallClock)))
            pendingRegister = q
        case let .error(e):
            // Try again after a refresh interval: the mesh may have room then, or the operator
            // may have fixed the resolver.
            pendingRegister = nil
            isRegistered = false
            refreshAt = now + .nanoseconds(Int64(Double(configuration.ttlSeconds) * configuration.refreshFraction * 1e9))
            out.append(.event(.failed(.refused(operation: .register, code: e.code))))
        default:
            break
        }
    }

    /// Immediate resends of one request after a clock-skew, replay or cookie answer (a cookie and
    /// a clock correction may both be needed); beyond them, the retry timer takes over.
    static let maxCorrections = 3

    private mutating func sendRegister(now: MeshTime, wallClock: UInt64) -> [ResolverClientAction] {
        var p = Pending(operation: .register, requestID: 0, attempts: 0, nextAttemptAt: now)
        let bytes = registerBytes(&p, now: now, wallClock: wallClock)
        pendingRegister = p
        return [.send(bytes)]
    }

    /// Counts an unanswered attempt; reports unreachability once; false when the request
    /// should be given up.
    private mutating func noteMissedAnswer(_ p: inout Pending, into out: inout [ResolverClientAction]) -> Bool {
        if p.attempts == configuration.attemptsBeforeUnreachable {
            if !isUnreachable {
                isUnreachable = true
                out.append(.event(.failed(.unreachable(operation: p.operation, attempts: p.attempts))))
            }
            if p.operation == .register { isRegistered = false }
            return p.operation == .register
        }
        return true
    }

    private mutating func scheduleRetry(_ p: inout Pending, now: MeshTime) {
        p.attempts += 1
        var delay = configuration.initialRetry
        for _ in 1..<max(p.attempts, 1) where delay < configuration.maxRetry { delay = delay * 2 }
        p.nextAttemptAt = now + min(delay, configuration.maxRetry)
    }

    /// A fresh signed register: every attempt gets a new timestamp (so that a retry is never a
    /// replay) and a new request ID.
    private mutating func registerBytes(_ p: inout Pending, now: MeshTime, wallClock: UInt64) -> [UInt8] {
        p.requestID = rng.next()
        scheduleRetry(&p, now: now)
        let request = RegisterRequest(
            requestID: p.requestID, mesh: mesh, peer: identity.key, addresses: addresses, includeObservedAddress: configuration.includeObservedAddress,
            ttlSeconds: configuration.ttlSeconds, timestamp: nextTimestamp(wallClock), cookie: cookie
        ).signed(by: identity, credentials: credentials)
        return ResolverMessage.register(request).encode()
    }

    private mutating func unregisterBytes(_ p: inout Pending, now: MeshTime, wallClock: UInt64) -> [UInt8] {
        p.requestID = rng.next()
        scheduleRetry(&p, now: now)
        let request = UnregisterRequest(requestID: p.requestID, mesh: mesh, peer: identity.key, timestamp: nextTimestamp(wallClock), cookie: cookie)
            .signed(by: identity)
        return ResolverMessage.unregister(request).encode()
    }

    private mutating func resolveBytes(_ p: inout Pending, now: MeshTime) -> [UInt8] {
        scheduleRetry(&p, now: now)
        return ResolverMessage.resolve(
            ResolveRequest(
                requestID: p.requestID, mesh: mesh, maxPeers: p.maxPeers, exclude: identity.key, introduce: p.introduce,
                padding: ResolveRequest.padding(toSize: ResolverWire.paddedResolveSize, exclude: identity.key, introductions: p.introduce.count))
        ).encode()
    }

    /// Resolver-adjusted wall clock, strictly increasing.
    private mutating func nextTimestamp(_ wallClock: UInt64) -> UInt64 {
        let adjusted = Int64(clamping: wallClock) &+ clockOffsetMilliseconds
        let t = max(UInt64(max(adjusted, 0)), lastTimestamp &+ 1)
        lastTimestamp = t
        return t
    }

    private mutating func adoptServerTime(_ serverTime: UInt64, wallClock: UInt64) {
        clockOffsetMilliseconds = Int64(clamping: serverTime) &- Int64(clamping: wallClock)
    }
}
