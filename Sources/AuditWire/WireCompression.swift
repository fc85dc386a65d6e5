import Gzip
import Zstd

/// How a batch body is compressed on the wire (`Content-Encoding`): gzip, the protocol's
/// default, or zstd, which an agent sends with `--compression zstd` (about twice the ratio at
/// a fraction of the CPU on audit logs). A body says which it is by its first bytes (gzip
/// `1f 8b`, zstd `28 b5 2f fd`), so a spooled batch is re-sent with the encoding it was
/// compressed with, whatever the agent is configured with after a restart.
public enum WireCompression: String, Sendable, CaseIterable {
    case gzip, zstd

    /// The `Content-Encoding` header's value.
    public var contentEncoding: String { rawValue }

    /// zstd level of agent bodies: the fastest, as zlib level 1 is for gzip.
    public static let zstdLevel: Int32 = 1

    /// The compression a body was made with, by its magic bytes (gzip when neither).
    public static func of(_ body: [UInt8]) -> WireCompression {
        Zstd.hasMagic(body) ? .zstd : .gzip
    }

    /// Compresses a plain body.
    public func compress(_ plain: [UInt8], gzipLevel: Int32) throws -> [UInt8] {
        switch self {
        case .gzip: try Gzip.compress(plain, level: gzipLevel)
        case .zstd: try Zstd.compress(plain, level: Self.zstdLevel)
        }
    }

    /// Decompresses a body of either kind (told apart by its first bytes), at most `limit` bytes out.
    public static func decompress(_ body: [UInt8], limit: Int) throws -> [UInt8] {
        switch of(body) {
        case .gzip: try Gzip.decompress(body, limit: limit)
        case .zstd: try Zstd.decompress(body, limit: limit)
        }
    }
}
