import AuditWire

/// Everything the agent needs to run.
///
/// - Configuration keys (flags of `auditship agent`, or keys of its YAML `--config` file):
///   - `aggregator` (URL or list of URLs, required): `https://HOST:PORT` of each aggregator. With several,
///     an agent starts at the one its node name hashes to (so a fleet spreads over them), stays with one
///     that answers, and on a connection error, timeout, 5xx or refused TLS moves the same batch on to
///     the next; batches go out one at a time, so failing over never reorders a file's events.
///   - `cluster` (string, required), `node` (string, required): tags on every event; must match the certificate.
///   - `path` (list of paths or globs, required): the live audit files (`--audit-log-path`).
///   - `state-dir` (path, required): checkpoints and quarantine.
///   - `tls-cert`, `tls-key`, `ca` (paths, required): client certificate, its key, and the CA of the aggregator.
///   - `batch-max-events` (int, default 1000), `batch-max-bytes` (int, default 4 MiB uncompressed),
///     `batch-linger-ms` (int, default 1000): a batch is cut at the first limit reached (the count and size limits are checked after each 256 KiB read, so a batch may exceed them by one read),
///     or at once when every file is read and shipping is idle; the linger applies only while shipping is busy.
///   - `gzip-level` (int 1–9, default 1).
///   - `compression` (`gzip`, default, or `zstd`): how batch bodies are compressed on the wire
///     (`Content-Encoding`); zstd at level 1.
///   - `max-line-bytes` (int, default 4 MiB): a longer line is quarantined.
///   - `poll-interval-ms` (int, default 200): how often files are checked for new data.
///   - `spool-max-bytes` (int, default 1 GiB): the on-disk spool's limit; when full, reading pauses.
///   - `metrics-listen` (HOST:PORT, optional): serve `/metrics` (Prometheus text) and `/healthz` over plain HTTP.
///   - `shutdown-timeout-ms` (int, default 10000): on SIGTERM, how long to keep trying to ship what was read.
///   - `policy` (path, optional): a Kubernetes audit Policy applied before shipping; re-read on SIGHUP.
///   - `retry-initial-ms` (int, default 500), `retry-max-ms` (int, default 30000): backoff bounds.
public struct AgentConfiguration: Sendable {
    /// Aggregator base URLs, in the operator's order (at least one).
    public var aggregatorURLs: [String]
    /// The first aggregator URL.
    public var aggregatorURL: String { aggregatorURLs.first ?? "" }
    public var cluster: String
    public var node: String
    public var paths: [String]
    public var stateDirectory: String
    public var tlsCertificateFile: String
    public var tlsKeyFile: String
    public var caFile: String
    public var batchMaxEvents: Int = 1000
    public var batchMaxBytes: Int = 4 << 20
    public var batchLingerMilliseconds: Int = 1000
    public var gzipLevel: Int32 = 1
    /// Batch bodies on the wire: gzip (the protocol's default) or zstd.
    public var compression: WireCompression = .gzip
    public var maxLineBytes: Int = 4 << 20
    public var pollIntervalMilliseconds: Int = 200
    public var retryInitialMilliseconds: Int = 500
    public var retryMaxMilliseconds: Int = 30_000
    /// Longest a quarantine file may grow before it is rotated once (`.1`).
    public var quarantineMaxBytes: Int = 64 << 20
    /// Largest size of the on-disk spool (batches not yet delivered).
    public var spoolMaxBytes: Int64 = 1 << 30
    /// `HOST:PORT` for `/metrics` and `/healthz` (plain HTTP), or nil for none.
    public var metricsListen: String?
    /// How long a stop (SIGTERM) may spend shipping what was read before exiting.
    public var shutdownTimeoutMilliseconds: Int = 10_000
    /// A Kubernetes audit Policy file applied before shipping (re-read on SIGHUP).
    public var policyFile: String?
    /// Exit once every file has been shipped to its end (for tests and one-shot imports).
    public var exitWhenCaughtUp: Bool = false

    public init(aggregatorURLs: [String], cluster: String, node: String, paths: [String], stateDirectory: String,
                tlsCertificateFile: String, tlsKeyFile: String, caFile: String) {
        self.aggregatorURLs = aggregatorURLs
        self.cluster = cluster
        self.node = node
        self.paths = paths
        self.stateDirectory = stateDirectory
        self.tlsCertificateFile = tlsCertificateFile
        self.tlsKeyFile = tlsKeyFile
        self.caFile = caFile
    }
}
