import Crypto
import MeshstepWire
import Testing

@testable import MeshstepLockstep

@Suite("Chain digests")
struct ChainDigestTests {
    @Test("a chain digest is the first 16 bytes of the SHA-256, big-endian")
    func firstHalfOfSHA256() {
        for n in [0, 1, 17, 64, 300] {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 29 &+ 7) }
            let expected = Array(SHA256.hash(data: bytes))
            let d = ChainDigest(sha256: bytes)
            #expect(d.high == expected[0..<8].reduce(0) { $0 << 8 | UInt64($1) }, "\(n) bytes")
            #expect(d.low == expected[8..<16].reduce(0) { $0 << 8 | UInt64($1) }, "\(n) bytes")
        }
    }

    /// The bytes a chain link and a row digest are defined over (docs/PROTOCOL.md), written out.
    static func bytes(_ d: ChainDigest) -> [UInt8] {
        var w = ByteWriter(capacity: 16)
        d.write(into: &w)
        return w.bytes
    }

    @Test("a chain link hashes the previous value then the input's bytes, inline or spilled")
    func chainLinkBytes() {
        let previous = ChainDigest(high: 0x0102_0304_0506_0708, low: 0xF1F2_F3F4_F5F6_F7F8)
        for n in [0, 1, 3, 16, 17, 200] {
            let raw = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) }
            #expect(InputChain.next(previous, InputBytes(raw)) == ChainDigest(sha256: Self.bytes(previous) + raw), "\(n) bytes")
        }
    }

    @Test("a row digest hashes the tag then each chain value; its last 4 bytes are zero")
    func rowDigestBytes() {
        let chains = (0..<5).map { ChainDigest(high: UInt64($0) &* 0x9E37_79B9_7F4A_7C15, low: ~UInt64($0)) }
        for count in [0, 1, 2, 5] {
            var expected = ChainDigest(sha256: Array("meshstep-row-v1".utf8) + chains.prefix(count).flatMap(Self.bytes))
            expected.low &= 0xFFFF_FFFF_0000_0000
            #expect(InputChain.row(Array(chains.prefix(count))) == expected, "\(count) chains")
        }
        #expect(InputChain.row(count: 3) { $0 == 1 ? nil : chains[$0] } == nil)
    }

    @Test("the row digest cache keeps the newest 128 ticks and forgets from a tick on")
    func rowDigestCache() {
        var cache = RowDigestCache()
        let d = { (t: Int) in ChainDigest(high: UInt64(t), low: 7) }
        for t in 0..<300 { cache[t] = d(t) }
        #expect(cache[171] == nil && cache[172] == d(172) && cache[299] == d(299))
        cache.removeAll(from: 250)
        #expect(cache[249] == d(249) && cache[250] == nil && cache[299] == nil)
        cache[250] = d(250)
        cache.removeAll()
        #expect(cache[200] == nil && cache[250] == nil)
    }
}
