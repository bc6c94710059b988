/// `plot-model`'s DOT: parsed back, every layer is a node with Keras' class, output shape and
/// parameter count, edges equal the sum of the layers' inputs, and each residual block has
/// exactly one highlighted shortcut edge.
import Foundation
@testable import NetSpec
import XCTest

final class GraphvizTests: XCTestCase {
    struct Parsed {
        var nodes: [String: String] = [:]   // name → label
        var edges: [(String, String, shortcut: Bool)] = []
    }

    /// A small parser for the subset of DOT the renderer writes: `"a" [label="…"];` and `"a" -> "b" […];`.
    static func parse(_ dot: String) -> Parsed {
        var parsed = Parsed()
        for raw in dot.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard line.hasPrefix("\"") else { continue }
            let parts = line.components(separatedBy: "\"")
            // parts: ["", a, " -> ", b, …] or ["", a, " [label=", label, "];"]
            if parts.count >= 4, parts[2] == " -> " {
                parsed.edges.append((parts[1], parts[3], line.contains("penwidth")))
            } else if parts.count >= 4, parts[2] == " [label=" {
                parsed.nodes[parts[1]] = parts[3]
            }
        }
        return parsed
    }

    func testResNet50GraphHasEveryLayerAndInput() throws {
        let network = try loadModel("resnet50-signs")
        let dot = GraphvizDOT.render(network)
        XCTAssertTrue(dot.hasPrefix("digraph \"resnet50-signs\" {"))
        let parsed = Self.parse(dot)
        XCTAssertEqual(parsed.nodes.count, network.layers.count)
        XCTAssertEqual(parsed.edges.count, network.layers.reduce(0) { $0 + $1.inputs.count })
        for (i, layer) in network.layers.enumerated() {
            let label = try XCTUnwrap(parsed.nodes[layer.name], layer.name)
            XCTAssertTrue(label.hasPrefix("{\(layer.name) (\(layer.kind.kerasClass))|"), label)
            XCTAssertTrue(label.contains("output: (None, " + layer.shape.map(String.init).joined(separator: ", ") + ")"), label)
            XCTAssertTrue(label.contains("params: \(ModelSummary.group(network.parameterCount(of: i)))}"), label)
        }
        for (a, b, _) in parsed.edges {
            XCTAssertNotNil(parsed.nodes[a]); XCTAssertNotNil(parsed.nodes[b])
        }
        // ResNet-50 has 16 residual blocks (3 + 4 + 6 + 3): one shortcut edge each.
        XCTAssertEqual(parsed.edges.filter(\.shortcut).count, 16)
        XCTAssertTrue(parsed.nodes["conv1"]!.contains("params: 9,472"))
        XCTAssertTrue(parsed.nodes["fc6"]!.contains("output: (None, 6)"))
    }
}
