import MeshstepMesh
import MeshstepResolver
import MeshstepWire
import Testing

@Suite("resolver client")
struct ClientTests {
    let source = ip(192, 0, 2, 10, port: 5000)

    func makeClient(_ n: UInt8 = 1, configuration: ResolverClientConfiguration = ResolverClientConfiguration()) -> ResolverClient {
        try! ResolverClient(
            identity: identity(n), credentials: arenaCredentials, addresses: [ip(192, 0, 2, n, port: 9000)], configuration: configuration, seed: UInt64(n))
    }

    @Test("registers, then refreshes every third of the TTL, so it never expires")
    func refreshSchedule() {
        var service = ResolverService(seed: 1)
        var client = makeClient()
        var clock = Clock()
        var events = exchange(client.register(now: clock.now, wallClock: clock.wall), client: &client, service: &service, from: source, clock: clock)
        #expect(events == [.observedAddress(source), .registered(ttlSeconds: 30, created: true)])
        #expect(client.isRegistered && client.observedAddress == source)
        #expect(client.nextDeadline == clock.now + .seconds(10))
        let start = clock.now
        var refreshTimes: [Duration] = []
        while clock.now < start + .seconds(300) {
            clock.now = client.nextDeadline!
            _ = service.tick(now: clock.now, wallClock: clock.wall)
            let actions = client.tick(now: clock.now, wallClock: clock.wall)
            if !actions.isEmpty { refreshTimes.append(clock.now - start) }
            events = exchange(actions, client: &client, service: &service, from: source, clock: clock)
            #expect(events == [.registered(ttlSeconds: 30, created: false)])
        }
        #expect(refreshTimes == (1...30).map { .seconds($0 * 10) })
        #expect(service.stats.refreshed == 30 && service.stats.expired == 0 && service.registrationCount == 1)
    }

    @Test("re-registers by itself at the next refresh after the resolver restarted")
    func reregisterAfterRestart() {
        var service = ResolverService(seed: 1)
        var client = makeClient()
        var clock = Clock()
        _ = exchange(client.register(now: clock.now, wallClock: clock.wall), client: &client, service: &service, from: source, clock: clock)
        var restarted = ResolverService(seed: 2)  // a new process: empty
        clock.advance(.seconds(10))
        let events = exchange(client.tick(now: clock.now, wallClock: clock.wall), client: &client, service: &restarted, from: source, clock: clock)
        #expect(events == [.reregistered])
        #expect(restarted.peers(in: arena).map(\.peer) == [identity(1).key])
    }

    @Test("a resolve that does not list the node makes it register again at once")
    func reregisterOnResolve() {
        var service = ResolverService(seed: 1)
        var client = makeClient(), other = makeClient(2)
        var clock = Clock()
        _ = exchange(client.register(now: clock.now, wallClock: clock.wall), client: &client, service: &service, from: source, clock: clock)
        var restarted = ResolverService(seed: 2)
        clock.advance(.seconds(1))
        _ = exchange(other.register(now: clock.now, wallClock: clock.wall), client: &other, service: &restarted, from: ip(192, 0, 2, 2, port: 1), clock: clock)
        let events = exchange(
            client.resolve(maxPeers: 5, now: clock.now, wallClock: clock.wall), client: &client, service: &restarted, from: source, clock: clock)
        #expect(events.count == 2)
        guard case let .resolved(answer)? = events.first else { Issue.record("no answer: \(events)"); return }
        #expect(answer.excludedIsRegistered == false && answer.registeredCount == 1)
        // The observed source address comes first, then the claimed one.
        #expect(
            answer.referrals == [
                Referral(peer: identity(2).key, address: ip(192, 0, 2, 2, port: 1)), Referral(peer: identity(2).key, address: ip(192, 0, 2, 2, port: 9000)),
            ])
        #expect(events.last == .reregistered)
        #expect(restarted.registrationCount == 2)
    }

    @Test("retries with exponential backoff, reports unreachable once, keeps trying to register, recovers")
    func backoffAndUnreachable() {
        var client = makeClient()
        var clock = Clock()
        let start = clock.now
        var sendTimes: [Duration] = [.zero]
        var events: [ResolverClientEvent] = []
        _ = client.register(now: clock.now, wallClock: clock.wall)  // lost
        while clock.now < start + .seconds(30) {
            clock.now = client.nextDeadline!
            let actions = client.tick(now: clock.now, wallClock: clock.wall)
            if actions.contains(where: { $0.bytes != nil }) { sendTimes.append(clock.now - start) }
            events += actions.compactMap(\.event)
        }
        #expect(
            sendTimes == [
                .zero, .milliseconds(500), .milliseconds(1500), .milliseconds(3500), .milliseconds(7500), .milliseconds(15500), .milliseconds(23500),
                .milliseconds(31500),
            ])
        #expect(events == [.failed(.unreachable(operation: .register, attempts: 5))])
        #expect(client.isUnreachable)
        // The resolver comes (back): the next retry gets through.
        var service = ResolverService(seed: 1)
        clock.now = client.nextDeadline!
        let recovered = exchange(client.tick(now: clock.now, wallClock: clock.wall), client: &client, service: &service, from: source, clock: clock)
        #expect(recovered == [.reachable, .observedAddress(source), .registered(ttlSeconds: 30, created: true)])
        #expect(!client.isUnreachable)
    }

    @Test("an unanswered resolve is given up after five attempts")
    func resolveGivesUp() {
        var client = makeClient()
        var clock = Clock()
        _ = client.resolve(now: clock.now, wallClock: clock.wall)
        var events: [ResolverClientEvent] = []
        var sends = 1
        while let deadline = client.nextDeadline {
            clock.now = deadline
            let actions = client.tick(now: clock.now, wallClock: clock.wall)
            sends += actions.filter { $0.bytes != nil }.count
            events += actions.compactMap(\.event)
        }
        #expect(sends == 5)
        #expect(events == [.failed(.unreachable(operation: .resolve, attempts: 5))])
        #expect(events.first.map { "\($0)" }?.contains("--resolver HOST:PORT") == true)
    }

    @Test("adopts the resolver's clock after a clock-skew refusal")
    func clockSkewCorrection() {
        var service = ResolverService(seed: 1)
        var client = makeClient()
        let clock = Clock()
        let behind = clock.wall - 600_000
        let first = client.register(now: clock.now, wallClock: behind).compactMap(\.bytes)
        let refusal = service.deliver(first[0], from: source, now: clock.now, wallClock: clock.wall)
        #expect(errorCode(refusal) == .clockSkew)
        guard case let .send(reply, _)? = refusal.first(where: { if case .send = $0 { true } else { false } }) else { Issue.record("no reply"); return }
        let retry = client.receive(reply, now: clock.now, wallClock: behind)
        #expect(client.clockOffsetMilliseconds == 600_000)
        let ack = service.deliver(retry.compactMap(\.bytes)[0], from: source, now: clock.now, wallClock: clock.wall)
        guard case let .send(ackBytes, _)? = ack.first(where: { if case .send = $0 { true } else { false } }) else { Issue.record("no ack"); return }
        #expect(
            client.receive(ackBytes, now: clock.now, wallClock: behind).compactMap(\.event) == [
                .observedAddress(source), .registered(ttlSeconds: 30, created: true),
            ])
    }

    @Test("unregister removes the registration and stops refreshing")
    func unregister() {
        var service = ResolverService(seed: 1)
        var client = makeClient()
        let clock = Clock()
        _ = exchange(client.register(now: clock.now, wallClock: clock.wall), client: &client, service: &service, from: source, clock: clock)
        let events = exchange(client.unregister(now: clock.now, wallClock: clock.wall), client: &client, service: &service, from: source, clock: clock)
        #expect(events == [.unregistered])
        #expect(service.registrationCount == 0)
        #expect(client.nextDeadline == nil && !client.isRegistered)
    }

    @Test(
        "an introduction is reported when it carries the token of one of the client's last two registrations and names its mesh; forged or foreign ones are dropped"
    )
    func introductions() throws {
        var service = ResolverService(seed: 1)
        var client = makeClient(), other = makeClient(2)
        let clock = Clock()
        let otherHome = ip(203, 0, 113, 2, port: 40002)
        _ = exchange(client.register(now: clock.now, wallClock: clock.wall), client: &client, service: &service, from: source, clock: clock)
        _ = exchange(other.register(now: clock.now, wallClock: clock.wall), client: &other, service: &service, from: otherHome, clock: clock)
        // The other peer asks for introductions: the service's Introduce reaches this client.
        var introduced: [ResolvedPeer] = []
        for action in other.resolve(introduce: [client.identity.key], now: clock.now, wallClock: clock.wall) {
            guard case let .send(bytes) = action else { continue }
            for case let .send(reply, to) in service.receive(bytes, from: otherHome, now: clock.now, wallClock: clock.wall) where to == source {
                introduced += client.receive(reply, now: clock.now, wallClock: clock.wall).compactMap {
                    if case let .introduced(p)? = $0.event { p } else { nil }
                }
            }
        }
        #expect(introduced.map(\.peer) == [identity(2).key])
        #expect(introduced.first?.addresses.first == otherHome)
        // A forged token, another mesh, or the client's own key: nothing.
        let good = IntroduceMessage(token: 0, mesh: arena, peer: identity(2).key, addresses: [otherHome])
        var forged = good
        forged.token = 12345
        var foreign = good
        foreign.mesh = ResolverMeshID(key: [UInt8](repeating: 9, count: 32))
        for m in [forged, foreign] {
            #expect(client.receive(ResolverMessage.introduce(m).encode(), now: clock.now, wallClock: clock.wall).isEmpty)
        }
    }

    @Test("answers with another request ID are ignored")
    func spoofedAnswer() {
        var client = makeClient()
        let clock = Clock()
        _ = client.register(now: clock.now, wallClock: clock.wall)
        let fake = ResolverMessage.ack(
            AckAnswer(requestID: 12345, ttlSeconds: 30, created: true, serverTime: clock.wall, observed: ip(203, 0, 113, 7, port: 40000))
        ).encode()
        #expect(client.receive(fake, now: clock.now, wallClock: clock.wall).isEmpty)
        #expect(client.receive([1, 2, 3], now: clock.now, wallClock: clock.wall).isEmpty)
        #expect(!client.isRegistered)
    }

    @Test("a full mesh is reported and retried after a refresh interval")
    func meshFull() {
        var config = ResolverConfiguration()
        config.maxPeersPerMesh = 1
        var service = ResolverService(configuration: config, seed: 1)
        var first = makeClient(2), client = makeClient()
        let clock = Clock()
        _ = exchange(first.register(now: clock.now, wallClock: clock.wall), client: &first, service: &service, from: ip(192, 0, 2, 2, port: 1), clock: clock)
        let events = exchange(client.register(now: clock.now, wallClock: clock.wall), client: &client, service: &service, from: source, clock: clock)
        #expect(events == [.failed(.refused(operation: .register, code: .meshFull))])
        #expect(client.nextDeadline == clock.now + .seconds(10))
    }

    @Test("more than four addresses is a typed error")
    func tooManyAddresses() {
        #expect(throws: ResolverClientError.tooManyAddresses(5)) {
            try ResolverClient(identity: identity(1), credentials: arenaCredentials, addresses: (1...5).map { ip(10, 0, 0, $0, port: 1) }, seed: 1)
        }
    }
}
