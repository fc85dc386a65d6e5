import AuditAgent
import AuditBackfill
import Foundation
import Logging
import Synchronization
import SharedFixtures
import Testing

/// The window of batches a concurrent sink (the store) takes at once: a file's record moves only
/// over batches the sink acknowledged, oldest first, whatever order the deliveries finish in.
@Suite struct BackfillWindowTests {
    /// A sink that takes several batches at once and finishes them in an order of its choosing.
    final class ScriptedSink: ConcurrentBackfillSink {
        let concurrentBatches: Int
        /// Batch number (from 0) → milliseconds its delivery takes.
        let delay: @Sendable (Int) -> Int
        /// The batch whose delivery fails, if any.
        let failing: Int?
        let started = Mutex<Int>(0)
        let finishedOrder = Mutex<[Int]>([])
        let stored = Mutex<Set<String>>([])
        /// Batch number → its events.
        let sizes = Mutex<[Int: Int]>([:])

        init(concurrentBatches: Int, failing: Int? = nil, delay: @escaping @Sendable (Int) -> Int) {
            self.concurrentBatches = concurrentBatches
            self.failing = failing
            self.delay = delay
        }

        struct Failed: Error {}

        func deliver(_ events: [SourcedEvent], batchID: String) async throws -> BackfillDelivery? {
            let n = started.withLock { n in defer { n += 1 }; return n }
            sizes.withLock { $0[n] = events.count }
            try await Task.sleep(for: .milliseconds(delay(n)))
            finishedOrder.withLock { $0.append(n) }
            if n == failing { throw Failed() }
            let fresh = stored.withLock { s in events.filter { s.insert(String(decoding: $0.bytes, as: UTF8.self)).inserted }.count }
            return BackfillDelivery(stored: fresh, duplicates: events.count - fresh)
        }
    }

    func history(_ lines: Int) throws -> (dir: String, file: String) {
        let dir = TestTemporaries.directory("backfill-window")
        try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
        let file = dir + "/in/audit.log"
        // About 260 bytes a line: the reader takes 256 KiB at a time, so a batch is about 1,000 lines.
        let pad = String(repeating: "x", count: 190)
        let text = (0..<lines).map { #"{"auditID":"id-\#($0)","verb":"get","stage":"ResponseComplete","pad":"\#(pad)"}"# + "\n" }.joined()
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        return (dir, file)
    }

    func run(_ sink: ScriptedSink, dir: String, file: String, batch: Int) async throws -> BackfillSummary {
        var options = BackfillOptions(cluster: "c", node: "n", stateDirectory: dir + "/state", paths: [file])
        options.batchMaxEvents = batch
        let backfill = try Backfill(options: options, sink: sink, logger: Logger(label: "test"),
                                    progress: BackfillProgress(terminal: false, write: { _ in }), shouldStop: { false })
        return try await backfill.run()
    }

    @Test func deliveriesFinishingOutOfOrderStillCompleteTheFileOnce() async throws {
        let (dir, file) = try history(10_000)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // About ten batches, four at a time; each takes less time than the one before it.
        let sink = ScriptedSink(concurrentBatches: 4) { n in 5 + max(0, 12 - n) * 8 }
        let summary = try await run(sink, dir: dir, file: file, batch: 1000)
        #expect(sink.sizes.withLock { $0.count } >= 8)
        #expect(summary.stored == 10_000)
        #expect(summary.duplicates == 0)
        let order = sink.finishedOrder.withLock { $0 }
        #expect(order != order.sorted(), "the deliveries should have finished out of order: \(order)")
        let state = try BackfillState.load(directory: dir + "/state")
        #expect(state.files.values.first?.complete == true)
        #expect(state.files.values.first?.line == 10_000)
    }

    @Test func aFailedBatchStopsTheRecordBeforeItAndTheRerunDeliversTheRestOnce() async throws {
        let (dir, file) = try history(10_000)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Batch 3 fails; batches 4 and 5, in flight beside it, finish first and may have been stored.
        let sink = ScriptedSink(concurrentBatches: 4, failing: 3) { n in n == 3 ? 80 : 5 }
        let first = try await run(sink, dir: dir, file: file, batch: 1000)
        #expect(first.problems.contains { $0.contains("audit.log") }, "the failure is reported: \(first.problems)")
        let state = try BackfillState.load(directory: dir + "/state")
        let record = try #require(state.files.values.first)
        let sizes = sink.sizes.withLock { $0 }
        let acknowledged = (0..<3).reduce(0) { $0 + (sizes[$1] ?? 0) }
        #expect(sink.finishedOrder.withLock { $0 }.contains(4), "batch 4 finished while batch 3 was in flight")
        #expect(record.line == Int64(acknowledged), "the record stops after the last batch acknowledged in order")
        #expect(!record.complete)
        // A second run starts at line 300: nothing is lost, and what was stored already counts as duplicates.
        let again = ScriptedSink(concurrentBatches: 4) { _ in 1 }
        let batchesBefore = sink.stored.withLock { $0 }
        let second = try await run(again, dir: dir, file: file, batch: 1000)
        #expect(second.eventsRead == 10_000 - acknowledged)
        let union = batchesBefore.union(again.stored.withLock { $0 })
        #expect(union.count == 10_000)
        #expect(try BackfillState.load(directory: dir + "/state").files.values.first?.complete == true)
    }
}
