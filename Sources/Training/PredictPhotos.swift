/// `resnet-run predict RUN photo.jpg …`: JPEG/PNG files decoded, turned upright (EXIF),
/// resized to the model's input like Keras' `load_img(target_size=…)`, scaled / 255 like the
/// training data, and run through a stored run's weights in batches of the model's capacity.
/// A file that cannot be decoded gets its error and the others are still predicted.
import Datasets
import Foundation
import Kernels
import Models
import RunStore

/// The class names a run records (`class_names`, a JSON array of strings), if it has them.
public enum ClassNames {
    public static let key = "class_names"

    public static func recorded(_ hyperparameters: [String: String]) -> [String]? {
        guard let text = hyperparameters[key], let data = text.data(using: .utf8),
              let names = try? JSONSerialization.jsonObject(with: data) as? [String] else { return nil }
        return names
    }

    public static func encode(_ names: [String]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: names, options: [])) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

/// One file's prediction, or why it has none.
public struct PhotoPrediction: Sendable {
    public var file: String
    /// Class probabilities (`classes` of them), nil when the file failed.
    public var probabilities: [Double]?
    /// One line naming the file, when it failed.
    public var error: String?

    /// The most probable class (the first of equal maxima, as the accuracy counts it).
    public var predictedClass: Int? {
        guard let p = probabilities, !p.isEmpty else { return nil }
        var best = 0
        for j in p.indices where p[j] > p[best] { best = j }
        return best
    }
}

public struct PhotoPredictions: Sendable {
    public var used: StoredRun.WeightsUsed
    public var classNames: [String]?
    public var height: Int, width: Int
    public var interpolation: Interpolation
    public var results: [PhotoPrediction]
    /// Wall time decoding + resizing all files, and of the forward passes.
    public var decodeSeconds: Double, forwardSeconds: Double
    public var failures: Int { results.filter { $0.error != nil }.count }
}

extension StoredRun {
    /// Predicts every file of `files` with run `id`'s weights (`kind`, default final → best → checkpoint).
    public static func predictPhotos(db: String, run id: Int64, kind: SnapshotKind?, files: [String],
                                     interpolation: Interpolation, threads: Int) throws -> PhotoPredictions {
        let (store, record, type) = try open(db: db, run: id)
        let kind = try kind ?? Weights.defaultKind(store: store, run: id)
        let shape = ModelShape(type)
        guard shape.channels == 3 else {
            throw TrainingError("model '\(shape.name)' takes \(shape.channels) channels; photos are decoded as RGB (3)")
        }
        var names = ClassNames.recorded(record.hyperparameters)
        if names?.count != shape.classes { names = nil }

        // Decode in parallel (each file independent); keep the order given.
        let t0 = monotonicSeconds()
        var decoded = [Result<[Float], Error>?](repeating: nil, count: files.count)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: files.count) { i in
            let r = Result { try PhotoDecoder.loadScaled(path: files[i], height: shape.height, width: shape.width,
                                                         interpolation: interpolation) }
            lock.lock(); decoded[i] = r; lock.unlock()
        }
        let decodeSeconds = monotonicSeconds() - t0

        var results = files.map { PhotoPrediction(file: $0, probabilities: nil, error: nil) }
        var good: [Int] = []
        for (i, r) in decoded.enumerated() {
            switch r! {
            case .success: good.append(i)
            case .failure(let error): results[i].error = oneLine(error)
            }
        }

        func opened<M: GeneratedModelType>(_: M.Type) throws -> (WeightsUsed, Double) {
            let (model, epoch) = try Weights.loadInference(M.self, store: store, run: record, kind: kind, threads: threads)
            let size = M.inputHeight * M.inputWidth * M.inputChannels
            let t1 = monotonicSeconds()
            var start = 0
            while start < good.count {
                let n = min(M.capacity, good.count - start)
                let input = model.input
                for r in 0..<n {
                    guard case .success(let pixels) = decoded[good[start + r]]! else { continue }
                    for j in 0..<size { input[r * size + j] = M.Scalar(pixels[j]) }
                }
                model.forward(count: n)
                for r in 0..<n {
                    results[good[start + r]].probabilities = (0..<M.classes).map { Double(model.probabilities[r * M.classes + $0]) }
                }
                start += n
            }
            return (WeightsUsed(run: id, model: M.registryName, kind: kind, epoch: epoch), monotonicSeconds() - t1)
        }
        let (used, forwardSeconds) = try opened(type)
        return PhotoPredictions(used: used, classNames: names, height: shape.height, width: shape.width,
                                interpolation: interpolation, results: results,
                                decodeSeconds: decodeSeconds, forwardSeconds: forwardSeconds)
    }
}

