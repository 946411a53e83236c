import Testing
import MeshstepLockstep

@Suite("Frame pacing and time sync")
struct FramePacerTests {
    @Test("frames are due every 1/tickRate without drift; a late frame is followed by a shorter wait")
    func fixedRate() {
        var pacer = FramePacer(tickRate: 50)
        #expect(pacer.frameInterval == .milliseconds(20))
        #expect(pacer.next(now: .milliseconds(100), framesAhead: 0) == .milliseconds(120))
        // The next frame's work ended late (at 127 ms): the one after is still due at 140.
        #expect(pacer.next(now: .milliseconds(127), framesAhead: 1) == .milliseconds(140))
        #expect(pacer.next(now: .milliseconds(141), framesAhead: 0) == .milliseconds(160))
        #expect(pacer.stretched == .zero)
    }

    @Test("2 or more ticks ahead, each frame is stretched by 1 ms per tick beyond the first, at most 4 ms")
    func stretch() {
        #expect((0...7).map { FramePacer.stretch(framesAhead: $0) / .milliseconds(1) } == [0, 0, 1, 2, 3, 4, 4, 4])
        var pacer = FramePacer(tickRate: 50)
        _ = pacer.next(now: .zero, framesAhead: 0)
        #expect(pacer.next(now: .milliseconds(21), framesAhead: 3) == .milliseconds(42))
        #expect(pacer.next(now: .milliseconds(43), framesAhead: 9) == .milliseconds(66))
        #expect(pacer.next(now: .milliseconds(67), framesAhead: 0) == .milliseconds(86))
        #expect(pacer.stretched == .milliseconds(6))
    }

    @Test("after a stall longer than 10 frames the pacer goes on from now instead of racing to catch up")
    func stall() {
        var pacer = FramePacer(tickRate: 50)
        _ = pacer.next(now: .zero, framesAhead: 0)
        // 10 frames late: still caught up, frame by frame.
        #expect(pacer.next(now: .milliseconds(220), framesAhead: 0) == .milliseconds(40))
        // A 2-second stall: the next frame runs now, then the normal rate.
        #expect(pacer.next(now: .seconds(2), framesAhead: 0) == .seconds(2))
        #expect(pacer.next(now: .milliseconds(2001), framesAhead: 0) == .milliseconds(2020))
    }
}
