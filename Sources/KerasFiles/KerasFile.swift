/// Reading the weights of a Keras model file, in any of the layouts Keras writes:
///
/// - legacy HDF5 from `model.save("x.h5")`: root attributes `keras_version`, `backend`,
///   `model_config` (JSON); group `model_weights` with attribute `layer_names`; one group per
///   layer with attribute `weight_names`, each naming a dataset inside that group — tf.keras 2 and
///   standalone Keras 2 write `conv1/kernel:0` (dataset `model_weights/conv1/conv1/kernel:0`),
///   Keras 3 writes `conv1/kernel`;
/// - legacy weights-only HDF5 from Keras 2's `model.save_weights("x.h5")`: the same as
///   `model_weights`, at the root;
/// - Keras 3 `.weights.h5` (`model.save_weights("x.weights.h5")`): `layers/<layer>/vars/<i>`,
///   the variables of each layer in creation order (kernel, bias; gamma, beta, moving mean,
///   moving variance).
///
/// Attributes longer than HDF5's 64 KB object-header limit are split by Keras into `name0`,
/// `name1`, …; both forms are read.
import Datasets
import Foundation

public struct KerasFile: Sendable {
    public enum Format: String, Sendable, CaseIterable {
        /// `model.save("x.h5")` by tf.keras 2 / Keras 2 (weight names with `:0`).
        case keras2H5 = "keras2-h5"
        /// `model.save("x.h5")` by Keras 3 (legacy HDF5 format).
        case keras3H5 = "keras3-h5"
        /// `model.save_weights("x.h5")` by Keras 2 (no model config).
        case keras2WeightsH5 = "keras2-weights-h5"
        /// `model.save_weights("x.weights.h5")` by Keras 3.
        case keras3WeightsH5 = "keras3-weights-h5"

        public var summary: String {
            switch self {
            case .keras2H5: "Keras 2 / tf.keras HDF5 model (model.save(\"x.h5\"))"
            case .keras3H5: "Keras 3 legacy HDF5 model (model.save(\"x.h5\"))"
            case .keras2WeightsH5: "Keras 2 HDF5 weights (model.save_weights(\"x.h5\"))"
            case .keras3WeightsH5: "Keras 3 weights (model.save_weights(\"x.weights.h5\"))"
            }
        }
    }

    /// One stored weight: its role (`kernel`, `bias`, `gamma`, `beta`, `moving_mean`,
    /// `moving_variance`; for `.weights.h5` files, where names are not stored, the position
    /// `0`, `1`, …), where it is, its shape and dtype.
    public struct Weight: Sendable, Equatable {
        public var role: String
        public var dataset: String
        public var shape: [Int]
        public var dtype: String
    }

    public struct LayerWeights: Sendable, Equatable {
        public var name: String
        public var weights: [Weight]
    }

    public var path: String
    public var format: Format
    public var kerasVersion: String?
    public var backend: String?
    /// `config.name` of `model_config` (`ResNet50`), when the file has one.
    public var modelName: String?
    /// The raw `model_config` JSON, when the file has one.
    public var modelConfig: String?
    /// Layers in the file's order (`layer_names`), including those without weights.
    public var layers: [LayerWeights]

    public var weightedLayers: [LayerWeights] { layers.filter { !$0.weights.isEmpty } }

    /// The one dtype of all weights, or an error naming the first weight that differs.
    public func weightDType() throws -> String? {
        var first: (String, String)?
        for layer in layers {
            for w in layer.weights {
                guard w.dtype == "float32" || w.dtype == "float64" else {
                    throw KerasError("\(path): layer '\(layer.name)' tensor '\(layer.name)/\(w.role)' has dtype \(w.dtype); only float32 and float64 weights can be imported")
                }
                if let (dtype, name) = first, dtype != w.dtype {
                    throw KerasError("\(path): mixed weight dtypes: '\(name)' is \(dtype) but layer '\(layer.name)' tensor '\(layer.name)/\(w.role)' is \(w.dtype)")
                }
                if first == nil { first = (w.dtype, "\(layer.name)/\(w.role)") }
            }
        }
        return first?.0
    }

    /// Reads the layout and every weight's shape and dtype (not the values).
    public static func open(_ path: String) throws -> (KerasFile, HDF5Reader) {
        let reader: HDF5Reader
        do { reader = try HDF5Reader(path: path) } catch let error as DatasetError { throw KerasError(error.description) }
        do {
            return (try read(reader), reader)
        } catch let error as DatasetError {
            throw KerasError(error.description)
        }
    }

    static func read(_ r: HDF5Reader) throws -> KerasFile {
        let path = r.path
        let rootAttributes = Set(try r.attributeNames("/"))
        func rootString(_ name: String) throws -> String? {
            rootAttributes.contains(name) ? try r.strings("/", attribute: name)?.first : nil
        }
        let modelConfig = try rootString("model_config")
        var modelName: String?
        if let modelConfig, let data = modelConfig.data(using: .utf8),
           let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let config = object["config"] as? [String: Any] {
            modelName = config["name"] as? String
        }

        if try r.kind("model_weights") == .group {
            return try legacy(r, base: "model_weights", rootVersion: try rootString("keras_version"),
                              rootBackend: try rootString("backend"), modelName: modelName, modelConfig: modelConfig,
                              weightsOnly: false)
        }
        if try keyedStrings(r, "/", "layer_names") != nil {
            return try legacy(r, base: "/", rootVersion: nil, rootBackend: nil, modelName: modelName,
                              modelConfig: modelConfig, weightsOnly: true)
        }
        if try r.kind("layers") == .group {
            var layers: [LayerWeights] = []
            for key in try r.children("layers") {
                let vars = "layers/\(key)/vars"
                // Keras 3.10+ keys layers by class (`conv2d_3`) and names the layer in the `vars`
                // group's `name` attribute; earlier versions key them by layer name.
                var name = key
                if try r.kind(vars) == .group, let named = try r.strings(vars, attribute: "name")?.first { name = named }
                var weights: [Weight] = []
                if try r.kind(vars) == .group {
                    let indices = try r.children(vars).compactMap { Int($0) }.sorted()
                    for i in indices {
                        let dataset = "\(vars)/\(i)"
                        let (shape, dtype) = try r.describe(dataset)
                        weights.append(Weight(role: String(i), dataset: dataset, shape: shape, dtype: dtype))
                    }
                }
                layers.append(LayerWeights(name: name, weights: weights))
            }
            return KerasFile(path: path, format: .keras3WeightsH5, kerasVersion: try rootString("keras_version"),
                             backend: try rootString("backend"), modelName: modelName, modelConfig: modelConfig, layers: layers)
        }
        let has = try r.children("/")
        let listed = has.isEmpty ? "nothing" : has.prefix(8).map { "'\($0)'" }.joined(separator: ", ") + (has.count > 8 ? ", …" : "")
        throw KerasError("\(path): no Keras weights in this HDF5 file (no 'model_weights' group, 'layer_names' attribute or 'layers' group; the file has \(listed))")
    }

    /// A string-list attribute, also when Keras split it into `name0`, `name1`, ….
    static func keyedStrings(_ r: HDF5Reader, _ object: String, _ name: String) throws -> [String]? {
        if let whole = try r.strings(object, attribute: name) { return whole }
        var parts: [String] = []
        var chunk = 0
        while let part = try r.strings(object, attribute: "\(name)\(chunk)") {
            parts += part
            chunk += 1
        }
        return chunk == 0 ? nil : parts
    }

    static func legacy(_ r: HDF5Reader, base: String, rootVersion: String?, rootBackend: String?,
                       modelName: String?, modelConfig: String?, weightsOnly: Bool) throws -> KerasFile {
        let path = r.path
        let prefix = base == "/" ? "" : base + "/"
        guard let layerNames = try keyedStrings(r, base, "layer_names") else {
            throw KerasError("\(path): group '\(base)' has no 'layer_names' attribute; not a Keras HDF5 weights file")
        }
        let version = try r.strings(base, attribute: "keras_version")?.first ?? rootVersion
        let backend = try r.strings(base, attribute: "backend")?.first ?? rootBackend
        var layers: [LayerWeights] = []
        var sawColon = false
        for name in layerNames {
            let group = prefix + name
            guard try r.kind(group) == .group else {
                throw KerasError("\(path): layer '\(name)' is listed in 'layer_names' but the file has no group '\(group)'")
            }
            let names = try keyedStrings(r, group, "weight_names") ?? []
            var weights: [Weight] = []
            for weightName in names {
                let dataset = group + "/" + weightName
                guard try r.kind(dataset) == .dataset else {
                    throw KerasError("\(path): layer '\(name)' lists weight '\(weightName)' but the file has no dataset '\(dataset)'")
                }
                let (shape, dtype) = try r.describe(dataset)
                var role = String(weightName.split(separator: "/").last ?? Substring(weightName))
                if let colon = role.lastIndex(of: ":") { role = String(role[..<colon]); sawColon = true }
                weights.append(Weight(role: role, dataset: dataset, shape: shape, dtype: dtype))
            }
            layers.append(LayerWeights(name: name, weights: weights))
        }
        let isKeras3 = version.map { $0.hasPrefix("3.") } ?? !sawColon
        let format: Format = weightsOnly ? .keras2WeightsH5 : (isKeras3 ? .keras3H5 : .keras2H5)
        return KerasFile(path: path, format: format, kerasVersion: version, backend: backend, modelName: modelName,
                         modelConfig: modelConfig, layers: layers)
    }
}
