/// How rotated backups of a live audit file are named, and their order.
///
/// - kube-apiserver (lumberjack): `audit.log` → `audit-2026-01-02T15-04-05.123.log`, compressed `….log.gz`
///   (the timestamp is UTC and sorts as text).
/// - logrotate, numbered: `audit.log.1`, `audit.log.2.gz` (higher is older).
/// - logrotate, dateext: `audit.log-20260102` (+ `.gz`).
public enum BackupNaming {
    /// A recognised backup.
    public struct Backup: Sendable, Hashable {
        public var name: String
        public var compressedName: Bool
        /// Orders backups oldest first within one scheme.
        public var order: Order
    }

    public enum Order: Sendable, Hashable, Comparable {
        /// Text that sorts oldest first (timestamps, dates).
        case stamp(String)
        /// logrotate's number: higher is older.
        case number(Int)

        public static func < (a: Order, b: Order) -> Bool {
            switch (a, b) {
            case (.stamp(let x), .stamp(let y)): return x < y
            case (.number(let x), .number(let y)): return x > y
            case (.number, .stamp): return true  // numbered backups are older than dated ones
            case (.stamp, .number): return false
            }
        }
    }

    /// The backups of `live` (a file name, not a path) among `names`, oldest first.
    public static func backups(of live: String, among names: [String]) -> [Backup] {
        let (stem, ext) = split(live)
        var out: [Backup] = []
        for name in names where name != live {
            var base = name
            let gz = base.hasSuffix(".gz")
            if gz { base = String(base.dropLast(3)) }
            if !ext.isEmpty || !stem.isEmpty, base.hasPrefix(stem + "-"), base.hasSuffix(ext) {
                let middle = base.dropFirst(stem.count + 1).dropLast(ext.count)
                if isKubeStamp(middle) { out.append(Backup(name: name, compressedName: gz, order: .stamp(String(middle)))); continue }
            }
            if base.hasPrefix(live + ".") {
                let suffix = base.dropFirst(live.count + 1)
                if let n = Int(suffix), n >= 0 { out.append(Backup(name: name, compressedName: gz, order: .number(n))); continue }
            }
            if base.hasPrefix(live + "-") {
                let suffix = base.dropFirst(live.count + 1)
                if suffix.count >= 8, suffix.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-") }) {
                    out.append(Backup(name: name, compressedName: gz, order: .stamp(String(suffix))))
                }
            }
        }
        return out.sorted { $0.order != $1.order ? $0.order < $1.order : (!$0.compressedName && $1.compressedName) }
    }

    /// `audit.log` → ("audit", ".log"); `audit` → ("audit", "").
    static func split(_ name: String) -> (String, String) {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return (name, "") }
        return (String(name[..<dot]), String(name[dot...]))
    }

    /// `2026-01-02T15-04-05.123`
    static func isKubeStamp(_ s: Substring) -> Bool {
        let b = Array(s.utf8)
        guard b.count == 23 else { return false }
        let digits = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22]
        for i in digits where !(b[i] >= 48 && b[i] <= 57) { return false }
        return b[4] == 45 && b[7] == 45 && b[10] == 84 && b[13] == 45 && b[16] == 45 && b[19] == 46
    }
}
