/// `resnet-run export`: a run's weights as a Keras file — the HDF5 model `keras.models.load_model`
/// loads without custom objects (`model_config` generated from the description, plus the
/// weights), or with `--weights-only` a Keras 3 `.weights.h5` for `model.load_weights`.
import ArgumentParser
import Foundation
import Training

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a run's weights as a Keras model file (.h5) or Keras 3 weights file (.weights.h5).",
        discussion: """
        The .h5 is what Keras 3's model.save("x.h5") writes: keras.models.load_model("x.h5") rebuilds the model and
        its weights (BN moving statistics included); compile it before model.evaluate. --weights-only writes what
        model.save_weights("x.weights.h5") writes. --weights: final (default), best or checkpoint. Importing an
        exported file gives back the same weights bit for bit.
        """)

    @Option(name: .customLong("run"), help: ArgumentHelp("Run whose weights to export.", valueName: "run")) var runID: String
    @Argument(help: ArgumentHelp("Output file.", valueName: "file")) var file: String
    @Flag(help: "Write a Keras 3 .weights.h5 (weights only) instead of a model file.") var weightsOnly = false
    @Option(help: ArgumentHelp("Experiment database.", valueName: "path")) var db = "experiments.db"
    @Option(help: ArgumentHelp("final, best or checkpoint.", valueName: "kind")) var weights: String?
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        do {
            let id = Int64(try parseInt(runID, option: "--run", minimum: 1))
            let kind = try parseWeightsKind(weights)
            if weightsOnly, !file.hasSuffix(".weights.h5") {
                throw TrainingError("\(file): a Keras weights file must end in .weights.h5 (Keras' load_weights refuses other names)")
            }
            let start = Date()
            let e = try KerasRuns.export(db: db, run: id, kind: kind, to: file, weightsOnly: weightsOnly)
            let seconds = Date().timeIntervalSince(start)
            if json {
                printJSON(["run": e.run, "model": e.model, "weights": e.kind.rawValue, "epoch": e.epoch, "file": file,
                           "format": e.format.rawValue, "bytes": e.bytes, "seconds": seconds])
            } else {
                print("run \(e.run) (\(e.model), \(e.kind.rawValue) weights of epoch \(e.epoch)) → \(file): \(e.format.summary), \(e.bytes) bytes, \(String(format: "%.2f", seconds)) s")
            }
        } catch {
            fail(error)
        }
    }
}
