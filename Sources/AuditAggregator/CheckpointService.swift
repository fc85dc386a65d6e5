import AuditChain
import AuditModel
import Foundation
import Logging
import ServiceLifecycle

/// How the aggregator signs its store's chain heads.
public struct CheckpointConfiguration: Sendable {
    public var signer: CheckpointSigner
    /// Time between signing rounds (default one minute); a last round runs at shutdown.
    public var interval: Duration = .seconds(60)
    /// Directory that receives `checkpoints-<key id>.jsonl` (appended and fsynced), or nil.
    public var exportDirectory: String?

    public init(signer: CheckpointSigner, interval: Duration = .seconds(60), exportDirectory: String? = nil) {
        self.signer = signer
        self.interval = interval
        self.exportDirectory = exportDirectory
    }
}

/// Signs the head of every cluster's chain that moved since this aggregator last signed it, every
/// interval and once more at shutdown (after the server stopped taking batches: it is the first
/// service in the group, so the last to be shut down). Checkpoints are stored in the store and,
/// when configured, appended to the export directory; an export that failed is retried next round.
struct CheckpointService: Service {
    let store: any ChainCheckpointStore
    let configuration: CheckpointConfiguration
    let metrics: AggregatorMetrics
    let logger: Logger

    final class State: @unchecked Sendable {
        // Used only from the service's own task.
        /// What this key last signed per cluster (from the store's and the export file's checkpoints).
        var signed: [String: Checkpoint] = [:]
        /// Whether `signed` was learned; nothing is signed before it is.
        var learned = false
        var unexported: [Checkpoint] = []
        /// Clusters whose chain no longer extends what this key signed, with when that was last logged.
        var refused: [String: Int64] = [:]
    }

    /// Heads whose only change is retention's watermark are signed again at most this often.
    static let watermarkOnlyInterval: Int64 = 3_600_000_000
    /// A refusal to sign is logged again this often while it lasts.
    static let refusalLogInterval: Int64 = 3_600_000_000

    func run() async throws {
        let state = State()
        let signer = configuration.signer
        logger.info("signing chain checkpoints", metadata: [
            "key": "\(signer.keyID)", "algorithm": "\(signer.publicKey.algorithm)", "interval": "\(configuration.interval)",
            "export": "\(configuration.exportDirectory ?? "none")",
        ])
        await learn(state)
        while true {
            let stopping = Task.isShuttingDownGracefully || Task.isCancelled
            if !stopping {
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: configuration.interval) }
            }
            // A round every interval, and one after shutdown began (the server has stopped by then).
            await signRound(state)
            if stopping || Task.isShuttingDownGracefully || Task.isCancelled { break }
        }
    }

    /// Records the public key and learns what this key signed before: from the store (rows whose
    /// signature verifies with this key) and from the export file, which outlives a store put back
    /// to an older copy.
    func learn(_ state: State) async {
        let signer = configuration.signer
        do {
            try await store.saveCheckpoints([], keyID: signer.keyID, publicKeyPEM: signer.publicKeyPEM)
            var mine: [Checkpoint] = []
            for cluster in try await store.chainClusters() {
                mine += try await store.chainCheckpoints(cluster: cluster).filter { $0.keyID == signer.keyID && $0.isSigned(by: signer.publicKey) }
            }
            if let dir = configuration.exportDirectory {
                let file = dir + "/" + CheckpointExport.fileName(keyID: signer.keyID)
                if FileManager.default.fileExists(atPath: file) {
                    let (exported, problems) = try CheckpointExport.read(path: file)
                    mine += exported.filter { $0.keyID == signer.keyID && $0.isSigned(by: signer.publicKey) }
                    for p in problems { logger.warning("unreadable line in the checkpoint export", metadata: ["where": "\(p)"]) }
                }
            }
            for cp in mine {
                let known = state.signed[cp.cluster]
                if known == nil || cp.height > known?.height ?? 0 || (cp.height == known?.height && cp.signedAt > known?.signedAt ?? .max) {
                    state.signed[cp.cluster] = cp
                }
            }
            state.learned = true
        } catch {
            metrics.checkpointError(stage: "sign")
            logger.error("cannot read earlier checkpoints; not signing until they can be read", metadata: ["error": "\(error)"])
        }
    }

    /// Signs the heads that moved. Before signing a head it checks that the chain still holds,
    /// at the height this key signed last, the block it signed then: a chain cut short, rolled
    /// back or rewritten is not signed (which would make it look sound), but reported, every round.
    func signRound(_ state: State) async {
        let signer = configuration.signer
        if !state.learned {
            await learn(state)
            guard state.learned else { return }
        }
        let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
        var fresh: [Checkpoint] = []
        var refused: [(cluster: String, why: String)] = []
        do {
            let pruned = try await store.chainState().prunedBefore
            let heads = try await store.chainHeads()
            for cluster in Set(state.signed.keys).subtracting(heads.map(\.cluster)) {
                refused.append((cluster, "the chain this key signed up to block \(state.signed[cluster]?.height ?? 0) has no blocks left"))
            }
            for head in heads {
                let last = state.signed[head.cluster]
                if let last {
                    if last.height == head.height && last.head == head.hash
                        && (last.prunedBefore == pruned || now - last.signedAt < Self.watermarkOnlyInterval) { continue }
                    let then = try await store.chainBlocks(cluster: head.cluster, from: last.height, through: last.height, leaves: false).first
                    guard head.height >= last.height, then?.computedHash == last.head, then?.hash == last.head else {
                        refused.append((head.cluster, head.height < last.height
                            ? "the chain ends at block \(head.height), below block \(last.height) that this key signed"
                            : "block \(last.height) no longer hashes to the head this key signed"))
                        continue
                    }
                }
                fresh.append(try signer.sign(head: head, signedAt: now, prunedBefore: pruned))
            }
            if !fresh.isEmpty {
                try await store.saveCheckpoints(fresh, keyID: signer.keyID, publicKeyPEM: signer.publicKeyPEM)
                for cp in fresh {
                    state.signed[cp.cluster] = cp
                    state.refused[cp.cluster] = nil
                }
                metrics.checkpoint(result: "signed", count: fresh.count)
                logger.debug("signed checkpoints", metadata: ["clusters": "\(fresh.count)"])
            }
        } catch {
            metrics.checkpointError(stage: "sign")
            logger.error("signing checkpoints failed; trying again next round", metadata: ["error": "\(error)"])
            return
        }
        for r in refused {
            metrics.checkpoint(result: "refused")
            if now - (state.refused[r.cluster] ?? .min / 2) >= Self.refusalLogInterval {
                state.refused[r.cluster] = now
                logger.error("not signing: the chain no longer holds what this aggregator signed; the store was cut short, restored from an older copy or rewritten (run auditship verify)", metadata: [
                    "cluster": "\(r.cluster)", "why": "\(r.why)",
                ])
            }
        }
        if let dir = configuration.exportDirectory {
            let pending = state.unexported + fresh
            if !pending.isEmpty {
                do {
                    try CheckpointExport.append(pending, keyID: signer.keyID, directory: dir)
                    state.unexported = []
                    metrics.checkpointExport(written: pending.count)
                } catch {
                    state.unexported = pending
                    metrics.checkpointError(stage: "export")
                    logger.error("exporting checkpoints failed; retrying next round", metadata: ["error": "\(error)", "pending": "\(pending.count)"])
                    return
                }
            }
        }
        metrics.checkpointRound(at: Double(now) / 1_000_000)
    }
}
