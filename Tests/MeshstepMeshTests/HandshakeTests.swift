import Testing
@_spi(Adversary) import MeshstepMesh
import MeshstepWire

@Suite("Handshake and links")
struct HandshakeTests {
    @Test("the four steps, one at a time")
    func fourSteps() throws {
        var net = Net()
        let a = try net.add(), b = try net.add()
        net.seed(a, with: b)
        #expect(net.inFlightKinds == [0x01])  // Connect
        net.step()
        #expect(net.inFlightKinds == [0x02])  // Challenge
        #expect(net.nodes[b].neighborCount == 0)
        net.step()
        #expect(net.inFlightKinds == [0x03])  // Confirm
        net.step()
        #expect(net.inFlightKinds == [0x04])  // Welcome
        // b holds the link but announces it only when a uses it: the Welcome may be lost.
        #expect(net.nodes[b].neighborKeys.isEmpty && net.events[b].isEmpty)
        net.step()
        #expect(net.nodes[a].neighborKeys == [net.nodes[b].key])
        #expect(net.events[a] == [.neighborUp(net.nodes[b].key, Net.address(b)), .online])
        #expect(net.inFlightKinds == [0x20])  // a's first keepalive, at once
        net.step()
        #expect(net.nodes[b].neighborKeys == [net.nodes[a].key])
        #expect(net.events[b] == [.neighborUp(net.nodes[a].key, Net.address(a)), .online])
        #expect(net.nodes[a].neighborInfo[0].initiatedByUs && !net.nodes[b].neighborInfo[0].initiatedByUs)
    }

    @Test("a wrong password is never admitted; the joiner is told when its handshake times out, backs off and gives up")
    func wrongPassword() throws {
        var net = Net()
        let a = try net.add(password: "wrong"), b = try net.add(password: "right")
        net.link(a, b)
        #expect(net.nodes[a].neighborCount == 0 && net.nodes[b].neighborCount == 0)
        #expect(net.nodes[b].stats.authenticationRejected >= 1)
        // A refusal is not authenticated (a spoofed Confirm can cause one): it ends the
        // handshake only at its timeout, and is reported then.
        net.advance(.seconds(4))
        #expect(net.events[a].contains(.connectRefused(Net.address(b), reason: .authenticationFailed)))
        #expect(!net.events[b].contains(.online) && net.nodes[b].neighborCount == 0)
        // It backs off (2, 4, 8 s) and gives the address up after four failures.
        net.advance(.seconds(40))
        let rejected = net.nodes[b].stats.authenticationRejected
        net.advance(.seconds(60))
        #expect(net.nodes[b].stats.authenticationRejected == rejected)
    }

    @Test("a Confirm spoofed from the joiner's address (off-path: its key, no password) changes nothing: the joiner's own Confirm still links")
    func spoofedConfirm() throws {
        var net = Net()
        let a = try net.add(), b = try net.add()
        net.seed(a, with: b)
        net.step()  // Connect reaches b; its Challenge is in flight
        let junk = Confirm(sender: net.nodes[a].key, proof: [UInt8](repeating: 0, count: 32), signature: [UInt8](repeating: 0, count: 64))
        for _ in 0..<20 { net.wire.insert((b, Net.address(a), Datagram.encode(.confirm(junk))), at: 0) }
        net.flush()
        #expect(net.nodes[b].stats.authenticationRejected == 20)
        #expect(net.nodes[a].neighborKeys == [net.nodes[b].key] && net.nodes[b].neighborKeys == [net.nodes[a].key])
        #expect(!net.events[a].contains { if case .connectRefused = $0 { true } else { false } })
    }

    @Test("a junk Welcome spoofed from the responder's address ends nothing: the real Welcome links")
    func spoofedWelcome() throws {
        var net = Net()
        let a = try net.add(), b = try net.add()
        net.seed(a, with: b)
        net.step()  // Connect -> b
        net.step()  // Challenge -> a; a's Confirm is in flight
        let junk = Welcome(proof: [UInt8](repeating: 0, count: 32), signature: [UInt8](repeating: 0, count: 64), referrals: [])
        net.wire.insert((a, Net.address(b), Datagram.encode(.welcome(junk))), at: 0)
        net.flush()
        #expect(net.nodes[a].stats.authenticationRejected == 1)
        #expect(net.nodes[a].neighborKeys == [net.nodes[b].key] && net.nodes[b].neighborKeys == [net.nodes[a].key])
    }

    @Test("a responder without the password is rejected by the initiator")
    func wrongPasswordResponder() throws {
        var net = Net()
        // The responder is on an open mesh of the same name: its proof cannot verify for a.
        let a = try net.add(password: "right"), b = try net.add(password: nil)
        net.link(a, b)
        #expect(net.nodes[a].neighborCount == 0)
        #expect(net.nodes[b].neighborCount == 0)
    }

    @Test("open meshes are explicit and work")
    func openMesh() throws {
        var net = Net()
        let a = try net.add(password: nil), b = try net.add(password: nil)
        net.link(a, b)
        #expect(net.nodes[a].neighborCount == 1)
        #expect(throws: MeshConfigurationError.emptyPassword) { try MeshCredentials(meshID: "x", access: .password("")) }
        #expect(throws: MeshConfigurationError.invalidMeshID("")) { try MeshCredentials(meshID: "", access: .open) }
    }

    @Test func wrongMesh() throws {
        var net = Net()
        let a = try net.add(meshID: "alpha"), b = try net.add(meshID: "beta")
        net.link(a, b)
        #expect(net.events[a].contains(.connectRefused(Net.address(b), reason: .wrongMesh)))
        #expect(net.nodes[b].neighborCount == 0)
    }

    @Test("a full node refuses with referrals, and the joiner follows them")
    func meshFullWithReferrals() throws {
        var net = Net()
        let hub = try net.add {
            $0.minNeighbors = 1; $0.idealNeighbors = 1; $0.maxNeighbors = 1
        }
        let first = try net.add {
            $0.minNeighbors = 1; $0.idealNeighbors = 2; $0.maxNeighbors = 3
        }
        let late = try net.add {
            $0.minNeighbors = 1; $0.idealNeighbors = 1; $0.maxNeighbors = 3
        }
        net.link(first, hub)
        #expect(net.nodes[hub].neighborCount == 1)
        net.link(late, hub)
        #expect(net.events[late].contains(.connectRefused(Net.address(hub), reason: .meshFull)))
        // The refusal named `first`; maintenance dials it.
        net.advance(.seconds(2))
        #expect(net.nodes[late].neighborKeys.contains(net.nodes[first].key))
    }

    @Test("a full node still admits a joiner that has no neighbor, shedding a link that can spare it")
    func fullNodeAdmitsStarvingJoiner() throws {
        var net = Net()
        let hub = try net.add {
            $0.minNeighbors = 1; $0.idealNeighbors = 1; $0.maxNeighbors = 1
        }
        let a = try net.add {
            $0.minNeighbors = 1; $0.idealNeighbors = 2; $0.maxNeighbors = 3
        }
        let b = try net.add {
            $0.minNeighbors = 1; $0.idealNeighbors = 2; $0.maxNeighbors = 3
        }
        net.link(a, hub)
        net.link(a, b)
        net.advance(.seconds(2))  // keepalives: the hub learns that a has two neighbors
        let joiner = try net.add {
            $0.minNeighbors = 1; $0.idealNeighbors = 1; $0.maxNeighbors = 2
        }
        net.link(joiner, hub)
        #expect(net.nodes[hub].neighborKeys == [net.nodes[joiner].key])
        #expect(net.events[a].contains(.neighborDown(net.nodes[hub].key, Net.address(hub), reason: .notUseful, byUs: false)))
        #expect(net.nodes[a].neighborKeys.contains(net.nodes[b].key))
    }

    @Test("simultaneous open leaves exactly one link")
    func duplicateLink() throws {
        var net = Net()
        let a = try net.add(), b = try net.add()
        net.seed(a, with: b)
        net.seed(b, with: a)
        #expect(net.inFlightKinds == [0x01, 0x01])
        net.flush()
        net.advance(.seconds(1))
        #expect(net.nodes[a].neighborCount == 1 && net.nodes[b].neighborCount == 1)
        // Exactly one side initiated the surviving link: the smaller key's.
        let smaller = net.nodes[a].key < net.nodes[b].key ? a : b
        #expect(net.nodes[smaller].neighborInfo[0].initiatedByUs)
    }

    @Test(
        "a Connect that arrives after our Confirm went out is refused whatever the keys: the peer holds our handshake and links on our Confirm, so both sides end with the one link"
    )
    func connectAfterOurConfirm() throws {
        var net = Net()
        let a = try net.add(), b = try net.add()
        // The larger key dials first; the smaller answers, then dials too: the resolver
        // introduced the larger to it (the larger asked), which dials at once.
        let (large, small) = net.nodes[a].key < net.nodes[b].key ? (b, a) : (a, b)
        net.seed(large, with: small)
        net.step()  // small: Challenge
        let introduction = [Referral(peer: net.nodes[large].key, address: Net.address(large))]
        net.apply(net.nodes[small].introduced(introduction, now: net.now), from: small)
        #expect(net.inFlightKinds == [0x02, 0x01])
        net.step()  // large: Confirm
        net.step()  // large gets small's Connect with its Confirm out
        #expect(net.inFlightKinds == [0x03, 0x05], "Confirm to small, then Refuse(duplicateLink)")
        net.flush()
        net.advance(.seconds(6))
        #expect(net.nodes[large].neighborCount == 1 && net.nodes[small].neighborCount == 1)
        #expect(net.nodes[large].neighborInfo.first?.initiatedByUs == true)
        for i in [large, small] {
            #expect(!net.events[i].contains { if case .neighborDown = $0 { true } else { false } }, "node \(i): \(net.events[i])")
        }
    }

    @Test("peers tried at several addresses at once count once: handshakes to other peers' addresses that never answer leave room to dial the next peer")
    func severalAddressesCountOnce() throws {
        var net = Net()
        let a = try net.add {
            $0.idealNeighbors = 3; $0.maxNeighbors = 5
        }
        let p = try net.add()
        // Two peers behind NATs that will never answer, each listed with three addresses
        // (public, another public port, LAN), then a reachable one, as a resolver answer lists them.
        let x = try net.add(), y = try net.add()
        var referrals: [Referral] = []
        for (k, peer) in [x, y].enumerated() {
            for port in 0..<3 { referrals.append(Referral(peer: net.nodes[peer].key, address: .ipv4(0x0A00_0002 + UInt32(k), port: UInt16(7000 + port)))) }
        }
        referrals.append(Referral(peer: net.nodes[p].key, address: Net.address(p)))
        net.apply(net.nodes[a].addCandidates(referrals, introducedTo: true, now: net.now), from: a)
        #expect(net.wire.contains { $0.to == p && Datagram.peekKind($0.bytes) == 0x01 })
        net.flush()
        #expect(net.nodes[a].neighborKeys == [net.nodes[p].key])
    }

    @Test(
        "a peer we asked to be introduced to that has not linked a second after the resolver honoured the request is dialled by us: its own dial cannot cross a NAT that gives each destination a port of its own"
    )
    func introductionFallbackDials() throws {
        var net = Net()
        let a = try net.add()
        var rng = DeterministicRNG(seed: 77)
        let q = NodeIdentity(rng: &rng).key
        let qAddress = MeshAddress.ipv4(0xC000_0202, port: 7500)  // 192.0.2.2: may be behind a NAT
        net.nodes[a].useIntroductions(observed: nil, ownAddresses: [])
        net.nodes[a].protect([net.nodes[a].key, q])
        // The resolver lists q: we open our NAT toward it and ask to be introduced.
        var sent: [(at: MeshTime, kind: UInt8?)] = []
        func record(_ actions: [MeshAction]) {
            for case let .send(bytes, to) in actions where to == qAddress { sent.append((net.now, Datagram.peekKind(bytes))) }
        }
        record(net.nodes[a].addCandidates([Referral(peer: q, address: qAddress)], now: net.now))
        #expect(!sent.contains { $0.kind == 0x01 }, "no Connect before the introduction")
        // The answer honours the request (q is told to dial us); nothing from q ever arrives.
        let answeredAt = net.now
        record(net.nodes[a].addCandidates([], introducedTo: true, now: net.now))
        for _ in 0..<30 {
            net.now = net.now + .milliseconds(50)
            record(net.nodes[a].timerFired(now: net.now))
        }
        let connects = sent.filter { $0.kind == 0x01 }.map(\.at)
        #expect(!connects.isEmpty, "\(sent)")
        #expect(connects.allSatisfy { $0 - answeredAt >= .seconds(1) }, "\(connects)")
        #expect(connects.first.map { $0 - answeredAt <= .milliseconds(1100) + MeshConfiguration().openingTime } == true, "\(connects)")
    }

    @Test("lost handshake datagrams are retransmitted")
    func retransmission() throws {
        var net = Net()
        let a = try net.add(), b = try net.add()
        net.seed(a, with: b)
        net.dropAll()  // Connect lost
        net.advance(.milliseconds(400), deliver: false)
        net.advance(.milliseconds(400))
        #expect(net.nodes[a].neighborCount == 1 && net.nodes[b].neighborCount == 1)
    }

    /// Runs `net` in 1 ms steps for `duration`, each datagram arriving `oneWay` after it was
    /// sent unless `lose` drops it; returns when node `from` sent each datagram of kind `kind`.
    static func sendTimes(
        of kind: UInt8, from node: Int, in net: inout Net, for duration: Duration, oneWay: Duration,
        lose: ((to: Int, from: MeshAddress, bytes: [UInt8])) -> Bool
    ) -> [Duration] {
        var times: [Duration] = []
        var inFlight: [(at: MeshTime, datagram: (to: Int, from: MeshAddress, bytes: [UInt8]))] = []
        let end = net.now + duration
        while net.now < end {
            for w in net.wire {
                if w.from == Net.address(node), Datagram.peekKind(w.bytes) == kind { times.append(net.now - .zero) }
                if !lose(w) { inFlight.append((net.now + oneWay, w)) }
            }
            net.dropAll()
            net.now = net.now + .milliseconds(1)
            for i in net.nodes.indices {
                if let t = net.nodes[i].nextDeadline, t <= net.now { net.apply(net.nodes[i].timerFired(now: net.now), from: i) }
            }
            let due = inFlight.filter { $0.at <= net.now }
            inFlight.removeAll { $0.at <= net.now }
            for d in due { net.apply(net.nodes[d.datagram.to].receive(d.datagram.bytes, from: d.datagram.from, now: net.now), from: d.datagram.to) }
        }
        return times
    }

    @Test(
        "a lost Connect goes out again 50 ms later, then after 100, 200 and 300 ms; a lost Confirm after twice the round trip its Challenge took, doubling"
    )
    func retransmissionWaits() throws {
        var net = Net()
        let a = try net.add(), b = try net.add()
        net.seed(a, with: b)
        let connects = Self.sendTimes(of: 0x01, from: a, in: &net, for: .milliseconds(1000), oneWay: .milliseconds(10)) { _ in true }
        let gaps = zip(connects.dropFirst(), connects).map { $0 - $1 }
        #expect(Array(gaps.prefix(4)) == [.milliseconds(50), .milliseconds(100), .milliseconds(200), .milliseconds(300)], "\(connects)")

        // 15 ms each way: the Challenge answers a Connect sent once 30 ms later, so a lost
        // Confirm goes out again 60 ms after it, then 120, then at the 300 ms cap.
        var net2 = Net()
        let c = try net2.add(), d = try net2.add()
        net2.seed(c, with: d)
        let confirms = Self.sendTimes(of: 0x03, from: c, in: &net2, for: .milliseconds(900), oneWay: .milliseconds(15)) {
            Datagram.peekKind($0.bytes) == 0x03
        }
        let confirmGaps = zip(confirms.dropFirst(), confirms).map { $0 - $1 }
        #expect(confirms.first == .milliseconds(30), "\(confirms)")
        #expect(Array(confirmGaps.prefix(3)) == [.milliseconds(60), .milliseconds(120), .milliseconds(240)], "\(confirms)")
        #expect(net2.nodes[c].neighborCount == 0)
        // Delivered, it links at once.
        _ = Self.sendTimes(of: 0x03, from: c, in: &net2, for: .milliseconds(400), oneWay: .milliseconds(15)) { _ in false }
        #expect(net2.nodes[c].neighborCount == 1 && net2.nodes[d].neighborCount == 1)
    }

    @Test("a lost Welcome: the responder announces nothing and sends it again itself, well before the initiator's Confirm would repeat")
    func lostWelcome() throws {
        var net = Net()
        let a = try net.add(), b = try net.add()
        net.seed(a, with: b)
        net.step(); net.step(); net.step()
        #expect(net.inFlightKinds == [0x04])
        net.dropAll()
        // b would send over a link a does not have: it lists and announces none.
        #expect(net.nodes[b].neighborCount == 0 && net.nodes[a].neighborCount == 0 && net.events[b].isEmpty)
        net.advance(.milliseconds(100))
        #expect(net.nodes[a].neighborCount == 1 && net.nodes[b].neighborCount == 1)
        #expect(net.events[b] == [.neighborUp(net.nodes[a].key, Net.address(a)), .online])
    }

    @Test("a lost Welcome and a lost Confirm repeat: the initiator's repeated Confirm still gets the Welcome")
    func lostWelcomeRepeatedConfirm() throws {
        var net = Net()
        let a = try net.add(), b = try net.add()
        net.seed(a, with: b)
        net.step(); net.step(); net.step()
        // Every Welcome from b is lost for 250 ms; a's Confirm repeats at 300 ms and passes.
        for _ in 0..<25 { net.tick(lose: { $0.to == a && Datagram.peekKind($0.bytes) == 0x04 }) }
        #expect(net.nodes[a].neighborCount == 0 && net.nodes[b].neighborCount == 0)
        net.advance(.milliseconds(200))
        #expect(net.nodes[a].neighborCount == 1 && net.nodes[b].neighborCount == 1)
    }

    @Test("the initiator's first keepalive lost: the responder's repeated Welcome gets another at once")
    func lostFirstKeepalive() throws {
        var net = Net()
        let a = try net.add(), b = try net.add()
        net.seed(a, with: b)
        net.step(); net.step(); net.step(); net.step()
        #expect(net.inFlightKinds == [0x20])
        net.dropAll()
        #expect(net.nodes[a].neighborCount == 1 && net.nodes[b].neighborCount == 0)
        var kinds: [UInt8] = []
        for _ in 0..<5 { net.tick(look: { kinds.append(Datagram.peekKind($0.bytes) ?? 0) }) }
        #expect(kinds.starts(with: [0x04, 0x20]))  // b's Welcome again, a's keepalive
        #expect(net.nodes[b].neighborCount == 1)
    }

    @Test("a Welcome that is not the one accepted gets no keepalive from a linked initiator")
    func foreignWelcomeIgnored() throws {
        var net = Net()
        let a = try net.add(), b = try net.add()
        net.link(a, b)
        let forged = Welcome(proof: [UInt8](repeating: 7, count: 32), signature: [UInt8](repeating: 0, count: 64), referrals: [])
        let sent = net.nodes[a].stats.datagramsSent
        net.wire.append((a, Net.address(b), Datagram.encode(.welcome(forged))))
        net.step()
        #expect(net.wire.isEmpty && net.nodes[a].stats.datagramsSent == sent)
    }

    @Test("a link the initiator never gets closes silently once the initiator's handshake timed out")
    func unusedLinkCloses() throws {
        var net = Net()
        let a = try net.add(), b = try net.add()
        net.seed(a, with: b)
        net.step(); net.step(); net.step()
        // Nothing from b reaches a any more.
        var welcomes = 0
        for _ in 0..<310 {
            net.tick(lose: { w in
                if w.to == a, Datagram.peekKind(w.bytes) == 0x04 { welcomes += 1 }
                return w.to == a
            })
        }
        #expect(net.nodes[b].neighborCount == 0 && net.events[b].isEmpty)
        #expect(!net.nodes[b].holdsLink(to: net.nodes[a].key))
        // Sent again on its own timer (doubling to the handshake retry) and for each repeated Confirm.
        #expect(welcomes >= 10 && welcomes <= 30)
    }

    @Test("leave sends Disconnect(leaving)")
    func leaving() throws {
        var net = Net()
        let a = try net.add(), b = try net.add()
        net.link(a, b)
        net.apply(net.nodes[a].leave(now: net.now), from: a)
        net.flush()
        #expect(net.events[b].contains(.neighborDown(net.nodes[a].key, Net.address(a), reason: .leaving, byUs: false)))
        #expect(net.events[b].last == .offline)
        #expect(throws: MeshSendError.notRunning) { _ = try net.nodes[a].broadcast([1], now: net.now) }
    }

    @Test("keepalives measure RTT; silence ends the link")
    func keepaliveAndDeadLink() throws {
        var net = Net()
        let a = try net.add(), b = try net.add()
        net.link(a, b)
        // Each tick of the harness delivers after 10 ms, so RTT is measured in whole ticks.
        net.advance(.seconds(3))
        let rtt = try #require(net.nodes[a].neighborInfo.first?.rtt)
        #expect(rtt >= .zero && rtt <= .milliseconds(20))
        // Now cut the wire: both sides declare the link dead after the timeout.
        net.advance(.seconds(5), deliver: false)
        #expect(net.nodes[a].neighborCount == 0)
        #expect(net.events[a].contains(.neighborDown(net.nodes[b].key, Net.address(b), reason: .timedOut, byUs: true)))
        #expect(net.events[a].last == .offline)
    }

    @Test("a link busy with other traffic and nothing to announce keeps one keepalive in four; an idle link keeps one per interval")
    func busyLinksSkipKeepalives() throws {
        var net = Net()
        let a = try net.add(), b = try net.add()
        net.link(a, b)
        net.advance(.seconds(2))
        /// Keepalives from a, and from either side, during `d`.
        func pings(during d: Duration, busy: Bool) throws -> (fromA: Int, both: Int) {
            var fromA = 0, both = 0
            let end = net.now + d
            while net.now < end {
                if busy {
                    let payload: [UInt8] = [1, 2, 3]
                    net.apply(try net.nodes[b].sendDirect(payload, to: [net.nodes[a].key], now: net.now), from: b)
                }
                net.tick(look: {
                    guard Datagram.peekKind($0.bytes) == 0x20 else { return }
                    both += 1
                    if $0.to == b { fromA += 1 }
                })
            }
            return (fromA, both)
        }
        let idle = try pings(during: .seconds(8), busy: false)
        let busy = try pings(during: .seconds(8), busy: true)
        // The keepalive interval is 1 s (jittered). Idle, each side skips its keepalive when the
        // other's reached it within the interval, so the link carries about one a second in all
        // (8 over 8 s). Busy with b's traffic, a sends one in four: about 2.
        #expect(idle.both >= 6, "idle: \(idle)")
        #expect(busy.fromA >= 1 && busy.fromA <= 3, "busy: \(busy)")
        // The round trip is still measured on the busy link.
        #expect(net.nodes[a].neighborInfo.first?.rtt != nil && net.nodes[a].neighborCount == 1)
    }

    @Test("below ideal the node resolves and connects; above ideal it prunes the least useful link")
    func maintenance() throws {
        var net = Net()
        let n = try net.add {
            $0.minNeighbors = 1; $0.idealNeighbors = 2; $0.maxNeighbors = 4
        }
        net.advance(.seconds(1))
        #expect(net.resolves.contains(n))
        let others = try (0..<3).map { _ in
            try net.add {
                $0.minNeighbors = 1; $0.idealNeighbors = 4; $0.maxNeighbors = 4
            }
        }
        let refs = others.prefix(2).map { Referral(peer: net.nodes[$0].key, address: Net.address($0)) }
        net.apply(net.nodes[n].addCandidates(Array(refs), now: net.now), from: n)
        net.flush()
        #expect(net.nodes[n].neighborCount == 2)
        // The third peer links to everyone, pushing n above its ideal.
        for i in [n, others[0], others[1]] { net.link(others[2], i) }
        net.advance(.seconds(2))
        #expect(net.nodes[n].neighborCount == 3)
        // Traffic only from the first two: the third link never brings anything new.
        for k in 0..<40 { _ = try net.broadcast(others[k % 2], [UInt8(k)]); net.flush() }
        net.advance(.seconds(3))
        #expect(net.nodes[n].neighborCount == 2)
        #expect(!net.nodes[n].neighborKeys.contains(net.nodes[others[2]].key))
        #expect(net.events[others[2]].contains(.neighborDown(net.nodes[n].key, Net.address(n), reason: .notUseful, byUs: false)))
    }

    @Test("LAN beacon tags: only a member of the mesh makes one that members accept")
    func beaconTags() throws {
        let members = try MeshCredentials(meshID: "lan", access: .password("secret"))
        let guesser = try MeshCredentials(meshID: "lan", access: .password("guess"))
        var beacon = LANBeacon(meshDigest: members.digest, key: Array(repeating: 1, count: 32), port: 7400)
        beacon.tag = members.beaconTag(beacon.body)
        #expect(members.verifyBeaconTag(beacon.tag, body: beacon.body))
        #expect(!members.verifyBeaconTag(guesser.beaconTag(beacon.body), body: beacon.body))
        var moved = beacon
        moved.port = 7401  // the tag covers the port: it cannot steer joiners elsewhere
        #expect(!members.verifyBeaconTag(beacon.tag, body: moved.body))
        #expect(!members.verifyBeaconTag([], body: beacon.body))
    }
}
