import MeshstepMesh
import MeshstepWire

/// How a simulated NAT maps and filters (RFC 4787's behaviours).
public struct NATBehavior: Sendable, Equatable, CustomStringConvertible {
    /// What a mapping or a filter is bound to.
    public enum Scope: String, Sendable, CaseIterable {
        /// Anything: one public port per host whatever the destination; anyone may send to it.
        case endpointIndependent = "endpoint-independent"
        /// The remote IP address.
        case addressDependent = "address-dependent"
        /// The remote IP address and port (a "symmetric" NAT when it is the mapping).
        case addressAndPortDependent = "address-and-port-dependent"
    }

    /// Which destinations share a public port: endpoint-independent mapping keeps one per host.
    public var mapping: Scope
    /// Who may send in through a host's public port: only endpoints (or addresses) the host has
    /// sent to, unless endpoint-independent.
    public var filtering: Scope

    /// A NAT with these behaviours.
    public init(mapping: Scope, filtering: Scope) {
        self.mapping = mapping
        self.filtering = filtering
    }

    /// The router itself takes what its filter keeps from its hosts (no input firewall), as a
    /// Linux router with only a forward filter does: its connection tracking remembers each
    /// such datagram's sender and port for 30 s (renewed by every repeat), drops the repeats,
    /// and gives a host's datagram to that sender another public port, since the mapping it
    /// would get is taken. Two such routers whose hosts send to each other before both have
    /// opened their side never meet on the ports the resolver lists.
    public var acceptsUnsolicited = false

    /// A NAT with these behaviours.
    public init(mapping: Scope, filtering: Scope, acceptsUnsolicited: Bool) {
        self.mapping = mapping
        self.filtering = filtering
        self.acceptsUnsolicited = acceptsUnsolicited
    }

    /// A home router: one port per host, only replies let in.
    public static let homeRouter = NATBehavior(mapping: .endpointIndependent, filtering: .addressAndPortDependent)

    /// A home router built from Linux with only a forward filter (``acceptsUnsolicited``).
    public static let linuxRouterWithoutInputFilter = NATBehavior(mapping: .endpointIndependent, filtering: .addressAndPortDependent, acceptsUnsolicited: true)

    /// "mapping / filtering".
    public var description: String {
        "\(mapping.rawValue) mapping, \(filtering.rawValue) filtering\(acceptsUnsolicited ? ", unsolicited datagrams taken by the router" : "")"
    }
}

/// One NAT in the simulated network: a public IPv4 address, its mappings and what each host has
/// sent to. Mappings never expire within a run.
struct SimulatedNAT {
    let behavior: NATBehavior
    let publicIP: UInt32
    var nextPort: UInt16 = 20_000
    var mappings: [Int: [MeshAddress?: UInt16]] = [:]
    var owner: [UInt16: Int] = [:]
    var contacted: [Int: Set<MeshAddress>] = [:]
    /// ``NATBehavior/acceptsUnsolicited``: when the router last took a datagram from each
    /// (sender, public port) for itself.
    var takenByRouter: [TakenPort: MeshTime] = [:]
    /// Per-destination ports given where the usual mapping's port was taken by the router.
    var displaced: [Int: [MeshAddress: UInt16]] = [:]

    struct TakenPort: Hashable {
        var sender: MeshAddress
        var port: UInt16
    }

    /// How long the router remembers a datagram it took (Linux's unreplied UDP timeout).
    static let takenLifetime: Duration = .seconds(30)

    func isTaken(_ port: UInt16, by sender: MeshAddress, now: MeshTime) -> Bool {
        takenByRouter[TakenPort(sender: sender, port: port)].map { now - $0 < Self.takenLifetime } ?? false
    }

    /// The public source of a datagram host `node` sends to `destination` (creating the mapping).
    mutating func outbound(from node: Int, to destination: MeshAddress, now: MeshTime) -> MeshAddress {
        let key: MeshAddress? =
            switch behavior.mapping {
            case .endpointIndependent: nil
            case .addressDependent: destination.withPort(0)
            case .addressAndPortDependent: destination
            }
        contacted[node, default: []].insert(destination)
        if let port = displaced[node]?[destination] { return .ipv4(publicIP, port: port) }
        if let port = mappings[node]?[key] {
            guard isTaken(port, by: destination, now: now) else { return .ipv4(publicIP, port: port) }
            // The answer's tuple belongs to the router's own entry: another port for this flow.
            let other = newPort(for: node)
            displaced[node, default: [:]][destination] = other
            return .ipv4(publicIP, port: other)
        }
        let port = newPort(for: node)
        mappings[node, default: [:]][key] = port
        return .ipv4(publicIP, port: port)
    }

    private mutating func newPort(for node: Int) -> UInt16 {
        let port = nextPort
        nextPort &+= 1
        owner[port] = node
        return port
    }

    /// The host a datagram from `source` to public `port` reaches, or nil when the NAT drops it
    /// (or, ``NATBehavior/acceptsUnsolicited``, takes it).
    mutating func inbound(to port: UInt16, from source: MeshAddress, now: MeshTime) -> Int? {
        let taken = TakenPort(sender: source, port: port)
        if isTaken(port, by: source, now: now) {
            takenByRouter[taken] = now
            return nil
        }
        let node = owner[port]
        let sent = node.flatMap { contacted[$0] } ?? []
        let passes =
            switch behavior.filtering {
            case .endpointIndependent: node != nil
            case .addressDependent: sent.contains { $0.withPort(0) == source.withPort(0) }
            case .addressAndPortDependent: sent.contains(source)
            }
        if passes, let node, displaced[node]?[source].map({ $0 == port }) ?? true { return node }
        if behavior.acceptsUnsolicited { takenByRouter[taken] = now }
        return nil
    }
}

extension MeshSimulator {
    /// Adds a NAT with public address 198.51.100.(k + 1); put nodes behind it with
    /// ``addNode(credentials:configuration:behind:)``.
    @discardableResult
    public func addNAT(_ behavior: NATBehavior) -> Int {
        nats.append(SimulatedNAT(behavior: behavior, publicIP: 0xC633_6400 | UInt32(nats.count + 1)))
        return nats.count - 1
    }

    /// Makes NAT `k` forget every mapping, as a router that restarts or runs out of table does:
    /// its hosts' next datagrams get new public ports, and nothing from outside gets in until
    /// they have sent again.
    public func rebindNAT(_ k: Int) {
        let next = nats[k].nextPort &+ 1000
        nats[k] = SimulatedNAT(behavior: nats[k].behavior, publicIP: nats[k].publicIP, nextPort: next)
    }

    /// The public IPv4 address of NAT `k`.
    public func publicAddress(ofNAT k: Int) -> UInt32 { nats[k].publicIP }

    /// Adds a node behind NAT `nat`, at the private address 10.(nat + 1).0.(n + 2), port 7000.
    /// Nodes behind one NAT reach each other by their private addresses (not through the NAT's
    /// public one: no hairpinning); anyone else reaches them only through the NAT's mappings and
    /// filters, and nobody outside reaches a private address.
    @discardableResult
    public func addNode(credentials: MeshCredentials, configuration: MeshConfiguration, behind nat: Int) throws -> Int {
        let lan = natOf.values.filter { $0 == nat }.count
        let address = MeshAddress.ipv4(0x0A00_0000 | UInt32(nat + 1) << 16 | UInt32(lan + 2), port: 7000)
        let index = try addNode(credentials: credentials, configuration: configuration, at: address)
        natOf[index] = nat
        return index
    }

    /// Where a datagram from node `i` (nil: the hosted resolver) with source `source` to `address`
    /// ends up: the receiving node and the source it sees, or nil when no node gets it (no such
    /// address, another NAT's private address, or a NAT's filter).
    func route(from i: Int?, source: MeshAddress, to address: MeshAddress) -> (node: Int, source: MeshAddress)? {
        var seenSource = source
        // Leaving a NAT: same LAN goes direct, anything else gets the NAT's public source.
        if let i, let nat = natOf[i] {
            if let j = addressIndex[address], natOf[j] == nat { return (j, source) }
            // No hairpinning (as Linux's masquerade): the NAT's own public address is not
            // reachable from behind it.
            if address.ipv4Value == nats[nat].publicIP { return nil }
            seenSource = nats[nat].outbound(from: i, to: address, now: now)
        }
        // Entering a NAT through its public address.
        if let ip = address.ipv4Value, let nat = nats.firstIndex(where: { $0.publicIP == ip }) {
            guard let j = nats[nat].inbound(to: address.port, from: seenSource, now: now) else {
                natDrops += 1
                return nil
            }
            return (j, seenSource)
        }
        guard let j = addressIndex[address] else { return nil }
        if natOf[j] != nil { return nil }  // a private address, from outside its LAN
        return (j, seenSource)
    }

    /// The public source a datagram from node `i` to the hosted resolver carries.
    func natSource(from i: Int, to address: MeshAddress, source: MeshAddress) -> MeshAddress {
        guard let nat = natOf[i] else { return source }
        return nats[nat].outbound(from: i, to: address, now: now)
    }

    /// A path opener (PROTOCOL.md §6.7) with a hop limit of 2 or less: it reaches the sender's
    /// own LAN, and otherwise crosses the sender's NAT (which maps it) and expires one hop later,
    /// short of any other router or host. With a limit of 1 it does not even cross the NAT.
    func transmitOpener(_ bytes: [UInt8], from i: Int, to address: MeshAddress, hopLimit: UInt8) {
        let sameLAN = addressIndex[address].map { j in natOf[j] != nil && natOf[j] == natOf[i] } ?? false
        if hopLimit > 2 || sameLAN { return transmit(bytes, from: i, to: address) }
        datagramsSent += 1
        datagramsDropped += 1
        if hopLimit == 2, let nat = natOf[i], address.ipv4Value != nats[nat].publicIP { _ = nats[nat].outbound(from: i, to: address, now: now) }
    }
}
