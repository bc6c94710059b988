import Foundation
@testable import NetSpec
import XCTest

/// The committed descriptions load, and resnet50-signs is layer for layer the Keras model of the
/// course notebook (fixture written by Scripts/export_keras_fixtures.py with Keras 3.15).
final class ModelDescriptionTests: XCTestCase {
    struct KerasLayer: Decodable {
        var name: String
        var `class`: String
        var output_shape: [Int]
        var params: Int
    }

    func kerasLayers() throws -> [KerasLayer] {
        let url = PackagePaths.fixtures.appendingPathComponent("keras-resnet50-signs-shapes.json")
        return try JSONDecoder().decode([KerasLayer].self, from: Data(contentsOf: url))
    }

    func testResNet50SignsParameterTotalsMatchKeras() throws {
        let network = try loadModel("resnet50-signs")
        XCTAssertEqual(network.name, "resnet50-signs")
        XCTAssertEqual(network.inputShape, [64, 64, 3])
        XCTAssertEqual(network.classes, 6)
        XCTAssertEqual(network.dtypes, [.float32])
        XCTAssertEqual(network.totalParameters, 23_600_006)
        XCTAssertEqual(network.trainableParameters, 23_546_886)
        XCTAssertEqual(network.nonTrainableParameters, 53_120)
        // The same totals summed from the per-layer counts.
        XCTAssertEqual(network.layers.indices.reduce(0) { $0 + network.parameterCount(of: $1) }, 23_600_006)
    }

    func testResNet50SignsEveryLayerMatchesTheKerasFixture() throws {
        let network = try loadModel("resnet50-signs")
        let keras = try kerasLayers()
        XCTAssertEqual(keras.count, 177, "fixture changed?")
        XCTAssertEqual(network.layers.count, keras.count, "layer count differs from Keras")
        XCTAssertEqual(network.layers.first?.name, "input_layer")

        var ours: [String: Int] = [:]
        for (i, layer) in network.layers.enumerated() {
            XCTAssertNil(ours[layer.name], "duplicate layer name \(layer.name)")
            ours[layer.name] = i
        }
        for k in keras {
            guard let i = ours[k.name] else {
                XCTFail("Keras layer '\(k.name)' (\(k.class)) has no counterpart in resnet50-signs.arch")
                continue
            }
            let layer = network.layers[i]
            XCTAssertEqual(layer.kind.kerasClass, k.class, "class of \(k.name)")
            XCTAssertEqual(layer.shape, k.output_shape, "output shape of \(k.name)")
            XCTAssertEqual(network.parameterCount(of: i), k.params, "params of \(k.name)")
        }
        let kerasNames = Set(keras.map(\.name))
        for layer in network.layers where !kerasNames.contains(layer.name) {
            XCTFail("layer '\(layer.name)' (\(layer.kind.kerasClass)) is not in the Keras model")
        }
        // Auto names are assigned in creation order, as Keras does: activation, activation_1, … and add, add_1, ….
        let activations = network.layers.filter { $0.kind == .relu }.map(\.name)
        XCTAssertEqual(activations, ["activation"] + (1..<49).map { "activation_\($0)" })
        let adds = network.layers.filter { $0.kind == .add }.map(\.name)
        XCTAssertEqual(adds, ["add"] + (1..<16).map { "add_\($0)" })
    }

    /// Keras lists layers in a topological order too (it differs from ours only where branches are
    /// independent); ours must be topological: every input precedes its consumer.
    func testLayersAreInTopologicalOrderWithResolvedInputs() throws {
        for name in ["resnet50-signs", "resnet50-imagenet", "tiny"] {
            let network = try loadModel(name)
            XCTAssertEqual(network.layers[0].kind, .input, name)
            XCTAssertTrue(network.layers[0].inputs.isEmpty)
            for (i, layer) in network.layers.enumerated().dropFirst() {
                XCTAssertFalse(layer.inputs.isEmpty, "\(name): \(layer.name) has no input")
                for j in layer.inputs { XCTAssertLessThan(j, i, "\(name): \(layer.name) reads a later layer") }
                XCTAssertEqual(layer.inputs.count, layer.kind == .add ? 2 : 1, "\(name): \(layer.name)")
            }
        }
    }

    func testResNet50SignsConnectivityOfTheFirstBlock() throws {
        let network = try loadModel("resnet50-signs")
        func inputs(_ name: String) throws -> [String] {
            let layer = try XCTUnwrap(network.layers.first { $0.name == name }, name)
            return layer.inputs.map { network.layers[$0].name }
        }
        XCTAssertEqual(try inputs("zero_padding2d"), ["input_layer"])
        XCTAssertEqual(try inputs("res2a_branch1"), ["max_pooling2d"])     // $input of the first block
        XCTAssertEqual(try inputs("add"), ["bn2a_branch2c", "bn2a_branch1"])
        XCTAssertEqual(try inputs("activation_3"), ["add"])
        XCTAssertEqual(try inputs("add_1"), ["bn2b_branch2c", "activation_3"]) // identity shortcut
        XCTAssertEqual(try inputs("fc6"), ["flatten"])
        let conv1 = try XCTUnwrap(network.layers.first { $0.name == "conv1" })
        XCTAssertEqual(conv1.location, SourceLocation(file: PackagePaths.model("resnet50-signs").path, line: 43, column: 1))
        XCTAssertNil(conv1.useSite)
        let inBlock = try XCTUnwrap(network.layers.first { $0.name == "res3b_branch2b" })
        XCTAssertEqual(inBlock.location.line, 16, "template body line")
        XCTAssertEqual(inBlock.useSite?.line, 53, "the use line of stage 3 block b")
        XCTAssertEqual(inBlock.pads, Pads(top: 1, bottom: 1, left: 1, right: 1))
    }

    func testImageNetDescriptionLoads() throws {
        let network = try loadModel("resnet50-imagenet")
        XCTAssertEqual(network.name, "resnet50-imagenet")
        XCTAssertEqual(network.inputShape, [224, 224, 3])
        XCTAssertEqual(network.classes, 1000)
        XCTAssertEqual(network.layers.last?.shape, [1000])
        XCTAssertEqual(network.layers.last?.name, "softmax")
        // Keras' ResNet50(weights=None, classes=1000) with a 2×2 average pool (7×7 → 3×3) head.
        XCTAssertEqual(network.layers.first { $0.name == "avg_pooling" }?.shape, [3, 3, 2048])
        XCTAssertEqual(network.nonTrainableParameters, 53_120)
        XCTAssertEqual(network.totalParameters - network.parameterCount(of: network.output),
                       23_600_006 - 12_294, "the backbone is the same as resnet50-signs'")
    }

    func testTinyDescriptionLoadsWithBothDTypes() throws {
        let network = try loadModel("tiny")
        XCTAssertEqual(network.name, "tiny")
        XCTAssertEqual(network.dtypes, [.float32, .float64])
        XCTAssertEqual(network.inputShape, [16, 16, 3])
        XCTAssertEqual(network.layers.last?.shape, [6])
        // Even kernel with 'same' padding: Keras puts the extra row/column at the bottom/right.
        let even = try XCTUnwrap(network.layers.first { $0.name == "res2b_branch2b" })
        XCTAssertEqual(even.pads, Pads(top: 0, bottom: 1, left: 0, right: 1))
        XCTAssertEqual(even.shape, [7, 7, 4])
        XCTAssertEqual(network.layers.first { $0.name == "avg_pool" }?.shape, [2, 2, 32])
    }

    func testSHA256OfTheDescriptionText() throws {
        let url = PackagePaths.model("tiny")
        let text = try String(contentsOf: url, encoding: .utf8)
        let network = try NetSpecLoader.load(text: text, file: "anything.arch")
        XCTAssertEqual(network.sha256, try loadModel("tiny").sha256)
        XCTAssertEqual(network.sha256.count, 64)
        let edited = try NetSpecLoader.load(text: text + "\n# comment\n", file: "anything.arch")
        XCTAssertNotEqual(edited.sha256, network.sha256)
    }
}
