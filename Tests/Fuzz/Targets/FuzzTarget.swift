/// A property that did not hold for an input: the fuzz driver turns it into a
/// crash (so libFuzzer saves the input); the regression tests report it.
public struct PropertyViolation: Error, CustomStringConvertible, Sendable {
    public var target: String
    public var property: String
    public var description: String { "\(target): \(property)" }
}

/// One fuzz target: a parser or decoder and the properties it must keep for any input.
public struct FuzzTarget: Sendable {
    public var name: String
    /// What the target exercises, for `auditship-fuzz --list`.
    public var summary: String
    /// Largest input worth generating (libFuzzer's -max_len).
    public var maxLength: Int
    /// Checks every property for one input. Never traps on its own: a crash or
    /// a sanitizer report comes from the code under test.
    public var check: @Sendable ([UInt8]) throws(PropertyViolation) -> Void
    /// Seed inputs made by code (binary formats), besides the files in `Tests/Fuzz/corpus/NAME/`.
    public var generatedSeeds: @Sendable () -> [[UInt8]] = { [] }

    /// Every target, by name.
    public static let all: [FuzzTarget] = [
        ScannerTarget.target, EventListTarget.target, BatchBodyTarget.target, PolicyTarget.target,
        CheckpointTarget.target, SpoolTarget.target, AlertRulesTarget.target, LineSplitterTarget.target, ProofTarget.target, BlockTarget.target, DocumentTarget.target,
    ]

    public static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }
}

/// Fails `property` of `target` unless `condition` holds.
@inline(__always)
func require(_ condition: Bool, _ target: String, _ property: @autoclosure () -> String) throws(PropertyViolation) {
    if !condition { throw PropertyViolation(target: target, property: property()) }
}

/// Reads structured choices out of fuzz input (so that one input can build an event, a
/// chunking, a set of records), deterministically; runs dry as zeros.
struct FuzzInput {
    private let bytes: [UInt8]
    private var index = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    var isEmpty: Bool { index >= bytes.count }
    mutating func byte() -> UInt8 {
        guard index < bytes.count else { return 0 }
        defer { index += 1 }
        return bytes[index]
    }
    mutating func int(_ bound: Int) -> Int { bound <= 1 ? 0 : Int(UInt16(byte()) << 8 | UInt16(byte())) % bound }
    mutating func bool() -> Bool { byte() & 1 == 1 }
    /// Up to `max` raw bytes.
    mutating func bytes(max: Int) -> [UInt8] {
        let n = min(int(max + 1), bytes.count - min(index, bytes.count))
        defer { index += n }
        return Array(bytes[index..<(index + n)])
    }
    /// A string of up to `max` scalars, mostly printable, sometimes anything (valid Unicode).
    mutating func string(max: Int) -> String {
        var s = String.UnicodeScalarView()
        for _ in 0..<int(max + 1) {
            let b = byte()
            switch b % 8 {
            case 0: s.append(Unicode.Scalar(UInt8(b >> 3)))  // controls
            case 1: s.append(Unicode.Scalar(0x00A0 + UInt32(byte())) ?? "?")
            case 2: s.append(Unicode.Scalar(0x1F600 + UInt32(byte() % 64)) ?? "?")
            case 3: s.append(["\"", "\\", "/", "{", "}", "[", "]", ":", ","].map { Unicode.Scalar($0) }[Int(byte() % 9)])
            default: s.append(Unicode.Scalar(0x20 + UInt32(b % 95)) ?? "?")
            }
        }
        return String(s)
    }
}

/// The outcome of a call with typed throws, so that properties can be checked outside its `do`.
func attempt<T, E: Error>(_ body: () throws(E) -> T) -> Result<T, E> {
    do { return .success(try body()) } catch { return .failure(error) }
}
