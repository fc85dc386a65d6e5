import AuditChain
import AuditModel
import AuditStore
import AuditWire
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OpenSSLKit

/// `GET /v1/proof`: whether the events of a search page are covered by a signed checkpoint that
/// verifies (the web UI's integrity line), and, with `format=bundle`, the proof bundle itself
/// (Protocols/integrity.md §6), for `auditship verify --proof`.
///
/// The signatures are checked against `trustedKeys`: on the aggregator, the public half of its own
/// `--checkpoint-key`; elsewhere (`auditship ui --store`) the keys the store recorded, which shows
/// the events consistent with the store's checkpoints, not that nobody rewrote the store: the
/// answer says which (`keys`). Evidence for a third party is the bundle checked with a public key
/// kept elsewhere.
public struct ProofSummary: Codable, Sendable {
    public var events: Int
    /// Events whose block links up to a checkpoint whose signature verifies.
    public var verified: Int
    /// Events in blocks newer than the chain's last checkpoint: not signed yet.
    public var unsignedTail: Int
    /// Events stored before the store had a chain: no block holds them.
    public var unchained: Int
    /// Problems other than the two above: what does not verify (at most 10).
    public var problems: [String]
    public var checkpoints: [CheckpointLine]
    /// `aggregator` (its own signing key) or `store` (the keys the store recorded).
    public var keys: String

    public struct CheckpointLine: Codable, Sendable {
        public var chain: String
        public var height: Int64
        public var signedAt: String
        public var keyID: String
    }
}

extension QueryAnswers {
    /// Most events a proof covers at once.
    public static let maxProofEvents = 1_000

    public func proof(_ request: Request) async -> Response {
        await answering {
            var query = try Self.query(request)
            let limit = query.limit ?? 50
            guard limit <= Self.maxProofEvents else {
                throw Refusal(status: 400, code: "bad_parameter", message: "limit='\(limit)': a proof covers at most \(Self.maxProofEvents) events; page with after")
            }
            query.limit = limit
            guard let source = store as? any ChainSource else {
                throw Refusal(status: 404, code: "no_chain", message: "this store keeps no hash chain")
            }
            let events = try await scopedEvents(query)
            var bundle = try await ProofBundle.build(events: events.map { (id: $0.sequence, cluster: $0.cluster, node: $0.node, raw: $0.bytes) },
                                                     source: source, keyIDs: trustedKeys.map { Set($0.keys) })
            if let trustedKeys {
                bundle.keys = [:]
                for (id, key) in trustedKeys { bundle.keys[id] = try key.pem() }
            }
            if request.uri.queryParameters["format"] == "bundle" {
                return Response(status: .ok, headers: [.contentType: "application/json", .contentDisposition: "attachment; filename=\"auditship-proof.json\""],
                                body: .init(byteBuffer: ByteBuffer(bytes: bundle.json())))
            }
            let report = bundle.verify(trustedKeys: trustedKeys)
            let signed = Set(bundle.checkpoints.map(\.cluster))
            let tail = bundle.events.filter { $0.block != nil && !signed.contains($0.chain) }
            let tailIDs = Set(tail.map { "cluster \($0.cluster): event \($0.id)" })
            let unchained = bundle.events.filter { $0.block == nil }.count
            // The tail's and the unchained events' own lines are not problems: they are counted apart.
            let problems = report.problems.filter { p in
                !(p.hasSuffix(" is in no block") || tailIDs.contains(where: { p.hasPrefix($0 + ":") }))
            }
            let summary = ProofSummary(
                events: events.count, verified: report.verified, unsignedTail: tail.count, unchained: unchained,
                problems: Array(problems.prefix(10)),
                checkpoints: bundle.checkpoints.map {
                    .init(chain: $0.cluster, height: $0.height, signedAt: AlertNotification.rfc3339($0.signedAt), keyID: $0.keyID)
                },
                keys: trustedKeys == nil ? "store" : "aggregator")
            return Self.json(summary, status: .ok)
        }
    }
}
