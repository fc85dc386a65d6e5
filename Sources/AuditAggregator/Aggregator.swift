import AuditChain
import AuditModel
import AuditStore
import AuditStorePostgres
import AuditWire
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import OpenSSLKit
import ServiceLifecycle

/// The request context: Hummingbird's core storage plus the connection, so
/// handlers can read the client's certificate.
public struct AggregatorContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }

    /// Bodies are collected explicitly, against the aggregator's own limit.
    public var maxUploadSize: Int { 64 << 20 }
}

/// The central server: mutual-TLS ingest of agent batches and kube-apiserver
/// webhook posts, stored through an ``EventStore``; queries for readers.
public struct Aggregator: Sendable {
    public let configuration: AggregatorConfiguration
    public let store: any EventStore
    let decoder: BatchDecoder
    let logger: Logger
    public let metrics = AggregatorMetrics()
    /// Whether the store's disk is full (batches refused with 503 store_full until it is not).
    let space = StoreSpace()
    /// The certificate files followed on disk (set when the server starts).
    let tls = TLSFilesBox()
    /// Ingest requests in flight (bounded by `configuration.maxInflightBatches`).
    let inflight: InflightLimit
    /// The record of searches (`--query-log`), nil when none is kept.
    let queryLog: QueryLog?
    /// One `POST /v1/hunt` at a time.
    let huntGate = HuntGate()
    /// Free bytes that readiness takes as space having come back to a full SQLite store.
    static let freeBytesToResume: Int64 = 16 << 20

    static let clusterHeader = HTTPField.Name(BatchProtocol.clusterHeader) ?? .contentType
    static let nodeHeader = HTTPField.Name(BatchProtocol.nodeHeader) ?? .contentType
    static let batchIDHeader = HTTPField.Name(BatchProtocol.batchIDHeader) ?? .contentType
    /// Refused lines of one batch logged one by one; the rest are summarised in one line.
    static let refusedLinesLogged = 10

    public init(configuration: AggregatorConfiguration, store: any EventStore, logger: Logger) throws {
        self.configuration = configuration
        self.store = store
        self.decoder = BatchDecoder(limits: configuration.limits)
        self.logger = logger
        self.inflight = InflightLimit(limit: configuration.maxInflightBatches)
        self.queryLog = try configuration.ui.queryLogFile.map { try QueryLog(path: $0) }
    }

    /// Opens the configured store (creating or migrating its schema).
    /// - Parameter passwordFile: PostgreSQL password file (else `PGPASSWORD`).
    public static func openStore(_ location: StoreLocation, passwordFile: String? = nil, readOnly: Bool = false, logger: Logger) async throws -> any EventStore {
        switch location {
        case .sqlite(let path):
            return try SQLiteStore(path: path, readOnly: readOnly)
        case .postgres(let url):
            let pg = try PostgresLocation(url)
            return try await PostgresStore.connect(location: pg, password: try PostgresLocation.password(file: passwordFile),
                                                   logger: logger, migrate: !readOnly)
        }
    }

    /// The server's TLS configuration: TLS 1.2+, client certificates required and
    /// verified against the client CA.
    public static func tlsConfiguration(_ c: AggregatorConfiguration) throws -> TLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMFile(c.tlsCertificateFile).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: c.tlsKeyFile, format: .pem)
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        tls.trustRoots = .file(c.clientCAFile)
        tls.certificateVerification = .noHostnameVerification  // requires a client certificate
        tls.minimumTLSVersion = .tlsv12
        return tls
    }

    /// Builds the router.
    public func router() -> Router<AggregatorContext> {
        let router = Router(context: AggregatorContext.self)
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/readyz") { _, _ in await self.readiness() }
        router.get("/metrics") { _, _ in self.metricsResponse() }
        // Proofs are checked against this aggregator's own signing key when it has one.
        let trusted = configuration.checkpoints.map { [$0.signer.keyID: $0.signer.publicKey] }
        for path in ["/v1/stats", "/v1/collisions", "/v1/histogram", "/v1/facets", "/v1/export", "/v1/alerts", "/v1/proof", "/v1/values", BatchProtocol.eventsPath] {
            router.get(RouterPath(path)) { request, context in
                await self.query(request, context) { caller in
                    await QueryAnswers(store: self.store, clusters: caller.clusters.map(Set.init), trustedKeys: trusted)
                        .answer(path, request) ?? Response(status: .notFound)
                }
            }
        }
        router.post("/v1/hunt") { request, context in
            await self.query(request, context) { caller in
                await QueryAnswers(store: self.store, clusters: caller.clusters.map(Set.init)).hunt(request, gate: self.huntGate)
            }
        }
        addUIRoutes(router)
        router.post(RouterPath(BatchProtocol.batchPath)) { request, context in
            await self.handleBatch(request, context, webhook: false)
        }
        router.post(RouterPath(BatchProtocol.webhookPath)) { request, context in
            await self.handleBatch(request, context, webhook: true)
        }
        return router
    }

    /// Runs until SIGTERM or SIGINT, then finishes in-flight requests and returns.
    public func run() async throws {
        var tls = try Aggregator.tlsConfiguration(configuration)
        // Certificates renewed on disk (cert-manager) are picked up at the next handshake: the server's
        // own through a per-handshake override, the clients' CA bundle and CRL by our own verification.
        let files = try TLSFiles(certificateFile: configuration.tlsCertificateFile, keyFile: configuration.tlsKeyFile,
                                 clientCAFile: configuration.clientCAFile, clientCRLFile: configuration.clientCRLFile, logger: logger)
        tls.sslContextCallback = { _, promise in promise.succeed(files.serverOverride()) }
        self.tls.files = files
        let readyFile = configuration.readyFile
        let logger = self.logger
        let app = Application(
            router: router(),
            server: try .tls(.http1(configuration: .init(idleTimeout: .seconds(Int64(configuration.idleTimeoutSeconds)))),
                             configuration: TLSChannelConfiguration(tlsConfiguration: tls, customVerificationCallback: { certificates, promise in
                                 promise.succeed(files.verifyClient(certificates))
                             })),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "auditship"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                let host = channel.localAddress?.ipAddress ?? "?"
                logger.info("aggregator listening", metadata: ["address": "\(host):\(port)"])
                if let readyFile {
                    let tmp = readyFile + ".tmp"
                    _ = FileManager.default.createFile(atPath: tmp, contents: Data("\(host):\(port)\n".utf8))
                    _ = try? FileManager.default.replaceItemAt(URL(fileURLWithPath: readyFile), withItemAt: URL(fileURLWithPath: tmp))
                    if !FileManager.default.fileExists(atPath: readyFile) { try? FileManager.default.moveItem(atPath: tmp, toPath: readyFile) }
                }
            },
            logger: logger
        )
        var services: [any Service] = []
        if let checkpoints = configuration.checkpoints {
            // First in the group: shut down last, after the server stopped, for a final round.
            if let chain = store as? any ChainCheckpointStore {
                services.append(CheckpointService(store: chain, configuration: checkpoints, metrics: metrics, logger: logger))
            } else {
                logger.warning("this store keeps no hash chain: checkpoints are not signed")
            }
        } else {
            logger.warning("no --checkpoint-key: the store's hash chain is kept but its heads are not signed, so a rewrite of the whole store would not be detected")
        }
        services.append(app)
        if let listen = configuration.metricsListen {
            let (host, port) = try Aggregator.hostPort(listen)
            let plain = Router()
            plain.get("/healthz") { _, _ in "ok\n" }
            plain.get("/readyz") { _, _ in await self.readiness() }
            plain.get("/metrics") { _, _ in self.metricsResponse() }
            services.append(Application(router: plain, configuration: .init(address: .hostname(host, port: port), serverName: "auditship-metrics"),
                                        onServerRunning: { channel in
                                            logger.info("metrics listening", metadata: ["address": "\(channel.localAddress?.ipAddress ?? host):\(channel.localAddress?.port ?? port)"])
                                        }, logger: logger))
        }
        if let retention = configuration.retention {
            services.append(RetentionService(store: store, retention: retention, metrics: metrics, logger: logger))
        }
        if let sqlite = store as? SQLiteStore {
            services.append(CompactionService(store: sqlite, metrics: metrics, logger: logger))
        }
        if let alerts = configuration.alerts {
            if let log = store as? any AlertLog {
                services.append(AlertEvaluationService(store: store, log: log, configuration: alerts, metrics: metrics, logger: logger))
                if let url = alerts.webhookURL {
                    services.append(AlertNotificationService(log: log, url: url, configuration: alerts, metrics: metrics, logger: logger))
                }
            } else {
                logger.warning("this store does not keep alerts: alert rules are not evaluated")
            }
        }
        let group = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }

    static func hostPort(_ text: String) throws -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw StoreError("'\(text)' is not HOST:PORT")
        }
        return (String(text[..<colon]), port)
    }

    func readiness() async -> Response {
        if let full = space.full {
            // A full SQLite disk that has space again is ready (so that traffic comes back); only a
            // successful commit clears the state, so a commit that still fails never flaps it.
            if case .sqlite(let path) = configuration.store, let free = DiskFull.freeBytes(at: path), free >= Self.freeBytesToResume {
            } else {
                let since = Date(timeIntervalSince1970: full.since)
                return Response(status: .serviceUnavailable,
                                body: .init(byteBuffer: ByteBuffer(string: "store disk full since \(since): \(full.reason); ingest refused until space is freed\n")))
            }
        }
        do {
            _ = try await store.lastSequence()
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ready\n")))
        } catch {
            return Response(status: .serviceUnavailable, body: .init(byteBuffer: ByteBuffer(string: "store unavailable: \(error)\n")))
        }
    }

    func metricsResponse() -> Response {
        if case .sqlite(let path) = configuration.store {
            let size = [path, path + "-wal"].reduce(Int64(0)) { total, p in
                total + Int64(((try? FileManager.default.attributesOfItem(atPath: p))?[.size] as? Int) ?? 0)
            }
            metrics.storeSize(size)
            metrics.sqliteMemory(SQLiteMemory.used()?.current ?? 0)
        }
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(string: metrics.prometheusText())))
    }

    // MARK: identity

    func identity(_ context: AggregatorContext) async throws(Refusal) -> ClientIdentity {
        let peer: NIOSSLCertificate?
        do {
            peer = try await context.channel.nioSSL_peerCertificate().get()
        } catch {
            throw Refusal(status: 401, code: "no_certificate", message: "could not read the client certificate: \(error)")
        }
        guard let peer, let der = try? peer.toDERBytes(), let cert = try? Certificate(der: der) else {
            throw Refusal(status: 401, code: "no_certificate", message: "a client certificate is required")
        }
        if let files = tls.files, let reason = files.requestRefusal(leaf: der) {
            throw Refusal(status: 403, code: "certificate_refused",
                          message: "certificate CN=\(cert.commonName ?? "?") is no longer accepted: \(reason)")
        }
        do {
            return try ClientIdentity(subjectAlternativeURIs: cert.uriSubjectAlternativeNames)
        } catch {
            throw Refusal(status: 403, code: "bad_identity", message: "certificate CN=\(cert.commonName ?? "?"): \(error.message)")
        }
    }

    // MARK: handlers

    func handleBatch(_ request: Request, _ context: AggregatorContext, webhook: Bool) async -> Response {
        let started = ContinuousClock.now
        var log = context.logger
        do {
            let who = try await identity(context)
            log[metadataKey: "client"] = "\(who)"
            guard let cluster = who.writableCluster, let certNode = who.writableNode else {
                throw Refusal(status: 403, code: "forbidden", message: "\(who) may not write events")
            }
            // Shed load before reading the body: memory stays bounded by the limit, not by the clients.
            guard inflight.tryAcquire() else {
                throw Refusal(status: 429, code: "overloaded", retryAfter: 1,
                              message: "the aggregator is at its limit of \(inflight.limit) batches in flight; send again after Retry-After", retryable: true)
            }
            defer { inflight.release() }
            var node = certNode
            if !webhook {
                let claimedCluster = request.headers[Self.clusterHeader] ?? ""
                guard claimedCluster == cluster else {
                    log.warning("batch refused: certificate may not write for the claimed cluster", metadata: ["claimed.cluster": "\(claimedCluster)", "cert.cluster": "\(cluster)"])
                    throw Refusal(status: 403, code: "wrong_cluster", message: "certificate \(who) may write for cluster '\(cluster)' only, the batch claims '\(claimedCluster)'")
                }
                let claimedNode = request.headers[Self.nodeHeader] ?? ""
                guard claimedNode == certNode else {
                    log.warning("batch refused: certificate may not write for the claimed node", metadata: ["claimed.node": "\(claimedNode)", "cert.node": "\(certNode)"])
                    throw Refusal(status: 403, code: "wrong_node", message: "certificate \(who) may write for node '\(certNode)' only, the batch claims '\(claimedNode)'")
                }
                node = claimedNode
            }
            var request = request
            let buffer: ByteBuffer
            do {
                buffer = try await request.collectBody(upTo: configuration.limits.maxBodyBytes)
            } catch {
                throw Refusal(status: 413, code: "too_large", message: "the request body exceeds \(configuration.limits.maxBodyBytes) bytes; send smaller batches")
            }
            let body = Array(buffer.readableBytesView)
            let encoding = request.headers[.contentEncoding]
            let decoded = webhook
                ? try decoder.decodeEventList(body: body, contentEncoding: encoding)
                : try decoder.decodeBatch(body: body, contentEncoding: encoding)
            let batchID = request.headers[Self.batchIDHeader] ?? SHA256.hex(SHA256.hash(body).prefix(16))
            let result: IngestResult
            do {
                result = try await store.ingest(IngestBatch(cluster: cluster, node: node, batchID: batchID, events: decoded.events))
            } catch {
                if let reason = StoreSpace.diskFull(error) {
                    if space.commitFailed(reason: reason, at: Date().timeIntervalSince1970) {
                        log.critical("the store's disk is full: batches are refused (503 store_full) and stay with the agents until space is freed",
                                     metadata: ["reason": "\(reason)", "store": "\(configuration.store)"])
                    }
                    throw Refusal(status: 503, code: "store_full", retryAfter: 10,
                                  message: "the store's disk is full (\(reason)); the batch was not stored: keep it and send it again later", retryable: true)
                }
                log.error("store failed to commit a batch", metadata: ["batch.id": "\(batchID)", "error": "\(error)"])
                throw Refusal(status: 503, code: "store_unavailable", message: "the store could not commit the batch: \(error)", retryable: true)
            }
            if space.recovered() {
                log.notice("the store has space again: ingest resumed", metadata: ["store": "\(configuration.store)"])
            }
            // Late and future events are counted, never refused or reordered: the store orders by the
            // events' own timestamps, whatever the apiserver's clock did.
            let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
            let cutoff = now - configuration.latenessWindow.microseconds
            let horizon = now + configuration.futureWindow.microseconds
            let late = decoded.events.filter { $0.summary.orderTimestamp.microseconds < cutoff }.count
            let future = decoded.events.filter { $0.summary.orderTimestamp.microseconds > horizon }.count
            metrics.batch(cluster: cluster, node: node, events: decoded.events.count, bytes: body.count, duplicates: result.duplicates,
                          collisions: result.collisions, late: late, future: future,
                          seconds: Double((ContinuousClock.now - started).components.attoseconds) / 1e18 + Double((ContinuousClock.now - started).components.seconds))
            if result.collisions > 0 {
                log.warning("auditID collision: events with an auditID and stage already held by other events were stored beside them",
                            metadata: ["batch.id": "\(batchID)", "collisions": "\(result.collisions)"])
            }
            for (i, r) in decoded.rejected.enumerated() {
                metrics.refusedLine(r.code)
                // A line each for the first few; a batch of thousands of bad lines must not flood the log.
                if i < Self.refusedLinesLogged {
                    log.warning("event refused", metadata: ["batch.id": "\(batchID)", "line": "\(r.line)", "reason": "\(r.code)", "detail": "\(r.message)"])
                }
            }
            if decoded.rejected.count > Self.refusedLinesLogged {
                log.warning("more events refused in this batch (each is in the answer and counted in metrics)",
                            metadata: ["batch.id": "\(batchID)", "more": "\(decoded.rejected.count - Self.refusedLinesLogged)"])
            }
            log.debug("batch committed", metadata: [
                "batch.id": "\(batchID)", "cluster": "\(cluster)", "node": "\(node)",
                "events": "\(decoded.events.count)", "stored": "\(result.stored)", "duplicates": "\(result.duplicates)",
                "rejected": "\(decoded.rejected.count)", "elapsed": "\(ContinuousClock.now - started)",
            ])
            let answer = BatchResponse(batchID: batchID, accepted: decoded.events.count, stored: result.stored,
                                       duplicates: result.duplicates, rejected: decoded.rejected)
            return json(answer, status: .ok)
        } catch let refusal as Refusal {
            metrics.refused(refusal.code)
            if refusal.status != 503 && refusal.status != 429 {  // load shedding is counted, not logged per request
                log.warning("request refused", metadata: ["status": "\(refusal.status)", "reason": "\(refusal.code)", "detail": "\(refusal.message)"])
            }
            var response = json(ErrorResponse(error: refusal.code, message: refusal.message, retryable: refusal.retryable),
                                status: .init(code: refusal.status))
            if refusal.retryable {
                // kube-apiserver's webhook client retries only answers that say when.
                response.headers[.retryAfter] = "\(refusal.retryAfter ?? 1)"
            }
            if refusal.code == "certificate_refused" {
                // The connection was opened with a certificate no longer accepted: close it, so that the
                // client's next connection presents the certificate it has now.
                response.headers[.connection] = "close"
            }
            return response
        } catch {
            log.error("unexpected failure", metadata: ["error": "\(error)"])
            return json(ErrorResponse(error: "internal", message: "\(error)", retryable: true), status: .internalServerError)
        }
    }

    func json<T: Encodable>(_ value: T, status: HTTPResponse.Status) -> Response { QueryAnswers.json(value, status: status) }
}

/// Deletes events older than the retention period, once a minute, in chunks
/// (the store deletes 10,000 rows per transaction) so that ingest never waits long.
struct RetentionService: Service {
    let store: any EventStore
    let retention: Duration
    let metrics: AggregatorMetrics
    let logger: Logger

    /// Ends without an error when shutdown begins (a service that throws would cancel the whole
    /// group, and with it the checkpoint service's final round); a pass under way finishes first.
    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let cutoff = Timestamp(microseconds: Int64(Date().timeIntervalSince1970 * 1_000_000) - retention.microseconds)
            do {
                let n = try await store.deleteEvents(before: cutoff)
                metrics.retention(deleted: n)
                if n > 0 { logger.info("retention deleted old events", metadata: ["events": "\(n)", "before": "\(cutoff)"]) }
            } catch {
                logger.error("retention failed", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(60)) }
        }
    }
}

/// Merges a quiet cluster's small blocks once their hour is over (SQLite's block layout;
/// `SQLiteStore.compact`), once a minute, a few runs per transaction.
struct CompactionService: Service {
    let store: SQLiteStore
    let metrics: AggregatorMetrics
    let logger: Logger
    /// How long after an hour ends its blocks are left alone (late events of that hour still come).
    static let grace: Int64 = 5 * 60 * 1_000_000

    /// Ends without an error when shutdown begins, as `RetentionService` does.
    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
            let hour: Int64 = 3_600_000_000
            let before = Timestamp(microseconds: (now - Self.grace) / hour * hour)
            do {
                let r = try await store.compact(before: before)
                metrics.compaction(r)
                if r.runs > 0 {
                    logger.info("compaction merged small blocks", metadata: ["runs": "\(r.runs)", "blocks": "\(r.blocks)", "events": "\(r.events)"])
                }
            } catch {
                logger.error("compaction failed", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(60)) }
        }
    }
}

extension Duration {
    var microseconds: Int64 { components.seconds * 1_000_000 + components.attoseconds / 1_000_000_000_000 }
}
