import Foundation
import Logging
import MeshstepAddress
import MeshstepMesh
import MeshstepResolver
import MeshstepWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle

/// Why a ``ResolverServer`` could not start, each saying what to do.
public enum ResolverServerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Another socket holds the UDP port.
    case portInUse(host: String, port: Int, detail: String)
    /// `--host` is neither an IP address nor a name that resolves.
    case invalidHost(String, detail: String)
    /// The port is outside 0...65535.
    case invalidPort(Int)
    /// Binding failed for another reason (permissions, address not on this machine...).
    case bindFailed(host: String, port: Int, detail: String)
    /// The configuration is invalid.
    case invalidConfiguration(ResolverConfigurationError)

    public var description: String {
        switch self {
        case let .portInUse(_, port, detail):
            "port \(port) is in use (\(detail)); pick another with --port"
        case let .invalidHost(host, detail):
            "cannot listen on host \"\(host)\" (\(detail)); pass an IP address of this machine, 0.0.0.0 for all IPv4 addresses or :: for IPv6 and IPv4"
        case let .invalidPort(port):
            "port \(port) is not a UDP port; pass --port between 1 and 65535"
        case let .bindFailed(host, port, detail):
            "cannot listen on \(host) port \(port): \(detail); ports below 1024 need root, and the host must be an address of this machine"
        case let .invalidConfiguration(e):
            e.description
        }
    }
}

/// A running resolver: a `ResolverService` on a SwiftNIO UDP socket.
///
/// ```swift
/// let server = try ResolverServer.start(host: "127.0.0.1", port: 0, logger: logger)
/// print("resolver on port \(server.localPort)")
/// let finalStats = server.stop()
/// ```
///
/// The service runs on one event loop; a repeated task expires registrations every
/// ``tickInterval``. All methods are thread-safe; ``stop()`` and ``stats()`` block until the
/// event loop answered, so do not call them from that event loop.
public final class ResolverServer: Sendable {
    /// How often registrations are checked for expiry.
    public static let tickInterval: TimeAmount = .seconds(1)

    /// The UDP port the server listens on (the bound port when started with port 0).
    public let localPort: Int
    /// The bound address.
    public let localAddress: SocketAddress
    private let channel: any Channel
    private let handler: NIOLoopBound<ResolverHandler>
    private let ownedGroup: MultiThreadedEventLoopGroup?
    /// The figures at the moment the server stopped (nil while it runs).
    private let finalStats = NIOLockedValueBox<ResolverStats?>(nil)

    private init(channel: any Channel, handler: NIOLoopBound<ResolverHandler>, ownedGroup: MultiThreadedEventLoopGroup?, localAddress: SocketAddress) {
        self.channel = channel
        self.handler = handler
        self.ownedGroup = ownedGroup
        self.localAddress = localAddress
        localPort = localAddress.port ?? 0
    }

    /// Binds a UDP socket and starts serving.
    /// - Parameters:
    ///   - host: the address to bind: `0.0.0.0` (all IPv4 addresses), `::` (IPv6 and, on
    ///     Linux, IPv4 too), or one address of this machine.
    ///   - port: the UDP port; 0 picks a free one (see ``localPort``).
    ///   - configuration: limits and TTL.
    ///   - seed: seeds the random samples; system randomness when nil.
    ///   - logger: receives one info line per register, unregister and expiry; drops at debug.
    ///   - group: an event loop group to run on; when nil the server creates (and on stop shuts
    ///     down) a one-thread group of its own.
    /// - Throws: ``ResolverServerError``.
    public static func start(
        host: String = "0.0.0.0",
        port: Int,
        configuration: ResolverConfiguration = ResolverConfiguration(),
        seed: UInt64? = nil,
        logger: Logger,
        group: (any EventLoopGroup)? = nil
    ) throws(ResolverServerError) -> ResolverServer {
        do { try configuration.validate() } catch { throw .invalidConfiguration(error) }
        guard (0...65535).contains(port) else { throw .invalidPort(port) }
        let address: SocketAddress
        do {
            address = try SocketAddress(ipAddress: host, port: port)
        } catch {
            do {
                address = try SocketAddress.makeAddressResolvingHost(host, port: port)
            } catch {
                throw .invalidHost(host, detail: "\(error)")
            }
        }
        let ownedGroup = group == nil ? MultiThreadedEventLoopGroup(numberOfThreads: 1) : nil
        let loop = (group ?? ownedGroup!).next()
        let service = ResolverService(configuration: configuration, seed: seed ?? UInt64.random(in: .min ... .max))
        let channel: any Channel
        let bound: NIOLoopBound<ResolverHandler>
        do {
            // No SO_REUSEADDR: on Linux it would let two resolvers share a UDP port silently.
            let promise = loop.makePromise(of: NIOLoopBound<ResolverHandler>.self)
            channel = try DatagramBootstrap(group: loop)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let handler = ResolverHandler(service: service, logger: logger)
                        try channel.pipeline.syncOperations.addHandler(handler)
                        promise.succeed(NIOLoopBound(handler, eventLoop: channel.eventLoop))
                    }
                }
                .bind(to: address)
                .wait()
            bound = try promise.futureResult.wait()
        } catch {
            try? ownedGroup?.syncShutdownGracefully()
            if let io = error as? IOError, io.errnoCode == EADDRINUSE {
                throw .portInUse(host: host, port: port, detail: "another program is bound to UDP \(host) port \(port)")
            }
            throw .bindFailed(host: host, port: port, detail: "\(error)")
        }
        let server = ResolverServer(channel: channel, handler: bound, ownedGroup: ownedGroup, localAddress: channel.localAddress ?? address)
        logger.info(
            "resolver listening on UDP \(host) port \(server.localPort) (ttl \(configuration.ttlSeconds)s, max \(configuration.maxPeersPerMesh) peers per mesh)"
        )
        return server
    }

    /// Current counters.
    public func stats() -> ResolverStats {
        if let final = finalStats.withLockedValue({ $0 }) { return final }
        let handler = self.handler
        return (try? channel.eventLoop.submit { handler.value.service.stats }.wait()) ?? ResolverStats()
    }

    /// Stops serving, closes the socket, shuts down the server's own event loop group, and
    /// returns the final counters. Safe to call more than once.
    @discardableResult
    public func stop() -> ResolverStats {
        if let final = finalStats.withLockedValue({ $0 }) { return final }
        let handler = self.handler
        let final =
            (try? channel.eventLoop.submit { () -> ResolverStats in
                handler.value.stopTicking()
                return handler.value.service.stats
            }.wait()) ?? ResolverStats()
        try? channel.close().wait()
        try? ownedGroup?.syncShutdownGracefully()
        finalStats.withLockedValue { $0 = final }
        return final
    }
}

extension ResolverServer: Service {
    /// Serves until graceful shutdown (a `ServiceGroup` turns SIGTERM and SIGINT into one), then
    /// stops as ``stop()`` does; ``stats()`` then gives the final counters.
    public func run() async throws {
        try? await gracefulShutdown()
        stop()
    }
}

/// A lock-protected slot for the final stats.
/// Drives a `ResolverService` from a datagram channel. Lives on the channel's event loop.
final class ResolverHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    var service: ResolverService
    /// Every tick: the service's counters to swift-metrics (`meshstep_resolver_*`).
    var metrics = StatsExporter(prefix: "meshstep_resolver", gauges: ["registrations", "meshes"])
    private let logger: Logger
    private var channel: (any Channel)?
    private var task: RepeatedTask?
    private var isIPv6Socket = false

    init(service: ResolverService, logger: Logger) {
        self.service = service
        self.logger = logger
    }

    static func monotonicNow() -> MeshTime { MeshTime(nanoseconds: Int64(NIODeadline.now().uptimeNanoseconds)) }
    static func wallClock() -> UInt64 { UInt64(max(0, Date().timeIntervalSince1970 * 1000)) }

    func handlerAdded(context: ChannelHandlerContext) {
        channel = context.channel
    }

    func channelActive(context: ChannelHandlerContext) {
        if case .v6 = context.channel.localAddress { isIPv6Socket = true }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        task = context.eventLoop.scheduleRepeatedTask(initialDelay: ResolverServer.tickInterval, delay: ResolverServer.tickInterval) { _ in
            let handler = bound.value
            handler.perform(handler.service.tick(now: Self.monotonicNow(), wallClock: Self.wallClock()))
            handler.metrics.export(handler.service.stats)
        }
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { stopTicking() }

    func stopTicking() {
        task?.cancel()
        task = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        guard let source = MeshAddress(envelope.remoteAddress) else { return }
        let bytes = Array(envelope.data.readableBytesView)
        perform(service.receive(bytes, from: source, now: Self.monotonicNow(), wallClock: Self.wallClock()))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A UDP socket can report ICMP errors of earlier sends; they are no reason to stop.
        logger.debug("socket error (ignored): \(error)")
    }

    private func perform(_ actions: [ResolverServiceAction]) {
        var wrote = false
        for action in actions {
            switch action {
            case let .log(level, line):
                logger.log(level: level, "\(line)")
            case let .send(bytes, to: address):
                guard let channel, let target = try? SocketAddress(address, mappedToIPv6: isIPv6Socket) else { continue }
                var buffer = channel.allocator.buffer(capacity: bytes.count)
                buffer.writeBytes(bytes)
                channel.write(AddressedEnvelope(remoteAddress: target, data: buffer), promise: nil)
                wrote = true
            }
        }
        if wrote { channel?.flush() }
    }
}
