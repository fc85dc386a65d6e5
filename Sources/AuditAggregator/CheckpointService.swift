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
        var signed: [String: (height: Int64, prunedBefore: Int64)] = [:]
        var unexported: [Checkpoint] = []
    }

    func run() async throws {
        let state = State()
        let signer = configuration.signer
        // Record the public key, and learn what this key signed before a restart.
        do {
            try await store.saveCheckpoints([], keyID: signer.keyID, publicKeyPEM: signer.publicKeyPEM)
            for head in try await store.chainHeads() {
                if let last = try await store.chainCheckpoints(cluster: head.cluster).last(where: { $0.keyID == signer.keyID }) {
                    state.signed[head.cluster] = (last.height, last.prunedBefore)
                }
            }
        } catch {
            logger.error("cannot read the store's checkpoints", metadata: ["error": "\(error)"])
        }
        logger.info("signing chain checkpoints", metadata: [
            "key": "\(signer.keyID)", "algorithm": "\(signer.publicKey.algorithm)", "interval": "\(configuration.interval)",
            "export": "\(configuration.exportDirectory ?? "none")",
        ])
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

    func signRound(_ state: State) async {
        let signer = configuration.signer
        let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
        var fresh: [Checkpoint] = []
        do {
            let pruned = try await store.chainState().prunedBefore
            for head in try await store.chainHeads() {
                if let last = state.signed[head.cluster], last.height == head.height, last.prunedBefore == pruned { continue }
                fresh.append(try signer.sign(head: head, signedAt: now, prunedBefore: pruned))
            }
            if !fresh.isEmpty {
                try await store.saveCheckpoints(fresh, keyID: signer.keyID, publicKeyPEM: signer.publicKeyPEM)
                for cp in fresh { state.signed[cp.cluster] = (cp.height, cp.prunedBefore) }
                metrics.checkpoint(result: "signed", count: fresh.count, at: Double(now) / 1_000_000)
                logger.debug("signed checkpoints", metadata: ["clusters": "\(fresh.count)"])
            }
        } catch {
            metrics.checkpoint(result: "failed")
            logger.error("signing checkpoints failed", metadata: ["error": "\(error)"])
            return
        }
        guard let dir = configuration.exportDirectory else { return }
        let pending = state.unexported + fresh
        guard !pending.isEmpty else { return }
        do {
            try CheckpointExport.append(pending, keyID: signer.keyID, directory: dir)
            state.unexported = []
            metrics.checkpointExport(result: "written", count: pending.count)
        } catch {
            state.unexported = pending
            metrics.checkpointExport(result: "failed", count: pending.count)
            logger.error("exporting checkpoints failed; retrying next round", metadata: ["error": "\(error)", "pending": "\(pending.count)"])
        }
    }
}
