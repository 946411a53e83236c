// libFuzzer entry point for everything past the wire decoders: resolver messages (decoder and
// service), session payloads (lockstep frames, claims, hellos, roster traffic) against a started
// session, and the mesh handshake state machine driven by sequences of real, mutated, replayed,
// spoofed and made-up datagrams. Built by Fuzz/run-protocol.sh (MESHSTEP_FUZZ=1 adds this target
// to Package.swift), never by a normal build.
//
// The first input byte picks the target; the rest is its input. Properties checked:
// - nothing traps (AddressSanitizer watches memory too);
// - resolver: whatever decodes re-encodes to itself; the service never answers more than three
//   times a request's size and never registers anything without both signatures;
// - session: a started endpoint stays within its own bounds (no trap, events drained);
// - handshake: the two honest nodes only ever link with each other, and a datagram from an
//   address that is not a neighbor's never creates a link by itself.

import Foundation
import MeshstepArena
import MeshstepLockstep
import MeshstepMesh
import MeshstepResolver
import MeshstepSession
import MeshstepWire

/// libFuzzer's driver. SwiftPM links an executable with `main` aliased to `<module>_main`, so
/// the program starts here and hands over to libFuzzer, which then calls the two functions below.
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafeRawPointer?, Int) -> CInt
) -> CInt

@_cdecl("meshstep_protocol_fuzz_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    _ = initialize(&count, &arguments)
    return runDriver(&count, &arguments) { start, size in
        guard let start else { return fuzz(UnsafeRawPointer(bitPattern: 1)!, 0) }
        return fuzz(start, size)
    }
}

/// Executions per target, printed when the process exits (docs/BENCHMARKS.md records them).
nonisolated(unsafe) var executions = [Int](repeating: 0, count: 3)
let targetNames = ["resolver", "session", "handshake"]

func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    atexit {
        let line = zip(targetNames, executions).map { "\($0)=\($1)" }.joined(separator: " ")
        FileHandle.standardError.write(Data("protocol-fuzzer executions: \(line)\n".utf8))
    }
    return 0
}

/// `MESHSTEP_FUZZ_TARGET=resolver|session|handshake` fuzzes one target with the whole input;
/// unset, the first byte picks the target.
let fixedTarget: Int? = ProcessInfo.processInfo.environment["MESHSTEP_FUZZ_TARGET"].map { name in
    guard let i = targetNames.firstIndex(of: name) else { fatalError("MESHSTEP_FUZZ_TARGET=\(name): use one of \(targetNames.joined(separator: ", "))") }
    return i
}

func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    let target: Int
    var input: ByteCursor
    if let fixedTarget {
        target = fixedTarget
        input = ByteCursor(bytes)
    } else {
        guard count >= 1 else { return 0 }
        target = Int(bytes[0]) % 3
        input = ByteCursor(Array(bytes.dropFirst()))
    }
    executions[target] += 1
    switch target {
    case 0: fuzzResolver(&input)
    case 1: fuzzSession(&input)
    default: fuzzHandshake(&input)
    }
    return 0
}

/// Reads fuzz input as a stream of small numbers and byte strings; past the end, zeros.
struct ByteCursor {
    let bytes: [UInt8]
    var offset = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    var atEnd: Bool { offset >= bytes.count }
    mutating func u8() -> UInt8 {
        defer { offset += 1 }
        return offset < bytes.count ? bytes[offset] : 0
    }
    mutating func u16() -> Int { Int(u8()) << 8 | Int(u8()) }
    /// A length-prefixed chunk (up to `limit` bytes).
    mutating func chunk(limit: Int = 1400) -> [UInt8] {
        let wanted = u16() % (limit + 1)
        let from = min(offset, bytes.count)
        let n = min(wanted, bytes.count - from)
        offset = from + n
        return Array(bytes[from..<from + n])
    }
}

// MARK: Resolver

let meshA = try! MeshCredentials(meshID: "fuzz", access: .password("fuzz password"))
let peerIdentities = (1...4).map { try! NodeIdentity(seed: [UInt8](repeating: UInt8($0), count: 32)) }
let epochMillis: UInt64 = 1_700_000_000_000
/// A service holding one member's registration, copied for every execution.
let seededService: ResolverService = {
    var s = ResolverService(seed: 1, cookieSecret: [UInt8](repeating: 9, count: 32))
    let source = MeshAddress.ipv4(0xC000_0201, port: 4000)
    var request = RegisterRequest(
        requestID: 1, mesh: ResolverMeshID(credentials: meshA), peer: peerIdentities[0].key, addresses: [.ipv4(0x0A00_0001, port: 7000)],
        includeObservedAddress: true, ttlSeconds: 30, timestamp: epochMillis, cookie: s.cookie(for: source, now: .zero))
    request = request.signed(by: peerIdentities[0], credentials: meshA)
    _ = s.receive(ResolverMessage.register(request).encode(), from: source, now: .zero, wallClock: epochMillis)
    precondition(s.registrationCount == 1, "fuzz setup: the seeded registration failed")
    return s
}()

func fuzzResolver(_ input: inout ByteCursor) {
    var service = seededService
    var now = MeshTime.zero
    while !input.atEnd {
        let datagram = input.chunk(limit: 1300)
        if let message = try? ResolverMessage.decode(datagram) {
            guard (try? ResolverMessage.decode(message.encode())) == message else { fatalError("resolver round trip failed for \(datagram)") }
        }
        let source = MeshAddress.ipv4(0xC000_0200 | UInt32(input.u8() % 4), port: 4000)
        let before = service.registrationCount
        let actions = service.receive(datagram, from: source, now: now, wallClock: epochMillis + UInt64(now.nanoseconds / 1_000_000))
        for case let .send(answer, _) in actions where answer.count > 3 * max(datagram.count, 1) {
            fatalError("answer of \(answer.count) bytes to a request of \(datagram.count)")
        }
        if service.registrationCount > before {
            // Random bytes cannot carry two valid signatures: a new registration means a bug.
            fatalError("registration created from fuzz input \(datagram)")
        }
        now = now + .milliseconds(Int64(input.u8()) * 100)
        if input.u8() & 1 == 1 { _ = service.tick(now: now, wallClock: epochMillis + UInt64(now.nanoseconds / 1_000_000)) }
    }
}

// MARK: Session

let sessionConfig = LockstepConfiguration(players: 3).withInputDelay(2)
let sessionDescriptor = SessionDescriptor(name: "fuzz", keys: peerIdentities.prefix(3).map(\.key.bytes), configuration: sessionConfig, gameSeed: 7)

/// Three players' endpoints, started (every signed hello exchanged), with a few ticks of
/// inputs; the fuzzer plays the two others against player 0.
let startedEndpoints: [SessionEndpoint<TankInput>] = {
    var endpoints = (0..<3).map { i in
        let identity = peerIdentities[i]
        return try! SessionEndpoint<TankInput>(
            configuration: sessionConfig, role: .player(i), localKey: identity.key, roster: .known(sessionDescriptor),
            signer: { @Sendable bytes in identity.sign(bytes) })
    }
    var now = Duration.zero
    for _ in 0..<40 {
        var outbox: [(Int, [UInt8])] = []
        for i in 0..<3 {
            var actions = endpoints[i].tick(now: now)
            if endpoints[i].started { actions += endpoints[i].submit(TankInput(), now: now) }
            for case let .broadcast(p) in actions { outbox.append((i, p)) }
        }
        for (from, payload) in outbox {
            for j in 0..<3 where j != from { _ = endpoints[j].receive(payload, from: peerIdentities[from].key, now: now) }
        }
        for i in 0..<3 { _ = endpoints[i].pollReady() }
        now += .milliseconds(16)
    }
    precondition(endpoints.allSatisfy(\.started), "fuzz setup: the session did not start")
    return endpoints
}()

/// Payloads the honest players really sent, to mutate and replay.
let recordedPayloads: [[UInt8]] = {
    var endpoints = startedEndpoints
    var out: [[UInt8]] = []
    for i in 1..<3 {
        for case let .broadcast(p) in endpoints[i].submit(TankInput(thrust: true), now: .milliseconds(700)) + endpoints[i].tick(now: .milliseconds(800)) {
            out.append(p)
        }
    }
    precondition(!out.isEmpty, "fuzz setup: no payloads recorded")
    return out
}()

func fuzzSession(_ input: inout ByteCursor) {
    var endpoint = startedEndpoints[0]
    var now = Duration.milliseconds(700)
    while !input.atEnd {
        let op = input.u8()
        let sender = peerIdentities[Int(op >> 4) % 4]  // slot 1, 2, player 0 itself, or a stranger
        var payload: [UInt8]
        switch op & 3 {
        case 0: payload = input.chunk(limit: 1100)
        case 1:
            payload = recordedPayloads[Int(input.u8()) % recordedPayloads.count]
            if !payload.isEmpty {
                let at = input.u16() % payload.count
                payload[at] ^= max(1, input.u8())
            }
        case 2:
            payload = recordedPayloads[Int(input.u8()) % recordedPayloads.count]
            payload = Array(payload.prefix(input.u16() % (payload.count + 1))) + input.chunk(limit: 64)
        default: payload = recordedPayloads[Int(input.u8()) % recordedPayloads.count]
        }
        _ = endpoint.receive(payload, from: sender.key, now: now)
        now += .milliseconds(Int64(input.u8()))
        _ = endpoint.tick(now: now)
        _ = endpoint.pollReady(limit: 64)
        _ = endpoint.takeEvents()
        _ = endpoint.takeErrors()
    }
}

// MARK: Handshake

let handshakeConfig: MeshConfiguration = {
    var c = MeshConfiguration()
    c.idealNeighbors = 2
    c.minNeighbors = 1
    c.maxNeighbors = 3
    return c
}()
let addressA = MeshAddress.ipv4(0x0A00_0001, port: 7000)
let addressB = MeshAddress.ipv4(0x0A00_0002, port: 7000)
let strangerAddress = MeshAddress.ipv4(0x0A00_0063, port: 7000)

struct SeededRNG: RandomNumberGenerator, Sendable {
    var inner: DeterministicRNG
    mutating func next() -> UInt64 { inner.next() }
}

func fuzzHandshake(_ input: inout ByteCursor) {
    var a = try! MeshNode(
        identity: peerIdentities[0], credentials: meshA, localAddress: addressA, configuration: handshakeConfig,
        rng: SeededRNG(inner: DeterministicRNG(seed: 1)))
    var b = try! MeshNode(
        identity: peerIdentities[1], credentials: meshA, localAddress: addressB, configuration: handshakeConfig,
        rng: SeededRNG(inner: DeterministicRNG(seed: 2)))
    var now = MeshTime.zero
    var toB: [[UInt8]] = [], toA: [[UInt8]] = [], history: [[UInt8]] = []
    func collect(_ actions: [MeshAction], from node: Int) {
        for case let .send(bytes, to) in actions {
            history.append(bytes)
            if history.count > 64 { history.removeFirst() }
            if node == 0, to == addressB { toB.append(bytes) }
            if node == 1, to == addressA { toA.append(bytes) }
        }
    }
    collect(a.start(now: now), from: 0)
    collect(b.start(now: now), from: 1)
    collect(a.addCandidates([Referral(peer: b.key, address: addressB)], now: now), from: 0)
    var steps = 0
    while !input.atEnd, steps < 200 {
        steps += 1
        let op = input.u8()
        switch op % 9 {
        case 0: if !toB.isEmpty { collect(b.receive(toB.removeFirst(), from: addressA, now: now), from: 1) }
        case 1: if !toA.isEmpty { collect(a.receive(toA.removeFirst(), from: addressB, now: now), from: 0) }
        case 2:
            // A real datagram with one byte changed.
            if !toB.isEmpty {
                var d = toB.removeFirst()
                d[input.u16() % d.count] ^= max(1, input.u8())
                collect(b.receive(d, from: addressA, now: now), from: 1)
            }
        case 3: collect(b.receive(input.chunk(limit: 1200), from: op & 0x80 == 0 ? addressA : strangerAddress, now: now), from: 1)
        case 4: collect(a.receive(input.chunk(limit: 1200), from: op & 0x80 == 0 ? addressB : strangerAddress, now: now), from: 0)
        case 5:
            // Replay something either node sent before, to either node, from either address.
            if !history.isEmpty {
                let d = history[input.u16() % history.count]
                if op & 0x80 == 0 {
                    collect(b.receive(d, from: op & 0x40 == 0 ? addressA : strangerAddress, now: now), from: 1)
                } else {
                    collect(a.receive(d, from: op & 0x40 == 0 ? addressB : strangerAddress, now: now), from: 0)
                }
            }
        case 6:
            now = now + .milliseconds(Int64(input.u16() % 5000))
            collect(a.timerFired(now: now), from: 0)
            collect(b.timerFired(now: now), from: 1)
        case 7:
            // Lose a datagram.
            if op & 0x80 == 0 { if !toB.isEmpty { toB.removeFirst() } } else if !toA.isEmpty { toA.removeFirst() }
        default:
            // A real datagram of A's, arriving from another address (a NAT rebinding or a spoofer).
            if !toB.isEmpty { collect(b.receive(toB.removeFirst(), from: strangerAddress, now: now), from: 1) }
        }
        if toA.count > 64 { toA.removeFirst(toA.count - 64) }
        if toB.count > 64 { toB.removeFirst(toB.count - 64) }
        guard a.neighborKeys.allSatisfy({ $0 == b.key }), b.neighborKeys.allSatisfy({ $0 == a.key }) else {
            fatalError("a node linked with a key nobody honest holds: A \(a.neighborKeys), B \(b.neighborKeys)")
        }
    }
}
