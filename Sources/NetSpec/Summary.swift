/// Keras-style `model.summary()` text for a network, plus FLOP and memory totals.

public enum ModelSummary {
    static func group(_ v: Int) -> String {
        var s = String(v), out = ""
        while s.count > 3 { out = "," + s.suffix(3) + out; s.removeLast(3) }
        return s + out
    }

    /// Keras' `readable_memory_size`: divide by 1024 until below 1024, then `"{:.2f} {unit}"`
    /// (rounded, not truncated: 94,400,024 bytes is "90.03 MB", 212,480 bytes "207.50 KB").
    static func megabytes(_ bytes: Int) -> String {
        var size = Double(bytes)
        var unit = "B"
        for next in ["KB", "MB", "GB", "TB", "PB"] where size / 1024 >= 1 {
            size /= 1024
            unit = next
        }
        let cents = Int((size * 100).rounded())
        let fraction = cents % 100
        return "\(cents / 100).\(fraction < 10 ? "0" : "")\(fraction) \(unit)"
    }

    static func pad(_ s: String, _ w: Int, right: Bool = false) -> String {
        let n = s.count
        guard n < w else { return s }
        return right ? String(repeating: " ", count: w - n) + s : s + String(repeating: " ", count: w - n)
    }

    public static func render(_ network: Network, arenaBytes: Int? = nil, dtype: String? = nil) -> String {
        let widths = [42, 22, 12, 40]
        var lines: [String] = []
        let rule = String(repeating: "─", count: widths.reduce(0, +) + 3)
        lines.append("Model: \"\(network.name)\"")
        lines.append(rule)
        lines.append(pad("Layer (type)", widths[0]) + " " + pad("Output Shape", widths[1]) + " " + pad("Param #", widths[2], right: true) + " " + "Connected to")
        lines.append(String(repeating: "═", count: rule.count))
        for (i, layer) in network.layers.enumerated() {
            let name = "\(layer.name) (\(layer.kind.kerasClass))"
            let shape = "(None, " + layer.shape.map(String.init).joined(separator: ", ") + ")"
            let connected = layer.inputs.map { network.layers[$0].name + "[0][0]" }
            let params = group(network.parameterCount(of: i))
            lines.append(pad(name, widths[0]) + " " + pad(shape, widths[1]) + " " + pad(params, widths[2], right: true) + " " + (connected.first ?? "-"))
            for extra in connected.dropFirst() {
                lines.append(String(repeating: " ", count: widths[0] + widths[1] + widths[2] + 3) + extra)
            }
        }
        lines.append(rule)
        let scalar = network.dtypes.first == .float64 ? 8 : 4
        lines.append(" Total params: \(group(network.totalParameters)) (\(megabytes(network.totalParameters * scalar)))")
        lines.append(" Trainable params: \(group(network.trainableParameters)) (\(megabytes(network.trainableParameters * scalar)))")
        lines.append(" Non-trainable params: \(group(network.nonTrainableParameters)) (\(megabytes(network.nonTrainableParameters * scalar)))")
        lines.append(rule)
        let flops = Double(network.forwardFLOPsPerSample)
        lines.append(" Forward: \(Double(Int(flops / 1e7)) / 100) GFLOP per sample; a training step ≈ 3× forward")
        if let arenaBytes {
            lines.append(" Arena (\(dtype ?? "float32"), batch capacity \(network.capacity)): \(megabytes(arenaBytes)) — every buffer of a training step, allocated once")
        }
        return lines.joined(separator: "\n")
    }
}
