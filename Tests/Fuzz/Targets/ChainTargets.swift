import AuditChain
import Foundation
import OpenSSLKit

/// Proof bundles and exported checkpoint lines: files a third party hands to `verify`.
///
/// Properties: any input is read or refused with a reason, never a trap; a bundle that reads
/// writes out and reads back to the same content; a bundle built from the input (its events, a
/// real chain, a signed checkpoint) verifies, and the same bundle with one event byte changed
/// (chosen by the input) does not; a checkpoint line that reads writes out to a line that reads
/// back equal.
enum ProofTarget {
    static let name = "proof"
    static let signer: CheckpointSigner? = try? CheckpointSigner(key: try PrivateKey.generateEd25519())

    static var target: FuzzTarget {
        var t = checks
        t.generatedSeeds = {
            guard let bundle = build(events: [Array(#"{"kind":"Event","auditID":"a","stage":"ResponseComplete"}"#.utf8), Array("{}".utf8)], split: 1) else { return [] }
            return [bundle.json(), Array((bundle.checkpoints.first?.jsonLine ?? "").utf8)]
        }
        return t
    }

    /// A bundle over `events` in two blocks (split after `split` events) with a signed checkpoint.
    static func build(events: [[UInt8]], split: Int) -> ProofBundle? {
        guard let signer else { return nil }
        var blocks: [ChainBlock] = []
        var out: [ProofBundle.Event] = []
        var previous = ChainFormat.zeroHash
        var height: Int64 = 0
        for part in [Array(events.prefix(split)), Array(events.dropFirst(split))] where !part.isEmpty {
            var leaves: [UInt8] = []
            for raw in part {
                let id = Int64(out.count + 1)
                ChainFormat.appendLeaf(&leaves, id: id, timestamp: id, eventHash: ChainFormat.eventHash(cluster: "c", node: "n", digest: SHA256.hash(raw)))
                out.append(ProofBundle.Event(cluster: "c", node: "n", id: id, block: height + 1, raw: raw))
            }
            let b = ChainBlock.next(cluster: "c", afterHeight: height, previous: previous, createdAt: 1, leaves: leaves, batchID: "b")
            blocks.append(b)
            previous = b.hash
            height = b.height
        }
        guard let cp = try? signer.sign(head: ChainHead(cluster: "c", height: height, hash: previous), signedAt: 2, prunedBefore: 0) else { return nil }
        return ProofBundle(events: out, blocks: blocks, checkpoints: [cp], keys: [signer.keyID: signer.publicKeyPEM])
    }

    static let checks = FuzzTarget(name: name, summary: "proof bundles and exported checkpoint lines", maxLength: 8192) { data throws(PropertyViolation) in
        // As a bundle.
        if let bundle = try? ProofBundle(json: data) {
            _ = bundle.verify(trustedKeys: nil)
            let again = try? ProofBundle(json: bundle.json())
            try require(again?.events == bundle.events && again?.blocks.map(\.hash) == bundle.blocks.map(\.hash)
                        && again?.blocks.map(\.leaves) == bundle.blocks.map(\.leaves) && again?.checkpoints == bundle.checkpoints
                        && again?.keys == bundle.keys, name, "a bundle read back from its own JSON differs")
        }
        // As checkpoint lines.
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            if let cp = try? Checkpoint(jsonLine: line) {
                try require((try? Checkpoint(jsonLine: cp.jsonLine)) == cp, name, "a checkpoint read back from its own line differs")
            }
        }
        // A bundle built from the input.
        var input = FuzzInput(data)
        var events: [[UInt8]] = []
        for _ in 0..<(1 + input.int(4)) { events.append(input.bytes(max: 64)) }
        guard let signer, let bundle = build(events: events, split: input.int(events.count + 1)) else { return }
        let trusted = [signer.keyID: signer.publicKey]
        let read: ProofBundle
        do {
            read = try ProofBundle(json: bundle.json())
        } catch {
            try require(false, name, "a bundle built here cannot be read back: \(error)")
            return
        }
        let report = read.verify(trustedKeys: trusted)
        try require(report.ok && report.verified == events.count, name, "a sound bundle does not verify: \(report.problems)")
        var edited = read
        let k = input.int(events.count)
        if edited.events[k].raw.isEmpty { edited.events[k].raw = [input.byte()] } else {
            let at = input.int(edited.events[k].raw.count)
            edited.events[k].raw[at] ^= (input.byte() | 1)
        }
        try require(!edited.verify(trustedKeys: trusted).ok, name, "an edited event still verifies")
    }
}
