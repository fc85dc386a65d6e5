import COpenSSL

/// An X.509 certificate held by OpenSSL.
public final class Certificate: @unchecked Sendable {
    // Immutable after init.
    let x509: OpaquePointer

    init(taking x509: OpaquePointer) { self.x509 = x509 }
    deinit { X509_free(x509) }

    /// Reads the first certificate of a PEM text.
    public convenience init(pem: String) throws(OpenSSLError) {
        let bio = try MemoryBIO(pem)
        guard let x = PEM_read_bio_X509(bio.bio, nil, nil, nil) else { throw OpenSSLError("reading a PEM certificate") }
        self.init(taking: x)
    }

    /// Reads a DER certificate.
    public convenience init(der: [UInt8]) throws(OpenSSLError) {
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buf in
            var p: UnsafePointer<UInt8>? = buf.baseAddress
            return d2i_X509(nil, &p, buf.count)
        }
        guard let parsed else { throw OpenSSLError("reading a DER certificate") }
        self.init(taking: parsed)
    }

    /// The certificate as PEM.
    public func pem() throws(OpenSSLError) -> String {
        let bio = try MemoryBIO()
        guard PEM_write_bio_X509(bio.bio, x509) == 1 else { throw OpenSSLError("writing a PEM certificate") }
        return bio.string()
    }

    /// The subject's common name, if any.
    public var commonName: String? {
        guard let name = X509_get_subject_name(x509) else { return nil }
        let index = X509_NAME_get_index_by_NID(name, NID_commonName, -1)
        guard index >= 0, let entry = X509_NAME_get_entry(name, index), let data = X509_NAME_ENTRY_get_data(entry) else { return nil }
        return Certificate.string(UnsafePointer(data))
    }

    /// The URI entries of the subjectAltName extension.
    public var uriSubjectAlternativeNames: [String] {
        guard let raw = X509_get_ext_d2i(x509, NID_subject_alt_name, nil, nil) else { return [] }
        let names = OpaquePointer(raw)
        defer { auditship_general_names_free(names) }
        var out: [String] = []
        for i in 0..<auditship_general_names_count(names) {
            guard let name = auditship_general_names_at(names, i), let uri = auditship_general_name_uri(name) else { continue }
            out.append(Certificate.string(uri))
        }
        return out
    }

    /// Seconds since 1970 when the certificate stops being valid.
    public var notAfterEpochSeconds: Int64? {
        guard let t = X509_get0_notAfter(x509) else { return nil }
        var tm = tm()
        guard ASN1_TIME_to_tm(t, &tm) == 1 else { return nil }
        return Int64(timegm(&tm))
    }

    static func string(_ s: UnsafePointer<ASN1_STRING>) -> String {
        let n = Int(ASN1_STRING_length(s))
        guard n > 0, let p = ASN1_STRING_get0_data(s) else { return "" }
        return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
    }
}

/// What a certificate is for.
public enum CertificateUsage: Sendable {
    /// A certificate authority that signs the others.
    case authority
    /// A TLS server (aggregator).
    case server
    /// A TLS client (agent, reader, webhook).
    case client
}

/// Issues certificates with OpenSSL.
public enum CertificateIssuer {
    /// Creates a certificate for `key`, signed by `issuer` (self-signed when nil).
    /// - Parameters:
    ///   - commonName: the subject CN.
    ///   - organization: the subject O (optional).
    ///   - subjectAlternativeNames: entries in OpenSSL's syntax: `DNS:localhost`, `IP:127.0.0.1`, `URI:auditship://agent/c/n`.
    ///   - days: validity from one hour ago.
    public static func issue(
        key: PrivateKey,
        commonName: String,
        organization: String? = nil,
        usage: CertificateUsage,
        subjectAlternativeNames: [String] = [],
        days: Int,
        issuer: (certificate: Certificate, key: PrivateKey)? = nil
    ) throws(OpenSSLError) -> Certificate {
        guard let x = X509_new() else { throw OpenSSLError("allocating a certificate") }
        let cert = Certificate(taking: x)
        guard X509_set_version(x, 2) == 1 else { throw OpenSSLError("setting the certificate version") }
        // A random positive 127-bit serial number.
        var serial = [UInt8](repeating: 0, count: 16)
        guard RAND_bytes(&serial, Int32(serial.count)) == 1 else { throw OpenSSLError("drawing a serial number") }
        serial[0] &= 0x7F
        guard let bn = BN_bin2bn(serial, Int32(serial.count), nil) else { throw OpenSSLError("building a serial number") }
        defer { BN_free(bn) }
        guard BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != nil else { throw OpenSSLError("setting the serial number") }
        guard X509_gmtime_adj(X509_getm_notBefore(x), -3600) != nil,
              X509_gmtime_adj(X509_getm_notAfter(x), days * 86_400) != nil else { throw OpenSSLError("setting the validity") }
        guard X509_set_pubkey(x, key.pkey) == 1 else { throw OpenSSLError("setting the public key") }
        guard let name = X509_NAME_new() else { throw OpenSSLError("allocating a name") }
        defer { X509_NAME_free(name) }
        if let organization {
            guard X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, organization, -1, -1, 0) == 1 else { throw OpenSSLError("setting O=\(organization)") }
        }
        guard X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, commonName, -1, -1, 0) == 1 else { throw OpenSSLError("setting CN=\(commonName)") }
        guard X509_set_subject_name(x, name) == 1 else { throw OpenSSLError("setting the subject") }
        let issuerCert = issuer?.certificate.x509 ?? x
        guard X509_set_issuer_name(x, X509_get_subject_name(issuerCert)) == 1 else { throw OpenSSLError("setting the issuer") }

        var ctx = X509V3_CTX()
        X509V3_set_ctx(&ctx, issuerCert, x, nil, nil, 0)
        var extensions: [(Int32, String)] = []
        switch usage {
        case .authority:
            extensions = [
                (NID_basic_constraints, "critical,CA:TRUE,pathlen:0"),
                (NID_key_usage, "critical,keyCertSign,cRLSign"),
                (NID_subject_key_identifier, "hash"),
            ]
        case .server:
            extensions = [
                (NID_basic_constraints, "critical,CA:FALSE"),
                (NID_key_usage, "critical,digitalSignature,keyEncipherment"),
                (NID_ext_key_usage, "serverAuth"),
                (NID_subject_key_identifier, "hash"),
                (NID_authority_key_identifier, "keyid:always"),
            ]
        case .client:
            extensions = [
                (NID_basic_constraints, "critical,CA:FALSE"),
                (NID_key_usage, "critical,digitalSignature,keyEncipherment"),
                (NID_ext_key_usage, "clientAuth"),
                (NID_subject_key_identifier, "hash"),
                (NID_authority_key_identifier, "keyid:always"),
            ]
        }
        if !subjectAlternativeNames.isEmpty {
            extensions.append((NID_subject_alt_name, subjectAlternativeNames.joined(separator: ",")))
        }
        for (nid, value) in extensions {
            guard let ext = X509V3_EXT_conf_nid(nil, &ctx, nid, value) else {
                throw OpenSSLError("building extension \(String(cString: OBJ_nid2sn(nid))) = \(value)")
            }
            defer { X509_EXTENSION_free(ext) }
            guard X509_add_ext(x, ext, -1) == 1 else { throw OpenSSLError("adding extension \(value)") }
        }
        let signer = issuer?.key.pkey ?? key.pkey
        guard X509_sign(x, signer, EVP_sha256()) > 0 else { throw OpenSSLError("signing the certificate for \(commonName)") }
        return cert
    }
}

extension Certificate {
    /// Whether `key` is the private half of this certificate's public key (a renewed certificate
    /// and its key are replaced one file at a time: a pair that does not match yet is not used).
    public func matches(_ key: PrivateKey) -> Bool {
        X509_check_private_key(x509, key.pkey) == 1
    }
}
