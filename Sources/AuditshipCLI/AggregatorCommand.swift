import ArgumentParser
import AuditAggregator
import AuditAlerts
import AuditChain
import AuditStore
import AuditWire
import Foundation
import Logging
import ProcessLock

struct AggregatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aggregator",
        abstract: "Run the central server: mutual-TLS ingest from agents and kube-apiserver's webhook, the store, queries.")

    @Option(help: "YAML file with any of these flags as keys (flags win).") var config: String?
    @Option(help: "Address to listen on, HOST:PORT (port 0 picks a free one). Default 127.0.0.1:8443.") var listen: String?
    @Option(help: "Server certificate (PEM).") var tlsCert: String?
    @Option(help: "Server private key (PEM).") var tlsKey: String?
    @Option(help: "CA that signs client certificates (PEM).") var clientCa: String?
    @Option(help: "Store URL: sqlite:PATH or postgres://USER@HOST:PORT/DB[?sslmode=require].") var store: String?
    @Option(help: "File holding the PostgreSQL password (else PGPASSWORD).") var storePasswordFile: String?
    @Option(help: "Largest compressed request body, bytes. Default 16 MiB.") var maxBodyBytes: Int?
    @Option(help: "Largest decompressed batch, bytes. Default 64 MiB.") var maxDecompressedBytes: Int?
    @Option(help: "Largest single event, bytes. Default 4 MiB.") var maxEventBytes: Int?
    @Option(help: "Deepest JSON nesting accepted in an event. Default 100.") var maxJsonDepth: Int?
    @Option(help: "Most events (lines, or EventList items) in one request; more gets 413. Default 100000.") var maxBatchEvents: Int?
    @Option(help: "Close a connection that completes no request part for this long: stalled TLS handshakes, headers trickled a byte at a time, idle keep-alives. Default 30s.") var idleTimeout: String?
    @Option(help: "Write HOST:PORT to this file once listening.") var readyFile: String?
    @Option(help: "Serve /metrics, /healthz and /readyz over plain HTTP on HOST:PORT (no client certificate).") var metricsListen: String?
    @Option(help: "Delete events older than this (e.g. 90d, 12h). Default: keep everything.") var retention: String?
    @Option(help: "Alert rules file on top of the built-in pack (repeatable; a rule of the same name overrides, `disable:` turns built-ins off); also a Sigma rule file or a directory of rule files.") var alertRules: [String] = []
    @Flag(help: "Do not evaluate alert rules.") var noAlerts = false
    @Option(help: "Send alerts to this URL (https; http only to 127.0.0.1 or localhost).") var alertWebhook: String?
    @Option(help: "json (one object per alert) or slack ({\"text\": …}). Default json.") var alertWebhookFormat: String?
    @Option(help: "CA of the alert webhook's certificate (PEM). Default: the system's trust store.") var alertWebhookCa: String?
    @Option(help: "Events older than this when evaluated (backfill) are recorded, not sent. Default 1h; 0s sends all.") var alertMaxAge: String?
    @Option(help: "Longest wait between alert delivery attempts. Default 60s.") var alertRetryMax: String?
    @Option(help: "Private key (PEM, Ed25519 or P-256) that signs the heads of the store's hash chains; `certs init` writes checkpoint-key.pem.") var checkpointKey: String?
    @Option(help: "Time between checkpoint signing rounds (a last one runs at shutdown). Default 1m.") var checkpointInterval: String?
    @Option(help: "Also append every checkpoint to DIR/checkpoints-<key id>.jsonl (fsynced), for shipping elsewhere.") var checkpointExport: String?
    @Option(help: "Most ingest requests read, decoded and committed at once; more get 429 with Retry-After: 1 before their body is read (memory follows this, not the number of clients). Default 32.") var maxInflightBatches: Int?
    @Option(help: "PEM file of CRLs from the client CAs: a revoked client certificate is refused. Reloaded, like the certificate, key and CA bundle, when it changes on disk.") var clientCrl: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel: String?
    @Flag(help: "Do not serve the web UI on the HTTPS listener (the query API stays).") var noUi = false
    @Option(help: "Reader certificate name (auditship://reader/NAME) of an authenticating proxy whose --ui-user-header names the signed-in person.") var uiProxyReader: String?
    @Option(help: "Header in which the proxy passes the signed-in person. Default X-Forwarded-User.") var uiUserHeader: String?
    @Option(help: "Append every search (who, when, which filter, how many results) to this file, one JSON line each (created 0600).") var queryLog: String?
    @Option(help: "A reader certificate name or signed-in person who may read the query log in the UI (repeatable).") var uiAdmin: [String] = []

    static let keys = ["listen", "tls-cert", "tls-key", "client-ca", "store", "max-body-bytes", "max-decompressed-bytes",
                       "max-event-bytes", "max-json-depth", "max-batch-events", "idle-timeout", "ready-file", "log-level", "metrics-listen", "retention", "store-password-file",
                       "alert-rules", "no-alerts", "alert-webhook", "alert-webhook-format", "alert-webhook-ca", "alert-max-age", "alert-retry-max",
                       "checkpoint-key", "checkpoint-interval", "checkpoint-export", "max-inflight-batches", "client-crl",
                       "no-ui", "ui-proxy-reader", "ui-user-header", "query-log", "ui-admin"]

    /// The alert flags (or keys), checked; nil when alerts are off.
    func alertConfiguration(_ file: ConfigFile) throws -> AlertConfiguration? {
        if try noAlerts || (file.bool("no-alerts") ?? false) { return nil }
        let paths = alertRules.isEmpty ? (try file.strings("alert-rules") ?? []) : alertRules
        var c: AlertConfiguration
        do {
            c = AlertConfiguration(rules: paths.isEmpty ? .builtin : try AlertRuleSet.load(paths: paths))
        } catch {
            throw ValidationError("\(error)")
        }
        if let url = try alertWebhook ?? file.string("alert-webhook") {
            guard let u = URL(string: url), let scheme = u.scheme?.lowercased(), let host = u.host?.lowercased(),
                  scheme == "https" || (scheme == "http" && ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host)) else {
                throw ValidationError("--alert-webhook '\(url)' must be an https:// URL (http:// only to 127.0.0.1 or localhost)")
            }
            c.webhookURL = url
        }
        if let f = try alertWebhookFormat ?? file.string("alert-webhook-format") {
            guard let format = AlertConfiguration.Format(rawValue: f) else { throw ValidationError("--alert-webhook-format must be json or slack") }
            c.webhookFormat = format
        }
        c.webhookCAFile = try alertWebhookCa ?? file.string("alert-webhook-ca")
        if let text = try alertMaxAge ?? file.string("alert-max-age") {
            guard let d = parseDuration(text) else { throw ValidationError("--alert-max-age '\(text)' is not a duration like 1h or 30m") }
            c.notifyMaxAge = d == .zero ? nil : d
        }
        if let text = try alertRetryMax ?? file.string("alert-retry-max") {
            guard let d = parseDuration(text), d > .zero else { throw ValidationError("--alert-retry-max '\(text)' is not a duration like 60s") }
            c.retryMax = d
            c.retryInitial = min(c.retryInitial, d)
        }
        return c
    }

    func run() async throws {
        let file = try ConfigFile(path: config, allowedKeys: Self.keys)
        let logger = try LogSetup.logger("auditship.aggregator", level: logLevel ?? file.string("log-level") ?? "info")
        let (host, port) = try parseHostPort(listen ?? file.string("listen") ?? "127.0.0.1:8443", flag: "listen")
        let location = try StoreLocation(try required(store, file.string("store"), "store"))
        var limits = IngestLimits()
        if let v = try maxBodyBytes ?? file.int("max-body-bytes") { limits.maxBodyBytes = v }
        if let v = try maxDecompressedBytes ?? file.int("max-decompressed-bytes") { limits.maxDecompressedBytes = v }
        if let v = try maxEventBytes ?? file.int("max-event-bytes") { limits.maxEventBytes = v }
        if let v = try maxJsonDepth ?? file.int("max-json-depth") { limits.maxJSONDepth = v }
        if let v = try maxBatchEvents ?? file.int("max-batch-events") {
            guard v > 0 else { throw ValidationError("--max-batch-events must be at least 1") }
            limits.maxBatchEvents = v
        }
        var configuration = AggregatorConfiguration(
            host: host, port: port,
            tlsCertificateFile: try required(tlsCert, file.string("tls-cert"), "tls-cert"),
            tlsKeyFile: try required(tlsKey, file.string("tls-key"), "tls-key"),
            clientCAFile: try required(clientCa, file.string("client-ca"), "client-ca"),
            store: location, limits: limits, readyFile: try readyFile ?? file.string("ready-file"))
        configuration.metricsListen = try metricsListen ?? file.string("metrics-listen")
        configuration.clientCRLFile = try clientCrl ?? file.string("client-crl")
        if let v = try maxInflightBatches ?? file.int("max-inflight-batches") {
            guard v >= 1 else { throw ValidationError("--max-inflight-batches must be at least 1") }
            configuration.maxInflightBatches = v
        }
        if let text = try idleTimeout ?? file.string("idle-timeout") {
            guard let d = parseDuration(text), d >= .seconds(1) else { throw ValidationError("--idle-timeout '\(text)' is not a duration of at least 1s, like 30s") }
            configuration.idleTimeoutSeconds = Int(d.components.seconds)
        }
        if let text = try retention ?? file.string("retention") {
            guard let d = parseDuration(text) else { throw ValidationError("--retention '\(text)' is not a duration like 90d, 12h, 30m or 45s") }
            configuration.retention = d
        }
        configuration.alerts = try alertConfiguration(file)
        configuration.ui.enabled = !(try noUi || (file.bool("no-ui") ?? false))
        configuration.ui.proxyReader = try uiProxyReader ?? file.string("ui-proxy-reader")
        if let header = try uiUserHeader ?? file.string("ui-user-header") {
            guard !header.isEmpty, header.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
                throw ValidationError("--ui-user-header '\(header)' is not a header name")
            }
            configuration.ui.userHeader = header
        }
        configuration.ui.queryLogFile = try queryLog ?? file.string("query-log")
        configuration.ui.admins = Set(uiAdmin.isEmpty ? (try file.strings("ui-admin") ?? []) : uiAdmin)
        if let keyFile = try checkpointKey ?? file.string("checkpoint-key") {
            let signer: CheckpointSigner
            do { signer = try CheckpointSigner(file: keyFile) } catch { throw ValidationError("--checkpoint-key: \(error)") }
            var c = CheckpointConfiguration(signer: signer)
            if let text = try checkpointInterval ?? file.string("checkpoint-interval") {
                guard let d = parseDuration(text), d >= .milliseconds(100) else { throw ValidationError("--checkpoint-interval '\(text)' is not a duration like 1m or 30s") }
                c.interval = d
            }
            c.exportDirectory = try checkpointExport ?? file.string("checkpoint-export")
            configuration.checkpoints = c
        } else if try checkpointExport ?? file.string("checkpoint-export") != nil {
            throw ValidationError("--checkpoint-export needs --checkpoint-key")
        }
        // One aggregator writes a SQLite store; query, verify and the UI read it without the lock.
        var storeLock: ProcessLock?
        if case .sqlite(let path) = location {
            storeLock = try ProcessLock.acquire(path: path + ".lock", guarding: "SQLite store \(path)", role: "auditship aggregator")
        }
        let eventStore = try await Aggregator.openStore(location, passwordFile: try storePasswordFile ?? file.string("store-password-file"), logger: logger)
        logger.info("store opened", metadata: ["store": "\(location)"])
        for warning in configuration.alerts?.rules.warnings ?? [] {
            logger.warning("alert rules: \(warning)")
        }
        try await Aggregator(configuration: configuration, store: eventStore, logger: logger).run()
        try await eventStore.close()
        withExtendedLifetime(storeLock) {}
        logger.info("aggregator stopped")
    }
}

func parseHostPort(_ text: String, flag: String) throws -> (String, Int) {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
        throw ValidationError("--\(flag) '\(text)' must be HOST:PORT")
    }
    var host = String(text[..<colon])
    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    return (host.isEmpty ? "0.0.0.0" : host, port)
}

/// `90d`, `12h`, `30m`, `45s`, `500ms`.
func parseDuration(_ text: String) -> Duration? {
    let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000), ("w", 604_800_000)]
    for (suffix, ms) in units where text.hasSuffix(suffix) {
        let number = text.dropLast(suffix.count)
        if let n = Int64(number), n >= 0, !(suffix == "s" && number.hasSuffix("m")) { return .milliseconds(n * ms) }
    }
    return nil
}
