import MeshstepLockstep
import MeshstepSession
import MeshstepMesh
import MeshstepAddress
import MeshstepWire
import NIOCore

/// What went wrong on the real network. Each message says what to do about it.
public enum NetError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Another program already uses the UDP port.
    case portInUse(host: String, port: Int)
    /// The socket could not be bound for another reason.
    case bindFailed(host: String, port: Int, detail: String)
    /// `HOST:PORT` did not parse or does not resolve.
    case badAddress(String, detail: String)
    /// The mesh refused us: wrong password (or another mesh on that port).
    case refused(address: String, reason: DisconnectReason)
    /// No peer of the mesh answered before the deadline.
    case meshNotFound(meshID: String, seconds: Int)
    /// Not every player showed up before the start deadline.
    case playersMissing(slots: [Int], seconds: Int)
    /// Two peers claim one slot before the start (keys shown shortened).
    case slotContested(slot: Int, keys: [String])
    /// The roster was bound without us: another peer holds our slot.
    case slotTaken(slot: Int, by: String)
    /// The game's checkpoint is larger than state transfer carries.
    case checkpointTooLarge(bytes: Int, limit: Int)
    /// The running match did not let this peer in (rejoin, late join, open slot) in time.
    case notAdmitted(seconds: Int)
    /// The resolver did not answer.
    case resolverUnreachable(String)
    /// The peer was already stopped.
    case stopped
    /// A session setting is out of range (the lockstep configuration says which).
    case invalidSession(LockstepConfigurationError)
    /// A mesh setting is invalid (name, password, neighbor bounds...).
    case invalidMesh(MeshConfigurationError)

    public var description: String {
        switch self {
        case let .portInUse(host, port): "UDP port \(port) on \(host) is in use by another program; pick another with --port (0 picks a free one)"
        case let .bindFailed(host, port, detail): "cannot bind UDP \(host):\(port): \(detail)"
        case let .badAddress(text, detail): "bad address '\(text)': \(detail)"
        case let .refused(address, reason):
            switch reason {
            case .authenticationFailed: "the mesh at \(address) refused us: wrong password (check --password)"
            case .wrongMesh: "the peer at \(address) belongs to another mesh (check --mesh)"
            default: "the mesh at \(address) refused us: \(reason)"
            }
        case let .meshNotFound(meshID, seconds):
            "no peer of mesh '\(meshID)' answered within \(seconds) s; check --peer/--resolver/--lan, the mesh name, and that UDP is not blocked by a firewall"
        case let .playersMissing(slots, seconds):
            "players \(slots.map(String.init).joined(separator: ", ")) did not show up within \(seconds) s; start every player with the same --mesh, --players and distinct --slot"
        case let .slotContested(slot, keys):
            "slot \(slot) is claimed by \(keys.count) different peers (\(keys.joined(separator: ", "))): give every player its own --slot; the match starts when one of them leaves"
        case let .slotTaken(slot, key): "slot \(slot) already belongs to peer \(key) in this session: pick a free --slot, or join as a spectator"
        case let .checkpointTooLarge(bytes, limit):
            "the game's checkpoint takes \(bytes) bytes, more than state transfer carries (\(limit)): make the game's snapshot() smaller, or players who drop cannot come back"
        case let .notAdmitted(seconds): SessionError.notAdmitted(seconds: seconds).description
        case let .resolverUnreachable(address): "the resolver at \(address) does not answer; check the address and that 'meshstep resolver' runs there"
        case .stopped: "the peer has stopped"
        case let .invalidSession(e): "invalid session settings: \(e)"
        case let .invalidMesh(e): "invalid mesh settings: \(e)"
        }
    }
}

/// Parses `HOST:PORT` (`[v6]:port` for IPv6) into a socket address, resolving names
/// (`HostPort/resolve(_:)`, the one parser of the package).
public func parseHostPort(_ text: String) throws(NetError) -> SocketAddress {
    do { return try HostPort.resolve(text) } catch { throw .badAddress(text, detail: "\(error)") }
}
