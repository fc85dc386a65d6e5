import AuditModel
import AuditStore
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

    static let clusterHeader = HTTPField.Name(BatchProtocol.clusterHeader) ?? .contentType
    static let nodeHeader = HTTPField.Name(BatchProtocol.nodeHeader) ?? .contentType
    static let batchIDHeader = HTTPField.Name(BatchProtocol.batchIDHeader) ?? .contentType

    public init(configuration: AggregatorConfiguration, store: any EventStore, logger: Logger) {
        self.configuration = configuration
        self.store = store
        self.decoder = BatchDecoder(limits: configuration.limits)
        self.logger = logger
    }

    /// Opens the configured store.
    public static func openStore(_ location: StoreLocation) throws -> any EventStore {
        switch location {
        case .sqlite(let path):
            return try SQLiteStore(path: path)
        case .postgres(let url):
            throw StoreError("store '\(url)': the PostgreSQL backend is not available in this build; use sqlite:PATH")
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
        router.post(RouterPath(BatchProtocol.batchPath)) { request, context in
            await self.handleBatch(request, context, webhook: false)
        }
        router.post(RouterPath(BatchProtocol.webhookPath)) { request, context in
            await self.handleBatch(request, context, webhook: true)
        }
        router.get(RouterPath(BatchProtocol.eventsPath)) { request, context in
            await self.handleEvents(request, context)
        }
        return router
    }

    /// Runs until SIGTERM or SIGINT, then finishes in-flight requests and returns.
    public func run() async throws {
        let tls = try Aggregator.tlsConfiguration(configuration)
        let readyFile = configuration.readyFile
        let logger = self.logger
        let app = Application(
            router: router(),
            server: try .tls(.http1(configuration: .init(idleTimeout: .seconds(Int64(configuration.idleTimeoutSeconds)))), tlsConfiguration: tls),
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
        let group = ServiceGroup(configuration: .init(
            services: [app],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
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
                log.error("store failed to commit a batch", metadata: ["batch.id": "\(batchID)", "error": "\(error)"])
                throw Refusal(status: 503, code: "store_unavailable", message: "the store could not commit the batch: \(error)", retryable: true)
            }
            for r in decoded.rejected {
                log.warning("event refused", metadata: ["batch.id": "\(batchID)", "line": "\(r.line)", "reason": "\(r.code)", "detail": "\(r.message)"])
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
            if refusal.status != 503 {
                log.warning("request refused", metadata: ["status": "\(refusal.status)", "reason": "\(refusal.code)", "detail": "\(refusal.message)"])
            }
            return json(ErrorResponse(error: refusal.code, message: refusal.message, retryable: refusal.retryable),
                        status: .init(code: refusal.status))
        } catch {
            log.error("unexpected failure", metadata: ["error": "\(error)"])
            return json(ErrorResponse(error: "internal", message: "\(error)", retryable: true), status: .internalServerError)
        }
    }

    func handleEvents(_ request: Request, _ context: AggregatorContext) async -> Response {
        do {
            let who = try await identity(context)
            guard case .reader = who else {
                throw Refusal(status: 403, code: "forbidden", message: "\(who) may not query; use a reader certificate")
            }
            let p = request.uri.queryParameters
            func value(_ k: String) -> String? { p[Substring(k)].map(String.init) }
            func time(_ k: String) throws(Refusal) -> Timestamp? {
                guard let v = value(k) else { return nil }
                guard let t = Timestamp(rfc3339: v) else {
                    throw Refusal(status: 400, code: "bad_parameter", message: "\(k)='\(v)' is not an RFC 3339 time")
                }
                return t
            }
            let query = EventQuery(cluster: value("cluster"), node: value("node"), user: value("user"), verb: value("verb"),
                                   resource: value("resource"), namespace: value("namespace"),
                                   since: try time("since"), until: try time("until"),
                                   limit: value("limit").flatMap { Int($0) })
            if value("count") == "true" {
                let n = try await store.count(query)
                return Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "\(n)\n")))
            }
            let events = try await store.events(query)
            var out = ByteBuffer()
            for e in events {
                out.writeBytes(JSONText.taggedEventLine(cluster: e.cluster, node: e.node, event: e.bytes))
                out.writeInteger(UInt8(ascii: "\n"))
            }
            return Response(status: .ok, headers: [.contentType: "application/x-ndjson"], body: .init(byteBuffer: out))
        } catch let refusal as Refusal {
            return json(ErrorResponse(error: refusal.code, message: refusal.message, retryable: false), status: .init(code: refusal.status))
        } catch {
            return json(ErrorResponse(error: "internal", message: "\(error)", retryable: true), status: .internalServerError)
        }
    }

    func json<T: Encodable>(_ value: T, status: HTTPResponse.Status) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
