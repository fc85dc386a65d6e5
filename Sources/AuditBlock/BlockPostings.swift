/// The block index: for each indexed field and value, the positions (row numbers) in the block
/// that hold it. A store keeps one posting per (field, value, block) instead of one index entry
/// per event, so a search reads the postings of the blocks in its time range and opens only the
/// blocks, and rows, that match.
public struct BlockPosting: Sendable, Hashable {
    public var field: BlockField
    public var value: String
    /// Row numbers in increasing order.
    public var positions: [Int]

    public init(field: BlockField, value: String, positions: [Int]) {
        self.field = field
        self.value = value
        self.positions = positions
    }

    /// The postings of a block's rows, for `BlockField.indexed`, sorted by field then value.
    public static func index(_ rows: [BlockRow], fields: [BlockField] = BlockField.indexed) -> [BlockPosting] {
        var out: [BlockPosting] = []
        for field in fields {
            var byValue: [String: [Int]] = [:]
            func add(_ value: String, _ i: Int) {
                guard !value.isEmpty else { return }
                Self.append(i, to: &byValue[value, default: []])
            }
            // Fields are read in place (no row copied, no array made per row).
            for i in rows.indices {
                switch field {
                case .node: Self.append(i, to: &byValue[rows[i].node, default: []])  // even empty, as `values(of:)`
                case .auditID: add(rows[i].auditID, i)
                case .stage: add(rows[i].stage, i)
                case .verb: add(rows[i].verb, i)
                case .user: if let u = rows[i].user { Self.append(i, to: &byValue[u, default: []]) }
                case .groups: for g in rows[i].groups { Self.append(i, to: &byValue[g, default: []]) }
                case .resource: add(rows[i].resource, i)
                case .subresource: add(rows[i].subresource, i)
                case .apiGroup: add(rows[i].apiGroup, i)
                case .namespace: add(rows[i].namespace, i)
                case .name: add(rows[i].name, i)
                case .code: if let c = rows[i].code { Self.append(i, to: &byValue[String(c), default: []]) }
                case .sourceIP: for ip in rows[i].sourceIPs { Self.append(i, to: &byValue[ip, default: []]) }
                case .userAgent: add(rows[i].userAgent, i)
                }
            }
            var postings = byValue.map { BlockPosting(field: field, value: $0.key, positions: $0.value) }
            postings.sort { $0.value < $1.value }
            out += postings
        }
        return out
    }

    private static func append(_ i: Int, to positions: inout [Int]) {
        if positions.last != i { positions.append(i) }
    }

    /// The positions as stored: count, then deltas (the first from -1), LEB128.
    public var encodedPositions: [UInt8] {
        var w = ByteWriter(capacity: positions.count + 2)
        w.varint(positions.count)
        var previous = -1
        for p in positions {
            w.varint(p - previous)
            previous = p
        }
        return w.bytes
    }

    /// Reads stored positions: increasing, each below `rowCount`.
    public static func decodePositions(_ bytes: [UInt8], rowCount: Int) throws(BlockFormatError) -> [Int] {
        var r = ByteReader(bytes, part: "postings")
        let n = try r.count(atMost: rowCount, "a posting's length")
        var out: [Int] = []
        out.reserveCapacity(n)
        var previous = -1
        for _ in 0..<n {
            let delta = try r.count(atMost: rowCount, "a position step")
            guard delta > 0, previous + delta < rowCount else { throw r.error(.invalid, "a position is not increasing or not below \(rowCount)") }
            previous += delta
            out.append(previous)
        }
        guard r.atEnd else { throw r.error(.invalid, "bytes after the last position") }
        return out
    }
}

/// One row of the hourly rollup: how many events of a block fell in an hour with these values.
/// Stores add the counts of every sealed block into one table, so counts over time, per verb,
/// user, resource, namespace, node or response code are read from the rollup instead of the events.
public struct RollupKey: Sendable, Hashable, Comparable {
    /// The hour's start, microseconds since 1970.
    public var hour: Int64
    public var verb: String
    /// The username, "" when the event has none.
    public var user: String
    public var resource: String
    public var namespace: String
    /// The node (apiserver) the event came from.
    public var node: String
    /// `responseStatus.code`; nil when the event has none.
    public var code: Int?

    public init(hour: Int64, verb: String, user: String, resource: String, namespace: String, node: String, code: Int?) {
        self.hour = hour
        self.verb = verb
        self.user = user
        self.resource = resource
        self.namespace = namespace
        self.node = node
        self.code = code
    }

    /// 0 (no code) or 1 to 5 (1xx to 5xx), as `BlockRow.codeClass`.
    public var codeClass: Int {
        guard let code, (100..<600).contains(code) else { return 0 }
        return code / 100
    }

    public static let hourMicroseconds: Int64 = 3_600_000_000

    /// The hour a time falls in (floor, also before 1970).
    public static func hour(of time: Int64) -> Int64 {
        let q = time / hourMicroseconds
        let floored = time % hourMicroseconds < 0 ? q - 1 : q
        return floored.multipliedReportingOverflow(by: hourMicroseconds).overflow ? q * hourMicroseconds : floored * hourMicroseconds
    }

    /// By hour, verb, user, resource, namespace, node, then code (none first); field by field,
    /// without building tuples of strings.
    public static func < (a: RollupKey, b: RollupKey) -> Bool {
        if a.hour != b.hour { return a.hour < b.hour }
        if a.verb != b.verb { return a.verb < b.verb }
        if a.user != b.user { return a.user < b.user }
        if a.resource != b.resource { return a.resource < b.resource }
        if a.namespace != b.namespace { return a.namespace < b.namespace }
        if a.node != b.node { return a.node < b.node }
        return (a.code ?? -1) < (b.code ?? -1)
    }

    public static let minuteMicroseconds: Int64 = 60_000_000

    /// The start of the minute, or of another whole `unit`, a time falls in (floor, also before 1970).
    public static func floor(_ time: Int64, unit: Int64) -> Int64 {
        let q = time / unit
        let floored = time % unit < 0 ? q - 1 : q
        return floored.multipliedReportingOverflow(by: unit).overflow ? q * unit : floored * unit
    }

    /// Event counts per minute of these order timestamps, sorted by minute.
    public static func minutes(_ times: [Int64]) -> [(minute: Int64, count: Int)] {
        var counts: [Int64: Int] = [:]
        for t in times { counts[floor(t, unit: minuteMicroseconds), default: 0] += 1 }
        return counts.sorted { $0.key < $1.key }.map { (minute: $0.key, count: $0.value) }
    }

    /// The rollup of a block's rows, sorted by key.
    public static func rollup(_ rows: [BlockRow]) -> [(key: RollupKey, count: Int)] {
        var counts: [RollupKey: Int] = [:]
        for i in rows.indices {
            let key = RollupKey(hour: hour(of: rows[i].time), verb: rows[i].verb, user: rows[i].user ?? "", resource: rows[i].resource,
                                namespace: rows[i].namespace, node: rows[i].node, code: rows[i].code)
            counts[key, default: 0] += 1
        }
        var out = counts.map { (key: $0.key, count: $0.value) }
        out.sort { $0.key < $1.key }
        return out
    }
}
