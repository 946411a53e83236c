/// Encodes and decodes whole datagrams.
///
/// Layout: `'M' 'S' | version u8 | kind u8 | linkSeq varint? | body | tag[16]?`. Link-authenticated
/// kinds (see ``Message/isLinkAuthenticated``) carry a per-link sequence number (so a captured or
/// network-duplicated datagram is dropped as a replay) and end in a tag over all bytes before it.
/// `docs/PROTOCOL.md` specifies every body byte by byte.
public enum Datagram {
    /// A decoded datagram: the message, plus the tag and the length of the bytes it covers.
    public struct Decoded: Sendable {
        /// The decoded message.
        public var message: Message
        /// The link authentication tag, for link-authenticated kinds.
        public var tag: [UInt8]?
        /// How many leading bytes the tag covers.
        public var authenticatedLength: Int
        /// The per-link sequence number (0 for handshake kinds).
        public var linkSeq: UInt64
    }

    /// Encodes `message` without its tag. For link-authenticated kinds append a ``Wire/tagSize``
    /// tag over these bytes before sending.
    public static func encode(_ message: Message, linkSeq: UInt64 = 0) -> [UInt8] {
        var w = ByteWriter(capacity: capacityHint(message))
        w.u8(Wire.magic.0); w.u8(Wire.magic.1); w.u8(Wire.version); w.u8(message.kind)
        if message.isLinkAuthenticated { w.varint(linkSeq) }
        switch message {
        case let .connect(m):
            w.raw(m.meshDigest); w.raw(m.sender.bytes); w.raw(m.nonce); w.raw(m.ephemeral); w.u8(m.degree)
        case let .challenge(m):
            w.raw(m.sender.bytes); w.raw(m.echoNonce); w.raw(m.nonce); w.raw(m.ephemeral)
        case let .confirm(m):
            w.raw(m.sender.bytes); w.raw(m.proof); w.raw(m.signature)
        case let .welcome(m):
            w.raw(m.proof); w.raw(m.signature); encodeReferrals(m.referrals, into: &w)
        case let .refuse(m):
            w.u8(m.reason.rawValue); w.raw(m.echoNonce); encodeReferrals(m.referrals, into: &w)
        case let .disconnect(m):
            w.u8(m.reason.rawValue); encodeReferrals(m.referrals, into: &w)
        case let .flood(m):
            w.u8(m.hopLimit); w.u8(m.hops); w.raw(m.origin.bytes); w.varint(m.seq)
            // Bit 0: a destination follows; bit 1: a batch proof follows the payload.
            w.u8((m.destination == nil ? 0 : 1) | (m.proof == nil ? 0 : 2))
            if let d = m.destination { w.raw(d.bytes) }
            w.lengthPrefixed(m.payload)
            if let p = m.proof { w.u8(p.depth); w.u8(p.index); w.raw(p.salt); w.raw(p.path) }
            w.raw(m.signature)
        case let .floods(list):
            let entries = list.prefix(Wire.maxFloodsPerDatagram)
            w.u8(UInt8(entries.count))
            var previous: FloodMessage?
            for m in entries {
                encodeFloodEntry(m, after: previous, into: &w)
                previous = m
            }
        case let .iHave(refs), let .graft(refs), let .prune(refs):
            encodeRefs(refs, into: &w)
        case let .relay(origins):
            let list = origins.prefix(Wire.maxRelayOrigins)
            w.varint(UInt64(list.count))
            for o in list { w.raw(o.bytes) }
        case let .direct(payload):
            w.raw(payload)
        case let .ping(m):
            w.u64(m.nonce); w.u8(m.degree); encodeRefs(m.summary, into: &w)
            let known = m.known.prefix(max(0, Wire.maxRefsPerMessage - m.summary.count))
            w.varint(UInt64(known.count))
            for k in known { w.u64(k.tag); w.varint(k.seq) }
        case let .pong(nonce, degree):
            w.u64(nonce); w.u8(degree)
        }
        return w.bytes
    }

    /// Reads the per-link sequence number of a link-authenticated datagram without decoding the rest.
    public static func peekLinkSeq(_ bytes: [UInt8]) -> UInt64? {
        guard let kind = peekKind(bytes), Message.kindIsLinkAuthenticated(kind), bytes.count >= Wire.headerSize + Wire.tagSize else { return nil }
        var r = ByteReader(bytes, offset: Wire.headerSize, end: bytes.count - Wire.tagSize)
        return try? r.varint()
    }

    /// Reads the kind byte without decoding the rest (or nil if the header is not valid).
    public static func peekKind(_ bytes: [UInt8]) -> UInt8? {
        guard bytes.count >= Wire.headerSize, bytes[0] == Wire.magic.0, bytes[1] == Wire.magic.1, bytes[2] == Wire.version else { return nil }
        return bytes[3]
    }

    /// Decodes one datagram.
    ///
    /// Total and bounded: returns or throws ``WireError`` for every input; never traps and never
    /// allocates more than `bytes.count` for the decoded fields.
    /// - Complexity: O(n) in the datagram size.
    public static func decode(_ bytes: [UInt8], maxSize: Int = Wire.defaultMaxDatagramSize) throws(WireError) -> Decoded {
        try decode(bytes, maxSize: maxSize, keepingTag: true)
    }

    /// The message of a datagram whose tag was checked already: ``decode(_:maxSize:)`` without
    /// copying the tag out (every datagram a node accepts is decoded this way).
    package static func decodeMessage(_ bytes: [UInt8], maxSize: Int) throws(WireError) -> Message {
        try decode(bytes, maxSize: maxSize, keepingTag: false).message
    }

    /// The kind byte of a Direct datagram.
    package static var directKind: UInt8 { 0x15 }

    /// Where the payload of a Direct datagram lies in `bytes`: the bytes ``decode(_:maxSize:)``
    /// returns in ``Message/direct(_:)``, found without copying them. Throws where `decode` throws.
    package static func directPayloadRange(_ bytes: [UInt8], maxSize: Int) throws(WireError) -> Range<Int> {
        if bytes.count > maxSize { throw .oversized(size: bytes.count, limit: maxSize) }
        guard let kind = peekKind(bytes) else { throw .badMagic }
        guard kind == directKind else { throw .unknownKind(kind) }
        guard bytes.count >= Wire.headerSize + Wire.tagSize else { throw .truncated(offset: bytes.count, needed: Wire.tagSize) }
        let end = bytes.count - Wire.tagSize
        var r = ByteReader(bytes, offset: Wire.headerSize, end: end)
        _ = try r.varint()
        return r.offset..<end
    }

    static func decode(_ bytes: [UInt8], maxSize: Int, keepingTag: Bool) throws(WireError) -> Decoded {
        if bytes.count > maxSize { throw .oversized(size: bytes.count, limit: maxSize) }
        var r = ByteReader(bytes)
        let m0 = try r.u8(), m1 = try r.u8()
        guard m0 == Wire.magic.0, m1 == Wire.magic.1 else { throw .badMagic }
        let version = try r.u8()
        guard version == Wire.version else { throw .unsupportedVersion(version) }
        let kind = try r.u8()
        var tag: [UInt8]? = nil
        var end = bytes.count
        let linked = Message.kindIsLinkAuthenticated(kind)
        if linked {
            guard kind <= 0x21 else { throw .unknownKind(kind) }
            guard bytes.count >= Wire.headerSize + Wire.tagSize else { throw .truncated(offset: bytes.count, needed: Wire.tagSize) }
            end = bytes.count - Wire.tagSize
            if keepingTag { tag = Array(bytes[end...]) }
        }
        r = ByteReader(bytes, offset: Wire.headerSize, end: end)
        let linkSeq = linked ? try r.varint() : 0
        let message: Message
        switch kind {
        case 0x01:
            message = .connect(
                Connect(
                    meshDigest: try r.raw(Wire.meshDigestSize), sender: try r.peerKey(), nonce: try r.raw(Wire.nonceSize), ephemeral: try r.raw(Wire.keySize),
                    degree: try r.u8()))
        case 0x02:
            message = .challenge(
                Challenge(sender: try r.peerKey(), echoNonce: try r.raw(Wire.nonceSize), nonce: try r.raw(Wire.nonceSize), ephemeral: try r.raw(Wire.keySize)))
        case 0x03:
            message = .confirm(Confirm(sender: try r.peerKey(), proof: try r.raw(Wire.proofSize), signature: try r.raw(Wire.signatureSize)))
        case 0x04:
            message = .welcome(Welcome(proof: try r.raw(Wire.proofSize), signature: try r.raw(Wire.signatureSize), referrals: try decodeReferrals(&r)))
        case 0x05:
            let reason = try decodeReason(&r)
            message = .refuse(Refuse(reason: reason, echoNonce: try r.raw(Wire.nonceSize), referrals: try decodeReferrals(&r)))
        case 0x06:
            let reason = try decodeReason(&r)
            message = .disconnect(Disconnect(reason: reason, referrals: try decodeReferrals(&r)))
        case 0x10:
            let hopLimit = try r.u8(), hops = try r.u8()
            let origin = try r.peerKey()
            let seq = try r.varint()
            // A batch proof is for broadcasts only (0, 1 or 2).
            let flags = try r.u8()
            guard flags <= 2 else { throw .invalidValue(field: "flood.flags") }
            let destination: PeerKey? = flags & 1 == 1 ? try r.peerKey() : nil
            let payload = try r.lengthPrefixed(field: "flood.payload", limit: maxSize)
            var proof: BatchProof?
            if flags & 2 == 2 {
                let depth = try r.u8()
                guard depth >= 1, Int(depth) <= Wire.maxBatchDepth else { throw .invalidValue(field: "flood.batchDepth") }
                let index = try r.u8()
                guard Int(index) < 1 << Int(depth) else { throw .invalidValue(field: "flood.batchIndex") }
                let salt = try r.raw(Wire.batchSaltSize)
                proof = BatchProof(depth: depth, index: index, salt: salt, path: try r.raw(Int(depth) * Wire.batchHashSize))
            }
            message = .flood(
                FloodMessage(
                    hopLimit: hopLimit, hops: hops, origin: origin, seq: seq, destination: destination, payload: payload,
                    signature: try r.raw(Wire.signatureSize), proof: proof))
        case 0x16:
            let count = Int(try r.u8())
            guard count >= 2, count <= Wire.maxFloodsPerDatagram else { throw .invalidValue(field: "floods.count") }
            var list: [FloodMessage] = []
            list.reserveCapacity(count)
            for _ in 0..<count { list.append(try decodeFloodEntry(&r, after: list.last, maxSize: maxSize)) }
            message = .floods(list)
        case 0x11:
            message = .iHave(try decodeRefs(&r))
        case 0x12:
            message = .graft(try decodeRefs(&r))
        case 0x13:
            message = .prune(try decodeRefs(&r))
        case 0x14:
            let n = try r.count(field: "relay.origins", limit: Wire.maxRelayOrigins)
            var origins: [PeerKey] = []
            for _ in 0..<n { origins.append(try r.peerKey()) }
            message = .relay(origins)
        case 0x15:
            message = .direct(try r.raw(r.remaining))
        case 0x20:
            let nonce = try r.u64(), degree = try r.u8(), summary = try decodeRefs(&r)
            let n = try r.count(field: "ping.known", limit: Wire.maxRefsPerMessage - summary.count)
            var known: [ShortRef] = []
            for _ in 0..<n { known.append(ShortRef(tag: try r.u64(), seq: try r.varint())) }
            message = .ping(Ping(nonce: nonce, degree: degree, summary: summary, known: known))
        case 0x21:
            message = .pong(nonce: try r.u64(), degree: try r.u8())
        default:
            throw .unknownKind(kind)
        }
        try r.expectEnd()
        return Decoded(message: message, tag: tag, authenticatedLength: end, linkSeq: linkSeq)
    }

    /// Bytes to reserve for `message` with its tag, so that the writer grows at most once: a
    /// Floods datagram fills most of a 1,200-byte datagram.
    static func capacityHint(_ message: Message) -> Int {
        switch message {
        case .floods: 1280
        case let .flood(m): 192 + m.payload.count + (m.proof?.path.count ?? 0)
        case let .direct(payload): 64 + payload.count
        default: 128
        }
    }

    // MARK: - Floods entries

    /// The bytes a Floods datagram (kind `0x16`) takes besides its entries, at most: header,
    /// the longest link sequence number, the count and the tag.
    public static let floodsOverhead = Wire.headerSize + 10 + 1 + Wire.tagSize

    /// Bytes `m` takes as an entry of a Floods datagram after the entry `previous` (nil: first).
    public static func floodEntrySize(_ m: FloodMessage, after previous: FloodMessage?) -> Int {
        let s = sharing(m, after: previous)
        var n = 1 + (s.next ? 0 : 2 + ByteWriter.varintSize(m.seq)) + (s.origin ? 0 : Wire.keySize) + (m.destination == nil ? 0 : Wire.keySize)
        n += ByteWriter.varintSize(UInt64(m.payload.count)) + m.payload.count
        if let p = m.proof {
            n += (s.leaf ? 0 : 1) + (s.batch ? 0 : 1 + Wire.batchSaltSize)
            n += s.leaf ? (Self.copiedPathFrom(index: Int(p.index))) * Wire.batchHashSize : p.path.count
        }
        return n + (s.batch ? 0 : Wire.signatureSize)
    }

    /// What entry `m` may leave out after the entry `previous`: its origin (the same), its
    /// signature, batch depth and salt (both messages of one signed batch), its hop fields and
    /// sequence number (the same hop fields, the next number: `next`), and its batch index and
    /// the upper levels of its path (the next leaf of the batch, whose path above the level
    /// where the two leaves meet is the previous one's: `leaf`).
    static func sharing(_ m: FloodMessage, after previous: FloodMessage?) -> (origin: Bool, batch: Bool, next: Bool, leaf: Bool) {
        guard let previous, previous.origin == m.origin else { return (false, false, false, false) }
        let next = previous.seq < UInt64.max && m.seq == previous.seq + 1 && m.hopLimit == previous.hopLimit && m.hops == previous.hops
        guard let p = m.proof, let q = previous.proof, p.depth == q.depth, p.salt == q.salt, m.signature == previous.signature else {
            return (true, false, next, false)
        }
        // Only well-formed proofs (as decoded ones are; the initializer checks nothing).
        let wellFormed = Int(p.index) < 1 << Int(p.depth) && p.path.count == Int(p.depth) * Wire.batchHashSize
        let leaf =
            wellFormed && Int(q.index) + 1 == Int(p.index) && p.path.count == q.path.count
            && pathsAgree(p.path, q.path, from: copiedPathFrom(index: Int(p.index)))
        return (true, true, next, leaf)
    }

    /// The first path level a batch message with leaf `index` (≥ 1) copies from the message of
    /// leaf `index − 1`: the two leaves' ancestors are siblings at level `ctz(index)` and the same
    /// node above it, so their paths agree from `ctz(index) + 1` up.
    static func copiedPathFrom(index: Int) -> Int { index.trailingZeroBitCount + 1 }

    static func pathsAgree(_ a: [UInt8], _ b: [UInt8], from level: Int) -> Bool {
        let start = level * Wire.batchHashSize
        guard start < a.count, a.count == b.count else { return a.count == b.count }
        guard (a.count - start) % 8 == 0 else { return a[start...] == b[start...] }
        // Whole hashes, 8 bytes at a time.
        return a.withUnsafeBytes { x in
            b.withUnsafeBytes { y in
                var at = start
                while at < x.count {
                    if x.loadUnaligned(fromByteOffset: at, as: UInt64.self) != y.loadUnaligned(fromByteOffset: at, as: UInt64.self) { return false }
                    at += 8
                }
                return true
            }
        }
    }

    /// One entry: `flags | (hopLimit | hops)? | origin? | seq? | destination? | payload | (depth? |
    /// index? | salt? | path)? | signature?`. Flags: bit 0 destination, bit 1 batch proof, bit 2
    /// origin as the previous entry's, bit 3 signature, depth and salt as the previous entry's,
    /// bit 4 hop fields as the previous entry's and seq its + 1, bit 5 index the previous
    /// entry's + 1 and the path's levels above `ctz(index)` the previous entry's (docs/PROTOCOL.md §3.10c).
    static func encodeFloodEntry(_ m: FloodMessage, after previous: FloodMessage?, into w: inout ByteWriter) {
        let s = sharing(m, after: previous)
        w.u8(
            (m.destination == nil ? 0 : 1) | (m.proof == nil ? 0 : 2) | (s.origin ? 4 : 0) | (s.batch ? 8 : 0) | (s.next ? 16 : 0)
                | (s.leaf ? 32 : 0))
        if !s.next { w.u8(m.hopLimit); w.u8(m.hops) }
        if !s.origin { w.raw(m.origin.bytes) }
        if !s.next { w.varint(m.seq) }
        if let d = m.destination { w.raw(d.bytes) }
        w.lengthPrefixed(m.payload)
        if let p = m.proof {
            if !s.batch { w.u8(p.depth) }
            if s.leaf {
                w.raw(p.path[..<(copiedPathFrom(index: Int(p.index)) * Wire.batchHashSize)])
            } else {
                w.u8(p.index)
                if !s.batch { w.raw(p.salt) }
                w.raw(p.path)
            }
        }
        if !s.batch { w.raw(m.signature) }
    }

    static func decodeFloodEntry(_ r: inout ByteReader, after previous: FloodMessage?, maxSize: Int) throws(WireError) -> FloodMessage {
        let flags = try r.u8()
        // Bits 0 and 1 as in a Flood (never both); bit 2 needs a previous entry; bit 3 needs bit
        // 2, a proof here and one in the previous entry; bit 4 needs bit 2; bit 5 needs bit 3.
        guard flags <= 0x3F, flags & 3 != 3 else { throw .invalidValue(field: "floods.flags") }
        let sameOrigin = flags & 4 != 0, sameBatch = flags & 8 != 0, next = flags & 16 != 0, nextLeaf = flags & 32 != 0
        if sameOrigin, previous == nil { throw .invalidValue(field: "floods.flags") }
        if sameBatch, !sameOrigin || flags & 2 == 0 || previous?.proof == nil { throw .invalidValue(field: "floods.flags") }
        if next, !sameOrigin || previous!.seq == UInt64.max { throw .invalidValue(field: "floods.flags") }
        if nextLeaf, !sameBatch { throw .invalidValue(field: "floods.flags") }
        let hopLimit = try next ? previous!.hopLimit : r.u8()
        let hops = try next ? previous!.hops : r.u8()
        let origin = try sameOrigin ? previous!.origin : r.peerKey()
        let seq = try next ? previous!.seq + 1 : r.varint()
        let destination: PeerKey? = flags & 1 == 1 ? try r.peerKey() : nil
        let payload = try r.lengthPrefixed(field: "floods.payload", limit: maxSize)
        var proof: BatchProof?
        if flags & 2 == 2 {
            let shared = sameBatch ? previous?.proof : nil
            let depth: UInt8
            if let shared { depth = shared.depth } else { depth = try r.u8() }
            guard depth >= 1, Int(depth) <= Wire.maxBatchDepth else { throw .invalidValue(field: "floods.batchDepth") }
            let index = try nextLeaf ? shared!.index &+ 1 : r.u8()
            guard Int(index) < 1 << Int(depth), !nextLeaf || index != 0 else { throw .invalidValue(field: "floods.batchIndex") }
            let salt: [UInt8]
            if let shared { salt = shared.salt } else { salt = try r.raw(Wire.batchSaltSize) }
            var path: [UInt8]
            if nextLeaf, let shared {
                // The lower levels from the wire, the rest as the previous message's.
                let own = copiedPathFrom(index: Int(index)) * Wire.batchHashSize
                path = []
                path.reserveCapacity(shared.path.count)
                try r.raw(own, appendingTo: &path)
                path += shared.path[own...]
            } else {
                path = try r.raw(Int(depth) * Wire.batchHashSize)
            }
            proof = BatchProof(depth: depth, index: index, salt: salt, path: path)
        }
        let signature = try sameBatch ? previous!.signature : r.raw(Wire.signatureSize)
        return FloodMessage(
            hopLimit: hopLimit, hops: hops, origin: origin, seq: seq, destination: destination, payload: payload, signature: signature, proof: proof)
    }

    /// How many messages a datagram holds for the outbound allowance: the count of a Floods
    /// datagram, 1 for anything else.
    public static func messageCount(_ bytes: [UInt8]) -> Int {
        guard peekKind(bytes) == 0x16, bytes.count >= Wire.headerSize + Wire.tagSize else { return 1 }
        var r = ByteReader(bytes, offset: Wire.headerSize, end: bytes.count - Wire.tagSize)
        guard (try? r.varint()) != nil, let n = try? r.u8() else { return 1 }
        return max(1, Int(n))
    }

    // MARK: - Shared field groups

    static func encodeReferrals(_ refs: [Referral], into w: inout ByteWriter) {
        let list = refs.prefix(Wire.maxReferrals)
        w.varint(UInt64(list.count))
        for ref in list { w.raw(ref.peer.bytes); ref.address.encode(into: &w) }
    }

    static func decodeReferrals(_ r: inout ByteReader) throws(WireError) -> [Referral] {
        let n = try r.count(field: "referrals", limit: Wire.maxReferrals)
        var out: [Referral] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(Referral(peer: try r.peerKey(), address: try MeshAddress.decode(from: &r))) }
        return out
    }

    /// References are grouped by origin: `groups | (origin, count, seq varints...)*`, so a batch of
    /// announcements from one origin costs 32 bytes once, not per message. Only consecutive refs
    /// share a group, so the order survives a round trip (found by the fuzzer).
    static func encodeRefs(_ refs: [MessageRef], into w: inout ByteWriter) {
        let list = Array(refs.prefix(Wire.maxRefsPerMessage))
        var groups: [(PeerKey, [UInt64])] = []
        for ref in list {
            if let last = groups.indices.last, groups[last].0 == ref.origin { groups[last].1.append(ref.seq) } else { groups.append((ref.origin, [ref.seq])) }
        }
        w.varint(UInt64(groups.count))
        for (origin, seqs) in groups {
            w.raw(origin.bytes)
            w.varint(UInt64(seqs.count))
            for s in seqs { w.varint(s) }
        }
    }

    static func decodeRefs(_ r: inout ByteReader) throws(WireError) -> [MessageRef] {
        let groups = try r.count(field: "refs.groups", limit: Wire.maxRefsPerMessage)
        var out: [MessageRef] = []
        for _ in 0..<groups {
            let origin = try r.peerKey()
            let n = try r.count(field: "refs.seqs", limit: Wire.maxRefsPerMessage - out.count)
            if n == 0 { throw .invalidValue(field: "refs.seqs") }
            for _ in 0..<n { out.append(MessageRef(origin: origin, seq: try r.varint())) }
        }
        return out
    }

    static func decodeReason(_ r: inout ByteReader) throws(WireError) -> DisconnectReason {
        guard let reason = DisconnectReason(rawValue: try r.u8()) else { throw .invalidValue(field: "reason") }
        return reason
    }
}
