import COpenSSL
import Foundation

/// Certificate authorities (and optionally revocation lists) to verify peer certificates against,
/// loaded from PEM files; immutable once made, so that a new copy can replace it when the files
/// change on disk (a CA roll, a new CRL) while verifications with the old one finish.
public final class TrustStore: @unchecked Sendable {
    // An X509_STORE is safe to verify against from several threads once it is no longer modified.
    private let store: OpaquePointer
    /// Whether CRLs were loaded (then every chain is checked for revocation).
    public let checksRevocation: Bool

    /// - Parameters:
    ///   - caFile: PEM bundle of trusted CA certificates (several during a roll).
    ///   - crlFile: PEM file of CRLs from those CAs; with it, a revoked certificate is refused, and so is
    ///     one whose CA has no CRL in the file.
    public init(caFile: String, crlFile: String? = nil) throws(OpenSSLError) {
        guard let s = X509_STORE_new() else { throw OpenSSLError("allocating a certificate store") }
        store = s
        guard X509_STORE_load_file(s, caFile) == 1 else {
            X509_STORE_free(s)
            throw OpenSSLError("reading the CA bundle \(caFile)")
        }
        if let crlFile {
            guard X509_STORE_load_file(s, crlFile) == 1 else {
                X509_STORE_free(s)
                throw OpenSSLError("reading the CRL file \(crlFile)")
            }
            X509_STORE_set_flags(s, UInt(X509_V_FLAG_CRL_CHECK))
            checksRevocation = true
        } else {
            checksRevocation = false
        }
    }

    deinit { X509_STORE_free(store) }

    /// Verifies a peer's chain (leaf first, DER) for TLS client authentication; nil when it
    /// verifies, else OpenSSL's reason ("certificate has expired", "certificate revoked", …).
    public func verify(chain: [[UInt8]]) -> String? {
        guard let leafDER = chain.first else { return "no certificate" }
        func parse(_ der: [UInt8]) -> OpaquePointer? {
            der.withUnsafeBufferPointer { buf in
                var p: UnsafePointer<UInt8>? = buf.baseAddress
                return d2i_X509(nil, &p, buf.count)
            }
        }
        guard let leaf = parse(leafDER) else { return "the certificate cannot be read" }
        defer { X509_free(leaf) }
        guard let untrusted = OPENSSL_sk_new_null() else { return "out of memory" }
        var extras: [OpaquePointer] = []
        defer {
            OPENSSL_sk_free(untrusted)
            for x in extras { X509_free(x) }
        }
        for der in chain.dropFirst() {
            guard let x = parse(der) else { return "a certificate of the chain cannot be read" }
            extras.append(x)
            OPENSSL_sk_push(untrusted, UnsafeRawPointer(x))
        }
        guard let ctx = X509_STORE_CTX_new() else { return "out of memory" }
        defer { X509_STORE_CTX_free(ctx) }
        guard X509_STORE_CTX_init(ctx, store, leaf, untrusted) == 1 else { return "cannot set up the verification" }
        X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT)
        if X509_verify_cert(ctx) == 1 { return nil }
        return String(cString: X509_verify_cert_error_string(Int(X509_STORE_CTX_get_error(ctx))))
    }
}
