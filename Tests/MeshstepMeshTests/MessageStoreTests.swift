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
}
