import AuditAgent
import Foundation

/// The backfill's checkpoints: per input file (keyed by the SHA-256 of its first 64 KiB),
/// how far it was acknowledged. Written atomically after every acknowledged batch.
public struct BackfillState: Codable, Sendable {
    public struct FileRecord: Codable, Sendable, Hashable {
        /// Where the file was last seen (informative: the key identifies it).
        public var path: String
        /// Uncompressed offset after the last acknowledged line (JSON lines).
        public var offset: Int64 = 0
        /// Lines acknowledged (JSON lines), or items acknowledged (documents).
        public var line: Int64 = 0
        /// True when the file is a JSON document (array, EventList, pretty-printed event).
        public var document: Bool?
        public var complete = false
        public init(path: String) { self.path = path }
    }

    public var version = 1
    public var files: [String: FileRecord] = [:]

    public static func path(directory: String) -> String { directory + "/backfill.json" }

    public static func load(directory: String) throws -> BackfillState {
        let p = path(directory: directory)
        guard let data = FileManager.default.contents(atPath: p) else { return BackfillState() }
        do {
            let state = try JSONDecoder().decode(BackfillState.self, from: data)
            guard state.version == 1 else {
                throw BackfillInputs.Problem(description: "\(p): state version \(state.version) is not understood by this auditship (expected 1)")
            }
            return state
        } catch let e as BackfillInputs.Problem {
            throw e
        } catch {
            throw BackfillInputs.Problem(description: "\(p): unreadable backfill state (\(error)); move it away to start over (events already stored are not stored twice)")
        }
    }

    public func save(directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try Durable.write(try encoder.encode(self), to: BackfillState.path(directory: directory))
    }
}
