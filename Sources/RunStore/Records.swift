/// Value types of the experiment store: run configuration and status, per-epoch records, weight
/// snapshot manifests, and the identity of the process that owns a running run.
import Foundation

public enum RunStatus: String, CaseIterable, Codable, Sendable {
    case running, completed, interrupted, failed, crashed, diverged
    /// Weights imported from a Keras model file (`resnet-run import`): no epochs, a `final` snapshot.
    case imported
}

public enum SnapshotKind: String, CaseIterable, Codable, Sendable {
    case final, best, checkpoint
}

/// Everything known when a run starts.
public struct RunConfig: Sendable, Equatable {
    public var label: String?
    public var model: String
    public var modelHash: String
    public var datasetPath: String
    public var datasetSHA256: String?
    public var trainCount: Int
    public var testCount: Int
    /// All hyperparameters as text, e.g. "lr": "0.00015", "optimizer": "adam", "beta_1": "0.9".
    public var hyperparameters: [String: String]
    public var epochsPlanned: Int
    public var batchSize: Int
    public var learningRate: Double
    public var seed: Int
    public var threads: Int
    public var programVersion: String
    public var commandLine: String
    public var host: String

    public init(label: String? = nil, model: String, modelHash: String, datasetPath: String,
                datasetSHA256: String? = nil, trainCount: Int = 0, testCount: Int = 0,
                hyperparameters: [String: String] = [:], epochsPlanned: Int, batchSize: Int,
                learningRate: Double, seed: Int = 0, threads: Int = 1, programVersion: String = "",
                commandLine: String = CommandLine.arguments.joined(separator: " "),
                host: String = ProcessIdentity.hostName()) {
        self.label = label; self.model = model; self.modelHash = modelHash
        self.datasetPath = datasetPath; self.datasetSHA256 = datasetSHA256
        self.trainCount = trainCount; self.testCount = testCount
        self.hyperparameters = hyperparameters; self.epochsPlanned = epochsPlanned
        self.batchSize = batchSize; self.learningRate = learningRate; self.seed = seed
        self.threads = threads; self.programVersion = programVersion
        self.commandLine = commandLine; self.host = host
    }
}

/// One tensor inside a weight snapshot: `byteCount` bytes at `offset` of the blob, little-endian.
public struct TensorEntry: Codable, Sendable, Equatable {
    public var name: String
    public var shape: [Int]
    /// "float32" or "float64" (also accepted: "float16", "int32", "int64", "uint8").
    public var dtype: String
    /// Byte offset inside the snapshot blob.
    public var offset: Int
    public var byteCount: Int

    public init(name: String, shape: [Int], dtype: String, offset: Int, byteCount: Int) {
        self.name = name; self.shape = shape; self.dtype = dtype; self.offset = offset; self.byteCount = byteCount
    }

    public static let elementSizes: [String: Int] = [
        "float32": 4, "float64": 8, "float16": 2, "int32": 4, "int64": 8, "uint8": 1,
    ]
}

/// The metadata of a stored snapshot (everything but the bytes).
public struct SnapshotInfo: Sendable, Equatable {
    public var run: Int64
    public var kind: SnapshotKind
    public var epoch: Int
    public var createdAt: Date
    public var tensors: [TensorEntry]
    public var extra: [String: String]
    public var byteCount: Int
    /// "xxh64:<16 hex digits>".
    public var checksum: String
}

/// One epoch of one run.
public struct EpochRecord: Sendable, Equatable {
    public var run: Int64
    public var epoch: Int
    public var recordedAt: Date
    public var metrics: [String: Double]
}

/// A run as stored, plus its effective status.
public struct RunRecord: Sendable, Equatable {
    public var id: Int64
    /// Effective status: `crashed` when the row says `running` but the owning process is gone.
    public var status: RunStatus
    /// The status column as written by the owning process.
    public var recordedStatus: RunStatus
    public var statusReason: String?
    public var label: String?
    public var notes: String?
    public var startedAt: Date
    public var finishedAt: Date?
    public var heartbeatAt: Date
    public var model: String
    public var modelHash: String
    public var datasetPath: String
    public var datasetSHA256: String?
    public var trainCount: Int
    public var testCount: Int
    public var hyperparameters: [String: String]
    public var epochsPlanned: Int
    public var batchSize: Int
    public var learningRate: Double
    public var seed: Int
    public var threads: Int
    public var programVersion: String
    public var commandLine: String
    public var host: String
    public var owner: ProcessIdentity
    /// Summary kept current by `recordEpoch` in the same transaction.
    public var epochsDone: Int
    public var lastEpoch: Int?
    public var finalTestAccuracy: Double?
    public var bestTestAccuracy: Double?
    public var bestEpoch: Int?

    /// Wall time from start to finish, or to the last heartbeat for crashed runs, or to `now`.
    public func duration(now: Date) -> TimeInterval {
        let end: Date
        if let finishedAt { end = finishedAt }
        else if status == .running { end = now }
        else { end = heartbeatAt }
        return max(0, end.timeIntervalSince(startedAt))
    }

    /// Identity of the dataset for "same dataset?" checks: its SHA-256 when known, else its path.
    public var datasetIdentity: String { datasetSHA256 ?? datasetPath }
}
