import DequeModule
import MeshstepWire

/// Recently seen flooded messages, kept to answer pulls (Graft). First in, first out, bounded.
struct MessageStore: Sendable {
    let capacity: Int
    private var messages: [MessageRef: FloodMessage] = [:]
    private var order: Deque<MessageRef> = []

    init(capacity: Int) { self.capacity = capacity }

    /// - Complexity: amortized O(1).
    mutating func insert(_ m: FloodMessage) {
        let ref = m.ref
        if messages.updateValue(m, forKey: ref) == nil { order.append(ref) }
        while order.count > capacity, let old = order.popFirst() { messages[old] = nil }
    }

    subscript(ref: MessageRef) -> FloodMessage? { messages[ref] }

    /// Forgets one message (its slot in the order is skipped when it comes up).
    mutating func remove(_ ref: MessageRef) { messages[ref] = nil }
    var count: Int { order.count }

    /// The newest `limit` messages, oldest first.
    func recent(_ limit: Int) -> [FloodMessage] { order.suffix(limit).compactMap { messages[$0] } }
}
