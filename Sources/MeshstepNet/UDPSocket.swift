import Foundation
import MeshstepMesh
import NIOCore
import NIOPosix

// The socket-level plumbing of the UDP shell: binding the socket, and the one timer per event
// loop that the mesh's and the resolver client's deadlines re-arm.

extension UDPMeshPeer {
    /// A non-blocking UDP socket bound to `address` (dual-stack for `::`).
    static func bindSocket(_ address: SocketAddress, host: String, port: Int) throws(NetError) -> CInt {
        let family: CInt
        switch address {
        case .v4: family = AF_INET
        case .v6: family = AF_INET6
        default: throw .badAddress(host, detail: "not an IP address")
        }
        let fd = socket(family, CInt(SOCK_DGRAM.rawValue) | CInt(SOCK_NONBLOCK.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .bindFailed(host: host, port: port, detail: String(cString: strerror(errno))) }
        if family == AF_INET6 {
            var off: CInt = 0
            _ = setsockopt(fd, CInt(IPPROTO_IPV6), IPV6_V6ONLY, &off, socklen_t(MemoryLayout<CInt>.size))
        }
        let result = address.withSockAddr { sa, len in bind(fd, sa, socklen_t(len)) }
        if result != 0 {
            let code = errno
            close(fd)
            if code == EADDRINUSE { throw .portInUse(host: host, port: port) }
            throw .bindFailed(host: host, port: port, detail: String(cString: strerror(code)))
        }
        return fd
    }
}

/// One pending timer on an event loop, re-armed only when the wanted deadline changes.
struct DeadlineTimer {
    private var task: Scheduled<Void>?
    private var deadline: MeshTime?

    /// Fires `body` at `wanted` (protocol time since `origin`), replacing an earlier deadline.
    mutating func arm(_ wanted: MeshTime, origin: NIODeadline, on loop: any EventLoop, _ body: @escaping @Sendable () -> Void) {
        if deadline == wanted { return }
        task?.cancel()
        deadline = wanted
        task = loop.scheduleTask(deadline: .uptimeNanoseconds(origin.uptimeNanoseconds + UInt64(max(0, wanted.nanoseconds))), body)
    }

    /// Call first thing when the timer fires, so the next `arm` schedules again.
    mutating func fired() { deadline = nil }

    mutating func cancel() {
        task?.cancel()
        task = nil
        deadline = nil
    }
}
