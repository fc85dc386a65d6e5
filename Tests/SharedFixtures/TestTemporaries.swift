import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Scratch directories for a test process, all under one root that is removed when the process
/// exits, so that repeated test runs do not fill the machine's temporary directory.
public enum TestTemporaries {
    /// `$TMPDIR/auditship-tests-<pid>`, made on first use; removed at exit.
    public static let root: String = {
        let dir = NSTemporaryDirectory() + "auditship-tests-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        atexit { TestTemporaries.removeRoot() }
        return dir
    }()

    private static func removeRoot() {
        try? FileManager.default.removeItem(atPath: root)
    }

    /// A new, empty directory under the root, named after `name` (letters only) and a random suffix.
    public static func directory(_ name: String) -> String {
        let dir = root + "/\(name.filter { $0.isLetter || $0 == "-" })-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }
}
