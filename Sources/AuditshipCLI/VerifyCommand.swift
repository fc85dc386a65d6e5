import ArgumentParser
import AuditAggregator
import AuditChain
import AuditModel
import AuditStore
import Foundation
import OpenSSLKit

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check that a store's events are the ones its aggregators wrote: recompute the hash chains and check the signed checkpoints.",
        discussion: """
            Reports, by cluster and block, events modified, deleted, inserted or moved, blocks missing or
            altered, and checkpoints that do not verify or do not match. Events removed by retention are
            reported as pruned, not as tampered. With --checkpoints, checkpoints exported elsewhere are
            checked too: that detects a store restored from an older copy or cut short. With --since, only
            the blocks holding events from that time on are read (the chain is followed from the first of
            them to its head, which a checkpoint signs). With --proof FILE, checks a bundle written by `query --with-proof` instead.

            Exit status: 0 when everything verifies; 1 when something does not (the report says what);
            2 when the check could not be made (store or files unreadable).
            Without --public-key, signatures are checked against the public keys the store recorded,
            which an attacker with write access could replace: pass the key you trust.
            Algorithm and threat model: Protocols/integrity.md.
            """)

    enum Format: String, ExpressibleByArgument { case text, json }

    @Option(help: "Store URL: sqlite:PATH or postgres://USER@HOST:PORT/DB.") var store: String?
    @Option(help: "File holding the PostgreSQL password (else PGPASSWORD).") var storePasswordFile: String?
    @Option(help: "Only this cluster.") var cluster: String?
    @Option(help: "Only blocks holding events from this time on (RFC 3339).") var since: String?
    @Option(help: "Exported checkpoints: a directory (its .jsonl files, recursively) or one file. Repeatable.") var checkpoints: [String] = []
    @Option(help: "Public key (PEM) whose signatures are trusted (repeatable; a private key file gives its public half).") var publicKey: [String] = []
    @Option(help: "Check a proof bundle (from `query --with-proof`) instead of a store.") var proof: String?
    @Option(help: "text or json.") var format: Format = .text

    func validate() throws {
        if (store == nil) == (proof == nil) { throw ValidationError("give exactly one of --store or --proof") }
        if let since, Timestamp(rfc3339: since) == nil { throw ValidationError("--since '\(since)' is not an RFC 3339 time") }
        if proof != nil && (since != nil || cluster != nil || !checkpoints.isEmpty) {
            throw ValidationError("--proof takes only --public-key and --format")
        }
    }

    func run() async throws {
        let keys: [String: PublicKey]?
        do {
            keys = publicKey.isEmpty ? nil : try ChainKeys.load(files: publicKey)
        } catch {
            FileHandle.standardError.write(Data("verify: \(error)\n".utf8))
            throw ExitCode(2)
        }
        if let proof {
            try verifyProof(proof, keys: keys)
            return
        }
        var external: [Checkpoint] = []
        var fileProblems: [String] = []
        for path in checkpoints {
            do {
                let (cps, problems) = try CheckpointExport.read(path: path)
                external += cps
                fileProblems += problems
            } catch {
                FileHandle.standardError.write(Data("verify: \(error)\n".utf8))
                throw ExitCode(2)
            }
        }
        let report: VerificationReport
        do {
            let logger = try LogSetup.logger("auditship.verify", level: "error")
            let db = try await Aggregator.openStore(try StoreLocation(store ?? ""), passwordFile: storePasswordFile, readOnly: true, logger: logger)
            do {
                guard let source = db as? any ChainSource else { throw ValidationError("this store keeps no hash chain") }
                report = try await ChainVerifier(source: source, trustedKeys: keys, externalCheckpoints: external, checkpointFileProblems: fileProblems,
                                                 cluster: cluster, since: since.flatMap { Timestamp(rfc3339: $0)?.microseconds }).run()
            } catch {
                try? await db.close()
                throw error
            }
            try? await db.close()
        } catch {
            FileHandle.standardError.write(Data("verify: cannot verify: \(error)\n".utf8))
            throw ExitCode(2)
        }
        switch format {
        case .text: print(Self.text(report), terminator: "")
        case .json: print(Self.json(report))
        }
        if !report.ok { throw ExitCode(1) }
    }

    func verifyProof(_ path: String, keys: [String: PublicKey]?) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            FileHandle.standardError.write(Data("verify: cannot read '\(path)'\n".utf8))
            throw ExitCode(2)
        }
        let bundle: ProofBundle
        do { bundle = try ProofBundle(json: [UInt8](data)) } catch {
            FileHandle.standardError.write(Data("verify: '\(path)' is not a proof bundle: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let r = bundle.verify(trustedKeys: keys)
        switch format {
        case .text:
            for w in r.warnings { print("warning: \(w)") }
            for p in r.problems { print("PROBLEM: \(p)") }
            print(r.ok ? "verify: OK: \(r.verified) events proven against signed checkpoints" : "verify: FAILED: \(r.problems.count) problems; \(r.verified) of \(bundle.events.count) events proven")
        case .json:
            let o: [String: Any] = ["ok": r.ok, "verified": r.verified, "events": bundle.events.count, "problems": r.problems, "warnings": r.warnings]
            print(String(decoding: (try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])) ?? Data(), as: UTF8.self))
        }
        if !r.ok { throw ExitCode(1) }
    }

    static func text(_ report: VerificationReport) -> String {
        var out = ""
        func ts(_ v: Int64) -> String { Timestamp(microseconds: v).rfc3339 }
        if report.keysFromStore {
            out += "note: no --public-key: signatures were checked against the keys recorded in the store\n"
        }
        for p in report.checkpointFileProblems { out += "warning: checkpoint file \(p)\n" }
        for c in report.clusters {
            var line = "cluster \(c.cluster): "
            if let first = c.firstHeight, let last = c.lastHeight {
                line += "blocks \(first == last ? "\(first)" : "\(first)-\(last)") checked, \(c.eventsVerified) events verified"
            } else {
                line += "no blocks\(report.since != nil ? " with events in the range" : "")"
            }
            if c.eventsPruned > 0, let lo = c.prunedMinTimestamp, let hi = c.prunedMaxTimestamp {
                line += ", \(c.eventsPruned) pruned by retention (timestamps \(ts(lo)) to \(ts(hi)); \(c.blocksFullyPruned) blocks wholly pruned)"
            }
            if let a = c.anchor {
                line += "; signed up to block \(a.height) at \(ts(a.signedAt)) by key \(a.keyID) (\(c.checkpointsVerified) checkpoints verified)"
            }
            out += line + "\n"
            for p in c.problems { out += "  PROBLEM \(p.kind.rawValue): \(p.message)\n" }
            if c.problemsNotListed > 0 { out += "  … and \(c.problemsNotListed) more problems\n" }
            for w in c.warnings { out += "  warning: \(w)\n" }
        }
        let problems = report.clusters.reduce(0) { $0 + $1.problemCount }
        let bad = report.clusters.filter { $0.problemCount > 0 }.count
        if report.ok {
            let events = report.clusters.reduce(0) { $0 + $1.eventsVerified }
            out += "verify: OK: \(clusters(report)), \(events) events verified\n"
        } else {
            out += "verify: FAILED: \(problems) problems in \(bad) of \(report.clusters.count) chains (\(clusters(report)))\n"
        }
        return out
    }

    /// "N clusters" or "N clusters in M chains" (lanes).
    static func clusters(_ report: VerificationReport) -> String {
        let n = Set(report.clusters.map { ChainName.cluster(of: $0.cluster) }).count
        return n == report.clusters.count ? "\(n) clusters" : "\(n) clusters in \(report.clusters.count) chains"
    }

    static func json(_ report: VerificationReport) -> String {
        var clusters: [[String: Any]] = []
        for c in report.clusters {
            var o: [String: Any] = [
                "cluster": c.cluster, "blocks": c.blocks, "eventsVerified": c.eventsVerified, "eventsPruned": c.eventsPruned,
                "blocksFullyPruned": c.blocksFullyPruned, "eventsUnchained": c.eventsUnchained, "checkpointsVerified": c.checkpointsVerified,
                "problemsNotListed": c.problemsNotListed, "warnings": c.warnings,
                "problems": c.problems.map { p -> [String: Any] in
                    var d: [String: Any] = ["kind": p.kind.rawValue, "message": p.message]
                    if let b = p.block { d["block"] = b }
                    if let e = p.event { d["event"] = e }
                    return d
                },
            ]
            if let f = c.firstHeight { o["firstHeight"] = f }
            if let l = c.lastHeight { o["lastHeight"] = l }
            if let lo = c.prunedMinTimestamp { o["prunedFrom"] = Timestamp(microseconds: lo).rfc3339 }
            if let hi = c.prunedMaxTimestamp { o["prunedThrough"] = Timestamp(microseconds: hi).rfc3339 }
            if let u = c.unsignedFrom { o["unsignedFrom"] = u }
            if let a = c.anchor {
                o["anchor"] = ["height": a.height, "signedAt": Timestamp(microseconds: a.signedAt).rfc3339, "key": a.keyID] as [String: Any]
            }
            clusters.append(o)
        }
        var root: [String: Any] = ["ok": report.ok, "keysFromStore": report.keysFromStore, "clusters": clusters,
                                   "checkpointFileProblems": report.checkpointFileProblems]
        if let s = report.since { root["since"] = Timestamp(microseconds: s).rfc3339 }
        return String(decoding: (try? JSONSerialization.data(withJSONObject: root, options: [.sortedKeys])) ?? Data(), as: UTF8.self)
    }
}
