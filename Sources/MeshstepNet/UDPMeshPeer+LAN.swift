import MeshstepMesh
import MeshstepWire
import NIOCore
import NIOPosix

/// LAN discovery (`--lan`): beacons (`LANBeacon`) to an IPv4 multicast group from the mesh
/// socket, and a listening channel on the group's shared port that turns beacons of this mesh
/// into candidates. A beacon only names a candidate: the mesh handshake still decides.
extension UDPMeshPeer {
    func beacon() -> [UInt8] {
        var beacon = LANBeacon(meshDigest: digest, key: key.bytes, port: UInt16(localAddress.port ?? 0))
        beacon.tag = mesh.credentials.beaconTag(beacon.body)
        return beacon.encode()
    }

    /// Joins the discovery group on a shared port and sends a beacon from the mesh socket now
    /// and every second (so the source address is the one peers must dial).
    func startLAN(group loop: any EventLoop) throws(NetError) {
        let groupAddress: SocketAddress
        do { groupAddress = try SocketAddress(ipAddress: discovery.lanGroup, port: discovery.lanPort) } catch {
            throw .badAddress(discovery.lanGroup, detail: "not an IPv4 multicast address")
        }
        let handler = LANHandler()
        handler.peer = self
        do {
            let channel = try DatagramBootstrap(group: loop)
                .channelOption(.socketOption(.so_reuseaddr), value: 1)
                .channelOption(.socketOption(NIOBSDSocket.Option(rawValue: SO_REUSEPORT)), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
                }
                .bind(host: "0.0.0.0", port: discovery.lanPort)
                .wait()
            guard let multicast = channel as? any MulticastChannel else {
                throw NetError.bindFailed(host: "0.0.0.0", port: discovery.lanPort, detail: "no multicast support")
            }
            try multicast.joinGroup(groupAddress).wait()
            lanChannel = channel
        } catch {
            throw .bindFailed(host: "0.0.0.0", port: discovery.lanPort, detail: "LAN discovery: \(error)")
        }
        let beaconBytes = beacon()
        lanTimer = loop.scheduleRepeatedTask(initialDelay: .zero, delay: .seconds(1)) { [weak self] _ in
            guard let self, !self.stopped else { return }
            // Only while the mesh wants more neighbors: a settled node stays quiet.
            if self.mesh.neighborCount < self.mesh.configuration.idealNeighbors {
                self.sendDatagram(beaconBytes, to: groupAddress)
            }
        }
    }

    func receivedBeacon(_ bytes: [UInt8], from address: SocketAddress) {
        // Junk, another mesh, or a beacon from someone without the password: ignored.
        guard !stopped, let beacon = try? LANBeacon.decode(bytes), beacon.meshDigest == digest,
            mesh.credentials.verifyBeaconTag(beacon.tag, body: beacon.body)
        else { return }
        let peerKey = PeerKey(bytes: beacon.key)
        guard peerKey != key, case let .ipv4(ip, _)? = MeshAddress(address) else { return }
        perform(mesh.addCandidates([Referral(peer: peerKey, address: .ipv4(ip, port: beacon.port))], now: now))
    }

    final class LANHandler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        weak var peer: UDPMeshPeer?

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let envelope = unwrapInboundIn(data)
            var buffer = envelope.data
            let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
            // The listening channel runs on the peer's loop: the mesh may be touched directly.
            peer?.receivedBeacon(bytes, from: envelope.remoteAddress)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {}
    }

}
