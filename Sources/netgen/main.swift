/// netgen: architecture description → specialized Swift.
///
///     netgen DESCRIPTION.arch OUTPUT_DIR                  write OUTPUT_DIR/<description>.swift
///     netgen --registry OUTPUT_DIR DESCRIPTION.arch…      write OUTPUT_DIR/ModelRegistry.swift
///     netgen --check DESCRIPTION.arch                     validate only
///
/// Errors are printed as `file:line:column: error: message` so SwiftPM and editors show them as
/// build diagnostics. Output is written to a temporary file and renamed into place only when the
/// whole file generated, so a failed run leaves nothing half-written (and removes a stale file).
import NetEmit
import NetSpec
#if canImport(Glibc)
import Glibc
#endif

func fail(_ message: String) -> Never {
    fputs(message + "\n", stderr)
    exit(1)
}

func read(_ path: String) throws -> String {
    guard let f = fopen(path, "rb") else { throw NetSpecError(SourceLocation(file: path, line: 1, column: 1), "cannot open the description: \(String(cString: strerror(errno))).") }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = fread(&chunk, 1, chunk.count, f)
        bytes += chunk[0..<n]
        if n < chunk.count { break }
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Writes `file` into `directory` atomically (temporary file, then rename).
func write(_ file: EmittedFile, into directory: String) {
    let target = directory + "/" + file.fileName
    let temporary = target + ".tmp.\(getpid())"
    guard let out = fopen(temporary, "wb") else { fail("\(temporary): cannot write: \(String(cString: strerror(errno)))") }
    let bytes = Array(file.contents.utf8)
    let written = fwrite(bytes, 1, bytes.count, out)
    fclose(out)
    guard written == bytes.count, rename(temporary, target) == 0 else {
        unlink(temporary)
        fail("\(target): cannot write the generated file: \(String(cString: strerror(errno)))")
    }
}

var arguments = Array(CommandLine.arguments.dropFirst())
let usage = "usage: netgen DESCRIPTION.arch OUTPUT_DIR | netgen --registry OUTPUT_DIR DESCRIPTION.arch… | netgen --check DESCRIPTION.arch"

if arguments.first == "--registry" {
    guard arguments.count >= 3 else { fail(usage) }
    let directory = arguments[1]
    var networks: [Network] = []
    for path in arguments.dropFirst(2) {
        do {
            networks.append(try NetSpecLoader.load(text: try read(path), file: path))
        } catch {
            // The model's own generation command reports the error as a diagnostic; say it once here.
            unlink(directory + "/ModelRegistry.swift")
            fail("netgen: the model registry was not generated: \(path) has errors")
        }
    }
    write(Emitter.emitRegistry(networks), into: directory)
    exit(0)
}

let checkOnly = arguments.first == "--check"
if checkOnly { arguments.removeFirst() }
guard arguments.count == (checkOnly ? 1 : 2) else { fail(usage) }
let path = arguments[0]
let text: String
do {
    text = try read(path)
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
write(Emitter.emit(network, descriptionText: text, sourceName: sourceName), into: arguments[1])
