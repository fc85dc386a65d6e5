#if canImport(Glibc)
import Glibc
#endif

/// SQLite's own count of the heap it holds (page caches, statements, schemas) across every
/// connection of the process: `sqlite3_status64(SQLITE_STATUS_MEMORY_USED)`, read through the
/// dynamic linker so that no SQLite type leaves this file.
public enum SQLiteMemory {
    private typealias Status64 = @convention(c) (Int32, UnsafeMutablePointer<Int64>, UnsafeMutablePointer<Int64>, Int32) -> Int32
    private static let statusMemoryUsed: Int32 = 0

    private static let status64: Status64? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "sqlite3_status64") else { return nil }
        return unsafeBitCast(symbol, to: Status64.self)
    }()

    /// Bytes in use now and the most since the process started; nil when the library cannot say.
    public static func used() -> (current: Int64, highest: Int64)? {
        guard let status64 else { return nil }
        var current: Int64 = 0
        var highest: Int64 = 0
        guard status64(statusMemoryUsed, &current, &highest, 0) == 0 else { return nil }
        return (current, highest)
    }
}
