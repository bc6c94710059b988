/// `resnet-run import`: a Keras model file (`model.save("x.h5")` by Keras 2 or 3, or Keras 3
/// `model.save_weights("x.weights.h5")`) becomes a run with status `imported` whose final
/// weights are the file's. The model is found from the file's layers (names and shapes);
/// nothing is recorded unless every weight fits.
import ArgumentParser
import CLISupport
import Foundation
import KerasFiles
import Training

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import a Keras model file's weights as a new run (status: imported).",
        discussion: """
        Reads legacy HDF5 model files written by model.save("x.h5") (tf.keras 2 / Keras 2 and Keras 3) and Keras 3 \
        weight files written by model.save_weights("x.weights.h5"). Weights are mapped by layer name onto the model \
        whose description has exactly the file's layers with weights and shapes (--model to choose one); float64 \
        files go to the float64 variant. Any mismatch is one line naming the layer, the tensor and both shapes, \
        and nothing is recorded. Then: resnet-run evaluate N --data datasets.
        """)

    @Argument(help: ArgumentHelp("Keras file (.h5 or .weights.h5).", valueName: "file")) var file: String
    @Option(help: ArgumentHelp("Label for the new run.", valueName: "text")) var label: String?
    @Option(help: ArgumentHelp("Import into this model (default: the one the file's layers fit).", valueName: "name")) var model: ModelName?
    @Option(help: ArgumentHelp("Experiment database (created if missing).", valueName: "path")) var db = "experiments.db"
    @Option(help: ArgumentHelp("Seconds to wait for a locked database.", valueName: "s")) var busyTimeout = Seconds(5)
    @Option(help: "Output format: text or json.") var format: TextOrJSON = .text
    /// Old spelling of --format json (one release).
    @Flag(name: .customLong("json"), help: .hidden) var deprecatedJSON = false

    func run() throws {
        if deprecatedJSON { Deprecation.note("--json is deprecated; use --format json") }
        let json = deprecatedJSON || format == .json
        let start = Date()
        let r = try KerasRuns.importFile(file, db: db, label: label, model: model?.name, busyTimeout: busyTimeout.value,
                                         programVersion: programVersion)
        let seconds = Date().timeIntervalSince(start)
        if json {
            var object: [String: Any] = ["run": r.run, "status": "imported", "model": r.model, "source": file,
                                         "sha256": r.sha256, "bytes": r.bytes, "format": r.file.format.rawValue,
                                         "parameters": r.parameters, "seconds": seconds]
            if let v = r.file.kerasVersion { object["keras_version"] = v }
            if let b = r.file.backend { object["backend"] = b }
            if let n = r.file.modelName { object["keras_model_name"] = n }
            printJSON(object)
        } else {
            var origin = r.file.format.summary
            if let v = r.file.kerasVersion { origin += ", Keras \(v)" }
            if let b = r.file.backend { origin += ", \(b)" }
            print("run \(r.run) (status: imported): \(r.model), \(r.parameters) parameters from \(file)")
            print("  \(origin)\(r.file.modelName.map { ", model '\($0)'" } ?? "")")
            print("  sha256 \(r.sha256) (\(r.bytes) bytes), \(String(format: "%.2f", seconds)) s")
        }
    }
}
