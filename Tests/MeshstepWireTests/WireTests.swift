import Testing
import MeshstepWire

/// A small deterministic generator so that the random-input tests are reproducible.
struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: next()) } }
}

func key(_ b: UInt8) -> PeerKey { PeerKey(bytes: [UInt8](repeating: b, count: 32)) }

let sampleMessages: [Message] = [
    .connect(
        Connect(
            meshDigest: [UInt8](repeating: 1, count: 16), sender: key(2), nonce: [UInt8](repeating: 3, count: 16), ephemeral: [UInt8](repeating: 25, count: 32))
    ),
    .challenge(
        Challenge(
            sender: key(4), echoNonce: [UInt8](repeating: 5, count: 16), nonce: [UInt8](repeating: 6, count: 16), ephemeral: [UInt8](repeating: 26, count: 32))),
    .confirm(Confirm(sender: key(7), proof: [UInt8](repeating: 8, count: 32), signature: [UInt8](repeating: 9, count: 64))),
    .welcome(
        Welcome(
            proof: [UInt8](repeating: 10, count: 32), signature: [UInt8](repeating: 11, count: 64),
            referrals: [
                Referral(peer: key(12), address: .ipv4(0x7F00_0001, port: 4000)),
                Referral(peer: key(13), address: .ipv6([UInt8](repeating: 0, count: 15) + [1], port: 4001)),
            ])),
    .refuse(Refuse(reason: .meshFull, echoNonce: [UInt8](repeating: 14, count: 16), referrals: [])),
    .disconnect(Disconnect(reason: .leaving, referrals: [Referral(peer: key(15), address: .ipv4(1, port: 2))])),
    .flood(FloodMessage(hopLimit: 32, hops: 1, origin: key(16), seq: 300, destination: nil, payload: [1, 2, 3], signature: [UInt8](repeating: 17, count: 64))),
    .flood(
        FloodMessage(hopLimit: 2, hops: 9, origin: key(18), seq: UInt64.max, destination: key(19), payload: [], signature: [UInt8](repeating: 20, count: 64))),
    .flood(
        FloodMessage(
            hopLimit: 8, hops: 2, origin: key(30), seq: 77, destination: nil, payload: [9, 9], signature: [UInt8](repeating: 31, count: 64),
            proof: BatchProof(depth: 3, index: 5, salt: [UInt8](repeating: 37, count: 16), path: [UInt8](repeating: 32, count: 48)))),
    .flood(
        FloodMessage(
            hopLimit: 8, hops: 2, origin: key(33), seq: 78, destination: nil, payload: [], signature: [UInt8](repeating: 35, count: 64),
            proof: BatchProof(depth: 6, index: 63, salt: [UInt8](repeating: 38, count: 16), path: [UInt8](repeating: 36, count: 96)))),
    .floods(sampleFloods),
    .floods(Array(sampleFloods.prefix(2))),
    .iHave([MessageRef(origin: key(21), seq: 1), MessageRef(origin: key(21), seq: 2), MessageRef(origin: key(22), seq: 1 << 40)]),
    .graft([MessageRef(origin: key(23), seq: 7)]),
    .prune([MessageRef(origin: key(27), seq: 3)]),
    .relay([key(28), key(29)]),
    .relay([]),
    .ping(Ping(nonce: 0xDEAD_BEEF, degree: 6, summary: [MessageRef(origin: key(24), seq: 99)])),
    .ping(Ping(nonce: 7, degree: 2, summary: [], known: [ShortRef(tag: 0x0102_0304_0506_0708, seq: 300), ShortRef(tag: 9, seq: 1)])),
    .pong(nonce: 42, degree: 3),
]

/// Entries of a Floods datagram: two of one signed batch (the second shares origin, signature,
/// depth and salt), one of another batch of the same origin, one signed alone by that origin, a
/// unicast from another origin, and a broadcast after it.
let sampleFloods: [FloodMessage] = {
    let proof = { (i: UInt8, salt: UInt8) in BatchProof(depth: 2, index: i, salt: [UInt8](repeating: salt, count: 16), path: [UInt8](repeating: i, count: 32)) }
    let sig = { (b: UInt8) in [UInt8](repeating: b, count: 64) }
    return [
        FloodMessage(hopLimit: 8, hops: 1, origin: key(40), seq: 1, destination: nil, payload: [1], signature: sig(41), proof: proof(0, 42)),
        FloodMessage(hopLimit: 7, hops: 2, origin: key(40), seq: 2, destination: nil, payload: [2, 2], signature: sig(41), proof: proof(1, 42)),
        FloodMessage(hopLimit: 8, hops: 1, origin: key(40), seq: 5, destination: nil, payload: [], signature: sig(43), proof: proof(0, 44)),
        FloodMessage(hopLimit: 8, hops: 1, origin: key(40), seq: 300, destination: nil, payload: [3], signature: sig(45)),
        FloodMessage(hopLimit: 3, hops: 4, origin: key(46), seq: 1 << 40, destination: key(47), payload: [4, 4, 4], signature: sig(48)),
        FloodMessage(hopLimit: 3, hops: 4, origin: key(49), seq: 9, destination: nil, payload: [5], signature: sig(50)),
    ]
}()

/// Encodes and, for link-authenticated kinds, appends a dummy tag.
func datagram(_ m: Message) -> [UInt8] {
    var bytes = Datagram.encode(m, linkSeq: 300)
    if m.isLinkAuthenticated { bytes += [UInt8](repeating: 0xEE, count: Wire.tagSize) }
    return bytes
}

@Suite("Wire codec")
struct WireCodecTests {
    @Test("every message round-trips", arguments: sampleMessages)
    func roundTrip(_ m: Message) throws {
        let bytes = datagram(m)
        let decoded = try Datagram.decode(bytes)
        #expect(decoded.message == m)
        #expect(decoded.tag == (m.isLinkAuthenticated ? [UInt8](repeating: 0xEE, count: 16) : nil))
        #expect(decoded.authenticatedLength == bytes.count - (m.isLinkAuthenticated ? 16 : 0))
        #expect(decoded.linkSeq == (m.isLinkAuthenticated ? 300 : 0))
        #expect(Datagram.peekLinkSeq(bytes) == (m.isLinkAuthenticated ? 300 : nil))
    }

    @Test("every strict prefix of every message is rejected with a typed error, never a trap", arguments: sampleMessages)
    func truncations(_ m: Message) {
        let bytes = datagram(m)
        for n in 0..<bytes.count {
            #expect(throws: WireError.self) { try Datagram.decode(Array(bytes.prefix(n))) }
        }
    }

    @Test("a Direct datagram's payload is found in place where decoding finds it, and its bad forms throw as decoding does")
    func directPayloadInPlace() throws {
        for seq: UInt64 in [0, 127, 128, 300, 1 << 35, .max] {
            for payload: [UInt8] in [[], [7], [UInt8](repeating: 9, count: 1000)] {
                let bytes = Datagram.encode(.direct(payload), linkSeq: seq) + [UInt8](repeating: 0xEE, count: Wire.tagSize)
                let range = try Datagram.directPayloadRange(bytes, maxSize: 1200)
                #expect(Array(bytes[range]) == payload)
                #expect(try Datagram.decodeMessage(bytes, maxSize: 1200) == .direct(payload))
            }
        }
        let good = Datagram.encode(.direct([1, 2, 3]), linkSeq: 1 << 20) + [UInt8](repeating: 0xEE, count: Wire.tagSize)
        for n in 0..<Wire.headerSize + Wire.tagSize + 3 {
            #expect(throws: WireError.self) { try Datagram.directPayloadRange(Array(good.prefix(n)), maxSize: 1200) }
        }
        #expect(throws: WireError.oversized(size: good.count, limit: good.count - 1)) { try Datagram.directPayloadRange(good, maxSize: good.count - 1) }
        #expect(throws: WireError.unknownKind(0x21)) { try Datagram.directPayloadRange(datagram(.pong(nonce: 1, degree: 1)), maxSize: 1200) }
    }

    @Test func headerErrors() {
        let good = datagram(.pong(nonce: 1, degree: 1))
        var bad = good; bad[0] = 0x00
        #expect(throws: WireError.badMagic) { try Datagram.decode(bad) }
        bad = good; bad[2] = 9
        #expect(throws: WireError.unsupportedVersion(9)) { try Datagram.decode(bad) }
        bad = Datagram.encode(.prune([])); bad[3] = 0x07
        #expect(throws: WireError.unknownKind(7)) { try Datagram.decode(bad + [UInt8](repeating: 0, count: 16)) }
        bad = Datagram.encode(.prune([])); bad[3] = 0x30
        #expect(throws: WireError.unknownKind(0x30)) { try Datagram.decode(bad + [UInt8](repeating: 0, count: 16)) }
        #expect(throws: WireError.oversized(size: 1201, limit: 1200)) { try Datagram.decode([UInt8](repeating: 0, count: 1201)) }
    }

    @Test func trailingBytesAreRejected() {
        let m = Message.connect(
            Connect(
                meshDigest: [UInt8](repeating: 1, count: 16), sender: key(2), nonce: [UInt8](repeating: 3, count: 16),
                ephemeral: [UInt8](repeating: 4, count: 32)))
        #expect(throws: WireError.trailingBytes(count: 1)) { try Datagram.decode(Datagram.encode(m) + [0]) }
    }

    @Test func boundedLists() {
        // A referral list claiming 11 entries is refused before anything is read.
        var w = ByteWriter()
        w.raw([0x4D, 0x53, Wire.version, 0x06]); w.varint(1); w.u8(DisconnectReason.leaving.rawValue); w.varint(11)
        #expect(throws: WireError.tooLong(field: "referrals", count: 11, limit: 10)) { try Datagram.decode(w.bytes + [UInt8](repeating: 0, count: 16)) }
        // A payload length far beyond the datagram cannot cause a large allocation.
        w = ByteWriter()
        w.raw([0x4D, 0x53, Wire.version, 0x10]); w.varint(1); w.u8(3); w.u8(1); w.raw([UInt8](repeating: 1, count: 32)); w.varint(1); w.u8(0);
        w.varint(UInt64.max)
        #expect(throws: WireError.self) { try Datagram.decode(w.bytes + [UInt8](repeating: 0, count: 16)) }
        // Unknown address family and unknown reason.
        w = ByteWriter()
        w.raw([0x4D, 0x53, Wire.version, 0x06]); w.varint(1); w.u8(99); w.varint(0)
        #expect(throws: WireError.invalidValue(field: "reason")) { try Datagram.decode(w.bytes + [UInt8](repeating: 0, count: 16)) }
    }

    @Test("a Floods datagram shares an origin and a batch's signature, depth and salt between entries, and its entry sizes are exact")
    func floodsSharing() throws {
        let bytes = Datagram.encode(.floods(sampleFloods), linkSeq: 1)
        var size = Wire.headerSize + 1 + 1
        var previous: FloodMessage?
        for m in sampleFloods {
            size += Datagram.floodEntrySize(m, after: previous)
            previous = m
        }
        #expect(bytes.count == size)
        // The second entry leaves out 32 + 64 + 1 + 16 bytes of the first's.
        #expect(Datagram.floodEntrySize(sampleFloods[1], after: sampleFloods[0]) == Datagram.floodEntrySize(sampleFloods[1], after: nil) - 113)
        #expect(Datagram.messageCount(bytes + [UInt8](repeating: 0, count: Wire.tagSize)) == sampleFloods.count)
        #expect(Datagram.messageCount(datagram(.pong(nonce: 1, degree: 1))) == 1)
    }

    @Test("a Floods datagram's count and entry flags outside their ranges are typed errors")
    func floodsFields() {
        func floods(count: UInt8, entries: [[UInt8]]) -> [UInt8] {
            var w = ByteWriter()
            w.raw([0x4D, 0x53, Wire.version, 0x16]); w.varint(1); w.u8(count)
            for e in entries { w.raw(e) }
            return w.bytes + [UInt8](repeating: 0, count: 16)
        }
        func entry(flags: UInt8, proof: [UInt8] = [], sharing: Bool = false) -> [UInt8] {
            var w = ByteWriter()
            w.u8(flags); w.u8(3); w.u8(1)
            if flags & 4 == 0 { w.raw([UInt8](repeating: 1, count: 32)) }
            w.varint(1)
            if flags & 1 == 1 { w.raw([UInt8](repeating: 9, count: 32)) }
            w.lengthPrefixed([7]); w.raw(proof)
            if flags & 8 == 0 { w.raw([UInt8](repeating: 2, count: 64)) }
            return w.bytes
        }
        let plain = entry(flags: 0)
        let batched = entry(flags: 2, proof: [1, 0] + [UInt8](repeating: 4, count: 16) + [UInt8](repeating: 5, count: 16))
        #expect(throws: WireError.invalidValue(field: "floods.count")) { try Datagram.decode(floods(count: 1, entries: [plain])) }
        #expect(throws: WireError.invalidValue(field: "floods.count")) { try Datagram.decode(floods(count: 65, entries: [])) }
        // Unknown bits, the next number or leaf on the first entry, a unicast with a proof, sharing
        // on the first entry, a shared batch without a proof before it.
        #expect(throws: WireError.invalidValue(field: "floods.flags")) { try Datagram.decode(floods(count: 2, entries: [plain, entry(flags: 64 | 4)])) }
        #expect(throws: WireError.invalidValue(field: "floods.flags")) { try Datagram.decode(floods(count: 2, entries: [entry(flags: 16), plain])) }
        #expect(throws: WireError.invalidValue(field: "floods.flags")) { try Datagram.decode(floods(count: 2, entries: [entry(flags: 32), plain])) }
        #expect(throws: WireError.invalidValue(field: "floods.flags")) { try Datagram.decode(floods(count: 2, entries: [entry(flags: 3), plain])) }
        #expect(throws: WireError.invalidValue(field: "floods.flags")) { try Datagram.decode(floods(count: 2, entries: [entry(flags: 4), plain])) }
        #expect(throws: WireError.invalidValue(field: "floods.flags")) {
            try Datagram.decode(floods(count: 2, entries: [plain, entry(flags: 2 | 4 | 8, proof: [0] + [UInt8](repeating: 5, count: 16))]))
        }
        #expect(throws: WireError.invalidValue(field: "floods.batchIndex")) {
            try Datagram.decode(floods(count: 2, entries: [batched, entry(flags: 2 | 4 | 8, proof: [2] + [UInt8](repeating: 5, count: 16))]))
        }
        // In range: the second entry takes the first one's origin, signature, depth and salt.
        let ok = try? Datagram.decode(floods(count: 2, entries: [batched, entry(flags: 2 | 4 | 8, proof: [1] + [UInt8](repeating: 6, count: 16))]))
        guard case let .floods(list)? = ok?.message, list.count == 2 else {
            Issue.record("a valid Floods datagram did not decode")
            return
        }
        #expect(list[1].origin == list[0].origin && list[1].signature == list[0].signature)
        #expect(list[1].proof == BatchProof(depth: 1, index: 1, salt: [UInt8](repeating: 4, count: 16), path: [UInt8](repeating: 6, count: 16)))
    }

    @Test("consecutive messages of one batch leave out their hop fields, sequence number, index and the path levels they share, and decode to whole messages")
    func floodsBatchRuns() throws {
        // A batch of 8 (depth 3) with a path that is a tree's: the sibling of leaf i's ancestor on
        // level k is node (k, (i >> k) ^ 1), named by its bytes.
        func path(_ i: Int) -> [UInt8] { (0..<3).flatMap { k in [UInt8](repeating: UInt8(k * 16 + ((i >> k) ^ 1)), count: 16) } }
        let salt = [UInt8](repeating: 0x5A, count: 16), sig = [UInt8](repeating: 0x77, count: 64)
        let run = (0..<8).map { i in
            FloodMessage(
                hopLimit: 6, hops: 2, origin: key(60), seq: 1000 + UInt64(i), destination: nil, payload: [UInt8](repeating: UInt8(i), count: 100),
                signature: sig, proof: BatchProof(depth: 3, index: UInt8(i), salt: salt, path: path(i)))
        }
        let bytes = Datagram.encode(.floods(run), linkSeq: 1)
        var size = Wire.headerSize + 1 + 1
        for (n, m) in run.enumerated() { size += Datagram.floodEntrySize(m, after: n == 0 ? nil : run[n - 1]) }
        #expect(bytes.count == size)
        let decoded = try Datagram.decode(bytes + [UInt8](repeating: 0, count: Wire.tagSize)).message
        #expect(decoded == .floods(run))
        // After leaf i - 1, leaf i writes its flags, payload and the levels 0 ... ctz(i) of its path.
        let whole = Datagram.floodEntrySize(run[1], after: nil)
        #expect(whole == 1 + 2 + 32 + 2 + 1 + 100 + 1 + 1 + 16 + 48 + 64)
        for (i, levels) in [(1, 1), (2, 2), (3, 1), (4, 3), (7, 1)] {
            #expect(Datagram.floodEntrySize(run[i], after: run[i - 1]) == 1 + 1 + 100 + 16 * levels)
        }
        // Not the next leaf (a gap), other hop fields, a path that disagrees above the meeting
        // level: each written in full where it differs, and still decoded as sent.
        var other = run
        other[3].hops = 3
        other[5].proof!.path[47] ^= 1
        other.remove(at: 6)
        let otherBytes = Datagram.encode(.floods(other), linkSeq: 1)
        #expect(try Datagram.decode(otherBytes + [UInt8](repeating: 0, count: Wire.tagSize)).message == .floods(other))
        // (hop fields 2 bytes, seq 2 bytes, payload length 1, index 1)
        #expect(Datagram.floodEntrySize(other[3], after: other[2]) == 1 + 2 + 2 + 1 + 100 + 16)
        #expect(Datagram.floodEntrySize(other[4], after: other[3]) == 1 + 2 + 2 + 1 + 100 + 16 * 3)
        #expect(Datagram.floodEntrySize(other[5], after: other[4]) == 1 + 1 + 100 + 1 + 48)
        #expect(Datagram.floodEntrySize(other[6], after: other[5]) == 1 + 2 + 2 + 1 + 100 + 1 + 48)
        // Proofs the initializer takes but no decoder gives (an index past 2^depth) are written
        // whole, never trapped on.
        let bad = [3, 4].map { i in
            FloodMessage(
                hopLimit: 6, hops: 2, origin: key(60), seq: 2000 + UInt64(i), destination: nil, payload: [1], signature: sig,
                proof: BatchProof(depth: 1, index: UInt8(i), salt: salt, path: [UInt8](repeating: 1, count: 16)))
        }
        let badBytes = Datagram.encode(.floods(bad), linkSeq: 1)
        #expect(badBytes.count == Wire.headerSize + 1 + 1 + Datagram.floodEntrySize(bad[0], after: nil) + Datagram.floodEntrySize(bad[1], after: bad[0]))
        // The last leaf has no next one: a next-leaf entry after it is an error.
        var w = ByteWriter()
        w.raw([0x4D, 0x53, Wire.version, 0x16]); w.varint(1); w.u8(2)
        w.u8(2); w.u8(6); w.u8(2); w.raw(key(60).bytes); w.varint(1007); w.lengthPrefixed(run[7].payload)
        w.u8(3); w.u8(7); w.raw(salt); w.raw(path(7)); w.raw(sig)
        w.u8(2 | 4 | 8 | 16 | 32); w.lengthPrefixed([1]); w.raw([UInt8](repeating: 3, count: 16))
        #expect(throws: WireError.invalidValue(field: "floods.batchIndex")) { try Datagram.decode(w.bytes + [UInt8](repeating: 0, count: Wire.tagSize)) }
    }

    @Test("a flood's flags, batch depth and batch index outside their ranges are typed errors")
    func batchProofFields() {
        func flood(flags: UInt8, proof: [UInt8]) -> [UInt8] {
            var w = ByteWriter()
            w.raw([0x4D, 0x53, Wire.version, 0x10]); w.varint(1); w.u8(3); w.u8(1); w.raw([UInt8](repeating: 1, count: 32)); w.varint(1)
            w.u8(flags)
            if flags & 1 == 1 { w.raw([UInt8](repeating: 9, count: 32)) }
            w.lengthPrefixed([7]); w.raw(proof); w.raw([UInt8](repeating: 2, count: 64))
            return w.bytes + [UInt8](repeating: 0, count: 16)
        }
        let salt = [UInt8](repeating: 4, count: 16)
        #expect(throws: WireError.invalidValue(field: "flood.flags")) { try Datagram.decode(flood(flags: 4, proof: [])) }
        // A batch proof on a unicast: batches are broadcasts.
        #expect(throws: WireError.invalidValue(field: "flood.flags")) {
            try Datagram.decode(flood(flags: 3, proof: [1, 0] + salt + [UInt8](repeating: 0, count: 16)))
        }
        #expect(throws: WireError.invalidValue(field: "flood.batchDepth")) { try Datagram.decode(flood(flags: 2, proof: [0, 0] + salt)) }
        #expect(throws: WireError.invalidValue(field: "flood.batchDepth")) {
            try Datagram.decode(flood(flags: 2, proof: [9, 0] + salt + [UInt8](repeating: 0, count: 144)))
        }
        #expect(throws: WireError.invalidValue(field: "flood.batchIndex")) {
            try Datagram.decode(flood(flags: 2, proof: [2, 4] + salt + [UInt8](repeating: 0, count: 32)))
        }
        // In range: depth 2, index 3, the salt, two hashes.
        let ok = try? Datagram.decode(flood(flags: 2, proof: [2, 3] + salt + [UInt8](repeating: 5, count: 32)))
        guard case let .flood(m)? = ok?.message else {
            Issue.record("a valid batch proof did not decode")
            return
        }
        #expect(m.proof == BatchProof(depth: 2, index: 3, salt: salt, path: [UInt8](repeating: 5, count: 32)))
    }

    @Test func varints() throws {
        for v: UInt64 in [0, 1, 127, 128, 300, 1 << 35, UInt64.max] {
            var w = ByteWriter(); w.varint(v)
            var r = ByteReader(w.bytes)
            #expect(try r.varint() == v)
            #expect(r.remaining == 0)
        }
        // 11 continuation bytes, and a 10th byte that overflows 64 bits.
        var r = ByteReader([UInt8](repeating: 0x80, count: 11) + [0])
        #expect(throws: WireError.badVarint(offset: 0)) { try r.varint() }
        r = ByteReader([UInt8](repeating: 0xFF, count: 9) + [0x02])
        #expect(throws: WireError.badVarint(offset: 0)) { try r.varint() }
    }

    @Test("random and mutated inputs never trap")
    func randomInputs() {
        var rng = SplitMix(state: 7)
        var decoded = 0
        for i in 0..<50_000 {
            var bytes: [UInt8]
            if i % 2 == 0 {
                bytes = rng.bytes(Int(rng.next() % 200))
            } else {
                // Mutate a valid datagram: flip, insert or cut bytes.
                bytes = datagram(sampleMessages[Int(rng.next() % UInt64(sampleMessages.count))])
                for _ in 0..<(1 + rng.next() % 4) {
                    let at = Int(rng.next() % UInt64(max(bytes.count, 1)))
                    switch rng.next() % 3 {
                    case 0: if !bytes.isEmpty { bytes[at] ^= UInt8(truncatingIfNeeded: rng.next() | 1) }
                    case 1: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: min(at, bytes.count))
                    default: bytes = Array(bytes.prefix(at))
                    }
                }
            }
            if (try? Datagram.decode(bytes)) != nil { decoded += 1 }
        }
        // Some mutations stay valid (flipped payload bytes); most do not.
        #expect(decoded > 0 && decoded < 50_000)
    }

    @Test func regressionInputs() throws {
        // Inputs that crashed or misbehaved during fuzzing live in Fuzz/regressions as hex lines.
        for hex in FuzzRegressions.inputs {
            let bytes = stride(from: 0, to: hex.count, by: 2).compactMap { i -> UInt8? in
                let s = hex.index(hex.startIndex, offsetBy: i)
                return UInt8(hex[s..<hex.index(s, offsetBy: 2)], radix: 16)
            }
            // Whatever decodes must survive a round trip unchanged.
            if let d = try? Datagram.decode(bytes) {
                var again = Datagram.encode(d.message, linkSeq: d.linkSeq)
                if d.message.isLinkAuthenticated { again += d.tag ?? [] }
                #expect(try Datagram.decode(again, maxSize: 65_507).message == d.message)
            }
        }
    }

    @Test func addressDescriptions() {
        #expect(MeshAddress.ipv4(0x7F00_0001, port: 9).description == "127.0.0.1:9")
        #expect(key(0xAB).description == "abababababababab")
    }

    @Test("a LAN beacon round-trips with its tag; every truncation, a wrong magic or version, and extra bytes throw")
    func lanBeacon() throws {
        let beacon = LANBeacon(meshDigest: Array(repeating: 7, count: 16), key: Array(repeating: 9, count: 32), port: 7400, tag: Array(repeating: 3, count: 16))
        let bytes = beacon.encode()
        #expect(bytes.count == LANBeacon.size && beacon.body.count == 55 && Array(bytes.prefix(55)) == beacon.body)
        #expect(try LANBeacon.decode(bytes) == beacon)
        for n in 0..<bytes.count { #expect(throws: WireError.self) { try LANBeacon.decode(Array(bytes.prefix(n))) } }
        #expect(throws: WireError.badMagic) { try LANBeacon.decode([0x4E] + bytes.dropFirst()) }
        #expect(throws: WireError.unsupportedVersion(1)) { try LANBeacon.decode(Array(bytes.prefix(4)) + [1] + bytes.dropFirst(5)) }
        #expect(throws: WireError.trailingBytes(count: 1)) { try LANBeacon.decode(bytes + [0]) }
    }
}
