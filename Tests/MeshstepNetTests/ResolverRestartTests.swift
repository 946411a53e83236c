import Foundation
import Testing

extension RealNetworkTests {
    @Suite("resolver")
    struct ResolverRestart {
        @Test("the resolver restarts mid-session: the running chat is unaffected, the peers re-register, and a new node joins through the new resolver")
        func restart() throws {
            let binary = try meshstepBinary()
            let mesh = "resolved-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            let ports = freeUDPPorts(4)
            let resolverPort = ports[3]
            func resolver() throws -> Child {
                try Child("resolver", executable: binary, arguments: ["resolver", "--host", "127.0.0.1", "--port", "\(resolverPort)"])
            }
            func chat(_ name: String, port: Int) throws -> Child {
                try Child(name, executable: binary, arguments: [
                    "chat", "--mesh", mesh, "--password", "pw", "--name", name, "--host", "127.0.0.1", "--port", "\(port)",
                    "--resolver", "127.0.0.1:\(resolverPort)",
                ], withStdin: true)
            }
            var first = try resolver()
            var children = [first]
            defer { children.forEach { $0.reap() } }
            #expect(poll(timeout: .seconds(10)) { first.stderr.contains("listening") || !first.isRunning })
            try #require(first.isRunning, Comment(rawValue: first.transcript))

            let alice = try chat("alice", port: ports[0]), bob = try chat("bob", port: ports[1])
            children += [alice, bob]
            let dump = { children.map(\.transcript).joined(separator: "\n") }
            try #require(poll(timeout: .seconds(20)) { alice.stdoutLines.contains("* bob joined") && bob.stdoutLines.contains("* alice joined") }, Comment(rawValue: dump()))

            // Restart the resolver (clean stop, then a new process on the same port: it knows nobody).
            first.sendSignal(SIGTERM)
            #expect(first.wait(timeout: .seconds(5)) == 0, "\(first.transcript)")
            first = try resolver()
            children.append(first)
            #expect(poll(timeout: .seconds(10)) { first.stderr.contains("listening") || !first.isRunning })

            // The running session does not notice.
            try alice.send("after the restart")
            #expect(poll(timeout: .seconds(10)) { bob.stdoutLines.contains("<alice> after the restart") }, "\(dump())")

            // A new node finds the mesh through the new resolver (alice and bob re-registered by themselves).
            let carol = try chat("carol", port: ports[2])
            children.append(carol)
            #expect(poll(timeout: .seconds(25)) { alice.stdoutLines.contains("* carol joined") && bob.stdoutLines.contains("* carol joined") }, "\(dump())")
            try carol.send("hi, I found you")
            #expect(poll(timeout: .seconds(10)) {
                alice.stdoutLines.contains("<carol> hi, I found you") && bob.stdoutLines.contains("<carol> hi, I found you")
            }, "\(dump())")
            for c in [alice, bob, carol] { c.closeStdin() }
            for c in [alice, bob, carol] { #expect(c.wait(timeout: .seconds(10)) == 0, "\(c.transcript)") }
            first.sendSignal(SIGTERM)
            #expect(first.wait(timeout: .seconds(5)) == 0)
        }
    }
}
