/// `resnet-runs export RUN`: weights as raw little-endian tensors plus a JSON manifest
/// (`--weights`), and the per-epoch metrics as CSV (`--metrics`). Files appear only complete
/// and verified: they are written to a temporary file and renamed.
import ArgumentParser
import CLISupport
import Foundation
import RunStore

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a run's weights (raw little-endian tensors + JSON manifest) and/or metrics (CSV).",
        discussion: """
            --weights FILE writes the tensors back to back exactly as stored (little-endian, \
            offsets in the manifest) and FILE.json with names, shapes, dtypes, byte offsets and \
            the XXH64 checksum (`xxhsum -H1 FILE` prints the same value). The checksum is verified \
            while exporting; a damaged snapshot leaves no file behind.

            --metrics FILE.csv writes one row per epoch: epoch, recorded_at, then every metric.
            """)

    @OptionGroup var store: StoreOptions

    @Argument(help: ArgumentHelp("Run: an id, last, -1 (newest), -2, … or a label.", valueName: "run"))
    var runArgument: String

    @Option(name: .long, help: ArgumentHelp("Write the weights to this file (and its manifest to FILE.json).", valueName: "file"))
    var weights: String?

    @Option(name: .long, help: ArgumentHelp("Snapshot to export: final, best or checkpoint (default: final, else best, else checkpoint).", valueName: "kind"))
    var snapshot: SnapshotKind?

    /// The old spelling of --snapshot (one release).
    @Option(name: .customLong("kind"), help: .hidden)
    var deprecatedKind: SnapshotKind?

    @Option(name: .long, help: ArgumentHelp("Manifest path (default: weights file + .json).", valueName: "file"))
    var manifest: String?

    @Option(name: .long, help: ArgumentHelp("Write the per-epoch metrics to this CSV file.", valueName: "file.csv"))
    var metrics: String?

    mutating func validate() throws {
        if let deprecatedKind {
            Deprecation.note("--kind is deprecated; use --snapshot \(deprecatedKind.rawValue)")
            if snapshot != nil { throw CLIError("--kind and --snapshot name the same thing; pass only --snapshot") }
            snapshot = deprecatedKind
        }
        guard weights != nil || metrics != nil else { throw CLIError("export needs --weights FILE and/or --metrics FILE.csv") }
        if weights == nil && (snapshot != nil || manifest != nil) { throw CLIError("--snapshot and --manifest only apply with --weights") }
        let toStdout = [weights, manifest, metrics].compactMap { $0 }.filter { $0 == "-" }.count
        if toStdout > 1 { throw CLIError("only one of --weights, --manifest and --metrics can be - (standard output)") }
        if weights == "-" && manifest == nil { throw CLIError("--weights -: name the manifest file with --manifest FILE") }
    }

    func run() throws {
        let manifestPath = manifest ?? weights.map { $0 + ".json" }
        if let weights { try checkOutputPath(weights, flag: "--weights") }
        if let manifestPath { try checkOutputPath(manifestPath, flag: "--manifest") }
        if let metrics { try checkOutputPath(metrics, flag: "--metrics") }
        let db = try store.open(readOnly: true)
        let id = try RunSelector.resolveOne(runArgument, in: db)
        let record = try db.run(id)
        var messages: [String] = []
        if let weights, let manifestPath {
            let available = try db.snapshots(run: id)
            let chosen: SnapshotKind
            if let snapshot { chosen = snapshot }
            else if let k = [SnapshotKind.final, .best, .checkpoint].first(where: { k in available.contains { $0.kind == k } }) { chosen = k }
            else { throw RunStoreError.missingSnapshot(run: id, kind: "final", available: []) }
            let info = try exportWeights(db, id, chosen, to: weights)
            let json = Self.manifestJSON(info, record: record, dataFile: PathNames.file(of: weights))
            try writeAtomically(Data((json + "\n").utf8), to: manifestPath, flag: "--manifest")
            messages.append("wrote \(weights == "-" ? "standard output" : weights) (\(Fmt.bytes(Int64(info.byteCount))), \(info.tensors.count) tensors, \(info.kind.rawValue) weights of epoch \(info.epoch), \(info.checksum)) and \(manifestPath)")
        }
        if let metrics {
            let epochs = try db.epochs(run: id)
            try writeAtomically(Data(Self.metricsCSV(epochs).utf8), to: metrics, flag: "--metrics")
            messages.append("wrote \(metrics == "-" ? "standard output" : metrics) (\(epochs.count) epoch\(epochs.count == 1 ? "" : "s"))")
        }
        // With a file on standard output, the summary goes to standard error.
        let summary = Data((messages.joined(separator: "\n") + "\n").utf8)
        if [weights, manifest, metrics].contains("-") { FileHandle.standardError.write(summary) } else { FileHandle.standardOutput.write(summary) }
    }

    /// Streams the verified blob into a temporary file next to `path`, then renames it.
    private func exportWeights(_ db: RunStore, _ id: Int64, _ kind: SnapshotKind, to path: String) throws -> SnapshotInfo {
        if path == "-" {
            return try db.readSnapshot(run: id, kind: kind) { chunk in try FileHandle.standardOutput.write(contentsOf: chunk) }
        }
        let directory = PathNames.directory(of: path)
        let temp = (directory.isEmpty ? "." : directory) + "/.\(PathNames.file(of: path)).partial-\(getpid())"
        guard FileManager.default.createFile(atPath: temp, contents: nil), let handle = FileHandle(forWritingAtPath: temp) else {
            throw CLIError("--weights: cannot create a file in \(directory.isEmpty ? "." : directory)")
        }
        do {
            let info = try db.readSnapshot(run: id, kind: kind) { chunk in
                try handle.write(contentsOf: chunk)
            }
            try handle.close()
            if rename(temp, path) != 0 { throw CLIError("--weights: cannot write \(path): \(String(cString: strerror(errno)))") }
            return info
        } catch {
            try? handle.close()
            unlink(temp)
            throw error
        }
    }

    static func manifestJSON(_ info: SnapshotInfo, record: RunRecord, dataFile: String) -> String {
        let tensors = info.tensors.map { t in
            JSON.object([("name", JSON.str(t.name)), ("shape", JSON.array(t.shape.map { "\($0)" })), ("dtype", JSON.str(t.dtype)),
                         ("offset", "\(t.offset)"), ("byte_count", "\(t.byteCount)")])
        }
        return JSON.object([
            ("format", JSON.str("resnet-runs raw tensors v1")), ("data_file", JSON.str(dataFile)),
            ("byte_order", JSON.str("little")), ("byte_count", "\(info.byteCount)"), ("checksum", JSON.str(info.checksum)),
            ("run", "\(info.run)"), ("kind", JSON.str(info.kind.rawValue)), ("epoch", "\(info.epoch)"),
            ("saved", JSON.str(Fmt.iso(info.createdAt))), ("model", JSON.str(record.model)), ("model_hash", JSON.str(record.modelHash)),
            ("extra", JSON.object(info.extra.keys.sorted().map { ($0, JSON.str(info.extra[$0])) })),
            ("tensors", "[\n    " + tensors.joined(separator: ",\n    ") + "\n  ]"),
        ])
    }

    static func metricsCSV(_ epochs: [EpochRecord]) -> String {
        let names = Metrics.ordered(Set(epochs.flatMap(\.metrics.keys)))
        var out = (["epoch", "recorded_at"] + names).map(CSV.field).joined(separator: ",") + "\n"
        for e in epochs {
            let values = names.map { n in e.metrics[n].map { JSONText.number($0).replacingOccurrences(of: "\"", with: "") } ?? "" }
            out += (["\(e.epoch)", Fmt.iso(e.recordedAt) ?? ""] + values).joined(separator: ",") + "\n"
        }
        return out
    }
}
