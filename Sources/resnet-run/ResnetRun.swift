/// `resnet-run`: train, evaluate, inspect and benchmark the generated ResNet models.
import ArgumentParser
import Models

@main
struct ResnetRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resnet-run",
        abstract: "Train and run ResNet-50 from generated static-graph Swift on OpenBLAS.",
        discussion: """
        Models (--model): \(ModelRegistry.names.joined(separator: ", ")).
        Runs are recorded in an SQLite database (--db, default experiments.db); see them with `resnet-runs`.
        """,
        version: programVersion,
        subcommands: [Summary.self, Bench.self, Train.self, Evaluate.self, Predict.self, Import.self, Export.self,
                      PlotModel.self],
        defaultSubcommand: nil)
    static func main() { installSignalPolicy(); Self.main(nil) }  // SIGXFSZ, SIGPIPE ignored: see Signals.swift
}

/// Program version recorded with every run.
let programVersion = "0.1.0"

/// Looks a model up by its command-line name, or fails with the list of known ones.
func modelType(named name: String) throws -> any GeneratedModelType.Type {
    guard let type = ModelRegistry.model(named: name) else {
        throw ValidationError("--model: unknown model '\(name)'; available: \(ModelRegistry.names.joined(separator: ", ")).")
    }
    return type
}
