import Zstd

/// The raw part in frames (format 2, `Protocols/formats.md` §8): the payload a format-1 part holds
/// in one zstd frame (event count, each event's length, the events' bytes) cut into frames that
/// can be read alone. Frame 0 holds the count, every length and the first `headEvents` events;
/// every later frame holds the bytes of the next `eventsPerFrame` events, compressed with frame 0's
/// content as a zstd raw-content dictionary, so that small frames of similar events compress
/// almost as well as one large frame. Reading one event costs frame 0 and that event's frame,
/// instead of the whole part.
///
/// Layout: the marker byte 2 (a format-1 part starts with zstd's magic number, 0x28), varints
/// `headEvents`, `eventsPerFrame`, the frame count and each frame's compressed size, then the frames.
enum FramedRaw {
    static let marker: UInt8 = 2
    static func isFramed(_ raw: [UInt8]) -> Bool { raw.first == marker }

    /// The framed part of a format-1 payload whose events' bytes start at `start` and end at
    /// `ends` (relative to `start`).
    static func encode(payload: [UInt8], start: Int, ends: [Int], level: Int32,
                       headEvents: Int, eventsPerFrame: Int) throws(ZstdError) -> [UInt8] {
        let n = ends.count
        let head = min(headEvents, n)
        let headEnd = start + (head == 0 ? 0 : ends[head - 1])
        var frames: [[UInt8]] = []
        frames.reserveCapacity(1 + (n - head + eventsPerFrame - 1) / eventsPerFrame)
        try bytes(of: payload) { (all: UnsafeRawBufferPointer) throws(ZstdError) in
            let headBytes = UnsafeRawBufferPointer(rebasing: all[0..<headEnd])
            frames.append(try Zstd.compress(headBytes, level: level))
            guard head < n else { return }
            let compressor = try ZstdPrefixCompressor(content: headBytes, level: level,
                                                      frameSizeHint: (payload.count - headEnd) / max(1, (n - head) / eventsPerFrame))
            var first = head
            while first < n {
                let last = min(n, first + eventsPerFrame)
                let range = (start + ends[first - 1])..<(start + ends[last - 1])
                frames.append(try compressor.compress(UnsafeRawBufferPointer(rebasing: all[range])))
                first = last
            }
        }
        var w = ByteWriter(capacity: frames.reduce(16 + 3 * frames.count) { $0 + $1.count })
        w.byte(marker)
        w.varint(head)
        w.varint(eventsPerFrame)
        w.varint(frames.count)
        for f in frames { w.varint(f.count) }
        for f in frames { w.raw(f) }
        return w.bytes
    }

    /// A framed part's header and frame 0, read and checked.
    struct Head {
        var headEvents: Int
        var eventsPerFrame: Int
        /// Where each frame lies in the part.
        var frames: [Range<Int>]
        /// Frame 0 decompressed: count, lengths, the first events' bytes.
        var content: [UInt8]
        /// Where the events' bytes start in the payload, and each event's end relative to it.
        var start: Int
        var ends: [Int]

        /// The events (as a range of positions) frame `k` holds.
        func events(ofFrame k: Int) -> Range<Int> {
            k == 0 ? 0..<headEvents
                : (headEvents + (k - 1) * eventsPerFrame)..<min(ends.count, headEvents + k * eventsPerFrame)
        }

        func frame(of event: Int) -> Int {
            event < headEvents ? 0 : 1 + (event - headEvents) / eventsPerFrame
        }
    }

    static func head(_ raw: [UInt8], maxBytes: Int, maxEvents: Int) throws(BlockFormatError) -> Head {
        var r = ByteReader(raw, part: "raw")
        guard try r.byte() == marker else { throw BlockFormatError(.invalid, part: "raw", offset: 0, "not a framed raw part") }
        let headEvents = try r.count(atMost: maxEvents, "the events of frame 0")
        let perFrame = try r.count(atMost: SealedBlock.maxEvents, "the events per frame")
        guard perFrame >= 1 else { throw r.error(.invalid, "frames of no events") }
        let frameCount = try r.count(atMost: maxEvents + 1, "the frame count")
        guard frameCount >= 1 else { throw r.error(.invalid, "a raw part without frames") }
        var sizes: [Int] = []
        sizes.reserveCapacity(frameCount)
        for _ in 0..<frameCount { sizes.append(try r.count(atMost: raw.count, "a frame's size")) }
        var frames: [Range<Int>] = []
        frames.reserveCapacity(frameCount)
        var at = r.offset
        for s in sizes {
            guard s <= raw.count - at else { throw BlockFormatError(.truncated, part: "raw", offset: at, "a frame of \(s) bytes, \(raw.count - at) are left") }
            frames.append(at..<(at + s))
            at += s
        }
        guard at == raw.count else { throw BlockFormatError(.invalid, part: "raw", offset: at, "\(raw.count - at) bytes after the last frame") }
        let content: [UInt8]
        do {
            content = try Zstd.decompress(Array(raw[frames[0]]), limit: maxBytes + 10 * (maxEvents + 1))
        } catch {
            throw BlockFormatError(.compression, part: "raw", offset: frames[0].lowerBound, error.description)
        }
        var c = ByteReader(content, part: "raw frame 0")
        let (start, ends) = try BlockReader.lengths(&c, maxBytes: maxBytes, maxEvents: maxEvents)
        let n = ends.count
        guard headEvents <= n, headEvents == n || headEvents >= 1 else {
            throw BlockFormatError(.invalid, part: "raw", offset: 1, "frame 0 announces \(headEvents) of \(n) events")
        }
        let expectedFrames = 1 + (n - headEvents + perFrame - 1) / perFrame
        guard frameCount == expectedFrames else {
            throw BlockFormatError(.invalid, part: "raw", offset: 1, "\(frameCount) frames for \(n) events, \(expectedFrames) expected")
        }
        let headBytes = headEvents == 0 ? 0 : ends[headEvents - 1]
        guard content.count - start == headBytes else {
            throw BlockFormatError(.invalid, part: "raw frame 0", offset: start, "frame 0 holds \(content.count - start) bytes of events, its lengths say \(headBytes)")
        }
        return Head(headEvents: headEvents, eventsPerFrame: perFrame, frames: frames, content: content, start: start, ends: ends)
    }

    /// The whole payload, as a format-1 part holds it.
    static func payload(_ raw: [UInt8], maxBytes: Int, maxEvents: Int) throws(BlockFormatError) -> (payload: [UInt8], start: Int, ends: [Int]) {
        let h = try head(raw, maxBytes: maxBytes, maxEvents: maxEvents)
        let total = h.start + (h.ends.last ?? 0)
        var payload = h.content
        guard h.frames.count > 1 else { return (payload, h.start, h.ends) }
        payload.append(contentsOf: repeatElement(0, count: total - payload.count))
        let headCount = h.content.count
        try mutableBytes(of: &payload) { (all: UnsafeMutableRawBufferPointer) throws(BlockFormatError) in
            let reader = try decompressor(UnsafeRawBufferPointer(rebasing: all[0..<headCount]))
            for k in 1..<h.frames.count {
                let events = h.events(ofFrame: k)
                let range = (h.start + h.ends[events.lowerBound - 1])..<(h.start + h.ends[events.upperBound - 1])
                try read(reader, raw, h.frames[k], into: UnsafeMutableRawBufferPointer(rebasing: all[range]), frame: k)
            }
        }
        return (payload, h.start, h.ends)
    }

    /// The bytes of the events at `only` (the others nil), reading frame 0 and the frames that hold them.
    static func events(_ raw: [UInt8], maxBytes: Int, maxEvents: Int, only: Set<Int>) throws(BlockFormatError) -> [[UInt8]?] {
        let h = try head(raw, maxBytes: maxBytes, maxEvents: maxEvents)
        var out = [[UInt8]?](repeating: nil, count: h.ends.count)
        var wanted = Set<Int>()
        for p in only where p >= 0 && p < h.ends.count { wanted.insert(h.frame(of: p)) }
        func start(_ event: Int) -> Int { event == 0 ? 0 : h.ends[event - 1] }
        try bytes(of: h.content) { (head: UnsafeRawBufferPointer) throws(BlockFormatError) in
            let reader = wanted.contains(where: { $0 > 0 }) ? try decompressor(head) : nil
            for k in wanted.sorted() {
                let events = h.events(ofFrame: k)
                let base = start(events.lowerBound)
                let bytes: [UInt8]
                if k == 0 {
                    bytes = Array(h.content[h.start...])
                } else {
                    var frame = [UInt8](repeating: 0, count: h.ends[events.upperBound - 1] - base)
                    try mutableBytes(of: &frame) { (into: UnsafeMutableRawBufferPointer) throws(BlockFormatError) in
                        guard let reader else { return }
                        try read(reader, raw, h.frames[k], into: into, frame: k)
                    }
                    bytes = frame
                }
                for e in events where only.contains(e) {
                    out[e] = Array(bytes[(start(e) - base)..<(h.ends[e] - base)])
                }
            }
        }
        return out
    }

    private static func decompressor(_ head: UnsafeRawBufferPointer) throws(BlockFormatError) -> ZstdPrefixDecompressor {
        do {
            let d = try ZstdPrefixDecompressor()
            try d.refer(to: head)
            return d
        } catch {
            throw BlockFormatError(.compression, part: "raw", offset: 0, error.description)
        }
    }

    private static func read(_ reader: ZstdPrefixDecompressor, _ raw: [UInt8], _ frame: Range<Int>,
                             into: UnsafeMutableRawBufferPointer, frame k: Int) throws(BlockFormatError) {
        do {
            try bytes(of: raw) { (all: UnsafeRawBufferPointer) throws(ZstdError) in
                try reader.decompress(UnsafeRawBufferPointer(rebasing: all[frame]), into: into)
            }
        } catch {
            throw BlockFormatError(.compression, part: "raw", offset: frame.lowerBound, "frame \(k): \(error.description)")
        }
    }

    /// `withUnsafeBytes` with the body's typed error kept.
    private static func bytes<R, E: Error>(of array: [UInt8], _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try array.withUnsafeBytes { p in Result { () throws(E) in try body(p) } }.get()
    }

    private static func mutableBytes<R, E: Error>(of array: inout [UInt8], _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try array.withUnsafeMutableBytes { p in Result { () throws(E) in try body(p) } }.get()
    }
}
