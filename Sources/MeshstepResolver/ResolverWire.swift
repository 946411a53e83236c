import Crypto
import MeshstepMesh
import MeshstepWire

/// Constants of the resolver protocol, version 5 (see `docs/RESOLVER.md`).
///
/// The resolver protocol has its own magic (`MR`), so a node can talk to a resolver from its
/// mesh socket and tell the two protocols apart by the first two bytes.
public enum ResolverWire {
    /// ASCII `MR`.
    public static let magic: (UInt8, UInt8) = (0x4D, 0x52)
    /// The resolver protocol version this build speaks.
    public static let version: UInt8 = 5
    /// Magic, version, kind.
    public static let headerSize = 4
    /// Largest datagram sent or accepted.
    public static let maxDatagramSize = 1200
    /// Most addresses one peer may register.
    public static let maxAddresses = 4
    /// Most peers one `Resolved` answer carries.
    public static let maxPeersPerAnswer = 10
    /// Most peers one `Resolve` asks to be introduced to (``ResolveRequest/introduce``).
    public static let maxIntroductions = 10
    /// Anti-amplification: an answer is never more than this many times the size of the
    /// request it answers, so a spoofed source gains little. Clients pad resolve requests
    /// (``ResolveRequest/padding``) to get full answers.
    public static let amplificationFactor = 3
    /// The resolve size ``ResolverClient`` pads to: 3 x 400 covers the largest answer (1108 bytes).
    public static let paddedResolveSize = 400
    /// Size of a mesh ID on the resolver wire: the mesh's admission public key.
    public static let meshKeySize = 32
    /// Size of a return-routability cookie (``CookieAnswer``).
    public static let cookieSize = 16
    /// Domain separator prepended to every signed resolver transcript.
    public static let signatureDomain: [UInt8] = Array("meshstep-resolver-v2\u{0}".utf8)

    /// The cookie field of a request from a sender that has no cookie yet: 16 zero bytes.
    public static let noCookie = [UInt8](repeating: 0, count: cookieSize)

    /// True if `bytes` starts with the resolver magic: a cheap check for a socket that receives
    /// both mesh and resolver datagrams.
    public static func isResolverDatagram(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == magic.0 && bytes[1] == magic.1
    }
}

/// A mesh as the resolver knows it: the public half of the mesh's admission key
/// (`MeshCredentials/admissionPublicKey`), derived from the mesh's name and password. The resolver
/// never learns the name or the password, and only members can sign registrations with the
/// private half.
public struct ResolverMeshID: Hashable, Sendable, CustomStringConvertible {
    /// The 32 bytes of the admission public key (Ed25519).
    public let key: [UInt8]

    /// The resolver ID of a mesh given by name and access, as members derive it.
    /// - Throws: `MeshConfigurationError` when the name is empty or longer than 255 bytes, or the
    ///   password is empty.
    public init(meshName: String, access: MeshAccess) throws(MeshConfigurationError) {
        key = try MeshCredentials(meshID: meshName, access: access).admissionPublicKey
    }

    /// The resolver ID of existing mesh credentials.
    public init(credentials: MeshCredentials) { key = credentials.admissionPublicKey }

    /// - Precondition: `key.count == 32` (the decoder checks this before calling).
    public init(key: [UInt8]) {
        precondition(key.count == ResolverWire.meshKeySize, "a resolver mesh ID has 32 bytes")
        self.key = key
    }

    /// The first 8 bytes in hex.
    public var description: String {
        key.prefix(8).map { b in (b < 16 ? "0" : "") + String(b, radix: 16) }.joined()
    }
}

/// Why the resolver refused a request. Sent in ``ResolverMessage/error(_:)``.
public enum ResolverErrorCode: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// A signature does not verify: the peer's with the key it names, or a register's mesh
    /// signature with the mesh's admission key (the sender does not know the password).
    case badSignature = 1
    /// The timestamp is not newer than the last one the resolver accepted from this peer.
    case replayed = 2
    /// The timestamp is too far from the resolver's clock; the error carries the resolver's time.
    case clockSkew = 3
    /// Unregister (or refresh) of a peer the resolver does not have.
    case unknownPeer = 4
    /// The mesh has the maximum number of peers.
    case meshFull = 5
    /// The resolver has the maximum number of meshes or registrations.
    case resolverFull = 6
    /// The request is well-formed but asks for something not allowed (for example a TTL of 0).
    case invalidRequest = 7

    public var description: String {
        switch self {
        case .badSignature: "bad signature: the request was not signed by the peer key it names, or not with the mesh's admission key (wrong password)"
        case .replayed: "replayed: the timestamp is not newer than the last accepted one from this peer"
        case .clockSkew: "clock skew: the timestamp is too far from the resolver's clock; sync the clock (NTP) or let the client adopt the resolver's time"
        case .unknownPeer: "unknown peer: the resolver has no registration for this peer in this mesh"
        case .meshFull: "mesh full: the mesh has the maximum number of peers on this resolver; raise --max-peers there"
        case .resolverFull: "resolver full: too many meshes or registrations on this resolver"
        case .invalidRequest: "invalid request"
        }
    }
}

/// A registration signed twice: "peer `peer` of mesh `mesh` is reachable at `addresses` for
/// `ttlSeconds`", by the peer's key and by the mesh's admission key (proof of membership).
public struct RegisterRequest: Hashable, Sendable {
    /// Matches the answer to the request; also a nonce.
    public var requestID: UInt64
    /// The mesh, by its admission public key.
    public var mesh: ResolverMeshID
    /// The peer, by its Ed25519 public key.
    public var peer: PeerKey
    /// Addresses the peer claims (at most 4). An unspecified address (`0.0.0.0` or `::`) stands
    /// for "the source address you see, with this port".
    public var addresses: [MeshAddress]
    /// Also register the address the datagram came from (useful behind NAT).
    public var includeObservedAddress: Bool
    /// Requested lifetime; the resolver may shorten it.
    public var ttlSeconds: UInt32
    /// Milliseconds since the Unix epoch; strictly increasing per peer.
    public var timestamp: UInt64
    /// The peer's Ed25519 signature over ``ResolverMessage/signedTranscript()``.
    public var signature: [UInt8]
    /// The mesh admission key's Ed25519 signature over the same transcript.
    public var meshSignature: [UInt8]
    /// The resolver's cookie for the sender's address (``CookieAnswer``), or 16 zero bytes when
    /// the sender has none yet. Outside the signed transcript: it proves the source address,
    /// not the content.
    public var cookie: [UInt8]

    /// An unsigned request; sign it with ``signed(by:credentials:)``.
    public init(
        requestID: UInt64, mesh: ResolverMeshID, peer: PeerKey, addresses: [MeshAddress], includeObservedAddress: Bool, ttlSeconds: UInt32, timestamp: UInt64,
        signature: [UInt8] = [], meshSignature: [UInt8] = [], cookie: [UInt8] = ResolverWire.noCookie
    ) {
        self.requestID = requestID
        self.mesh = mesh
        self.peer = peer
        self.addresses = addresses
        self.includeObservedAddress = includeObservedAddress
        self.ttlSeconds = ttlSeconds
        self.timestamp = timestamp
        self.signature = signature
        self.meshSignature = meshSignature
        self.cookie = cookie
    }
}

/// A signed removal: "remove peer `peer` from mesh `mesh`".
public struct UnregisterRequest: Hashable, Sendable {
    /// Random, chosen by the client; the answer echoes it.
    public var requestID: UInt64
    /// The mesh, by its admission public key.
    public var mesh: ResolverMeshID
    /// The peer, by its Ed25519 public key.
    public var peer: PeerKey
    /// Milliseconds since the Unix epoch; strictly increasing per peer (shared with registers).
    public var timestamp: UInt64
    /// Ed25519 signature over ``ResolverMessage/signedTranscript()``.
    public var signature: [UInt8]
    /// The resolver's cookie for the sender's address, or 16 zero bytes (see ``RegisterRequest/cookie``).
    public var cookie: [UInt8]

    /// An unsigned request; sign it with ``signed(by:)``.
    public init(
        requestID: UInt64, mesh: ResolverMeshID, peer: PeerKey, timestamp: UInt64, signature: [UInt8] = [], cookie: [UInt8] = ResolverWire.noCookie
    ) {
        self.requestID = requestID
        self.mesh = mesh
        self.peer = peer
        self.timestamp = timestamp
        self.signature = signature
        self.cookie = cookie
    }
}

/// "Give me up to `maxPeers` peers of `mesh`, not counting `exclude`."
public struct ResolveRequest: Hashable, Sendable {
    /// Random, chosen by the client; the answer echoes it.
    public var requestID: UInt64
    /// The mesh, by its admission public key.
    public var mesh: ResolverMeshID
    /// 1 to 10.
    public var maxPeers: UInt8
    /// Usually the requester's own key: left out of the answer, and the answer says whether
    /// this key is registered.
    public var exclude: PeerKey?
    /// Also introduce the requester to these peers (``IntroduceMessage``), at most
    /// ``ResolverWire/maxIntroductions``: each registered one gets the requester's registered
    /// addresses at once and starts sending to it. List only peers this node has already sent
    /// to from the address it asks from: its NAT is then open toward each before the resolver
    /// can reach them (docs/PROTOCOL.md §6.7). Honoured only when `exclude` is registered and the
    /// request comes from the address its registrations come from. Needs `exclude`; empty:
    /// no introductions.
    public var introduce: [PeerKey]
    /// Zero bytes appended to the request. The resolver keeps its answer within
    /// ``ResolverWire/amplificationFactor`` times the request's size, so a request that wants
    /// many peers must be padded (``ResolverWire/paddedResolveSize`` always suffices).
    public var padding: Int

    /// A resolve request; `padding` zero bytes are appended.
    public init(requestID: UInt64, mesh: ResolverMeshID, maxPeers: UInt8, exclude: PeerKey?, introduce: [PeerKey] = [], padding: Int = 0) {
        self.requestID = requestID
        self.mesh = mesh
        self.maxPeers = maxPeers
        self.exclude = exclude
        self.introduce = introduce
        self.padding = padding
    }

    /// The padding that makes the encoded request `size` bytes long (0 if it is longer already).
    /// - Parameter introductions: how many keys the request's ``introduce`` lists.
    public static func padding(toSize size: Int, exclude: PeerKey?, introductions: Int = 0) -> Int {
        let list = exclude == nil || introductions == 0 ? 0 : 1 + min(introductions, ResolverWire.maxIntroductions) * Wire.keySize
        return max(
            0,
            min(size, ResolverWire.maxDatagramSize) - (ResolverWire.headerSize + 8 + ResolverWire.meshKeySize + 2 + (exclude == nil ? 0 : Wire.keySize) + list))
    }
}

/// One registered peer and its addresses, as returned by a resolve.
public struct ResolvedPeer: Hashable, Sendable {
    /// The peer, by its Ed25519 public key.
    public var peer: PeerKey
    /// Where the peer can be reached (1 to 4).
    public var addresses: [MeshAddress]
    /// A peer and its addresses.
    public init(peer: PeerKey, addresses: [MeshAddress]) {
        self.peer = peer
        self.addresses = addresses
    }

    /// One `Referral` per address.
    public var referrals: [Referral] { addresses.map { Referral(peer: peer, address: $0) } }
}

/// The answer to a ``ResolveRequest``.
public struct ResolvedAnswer: Hashable, Sendable {
    /// Copied from the request this answers.
    public var requestID: UInt64
    /// How many peers the mesh has on the resolver (including the excluded one).
    public var registeredCount: UInt32
    /// Whether the request's `exclude` key is registered (false when it named none).
    public var excludedIsRegistered: Bool
    /// A random sample of the mesh's peers, at most the requested number.
    public var peers: [ResolvedPeer]
    /// Whether the resolver introduced the requester to the registered peers its request listed
    /// (``ResolveRequest/introduce``): they are starting to send to it now.
    public var introduced: Bool

    /// An answer.
    public init(requestID: UInt64, registeredCount: UInt32, excludedIsRegistered: Bool, peers: [ResolvedPeer], introduced: Bool = false) {
        self.requestID = requestID
        self.registeredCount = registeredCount
        self.excludedIsRegistered = excludedIsRegistered
        self.peers = peers
        self.introduced = introduced
    }

    /// One `Referral` per peer address, for `MeshstepMesh/MeshNode`'s candidate list.
    public var referrals: [Referral] { peers.flatMap(\.referrals) }
}

/// The answer to a successful register or unregister.
public struct AckAnswer: Hashable, Sendable {
    /// Copied from the request this answers.
    public var requestID: UInt64
    /// The lifetime the resolver granted (0 for an unregister).
    public var ttlSeconds: UInt32
    /// True when a register created the registration, false when it refreshed an existing one.
    public var created: Bool
    /// The resolver's clock, milliseconds since the Unix epoch.
    public var serverTime: UInt64
    /// The request's source address and port as the resolver saw it: behind a NAT, the NAT's
    /// public mapping of the sender's socket.
    public var observed: MeshAddress

    /// An acknowledgement.
    public init(requestID: UInt64, ttlSeconds: UInt32, created: Bool, serverTime: UInt64, observed: MeshAddress) {
        self.requestID = requestID
        self.ttlSeconds = ttlSeconds
        self.created = created
        self.serverTime = serverTime
        self.observed = observed
    }
}

/// A refusal.
public struct ErrorAnswer: Hashable, Sendable {
    /// Copied from the request this answers.
    public var requestID: UInt64
    /// Why the request was refused.
    public var code: ResolverErrorCode
    /// The resolver's clock, milliseconds since the Unix epoch (lets a client fix its skew).
    public var serverTime: UInt64

    /// A refusal.
    public init(requestID: UInt64, code: ResolverErrorCode, serverTime: UInt64) {
        self.requestID = requestID
        self.code = code
        self.serverTime = serverTime
    }
}

/// "Prove that you receive at your address": the resolver's answer to a register or unregister
/// that carries no valid cookie, before it spends a signature check on it. The client sends the
/// request again with this cookie; an off-path attacker spoofing source addresses never sees it,
/// so its requests cost the resolver one HMAC each, never a signature check.
public struct CookieAnswer: Hashable, Sendable {
    /// Copied from the request this answers.
    public var requestID: UInt64
    /// 16 bytes valid for this source address (IP and port) for 1 to 2 minutes.
    public var cookie: [UInt8]

    /// - Precondition: `cookie.count == 16`.
    public init(requestID: UInt64, cookie: [UInt8]) {
        precondition(cookie.count == ResolverWire.cookieSize, "a cookie has 16 bytes")
        self.requestID = requestID
        self.cookie = cookie
    }
}

/// "Peer `peer` of your mesh asked for you and is sending to you now, from these addresses":
/// the resolver's unsolicited message to a registered peer that another one lists in the
/// ``ResolveRequest/introduce`` of its resolve. The requester has opened its NAT toward the
/// target already; the target opens its own and dials, which is what opens a path through two
/// NATs. It carries the target's own last registration request ID as
/// ``token``, which an off-path attacker never sees, so a forged introduction is dropped.
public struct IntroduceMessage: Hashable, Sendable {
    /// The request ID of the target's last acknowledged register (its ``RegisterRequest/requestID``).
    public var token: UInt64
    /// The mesh, by its admission public key.
    public var mesh: ResolverMeshID
    /// The peer that asked, by its Ed25519 public key.
    public var peer: PeerKey
    /// Where that peer registered (1 to 4 addresses).
    public var addresses: [MeshAddress]

    /// An introduction.
    public init(token: UInt64, mesh: ResolverMeshID, peer: PeerKey, addresses: [MeshAddress]) {
        self.token = token
        self.mesh = mesh
        self.peer = peer
        self.addresses = addresses
    }
}

/// Every message of the resolver protocol.
public enum ResolverMessage: Hashable, Sendable {
    /// A signed registration, client to resolver (kind 1).
    case register(RegisterRequest)
    /// A signed removal, client to resolver (kind 2).
    case unregister(UnregisterRequest)
    /// A request for peers of a mesh, client to resolver (kind 3).
    case resolve(ResolveRequest)
    /// The resolver's answer to a resolve (kind 4).
    case resolved(ResolvedAnswer)
    /// The resolver's answer to a successful register or unregister (kind 5).
    case ack(AckAnswer)
    /// The resolver's refusal of a request (kind 6).
    case error(ErrorAnswer)
    /// The resolver's demand for a cookie (kind 7).
    case cookie(CookieAnswer)
    /// The resolver's introduction of another peer, unsolicited (kind 8).
    case introduce(IntroduceMessage)

    /// Kind bytes: each case's raw value is the kind byte at offset 3 of the header.
    public enum Kind: UInt8, Sendable {
        /// A signed registration (``RegisterRequest``).
        case register = 1
        /// A signed unregistration (``UnregisterRequest``).
        case unregister = 2
        /// A request for peers of a mesh.
        case resolve = 3
        /// The answer to a resolve: referrals (``ResolvedAnswer``).
        case resolved = 4
        /// The answer to a registration or unregistration.
        case ack = 5
        /// A refusal with a code (``ErrorAnswer``).
        case error = 6
        /// A demand to resend with a cookie (``CookieAnswer``).
        case cookie = 7
        /// An introduction of another peer (``IntroduceMessage``).
        case introduce = 8
    }

    /// The kind byte of this message.
    public var kind: Kind {
        switch self {
        case .register: .register
        case .unregister: .unregister
        case .resolve: .resolve
        case .resolved: .resolved
        case .ack: .ack
        case .error: .error
        case .cookie: .cookie
        case .introduce: .introduce
        }
    }

    /// The request ID every message carries (an introduction's ``IntroduceMessage/token``).
    public var requestID: UInt64 {
        switch self {
        case let .register(m): m.requestID
        case let .unregister(m): m.requestID
        case let .resolve(m): m.requestID
        case let .resolved(m): m.requestID
        case let .ack(m): m.requestID
        case let .error(m): m.requestID
        case let .cookie(m): m.requestID
        case let .introduce(m): m.token
        }
    }

    // MARK: Encoding

    /// The full datagram. A register ends with its `signature` and `meshSignature` fields as
    /// they are, an unregister with its `signature` (``RegisterRequest/signed(by:credentials:)``
    /// and ``UnregisterRequest/signed(by:)`` fill them).
    public func encode() -> [UInt8] {
        var w = unsignedPrefix()
        switch self {
        case let .register(m):
            w.raw(Self.fixedSignature(m.signature))
            w.raw(Self.fixedSignature(m.meshSignature))
            w.raw(Self.fixedCookie(m.cookie))
        case let .unregister(m):
            w.raw(Self.fixedSignature(m.signature))
            w.raw(Self.fixedCookie(m.cookie))
        default: break
        }
        return w.bytes
    }

    /// The encoding up to (not including) the signatures: what they cover, after the domain
    /// separator.
    func unsignedPrefix() -> ByteWriter {
        var w = ByteWriter(capacity: 256)
        w.u8(ResolverWire.magic.0); w.u8(ResolverWire.magic.1); w.u8(ResolverWire.version); w.u8(kind.rawValue)
        w.u64(requestID)
        switch self {
        case let .register(m):
            w.raw(m.mesh.key)
            w.raw(m.peer.bytes)
            w.u8(m.includeObservedAddress ? 1 : 0)
            w.u32(m.ttlSeconds)
            w.u64(m.timestamp)
            let addresses = m.addresses.prefix(ResolverWire.maxAddresses)
            w.u8(UInt8(addresses.count))
            for a in addresses { Self.encode(a, into: &w) }
        case let .unregister(m):
            w.raw(m.mesh.key)
            w.raw(m.peer.bytes)
            w.u64(m.timestamp)
        case let .resolve(m):
            w.raw(m.mesh.key)
            w.u8(m.maxPeers)
            // Flags: 1 = an exclude key follows, 2 = an introduction list follows it.
            let introduce = m.introduce.prefix(ResolverWire.maxIntroductions)
            if let e = m.exclude {
                w.u8(introduce.isEmpty ? 1 : 3)
                w.raw(e.bytes)
                if !introduce.isEmpty {
                    w.u8(UInt8(introduce.count))
                    for k in introduce { w.raw(k.bytes) }
                }
            } else {
                w.u8(0)
            }
            w.raw(repeatElement(UInt8(0), count: max(0, min(m.padding, ResolverWire.maxDatagramSize))))
        case let .resolved(m):
            w.u32(m.registeredCount)
            w.u8((m.excludedIsRegistered ? 1 : 0) | (m.introduced ? 2 : 0))
            let peers = m.peers.prefix(ResolverWire.maxPeersPerAnswer)
            w.u8(UInt8(peers.count))
            for p in peers {
                w.raw(p.peer.bytes)
                let addresses = p.addresses.prefix(ResolverWire.maxAddresses)
                w.u8(UInt8(addresses.count))
                for a in addresses { Self.encode(a, into: &w) }
            }
        case let .ack(m):
            w.u32(m.ttlSeconds)
            w.u8(m.created ? 1 : 0)
            w.u64(m.serverTime)
            Self.encode(m.observed, into: &w)
        case let .error(m):
            w.u8(m.code.rawValue)
            w.u64(m.serverTime)
        case let .cookie(m):
            w.raw(Self.fixedCookie(m.cookie))
        case let .introduce(m):
            w.raw(m.mesh.key)
            w.raw(m.peer.bytes)
            let addresses = m.addresses.prefix(ResolverWire.maxAddresses)
            w.u8(UInt8(addresses.count))
            for a in addresses { Self.encode(a, into: &w) }
        }
        return w
    }

    /// The bytes a register's or unregister's signatures cover: the domain separator, then the
    /// datagram up to the first signature.
    public func signedTranscript() -> [UInt8] { ResolverWire.signatureDomain + unsignedPrefix().bytes }

    private static func fixedCookie(_ c: [UInt8]) -> [UInt8] { c.count == ResolverWire.cookieSize ? c : ResolverWire.noCookie }

    private static func fixedSignature(_ s: [UInt8]) -> [UInt8] {
        s.count == Wire.signatureSize ? s : [UInt8](repeating: 0, count: Wire.signatureSize)
    }

    static func encode(_ a: MeshAddress, into w: inout ByteWriter) {
        switch a {
        case let .ipv4(v, port): w.u8(4); w.u32(v); w.u16(port)
        case let .ipv6(b, port): w.u8(6); w.raw(b); w.u16(port)
        }
    }

    // MARK: Decoding

    /// Decodes one datagram. Total: any byte string either decodes or throws a `WireError`;
    /// nothing traps and nothing allocates more than the input's size.
    public static func decode(_ bytes: [UInt8]) throws(WireError) -> ResolverMessage {
        if bytes.count > ResolverWire.maxDatagramSize { throw .oversized(size: bytes.count, limit: ResolverWire.maxDatagramSize) }
        var r = ByteReader(bytes)
        guard try r.u8() == ResolverWire.magic.0, try r.u8() == ResolverWire.magic.1 else { throw .badMagic }
        let version = try r.u8()
        guard version == ResolverWire.version else { throw .unsupportedVersion(version) }
        let kindByte = try r.u8()
        guard let kind = Kind(rawValue: kindByte) else { throw .unknownKind(kindByte) }
        let requestID = try r.u64()
        let message: ResolverMessage
        switch kind {
        case .register:
            let mesh = ResolverMeshID(key: try r.raw(ResolverWire.meshKeySize))
            let peer = PeerKey(bytes: try r.raw(Wire.keySize))
            let flags = try r.u8()
            guard flags <= 1 else { throw .invalidValue(field: "register.flags") }
            let ttl = try r.u32()
            let timestamp = try r.u64()
            let addresses = try decodeAddresses(&r, field: "register.addresses")
            let signature = try r.raw(Wire.signatureSize)
            let meshSignature = try r.raw(Wire.signatureSize)
            let cookie = try r.raw(ResolverWire.cookieSize)
            message = .register(
                RegisterRequest(
                    requestID: requestID, mesh: mesh, peer: peer, addresses: addresses, includeObservedAddress: flags == 1, ttlSeconds: ttl,
                    timestamp: timestamp, signature: signature, meshSignature: meshSignature, cookie: cookie))
        case .unregister:
            let mesh = ResolverMeshID(key: try r.raw(ResolverWire.meshKeySize))
            let peer = PeerKey(bytes: try r.raw(Wire.keySize))
            let timestamp = try r.u64()
            let signature = try r.raw(Wire.signatureSize)
            let cookie = try r.raw(ResolverWire.cookieSize)
            message = .unregister(UnregisterRequest(requestID: requestID, mesh: mesh, peer: peer, timestamp: timestamp, signature: signature, cookie: cookie))
        case .resolve:
            let mesh = ResolverMeshID(key: try r.raw(ResolverWire.meshKeySize))
            let maxPeers = try r.u8()
            guard maxPeers >= 1, Int(maxPeers) <= ResolverWire.maxPeersPerAnswer else { throw .invalidValue(field: "resolve.maxPeers") }
            let exclude: PeerKey?
            var introduce: [PeerKey] = []
            let flags = try r.u8()
            switch flags {
            case 0: exclude = nil
            case 1: exclude = PeerKey(bytes: try r.raw(Wire.keySize))
            case 3:
                exclude = PeerKey(bytes: try r.raw(Wire.keySize))
                let n = Int(try r.u8())
                guard n >= 1 else { throw .invalidValue(field: "resolve.introduce") }
                guard n <= ResolverWire.maxIntroductions else { throw .tooLong(field: "resolve.introduce", count: n, limit: ResolverWire.maxIntroductions) }
                for _ in 0..<n { introduce.append(PeerKey(bytes: try r.raw(Wire.keySize))) }
            default: throw .invalidValue(field: "resolve.flags")
            }
            let padding = r.remaining
            guard try r.raw(padding).allSatisfy({ $0 == 0 }) else { throw .invalidValue(field: "resolve.padding") }
            message = .resolve(ResolveRequest(requestID: requestID, mesh: mesh, maxPeers: maxPeers, exclude: exclude, introduce: introduce, padding: padding))
        case .resolved:
            let count = try r.u32()
            let flags = try r.u8()
            guard flags <= 3 else { throw .invalidValue(field: "resolved.flags") }
            let n = Int(try r.u8())
            guard n <= ResolverWire.maxPeersPerAnswer else { throw .tooLong(field: "resolved.peers", count: n, limit: ResolverWire.maxPeersPerAnswer) }
            var peers: [ResolvedPeer] = []
            for _ in 0..<n {
                let peer = PeerKey(bytes: try r.raw(Wire.keySize))
                peers.append(ResolvedPeer(peer: peer, addresses: try decodeAddresses(&r, field: "resolved.addresses")))
            }
            message = .resolved(
                ResolvedAnswer(requestID: requestID, registeredCount: count, excludedIsRegistered: flags & 1 != 0, peers: peers, introduced: flags & 2 != 0))
        case .ack:
            let ttl = try r.u32()
            let flags = try r.u8()
            guard flags <= 1 else { throw .invalidValue(field: "ack.flags") }
            let serverTime = try r.u64()
            let observed: MeshAddress
            switch try r.u8() {
            case 4: observed = .ipv4(try r.u32(), port: try r.u16())
            case 6: observed = .ipv6(try r.raw(16), port: try r.u16())
            default: throw .invalidValue(field: "ack.observed.family")
            }
            message = .ack(AckAnswer(requestID: requestID, ttlSeconds: ttl, created: flags == 1, serverTime: serverTime, observed: observed))
        case .error:
            let codeByte = try r.u8()
            guard let code = ResolverErrorCode(rawValue: codeByte) else { throw .invalidValue(field: "error.code") }
            message = .error(ErrorAnswer(requestID: requestID, code: code, serverTime: try r.u64()))
        case .cookie:
            message = .cookie(CookieAnswer(requestID: requestID, cookie: try r.raw(ResolverWire.cookieSize)))
        case .introduce:
            let mesh = ResolverMeshID(key: try r.raw(ResolverWire.meshKeySize))
            let peer = PeerKey(bytes: try r.raw(Wire.keySize))
            let addresses = try decodeAddresses(&r, field: "introduce.addresses")
            guard !addresses.isEmpty else { throw .invalidValue(field: "introduce.addresses") }
            message = .introduce(IntroduceMessage(token: requestID, mesh: mesh, peer: peer, addresses: addresses))
        }
        try r.expectEnd()
        return message
    }

    private static func decodeAddresses(_ r: inout ByteReader, field: String) throws(WireError) -> [MeshAddress] {
        let n = Int(try r.u8())
        guard n <= ResolverWire.maxAddresses else { throw .tooLong(field: field, count: n, limit: ResolverWire.maxAddresses) }
        var out: [MeshAddress] = []
        for _ in 0..<n {
            switch try r.u8() {
            case 4: out.append(.ipv4(try r.u32(), port: try r.u16()))
            case 6: out.append(.ipv6(try r.raw(16), port: try r.u16()))
            default: throw .invalidValue(field: "address.family")
            }
        }
        return out
    }
}

extension RegisterRequest {
    /// This request with `signature` filled in by `identity` and `meshSignature` by the mesh's
    /// admission key.
    /// - Precondition: `identity.key == peer` and `ResolverMeshID(credentials: credentials) == mesh`.
    public func signed(by identity: NodeIdentity, credentials: MeshCredentials) -> RegisterRequest {
        precondition(identity.key == peer, "sign a register with the key it names")
        precondition(credentials.admissionPublicKey == mesh.key, "sign a register with the admission key of the mesh it names")
        var m = self
        let transcript = ResolverMessage.register(self).signedTranscript()
        m.signature = identity.sign(transcript)
        m.meshSignature = credentials.signAdmission(transcript)
        return m
    }
}

extension UnregisterRequest {
    /// This request with `signature` filled in by `identity`.
    /// - Precondition: `identity.key == peer`.
    public func signed(by identity: NodeIdentity) -> UnregisterRequest {
        precondition(identity.key == peer, "sign an unregister with the key it names")
        var m = self
        m.signature = identity.sign(ResolverMessage.unregister(self).signedTranscript())
        return m
    }
}

extension ResolverMessage {
    /// Whether a register's mesh signature verifies with the mesh's admission key (false for
    /// other kinds and for keys that are not valid Ed25519 points). A resolver checks it first:
    /// it is what someone without the password cannot produce.
    public func hasValidMeshSignature() -> Bool {
        guard case let .register(m) = self, let key = try? Curve25519.Signing.PublicKey(rawRepresentation: m.mesh.key) else { return false }
        return key.isValidSignature(m.meshSignature, for: signedTranscript())
    }

    /// Whether the peer signature of a register or unregister verifies with the key it names
    /// (false for other kinds and for keys that are not valid Ed25519 points).
    public func hasValidSignature() -> Bool {
        let peer: PeerKey, signature: [UInt8]
        switch self {
        case let .register(m): peer = m.peer; signature = m.signature
        case let .unregister(m): peer = m.peer; signature = m.signature
        default: return false
        }
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: peer.bytes) else { return false }
        return key.isValidSignature(signature, for: signedTranscript())
    }
}

extension MeshAddress {
    var isIPv4: Bool { if case .ipv4 = self { true } else { false } }
}
