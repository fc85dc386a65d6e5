import Foundation

/// The record of the searches readers make through the aggregator (`--query-log FILE`): one JSON
/// object a line, appended with O_APPEND and written whole, the file created 0600. The auditors
/// are audited: who (certificate, and the person an authenticating proxy signed in), when, which
/// API path and filter, the answer's status and how many results it held.
///
/// It holds the filters people typed (names of users and objects), never event content.
public actor QueryLog {
    public struct Entry: Codable, Sendable, Hashable {
        public var time: String
        public var reader: String
        public var person: String?
        public var path: String
        /// The request's query string, as sent (percent-encoded).
        public var filter: String
        public var status: Int
        /// Events on the page, the count asked for, or the histogram's total; nil where the
        /// answer holds no count (facets, a streamed export).
        public var results: Int?
    }

    let path: String
    private var handle: FileHandle?

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw QueryLogError("cannot open the query log \(path): \(String(cString: strerror(errno)))") }
        handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    }

    /// Appends one entry (a failure to write is returned, for the caller to log and count).
    public func record(_ entry: Entry) -> (any Error)? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            var data = try encoder.encode(entry)
            data.append(UInt8(ascii: "\n"))
            try handle?.write(contentsOf: data)
            return nil
        } catch {
            return error
        }
    }

    /// Most bytes read back from the end of the file for `latest`.
    static let tailBytes = 8 << 20

    /// The newest `limit` entries, newest first (from the file's last `tailBytes`).
    public func latest(limit: Int) throws -> [Entry] {
        guard let reader = FileHandle(forReadingAtPath: path) else { throw QueryLogError("cannot read the query log \(path)") }
        defer { try? reader.close() }
        let size = try reader.seekToEnd()
        let start = size > UInt64(Self.tailBytes) ? size - UInt64(Self.tailBytes) : 0
        try reader.seek(toOffset: start)
        let data = try reader.readToEnd() ?? Data()
        var lines = data.split(separator: UInt8(ascii: "\n"))
        if start > 0, !lines.isEmpty { lines.removeFirst() }   // a line cut by the tail's start
        let decoder = JSONDecoder()
        var out: [Entry] = []
        for line in lines.reversed() {
            guard out.count < limit else { break }
            if let e = try? decoder.decode(Entry.self, from: Data(line)) { out.append(e) }
        }
        return out
    }
}

struct QueryLogError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
