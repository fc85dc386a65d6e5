import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Discovery, rotation and identity: which files on disk are audit files of the
/// configured paths, which of them are backups of which live file, and which
/// have to be (re)opened, resumed from a checkpoint, or are done.
extension Agent {
    /// Finds live files and their rotated backups; opens what has to be read.
    func discoverFiles() {
        let livePaths = expandPaths().filter { path in
            // A rotated backup that also matches a glob is not a live file of its own.
            !expandPathsCache.contains { live in live != path && isBackup(path, of: live) }
        }
        expandPathsCache = livePaths
        for live in livePaths where !sources.contains(where: { $0.livePath == live }) {
            sources.append(LogSource(livePath: live))
        }
        var present: Set<String> = []
        for source in sources {
            markRotatedAway(source)
            let names = directoryEntries(source.directory)
            let dirPrefix = source.directory.isEmpty ? "" : source.directory + "/"
            var candidates = BackupNaming.backups(of: source.liveName, among: names).map { dirPrefix + $0.name }
            candidates.append(source.livePath)
            for path in candidates {
                present.insert(path)
                classify(path, in: source)
            }
        }
        // Records whose file is gone: if it was not shipped to its end, that is a loss. A file
        // can look gone for a moment (a .gz twin still being written cannot be read yet), so a
        // record must stay unmatched for a while before it counts as lost.
        let before = knownRecords.count
        knownRecords.removeAll { record in
            let key = record.identity.fingerprint + "/\(record.identity.fingerprintLength)"
            let open = sources.contains { $0.files.contains { $0.identity.fingerprint == record.identity.fingerprint } }
            let stillThere = open || classified.contains { present.contains($0.key) && ($0.value.verdict == .done || $0.value.verdict == .ignored) && matchesRecord($0.key, record) }
            if stillThere { missingGrace.found(key); return false }
            guard missingGrace.missing(key) else { return false }
            if record.offset == 0 && record.identity.fingerprintLength == 0 {
                return true  // an empty file when it was recorded: nothing of it can be identified or was read
            }
            if record.beforeTruncation == true {
                // copytruncate without a copy we could find: what was written after our position
                // and before the truncation (if anything) exists nowhere we can read.
                stats.truncationsUnrecovered += 1
                logger.warning("a truncated file's copy was not found; lines written just before the truncation, if any, were not shipped", metadata: [
                    "file.path": "\(record.path)", "file.offset": "\(record.offset)", "file.line": "\(record.line)",
                ])
                return true
            }
            if record.complete != true {
                stats.lostFiles.append(record.path)
                logger.error("an audit file was deleted before it was shipped to its end; its remaining events are lost", metadata: [
                    "file.path": "\(record.path)", "file.offset": "\(record.offset)", "file.line": "\(record.line)",
                ])
            }
            return true
        }
        classified = classified.filter { present.contains($0.key) }
        prefixes = prefixes.filter { present.contains($0.key) }
        if knownRecords.count != before { saveCheckpoints() }
    }

    /// True for the file that is at the live path now (the one that still grows).
    func isLive(_ f: TailedFile, of source: LogSource) -> Bool {
        f.path == source.livePath && !f.rotatedAway
    }

    /// A file opened at the live path that is no longer there (renamed, then perhaps
    /// compressed and deleted before a scan saw its new name) is a backup from now on:
    /// otherwise reading would wait at its end as if it could still grow.
    func markRotatedAway(_ source: LogSource) {
        var st = stat()
        let exists = stat(source.livePath, &st) == 0
        for f in source.files where isLive(f, of: source) && !f.isCompressed {
            if !exists || UInt64(st.st_dev) != f.identity.device || UInt64(st.st_ino) != f.identity.inode {
                f.rotatedAway = true
                logger.info("file rotated; its new name was not seen, it is read to its end through the open descriptor",
                            metadata: ["file.path": "\(f.path)"])
            }
        }
    }

    func isBackup(_ path: String, of live: String) -> Bool {
        let dir = (live as NSString).deletingLastPathComponent
        guard (path as NSString).deletingLastPathComponent == dir else { return false }
        return !BackupNaming.backups(of: (live as NSString).lastPathComponent, among: [(path as NSString).lastPathComponent]).isEmpty
    }

    func matchesRecord(_ path: String, _ record: CheckpointRecord) -> Bool {
        guard let prefix = prefix(of: path) else { return false }
        return prefix.matches(record.identity.fingerprint, length: record.identity.fingerprintLength)
    }

    /// The file's first bytes, read once per file (by device and inode) and cached.
    func prefix(of path: String) -> FilePrefix? {
        var st = stat()
        guard stat(path, &st) == 0 else { prefixes[path] = nil; return nil }
        // Only while the file is the same and unchanged: a new file may reuse a deleted one's inode.
        if let p = prefixes[path], FileStamp(st).isUnchanged(since: p.stamp), p.size == Int64(st.st_size) {
            return p
        }
        let p = try? FilePrefix(path: path)
        prefixes[path] = p
        return p
    }

    /// Decides what a file on disk is, opening it when it has to be read.
    func classify(_ path: String, in source: LogSource) {
        var st = stat()
        guard stat(path, &st) == 0 else { return }
        let device = UInt64(st.st_dev), inode = UInt64(st.st_ino), size = Int64(st.st_size), stamp = FileStamp(st)
        // An open file renamed (rotation): follow it under its new name.
        for s in sources {
            for f in s.files where f.identity.device == device && f.identity.inode == inode && f.isCompressed {
                classified[path] = (device, inode, size, .open, stamp)
                return  // a compressed backup already being read
            }
            for f in s.files where f.identity.device == device && f.identity.inode == inode && !f.isCompressed {
                if f.path != path, f.path == s.livePath || !FileManager.default.fileExists(atPath: f.path) {
                    if f.path == s.livePath { logger.info("file rotated", metadata: ["file.path": "\(f.path)", "file.new_path": "\(path)"]) }
                    f.path = path
                }
                classified[path] = (device, inode, size, .open, stamp)
                return
            }
        }
        if let c = classified[path], stamp.isUnchanged(since: c.stamp), c.size == size, c.verdict != .open {
            if c.verdict == .done || c.verdict == .ignored { return }
        }
        if size == 0 && path == source.livePath {
            // An empty live file has no fingerprint yet; open it from the start.
            openFile(path, in: source, prefix: nil, record: nil)
            return
        }
        guard let prefix = prefix(of: path) else { return }
        guard !prefix.bytes.isEmpty else {
            if path == source.livePath { openFile(path, in: source, prefix: nil, record: nil) }
            return
        }
        // A copy of a file being read (a .gz twin of a backup still open): ignore it.
        for s in sources {
            for f in s.files where prefix.matches(f.identity.fingerprint, length: f.identity.fingerprintLength) && f.identity.fingerprintLength > 0 {
                classified[path] = (device, inode, size, .ignored, stamp)
                return
            }
        }
        let record = knownRecords.first { prefix.matches($0.identity.fingerprint, length: $0.identity.fingerprintLength) && $0.identity.fingerprintLength > 0 }
        if let record, record.complete == true {
            classified[path] = (device, inode, size, .done, stamp)
            return
        }
        openFile(path, in: source, prefix: prefix, record: record)
        classified[path] = (device, inode, size, .open, stamp)
    }

    func openFile(_ path: String, in source: LogSource, prefix: FilePrefix?, record: CheckpointRecord?) {
        do {
            let file = try OpenFile(path: path)
            let (plainIdentity, _) = try file.identity()
            let fileSource: FileSource
            var identity = plainIdentity
            if let prefix, prefix.isGzip {
                fileSource = .gzip(try GzipFileReader(file: file))
                identity = FileIdentity(device: plainIdentity.device, inode: plainIdentity.inode,
                                        fingerprint: prefix.fingerprint, fingerprintLength: prefix.bytes.count)
            } else {
                fileSource = .plain(file)
            }
            let offset = record?.offset ?? 0
            let line = record?.line ?? 0
            let f = TailedFile(path: path, source: fileSource, identity: identity, offset: offset, line: line,
                               maxLineBytes: configuration.maxLineBytes)
            if record != nil {
                logger.info("resuming file from checkpoint", metadata: ["file.path": "\(path)", "file.offset": "\(offset)", "file.line": "\(line)"])
            } else {
                logger.info("new file; reading from the start", metadata: ["file.path": "\(path)"])
            }
            // Keep the order: files already being read stay first; the others
            // follow oldest first (backups by their names), the live file last.
            source.files.append(f)
            let names = BackupNaming.backups(of: source.liveName, among: directoryEntries(source.directory)).map(\.name)
            func rank(_ g: TailedFile) -> Int {
                isLive(g, of: source) ? Int.max : (names.firstIndex(of: (g.path as NSString).lastPathComponent) ?? Int.max - 1)
            }
            // The live file is always last: it is the only one that still grows.
            let backups = source.files.filter { !isLive($0, of: source) }
            let live = source.files.filter { isLive($0, of: source) }
            let started = backups.filter { $0.bytesRead > 0 }
            // Stable: files of equal rank (rotated away before their new name was seen) keep the order they were opened in.
            let waiting = backups.filter { $0.bytesRead == 0 }.enumerated()
                .sorted { (rank($0.element), $0.offset) < (rank($1.element), $1.offset) }.map(\.element)
            source.files = started + waiting + live
            _ = fileID(f)
        } catch {
            if let fe = error as? FileError, fe.isNotFound { return }
            logger.error("cannot open audit file", metadata: ["file.path": "\(path)", "error": "\(error)"])
        }
    }

    func expandPaths() -> [String] {
        var out: [String] = []
        for pattern in configuration.paths {
            if pattern.contains(where: { "*?[".contains($0) }) {
                var g = glob_t()
                defer { globfree(&g) }
                if glob(pattern, 0, nil, &g) == 0 {
                    for i in 0..<Int(g.gl_pathc) {
                        if let p = g.gl_pathv[i] { out.append(String(cString: p)) }
                    }
                }
            } else {
                out.append(pattern)
            }
        }
        return out
    }
}
