/// Loading the course's SIGNS hand-sign files (`train_signs.h5`, `test_signs.h5`) with libhdf5,
/// the way the notebooks' `load_dataset()` does (pixels / 255, labels as class indices), with every
/// shape and dtype checked against what the model expects and any mismatch reported in one line
/// that names the file and the dataset. Identity: the path as given, the sha256 of the file's bytes
/// and the counts.
///
/// Accepted: images uint8 (N, H, W, C) with H, W, C as the model expects (a float image dataset is
/// rejected: whether it is already scaled to [0, 1] is ambiguous); labels of any integer type,
/// shaped (N,), (1, N) or (N, 1), each in [0, classes); `list_classes` of any integer type with
/// `classes` entries (required, as the notebooks read it; its values are not checked).
import CHDF5
import Digest
import Foundation

public enum SIGNS {
    /// File names inside the data directory, as in the notebooks (`datasets/train_signs.h5`).
    public static let trainFileName = "train_signs.h5"
    public static let testFileName = "test_signs.h5"
    /// The directory the notebooks (and the trainer, by default) read them from.
    public static let defaultDirectory = "datasets"

    /// Dataset names for a split: `train_set_x` / `train_set_y` or `test_set_x` / `test_set_y`.
    public static func datasetNames(split: String) -> (x: String, y: String)? {
        guard split == "train" || split == "test" else { return nil }
        return ("\(split)_set_x", "\(split)_set_y")
    }
    public static let classesDatasetName = "list_classes"

    /// Loads `train_signs.h5` and `test_signs.h5` from `directory` (names as in the notebooks).
    public static func load(directory: String, height: Int, width: Int, channels: Int, classes: Int,
                            model: String) throws -> (train: ImageDataset, test: ImageDataset) {
        let hint = "the course's SIGNS files go in \(directory)/ as \(trainFileName) and \(testFileName); without a \(directory)/ directory the trainer uses the built-in synthetic set"
        func one(_ name: String, _ split: String) throws -> ImageDataset {
            let path = join(directory, name)
            guard FileManager.default.fileExists(atPath: path) else {
                throw DatasetError("\(path): file not found (\(hint))")
            }
            return try load(file: path, split: split, height: height, width: width, channels: channels,
                            classes: classes, model: model)
        }
        return (try one(trainFileName, "train"), try one(testFileName, "test"))
    }

    /// If `directory` exists, loads the SIGNS files from it (any problem is an error, never a silent
    /// fallback); if it does not exist, returns the built-in synthetic set of the same shapes
    /// (`SyntheticSigns.splits`), whose `source` is `"synthetic"`.
    public static func loadOrSynthesize(directory: String, height: Int, width: Int, channels: Int,
                                        classes: Int, model: String,
                                        trainCount: Int = SyntheticSigns.defaultTrainCount,
                                        testCount: Int = SyntheticSigns.defaultTestCount,
                                        seed: UInt64 = 0) throws -> (train: ImageDataset, test: ImageDataset) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw DatasetError("\(directory): is a file, expected a directory holding \(trainFileName) and \(testFileName)") }
            return try load(directory: directory, height: height, width: width, channels: channels,
                            classes: classes, model: model)
        }
        return SyntheticSigns.splits(trainCount: trainCount, testCount: testCount, height: height,
                                     width: width, channels: channels, classes: classes, seed: seed)
    }

    /// Loads one file; `split` ("train" or "test") selects the dataset names.
    public static func load(file: String, split: String, height: Int, width: Int, channels: Int,
                            classes: Int, model: String) throws -> ImageDataset {
        try load(file: file, split: split, height: height, width: width, channels: channels,
                 classes: classes, model: model, hashing: true)
    }

    /// `hashing: false` skips the sha256 (for tests: the hash dominates their time in
    /// unoptimised debug builds).
    static func load(file: String, split: String, height: Int, width: Int, channels: Int,
                     classes: Int, model: String, hashing: Bool) throws -> ImageDataset {
        guard let names = datasetNames(split: split) else {
            throw DatasetError("\(file): unknown split '\(split)' (expected 'train' or 'test')")
        }
        let sha256: String?, byteCount: Int
        if hashing {
            let hashed = try hashFile(file)
            (sha256, byteCount) = (hashed.sha256, hashed.bytes)
        } else {
            (sha256, byteCount) = (nil, try fileSize(file))
        }
        guard byteCount > 0 else { throw DatasetError("\(file): not an HDF5 file (it is empty, 0 bytes)") }

        let expectedImage = "(N, \(height), \(width), \(channels))"
        let modelName = "the model '\(model)'"

        let (pixels, rawLabels, n): ([UInt8], [Int64], Int) = try HDF5.locked {
            let isHDF5 = H5Fis_hdf5(file)
            _ = H5Eclear2(chdf5_e_default())
            guard isHDF5 > 0 else {
                throw DatasetError("\(file): not an HDF5 file (no HDF5 signature in its \(byteCount) bytes)")
            }
            let fid = H5Fopen(file, chdf5_f_acc_rdonly(), chdf5_p_default())
            guard fid >= 0 else { throw HDF5.error("\(file): cannot open as HDF5, the file is truncated or corrupt") }
            let f = HDF5.file(fid)

            // Missing datasets: all of them in one line, with what the file does have. Metadata
            // HDF5 cannot read is damage, not absence.
            var missing: [String] = []
            for name in [names.x, names.y, classesDatasetName] {
                switch HDF5.lookup(f.id, name) {
                case .present: break
                case .absent: missing.append(name)
                case .unreadable(let detail):
                    throw DatasetError("\(file): damaged HDF5 metadata, cannot look up dataset '\(name)' (HDF5: \(detail)); the file is corrupt or was only partly written")
                }
            }
            if !missing.isEmpty {
                guard let has = HDF5.rootNames(f.id) else {
                    throw HDF5.error("\(file): damaged HDF5 metadata, cannot list the datasets in the file's root group")
                }
                let listed = has.isEmpty ? "nothing" : has.map { "'\($0)'" }.joined(separator: ", ")
                let other = split == "train" ? "test" : "train"
                let looksOther = datasetNames(split: other).map { has.contains($0.x) } ?? false
                let what = missing.count == 1 ? "dataset '\(missing[0])' not found"
                    : "datasets " + missing.map { "'\($0)'" }.joined(separator: ", ") + " not found"
                throw DatasetError("\(file): \(what) (the file has \(listed))"
                    + (looksOther ? "; it looks like a \(other) file, not a \(split) file" : ""))
            }

            func open(_ name: String) throws -> (HDF5.Handle, [Int], HDF5.ElementType) {
                let id = H5Dopen2(f.id, name, chdf5_p_default())
                guard id >= 0 else { throw HDF5.error("\(file): cannot open '\(name)' as a dataset") }
                let handle = HDF5.dataset(id)
                do {
                    let (shape, type) = try HDF5.describe(handle.id)
                    return (handle, shape, type)
                } catch let error as DatasetError {
                    throw DatasetError("\(file): dataset '\(name)': \(error.description)")
                }
            }

            // Images: (N, H, W, C) uint8.
            let (x, xShape, xType) = try open(names.x)
            guard xShape.count == 4, Array(xShape[1...]) == [height, width, channels] else {
                throw DatasetError("\(file): dataset '\(names.x)' has shape \(shapeString(xShape)), \(modelName) expects \(expectedImage)")
            }
            guard xType.isUInt8 else {
                throw DatasetError("\(file): dataset '\(names.x)' has dtype \(xType), \(modelName) expects uint8 pixels (0-255)")
            }
            let n = xShape[0]
            guard n > 0 else { throw DatasetError("\(file): dataset '\(names.x)' has shape \(shapeString(xShape)): no images") }

            // Labels: integers, (N,) or (1, N) / (N, 1).
            let (y, yShape, yType) = try open(names.y)
            guard yType.isInteger else {
                throw DatasetError("\(file): dataset '\(names.y)' has dtype \(yType), \(modelName) expects integer class labels")
            }
            let yCount: Int
            switch yShape.count {
            case 1: yCount = yShape[0]
            case 2 where yShape[0] == 1 || yShape[1] == 1: yCount = yShape[0] * yShape[1]
            default:
                throw DatasetError("\(file): dataset '\(names.y)' has shape \(shapeString(yShape)), \(modelName) expects (N,) class labels")
            }
            guard yCount == n else {
                throw DatasetError("\(file): dataset '\(names.x)' has \(n) images but '\(names.y)' has \(yCount) labels")
            }

            // Classes: integers, `classes` of them.
            let (_, cShape, cType) = try open(classesDatasetName)
            guard cType.isInteger else {
                throw DatasetError("\(file): dataset '\(classesDatasetName)' has dtype \(cType), \(modelName) expects integer class ids")
            }
            let cCount = cShape.reduce(1, *)
            guard cShape.count == 1 || (cShape.count == 2 && (cShape[0] == 1 || cShape[1] == 1)), cCount == classes else {
                throw DatasetError("\(file): dataset '\(classesDatasetName)' has shape \(shapeString(cShape)), \(modelName) expects (\(classes),) (\(classes) classes)")
            }

            var pixels = [UInt8](repeating: 0, count: n * height * width * channels)
            let xStatus = pixels.withUnsafeMutableBytes {
                H5Dread(x.id, chdf5_native_uint8(), chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), $0.baseAddress)
            }
            guard xStatus >= 0 else { throw HDF5.error("\(file): cannot read dataset '\(names.x)', the file is truncated or corrupt") }
            var labels = [Int64](repeating: 0, count: n)
            let yStatus = labels.withUnsafeMutableBytes {
                H5Dread(y.id, chdf5_native_int64(), chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), $0.baseAddress)
            }
            guard yStatus >= 0 else { throw HDF5.error("\(file): cannot read dataset '\(names.y)', the file is truncated or corrupt") }
            return (pixels, labels, n)
        }

        var labels = [Int32](repeating: 0, count: n)
        for (i, label) in rawLabels.enumerated() {
            guard label >= 0 && label < Int64(classes) else {
                throw DatasetError("\(file): dataset '\(names.y)' has label \(label) at index \(i), outside [0, \(classes)) for \(modelName) (\(classes) classes)")
            }
            labels[i] = Int32(label)
        }
        return ImageDataset(images: scaledPixels(pixels), labels: labels, count: n, height: height,
                            width: width, channels: channels, classes: classes, source: file,
                            sha256: sha256, split: split)
    }

    /// uint8 → Float / 255 (the exact, correctly rounded quotient, via a 256-entry table).
    static func scaledPixels(_ pixels: [UInt8]) -> [Float] {
        var table = [Float](repeating: 0, count: 256)
        for v in 0..<256 { table[v] = Float(v) / 255 }
        return [Float](unsafeUninitializedCapacity: pixels.count) { out, initialized in
            table.withUnsafeBufferPointer { t in
                pixels.withUnsafeBufferPointer { p in
                    for i in 0..<p.count { out[i] = t[Int(p[i])] }
                }
            }
            initialized = pixels.count
        }
    }

    /// sha256 (hex) and size of a file's bytes, streamed; "file not found" / "is a directory" errors.
    public static func hashFile(_ path: String) throws -> (sha256: String, bytes: Int) {
        _ = try fileSize(path)
        guard let handle = fopen(path, "rb") else {
            throw DatasetError("\(path): cannot read the file (\(String(cString: strerror(errno))))")
        }
        defer { fclose(handle) }
        var hasher = SHA256()
        var total = 0
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 64)
        defer { buffer.deallocate() }
        while true {
            let got = fread(buffer.baseAddress, 1, chunk, handle)
            if got > 0 {
                hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<got]))
                total += got
            }
            if got < chunk {
                if ferror(handle) != 0 { throw DatasetError("\(path): error while reading the file") }
                break
            }
        }
        return (hasher.finalizeHex(), total)
    }

    /// Size of a file, with the same "file not found" / "is a directory" errors as `hashFile`.
    static func fileSize(_ path: String) throws -> Int {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DatasetError("\(path): file not found")
        }
        guard !isDirectory.boolValue else { throw DatasetError("\(path): is a directory, not an HDF5 file") }
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        return (attributes?[.size] as? NSNumber)?.intValue ?? 0
    }

    static func join(_ directory: String, _ name: String) -> String {
        directory.isEmpty ? name : directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }
}
