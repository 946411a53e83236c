import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Home networks behind NATs, in network namespaces: an "internet" router with a resolver
/// (203.0.113.10), and per home a router namespace that masquerades its LAN (10.K.0.0/24) behind
/// 203.0.113.(10+K), with the firewall of a home router: forwarded traffic only for flows the LAN
/// opened (`ct state established,related`), and (unless `routerInput` is `.accept`) nothing
/// unsolicited to the router itself.
///
/// The internet is a router, not a switch: each attachment has its own link, and the hub answers
/// ARP for the other addresses (proxy ARP) and forwards, so every path between two homes crosses
/// one router hop between their routers, as on the real internet.
///
/// Names carry the test process's pid and a random tag, as in ``Hosts``; deleting the namespaces
/// removes every link with them.
struct NATLab {
    let ip: String
    let nft: String
    let tag: String
    /// Hosts per home: `[home][host]` namespace names.
    let homes: [[String]]
    let routers: [String]
    let hub: String
    let resolverHost: String
    let resolverAddress = "203.0.113.10"

    /// Player hosts on the internet side, without a NAT (203.0.113.51, .52, ...).
    let publicHosts: [String]

    /// What a home router does with unsolicited datagrams to itself.
    enum RouterInput {
        /// Drops them: a home router's input firewall.
        case drop
        /// Takes them (a Linux router with only a forward filter): its connection tracking then
        /// spoils the mapping a host's answer would get (see `NATBehavior.acceptsUnsolicited`).
        case accept
    }

    /// - Parameters:
    ///   - hosts: how many player hosts each home has.
    ///   - publicHosts: player hosts with public addresses (they play after the homes' hosts).
    ///   - symmetric: `masquerade fully-random` (a new public port per destination) instead of a
    ///     port-preserving cone NAT.
    ///   - routerInput: what the routers do with unsolicited datagrams to themselves.
    init(hosts: [Int], publicHosts: Int = 0, symmetric: Bool = false, routerInput: RouterInput = .drop) throws {
        guard let ip = systemTool("ip") else { throw HarnessError.toolMissing("ip") }
        guard let nft = systemTool("nft") else { throw HarnessError.toolMissing("nft") }
        self.ip = ip
        self.nft = nft
        Hosts.sweepStale(ip: ip)
        let tag = "\(getpid())-\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
        self.tag = tag
        hub = "msh-\(tag)"
        resolverHost = "msn-\(tag)-res"
        routers = hosts.indices.map { "msn-\(tag)-r\($0 + 1)" }
        homes = hosts.enumerated().map { k, n in (1...n).map { "msn-\(tag)-h\(k + 1)-\($0)" } }
        self.publicHosts = (0..<publicHosts).map { "msn-\(tag)-p\($0 + 1)" }
        do {
            try build(symmetric: symmetric, routerInput: routerInput)
        } catch {
            destroy()
            throw error
        }
    }

    var all: [String] { [hub, resolverHost] + routers + homes.flatMap { $0 } + publicHosts }

    private func build(symmetric: Bool, routerInput: RouterInput) throws {
        for ns in all { try run(ip, ["netns", "add", ns]) }
        try run(ip, ["netns", "exec", hub, "sysctl", "-qw", "net.ipv4.ip_forward=1"])
        func plug(_ ns: String, port: String, name: String, address: String) throws {
            try run(ip, ["-n", hub, "link", "add", port, "type", "veth", "peer", "name", name, "netns", ns])
            try run(ip, ["netns", "exec", hub, "sysctl", "-qw", "net.ipv4.conf.\(port).proxy_arp=1"])
            try run(ip, ["-n", hub, "addr", "add", "203.0.113.1/32", "dev", port])
            try run(ip, ["-n", hub, "link", "set", port, "up"])
            try run(ip, ["-n", hub, "route", "add", String(address.prefix { $0 != "/" }) + "/32", "dev", port])
            try run(ip, ["-n", ns, "addr", "add", address, "dev", name])
            try run(ip, ["-n", ns, "link", "set", name, "up"])
            try run(ip, ["-n", ns, "link", "set", "lo", "up"])
        }
        try plug(resolverHost, port: "pres", name: "eth0", address: "\(resolverAddress)/24")
        for (k, host) in publicHosts.enumerated() { try plug(host, port: "pp\(k)", name: "eth0", address: "203.0.113.\(51 + k)/24") }
        for (k, router) in routers.enumerated() {
            try plug(router, port: "pr\(k)", name: "wan", address: "203.0.113.\(11 + k)/24")
            try run(ip, ["-n", router, "link", "add", "lanbr", "type", "bridge"])
            try run(ip, ["-n", router, "link", "set", "lanbr", "up"])
            try run(ip, ["-n", router, "addr", "add", "10.\(k + 1).0.1/24", "dev", "lanbr"])
            for (j, host) in homes[k].enumerated() {
                try run(ip, ["-n", router, "link", "add", "lan\(j)", "type", "veth", "peer", "name", "eth0", "netns", host])
                try run(ip, ["-n", router, "link", "set", "lan\(j)", "master", "lanbr"])
                try run(ip, ["-n", router, "link", "set", "lan\(j)", "up"])
                try run(ip, ["-n", host, "addr", "add", "10.\(k + 1).0.\(j + 2)/24", "dev", "eth0"])
                try run(ip, ["-n", host, "link", "set", "eth0", "up"])
                try run(ip, ["-n", host, "link", "set", "lo", "up"])
                try run(ip, ["-n", host, "route", "add", "default", "via", "10.\(k + 1).0.1"])
            }
            try run(ip, ["netns", "exec", router, "sysctl", "-qw", "net.ipv4.ip_forward=1"])
            let ruleset = """
                table ip nat {
                  chain postrouting {
                    type nat hook postrouting priority 100;
                    oifname "wan" masquerade\(symmetric ? " fully-random" : "")
                  }
                }
                table inet firewall {
                  chain forwarding {
                    type filter hook forward priority 0; policy drop;
                    ct state established,related accept
                    iifname "lanbr" accept
                  }
                  chain incoming {
                    type filter hook input priority 0; policy \(routerInput == .drop ? "drop" : "accept");
                    ct state established,related accept
                    iifname { "lanbr", "lo" } accept
                  }
                }
                """
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("meshstep-nat-\(tag)-\(k).nft")
            try ruleset.write(to: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: file) }
            try run(ip, ["netns", "exec", router, nft, "-f", file.path])
        }
    }

    /// Starts `meshstep resolver` on the internet side (UDP 7400).
    func startResolver(binary: String) throws -> Child {
        try Child("resolver", executable: ip, arguments: ["netns", "exec", resolverHost, binary, "resolver", "--port", "7400"])
    }

    /// One `meshstep bot` per host, homes in order, then the public hosts, slots 0, 1, ...; each
    /// knows only the resolver.
    func startBots(binary: String, mesh: String, ticks: Int) throws -> [Child] {
        let hosts = homes.flatMap { $0 } + publicHosts
        return try hosts.enumerated().map { slot, ns in
            try Child(
                "bot \(slot) in \(ns)", executable: ip,
                arguments: [
                    "netns", "exec", ns, binary, "bot", "--mesh", mesh, "--password", "pw", "--players", "\(hosts.count)", "--slot", "\(slot)",
                    "--ticks", "\(ticks)", "--resolver", "\(resolverAddress):7400", "--start-timeout", "20", "--json",
                ])
        }
    }

    /// Makes home `k`'s router give its hosts a new public port, as a NAT that lost its state
    /// does: masquerade to port 40000 from now on, and every UDP mapping forgotten.
    func rebind(home k: Int) throws {
        guard let conntrack = systemTool("conntrack") else { throw HarnessError.toolMissing("conntrack") }
        let router = routers[k]
        try run(ip, ["netns", "exec", router, nft, "flush", "chain", "ip", "nat", "postrouting"])
        try run(
            ip,
            ["netns", "exec", router, nft, "add", "rule", "ip", "nat", "postrouting", "oifname", "wan", "meta", "l4proto", "udp", "masquerade", "to", ":40000"])
        // conntrack exits 1 when nothing matched; the mapping table is empty either way.
        _ = try? run(ip, ["netns", "exec", router, conntrack, "-D", "-p", "udp"])
    }

    func destroy() {
        for ns in all.reversed() { _ = try? run(ip, ["netns", "delete", ns]) }
    }

    func existing() -> Set<String> {
        let listing = (try? run(ip, ["netns", "list"])) ?? ""
        return Set(listing.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) })
    }
}

/// Its own serialized suite, so that it runs beside "Real network" (its bots are few and
/// light; the suites passing side by side is part of what they prove: slowness is not death).
@Suite("NAT traversal", .serialized)
struct NATTraversal {
    /// Plays one match through `lab` and checks that every bot completes it in agreement.
    /// `during` runs 4 s after the bots start (the match is under way by then).
    @discardableResult
    static func play(_ lab: NATLab, ticks: Int = 300, during: ((NATLab) throws -> Void)? = nil) throws -> [BotReport] {
        try playKeepingTranscripts(lab, ticks: ticks, during: during).reports
    }

    /// ``play(_:ticks:during:)``, with what each bot printed (for the messages of checks made on
    /// the reports afterwards).
    static func playKeepingTranscripts(_ lab: NATLab, ticks: Int = 300, during: ((NATLab) throws -> Void)? = nil) throws -> (
        reports: [BotReport], transcripts: String
    ) {
        let binary = try meshstepBinary()
        defer {
            lab.destroy()
            #expect(lab.existing().isDisjoint(with: lab.all), "namespaces left behind")
        }
        let resolver = try lab.startResolver(binary: binary)
        defer { resolver.reap() }
        Thread.sleep(forTimeInterval: 0.3)
        let bots = try lab.startBots(binary: binary, mesh: "nat-\(lab.tag)", ticks: ticks)
        defer { bots.forEach { $0.reap() } }
        if let during {
            Thread.sleep(forTimeInterval: 4)
            #expect(bots.allSatisfy { $0.isRunning }, "a bot ended early:\n\(bots.map(\.transcript).joined(separator: "\n"))")
            try during(lab)
        }
        let statuses = waitAll(bots, timeout: .seconds(60))
        #expect(statuses == Array(repeating: 0, count: bots.count), "\(bots.map(\.transcript).joined(separator: "\n"))")
        let reports = try bots.map { try BotReport.parse($0) }
        for r in reports {
            #expect(r.ticksCompleted == ticks && r.halted == nil && r.desyncs == 0 && r.drops.isEmpty, "slot \(r.slot)")
            // The resolver told each bot its public address: a router's (203.0.113.11...) or its own.
            #expect(r.publicAddress?.hasPrefix("203.0.113.") == true, "slot \(r.slot): \(r.publicAddress ?? "none")")
        }
        #expect(Set(reports.map(\.checksumAtFinalTick)).count == 1, "checksums differ: \(reports.map(\.checksumAtFinalTick))")
        return (reports, bots.map(\.transcript).joined(separator: "\n"))
    }

    @Test(
        "4 players, two behind one home router and two behind another (no hairpinning): the pairs behind one router link by their LAN addresses",
        .enabled(if: Hosts.skipReason == nil, "needs root, ip and nft"))
    func twoHomesOfTwo() throws {
        try Self.play(try NATLab(hosts: [2, 2]))
    }

    @Test(
        "3 players, each behind its own home router (port-preserving masquerade, stateful firewall), find each other through a public resolver; one router forgets its mappings mid-game (a new public port): the others find and probe the new port, nobody is dropped, all finish in agreement",
        .enabled(if: Hosts.skipReason == nil && systemTool("conntrack") != nil, "needs root, ip, nft and conntrack"))
    func rebindingMidGame() throws {
        try Self.play(try NATLab(hosts: [1, 1, 1]), ticks: 600) { lab in try lab.rebind(home: 0) }
    }

    @Test(
        "3 players, each behind a Linux router that takes unsolicited datagrams to itself (masquerade and a stateful forward filter, no input filter, as in issue 13's experiment): the resolver introduces them to each other, each opens its NAT with hop-limited openers before its first Connect, and all link directly and finish in agreement",
        .enabled(if: Hosts.skipReason == nil, "needs root, ip and nft"))
    func routersWithoutInputFilter() throws {
        // Twice, under full CPU load beside the other real-time suites, one pair ended the match
        // relayed (docs/KNOWN_ISSUES.md, fixed in session 38): the bots' transcripts go with a failure.
        let (reports, transcripts) = try Self.playKeepingTranscripts(try NATLab(hosts: [1, 1, 1], routerInput: .accept))
        for r in reports {
            #expect(Set(r.links?.map(\.slot) ?? []) == Set(0..<3).subtracting([r.slot]), "slot \(r.slot) links \(r.links ?? [])\n\(transcripts)")
        }
        print("routers without an input filter: input latency p50 per slot \(reports.map(\.inputLatencyMsP50)) ms")
    }

    @Test(
        "3 players each behind a symmetric NAT (masquerade fully-random: a new public port per destination, stateful firewall) and one public player: no two NATed players can link, their frames travel through the public player, all finish in agreement",
        .enabled(if: Hosts.skipReason == nil, "needs root, ip and nft"))
    func symmetricNATsThroughAPublicPeer() throws {
        let reports = try Self.play(try NATLab(hosts: [1, 1, 1], publicHosts: 1, symmetric: true))
        // Each NATed player links only the public one (slot 3), which relays the others.
        for r in reports.prefix(3) { #expect(r.links?.map(\.slot) == [3], "slot \(r.slot) links \(r.links ?? [])") }
        let relayed = reports[3].relayedMessages ?? 0
        #expect(relayed >= 3 * 2 * 250, "the public player relayed \(relayed) messages")
        let p50 = reports.map(\.inputLatencyMsP50)
        print("symmetric NATs, relayed by the public player: input latency p50 per slot \(p50) ms; relayed \(relayed)")
    }
}
