import Foundation
import MeshstepBots
import Testing

@testable import MeshstepLockstep
import MeshstepWire

@Suite("Late join into an open slot")
struct OpenSlotTests {
    static let config = LockstepConfiguration(players: 4).withOpenSlots([3])

    /// A valid Ed25519 key that is none of the roster's.
    static func newcomerKey(_ i: Int = 0) -> [UInt8] {
        SessionKeys.generated(configuration: LockstepConfiguration(players: 4), seed: 77).descriptor.keys[i]
    }

    @Test("a descriptor with open slots round-trips; keys for open slots and bad open-slot lists are typed errors")
    func descriptorWithOpenSlots() throws {
        let generated = SessionKeys.generated(configuration: Self.config, seed: 1)
        let d = generated.descriptor
        #expect(d.openSlots == [3] && d.keys[3] == SessionDescriptor.openSlotKey && d.filledSlots == [0, 1, 2])
        try d.validate(against: Self.config)
        let bytes = d.encode()
        #expect(bytes.starts(with: Array("meshstep-session-v2".utf8)))
        #expect(try SessionDescriptor.decode(bytes) == d)
        // Without open slots the encoding (and so every session hash) is the one it always was.
        let plain = SessionKeys.generated(configuration: LockstepConfiguration(players: 4), seed: 1).descriptor
        #expect(plain.encode().starts(with: Array("meshstep-session-v1".utf8)))
        #expect(d.hash != plain.hash)
        // A key in an open slot is refused, on the wire and by validation.
        var keyed = bytes
        keyed[keyed.count - 1] = 1
        #expect(throws: WireError.self) { try SessionDescriptor.decode(keyed) }
        var forged = d
        forged.keys[3] = Self.newcomerKey()
        #expect(throws: LockstepConfigurationError.keyForOpenSlot(slot: 3)) { try forged.validate(against: Self.config) }
        // Another peer's open slots make another session.
        #expect(!d.matches(LockstepConfiguration(players: 4)))
        #expect(throws: LockstepConfigurationError.invalidOpenSlots([3])) { try d.validate(against: LockstepConfiguration(players: 4)) }
        for bad in [[4], [1, 1], [0, 1, 2, 3]] {
            #expect(throws: LockstepConfigurationError.invalidOpenSlots(bad.sorted())) {
                try LockstepConfiguration(players: 4).withOpenSlots(bad).validate()
            }
        }
        // Nobody signs an acceptance for an open slot.
        #expect(!d.verifyAcceptance(slot: 3, signature: Array(repeating: 0, count: 64)))
    }

    @Test("an admission binding a newcomer's key round-trips in a roster change and a checkpoint")
    func admissionsWithKeys() throws {
        let key = Self.newcomerKey()
        let change = RosterChange(epoch: 1, drops: [], admits: [RosterChange.Admit(slot: 3, checkpoint: 600, tick: 630, key: key)])
        var w = ByteWriter(capacity: 64)
        change.encode(into: &w)
        var r = ByteReader(w.bytes)
        #expect(try RosterChange.decode(from: &r, players: 4) == change)
        let rejoin = RosterChange(epoch: 1, drops: [], admits: [RosterChange.Admit(slot: 3, checkpoint: 600, tick: 630)])
        #expect(change.signedBytes(session: []) != rejoin.signedBytes(session: []))
        // A key flag other than 0 or 1 is refused.
        var bad = w.bytes
        bad[bad.count - 33] = 2
        var rb = ByteReader(bad)
        #expect(throws: WireError.self) { try RosterChange.decode(from: &rb, players: 4) }

        var cp = SessionCheckpoint(
            tick: 600, epoch: 1, inputDelay: 3, slots: [.active, .active, .active, .absent(from: 600, until: 630)],
            chains: (0..<4).map { ChainDigest(high: UInt64($0), low: 1) }, bindings: [SessionCheckpoint.Binding(slot: 3, key: key)],
            readmissions: change.admits)
        cp.game = [1, 2, 3]
        let hash = Array(repeating: UInt8(5), count: 32)
        #expect(try SessionCheckpoint.decode(cp.encode(sessionHash: hash), sessionHash: hash, players: 4) == cp)
    }

    @Test("players endorse only a newcomer that asked for a vacant open slot, and adopting the admission binds its key")
    func endorsementRules() throws {
        let generated = SessionKeys.generated(configuration: Self.config, seed: 1)
        let keys = try SessionKeys(descriptor: generated.descriptor, signer: generated.signers[1])
        var s = LockstepSession<Move>(configuration: Self.config, role: .player(1), keys: keys)
        #expect(s.roster.vacantOpenSlots == [3] && s.activeSlots == [0, 1, 2] && s.roster.drops.isEmpty)
        let newcomer = Self.newcomerKey(), other = Self.newcomerKey(1)
        let admit = RosterChange.Admit(slot: 3, checkpoint: 60, tick: 90, key: newcomer)
        #expect(!s.admissible(admit))  // nobody asked
        s.noteSlotRequest(slot: 3, key: newcomer, now: .seconds(1))
        #expect(s.admissible(admit))
        #expect(!s.admissible(RosterChange.Admit(slot: 3, checkpoint: 60, tick: 90, key: other)))  // another key than the one that asked
        #expect(!s.admissible(RosterChange.Admit(slot: 3, checkpoint: 60, tick: 90)))  // no key of its own to come back
        // A roster player's key cannot take the open slot as well, nor can a request for a filled slot count.
        s.noteSlotRequest(slot: 3, key: generated.descriptor.keys[0], now: .seconds(1))
        #expect(!s.admissible(RosterChange.Admit(slot: 3, checkpoint: 60, tick: 90, key: generated.descriptor.keys[0])))
        s.noteSlotRequest(slot: 2, key: other, now: .seconds(1))
        #expect(!s.admissible(RosterChange.Admit(slot: 2, checkpoint: 60, tick: 90, key: other)))
        // At most four newcomers per slot are remembered.
        for i in 2..<8 { s.noteSlotRequest(slot: 3, key: Self.newcomerKey(i % 4), now: .seconds(1)) }
        #expect((s.slotRequests[3]?.count ?? 0) <= 4)
        // The open slot's placeholder key is nobody's.
        s.noteSlotRequest(slot: 3, key: SessionDescriptor.openSlotKey, now: .seconds(1))
        #expect(s.returnRequests.isEmpty)
        // A request goes stale after the return-request lifetime.
        s.advanceClock(.seconds(7))
        #expect(!s.admissible(admit))
        s.noteSlotRequest(slot: 3, key: newcomer, now: .seconds(7))
        #expect(s.admission(3).key == newcomer)

        let events = s.readmit(admit)
        #expect(events == [.joined(slot: 3, tick: 90)])
        #expect(s.keys.key(of: 3) == newcomer && s.keys.slot(of: newcomer) == 3)
        #expect(s.roster.vacantOpenSlots.isEmpty && s.activeSlots == [0, 1, 2, 3])
        // Its own key may come back after a drop; another newcomer cannot ask for a filled slot.
        s.noteSlotRequest(slot: 3, key: other, now: .seconds(8))
        #expect(s.slotRequests[3] == nil)
    }

    @Test("a newcomer fills an open slot mid-game: admitted at an agreed tick, it resumes from a checkpoint and finishes in agreement")
    func newcomerFillsOpenSlot() throws {
        var scenario = BotsScenario(players: 4, ticks: 600, loss: 0.05, latency: .milliseconds(20), jitter: .milliseconds(5), seed: 3)
        scenario.openSlots = [3]
        scenario.lateJoins = [(slot: 3, tick: 200)]
        let r = try scenario.run()
        #expect(r.open_slots == [3])
        #expect(r.late_joins.map(\.slot) == [3] && r.rejoins.isEmpty)
        #expect(r.late_joins.allSatisfy { $0.tick > $0.checkpoint && $0.checkpoint >= 200 })
        #expect(r.ticks_completed == 600)
        #expect(r.checksums_agree && r.desyncs == 0)
        #expect(r.drops.isEmpty && r.drops_agree && r.halted.isEmpty)
        #expect(r.snapshot_bytes > 0)
    }

    @Test("an open slot nobody fills stays empty: the others play the whole match, and it is no drop")
    func openSlotStaysEmpty() throws {
        var scenario = BotsScenario(players: 3, ticks: 300, loss: 0, latency: .milliseconds(20), jitter: .zero, seed: 2)
        scenario.openSlots = [2]
        let r = try scenario.run()
        #expect(r.ticks_completed == 300 && r.checksums_agree)
        #expect(r.drops.isEmpty && r.late_joins.isEmpty && r.halted.isEmpty)
    }
}
