import COpenSSL

/// A private key held by OpenSSL (EC P-256 or Ed25519).
public final class PrivateKey: @unchecked Sendable {
    // Immutable after init; OpenSSL's EVP_PKEY is safe to share read-only across threads.
    let pkey: OpaquePointer

    init(taking pkey: OpaquePointer) { self.pkey = pkey }

    deinit { EVP_PKEY_free(pkey) }

    /// A new ECDSA P-256 key.
    public static func generateP256() throws(OpenSSLError) -> PrivateKey {
        var key: OpaquePointer?
        guard auditship_ec_keygen_p256(&key) == 1, let key else { throw OpenSSLError("generating a P-256 key") }
        return PrivateKey(taking: key)
    }

    /// A new Ed25519 key.
    public static func generateEd25519() throws(OpenSSLError) -> PrivateKey {
        var key: OpaquePointer?
        guard auditship_ed25519_keygen(&key) == 1, let key else { throw OpenSSLError("generating an Ed25519 key") }
        return PrivateKey(taking: key)
    }

    /// Reads a PEM private key (PKCS#8 or traditional).
    public convenience init(pem: String) throws(OpenSSLError) {
        let bio = try MemoryBIO(pem)
        guard let key = PEM_read_bio_PrivateKey(bio.bio, nil, nil, nil) else {
            throw OpenSSLError("reading a PEM private key")
        }
        self.init(taking: key)
    }

    /// The key as PKCS#8 PEM.
    public func pem() throws(OpenSSLError) -> String {
        let bio = try MemoryBIO()
        guard PEM_write_bio_PrivateKey(bio.bio, pkey, nil, nil, 0, nil, nil) == 1 else {
            throw OpenSSLError("writing a PEM private key")
        }
        return bio.string()
    }

    /// The public half as SubjectPublicKeyInfo PEM.
    public func publicKeyPEM() throws(OpenSSLError) -> String {
        let bio = try MemoryBIO()
        guard PEM_write_bio_PUBKEY(bio.bio, pkey) == 1 else { throw OpenSSLError("writing a PEM public key") }
        return bio.string()
    }

    /// Signs `message` (Ed25519: pure; P-256: ECDSA with SHA-256).
    public func sign(_ message: [UInt8]) throws(OpenSSLError) -> [UInt8] {
        guard let ctx = EVP_MD_CTX_new() else { throw OpenSSLError("allocating a digest context") }
        defer { EVP_MD_CTX_free(ctx) }
        let md: OpaquePointer? = EVP_PKEY_get_id(pkey) == EVP_PKEY_ED25519 ? nil : EVP_sha256()
        guard EVP_DigestSignInit(ctx, nil, md, nil, pkey) == 1 else { throw OpenSSLError("starting a signature") }
        var length = 0
        let ok = message.withUnsafeBufferPointer { m in
            EVP_DigestSign(ctx, nil, &length, m.baseAddress, m.count)
        }
        guard ok == 1 else { throw OpenSSLError("sizing a signature") }
        var signature = [UInt8](repeating: 0, count: length)
        let ok2 = message.withUnsafeBufferPointer { m in
            signature.withUnsafeMutableBufferPointer { s in
                EVP_DigestSign(ctx, s.baseAddress, &length, m.baseAddress, m.count)
            }
        }
        guard ok2 == 1 else { throw OpenSSLError("signing") }
        return Array(signature.prefix(length))
    }
}

/// A public key held by OpenSSL.
public final class PublicKey: @unchecked Sendable {
    let pkey: OpaquePointer
    init(taking pkey: OpaquePointer) { self.pkey = pkey }
    deinit { EVP_PKEY_free(pkey) }

    /// Reads a SubjectPublicKeyInfo PEM.
    public convenience init(pem: String) throws(OpenSSLError) {
        let bio = try MemoryBIO(pem)
        guard let key = PEM_read_bio_PUBKEY(bio.bio, nil, nil, nil) else { throw OpenSSLError("reading a PEM public key") }
        self.init(taking: key)
    }

    /// True when `signature` is a valid signature of `message` by this key.
    public func verify(signature: [UInt8], message: [UInt8]) -> Bool {
        guard let ctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(ctx) }
        let md: OpaquePointer? = EVP_PKEY_get_id(pkey) == EVP_PKEY_ED25519 ? nil : EVP_sha256()
        guard EVP_DigestVerifyInit(ctx, nil, md, nil, pkey) == 1 else { ERR_clear_error(); return false }
        let rc = signature.withUnsafeBufferPointer { s in
            message.withUnsafeBufferPointer { m in
                EVP_DigestVerify(ctx, s.baseAddress, s.count, m.baseAddress, m.count)
            }
        }
        ERR_clear_error()
        return rc == 1
    }
}

/// A memory BIO, freed with its owner.
final class MemoryBIO {
    let bio: OpaquePointer

    init() throws(OpenSSLError) {
        guard let b = BIO_new(BIO_s_mem()) else { throw OpenSSLError("allocating a memory BIO") }
        bio = b
    }

    init(_ text: String) throws(OpenSSLError) {
        let bytes = Array(text.utf8)
        guard let b = BIO_new(BIO_s_mem()) else { throw OpenSSLError("allocating a memory BIO") }
        bio = b
        let written = bytes.withUnsafeBytes { BIO_write(b, $0.baseAddress, Int32($0.count)) }
        guard written == Int32(bytes.count) else { throw OpenSSLError("filling a memory BIO") }
    }

    deinit { BIO_free(bio) }

    func bytes() -> [UInt8] {
        var p: UnsafeMutablePointer<CChar>?
        let n = auditship_bio_mem_data(bio, &p)
        guard n > 0, let p else { return [] }
        return p.withMemoryRebound(to: UInt8.self, capacity: n) { Array(UnsafeBufferPointer(start: $0, count: n)) }
    }

    func string() -> String { String(decoding: bytes(), as: UTF8.self) }
}

extension PublicKey {
    /// The key as DER SubjectPublicKeyInfo.
    public func der() throws(OpenSSLError) -> [UInt8] {
        let n = i2d_PUBKEY(pkey, nil)
        guard n > 0 else { throw OpenSSLError("encoding a public key") }
        var out = [UInt8](repeating: 0, count: Int(n))
        let written = out.withUnsafeMutableBufferPointer { buf -> Int32 in
            var p = buf.baseAddress
            return i2d_PUBKEY(pkey, &p)
        }
        guard written == n else { throw OpenSSLError("encoding a public key") }
        return out
    }

    /// The PEM form (SubjectPublicKeyInfo).
    public func pem() throws(OpenSSLError) -> String {
        let bio = try MemoryBIO()
        guard PEM_write_bio_PUBKEY(bio.bio, pkey) == 1 else { throw OpenSSLError("writing a PEM public key") }
        return bio.string()
    }

    /// "Ed25519", "P-256", or what else OpenSSL calls it ("RSA", "EC secp384r1", …).
    public var algorithm: String {
        switch EVP_PKEY_get_id(pkey) {
        case EVP_PKEY_ED25519: return "Ed25519"
        case EVP_PKEY_EC:
            var name = [CChar](repeating: 0, count: 64)
            var length = 0
            guard EVP_PKEY_get_group_name(pkey, &name, name.count, &length) == 1 else { ERR_clear_error(); return "EC" }
            let group = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return group == "prime256v1" || group == "P-256" ? "P-256" : "EC \(group)"
        case EVP_PKEY_RSA: return "RSA"
        default:
            return String(cString: OBJ_nid2sn(EVP_PKEY_get_id(pkey)))
        }
    }
}

extension PrivateKey {
    /// The public half.
    public func publicKey() throws(OpenSSLError) -> PublicKey {
        try PublicKey(pem: try publicKeyPEM())
    }
}
