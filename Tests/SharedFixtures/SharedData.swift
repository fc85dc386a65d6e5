import Foundation

/// Where the tests find `../shared`: the real-world audit logs, policies, rules and seed documents
/// that live beside the repository where CI runs, and that a bare clone does not have.
///
/// The data comes from other public projects under their own licences and is never copied into
/// the project. A test that reads it is enabled with `SharedData.enabled(_:)`: with the folder there
/// it runs in full; without it, it is skipped with one printed line naming what is missing; and under
/// `AUDITSHIP_REQUIRE_SHARED=1` (CI) it runs anyway, so a missing folder fails loudly instead.
public enum SharedData {
    /// The repository root (…/Tests/SharedFixtures/SharedData.swift → …).
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `../shared`, or `AUDITSHIP_SHARED_DIR` when set (to point a run elsewhere, or at nothing).
    public static let root: URL = {
        if let dir = ProcessInfo.processInfo.environment["AUDITSHIP_SHARED_DIR"], !dir.isEmpty {
            return URL(fileURLWithPath: dir)
        }
        return repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared")
    }()

    /// True under `AUDITSHIP_REQUIRE_SHARED=1`: a missing folder is a failure, not a skip.
    public static let isRequired: Bool = ProcessInfo.processInfo.environment["AUDITSHIP_REQUIRE_SHARED"] == "1"

    /// `../shared/<relative>` as a URL.
    public static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }

    /// `../shared/<relative>` as a path.
    public static func path(_ relative: String) -> String { url(relative).path }

    /// Whether `../shared/<relative>` exists (a file or a folder).
    public static func exists(_ relative: String) -> Bool {
        FileManager.default.fileExists(atPath: path(relative))
    }

    /// Whether a test that reads `../shared/<relative>` should run: when it is there, or when it
    /// is required (then the test runs and fails on what is missing).
    public static func shouldRun(_ relative: String) -> Bool { exists(relative) || isRequired }

    /// The one line a skipped test prints.
    public static func skipReason(_ relative: String) -> String {
        "\(path(relative)) is not there (a bare clone has no ../shared; CI has it and requires it)"
    }
}
