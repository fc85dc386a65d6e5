/// One event to store: its exact bytes, the fields read from them, and its digest.
public struct IngestEvent: Sendable {
    /// The event's bytes as the apiserver wrote them (after policy).
    public var bytes: [UInt8]
    public var summary: EventSummary
    /// SHA-256 of `bytes`: with the cluster, the de-duplication key.
    public var digest: [UInt8]

    public init(bytes: [UInt8], summary: EventSummary, digest: [UInt8]) {
        self.bytes = bytes
        self.summary = summary
        self.digest = digest
    }
}
