import ArgumentParser
import AuditModel
import Foundation
import Yams

/// A command's YAML config file (`--config FILE`): keys are the long flag
/// names without dashes (`tls-cert: /etc/auditship/agent.pem`); a flag given
/// on the command line wins over the file. Unknown keys are an error that
/// names the key and the nearest known one.
struct ConfigFile {
    let path: String
    let values: [String: Node]

    init(path: String?, allowedKeys: [String]) throws {
        guard let path else {
            self.path = ""
            values = [:]
            return
        }
        self.path = path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("cannot read config file '\(path)'")
        }
        let text = String(decoding: data, as: UTF8.self)
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw ValidationError("config file '\(path)' is not valid YAML: \(error)")
        }
        guard let mapping = node?.mapping else {
            if node == nil { values = [:]; return }
            throw ValidationError("config file '\(path)' must be a YAML mapping of flag names to values")
        }
        var out: [String: Node] = [:]
        for (k, v) in mapping {
            guard let key = k.string else { throw ValidationError("\(path):\(k.mark?.line ?? 0): keys must be strings") }
            guard allowedKeys.contains(key) else {
                let hint = nearest(key, in: allowedKeys).map { "; did you mean '\($0)'?" } ?? ""
                throw ValidationError("\(path):\(k.mark?.line ?? 0):\(k.mark?.column ?? 0): unknown key '\(key)'\(hint)")
            }
            out[key] = v
        }
        values = out
    }

    func string(_ key: String) throws -> String? {
        guard let v = values[key] else { return nil }
        guard let s = v.scalar?.string else { throw ValidationError("\(path):\(v.mark?.line ?? 0): '\(key)' must be a string") }
        return s
    }

    func strings(_ key: String) throws -> [String]? {
        guard let v = values[key] else { return nil }
        if let s = v.scalar?.string { return [s] }
        guard let seq = v.sequence else { throw ValidationError("\(path):\(v.mark?.line ?? 0): '\(key)' must be a string or a list of strings") }
        return try seq.map { n in
            guard let s = n.scalar?.string else { throw ValidationError("\(path):\(n.mark?.line ?? 0): '\(key)' entries must be strings") }
            return s
        }
    }

    func int(_ key: String) throws -> Int? {
        guard let s = try string(key) else { return nil }
        guard let v = Int(s) else { throw ValidationError("\(path): '\(key)' must be an integer, got '\(s)'") }
        return v
    }

    func bool(_ key: String) throws -> Bool? {
        guard let s = try string(key) else { return nil }
        switch s.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw ValidationError("\(path): '\(key)' must be true or false, got '\(s)'")
        }
    }
}

/// Resolves a required setting from the flag or the config file.
func required<T>(_ flag: T?, _ file: T?, _ name: String) throws -> T {
    if let flag { return flag }
    if let file { return file }
    throw ValidationError("missing --\(name) (give the flag or the '\(name)' key in --config)")
}
