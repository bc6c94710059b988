/// Writing a model's weights as the Keras files Keras 3 writes itself:
///
/// - `.keras3H5`, what `model.save("x.h5")` writes: root attributes `backend`, `keras_version`,
///   `model_config` (generated from the description, see `KerasModelConfig`); group
///   `model_weights` with `layer_names`, `backend`, `keras_version`; per layer a group with
///   `weight_names` (`conv1/kernel`, …) holding the datasets at those names; and the empty
///   `top_level_model_weights` group Keras adds;
/// - `.keras3WeightsH5`, what `model.save_weights("x.weights.h5")` writes: `layers/<key>/vars/<i>`
///   for every layer, where the key is the snake-case class name numbered per class in layer
///   order (`conv2d`, `conv2d_1`, …; Keras 3.15 keys them so, whatever the layers are named) and
///   the `vars` group's `name` attribute is the layer's name (empty `vars` groups for layers
///   without weights), and an empty root `vars` group named after the model.
///
/// The file is written next to `path` and renamed into place when complete.
import Datasets
import Foundation
import NetSpec

public enum KerasExport {
    /// The Keras version whose layout the files follow, written as `keras_version`.
    public static let kerasVersion = "3.15.1"
    public static let backend = "tensorflow"

    /// The name given to the Keras model when the run does not record one: the notebooks' names.
    public static func defaultModelName(_ spec: KerasModelSpec) -> String {
        switch spec.modelName {
        case "resnet50-signs", "resnet50-imagenet": "ResNet50"
        case "tiny": "ResNetTiny"
        default: spec.modelName
        }
    }

    public static func write(to path: String, spec: KerasModelSpec, parameters: UnsafeRawBufferPointer,
                             format: KerasFile.Format, modelName: String) throws {
        guard parameters.count == spec.parameterByteCount else {
            throw KerasError("model '\(spec.name)': \(parameters.count) bytes of weights, expected \(spec.parameterByteCount)")
        }
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).partial-\(getpid())").path
        do {
            let tree = try HDF5Writer.Tree(path: temporary)
            switch format {
            case .keras3H5: try writeModel(tree, spec: spec, parameters: parameters, modelName: modelName)
            case .keras3WeightsH5: try writeWeights(tree, spec: spec, parameters: parameters, modelName: modelName)
            default: throw KerasError("\(path): exporting \(format.rawValue) is not supported (keras3-h5 or keras3-weights-h5)")
            }
            try tree.close()
            if rename(temporary, path) != 0 {
                throw KerasError("\(path): cannot move the written file into place (\(String(cString: strerror(errno))))")
            }
        } catch let error as DatasetError {
            unlink(temporary)
            throw KerasError(error.description.replacingOccurrences(of: temporary, with: path))
        } catch {
            unlink(temporary)
            throw error
        }
    }

    static func tensorBytes(_ spec: KerasModelSpec, _ w: WeightSpec, _ parameters: UnsafeRawBufferPointer) throws -> UnsafeRawBufferPointer {
        guard let info = spec.tensor(named: w.name) else {
            throw KerasError("model '\(spec.name)': tensor '\(w.name)' of its description is not in its manifest")
        }
        let start = info.offset * spec.scalarSize
        return UnsafeRawBufferPointer(rebasing: parameters[start..<start + info.count * spec.scalarSize])
    }

    static func writeModel(_ tree: HDF5Writer.Tree, spec: KerasModelSpec, parameters: UnsafeRawBufferPointer,
                           modelName: String) throws {
        let network = spec.network
        try tree.setAttribute("/", "backend", string: backend)
        try tree.setAttribute("/", "keras_version", string: kerasVersion)
        try tree.setAttribute("/", "model_config", string: KerasModelConfig.json(spec, modelName: modelName))
        try tree.createGroup("model_weights")
        let order = network.kerasLayerOrder
        try tree.setAttribute("model_weights", "layer_names", strings: order.map { network.layers[$0].name })
        try tree.setAttribute("model_weights", "backend", string: backend)
        try tree.setAttribute("model_weights", "keras_version", string: kerasVersion)
        for index in order {
            let layer = network.layers[index]
            let group = "model_weights/\(layer.name)"
            try tree.createGroup(group)
            let weights = network.weights(of: index)
            try tree.setAttribute(group, "weight_names", strings: weights.map(\.name))
            for w in weights {
                try tree.writeDataset("\(group)/\(w.name)", shape: w.shape, dtype: spec.dtype,
                                      bytes: try tensorBytes(spec, w, parameters))
            }
        }
        try tree.createGroup("model_weights/top_level_model_weights")
        try tree.setAttribute("model_weights/top_level_model_weights", "weight_names", strings: [])
    }

    /// Keras' `to_snake_case` of the layer classes a description can have.
    static func snakeCase(_ className: String) -> String {
        switch className {
        case "InputLayer": "input_layer"
        case "ZeroPadding2D": "zero_padding2d"
        case "Conv2D": "conv2d"
        case "BatchNormalization": "batch_normalization"
        case "MaxPooling2D": "max_pooling2d"
        case "AveragePooling2D": "average_pooling2d"
        default: className.lowercased()  // Activation, Add, Flatten, Dense
        }
    }

    static func writeWeights(_ tree: HDF5Writer.Tree, spec: KerasModelSpec, parameters: UnsafeRawBufferPointer,
                             modelName: String) throws {
        let network = spec.network
        var used: [String: Int] = [:]
        for index in network.kerasLayerOrder {
            let layer = network.layers[index]
            let base = snakeCase(layer.kind.kerasClass)
            let n = used[base, default: 0]
            used[base] = n + 1
            let vars = "layers/\(n == 0 ? base : "\(base)_\(n)")/vars"
            try tree.createGroup(vars)
            try tree.setAttribute(vars, "name", string: layer.name)
            for (i, w) in network.weights(of: index).enumerated() {
                try tree.writeDataset("\(vars)/\(i)", shape: w.shape, dtype: spec.dtype,
                                      bytes: try tensorBytes(spec, w, parameters))
            }
        }
        try tree.createGroup("vars")
        try tree.setAttribute("vars", "name", string: modelName)
    }
}
