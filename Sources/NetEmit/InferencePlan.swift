/// Inference plan: the same network lowered for prediction only.
///
/// * Batch norm after a convolution is folded into it when weights are loaded: W' = W·s,
///   b' = (b − μ)·s + β with s = γ/√(σ² + ε), computed in place (the kernel over the convolution's
///   kernel, the bias over the BN's β), so the folded model keeps the training parameter layout.
/// * The output pass of a convolution also adds a residual and applies the ReLU that follow it (the
///   add is fused into whichever of its two convolutions runs last).
/// * A zero-padding layer that feeds only a convolution becomes that convolution's padding.
/// * Activations live in a few ping-pong slots assigned by liveness; nothing is kept for backward,
///   and there are no gradients, no Adam moments, no argmax.
import LayerGeometry
import NetSpec

public struct InferencePlan {
    public enum Value: Hashable, Sendable { case input, logits, slot(Int) }

    public enum Operation: Hashable, Sendable {
        /// Convolution, bias (folded or its own, if any), optional residual (`inputs[1]`), optional ReLU.
        case conv(ConvGeometry, bias: Bias, residual: Bool, relu: Bool)
        /// A batch norm that does not follow a convolution: per-channel scale and shift (folded into γ, β).
        case scaleShift(rowsPerSample: Int, channels: Int, relu: Bool)
        case zeroPad(PadGeometry)
        case relu(elementsPerSample: Int)
        case add(elementsPerSample: Int, relu: Bool)
        case maxPool(PoolGeometry)
        case avgPool(PoolGeometry)
        case dense(inputs: Int, outputs: Int, softmax: Bool)
    }

    /// Where a convolution's bias comes from after folding.
    public enum Bias: Hashable, Sendable {
        case none
        /// The convolution's own bias (no batch norm folded into it).
        case own
        /// The folded bias, stored over this batch norm layer's β.
        case foldedInto(batchNorm: Int)
    }

    /// One kernel call; `layers` are the description layers it computes (for the comment).
    public struct Step: Hashable, Sendable {
        public var layers: [Int]
        public var operation: Operation
        public var inputs: [Value]
        /// The description layers whose values `inputs` hold.
        public var inputLayers: [Int]
        public var output: Value
    }

    /// A fold done when weights are loaded.
    public enum Fold: Hashable, Sendable {
        /// Batch norm `batchNorm` into convolution `conv` (kernel in place, bias into β).
        case convBatchNorm(conv: Int, batchNorm: Int, patch: Int, channels: Int, epsilon: Double)
        /// A stand-alone batch norm: γ ← s, β ← β − μ·s.
        case scaleShift(batchNorm: Int, channels: Int, epsilon: Double)
    }

    public let network: Network
    public let scalarSize: Int
    public private(set) var steps: [Step] = []
    public private(set) var folds: [Fold] = []
    public private(set) var slotCount = 0
    public private(set) var slotElements = 0
    public private(set) var workspaceElements = 0
    /// The training plan's parameter block (same tensors, same offsets).
    public let parameterCount: Int
    public private(set) var regions: [(name: String, offset: Int, bytes: Int, purpose: String)] = []
    public private(set) var arenaBytes = 0

    public init(network: Network, dtype: DType, parameterCount: Int) {
        self.network = network
        scalarSize = dtype.byteSize
        self.parameterCount = parameterCount
        build()
    }

    mutating func build() {
        let layers = network.layers
        let final = layers.count - 1
        func soleConsumer(_ i: Int) -> Int? { let c = network.consumers(of: i); return c.count == 1 ? c[0] : nil }

        // 1. Group description layers into steps. `producedBy[l]` is the step whose output is layer l's value.
        var producedBy = [Int?](repeating: nil, count: layers.count)
        var absorbed = Set<Int>()
        var pendingPad: [Int: PadGeometry] = [:]   // conv layer → the zero-pad folded into it
        var groups: [(layers: [Int], op: Operation, inputs: [Int])] = []   // inputs by layer index
        for i in layers.indices.dropFirst() where !absorbed.contains(i) {
            let l = layers[i]
            let x = l.inputs.first.map { layers[$0].shape } ?? []
            switch l.kind {
            case .input:
                continue
            case .flatten:
                producedBy[i] = producedBy[l.inputs[0]]
                continue
            case let .zeroPad(p):
                let pad = PadGeometry(height: x[0], width: x[1], channels: x[2], top: p.top, bottom: p.bottom, left: p.left, right: p.right)
                if let c = soleConsumer(i), case .conv2d = layers[c].kind, i != final {
                    pendingPad[c] = pad
                    absorbed.insert(i)
                    continue
                }
                groups.append(([i], .zeroPad(pad), [l.inputs[0]]))
            case let .conv2d(filters, kernel, stride, _, bias):
                var source = l.inputs[0]
                var geometry = ConvGeometry(inH: x[0], inW: x[1], inC: x[2], outH: l.shape[0], outW: l.shape[1], outC: filters,
                                            kH: kernel.0, kW: kernel.1, strideH: stride.0, strideW: stride.1,
                                            padTop: l.pads.top, padLeft: l.pads.left)
                var members = [i]
                if let pad = pendingPad[i] {
                    let padLayer = l.inputs[0]
                    members.insert(padLayer, at: 0)
                    source = layers[padLayer].inputs[0]
                    geometry.inH = pad.height; geometry.inW = pad.width
                    geometry.padTop += pad.top; geometry.padLeft += pad.left
                }
                var biasSource: Bias = bias ? .own : .none
                var tail = i
                if let b = soleConsumer(i), case let .batchNorm(_, epsilon) = layers[b].kind, i != final {
                    folds.append(.convBatchNorm(conv: i, batchNorm: b, patch: geometry.patch, channels: filters, epsilon: epsilon))
                    biasSource = .foldedInto(batchNorm: b)
                    members.append(b); absorbed.insert(b); tail = b
                }
                var inputs = [source]
                var relu = false
                // The residual add that consumes this value, when its other input is already computed.
                if let a = soleConsumer(tail), case .add = layers[a].kind, a != final, layers[a].inputs.count == 2 {
                    let other = layers[a].inputs[0] == tail ? layers[a].inputs[1] : layers[a].inputs[0]
                    if other != tail && (other == 0 || producedBy[other] != nil) {
                        inputs.append(other)
                        members.append(a); absorbed.insert(a); tail = a
                    }
                }
                if let r = soleConsumer(tail), case .relu = layers[r].kind, r != final {
                    relu = true
                    members.append(r); absorbed.insert(r); tail = r
                }
                groups.append((members, .conv(geometry, bias: biasSource, residual: inputs.count == 2, relu: relu), inputs))
            case let .batchNorm(_, epsilon):
                folds.append(.scaleShift(batchNorm: i, channels: l.shape[2], epsilon: epsilon))
                var members = [i], relu = false
                if let r = soleConsumer(i), case .relu = layers[r].kind, r != final {
                    relu = true; members.append(r); absorbed.insert(r)
                }
                groups.append((members, .scaleShift(rowsPerSample: l.shape[0] * l.shape[1], channels: l.shape[2], relu: relu), [l.inputs[0]]))
            case .relu:
                groups.append(([i], .relu(elementsPerSample: l.elementCount), [l.inputs[0]]))
            case .add:
                var members = [i], relu = false
                if let r = soleConsumer(i), case .relu = layers[r].kind, r != final {
                    relu = true; members.append(r); absorbed.insert(r)
                }
                groups.append((members, .add(elementsPerSample: l.elementCount, relu: relu), l.inputs))
            case let .maxPool(pool, stride), let .avgPool(pool, stride):
                let g = PoolGeometry(inH: x[0], inW: x[1], channels: x[2], outH: l.shape[0], outW: l.shape[1],
                                     poolH: pool.0, poolW: pool.1, strideH: stride.0, strideW: stride.1)
                if case .maxPool = l.kind { groups.append(([i], .maxPool(g), [l.inputs[0]])) } else { groups.append(([i], .avgPool(g), [l.inputs[0]])) }
            case let .dense(units, softmax):
                groups.append(([i], .dense(inputs: x[0], outputs: units, softmax: softmax), [l.inputs[0]]))
            }
            for m in groups[groups.count - 1].layers { producedBy[m] = groups.count - 1 }
        }

        // 2. Liveness: a step's output lives until the last step that reads it.
        func valueStep(_ layer: Int) -> Int? { layer == 0 ? nil : producedBy[layer]! }
        var lastUse = [Int](repeating: -1, count: groups.count)
        for (t, g) in groups.enumerated() {
            for input in g.inputs { if let s = valueStep(input) { lastUse[s] = max(lastUse[s], t) } }
        }
        // 3. Slots: an output takes a free slot (never one of its own inputs'); inputs free theirs after.
        var slotOf = [Int](repeating: -1, count: groups.count)
        var free: [Int] = []
        for (t, g) in groups.enumerated() {
            let isFinal = g.layers.contains(final)
            if !isFinal {
                let slot = free.isEmpty ? { slotCount += 1; return slotCount - 1 }() : free.removeFirst()
                slotOf[t] = slot
                slotElements = max(slotElements, layers[g.layers.last!].elementCount)
            }
            for s in Set(g.inputs.compactMap(valueStep)) where lastUse[s] == t && slotOf[s] >= 0 {
                free.append(slotOf[s]); free.sort()
            }
            if !isFinal && lastUse[t] < 0 { free.append(slotOf[t]); free.sort() }
        }
        func value(_ layer: Int) -> Value {
            guard let s = valueStep(layer) else { return .input }
            return slotOf[s] < 0 ? .logits : .slot(slotOf[s])
        }
        for (t, g) in groups.enumerated() {
            steps.append(Step(layers: g.layers, operation: g.op, inputs: g.inputs.map(value), inputLayers: g.inputs,
                              output: slotOf[t] < 0 ? .logits : .slot(slotOf[t])))
            if case let .conv(geometry, _, _, _) = g.op, !geometry.isPointwise {
                workspaceElements = max(workspaceElements, geometry.columnElementsPerSample)
            }
        }
        layout()
    }

    mutating func add(_ name: String, bytes: Int, _ purpose: String) {
        let aligned = (arenaBytes + 63) / 64 * 64
        regions.append((name, aligned, bytes, purpose))
        arenaBytes = aligned + bytes
    }

    func offset(_ name: String) -> Int { regions.first { $0.name == name }!.offset }

    mutating func layout() {
        let cap = network.capacity, e = scalarSize
        add("parameters", bytes: parameterCount * e, "the training layout, batch norm folded in place")
        add("input", bytes: cap * network.inputShape.reduce(1, *) * e, "input batch")
        for slot in 0..<slotCount { add("slot\(slot)", bytes: cap * slotElements * e, "activation slot") }
        add("logits", bytes: cap * network.classes * e, "logits")
        add("probabilities", bytes: cap * network.classes * e, "softmax output")
        add("workspace", bytes: cap * workspaceElements * e, "im2col workspace")
        arenaBytes = (arenaBytes + 63) / 64 * 64
    }

    public func name(of value: Value) -> String {
        switch value {
        case .input: "input"
        case .logits: "logits"
        case let .slot(k): "slot\(k)"
        }
    }
}
