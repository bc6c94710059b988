/// The `model_config` JSON of a Keras 3 functional model as Keras 3.15 writes it into a legacy
/// HDF5 file (`model.save("x.h5")`), generated from the parsed description: the same layer
/// names, classes and arguments Keras writes for the notebooks' model (`Conv2D` with
/// `GlorotUniform(seed=0)` and a bias, `BatchNormalization(axis=3)` with momentum 0.99 and
/// epsilon 0.001, `Activation("relu")`, …), and each layer's inbound node as the Keras tensors
/// it is called on. Checked key for key against the file Keras writes for the tiny model.
import NetSpec

public enum KerasModelConfig {
    /// `model_config` text for `spec` (what `keras.models.load_model` rebuilds the model from).
    public static func json(_ spec: KerasModelSpec, modelName: String) -> String {
        config(spec, modelName: modelName).text
    }

    static func policy(_ dtype: String) -> JSONValue {
        .object([("module", .string("keras")), ("class_name", .string("DTypePolicy")),
                 ("config", .object([("name", .string(dtype))])), ("registered_name", .null)])
    }

    static func initializer(_ className: String, _ config: [(String, JSONValue)] = []) -> JSONValue {
        // Legacy HDF5 configs keep the module/registered_name only on nested objects.
        .object([("module", .string("keras.initializers")), ("class_name", .string(className)),
                 ("config", .object(config)), ("registered_name", .null)])
    }

    static func shape(_ s: [Int]) -> JSONValue { .array([.null] + s.map { .int($0) }) }
    static func pair(_ p: (Int, Int)) -> JSONValue { .array([.int(p.0), .int(p.1)]) }

    static func config(_ spec: KerasModelSpec, modelName: String) -> JSONValue {
        let network = spec.network
        let dtype = spec.dtype
        func tensor(_ index: Int) -> JSONValue {
            .object([("class_name", .string("__keras_tensor__")),
                     ("config", .object([("shape", shape(network.layers[index].shape)), ("dtype", .string(dtype)),
                                         ("keras_history", .array([.string(network.layers[index].name), .int(0), .int(0)]))]))])
        }
        var layers: [JSONValue] = []
        for layer in network.kerasLayerOrder.map({ network.layers[$0] }) {
            if case .input = layer.kind {
                layers.append(.object([
                    ("class_name", .string("InputLayer")),
                    ("config", .object([("batch_shape", shape(layer.shape)), ("dtype", .string(dtype)),
                                        ("sparse", .bool(false)), ("ragged", .bool(false)), ("name", .string(layer.name)),
                                        ("optional", .bool(false))])),
                    ("name", .string(layer.name)), ("inbound_nodes", .array([])),
                ]))
                continue
            }
            var c: [(String, JSONValue)] = [("name", .string(layer.name)), ("trainable", .bool(true)), ("dtype", policy(dtype))]
            let glorot = initializer("GlorotUniform", [("seed", .int(0)), ("input_axes", .null), ("output_axes", .null)])
            var kwargs: [(String, JSONValue)] = []
            switch layer.kind {
            case .input: break
            case let .zeroPad(p):
                c += [("padding", .array([pair((p.top, p.bottom)), pair((p.left, p.right))])),
                      ("data_format", .string("channels_last"))]
            case let .conv2d(filters, kernel, stride, padding, bias):
                c += [("filters", .int(filters)), ("kernel_size", pair(kernel)), ("strides", pair(stride)),
                      ("padding", .string(padding.rawValue)), ("data_format", .string("channels_last")),
                      ("dilation_rate", pair((1, 1))), ("groups", .int(1)), ("activation", .string("linear")),
                      ("use_bias", .bool(bias)), ("kernel_initializer", glorot), ("bias_initializer", initializer("Zeros")),
                      ("kernel_regularizer", .null), ("bias_regularizer", .null), ("activity_regularizer", .null),
                      ("kernel_constraint", .null), ("bias_constraint", .null)]
            case let .batchNorm(momentum, epsilon):
                c += [("axis", .int(3)), ("momentum", .double(momentum)), ("epsilon", .double(epsilon)),
                      ("center", .bool(true)), ("scale", .bool(true)),
                      ("beta_initializer", initializer("Zeros")), ("gamma_initializer", initializer("Ones")),
                      ("moving_mean_initializer", initializer("Zeros")), ("moving_variance_initializer", initializer("Ones")),
                      ("beta_regularizer", .null), ("gamma_regularizer", .null),
                      ("beta_constraint", .null), ("gamma_constraint", .null), ("synchronized", .bool(false)),
                      ("renorm", .bool(false)), ("renorm_clipping", .null), ("renorm_momentum", .double(0.99))]
                kwargs = [("mask", .null)]
            case .relu:
                c += [("activation", .string("relu"))]
            case .add:
                break
            case let .maxPool(pool, stride), let .avgPool(pool, stride):
                c += [("pool_size", pair(pool)), ("padding", .string("valid")), ("strides", pair(stride)),
                      ("data_format", .string("channels_last"))]
            case .flatten:
                c += [("data_format", .string("channels_last"))]
            case let .dense(units, softmax):
                c += [("units", .int(units)), ("activation", .string(softmax ? "softmax" : "linear")), ("use_bias", .bool(true)),
                      ("kernel_initializer", glorot), ("bias_initializer", initializer("Zeros")),
                      ("kernel_regularizer", .null), ("bias_regularizer", .null),
                      ("kernel_constraint", .null), ("bias_constraint", .null), ("quantization_config", .null)]
            }
            let inputs = layer.inputs.map { tensor($0) }
            let args: JSONValue = inputs.count == 1 ? .array(inputs) : .array([.array(inputs)])
            layers.append(.object([
                ("class_name", .string(layer.kind.kerasClass)), ("config", .object(c)), ("name", .string(layer.name)),
                ("inbound_nodes", .array([.object([("args", args), ("kwargs", .object(kwargs))])])),
            ]))
        }
        let input = network.layers[0].name, output = network.layers[network.output].name
        return .object([
            ("class_name", .string("Functional")),
            ("config", .object([
                ("name", .string(modelName)), ("trainable", .bool(true)), ("layers", .array(layers)),
                ("input_layers", .array([.string(input), .int(0), .int(0)])),
                ("output_layers", .array([.string(output), .int(0), .int(0)])),
            ])),
        ])
    }
}
