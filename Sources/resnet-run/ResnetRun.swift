/// `resnet-run`: train, evaluate, inspect and benchmark the generated ResNet models.
///
/// The command-line convention (errors, exit statuses, run selectors, `--format`, `--snapshot`)
/// is shared with `resnet-runs` (`CLISupport`, README "Conventions").
import ArgumentParser
import CLISupport
import Datasets
import KerasFiles
import Models
import NetSpec
import Training

@main
struct ResnetRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resnet-run",
        abstract: "Train and run ResNet-50 from generated static-graph Swift on OpenBLAS.",
        discussion: """
        Models (--model): \(ModelRegistry.names.joined(separator: ", ")).
        Runs are recorded in an SQLite database (--db, default experiments.db);
        see them with `resnet-runs`. RUN names a stored run: its id (12), last
        (the newest), -1, -2, … (counted back from the newest) or its label.

        Errors are one line on standard error (error: …). Exit status: 0
        success, 1 a failure while working (a run that failed or diverged, an
        unreadable photo, a locked or full database), 2 bad input or usage
        (nothing recorded), 130 interrupted by Ctrl-C, 143 by SIGTERM.
        """,
        subcommands: [Summary.self, Bench.self, Train.self, Evaluate.self, Predict.self, Import.self, Export.self,
                      PlotModel.self],
        defaultSubcommand: nil)

    @Flag(help: "Show the version.") var version = false

    func run() throws {
        guard version else { throw CleanExit.helpRequest(self) }
        print(programVersion)
    }

    static func main() {
        installSignalPolicy()  // SIGXFSZ, SIGPIPE ignored: see Signals.swift
        CommandLineTool.main(Self.self, classify: classify)
    }

    /// Exit status and message of this program's own errors: bad input (2) unless marked as a
    /// failure while working (1).
    static func classify(_ error: Error) -> (status: Int32, message: String)? {
        switch error {
        case let e as TrainingError: return (e.isRuntimeFailure ? ExitStatus.failure : ExitStatus.badInput, e.description)
        case let e as DatasetError: return (ExitStatus.badInput, e.description)
        case let e as KerasError: return (ExitStatus.badInput, e.description)
        case let e as NetSpecError: return (ExitStatus.badInput, oneLine(e))
        default: return nil
        }
    }
}

/// Program version recorded with every run.
let programVersion = ResnetSwift.version

/// `--model NAME`: one of the generated models.
struct ModelName: ExpressibleByArgument {
    var name: String
    var type: any GeneratedModelType.Type

    /// The default model, resnet50-signs.
    static let standard = ModelName(argument: "resnet50-signs")!

    init?(argument: String) {
        guard let type = ModelRegistry.model(named: argument) else {
            ArgumentValueFailure.refuse("unknown model '\(argument)'; available: \(ModelRegistry.names.joined(separator: ", "))")
            return nil
        }
        name = argument
        self.type = type
    }

    static var allValueStrings: [String] { ModelRegistry.names }
    var defaultValueDescription: String { name }
}

extension WeightInitialization: ChoiceArgument {}

extension Interpolation: ChoiceArgument {}
