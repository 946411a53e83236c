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
                try Child(
                    name, executable: binary,
                    arguments: [
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
            try #require(
                poll(timeout: .seconds(20)) { alice.stdoutLines.contains("* bob joined") && bob.stdoutLines.contains("* alice joined") },
                Comment(rawValue: dump()))

            // Restart the resolver (clean stop, then a new process on the same port: it knows nobody).
            first.sendSignal(SIGTERM)
            #expect(first.wait(timeout: .seconds(5)) == 0, "\(first.transcript)")
            first = try resolver()
            children.append(first)
            #expect(poll(timeout: .seconds(10)) { first.stderr.contains("listening") || !first.isRunning })
            try #require(first.isRunning, "the restarted resolver exited: \(first.transcript)")

            // The running session does not notice.
            try alice.send("after the restart")
            #expect(poll(timeout: .seconds(10)) { bob.stdoutLines.contains("<alice> after the restart") }, "\(dump())")

            // A new node finds the mesh through the new resolver (alice and bob re-registered by themselves).
            let carol = try chat("carol", port: ports[2])
            children.append(carol)
            #expect(poll(timeout: .seconds(25)) { alice.stdoutLines.contains("* carol joined") && bob.stdoutLines.contains("* carol joined") }, "\(dump())")
            try carol.send("hi, I found you")
            #expect(
                poll(timeout: .seconds(10)) {
                    alice.stdoutLines.contains("<carol> hi, I found you") && bob.stdoutLines.contains("<carol> hi, I found you")
                }, "\(dump())")
            for c in [alice, bob, carol] { c.closeStdin() }
            for c in [alice, bob, carol] { #expect(c.wait(timeout: .seconds(10)) == 0, "\(c.transcript)") }
            first.sendSignal(SIGTERM)
            #expect(first.wait(timeout: .seconds(5)) == 0)
        }

        @Test(
            "the README's resolver chat: the first peer of a mesh waits for others and says so; --join-timeout gives up when asked; Ctrl-C and SIGTERM leave cleanly with stdin open"
        )
        func firstChatPeerWaits() throws {
            let binary = try meshstepBinary()
            let mesh = "lounge-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            let ports = freeUDPPorts(3)
            let resolver = try Child("resolver", executable: binary, arguments: ["resolver", "--host", "127.0.0.1", "--port", "\(ports[2])"])
            var children = [resolver]
            defer { children.forEach { $0.reap() } }
            #expect(poll(timeout: .seconds(10)) { resolver.stderr.contains("listening") || !resolver.isRunning })
            try #require(resolver.isRunning, Comment(rawValue: resolver.transcript))
            func chat(_ name: String, _ extra: [String] = []) throws -> Child {
                let c = try Child(
                    name, executable: binary,
                    arguments: [
                        "chat", "--mesh", mesh, "--password", "p", "--name", name, "--resolver", "127.0.0.1:\(ports[2])",
                    ] + extra, withStdin: true)
                children.append(c)
                return c
            }
            let dump = { children.map(\.transcript).joined(separator: "\n") }

            // Asked to give up: it does, with the reason, after the time given.
            let impatient = try chat("impatient", ["--mesh", mesh + "-empty", "--join-timeout", "2"])
            let started = ContinuousClock.now
            #expect(impatient.wait(timeout: .seconds(10)) == 1, "\(impatient.transcript)")
            #expect(ContinuousClock.now - started >= .seconds(2))
            #expect(impatient.stderr.contains("no peer of mesh"), "\(impatient.transcript)")

            // Alone by default: it says so and keeps running; the next one joins through the resolver.
            let ada = try chat("ada")
            try #require(poll(timeout: .seconds(15)) { ada.stderr.contains("waiting for others") || !ada.isRunning }, Comment(rawValue: dump()))
            try #require(ada.isRunning, Comment(rawValue: dump()))
            let bob = try chat("bob")
            try #require(poll(timeout: .seconds(20)) { ada.stdoutLines.contains("* bob joined") }, Comment(rawValue: dump()))
            #expect(!bob.stderr.contains("waiting for others"), "bob found ada: \(bob.transcript)")
            try bob.send("hello ada")
            #expect(poll(timeout: .seconds(10)) { ada.stdoutLines.contains("<bob> hello ada") }, "\(dump())")

            // Stdin stays open: Ctrl-C (SIGINT) and SIGTERM end each cleanly, and the other hears the goodbye.
            bob.sendSignal(SIGINT)
            #expect(bob.wait(timeout: .seconds(5)) == 0, "\(bob.transcript)")
            #expect(poll(timeout: .seconds(5)) { ada.stdoutLines.contains("* bob left") }, "\(dump())")
            ada.sendSignal(SIGTERM)
            #expect(ada.wait(timeout: .seconds(5)) == 0, "\(ada.transcript)")
            resolver.sendSignal(SIGINT)
            #expect(resolver.wait(timeout: .seconds(5)) == 0, "\(resolver.transcript)")
        }
    }
}
