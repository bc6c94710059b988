/// `resnet-run export RUN FILE`: a run's weights as a Keras file — the HDF5 model
/// `keras.models.load_model` loads without custom objects (`model_config` generated from the
/// description, plus the weights), or with `--weights-only` a Keras 3 `.weights.h5` for
/// `model.load_weights`.
import ArgumentParser
import CLISupport
import Foundation
import Training

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a run's weights as a Keras model file (.h5) or Keras 3 weights file (.weights.h5).",
        usage: "resnet-run export <run> <file> [--weights-only] [--snapshot <kind>] [--db <path>] [--format <format>]",
        discussion: """
        RUN: a run id, last, -1 (the newest run), -2, … or a label.
        The .h5 is what Keras 3's model.save("x.h5") writes:
        keras.models.load_model("x.h5") rebuilds the model and its weights (BN
        moving statistics included); compile it before model.evaluate.
        --weights-only writes what model.save_weights("x.weights.h5") writes.
        --snapshot: final (default), best or checkpoint. Importing an exported
        file gives back the same weights bit for bit.
        """)

    @OptionGroup var stored: StoredRunOptions
    @Argument(help: ArgumentHelp("Output file.", valueName: "file")) var file: String?
    @Flag(help: "Write a Keras 3 .weights.h5 (weights only) instead of a model file.") var weightsOnly = false
    @Option(help: "Output format: text or json.") var format: TextOrJSON = .text

    mutating func validate() throws {
        var positionals = file.map { [$0] } ?? []
        try stored.resolveDeprecated(positionals: &positionals, command: "export")
        guard let first = positionals.first else { throw CLIError("export needs an output file: resnet-run export RUN FILE.h5") }
        if positionals.count > 1 { throw CLIError("unexpected argument '\(positionals[1])': export writes one file") }
        file = first
        if weightsOnly, !first.hasSuffix(".weights.h5") {
            throw CLIError("\(first): a Keras weights file must end in .weights.h5 (Keras' load_weights refuses other names)")
        }
    }

    func run() throws {
        let json = stored.json(format)
        let file = self.file ?? ""
        let id = try stored.runID()
        let start = Date()
        let e = try KerasRuns.export(db: stored.db, run: id, kind: stored.snapshot, to: file, weightsOnly: weightsOnly)
        let seconds = Date().timeIntervalSince(start)
        if json {
            printJSON(["run": e.run, "model": e.model, "weights": e.kind.rawValue, "epoch": e.epoch, "file": file,
                       "format": e.format.rawValue, "bytes": e.bytes, "seconds": seconds])
        } else {
            print("run \(e.run) (\(e.model), \(e.kind.rawValue) weights of epoch \(e.epoch)) → \(file): \(e.format.summary), \(e.bytes) bytes, \(String(format: "%.2f", seconds)) s")
        }
    }
}
