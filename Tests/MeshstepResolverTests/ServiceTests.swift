import MeshstepMesh
import MeshstepResolver
import MeshstepWire
import Testing

@Suite("resolver wire format")
struct WireFormatTests {
    @Test("every message round-trips")
    func roundTrip() throws {
        let a = identity(1)
        let messages: [ResolverMessage] = [
            .register(
                RegisterRequest(
                    requestID: 7, mesh: arena, peer: a.key, addresses: [ip(10, 0, 0, 1, port: 9), .ipv6([UInt8](repeating: 0xAB, count: 16), port: 65535)],
                    includeObservedAddress: true, ttlSeconds: 30, timestamp: epoch
                ).signed(by: a, credentials: arenaCredentials)),
            .unregister(UnregisterRequest(requestID: 8, mesh: arena, peer: a.key, timestamp: epoch + 1).signed(by: a)),
            .resolve(ResolveRequest(requestID: 9, mesh: arena, maxPeers: 10, exclude: a.key)),
            .resolve(ResolveRequest(requestID: 9, mesh: arena, maxPeers: 1, exclude: nil)),
            .resolve(ResolveRequest(requestID: 9, mesh: arena, maxPeers: 1, exclude: nil, padding: 100)),
            .resolve(ResolveRequest(requestID: 9, mesh: arena, maxPeers: 4, exclude: a.key, introduce: [identity(2).key, identity(3).key], padding: 7)),
            .resolved(ResolvedAnswer(requestID: 10, registeredCount: 1, excludedIsRegistered: true, peers: [], introduced: true)),
            .introduce(IntroduceMessage(token: 77, mesh: arena, peer: a.key, addresses: [ip(203, 0, 113, 9, port: 7500), ip(10, 0, 0, 9, port: 7500)])),
            .resolved(
                ResolvedAnswer(
                    requestID: 10, registeredCount: 3, excludedIsRegistered: true, peers: [ResolvedPeer(peer: a.key, addresses: [ip(1, 2, 3, 4, port: 5)])])),
            .ack(AckAnswer(requestID: 11, ttlSeconds: 30, created: true, serverTime: epoch, observed: ip(203, 0, 113, 7, port: 40000))),
            .ack(AckAnswer(requestID: 13, ttlSeconds: 0, created: false, serverTime: epoch, observed: .ipv6([UInt8](repeating: 0x20, count: 16), port: 7))),
            .error(ErrorAnswer(requestID: 12, code: .meshFull, serverTime: epoch)),
        ]
        for m in messages {
            #expect(try ResolverMessage.decode(m.encode()) == m)
        }
        #expect(messages[0].hasValidSignature() && messages[0].hasValidMeshSignature())
        #expect(messages[1].hasValidSignature())
    }

    @Test("byte layout of a resolve request")
    func resolveLayout() {
        let bytes = resolveBytes(max: 5, exclude: nil, requestID: 0x0102_0304_0506_0708, size: 0)
        #expect(Array(bytes.prefix(12)) == [0x4D, 0x52, 5, 3, 1, 2, 3, 4, 5, 6, 7, 8])
        #expect(Array(bytes[12..<44]) == arena.key)
        #expect(Array(bytes[44...]) == [5, 0])
        #expect(bytes.count == 46)
    }

    @Test("the largest answer fits in 1200 bytes")
    func largestAnswerFits() throws {
        let six = MeshAddress.ipv6([UInt8](repeating: 1, count: 16), port: 1)
        let peers = (0..<10).map { ResolvedPeer(peer: identity(UInt8($0 + 1)).key, addresses: [six, six, six, six]) }
        let bytes = ResolverMessage.resolved(ResolvedAnswer(requestID: 1, registeredCount: 99, excludedIsRegistered: false, peers: peers)).encode()
        #expect(bytes.count == 1108)
        #expect(try ResolverMessage.decode(bytes).kind == .resolved)
    }

    @Test("decoders reject bad input with the right error")
    func rejects() {
        let good = resolveBytes(size: 0)
        #expect(throws: WireError.badMagic) { try ResolverMessage.decode([0x4D, 0x53] + Array(good.dropFirst(2))) }
        #expect(throws: WireError.unsupportedVersion(1)) { try ResolverMessage.decode(Array(good.prefix(2)) + [1] + Array(good.dropFirst(3))) }
        #expect(throws: WireError.unsupportedVersion(2)) { try ResolverMessage.decode(Array(good.prefix(2)) + [2] + Array(good.dropFirst(3))) }
        #expect(throws: WireError.unsupportedVersion(3)) { try ResolverMessage.decode(Array(good.prefix(2)) + [3] + Array(good.dropFirst(3))) }
        #expect(throws: WireError.unsupportedVersion(4)) { try ResolverMessage.decode(Array(good.prefix(2)) + [4] + Array(good.dropFirst(3))) }
        // An introduction list without an exclude key; an empty list; 11 keys; an introduction with no address.
        #expect(throws: WireError.invalidValue(field: "resolve.flags")) { try ResolverMessage.decode(Array(good.prefix(45)) + [2] + Array(good.dropFirst(46))) }
        let listed = ResolverMessage.resolve(ResolveRequest(requestID: 1, mesh: arena, maxPeers: 1, exclude: identity(1).key, introduce: [identity(2).key]))
            .encode()
        #expect(listed.count == 46 + 32 + 1 + 32 && listed[45] == 3 && listed[78] == 1 && Array(listed[79...]) == identity(2).key.bytes)
        #expect(throws: WireError.invalidValue(field: "resolve.introduce")) { try ResolverMessage.decode(Array(listed.prefix(78)) + [0]) }
        #expect(throws: WireError.tooLong(field: "resolve.introduce", count: 11, limit: 10)) {
            try ResolverMessage.decode(Array(listed.prefix(78)) + [11] + [UInt8](repeating: 7, count: 11 * 32))
        }
        let noAddress = ResolverMessage.introduce(IntroduceMessage(token: 1, mesh: arena, peer: identity(1).key, addresses: [])).encode()
        #expect(throws: WireError.invalidValue(field: "introduce.addresses")) { try ResolverMessage.decode(noAddress) }
        #expect(throws: WireError.unknownKind(9)) { try ResolverMessage.decode(Array(good.prefix(3)) + [9] + Array(good.dropFirst(4))) }
        #expect(throws: WireError.invalidValue(field: "resolve.padding")) { try ResolverMessage.decode(good + [0, 1]) }
        #expect(throws: WireError.truncated(offset: 45, needed: 1)) { try ResolverMessage.decode(Array(good.dropLast())) }
        #expect(throws: WireError.invalidValue(field: "resolve.maxPeers")) { try ResolverMessage.decode(resolveBytes(max: 11)) }
        #expect(throws: WireError.trailingBytes(count: 1)) {
            try ResolverMessage.decode(
                ResolverMessage.ack(AckAnswer(requestID: 1, ttlSeconds: 1, created: true, serverTime: 1, observed: ip(203, 0, 113, 7, port: 40000))).encode()
                    + [0])
        }
        #expect(throws: WireError.oversized(size: 1201, limit: 1200)) { try ResolverMessage.decode([UInt8](repeating: 0, count: 1201)) }
        var five = registerBytes(identity(1), timestamp: epoch)
        five[12 + 32 + 32 + 1 + 4 + 8] = 5  // address count
        #expect(throws: WireError.tooLong(field: "register.addresses", count: 5, limit: 4)) { try ResolverMessage.decode(five) }
    }

    @Test("every prefix and every single-byte change of valid datagrams decodes or throws")
    func totalDecoder() {
        var rng = DeterministicRNG(seed: 42)
        let samples = [registerBytes(identity(1), timestamp: epoch), unregisterBytes(identity(1), timestamp: epoch), resolveBytes(exclude: identity(2).key)]
        var decoded = 0, thrown = 0
        for s in samples {
            for n in 0...s.count {
                if (try? ResolverMessage.decode(Array(s.prefix(n)))) != nil { decoded += 1 } else { thrown += 1 }
            }
            for _ in 0..<500 {
                var m = s
                m[rng.below(m.count)] = UInt8(truncatingIfNeeded: rng.next())
                if (try? ResolverMessage.decode(m)) != nil { decoded += 1 } else { thrown += 1 }
            }
        }
        #expect(decoded + thrown == samples.map { $0.count + 1 + 500 }.reduce(0, +))
    }
}

@Suite("resolver service")
struct ServiceTests {
    let source = ip(192, 0, 2, 10, port: 5000)

    @Test("register, resolve, refresh, unregister")
    func lifecycle() throws {
        var s = ResolverService(seed: 1)
        var clock = Clock()
        let a = identity(1), b = identity(2)
        var out = s.deliver(registerBytes(a, timestamp: clock.wall), from: source, now: clock.now, wallClock: clock.wall)
        #expect(answer(out) == .ack(AckAnswer(requestID: 1, ttlSeconds: 30, created: true, serverTime: clock.wall, observed: source)))
        #expect(out.contains(.log(.info, "register mesh=\(arena) peer=\(a.key) addresses=10.0.0.1:9000 ttl=30s from 192.0.2.10:5000")))
        out = s.deliver(registerBytes(b, addresses: [ip(10, 0, 0, 2, port: 9000)], timestamp: clock.wall), from: source, now: clock.now, wallClock: clock.wall)
        #expect(errorCode(out) == nil)

        out = s.deliver(resolveBytes(exclude: a.key), from: source, now: clock.now, wallClock: clock.wall)
        #expect(
            answer(out)
                == .resolved(
                    ResolvedAnswer(
                        requestID: 3, registeredCount: 2, excludedIsRegistered: true,
                        peers: [ResolvedPeer(peer: b.key, addresses: [ip(10, 0, 0, 2, port: 9000)])])))

        clock.advance(.seconds(10))
        out = s.deliver(registerBytes(a, ttl: 300, timestamp: clock.wall), from: source, now: clock.now, wallClock: clock.wall)
        #expect(answer(out) == .ack(AckAnswer(requestID: 1, ttlSeconds: 30, created: false, serverTime: clock.wall, observed: source)))

        out = s.deliver(unregisterBytes(a, timestamp: clock.wall + 1), from: source, now: clock.now, wallClock: clock.wall)
        #expect(answer(out) == .ack(AckAnswer(requestID: 2, ttlSeconds: 0, created: false, serverTime: clock.wall, observed: source)))
        #expect(s.peers(in: arena).map(\.peer) == [b.key])
        #expect(s.stats.registered == 2 && s.stats.refreshed == 1 && s.stats.unregistered == 1 && s.stats.resolves == 1)
        #expect(s.stats.registrations == 1 && s.stats.meshes == 1 && s.stats.sent == 5 && s.stats.received == 5)
    }

    @Test("registrations expire after the TTL; a refresh extends it")
    func expiry() {
        var s = ResolverService(seed: 1)
        var clock = Clock()
        let a = identity(1), b = identity(2)
        _ = s.deliver(registerBytes(a, timestamp: clock.wall), from: source, now: clock.now, wallClock: clock.wall)
        _ = s.deliver(registerBytes(b, timestamp: clock.wall), from: source, now: clock.now, wallClock: clock.wall)
        clock.advance(.seconds(20))
        _ = s.deliver(registerBytes(b, timestamp: clock.wall), from: source, now: clock.now, wallClock: clock.wall)
        clock.advance(.milliseconds(9999))
        #expect(s.tick(now: clock.now, wallClock: clock.wall).isEmpty)
        #expect(s.registrationCount == 2)
        clock.advance(.milliseconds(1))
        let out = s.tick(now: clock.now, wallClock: clock.wall)
        #expect(out == [.log(.info, "expire mesh=\(arena) peer=\(a.key) (no refresh within its TTL)")])
        #expect(s.peers(in: arena).map(\.peer) == [b.key])
        clock.advance(.seconds(20))
        _ = s.tick(now: clock.now, wallClock: clock.wall)
        #expect(s.registrationCount == 0)
        #expect(s.stats.expired == 2 && s.stats.meshes == 0)
        let resolved = s.deliver(resolveBytes(), from: source, now: clock.now, wallClock: clock.wall)
        #expect(answer(resolved) == .resolved(ResolvedAnswer(requestID: 3, registeredCount: 0, excludedIsRegistered: false, peers: [])))
    }

    @Test("a configured TTL caps what clients ask for")
    func ttlCap() {
        var config = ResolverConfiguration()
        config.ttlSeconds = 5
        var s = ResolverService(configuration: config, seed: 1)
        var clock = Clock()
        let out = s.deliver(registerBytes(identity(1), ttl: 30, timestamp: clock.wall), from: source, now: clock.now, wallClock: clock.wall)
        #expect(answer(out) == .ack(AckAnswer(requestID: 1, ttlSeconds: 5, created: true, serverTime: clock.wall, observed: source)))
        clock.advance(.seconds(5))
        _ = s.tick(now: clock.now, wallClock: clock.wall)
        #expect(s.registrationCount == 0)
    }

    @Test("resolve returns a seeded random sample of at most max peers, never the requester")
    func sample() throws {
        func run(seed: UInt64) -> [[PeerKey]] {
            var s = ResolverService(seed: seed)
            let clock = Clock()
            for i in 1...30 {
                _ = s.deliver(
                    registerBytes(identity(UInt8(i)), timestamp: clock.wall), from: ip(192, 0, 2, UInt8(i), port: 1), now: clock.now, wallClock: clock.wall)
            }
            #expect(s.registrationCount == 30)
            var samples: [[PeerKey]] = []
            for r in 0..<40 {
                let out = s.deliver(
                    resolveBytes(max: 10, exclude: identity(1).key), from: ip(198, 51, 100, UInt8(r), port: 1), now: clock.now, wallClock: clock.wall)
                guard case let .resolved(answer)? = answer(out) else { Issue.record("no answer"); return [] }
                #expect(answer.registeredCount == 30 && answer.excludedIsRegistered)
                samples.append(answer.peers.map(\.peer))
            }
            return samples
        }
        let a = run(seed: 7), b = run(seed: 7), c = run(seed: 8)
        #expect(a == b)
        #expect(a != c)
        let all = Set((1...30).map { identity(UInt8($0)).key })
        for sample in a {
            #expect(sample.count == 10)
            #expect(Set(sample).count == 10)
            #expect(Set(sample).isSubset(of: all))
            #expect(!sample.contains(identity(1).key))
        }
        #expect(Set(a.flatMap { $0 }) == all.subtracting([identity(1).key]))
    }

    @Test("answers stay within three times the request's size")
    func antiAmplification() {
        var s = ResolverService(seed: 1)
        let clock = Clock()
        for i in 1...10 {
            _ = s.deliver(
                registerBytes(identity(UInt8(i)), timestamp: clock.wall), from: ip(192, 0, 2, UInt8(i), port: 1), now: clock.now, wallClock: clock.wall)
        }
        // A 46-byte request: 138 bytes allowed = an 18-byte header and three 40-byte peers.
        for (size, expected) in [(0, 3), (100, 7), (ResolverWire.paddedResolveSize, 10)] {
            let request = resolveBytes(size: size)
            let out = s.deliver(request, from: source, now: clock.now, wallClock: clock.wall)
            guard case let .send(reply, _)? = out.first(where: { if case .send = $0 { true } else { false } }),
                case let .resolved(answer) = try? ResolverMessage.decode(reply)
            else { Issue.record("no answer"); continue }
            #expect(answer.peers.count == expected, "request of \(request.count) bytes")
            #expect(reply.count <= 3 * request.count)
            #expect(answer.registeredCount == 10)
        }
    }

    @Test("a forged signature is refused and counted; nothing is stored")
    func forgedSignature() {
        var s = ResolverService(seed: 1)
        let clock = Clock()
        var bytes = registerBytes(identity(1), timestamp: clock.wall)
        bytes[bytes.count - ResolverWire.cookieSize - 1] ^= 1  // the mesh signature's last byte
        #expect(errorCode(s.deliver(bytes, from: source, now: clock.now, wallClock: clock.wall)) == .badSignature)
        // A register naming peer 1 but signed by peer 2.
        let request = RegisterRequest(
            requestID: 1, mesh: arena, peer: identity(1).key, addresses: [ip(6, 6, 6, 6, port: 6)], includeObservedAddress: false, ttlSeconds: 30,
            timestamp: clock.wall)
        var forged = request
        forged.signature = identity(2).sign(ResolverMessage.register(request).signedTranscript())
        forged.meshSignature = arenaCredentials.signAdmission(ResolverMessage.register(request).signedTranscript())
        #expect(errorCode(s.deliver(ResolverMessage.register(forged).encode(), from: source, now: clock.now, wallClock: clock.wall)) == .badSignature)
        #expect(s.stats.badSignature == 2 && s.stats.badMeshSignature == 1)
        #expect(s.registrationCount == 0)
    }

    @Test("nobody can unregister someone else")
    func foreignUnregister() {
        var s = ResolverService(seed: 1)
        let clock = Clock()
        let a = identity(1), mallory = identity(9)
        _ = s.deliver(registerBytes(a, timestamp: clock.wall), from: source, now: clock.now, wallClock: clock.wall)
        let out = s.deliver(
            unregisterBytes(mallory, peer: a.key, timestamp: clock.wall + 1), from: ip(203, 0, 113, 9, port: 1), now: clock.now, wallClock: clock.wall)
        #expect(errorCode(out) == .badSignature)
        #expect(errorCode(s.deliver(unregisterBytes(mallory, timestamp: clock.wall + 1), from: source, now: clock.now, wallClock: clock.wall)) == .unknownPeer)
        #expect(s.peers(in: arena).map(\.peer) == [a.key])
        #expect(s.stats.badSignature == 1 && s.stats.unknownPeer == 1 && s.stats.unregistered == 0)
    }

    @Test("replayed registers and unregisters are refused, also after the peer left")
    func replay() {
        var s = ResolverService(seed: 1)
        var clock = Clock()
        let a = identity(1)
        let first = registerBytes(a, timestamp: clock.wall)
        _ = s.deliver(first, from: source, now: clock.now, wallClock: clock.wall)
        #expect(errorCode(s.deliver(first, from: source, now: clock.now, wallClock: clock.wall)) == .replayed)
        clock.advance(.seconds(1))
        let leave = unregisterBytes(a, timestamp: clock.wall)
        #expect(errorCode(s.deliver(leave, from: source, now: clock.now, wallClock: clock.wall)) == nil)
        // The peer left: replaying its old register must not bring it back.
        #expect(errorCode(s.deliver(first, from: source, now: clock.now, wallClock: clock.wall)) == .replayed)
        #expect(errorCode(s.deliver(leave, from: source, now: clock.now, wallClock: clock.wall)) == .unknownPeer)
        #expect(s.registrationCount == 0)
        // Once the skew window is over, the tombstone is dropped and the old bytes fail the clock check.
        clock.advance(.seconds(121))
        _ = s.tick(now: clock.now, wallClock: clock.wall)
        #expect(errorCode(s.deliver(first, from: source, now: clock.now, wallClock: clock.wall)) == .clockSkew)
        #expect(s.stats.replayed == 2 && s.stats.clockSkew == 1)
    }

    @Test("timestamps far from the resolver's clock are refused with its time")
    func clockSkew() {
        var s = ResolverService(seed: 1)
        let clock = Clock()
        let out = s.deliver(registerBytes(identity(1), timestamp: clock.wall + 121_000), from: source, now: clock.now, wallClock: clock.wall)
        #expect(answer(out) == .error(ErrorAnswer(requestID: 1, code: .clockSkew, serverTime: clock.wall)))
        #expect(errorCode(s.deliver(registerBytes(identity(1), timestamp: clock.wall + 120_000), from: source, now: clock.now, wallClock: clock.wall)) == nil)
    }

    @Test("malformed, oversized and unexpected datagrams are dropped silently and counted")
    func malformed() {
        var s = ResolverService(seed: 1)
        let clock = Clock()
        var rng = DeterministicRNG(seed: 3)
        for n in 0..<200 {
            let junk = (0..<(n % 90)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let out = s.deliver(junk, from: ip(192, 0, 2, UInt8(n % 200), port: 1), now: clock.now, wallClock: clock.wall)
            #expect(sends(out) == 0)
        }
        let valid = registerBytes(identity(1), timestamp: clock.wall)
        #expect(sends(s.deliver(Array(valid.dropLast()), from: source, now: clock.now, wallClock: clock.wall)) == 0)
        #expect(sends(s.deliver([UInt8](repeating: 0x4D, count: 1201), from: source, now: clock.now, wallClock: clock.wall)) == 0)
        let ack = ResolverMessage.ack(AckAnswer(requestID: 1, ttlSeconds: 1, created: true, serverTime: 0, observed: ip(203, 0, 113, 7, port: 40000))).encode()
        #expect(sends(s.deliver(ack, from: source, now: clock.now, wallClock: clock.wall)) == 0)
        #expect(s.stats.malformed == 201)
        #expect(s.stats.oversized == 1)
        #expect(s.stats.unexpected == 1)
        #expect(s.stats.sent == 0 && s.registrationCount == 0)
    }

    @Test("rate limit per source IP, whatever the port")
    func rateLimit() {
        var config = ResolverConfiguration()
        config.requestsPerSecondPerSource = 2
        config.requestBurstPerSource = 5
        var s = ResolverService(configuration: config, seed: 1)
        var clock = Clock()
        var answered = 0
        for port in 1...8 {
            answered += sends(s.deliver(resolveBytes(), from: ip(192, 0, 2, 1, port: UInt16(port)), now: clock.now, wallClock: clock.wall))
        }
        #expect(answered == 5)
        #expect(s.stats.rateLimited == 3)
        #expect(sends(s.deliver(resolveBytes(), from: ip(192, 0, 2, 2, port: 1), now: clock.now, wallClock: clock.wall)) == 1)
        clock.advance(.milliseconds(499))
        #expect(sends(s.deliver(resolveBytes(), from: ip(192, 0, 2, 1, port: 1), now: clock.now, wallClock: clock.wall)) == 0)
        clock.advance(.milliseconds(1))
        #expect(sends(s.deliver(resolveBytes(), from: ip(192, 0, 2, 1, port: 1), now: clock.now, wallClock: clock.wall)) == 1)
        #expect(s.stats.rateLimited == 4)
    }

    @Test("one source (an IPv4 address or an IPv6 /64) registers at most its share of a mesh; others still get in")
    func perSourceQuota() throws {
        var config = ResolverConfiguration()
        config.maxPeersPerSourcePerMesh = 4
        config.requestBurstPerSource = 100
        var s = ResolverService(configuration: config, seed: 1)
        let clock = Clock()
        func register(_ n: UInt8, from source: MeshAddress, mesh: ResolverMeshID = arena) -> ResolverErrorCode? {
            errorCode(s.deliver(registerBytes(identity(n), mesh: mesh, timestamp: clock.wall), from: source, now: clock.now, wallClock: clock.wall))
        }
        // Throwaway keys from one host: four get in, the fifth is refused.
        for n in UInt8(1)...4 { #expect(register(n, from: ip(198, 51, 100, 7, port: UInt16(n))) == nil) }
        #expect(register(5, from: ip(198, 51, 100, 7, port: 99)) == .meshFull)
        // The same from anywhere in one IPv6 /64.
        func v6(_ last: UInt8) -> MeshAddress { .ipv6([0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2] + [0, 0, 0, 0, 0, 0, 0, last], port: 4000) }
        for n in UInt8(11)...14 { #expect(register(n, from: v6(n)) == nil) }
        #expect(register(15, from: v6(15)) == .meshFull)
        // An honest peer elsewhere, and the same host in another mesh, still register.
        #expect(register(20, from: ip(203, 0, 113, 5, port: 1)) == nil)
        #expect(register(5, from: ip(198, 51, 100, 7, port: 99), mesh: lobby) == nil)
        #expect(s.peers(in: arena).count == 9)
    }

    @Test("the rate limit groups IPv6 sources by /64 and forgets the source tracked longest when full")
    func rateLimitGroups() {
        var config = ResolverConfiguration()
        config.requestsPerSecondPerSource = 1
        config.requestBurstPerSource = 2
        config.maxTrackedSources = 2
        var s = ResolverService(configuration: config, seed: 1)
        let clock = Clock()
        func resolve(from source: MeshAddress) -> Int { sends(s.deliver(resolveBytes(), from: source, now: clock.now, wallClock: clock.wall)) }
        func v6(_ net: UInt8, _ host: UInt8) -> MeshAddress { .ipv6([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, net] + [0, 0, 0, 0, 0, 0, 0, host], port: 5) }
        // Hosts of one /64 share one bucket of 2.
        #expect(resolve(from: v6(1, 1)) + resolve(from: v6(1, 2)) + resolve(from: v6(1, 3)) == 2)
        // Another /64 has its own.
        #expect(resolve(from: v6(2, 1)) == 1)
        // A third source: the first (tracked longest) is forgotten, so it starts afresh.
        #expect(resolve(from: ip(192, 0, 2, 9, port: 1)) == 1)
        #expect(resolve(from: v6(1, 4)) == 1)
    }

    @Test("signature checks have a global budget: registrations from many sources beyond it go unanswered, then pass again")
    func signatureBudget() {
        var config = ResolverConfiguration()
        config.signatureChecksPerSecond = 5
        var s = ResolverService(configuration: config, seed: 1)
        var clock = Clock()
        var answered = 0
        // 20 registrations from 20 sources at once, two checks each: the burst of 10 answers 5.
        for n in UInt8(1)...20 {
            answered += sends(
                s.deliver(registerBytes(identity(n), timestamp: clock.wall), from: ip(192, 0, 2, n, port: 1), now: clock.now, wallClock: clock.wall))
        }
        #expect(answered == 5)
        #expect(s.stats.signatureBudgetExceeded == 15 && s.registrationCount == 5 && s.stats.signatureChecks == 10)
        // A second later 5 more checks are there: two more registrations (the third gets one of its two).
        clock.advance(.seconds(1))
        answered = 0
        for n in UInt8(21)...30 {
            answered += sends(
                s.deliver(registerBytes(identity(n), timestamp: clock.wall), from: ip(192, 0, 2, n, port: 1), now: clock.now, wallClock: clock.wall))
        }
        #expect(answered == 2 && s.registrationCount == 7)
    }

    @Test("only members register: without the mesh's admission key a register costs one check, is refused and changes nothing")
    func admissionKey() throws {
        var s = ResolverService(seed: 1)
        let clock = Clock()
        let outsider = try MeshCredentials(meshID: "arena", access: .password("a guess"))
        // The outsider knows arena's resolver ID (as if it had leaked) and signs with what it has.
        var request = RegisterRequest(
            requestID: 1, mesh: arena, peer: identity(9).key, addresses: [ip(198, 51, 100, 1, port: 80)], includeObservedAddress: false, ttlSeconds: 30,
            timestamp: clock.wall)
        let transcript = ResolverMessage.register(request).signedTranscript()
        request.signature = identity(9).sign(transcript)
        request.meshSignature = outsider.signAdmission(transcript)
        let actions = s.deliver(ResolverMessage.register(request).encode(), from: ip(198, 51, 100, 1, port: 1), now: clock.now, wallClock: clock.wall)
        #expect(errorCode(actions) == .badSignature)
        #expect(s.stats.badMeshSignature == 1 && s.stats.signatureChecks == 1 && s.registrationCount == 0)
        // A wrong password names another mesh altogether: registering there hides nothing of arena's.
        #expect(ResolverMeshID(credentials: outsider) != arena)
        // A member's register passes both checks.
        #expect(
            errorCode(s.deliver(registerBytes(identity(1), timestamp: clock.wall), from: ip(192, 0, 2, 1, port: 1), now: clock.now, wallClock: clock.wall))
                == nil)
        #expect(s.stats.signatureChecks == 3 && s.peers(in: arena).map(\.peer) == [identity(1).key])
    }

    @Test("a register without the cookie of its source address gets a cookie and costs no signature check")
    func cookies() {
        var s = ResolverService(seed: 1, cookieSecret: [UInt8](repeating: 7, count: 32))
        var clock = Clock()
        let source = ip(192, 0, 2, 1, port: 4000)
        let bytes = registerBytes(identity(1), timestamp: clock.wall)
        // Spoofed from 500 addresses (an off-path attacker never sees the answers): no check at all.
        for n in 0..<500 {
            let spoofed = MeshAddress.ipv4(0x0A00_0000 | UInt32(n), port: 1)
            guard case .cookie(let c)? = answer(s.receive(bytes, from: spoofed, now: clock.now, wallClock: clock.wall)) else {
                Issue.record("no cookie answer")
                return
            }
            #expect(c.cookie == s.cookie(for: spoofed, now: clock.now))
        }
        #expect(s.stats.signatureChecks == 0 && s.stats.cookiesSent == 500 && s.registrationCount == 0)
        // The answer is smaller than the request: nothing to amplify.
        let first = s.receive(bytes, from: source, now: clock.now, wallClock: clock.wall)
        guard case let .send(reply, to)? = first.first(where: { if case .send = $0 { true } else { false } }),
            case .cookie(let c)? = try? ResolverMessage.decode(reply)
        else {
            Issue.record("no cookie answer")
            return
        }
        #expect(to == source && reply.count < bytes.count)
        // Another address's cookie does not do; this one's does, for the next minute too.
        guard case var .register(m) = try! ResolverMessage.decode(bytes) else { return }
        m.cookie = s.cookie(for: ip(192, 0, 2, 1, port: 4001), now: clock.now)
        #expect(answer(s.receive(ResolverMessage.register(m).encode(), from: source, now: clock.now, wallClock: clock.wall))?.kind == .cookie)
        clock.advance(.seconds(61))
        m.cookie = c.cookie
        m.timestamp = clock.wall
        m = m.signed(by: identity(1), credentials: arenaCredentials)
        #expect(answer(s.receive(ResolverMessage.register(m).encode(), from: source, now: clock.now, wallClock: clock.wall))?.kind == .ack)
        #expect(s.stats.signatureChecks == 2)
        // Two minutes on it has expired.
        clock.advance(.seconds(120))
        m.timestamp = clock.wall
        m = m.signed(by: identity(1), credentials: arenaCredentials)
        #expect(answer(s.receive(ResolverMessage.register(m).encode(), from: source, now: clock.now, wallClock: clock.wall))?.kind == .cookie)
    }

    @Test("one source holds at most its quota of registrations over all meshes; expiry frees its places")
    func perSourceTotalQuota() {
        var config = ResolverConfiguration()
        config.maxRegistrationsPerSource = 3
        config.requestBurstPerSource = 100
        var s = ResolverService(configuration: config, seed: 1)
        var clock = Clock()
        let host = ip(198, 51, 100, 7, port: 1)
        func register(_ n: UInt8, _ mesh: ResolverMeshID, from source: MeshAddress) -> ResolverErrorCode? {
            errorCode(s.deliver(registerBytes(identity(n), mesh: mesh, timestamp: clock.wall), from: source, now: clock.now, wallClock: clock.wall))
        }
        #expect(register(1, arena, from: host) == nil)
        #expect(register(2, lobby, from: host) == nil)
        #expect(register(3, third, from: host) == nil)
        #expect(register(4, arena, from: host) == .resolverFull)
        #expect(register(4, arena, from: ip(203, 0, 113, 1, port: 1)) == nil)
        clock.advance(.seconds(31))
        _ = s.tick(now: clock.now, wallClock: clock.wall)
        #expect(register(5, arena, from: host) == nil)
    }

    @Test("memory bounds: peers per mesh, meshes, registrations; refreshes still pass")
    func bounds() throws {
        var config = ResolverConfiguration()
        config.maxPeersPerMesh = 3
        config.maxMeshes = 2
        config.maxRegistrations = 5
        var s = ResolverService(configuration: config, seed: 1)
        var clock = Clock()
        func register(_ n: UInt8, _ mesh: ResolverMeshID) -> ResolverErrorCode? {
            errorCode(
                s.deliver(registerBytes(identity(n), mesh: mesh, timestamp: clock.wall), from: ip(192, 0, 2, n, port: 1), now: clock.now, wallClock: clock.wall)
            )
        }
        #expect(register(1, arena) == nil)
        #expect(register(2, arena) == nil)
        #expect(register(3, arena) == nil)
        #expect(register(4, arena) == .meshFull)
        #expect(register(5, lobby) == nil)
        #expect(register(6, third) == .resolverFull)
        #expect(register(6, lobby) == nil)
        #expect(register(7, lobby) == .resolverFull)
        clock.advance(.seconds(1))
        #expect(register(1, arena) == nil)  // a refresh is not a new registration
        #expect(s.stats.refusedFull == 3 && s.registrationCount == 5 && s.stats.meshes == 2)
        clock.advance(.seconds(30))
        _ = s.tick(now: clock.now, wallClock: clock.wall)
        #expect(s.registrationCount == 0)
        #expect(register(4, arena) == nil)
    }

    @Test("unspecified addresses take the source IP; the observed address is added on request")
    func observedAddresses() {
        var s = ResolverService(seed: 1)
        let clock = Clock()
        let nat = ip(203, 0, 113, 5, port: 40000)
        let bytes = registerBytes(
            identity(1), addresses: [.ipv4(0, port: 9000), ip(10, 0, 0, 1, port: 9000), .ipv6([UInt8](repeating: 0, count: 16), port: 9000)],
            timestamp: clock.wall, observed: true)
        _ = s.deliver(bytes, from: nat, now: clock.now, wallClock: clock.wall)
        #expect(s.peers(in: arena) == [ResolvedPeer(peer: identity(1).key, addresses: [nat, ip(203, 0, 113, 5, port: 9000), ip(10, 0, 0, 1, port: 9000)])])
        let none = registerBytes(identity(2), addresses: [.ipv6([UInt8](repeating: 0, count: 16), port: 9000)], timestamp: clock.wall)
        #expect(errorCode(s.deliver(none, from: nat, now: clock.now, wallClock: clock.wall)) == .invalidRequest)
    }

    @Test(
        "a registered peer resolving with an introduction list from its registration's address is introduced to each registered peer it lists, with each one's own token; from another address, or again within a second, it is not"
    )
    func introductions() throws {
        var s = ResolverService(seed: 1)
        var clock = Clock()
        let a = identity(1), b = identity(2), c = identity(3)
        let homeA = ip(203, 0, 113, 1, port: 40001), homeB = ip(203, 0, 113, 2, port: 40002), homeC = ip(203, 0, 113, 3, port: 40003)
        _ = s.deliver(registerBytes(a, timestamp: clock.wall, requestID: 11, observed: true), from: homeA, now: clock.now, wallClock: clock.wall)
        _ = s.deliver(registerBytes(b, timestamp: clock.wall, requestID: 22, observed: true), from: homeB, now: clock.now, wallClock: clock.wall)
        _ = s.deliver(registerBytes(c, timestamp: clock.wall, requestID: 33, observed: true), from: homeC, now: clock.now, wallClock: clock.wall)
        func resolve(from source: MeshAddress, introduce: [PeerKey]? = nil, maxPeers: UInt8 = 10) -> [ResolverServiceAction] {
            let listed = introduce ?? [b.key, c.key]
            let request = ResolveRequest(
                requestID: 5, mesh: arena, maxPeers: maxPeers, exclude: a.key, introduce: listed,
                padding: ResolveRequest.padding(toSize: ResolverWire.paddedResolveSize, exclude: a.key, introductions: listed.count))
            return s.receive(ResolverMessage.resolve(request).encode(), from: source, now: clock.now, wallClock: clock.wall)
        }
        func sent(_ actions: [ResolverServiceAction]) -> [(MeshAddress, ResolverMessage)] {
            actions.compactMap { if case let .send(bytes, to) = $0, let m = try? ResolverMessage.decode(bytes) { (to, m) } else { nil } }
        }
        let aAddresses = s.peers(in: arena).first { $0.peer == a.key }!.addresses
        var out = sent(resolve(from: homeA))
        #expect(out.count == 3)
        let intros = out.compactMap { to, m -> (MeshAddress, IntroduceMessage)? in if case let .introduce(i) = m { (to, i) } else { nil } }
        #expect(
            Set(intros.map { "\($0.0) \($0.1.token)" }) == ["\(homeB) 22", "\(homeC) 33"]
                && intros.allSatisfy { $0.1.peer == a.key && $0.1.addresses == aAddresses && $0.1.mesh == arena })
        guard case let .resolved(answer)? = out.first(where: { $0.0 == homeA })?.1 else { Issue.record("no answer"); return }
        #expect(answer.introduced && answer.peers.count == 2)
        #expect(s.stats.introductions == 2)
        // Within a second: answered, nobody introduced again.
        out = sent(resolve(from: homeA))
        #expect(out.count == 1 && out[0].0 == homeA)
        // From another address (a spoofer who knows A's key): answered without introductions.
        clock.advance(.seconds(2))
        _ = s.tick(now: clock.now, wallClock: clock.wall)
        out = sent(resolve(from: ip(198, 51, 100, 66, port: 1)))
        guard case let .resolved(spoofed)? = out.first?.1 else { Issue.record("no answer"); return }
        #expect(out.count == 1 && !spoofed.introduced)
        // Without a list: none either.
        out = sent(resolve(from: homeA, introduce: []))
        #expect(out.count == 1)
        #expect(s.stats.introductions == 2)
        // Only the listed peers, whether the answer's sample holds them or not; an unknown key,
        // a repeated one and the requester's own key introduce nobody.
        clock.advance(.seconds(2))
        _ = s.tick(now: clock.now, wallClock: clock.wall)
        out = sent(resolve(from: homeA, introduce: [c.key, identity(9).key, c.key, a.key], maxPeers: 1))
        let listedIntros = out.compactMap { to, m -> MeshAddress? in if case .introduce = m { to } else { nil } }
        #expect(listedIntros == [homeC] && s.stats.introductions == 3, "\(out)")
    }
}
