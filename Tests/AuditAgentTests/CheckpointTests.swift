@testable import AuditAgent
import Foundation
import SharedFixtures
import Testing

/// A scratch directory for one test (removed with the test process's root at exit).
func temporaryDirectory(_ name: String = #function) -> String {
    TestTemporaries.directory("test-" + name)
}

@Suite struct CheckpointTests {
    let identity = FileIdentity(device: 1, inode: 42, fingerprint: "00ff00ff00ff00ff", fingerprintLength: 1024)

    @Test func savesAndLoads() throws {
        let dir = temporaryDirectory()
        let file = CheckpointFile(directory: dir)
        #expect(file.load().records.isEmpty)
        let records = [CheckpointRecord(path: "/var/log/audit.log", identity: identity, offset: 1234, line: 7)]
        try file.save(records)
        #expect(file.load().records == records)
        #expect(!FileManager.default.fileExists(atPath: file.path + ".tmp"))
        let mode = try FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func aCorruptFileFallsBackToThePreviousCopy() throws {
        let dir = temporaryDirectory()
        let file = CheckpointFile(directory: dir)
        let first = [CheckpointRecord(path: "a", identity: identity, offset: 100, line: 1)]
        let second = [CheckpointRecord(path: "a", identity: identity, offset: 200, line: 2)]
        try file.save(first)
        try file.save(second)
        #expect(file.load().records == second)
        // Truncate the current copy as a crash in the middle of a write might.
        let data = try Data(contentsOf: URL(fileURLWithPath: file.path))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: file.path))
        let loaded = file.load()
        #expect(loaded.records == first)
        #expect(loaded.warnings.count == 1)
        // Saving over a damaged file keeps the last good copy as the previous one.
        try file.save(second)
        #expect(file.load().records == second)
        let third = [CheckpointRecord(path: "a", identity: identity, offset: 300, line: 3)]
        try file.save(third)
        // A current copy whose content was altered fails its checksum.
        var text = try String(contentsOfFile: file.path, encoding: .utf8)
        text = text.replacingOccurrences(of: "300", with: "900")
        try text.write(toFile: file.path, atomically: false, encoding: .utf8)
        #expect(file.load().records == second)  // .prev holds `second`
    }

    @Test func garbageEverywhereStartsEmptyWithWarnings() throws {
        let dir = temporaryDirectory()
        let file = CheckpointFile(directory: dir)
        try Data([0, 0, 0, 0]).write(to: URL(fileURLWithPath: file.path))
        try Data("{".utf8).write(to: URL(fileURLWithPath: file.previousPath))
        let loaded = file.load()
        #expect(loaded.records.isEmpty)
        #expect(loaded.warnings.count == 2)
    }
}

@Suite struct BackoffTests {
    @Test func growsDoublingToTheCeilingAndResets() {
        var b = Backoff(initialMilliseconds: 500, maxMilliseconds: 30_000)
        var ceilings: [Int] = []
        for _ in 0..<9 { ceilings.append(b.ceilingMilliseconds); _ = b.next(random: 1) }
        #expect(ceilings == [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000])
        b.reset()
        #expect(b.next(random: 0) == 250)
        #expect(b.next(random: 1) == 1000)
        for _ in 0..<100 { _ = b.next(random: 0.5) }
        #expect(b.ceilingMilliseconds == 30_000)
    }
}
