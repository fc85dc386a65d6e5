/// Where one event of the batch in hand came from: the file (the agent's file table) and line.
struct EventOrigin: Sendable, Equatable {
    var fileIndex: Int
    var line: Int64
}

/// The batch the reading stage is filling: its events as NDJSON, written as each is read (after
/// the policy), and where each came from. No event is held apart: cutting hands the bytes over
/// as they are, and the next batch is written into a buffer shipping has finished with.
struct BatchInHand {
    /// Each event's bytes and a newline, in the order read.
    private(set) var ndjson: [UInt8] = []
    private(set) var origins: [EventOrigin] = []

    var count: Int { origins.count }
    var isEmpty: Bool { origins.isEmpty }
    /// The batch's size as sent before compression (events and newlines).
    var byteCount: Int { ndjson.count }

    mutating func append(_ bytes: UnsafeBufferPointer<UInt8>, from origin: EventOrigin) {
        ndjson.append(contentsOf: bytes)
        ndjson.append(0x0A)
        origins.append(origin)
    }

    mutating func append(_ bytes: [UInt8], from origin: EventOrigin) {
        bytes.withUnsafeBufferPointer { append($0, from: origin) }
    }

    /// Takes the events out and starts the next batch in `buffer` (an empty buffer whose capacity
    /// is reused; nil for a new one).
    mutating func take(nextBuffer buffer: consuming [UInt8]?) -> (ndjson: [UInt8], origins: [EventOrigin]) {
        let taken = (ndjson, origins)
        // Moved in, so that it stays referenced once: emptying a shared array would allocate anew.
        ndjson = buffer.take() ?? []
        if !ndjson.isEmpty { ndjson.removeAll(keepingCapacity: true) }
        origins = []
        origins.reserveCapacity(taken.1.count)
        return taken
    }
}
