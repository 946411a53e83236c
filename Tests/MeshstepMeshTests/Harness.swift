@_spi(Adversary) import MeshstepMesh
import MeshstepWire

/// A hand-driven network for unit tests: datagrams wait in a queue until the test passes them on,
/// so every handshake and maintenance step can be checked one action at a time.
struct Net {
    var nodes: [MeshNode] = []
    var now = MeshTime.zero
    /// Datagrams in flight: (to node index, from address, bytes).
    var wire: [(to: Int, from: MeshAddress, bytes: [UInt8])] = []
    var delivered: [[DeliveredMessage]] = []
    var events: [[MeshEvent]] = []
    var resolves: [Int] = []

    static func address(_ i: Int) -> MeshAddress { .ipv4(0x7F00_0001, port: UInt16(9000 + i)) }

    /// Nodes 0 - 1 - 2 in a line, linked.
    static func line() throws -> Net {
        var net = Net()
        for _ in 0..<3 {
            try net.add {
                $0.minNeighbors = 1; $0.idealNeighbors = 1; $0.maxNeighbors = 2
            }
        }
        net.link(0, 1)
        net.link(2, 1)
        return net
    }

    @discardableResult
    mutating func add(password: String? = "secret", meshID: String = "test-mesh", configure: (inout MeshConfiguration) -> Void = { _ in }) throws -> Int {
        let i = nodes.count
        var rng = DeterministicRNG(seed: UInt64(100 + i))
        var config = MeshConfiguration()
        configure(&config)
        let creds = try MeshCredentials(meshID: meshID, access: password.map { .password($0) } ?? .open)
        nodes.append(try MeshNode(identity: NodeIdentity(rng: &rng), credentials: creds, localAddress: Self.address(i), configuration: config, rng: rng.fork()))
        delivered.append([])
        events.append([])
        apply(nodes[i].start(now: now), from: i)
        return i
    }

    func index(of address: MeshAddress) -> Int? { nodes.indices.first { nodes[$0].localAddress == address } }

    mutating func apply(_ actions: [MeshAction], from i: Int) {
        for a in actions {
            switch a {
            case let .send(bytes, to):
                if let j = index(of: to) { wire.append((j, nodes[i].localAddress, bytes)) }
            case let .deliver(m): delivered[i].append(m)
            case let .event(e): events[i].append(e)
            case .resolve: resolves.append(i)
            // Openers expire in the network before they reach anyone (PROTOCOL.md §6.7).
            case .sendOpener, .locate, .reregister: break
            }
        }
    }

    /// Kinds of the datagrams in flight, in order.
    var inFlightKinds: [UInt8] { wire.map { Datagram.peekKind($0.bytes) ?? 0 } }

    /// Delivers the first datagram in flight.
    mutating func step() {
        let d = wire.removeFirst()
        let actions = nodes[d.to].receive(d.bytes, from: d.from, now: now)
        apply(actions, from: d.to)
    }

    /// Delivers datagrams until none are in flight (bounded).
    mutating func flush(limit: Int = 10_000) {
        var n = 0
        while !wire.isEmpty && n < limit { step(); n += 1 }
    }

    /// Splits every Floods datagram in flight into one Flood datagram per message, sealed by its
    /// sender, in place: for tests that lose single messages of a burst.
    mutating func unpackFloods() {
        var split: [(to: Int, from: MeshAddress, bytes: [UInt8])] = []
        for w in wire {
            guard Datagram.peekKind(w.bytes) == 0x16, let i = index(of: w.from), case let .floods(list)? = try? Datagram.decode(w.bytes).message else {
                split.append(w)
                continue
            }
            for m in list {
                if let sealed = nodes[i].seal(.flood(m), to: nodes[w.to].key) { split.append((w.to, w.from, sealed.bytes)) }
            }
        }
        wire = split
    }

    /// Drops every datagram in flight.
    mutating func dropAll() { wire.removeAll() }

    /// Advances time, firing due timers, delivering traffic after each tick.
    mutating func advance(_ d: Duration, tick: Duration = .milliseconds(10), deliver: Bool = true) {
        let end = now + d
        while now < end {
            now = min(end, now + tick)
            for i in nodes.indices {
                if let t = nodes[i].nextDeadline, t <= now { apply(nodes[i].timerFired(now: now), from: i) }
            }
            if deliver { flush() } else { dropAll() }
        }
    }

    /// Advances time by 10 ms and fires the timers due: `look` sees each datagram in flight
    /// before delivery, then every one is delivered (answers included) except those `lose` drops.
    mutating func tick(
        look: ((to: Int, from: MeshAddress, bytes: [UInt8])) -> Void = { _ in }, lose: ((to: Int, from: MeshAddress, bytes: [UInt8])) -> Bool = { _ in false }
    ) {
        now = now + .milliseconds(10)
        for i in nodes.indices {
            if let t = nodes[i].nextDeadline, t <= now { apply(nodes[i].timerFired(now: now), from: i) }
        }
        var n = 0
        while let w = wire.first, n < 10_000 {
            look(w)
            if lose(w) { wire.removeFirst() } else { step() }
            n += 1
        }
    }

    mutating func seed(_ i: Int, with j: Int) {
        apply(nodes[i].addSeedAddresses([nodes[j].localAddress], now: now), from: i)
    }

    mutating func link(_ i: Int, _ j: Int) {
        seed(i, with: j)
        flush()
    }

    mutating func broadcast(_ i: Int, _ payload: [UInt8]) throws -> UInt64 {
        let (seq, actions) = try nodes[i].broadcast(payload, now: now)
        apply(actions, from: i)
        return seq
    }
}
