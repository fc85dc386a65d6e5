import ArgumentParser
import AuditAgent
import AuditWire
import Logging

struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Tail audit log files on a control-plane node and ship their events to an aggregator.",
        discussion: """
            A file's checkpoint (STATE-DIR/checkpoints.json) advances only after the aggregator acknowledged
            the batch holding its events, so a crash or restart never loses an event; it may send some again,
            and the aggregator stores those once. Malformed lines go to STATE-DIR/quarantine.ndjson.
            """)

    @Option(help: "YAML file with any of these flags as keys (flags win).") var config: String?
    @Option(help: ArgumentHelp("Aggregator URL, https://HOST:PORT (repeatable: failover between them).",
                               discussion: "Each agent starts at the aggregator its node name hashes to, stays while it answers, and moves the same batch on to the next one on a connection error, timeout, 5xx or TLS refusal.")) var aggregator: [String] = []
    @Option(help: "Cluster id; must match the certificate.") var cluster: String?
    @Option(help: "Node name; must match the certificate.") var node: String?
    @Option(help: "Audit log file or glob (repeatable): kube-apiserver's --audit-log-path.") var path: [String] = []
    @Option(help: "Directory for checkpoints and quarantine.") var stateDir: String?
    @Option(help: "Client certificate (PEM).") var tlsCert: String?
    @Option(help: "Client private key (PEM).") var tlsKey: String?
    @Option(help: "CA of the aggregator's certificate (PEM).") var ca: String?
    @Option(help: "Events per batch; a batch is cut at the first 256 KiB read that reaches it. Default 1000.") var batchMaxEvents: Int?
    @Option(help: "Uncompressed bytes per batch at most. Default 4194304.") var batchMaxBytes: Int?
    @Option(help: "Milliseconds a batch waits for more events. Default 1000.") var batchLingerMs: Int?
    @Option(help: "gzip level 1-9. Default 1.") var gzipLevel: Int?
    @Option(help: "Batch bodies on the wire: gzip (default) or zstd (level 1; the aggregator accepts both).") var compression: String?
    @Option(help: "Longest line kept; longer ones are quarantined. Default 4194304.") var maxLineBytes: Int?
    @Option(help: "Milliseconds between checks for new data. Default 200.") var pollIntervalMs: Int?
    @Option(help: "First retry delay in milliseconds (doubling, with jitter). Default 500.") var retryInitialMs: Int?
    @Option(help: "Longest retry delay in milliseconds. Default 30000.") var retryMaxMs: Int?
    @Option(help: "Largest on-disk spool for batches not yet delivered, bytes. Default 1073741824.") var spoolMaxBytes: Int64?
    @Option(help: "Serve /metrics (Prometheus) and /healthz over plain HTTP on HOST:PORT.") var metricsListen: String?
    @Option(help: "On SIGTERM, milliseconds to keep shipping what was read before exiting. Default 10000.") var shutdownTimeoutMs: Int?
    @Option(help: "Kubernetes audit Policy applied before shipping; re-read on SIGHUP.") var policy: String?
    @Flag(help: "Exit once every file is shipped to its end.") var exitWhenCaughtUp = false
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel: String?

    static let keys = ["aggregator", "cluster", "node", "path", "state-dir", "tls-cert", "tls-key", "ca", "batch-max-events",
                       "batch-max-bytes", "batch-linger-ms", "gzip-level", "compression", "max-line-bytes", "poll-interval-ms",
                       "exit-when-caught-up", "log-level", "policy", "retry-initial-ms", "retry-max-ms", "metrics-listen", "shutdown-timeout-ms", "spool-max-bytes"]

    /// `--aggregator` (repeated), else the config file's `aggregator` (a URL or a list); each must be https.
    func aggregatorURLs(_ file: ConfigFile) throws -> [String] {
        let urls = aggregator.isEmpty ? (try file.strings("aggregator") ?? []) : aggregator
        guard !urls.isEmpty else { throw ValidationError("missing --aggregator (or 'aggregator' in the config file)") }
        for u in urls where !u.lowercased().hasPrefix("https://") {
            throw ValidationError("--aggregator '\(u)' is not an https:// URL (agents ship over mutual TLS only)")
        }
        return urls
    }

    func run() throws {
        let file = try ConfigFile(path: config, allowedKeys: Self.keys)
        let logger = try LogSetup.logger("auditship.agent", level: logLevel ?? file.string("log-level") ?? "info")
        let paths = path.isEmpty ? (try file.strings("path") ?? []) : path
        guard !paths.isEmpty else { throw ValidationError("missing --path (the audit log file or glob to tail)") }
        var c = AgentConfiguration(
            aggregatorURLs: try aggregatorURLs(file),
            cluster: try required(cluster, file.string("cluster"), "cluster"),
            node: try required(node, file.string("node"), "node"),
            paths: paths,
            stateDirectory: try required(stateDir, file.string("state-dir"), "state-dir"),
            tlsCertificateFile: try required(tlsCert, file.string("tls-cert"), "tls-cert"),
            tlsKeyFile: try required(tlsKey, file.string("tls-key"), "tls-key"),
            caFile: try required(ca, file.string("ca"), "ca"))
        if let v = try batchMaxEvents ?? file.int("batch-max-events") { c.batchMaxEvents = max(1, v) }
        if let v = try batchMaxBytes ?? file.int("batch-max-bytes") { c.batchMaxBytes = max(1024, v) }
        if let v = try batchLingerMs ?? file.int("batch-linger-ms") { c.batchLingerMilliseconds = max(0, v) }
        if let v = try compression ?? file.string("compression") {
            guard let w = WireCompression(rawValue: v) else { throw ValidationError("--compression must be gzip or zstd, not '\(v)'") }
            c.compression = w
        }
        if let v = try gzipLevel ?? file.int("gzip-level") {
            guard (1...9).contains(v) else { throw ValidationError("--gzip-level must be 1 to 9") }
            c.gzipLevel = Int32(v)
        }
        if let v = try maxLineBytes ?? file.int("max-line-bytes") { c.maxLineBytes = max(1024, v) }
        if let v = try pollIntervalMs ?? file.int("poll-interval-ms") { c.pollIntervalMilliseconds = max(10, v) }
        if let v = try retryInitialMs ?? file.int("retry-initial-ms") { c.retryInitialMilliseconds = max(1, v) }
        if let v = try retryMaxMs ?? file.int("retry-max-ms") { c.retryMaxMilliseconds = max(1, v) }
        if let v = try spoolMaxBytes ?? file.int("spool-max-bytes").map(Int64.init) { c.spoolMaxBytes = max(1 << 20, v) }
        c.metricsListen = try metricsListen ?? file.string("metrics-listen")
        if let v = try shutdownTimeoutMs ?? file.int("shutdown-timeout-ms") { c.shutdownTimeoutMilliseconds = max(0, v) }
        c.policyFile = try policy ?? file.string("policy")
        c.exitWhenCaughtUp = try exitWhenCaughtUp || (file.bool("exit-when-caught-up") ?? false)
        StopSignal.install()
        ReloadSignal.install()
        try Agent(configuration: c, logger: logger).run()
    }
}
