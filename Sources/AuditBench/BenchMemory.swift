import Foundation

/// This process's peak resident set, reset between measurements: Linux keeps the high-water mark
/// (`VmHWM` in /proc/self/status), and writing 5 to /proc/self/clear_refs sets it back to the
/// current resident set, so the peak of one query is measured in a process that did other work first.
enum ProcessMemory {
    /// Sets the peak back to the current resident set; false where the kernel does not allow it.
    @discardableResult
    static func resetPeak() -> Bool {
        guard let h = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? h.close() }
        do { try h.write(contentsOf: Data("5".utf8)) } catch { return false }
        return true
    }

    /// (current, peak) resident set in MiB, from /proc/self/status; nil where it cannot be read.
    static func residentMiB() -> (current: Double, peak: Double)? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        var current: Double?, peak: Double?
        for line in text.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard parts.count >= 2, let kib = Double(parts[1]) else { continue }
            if parts[0] == "VmRSS:" { current = kib / 1024 }
            if parts[0] == "VmHWM:" { peak = kib / 1024 }
        }
        guard let current, let peak else { return nil }
        return (current, peak)
    }

    /// Runs `body` and returns its result with the process's peak resident set while it ran and
    /// the resident set before it (MiB), or nil figures where the peak cannot be reset.
    static func measure<T>(_ body: () async throws -> T) async rethrows -> (T, peak: Double?, before: Double?) {
        let canReset = resetPeak()
        let before = residentMiB()?.current
        let value = try await body()
        let peak = canReset ? residentMiB()?.peak : nil
        return (value, peak, before)
    }
}
