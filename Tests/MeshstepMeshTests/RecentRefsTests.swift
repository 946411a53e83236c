import MeshstepWire
import Testing

@testable import MeshstepMesh

@Suite("Recent refs of a neighbor")
struct RecentRefsTests {
    func ref(_ origin: UInt8, _ seq: UInt64) -> MessageRef { MessageRef(origin: PeerKey(bytes: [UInt8](repeating: origin, count: 32)), seq: seq) }

    @Test("copies are counted per ref, a Graft excuses one, and the oldest of 64 refs is forgotten first")
    func counts() {
        var recent = RecentRefs()
        #expect(recent.record(ref(1, 5)) == 1)
        #expect(recent.record(ref(2, 5)) == 1)  // same seq, another origin
        #expect(recent.record(ref(1, 5)) == 2)
        #expect(recent.record(ref(1, 5)) == 3)  // a replay: the caller penalizes from 3
        // We pulled ref(3, 1): its answer and a retry's count as none and one.
        recent.expect(ref(3, 1))
        #expect(recent.record(ref(3, 1)) == 0)
        #expect(recent.record(ref(3, 1)) == 1)
        // 64 refs later the first ones are forgotten: a copy counts as the first again.
        for s in 1...62 { _ = recent.record(ref(4, UInt64(s))) }
        #expect(recent.record(ref(1, 5)) == 1)
        #expect(recent.record(ref(4, 62)) == 2)
    }
}
