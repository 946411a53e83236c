import MeshstepWire

/// Recently seen flooded messages, kept to answer pulls (Graft). First in, first out, bounded.
///
/// The messages sit in a ring in the order they came, and a dictionary maps each reference to
/// its place: the table moves only small entries when it inserts and deletes (one of each per
/// message once full), never the messages themselves. It is keyed by the origin's first 8 key
/// bytes and the sequence number (a 16-byte key, a smaller table, fewer hash rounds); the place
/// found is checked against the whole reference. Only messages whose origin signature or link
/// was checked are stored, so two origins sharing those 8 bytes take 2^64 key generations to
/// make, and then cost only a message that cannot be pulled.
struct MessageStore: Sendable {
    struct Key: Hashable, Sendable {
        var tag: UInt64
        var seq: UInt64
        init(_ ref: MessageRef) {
            tag = ref.origin.tag
            seq = ref.seq
        }
    }

    let capacity: Int
    /// Places in arrival order: `slots.count < capacity` while filling, then a ring whose oldest
    /// place is `next`. A removed message leaves its place empty until the ring comes round.
    private var slots: [FloodMessage?] = []
    private var next = 0
    private var index: [Key: Int] = [:]

    init(capacity: Int) { self.capacity = max(0, capacity) }

    /// Keeps `m`, forgetting the oldest place when full. A message already held is replaced
    /// where it is.
    /// - Complexity: amortized O(1).
    mutating func insert(_ m: FloodMessage) {
        guard capacity > 0 else { return }
        let ref = m.ref, key = Key(ref)
        let place = slots.count < capacity ? slots.count : next
        if let held = index.updateValue(place, forKey: key), slots[held]?.ref == ref {
            index[key] = held
            slots[held] = m
            return
        }
        if place == slots.count {
            slots.append(m)
        } else {
            if let old = slots[place] {
                let oldKey = Key(old.ref)
                if oldKey != key { index.removeValue(forKey: oldKey) }
            }
            slots[place] = m
            next = (next + 1) % capacity
        }
    }

    subscript(ref: MessageRef) -> FloodMessage? {
        guard let place = index[Key(ref)], let m = slots[place], m.ref == ref else { return nil }
        return m
    }

    /// Forgets one message (its place stays empty until the ring comes round to it).
    mutating func remove(_ ref: MessageRef) {
        let key = Key(ref)
        guard let place = index[key], slots[place]?.ref == ref else { return }
        index[key] = nil
        slots[place] = nil
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
