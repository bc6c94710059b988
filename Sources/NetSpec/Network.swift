/// The validated network: a DAG of layers in topological order with every shape inferred.
///
/// This is what the emitter consumes. Shapes exclude the batch dimension, which is the only
/// dynamic size at run time (`count ≤ capacity`).

public enum DType: String, Sendable, CaseIterable {
    case float32, float64
    public var swiftType: String { self == .float32 ? "Float" : "Double" }
    public var byteSize: Int { self == .float32 ? 4 : 8 }
}

public enum Padding: String, Sendable { case valid, same }

/// Padding actually applied on each side (Keras puts the odd extra pixel of 'same' at the bottom/right).
public struct Pads: Hashable, Sendable {
    public var top = 0, bottom = 0, left = 0, right = 0
    public init(top: Int = 0, bottom: Int = 0, left: Int = 0, right: Int = 0) {
        self.top = top; self.bottom = bottom; self.left = left; self.right = right
    }
    public var isZero: Bool { top == 0 && bottom == 0 && left == 0 && right == 0 }
}

public enum LayerKind: Hashable, Sendable {
    case input
    case zeroPad(Pads)
    case conv2d(filters: Int, kernel: (Int, Int), stride: (Int, Int), padding: Padding, bias: Bool)
    case batchNorm(momentum: Double, epsilon: Double)
    case relu
    case add
    case maxPool(pool: (Int, Int), stride: (Int, Int))
    case avgPool(pool: (Int, Int), stride: (Int, Int))
    case flatten
    case dense(units: Int, softmax: Bool)

    public static func == (a: LayerKind, b: LayerKind) -> Bool { String(describing: a) == String(describing: b) }
    public func hash(into h: inout Hasher) { h.combine(String(describing: self)) }

    /// The Keras class this layer corresponds to (shown by `summary`).
    public var kerasClass: String {
        switch self {
        case .input: "InputLayer"
        case .zeroPad: "ZeroPadding2D"
        case .conv2d: "Conv2D"
        case .batchNorm: "BatchNormalization"
        case .relu: "Activation"
        case .add: "Add"
        case .maxPool: "MaxPooling2D"
        case .avgPool: "AveragePooling2D"
        case .flatten: "Flatten"
        case .dense: "Dense"
        }
    }
}

/// One weight tensor of a layer, named as Keras names it (`conv1/kernel`, `bn_conv1/moving_mean`).
public struct WeightSpec: Hashable, Sendable {
    public enum Role: String, Sendable { case kernel, bias, gamma, beta, movingMean = "moving_mean", movingVariance = "moving_variance" }
    public var layer: String
    public var role: Role
    public var shape: [Int]
    public var trainable: Bool { role != .movingMean && role != .movingVariance }
    public var name: String { "\(layer)/\(role.rawValue)" }
    public var count: Int { shape.reduce(1, *) }
}

public struct Layer: Sendable {
    public var name: String
    public var kind: LayerKind
    /// Indices into `Network.layers` of this layer's inputs.
    public var inputs: [Int]
    public var location: SourceLocation
    /// `use` line that instantiated the template this layer comes from, if any.
    public var useSite: SourceLocation?
    /// Output shape without the batch dimension: [H, W, C] or [features].
    public var shape: [Int]
    /// Padding applied by conv (same) and zero-pad layers.
    public var pads = Pads()

    public var elementCount: Int { shape.reduce(1, *) }
}

public struct Network: Sendable {
    public var name: String
    public var file: String
    /// SHA-256 of the description text; recorded with every run.
    public var sha256: String
    public var inputShape: [Int]
    public var classes: Int
    public var capacity: Int
    public var dtypes: [DType]
    /// Topological order; `layers[0]` is the input.
    public var layers: [Layer]

    public var output: Int { layers.count - 1 }

    public func consumers(of index: Int) -> [Int] {
        layers.indices.filter { layers[$0].inputs.contains(index) }
    }

    /// Weight tensors of one layer, in Keras' order.
    public func weights(of index: Int) -> [WeightSpec] {
        let layer = layers[index]
        let inShape = layer.inputs.first.map { layers[$0].shape }
        return Network.weights(of: layer, inputShape: inShape)
    }

    static func weights(of layer: Layer, inputShape: [Int]?) -> [WeightSpec] {
        switch layer.kind {
        case let .conv2d(filters, kernel, _, _, bias):
            let cin = inputShape?.last ?? 0
            var w = [WeightSpec(layer: layer.name, role: .kernel, shape: [kernel.0, kernel.1, cin, filters])]
            if bias { w.append(WeightSpec(layer: layer.name, role: .bias, shape: [filters])) }
            return w
        case .batchNorm:
            let c = layer.shape.last!
            return [.gamma, .beta, .movingMean, .movingVariance].map { WeightSpec(layer: layer.name, role: $0, shape: [c]) }
        case let .dense(units, _):
            let fin = inputShape?.last ?? 0
            return [WeightSpec(layer: layer.name, role: .kernel, shape: [fin, units]),
                    WeightSpec(layer: layer.name, role: .bias, shape: [units])]
        default:
            return []
        }
    }

    /// All weights in layer order.
    public var allWeights: [WeightSpec] { layers.indices.flatMap { weights(of: $0) } }

    public func parameterCount(of index: Int) -> Int { weights(of: index).reduce(0) { $0 + $1.count } }
    public var totalParameters: Int { allWeights.reduce(0) { $0 + $1.count } }
    public var trainableParameters: Int { allWeights.filter(\.trainable).reduce(0) { $0 + $1.count } }
    public var nonTrainableParameters: Int { totalParameters - trainableParameters }

    /// Forward floating-point operations per sample of one layer (a multiply-add counts 2).
    public func forwardFLOPs(of index: Int) -> Int {
        let layer = layers[index]
        switch layer.kind {
        case let .conv2d(filters, kernel, _, _, _):
            let cin = layers[layer.inputs[0]].shape[2]
            return 2 * layer.shape[0] * layer.shape[1] * kernel.0 * kernel.1 * cin * filters
        case let .dense(units, _):
            return 2 * layers[layer.inputs[0]].shape[0] * units
        case .batchNorm: return 4 * layer.elementCount
        case .relu, .add: return layer.elementCount
        case let .maxPool(pool, _), let .avgPool(pool, _): return layer.elementCount * pool.0 * pool.1
        default: return 0
        }
    }

    public var forwardFLOPsPerSample: Int { layers.indices.reduce(0) { $0 + forwardFLOPs(of: $1) } }
    /// Forward + backward ≈ 3 × forward for the GEMM-dominated layers (backward computes dW and dX).
}
