/// Why a link was refused or closed. Carried in ``Refuse`` and ``Disconnect``.
public enum DisconnectReason: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// The responder already has its maximum number of neighbors; try the referrals.
    case meshFull = 1
    /// The responder belongs to another mesh ID.
    case wrongMesh = 2
    /// The password proof did not verify (wrong password), or the identity signature failed.
    case authenticationFailed = 3
    /// A link between these two peers already exists or is being set up from the other side.
    case duplicateLink = 4
    /// The peer is leaving the mesh (clean shutdown).
    case leaving = 5
    /// The peer could not keep up with what we had to send it.
    case tooSlow = 6
    /// The peer kept sending more than its allowance after being throttled.
    case rateLimited = 7
    /// The peer sent forged, replayed or malformed messages.
    case misbehaving = 8
    /// No sign of life within the dead-link timeout.
    case timedOut = 9
    /// Closed to make room: the link was the least useful one above the ideal neighbor count.
    case notUseful = 10
    /// The peer is banned for earlier misbehaviour.
    case banned = 11

    public var description: String {
        switch self {
        case .meshFull: "mesh full"
        case .wrongMesh: "wrong mesh"
        case .authenticationFailed: "authentication failed"
        case .duplicateLink: "duplicate link"
        case .leaving: "leaving"
        case .tooSlow: "too slow"
        case .rateLimited: "rate limited"
        case .misbehaving: "misbehaving"
        case .timedOut: "timed out"
        case .notUseful: "not useful"
        case .banned: "banned"
        }
    }
}

/// Handshake step 1, initiator to responder: "I want to join mesh X; here is who I am."
public struct Connect: Equatable, Sendable {
    /// The 16-byte digest of the mesh ID the initiator wants to join.
    public var meshDigest: [UInt8]
    /// The initiator's identity key.
    public var sender: PeerKey
    /// The initiator's random 16-byte nonce; the responder echoes it.
    public var nonce: [UInt8]
    /// The initiator's ephemeral X25519 public key for this link.
    public var ephemeral: [UInt8]
    /// How many neighbors the initiator has: a full node still makes room for a starving joiner.
    public var degree: UInt8
    /// Builds a Connect from its fields.
    public init(meshDigest: [UInt8], sender: PeerKey, nonce: [UInt8], ephemeral: [UInt8], degree: UInt8 = 0) {
        self.meshDigest = meshDigest
        self.sender = sender
        self.nonce = nonce
        self.ephemeral = ephemeral
        self.degree = degree
    }
}

/// Handshake step 2, responder to initiator: the responder's identity and its own nonce.
/// Carries no proof: a responder reveals nothing about the password to a stranger.
public struct Challenge: Equatable, Sendable {
    /// The responder's identity key.
    public var sender: PeerKey
    /// The initiator's nonce from the Connect this answers.
    public var echoNonce: [UInt8]
    /// The responder's own random 16-byte nonce.
    public var nonce: [UInt8]
    /// The responder's ephemeral X25519 public key for this link.
    public var ephemeral: [UInt8]
    /// Builds a Challenge from its fields.
    public init(sender: PeerKey, echoNonce: [UInt8], nonce: [UInt8], ephemeral: [UInt8]) {
        self.sender = sender
        self.echoNonce = echoNonce
        self.nonce = nonce
        self.ephemeral = ephemeral
    }
}

/// Handshake step 3, initiator to responder: password proof and identity signature over the
/// transcript.
public struct Confirm: Equatable, Sendable {
    /// The initiator's identity key.
    public var sender: PeerKey
    /// The initiator's password proof: HMAC-SHA256 of the transcript under the mesh key (32 bytes).
    public var proof: [UInt8]
    /// The initiator's Ed25519 signature over the handshake transcript (64 bytes).
    public var signature: [UInt8]
    /// Builds a Confirm from its fields.
    public init(sender: PeerKey, proof: [UInt8], signature: [UInt8]) {
        self.sender = sender
        self.proof = proof
        self.signature = signature
    }
}

/// Handshake step 4, responder to initiator: the responder's proof and signature, and referrals.
public struct Welcome: Equatable, Sendable {
    /// The responder's password proof: HMAC-SHA256 of the transcript under the mesh key (32 bytes).
    public var proof: [UInt8]
    /// The responder's Ed25519 signature over the handshake transcript (64 bytes).
    public var signature: [UInt8]
    /// Up to 10 of the responder's neighbors, the initiator excluded.
    public var referrals: [Referral]
    /// Builds a Welcome; the encoder keeps at most the first 10 referrals.
    public init(proof: [UInt8], signature: [UInt8], referrals: [Referral]) {
        self.proof = proof
        self.signature = signature
        self.referrals = referrals
    }
}

/// Handshake refusal, either direction. Not authenticated: a refusal can only end a handshake in
/// progress whose nonce it echoes.
public struct Refuse: Equatable, Sendable {
    /// Why the handshake is refused.
    public var reason: DisconnectReason
    /// The initiator's 16-byte nonce of the refused handshake.
    public var echoNonce: [UInt8]
    /// Peers to try instead (up to 10). The node sends some only with a responder's
    /// ``DisconnectReason/meshFull``.
    public var referrals: [Referral]
    /// Builds a Refuse; the encoder keeps at most the first 10 referrals.
    public init(reason: DisconnectReason, echoNonce: [UInt8], referrals: [Referral]) {
        self.reason = reason
        self.echoNonce = echoNonce
        self.referrals = referrals
    }
}

/// Closes an established link (link-authenticated), with the reason and referrals.
public struct Disconnect: Equatable, Sendable {
    /// Why the link is closed.
    public var reason: DisconnectReason
    /// Some of the sender's other neighbors (up to 10), so the receiver can find new links.
    public var referrals: [Referral]
    /// Builds a Disconnect; the encoder keeps at most the first 10 referrals.
    public init(reason: DisconnectReason, referrals: [Referral]) {
        self.reason = reason
        self.referrals = referrals
    }
}

/// A message flooded through the mesh (or routed to one peer when ``destination`` is set),
/// signed by its origin.
public struct FloodMessage: Equatable, Sendable {
    /// Hops this copy may still take; a receiver forwards only when this is above 1.
    public var hopLimit: UInt8
    /// Hops taken so far (1 when received straight from the origin). Not signed.
    public var hops: UInt8
    /// The peer that created and signed the message.
    public var origin: PeerKey
    /// The origin's sequence number for this message (1 or more).
    public var seq: UInt64
    /// Set for unicast: only this peer delivers it.
    public var destination: PeerKey?
    /// The application bytes.
    public var payload: [UInt8]
    /// Ed25519 signature by `origin`: over ``signedBytes(meshDigest:)`` for a message signed
    /// alone; over its batch's root (docs/PROTOCOL.md §5.4a) when ``proof`` is set.
    public var signature: [UInt8]
    /// For a message signed in a batch, where it sits in the batch's hash tree.
    public var proof: BatchProof?

    /// Builds a message from its fields. Nothing is checked here, the signature included.
    public init(
        hopLimit: UInt8, hops: UInt8, origin: PeerKey, seq: UInt64, destination: PeerKey?, payload: [UInt8], signature: [UInt8],
        proof: BatchProof? = nil
    ) {
        self.hopLimit = hopLimit
        self.hops = hops
        self.origin = origin
        self.seq = seq
        self.destination = destination
        self.payload = payload
        self.signature = signature
        self.proof = proof
    }

    /// Identifies the message: its origin and sequence number.
    public var ref: MessageRef { MessageRef(origin: origin, seq: seq) }

    /// What the origin signs: a domain label, the mesh, origin, sequence number, destination and
    /// payload. Hop fields are left out because relays change them.
    public static func signedBytes(meshDigest: [UInt8], origin: PeerKey, seq: UInt64, destination: PeerKey?, payload: [UInt8]) -> [UInt8] {
        withSignedHeader(meshDigest: meshDigest, origin: origin, seq: seq, destination: destination, payloadCount: payload.count) { header in
            var out = [UInt8]()
            out.reserveCapacity(header.count + payload.count)
            out.append(contentsOf: header)
            out.append(contentsOf: payload)
            return out
        }
    }

    /// The domain label that starts ``signedBytes(meshDigest:origin:seq:destination:payload:)``.
    @usableFromInline static let signedLabel = Array("meshstep-flood-v1".utf8)

    /// The most bytes ``withSignedHeader(meshDigest:origin:seq:destination:payloadCount:_:)``
    /// passes for a mesh digest of `digestCount` bytes.
    @usableFromInline static func signedHeaderCapacity(digestCount: Int) -> Int { signedLabel.count + digestCount + Wire.keySize + 8 + 1 + Wire.keySize + 10 }

    /// Calls `body` with the signed bytes of a message up to its payload (label, mesh, origin,
    /// sequence number, destination, the payload's length prefix), assembled on the stack: a
    /// relay hashes them and the payload in place, with no array per message.
    @inlinable
    public static func withSignedHeader<R>(
        meshDigest: [UInt8], origin: PeerKey, seq: UInt64, destination: PeerKey?, payloadCount: Int, _ body: (UnsafeRawBufferPointer) -> R
    ) -> R {
        withUnsafeTemporaryAllocation(byteCount: signedHeaderCapacity(digestCount: meshDigest.count), alignment: 8) { buffer in
            var n = 0
            signedLabel.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            n += signedLabel.count
            meshDigest.withUnsafeBytes { if $0.count > 0 { (buffer.baseAddress! + n).copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
            n += meshDigest.count
            origin.write(into: buffer, at: n)
            n += Wire.keySize
            buffer.storeBytes(of: seq.bigEndian, toByteOffset: n, as: UInt64.self)
            n += 8
            if let destination {
                buffer[n] = 1
                destination.write(into: buffer, at: n + 1)
                n += 1 + Wire.keySize
            } else {
                buffer[n] = 0
                n += 1
            }
            var length = UInt64(payloadCount)
            while length >= 0x80 {
                buffer[n] = UInt8(truncatingIfNeeded: length) | 0x80
                length >>= 7
                n += 1
            }
            buffer[n] = UInt8(length)
            n += 1
            return body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
    }

    /// The bytes the origin signs for this message in the mesh with digest `meshDigest`.
    public func signedBytes(meshDigest: [UInt8]) -> [UInt8] {
        Self.signedBytes(meshDigest: meshDigest, origin: origin, seq: seq, destination: destination, payload: payload)
    }
}

/// Where one message of a signed batch sits in the batch's hash tree: one signature covers up
/// to 2^``Wire/maxBatchDepth`` messages, and each carries the batch's salt and the sibling hashes
/// that lead from its own leaf to the signed root (docs/PROTOCOL.md §5.4a).
public struct BatchProof: Equatable, Sendable {
    /// Levels of the tree, 1...``Wire/maxBatchDepth``: the batch has at most 2^depth messages.
    public var depth: UInt8
    /// The message's leaf, 0..<2^depth.
    public var index: UInt8
    /// The batch's random salt, in every leaf (``Wire/batchSaltSize`` bytes).
    public var salt: [UInt8]
    /// The sibling hashes from the leaf up to the root, ``Wire/batchHashSize`` bytes each.
    public var path: [UInt8]

    /// A proof from its fields. The decoder checks that `index < 2^depth`, that `salt` has 16
    /// bytes and that `path` has `depth` hashes; nothing else is checked here.
    public init(depth: UInt8, index: UInt8, salt: [UInt8], path: [UInt8]) {
        self.depth = depth
        self.index = index
        self.salt = salt
        self.path = path
    }

    /// Bytes a proof of `depth` levels takes on the wire: depth, index, salt and the path.
    public static func size(depth: Int) -> Int { 2 + Wire.batchSaltSize + depth * Wire.batchHashSize }
}

/// A summary entry that names its origin by a short tag (``PeerKey/tag``) instead of the whole
/// key: for an origin the sender already named in full on the same link.
public struct ShortRef: Hashable, Sendable {
    /// The first 8 bytes of the origin's key, big-endian.
    public var tag: UInt64
    /// The origin's sequence number.
    public var seq: UInt64
    /// The entry for message `seq` of the origin with key tag `tag`.
    public init(tag: UInt64, seq: UInt64) {
        self.tag = tag
        self.seq = seq
    }
}

/// Liveness probe with the sender's neighbor count and a summary of the newest sequence number it
/// holds for some origins (anti-entropy: a receiver that lacks one pulls it).
public struct Ping: Equatable, Sendable {
    /// A random number that the answering ``Message/pong(nonce:degree:)`` echoes.
    public var nonce: UInt64
    /// The sender's neighbor count, clamped to 255.
    public var degree: UInt8
    /// The newest sequence number the sender holds for some recently active origins, with the
    /// origin's whole key.
    public var summary: [MessageRef]
    /// More of the same, each origin named by its tag: origins the sender already named in full
    /// in an earlier summary on this link.
    public var known: [ShortRef]
    /// Builds a Ping from its fields (the encoder keeps at most 24 entries in all, `summary`'s
    /// first).
    public init(nonce: UInt64, degree: UInt8, summary: [MessageRef], known: [ShortRef] = []) {
        self.nonce = nonce
        self.degree = degree
        self.summary = summary
        self.known = known
    }
}

/// Every message of the protocol. One message per datagram (``floods(_:)`` holds several Flood
/// messages in one).
public enum Message: Equatable, Sendable {
    /// Handshake step 1, initiator to responder (kind `0x01`).
    case connect(Connect)
    /// Handshake step 2, responder to initiator (kind `0x02`).
    case challenge(Challenge)
    /// Handshake step 3, initiator to responder (kind `0x03`).
    case confirm(Confirm)
    /// Handshake step 4, responder to initiator (kind `0x04`).
    case welcome(Welcome)
    /// Refuses a handshake, either direction (kind `0x05`).
    case refuse(Refuse)
    /// Closes an established link (kind `0x06`, the first link-authenticated kind).
    case disconnect(Disconnect)
    /// An application message flooded through the mesh or routed to one peer (kind `0x10`).
    case flood(FloodMessage)
    /// Lazy push: "I have these messages" (Plumtree IHAVE).
    case iHave([MessageRef])
    /// "Send me these messages, and push eagerly to me from now on" (Plumtree GRAFT).
    case graft([MessageRef])
    /// "Stop pushing full messages to me; announce them instead" (Plumtree PRUNE). The whole link
    /// turns lazy; each ref names a duplicate that triggered it (room for per-origin trees).
    case prune([MessageRef])
    /// "For the next few seconds, pass me every message these origins send you directly" (kind
    /// `0x14`): the sender cannot link to them itself (both behind NATs that defeat hole
    /// punching). At most ``Wire/maxRelayOrigins``; an empty list cancels.
    case relay([PeerKey])
    /// Two to ``Wire/maxFloodsPerDatagram`` Flood messages for the same link in one datagram
    /// (kind `0x16`): each as in a Flood, but an entry may leave out its origin when it is the
    /// previous entry's, and its signature, batch depth and salt when it belongs to the previous
    /// entry's signed batch (docs/PROTOCOL.md §3.10c). Decoded, every entry is a whole message.
    case floods([FloodMessage])
    /// Application bytes for the neighbor at the other end of the link only (kind `0x15`):
    /// neither signed nor forwarded; the link tag proves who sent them. The body is the payload,
    /// up to the tag.
    case direct([UInt8])
    /// Liveness probe with the sender's neighbor count and an anti-entropy summary (kind `0x20`).
    case ping(Ping)
    /// Answers a ping: the echoed nonce and the sender's neighbor count.
    case pong(nonce: UInt64, degree: UInt8)

    /// The kind byte on the wire.
    public var kind: UInt8 {
        switch self {
        case .connect: 0x01
        case .challenge: 0x02
        case .confirm: 0x03
        case .welcome: 0x04
        case .refuse: 0x05
        case .disconnect: 0x06
        case .flood: 0x10
        case .iHave: 0x11
        case .graft: 0x12
        case .prune: 0x13
        case .relay: 0x14
        case .direct: 0x15
        case .floods: 0x16
        case .ping: 0x20
        case .pong: 0x21
        }
    }

    /// Whether the datagram ends in a link authentication tag. Only the handshake is untagged.
    public var isLinkAuthenticated: Bool { Self.kindIsLinkAuthenticated(kind) }

    /// Whether datagrams of kind byte `kind` carry a link sequence number and tag: every kind from
    /// `0x06` (Disconnect) up.
    public static func kindIsLinkAuthenticated(_ kind: UInt8) -> Bool { kind >= 0x06 }
}
