import Foundation
import Testing
import MeshstepLockstep
import MeshstepWire

@Suite("Determinism helpers")
struct DeterminismTests {
    @Test func fixedArithmetic() {
        #expect(Fixed(3, 2) * 2 == Fixed(3))
        #expect(Fixed(3, 2) * Fixed(2) == Fixed(3))
        #expect(Fixed(7) / Fixed(2) == Fixed(7, 2))
        #expect(Fixed(-7) / Fixed(2) == Fixed(-7, 2))
        #expect((Fixed(-5, 2)).floor == -3)
        #expect((Fixed(-5, 2)).rounded == -3)
        #expect((Fixed(5, 2)).rounded == 3)
        #expect(Fixed(1) / .zero == .zero)  // never traps
        #expect(Fixed(5, 0) == .zero)
        let huge = Fixed(raw: .max)
        #expect(huge + huge == Fixed(raw: -2))  // wraps, never traps
        #expect((huge / Fixed(raw: 1)).raw == .max)  // saturates
        #expect(Fixed(-3).magnitude == Fixed(3))
        // Edge cases that once trapped or flipped sign.
        #expect(Fixed(raw: .min) / Fixed(-1) == Fixed(raw: .max))  // saturates
        #expect(Fixed(raw: .min) / (-1 as Int) == Fixed(raw: .min))  // wraps, like the other integer operators
        #expect(Fixed(Int(Int64.min >> 16), -1).raw == Int64.min)
        #expect(Fixed(raw: .max).rounded > 0 && Fixed(raw: .min).rounded < 0)
        #expect((Fixed(raw: .max) / Fixed(raw: 1 << 15)).raw == .max)  // saturates, no sign flip
        #expect(Fixed(1 << 32).squareRoot == Fixed(1 << 16))
    }

    @Test func squareRoot() {
        for n in [0, 1, 4, 9, 144, 10_000] {
            let r = Fixed(n).squareRoot
            #expect(r * r == Fixed(n), "sqrt(\(n)) = \(r)")
        }
        #expect(abs(Fixed(2).squareRoot.double - 2.0.squareRoot()) < 1e-4)
    }

    @Test func trigonometryIsCloseAndExactlyRepeatable() {
        var worst = 0.0
        for i in 0..<4096 {
            let turns = Fixed(raw: Int64(i * 16))
            let s = Fixed.sin(turns: turns), c = Fixed.cos(turns: turns)
            // Double is used only to check the approximation, never inside a game.
            worst = max(worst, abs(s.double - _sinTurns(turns.double)), abs(c.double - _sinTurns(turns.double + 0.25)))
        }
        #expect(worst < 0.002)
        #expect(Fixed.sin(turns: Fixed(1, 4)) == .one)
        #expect(Fixed.sin(turns: Fixed(3, 4)) == -Fixed.one)
        #expect(Fixed.sin(turns: .zero) == .zero)
    }

    @Test func gameRandomIsReproducibleAndInRange() {
        var a = GameRandom(seed: 42), b = GameRandom(seed: 42), c = GameRandom(seed: 43)
        let seqA = (0..<100).map { _ in a.next() }
        #expect(seqA == (0..<100).map { _ in b.next() })
        #expect(seqA != (0..<100).map { _ in c.next() })
        var counts = [Int](repeating: 0, count: 6)
        for _ in 0..<60_000 {
            let v = a.int(in: 1...6)
            #expect((1...6).contains(v))
            counts[v - 1] += 1
        }
        #expect(counts.allSatisfy { (9_000...11_000).contains($0) })
        #expect(a.int(in: 5...5) == 5)
        _ = a.int(in: Int.min...Int.max)  // the full range never traps
        #expect((-1...Int.max).contains(a.int(in: -1...Int.max)))
    }

    @Test("stable hashing: the same bytes give the same value in every process")
    func stableHash() {
        var h = StableHasher()
        h.combine(bytes: Array("meshstep".utf8))
        // Reference value computed independently (FNV-1a 64 + murmur3 finalizer) in Python.
        #expect(h.finalize() == StableHasherReference.meshstep)
        var a = StableHasher(), b = StableHasher()
        a.combine(1); a.combine(2)
        b.combine(2); b.combine(1)
        #expect(a.finalize() != b.finalize())
    }
}

func _sinTurns(_ t: Double) -> Double { sin(t * 2 * .pi) }

@Suite("Sync-test mode")
struct SyncTestTests {
    @Test func deterministicGamePasses() {
        let report = SyncTest<Walkers>(players: 4, seed: 9).run(ticks: 600, input: botMove)
        #expect(report.firstMismatchTick == nil)
        #expect(report.ticksRun == 600)
    }

    @Test("a game with hidden global state is caught, with the tick")
    func nondeterminismCaught() {
        var sync = SyncTest<SloppyWalkers>(players: 8, seed: 1)
        sync.rollbackInterval = 0
        let report = sync.run(ticks: 200, input: botMove)
        #expect(report.kind == "replica")
        #expect(report.firstMismatchTick == 50)
    }

    @Test("a snapshot that forgets state is caught")
    func snapshotCaught() {
        let report = SyncTest<ForgetfulWalkers>(players: 2, seed: 3).run(ticks: 100, input: botMove)
        #expect(report.kind == "snapshot")
        #expect(report.firstMismatchTick == 1)
    }
}

@Suite("Replays")
struct ReplayTests {
    func recorded(ticks: Int = 300) -> Replay<Move> {
        var game = Walkers(players: 3, seed: 77)
        var replay = Replay<Move>(players: 3, seed: 77)
        for tick in 0..<ticks {
            // Slot 2 drops out at tick 200.
            let row: [Move?] = (0..<3).map { slot in slot == 2 && tick >= 200 ? nil : botMove(tick, slot) }
            game.step(inputs: row)
            replay.record(row, checksum: (tick + 1) % 30 == 0 ? game.checksum() : nil)
        }
        return replay
    }

    @Test func roundTripAndVerify() throws {
        let replay = recorded()
        let bytes = replay.encode()
        let decoded = try Replay<Move>.decode(bytes)
        #expect(decoded == replay)
        guard case let .verified(ticks, checkpoints, _) = decoded.verify(with: Walkers.self) else {
            Issue.record("a faithful replay must verify")
            return
        }
        #expect(ticks == 300 && checkpoints == 10)
    }

    @Test("a tampered replay fails: changed bytes break integrity, a rewritten one breaks a checkpoint")
    func tampering() throws {
        let replay = recorded()
        var bytes = replay.encode()
        bytes[40] ^= 0x01
        #expect(throws: ReplayError.integrityMismatch) { try Replay<Move>.decode(bytes) }
        // A careful tamperer rewrites an input and recomputes the trailer: re-simulation catches it.
        var forged = replay
        forged.inputs[100][0] = Move(direction: (replay.inputs[100][0]!.direction + 1) % 8, boost: true)
        let verdict = try Replay<Move>.decode(forged.encode()).verify(with: Walkers.self)
        #expect(verdict != .verified(ticks: 300, checkpoints: 10, finalChecksum: 0))
        if case let .mismatch(tick, _, _) = verdict { #expect(tick == 120) } else { Issue.record("expected a mismatch, got \(verdict)") }
    }

    @Test("corrupt and random files give typed errors, never a trap")
    func corruptFiles() {
        let bytes = recorded(ticks: 40).encode()
        #expect(throws: ReplayError.notAReplay) { try Replay<Move>.decode([1, 2, 3]) }
        var wrongVersion = bytes; wrongVersion[4] = 9
        #expect(throws: ReplayError.unsupportedVersion(9)) { try Replay<Move>.decode(wrongVersion) }
        for n in stride(from: 0, to: bytes.count, by: 7) {
            #expect(throws: ReplayError.self) { try Replay<Move>.decode(Array(bytes.prefix(n))) }
        }
        var rng = GameRandom(seed: 5)
        for _ in 0..<2000 {
            let junk = [UInt8]("MSRP".utf8) + [1] + (0..<rng.int(in: 0...64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            _ = try? Replay<Move>.decode(junk)
        }
    }
}
