import AuditAgent
import AuditChain
import AuditGenerator
import AuditModel
import AuditStore
import Foundation
import Gzip
import OpenSSLKit
#if canImport(Glibc)
import Glibc
#endif

extension Bench {
    func machine() -> String {
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
        return "\(ProcessInfo.processInfo.activeProcessorCount) cores, \(cpu)"
    }

    func number(_ v: Double) -> String {
        v >= 1000 ? String(Int(v.rounded())) : v >= 10 ? String(format: "%.1f", v) : String(format: "%.3f", v)
    }

    public func table() -> String {
        var out = "auditship bench\(quick ? " --quick" : "") on \(machine())\n\n"
        for f in figures {
            out += "[\(f.section)] \(f.name)\n    \(number(f.value)) \(f.unit)"
            if let r = f.reference, let name = f.referenceName {
                out += "   beside \(name): \(number(r))"
                if let ratio = f.ratio { out += "   (\(String(format: "%.2f", ratio))×)" }
            }
            if let target = f.target { out += "   target \(target): \(f.met == true ? "met" : f.met == false ? "MISSED" : "-")" }
            out += "\n"
        }
        return out
    }

    public func json() -> String {
        var items: [[String: Any]] = []
        for f in figures {
            var d: [String: Any] = ["section": f.section, "name": f.name, "value": f.value, "unit": f.unit]
            if let r = f.reference { d["reference"] = ["name": f.referenceName ?? "", "value": r] as [String: Any] }
            if let ratio = f.ratio { d["ratio"] = ratio }
            if let t = f.target { d["target"] = t }
            if let m = f.met { d["met"] = m }
            items.append(d)
        }
        let root: [String: Any] = ["machine": machine(), "quick": quick, "figures": items]
        let data = (try? JSONSerialization.data(withJSONObject: root, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
