import Crypto
import MeshstepWire
import Testing

@testable import MeshstepMesh

@Suite("Link tags")
struct LinkTagTests {
    @Test("a link tag is HMAC-SHA256 truncated, for every prefix length around the block sizes")
    func tagIsTruncatedHMAC() {
        let key = SymmetricKey(data: (0..<32).map { UInt8($0 &* 7 &+ 3) })
        let keyed = KeyedSHA256(key: key)
        let bytes = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 11) }
        for prefix in [0, 1, 31, 55, 56, 63, 64, 65, 119, 120, 128, 200, 300] {
            let expected = Array(HMAC<SHA256>.authenticationCode(for: bytes[0..<prefix], using: key).prefix(16))
            #expect(keyed.tag(bytes, prefix: prefix) == expected, "prefix \(prefix)")
        }
    }

    @Test("a tag appended in place verifies, and one flipped bit anywhere fails it")
    func appendedTagVerifies() {
        let a = SymmetricKey(data: (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 5 &+ 1) })
        let b = SymmetricKey(data: (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 9 &+ 2) })
        let sender = LinkKeys(send: a, receive: b), receiver = LinkKeys(send: b, receive: a)
        for n in [Wire.headerSize, 40, 100, 300] {
            var bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 17 &+ 3) }
            let expected = bytes + sender.tag(bytes)
            sender.appendTag(to: &bytes)
            #expect(bytes == expected, "\(n) bytes")
            #expect(receiver.verify(bytes), "\(n) bytes")
            #expect(!sender.verify(bytes), "the sender's own receive key")
            for i in [0, n / 2, n, n + Wire.tagSize - 1] {
                var bad = bytes
                bad[i] ^= 0x01
                #expect(!receiver.verify(bad), "bit flipped at \(i) of \(n) bytes")
            }
        }
    }

    @Test("digest bytes read in place are the digest's bytes")
    func digestBytesInPlace() {
        for n in [0, 1, 55, 64, 200] {
            let digest = SHA256.hash(data: (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 5) })
            #expect(withDigestBytes(digest) { Array($0) } == Array(digest), "\(n) bytes")
        }
    }
}
