import MetricsTestKit
import Testing
@_spi(Adversary) import MeshstepMesh
import MeshstepWire

@Suite("Flooding, security and rate limits")
struct FloodingTests {
    func line() throws -> Net { try Net.line() }

    @Test("a message crosses a relay and is delivered once everywhere")
    func relay() throws {
        var net = try line()
        let seq = try net.broadcast(0, [1, 2, 3])
        net.flush()
        #expect(seq == 1)
        #expect(net.delivered[1].map(\.payload) == [[1, 2, 3]])
        #expect(net.delivered[2].map(\.payload) == [[1, 2, 3]])
        #expect(net.delivered[2][0].hops == 2 && net.delivered[1][0].hops == 1)
        #expect(net.delivered[0].isEmpty)  // never back to the origin
    }

    @Test(
        "a member of a protected group that holds no link to another asks a fellow member to relay it as soon as it learns the group, not at the next housekeeping or second, and again while nothing comes through"
    )
    func relayAskedPromptly() throws {
        var net = try line()  // 0 - 1 - 2: 0 and 2 hold no link
        net.advance(.milliseconds(250))
        let group = net.nodes.map(\.key)
        for i in net.nodes.indices { net.nodes[i].protect(group) }
        var asked: [(from: MeshAddress, at: MeshTime)] = []
        for _ in 0..<15 {
            let at = net.now
            net.tick(look: { if Datagram.peekKind($0.bytes) == 0x14 { asked.append(($0.from, at)) } })
        }
        // Both ends ask node 1 at their next event after learning the group (the first tick).
        let group0 = MeshTime.zero + .milliseconds(250)
        #expect(Set(asked.map(\.from)) == [Net.address(0), Net.address(2)])
        for a in [Net.address(0), Net.address(2)] {
            #expect(asked.first { $0.from == a }.map { $0.at - group0 <= .milliseconds(10) } == true, "\(asked)")
        }
        // Nothing comes through (nobody sends): the request goes out again at the first
        // housekeeping 100 ms or more after the first, then at doubling intervals (and at each
        // whole second), not every housekeeping.
        for _ in 0..<85 {
            let at = net.now
            net.tick(look: { if Datagram.peekKind($0.bytes) == 0x14 { asked.append(($0.from, at)) } })
        }
        let times = asked.filter { $0.from == Net.address(0) }.map(\.at)
        #expect(times.count >= 4 && times.count <= 7, "\(times)")
        #expect(times.count > 1 && times[1] - times[0] >= .milliseconds(100) && times[1] - times[0] <= .milliseconds(210), "\(times)")
        #expect(net.nodes[0].stats.relayRequestsSent == times.count)
    }

    @Test(
        "every fellow member is asked to relay a missing member, the first that passes a copy on stays the only relay, and one that then withholds (all, or all but one copy in 10) is passed over by the next search",
        arguments: [0, 10])
    func relaySearchPassesOverAWithholder(passesOneIn: Int) throws {
        var net = Net()
        for _ in 0..<4 {
            try net.add {
                $0.minNeighbors = 1; $0.idealNeighbors = 2; $0.maxNeighbors = 3; $0.propagationFilter = { _ in .local }
            }
        }
        // 0 - 1 - 3 and 0 - 2 - 3: 0 and 3 hold no link; 1 and 2 both reach 3.
        net.link(0, 1); net.link(0, 2); net.link(1, 3); net.link(2, 3)
        let group = net.nodes.map(\.key)
        for i in net.nodes.indices { net.nodes[i].protect(group) }
        // Phase 0: node 2's copies to 0 are lost, so node 1 passes the first copy on. Phase 1
        // (once 0 keeps 1 and cancels 2): node 1 withholds what it relays to 0, all of it or
        // all but one copy in `passesOneIn`.
        var phase = 0
        var withheld = 0
        var requests: [(to: Int, at: MeshTime, origins: [PeerKey])] = []
        for step in 0..<800 {
            if step % 2 == 0 { _ = try net.broadcast(3, [UInt8(step & 0xFF)]) }
            let at = net.now
            net.tick(
                look: { w in
                    guard w.from == Net.address(0), case let .relay(origins)? = try? Datagram.decode(w.bytes).message else { return }
                    requests.append((w.to, at, origins))
                },
                lose: { w in
                    guard [0x10, 0x16].contains(Datagram.peekKind(w.bytes)), w.to == 0, w.from == Net.address(phase == 0 ? 2 : 1) else { return false }
                    if phase == 0 || passesOneIn == 0 { return true }
                    withheld += 1
                    return withheld % passesOneIn != 0
                })
            if phase == 0, requests.contains(where: { $0.to == 2 && $0.origins.isEmpty }) { phase = 1 }
        }
        let o = net.nodes[3].key
        // The search asked both fellow members, then kept node 1 and told node 2 to stop.
        let first = try #require(requests.first)
        #expect(Set(requests.prefix(2).map(\.to)) == [1, 2] && first.origins == [o])
        let cancelled = try #require(requests.firstIndex { $0.to == 2 && $0.origins.isEmpty })
        // Node 1 withheld: the next search asks node 2 only, and node 1 is told to stop.
        let after = requests[(cancelled + 1)...]
        let again = try #require(after.firstIndex { $0.to == 2 && $0.origins == [o] }, "\(requests.map { ($0.to, $0.at, $0.origins.count) })")
        #expect(after[again].at - requests[cancelled].at >= .seconds(2))
        #expect(!requests.contains { $0.at >= after[again].at && $0.to == 1 && !$0.origins.isEmpty })
        #expect(after.contains { $0.to == 1 && $0.origins.isEmpty })
        #expect(net.delivered[0].filter { $0.origin == o }.count > 100)
    }

    @Test("a direct message reaches only the neighbors named, as the sender's own, unsigned and never forwarded")
    func direct() throws {
        var net = try line()  // 0 - 1 - 2
        let payload: [UInt8] = [7, 1, 2, 3]
        let checks = net.nodes[1].stats.signatureChecks
        // Node 2 is not a neighbor of node 0: skipped, not routed.
        net.apply(try net.nodes[0].sendDirect(payload, to: [net.nodes[1].key, net.nodes[2].key], now: net.now), from: 0)
        #expect(net.inFlightKinds == [0x15])
        // 4 header, 1 link sequence number, the payload, 16 tag: no origin, seq or signature.
        #expect((4 + 1 + payload.count + 16...4 + 2 + payload.count + 16).contains(net.wire.first?.bytes.count ?? 0))
        // The receiver cuts the payload out of the datagram's own buffer: a copy held elsewhere
        // keeps every byte.
        let held = try #require(net.wire.first?.bytes)
        let heldBefore = Array(held)
        net.flush()
        #expect(held == heldBefore)
        let got = try #require(net.delivered[1].first)
        #expect(net.delivered[1].count == 1 && got.payload == payload && got.seq == 0 && got.hops == 1 && !got.isUnicast)
        #expect(got.origin == net.nodes[0].key && got.from == net.nodes[0].key)
        #expect(net.delivered[2].isEmpty)
        #expect(net.nodes[0].stats.directSent == 1 && net.nodes[1].stats.directReceived == 1)
        #expect(net.nodes[1].stats.forwarded == 0 && net.nodes[1].stats.signatureChecks == checks)
        // Too big for one datagram: a typed error, nothing sent.
        let big = [UInt8](repeating: 0, count: net.nodes[0].maxDirectPayloadSize + 1)
        #expect(throws: MeshSendError.payloadTooLarge(size: big.count, limit: net.nodes[0].maxDirectPayloadSize)) {
            _ = try net.nodes[0].sendDirect(big, to: [net.nodes[1].key], now: net.now)
        }
        // A copy the network duplicates is stopped by the link's sequence numbers.
        net.apply(try net.nodes[0].sendDirect(payload, to: [net.nodes[1].key], now: net.now), from: 0)
        let copy = try #require(net.wire.first)
        net.flush()
        net.apply(net.nodes[1].receive(copy.bytes, from: copy.from, now: net.now), from: 1)
        #expect(net.delivered[1].count == 2 && net.nodes[1].stats.linkReplays == 1)
    }

    @Test("duplicates are suppressed and counted; replays are never delivered twice")
    func duplicates() throws {
        var net = try line()
        _ = try net.broadcast(0, [9])
        let captured = try #require(net.wire.first)
        net.flush()
        // A captured datagram played again: its link sequence number gives it away.
        for _ in 0..<5 { net.wire.append(captured) }
        net.flush()
        #expect(net.delivered[1].count == 1)
        #expect(net.nodes[1].stats.linkReplays == 5)
        // The same neighbor sending the same message again under fresh link numbers: a second
        // copy is tolerated (a slow pull answer), from the third on it is a replay and costs points.
        let m = try #require(net.nodes[0].storedMessage(MessageRef(origin: net.nodes[0].key, seq: 1)))
        for _ in 0..<4 {
            let sealed = net.nodes[0].seal(.flood(m), to: net.nodes[1].key)
            net.wire.append((1, Net.address(0), try #require(sealed).bytes))
        }
        net.flush()
        #expect(net.nodes[1].stats.duplicates == 1)
        #expect(net.nodes[1].stats.replayed == 3)
        #expect(net.nodes[1].neighborInfo.first { $0.peer == net.nodes[0].key }?.misbehaviourScore == 15)
        #expect(net.delivered[1].count == 1)
        // A copy from another neighbor is an ordinary duplicate.
        var copy = try #require(net.nodes[2].storedMessage(MessageRef(origin: net.nodes[0].key, seq: 1)))
        copy.hops = 3
        let sealed = net.nodes[2].seal(.flood(copy), to: net.nodes[1].key)
        net.wire.append((1, Net.address(2), try #require(sealed).bytes))
        net.flush()
        #expect(net.nodes[1].stats.duplicates == 2)
        #expect(net.delivered[1].count == 1)
    }

    @Test("messages older than the window are rejected as replays")
    func staleReplay() throws {
        var net = try line()
        _ = try net.broadcast(0, [0])
        net.flush()
        let old = try #require(net.nodes[0].storedMessage(MessageRef(origin: net.nodes[0].key, seq: 1)))
        for k in 1...300 { _ = try net.broadcast(0, [UInt8(k & 0xFF)]); net.flush() }
        let sealed = net.nodes[0].seal(.flood(old), to: net.nodes[1].key)
        net.wire.append((1, Net.address(0), try #require(sealed).bytes))
        net.flush()
        #expect(net.nodes[1].stats.stale == 1)
        #expect(net.delivered[1].count == 301)
    }

    @Test("a forged origin or an altered payload is dropped, counted and punished")
    func forgery() throws {
        var net = try line()
        // Node 2 (a member) alters a message it relays and claims node 0 sent it.
        _ = try net.broadcast(1, [5, 5, 5])
        net.flush()
        var altered = try #require(net.nodes[2].storedMessage(MessageRef(origin: net.nodes[1].key, seq: 1)))
        altered.seq = 2
        altered.payload = [6, 6, 6]
        let sealedForgery = net.nodes[2].seal(.flood(altered), to: net.nodes[1].key)
        let sealed = try #require(sealedForgery)
        net.wire.append((1, Net.address(2), sealed.bytes))
        net.flush()
        #expect(net.nodes[1].stats.forged == 1)
        #expect(net.delivered[1].isEmpty || net.delivered[1].allSatisfy { $0.payload != [6, 6, 6] })
        // Four forgeries reach the misbehaviour threshold: disconnected and banned.
        for s in 3...6 {
            altered.seq = UInt64(s)
            let again = net.nodes[2].seal(.flood(altered), to: net.nodes[1].key)
            net.wire.append((1, Net.address(2), try #require(again).bytes))
        }
        net.flush()
        #expect(!net.nodes[1].neighborKeys.contains(net.nodes[2].key))
        #expect(net.events[2].contains(.neighborDown(net.nodes[1].key, Net.address(1), reason: .misbehaving, byUs: false)))
        // It cannot come straight back.
        net.link(2, 1)
        #expect(net.events[2].contains(.connectRefused(Net.address(1), reason: .banned)))
    }

    @Test("datagrams with a bad tag, from strangers, or malformed are rejected without a crash")
    func rejections() throws {
        var net = try line()
        let ping = Datagram.encode(.prune([])) + [UInt8](repeating: 0, count: 16)
        net.wire.append((1, Net.address(0), ping))  // bad tag from a neighbor's address
        net.wire.append((1, .ipv4(0x0100_0001, port: 1), ping))  // unknown sender
        net.wire.append((1, Net.address(0), [0xFF, 0x00]))  // garbage
        net.flush()
        #expect(net.nodes[1].stats.badTag == 1)
        #expect(net.nodes[1].stats.unknownSender == 1)
        #expect(net.nodes[1].stats.malformed == 1)
        #expect(net.nodes[1].neighborCount == 2)  // spoofable garbage costs an honest link nothing
        // Tagged garbage from a real neighbor is held against it.
        let linkSeq = UInt8(net.nodes[0].takeLinkSeq(to: net.nodes[1].key))
        let sealed = try #require(net.nodes[0].sealRaw([0x4D, 0x53, Wire.version, 0x10, linkSeq, 1, 2], to: net.nodes[1].key))
        net.wire.append((1, Net.address(0), sealed.bytes))
        net.flush()
        #expect(net.nodes[1].stats.malformed == 2)
        #expect(net.nodes[1].neighborInfo.first { $0.peer == net.nodes[0].key }?.misbehaviourScore == 10)
    }

    @Test("unicast reaches only its destination, through a relay")
    func unicast() throws {
        var net = try line()
        let (_, actions) = try net.nodes[0].send([42], to: net.nodes[2].key, now: net.now)
        net.apply(actions, from: 0)
        net.flush()
        #expect(net.delivered[1].isEmpty)
        #expect(net.delivered[2].map(\.payload) == [[42]])
        #expect(net.delivered[2][0].isUnicast)
    }

    @Test("hop limit: delivered at the last hop, not forwarded further")
    func hopLimit() throws {
        var net = Net()
        for _ in 0..<3 {
            try net.add {
                $0.minNeighbors = 1; $0.idealNeighbors = 1; $0.maxNeighbors = 2; $0.hopLimit = 1
            }
        }
        net.link(0, 1); net.link(2, 1)
        _ = try net.broadcast(0, [1])
        net.flush()
        net.advance(.seconds(2))
        #expect(net.delivered[1].count == 1)
        #expect(net.delivered[2].isEmpty)
    }

    @Test("propagation filter: local-only stops the flood, remote-only relays without delivering")
    func propagationFilter() throws {
        var net = Net()
        try net.add {
            $0.minNeighbors = 1; $0.idealNeighbors = 1
        }
        try net.add {
            $0.minNeighbors = 1; $0.idealNeighbors = 1; $0.propagationFilter = { $0.payload.first == 1 ? .local : .remote }
        }
        try net.add {
            $0.minNeighbors = 1; $0.idealNeighbors = 1
        }
        net.link(0, 1); net.link(2, 1)
        _ = try net.broadcast(0, [1]); net.flush()
        _ = try net.broadcast(0, [2]); net.flush()
        net.advance(.seconds(2))
        #expect(net.delivered[1].map(\.payload) == [[1]])
        #expect(net.delivered[2].map(\.payload) == [[2]])
    }

    @Test("oversized payloads get a typed error that says the limit")
    func oversized() throws {
        var net = try line()
        let limit = net.nodes[0].maxPayloadSize
        #expect(throws: MeshSendError.payloadTooLarge(size: limit + 1, limit: limit)) {
            _ = try net.nodes[0].broadcast([UInt8](repeating: 0, count: limit + 1), now: .zero)
        }
        _ = try net.broadcast(0, [UInt8](repeating: 7, count: limit))
        net.flush()
        #expect(net.delivered[2].first?.payload.count == limit)
    }

    @Test("a lost copy is recovered by a pull from a lazy neighbor")
    func pullRecovery() throws {
        // Triangle; every full copy leaving the origin is lost, announcements get through.
        var net = Net()
        for _ in 0..<3 {
            try net.add {
                $0.minNeighbors = 1; $0.idealNeighbors = 2; $0.maxNeighbors = 2; $0.minEagerLinks = 0
            }
        }
        net.link(0, 1); net.link(1, 2); net.link(2, 0)
        for k in 0..<5 { _ = try net.broadcast(0, [UInt8(k)]); net.flush() }
        _ = try net.broadcast(0, [99])
        // Lose every full copy leaving node 0 in this round.
        net.wire.removeAll { Datagram.peekKind($0.bytes) == 0x10 || Datagram.peekKind($0.bytes) == 0x16 }
        net.flush()
        net.advance(.seconds(2))
        #expect(net.delivered[1].last?.payload == [99] || net.delivered[2].last?.payload == [99])
        #expect(net.delivered[1].filter { $0.payload == [99] }.count == 1)
        #expect(net.delivered[2].filter { $0.payload == [99] }.count == 1)
    }

    @Test("keepalives name an origin in full once per link, then by its 8-byte tag; a message lost with its announcements is pulled by tag")
    func shortSummaries() throws {
        var net = Net()
        for _ in 0..<3 {
            try net.add {
                $0.minNeighbors = 1; $0.idealNeighbors = 2; $0.maxNeighbors = 2; $0.minEagerLinks = 0
            }
        }
        net.link(0, 1); net.link(1, 2); net.link(2, 0)
        let origin = net.nodes[0].key
        // Advances time until [99] reaches node 2; `drop` loses datagrams of some kinds to node 2.
        // Notes the keepalives node 1 sends node 2, and those naming origin 0 in full.
        var pings: [Ping] = []
        var fullToNode2 = 0
        func run(_ d: Duration, drop: @escaping (UInt8) -> Bool = { _ in false }) {
            let end = net.now + d
            while net.now < end, !net.delivered[2].contains(where: { $0.payload == [99] }) {
                net.tick(
                    look: { w in
                        guard w.to == 2, case let .ping(p) = try? Datagram.decode(w.bytes).message else { return }
                        if w.from == Net.address(1) { pings.append(p) }
                        if p.summary.contains(where: { $0.origin == origin }) { fullToNode2 += 1 }
                    }, lose: { $0.to == 2 && drop(Datagram.peekKind($0.bytes) ?? 0) })
            }
        }
        // Node 0 keeps sending; node 1's keepalives to node 2 name origin 0 while it changes.
        for k in 0..<12 {
            _ = try net.broadcast(0, [UInt8(k)])
            net.flush()
            run(.milliseconds(400))
        }
        let full = pings.filter { $0.summary.contains { $0.origin == origin } }.count
        let short = pings.filter { $0.known.contains { $0.tag == origin.tag } }.count
        #expect(full >= 1 && short >= 2, "full \(full), short \(short) in \(pings.count) keepalives")
        #expect(!pings.contains { p in p.summary.contains { $0.origin == origin } && p.known.contains { $0.tag == origin.tag } })
        // A message whose every copy and announcement to node 2 is lost is still found through
        // the keepalives, by tag: before any keepalive names origin 0 in full again.
        _ = try net.broadcast(0, [99])
        run(.milliseconds(100)) { $0 == 0x10 || $0 == 0x16 || $0 == 0x11 }
        #expect(!net.delivered[2].contains { $0.payload == [99] })
        fullToNode2 = 0
        run(.seconds(4))
        #expect(net.delivered[2].filter { $0.payload == [99] }.count == 1)
        #expect(fullToNode2 == 0)
    }

    @Test("pacing: a burst beyond the outbound allowance is queued and sent later, not lost")
    func pacing() throws {
        var net = Net()
        let slow = RateLimit(messagesPerSecond: 50, messageBurst: 10, bytesPerSecond: 1 << 20, byteBurst: 1 << 20)
        let a = try net.add {
            $0.minNeighbors = 1; $0.idealNeighbors = 1; $0.outboundLimit = slow
        }
        let b = try net.add {
            $0.minNeighbors = 1; $0.idealNeighbors = 1
        }
        net.link(a, b)
        net.advance(.seconds(1))
        for k in 0..<40 { _ = try net.broadcast(a, [UInt8(k)]) }
        net.flush()
        #expect(net.delivered[b].count < 40)
        #expect((net.nodes[a].neighborInfo.first?.outboundQueue ?? 0) > 0)
        net.advance(.seconds(2))
        #expect(net.delivered[b].map { $0.payload[0] } == (0..<40).map { UInt8($0) })
    }
}

/// What one neighbor can make another spend: each failed check costs the sender.
@Suite("Member attacks on one link")
struct MemberAttackTests {
    /// Seals `message` on `from`'s link to `to` and puts it on the wire.
    func send(_ message: Message, from: Int, to: Int, in net: inout Net) throws {
        let sealed = net.nodes[from].seal(message, to: net.nodes[to].key)
        net.wire.append((to, Net.address(from), try #require(sealed).bytes))
    }

    /// Two linked nodes: 0 the attacker, 1 the victim.
    func pair() throws -> Net {
        var net = Net()
        let attacker = try net.add {
            $0.minNeighbors = 1; $0.idealNeighbors = 1
        }
        let victim = try net.add {
            $0.minNeighbors = 1; $0.idealNeighbors = 1
        }
        net.link(attacker, victim)
        return net
    }

    @Test("a junk-signed message taken on the link's word is verified once: Grafts naming it cost one check, then nothing, and the sender pays")
    func graftVerifiesOnce() throws {
        var net = try pair()
        var m = net.nodes[0].craftFlood(seq: 7, payload: [1, 2, 3])
        m.hopLimit = 1
        m.signature = [UInt8](repeating: 0, count: 64)
        let checks = net.nodes[1].stats.signatureChecks  // the handshake's
        try send(.flood(m), from: 0, to: 1, in: &net)
        net.flush()
        #expect(net.nodes[1].stats.signatureChecks == checks)  // the direct path: no check yet
        for _ in 0..<3 {
            try send(.graft(Array(repeating: m.ref, count: Wire.maxRefsPerMessage)), from: 0, to: 1, in: &net)
        }
        net.flush()
        #expect(net.nodes[1].stats.signatureChecks == checks + 1)
        #expect(net.nodes[1].stats.forged == 1)
        #expect(net.nodes[1].stats.graftsServed == 0)
        #expect(net.nodes[1].neighborInfo.first { $0.peer == net.nodes[0].key }?.misbehaviourScore == 25)
    }

    @Test("a payload over the limit costs the neighbor that sent it; ten of them cut the link")
    func oversizedCosts() throws {
        var net = try pair()
        for seq in 1...10 {
            let m = net.nodes[0].craftFlood(seq: UInt64(seq), payload: [UInt8](repeating: 9, count: net.nodes[1].maxPayloadSize + 40))
            try send(.flood(m), from: 0, to: 1, in: &net)
            net.flush()
            if seq == 1 { #expect(net.nodes[1].neighborInfo.first?.misbehaviourScore == 10) }
        }
        #expect(net.nodes[1].stats.malformed == 10)
        #expect(net.nodes[1].neighborCount == 0)
        #expect(net.events[1].contains(.neighborDown(net.nodes[0].key, Net.address(0), reason: .misbehaving, byUs: true)))
    }

    @Test("announcements of messages that do not exist fill only the announcer's share of the pull table")
    func iHaveQuota() throws {
        var net = Net()
        let a = try net.add {
            $0.minNeighbors = 2; $0.idealNeighbors = 2
        }
        let victim = try net.add {
            $0.minNeighbors = 2; $0.idealNeighbors = 2
        }
        let honest = try net.add {
            $0.minNeighbors = 2; $0.idealNeighbors = 2
        }
        net.link(a, victim)
        net.link(honest, victim)
        let share = max(64, net.nodes[victim].configuration.messageCacheCapacity / (net.nodes[victim].configuration.maxNeighbors + 1))
        let stranger = net.nodes[honest].key
        var seq: UInt64 = 1000
        for _ in 0..<(share / Wire.maxRefsPerMessage + 10) {
            let refs = (0..<Wire.maxRefsPerMessage).map { _ in
                seq += 1; return MessageRef(origin: stranger, seq: seq)
            }
            try send(.iHave(refs), from: a, to: victim, in: &net)
        }
        net.flush()
        #expect(net.nodes[victim].stats.announcementsIgnored > 0)
        // The honest neighbor's announcement still finds room, and is pulled.
        let real = net.nodes[honest].craftFlood(seq: 1, payload: [5])
        let before = net.nodes[victim].stats.announcementsIgnored
        try send(.iHave([real.ref]), from: honest, to: victim, in: &net)
        net.flush()
        #expect(net.nodes[victim].stats.announcementsIgnored == before)
    }
}

/// Scenario tier (release, `scripts/test scenarios`): 40,000 datagrams through a rate limit.
@Suite("Flooding at scale")
struct FloodingScenarios {
    @Test("a neighbor sending 100x its allowance is throttled, then disconnected and banned")
    func rateLimit() throws {
        var net = Net()
        let limit = RateLimit(messagesPerSecond: 100, messageBurst: 50, bytesPerSecond: 1 << 20, byteBurst: 1 << 20)
        let victim = try net.add {
            $0.minNeighbors = 1; $0.idealNeighbors = 1; $0.inboundLimit = limit
        }
        let attacker = try net.add {
            $0.minNeighbors = 1; $0.idealNeighbors = 1
        }
        net.link(attacker, victim)
        var seq: UInt64 = 1
        var deliveredBefore = 0
        // 10,000 messages per second for four seconds, in 10 ms slices.
        for slice in 0..<400 {
            for _ in 0..<100 {
                seq += 1
                let m = net.nodes[attacker].craftFlood(seq: seq, payload: [1])
                if let s = net.nodes[attacker].seal(.flood(m), to: net.nodes[victim].key) { net.wire.append((victim, Net.address(attacker), s.bytes)) }
            }
            net.advance(.milliseconds(10))
            if slice == 50 { deliveredBefore = net.delivered[victim].count }
        }
        #expect(net.nodes[victim].stats.rateLimited > 10_000)
        // Within the first half second only the burst plus the sustained rate got through.
        #expect(deliveredBefore <= 50 + 100 / 2 + 5)
        #expect(net.nodes[victim].neighborCount == 0)
        #expect(net.events[victim].contains(.neighborDown(net.nodes[attacker].key, Net.address(attacker), reason: .rateLimited, byUs: true)))
        #expect(net.nodes[victim].stats.neighborsPunished == 1)
    }
}

@Suite("Metrics")
struct MetricsTests {
    @Test("mesh counters reach swift-metrics as running totals, one label per field, with the mesh as a dimension")
    func meshStatsExported() throws {
        let backend = TestMetrics()
        var exporter = StatsExporter(prefix: "meshstep_mesh", dimensions: [("mesh", "m")], factory: backend)
        var stats = MeshStats()
        stats.datagramsReceived = 5
        stats.forged = 1
        exporter.export(stats)
        stats.datagramsReceived = 12
        exporter.export(stats)
        exporter.export(stats)  // nothing rose: nothing added
        #expect(try backend.expectCounter("meshstep_mesh_datagrams_received_total", [("mesh", "m")]).totalValue == 12)
        #expect(try backend.expectCounter("meshstep_mesh_forged_total", [("mesh", "m")]).totalValue == 1)
        #expect(backend.counters(label: "meshstep_mesh_duplicates_total").isEmpty)  // still zero: never created
    }

    @Test("gauges are recorded as they are")
    func gauges() throws {
        let backend = TestMetrics()
        struct Sample { var registrations = 0 }
        var exporter = StatsExporter(prefix: "meshstep_resolver", gauges: ["registrations"], factory: backend)
        exporter.export(Sample(registrations: 7))
        exporter.export(Sample(registrations: 3))
        #expect(try backend.expectGauge("meshstep_resolver_registrations").lastValue == 3)
    }
}
