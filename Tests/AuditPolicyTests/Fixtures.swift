import Foundation
import SharedFixtures

/// Locations of files the tests read, relative to this source file (symlinks resolved).
enum Fixtures {
    /// The repository root (…/Tests/AuditPolicyTests/Fixtures.swift → …).
    static let repoRoot: URL = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// `shared/` lives beside the repository (a bare clone has none: see `SharedData`).
    static let shared: URL = SharedData.root
    static let realWorldPolicies: URL = shared.appendingPathComponent("real-world/policies")
    static let seeds: URL = shared.appendingPathComponent("seeds")
    static let presets: URL = repoRoot.appendingPathComponent("Deploy/policies")

    static func read(_ url: URL) throws -> String {
        try String(contentsOf: url, encoding: .utf8)
    }

    static func files(in dir: URL, suffixes: [String] = [".yaml", ".yml"]) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { name in suffixes.contains { name.hasSuffix($0) } }.sorted()
            .map { dir.appendingPathComponent($0) }
    }
}
