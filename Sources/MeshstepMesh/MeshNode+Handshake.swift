import Crypto
import MeshstepWire

/// The link handshake.
///
/// ```
/// initiator A                                       responder B
///   Connect(meshDigest, keyA, nonceA, ephA, degree) ->
///                                              <-   Challenge(keyB, nonceA, nonceB, ephB) | Refuse(reason)
///   Confirm(keyA, proofA, sigA)                 ->
///                                              <-   Welcome(proofB, sigB, referrals)      | Refuse(reason)
/// ```
/// T = label | meshDigest | keyA | keyB | nonceA | nonceB | ephA | ephB (eph: X25519 ephemeral
/// public keys; link keys come from the mesh key and their shared secret). proofX = HMAC(meshKey, role | T): only a
/// holder of the password can compute it, and it reveals nothing usable for another transcript.
/// sigX = Ed25519 by X over role | T proves the identity. The responder proves nothing until the
/// initiator has, so a stranger cannot harvest responder proofs for a dictionary attack.
extension MeshNode {
    static let initiatorRole = "initiator"
    static let responderRole = "responder"

    mutating func newEphemeral() -> EphemeralKey {
        EphemeralKey(randomBytes: randomNonce() + randomNonce())
    }

    /// Starts a handshake to `address`; to a peer that may be behind a NAT, opens the path
    /// first (§6.7): openers only until the resolver introduced it, then the handshake, whose
    /// Connect goes out in full after ``MeshConfiguration/openingTime``.
    mutating func connect(to address: MeshAddress, now: MeshTime) {
        guard address != localAddress, outgoing[address] == nil, neighborByAddress[address] == nil else { return }
        var openUntil: MeshTime?
        if let c = candidates[address], opensPath(to: address, key: c.key) {
            guard let until = c.introducedUntil, until > now else {
                // Not introduced: open our side and wait for the introduction or its Connect.
                sendOpener(to: address)
                candidates[address]!.retryAfter = now + .seconds(1)
                return
            }
            if configuration.openingTime > .zero { openUntil = now + configuration.openingTime }
        }
        let nonce = randomNonce()
        let ephemeral = newEphemeral()
        let bytes = Datagram.encode(
            .connect(
                Connect(
                    meshDigest: credentials.digest, sender: key, nonce: nonce, ephemeral: ephemeral.publicBytes,
                    degree: UInt8(clamping: neighbors.count))))
        outgoing[address] = OutgoingHandshake(
            nonce: nonce, ephemeral: ephemeral, phase: .connectSent, startedAt: now, lastSentAt: now, lastSent: bytes, phaseSentAt: now,
            retryWait: configuration.handshakeFirstRetry, openUntil: openUntil)
        if openUntil != nil { return sendOpener(to: address) }
        sendRaw(bytes, to: address)
        scheduleHandshakeRetry(to: address)
    }

    /// The handshake's message goes out again `retryWait` after it last went out.
    mutating func scheduleHandshakeRetry(to address: MeshAddress) {
        guard let hs = outgoing[address], hs.openUntil == nil else { return }
        schedule(.handshake(address), at: hs.lastSentAt + hs.retryWait)
    }

    /// Sends the handshake's last message again if no answer came within its wait, and waits
    /// twice as long for the next (at most ``MeshConfiguration/handshakeRetry``). Called by its
    /// timer and by housekeeping (which also catches a handshake that moved to another port).
    mutating func retransmitHandshake(to address: MeshAddress, now: MeshTime) {
        guard var hs = outgoing[address], hs.openUntil == nil, now - hs.lastSentAt >= hs.retryWait,
            now - hs.startedAt < configuration.handshakeTimeout
        else { return }
        hs.lastSentAt = now
        hs.retryWait = min(hs.retryWait * 2, configuration.handshakeRetry)
        outgoing[address] = hs
        sendRaw(hs.lastSent, to: address)
        scheduleHandshakeRetry(to: address)
    }

    /// Whether a dial to `address` opens the path first (§6.7): the driver uses a resolver
    /// that introduces peers, the candidate's key is known, and the address may be behind a NAT.
    func opensPath(to address: MeshAddress, key: PeerKey?) -> Bool {
        configuration.openerHopLimit > 0 && introductionsInUse && key != nil && address.mayBeBehindNAT
    }

    /// A path opener (§6.7): 4 bytes, the mesh magic, the version and kind 0, sent with a small
    /// hop limit. Receivers ignore it.
    static let openerBytes: [UInt8] = [Wire.magic.0, Wire.magic.1, Wire.version, 0]

    mutating func sendOpener(to address: MeshAddress) {
        guard behindNAT != false else { return }
        stats.openersSent += 1
        stats.datagramsSent += 1
        stats.bytesSent += Self.openerBytes.count
        out.append(.sendOpener(Self.openerBytes, to: address, hopLimit: configuration.openerHopLimit))
    }

    /// Dials at once every peer of `referrals` not linked yet, when it is one of the session's
    /// peers or there is room for another link (introductions: both sides start together).
    mutating func dialAtOnce(_ referrals: [Referral], now: MeshTime) {
        for r in referrals where r.peer != key && neighbors[r.peer] == nil && outgoing[r.address] == nil {
            guard candidates[r.address]?.key == r.peer, !isBanned(r.peer, now: now) else { continue }
            guard protectedPeers.contains(r.peer) || neighbors.count + peersBeingDialled() < configuration.maxNeighbors else { continue }
            connect(to: r.address, now: now)
        }
    }

    /// How many peers our outgoing handshakes dial: a peer tried at several addresses at once
    /// (public, LAN, another port of its NAT) counts once, so handshakes to one peer's
    /// addresses that may never answer do not use up the room for other peers.
    func peersBeingDialled() -> Int {
        var keys = Set<PeerKey>()
        var unknown = 0
        for address in outgoing.keys {
            if let k = candidates[address]?.key { keys.insert(k) } else { unknown += 1 }
        }
        return keys.count + unknown
    }

    /// Handles Connect, Challenge, Confirm, Welcome and Refuse.
    mutating func handleHandshake(_ message: Message, from address: MeshAddress, now: MeshTime) {
        switch message {
        case let .connect(m): onConnect(m, from: address, now: now)
        case let .challenge(m): onChallenge(m, from: address, now: now)
        case let .confirm(m): onConfirm(m, from: address, now: now)
        case let .welcome(m): onWelcome(m, from: address, now: now)
        case let .refuse(m): onRefuse(m, from: address, now: now)
        default: break
        }
    }

    /// Answers to strangers are rate-limited: a spoofed Connect must not turn the node into an
    /// amplifier or keep it busy.
    mutating func mayAnswerHandshake(now: MeshTime) -> Bool {
        if handshakeBucket.take(1, now: now) { return true }
        stats.handshakesThrottled += 1
        return false
    }

    /// Refusals echo the initiator's nonce. Referrals go only with "mesh full", to a peer that
    /// knew the mesh ID, so a stranger learns nothing and a refusal stays small.
    mutating func refuse(_ reason: DisconnectReason, echo nonce: [UInt8], to address: MeshAddress) {
        if reason != .authenticationFailed { stats.handshakesRefused += 1 }
        let refs = reason == .meshFull ? Array(referrals(excluding: nil).prefix(4)) : []
        sendRaw(Datagram.encode(.refuse(Refuse(reason: reason, echoNonce: nonce, referrals: refs))), to: address)
    }

    // MARK: Responder

    mutating func onConnect(_ m: Connect, from address: MeshAddress, now: MeshTime) {
        if m.sender == key { return }
        guard mayAnswerHandshake(now: now) else { return }
        if let existing = incoming[address], existing.remoteNonce == m.nonce {
            sendRaw(existing.challengeBytes, to: address)  // our Challenge was lost
            return
        }
        guard m.meshDigest == credentials.digest else { return refuse(.wrongMesh, echo: m.nonce, to: address) }
        if isBanned(m.sender, now: now) { return refuse(.banned, echo: m.nonce, to: address) }
        if let n = neighbors[m.sender] {
            if n.address == address, now - n.lastHeard > configuration.keepaliveInterval * 2 {
                // The peer restarted its side of this link: drop the stale one and accept.
                closeLink(m.sender, reason: .timedOut, now: now, notify: false)
            } else {
                return refuse(.duplicateLink, echo: m.nonce, to: address)
            }
        }
        // Simultaneous open: both sides dialled each other. Once our Confirm has gone out, the
        // peer holds our handshake and links when it arrives: ours goes on whatever the keys
        // (dropping it would leave the peer with a link we do not have). Before that, the link
        // started by the smaller key wins, unless ours is still opening the path (no Connect of
        // ours has gone out in full).
        if outgoing.values.contains(where: { $0.remoteKey == m.sender }) { return refuse(.duplicateLink, echo: m.nonce, to: address) }
        if let ours = outgoing[address] {
            if key < m.sender, ours.openUntil == nil { return refuse(.duplicateLink, echo: m.nonce, to: address) }
            outgoing[address] = nil
        }
        if neighbors.count >= configuration.maxNeighbors {
            // Full. A joiner below the minimum would otherwise be turned away by every full node
            // of a mature mesh (HyParView's rule: always admit a joiner). Room is made only once
            // it has proven the password (at Confirm), so a spoofed Connect costs no link.
            guard Int(m.degree) < configuration.minNeighbors || protectedPeers.contains(m.sender), sheddableLink() != nil else {
                return refuse(.meshFull, echo: m.nonce, to: address)
            }
        }
        // Pending handshakes have their own small budget, and the oldest one makes room: spoofed
        // Connects must then outpace every real joiner's retransmissions to keep it out.
        if incoming.count >= Self.maxPendingIncoming { incoming.removeFirst() }
        let nonce = randomNonce()
        let ephemeral = newEphemeral()
        let bytes = Datagram.encode(.challenge(Challenge(sender: key, echoNonce: m.nonce, nonce: nonce, ephemeral: ephemeral.publicBytes)))
        incoming[address] = IncomingHandshake(
            remote: m.sender, remoteNonce: m.nonce, remoteEphemeral: m.ephemeral, remoteDegree: Int(m.degree),
            nonce: nonce, ephemeral: ephemeral, startedAt: now, challengeBytes: bytes)
        sendRaw(bytes, to: address)
    }

    static let maxPendingIncoming = 16

    /// An Ed25519 check of a handshake signature, counted in ``MeshStats/signatureChecks``.
    mutating func verifySignature(_ signature: [UInt8], by peer: PeerKey, over bytes: [UInt8]) -> Bool {
        stats.signatureChecks += 1
        return SignatureVerifier.publicKey(peer)?.isValidSignature(signature, for: bytes) ?? false
    }

    /// The least useful link whose peer reported more than the minimum of neighbors.
    func sheddableLink() -> PeerKey? {
        var best: Neighbor?
        for n in neighbors.values where n.reportedDegree > configuration.minNeighbors && !protectedPeers.contains(n.key) {
            if best.map({ n.utility < $0.utility }) ?? true { best = n }
        }
        return best?.key
    }

    mutating func onConfirm(_ m: Confirm, from address: MeshAddress, now: MeshTime) {
        if let n = neighbors[m.sender], n.address == address, let welcome = n.welcomeBytes, now - n.since < configuration.handshakeTimeout {
            // Our Welcome was lost. Only a repeat of the very Confirm we accepted gets it again.
            if n.acceptedConfirm == m, mayAnswerHandshake(now: now) { sendRaw(welcome, to: address) }
            return
        }
        guard let hs = incoming[address], hs.remote == m.sender else { return }
        let transcript = HandshakeTranscript(
            meshDigest: credentials.digest, initiator: m.sender, responder: key, initiatorNonce: hs.remoteNonce,
            responderNonce: hs.nonce, initiatorEphemeral: hs.remoteEphemeral, responderEphemeral: hs.ephemeral.publicBytes)
        // The cheap check (an HMAC) first: a Confirm spoofed by someone without the password
        // costs one HMAC, never a signature check.
        let verified =
            transcript.verifyProof(m.proof, role: Self.initiatorRole, credentials: credentials)
            && verifySignature(m.signature, by: m.sender, over: transcript.signedBytes(role: Self.initiatorRole))
        guard verified, let secret = hs.ephemeral.sharedSecret(with: hs.remoteEphemeral) else {
            // Anyone who knows the initiator's address and key can send this: it changes no
            // state (the pending handshake stays, so the initiator's own Confirm still passes),
            // and the refusal is only information for an initiator with a wrong password.
            stats.authenticationRejected += 1
            logger.info("Confirm from \(address) did not verify")
            if mayAnswerHandshake(now: now) { refuse(.authenticationFailed, echo: hs.remoteNonce, to: address) }
            return
        }
        incoming[address] = nil
        guard neighbors[m.sender] == nil else { return refuse(.duplicateLink, echo: hs.remoteNonce, to: address) }
        if neighbors.count >= configuration.maxNeighbors {
            // Same rule as at Connect, now that the joiner is authenticated.
            guard hs.remoteDegree < configuration.minNeighbors || protectedPeers.contains(m.sender), let shed = sheddableLink() else {
                return refuse(.meshFull, echo: hs.remoteNonce, to: address)
            }
            closeLink(shed, reason: .notUseful, now: now, notify: true)
        }
        let proof = transcript.proof(role: Self.responderRole, credentials: credentials)
        let signature = identity.sign(transcript.signedBytes(role: Self.responderRole))
        let welcome = Datagram.encode(.welcome(Welcome(proof: proof, signature: signature, referrals: referrals(excluding: m.sender))))
        addNeighbor(
            m.sender, address: address, keys: transcript.linkKeys(credentials: credentials, sharedSecret: secret, isInitiator: false), initiatedByUs: false,
            now: now)
        neighbors[m.sender]?.welcomeBytes = welcome
        neighbors[m.sender]?.acceptedConfirm = m
        neighbors[m.sender]?.initiatorNonce = hs.remoteNonce
        // Until the initiator uses the link, the Welcome goes out again after about two round
        // trips (our Challenge to its Confirm is one), doubling: a lost Welcome would otherwise
        // wait for the initiator's next Confirm, a `handshakeRetry` later.
        armWelcomeTimer(m.sender, after: max((now - hs.startedAt) * 2, Self.minWelcomeRetry), now: now)
        sendRaw(welcome, to: address)
    }

    /// The shortest wait before our Welcome goes out again (on loopback a round trip is a few
    /// microseconds).
    static let minWelcomeRetry = Duration.milliseconds(20)

    /// A link we accepted that the initiator has not used yet: our Welcome again, or, once the
    /// initiator's handshake must have timed out, the link closed silently (it never had it).
    mutating func welcomeTimerFired(_ peer: PeerKey, now: MeshTime) {
        guard let n = neighbors[peer], !n.confirmed, let welcome = n.welcomeBytes, now >= n.welcomeDue else { return }
        if now - n.since >= configuration.handshakeTimeout {
            logger.debug("link \(peer) at \(n.address) never used by the initiator: closed")
            return closeLink(peer, reason: .timedOut, now: now, notify: false)
        }
        armWelcomeTimer(peer, after: n.welcomeRetry * 2, now: now)
        sendRaw(welcome, to: n.address)
    }

    /// Our Welcome to `peer` goes out again after `wait`, at most `handshakeRetry`.
    mutating func armWelcomeTimer(_ peer: PeerKey, after wait: Duration, now: MeshTime) {
        let retry = min(wait, configuration.handshakeRetry)
        neighbors[peer]?.welcomeRetry = retry
        neighbors[peer]?.welcomeDue = now + retry
        schedule(.welcome(peer), at: now + retry)
    }

    /// The peer used a link we accepted: it holds the link, which is announced now.
    mutating func confirmLink(_ peer: PeerKey) {
        guard let n = neighbors[peer], !n.confirmed else { return }
        let wasOffline = !isOnline
        neighbors[peer]?.confirmed = true
        neighbors[peer]?.welcomeBytes = nil
        logger.debug("neighbor up \(peer) at \(n.address)")
        emit(.neighborUp(peer, n.address))
        if wasOffline { emit(.online) }
    }

    /// A keepalive at once, outside the keepalive schedule: the first datagram on a link we
    /// initiated, which tells the responder that its Welcome arrived (§6.1).
    mutating func sendLinkProbe(to peer: PeerKey, now: MeshTime) {
        guard let i = neighbors.index(forKey: peer) else { return }
        let ping = Ping(nonce: pingNonce(link: i, now: now), degree: UInt8(clamping: neighbors.count), summary: [], known: [])
        sendLinkMessage(.ping(ping), to: peer, now: now)
    }

    // MARK: Initiator

    mutating func onChallenge(_ m: Challenge, from address: MeshAddress, now: MeshTime) {
        if outgoing[address] == nil,
            let dialled = outgoing.first(where: { $0.value.nonce == m.echoNonce && $0.key.hasSameIP(as: address) })?.key,
            let moved = outgoing.removeValue(forKey: dialled)
        {
            // Peer-reflexive: the answer comes from another port of the host we dialled (its
            // NAT gives each destination a port of its own). Only the responder saw our nonce,
            // so the handshake goes on at that port.
            outgoing[address] = moved
        }
        guard var hs = outgoing[address], hs.nonce == m.echoNonce else { return }
        if case let .confirmSent(remote, _, _) = hs.phase {
            if remote == m.sender { sendRaw(hs.lastSent, to: address) }  // our Confirm was lost
            return
        }
        if m.sender == key || neighbors[m.sender] != nil || isBanned(m.sender, now: now) {
            // Not a peer to link with (ourselves, a neighbor already, or banned): remember who
            // answers there and back off instead of redialling it at every maintenance run.
            outgoing[address] = nil
            candidates[address]?.key = m.sender
            candidateFailed(address, permanent: m.sender == key, now: now)
            return
        }
        let transcript = HandshakeTranscript(
            meshDigest: credentials.digest, initiator: key, responder: m.sender, initiatorNonce: hs.nonce,
            responderNonce: m.nonce, initiatorEphemeral: hs.ephemeral.publicBytes, responderEphemeral: m.ephemeral)
        guard let secret = hs.ephemeral.sharedSecret(with: m.ephemeral) else {
            outgoing[address] = nil
            stats.authenticationRejected += 1
            candidateFailed(address, permanent: false, now: now)
            return
        }
        let confirm = Confirm(
            sender: key, proof: transcript.proof(role: Self.initiatorRole, credentials: credentials),
            signature: identity.sign(transcript.signedBytes(role: Self.initiatorRole)))
        let bytes = Datagram.encode(.confirm(confirm))
        hs.phase = .confirmSent(
            remote: m.sender, transcript: transcript, keys: transcript.linkKeys(credentials: credentials, sharedSecret: secret, isInitiator: true))
        // The Challenge answered a Connect sent once: its round trip times the Confirm's
        // retransmission, as the responder times its Welcome's.
        let roundTrip = hs.lastSentAt == hs.phaseSentAt ? now - hs.phaseSentAt : nil
        hs.retryWait = roundTrip.map { min(max($0 * 2, Self.minWelcomeRetry), configuration.handshakeRetry) } ?? configuration.handshakeRetry
        hs.lastSent = bytes
        hs.lastSentAt = now
        hs.phaseSentAt = now
        outgoing[address] = hs
        sendRaw(bytes, to: address)
        scheduleHandshakeRetry(to: address)
    }

    mutating func onWelcome(_ m: Welcome, from address: MeshAddress, now: MeshTime) {
        if outgoing[address] == nil, let peer = neighborByAddress[address], let n = neighbors[peer], n.initiatedByUs,
            n.acceptedWelcomeProof == m.proof, now - n.since < configuration.handshakeTimeout
        {
            // The responder sends its Welcome again: it has not heard from us on the link yet
            // (our first keepalive was lost). Only the very Welcome we accepted gets an answer.
            return sendLinkProbe(to: peer, now: now)
        }
        guard var hs = outgoing[address], case let .confirmSent(remote, transcript, keys) = hs.phase else { return }
        let verified =
            transcript.verifyProof(m.proof, role: Self.responderRole, credentials: credentials)
            && verifySignature(m.signature, by: remote, over: transcript.signedBytes(role: Self.responderRole))
        guard verified else {
            // Not admitted. A Welcome carries no nonce, so anyone who knows the responder's
            // address can send one: it ends nothing (the responder's real Welcome may follow);
            // if none verifies before the timeout, the handshake fails then (housekeeping).
            stats.authenticationRejected += 1
            hs.authenticationDoubted = true
            outgoing[address] = hs
            return
        }
        outgoing[address] = nil
        guard neighbors[remote] == nil else { return }
        learn(m.referrals, now: now)
        guard neighbors.count < configuration.maxNeighbors else {
            // Filled up meanwhile by links others opened: tell the responder to drop its side.
            sendRaw(Datagram.encode(.refuse(Refuse(reason: .meshFull, echoNonce: hs.nonce, referrals: []))), to: address)
            return
        }
        addNeighbor(remote, address: address, keys: keys, initiatedByUs: true, now: now)
        neighbors[remote]?.acceptedWelcomeProof = m.proof
        sendLinkProbe(to: remote, now: now)
    }

    mutating func onRefuse(_ m: Refuse, from address: MeshAddress, now: MeshTime) {
        if var hs = outgoing[address], hs.nonce == m.echoNonce, m.reason == .authenticationFailed {
            // The responder may have been fooled by a Confirm someone spoofed from our address:
            // keep the handshake (our own Confirm may still pass); a timeout reports it.
            hs.authenticationDoubted = true
            outgoing[address] = hs
        } else if let hs = outgoing[address], hs.nonce == m.echoNonce {
            outgoing[address] = nil
            learn(m.referrals, now: now)
            candidateFailed(address, permanent: m.reason == .wrongMesh, now: now)
            emit(.connectRefused(address, reason: m.reason))
        } else if let hs = incoming[address], hs.remoteNonce == m.echoNonce {
            incoming[address] = nil
        } else if let peer = neighborByAddress[address], let n = neighbors[peer], !n.initiatedByUs, n.initiatorNonce == m.echoNonce,
            now - n.since < configuration.handshakeTimeout
        {
            // The initiator turned our Welcome down: our proof did not verify for it, or it filled up.
            closeLink(peer, reason: m.reason, now: now, notify: false, byUs: false)
        }
    }

    // MARK: Link set-up

    mutating func addNeighbor(_ peer: PeerKey, address: MeshAddress, keys: LinkKeys, initiatedByUs: Bool, now: MeshTime) {
        let c = configuration
        let wasOffline = !isOnline
        // A new link carries full messages only while we have fewer than the minimum of eager
        // links; beyond that it starts lazy, so a fresh mesh does not begin with a full flood.
        let startEager = eagerLinkCount < max(configuration.minEagerLinks, 1)
        neighbors[peer] = Neighbor(
            key: peer, address: address, keys: keys, initiatedByUs: initiatedByUs, since: now, lastHeard: now,
            nextPingAt: now + .milliseconds(10),
            inMessages: TokenBucket(rate: c.inboundLimit.messagesPerSecond, burst: c.inboundLimit.messageBurst, now: now),
            inBytes: TokenBucket(rate: c.inboundLimit.bytesPerSecond, burst: c.inboundLimit.byteBurst, now: now),
            outMessages: TokenBucket(rate: c.outboundLimit.messagesPerSecond, burst: c.outboundLimit.messageBurst, now: now),
            outBytes: TokenBucket(rate: c.outboundLimit.bytesPerSecond, burst: c.outboundLimit.byteBurst, now: now))
        neighbors[peer]?.eager = startEager
        // A link we accepted is announced when the initiator uses it (`confirmLink`).
        neighbors[peer]?.confirmed = initiatedByUs
        neighborByAddress[address] = peer
        candidates[address] = nil
        guard initiatedByUs else { return logger.debug("link \(peer) at \(address) accepted; announced when the initiator uses it") }
        logger.debug("neighbor up \(peer) at \(address)")
        emit(.neighborUp(peer, address))
        if wasOffline { emit(.online) }
    }

    /// Closes a link, optionally telling the peer why.
    mutating func closeLink(_ peer: PeerKey, reason: DisconnectReason, now: MeshTime, notify: Bool, byUs: Bool = true) {
        guard neighbors[peer] != nil else { return }
        if notify {
            sendLinkMessageImmediately(.disconnect(Disconnect(reason: reason, referrals: referrals(excluding: peer))), to: peer)
        }
        guard let n = neighbors.removeValue(forKey: peer) else { return }
        neighborByAddress[n.address] = nil
        pendingIHave[peer] = nil
        pendingGraft[peer] = nil
        pendingFloods[peer] = nil
        logger.debug("neighbor down \(peer): \(reason)")
        // A link never announced goes without an event.
        guard n.confirmed else { return }
        emit(.neighborDown(peer, n.address, reason: reason, byUs: byUs))
        if !isOnline { emit(.offline) }
    }

    /// Sends bypassing pacing (a Disconnect must not wait behind a backlog that is being dropped).
    mutating func sendLinkMessageImmediately(_ message: Message, to peer: PeerKey) {
        guard let i = neighbors.index(forKey: peer) else { return }
        let bytes = seal(message, link: i)
        stats.datagramsSent += 1
        stats.bytesSent += bytes.count
        out.append(.send(bytes, to: neighbors.values[i].address))
    }

    /// Up to ``Wire/maxReferrals`` of our neighbors, for a peer we refuse or welcome.
    func referrals(excluding peer: PeerKey?) -> [Referral] {
        var list: [Referral] = []
        for n in neighbors.values where n.key != peer {
            list.append(Referral(peer: n.key, address: n.address))
            if list.count == Wire.maxReferrals { break }
        }
        return list
    }

    func isBanned(_ peer: PeerKey, now: MeshTime) -> Bool {
        if let until = banned[peer] { return until > now }
        return false
    }
}

extension OutgoingHandshake {
    var remoteKey: PeerKey? {
        if case let .confirmSent(remote, _, _) = phase { return remote }
        return nil
    }
}
