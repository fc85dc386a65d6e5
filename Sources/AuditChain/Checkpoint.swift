import AuditModel
import Foundation
import OpenSSLKit

/// A signed statement "the chain of `cluster` had head `head` at `height`" (Protocols/integrity.md §3).
///
/// The signed message is text, one `key:value` line each, in this order:
/// ```
/// auditship-checkpoint-v1
/// cluster:<cluster>
/// height:<decimal>
/// head:<64 lower-case hex digits>
/// signed-at:<µs since the epoch, decimal>
/// pruned-before:<µs since the epoch, decimal; 0 when nothing was pruned>
/// key:<key id>
/// ```
/// each line ending in `\n`. Cluster ids are `[a-z0-9._-]` (Protocols/identity.md), so no escaping is needed.
public struct Checkpoint: Sendable, Hashable {
    public var cluster: String
    public var height: Int64
    public var head: [UInt8]
    public var signedAt: Int64
    /// The store's retention watermark when signed: events older than this may have been pruned.
    public var prunedBefore: Int64
    public var keyID: String
    public var signature: [UInt8]

    public init(cluster: String, height: Int64, head: [UInt8], signedAt: Int64, prunedBefore: Int64, keyID: String, signature: [UInt8]) {
        self.cluster = cluster
        self.height = height
        self.head = head
        self.signedAt = signedAt
        self.prunedBefore = prunedBefore
        self.keyID = keyID
        self.signature = signature
    }

    /// The bytes the signature covers.
    public var message: [UInt8] {
        Checkpoint.message(cluster: cluster, height: height, head: head, signedAt: signedAt, prunedBefore: prunedBefore, keyID: keyID)
    }

    static func message(cluster: String, height: Int64, head: [UInt8], signedAt: Int64, prunedBefore: Int64, keyID: String) -> [UInt8] {
        Array("""
            auditship-checkpoint-v1
            cluster:\(cluster)
            height:\(height)
            head:\(SHA256.hex(head))
            signed-at:\(signedAt)
            pruned-before:\(prunedBefore)
            key:\(keyID)

            """.utf8)
    }

    /// True when `key` signed this checkpoint.
    public func isSigned(by key: PublicKey) -> Bool {
        key.verify(signature: signature, message: message)
    }

    /// One line of an exported checkpoint file (no trailing newline). Schema: Protocols/schemas/checkpoint.json.
    public var jsonLine: String {
        "{\"format\":\"auditship-checkpoint/v1\",\"cluster\":\(JSONText.quote(cluster)),\"height\":\(height),"
            + "\"head\":\"\(SHA256.hex(head))\",\"signedAt\":\"\(Timestamp(microseconds: signedAt).rfc3339)\",\"signedAtMicros\":\(signedAt),"
            + "\"prunedBefore\":\(prunedBefore),\"key\":\(JSONText.quote(keyID)),\"signature\":\"\(Data(signature).base64EncodedString())\"}"
    }

    /// Reads one exported line; throws with what is wrong.
    public init(jsonLine: some StringProtocol) throws(ChainError) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(jsonLine.utf8)) as? [String: Any] else {
            throw ChainError("not a JSON object")
        }
        guard object["format"] as? String == "auditship-checkpoint/v1" else { throw ChainError("format is not auditship-checkpoint/v1") }
        guard let cluster = object["cluster"] as? String else { throw ChainError("no cluster") }
        guard let height = (object["height"] as? NSNumber)?.int64Value, height >= 0 else { throw ChainError("no height") }
        guard let headHex = object["head"] as? String, let head = Hex.decode(headHex), head.count == 32 else { throw ChainError("head is not 64 hex digits") }
        guard let signedAt = (object["signedAtMicros"] as? NSNumber)?.int64Value else { throw ChainError("no signedAtMicros") }
        let pruned = (object["prunedBefore"] as? NSNumber)?.int64Value ?? 0
        guard let key = object["key"] as? String else { throw ChainError("no key") }
        guard let sig = (object["signature"] as? String).flatMap({ Data(base64Encoded: $0) }) else { throw ChainError("signature is not base64") }
        self.init(cluster: cluster, height: height, head: head, signedAt: signedAt, prunedBefore: pruned, keyID: key, signature: [UInt8](sig))
    }
}

/// Signs checkpoints with the aggregator's key (Ed25519 or ECDSA P-256).
public struct CheckpointSigner: Sendable {
    public let key: PrivateKey
    public let publicKey: PublicKey
    public let keyID: String
    public let publicKeyPEM: String

    public init(key: PrivateKey) throws {
        self.key = key
        self.publicKey = try key.publicKey()
        guard ["Ed25519", "P-256"].contains(publicKey.algorithm) else {
            throw ChainError("checkpoint keys are Ed25519 or ECDSA P-256; this one is \(publicKey.algorithm)")
        }
        self.publicKeyPEM = try publicKey.pem()
        self.keyID = ChainKeys.keyID(try publicKey.der())
    }

    /// Reads a PEM private key file.
    public init(file: String) throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ChainError("cannot read the checkpoint key '\(file)'")
        }
        let key: PrivateKey
        do {
            key = try PrivateKey(pem: String(decoding: data, as: UTF8.self))
        } catch {
            throw ChainError("'\(file)' is not a PEM private key (Ed25519 or P-256): \(error)")
        }
        do {
            try self.init(key: key)
        } catch {
            throw ChainError("'\(file)': \(error)")
        }
    }

    public func sign(head: ChainHead, signedAt: Int64, prunedBefore: Int64) throws(OpenSSLError) -> Checkpoint {
        let message = Checkpoint.message(cluster: head.cluster, height: head.height, head: head.hash, signedAt: signedAt,
                                         prunedBefore: prunedBefore, keyID: keyID)
        let signature = try key.sign(message)
        return Checkpoint(cluster: head.cluster, height: head.height, head: head.hash, signedAt: signedAt, prunedBefore: prunedBefore,
                          keyID: keyID, signature: signature)
    }
}

/// Key ids and trusted-key sets.
public enum ChainKeys {
    /// The first 16 hex digits of SHA-256 of the key's DER SubjectPublicKeyInfo.
    public static func keyID(_ der: [UInt8]) -> String {
        String(SHA256.hex(SHA256.hash(der)).prefix(16))
    }

    /// Reads PEM public keys (or private keys, whose public half is taken) from files, by key id.
    public static func load(files: [String]) throws -> [String: PublicKey] {
        var out: [String: PublicKey] = [:]
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { throw ChainError("cannot read the public key '\(file)'") }
            let text = String(decoding: data, as: UTF8.self)
            let key: PublicKey
            if let k = try? PublicKey(pem: text) {
                key = k
            } else if let k = try? PrivateKey(pem: text).publicKey() {
                key = k
            } else {
                throw ChainError("'\(file)' holds no PEM public key")
            }
            out[keyID(try key.der())] = key
        }
        return out
    }
}

/// Exported checkpoint files: one JSON-lines file per signing key, `checkpoints-<key id>.jsonl`.
public enum CheckpointExport {
    public static func fileName(keyID: String) -> String { "checkpoints-\(keyID).jsonl" }

    /// Appends checkpoints to the key's file in `directory` and fsyncs it.
    public static func append(_ checkpoints: [Checkpoint], keyID: String, directory: String) throws {
        guard !checkpoints.isEmpty else { return }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/" + fileName(keyID: keyID)
        let created = !FileManager.default.fileExists(atPath: path)
        let fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ChainError("cannot open '\(path)' to export checkpoints: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var bytes = Array(checkpoints.map { $0.jsonLine + "\n" }.joined().utf8)
        // A crash while appending can leave a torn last line: end it, so this append starts a line of its own.
        let size = lseek(fd, 0, SEEK_END)
        if size > 0 {
            var last: UInt8 = 0
            if pread(fd, &last, 1, size - 1) == 1, last != 0x0A { bytes.insert(0x0A, at: 0) }
        }
        var done = 0
        while done < bytes.count {
            let n = bytes[done...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ChainError("writing '\(path)': \(String(cString: strerror(errno)))")
            }
            done += n
        }
        guard fsync(fd) == 0 else { throw ChainError("fsync of '\(path)': \(String(cString: strerror(errno)))") }
        if created {
            // The new file's directory entry, too.
            let dirfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if dirfd >= 0 {
                _ = fsync(dirfd)
                close(dirfd)
            }
        }
    }

    /// Every checkpoint in the `.jsonl` files of `path` (a directory, searched recursively, or one file).
    /// Lines that cannot be read are returned as problems with file and line.
    public static func read(path: String) throws -> (checkpoints: [Checkpoint], problems: [String]) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ChainError("no checkpoint file or directory at '\(path)'")
        }
        var files: [String] = []
        if isDir.boolValue {
            let e = FileManager.default.enumerator(atPath: path)
            while let f = e?.nextObject() as? String {
                if f.hasSuffix(".jsonl") { files.append(path + "/" + f) }
            }
            files.sort()
        } else {
            files = [path]
        }
        var out: [Checkpoint] = []
        var problems: [String] = []
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { problems.append("\(file): cannot read"); continue }
            var lineNumber = 0
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
                lineNumber += 1
                if line.allSatisfy({ $0 == " " || $0 == "\r" }) { continue }
                do {
                    out.append(try Checkpoint(jsonLine: line))
                } catch {
                    problems.append("\(file):\(lineNumber): not a checkpoint: \(error)")
                }
            }
        }
        return (out, problems)
    }
}

/// Something about the chain that is wrong, with what and where.
public struct ChainError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Lower-case or upper-case hex.
public enum Hex {
    public static func decode(_ text: String) -> [UInt8]? {
        let b = Array(text.utf8)
        guard b.count % 2 == 0 else { return nil }
        func v(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(b.count / 2)
        var i = 0
        while i < b.count {
            guard let hi = v(b[i]), let lo = v(b[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
