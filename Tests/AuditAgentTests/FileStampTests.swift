@testable import AuditAgent
import Foundation
import Testing

@Suite struct FileStampTests {
    /// A backup is deleted and the next file created may get its inode: a cache keyed by device
    /// and inode alone would take the new live file for the old one (and skip it as shipped).
    @Test func aNewFileAtAReusedInodeIsNotTheOldOne() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stamp-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/audit.log"
        let line = Array(repeating: UInt8(ascii: "a"), count: 99) + [0x0A]
        try Data(line).write(to: URL(fileURLWithPath: path))
        let old = try FilePrefix(path: path)
        var reused = false
        // Creation sets the change time; wait past the filesystem's timestamp granularity.
        for _ in 0..<20 where !reused {
            unlink(path)
            usleep(20_000)
            try Data(line.map { $0 == 0x0A ? $0 : UInt8(ascii: "b") }).write(to: URL(fileURLWithPath: path))
            var st = stat()
            #expect(stat(path, &st) == 0)
            let now = FileStamp(st)
            #expect(!now.isUnchanged(since: old.stamp))
            reused = now.device == old.stamp.device && now.inode == old.stamp.inode
        }
        if !reused { print("FileStampTests: this filesystem did not reuse the inode in 20 tries; the change time was checked anyway") }
        // The same file, untouched, keeps its stamp; a write changes it.
        var a = stat(), b = stat()
        stat(path, &a)
        stat(path, &b)
        #expect(FileStamp(b).isUnchanged(since: FileStamp(a)))
        usleep(20_000)
        let h = try #require(FileHandle(forWritingAtPath: path))
        h.seekToEndOfFile()
        h.write(Data(line))
        try h.close()
        stat(path, &b)
        #expect(!FileStamp(b).isUnchanged(since: FileStamp(a)))
    }
}
