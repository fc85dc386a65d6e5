import AuditFuzzTargets
import Foundation
#if LIBFUZZER
import CLibFuzzer
#endif

/// `auditship-fuzz TARGET [ARGS…]`
///
/// Built with `-sanitize=fuzzer` and `-D LIBFUZZER` (Tests/Fuzz/run does this), it hands ARGS to
/// libFuzzer and fuzzes TARGET; a property violation aborts, so libFuzzer keeps the input.
/// In a normal build it replays files (ARGS: files or directories) through TARGET and reports
/// violations: the way to look at a saved crash input under a debugger.
/// `auditship-fuzz --list` names the targets; `auditship-fuzz TARGET --write-seeds DIR` writes the
/// seeds made by code into DIR.
@main
struct FuzzDriver {
    nonisolated(unsafe) static var selected: FuzzTarget?

    static func main() {
        var args = CommandLine.arguments
        guard args.count >= 2 else { usage() }
        if args[1] == "--list" {
            for t in FuzzTarget.all { print("\(t.name)\t\(t.summary) (max \(t.maxLength) bytes)") }
            exit(0)
        }
        guard let target = FuzzTarget.named(args[1]) else {
            FileHandle.standardError.write(Data("auditship-fuzz: unknown target '\(args[1])'; targets: \(FuzzTarget.all.map(\.name).joined(separator: ", "))\n".utf8))
            exit(2)
        }
        selected = target
        args.remove(at: 1)
        if args.count == 3 && args[1] == "--write-seeds" {
            // The seeds made by code, into a corpus directory (Tests/Fuzz/run uses this).
            for (i, seed) in target.generatedSeeds().enumerated() {
                _ = FileManager.default.createFile(atPath: args[2] + "/generated-\(i)", contents: Data(seed))
            }
            exit(0)
        }
        #if LIBFUZZER
        if !args.contains(where: { $0.hasPrefix("-max_len=") }) { args.append("-max_len=\(target.maxLength)") }
        var cArgs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        var argc = CInt(args.count)
        let status = cArgs.withUnsafeMutableBufferPointer { buffer -> CInt in
            var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = buffer.baseAddress
            return LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput)
        }
        exit(status)
        #else
        var failures = 0, inputs = 0
        for path in args.dropFirst() {
            for file in files(at: path) {
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                inputs += 1
                do {
                    try target.check([UInt8](data))
                } catch {
                    failures += 1
                    print("\(file): \(error)")
                }
            }
        }
        print("\(target.name): \(inputs) inputs, \(failures) property violations")
        exit(failures == 0 ? 0 : 1)
        #endif
    }

    static func files(at path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [] }
        guard isDirectory.boolValue else { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.sorted().map { path + "/" + $0 }.filter { !$0.hasSuffix("/README.md") }
    }

    static func usage() -> Never {
        FileHandle.standardError.write(Data("usage: auditship-fuzz TARGET [libFuzzer options | files…]   (auditship-fuzz --list)\n".utf8))
        exit(2)
    }
}

#if LIBFUZZER
/// libFuzzer's entry point (its archive's own `main` refers to it; the driver above runs instead).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size == 0 || data == nil ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    do {
        try FuzzDriver.selected?.check(bytes)
    } catch {
        FileHandle.standardError.write(Data("property violated: \(error)\n".utf8))
        abort()
    }
    return 0
}
#endif
