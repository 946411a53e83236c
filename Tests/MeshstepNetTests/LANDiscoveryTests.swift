import Foundation
import Testing

extension RealNetworkTests {
    @Suite("LAN discovery")
    struct LANDiscovery {
        /// Multicast needs a route (on Linux, the default route's interface loops it back).
        static var skipReason: String? {
            guard let ip = systemTool("ip") else { return "iproute2 (ip) is not installed" }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: ip)
            p.arguments = ["route", "show", "default"]
            let out = Pipe()
            p.standardOutput = out
            guard (try? p.run()) != nil else { return "cannot run ip route" }
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            return text.isEmpty ? "no default route: IPv4 multicast has nowhere to go on this machine" : nil
        }

        @Test(
            "two chat peers with --lan and no address find each other by multicast beacons; another mesh's peer is ignored",
            .enabled(if: Self.skipReason == nil, Comment(rawValue: Self.skipReason ?? "")))
        func chatOverLAN() throws {
            let binary = try meshstepBinary()
            let mesh = "lan-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            func chat(_ name: String, mesh: String) throws -> Child {
                try Child(name, executable: binary, arguments: ["chat", "--mesh", mesh, "--password", "pw", "--name", name, "--lan"], withStdin: true)
            }
            let alice = try chat("alice", mesh: mesh), bob = try chat("bob", mesh: mesh)
            let stranger = try chat("stranger", mesh: mesh + "-other")
            let children = [alice, bob, stranger]
            defer { children.forEach { $0.reap() } }
            let dump = { children.map(\.transcript).joined(separator: "\n") }
            #expect(poll(timeout: .seconds(15)) { alice.stdoutLines.contains("* bob joined") && bob.stdoutLines.contains("* alice joined") }, "\(dump())")
            try alice.send("found you on the LAN")
            #expect(poll(timeout: .seconds(10)) { bob.stdoutLines.contains("<alice> found you on the LAN") }, "\(dump())")
            #expect(!stranger.stdout.contains("alice") && !alice.stdout.contains("stranger"), "\(dump())")
            for c in children { c.closeStdin() }
            for c in children { #expect(c.wait(timeout: .seconds(10)) == 0, "\(c.transcript)") }
        }
    }
}
