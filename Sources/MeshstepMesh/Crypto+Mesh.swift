import Crypto
import Foundation
import MeshstepWire
import Synchronization

/// A node's long-term identity: an Ed25519 key pair. The public key is the node's `PeerKey`.
public struct NodeIdentity: Sendable {
    let signingKey: Curve25519.Signing.PrivateKey
    /// The public key: the node's ID in the mesh.
    public let key: PeerKey

    /// A fresh random identity (system randomness).
    public init() {
        signingKey = Curve25519.Signing.PrivateKey()
        key = PeerKey(bytes: Array(signingKey.publicKey.rawRepresentation))
    }

    /// A reproducible identity from 32 seed bytes (tests and the simulator).
    public init(seed: [UInt8]) throws {
        signingKey = try Curve25519.Signing.PrivateKey(rawRepresentation: seed)
        key = PeerKey(bytes: Array(signingKey.publicKey.rawRepresentation))
    }

    /// A reproducible identity derived from a seeded generator.
    public init(rng: inout DeterministicRNG) {
        var seed: [UInt8] = []
        for _ in 0..<4 { withUnsafeBytes(of: rng.next()) { seed.append(contentsOf: $0) } }
        // 32 bytes always form a valid Ed25519 seed.
        try! self.init(seed: seed)
    }

    /// The 32-byte private seed that ``init(seed:)`` takes back: whoever holds it *is* this node.
    /// Keep it as an identity file does (readable by its owner only), never on the wire.
    public var privateSeed: [UInt8] { Array(signingKey.rawRepresentation) }

    /// The 64-byte Ed25519 signature of `bytes` with this identity's private key.
    public func sign(_ bytes: [UInt8]) -> [UInt8] {
        // Ed25519 signing cannot fail for a valid key.
        Array(try! signingKey.signature(for: bytes))
    }
}

/// Who may join a mesh. A mesh without a password is allowed, but must be asked for explicitly.
public enum MeshAccess: Sendable, Equatable {
    /// Anyone who knows the mesh ID may join.
    case open
    /// Only peers that prove knowledge of this password may join. It never crosses the wire.
    case password(String)
}

/// The derived secrets of one mesh: its public digest (sent in Connect) and the key that
/// password proofs and link keys derive from.
public struct MeshCredentials: Sendable {
    /// The mesh's name, 1 to 255 UTF-8 bytes. It never crosses the wire: only ``digest`` does.
    public let meshID: String
    /// Who may join: open, or only peers that know the password.
    public let access: MeshAccess
    /// 16 bytes of SHA-256 over the mesh ID: names the mesh on the wire without spelling it.
    public let digest: [UInt8]
    let meshKey: SymmetricKey

    /// - Throws: ``MeshConfigurationError`` when the mesh ID is empty or longer than 255 bytes, or
    ///   the password is empty.
    public init(meshID: String, access: MeshAccess) throws(MeshConfigurationError) {
        guard !meshID.isEmpty, meshID.utf8.count <= 255 else { throw .invalidMeshID(meshID) }
        self.meshID = meshID
        self.access = access
        digest = Array(SHA256.hash(data: Array("meshstep-mesh-id-v1:".utf8) + Array(meshID.utf8)).prefix(Wire.meshDigestSize))
        let secret: [UInt8]
        switch access {
        case .open: secret = Array("meshstep-open-mesh".utf8)
        case let .password(p):
            guard !p.isEmpty else { throw .emptyPassword }
            secret = Array("meshstep-password:".utf8) + Array(p.utf8)
        }
        meshKey = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: secret), salt: digest, info: Array("meshstep-mesh-key-v1".utf8), outputByteCount: 32)
        beaconKey = HKDF<SHA256>.deriveKey(inputKeyMaterial: meshKey, salt: digest, info: Array("meshstep-lan-beacon-v2".utf8), outputByteCount: 32)
        let seed = HKDF<SHA256>.deriveKey(inputKeyMaterial: meshKey, salt: digest, info: Array("meshstep-resolver-admission-v1".utf8), outputByteCount: 32)
        // Any 32 bytes are a valid Ed25519 seed.
        admissionKey = seed.withUnsafeBytes { try! Curve25519.Signing.PrivateKey(rawRepresentation: Array($0)) }
        admissionPublicKey = Array(admissionKey.publicKey.rawRepresentation)
    }

    /// The mesh's admission key pair (docs/RESOLVER.md §2): Ed25519, derived from the mesh key,
    /// so every member holds the private half and nobody else does.
    let admissionKey: Curve25519.Signing.PrivateKey

    /// The public half of the mesh's admission key: 32 bytes that name the mesh at a resolver.
    /// A resolver checks that every registration is signed with the private half, so only peers
    /// that know the password (or, for an open mesh, the name) can register; it never learns
    /// either. Like a beacon tag, it lets whoever holds it test password guesses offline: use
    /// a password nobody will guess.
    public let admissionPublicKey: [UInt8]

    /// The 64-byte Ed25519 signature of `bytes` with the mesh's admission key.
    public func signAdmission(_ bytes: [UInt8]) -> [UInt8] {
        // Ed25519 signing cannot fail for a valid key.
        Array(try! admissionKey.signature(for: bytes))
    }

    /// The key of LAN beacon tags, derived from the mesh key: only members can tag a beacon.
    let beaconKey: SymmetricKey

    /// The 16-byte tag of a LAN beacon's body (`LANBeacon.body`): HMAC-SHA256 under a key
    /// derived from the mesh key (docs/PROTOCOL.md §8.2), truncated.
    public func beaconTag(_ body: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: body, using: beaconKey).prefix(16))
    }

    /// Whether `tag` is this mesh's tag of `body`, compared in constant time.
    public func verifyBeaconTag(_ tag: [UInt8], body: [UInt8]) -> Bool {
        constantTimeEqual(beaconTag(body), tag[...])
    }
}

/// Per-link symmetric keys, one per direction so that a datagram cannot be reflected back.
///
/// A tag is HMAC-SHA256 truncated to ``Wire/tagSize`` bytes, computed from its definition,
/// H((K ^ opad) || H((K ^ ipad) || m)), over two SHA-256 states per key that have already
/// absorbed the padded key block: copying them and feeding the datagram skips the two
/// key-block hashes of a fresh HMAC, and `update(bufferPointer:)` skips the generic
/// `DataProtocol` path of `HMAC.update(data:)`, which ran unspecialized here.
///
/// A class: the four hash states are class references, and the node reads a link's keys for
/// every datagram it sends or receives; a struct copy retained and released all four.
final class LinkKeys: Sendable {
    private let send: KeyedSHA256
    private let receive: KeyedSHA256

    init(send: SymmetricKey, receive: SymmetricKey) {
        self.send = KeyedSHA256(key: send)
        self.receive = KeyedSHA256(key: receive)
    }

    func tag(_ bytes: [UInt8], count: Int? = nil) -> [UInt8] {
        send.tag(bytes, prefix: count ?? bytes.count)
    }

    /// Appends the tag of `bytes` to them (no array for the tag: every datagram sent is tagged).
    func appendTag(to bytes: inout [UInt8]) {
        // Held aside first: appending while the hash reads `bytes` would copy them.
        var tag: (UInt64, UInt64) = (0, 0)
        send.withTag(bytes, prefix: bytes.count) { t in withUnsafeMutableBytes(of: &tag) { $0.copyMemory(from: t) } }
        withUnsafeBytes(of: &tag) { bytes.append(contentsOf: $0) }
    }

    /// Checks the tag at the end of `bytes` in constant time, in place.
    func verify(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= Wire.headerSize + Wire.tagSize else { return false }
        let end = bytes.count - Wire.tagSize
        return receive.withTag(bytes, prefix: end) { tag in
            bytes.withUnsafeBytes { constantTimeEqual(tag, UnsafeRawBufferPointer(rebasing: $0[end...])) }
        }
    }
}

/// HMAC-SHA256 under one key (at most 64 bytes), its inner and outer hash states keyed once.
struct KeyedSHA256: Sendable {
    private let inner: SHA256
    private let outer: SHA256

    init(key: SymmetricKey) {
        var block = [UInt8](repeating: 0, count: 64)
        key.withUnsafeBytes { k in
            precondition(k.count <= 64, "link keys are 32 bytes")
            for i in 0..<k.count { block[i] = k[i] }
        }
        var inner = SHA256(), outer = SHA256()
        inner.update(data: block.map { $0 ^ 0x36 })
        outer.update(data: block.map { $0 ^ 0x5c })
        self.inner = inner
        self.outer = outer
    }

    /// The first ``Wire/tagSize`` bytes of the HMAC of `bytes[0..<prefix]`.
    func tag(_ bytes: [UInt8], prefix: Int) -> [UInt8] {
        withTag(bytes, prefix: prefix) { Array($0) }
    }

    /// Calls `body` with the first ``Wire/tagSize`` bytes of the HMAC of `bytes[0..<prefix]`,
    /// read in place.
    func withTag<R>(_ bytes: [UInt8], prefix: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        var h = inner
        bytes.withUnsafeBytes { h.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<prefix])) }
        let innerDigest = h.finalize()
        var o = outer
        withDigestBytes(innerDigest) { o.update(bufferPointer: $0) }
        return withDigestBytes(o.finalize()) { body(UnsafeRawBufferPointer(rebasing: $0.prefix(Wire.tagSize))) }
    }
}

/// Calls `body` with the 32 bytes of `digest`.
///
/// `SHA256Digest.withUnsafeBytes` is generic and not inlinable, so every call ran
/// unspecialized and looked up type metadata, twice on every datagram's tag. The digest stores exactly its bytes, in order, so they are read in
/// place here; should that layout ever change size, the generic path is taken, and
/// `LinkTagTests` checks that both give the same bytes.
@inline(__always)
func withDigestBytes<R>(_ digest: SHA256Digest, _ body: (UnsafeRawBufferPointer) -> R) -> R {
    guard MemoryLayout<SHA256Digest>.size == SHA256Digest.byteCount else { return digest.withUnsafeBytes(body) }
    return withUnsafeBytes(of: digest, body)
}

/// The handshake transcript and the proofs derived from it.
struct HandshakeTranscript: Sendable {
    let bytes: [UInt8]
    init(
        meshDigest: [UInt8], initiator: PeerKey, responder: PeerKey, initiatorNonce: [UInt8], responderNonce: [UInt8], initiatorEphemeral: [UInt8],
        responderEphemeral: [UInt8]
    ) {
        bytes =
            Array("meshstep-handshake-v1".utf8) + meshDigest + initiator.bytes + responder.bytes + initiatorNonce + responderNonce
            + initiatorEphemeral + responderEphemeral
    }

    func proof(role: String, credentials: MeshCredentials) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array(role.utf8) + bytes, using: credentials.meshKey))
    }

    func signedBytes(role: String) -> [UInt8] { Array(role.utf8) + bytes }

    /// Constant-time proof check.
    func verifyProof(_ proof: [UInt8], role: String, credentials: MeshCredentials) -> Bool {
        HMAC<SHA256>.isValidAuthenticationCode(proof, authenticating: Array(role.utf8) + bytes, using: credentials.meshKey)
    }

    /// Link keys from the mesh key *and* an ephemeral X25519 secret: another member who saw the
    /// handshake knows the first but not the second, so it cannot forge link traffic.
    func linkKeys(credentials: MeshCredentials, sharedSecret: [UInt8], isInitiator: Bool) -> LinkKeys {
        let ikm = credentials.meshKey.withUnsafeBytes { Array($0) } + sharedSecret
        let material = HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: ikm), salt: bytes, info: Array("meshstep-link-v1".utf8), outputByteCount: 64)
        let raw = material.withUnsafeBytes { Array($0) }
        let i2r = SymmetricKey(data: raw[0..<32]), r2i = SymmetricKey(data: raw[32..<64])
        return isInitiator ? LinkKeys(send: i2r, receive: r2i) : LinkKeys(send: r2i, receive: i2r)
    }
}

/// An ephemeral X25519 key pair for one handshake.
struct EphemeralKey: Sendable {
    let privateKey: Curve25519.KeyAgreement.PrivateKey
    var publicBytes: [UInt8] { Array(privateKey.publicKey.rawRepresentation) }

    init(randomBytes: [UInt8]) {
        // Any 32 bytes form a valid X25519 private key.
        privateKey = try! Curve25519.KeyAgreement.PrivateKey(rawRepresentation: randomBytes)
    }

    /// The shared secret with a peer's ephemeral public key (nil if the key is invalid).
    func sharedSecret(with peer: [UInt8]) -> [UInt8]? {
        guard let pk = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: peer),
            let secret = try? privateKey.sharedSecretFromKeyAgreement(with: pk)
        else { return nil }
        let bytes = secret.withUnsafeBytes { Array($0) }
        // Reject the all-zero result of a low-order point.
        return bytes.allSatisfy { $0 == 0 } ? nil : bytes
    }
}

/// Parses origin public keys for signature checks (the parsed key is kept per origin).
struct SignatureVerifier {
    static func publicKey(_ key: PeerKey) -> Curve25519.Signing.PublicKey? {
        try? Curve25519.Signing.PublicKey(rawRepresentation: key.bytes)
    }
}

/// Verdicts of Ed25519 checks of flooded messages, shared by the nodes of one simulation.
///
/// In a simulation every node checks the same signed message again (a statement flooded to 8
/// players and 100 spectators is checked 107 times); unshared, those checks would be about a
/// third of the simulated tests' CPU. A check is a pure function of the signer, the signature
/// and the bytes, so a verdict is kept under all three and its later copies read it: every node
/// still makes the same decisions and counts the check (``MeshStats/signatureChecks``). Only the
/// simulator sets one; a real node has none and checks every signature itself.
package final class SignatureMemo: Sendable {
    private struct Key: Hashable {
        let signer: PeerKey
        let signature: [UInt8]
        let bytes: [UInt8]
    }
    /// Verdicts kept before the memo starts over (up to about 10 MB; a miss only costs a check).
    static let capacity = 1 << 15
    private let verdicts = Mutex<[Key: Bool]>([:])

    package init() {}

    /// Whether `signature` is `signer`'s over `bytes`, checked once per distinct triple.
    func isValid(_ signature: [UInt8], by signer: PeerKey, key: Curve25519.Signing.PublicKey, over bytes: [UInt8]) -> Bool {
        let k = Key(signer: signer, signature: signature, bytes: bytes)
        if let known = verdicts.withLock({ $0[k] }) { return known }
        let valid = key.isValidSignature(signature, for: bytes)
        verdicts.withLock {
            if $0.count >= Self.capacity { $0.removeAll(keepingCapacity: true) }
            $0[k] = valid
        }
        return valid
    }
}

/// Whether two byte strings are equal, in time that depends only on their length (tags and MACs:
/// an early exit would tell an attacker how many leading bytes it guessed right).
package func constantTimeEqual(_ a: [UInt8], _ b: ArraySlice<UInt8>) -> Bool {
    a.withUnsafeBytes { a in b.withUnsafeBytes { constantTimeEqual(a, $0) } }
}

/// The same comparison on bytes read in place (a datagram's link tag, checked for every one
/// received).
package func constantTimeEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    var diff: UInt8 = 0
    for i in 0..<a.count { diff |= a[i] ^ b[i] }
    return diff == 0
}
