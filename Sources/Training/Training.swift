/// The Training library: trains a generated model (`GeneratedModelType`) on SIGNS-shaped data the
/// way the course notebooks' Keras `model.fit` does, evaluates it, and records every run in the
/// experiment store (`RunStore`).
///
/// Layout of the module:
/// - `Training.swift` (this file): the settings every run has (`Hyperparameters`), the one-line
///   error type (`TrainingError`) and small shared helpers (monotonic clock, number formatting).
/// - `DataSource.swift`: where the images come from (SIGNS directory, one file split in two, the
///   synthetic set), loading and identity, and how that is written into / read back from a run row.
/// - `TrainingJob.swift`: one `train` invocation end to end — validation, run row, training,
///   final status — with the model type opened once (`any GeneratedModelType.Type` → generic `M`).
/// - `Trainer.swift`: the generic epoch/step loop (allocation-free), evaluation, checkpoints.
/// - `Weights.swift`: snapshot manifests and loading stored weights into a model; `evaluate` and
///   `predict` for stored runs.
/// - `Progress.swift`: Keras-style terminal bar, plain per-epoch lines, JSON lines.
/// - `Interrupt.swift`: SIGINT/SIGTERM turned into a flag checked between steps.
import Foundation
import RunStore

/// Optimizer and schedule of a run. Defaults are Keras' (`Adam()`: lr 0.001, β1 0.9, β2 0.999,
/// ε 1e-7) and the (`--epochs 20 --batch-size 32 --seed 0`).
public struct Hyperparameters: Sendable, Equatable {
    public var learningRate: Double = 0.001
    public var epochs: Int = 20
    public var batchSize: Int = 32
    public var seed: UInt64 = 0
    public var beta1: Double = 0.9
    public var beta2: Double = 0.999
    public var epsilon: Double = 1e-7

    public init(learningRate: Double = 0.001, epochs: Int = 20, batchSize: Int = 32, seed: UInt64 = 0) {
        self.learningRate = learningRate
        self.epochs = epochs
        self.batchSize = batchSize
        self.seed = seed
    }

    /// Checks the values against a model's capacity; every message names the option.
    /// `dtype`: the model's ("float32", "float64"); the learning rate must be finite in it.
    public func validate(capacity: Int, modelName: String, dtype: String) throws {
        guard learningRate.isFinite, learningRate > 0 else {
            throw TrainingError("--lr: \(formatNumber(learningRate)) is not a learning rate; it must be a finite number > 0 (Keras' default is 0.001)")
        }
        if dtype == "float32", learningRate > Double(Float.greatestFiniteMagnitude) {
            throw TrainingError("--lr: \(formatNumber(learningRate)) is infinite in \(modelName)'s float32; it must be at most 3.4e+38 (Keras' default is 0.001)")
        }
        guard epochs >= 1 else { throw TrainingError("--epochs: \(epochs) is not allowed; train for at least 1 epoch") }
        guard batchSize >= 1 else { throw TrainingError("--batch-size: \(batchSize) is not allowed; it must be at least 1") }
        guard batchSize <= capacity else {
            throw TrainingError("--batch-size: \(batchSize) is above what \(modelName) is compiled for (capacity \(capacity) set in \(modelName).arch)")
        }
    }
}

/// How a new run's weights start. `default`: glorot-uniform kernels drawn from the run's `--seed`,
/// every kernel independently. `keras`: the course notebook's initial weights bit for bit —
/// every kernel `glorot_uniform(seed=0)` as Keras 3 on TensorFlow draws it (stateless Philox, so
/// kernels of equal shape are equal; `KerasInit`), whatever the run's seed, which then only
/// shuffles. Both use Keras' zeros and ones for biases and batch norm.
public enum WeightInitialization: String, Sendable, CaseIterable {
    case `default`
    case keras

    /// The hyperparameter that records it.
    public static let key = "init"
}

/// A training, evaluation or prediction failure, in one line that says what is wrong and where.
/// Most are bad input (a value, file or run that does not fit; exit status 2); `isRuntimeFailure`
/// marks a failure while working, such as a locked or full database (exit status 1).
public struct TrainingError: Error, CustomStringConvertible, Equatable, Sendable {
    public var description: String
    public var isRuntimeFailure = false
    public init(_ description: String, runtimeFailure: Bool = false) {
        self.description = description.split(whereSeparator: \.isNewline).joined(separator: " ")
        self.isRuntimeFailure = runtimeFailure
    }

    /// `error` (from the store or below) with `prefix` in front, keeping whether it is bad input.
    public init(prefix: String, _ error: Error) {
        self.init(prefix + oneLine(error), runtimeFailure: (error as? RunStoreError).map { !$0.isBadInput } ?? (error as? TrainingError)?.isRuntimeFailure ?? false)
    }
}

/// One line for any error this module or the ones below it throw (`DatasetError`, `RunStoreError`).
public func oneLine(_ error: Error) -> String {
    let text = "\(error)"
    return text.split(whereSeparator: \.isNewline).joined(separator: " ")
}

/// A number as a user typed it back: integers without ".0", others in shortest form; NaN as "nan".
func formatNumber(_ x: Double) -> String {
    if x.isNaN { return "nan" }
    if x.isInfinite { return x > 0 ? "inf" : "-inf" }
    if x == x.rounded(), abs(x) < 1e15 { return "\(Int(x))" }
    return "\(x)"
}

/// Fixed-point text, e.g. `fixed(0.95, 4)` = "0.9500".
func fixed(_ x: Double, _ digits: Int) -> String {
    String(format: "%.\(digits)f", x)
}
