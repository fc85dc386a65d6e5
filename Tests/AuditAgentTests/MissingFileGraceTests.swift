import AuditAgent
import Testing

/// A clock moved by hand.
final class ManualClock: Clock, @unchecked Sendable {
    struct Instant: InstantProtocol {
        var offset: Duration
        func advanced(by d: Duration) -> Instant { Instant(offset: offset + d) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (a: Instant, b: Instant) -> Bool { a.offset < b.offset }
    }

    var now = Instant(offset: .zero)
    var minimumResolution: Duration { .nanoseconds(1) }
    func sleep(until deadline: Instant, tolerance: Duration?) async throws { now = max(now, deadline) }
    func advance(_ d: Duration) { now = now.advanced(by: d) }
}

@Suite struct MissingFileGraceTests {
    @Test func aRecordCountsAsGoneOnlyAfterTheGracePeriod() {
        let clock = ManualClock()
        var grace = MissingFileGrace(clock: clock, grace: .seconds(5))
        do { let gone = grace.missing("a"); #expect(!gone) }
        clock.advance(.seconds(4))
        do { let gone = grace.missing("a"); #expect(!gone) }
        clock.advance(.milliseconds(999))
        do { let gone = grace.missing("a"); #expect(!gone) }
        clock.advance(.milliseconds(1))
        do { let gone = grace.missing("a"); #expect(gone) }
        #expect(grace.watching == 0)
    }

    @Test func beingFoundAgainRestartsTheGracePeriod() {
        let clock = ManualClock()
        var grace = MissingFileGrace(clock: clock, grace: .seconds(5))
        do { let gone = grace.missing("twin.gz"); #expect(!gone) }
        clock.advance(.seconds(4))
        // The .gz twin became readable: the record matches again.
        grace.found("twin.gz")
        clock.advance(.seconds(4))
        do { let gone = grace.missing("twin.gz"); #expect(!gone) }
        clock.advance(.seconds(4))
        do { let gone = grace.missing("twin.gz"); #expect(!gone) }
        clock.advance(.seconds(1))
        do { let gone = grace.missing("twin.gz"); #expect(gone) }
    }

    @Test func recordsAreWatchedIndependently() {
        let clock = ManualClock()
        var grace = MissingFileGrace(clock: clock, grace: .seconds(5))
        do { let gone = grace.missing("old"); #expect(!gone) }
        clock.advance(.seconds(3))
        do { let gone = grace.missing("new"); #expect(!gone) }
        #expect(grace.watching == 2)
        clock.advance(.seconds(2))
        do { let gone = grace.missing("old"); #expect(gone) }
        do { let gone = grace.missing("new"); #expect(!gone) }
        clock.advance(.seconds(3))
        do { let gone = grace.missing("new"); #expect(gone) }
    }

    @Test func aZeroGraceActsAtOnce() {
        var grace = MissingFileGrace(clock: ManualClock(), grace: .zero)
        do { let gone = grace.missing("x"); #expect(gone) }
    }
}
