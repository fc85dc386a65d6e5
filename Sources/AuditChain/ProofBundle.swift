import AuditModel
import Foundation
import OpenSSLKit

/// Exported events with what a third party needs to check them against a signed checkpoint
/// (Protocols/integrity.md §6; schema Protocols/schemas/proof-bundle.json):
/// each event's bytes and tags, the blocks holding them (with their leaves), the headers of
/// every block from there up to a signed checkpoint, the checkpoint, and the signers' public keys.
public struct ProofBundle: Sendable {
    public struct Event: Sendable, Hashable {
        public var cluster: String
        /// The chain holding it: the cluster's, or one of its lanes (ChainName).
        public var chain: String
        public var node: String
        public var id: Int64
        /// Height of the block holding it, nil when no block does.
        public var block: Int64?
        public var raw: [UInt8]
        public init(cluster: String, node: String, id: Int64, block: Int64?, raw: [UInt8], chain: String? = nil) {
            self.cluster = cluster
            self.chain = chain ?? cluster
            self.node = node
            self.id = id
            self.block = block
            self.raw = raw
        }
    }
    public var events: [Event]
    public var blocks: [ChainBlock]
    public var checkpoints: [Checkpoint]
    /// Public keys (PEM) by key id, as the store recorded them.
    public var keys: [String: String]

    public init(events: [Event], blocks: [ChainBlock], checkpoints: [Checkpoint], keys: [String: String]) {
        self.events = events
        self.blocks = blocks
        self.checkpoints = checkpoints
        self.keys = keys
    }

    /// Builds the bundle for `events` (id, cluster, node, bytes) from a store.
    /// Per cluster it uses the lowest checkpoint that covers the newest block needed, so that as few
    /// headers as possible are included.
    /// - Parameter keyIDs: use only checkpoints signed by these keys (nil: any key the store holds checkpoints of).
    public static func build(events: [(id: Int64, cluster: String, node: String, raw: [UInt8])], source: any ChainSource,
                             keyIDs: Set<String>? = nil) async throws -> ProofBundle {
        var out: [Event] = []
        var blocksByChain: [String: [Int64: ChainBlock]] = [:]
        var leafIDs: [String: [Int64: Set<Int64>]] = [:]
        for e in events {
            var found: (chain: String, height: Int64)?
            for (chain, loaded) in leafIDs where ChainName.cluster(of: chain) == e.cluster {
                if let h = loaded.first(where: { $0.value.contains(e.id) })?.key { found = (chain, h); break }
            }
            if found == nil {
                for (chain, h) in try await source.chainBlocksContaining(cluster: e.cluster, id: e.id) {
                    if blocksByChain[chain]?[h] == nil, let b = try await source.chainBlocks(cluster: chain, from: h, through: h, leaves: true).first {
                        blocksByChain[chain, default: [:]][h] = b
                        leafIDs[chain, default: [:]][h] = Set((ChainFormat.leaves(b.leaves ?? []) ?? []).map(\.id))
                    }
                    if leafIDs[chain]?[h]?.contains(e.id) == true { found = (chain, h); break }
                }
            }
            out.append(Event(cluster: e.cluster, node: e.node, id: e.id, block: found?.height, raw: e.raw, chain: found?.chain ?? e.cluster))
        }
        var blocks: [ChainBlock] = []
        var checkpoints: [Checkpoint] = []
        for (cluster, withLeaves) in blocksByChain.sorted(by: { ChainName.order($0.key, $1.key) }) {
            guard let low = withLeaves.keys.min(), let high = withLeaves.keys.max() else { continue }
            let cps = try await source.chainCheckpoints(cluster: cluster).filter { $0.height >= high && (keyIDs?.contains($0.keyID) ?? true) }
            let chosen = cps.min { ($0.height, $0.signedAt) < ($1.height, $1.signedAt) }
            if let chosen { checkpoints.append(chosen) }
            let top = chosen?.height ?? high
            var next = low
            while next <= top {
                let through = min(top, next + 255)
                for var b in try await source.chainBlocks(cluster: cluster, from: next, through: through, leaves: false) {
                    if let full = withLeaves[b.height] { b = full }
                    blocks.append(b)
                }
                next = through + 1
            }
        }
        let used = Set(checkpoints.map(\.keyID))
        let keys = try await source.chainKeys().filter { used.contains($0.key) }
        return ProofBundle(events: out, blocks: blocks, checkpoints: checkpoints, keys: keys)
    }

    /// The bundle as one JSON document. Each event appears twice: `raw` (base64 of the exact stored
    /// bytes, which is what is hashed) and `event` (the same bytes, inline, for reading; null if
    /// they are not one JSON value that JSON readers take as it is, e.g. with a number out of
    /// double range such as `1e999`, which a client can put into a request body).
    public func json() -> [UInt8] {
        var o: [UInt8] = []
        func put(_ s: String) { o.append(contentsOf: s.utf8) }
        func hex(_ b: [UInt8]) -> String { "\"\(SHA256.hex(b))\"" }
        put("{\"format\":\"auditship-proof/v1\",\n\"events\":[")
        for (i, e) in events.enumerated() {
            put(i == 0 ? "\n" : ",\n")
            put("{\"cluster\":\(JSONText.quote(e.cluster)),\"node\":\(JSONText.quote(e.node)),\"id\":\(e.id),\"chain\":\(JSONText.quote(e.chain)),")
            put("\"block\":\(e.block.map(String.init) ?? "null"),\"raw\":\"\(Data(e.raw).base64EncodedString())\",\"event\":")
            // Inline only a JSON object (as stored events are) that JSON readers take as it is, so the document
            // stays readable: a number out of double range (1e999, valid JSON) is refused by some.
            let isJSON = e.raw.withUnsafeBufferPointer { (try? EventScanner.validateJSON($0)) != nil }
                && (try? JSONSerialization.jsonObject(with: Data(e.raw))) is [String: Any]
            if isJSON { o.append(contentsOf: e.raw) } else { put("null") }
            put("}")
        }
        put("],\n\"blocks\":[")
        for (i, b) in blocks.enumerated() {
            put(i == 0 ? "\n" : ",\n")
            put("{\"cluster\":\(JSONText.quote(b.cluster)),\"height\":\(b.height),\"previous\":\(hex(b.previous)),\"createdAt\":\(b.createdAt),")
            put("\"leafCount\":\(b.leafCount),\"leavesRoot\":\(hex(b.leavesRoot)),\"hash\":\(hex(b.hash)),")
            put("\"leaves\":\(b.leaves.map { "\"\(Data($0).base64EncodedString())\"" } ?? "null")}")
        }
        put("],\n\"checkpoints\":[")
        for (i, c) in checkpoints.enumerated() {
            put(i == 0 ? "\n" : ",\n")
            put(c.jsonLine)
        }
        put("],\n\"keys\":{")
        for (i, k) in keys.sorted(by: { $0.key < $1.key }).enumerated() {
            put(i == 0 ? "\n" : ",\n")
            put("\(JSONText.quote(k.key)):\(JSONText.quote(k.value))")
        }
        put("}}\n")
        return o
    }

    /// Reads a bundle written by `json()`.
    public init(json data: [UInt8]) throws(ChainError) {
        guard let root = try? JSONSerialization.jsonObject(with: Data(data)) as? [String: Any] else { throw ChainError("the proof is not a JSON object") }
        guard root["format"] as? String == "auditship-proof/v1" else { throw ChainError("format is not auditship-proof/v1") }
        func bytes(_ v: Any?, _ what: String) throws(ChainError) -> [UInt8] {
            guard let s = v as? String, let b = Hex.decode(s) else { throw ChainError("\(what) is not hex") }
            return b
        }
        func int(_ v: Any?, _ what: String) throws(ChainError) -> Int64 {
            guard let n = v as? NSNumber else { throw ChainError("\(what) is not a number") }
            return n.int64Value
        }
        var events: [Event] = []
        for (i, item) in ((root["events"] as? [[String: Any]]) ?? []).enumerated() {
            guard let c = item["cluster"] as? String, let n = item["node"] as? String,
                  let raw = (item["raw"] as? String).flatMap({ Data(base64Encoded: $0) }) else {
                throw ChainError("events[\(i)] lacks cluster, node or raw")
            }
            events.append(Event(cluster: c, node: n, id: try int(item["id"], "events[\(i)].id"),
                                block: (item["block"] as? NSNumber)?.int64Value, raw: [UInt8](raw), chain: item["chain"] as? String))
        }
        var blocks: [ChainBlock] = []
        for (i, item) in ((root["blocks"] as? [[String: Any]]) ?? []).enumerated() {
            guard let c = item["cluster"] as? String else { throw ChainError("blocks[\(i)] lacks cluster") }
            var leaves: [UInt8]?
            if let l = item["leaves"] as? String {
                guard let d = Data(base64Encoded: l) else { throw ChainError("blocks[\(i)].leaves is not base64") }
                leaves = [UInt8](d)
            }
            blocks.append(ChainBlock(cluster: c, height: try int(item["height"], "blocks[\(i)].height"),
                                     previous: try bytes(item["previous"], "blocks[\(i)].previous"),
                                     createdAt: try int(item["createdAt"], "blocks[\(i)].createdAt"),
                                     leafCount: Int(try int(item["leafCount"], "blocks[\(i)].leafCount")),
                                     leavesRoot: try bytes(item["leavesRoot"], "blocks[\(i)].leavesRoot"),
                                     hash: try bytes(item["hash"], "blocks[\(i)].hash"), minTimestamp: 0, maxTimestamp: 0, batchID: "",
                                     leaves: leaves))
        }
        var checkpoints: [Checkpoint] = []
        for (i, item) in ((root["checkpoints"] as? [[String: Any]]) ?? []).enumerated() {
            guard let d = try? JSONSerialization.data(withJSONObject: item), let line = String(data: d, encoding: .utf8) else {
                throw ChainError("checkpoints[\(i)] cannot be read")
            }
            do { checkpoints.append(try Checkpoint(jsonLine: line)) } catch { throw ChainError("checkpoints[\(i)]: \(error)") }
        }
        self.init(events: events, blocks: blocks, checkpoints: checkpoints, keys: (root["keys"] as? [String: String]) ?? [:])
    }

    /// What checking a bundle found.
    public struct Report: Sendable {
        public var verified: Int
        public var problems: [String]
        public var warnings: [String]
        public var ok: Bool { problems.isEmpty }
    }

    /// Checks every event against its block, every block up to the checkpoint, and the checkpoint's
    /// signature. `trustedKeys` nil: the bundle's own keys (a warning says so).
    public func verify(trustedKeys: [String: PublicKey]?) -> Report {
        var problems: [String] = []
        var warnings: [String] = []
        var keys = trustedKeys ?? [:]
        if trustedKeys == nil {
            warnings.append("no --public-key given: signatures were checked against the keys inside the proof, which only shows the proof is consistent")
            for (id, pem) in self.keys {
                if let k = try? PublicKey(pem: pem), (try? ChainKeys.keyID(k.der())) == id { keys[id] = k }
            }
        }
        var byCluster: [String: [Int64: ChainBlock]] = [:]
        for b in blocks { byCluster[b.cluster, default: [:]][b.height] = b }
        // Per cluster, the height ranges a valid checkpoint proves: from its height down as far as
        // each block hashes to what the block above names as its previous.
        var proven: [String: [ClosedRange<Int64>]] = [:]
        for cp in checkpoints {
            let what = "cluster \(cp.cluster): checkpoint of height \(cp.height) (key \(cp.keyID))"
            guard let key = keys[cp.keyID] else { problems.append("\(what): the key is not trusted"); continue }
            guard cp.isSigned(by: key) else { problems.append("\(what): the signature does not verify"); continue }
            guard let chain = byCluster[cp.cluster], let top = chain[cp.height] else {
                problems.append("\(what): the proof lacks block \(cp.height)")
                continue
            }
            guard top.computedHash == cp.head else { problems.append("\(what): block \(cp.height) does not hash to the signed head"); continue }
            var h = cp.height
            while let below = chain[h - 1], let above = chain[h], below.computedHash == above.previous { h -= 1 }
            proven[cp.cluster, default: []].append(h...cp.height)
        }
        var verified = 0
        for e in events {
            let what = "cluster \(e.cluster): event \(e.id)"
            guard ChainName.cluster(of: e.chain) == e.cluster else { problems.append("\(what): chain \(e.chain) is not one of its cluster's"); continue }
            guard let height = e.block else { problems.append("\(what) is in no block"); continue }
            guard let b = byCluster[e.chain]?[height], let blob = b.leaves, let leaves = ChainFormat.leaves(blob) else {
                problems.append("\(what): the proof lacks block \(height) or its leaves")
                continue
            }
            guard SHA256.hash(blob) == b.leavesRoot else { problems.append("\(what): block \(height)'s leaves do not match its header"); continue }
            guard let leaf = leaves.first(where: { $0.id == e.id }) else { problems.append("\(what): block \(height) does not list it"); continue }
            guard ChainFormat.eventHash(cluster: e.cluster, node: e.node, digest: SHA256.hash(e.raw)) == leaf.eventHash else {
                problems.append("\(what): its bytes or tags do not hash to its leaf in block \(height)")
                continue
            }
            guard proven[e.chain]?.contains(where: { $0.contains(height) }) == true else {
                problems.append("\(what): block \(height) is not linked to a verified checkpoint")
                continue
            }
            verified += 1
        }
        return Report(verified: verified, problems: problems, warnings: warnings)
    }
}
