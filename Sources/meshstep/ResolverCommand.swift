import ArgumentParser
import Dispatch
import Foundation
import Logging
import MeshstepPrometheus
import MeshstepResolver
import MeshstepResolverServer
import Metrics
import NIOConcurrencyHelpers
import Prometheus
import ServiceLifecycle

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// `meshstep resolver`: the Peer Channel "custom resolver" as a UDP server.
struct ResolverCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resolver",
        abstract: "Run a resolver: nodes register signed addresses per mesh and ask it for peers.",
        discussion: """
            Registrations expire after --ttl seconds unless refreshed (clients refresh every third of \
            it). Stop with Ctrl-C or SIGTERM: the resolver prints its final counters and exits 0. \
            With --metrics-port it also serves its counters to Prometheus at http://HOST:PORT/metrics. \
            Open the UDP port in the firewall; see docs/RESOLVER.md.
            """
    )

    @Option(parsing: .unconditional, help: "UDP port to listen on (0 picks a free one and logs it).") var port: Int
    @Option(help: "Address to bind: 0.0.0.0 (all IPv4), :: (IPv6 and IPv4), or one address of this machine.") var host: String = "0.0.0.0"
    @Option(parsing: .unconditional, help: "Longest registration lifetime granted, in seconds.") var ttl: Int = 30
    @Option(parsing: .unconditional, help: "Most peers registered per mesh.") var maxPeers: Int = 256
    @Option(parsing: .unconditional, help: "Most meshes.") var maxMeshes: Int = 1024
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel: Logger.Level = .info
    @Option(parsing: .unconditional, help: "Serve the counters to Prometheus on this TCP port at /metrics (0 picks a free one and logs it).")
    var metricsPort: Int?
    @Option(help: "Address the metrics endpoint binds (127.0.0.1 keeps the figures on this machine).") var metricsHost: String = "127.0.0.1"

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535 (got \(port))") }
        guard (1...86_400).contains(ttl) else { throw ValidationError("--ttl must be between 1 and 86400 seconds (got \(ttl))") }
        guard (1...1_000_000).contains(maxPeers) else { throw ValidationError("--max-peers must be between 1 and 1000000 (got \(maxPeers))") }
        guard (1...1_000_000).contains(maxMeshes) else { throw ValidationError("--max-meshes must be between 1 and 1000000 (got \(maxMeshes))") }
        if let metricsPort, !(0...65535).contains(metricsPort) {
            throw ValidationError("--metrics-port must be between 0 and 65535 (got \(metricsPort))")
        }
    }

    /// Synchronous on purpose: the root command stays synchronous so that `meshstep chat` can
    /// block SIGINT and SIGTERM before any thread exists (ShutdownSignals); the services run on
    /// a task while this thread waits.
    func run() throws {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "meshstep.resolver")
        var configuration = ResolverConfiguration()
        configuration.ttlSeconds = UInt32(ttl)
        configuration.maxPeersPerMesh = maxPeers
        configuration.maxMeshes = maxMeshes
        configuration.maxRegistrations = max(configuration.maxRegistrations, maxPeers)

        var services: [any Service] = []
        if let metricsPort {
            let registry = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
            do {
                services.append(try PrometheusEndpoint.start(host: metricsHost, port: metricsPort, registry: registry, logger: logger))
            } catch {
                FileHandle.standardError.write(Data("error: \(error)\n".utf8))
                throw ExitCode(1)
            }
        }
        let server: ResolverServer
        do {
            server = try ResolverServer.start(host: host, port: port, configuration: configuration, logger: logger)
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        services.insert(server, at: 0)
        // SIGINT and SIGTERM start a graceful shutdown: every service stops, then the figures.
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        let finished = DispatchSemaphore(value: 0)
        let failure = NIOLockedValueBox<(any Error)?>(nil)
        Task {
            do { try await group.run() } catch { failure.withLockedValue { $0 = error } }
            finished.signal()
        }
        finished.wait()
        if let error = failure.withLockedValue({ $0 }) { throw error }
        logger.info("stopped on signal")
        print("resolver stopped: \(server.stop())")
    }
}
