/// Where a run's images come from, loading them for a model, and recording that in the run row so
/// `--resume` and `evaluate` can load exactly the same data again (and notice when it changed).
///
/// Three sources:
/// - `directory`: the notebooks' layout, `DIR/train_signs.h5` + `DIR/test_signs.h5`;
/// - `file`: one SIGNS file (train or test datasets, detected), its first `split` images for
///   training and the rest for testing (e.g. the 120-image `test_signs.h5` as 96 + 24 in tests);
/// - `synthetic`: `SyntheticSigns` at the model's H×W (what a fresh checkout trains on);
/// - `folder`: JPEG/PNG class folders (`DIR/<class>/*` split by a validation fraction and the run's
///   seed, or `DIR/train/<class>` + `DIR/test/<class>`), as `image_dataset_from_directory` reads
///   them (`Datasets.ImageFolder`); the run records the class names and the file list's sha256.
/// Pixels are / 255 and labels class indices (one-hot in the trainer), as the notebooks do; every
/// shape, dtype and label-range mismatch is a one-line `DatasetError` from the Datasets module.
import Datasets
import Foundation
import Kernels
import Models

/// The input/output shape a model expects, for loaders and messages.
public struct ModelShape: Sendable, Equatable {
    public var name: String, height: Int, width: Int, channels: Int, classes: Int

    public init(name: String, height: Int, width: Int, channels: Int, classes: Int) {
        self.name = name; self.height = height; self.width = width; self.channels = channels; self.classes = classes
    }

    public init(_ type: any GeneratedModelType.Type) {
        self.init(name: type.registryName, height: type.inputHeight, width: type.inputWidth,
                  channels: type.inputChannels, classes: type.classes)
    }
}

public enum DataSource: Sendable, Equatable {
    case directory(String)
    case file(String, split: Int)
    case synthetic(trainCount: Int, testCount: Int, seed: UInt64)
    /// `validationSplit` is required for a `DIR/<class>` folder and refused for `DIR/train|test`.
    case folder(String, validationSplit: Double?, seed: UInt64, interpolation: Interpolation)

    /// The default when no `--data` is given: `datasets/` if it exists, else the synthetic set of
    /// the default size, with the one-line notice to print.
    public static func defaultSource(directory: String = SIGNS.defaultDirectory,
                                     trainCount: Int = SyntheticSigns.defaultTrainCount,
                                     testCount: Int = SyntheticSigns.defaultTestCount,
                                     shape: ModelShape) -> (source: DataSource, notice: String?) {
        if FileManager.default.fileExists(atPath: directory) { return (.directory(directory), nil) }
        let notice = "no \(directory)/ directory here: training on the built-in synthetic SIGNS set "
            + "(\(trainCount) train / \(testCount) test images, \(shape.height)x\(shape.width)x\(shape.channels), recorded as dataset 'synthetic'); "
            + "for the real data put \(SIGNS.trainFileName) and \(SIGNS.testFileName) in \(directory)/ or pass --data DIR"
        return (.synthetic(trainCount: trainCount, testCount: testCount, seed: 0), notice)
    }

    /// What `RunConfig.datasetPath` records: the path as given, or `synthetic`.
    public var recordedPath: String {
        switch self {
        case .directory(let path), .file(let path, _), .folder(let path, _, _, _): return path
        case .synthetic: return "synthetic"
        }
    }
}

/// Train and test sets ready for a model, with their identity.
public struct LoadedData: Sendable {
    public var source: DataSource
    public var train: ImageDataset
    public var test: ImageDataset
    /// Training images held out to validate each epoch (`holdOut(validationSplit:)`), if any.
    public var validation: ImageDataset?
    /// The fraction held out for `validation`.
    public var validationSplit: Double?
    /// Seconds spent reading, hashing and decoding (or synthesizing).
    public var seconds: Double
    /// Class names (folder datasets), and the sha256 of their whole file list.
    public var classNames: [String]? = nil
    public var filesSHA256: String? = nil

    /// The sha256 recorded as the run's dataset hash: the training file's (nil for synthetic).
    public var datasetSHA256: String? { train.sha256 }

    /// Keras' `fit(validation_split=f)`: the last `n - ⌊n·(1 − f)⌋` training images (in the
    /// data's own order, before any shuffling) become the validation set, the rest is trained
    /// on. Deterministic, so a resumed run holds out the same images.
    public mutating func holdOut(validationSplit f: Double) throws {
        let n = train.count
        let splitAt = Int((Double(n) * (1 - f)).rounded(.down))
        guard splitAt >= 1, splitAt < n else {
            throw TrainingError("--validation-split \(formatNumber(f)): the \(n) training images would leave \(splitAt) to train on and \(n - splitAt) to validate; both need at least one")
        }
        var held = train.subset(splitAt..<n)
        held.split = "validation"
        validation = held
        validationSplit = f
        train = train.subset(0..<splitAt)
    }

    /// The metric that chooses the "best" epoch: validation accuracy when some training images
    /// are held out, else test accuracy (the only held-out images there are).
    public var bestBy: String { validation == nil ? "test_accuracy" : "val_accuracy" }

    /// Hyperparameter entries describing the data (stored in the run row; read back by `DataSource(recorded:)`).
    public var recordEntries: [String: String] {
        var e: [String: String] = [:]
        switch source {
        case .directory(let path):
            e["data_source"] = "directory"
            e["data_path"] = absolutePath(path)
        case .file(let path, let split):
            e["data_source"] = "file"
            e["data_path"] = absolutePath(path)
            e["data_split"] = "\(split)"
        case .folder(let path, let split, let seed, let interpolation):
            e["data_source"] = "folder"
            e["data_path"] = absolutePath(path)
            if let split { e["data_validation_split"] = "\(split)" }
            e["data_seed"] = "\(seed)"
            e["data_interpolation"] = interpolation.rawValue
        case .synthetic(let trainCount, let testCount, let seed):
            e["data_source"] = "synthetic"
            e["synthetic_train"] = "\(trainCount)"
            e["synthetic_test"] = "\(testCount)"
            e["synthetic_seed"] = "\(seed)"
        }
        for (key, set) in [("train", train), ("test", test)] {
            e["\(key)_file"] = set.source == "synthetic" ? "synthetic" : absolutePath(set.source)
            if let sha = set.sha256 { e["\(key)_sha256"] = sha }
            e["\(key)_items"] = "\(set.indices.lowerBound)..<\(set.indices.upperBound)"
            e["\(key)_count"] = "\(set.count)"
        }
        if let validation, let validationSplit {
            e["validation_split"] = "\(validationSplit)"
            e["validation_items"] = "\(validation.indices.lowerBound)..<\(validation.indices.upperBound)"
            e["validation_count"] = "\(validation.count)"
        }
        e["best_by"] = bestBy
        if let classNames { e[ClassNames.key] = ClassNames.encode(classNames) }
        if let filesSHA256 { e["data_files_sha256"] = filesSHA256 }
        return e
    }
}

extension DataSource {
    /// Rebuilds the source a run was trained on from its hyperparameters.
    public init(recorded h: [String: String], run: Int64) throws {
        func need(_ key: String) throws -> String {
            guard let v = h[key] else { throw TrainingError("run \(run) does not record '\(key)' for its dataset; it was not made by resnet-run train") }
            return v
        }
        switch try need("data_source") {
        case "directory": self = .directory(try need("data_path"))
        case "file":
            guard let split = Int(try need("data_split")) else { throw TrainingError("run \(run) records a bad data_split '\(h["data_split"] ?? "")'") }
            self = .file(try need("data_path"), split: split)
        case "synthetic":
            guard let train = Int(try need("synthetic_train")), let test = Int(try need("synthetic_test")),
                  let seed = UInt64(try need("synthetic_seed")) else {
                throw TrainingError("run \(run) records a malformed synthetic dataset description")
            }
            self = .synthetic(trainCount: train, testCount: test, seed: seed)
        case "folder":
            let split = try h["data_validation_split"].map { text -> Double in
                guard let v = Double(text) else { throw TrainingError("run \(run) records a bad data_validation_split '\(text)'") }
                return v
            }
            guard let seed = UInt64(try need("data_seed")), let interpolation = Interpolation(rawValue: try need("data_interpolation")) else {
                throw TrainingError("run \(run) records a malformed folder dataset description")
            }
            self = .folder(try need("data_path"), validationSplit: split, seed: seed, interpolation: interpolation)
        case let other: throw TrainingError("run \(run) records an unknown data_source '\(other)'")
        }
    }

    /// Loads train and test sets for `shape`; any mismatch is one line naming file and dataset.
    /// `progress`: show a progress line on stderr while decoding a folder takes over a second.
    public func load(for shape: ModelShape, progress: Bool = true) throws -> LoadedData {
        let t0 = monotonicSeconds()
        let train: ImageDataset, test: ImageDataset
        switch self {
        case .folder(let path, let split, let seed, let interpolation):
            var (loaded, _) = try DataSource.loadFolder(path, validationSplit: split, seed: seed, interpolation: interpolation,
                                                       shape: shape, progress: progress)
            loaded.seconds = monotonicSeconds() - t0
            return loaded
        case .directory(let path):
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw TrainingError("--data \(path): directory not found (it should hold \(SIGNS.trainFileName) and \(SIGNS.testFileName))")
            }
            guard isDirectory.boolValue else {
                throw TrainingError("--data \(path): is a file, not a directory; to train on one file pass --data-file \(path) --split N")
            }
            (train, test) = try SIGNS.load(directory: path, height: shape.height, width: shape.width,
                                           channels: shape.channels, classes: shape.classes, model: shape.name)
        case .file(let path, let split):
            let all = try DataSource.loadFile(path, shape: shape)
            guard split >= 1, split < all.count else {
                throw TrainingError("--split \(split): \(path) holds \(all.count) images; the split must leave at least one for training and one for testing (1...\(max(1, all.count - 1)))")
            }
            train = all.subset(0..<split)
            test = all.subset(split..<all.count)
        case .synthetic(let trainCount, let testCount, let seed):
            guard trainCount >= 1, testCount >= 1 else {
                throw TrainingError("the synthetic set needs at least 1 train and 1 test image (got \(trainCount) and \(testCount))")
            }
            (train, test) = SyntheticSigns.splits(trainCount: trainCount, testCount: testCount, height: shape.height,
                                                  width: shape.width, channels: shape.channels,
                                                  classes: shape.classes, seed: seed)
        }
        return LoadedData(source: self, train: train, test: test, seconds: monotonicSeconds() - t0)
    }

    /// One SIGNS file, whichever split's datasets it holds (`train_set_*` or `test_set_*`): the
    /// split its name suggests is tried first, the other only when the loader says the file looks
    /// like the other split, so every other problem is reported for the split the user meant.
    public static func loadFile(_ path: String, shape: ModelShape) throws -> ImageDataset {
        let name = (path as NSString).lastPathComponent.lowercased()
        let first = name.contains("test") ? "test" : "train"
        let other = first == "test" ? "train" : "test"
        do {
            return try SIGNS.load(file: path, split: first, height: shape.height, width: shape.width,
                                  channels: shape.channels, classes: shape.classes, model: shape.name)
        } catch let error as DatasetError where error.description.contains("looks like a \(other) file") {
            return try SIGNS.load(file: path, split: other, height: shape.height, width: shape.width,
                                  channels: shape.channels, classes: shape.classes, model: shape.name)
        }
    }
}

extension DataSource {
    /// A folder dataset's train and test sets (see `ImageFolder`), checked against the model.
    static func loadFolder(_ path: String, validationSplit: Double?, seed: UInt64, interpolation: Interpolation,
                           shape: ModelShape, progress: Bool) throws -> (LoadedData, ImageFolder) {
        let folder = try ImageFolder.scan(path)
        try folder.check(classes: shape.classes, model: shape.name)
        guard shape.channels == 3 else {
            throw TrainingError("--data \(path): photos are decoded as RGB, the model '\(shape.name)' takes \(shape.channels) channels")
        }
        let trainEntries: [ImageFolder.Entry], testEntries: [ImageFolder.Entry]
        switch (folder.layout, validationSplit) {
        case (.classes, nil):
            throw TrainingError("--data \(path): class folders without train/ and test/ need --validation-split (e.g. 0.2, as image_dataset_from_directory's validation_split)")
        case (.classes, let fraction?):
            (trainEntries, testEntries) = try ImageFolder.split(folder.train, validationSplit: fraction, seed: seed, root: path)
        case (.trainTest, nil):
            (trainEntries, testEntries) = (folder.train, folder.test)
        case (.trainTest, _?):
            throw TrainingError("--validation-split: \(path) already has train/ and test/ folders; drop --validation-split")
        }
        let reporter: ImageFolder.Progress? = progress ? DataSource.decodeProgress(path) : nil
        let all = try ImageFolder.load(trainEntries + testEntries, classes: shape.classes, height: shape.height,
                                       width: shape.width, interpolation: interpolation, source: path,
                                       split: "train", progress: reporter)
        var train = all.subset(0..<trainEntries.count)
        var test = all.subset(trainEntries.count..<all.count)
        (train.sha256, train.indices, train.sourceCount, train.split) = (ImageFolder.listHash(trainEntries), 0..<train.count, train.count, "train")
        (test.sha256, test.indices, test.sourceCount, test.split) = (ImageFolder.listHash(testEntries), 0..<test.count, test.count,
                                                                     folder.layout == .trainTest ? "test" : "validation")
        var loaded = LoadedData(source: .folder(path, validationSplit: validationSplit, seed: seed, interpolation: interpolation),
                                train: train, test: test, seconds: 0)
        loaded.classNames = folder.classNames
        loaded.filesSHA256 = folder.filesSHA256
        return (loaded, folder)
    }

    /// "decoding photos/: 523/1200 images (412 img/s)" on stderr: rewritten in place on a terminal,
    /// only the final line otherwise.
    static func decodeProgress(_ path: String) -> ImageFolder.Progress {
        let terminal = isatty(STDERR_FILENO) != 0
        return { done, total, seconds, finished in
            let rate = seconds > 0 ? Double(done) / seconds : 0
            let text = "decoding \(path): \(done)/\(total) images (\(Int(rate.rounded())) img/s)"
            if terminal {
                FileHandle.standardError.write(Data(("\r" + text + (finished ? "\n" : "")).utf8))
            } else if finished {
                FileHandle.standardError.write(Data((text + String(format: " in %.1f s\n", seconds)).utf8))
            }
        }
    }
}

/// `path` made absolute against the current directory (recorded so resumes work from anywhere).
func absolutePath(_ path: String) -> String {
    if path.hasPrefix("/") { return path }
    return URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        .standardizedFileURL.path
}
