import AuditAgent
import AuditModel
import AuditWire
import Foundation

/// The agent's pipeline on two threads, as its stages run: one thread reads, splits and
/// validates (no policy, every event sent) into batches of 1,000 events, the other compresses
/// them; a bounded queue of two batches between them. No network: what two cores give the
/// agent's own work, for the wall-clock figure beside zlib alone on one core.
enum BenchThreadedPipeline {
    /// Reads `file` through; returns the events and bytes read and the compressed size.
    static func run(file: String, gzipLevel: Int32) throws -> (events: Int, bytes: Int, compressed: Int) {
        let f = try OpenFile(path: file)
        let (identity, _) = try f.identity()
        let tailed = TailedFile(path: file, file: f, identity: identity, offset: 0, line: 0, maxLineBytes: 4 << 20)
        let queue = BatchQueue(limit: 2)
        let compressor = Thread {
            var compressed = 0
            while let batch = queue.take() {
                compressed += (try? WireCompression.gzip.compress(batch, gzipLevel: gzipLevel).count) ?? 0
                queue.giveBack(batch)
            }
            queue.finish(compressed: compressed)
        }
        compressor.name = "bench-compress"
        compressor.start()
        var events = 0
        var bytes = 0
        var quarantined: [QuarantinedLine] = []
        while true {
            var body = queue.spare()
            let readAny = try tailed.read(eventBudget: 1000, byteBudget: 4 << 20, summaries: false, quarantined: &quarantined) { line, _, _ in
                events += 1
                bytes += line.count + 1
                body.append(contentsOf: line)
                body.append(0x0A)
            }
            quarantined.removeAll()
            if !body.isEmpty { queue.put(body) }
            if !readAny && tailed.reachedEnd { break }
        }
        return (events, bytes, queue.close())
    }

    /// Batches from the reading thread to the compressing thread, and emptied buffers back.
    final class BatchQueue: @unchecked Sendable {
        private let condition = NSCondition()
        private let limit: Int
        private var batches: [[UInt8]] = []
        private var spares: [[UInt8]] = []
        private var closed = false
        private var done = false
        private var compressed = 0

        init(limit: Int) { self.limit = limit }

        func spare() -> [UInt8] {
            condition.withLock { spares.popLast() ?? [] }
        }

        func put(_ batch: [UInt8]) {
            condition.withLock {
                while batches.count >= limit { condition.wait() }
                batches.append(batch)
                condition.broadcast()
            }
        }

        func take() -> [UInt8]? {
            condition.withLock {
                while batches.isEmpty && !closed { condition.wait() }
                if batches.isEmpty { return nil }
                condition.broadcast()
                return batches.removeFirst()
            }
        }

        func giveBack(_ batch: [UInt8]) {
            var b = batch
            b.removeAll(keepingCapacity: true)
            condition.withLock { if spares.count < 2 { spares.append(b) } }
        }

        func finish(compressed: Int) {
            condition.withLock {
                self.compressed = compressed
                done = true
                condition.broadcast()
            }
        }

        /// No more batches: waits for the compressing thread; the compressed size.
        func close() -> Int {
            condition.withLock {
                closed = true
                condition.broadcast()
                while !done { condition.wait() }
                return compressed
            }
        }
    }
}
