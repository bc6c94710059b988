import Datasets
import Foundation
import Kernels
import Models
import RunStore

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
