import MeshstepWire

/// Neighbor maintenance, keepalives, handshake timers, rate-limit strikes and punishment.
extension MeshNode {
    // MARK: Candidates

    /// - Parameter fromResolver: referrals from the application's discovery (the resolver), not
    ///   from a peer: only those may send a probe to a quiet neighbor's new address, so that no
    ///   member can aim our datagrams at an address of its choosing.
    mutating func learn(_ referrals: [Referral], fromResolver: Bool = false, now: MeshTime) {
        for r in referrals where r.peer != key && r.address != localAddress {
            if let n = neighbors[r.peer] {
                // A quiet neighbor listed at another address: its NAT may have moved it there.
                if fromResolver, n.address != r.address, now - n.lastHeard >= configuration.keepaliveInterval * 2 { probe(r.peer, at: r.address, now: now) }
                continue
            }
            addCandidate(address: r.address, key: r.peer, now: now)
        }
    }

    /// A fresh keepalive nonce for the link at `index`, kept (the last 4) to match its Pong.
    mutating func pingNonce(link index: Int, now: MeshTime) -> UInt64 {
        let nonce = rng.next()
        neighbors.values[index].pendingPings.append((nonce, now))
        if neighbors.values[index].pendingPings.count > 4 { neighbors.values[index].pendingPings.removeFirst() }
        return nonce
    }

    /// Sends a keepalive of the link to `peer` to `address` instead of the link's own: if the
    /// peer is there, its answer comes from there and moves the link (roaming, ``movedNeighbor``).
    /// The datagram also opens our NAT towards that address.
    mutating func probe(_ peer: PeerKey, at address: MeshAddress, now: MeshTime) {
        guard let i = neighbors.index(forKey: peer) else { return }
        let bytes = seal(.ping(Ping(nonce: pingNonce(link: i, now: now), degree: UInt8(clamping: neighbors.count), summary: [])), link: i)
        stats.datagramsSent += 1
        stats.bytesSent += bytes.count
        stats.probesSent += 1
        out.append(.send(bytes, to: address))
    }

    mutating func addCandidate(address: MeshAddress, key peer: PeerKey?, now: MeshTime) {
        if var c = candidates[address] {
            // A refusal for a wrong password or mesh is final for that address.
            if let peer, c.key != peer, c.failures < 99 { c.key = peer; c.failures = 0 }
            candidates[address] = c
            return
        }
        if let peer, isBanned(peer, now: now) { return }
        candidates[address] = Candidate(key: peer)
        if candidates.count > 64, let evict = candidates.values.firstIndex(where: { $0.failures < 99 }) { candidates.remove(at: evict) }
    }

    mutating func candidateFailed(_ address: MeshAddress, permanent: Bool, now: MeshTime) {
        var c = candidates[address] ?? Candidate(key: nil)
        if permanent {
            // Kept, not dropped, so that a later referral cannot bring the address back; at most
            // 32 such entries (the oldest goes), so they can never crowd out real candidates.
            if c.failures < 99, candidates.values.filter({ $0.failures >= 99 }).count >= 32,
                let oldest = candidates.values.firstIndex(where: { $0.failures >= 99 })
            {
                candidates.remove(at: oldest)
            }
            c.failures = 99
            c.retryAfter = now + .seconds(3600)
            candidates[address] = c
            return
        }
        c.failures += 1
        if c.failures >= 4, !(c.key.map { protectedPeers.contains($0) } ?? false) {
            candidates[address] = nil
            return
        }
        c.retryAfter = now + .seconds(1 << c.failures)
        candidates[address] = c
    }

    /// Candidates we could dial now, in their stable insertion order.
    func dialable(now: MeshTime) -> [MeshAddress] {
        var list: [MeshAddress] = []
        for (address, c) in candidates where c.retryAfter <= now && c.failures < 99 {
            if neighborByAddress[address] != nil || outgoing[address] != nil || incoming[address] != nil { continue }
            if let k = c.key, neighbors[k] != nil || isBanned(k, now: now) { continue }
            list.append(address)
        }
        return list
    }

    // MARK: Maintenance (Peer Channel's maintainer, every second instead of every 5 minutes)

    mutating func maintain(now: MeshTime) {
        guard running else { return }
        let c = configuration
        var pool = dialable(now: now)
        // Protected peers (a lockstep session's players) first: dial any that is not linked.
        if !protectedPeers.isEmpty {
            for address in pool where candidates[address]?.key.map({ protectedPeers.contains($0) }) == true {
                connect(to: address, now: now)
            }
            pool.removeAll { outgoing[$0] != nil }
        }
        var wanted = c.idealNeighbors - neighbors.count - peersBeingDialled()
        if wanted > 0 {
            while wanted > 0, !pool.isEmpty {
                connect(to: pool.remove(at: Int(rng.next(upperBound: UInt64(pool.count)))), now: now)
                wanted -= 1
            }
            if wanted > 0 { requestResolve(now: now) }
        }
        // Below the minimum of links, or a session peer without one: ask where peers are (and,
        // with introductions, ask them to open their side), even while handshakes that may
        // never answer (a peer's LAN address from another network) fill the wanted links.
        if neighbors.count < c.minNeighbors || protectedPeers.contains(where: { $0 != key && neighbors[$0] == nil }) { requestResolve(now: now) }
        if now >= nextExploreAt {
            // Occasionally try one new peer while there is room: this is what rejoins the two
            // halves of a healed partition, whose nodes are otherwise content with their links.
            nextExploreAt = now + jittered(c.exploreInterval)
            if neighbors.count < c.maxNeighbors {
                let pool = dialable(now: now)
                if !pool.isEmpty { connect(to: pool[Int(rng.next(upperBound: UInt64(pool.count)))], now: now) }
            }
            requestResolve(now: now)
        }
        if neighbors.count > c.idealNeighbors {
            // Close the least useful trusted link whose other end also has more than it needs.
            var victim: PeerKey?
            var lowest = Int.max
            for n in neighbors.values
            where n.utilitySamples >= 32 && n.reportedDegree > c.idealNeighbors && n.utility < lowest && !protectedPeers.contains(n.key) {
                lowest = n.utility
                victim = n.key
            }
            if let victim { closeLink(victim, reason: .notUseful, now: now, notify: true) }
        }
    }

    /// - Parameter early: an answer just brought peers to be introduced to: ask again now
    ///   rather than after ``MeshConfiguration/resolveInterval``, at most once per interval.
    mutating func requestResolve(now: MeshTime, early: Bool = false) {
        if early {
            guard now >= nextEarlyResolveAt else { return }
            nextEarlyResolveAt = now + configuration.resolveInterval
        } else {
            guard now >= nextResolveAt else { return }
        }
        nextResolveAt = now + configuration.resolveInterval
        requestedIntroductions = openForIntroductions(now: now)
        out.append(.resolve(introduce: requestedIntroductions))
    }

    /// Most peers one resolve asks to be introduced to (the resolver's `maxIntroductions`).
    static let maxIntroductionsPerResolve = 10

    /// The peers a resolve asks to be introduced to (PROTOCOL.md §6.7), each sent an opener
    /// first: the unlinked candidates at addresses that may be behind a NAT, protected peers
    /// first, others only while the node wants more links. The openers go out before the
    /// request, so this node's NAT is open toward every listed peer before the resolver can
    /// tell that peer to send: an order of events, not a race against the other side's timer.
    func introductionTargets(now: MeshTime) -> [(key: PeerKey, addresses: [MeshAddress])] {
        guard introductionsInUse, wantsIntroductions else { return [] }
        let wantsMore = neighbors.count < configuration.idealNeighbors
        var targets: [(key: PeerKey, addresses: [MeshAddress])] = []
        for protected in [true, false] where protected || wantsMore {
            for (address, c) in candidates where c.failures < 99 {
                guard let k = c.key, protectedPeers.contains(k) == protected, neighbors[k] == nil, address.mayBeBehindNAT, !isBanned(k, now: now)
                else { continue }
                if let i = targets.firstIndex(where: { $0.key == k }) {
                    targets[i].addresses.append(address)
                } else if targets.count < Self.maxIntroductionsPerResolve {
                    targets.append((k, [address]))
                }
            }
        }
        return targets
    }

    mutating func openForIntroductions(now: MeshTime) -> [PeerKey] {
        let targets = introductionTargets(now: now)
        if configuration.openerHopLimit > 0 { for t in targets { for a in t.addresses { sendOpener(to: a) } } }
        return targets.map(\.key)
    }

    // MARK: Housekeeping (every 100 ms)

    mutating func housekeeping(now: MeshTime) {
        let c = configuration
        // Handshakes: retransmit, then give up.
        for (address, var hs) in outgoing {
            if let until = hs.openUntil {
                // Opening the path (§6.7): openers every handshake retry, then the Connect.
                if now >= until {
                    hs.openUntil = nil
                    hs.lastSentAt = now
                    hs.phaseSentAt = now
                    outgoing[address] = hs
                    sendRaw(hs.lastSent, to: address)
                    scheduleHandshakeRetry(to: address)
                    continue
                } else if now - hs.lastSentAt >= c.handshakeRetry {
                    hs.lastSentAt = now
                    sendOpener(to: address)
                }
                outgoing[address] = hs
                continue
            }
            if now - hs.startedAt >= c.handshakeTimeout {
                outgoing[address] = nil
                candidateFailed(address, permanent: false, now: now)
                if hs.authenticationDoubted { emit(.connectRefused(address, reason: .authenticationFailed)) }
            } else {
                retransmitHandshake(to: address, now: now)
            }
        }
        for (address, hs) in incoming where now - hs.startedAt >= c.handshakeTimeout { incoming[address] = nil }
        if !introductionFallback.isEmpty { dialIntroductionFallbacks(now: now) }

        let secondBoundary = now - lastScoreDecay >= .seconds(1)
        if secondBoundary { lastScoreDecay = now }
        var toClose: [(PeerKey, DisconnectReason)] = []
        for i in neighbors.values.indices {
            let k = neighbors.keys[i]
            if now - neighbors.values[i].lastHeard >= c.deadLinkTimeout {
                toClose.append((k, .timedOut))
                continue
            }
            if neighbors.values[i].nextPingAt <= now {
                neighbors.values[i].nextPingAt = now + jittered(c.keepaliveInterval)
                let entries = summary(for: i, now: now)
                // A link that brought us something within the interval is alive, and one with an
                // empty summary has nothing to announce: its keepalive (and the answer) is skipped,
                // but for every `keepaliveSkips + 1`-th, which samples the round trip, and every one
                // until a first sample came back (a lockstep session times loss repair by it).
                if now - neighbors.values[i].lastHeard < c.keepaliveInterval, entries.full.isEmpty, entries.known.isEmpty,
                    neighbors.values[i].keepalivesSkipped < Self.keepaliveSkips, neighbors.values[i].srtt != nil
                {
                    neighbors.values[i].keepalivesSkipped += 1
                } else {
                    neighbors.values[i].keepalivesSkipped = 0
                    let ping = Ping(nonce: pingNonce(link: i, now: now), degree: UInt8(clamping: neighbors.count), summary: entries.full, known: entries.known)
                    sendLinkMessage(.ping(ping), to: k, now: now)
                }
            }
            // Slow link: a backlog that does not drain.
            if neighbors.values[i].queue.count > c.slowBacklog {
                if let since = neighbors.values[i].backlogSince {
                    if now - since >= c.slowTimeout { toClose.append((k, .tooSlow)) }
                } else {
                    neighbors.values[i].backlogSince = now
                }
            } else {
                neighbors.values[i].backlogSince = nil
            }
            if secondBoundary {
                // A strike for every second in which more than a tenth of the allowance was dropped.
                let drops = neighbors.values[i].dropsThisSecond
                neighbors.values[i].dropsThisSecond = 0
                if drops > max(1, c.inboundLimit.messagesPerSecond / 10) {
                    neighbors.values[i].strikes += 1
                    if neighbors.values[i].strikes >= c.rateLimitStrikes { toClose.append((k, .rateLimited)) }
                } else if drops == 0 {
                    neighbors.values[i].strikes = max(0, neighbors.values[i].strikes - 1)
                }
                // Misbehaviour scores decay with a half-life of about ten seconds.
                neighbors.values[i].score = neighbors.values[i].score * 15 / 16
            }
        }
        for (k, reason) in toClose {
            if reason == .rateLimited { punish(k, reason: reason, now: now) } else { closeLink(k, reason: reason, now: now, notify: true) }
        }
        // Quiet links (nothing heard for two keepalive intervals): the peer's NAT may have given
        // it a new public port. Ask the resolver where it is now, every half interval while it
        // lasts, and probe what it says (`learn`). All links quiet at once points at our own NAT:
        // register again, so the resolver tells the others (at most every two seconds).
        if now >= nextQuietResolveAt, !neighbors.isEmpty {
            let quiet = neighbors.values.reduce(0) { $0 + (now - $1.lastHeard >= c.keepaliveInterval * 2 ? 1 : 0) }
            if quiet > 0 {
                nextQuietResolveAt = now + c.keepaliveInterval / 2
                out.append(.locate)
                if quiet == neighbors.count, now >= nextReregisterAt {
                    nextReregisterAt = now + .seconds(2)
                    out.append(.reregister)
                }
            }
        }
        // Relay requests go out every half second while needed: a relay drops a request 3 s after the
        // last it heard, so a request is lost for good only when six in a row are (at 20% loss,
        // three in a row, the old rate's limit, happened about once a minute per relay).
        if now - relayRequestsAt >= Self.relayRefresh || relayRequestDue(now: now) { requestRelays(now: now) }
        if secondBoundary {
            while let first = banned.elements.first, first.value <= now { banned.removeFirst() }
        }
    }

    // MARK: Keepalives

    mutating func onPing(_ p: Ping, from peer: PeerKey, now: MeshTime) {
        neighbors[peer]?.reportedDegree = Int(p.degree)
        sendLinkMessage(.pong(nonce: p.nonce, degree: UInt8(clamping: neighbors.count)), to: peer, now: now)
        onSummary(summaryRefs(p, from: peer), from: peer, now: now)
    }

    mutating func onPong(nonce: UInt64, degree: UInt8, from peer: PeerKey, now: MeshTime) {
        guard let i = neighbors.index(forKey: peer) else { return }
        neighbors.values[i].reportedDegree = Int(degree)
        guard let j = neighbors.values[i].pendingPings.firstIndex(where: { $0.nonce == nonce }) else { return }
        let sample = (now - neighbors.values[i].pendingPings[j].sentAt).nanoseconds
        neighbors.values[i].pendingPings.remove(at: j)
        // RFC 6298 smoothing.
        if let srtt = neighbors.values[i].srtt {
            neighbors.values[i].rttvar = (3 * neighbors.values[i].rttvar + abs(srtt - sample)) / 4
            neighbors.values[i].srtt = (7 * srtt + sample) / 8
        } else {
            neighbors.values[i].srtt = sample
            neighbors.values[i].rttvar = sample / 2
        }
    }

    // MARK: Misbehaviour

    /// Adds to a neighbor's misbehaviour score; at the threshold it is disconnected and banned.
    mutating func penalize(_ peer: PeerKey, by points: Int, now: MeshTime) {
        guard let i = neighbors.index(forKey: peer) else { return }
        neighbors.values[i].score += points
        if neighbors.values[i].score >= configuration.misbehaviourThreshold {
            punish(peer, reason: .misbehaving, now: now)
        }
    }

    mutating func punish(_ peer: PeerKey, reason: DisconnectReason, now: MeshTime) {
        guard neighbors[peer] != nil else { return }
        logger.notice("disconnecting \(peer): \(reason)")
        stats.neighborsPunished += 1
        banned[peer] = now + configuration.banDuration
        if banned.count > 1024 { banned.removeFirst() }
        closeLink(peer, reason: reason, now: now, notify: true)
    }
}
