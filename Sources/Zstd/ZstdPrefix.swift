import CZstd

/// Compresses frames that may all refer to one shared piece of content (zstd's raw-content
/// dictionary): small frames of similar data compress almost as well as one large frame, and each
/// can still be read alone. The content is copied in; the tables built over it serve every frame.
public final class ZstdPrefixCompressor {
    private let context: OpaquePointer
    private let dictionary: OpaquePointer

    /// - Parameters:
    ///   - content: what later frames may refer to; a reader needs exactly these bytes.
    ///   - frameSizeHint: typical size of one frame, to size the matcher's tables.
    public init(content: UnsafeRawBufferPointer, level: Int32 = 3, frameSizeHint: Int) throws(ZstdError) {
        guard let context = ZSTD_createCCtx() else { throw ZstdError(code: .zstd, message: "cannot allocate a compression context") }
        let parameters = ZSTD_getCParams(level, UInt64(max(1, frameSizeHint)), content.count)
        let custom = ZSTD_customMem(customAlloc: nil, customFree: nil, opaque: nil)
        guard let dictionary = ZSTD_createCDict_advanced(content.baseAddress, content.count, ZSTD_dlm_byCopy, ZSTD_dct_rawContent,
                                                         parameters, custom) else {
            ZSTD_freeCCtx(context)
            throw ZstdError(code: .zstd, message: "cannot build a compression dictionary")
        }
        self.context = context
        self.dictionary = dictionary
        // Refer to the dictionary's tables instead of copying them into each frame's context.
        let attach = ZSTD_CCtx_setParameter(context, ZSTD_c_experimentalParam4, Int32(ZSTD_dictForceAttach.rawValue))
        let refer = ZSTD_CCtx_refCDict(context, dictionary)
        if ZSTD_isError(attach) != 0 || ZSTD_isError(refer) != 0 {
            ZSTD_freeCDict(dictionary)
            ZSTD_freeCCtx(context)
            throw ZstdError(code: .zstd, message: "cannot use the compression dictionary")
        }
    }

    deinit {
        ZSTD_freeCCtx(context)
        ZSTD_freeCDict(dictionary)
    }

    /// One frame of `input`, its content size in the header, referring to the shared content.
    public func compress(_ input: UnsafeRawBufferPointer) throws(ZstdError) -> [UInt8] {
        let bound = ZSTD_compressBound(input.count)
        var out = [UInt8](repeating: 0, count: bound)
        let written = out.withUnsafeMutableBytes { dst in
            ZSTD_compress2(context, dst.baseAddress, bound, input.baseAddress, input.count)
        }
        if ZSTD_isError(written) != 0 {
            throw ZstdError(code: .zstd, message: String(cString: ZSTD_getErrorName(written)))
        }
        out.removeSubrange(written...)
        return out
    }
}

/// Reads frames written by `ZstdPrefixCompressor` (or without shared content), each into a buffer
/// of the exact size the caller expects: a frame that would make more or fewer bytes is refused.
public final class ZstdPrefixDecompressor {
    private let context: OpaquePointer
    private var dictionary: OpaquePointer?

    public init() throws(ZstdError) {
        context = try DecompressionContexts.shared.take()
    }

    deinit {
        DecompressionContexts.shared.give(context)
        if let dictionary { ZSTD_freeDDict(dictionary) }
    }

    /// Uses `content` (referenced, not copied: it must stay valid and unchanged while frames are
    /// read) as the shared content of the frames that follow.
    public func refer(to content: UnsafeRawBufferPointer) throws(ZstdError) {
        if let dictionary { ZSTD_freeDDict(dictionary) }
        let custom = ZSTD_customMem(customAlloc: nil, customFree: nil, opaque: nil)
        dictionary = ZSTD_createDDict_advanced(content.baseAddress, content.count, ZSTD_dlm_byRef, ZSTD_dct_rawContent, custom)
        if dictionary == nil { throw ZstdError(code: .zstd, message: "cannot build a decompression dictionary") }
    }

    /// The content size a frame's header declares, if it declares one.
    public static func declaredSize(_ frame: UnsafeRawBufferPointer) -> Int? {
        guard frame.count >= 5 else { return nil }
        let size = ZSTD_getFrameContentSize(frame.baseAddress, frame.count)
        return size < UInt64(Int.max) ? Int(size) : nil
    }

    /// Decompresses exactly one frame filling `into` exactly.
    public func decompress(_ frame: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) throws(ZstdError) {
        guard ZSTD_findFrameCompressedSize(frame.baseAddress, frame.count) == frame.count else {
            throw ZstdError(code: .corrupt, message: "the part is not exactly one zstd frame")
        }
        let made: Int
        if let dictionary {
            made = ZSTD_decompress_usingDDict(context, destination.baseAddress, destination.count, frame.baseAddress, frame.count, dictionary)
        } else {
            made = ZSTD_decompressDCtx(context, destination.baseAddress, destination.count, frame.baseAddress, frame.count)
        }
        if ZSTD_isError(made) != 0 {
            let name = String(cString: ZSTD_getErrorName(made))
            throw ZstdError(code: name.contains("Destination buffer is too small") ? .tooLarge : .corrupt, message: name)
        }
        guard made == destination.count else {
            throw ZstdError(code: .corrupt, message: "the frame holds \(made) bytes, \(destination.count) were expected")
        }
    }
}
