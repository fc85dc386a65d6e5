@testable import AuditAgent
import Testing

/// The agent pipeline's decisions as plain values: when a batch is cut, where a compressed
/// batch goes, and how far the checkpoints may move as batches become durable out of order.
@Suite struct PipelineDecisionTests {
    typealias Cutter = BatchCutter<ManualClock>

    func decide(_ cutter: Cutter, _ clock: ManualClock, events: Int, bytes: Int = 100, caughtUp: Bool = false,
                idle: Bool = false, stopping: Bool = false, oneShot: Bool = false) -> Cutter.Reason? {
        cutter.decide(events: events, bytes: bytes, now: clock.now, caughtUp: caughtUp, shippingIdle: idle,
                      stopping: stopping, exitWhenCaughtUp: oneShot)
    }

    @Test func anIdleShipperGetsTheBatchAsSoonAsEverythingIsRead() {
        let clock = ManualClock()
        var cutter = Cutter(maxEvents: 1000, maxBytes: 1 << 20, linger: .milliseconds(1000))
        cutter.holding(events: 3, now: clock.now)
        // Caught up and shipping idle: no linger is paid.
        #expect(decide(cutter, clock, events: 3, caughtUp: true, idle: true) == .idle)
        // Still reading: wait for more.
        #expect(decide(cutter, clock, events: 3, caughtUp: false, idle: true) == nil)
        // Shipping busy: the batch grows while it is.
        #expect(decide(cutter, clock, events: 3, caughtUp: true, idle: false) == nil)
        clock.advance(.milliseconds(999))
        #expect(decide(cutter, clock, events: 3, caughtUp: true, idle: false) == nil)
        clock.advance(.milliseconds(1))
        #expect(decide(cutter, clock, events: 3, caughtUp: true, idle: false) == .lingered)
    }

    @Test func limitsStoppingAndOneShotRunsCutAtOnce() {
        let clock = ManualClock()
        var cutter = Cutter(maxEvents: 10, maxBytes: 1000, linger: .seconds(5))
        cutter.holding(events: 1, now: clock.now)
        #expect(decide(cutter, clock, events: 10) == .full)
        #expect(decide(cutter, clock, events: 2, bytes: 1000) == .full)
        #expect(decide(cutter, clock, events: 2, stopping: true) == .stopping)
        #expect(decide(cutter, clock, events: 2, caughtUp: true, oneShot: true) == .caughtUp)
        #expect(decide(cutter, clock, events: 0, caughtUp: true, idle: true, stopping: true) == nil, "an empty batch is never cut")
    }

    @Test func theLingerStartsAtTheFirstEventAfterACut() {
        let clock = ManualClock()
        var cutter = Cutter(maxEvents: 1000, maxBytes: 1 << 20, linger: .milliseconds(100))
        cutter.holding(events: 0, now: clock.now)
        #expect(cutter.startedAt == nil)
        clock.advance(.milliseconds(500))
        cutter.holding(events: 1, now: clock.now)
        clock.advance(.milliseconds(50))
        cutter.holding(events: 5, now: clock.now)  // later events do not restart it
        #expect(decide(cutter, clock, events: 5) == nil)
        clock.advance(.milliseconds(50))
        #expect(decide(cutter, clock, events: 5) == .lingered)
        cutter.cut()
        #expect(cutter.startedAt == nil)
        #expect(decide(cutter, clock, events: 5) == nil)
    }

    @Test func compressedBatchesGoToTheSpoolWhenWaitingInMemoryWouldHoldCheckpoints() {
        func route(backingOff: Bool = false, running: Duration? = nil, bytes: Int = 0, batches: Int = 0, readAhead: Bool = true) -> ShippingRoute {
            ShippingRoute.decide(backingOff: backingOff, attemptRunning: running, spoolAfter: .seconds(1), readAhead: readAhead,
                                 outboxBytes: bytes, outboxBatches: batches, outboxLimitBytes: 1000, outboxLimitBatches: 4)
        }
        #expect(route() == .outbox)
        #expect(route(running: .milliseconds(999), bytes: 999, batches: 3) == .outbox)
        #expect(route(backingOff: true) == .spool)
        #expect(route(running: .seconds(1)) == .spool, "a slow aggregator: new batches are made durable instead of waiting")
        #expect(route(bytes: 1000) == .spool)
        #expect(route(batches: 4) == .spool)
        // A full outbox with no backups at risk: compression waits and the files are the buffer.
        #expect(route(bytes: 1000, readAhead: false) == .wait)
        #expect(route(batches: 4, readAhead: false) == .wait)
        #expect(route(backingOff: true, readAhead: false) == .spool, "an outage still spools")
        #expect(route(running: .seconds(2), readAhead: false) == .spool, "a slow aggregator still spools")
    }

    @Test func checkpointsPassOnlyAPrefixOfDurableBatches() {
        var ledger = CheckpointLedger<Int, Int>()
        ledger.cut(1, positions: [7: 100])
        ledger.cut(2, positions: [7: 200, 8: 50])
        ledger.cut(3, positions: [7: 300, 8: 60])
        #expect(ledger.pending == 3)
        // The second is durable first (spooled while the first was being sent): nothing moves.
        #expect(ledger.durable(2).isEmpty)
        #expect(ledger.pending == 3)
        // The first: both pass, the later position wins per file.
        #expect(ledger.durable(1) == [7: 200, 8: 50])
        #expect(ledger.pending == 1)
        #expect(ledger.durable(99).isEmpty, "an unknown sequence changes nothing")
        #expect(ledger.durable(2).isEmpty, "a sequence already passed changes nothing")
        #expect(ledger.durable(3) == [7: 300, 8: 60])
        #expect(ledger.isEmpty)
    }

    @Test func aLongRunOfBatchesIsCompactedAndStaysInOrder() {
        var ledger = CheckpointLedger<Int, Int>()
        var expected = 0
        for s in 1...1000 {
            ledger.cut(UInt64(s), positions: [1: s])
            if s % 3 == 0 {
                // Durable in reverse within each group of three.
                #expect(ledger.durable(UInt64(s)).isEmpty)
                #expect(ledger.durable(UInt64(s - 1)).isEmpty)
                let moved = ledger.durable(UInt64(s - 2))
                #expect(moved[1] == s)
                expected = s
            }
        }
        #expect(expected == 999)
        #expect(ledger.pending == 1)
        #expect(ledger.durable(1000) == [1: 1000])
    }
}
