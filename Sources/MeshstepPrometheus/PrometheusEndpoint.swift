import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle

/// Why a ``PrometheusEndpoint`` could not start, each saying what to do.
public enum PrometheusEndpointError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The port is outside 0...65535.
    case invalidPort(Int)
    /// Another socket holds the TCP port.
    case portInUse(host: String, port: Int)
    /// Binding failed for another reason (an address not on this machine, permissions...).
    case bindFailed(host: String, port: Int, detail: String)

    public var description: String {
        switch self {
        case let .invalidPort(port): "metrics port \(port) is not a TCP port; pass --metrics-port between 1 and 65535 (0 picks a free one)"
        case let .portInUse(host, port): "metrics port \(port) on \(host) is in use; pick another with --metrics-port"
        case let .bindFailed(host, port, detail): "cannot serve metrics on \(host) port \(port): \(detail)"
        }
    }
}

/// Serves a Prometheus registry as text at `GET /metrics` over HTTP/1.1, for a Prometheus server
/// to scrape. Anything else gets 404 (405 for another method on `/metrics`).
///
/// Bootstrap swift-metrics with `PrometheusMetricsFactory(registry:)` on the same registry, and
/// every counter Meshstep exports (`StatsExporter`: `meshstep_resolver_*`, `meshstep_mesh_*`)
/// shows up here. It is a `Service`: run it in a `ServiceGroup` and it closes its socket on
/// graceful shutdown.
public final class PrometheusEndpoint: Service, Sendable {
    /// The TCP port it listens on (the bound port when started with port 0).
    public let localPort: Int
    /// The registry it serves.
    public let registry: PrometheusCollectorRegistry
    private let channel: any Channel
    private let ownedGroup: MultiThreadedEventLoopGroup?

    private init(channel: any Channel, registry: PrometheusCollectorRegistry, ownedGroup: MultiThreadedEventLoopGroup?) {
        self.channel = channel
        self.registry = registry
        self.ownedGroup = ownedGroup
        localPort = channel.localAddress?.port ?? 0
    }

    /// Binds a TCP socket and starts serving.
    /// - Parameters:
    ///   - host: the address to bind (`127.0.0.1` keeps the figures on this machine).
    ///   - port: the TCP port; 0 picks a free one (see ``localPort``).
    ///   - registry: what `GET /metrics` returns.
    ///   - logger: one info line when listening.
    ///   - group: an event loop group; when nil the endpoint creates (and on stop shuts down) one
    ///     of its own with one thread.
    /// - Throws: ``PrometheusEndpointError``.
    public static func start(
        host: String, port: Int, registry: PrometheusCollectorRegistry, logger: Logger, group: (any EventLoopGroup)? = nil
    ) throws(PrometheusEndpointError) -> PrometheusEndpoint {
        guard (0...65535).contains(port) else { throw .invalidPort(port) }
        let ownedGroup = group == nil ? MultiThreadedEventLoopGroup(numberOfThreads: 1) : nil
        let channel: any Channel
        do {
            channel = try ServerBootstrap(group: group ?? ownedGroup!)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { child in
                    child.eventLoop.makeCompletedFuture {
                        try child.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try child.pipeline.syncOperations.addHandler(MetricsHTTPHandler(registry: registry))
                    }
                }
                .bind(host: host, port: port)
                .wait()
        } catch {
            try? ownedGroup?.syncShutdownGracefully()
            if let io = error as? IOError, io.errnoCode == EADDRINUSE { throw .portInUse(host: host, port: port) }
            throw .bindFailed(host: host, port: port, detail: "\(error)")
        }
        let endpoint = PrometheusEndpoint(channel: channel, registry: registry, ownedGroup: ownedGroup)
        logger.info("metrics on http://\(host):\(endpoint.localPort)/metrics")
        return endpoint
    }

    /// Serves until graceful shutdown, then closes the socket.
    public func run() async throws {
        try? await gracefulShutdown()
        stop()
    }

    /// Closes the socket and shuts down the endpoint's own event loop group. Safe to call twice.
    public func stop() {
        try? channel.close().wait()
        try? ownedGroup?.syncShutdownGracefully()
    }
}

/// Answers one HTTP request at a time on a connection.
final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let registry: PrometheusCollectorRegistry
    private var head: HTTPRequestHead?

    init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(h): head = h
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
            let status: HTTPResponseStatus
            var body: [UInt8]
            var headers = HTTPHeaders()
            if path == "/metrics", head.method == .GET || head.method == .HEAD {
                status = .ok
                body = []
                registry.emit(into: &body)
                headers.add(name: "Content-Type", value: "text/plain; version=0.0.4; charset=utf-8")
            } else {
                status = path == "/metrics" ? .methodNotAllowed : .notFound
                body = Array("use GET /metrics\n".utf8)
                headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
            }
            headers.add(name: "Content-Length", value: "\(body.count)")
            let keepAlive = head.isKeepAlive
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            if head.method != .HEAD {
                var buffer = context.channel.allocator.buffer(capacity: body.count)
                buffer.writeBytes(body)
                context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            }
            let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            if !keepAlive {
                let channel = context.channel
                done.whenComplete { _ in channel.close(promise: nil) }
            }
        }
    }
}
