import MeshstepWire

/// A flooded or unicast message handed to the application, exactly once per (origin, seq), or a
/// direct message from a neighbor (``MeshNode/sendDirect(_:to:now:)``), once per datagram.
public struct DeliveredMessage: Sendable, Equatable {
    /// The peer that created the message (signed it, or for a direct message: the neighbor whose
    /// link tag proves it sent it).
    public var origin: PeerKey
    /// The origin's sequence number of the message (1 or more); 0 for a direct message, which has
    /// none (duplicates of it are stopped by the link's sequence numbers).
    public var seq: UInt64
    /// The application bytes.
    public var payload: [UInt8]
    /// Hops the copy took (1 = straight from the origin).
    public var hops: Int
    /// The neighbor it arrived from.
    public var from: PeerKey
    /// True when the origin addressed it to this node alone.
    public var isUnicast: Bool
}

/// Something the application may want to know about the node's place in the mesh.
public enum MeshEvent: Sendable, Equatable {
    /// The node gained its first neighbor (announced with ``neighborUp(_:_:)``).
    case online
    /// The node lost its last announced neighbor.
    case offline
    /// A link to this peer at this address is up on both sides: we initiated it and its Welcome
    /// came, or we accepted it and the peer has used it (a link whose Welcome was lost is never
    /// announced, PROTOCOL.md §6.3).
    case neighborUp(PeerKey, MeshAddress)
    /// A link announced with ``neighborUp(_:_:)`` closed. `byUs` tells which side closed it.
    case neighborDown(PeerKey, MeshAddress, reason: DisconnectReason, byUs: Bool)
    /// Our attempt to join through `address` was refused (for example: wrong password, mesh
    /// full, wrong mesh). Wrong-password refusals are final; the others are retried elsewhere.
    case connectRefused(MeshAddress, reason: DisconnectReason)
    /// A neighbor's datagrams now come from another address (its NAT gave it a new public port,
    /// or it moved network): the link goes on there, keys and all.
    case neighborMoved(PeerKey, from: MeshAddress, to: MeshAddress)
}

/// What the driver must do on the node's behalf.
public enum MeshAction: Sendable {
    /// Send these bytes as one UDP datagram.
    case send([UInt8], to: MeshAddress)
    /// Send these bytes as one UDP datagram with this IP hop limit (TTL): a path opener
    /// (PROTOCOL.md §6.7), meant to open this node's NAT toward `to` and to expire before it
    /// gets there. A driver that cannot set the hop limit sends nothing.
    case sendOpener([UInt8], to: MeshAddress, hopLimit: UInt8)
    /// Hand a message to the application.
    case deliver(DeliveredMessage)
    /// Tell the application about a change in the node's place in the mesh.
    case event(MeshEvent)
    /// Ask the resolver (or LAN discovery) for candidate peers; answer with
    /// ``MeshNode/addCandidates(_:introducedTo:now:)``. `introduce`: the peers the resolver is
    /// to introduce this node to (`ResolveRequest.introduce`, PROTOCOL.md §6.7). The openers
    /// that open this node's NAT toward them come before this action: carry the actions out in
    /// order, and send the request from the mesh's socket.
    case resolve(introduce: [PeerKey])
    /// Ask the resolver where the mesh's peers are now (a driver without one ignores it), and
    /// answer with ``MeshNode/addCandidates(_:introducedTo:now:)``: some links went quiet, so a neighbor may
    /// have a new public address. Seeds and LAN discovery have nothing to add, so unlike
    /// ``resolve`` this asks only the resolver, and may come every half keepalive interval.
    case locate
    /// Register with the resolver again now (a driver without one ignores it): every link went
    /// quiet at once, so this node's own NAT may have given it a new public port, which the
    /// resolver learns from the registration and tells the others.
    case reregister
}

/// Why a local send was not accepted.
public enum MeshSendError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The payload does not fit one datagram; split it (limit given in bytes).
    case payloadTooLarge(size: Int, limit: Int)
    /// The node has left the mesh.
    case notRunning

    public var description: String {
        switch self {
        case let .payloadTooLarge(size, limit): "payload of \(size) bytes is larger than the \(limit)-byte limit; split it into smaller messages"
        case .notRunning: "the node has left the mesh; create a new node to rejoin"
        }
    }
}

/// Counters of everything the node did and rejected. Every rejection is counted here.
public struct MeshStats: Sendable, Equatable {
    /// All counters at zero.
    public init() {}
    /// Datagrams received while the node runs, valid or not.
    public var datagramsReceived = 0
    /// Bytes in the datagrams received.
    public var bytesReceived = 0
    /// Datagrams handed to the driver to send, handshake and link (queued ones when they leave the queue).
    public var datagramsSent = 0
    /// Bytes in the datagrams sent.
    public var bytesSent = 0
    /// Full flooded-message copies received (new or not).
    public var floodCopiesReceived = 0
    /// Messages handed to the application.
    public var delivered = 0
    /// New messages passed on to neighbors (counted once per message, not per link).
    public var forwarded = 0
    /// Copies of messages passed on to a neighbor that asked for them because it cannot link to
    /// their origin (a Relay request, PROTOCOL.md §7.10), counted per copy.
    public var relayed = 0
    /// Relay requests sent (every half second while a protected peer is out of direct reach).
    public var relayRequestsSent = 0
    /// Messages this node published as origin.
    public var originated = 0
    /// Direct messages sent (one per link: application bytes for that neighbor only, unsigned).
    public var directSent = 0
    /// Direct messages received and handed to the application.
    public var directReceived = 0
    /// IHave datagrams sent (announcements on lazy links).
    public var iHavesSent = 0
    /// Graft datagrams sent to pull missing messages.
    public var graftsSent = 0
    /// Stored messages sent to neighbors in answer to their Grafts.
    public var graftsServed = 0
    /// Prunes sent: an eager link brought a duplicate and was turned lazy.
    public var prunesSent = 0
    /// Missing messages given up on after every pull attempt failed.
    public var lost = 0
    // Rejections.
    /// Datagrams that failed to decode.
    public var malformed = 0
    /// Post-handshake datagrams whose link tag did not verify.
    public var badTag = 0
    /// Post-handshake datagrams from an address with no link (none of the links' keys verifies them).
    public var unknownSender = 0
    /// Links moved to a new address of their peer (a fresh datagram verified with the link's key
    /// came from there).
    public var neighborsMoved = 0
    /// Keepalives sent to a quiet neighbor's new address, as the resolver lists it.
    public var probesSent = 0
    /// Path openers sent (``MeshAction/sendOpener(_:to:hopLimit:)``).
    public var openersSent = 0
    /// Introductions received from the resolver (``MeshNode/introduced(_:now:)``).
    public var introductions = 0
    /// Flooded messages whose origin signature did not verify (forged or altered).
    public var forged = 0
    /// Ed25519 verifications (flooded messages' origin signatures, handshake signatures: the costly check, about
    /// 50 us each): what an attacker would like to make a node spend.
    public var signatureChecks = 0
    /// Flooded messages of a signed batch accepted on a root whose signature was checked before
    /// (no Ed25519 verification of their own; docs/PROTOCOL.md §5.4a).
    public var batchProofsAccepted = 0
    /// Announcements (IHave, summaries) not followed up because their announcer already holds
    /// its share of the pull table open.
    public var announcementsIgnored = 0
    /// Copies of messages already held (normal in small numbers).
    public var duplicates = 0
    /// Messages older than the replay window (replays).
    public var stale = 0
    /// Datagrams dropped by a neighbor's inbound token bucket.
    public var rateLimited = 0
    /// Valid messages dropped because their origin exceeded ``MeshConfiguration/originLimit``.
    public var originRateLimited = 0
    /// Datagrams we dropped because a neighbor's outgoing queue was full.
    public var outboundDropped = 0
    /// Handshakes we refused because the peer's proof or signature failed.
    public var authenticationRejected = 0
    /// Handshake messages left unanswered because the handshake budget was spent.
    public var handshakesThrottled = 0
    /// Full copies a neighbor sent us a third time (replays within the window).
    public var replayed = 0
    /// Link datagrams whose link sequence number was already seen (captured or duplicated).
    public var linkReplays = 0
    /// Handshakes refused for other reasons (full, wrong mesh, duplicate, banned).
    public var handshakesRefused = 0
    /// Neighbors disconnected for misbehaviour or rate-limit abuse.
    public var neighborsPunished = 0

    /// Everything rejected as hostile or broken (not counting benign duplicates).
    public var rejectedTotal: Int {
        malformed + badTag + unknownSender + forged + stale + replayed + rateLimited + originRateLimited + authenticationRejected + handshakesThrottled
            + linkReplays
    }
}

/// A snapshot of one link.
public struct NeighborInfo: Sendable, Equatable {
    /// The neighbor's identity key.
    public var peer: PeerKey
    /// The neighbor's UDP endpoint.
    public var address: MeshAddress
    /// True when this node dialed the link (sent the Connect).
    public var initiatedByUs: Bool
    /// Smoothed round-trip time, once measured.
    public var rtt: Duration?
    /// Whether full messages are pushed on this link (tree link) or only announced.
    public var eager: Bool
    /// How often this link brings new messages first (Peer Channel's measure): every new message
    /// multiplies it by 31/32, and adds 128 when it came over this link. Pruning closes the lowest.
    public var utility: Int
    /// The neighbor's misbehaviour score (decays by 1/16 each second); at
    /// ``MeshConfiguration/misbehaviourThreshold`` it is disconnected and banned.
    public var misbehaviourScore: Int
    /// Datagrams waiting in the link's outgoing pacing queue.
    public var outboundQueue: Int
}
