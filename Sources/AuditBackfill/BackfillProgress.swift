import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Progress on standard error: a bar redrawn in place on a terminal, otherwise one plain
/// line every few seconds; the summary at the end.
public final class BackfillProgress {
    let terminal: Bool
    let interval: Double
    let write: (String) -> Void
    var files = 0
    var fileIndex = 0
    var totalBytes: Int64 = 0
    var bytes: Int64 = 0
    var events = 0
    let started = Date()
    var lastPrint = Date.distantPast

    public init(terminal: Bool = isatty(2) != 0, interval: Double = 5, write: @escaping (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }) {
        self.terminal = terminal
        self.interval = interval
        self.write = write
    }

    func begin(files: Int, bytes: Int64) {
        self.files = files
        totalBytes = bytes
        write("backfill: \(files) files, \(Self.size(bytes))\n")
    }

    func file(index: Int, path: String) {
        fileIndex = index
        show(force: false)
    }

    func advance(bytes: Int64, events: Int) {
        self.bytes += bytes
        self.events += events
        show(force: false)
    }

    var line: String {
        let elapsed = max(0.001, Date().timeIntervalSince(started))
        let rate = Double(events) / elapsed
        let fraction = totalBytes > 0 ? min(1, Double(bytes) / Double(totalBytes)) : 1
        let eta = fraction > 0.001 && fraction < 1 ? elapsed * (1 - fraction) / fraction : 0
        let done = "files \(min(fileIndex + 1, files))/\(files)  \(Self.size(bytes))/\(Self.size(totalBytes))  \(events) events  \(Int(rate)) events/s  ETA \(Self.duration(eta))"
        if terminal {
            let width = 24
            let filled = Int(fraction * Double(width))
            return "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "] " + done
        }
        return "backfill: " + done
    }

    func show(force: Bool) {
        let now = Date()
        let every = terminal ? 0.2 : interval
        guard force || now.timeIntervalSince(lastPrint) >= every else { return }
        lastPrint = now
        write(terminal ? "\r\u{1B}[2K" + line : line + "\n")
    }

    func finish(_ s: BackfillSummary) {
        if terminal { write("\r\u{1B}[2K" + line + "\n") }
        var text = """
        backfill \(s.interrupted ? "interrupted (run the same command again to continue)" : "done") in \(String(format: "%.1f", s.seconds)) s
          files: \(s.files) (\(s.filesAlreadyComplete) already complete, \(s.skippedFiles) skipped: not audit logs)
          events read: \(s.eventsRead) (\(Self.size(s.bytesRead)) uncompressed)  stored: \(s.stored)  duplicates already present: \(s.duplicates)
          skipped by time range: \(s.skippedByTime)  dropped by policy: \(s.droppedByPolicy)  malformed: \(s.malformed)  refused: \(s.refused)

        """
        if s.eventsRead > 0 && s.stored == 0 && !s.interrupted {
            text += "  nothing new was stored: every event was already there\n"
        } else if s.filesAlreadyComplete == s.files && s.files > 0 {
            text += "  nothing new was stored: every file was already backfilled\n"
        }
        if !s.problems.isEmpty {
            text += "  first problems:\n" + s.problems.map { "    \($0)\n" }.joined()
        }
        write(text)
    }

    static func size(_ b: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(b)
        var u = 0
        while v >= 1024 && u < units.count - 1 { v /= 1024; u += 1 }
        return u == 0 ? "\(b) B" : String(format: "%.1f %@", v, units[u])
    }

    static func duration(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? "\(t / 3600)h\(t / 60 % 60)m" : t >= 60 ? "\(t / 60)m\(t % 60)s" : "\(t)s"
    }
}
