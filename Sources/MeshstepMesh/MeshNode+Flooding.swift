import Crypto
import MeshstepWire

/// Receiving datagrams, flooding, and loss recovery.
///
/// Redundancy control follows Plumtree (Leitao et al. 2007): each link is *eager* (full
/// messages are pushed on it) or *lazy* (only announcements, IHave, cross it). A duplicate
/// arriving on an eager link means that link is redundant: the receiver answers Prune and both
/// ends make it lazy, so the eager links converge to a spanning tree and each node receives
/// each message about once. When a copy is lost, lazy neighbors' announcements reveal it; after
/// ``MeshConfiguration/graftTimeout`` the node pulls it with Graft, which also makes that link
/// eager again (tree repair). Keepalive summaries (newest sequence number per recent origin) are
/// a second, slower path that finds anything the announcements missed.
extension MeshNode {
    /// The neighbor whose link key verifies a datagram from an unknown address, if its link
    /// sequence number is fresh: the peer's NAT rebound, so the link moves there. Tried for at most
    /// 20 datagrams a second (a few HMACs each); a datagram replayed from elsewhere has a number
    /// the link has seen and moves nothing.
    mutating func movedNeighbor(_ bytes: [UInt8], to address: MeshAddress, now: MeshTime) -> PeerKey? {
        guard !neighbors.isEmpty, roamingBucket.take(1, now: now), let linkSeq = Datagram.peekLinkSeq(bytes) else { return nil }
        for i in neighbors.values.indices where neighbors.values[i].keys.verify(bytes) {
            guard neighbors.values[i].linkWindow.status(linkSeq) == .new else { return nil }
            let peer = neighbors.keys[i]
            let old = neighbors.values[i].address
            neighbors.values[i].address = address
            neighborByAddress[old] = nil
            neighborByAddress[address] = peer
            stats.neighborsMoved += 1
            emit(.neighborMoved(peer, from: old, to: address))
            return peer
        }
        return nil
    }

    mutating func handleDatagram(_ bytes: consuming [UInt8], from address: MeshAddress, now: MeshTime) {
        guard let kind = Datagram.peekKind(bytes), Message.kindIsLinkAuthenticated(kind) else {
            // Handshake (or garbage): decode and dispatch. A path opener that came this far
            // (a peer one hop away) is ignored.
            if bytes == Self.openerBytes { return }
            do {
                let decoded = try Datagram.decode(bytes, maxSize: configuration.maxDatagramSize)
                handleHandshake(decoded.message, from: address, now: now)
            } catch {
                stats.malformed += 1
            }
            return
        }
        guard let peer = neighborByAddress[address] ?? movedNeighbor(bytes, to: address, now: now), let i = neighbors.index(forKey: peer) else {
            stats.unknownSender += 1
            return
        }
        // The tag first (about a microsecond): anyone can spoof an address, so nothing that fails
        // it may cost the real neighbor anything, not even its allowance. Then the token buckets.
        // (The neighbor is changed in place, `neighbors.values[i]`: a copy out and back cost
        // two more hash lookups and a copy of its state per datagram.)
        guard neighbors.values[i].keys.verify(bytes) else {
            stats.badTag += 1
            return
        }
        // A link sequence number seen before: a captured or network-duplicated datagram.
        guard let linkSeq = Datagram.peekLinkSeq(bytes) else {
            stats.malformed += 1
            penalize(peer, by: 10, now: now)
            return
        }
        guard neighbors.values[i].linkWindow.status(linkSeq) == .new else {
            stats.linkReplays += 1
            return
        }
        neighbors.values[i].linkWindow.insert(linkSeq)
        // The first tagged datagram on a link we accepted: the peer holds it (§6.3).
        if !neighbors.values[i].confirmed { confirmLink(peer) }
        // A message token for each message the datagram holds (several in a Floods datagram),
        // taken before it is decoded. Of a Floods datagram, as many messages are taken as there
        // are tokens (a sender with larger bursts than ours may pack more than we admit at once);
        // the others count as dropped, and are pulled later like lost ones.
        let messages = Datagram.messageCount(bytes)
        let granted = neighbors.values[i].inMessages.take(upTo: messages, now: now)
        guard granted > 0, neighbors.values[i].inBytes.take(bytes.count, now: now) else {
            neighbors.values[i].dropsThisSecond += messages
            stats.rateLimited += 1
            return
        }
        if granted < messages {
            neighbors.values[i].dropsThisSecond += messages - granted
            stats.rateLimited += 1
        }
        neighbors.values[i].lastHeard = now
        if kind == Datagram.directKind {
            // A frame: the datagram's own buffer becomes the payload (header and tag cut off in
            // place), instead of a copy of it.
            let range: Range<Int>
            do { range = try Datagram.directPayloadRange(bytes, maxSize: configuration.maxDatagramSize) } catch {
                stats.malformed += 1
                penalize(peer, by: 10, now: now)
                return
            }
            var payload = consume bytes
            payload.removeSubrange(range.upperBound...)
            payload.removeSubrange(..<range.lowerBound)
            return onDirect(payload, from: peer, now: now)
        }
        let message: Message
        do {
            message = try Datagram.decodeMessage(bytes, maxSize: configuration.maxDatagramSize)
        } catch {
            stats.malformed += 1
            penalize(peer, by: 10, now: now)
            return
        }
        switch message {
        case let .flood(m): onFlood(m, from: peer, now: now)
        case let .floods(list):
            for m in list.prefix(granted) {
                guard neighbors[peer] != nil else { return }  // a bad entry cut the link
                onFlood(m, from: peer, now: now)
            }
        case let .iHave(refs): onIHave(refs, from: peer, now: now)
        case let .graft(refs): onGraft(refs, from: peer, now: now)
        case .prune: neighbors[peer]?.eager = false  // the whole link turns lazy; the refs name the duplicates that caused it
        case let .relay(origins): onRelayRequest(origins, from: peer, now: now)
        case let .direct(payload): onDirect(payload, from: peer, now: now)
        case let .ping(p): onPing(p, from: peer, now: now)
        case let .pong(nonce, degree): onPong(nonce: nonce, degree: degree, from: peer, now: now)
        case let .disconnect(d):
            learn(d.referrals, now: now)
            closeLink(peer, reason: d.reason, now: now, notify: false, byUs: false)
        default:
            stats.malformed += 1
        }
    }

    /// How many links currently carry full messages.
    var eagerLinkCount: Int {
        var n = 0
        for v in neighbors.values where v.eager { n += 1 }
        return n
    }

    // MARK: Originating

    mutating func originate(_ payload: [UInt8], destination: PeerKey?, now: MeshTime) throws(MeshSendError) -> UInt64 {
        currentTime = now
        guard running else { throw .notRunning }
        guard payload.count <= maxPayloadSize else { throw .payloadTooLarge(size: payload.count, limit: maxPayloadSize) }
        return originateChecked(payload, destination: destination, now: now)
    }

    /// ``originate(_:destination:now:)`` once the node runs and the payload fits: signed alone.
    mutating func originateChecked(_ payload: [UInt8], destination: PeerKey?, now: MeshTime) -> UInt64 {
        let seq = nextSeq
        nextSeq += 1
        let signature = identity.sign(
            FloodMessage.signedBytes(meshDigest: credentials.digest, origin: key, seq: seq, destination: destination, payload: payload))
        emitOwn(
            FloodMessage(hopLimit: configuration.hopLimit, hops: 1, origin: key, seq: seq, destination: destination, payload: payload, signature: signature),
            now: now)
        return seq
    }

    /// Originates a batch of 1 to 256 broadcasts (sizes checked) under one signature over the
    /// root of their hash tree (``SignedBatch``); one alone is signed alone.
    mutating func originateBatch(_ payloads: [[UInt8]], now: MeshTime) -> [UInt64] {
        if payloads.count == 1 { return [originateChecked(payloads[0], destination: nil, now: now)] }
        let depth = SignedBatch.depth(for: payloads.count)
        let first = nextSeq
        nextSeq += UInt64(payloads.count)
        let salt = randomNonce()
        var leaves: [BatchHash] = []
        leaves.reserveCapacity(payloads.count)
        for (k, p) in payloads.enumerated() {
            leaves.append(SignedBatch.leaf(salt: salt, meshDigest: credentials.digest, origin: key, seq: first + UInt64(k), destination: nil, payload: p))
        }
        let (root, paths) = SignedBatch.tree(leaves, depth: depth)
        let signature = identity.sign(SignedBatch.signedBytes(meshDigest: credentials.digest, origin: key, depth: depth, root: root))
        var batch: [FloodMessage] = []
        batch.reserveCapacity(payloads.count)
        for (k, p) in payloads.enumerated() {
            let proof = BatchProof(depth: UInt8(depth), index: UInt8(k), salt: salt, path: paths[k])
            batch.append(
                FloodMessage(
                    hopLimit: configuration.hopLimit, hops: 1, origin: key, seq: first + UInt64(k), destination: nil, payload: p, signature: signature,
                    proof: proof))
        }
        emitOwn(batch, now: now)
        return batch.map(\.seq)
    }

    /// Records one of our own new messages and pushes it.
    mutating func emitOwn(_ m: FloodMessage, now: MeshTime) {
        emitOwn([m], now: now)
    }

    /// Records our own new messages, in order, and pushes them: the bookkeeping once per batch,
    /// not once per message.
    mutating func emitOwn(_ batch: [FloodMessage], now: MeshTime) {
        // In place: a copy of the state out and back cost two more lookups and a copy per message.
        if origins.index(forKey: key) == nil {
            makeRoomForOrigin()
            origins[key] = OriginState(publicKey: nil, lastActive: now)
        }
        let o = origins.index(forKey: key)!
        for m in batch { origins.values[o].window.insert(m.seq) }
        origins.values[o].lastActive = now
        for m in batch { store.insert(m) }
        noteRecentOrigin(key)
        stats.originated += batch.count
        if batch.count == 1 || batch.contains(where: { $0.destination != nil }) {
            for m in batch { push(m, except: nil, now: now) }
            return
        }
        // Broadcasts: each link gets the whole batch, in order (as `push` would, one by one).
        for i in 0..<neighbors.count where neighbors.keys[i] != key {
            let k = neighbors.keys[i]
            if neighbors.values[i].eager {
                pendingFloods[k, default: []].append(contentsOf: batch)
            } else {
                pendingIHave[k, default: []].append(contentsOf: batch.map(\.ref))
            }
        }
    }

    /// Whether `m` carries its origin's valid signature: its own, or its batch's (a root
    /// checked before with these signature bytes costs no second check; docs/PROTOCOL.md §5.4a).
    mutating func isAuthentic(_ m: FloodMessage, key pk: Curve25519.Signing.PublicKey?) -> Bool {
        guard let pk else { return false }
        guard let proof = m.proof else {
            return checkSignature(m.signature, by: m.origin, key: pk, over: m.signedBytes(meshDigest: credentials.digest))
        }
        let leaf = SignedBatch.leaf(of: m, salt: proof.salt, meshDigest: credentials.digest)
        // Most messages of a batch meet a node an earlier one authenticated within a hash or two.
        if batchTrees.authenticates(leaf: leaf, proof: proof, origin: m.origin, signature: m.signature) {
            stats.batchProofsAccepted += 1
            return true
        }
        guard let root = SignedBatch.root(leaf: leaf, proof: proof) else { return false }
        let batch = VerifiedBatches.Key(origin: m.origin, depth: proof.depth, root: root, signature: m.signature)
        if verifiedBatches.contains(batch) {
            stats.batchProofsAccepted += 1
        } else {
            let signed = SignedBatch.signedBytes(meshDigest: credentials.digest, origin: m.origin, depth: Int(proof.depth), root: root)
            guard checkSignature(m.signature, by: m.origin, key: pk, over: signed) else { return false }
            verifiedBatches.insert(batch)
        }
        batchTrees.remember(leaf: leaf, proof: proof, root: root, origin: m.origin, signature: m.signature)
        return true
    }

    /// An Ed25519 check of an origin's signature, counted in ``MeshStats/signatureChecks`` (in
    /// a simulation, a verdict another node reached on the same bytes is read instead).
    mutating func checkSignature(_ signature: [UInt8], by origin: PeerKey, key: Curve25519.Signing.PublicKey, over bytes: [UInt8]) -> Bool {
        stats.signatureChecks += 1
        guard let signatureMemo else { return key.isValidSignature(signature, for: bytes) }
        return signatureMemo.isValid(signature, by: origin, key: key, over: bytes)
    }

    // MARK: Receiving a flooded message

    mutating func onFlood(_ m: FloodMessage, from peer: PeerKey, now: MeshTime) {
        stats.floodCopiesReceived += 1
        guard m.hopLimit >= 1, m.seq > 0 else {
            stats.malformed += 1
            penalize(peer, by: 10, now: now)
            return
        }
        // Larger than an origin may send: forwarding it could exceed a datagram on the next link.
        // Not penalized (a peer with another datagram size may have sent it in good faith).
        // Honest nodes never originate or forward one, so it costs the link that sent it: a
        // neighbor that keeps offering it (its summaries name it, we pull it) is soon cut.
        // (Checked inline: a call to a non-mutating method of the node here copied the whole node.)
        let proofSize = m.proof.map { BatchProof.size(depth: Int($0.depth)) } ?? 0
        guard m.payload.count + proofSize <= configuration.maxDatagramSize - Self.floodOverhead else {
            stats.malformed += 1
            penalize(peer, by: 10, now: now)
            return
        }
        // One lookup of the origin for the whole message: nothing below adds or removes origins
        // before its state is written back.
        let known = origins.index(forKey: m.origin)
        let status = known.map { origins.values[$0].window.status(m.seq) } ?? .new
        switch status {
        case .duplicate:
            // A copy from another path is normal; the same neighbor sending it a third time is a replay.
            if (neighbors[peer]?.recentRefs.record(m.ref) ?? 0) >= 3 {
                stats.replayed += 1
                penalize(peer, by: 5, now: now)
                return
            }
            stats.duplicates += 1
            if neighbors[peer]?.eager == true, eagerLinkCount > configuration.minEagerLinks {
                // Redundant tree link: both ends turn it lazy.
                neighbors[peer]?.eager = false
                stats.prunesSent += 1
                sendLinkMessage(.prune([m.ref]), to: peer, now: now)
            }
            return
        case .tooOld:
            stats.stale += 1
            // A late copy of the sender's own message is what a fast origin on a lossy, jittery
            // link produces (a repair that arrived after the window moved on): it costs us one
            // window check. A relay replaying someone else's old traffic is penalized.
            if m.origin != peer { penalize(peer, by: 2, now: now) }
            return
        case .new:
            break
        }
        // Verify the origin's signature before the message may touch any state, unless it came
        // straight from its origin over the link and goes no further: the link's tag already
        // proves who sent it (its keys are bound to the identity the handshake signed). Such a
        // message is verified later, before it is ever served to anyone else.
        var state = known.map { origins.values[$0] } ?? OriginState(publicKey: SignatureVerifier.publicKey(m.origin), lastActive: now)
        // The propagation filter (user code) runs once per new message.
        let route = routing(of: m)
        // A copy we will relay is checked first too: the neighbor receiving it would charge us
        // for a forgery otherwise.
        let relaying = peer == m.origin && m.hopLimit > 1 && (relayedOrigins[m.origin].map { $0 > now } ?? false)
        let direct = peer == m.origin && !(route.forward && m.hopLimit > 1) && !relaying
        if direct {
            guard state.publicKey != nil else {
                stats.forged += 1
                penalize(peer, by: 25, now: now)
                return
            }
            unverified.insert(m.ref)
            if unverified.count > 2 * configuration.messageCacheCapacity { unverified = unverified.filter { store[$0] != nil } }
        } else {
            guard isAuthentic(m, key: state.publicKey) else {
                stats.forged += 1
                penalize(peer, by: 25, now: now)
                return
            }
        }
        state.window.insert(m.seq)
        state.lastActive = now
        let link = neighbors.index(forKey: peer)
        if let link { _ = neighbors.values[link].recentRefs.record(m.ref) }
        // The origin's allowance: the message is marked seen either way, so that its other
        // copies are suppressed as duplicates instead of being judged again.
        let withinAllowance = takeOriginAllowance(&state, bytes: m.payload.count, now: now)
        if let known {
            origins.values[known] = state
        } else {
            makeRoomForOrigin()
            origins[m.origin] = state
        }
        forgetMissing(m.ref)
        guard withinAllowance else {
            stats.originRateLimited += 1
            if peer == m.origin { neighbors[peer]?.dropsThisSecond += 1 }
            return
        }
        store.insert(m)
        noteRecentOrigin(m.origin)
        // Peer Channel's utility: u = u*31/32, +128 when the link brought something new. Every
        // new message is a sample for every link; a link is trusted after 32. (In place: a copy
        // of a neighbor out and back costs its whole state.)
        for i in neighbors.values.indices {
            neighbors.values[i].utilitySamples += 1
            neighbors.values[i].utility = neighbors.values[i].utility * 31 / 32 + (i == link ? 128 : 0)
            if i == link { neighbors.values[i].eager = true }
        }

        if peer != m.origin, !relayVia.isEmpty, let choice = relayVia[m.origin] {
            originHeard[m.origin] = now
            if let via = choice.via {
                if peer == via {
                    relayHeard[m.origin] = now
                    relayVia[m.origin]!.relayedCopies += 1
                } else {
                    relayVia[m.origin]!.otherCopies += 1
                }
            } else if choice.deliverer == nil, !choice.passedOver.contains(peer) {
                // Every member was asked: the first to pass a copy on becomes the relay.
                relayVia[m.origin]!.deliverer = peer
                relayHeard[m.origin] = now
            }
        }
        let isUnicast = m.destination != nil
        let (deliver, forward) = route
        if forward, m.hopLimit > 1 {
            var copy = m
            copy.hopLimit -= 1
            copy.hops &+= 1
            stats.forwarded += 1
            push(copy, except: peer, now: now)
        } else if relaying {
            relay(m, now: now)
        }
        if deliver {
            stats.delivered += 1
            out.append(.deliver(DeliveredMessage(origin: m.origin, seq: m.seq, payload: m.payload, hops: Int(m.hops), from: peer, isUnicast: isUnicast)))
        }
    }

    /// Takes one message of `bytes` from an origin's allowance (``MeshConfiguration/originLimit``),
    /// its buckets made on first use; false when it is spent.
    func takeOriginAllowance(_ state: inout OriginState, bytes: Int, now: MeshTime) -> Bool {
        Self.takeAllowance(&state, limit: configuration.originLimit, bytes: bytes, now: now)
    }

    /// ``takeOriginAllowance(_:bytes:now:)`` for a state held in `origins` itself (static: an
    /// instance method would overlap the access to it).
    static func takeAllowance(_ state: inout OriginState, limit: RateLimit, bytes: Int, now: MeshTime) -> Bool {
        if state.messages == nil {
            state.messages = TokenBucket(rate: limit.messagesPerSecond, burst: limit.messageBurst, now: now)
            state.bytes = TokenBucket(rate: limit.bytesPerSecond, burst: limit.byteBurst, now: now)
        }
        return state.messages!.take(1, now: now) && state.bytes!.take(bytes, now: now)
    }

    // MARK: Direct messages

    /// A neighbor's direct message: delivered as its own (the link tag proved it), within the
    /// same per-origin allowance as its flooded messages, and never passed on.
    mutating func onDirect(_ payload: [UInt8], from peer: PeerKey, now: MeshTime) {
        guard payload.count <= maxDirectPayloadSize else {
            stats.malformed += 1
            penalize(peer, by: 10, now: now)
            return
        }
        // In place once it exists: a copy out and back cost two more hash lookups per frame.
        if origins.index(forKey: peer) == nil {
            makeRoomForOrigin()
            origins[peer] = OriginState(publicKey: SignatureVerifier.publicKey(peer), lastActive: now)
        }
        let o = origins.index(forKey: peer)!
        let withinAllowance = Self.takeAllowance(&origins.values[o], limit: configuration.originLimit, bytes: payload.count, now: now)
        origins.values[o].lastActive = now
        guard withinAllowance else {
            stats.originRateLimited += 1
            neighbors[peer]?.dropsThisSecond += 1
            return
        }
        stats.directReceived += 1
        stats.delivered += 1
        out.append(.deliver(DeliveredMessage(origin: peer, seq: 0, payload: payload, hops: 1, from: peer, isUnicast: false)))
    }

    // MARK: Relays

    /// How long a relay request holds: five of the refreshes (``relayRefresh``) may be lost.
    static var relayHold: Duration { .seconds(3) }

    /// How often relay requests are sent again while they are needed.
    static var relayRefresh: Duration { .milliseconds(500) }

    /// How long a relay that delivers nothing is kept before another is searched for.
    static var relayTrial: Duration { .seconds(2) }

    /// How a member of our protected group that we hold no link to reaches us.
    struct RelayChoice: Sendable {
        /// The fellow member that relays it; nil while every fellow member is asked.
        var via: PeerKey?
        /// While searching: when every fellow member is asked again, and the wait before that.
        var nextAsk: MeshTime
        var gap: Duration
        /// While searching: the first member that passed on a copy of the member's messages.
        var deliverer: PeerKey?
        /// Relays that stopped passing its messages on: not asked again while another member
        /// is left to ask (a liar that relays first and then withholds wins no second search).
        var passedOver: [PeerKey]
        /// With a relay: its messages that reached us first through it, and another way (a
        /// pull), since `windowStart`; counted over each ``MeshNode/relayTrial``.
        var relayedCopies = 0
        var otherCopies = 0
        var windowStart: MeshTime

        /// A relay chosen, or a search started, at `since`.
        init(via: PeerKey?, since: MeshTime, passedOver: [PeerKey] = []) {
            self.via = via
            self.passedOver = passedOver
            windowStart = since
            gap = .milliseconds(100)
            nextAsk = since + gap
        }
    }

    /// A neighbor that cannot link to some origins asks us to pass on what they send us. Only
    /// messages an origin sends us itself are relayed (no chains), only for origins of the
    /// protected group (so the table holds at most the group), at most ``Wire/maxRelayOrigins``
    /// per neighbor, and the copies pass that neighbor's outbound allowance like any other.
    mutating func onRelayRequest(_ origins: [PeerKey], from peer: PeerKey, now: MeshTime) {
        // Only for a fellow member of the protected group (a session's players relay each
        // other; a spectator's request is ignored, so spectators never add to a player's upload).
        guard var n = neighbors[peer], protectedPeers.contains(peer) else { return }
        var list: [PeerKey] = []
        for o in origins where o != peer && o != key && protectedPeers.contains(o) && !list.contains(o) { list.append(o) }
        n.relayOrigins = list
        n.relayUntil = list.isEmpty ? .zero : now + Self.relayHold
        neighbors[peer] = n
        for o in list { relayedOrigins[o] = max(relayedOrigins[o] ?? .zero, n.relayUntil) }
    }

    /// Passes a message its origin sent us directly to the neighbors that asked for it (a
    /// unicast only to its destination).
    mutating func relay(_ m: FloodMessage, now: MeshTime) {
        var targets: [PeerKey] = []
        for n in neighbors.values
        where n.relayUntil > now && n.key != m.origin && (m.destination == nil || m.destination == n.key) && n.relayOrigins.contains(m.origin) {
            targets.append(n.key)
        }
        guard !targets.isEmpty else { return }
        var copy = m
        copy.hopLimit -= 1
        copy.hops &+= 1
        for k in targets {
            stats.relayed += 1
            queueFlood(copy, to: k)
        }
    }

    /// The index in `neighbors` of our link to `peer`, if the peer has shown it holds it too.
    /// Read by index: `neighbors[peer]?.confirmed` would copy the whole `Neighbor` first.
    func confirmedLink(_ peer: PeerKey) -> Int? {
        guard let i = neighbors.index(forKey: peer), neighbors.values[i].confirmed else { return nil }
        return i
    }

    /// Whether a member of our protected group that we hold no link to has no relay asked for
    /// it yet (one just went missing, or the group was just named), while a fellow member could
    /// relay it, or a search for its relay is due (asked again, or one answered): then the relays
    /// are asked at the next housekeeping instead of the next second.
    func relayRequestDue(now: MeshTime) -> Bool {
        guard protectedPeers.contains(key), !relayMembers().isEmpty else { return false }
        return membersWithoutLink().contains { o in
            guard let c = relayVia[o] else { return true }
            return c.via == nil && (c.deliverer != nil || now >= c.nextAsk)
        }
    }

    /// Fellow members we hold a confirmed link to, in key order: the ones that can relay for us.
    /// A link the peer has not used yet may exist on our side only: it carries nothing either way.
    func relayMembers() -> [PeerKey] {
        neighbors.values.filter { $0.confirmed && protectedPeers.contains($0.key) }.map(\.key).sorted()
    }

    /// Members of our protected group we hold no confirmed link to (the first
    /// ``Wire/maxRelayOrigins`` in key order): the ones a relay is found for.
    func membersWithoutLink() -> ArraySlice<PeerKey> {
        protectedPeers.filter { $0 != key && confirmedLink($0) == nil }.sorted().prefix(Wire.maxRelayOrigins)
    }

    /// Every ``relayRefresh``, and when ``relayRequestDue(now:)``: for each member of the protected group
    /// we hold no link to, finds a fellow member that relays it. Every fellow member is asked at
    /// first (the one we would pick may hold no link to it either, or may not have joined the
    /// group yet and ignore us), again after 100, 200, 400 ms and so on while none passes a copy
    /// on, and the first that does becomes the only relay; the others are told we need nothing
    /// more from them. A relay is searched for again, among the members not passed over yet,
    /// when, over a ``relayTrial``, fewer of the missing member's messages reached us first
    /// through it than by another way (a pull), or none did while the member was heard.
    mutating func requestRelays(now: MeshTime) {
        relayRequestsAt = now
        relayedOrigins = relayedOrigins.filter { $0.value > now }
        relayAsked = relayAsked.filter { neighbors[$0] != nil }
        // Only a member of the group asks (``protect(_:)`` names it, this node included), and
        // only its fellow members: they are the ones that honour it.
        guard protectedPeers.contains(key) else { return }
        let members = relayMembers()
        let wanted = membersWithoutLink()
        var choices: [PeerKey: RelayChoice] = [:]
        for o in wanted where !members.isEmpty {
            func recent(_ t: MeshTime?) -> Bool { t.map { now - $0 < Self.relayTrial } ?? false }
            if var c = relayVia[o] {
                if let via = c.via {
                    // Judged over each trial: it must bring at least as many of the member's
                    // messages as reach us another way (a relay that passes a trickle on and
                    // withholds the rest is replaced). A silent origin says nothing about the
                    // relay: keep it until the origin is heard.
                    var working = true
                    if now - c.windowStart >= Self.relayTrial {
                        working = (recent(relayHeard[o]) && c.relayedCopies >= c.otherCopies) || !recent(originHeard[o])
                        (c.windowStart, c.relayedCopies, c.otherCopies) = (now, 0, 0)
                    }
                    if members.contains(via), working {
                        choices[o] = c
                        continue
                    }
                    // Search again without it, unless nobody else is left to ask.
                    let passedOver = (c.passedOver + [via]).filter(members.contains)
                    choices[o] = RelayChoice(via: nil, since: now, passedOver: passedOver.count < members.count ? passedOver : [])
                    continue
                } else if let d = c.deliverer, members.contains(d) {
                    choices[o] = RelayChoice(via: d, since: now, passedOver: c.passedOver)
                    continue
                } else {
                    if now >= c.nextAsk {
                        c.gap = min(c.gap * 2, Self.relayRefresh)
                        c.nextAsk = now + c.gap
                    }
                    c.deliverer = nil
                    if members.allSatisfy(c.passedOver.contains) { c.passedOver = [] }
                    choices[o] = c
                    continue
                }
            }
            choices[o] = RelayChoice(via: nil, since: now)
        }
        relayVia = choices
        relayHeard = relayHeard.filter { choices[$0.key] != nil }
        originHeard = originHeard.filter { choices[$0.key] != nil }
        for m in members {
            let list = wanted.filter { o in choices[o].map { $0.via == m || ($0.via == nil && !$0.passedOver.contains(m)) } ?? false }
            if !list.isEmpty {
                stats.relayRequestsSent += 1
                relayAsked.insert(m)
                sendLinkMessage(.relay(Array(list)), to: m, now: now)
            } else if relayAsked.remove(m) != nil {
                sendLinkMessage(.relay([]), to: m, now: now)
            }
        }
    }

    /// Whether this node delivers `m` locally and passes it on (before the hop limit), from the
    /// destination and the propagation filter.
    func routing(of m: FloodMessage) -> (deliver: Bool, forward: Bool) {
        var deliver = m.destination == nil || m.destination == key
        var forward = m.destination != key
        if let filter = configuration.propagationFilter {
            switch filter(m) {
            case .none: deliver = false; forward = false
            case .local: forward = false
            case .remote: deliver = false
            case .localAndRemote: break
            }
        }
        return (deliver, forward)
    }

    /// Eager push to tree links, announcements to the others; straight to the destination of a
    /// unicast when it is a neighbor.
    mutating func push(_ m: FloodMessage, except from: PeerKey?, now: MeshTime) {
        if let d = m.destination, neighbors[d] != nil {
            if d != from { queueFlood(m, to: d) }
            return
        }
        for i in 0..<neighbors.count {
            let k = neighbors.keys[i]
            guard k != from, k != m.origin else { continue }
            if neighbors.values[i].eager {
                queueFlood(m, to: k)
            } else {
                pendingIHave[k, default: []].append(m.ref)
            }
        }
    }

    /// Flood messages for one link wait until the end of the current entry point
    /// (``finish()``), which sends them together: several in one Floods datagram.
    mutating func queueFlood(_ m: FloodMessage, to key: PeerKey) {
        guard neighbors[key] != nil else { return }
        pendingFloods[key, default: []].append(m)
    }

    /// Sends the queued Flood messages: per link, in order, as many in each datagram as fit
    /// (``MeshConfiguration/maxDatagramSize``); one alone goes as a Flood.
    mutating func sendPendingFloods() {
        let batch = pendingFloods
        pendingFloods.removeAll(keepingCapacity: true)
        // Never more in one datagram than one burst of our allowances may take at once (a
        // receiver with smaller bursts takes what it can and pulls the rest later).
        let most = min(Wire.maxFloodsPerDatagram, configuration.outboundLimit.messageBurst, configuration.inboundLimit.messageBurst)
        for (key, list) in batch {
            var group: [FloodMessage] = []
            var size = Datagram.floodsOverhead
            for m in list {
                var entry = Datagram.floodEntrySize(m, after: group.last)
                if !group.isEmpty, size + entry > configuration.maxDatagramSize || group.count >= most {
                    sendFloods(group, to: key)
                    group.removeAll(keepingCapacity: true)
                    size = Datagram.floodsOverhead
                    entry = Datagram.floodEntrySize(m, after: nil)
                }
                group.append(m)
                size += entry
            }
            if !group.isEmpty { sendFloods(group, to: key) }
        }
    }

    /// One datagram of queued Floods: a Flood for one message, a Floods datagram for more.
    mutating func sendFloods(_ group: [FloodMessage], to key: PeerKey) {
        sendLinkMessage(group.count == 1 ? .flood(group[0]) : .floods(group), to: key, now: nil)
    }

    mutating func makeRoomForOrigin() {
        guard origins.count >= configuration.maxOrigins else { return }
        // Forget the least recently active origin other than ourselves (bounded memory beats
        // completeness here).
        var victim: Int?
        for i in origins.values.indices where origins.keys[i] != key {
            if victim.map({ origins.values[i].lastActive < origins.values[$0].lastActive }) ?? true { victim = i }
        }
        if let victim { origins.remove(at: victim) }
    }

    // MARK: Announcements and pulls

    mutating func onIHave(_ refs: [MessageRef], from peer: PeerKey, now: MeshTime) {
        for ref in refs { noteAvailable(ref, at: peer, now: now, delay: configuration.graftTimeout) }
    }

    /// Records that `peer` holds `ref`; if we lack it, a pull is scheduled.
    mutating func noteAvailable(_ ref: MessageRef, at peer: PeerKey, now: MeshTime, delay: Duration) {
        if let state = origins[ref.origin], state.window.status(ref.seq) != .new { return }
        if ref.origin == key { return }
        if var entry = missing[ref] {
            if !entry.announcers.contains(peer), entry.announcers.count < 8 { entry.announcers.append(peer) }
            missing[ref] = entry
            return
        }
        guard missing.count < configuration.messageCacheCapacity else { return }
        guard missingOpenedBy[peer, default: 0] < missingPerAnnouncer else {
            stats.announcementsIgnored += 1
            return
        }
        missing[ref] = Missing(openedBy: peer)
        missingOpenedBy[peer, default: 0] += 1
        schedule(.graft(ref), at: now + delay)
    }

    /// Pull entries one neighbor's announcements may hold open at once: an equal share of the
    /// table for each possible neighbor (at least 64).
    var missingPerAnnouncer: Int { max(64, configuration.messageCacheCapacity / (configuration.maxNeighbors + 1)) }

    /// Drops a pull entry and gives its announcer's quota back.
    mutating func forgetMissing(_ ref: MessageRef) {
        // Every new message asks; nothing is missing most of the time.
        guard !missing.isEmpty, let entry = missing.removeValue(forKey: ref) else { return }
        let opener = entry.openedBy
        if let n = missingOpenedBy[opener], n > 1 { missingOpenedBy[opener] = n - 1 } else { missingOpenedBy[opener] = nil }
    }

    mutating func graftTimerFired(_ ref: MessageRef, now: MeshTime) {
        guard var entry = missing[ref] else { return }
        if let state = origins[ref.origin], state.window.status(ref.seq) != .new {
            forgetMissing(ref)
            return
        }
        entry.announcers.removeAll { neighbors[$0] == nil }
        guard !entry.announcers.isEmpty, entry.attempts < configuration.maxGraftAttempts else {
            forgetMissing(ref)
            stats.lost += 1
            return
        }
        let target = entry.announcers[entry.attempts % entry.announcers.count]
        entry.attempts += 1
        missing[ref] = entry
        neighbors[target]?.eager = true
        neighbors[target]?.recentRefs.expect(ref)
        pendingGraft[target, default: []].append(ref)
        // Retry no sooner than an answer can come back: on a long link a faster retry makes the
        // announcer's answers arrive three times, which reads as a replay.
        let rtt = Duration.nanoseconds(neighbors[target]?.srtt ?? 0)
        schedule(.graft(ref), at: now + max(configuration.graftRetry, rtt + rtt / 2))
    }

    mutating func onGraft(_ refs: [MessageRef], from peer: PeerKey, now: MeshTime) {
        neighbors[peer]?.eager = true
        for ref in refs {
            guard var m = store[ref] else { continue }
            if unverified.contains(ref) {
                // Taken on the link's word so far: prove it before passing it on, once. A bad
                // signature is forgotten at once (no Graft can make us check it again) and costs
                // the origin's link, which vouched for it.
                unverified.remove(ref)
                guard isAuthentic(m, key: origins[m.origin]?.publicKey) else {
                    stats.forged += 1
                    store.remove(ref)
                    penalize(m.origin, by: 25, now: now)
                    continue
                }
            }
            // Send the copy as we would have forwarded it.
            if m.origin != key {
                guard m.hopLimit > 1 else { continue }
                m.hopLimit -= 1
                m.hops &+= 1
            }
            stats.graftsServed += 1
            queueFlood(m, to: peer)
        }
    }

    // MARK: Anti-entropy summaries

    /// The newest sequence number for a rotating selection of recently active origins.
    /// The origins that produced the newest messages come first (a message lost everywhere
    /// nearby is found within one keepalive), then a rotating selection of the other recent ones.
    mutating func summary(now: MeshTime, limit: Int = Wire.maxRefsPerMessage) -> [MessageRef] {
        guard !origins.isEmpty else { return [] }
        var refs: [MessageRef] = []
        for origin in recentOrigins.reversed() {
            if let state = origins[origin] { refs.append(MessageRef(origin: origin, seq: state.window.highest)) }
        }
        let count = origins.count
        var scanned = 0
        while refs.count < limit, scanned < count {
            summaryCursor = (summaryCursor + 1) % count
            let (origin, state) = (origins.keys[summaryCursor], origins.values[summaryCursor])
            if now - state.lastActive <= configuration.summaryHorizon, !recentOrigins.contains(origin) {
                refs.append(MessageRef(origin: origin, seq: state.window.highest))
            }
            scanned += 1
        }
        return refs
    }

    /// Keepalives between two that repeat every entry of the summary: the others carry only what
    /// changed since this neighbor last heard it.
    static var summaryRefreshPings: Int { 8 }

    /// Keepalives skipped in a row on a link that is busy anyway (it brought us something within
    /// the keepalive interval) and has nothing to announce: the round trip is still sampled every
    /// `keepaliveSkips + 1` intervals (2 s with lockstep's 500 ms).
    static var keepaliveSkips: Int { 3 }

    /// The summary for the neighbor at `index`: never its own origin (it knows its newest
    /// message), and an origin whose newest message it already heard of from us only in every
    /// ``summaryRefreshPings``-th keepalive (which finds a message lost along with its
    /// announcement). A quiet mesh then sends keepalives with empty summaries. An origin named
    /// to it in full before is named by its tag (8 bytes instead of 32), except in those
    /// refreshing keepalives, which name every origin in full.
    mutating func summary(for index: Int, now: MeshTime) -> (full: [MessageRef], known: [ShortRef]) {
        let peer = neighbors.keys[index]
        let all = summary(now: now)
        let refresh = neighbors.values[index].pingsSent % Self.summaryRefreshPings == 0
        neighbors.values[index].pingsSent &+= 1
        var told = neighbors.values[index].summarized
        let refs = all.filter { $0.origin != peer && (refresh || told[$0.origin] != $0.seq) }
        // Bounded: forgotten entries are only sent again, in full.
        if told.count >= 2 * Wire.maxRefsPerMessage { told = [:] }
        var full: [MessageRef] = []
        var known: [ShortRef] = []
        for r in refs {
            if !refresh, told[r.origin] != nil { known.append(ShortRef(tag: r.origin.tag, seq: r.seq)) } else { full.append(r) }
            told[r.origin] = r.seq
        }
        neighbors.values[index].summarized = told
        return (full, known)
    }

    /// The refs a neighbor's keepalive names: its full entries, which it may name by tag from
    /// then on, and its short entries it named in full before (a tag it never named is skipped).
    mutating func summaryRefs(_ p: Ping, from peer: PeerKey) -> [MessageRef] {
        guard let i = neighbors.index(forKey: peer) else { return [] }
        // Bounded like the sender's memory: it names in full again whatever it forgot.
        if neighbors.values[i].namedOrigins.count + p.summary.count > 4 * Wire.maxRefsPerMessage { neighbors.values[i].namedOrigins = [:] }
        for r in p.summary { neighbors.values[i].namedOrigins[r.origin.tag] = r.origin }
        var refs = p.summary
        for k in p.known {
            if let origin = neighbors.values[i].namedOrigins[k.tag] { refs.append(MessageRef(origin: origin, seq: k.seq)) }
        }
        return refs
    }

    mutating func noteRecentOrigin(_ origin: PeerKey) {
        guard recentOrigins.last != origin else { return }
        if let i = recentOrigins.firstIndex(of: origin) { recentOrigins.remove(at: i) }
        recentOrigins.append(origin)
        if recentOrigins.count > Wire.maxRefsPerMessage / 2 { recentOrigins.removeFirst() }
    }

    mutating func onSummary(_ refs: [MessageRef], from peer: PeerKey, now: MeshTime) {
        for ref in refs where ref.origin != key {
            if let state = origins[ref.origin] {
                for seq in state.window.missing(upTo: ref.seq, limit: 16) {
                    noteAvailable(MessageRef(origin: ref.origin, seq: seq), at: peer, now: now, delay: configuration.graftTimeout)
                }
            } else {
                // Unknown origin: pull only its newest few, not its whole history.
                let lo = ref.seq > 8 ? ref.seq - 7 : 1
                for seq in stride(from: ref.seq, through: lo, by: -1) where seq > 0 {
                    noteAvailable(MessageRef(origin: ref.origin, seq: seq), at: peer, now: now, delay: configuration.graftTimeout)
                }
            }
        }
    }
}
