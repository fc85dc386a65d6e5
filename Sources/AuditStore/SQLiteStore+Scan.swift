import AuditBlock
import AuditModel
import Foundation
import GRDB

/// One event a multi-scan hands over.
public struct ScannedEvent: Sendable {
    public var sequence: Int64
    public var cluster: String
    public var node: String
    public var bytes: [UInt8]
    /// The order timestamp (stageTimestamp).
    public var timestamp: Timestamp
}

/// A store that reads several filters' events in one pass (`alerts hunt`).
public protocol ScanningStore: EventStore {
    /// Every event of the cluster (nil: all) and window that passes at least one of `scans` (each a
    /// conjunction of `FieldMatch`es), once, in (order timestamp, ingest sequence) order, with the
    /// indices of the scans it passes; all within one read transaction (one snapshot).
    func scan(_ scans: [[FieldMatch]], cluster: String?, since: Timestamp?, until: Timestamp?,
              _ body: (ScannedEvent, [Int]) throws -> Void) throws
}

extension SQLiteStore: ScanningStore {
    /// The index chooses each scan's candidate blocks; the union is read in time order. Per block
    /// the filtered columns are compared as dictionary ids (each distinct value tested once), and
    /// only the matching events' bytes are decompressed. Events wait in a small buffer until no
    /// later block can hold an earlier one (blocks may overlap in time), then go out in order.
    public func scan(_ scans: [[FieldMatch]], cluster: String?, since: Timestamp?, until: Timestamp?,
                     _ body: (ScannedEvent, [Int]) throws -> Void) throws {
        for m in scans.joined() where m.field == .groups || m.field == .sourceIP {
            throw StoreError("a scan cannot filter on \(m.field): it is a list column; filter its events afterwards")
        }
        try pool.read { db in
            var blockScans: [Int64: [Int]] = [:]
            var metas: [Int64: BlockMeta] = [:]
            for (i, matches) in scans.enumerated() {
                var q = EventQuery(cluster: cluster, since: since, until: until)
                q.matches = matches
                guard let plan = try self.plan(db, q) else { continue }
                for meta in try self.candidates(db, plan, order: .none) {
                    blockScans[meta.firstID, default: []].append(i)
                    metas[meta.firstID] = meta
                }
            }
            let order = metas.values.sorted { ($0.minTS, $0.firstID) < ($1.minTS, $1.firstID) }
            var fields: Set<BlockField> = [.node]
            for matches in scans { for m in matches where m.field != .code { fields.insert(m.field) } }
            var clusters: [Int64: String] = [:]
            var pending: [(event: ScannedEvent, scans: [Int])] = []
            func release(before watermark: Int64?) throws {
                pending.sort { ($0.event.timestamp.microseconds, $0.event.sequence) < ($1.event.timestamp.microseconds, $1.event.sequence) }
                var sent = 0
                for p in pending {
                    if let watermark, p.event.timestamp.microseconds >= watermark { break }
                    try body(p.event, p.scans)
                    sent += 1
                }
                pending.removeFirst(sent)
            }
            for (k, meta) in order.enumerated() {
                let p = try self.blockProjection(db, meta, fields: fields)
                var matched: [Int: [Int]] = [:]
                for s in blockScans[meta.firstID] ?? [] {
                    for row in Self.rows(p, scans[s], since: since?.microseconds, until: until?.microseconds) {
                        matched[row, default: []].append(s)
                    }
                }
                if !matched.isEmpty {
                    let raw = try self.blockEvents(db, meta, only: Set(matched.keys))
                    let clusterName: String
                    if let c = clusters[meta.clusterID] {
                        clusterName = c
                    } else {
                        clusterName = try self.clusterName(db, meta.clusterID)
                        clusters[meta.clusterID] = clusterName
                    }
                    let nodes = p.values[.node] ?? [], nodeIDs = p.ids[.node] ?? []
                    for (row, s) in matched {
                        guard let bytes = raw[row] ?? nil else { continue }
                        let nodeID = row < nodeIDs.count ? Int(nodeIDs[row]) : 0
                        let node = nodeID > 0 && nodeID <= nodes.count ? nodes[nodeID - 1] : ""
                        pending.append((ScannedEvent(sequence: meta.firstID + Int64(row), cluster: clusterName, node: node, bytes: bytes,
                                                     timestamp: Timestamp(microseconds: p.times[row])), s.sorted()))
                    }
                }
                try release(before: k + 1 < order.count ? order[k + 1].minTS : nil)
            }
            try release(before: nil)
        }
    }

    /// The rows of a projected block inside the window that pass every match, each column's
    /// distinct values tested once.
    static func rows(_ p: BlockProjection, _ matches: [FieldMatch], since: Int64?, until: Int64?) -> [Int] {
        var allowed: [(ids: [Int32], ok: [Bool])] = []
        var codeMatches: [FieldMatch] = []
        for m in matches {
            if m.field == .code {
                codeMatches.append(m)
                continue
            }
            guard let ids = p.ids[m.field] else { return [] }
            let values = p.values[m.field] ?? []
            // Id 0 is "no value": passes only an exclusion, as `FieldMatch.matches` on a row.
            var ok = [m.negated]
            ok.reserveCapacity(values.count + 1)
            for v in values { ok.append(m.matches(value: v)) }
            if !ok.contains(true) { return [] }
            allowed.append((ids, ok))
        }
        var out: [Int] = []
        rowLoop: for i in 0..<p.count {
            let t = p.times[i]
            if let since, t < since { continue }
            if let until, t >= until { continue }
            for a in allowed {
                let id = Int(a.ids[i])
                guard id < a.ok.count, a.ok[id] else { continue rowLoop }
            }
            for m in codeMatches where !m.matches(code: p.codes[i]) { continue rowLoop }
            out.append(i)
        }
        return out
    }
}
