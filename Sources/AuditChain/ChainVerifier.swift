import AuditModel
import Foundation
import OpenSSLKit

/// One finding of `verify`.
public struct ChainProblem: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// A stored event's bytes, tags or indexed timestamp no longer match its leaf.
        case modified
        /// An event recorded in a block is gone (and is not older than the retention watermark).
        case deleted
        /// A stored event is in no block.
        case inserted
        /// A stored event holds the event recorded for another ingest id.
        case reordered
        /// A block's header, leaves or recorded hash do not agree.
        case blockModified = "block_modified"
        /// A block does not name the previous block's hash.
        case chainBroken = "chain_broken"
        /// Blocks are missing: a gap in the heights, or a signed checkpoint beyond the chain's end.
        case blocksMissing = "blocks_missing"
        /// A checkpoint names another head hash than the chain has at that height.
        case checkpointMismatch = "checkpoint_mismatch"
        /// A checkpoint's signature does not verify.
        case badSignature = "bad_signature"
        /// A checkpoint is signed by a key that is not trusted.
        case unknownKey = "unknown_key"
        /// The chain has blocks and no valid checkpoint covers any of them.
        case noCheckpoint = "no_checkpoint"
    }
    public var kind: Kind
    public var cluster: String
    public var block: Int64?
    public var event: Int64?
    public var message: String

    public init(_ kind: Kind, cluster: String, block: Int64? = nil, event: Int64? = nil, _ message: String) {
        self.kind = kind
        self.cluster = cluster
        self.block = block
        self.event = event
        self.message = message
    }
}

/// What `verify` found for one cluster.
public struct ClusterVerification: Sendable, Hashable {
    public var cluster: String
    /// Heights checked (blocks read with their leaves), or nil when the chain is empty.
    public var firstHeight: Int64?
    public var lastHeight: Int64?
    public var blocks = 0
    /// Events whose bytes and tags were hashed and matched their leaf.
    public var eventsVerified = 0
    /// Events recorded in blocks and deleted by retention (older than the watermark).
    public var eventsPruned = 0
    public var prunedMinTimestamp: Int64?
    public var prunedMaxTimestamp: Int64?
    /// Blocks all of whose events were pruned.
    public var blocksFullyPruned = 0
    /// Events stored before the store had a chain.
    public var eventsUnchained = 0
    /// The newest checkpoint that verified and matches the chain.
    public var anchor: Checkpoint?
    public var checkpointsVerified = 0
    /// Heights after the anchor, not yet signed.
    public var unsignedFrom: Int64?
    public var problems: [ChainProblem] = []
    /// Problems found beyond the ones kept in `problems` (kept: the first 1,000).
    public var problemsNotListed = 0
    public var warnings: [String] = []

    public init(cluster: String) { self.cluster = cluster }

    public var problemCount: Int { problems.count + problemsNotListed }

    mutating func add(_ p: ChainProblem) {
        if problems.count < 1000 { problems.append(p) } else { problemsNotListed += 1 }
    }
}

/// The whole answer of `verify`.
public struct VerificationReport: Sendable, Hashable {
    public var clusters: [ClusterVerification]
    public var since: Int64?
    /// True when the trusted keys came from the store itself (no --public-key).
    public var keysFromStore: Bool
    /// Lines of exported checkpoint files that could not be read (a torn last line after a crash, say).
    /// Warnings: the store is checked against every checkpoint that does read.
    public var checkpointFileProblems: [String]
    public var ok: Bool { clusters.allSatisfy { $0.problemCount == 0 } }
}

/// Recomputes a store's chains and checks its checkpoints (Protocols/integrity.md §4).
public struct ChainVerifier: Sendable {
    public var source: any ChainSource
    /// Keys whose signatures count, by key id. Nil: the keys the store recorded (reported as such).
    public var trustedKeys: [String: PublicKey]?
    /// Checkpoints from outside the store (exported files).
    public var externalCheckpoints: [Checkpoint]
    public var checkpointFileProblems: [String]
    public var cluster: String?
    /// Verify only the blocks holding events from this time on (µs).
    public var since: Int64?
    /// Blocks read per page.
    public var pageBlocks = 64
    /// The time of the check (µs), against which the retention watermark's movement is judged.
    public var now: Int64 = Int64(Date().timeIntervalSince1970 * 1_000_000)

    public init(source: any ChainSource, trustedKeys: [String: PublicKey]?, externalCheckpoints: [Checkpoint] = [],
                checkpointFileProblems: [String] = [], cluster: String? = nil, since: Int64? = nil) {
        self.source = source
        self.trustedKeys = trustedKeys
        self.externalCheckpoints = externalCheckpoints
        self.checkpointFileProblems = checkpointFileProblems
        self.cluster = cluster
        self.since = since
    }

    public func run() async throws -> VerificationReport {
        var keys = trustedKeys ?? [:]
        if trustedKeys == nil {
            for (id, pem) in try await source.chainKeys() {
                if let k = try? PublicKey(pem: pem), (try? ChainKeys.keyID(k.der())) == id { keys[id] = k }
            }
        }
        // Chains are named by cluster, lanes after the first as CLUSTER~N (ChainName).
        let names = Set(try await source.chainClusters()).union(externalCheckpoints.map(\.cluster))
        var clusters = Set(names.map(ChainName.cluster(of:)))
        if let cluster {
            guard clusters.contains(cluster) else {
                throw ChainError("the store has no events, blocks or checkpoints of cluster '\(cluster)' (it has: \(clusters.sorted().joined(separator: ", ")))")
            }
            clusters = [cluster]
        }
        // The store may be written while it is checked. Read in an order that keeps the view
        // consistent: checkpoints first (they name heights that exist by the time heads are read),
        // then the ingest watermark (every event up to it is committed, with its block), then the
        // heads; events stored later are ignored, and retention's watermark is read after the
        // events (a deletion seen was preceded by the raise of the watermark).
        var stored: [String: [Checkpoint]] = [:]
        for name in names where clusters.contains(ChainName.cluster(of: name)) {
            stored[name] = try await source.chainCheckpoints(cluster: name) + externalCheckpoints.filter { $0.cluster == name }
        }
        let watermark = try await source.chainWatermark()
        let heads = Dictionary(try await source.chainHeads().map { ($0.cluster, $0) }, uniquingKeysWith: { a, _ in a })
        var out: [ClusterVerification] = []
        for c in clusters.sorted() {
            var chains = Set([c])
            for name in names.union(heads.keys) where ChainName.cluster(of: name) == c { chains.insert(name) }
            out += try await verify(cluster: c, chains: Array(chains), heads: heads, keys: keys, checkpoints: stored, watermark: watermark)
        }
        return VerificationReport(clusters: out, since: since, keysFromStore: trustedKeys == nil, checkpointFileProblems: checkpointFileProblems)
    }

    /// What mismatches are compared by: the first bytes of an event hash (all a fingerprint keeps).
    static func key(_ eventHash: [UInt8]) -> [UInt8] { Array(eventHash.prefix(LeafFingerprint.prefixSize)) }

    private struct Mismatch {
        var chain: String
        var block: Int64
        var id: Int64
        var timestamp: Int64
        var expected: [UInt8]
    }

    /// One chain (a cluster's lane) read: what was found, and what is left to judge across lanes.
    private struct ChainScan {
        var r: ClusterVerification
        var headHeight: Int64
        var hashes: [Int64: [UInt8]] = [:]
        var blockSizes: [Int64: Int] = [:]
        var expectedIDs: [Int64] = []
        var missingLeaves: [Mismatch] = []
        /// Events missing beside others of their block, where retention never drops one alone.
        var deletedOutright: [Mismatch] = []
        var modifiedRows: [(mismatch: Mismatch, actual: [UInt8])] = []
        /// When the first block read was committed.
        var firstCreatedAt: Int64?
    }

    /// Verifies every chain of one cluster (its lanes), then what only the cluster as a whole
    /// shows: events in no block, and rows moved between positions.
    func verify(cluster base: String, chains: [String], heads: [String: ChainHead], keys: [String: PublicKey],
                checkpoints given: [String: [Checkpoint]], watermark: Int64) async throws -> [ClusterVerification] {
        var scans: [ChainScan] = []
        for name in chains.sorted(by: ChainName.order) {
            scans.append(try await scan(chain: name, head: heads[name]))
        }
        // Read after the events: a deletion seen was preceded by the raise of the watermark.
        let state = try await source.chainState()
        var deletedLeaves: [Mismatch] = []
        for i in scans.indices {
            deletedLeaves += classifyMissing(&scans[i], state: state)
            checkCheckpoints(&scans[i], given: given[scans[i].r.cluster] ?? [], keys: keys, state: state)
        }
        func index(_ chain: String) -> Int { scans.firstIndex { $0.r.cluster == chain } ?? 0 }
        // A lane opened since the cluster's last signing round has no checkpoint yet: that is an
        // unsigned tail, not a chain nothing signs.
        let lastRound = scans.compactMap(\.r.anchor?.signedAt).max()
        for i in scans.indices where ChainName.lane(of: scans[i].r.cluster) > 0 {
            guard let round = lastRound, let created = scans[i].firstCreatedAt, created > round,
                  let k = scans[i].r.problems.firstIndex(where: { $0.kind == .noCheckpoint }) else { continue }
            let p = scans[i].r.problems.remove(at: k)
            scans[i].r.unsignedFrom = scans[i].r.firstHeight
            scans[i].r.warnings.append("lane opened after the cluster's last checkpoint (\(Timestamp(microseconds: round))): \(p.message.replacingOccurrences(of: ": the chain is consistent but nothing proves it is the one the aggregator wrote", with: "")), not yet signed")
        }
        // Lanes are opened in order and never closed: a missing number is a lane deleted whole.
        let lanes = Set(scans.map { ChainName.lane(of: $0.r.cluster) }.filter { $0 > 0 && $0 != .max })
        if let top = lanes.max() {
            for n in 1..<top where !lanes.contains(n) {
                scans[0].r.add(ChainProblem(.blocksMissing, cluster: base, "chain \(ChainName.name(cluster: base, lane: n)) is missing while lane \(top) exists: the lane was deleted with its blocks"))
            }
        }
        let cluster = base
        var r = scans[0].r  // the cluster's first lane (its name is the cluster's) collects cluster-wide findings
        var expectedIDs = scans.flatMap(\.expectedIDs)
        let modifiedRows = scans.flatMap(\.modifiedRows)
        var perChain: [String: [ChainProblem]] = [:]
        func add(_ chain: String, _ p: ChainProblem) { perChain[chain, default: []].append(p) }

        // Events in no block: scan the cluster's ingest ids against the leaves.
        expectedIDs.sort()
        var inserted: [Int64] = []
        var k = 0
        var ids = try await source.chainEventIDs(cluster: cluster, since: since)
        ids.sort()
        // Ids above the watermark read at the start may be events stored since (skipped); ids above
        // what ingest has given out by now were not written by ingest at all.
        let issued = try await source.chainIssuedThrough()
        for id in ids where id <= watermark || id > issued {
            while k < expectedIDs.count && expectedIDs[k] < id { k += 1 }
            if k < expectedIDs.count && expectedIDs[k] == id { continue }
            if id <= state.unchainedThrough { r.eventsUnchained += 1; continue }
            inserted.append(id)
        }
        // Rows whose content is the event recorded for another id: swapped or moved, not made up.
        var recordedElsewhere: [[UInt8]: Mismatch] = [:]
        for m in deletedLeaves { recordedElsewhere[m.expected] = m }
        for m in modifiedRows { recordedElsewhere[m.mismatch.expected] = m.mismatch }
        var insertedRows: [Int64: ChainEventRow] = [:]
        for chunk in stride(from: 0, to: min(inserted.count, 10_000), by: 1000) {
            for row in try await source.chainEvents(ids: Array(inserted[chunk..<min(inserted.count, chunk + 1000)])) { insertedRows[row.id] = row }
        }
        var explained = Set<[UInt8]>()
        for m in modifiedRows {
            if let other = recordedElsewhere[m.actual], other.id != m.mismatch.id {
                explained.insert(m.actual)
                add(m.mismatch.chain, ChainProblem(.reordered, cluster: m.mismatch.chain, block: m.mismatch.block, event: m.mismatch.id,
                                   "block \(m.mismatch.block): event \(m.mismatch.id) holds the event recorded as event \(other.id) (\(other.chain == m.mismatch.chain ? "" : "chain \(other.chain) ")block \(other.block)): rows were swapped or moved"))
            } else {
                add(m.mismatch.chain, ChainProblem(.modified, cluster: m.mismatch.chain, block: m.mismatch.block, event: m.mismatch.id,
                                   "block \(m.mismatch.block): event \(m.mismatch.id) was modified: its bytes or tags no longer hash to its leaf"))
            }
        }
        for m in deletedLeaves where !explained.contains(m.expected) {
            add(m.chain, ChainProblem(.deleted, cluster: m.chain, block: m.block, event: m.id,
                               "block \(m.block): event \(m.id) (timestamp \(Timestamp(microseconds: m.timestamp))) was deleted: " + (state.prunedBefore > 0
                                   ? "it is not older than the retention watermark (\(Timestamp(microseconds: state.prunedBefore)))"
                                   : "retention never ran on this store")))
        }
        for id in inserted {
            if let row = insertedRows[id] {
                let actual = Self.key(ChainFormat.eventHash(cluster: row.cluster, node: row.node, digest: SHA256.hash(row.raw)))
                if let other = recordedElsewhere[actual] {
                    add(cluster, ChainProblem(.reordered, cluster: cluster, block: other.block, event: id,
                                              "event \(id) is in no block; it holds the event recorded as event \(other.id) (\(other.chain == cluster ? "" : "chain \(other.chain) ")block \(other.block)): it was moved"))
                    continue
                }
            }
            add(cluster, ChainProblem(.inserted, cluster: cluster, event: id, "event \(id) is in no block: it was inserted after the fact"))
        }

        if r.eventsUnchained > 0 {
            r.warnings.append("\(r.eventsUnchained) events were stored before this store had a chain (ingest ids up to \(state.unchainedThrough)): they are not covered")
        }
        scans[0].r.eventsUnchained = r.eventsUnchained
        scans[0].r.warnings = r.warnings
        for (chain, problems) in perChain {
            let i = index(chain)
            for p in problems { scans[i].r.add(p) }
        }
        return scans.map(\.r)
    }

    /// Reads one chain's blocks and the events they list.
    private func scan(chain cluster: String, head: ChainHead?) async throws -> ChainScan {
        var r = ClusterVerification(cluster: cluster)
        let headHeight = head?.height ?? 0
        var start: Int64 = 1
        if let since {
            start = try await source.chainFirstHeight(cluster: cluster, eventsSince: since) ?? (headHeight + 1)
        }
        // The hash the first checked block must name: known only from the block before it.
        var previous: [UInt8]? = ChainFormat.zeroHash
        if start > 1 {
            previous = try await source.chainBlocks(cluster: cluster, from: start - 1, through: start - 1, leaves: false).first?.computedHash
        }
        var hashes: [Int64: [UInt8]] = [:]
        var blockSizes: [Int64: Int] = [:]
        var firstCreatedAt: Int64?
        var expectedIDs: [Int64] = []
        var missingLeaves: [Mismatch] = []
        var deletedOutright: [Mismatch] = []
        var modifiedRows: [(mismatch: Mismatch, actual: [UInt8])] = []
        var expectedHeight = start
        var next = start
        while next <= headHeight {
            let through = min(headHeight, next + Int64(pageBlocks) - 1)
            let blocks = try await source.chainBlocks(cluster: cluster, from: next, through: through, leaves: true)
            for b in blocks {
                if b.height != expectedHeight {
                    r.add(ChainProblem(.blocksMissing, cluster: cluster, block: expectedHeight,
                                       "blocks \(range(expectedHeight, b.height - 1)) of cluster \(cluster) are missing"))
                    previous = nil
                }
                let computed = b.computedHash
                if computed != b.hash {
                    r.add(ChainProblem(.blockModified, cluster: cluster, block: b.height,
                                       "block \(b.height): its header does not hash to the hash recorded for it"))
                }
                if let p = previous, b.previous != p {
                    r.add(ChainProblem(.chainBroken, cluster: cluster, block: b.height,
                                       "block \(b.height) does not name block \(b.height - 1)'s hash as its previous block"))
                }
                hashes[b.height] = computed
                previous = computed
                expectedHeight = b.height + 1
                r.blocks += 1
                firstCreatedAt = firstCreatedAt ?? b.createdAt
                blockSizes[b.height] = b.leafCount
                r.firstHeight = r.firstHeight ?? b.height
                r.lastHeight = b.height

                let blob = b.leaves ?? []
                let rebuilt = ChainFormat.leaves(blob)
                let rootHolds = rebuilt != nil && SHA256.hash(blob) == b.leavesRoot && rebuilt?.count == b.leafCount
                // A store that rebuilds the leaves from its events keeps fingerprints of them: when the
                // rebuilt leaves miss the root, they say which events are modified, deleted or moved.
                if !rootHolds, let fingerprints = b.fingerprints, fingerprints.count == b.leafCount {
                    var rows: [Int64: ChainEventRow] = [:]
                    for chunk in stride(from: 0, to: fingerprints.count, by: 1000) {
                        let ids = fingerprints[chunk..<min(fingerprints.count, chunk + 1000)].map(\.id)
                        for row in try await source.chainEvents(ids: ids) { rows[row.id] = row }
                    }
                    let present = fingerprints.filter { rows[$0.id] != nil }.count
                    // Retention drops such a block's events all together: only a block with none left, all
                    // older than the watermark, was pruned; an event missing beside others was deleted.
                    let wholeBlockGone = present == 0
                    var explained = false
                    for fp in fingerprints {
                        expectedIDs.append(fp.id)
                        let mismatch = Mismatch(chain: cluster, block: b.height, id: fp.id, timestamp: fp.timestamp, expected: fp.prefix)
                        guard let row = rows[fp.id] else {
                            if wholeBlockGone { missingLeaves.append(mismatch) } else { deletedOutright.append(mismatch) }
                            explained = true
                            continue
                        }
                        let actual = Self.key(ChainFormat.eventHash(cluster: row.cluster, node: row.node, digest: SHA256.hash(row.raw)))
                        if actual != fp.prefix {
                            modifiedRows.append((mismatch, actual))
                            explained = true
                        } else if row.timestamp != fp.timestamp {
                            r.add(ChainProblem(.modified, cluster: cluster, block: b.height, event: fp.id,
                                               "block \(b.height): event \(fp.id)'s indexed timestamp was changed from \(Timestamp(microseconds: fp.timestamp)) to \(Timestamp(microseconds: row.timestamp))"))
                            explained = true
                        } else {
                            // Matches what ingest recorded of it (the block's problem is another event's).
                            r.eventsVerified += 1
                        }
                    }
                    if !explained {
                        r.add(ChainProblem(.blockModified, cluster: cluster, block: b.height,
                                           "block \(b.height): its events do not hash to the root in its header"))
                    }
                    continue
                }
                guard let leaves = rebuilt, rootHolds else {
                    r.add(ChainProblem(.blockModified, cluster: cluster, block: b.height,
                                       "block \(b.height): its list of event hashes does not match the root in its header"))
                    if let leaves = rebuilt { expectedIDs.append(contentsOf: leaves.map(\.id)) }
                    continue
                }
                var rows: [Int64: ChainEventRow] = [:]
                for chunk in stride(from: 0, to: leaves.count, by: 1000) {
                    let ids = leaves[chunk..<min(leaves.count, chunk + 1000)].map(\.id)
                    for row in try await source.chainEvents(ids: ids) { rows[row.id] = row }
                }
                for leaf in leaves {
                    expectedIDs.append(leaf.id)
                    let expected = Self.key(leaf.eventHash)
                    guard let row = rows[leaf.id] else {
                        missingLeaves.append(Mismatch(chain: cluster, block: b.height, id: leaf.id, timestamp: leaf.timestamp, expected: expected))
                        continue
                    }
                    let actual = Self.key(ChainFormat.eventHash(cluster: row.cluster, node: row.node, digest: SHA256.hash(row.raw)))
                    if actual != expected {
                        modifiedRows.append((Mismatch(chain: cluster, block: b.height, id: leaf.id, timestamp: leaf.timestamp, expected: expected), actual))
                    } else if row.timestamp != leaf.timestamp {
                        r.add(ChainProblem(.modified, cluster: cluster, block: b.height, event: leaf.id,
                                           "block \(b.height): event \(leaf.id)'s indexed timestamp was changed from \(Timestamp(microseconds: leaf.timestamp)) to \(Timestamp(microseconds: row.timestamp))"))
                    } else {
                        r.eventsVerified += 1
                    }
                }
            }
            if blocks.isEmpty || (blocks.last?.height ?? through) < through {
                // Heights up to `through` are absent.
                let from = max(expectedHeight, next)
                if from <= through {
                    r.add(ChainProblem(.blocksMissing, cluster: cluster, block: from,
                                       "blocks \(range(from, through)) of cluster \(cluster) are missing"))
                    previous = nil
                    expectedHeight = through + 1
                }
            }
            next = through + 1
        }

        return ChainScan(r: r, headHeight: headHeight, hashes: hashes, blockSizes: blockSizes, expectedIDs: expectedIDs,
                         missingLeaves: missingLeaves, deletedOutright: deletedOutright, modifiedRows: modifiedRows, firstCreatedAt: firstCreatedAt)
    }

    /// Missing events older than retention's watermark were pruned; returns the others (deleted).
    private func classifyMissing(_ s: inout ChainScan, state: ChainState) -> [Mismatch] {
        var deletedLeaves: [Mismatch] = s.deletedOutright
        var prunedPerBlock: [Int64: Int] = [:]
        for m in s.missingLeaves {
            if m.timestamp < state.prunedBefore {
                s.r.eventsPruned += 1
                prunedPerBlock[m.block, default: 0] += 1
                s.r.prunedMinTimestamp = min(s.r.prunedMinTimestamp ?? m.timestamp, m.timestamp)
                s.r.prunedMaxTimestamp = max(s.r.prunedMaxTimestamp ?? m.timestamp, m.timestamp)
            } else {
                deletedLeaves.append(m)
            }
        }
        s.r.blocksFullyPruned = prunedPerBlock.filter { s.blockSizes[$0.key] == $0.value }.count
        return deletedLeaves
    }

    /// Checks the chain's checkpoints (the store's and the exported ones) against its hashes.
    private func checkCheckpoints(_ s: inout ChainScan, given: [Checkpoint], keys: [String: PublicKey], state: ChainState) {
        let cluster = s.r.cluster
        let headHeight = s.headHeight
        let hashes = s.hashes
        var r = s.r
        defer { s.r = r }
        var seen = Set<Checkpoint>()
        var checkpoints: [Checkpoint] = []
        for cp in given where cp.cluster == cluster {
            if seen.insert(cp).inserted { checkpoints.append(cp) }
        }
        checkpoints.sort { ($0.height, $0.signedAt) < ($1.height, $1.signedAt) }
        var missingReported = false
        for cp in checkpoints {
            let what = "checkpoint of height \(cp.height) signed at \(Timestamp(microseconds: cp.signedAt)) by key \(cp.keyID)"
            guard let key = keys[cp.keyID] else {
                r.add(ChainProblem(.unknownKey, cluster: cluster, block: cp.height, "\(what): the key is not trusted\(trustedKeys == nil ? " (not recorded in the store)" : " (not among --public-key)")"))
                continue
            }
            guard cp.isSigned(by: key) else {
                r.add(ChainProblem(.badSignature, cluster: cluster, block: cp.height, "\(what): the signature does not verify"))
                continue
            }
            if cp.height > headHeight {
                if !missingReported {
                    r.add(ChainProblem(.blocksMissing, cluster: cluster, block: headHeight + 1,
                                       "\(what) covers blocks up to \(cp.height), but the chain ends at \(headHeight): blocks \(range(headHeight + 1, checkpoints.last?.height ?? cp.height)) are missing (deleted, or the store was restored from an older copy)"))
                    missingReported = true
                }
                continue
            }
            guard let h = hashes[cp.height] else { continue }  // before the range checked
            if h != cp.head {
                r.add(ChainProblem(.checkpointMismatch, cluster: cluster, block: cp.height,
                                   "\(what) names head \(SHA256.hex(cp.head).prefix(16))…, but block \(cp.height) hashes to \(SHA256.hex(h).prefix(16))…"))
                continue
            }
            r.checkpointsVerified += 1
            if cp.height >= (r.anchor?.height ?? 0) { r.anchor = cp }
        }
        if let last = r.lastHeight {
            if let anchor = r.anchor {
                if anchor.height < last { r.unsignedFrom = anchor.height + 1 }
                // Retention moves its watermark with the clock: no faster than time passes (an hour's slack).
                let allowed = anchor.prunedBefore + max(0, now - anchor.signedAt) + 3_600_000_000
                if anchor.prunedBefore > 0 && state.prunedBefore > allowed {
                    r.warnings.append("retention's watermark (\(Timestamp(microseconds: state.prunedBefore))) moved further since the last checkpoint (\(Timestamp(microseconds: anchor.prunedBefore)) at \(Timestamp(microseconds: anchor.signedAt))) than the time that passed: either retention was shortened, or someone moved the watermark to pass deletions off as pruning")
                }
            } else if checkpoints.isEmpty {
                r.add(ChainProblem(.noCheckpoint, cluster: cluster, block: last,
                                   "no valid signed checkpoint covers blocks \(range(r.firstHeight ?? 1, last)): the chain is consistent but nothing proves it is the one the aggregator wrote"))
            }
            if r.anchor == nil && !checkpoints.isEmpty { r.unsignedFrom = r.firstHeight }
            if let u = r.unsignedFrom {
                if let anchor = r.anchor {
                    r.warnings.append("blocks \(range(u, last)) are newer than the last checkpoint (signed at \(Timestamp(microseconds: anchor.signedAt))): not yet signed")
                } else {
                    r.warnings.append("no checkpoint covers blocks \(range(u, last))\(since != nil ? " (the checkpoints found are older than the range checked)" : "")")
                }
            }
        }
    }

    func range(_ a: Int64, _ b: Int64) -> String { a == b ? "\(a)" : "\(a)-\(b)" }
}
