import Foundation
import Logging
import NIOCore
import NIOSSL
import OpenSSLKit
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The aggregator's certificate, key, client CA bundle and CRL, followed on disk: when
/// cert-manager (or an operator) replaces a file, the next TLS handshake uses the new one, with
/// no restart and no connection dropped. A file caught half-written keeps the old copy in use
/// (logged) and is tried again at the next handshake.
final class TLSFiles: Sendable {
    /// What identifies a file's content on disk without reading it. Symbolic links are followed:
    /// a Kubernetes Secret volume swaps a `..data` link, and the file names are links into it.
    struct Stamp: Equatable, Sendable {
        var modifiedSeconds: Int
        var modifiedNanoseconds: Int
        var size: Int64
        var inode: UInt64

        init?(_ path: String) {
            var st = stat()
            guard stat(path, &st) == 0 else { return nil }
            modifiedSeconds = Int(st.st_mtim.tv_sec)
            modifiedNanoseconds = Int(st.st_mtim.tv_nsec)
            size = Int64(st.st_size)
            inode = UInt64(st.st_ino)
        }
    }

    struct State: @unchecked Sendable {
        var serverStamps: [Stamp?]
        var serverOverride: NIOSSLContextConfigurationOverride?
        var trustStamps: [Stamp?]
        var trust: TrustStore
        /// Chains clients presented in full handshakes, by the leaf's DER: what a request on a
        /// resumed or long-lived connection is verified with (the leaf alone cannot reach the root
        /// through an intermediate). Bounded; an evicted entry falls back to the leaf alone.
        var chains: [[UInt8]: [[UInt8]]] = [:]
    }
    static let maxChains = 4096

    let certificateFile: String
    let keyFile: String
    let clientCAFile: String
    let clientCRLFile: String?
    let logger: Logger
    private let state: Mutex<State>

    init(certificateFile: String, keyFile: String, clientCAFile: String, clientCRLFile: String?, logger: Logger) throws {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.clientCAFile = clientCAFile
        self.clientCRLFile = clientCRLFile
        self.logger = logger
        // Stamps first: a file replaced while it is being read is read again at the next handshake.
        let trustStamps = [Stamp(clientCAFile), clientCRLFile.flatMap(Stamp.init)]
        let trust = try TrustStore(caFile: clientCAFile, crlFile: clientCRLFile)
        // The server's pair is read from disk at the first handshake (the one loaded at start may be older).
        state = Mutex(State(serverStamps: [], serverOverride: nil, trustStamps: trustStamps, trust: trust))
    }

    /// The certificate and key to present in this handshake: the ones loaded at start until the
    /// files change, then the new ones.
    func serverOverride() -> NIOSSLContextConfigurationOverride {
        let stamps = [Stamp(certificateFile), Stamp(keyFile)]
        return state.withLock { s in
            if stamps != s.serverStamps {
                do {
                    // A renewed pair is written one file at a time: use it only once the key matches.
                    let pemCertificate = try String(contentsOfFile: certificateFile, encoding: .utf8)
                    let pemKey = try String(contentsOfFile: keyFile, encoding: .utf8)
                    guard try Certificate(pem: pemCertificate).matches(try PrivateKey(pem: pemKey)) else {
                        logger.info("aggregator certificate and key on disk do not match (yet); the previous pair stays in use",
                                    metadata: ["tls.cert": "\(certificateFile)"])
                        s.serverStamps = stamps  // tried again when either file changes
                        return s.serverOverride ?? .noChanges
                    }
                    let chain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { NIOSSLCertificateSource.certificate($0) }
                    let key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
                    var o = NIOSSLContextConfigurationOverride()
                    o.certificateChain = chain
                    o.privateKey = .privateKey(key)
                    s.serverOverride = o
                    s.serverStamps = stamps
                    logger.notice("aggregator certificate reloaded from disk", metadata: ["tls.cert": "\(certificateFile)"])
                } catch {
                    logger.warning("aggregator certificate changed on disk but cannot be read yet; the previous one stays in use",
                                   metadata: ["tls.cert": "\(certificateFile)", "error": "\(error)"])
                    s.serverStamps = stamps
                }
            }
            return s.serverOverride ?? .noChanges
        }
    }

    /// Verifies a client's chain against the CA bundle (and CRL) as they are on disk now.
    func verifyClient(_ certificates: [NIOSSLCertificate]) -> NIOSSLVerificationResult {
        var chain: [[UInt8]] = []
        for c in certificates {
            guard let der = try? c.toDERBytes() else { return .failed }
            chain.append(der)
        }
        guard refusal(chain, logged: true) == nil, let leaf = chain.first else { return .failed }
        state.withLock { s in
            if s.chains.count >= Self.maxChains { s.chains.removeAll(keepingCapacity: true) }
            s.chains[leaf] = chain
        }
        return .certificateVerified
    }

    /// Why the client certificate of a request is not accepted now, or nil: verified with the
    /// chain it came with in its full handshake.
    func requestRefusal(leaf: [UInt8]) -> String? {
        let chain = state.withLock { $0.chains[leaf] } ?? [leaf]
        return refusal(chain, logged: false)
    }

    /// Why a client's chain (DER, leaf first) is not accepted now, or nil. Also asked for every
    /// request: a resumed TLS session skips the handshake's verification, and a long-lived connection
    /// outlives its certificate's validity or its revocation.
    func refusal(_ chain: [[UInt8]], logged: Bool) -> String? {
        let stamps = [Stamp(clientCAFile), clientCRLFile.flatMap(Stamp.init)]
        let trust: TrustStore = state.withLock { s in
            if stamps != s.trustStamps {
                do {
                    s.trust = try TrustStore(caFile: clientCAFile, crlFile: clientCRLFile)
                    s.trustStamps = stamps
                    logger.notice("client CA bundle reloaded from disk", metadata: ["tls.client_ca": "\(clientCAFile)",
                                                                                 "tls.client_crl": "\(clientCRLFile ?? "none")"])
                } catch {
                    logger.warning("client CA bundle or CRL changed on disk but cannot be read yet; the previous ones stay in use",
                                   metadata: ["tls.client_ca": "\(clientCAFile)", "error": "\(error)"])
                    s.trustStamps = stamps
                }
            }
            return s.trust
        }
        guard let reason = trust.verify(chain: chain) else { return nil }
        if logged {
            let subject = chain.first.flatMap { try? Certificate(der: $0) }?.commonName ?? "?"
            logger.warning("client certificate refused", metadata: ["reason": "\(reason)", "certificate.cn": "\(subject)"])
        }
        return reason
    }
}

/// Where the running server's `TLSFiles` are, for the per-request check of client certificates.
final class TLSFilesBox: Sendable {
    private let box = Mutex<TLSFiles?>(nil)
    var files: TLSFiles? {
        get { box.withLock { $0 } }
        set { box.withLock { $0 = newValue } }
    }
}
