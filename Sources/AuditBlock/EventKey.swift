import AuditModel
import OpenSSLKit

/// The de-duplication key a store keeps for each event, beside its block: small, and local in
/// time, so that the table holding it grows at its end instead of at random places.
///
/// - `second`: the second of the event's `requestReceivedTimestamp`. A re-delivered event carries
///   its own timestamps, so it lands on the same second however late it comes back; every stage
///   of one request shares it. Events without one (kube-apiserver always writes it; hand-made
///   events may not) share the bucket `noReceiveTime`, so they are compared with each other
///   whatever their other timestamps.
/// - `key`: the first 4 bytes of SHA-256 over auditID and stage in the high half, the first
///   4 bytes of the event's digest in the low half. Equal keys name candidates for the same
///   bytes; keys equal in the high half only name candidates for an auditID collision (same
///   auditID and stage, other bytes).
///
/// A key only proposes: a store confirms a duplicate by comparing the stored bytes, and a
/// collision by comparing auditID and stage, so neither hash decides alone.
public struct EventKey: Sendable, Hashable {
    public var second: Int64
    public var key: Int64

    /// The bucket of events without a `requestReceivedTimestamp`.
    public static let noReceiveTime = Int64.min

    public init(second: Int64, key: Int64) {
        self.second = second
        self.key = key
    }

    /// The key of an event with these fields and digest (SHA-256 of its bytes).
    public init(auditID: String, stage: String, requestReceived: Int64?, time: Int64, digest: [UInt8]) {
        if let t = requestReceived {
            let s = t / 1_000_000
            second = (t % 1_000_000 < 0) ? s - 1 : s
        } else {
            second = EventKey.noReceiveTime
        }
        let high = EventKey.auditHash(auditID: auditID, stage: stage)
        var low: UInt64 = 0
        for i in 0..<min(4, digest.count) { low = low << 8 | UInt64(digest[i]) }
        key = Int64(bitPattern: UInt64(high) << 32 | low)
    }

    /// The first 4 bytes of SHA-256 over auditID, a zero byte and stage.
    public static func auditHash(auditID: String, stage: String) -> UInt32 {
        var input = Array(auditID.utf8)
        input.append(0)
        input.append(contentsOf: stage.utf8)
        let h = SHA256.hash(input)
        return UInt32(h[0]) << 24 | UInt32(h[1]) << 16 | UInt32(h[2]) << 8 | UInt32(h[3])
    }

    /// The keys sharing this key's auditID hash (its high half), as an inclusive range: in signed
    /// order the keys with one high half are contiguous.
    public var auditRange: ClosedRange<Int64> {
        let low = Int64(bitPattern: UInt64(bitPattern: key) & 0xFFFF_FFFF_0000_0000)
        return low...(low | 0xFFFF_FFFF)
    }
}
