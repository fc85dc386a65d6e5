import Foundation
import SharedFixtures
import Testing

/// Stores written by earlier versions (Tests/Fixtures/store-vN), unpacked into a fresh directory.
enum FixtureStores {
    static func directory(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/\(name)").path
    }

    /// A fresh copy of `Fixtures/NAME/store.sqlite.gz`, unzipped; returns its path.
    static func unpack(_ name: String) throws -> String {
        let dir = TestTemporaries.directory(name)
        let path = dir + "/store.sqlite"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "gzip -dc '\(directory(name))/store.sqlite.gz' > '\(path)'"]
        try p.run()
        p.waitUntilExit()
        try #require(p.terminationStatus == 0, "gzip could not unpack the fixture \(name)")
        return path
    }
}
