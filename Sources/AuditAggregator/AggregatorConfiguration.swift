import AuditStore
import AuditWire

/// Everything the aggregator needs to run.
///
/// - Configuration keys (flags of `auditship aggregator`, or keys of its YAML `--config` file):
///   - `listen` (string, default `127.0.0.1:8443`): address to serve HTTPS on; port 0 picks a free port.
///   - `tls-cert`, `tls-key` (paths, required): the aggregator's server certificate and key (PEM).
///   - `client-ca` (path, required): CA that must have signed every client certificate.
///   - `store` (URL, required): `sqlite:PATH` or `postgres://USER@HOST:PORT/DB[?sslmode=require]`.
///   - `store-password-file` (path, optional): the PostgreSQL password (else `PGPASSWORD`).
///   - `max-body-bytes` (int, default 16 MiB): largest compressed request body.
///   - `max-decompressed-bytes` (int, default 64 MiB): largest decompressed batch.
///   - `max-event-bytes` (int, default 4 MiB): largest single event.
///   - `max-json-depth` (int, default 100): deepest nesting accepted in an event.
///   - `metrics-listen` (HOST:PORT, optional): plain-HTTP `/metrics`, `/healthz`, `/readyz` for scrapers and probes.
///   - `retention` (duration like `90d`, `12h`, optional): delete older events in the background; default keeps all.
///   - `ready-file` (path, optional): written with `HOST:PORT` once the server listens.
///   - `alert-rules` (paths, optional): alert rule files applied on top of the built-in pack; `no-alerts` turns evaluation off.
///   - `alert-webhook` (URL, optional), `alert-webhook-format` (`json` or `slack`), `alert-webhook-ca` (path):
///     where alerts are sent; `alert-max-age` (duration, default 1h): events older than that are recorded, not sent;
///     `alert-retry-max` (duration, default 60s): longest wait between delivery attempts.
///   - `checkpoint-key` (path, optional): Ed25519 or P-256 private key (PEM) that signs chain checkpoints
///     (`certs init` writes `checkpoint-key.pem`); `checkpoint-interval` (duration, default 1m);
///     `checkpoint-export` (directory, optional): also append every checkpoint to `checkpoints-<key id>.jsonl` there.
public struct AggregatorConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var tlsCertificateFile: String
    public var tlsKeyFile: String
    public var clientCAFile: String
    /// PEM CRLs of the client CAs: a revoked client certificate is refused (reloaded when it changes).
    public var clientCRLFile: String?
    public var store: StoreLocation
    public var limits: IngestLimits
    public var readyFile: String?
    /// `HOST:PORT` for plain-HTTP `/metrics`, `/healthz` and `/readyz` (no client certificate needed), or nil.
    public var metricsListen: String?
    /// Delete events older than this (nil: keep everything).
    public var retention: Duration?
    /// Events whose order timestamp is older than this when they arrive are counted as late.
    public var latenessWindow: Duration = .seconds(5)
    /// Events whose order timestamp is further ahead of the aggregator's clock than this when they
    /// arrive are counted as future events (an apiserver's clock running ahead; stored all the same).
    public var futureWindow: Duration = .seconds(300)
    /// Most ingest requests read, decoded and committed at once; more are refused at once with
    /// 429 and `Retry-After: 1` before their body is read, so memory follows this, not the number
    /// of clients.
    public var maxInflightBatches = 32
    /// Seconds an idle connection (or one that sends its request too slowly) is kept.
    public var idleTimeoutSeconds: Int
    /// Alert evaluation and notification (nil: off).
    public var alerts: AlertConfiguration? = AlertConfiguration()
    /// Signing of chain checkpoints (nil: the chain is kept but its heads are not signed).
    public var checkpoints: CheckpointConfiguration?
    /// The web UI on the HTTPS listener, for reader certificates (and an authenticating proxy).
    public var ui = UIConfiguration()

    public init(host: String = "127.0.0.1", port: Int = 8443, tlsCertificateFile: String, tlsKeyFile: String,
                clientCAFile: String, store: StoreLocation, limits: IngestLimits = IngestLimits(),
                readyFile: String? = nil, idleTimeoutSeconds: Int = 30) {
        self.host = host
        self.port = port
        self.tlsCertificateFile = tlsCertificateFile
        self.tlsKeyFile = tlsKeyFile
        self.clientCAFile = clientCAFile
        self.store = store
        self.limits = limits
        self.readyFile = readyFile
        self.idleTimeoutSeconds = idleTimeoutSeconds
    }
}

/// The web UI the aggregator serves on its HTTPS listener (`/`, `/assets/…`, `/ui/info`), and the
/// record of the searches readers make.
public struct UIConfiguration: Sendable, Hashable {
    /// Serve the page at all (`--no-ui` turns it off; the query API stays).
    public var enabled = true
    /// The reader certificate (`auditship://reader/NAME`) of an authenticating proxy (for example
    /// oauth2-proxy) that signs people in and passes who they are in `userHeader`. The header is
    /// read from this certificate's requests only; from any other client it is ignored.
    public var proxyReader: String?
    /// The header naming the signed-in person on the proxy's requests.
    public var userHeader = "X-Forwarded-User"
    /// Append one JSON line per query API request to this file (0600): who, when, which filter,
    /// how many results. Nil: searches are not recorded.
    public var queryLogFile: String?
    /// Readers (by certificate name, or people signed in through the proxy) who may read the query log.
    public var admins: Set<String> = []

    public init() {}
}
