import MeshstepWire
import Testing

@testable import MeshstepMesh

@Suite("Message store")
struct MessageStoreTests {
    func message(_ origin: UInt8, _ seq: UInt64, payload: UInt8 = 0) -> FloodMessage {
        FloodMessage(
            hopLimit: 4, hops: 1, origin: PeerKey(bytes: [UInt8](repeating: origin, count: 32)), seq: seq, destination: nil, payload: [payload],
            signature: [UInt8](repeating: 9, count: 64))
    }

    @Test("first in, first out: the oldest place goes when full, a message held again keeps its place, a removed one leaves its place empty")
    func firstInFirstOut() {
        var store = MessageStore(capacity: 4)
        for s in 1...4 { store.insert(message(1, UInt64(s))) }
        #expect(store.recent(10).map(\.seq) == [1, 2, 3, 4])
        // The same message again replaces it where it is: 1 stays the oldest.
        store.insert(message(1, 1, payload: 7))
        #expect(store[MessageRef(origin: message(1, 1).origin, seq: 1)]?.payload == [7])
        #expect(store.recent(10).map(\.seq) == [1, 2, 3, 4])
        // Full: 5 takes the place of 1, 6 of 2.
        store.insert(message(2, 5))
        store.insert(message(2, 6))
        #expect(store[message(1, 1).ref] == nil && store[message(1, 2).ref] == nil)
        #expect(store.recent(10).map(\.seq) == [3, 4, 5, 6])
        #expect(store.recent(2).map(\.seq) == [5, 6])
        // Removing 4 leaves its place empty: it still counts, and 7 takes the oldest (3's).
        store.remove(message(1, 4).ref)
        #expect(store[message(1, 4).ref] == nil)
        #expect(store.recent(10).map(\.seq) == [3, 5, 6])
        store.insert(message(2, 7))
        #expect(store.recent(10).map(\.seq) == [5, 6, 7])
        #expect(store.count == 4)
        // Then 8 takes the empty place of 4, and 5 is still held.
        store.insert(message(2, 8))
        #expect(store.recent(10).map(\.seq) == [5, 6, 7, 8])
        #expect(store[message(2, 5).ref]?.seq == 5)
    }

    @Test("two origins whose keys share their first 8 bytes: the newer message is found, the older one is not mistaken for it")
    func sharedKeyPrefix() {
        var store = MessageStore(capacity: 8)
        let x = PeerKey(bytes: [UInt8](repeating: 1, count: 8) + [UInt8](repeating: 2, count: 24))
        let y = PeerKey(bytes: [UInt8](repeating: 1, count: 8) + [UInt8](repeating: 3, count: 24))
        func m(_ origin: PeerKey, _ seq: UInt64) -> FloodMessage {
            FloodMessage(hopLimit: 4, hops: 1, origin: origin, seq: seq, destination: nil, payload: [1], signature: [UInt8](repeating: 9, count: 64))
        }
        store.insert(m(x, 1))
        store.insert(m(y, 1))
        #expect(store[MessageRef(origin: y, seq: 1)]?.origin == y)
        #expect(store[MessageRef(origin: x, seq: 1)] == nil)
        store.remove(MessageRef(origin: x, seq: 1))
        #expect(store[MessageRef(origin: y, seq: 1)]?.origin == y)
        #expect(store.recent(8).map(\.origin) == [x, y])
    }

    @Test("an origin's run of sequence numbers stays within its span: far older ones are kept but cannot be pulled, late ones inside it can")
    func runSpan() {
        var store = MessageStore(capacity: 64)
        for s in 1...10 { store.insert(message(1, UInt64(s))) }
        #expect(store.indexedSpan == 10)
        // A jump past the span starts the run afresh: 1...10 stay in the ring, unindexed.
        store.insert(message(1, 2000))
        #expect(store[message(1, 5).ref] == nil && store[message(1, 2000).ref]?.seq == 2000)
        #expect(store.recent(64).count == 11 && store.indexedSpan == 1)
        let span = MessageStore.runSpan, a = 2000 + span - 1
        store.insert(message(1, a))
        #expect(store.indexedSpan == Int(span))
        // One more past the span drops the oldest numbers, and the holes before the next held one.
        store.insert(message(1, a + 77))
        #expect(store[message(1, 2000).ref] == nil && store[message(1, a).ref]?.seq == a)
        #expect(store.indexedSpan == 78)
        // Late messages inside the span are indexed, before the run or in a hole of it.
        store.insert(message(1, a + 67))
        store.insert(message(1, a - 23))
        #expect(store[message(1, a + 67).ref]?.seq == a + 67 && store[message(1, a - 23).ref]?.seq == a - 23)
        #expect(store.indexedSpan == 101)
        // Removing the ends shrinks the run to what it holds.
        store.remove(message(1, a - 23).ref)
        store.remove(message(1, a + 77).ref)
        #expect(store.indexedSpan == 68)
        // Another origin has a run of its own; the ring evicts in arrival order whatever the runs.
        for s in 1...60 { store.insert(message(2, UInt64(s))) }
        // 75 places taken: the 11 oldest (1...10 and 2000 of origin 1) are gone.
        #expect(store[message(2, 1).ref]?.seq == 1 && store[message(2, 60).ref]?.seq == 60)
        #expect(store.count == 64 && store.recent(64).first?.seq == a && store.recent(64).count == 62)
        #expect(store.indexedSpan == 68 + 60)
    }

    @Test("sequence numbers at the top of their range neither overflow nor trap")
    func topOfRange() {
        var store = MessageStore(capacity: 4)
        store.insert(message(1, UInt64.max))
        store.insert(message(1, UInt64.max - 1))
        store.insert(message(1, UInt64.max - 600))  // beyond the span behind: kept, not indexed
        #expect(store[message(1, UInt64.max).ref] != nil && store[message(1, UInt64.max - 1).ref] != nil)
        #expect(store[message(1, UInt64.max - 600).ref] == nil && store.indexedSpan == 2)
        store.remove(message(1, UInt64.max).ref)
        store.remove(message(1, UInt64.max - 1).ref)
        #expect(store.indexedSpan == 0)
        store.insert(message(1, UInt64.max))
        for s in 1...4 { store.insert(message(2, UInt64(s))) }  // the ring comes round over all of them
        #expect(store[message(1, UInt64.max).ref] == nil && store.indexedSpan == 4)
    }
}
