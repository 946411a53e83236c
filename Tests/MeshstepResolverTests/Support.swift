import MeshstepMesh
import MeshstepAddress
import MeshstepResolver
import MeshstepResolverServer
import MeshstepWire

/// A fixed Unix time for virtual-time tests: 2023-11-14T22:13:20Z in milliseconds.
let epoch: UInt64 = 1_700_000_000_000

func identity(_ n: UInt8) -> NodeIdentity { try! NodeIdentity(seed: [UInt8](repeating: n, count: 32)) }

func ip(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, port: UInt16) -> MeshAddress {
    .ipv4(UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d), port: port)
}

let arenaCredentials = try! MeshCredentials(meshID: "arena", access: .password("arena password"))
let lobbyCredentials = try! MeshCredentials(meshID: "lobby", access: .password("lobby password"))
let thirdCredentials = try! MeshCredentials(meshID: "third", access: .password("third password"))
let arena = ResolverMeshID(credentials: arenaCredentials)
let lobby = ResolverMeshID(credentials: lobbyCredentials)
let third = ResolverMeshID(credentials: thirdCredentials)

/// The credentials of a test mesh, found by its resolver ID.
func credentials(of mesh: ResolverMeshID) -> MeshCredentials {
    [arenaCredentials, lobbyCredentials, thirdCredentials].first { ResolverMeshID(credentials: $0) == mesh }!
}

/// Virtual clocks: monotonic time and the matching wall clock.
struct Clock {
    var now = MeshTime(nanoseconds: 1_000_000_000)
    var wall: UInt64 { epoch + UInt64(now.nanoseconds / 1_000_000) }
    mutating func advance(_ d: Duration) { now = now + d }
}

func registerBytes(
    _ id: NodeIdentity, mesh: ResolverMeshID = arena, addresses: [MeshAddress]? = nil, ttl: UInt32 = 30, timestamp: UInt64, requestID: UInt64 = 1,
    observed: Bool = false
) -> [UInt8] {
    let request = RegisterRequest(
        requestID: requestID, mesh: mesh, peer: id.key, addresses: addresses ?? [ip(10, 0, 0, 1, port: 9000)], includeObservedAddress: observed,
        ttlSeconds: ttl, timestamp: timestamp)
    return ResolverMessage.register(request.signed(by: id, credentials: credentials(of: mesh))).encode()
}

func unregisterBytes(_ id: NodeIdentity, peer: PeerKey? = nil, mesh: ResolverMeshID = arena, timestamp: UInt64, requestID: UInt64 = 2) -> [UInt8] {
    let request = UnregisterRequest(requestID: requestID, mesh: mesh, peer: peer ?? id.key, timestamp: timestamp)
    if peer == nil || peer == id.key { return ResolverMessage.unregister(request.signed(by: id)).encode() }
    // Someone else's key: sign as `id` anyway (what a forger can do at best).
    var forged = request
    forged.signature = id.sign(ResolverMessage.unregister(request).signedTranscript())
    return ResolverMessage.unregister(forged).encode()
}

func resolveBytes(mesh: ResolverMeshID = arena, max: UInt8 = 10, exclude: PeerKey? = nil, requestID: UInt64 = 3, size: Int = ResolverWire.paddedResolveSize)
    -> [UInt8]
{
    ResolverMessage.resolve(
        ResolveRequest(requestID: requestID, mesh: mesh, maxPeers: max, exclude: exclude, padding: ResolveRequest.padding(toSize: size, exclude: exclude))
    ).encode()
}

/// The decoded answers among a service's actions.
func answers(_ actions: [ResolverServiceAction]) -> [ResolverMessage] {
    actions.compactMap { if case let .send(bytes, _) = $0 { try? ResolverMessage.decode(bytes) } else { nil } }
}

func sends(_ actions: [ResolverServiceAction]) -> Int {
    actions.filter { if case .send = $0 { true } else { false } }.count
}

/// The one answer among the actions, or nil.
func answer(_ actions: [ResolverServiceAction]) -> ResolverMessage? {
    let a = answers(actions)
    return a.count == 1 ? a[0] : nil
}

func errorCode(_ actions: [ResolverServiceAction]) -> ResolverErrorCode? {
    if case let .error(e)? = answer(actions) { e.code } else { nil }
}

extension ResolverClientAction {
    var bytes: [UInt8]? { if case let .send(b) = self { b } else { nil } }
    var event: ResolverClientEvent? { if case let .event(e) = self { e } else { nil } }
}

/// Delivers a client's sends to a service and the service's answers back to the client;
/// returns the client's events.
func exchange(_ actions: [ResolverClientAction], client: inout ResolverClient, service: inout ResolverService, from source: MeshAddress, clock: Clock)
    -> [ResolverClientEvent]
{
    var events = actions.compactMap(\.event)
    var queue = actions.compactMap(\.bytes)
    var guardCount = 0
    while !queue.isEmpty, guardCount < 20 {
        guardCount += 1
        let bytes = queue.removeFirst()
        for case let .send(reply, _) in service.receive(bytes, from: source, now: clock.now, wallClock: clock.wall) {
            let more = client.receive(reply, now: clock.now, wallClock: clock.wall)
            events += more.compactMap(\.event)
            queue += more.compactMap(\.bytes)
        }
    }
    return events
}

extension ResolverService {
    /// `receive` for a request built without a cookie: fills in the one this service gives
    /// `source` now (what a client learns in one round trip), then receives it.
    mutating func deliver(_ bytes: [UInt8], from source: MeshAddress, now: MeshTime, wallClock: UInt64) -> [ResolverServiceAction] {
        var patched = bytes
        switch try? ResolverMessage.decode(bytes) {
        case var .register(m)? where m.cookie == ResolverWire.noCookie:
            m.cookie = cookie(for: source, now: now)
            patched = ResolverMessage.register(m).encode()
        case var .unregister(m)? where m.cookie == ResolverWire.noCookie:
            m.cookie = cookie(for: source, now: now)
            patched = ResolverMessage.unregister(m).encode()
        default: break
        }
        return receive(patched, from: source, now: now, wallClock: wallClock)
    }
}
