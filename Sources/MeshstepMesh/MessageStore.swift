import DequeModule
import MeshstepWire

/// Recently seen flooded messages, kept to answer pulls (Graft). First in, first out, bounded.
///
/// The messages sit in a ring in the order they came. Each origin (named by its key's first 8
/// bytes) has a run of places indexed by sequence number: an origin's messages arrive nearly in
/// order, so adding, finding and forgetting one touches neighbouring entries of a small table
/// per origin, where one large hash table keyed by reference missed the cache at every message
/// once it held tens of thousands. The place found is checked against the whole reference.
///
/// Bounds: a run covers at most ``runSpan`` sequence numbers, its origin's newest. A message
/// further behind them (its origin sent that many since, or skipped that far ahead) stays until
/// the ring comes round but can no longer be pulled; pulls ask for an origin's newest 256
/// (docs/PROTOCOL.md §7.4). A run holds at least one message, so the runs hold at most
/// ``capacity`` × ``runSpan`` entries of 4 bytes (about twice that with the slack of their
/// buffers, which do not shrink): 16 MiB at the default capacity, reached only by a member that
/// signs messages under thousands of keys with sequence numbers ~500 apart, each message
/// costing it a signature (or a batch's share of one) and us at most a few microseconds.
/// Only messages whose origin signature or link was checked are stored. An origin whose key
/// shares its first 8 bytes with an honest one takes about 2^64 key generations to make (a
/// member's two keys of its own sharing them, about 2^32); either way the messages that share
/// a run and a sequence number cost only pulls (the newer one is indexed).
struct MessageStore: Sendable {
    /// Where an origin's held messages sit: `places[i]` for sequence number `base + i`, -1 for
    /// one not held. Never empty, never starts or ends with -1.
    struct Run: Sendable {
        var base: UInt64
        var places: Deque<Int32>
    }

    /// Most sequence numbers one origin's run covers: twice the 256 a puller asks for, so that a
    /// neighbour up to 256 behind us on an origin can still pull from us.
    static let runSpan: UInt64 = 512

    let capacity: Int
    /// Places in arrival order: `slots.count < capacity` while filling, then a ring whose oldest
    /// place is `next`. A removed message leaves its place empty until the ring comes round.
    private var slots: [FloodMessage?] = []
    private var next = 0
    private var runs: [UInt64: Run] = [:]

    init(capacity: Int) { self.capacity = max(0, min(capacity, Int(Int32.max))) }

    /// Keeps `m`, forgetting the oldest place when full. A message already held is replaced
    /// where it is.
    /// - Complexity: amortized O(1) for messages that arrive nearly in sequence order.
    mutating func insert(_ m: FloodMessage) {
        guard capacity > 0 else { return }
        let ref = m.ref
        if let held = place(of: ref) {
            slots[held] = m
            return
        }
        let place: Int
        if slots.count < capacity {
            place = slots.count
            slots.append(m)
        } else {
            place = next
            if let old = slots[place] { unindex(old.ref, at: place) }
            slots[place] = m
            next = (next + 1) % capacity
        }
        index(ref, at: place)
    }

    subscript(ref: MessageRef) -> FloodMessage? { place(of: ref).flatMap { slots[$0] } }

    /// Forgets one message (its place stays empty until the ring comes round to it).
    mutating func remove(_ ref: MessageRef) {
        guard let place = place(of: ref) else { return }
        unindex(ref, at: place)
        slots[place] = nil
    }

    /// Places taken, empty ones included: at most ``capacity``.
    var count: Int { slots.count }

    /// Sequence numbers the runs cover, empty ones included (a test's view of their bound).
    var indexedSpan: Int { runs.values.reduce(0) { $0 + $1.places.count } }

    /// The newest `limit` messages, oldest first (places emptied by ``remove(_:)`` give none).
    func recent(_ limit: Int) -> [FloodMessage] {
        let n = min(limit, slots.count)
        guard n > 0 else { return [] }
        let end = slots.count < capacity ? slots.count : next + capacity  // one past the newest, unwrapped
        return (end - n..<end).compactMap { slots[$0 % slots.count] }
    }

    /// The place holding exactly `ref`, if it is indexed.
    private func place(of ref: MessageRef) -> Int? {
        guard let run = runs[ref.origin.tag], ref.seq >= run.base, ref.seq - run.base < UInt64(run.places.count) else { return nil }
        let place = Int(run.places[Int(ref.seq - run.base)])
        guard place >= 0, slots[place]?.ref == ref else { return nil }
        return place
    }

    private mutating func index(_ ref: MessageRef, at place: Int) {
        let tag = ref.origin.tag, seq = ref.seq, value = Int32(place)
        guard let r = runs.index(forKey: tag) else {
            runs[tag] = Run(base: seq, places: [value])
            return
        }
        let base = runs.values[r].base, count = UInt64(runs.values[r].places.count)
        if seq >= base && seq - base < count {
            // Not held (or held for another origin with the same tag): the newer message takes it.
            runs.values[r].places[Int(seq - base)] = value
        } else if seq > base {
            // Newer than the run: it grows forward, its oldest numbers dropped past the span.
            if seq - base >= Self.runSpan {
                let newBase = seq - Self.runSpan + 1
                if newBase - base >= count {
                    runs.values[r] = Run(base: seq, places: [value])
                    return
                }
                runs.values[r].places.removeFirst(Int(newBase - base))
                runs.values[r].base = newBase
                Self.trimFront(&runs.values[r])
            }
            let end = runs.values[r].base + UInt64(runs.values[r].places.count)
            runs.values[r].places.append(contentsOf: repeatElement(-1, count: Int(seq - end)))
            runs.values[r].places.append(value)
        } else if count + (base - seq) <= Self.runSpan {  // base > seq here: no overflow near 2^64
            // Older than the run (a late pull answered): it grows backward within the span.
            runs.values[r].places.prepend(contentsOf: repeatElement(-1, count: Int(base - seq - 1)))
            runs.values[r].places.prepend(value)
            runs.values[r].base = seq
        }
    }

    private mutating func unindex(_ ref: MessageRef, at place: Int) {
        guard let r = runs.index(forKey: ref.origin.tag) else { return }
        let base = runs.values[r].base
        guard ref.seq >= base, ref.seq - base < UInt64(runs.values[r].places.count) else { return }
        let offset = Int(ref.seq - base)
        guard runs.values[r].places[offset] == Int32(place) else { return }
        runs.values[r].places[offset] = -1
        Self.trimFront(&runs.values[r])
        while runs.values[r].places.last == -1 { runs.values[r].places.removeLast() }
        if runs.values[r].places.isEmpty { runs.remove(at: r) }
    }

    /// Drops the empty places at the front; a run left with none keeps its base (it is about
    /// to be removed, and its base may be 2^64 − 1).
    private static func trimFront(_ run: inout Run) {
        var n = 0
        while n < run.places.count, run.places[n] == -1 { n += 1 }
        if n == run.places.count {
            run.places.removeAll()
        } else if n > 0 {
            run.places.removeFirst(n)
            run.base += UInt64(n)
        }
    }
}
