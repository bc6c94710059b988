/// netgen: architecture description → specialized Swift.
///
///     netgen DESCRIPTION.arch OUTPUT_DIR     write OUTPUT_DIR/<Type>.swift
///     netgen --check DESCRIPTION.arch        validate only
///
/// Errors are printed as `file:line:column: error: message` so SwiftPM and editors show them as
/// build diagnostics. Output is written to a temporary file and renamed into place only when the
/// whole model generated, so a failed run leaves nothing half-written (and removes a stale file).
import NetEmit
import NetSpec
#if canImport(Glibc)
import Glibc
#endif

func fail(_ message: String) -> Never {
    fputs(message + "\n", stderr)
    exit(1)
}

var arguments = Array(CommandLine.arguments.dropFirst())
let checkOnly = arguments.first == "--check"
if checkOnly { arguments.removeFirst() }
guard arguments.count == (checkOnly ? 1 : 2) else {
    fail("usage: netgen DESCRIPTION.arch OUTPUT_DIR | netgen --check DESCRIPTION.arch")
}
let path = arguments[0]
let text: String
do {
    guard let f = fopen(path, "rb") else { throw NetSpecError(SourceLocation(file: path, line: 1, column: 1), "cannot open the description: \(String(cString: strerror(errno))).") }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = fread(&chunk, 1, chunk.count, f)
        bytes += chunk[0..<n]
        if n < chunk.count { break }
    }
    fclose(f)
    text = String(decoding: bytes, as: UTF8.self)
} catch {
    fail("\(error)")
}
let sourceName = String(path.split(separator: "/").last ?? Substring(path))
let network: Network
do {
    network = try NetSpecLoader.load(text: text, file: path)
} catch {
    if !checkOnly {
        // Remove whatever an earlier successful run left so the build cannot use stale code.
        let stale = arguments[1] + "/" + Emitter.fileName(forDescriptionAt: path)
        unlink(stale)
    }
    fail("\(error)")
}
if checkOnly {
    print("\(path): ok — \(network.name), \(network.layers.count - 1) layers, \(network.totalParameters) parameters")
    exit(0)
}
let file = Emitter.emit(network, descriptionText: text, sourceName: sourceName)
let target = arguments[1] + "/" + file.fileName
let temporary = target + ".tmp.\(getpid())"
guard let out = fopen(temporary, "wb") else { fail("\(temporary): cannot write: \(String(cString: strerror(errno)))") }
let bytes = Array(file.contents.utf8)
let written = fwrite(bytes, 1, bytes.count, out)
fclose(out)
guard written == bytes.count, rename(temporary, target) == 0 else {
    unlink(temporary)
    fail("\(target): cannot write the generated model: \(String(cString: strerror(errno)))")
}
