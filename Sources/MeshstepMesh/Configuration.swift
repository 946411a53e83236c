import MeshstepWire

/// What a propagation filter decides for one received flooded message (Peer Channel's
/// `PeerMessagePropagation`).
public enum Propagation: Sendable {
    /// Drop it: neither deliver nor forward.
    case none
    /// Deliver to this node's application only.
    case local
    /// Forward to the mesh only.
    case remote
    /// Deliver and forward (the default).
    case localAndRemote
}

/// A token-bucket allowance: a sustained rate and a burst.
public struct RateLimit: Sendable, Equatable {
    /// Sustained message rate, in messages (datagrams) per second.
    public var messagesPerSecond: Int
    /// Messages that may pass at once after a quiet spell (bucket size).
    public var messageBurst: Int
    /// Sustained byte rate, in bytes per second.
    public var bytesPerSecond: Int
    /// Bytes that may pass at once after a quiet spell (bucket size).
    public var byteBurst: Int

    /// An allowance; ``MeshConfiguration/validate()`` requires every value within 1...1,000,000,000.
    public init(messagesPerSecond: Int, messageBurst: Int, bytesPerSecond: Int, byteBurst: Int) {
        self.messagesPerSecond = messagesPerSecond
        self.messageBurst = messageBurst
        self.bytesPerSecond = bytesPerSecond
        self.byteBurst = byteBurst
    }
}

/// Errors in a ``MeshConfiguration`` or ``MeshCredentials``, each saying what to change.
public enum MeshConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The mesh ID is empty or longer than 255 UTF-8 bytes.
    case invalidMeshID(String)
    /// A password mesh was given an empty password (use ``MeshAccess/open`` for a mesh anyone may join).
    case emptyPassword
    /// The neighbor counts break `1 <= min <= ideal <= max <= 64`.
    case invalidNeighborBounds(min: Int, ideal: Int, max: Int)
    /// Another setting is out of range; the text says which and what is allowed.
    case invalidValue(String)

    public var description: String {
        switch self {
        case let .invalidMeshID(id): "mesh ID \"\(id)\" is invalid: use 1 to 255 bytes of UTF-8"
        case .emptyPassword: "an empty password is not allowed: pass a non-empty password, or use MeshAccess.open for a mesh anyone may join"
        case let .invalidNeighborBounds(min, ideal, max):
            "neighbor bounds must satisfy 1 <= min <= ideal <= max <= 64; got min \(min), ideal \(ideal), max \(max)"
        case let .invalidValue(what): "invalid configuration: \(what)"
        }
    }
}

/// Tunables of one mesh node. The defaults suit game sessions of up to a few hundred peers.
public struct MeshConfiguration: Sendable {
    /// Below this many neighbors maintenance runs at its fast pace (Peer Channel: 2).
    public var minNeighbors = 2
    /// The node seeks this many neighbors (Peer Channel: 3).
    public var idealNeighbors = 4
    /// The node refuses links above this many (Peer Channel: 7).
    public var maxNeighbors = 8
    /// How many hops a message may take (the origin's first send is hop 1).
    public var hopLimit: UInt8 = 32
    /// Largest datagram sent or accepted.
    public var maxDatagramSize = Wire.defaultMaxDatagramSize
    /// Keepalive period per link; RTT is measured on each.
    public var keepaliveInterval: Duration = .seconds(1)
    /// A link with no valid datagram for this long is dead.
    public var deadLinkTimeout: Duration = .seconds(4)
    /// How often neighbor maintenance runs (faster while the node has no neighbor).
    public var maintenanceInterval: Duration = .seconds(1)
    /// Maintenance period while the node has fewer than ``minNeighbors`` neighbors.
    public var aloneMaintenanceInterval: Duration = .milliseconds(250)
    /// How often a node with room for more links tries one new random peer, which is how two
    /// halves of a healed partition find each other again.
    public var exploreInterval: Duration = .seconds(20)
    /// Minimum time between two resolve requests.
    public var resolveInterval: Duration = .seconds(2)
    /// The longest wait before a handshake message goes out again (the waits double up to it),
    /// and the period of path openers.
    public var handshakeRetry: Duration = .milliseconds(300)
    /// How long after a Connect it goes out again if no Challenge came; each next wait is twice
    /// the last, up to ``handshakeRetry``. A Confirm goes out again after twice the round trip
    /// its Challenge took (at least 20 ms), doubling likewise. A lost handshake message then
    /// costs about a round trip, not a whole ``handshakeRetry``: at 20% loss a link's four
    /// messages all arrive only 41% of the time.
    public var handshakeFirstRetry: Duration = .milliseconds(50)
    /// Deadline for a whole handshake, counted from its first message; then it is dropped.
    public var handshakeTimeout: Duration = .seconds(3)
    /// Path opening (PROTOCOL.md §6.7): the IP hop limit (TTL) of the small datagrams that open
    /// this node's NAT toward a peer the resolver listed at an address that may be behind a NAT
    /// of its own. 2 crosses a home router and expires one hop later, before it can reach the
    /// other side's router. Such a peer gets full Connects only after the resolver introduced
    /// it (it opened its side before it asked); a router that accepts unsolicited datagrams to itself
    /// would otherwise take the first Connect for its own and spoil the mapping the answer
    /// needs. 0 turns path opening off: every dial sends its Connect at once.
    public var openerHopLimit: UInt8 = 2
    /// After an introduction, how long a dial sends only openers before its first full Connect.
    /// The peer that asked for the introduction opened its NAT before asking (PROTOCOL.md §6.7),
    /// so this is a margin, not what the opening relies on.
    public var openingTime: Duration = .milliseconds(250)
    /// How long an introduction allows full Connects to the peer it introduced.
    public var introductionLifetime: Duration = .seconds(5)
    /// How long to wait after an announcement (IHave) before pulling a missing message (Graft):
    /// the eager copy may still be on its way.
    public var graftTimeout: Duration = .milliseconds(120)
    /// Period between further pull attempts, rotating through the peers that announced it.
    public var graftRetry: Duration = .milliseconds(120)
    /// A node keeps at least this many eager links even when they bring duplicates. Concurrent
    /// prunes triggered by different origins can otherwise cut the shared tree into pieces, and
    /// every cut costs a pull delay; three links per node keep it whole at a modest redundancy.
    public var minEagerLinks = 3
    /// Pulls (Grafts) tried for one missing message before it is given up as lost.
    public var maxGraftAttempts = 12
    /// Flooded messages kept to answer pulls (first in, first out).
    public var messageCacheCapacity = 4096
    /// Origins tracked for duplicate suppression. When the table is full the least recently
    /// active origin is forgotten. Its old messages could then be accepted again if replayed,
    /// so keep this well above the number of origins active within the message cache's span.
    public var maxOrigins = 4096
    /// Only origins heard within this horizon are summarized in keepalives (anti-entropy).
    public var summaryHorizon: Duration = .seconds(15)
    /// What each neighbor may send us. Excess is dropped and counted.
    public var inboundLimit = RateLimit(messagesPerSecond: 4000, messageBurst: 800, bytesPerSecond: 4 << 20, byteBurst: 512 << 10)
    /// What any one origin may inject into the mesh, enforced by every node before it delivers or
    /// forwards. The per-neighbor bucket alone is not enough: a flooding member's valid messages
    /// would otherwise be relayed by each of its honest neighbors at their full allowance.
    public var originLimit = RateLimit(messagesPerSecond: 1000, messageBurst: 500, bytesPerSecond: 1 << 20, byteBurst: 256 << 10)
    /// Pacing of what we send each neighbor (kept under the peer's inbound allowance).
    public var outboundLimit = RateLimit(messagesPerSecond: 3600, messageBurst: 700, bytesPerSecond: 3 << 20, byteBurst: 400 << 10)
    /// Handshake messages answered per second, across all sources (anti-amplification).
    public var handshakesPerSecond = 200
    /// A neighbor collects a strike for each second in which it exceeded its allowance by more
    /// than a tenth, and loses one for each second without drops; at this many it is disconnected.
    public var rateLimitStrikes = 3
    /// Misbehaviour score at which a neighbor is disconnected and banned.
    public var misbehaviourThreshold = 100
    /// How long a punished peer stays banned: its Connects are refused and it is not dialed.
    public var banDuration: Duration = .seconds(120)
    /// Outgoing queue bound per neighbor; a backlog above ``slowBacklog`` for ``slowTimeout``
    /// closes the link as too slow (Peer Channel: 128, 32, 10-20 s).
    public var outboundQueueLimit = 128
    /// Queued datagrams per neighbor above which the link counts as backlogged.
    public var slowBacklog = 32
    /// How long the backlog may stay above ``slowBacklog`` before the link is closed as too slow.
    public var slowTimeout: Duration = .seconds(10)
    /// Decides per received message whether to deliver, forward, both or neither.
    public var propagationFilter: (@Sendable (FloodMessage) -> Propagation)?

    /// The default settings. ``MeshNode`` runs ``validate()`` on the configuration it is given.
    public init() {}

    /// Checks the bounds.
    public func validate() throws(MeshConfigurationError) {
        guard minNeighbors >= 1, minNeighbors <= idealNeighbors, idealNeighbors <= maxNeighbors, maxNeighbors <= 64 else {
            throw .invalidNeighborBounds(min: minNeighbors, ideal: idealNeighbors, max: maxNeighbors)
        }
        guard hopLimit >= 1 else { throw .invalidValue("hopLimit must be at least 1") }
        guard maxDatagramSize >= 1100, maxDatagramSize <= 65_507 else {
            throw .invalidValue("maxDatagramSize must be 1100...65507 (a full IHave batch needs up to 1063 bytes)")
        }
        for (name, limit) in [("inboundLimit", inboundLimit), ("outboundLimit", outboundLimit)] where limit.byteBurst < maxDatagramSize {
            throw .invalidValue(
                "\(name).byteBurst (\(limit.byteBurst)) must be at least maxDatagramSize (\(maxDatagramSize)), or a full datagram could never pass")
        }
        for (name, limit) in [("inboundLimit", inboundLimit), ("outboundLimit", outboundLimit), ("originLimit", originLimit)] {
            for value in [limit.messagesPerSecond, limit.messageBurst, limit.bytesPerSecond, limit.byteBurst] where !(1...1_000_000_000).contains(value) {
                throw .invalidValue("\(name): every rate and burst must be between 1 and 1,000,000,000 (got \(value))")
            }
        }
        guard handshakesPerSecond >= 1, handshakesPerSecond <= 1_000_000 else { throw .invalidValue("handshakesPerSecond must be 1...1,000,000") }
        guard messageCacheCapacity > 0, maxOrigins > 0 else { throw .invalidValue("cache sizes must be positive") }
        guard handshakeFirstRetry >= .milliseconds(1), handshakeFirstRetry <= handshakeRetry, handshakeRetry < handshakeTimeout else {
            throw .invalidValue("handshakeFirstRetry must be at least 1 ms and at most handshakeRetry, and handshakeRetry below handshakeTimeout")
        }
        guard openingTime >= .zero, openingTime < handshakeTimeout, introductionLifetime > openingTime else {
            throw .invalidValue("openingTime must be 0 or more and below handshakeTimeout, and introductionLifetime longer than openingTime")
        }
    }
}
