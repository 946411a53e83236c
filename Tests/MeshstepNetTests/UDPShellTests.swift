import Foundation
import MeshstepMesh
import MeshstepNet
import NIOPosix
import Testing

@Suite("UDP shell")
struct UDPShellTests {
    @Test("binding a port that is in use is a typed error that says what to do")
    func portInUse() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let creds = try MeshCredentials(meshID: "t", access: .password("p"))
        let first = try UDPMeshPeer.start(credentials: creds, host: "127.0.0.1", port: 0, group: group)
        defer { first.leave() }
        let port = try #require(first.localAddress.port)
        #expect(throws: NetError.portInUse(host: "127.0.0.1", port: port)) {
            try UDPMeshPeer.start(credentials: creds, host: "127.0.0.1", port: port, group: group)
        }
        #expect(NetError.portInUse(host: "127.0.0.1", port: port).description.contains("--port"))
    }

    @Test("two peers on loopback link up and flood to each other; leaving tells the other side")
    func twoPeers() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let creds = try MeshCredentials(meshID: "t", access: .password("p"))
        let got = Received()
        let a = try UDPMeshPeer.start(credentials: creds, host: "127.0.0.1", port: 0, group: group) { peer in
            peer.onDeliver = { message, _ in got.append(message.payload) }
        }
        let b = try UDPMeshPeer.start(credentials: creds, host: "127.0.0.1", port: 0, discovery: Discovery(seeds: [a.localAddress]), group: group)
        let deadline = ContinuousClock.now + .seconds(5)
        while b.neighbors().isEmpty, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(b.neighbors().map(\.peer) == [a.key])
        b.broadcast([1, 2, 3])
        while got.count < 1, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(got.values == [[1, 2, 3]])
        b.leave()
        while !a.neighbors().isEmpty, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(a.neighbors().isEmpty)
        a.leave()
    }
}

final class Received: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [[UInt8]] = []
    func append(_ v: [UInt8]) { lock.withLock { items.append(v) } }
    var values: [[UInt8]] { lock.withLock { items } }
    var count: Int { values.count }
}
