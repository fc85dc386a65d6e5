import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Lines the agent could not ship, kept for an operator to inspect.
///
/// `STATE/quarantine.ndjson`, mode 0600, one JSON object a line:
/// `{"file":…,"line":N,"offset":N,"reason":"code","message":"…","bytes":N,"content":"…"}`
/// where `content` is the line as a JSON string (cut at 64 KiB; `truncated:true` then).
/// When the file passes its size limit it is renamed to `quarantine.ndjson.1`
/// (replacing an older one), so it stays bounded.
public final class Quarantine {
    public let path: String
    let maxBytes: Int
    public private(set) var count = 0

    public init(directory: String, maxBytes: Int) {
        self.path = directory + "/quarantine.ndjson"
        self.maxBytes = maxBytes
    }

    /// Appends one quarantined line.
    public func add(file: String, line: Int64, offset: Int64, reason: String, message: String, content: [UInt8]?) {
        count += 1
        var record: [String: Any] = [
            "file": file, "line": line, "offset": offset, "reason": reason, "message": message,
            "time": ISO8601DateFormatter().string(from: Date()),
        ]
        if let content {
            let cut = content.prefix(64 * 1024)
            record["bytes"] = content.count
            record["content"] = String(decoding: cut, as: UTF8.self)
            if cut.count < content.count { record["truncated"] = true }
        }
        guard var data = try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]) else { return }
        data.append(0x0A)
        if let attrs = try? FileManager.default.attributesOfItem(atPath: path),
           let size = attrs[.size] as? Int, size + data.count > maxBytes {
            _ = rename(path, path + ".1")
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        defer { close(fd) }
        data.withUnsafeBytes { p in
            if let base = p.baseAddress { _ = Glibc.write(fd, base, p.count) }
        }
    }
}
