import AuditBlock
import AuditGenerator
import AuditModel
import Foundation
import Zstd

extension Bench {
    /// The store's block format on its own: bytes an event in sealed blocks (events, columns,
    /// postings) for generated logs and, where `../shared/real-world/audit-logs` is beside the
    /// repository, for the real-world logs; sealing speed beside zstd alone over the same bytes.
    mutating func blockFormat() throws {
        let count = quick ? 20_000 : 400_000
        say("block format: sealing \(count) generated events in blocks of 4,096")
        var events: [(bytes: [UInt8], row: BlockRow)] = []
        events.reserveCapacity(count)
        for line in AuditLogGenerator(GeneratorConfiguration(events: count, seed: 61, node: "n1", rate: 300)) {
            events.append((line, BlockRow(node: "n1", summary: try EventScanner.scan(line))))
        }
        let rawBytes = events.reduce(0) { $0 + $1.bytes.count }
        var stored = 0
        let t = ContinuousClock.now
        for start in stride(from: 0, to: events.count, by: 4096) {
            stored += try SealedBlock.seal(cluster: "bench", events: Array(events[start..<min(start + 4096, events.count)])).storedBytes
        }
        let sealSeconds = seconds(since: t)
        let tz = ContinuousClock.now
        for start in stride(from: 0, to: events.count, by: 4096) {
            var joined: [UInt8] = []
            for e in events[start..<min(start + 4096, events.count)] { joined += e.bytes }
            _ = try Zstd.compress(joined, level: SealedBlock.defaultLevel)
        }
        let zstdSeconds = seconds(since: tz)
        let perEvent = Double(stored) / Double(count)
        figures.append(BenchFigure(section: "store blocks", name: "block parts per generated event (events + columns + postings), bytes",
                                   value: perEvent, unit: "bytes", referenceName: "the event's own bytes, mean",
                                   reference: Double(rawBytes) / Double(count), target: "room within 150 bytes everything included",
                                   met: perEvent < 150))
        figures.append(BenchFigure(section: "store blocks", name: "sealing (columns, postings, rollup, zstd), events/s on one core",
                                   value: Double(count) / sealSeconds, unit: "events/s",
                                   referenceName: "zstd -\(SealedBlock.defaultLevel) alone over the same bytes", reference: Double(count) / zstdSeconds))

        let folder = "../shared/real-world/audit-logs"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else {
            say("block format: real-world logs skipped (\(folder) is not there)")
            return
        }
        var real: [(bytes: [UInt8], row: BlockRow)] = []
        for name in names.sorted() where name.hasSuffix(".log") || name.hasSuffix(".json") {
            guard let data = FileManager.default.contents(atPath: folder + "/" + name) else { continue }
            for line in data.split(separator: 0x0A) {
                let bytes = Array(line)
                if let s = try? EventScanner.scan(bytes), !s.auditID.isEmpty { real.append((bytes, BlockRow(node: "n1", summary: s))) }
            }
        }
        guard !real.isEmpty else { return }
        let realStored = try SealedBlock.seal(cluster: "real", events: Array(real.prefix(SealedBlock.maxEvents))).storedBytes
        let n = min(real.count, SealedBlock.maxEvents)
        figures.append(BenchFigure(section: "store blocks", name: "block parts per real-world event (the \(n) one-line events of \(folder)), bytes",
                                   value: Double(realStored) / Double(n), unit: "bytes", referenceName: "the event's own bytes, mean",
                                   reference: Double(real.prefix(n).reduce(0) { $0 + $1.bytes.count }) / Double(n)))
    }
}
