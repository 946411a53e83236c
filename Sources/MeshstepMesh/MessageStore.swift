import MeshstepWire

/// Recently seen flooded messages, kept to answer pulls (Graft). First in, first out, bounded.
///
/// The messages sit in a ring in the order they came, and a dictionary maps each reference to
/// its place: the table moves only small entries when it inserts and deletes (one of each per
/// message once full), never the messages themselves.
struct MessageStore: Sendable {
    let capacity: Int
    /// Places in arrival order: `slots.count < capacity` while filling, then a ring whose oldest
    /// place is `next`. A removed message leaves its place empty until the ring comes round.
    private var slots: [FloodMessage?] = []
    private var next = 0
    private var index: [MessageRef: Int] = [:]

    init(capacity: Int) { self.capacity = max(0, capacity) }

    /// Keeps `m`, forgetting the oldest place when full. A message already held is replaced
    /// where it is.
    /// - Complexity: amortized O(1).
    mutating func insert(_ m: FloodMessage) {
        guard capacity > 0 else { return }
        let ref = m.ref
        let place = slots.count < capacity ? slots.count : next
        if let held = index.updateValue(place, forKey: ref) {
            index[ref] = held
            slots[held] = m
            return
        }
        if place == slots.count {
            slots.append(m)
        } else {
            if let old = slots[place] { index[old.ref] = nil }
            slots[place] = m
            next = (next + 1) % capacity
        }
    }

    subscript(ref: MessageRef) -> FloodMessage? { index[ref].flatMap { slots[$0] } }

    /// Forgets one message (its place stays empty until the ring comes round to it).
    mutating func remove(_ ref: MessageRef) {
        if let place = index.removeValue(forKey: ref) { slots[place] = nil }
    }

    /// Places taken, empty ones included: at most ``capacity``.
    var count: Int { slots.count }

    /// The newest `limit` messages, oldest first (places emptied by ``remove(_:)`` give none).
    func recent(_ limit: Int) -> [FloodMessage] {
        let n = min(limit, slots.count)
        guard n > 0 else { return [] }
        let end = slots.count < capacity ? slots.count : next + capacity  // one past the newest, unwrapped
        return (end - n..<end).compactMap { slots[$0 % slots.count] }
    }
}
