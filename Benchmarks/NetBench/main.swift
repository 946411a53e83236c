// Real-socket benchmarks on loopback, for docs/BENCHMARKS.md (compare with Benchmarks/udp-baseline.c
// run in the same session): unthrottled 2-player lockstep, and relay throughput of one node.
// Run: swift build -c release --product meshstep-netbench && .build/release/meshstep-netbench
import Foundation
import Logging
import MeshstepLockstep
import MeshstepMesh
import MeshstepNet
import MeshstepWire
import NIOPosix

struct Tick: LockstepInput {
    var value: UInt8
    static let neutral = Tick(value: 0)
    func encode(into w: inout ByteWriter) { w.u8(value) }
    static func decode(from r: inout ByteReader) throws(WireError) -> Tick { Tick(value: try r.u8()) }
}

func lockstepConfig(players: Int) -> MeshConfiguration {
    var c = MeshConfiguration.lockstep(players: players)
    // Unthrottled: the benchmark sends far more than a 60 Hz game.
    let unlimited = RateLimit(messagesPerSecond: 1_000_000, messageBurst: 100_000, bytesPerSecond: 500_000_000, byteBurst: 100_000_000)
    c.originLimit = unlimited
    c.inboundLimit = unlimited
    c.outboundLimit = unlimited
    return c
}

/// Two players submit and apply as fast as the protocol allows (no 60 Hz pacing).
func unthrottledLockstep(loss: Double, seconds: Double) throws -> Double {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    defer { try? group.syncShutdownGracefully() }
    let creds = try MeshCredentials(meshID: "netbench", access: .password("netbench"))
    let a = try UDPMeshPeer.start(credentials: creds, configuration: lockstepConfig(players: 2), host: "127.0.0.1", port: 0,
                                  socketLoss: loss > 0 ? SocketLoss(probability: loss, seed: 1) : nil, group: group)
    let b = try UDPMeshPeer.start(credentials: creds, configuration: lockstepConfig(players: 2), host: "127.0.0.1", port: 0,
                                  discovery: Discovery(seeds: [a.localAddress]),
                                  socketLoss: loss > 0 ? SocketLoss(probability: loss, seed: 2) : nil, group: group)
    let config = LockstepConfiguration(players: 2).withInputDelay(2).withTickRate(1000).withDisconnectTimeout(.seconds(10))
    let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
    let peers = [try LockstepPeer<Tick>(mesh: a, configuration: config, role: .player(0), logger: logger),
                 try LockstepPeer<Tick>(mesh: b, configuration: config, role: .player(1), logger: logger)]
    let deadline = ContinuousClock.now + .seconds(10)
    while !peers.allSatisfy(\.allPlayersPresent), ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.001) }
    var applied = [0, 0]
    let start = ContinuousClock.now
    let end = start + .milliseconds(Int64(seconds * 1000))
    while ContinuousClock.now < end {
        var progressed = false
        for (i, p) in peers.enumerated() {
            for _ in p.pollConfirmed() {
                applied[i] += 1
                p.submit(Tick(value: UInt8(applied[i] & 0xFF)))
                progressed = true
            }
        }
        if !progressed { Thread.sleep(forTimeInterval: 0.00002) }
    }
    let elapsed = ContinuousClock.now - start
    for p in peers { p.leave() }
    return Double(applied.min()!) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
}

/// A -- R -- B on loopback: A floods as fast as it can, R forwards; messages forwarded per second.
func relayThroughput(seconds: Double) throws -> (forwarded: Double, delivered: Double) {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    defer { try? group.syncShutdownGracefully() }
    let creds = try MeshCredentials(meshID: "relaybench", access: .password("relaybench"))
    var leaf = lockstepConfig(players: 2)
    leaf.propagationFilter = nil
    leaf.idealNeighbors = 1; leaf.maxNeighbors = 1; leaf.minNeighbors = 1
    leaf.hopLimit = 8
    leaf.messageCacheCapacity = 65536
    var relay = leaf
    relay.idealNeighbors = 2; relay.maxNeighbors = 2
    let r = try UDPMeshPeer.start(credentials: creds, configuration: relay, host: "127.0.0.1", port: 0, group: group)
    let a = try UDPMeshPeer.start(credentials: creds, configuration: leaf, host: "127.0.0.1", port: 0, discovery: Discovery(seeds: [r.localAddress]), group: group)
    let b = try UDPMeshPeer.start(credentials: creds, configuration: leaf, host: "127.0.0.1", port: 0, discovery: Discovery(seeds: [r.localAddress]), group: group)
    let deadline = ContinuousClock.now + .seconds(10)
    while (r.neighbors().count < 2 || a.neighbors().isEmpty || b.neighbors().isEmpty), ContinuousClock.now < deadline {
        Thread.sleep(forTimeInterval: 0.005)
    }
    let payload = [UInt8](repeating: 0xAB, count: 100)
    let before = r.stats().forwarded, deliveredBefore = b.stats().delivered
    let start = ContinuousClock.now
    let end = start + .milliseconds(Int64(seconds * 1000))
    // Keep A's event loop busy flooding in batches, leaving room for its other work.
    final class Flag: @unchecked Sendable { var stop = false }
    let flag = Flag()
    @Sendable func pump() {
        guard !flag.stop else { return }
        for _ in 0..<32 { _ = try? a.broadcastOnLoop(payload) }
        a.eventLoop.execute { pump() }
    }
    a.eventLoop.execute { pump() }
    while ContinuousClock.now < end { Thread.sleep(forTimeInterval: 0.01) }
    try a.eventLoop.submit { flag.stop = true }.wait()
    let elapsed = ContinuousClock.now - start
    let secs = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let forwarded = Double(r.stats().forwarded - before) / secs
    let delivered = Double(b.stats().delivered - deliveredBefore) / secs
    for p in [a, b, r] { p.leave() }
    return (forwarded, delivered)
}

print("meshstep-netbench: loopback UDP, release build; compare with Benchmarks/udp-baseline.c in the same run")
for loss in [0.0, 0.1] {
    let rate = try unthrottledLockstep(loss: loss, seconds: 3)
    print(String(format: "unthrottled lockstep, 2 players, %2.0f%% loss: %8.0f ticks/s", loss * 100, rate))
}
let relay = try relayThroughput(seconds: 3)
print(String(format: "relay A-R-B, 100-byte payloads: %8.0f forwarded/s by R, %8.0f delivered/s at B", relay.forwarded, relay.delivered))
