import AuditModel
import Foundation
import GRDB

/// Values of a field that start with a prefix, for the search box's autocomplete.
public protocol ValueSuggestions: Sendable {
    /// At most `limit` values of `field` ever stored that start with `prefix` (case-sensitive),
    /// in byte order.
    func values(of field: FacetField, prefix: String, limit: Int) async throws -> [String]
}

extension EventStore {
    /// Suggestions for any store: the store's own dictionary when it has one (`ValueSuggestions`),
    /// else the most frequent values of the last `window` that start with the prefix.
    public func suggestions(_ field: FacetField, prefix: String, limit: Int, window: Int64 = 7 * 86_400_000_000) async throws -> [String] {
        if let dictionary = self as? any ValueSuggestions {
            return try await dictionary.values(of: field, prefix: prefix, limit: limit)
        }
        var q = EventQuery()
        q.since = Timestamp(microseconds: QueryParameters.now.microseconds - window)
        let found = try await facets(q, fields: [field], top: 10_000)[field] ?? []
        return Array(found.map(\.value).filter { $0.hasPrefix(prefix) }.sorted().prefix(limit))
    }
}

extension SQLiteStore: ValueSuggestions {
    public func values(of field: FacetField, prefix: String, limit: Int) async throws -> [String] {
        // The dictionary's (field, value) key answers a prefix as one range.
        let upper = prefix + "\u{10FFFF}"
        return try await pool.read { db in
            if let b = field.blockField {
                return try String.fetchAll(db, sql: "SELECT value FROM terms WHERE field = ? AND value >= ? AND value < ? AND value <> '' ORDER BY value LIMIT ?",
                                           arguments: [Int(b.rawValue), prefix, upper, limit])
            }
            return try String.fetchAll(db, sql: "SELECT value FROM dims WHERE kind = ? AND value >= ? AND value < ? ORDER BY value LIMIT ?",
                                       arguments: [DimKind.cluster.rawValue, prefix, upper, limit])
        }
    }
}
