import AuditAgent
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Expands backfill arguments (files, directories recursively, globs) into files in the
/// order they should be read: per directory, each live file's rotated backups oldest first
/// (by the timestamp or number in their names, as ``BackupNaming`` orders them), the live
/// file last.
public enum BackfillInputs {
    public struct Problem: Error, CustomStringConvertible {
        public var description: String
    }

    public static func expand(_ arguments: [String]) throws(Problem) -> [String] {
        var files: [String] = []
        for argument in arguments {
            if argument.contains(where: { "*?[".contains($0) }) {
                var g = glob_t()
                defer { globfree(&g) }
                guard glob(argument, 0, nil, &g) == 0 else { throw Problem(description: "'\(argument)' matches no file") }
                for i in 0..<Int(g.gl_pathc) {
                    if let p = g.gl_pathv[i] { files.append(contentsOf: try regularFiles(String(cString: p))) }
                }
            } else {
                files.append(contentsOf: try regularFiles(argument))
            }
        }
        var seen: Set<String> = []
        files = files.filter { seen.insert($0).inserted }
        return order(files)
    }

    static func regularFiles(_ path: String) throws(Problem) -> [String] {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw Problem(description: "'\(path)': \(String(cString: strerror(errno)))")
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            var out: [String] = []
            guard let walker = FileManager.default.enumerator(atPath: path) else {
                throw Problem(description: "'\(path)': cannot list the directory")
            }
            while let name = walker.nextObject() as? String {
                let full = (path as NSString).appendingPathComponent(name)
                var s = stat()
                if stat(full, &s) == 0 && (s.st_mode & S_IFMT) == S_IFREG { out.append(full) }
            }
            return out
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw Problem(description: "'\(path)' is not a regular file or directory") }
        return [path]
    }

    /// The live file name a backup belongs to: `audit-2026-01-02T15-04-05.123.log.gz` → `audit.log`,
    /// `audit.log.3.gz` → `audit.log`, `audit.log-20260102` → `audit.log`; other names are their own.
    public static func liveName(of name: String) -> String {
        var base = name
        if base.hasSuffix(".gz") { base.removeLast(3) }
        let chars = Array(base)
        // kube: STEM-YYYY-MM-DDTHH-MM-SS.mmm[EXT]
        let stampLength = 23
        var i = 0
        while i + 1 + stampLength <= chars.count {
            if chars[i] == "-" {
                let stamp = String(chars[(i + 1)..<(i + 1 + stampLength)])
                if isKubeStamp(stamp) {
                    let live = String(chars[..<i]) + String(chars[(i + 1 + stampLength)...])
                    if !BackupNaming.backups(of: live, among: [name]).isEmpty { return live }
                }
            }
            i += 1
        }
        // logrotate numbered: LIVE.N
        if let dot = base.lastIndex(of: "."), !base[base.index(after: dot)...].isEmpty, base[base.index(after: dot)...].allSatisfy(\.isNumber) {
            let live = String(base[..<dot])
            if !BackupNaming.backups(of: live, among: [name]).isEmpty { return live }
        }
        // logrotate dateext: LIVE-YYYYMMDD
        if let dash = base.lastIndex(of: "-"), base[base.index(after: dash)...].count == 8, base[base.index(after: dash)...].allSatisfy(\.isNumber) {
            let live = String(base[..<dash])
            if !BackupNaming.backups(of: live, among: [name]).isEmpty { return live }
        }
        return name
    }

    static func isKubeStamp(_ s: String) -> Bool {
        let pattern = Array("dddd-dd-ddTdd-dd-dd.ddd")
        let c = Array(s)
        guard c.count == pattern.count else { return false }
        for (p, x) in zip(pattern, c) {
            if p == "d" { if !x.isASCII || !x.isNumber { return false } } else if p != x { return false }
        }
        return true
    }

    /// Orders files: by directory, then by live name; backups oldest first, the live file last.
    public static func order(_ files: [String]) -> [String] {
        var groups: [String: [String]] = [:]
        for f in files {
            let dir = (f as NSString).deletingLastPathComponent
            let live = liveName(of: (f as NSString).lastPathComponent)
            groups[dir + "\u{0}" + live, default: []].append(f)
        }
        var out: [String] = []
        for key in groups.keys.sorted() {
            guard let members = groups[key] else { continue }
            let live = String(key.split(separator: "\u{0}", omittingEmptySubsequences: false).last ?? "")
            let names = members.map { ($0 as NSString).lastPathComponent }
            let ordered = BackupNaming.backups(of: live, among: names).map(\.name)
            var rank: [String: Int] = [:]
            for (i, n) in ordered.enumerated() where rank[n] == nil { rank[n] = i }
            out.append(contentsOf: members.sorted { a, b in
                let na = (a as NSString).lastPathComponent, nb = (b as NSString).lastPathComponent
                let ra = rank[na] ?? (na == live ? Int.max : Int.max - 1)
                let rb = rank[nb] ?? (nb == live ? Int.max : Int.max - 1)
                return ra != rb ? ra < rb : na < nb
            })
        }
        return out
    }
}
