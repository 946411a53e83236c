import Crypto
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
}
