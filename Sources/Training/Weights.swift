/// Stored weights: the snapshot manifests a model's parameters and checkpoints are written with,
/// loading a run's weights back into a model (checking model, description hash and manifest), and
/// the `evaluate` / `predict` operations on stored runs.
///
/// - `final` / `best` snapshots hold `model.parameterBytes`: every tensor of `M.tensors`
///   (trainable weights, then BN moving mean/variance) at its element offset × scalar size.
/// - `checkpoint` snapshots hold `model.stateBytes`: the same tensors followed by Adam's m and v
///   (`adam/m`, `adam/v`, one flat tensor each); `extra` carries the step count, the shuffling RNG
///   state, the completed-epoch count and the best test accuracy so far.
import Datasets
import Foundation
import Kernels
import Models
import RunStore

public enum Weights {
    /// Manifest of `parameterBytes`: one entry per `M.tensors` element with byte offsets and dtype.
    public static func parameterManifest<M: GeneratedModelType>(_: M.Type) -> [TensorEntry] {
        let size = MemoryLayout<M.Scalar>.stride
        return M.tensors.map {
            TensorEntry(name: $0.name, shape: $0.shape, dtype: M.dtype, offset: $0.offset * size, byteCount: $0.count * size)
        }
    }

    /// Manifest of `stateBytes`: the parameters, then Adam's m and v.
    public static func checkpointManifest<M: GeneratedModelType>(_: M.Type) -> [TensorEntry] {
        let size = MemoryLayout<M.Scalar>.stride
        let p = M.parameterCount * size, t = M.trainableParameterCount * size
        return parameterManifest(M.self) + [
            TensorEntry(name: "adam/m", shape: [M.trainableParameterCount], dtype: M.dtype, offset: p, byteCount: t),
            TensorEntry(name: "adam/v", shape: [M.trainableParameterCount], dtype: M.dtype, offset: p + t, byteCount: t),
        ]
    }

    /// Fails unless `run` was trained with this very model description.
    public static func checkCompatible<M: GeneratedModelType>(_: M.Type, run: RunRecord) throws {
        guard run.model == M.registryName else {
            throw TrainingError("run \(run.id) trained model '\(run.model)', not '\(M.registryName)'")
        }
        guard run.modelHash == M.descriptionSHA256 else {
            throw TrainingError("run \(run.id) was trained with another description of \(run.model) (sha256 \(run.modelHash.prefix(12))…, this build has \(M.descriptionSHA256.prefix(12))…); its weights do not fit this build")
        }
    }

    /// Which snapshot `evaluate`/`predict` use by default: `final`, else `best`, else `checkpoint`.
    public static func defaultKind(store: RunStore, run: Int64) throws -> SnapshotKind {
        let kinds = Set(try store.snapshots(run: run).map(\.kind))
        for kind in [SnapshotKind.final, .best, .checkpoint] where kinds.contains(kind) { return kind }
        throw RunStoreError.missingSnapshot(run: run, kind: "final", available: [])
    }

    /// Loads the parameters (weights and BN statistics) of snapshot `kind` of `run` into `model`.
    /// Returns the snapshot's epoch.
    @discardableResult
    public static func loadParameters<M: GeneratedModelType>(into model: M, store: RunStore, run: RunRecord,
                                                             kind: SnapshotKind) throws -> Int {
        try checkCompatible(M.self, run: run)
        let all = try store.snapshots(run: run.id)
        guard let info = all.first(where: { $0.kind == kind }) else {
            throw RunStoreError.missingSnapshot(run: run.id, kind: kind.rawValue, available: all.map(\.kind.rawValue))
        }
        let expected = kind == .checkpoint ? checkpointManifest(M.self) : parameterManifest(M.self)
        guard info.tensors == expected else {
            throw TrainingError("snapshot '\(kind.rawValue)' of run \(run.id) has a tensor manifest that does not match \(M.registryName) (\(info.tensors.count) tensors, expected \(expected.count))")
        }
        if kind == .checkpoint {
            try store.loadSnapshot(run: run.id, kind: kind, into: model.stateBytes)
        } else {
            try store.loadSnapshot(run: run.id, kind: kind, into: model.parameterBytes)
        }
        return info.epoch
    }

    /// An inference model (batch norm folded) with the parameters of snapshot `kind` of `run`, and
    /// the snapshot's epoch. A final/best snapshot streams straight into the inference model's
    /// parameter block (no training arena); a checkpoint goes through a training model first.
    public static func loadInference<M: GeneratedModelType>(_: M.Type, store: RunStore, run: RunRecord,
                                                            kind: SnapshotKind, threads: Int) throws -> (M.Inference, epoch: Int) {
        if kind == .checkpoint {
            let model = M(seed: 0, threads: threads)
            let epoch = try loadParameters(into: model, store: store, run: run, kind: kind)
            let inference = M.Inference(threads: threads)
            inference.load(parameters: model.parameters)
            return (inference, epoch)
        }
        try checkCompatible(M.self, run: run)
        let all = try store.snapshots(run: run.id)
        guard let info = all.first(where: { $0.kind == kind }) else {
            throw RunStoreError.missingSnapshot(run: run.id, kind: kind.rawValue, available: all.map(\.kind.rawValue))
        }
        guard info.tensors == parameterManifest(M.self) else {
            throw TrainingError("snapshot '\(kind.rawValue)' of run \(run.id) has a tensor manifest that does not match \(M.registryName) (\(info.tensors.count) tensors, expected \(M.tensors.count))")
        }
        let inference = M.Inference(threads: threads)
        try inference.loadParameters { parameters in
            try store.loadSnapshot(run: run.id, kind: kind, into: UnsafeMutableRawBufferPointer(
                start: UnsafeMutableRawPointer(parameters), count: M.parameterCount * MemoryLayout<M.Scalar>.stride))
        }
        return (inference, info.epoch)
    }
}

/// Copies images into a model's input and one-hot labels into a buffer allocated once.
final class BatchLoader<M: GeneratedModelType> {
    let labels: UnsafeMutablePointer<M.Scalar>
    let imageSize = M.inputHeight * M.inputWidth * M.inputChannels

    init() {
        labels = .allocate(capacity: M.capacity * M.classes)
        labels.initialize(repeating: 0, count: M.capacity * M.classes)
    }

    deinit { labels.deallocate() }

    /// Rows `0..<n` of the batch: image `order[start + r]` of `images`/`classes` (or `start + r` when
    /// `order` is nil). Float → `M.Scalar`; a plain memcpy when they are the same type.
    @inline(__always)
    func fill(_ input: UnsafeMutablePointer<M.Scalar>, images: UnsafePointer<Float>, classes: UnsafePointer<Int32>,
              order: UnsafePointer<Int>?, start: Int, count n: Int) {
        let size = imageSize
        let k = M.classes
        labels.update(repeating: 0, count: n * k)
        for r in 0..<n {
            let index = order.map { $0[start + r] } ?? start + r
            let source = images + index * size
            if M.Scalar.self == Float.self {
                UnsafeMutableRawPointer(input + r * size).copyMemory(from: source, byteCount: size * MemoryLayout<Float>.stride)
            } else {
                let target = input + r * size
                for j in 0..<size { target[j] = M.Scalar(source[j]) }
            }
            labels[r * k + Int(classes[index])] = 1
        }
    }
}

/// Loss and accuracy of a model's current weights on a data set, in inference mode (moving BN
/// statistics), in batches of the model's capacity.
public struct EvaluationResult: Sendable, Equatable {
    public var loss: Double
    public var accuracy: Double
    public var correct: Int
    public var count: Int
    /// `confusion[label][predicted]` image counts (`evaluate`; empty during training). Its
    /// diagonal sums to `correct`: the predicted class is the first of equal maxima, as in the accuracy.
    public var confusion: [[Int]] = []
    /// The images predicted wrong (`evaluate`; empty during training), in test-set order.
    public var misclassified: [Misclassified] = []

    public struct Misclassified: Sendable, Equatable {
        /// Position in the evaluated set.
        public var index: Int
        public var label: Int
        public var predicted: Int
        public var probabilities: [Double]
    }
}

func evaluateModel<M: GeneratedModelType>(_ model: M.Inference, on set: ImageDataset, loader: BatchLoader<M>,
                                          confusion wantConfusion: Bool = false) -> EvaluationResult {
    var lossSum = 0.0, correct = 0
    var confusion = wantConfusion ? [[Int]](repeating: [Int](repeating: 0, count: M.classes), count: M.classes) : []
    var misclassified: [EvaluationResult.Misclassified] = []
    set.images.withUnsafeBufferPointer { images in
        set.labels.withUnsafeBufferPointer { classes in
            var start = 0
            while start < set.count {
                let n = min(M.capacity, set.count - start)
                loader.fill(model.input, images: images.baseAddress!, classes: classes.baseAddress!, order: nil, start: start, count: n)
                model.forward(count: n)
                let r = model.evaluate(labels: loader.labels, count: n)
                lossSum += r.loss * Double(n)
                correct += r.correct
                if wantConfusion {
                    let p = model.probabilities, k = M.classes
                    for row in 0..<n {
                        var best = 0
                        for j in 0..<k where p[row * k + j] > p[row * k + best] { best = j }
                        let label = Int(classes[start + row])
                        confusion[label][best] += 1
                        if best != label {
                            misclassified.append(.init(index: start + row, label: label, predicted: best,
                                                       probabilities: (0..<k).map { Double(p[row * k + $0]) }))
                        }
                    }
                }
                start += n
            }
        }
    }
    let count = max(set.count, 1)
    return EvaluationResult(loss: lossSum / Double(count), accuracy: Double(correct) / Double(count),
                            correct: correct, count: set.count, confusion: confusion, misclassified: misclassified)
}

/// `resnet-run evaluate` and `predict`: stored weights applied to images.
public enum StoredRun {
    /// What a stored-run command reports about the weights it used.
    public struct WeightsUsed: Sendable {
        public var run: Int64
        public var model: String
        public var kind: SnapshotKind
        public var epoch: Int
        /// The class names the run recorded (folder datasets), if any.
        public var classNames: [String]? = nil
    }

    /// Opens the store read-only and finds the run and its model type.
    static func open(db: String, run id: Int64) throws -> (RunStore, RunRecord, any GeneratedModelType.Type) {
        let store = try RunStore(path: db, createIfMissing: false, readOnly: true)
        let record = try store.run(id)
        guard let type = ModelRegistry.model(named: record.model) else {
            throw TrainingError("run \(id) trained model '\(record.model)', which this build does not have (available: \(ModelRegistry.names.joined(separator: ", ")))")
        }
        return (store, record, type)
    }

    /// The data a stored-run command applies weights to: `path` (a SIGNS directory — its test file —
    /// or one SIGNS file of either split), or the run's own test set when nil.
    static func testSet(path: String?, record: RunRecord, shape: ModelShape) throws -> ImageDataset {
        guard let path else {
            if record.status == .imported, record.hyperparameters["data_source"] == nil {
                throw TrainingError("run \(record.id) was imported from a Keras file and has no test set of its own; pass --data (a SIGNS directory or .h5 file)")
            }
            return try DataSource(recorded: record.hyperparameters, run: record.id).load(for: shape).test
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw TrainingError("--data \(path): no such file or directory")
        }
        if isDirectory.boolValue, ImageFolder.looksLikeImageFolder(path) {
            // Photos: DIR/test/<class> of a train/test folder, or every image of DIR/<class>.
            let folder = try ImageFolder.scan(path)
            try folder.check(classes: shape.classes, model: shape.name)
            if let recorded = ClassNames.recorded(record.hyperparameters), recorded != folder.classNames {
                throw TrainingError("--data \(path): class folders (\(folder.classNames.joined(separator: ", "))) differ from the classes run \(record.id) was trained on (\(recorded.joined(separator: ", ")))")
            }
            let entries = folder.layout == .trainTest ? folder.test : folder.train
            let interpolation = record.hyperparameters["data_interpolation"].flatMap(Interpolation.init(rawValue:)) ?? .nearest
            return try ImageFolder.load(entries, classes: shape.classes, height: shape.height, width: shape.width,
                                        interpolation: interpolation, source: path,
                                        split: folder.layout == .trainTest ? "test" : "all",
                                        progress: DataSource.decodeProgress(path))
        }
        if isDirectory.boolValue {
            let file = (path as NSString).appendingPathComponent(SIGNS.testFileName)
            guard FileManager.default.fileExists(atPath: file) else {
                throw TrainingError("--data \(path): directory has no \(SIGNS.testFileName)")
            }
            return try SIGNS.load(file: file, split: "test", height: shape.height, width: shape.width,
                                  channels: shape.channels, classes: shape.classes, model: shape.name)
        }
        return try DataSource.loadFile(path, shape: shape)
    }

    /// Loss and accuracy of run `id`'s weights (`kind`, default final → best → checkpoint).
    public static func evaluate(db: String, run id: Int64, kind: SnapshotKind?, data: String?,
                                threads: Int) throws -> (WeightsUsed, EvaluationResult, ImageDataset) {
        let (store, record, type) = try open(db: db, run: id)
        let set = try testSet(path: data, record: record, shape: ModelShape(type))
        let kind = try kind ?? Weights.defaultKind(store: store, run: id)
        func opened<M: GeneratedModelType>(_: M.Type) throws -> (WeightsUsed, EvaluationResult) {
            let (model, epoch) = try Weights.loadInference(M.self, store: store, run: record, kind: kind, threads: threads)
            let result = evaluateModel(model, on: set, loader: BatchLoader<M>(), confusion: true)
            return (WeightsUsed(run: id, model: M.registryName, kind: kind, epoch: epoch,
                                classNames: ClassNames.recorded(record.hyperparameters).flatMap { $0.count == M.classes ? $0 : nil }), result)
        }
        let (used, result) = try opened(type)
        return (used, result, set)
    }

    /// Class probabilities of image `index` of `data` under run `id`'s weights, and its label.
    public static func predict(db: String, run id: Int64, kind: SnapshotKind?, data: String, index: Int,
                               threads: Int) throws -> (WeightsUsed, probabilities: [Double], label: Int, set: ImageDataset) {
        let (store, record, type) = try open(db: db, run: id)
        let set = try testSet(path: data, record: record, shape: ModelShape(type))
        guard index >= 0, index < set.count else {
            throw TrainingError("--index \(index): \(set.source) holds \(set.count) images (indices 0...\(set.count - 1))")
        }
        let kind = try kind ?? Weights.defaultKind(store: store, run: id)
        func opened<M: GeneratedModelType>(_: M.Type) throws -> (WeightsUsed, [Double]) {
            let (model, epoch) = try Weights.loadInference(M.self, store: store, run: record, kind: kind, threads: threads)
            let loader = BatchLoader<M>()
            set.images.withUnsafeBufferPointer { images in
                set.labels.withUnsafeBufferPointer { classes in
                    loader.fill(model.input, images: images.baseAddress!, classes: classes.baseAddress!, order: nil, start: index, count: 1)
                }
            }
            model.forward(count: 1)
            let p = (0..<M.classes).map { Double(model.probabilities[$0]) }
            return (WeightsUsed(run: id, model: M.registryName, kind: kind, epoch: epoch), p)
        }
        let (used, p) = try opened(type)
        return (used, p, Int(set.labels[index]), set)
    }
}
