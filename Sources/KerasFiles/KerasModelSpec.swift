/// What the Keras file code needs to know about one generated model: its name, its parsed
/// description (layers with names, kinds, shapes, inputs) and its weight manifest.
import Kernels
import NetSpec

public struct KerasError: Error, CustomStringConvertible, Equatable, Sendable {
    public var description: String
    public init(_ description: String) {
        self.description = description.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}

public struct KerasModelSpec: Sendable {
    /// The registry name (`tiny`, `tiny-float64`, `resnet50-signs`).
    public var name: String
    /// The description's model name (`tiny` for both dtypes).
    public var modelName: String
    /// `float32` or `float64`.
    public var dtype: String
    public var network: Network
    /// The generated model's parameter block: tensors at element offsets.
    public var tensors: [TensorInfo]
    public var parameterCount: Int

    public var scalarSize: Int { dtype == "float64" ? 8 : 4 }
    public var parameterByteCount: Int { parameterCount * scalarSize }

    public init(name: String, modelName: String, dtype: String, network: Network, tensors: [TensorInfo], parameterCount: Int) {
        self.name = name; self.modelName = modelName; self.dtype = dtype; self.network = network
        self.tensors = tensors; self.parameterCount = parameterCount
    }

    /// Parses `descriptionText` (the text a generated type carries).
    public init(name: String, dtype: String, descriptionText: String, tensors: [TensorInfo], parameterCount: Int) throws {
        let network = try NetSpecLoader.load(text: descriptionText, file: "\(name).arch")
        self.init(name: name, modelName: network.name, dtype: dtype, network: network, tensors: tensors,
                  parameterCount: parameterCount)
    }

    /// Layers that have weights, in the description's order, with their weights in Keras' order.
    public var weightedLayers: [(layer: Layer, weights: [WeightSpec])] {
        network.layers.indices.compactMap { i in
            let w = network.weights(of: i)
            return w.isEmpty ? nil : (network.layers[i], w)
        }
    }

    public func tensor(named name: String) -> TensorInfo? { tensors.first { $0.name == name } }
}

/// `(7, 7, 3, 64)` / `(6,)`, as numpy prints shapes.
func shapeText(_ shape: [Int]) -> String {
    shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
}

extension Network {
    /// Layer indices in Keras' `model.layers` order for the functional model built from this
    /// description (`keras.src.ops.function.map_graph`): by depth (longest path to the output)
    /// from the deepest, ties in the order a depth-first walk from the output first reaches
    /// them. Keras' legacy HDF5 loader pairs the layers with weights by this order, not by name,
    /// and Keras 3 keys `.weights.h5` groups by it.
    public var kerasLayerOrder: [Int] {
        var visit: [Int: Int] = [:]
        var stack = [output]
        // Pre-order DFS, inputs in call order (iterative: ResNet-50 is ~180 layers deep).
        while let i = stack.popLast() {
            if visit[i] != nil { continue }
            visit[i] = visit.count
            for j in layers[i].inputs.reversed() where visit[j] == nil { stack.append(j) }
        }
        var depth = [Int](repeating: 0, count: layers.count)
        for i in layers.indices.reversed() {
            for j in layers[i].inputs { depth[j] = max(depth[j], depth[i] + 1) }
        }
        return layers.indices.filter { visit[$0] != nil }.sorted {
            depth[$0] != depth[$1] ? depth[$0] > depth[$1] : visit[$0]! < visit[$1]!
        }
    }
}
