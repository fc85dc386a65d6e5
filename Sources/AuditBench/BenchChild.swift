import AuditAgent
import AuditChain
import AuditGenerator
import AuditModel
import AuditStore
import AuditWire
import Foundation
import Gzip
import OpenSSLKit
import Zstd
#if canImport(Glibc)
import Glibc
#endif

/// Measurements that need a process of their own (peak RSS, CPU time): `auditship bench --child MODE`.
public enum BenchChild {
    /// Runs one measurement in this process and prints its result as one JSON line.
    public static func run(_ mode: String, file: String, policy: String, gzipLevel: Int32) throws {
        var events = 0
        var bytes = 0
        var compressed = 0
        let level = gzipLevel
        let started = ContinuousClock.now
        switch mode {
        case "pipeline-threads":
            (events, bytes, compressed) = try BenchThreadedPipeline.run(file: file, gzipLevel: level)
        case "pipeline", "pipeline-without-policy", "pipeline-zstd":
            let filter = mode != "pipeline-without-policy" ? try PolicyFilter(policy: Agent.loadPolicy(policy)) : nil
            let wire: WireCompression = mode == "pipeline-zstd" ? .zstd : .gzip
            let f = try OpenFile(path: file)
            let (identity, _) = try f.identity()
            let tailed = TailedFile(path: file, file: f, identity: identity, offset: 0, line: 0, maxLineBytes: 4 << 20)
            var quarantined: [QuarantinedLine] = []
            var body: [UInt8] = []
            // As the agent reads: each event lent from the read buffer, put through the policy and
            // written into the batch's NDJSON (validated only, without a policy).
            while true {
                body.removeAll(keepingCapacity: true)
                let readAny = try tailed.read(eventBudget: 1000, byteBudget: 4 << 20, summaries: filter != nil, quarantined: &quarantined) { line, summary, _ in
                    events += 1
                    bytes += line.count + 1
                    if let filter, let outcome = try? filter.apply(line, summary).0 {
                        switch outcome {
                        case .keep: break
                        case .rewrite(let b):
                            body.append(contentsOf: b)
                            body.append(0x0A)
                            return
                        case .drop: return
                        }
                    }
                    body.append(contentsOf: line)
                    body.append(0x0A)
                }
                quarantined.removeAll()
                if !readAny && tailed.reachedEnd && body.isEmpty { break }
                if !body.isEmpty { _ = try wire.compress(body, gzipLevel: level) }
            }
        case "zlib", "zstd":
            // The same bytes in batch-sized pieces (about 1000 events each), deflated (zlib's stream at
            // the agent's gzip level) or zstd-compressed (level 1, what `--compression zstd` sends).
            let f = try OpenFile(path: file)
            let (_, size) = try f.identity()
            var chunk = [UInt8](repeating: 0, count: 800 * 1024)
            var offset: Int64 = 0
            while offset < size {
                let n = try f.read(into: &chunk, at: offset)
                if n == 0 { break }
                offset += Int64(n)
                bytes += n
                compressed += try chunk.withUnsafeBytes { raw -> Int in
                    let piece = UnsafeRawBufferPointer(rebasing: raw[0..<n])
                    guard mode == "zlib" else { return try Zstd.compress(piece, level: WireCompression.zstdLevel).count }
                    // zlib's own deflate stream (the reference the targets name), not the
                    // libdeflate whole-buffer path the agent sends with.
                    var out: [UInt8] = []
                    out.reserveCapacity(n / 4 + 64)
                    try Deflater(level: level).compress(piece, finish: true, into: &out)
                    return out.count
                }
            }
            events = -1
        default:
            throw BenchError("unknown bench child '\(mode)'")
        }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let cpu = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        // VmHWM is this process's own peak (ru_maxrss would include the parent's, inherited at spawn).
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let hwm = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }?
            .split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) } ?? usage.ru_maxrss
        let elapsed = ContinuousClock.now - started
        let wall = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("{\"events\":\(events),\"bytes\":\(bytes),\"cpu\":\(cpu),\"maxrss_kib\":\(hwm),\"compressed\":\(compressed),\"wall\":\(wall)}")
    }
}
