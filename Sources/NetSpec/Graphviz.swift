/// The network as a Graphviz DOT graph, like Keras' `plot_model(model, show_shapes=True)`: one
/// node per layer (name, Keras class, output shape, parameter count), one edge per layer input.
/// Shortcut edges — from a layer that feeds several others to one that is not its successor in
/// the layer order (the skip of an identity block, the projection branch of a convolutional
/// block) — are drawn bold and coloured so the residual structure stands out.

public enum GraphvizDOT {
    /// Whether the edge `source → target` skips ahead from a fork (a residual/shortcut edge).
    public static func isShortcut(_ network: Network, from source: Int, to target: Int) -> Bool {
        network.consumers(of: source).count > 1 && target != source + 1
    }

    public static func render(_ network: Network, rankdir: String = "TB") -> String {
        func quoted(_ s: String) -> String {
            var out = "\""
            for ch in s {
                if ch == "\"" || ch == "\\" { out.append("\\") }
                out.append(ch)
            }
            return out + "\""
        }
        func recordText(_ s: String) -> String {
            var out = ""
            for ch in s {
                if "{}|<>\"\\".contains(ch) { out.append("\\") }
                out.append(ch)
            }
            return out
        }
        var lines = [
            "digraph \(quoted(network.name)) {",
            "  graph [rankdir=\(rankdir), label=\(quoted("\(network.name): \(ModelSummary.group(network.totalParameters)) params")), labelloc=t, fontname=\"Helvetica\"];",
            "  node [shape=record, fontname=\"Helvetica\", fontsize=10];",
            "  edge [color=\"#555555\"];",
        ]
        for (i, layer) in network.layers.enumerated() {
            let shape = "(None, " + layer.shape.map(String.init).joined(separator: ", ") + ")"
            let label = "{\(recordText(layer.name)) (\(layer.kind.kerasClass))|output: \(recordText(shape))|params: \(ModelSummary.group(network.parameterCount(of: i)))}"
            // The record label is already escaped for records (which also covers quotes).
            lines.append("  \(quoted(layer.name)) [label=\"\(label)\"];")
        }
        for (i, layer) in network.layers.enumerated() {
            for source in layer.inputs {
                let style = isShortcut(network, from: source, to: i) ? " [color=\"#d62728\", penwidth=2.5, style=bold]" : ""
                lines.append("  \(quoted(network.layers[source].name)) -> \(quoted(layer.name))\(style);")
            }
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }
}
