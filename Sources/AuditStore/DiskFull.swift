import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// Telling a full disk apart from other store failures: a full disk is the operator's to fix and
/// goes away by itself once space is freed, so the aggregator refuses batches with a retryable
/// answer that says so (agents keep them) and resumes without a restart.
public enum DiskFull {
    /// A description of the full disk when `error` is SQLite's "database or disk is full"
    /// (or an I/O error that the system reported as ENOSPC); nil for any other error.
    public static func sqlite(_ error: any Error) -> String? {
        guard let e = error as? DatabaseError else { return nil }
        if e.resultCode == .SQLITE_FULL { return "SQLite: database or disk is full" }
        if e.resultCode == .SQLITE_IOERR, e.message?.contains("No space left") == true { return "SQLite: no space left on device" }
        return nil
    }

    /// Free bytes on the file system that holds `path` (its directory when it does not exist yet).
    public static func freeBytes(at path: String) -> Int64? {
        var s = statvfs()
        let target = FileManager.default.fileExists(atPath: path) ? path : (path as NSString).deletingLastPathComponent
        guard statvfs(target.isEmpty ? "." : target, &s) == 0 else { return nil }
        return Int64(s.f_bavail) * Int64(s.f_frsize)
    }
}
