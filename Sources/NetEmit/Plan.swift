/// Execution plan: which layers become kernel calls, which buffers exist and where they live.
///
/// * A ReLU whose only input is a batch-norm or add that feeds nothing else is fused into it (the
///   producer writes max(·, 0) and its backward masks with the output), so it costs no buffer.
/// * Flatten is a view of its input.
/// * Every other layer output is an activation kept for backward.
/// * Gradients live in a small pool of slots: liveness over the reversed schedule decides which
///   gradient can reuse which slot, and whether a contribution writes or accumulates.
/// * Everything is laid out in one arena at 64-byte-aligned literal offsets.
import NetSpec

public struct Plan {
    public enum Need: Int, Comparable {
        case never, ifInputGradient, always
        public static func < (a: Need, b: Need) -> Bool { a.rawValue < b.rawValue }
    }

    public struct Region {
        public var name: String
        public var offset: Int   // bytes
        public var bytes: Int
        public var purpose: String
    }

    public let network: Network
    public let scalarSize: Int
    /// Layer index → index of the layer whose buffer holds its output.
    public private(set) var valueOf: [Int] = []
    public private(set) var fusedRelu: Set<Int> = []
    /// Layers that run a kernel, in forward order.
    public private(set) var steps: [Int] = []
    public private(set) var need: [Need] = []
    /// Value → gradient slot.
    public private(set) var gradientSlot: [Int: Int] = [:]
    public private(set) var slotCount = 0
    public private(set) var slotElements = 0
    /// (step, input position) pairs whose gradient contribution accumulates instead of writing.
    public private(set) var accumulates: Set<[Int]> = []
    /// (add step, input position) pairs whose gradient *is* the add's (ReLU-masked) output
    /// gradient: the input's slot aliases the add's, so the add passes its gradient on without a copy.
    public private(set) var aliasedInputs: Set<[Int]> = []
    public private(set) var regions: [Region] = []
    public private(set) var offsets: [String: Int] = [:]
    public private(set) var arenaBytes = 0
    /// Parameter tensors in storage order (trainable first) with element offsets.
    public private(set) var tensors: [(spec: WeightSpec, offset: Int, fanIn: Int, fanOut: Int)] = []
    public private(set) var trainableCount = 0
    public private(set) var parameterCount = 0
    public private(set) var workspaceElements = 0
    public private(set) var maxChannels = 1
    /// Widest per-channel reduction (BN channels, conv/dense outputs): sizes per-thread scratch.
    public private(set) var maxWidth = 1

    public init(network: Network, dtype: DType) {
        self.network = network
        scalarSize = dtype.byteSize
        build()
    }

    public var finalLayer: Int { network.layers.count - 1 }

    mutating func build() {
        let layers = network.layers
        valueOf = Array(layers.indices)
        for (i, layer) in layers.enumerated() {
            switch layer.kind {
            case .flatten:
                valueOf[i] = valueOf[layer.inputs[0]]
            case .relu:
                let p = layer.inputs[0]
                let fusable: Bool = switch layers[p].kind { case .batchNorm, .add: true; default: false }
                if fusable && network.consumers(of: p) == [i] && valueOf[p] == p {
                    valueOf[i] = p
                    fusedRelu.insert(p)
                } else {
                    steps.append(i)
                }
            case .input:
                break
            default:
                steps.append(i)
            }
        }
        // Which gradients are needed: parameters need them always, the input only when asked.
        need = [Need](repeating: .never, count: layers.count)
        need[0] = .ifInputGradient
        for i in layers.indices.dropFirst() {
            let fromInputs = layers[i].inputs.map { need[valueOf[$0]] }.max() ?? .never
            let own: Need = network.weights(of: i).contains(where: \.trainable) ? .always : .never
            need[valueOf[i]] = max(need[valueOf[i]], max(own, fromInputs))
        }
        // Reverse schedule: first contribution writes, later ones accumulate; slots by liveness.
        // An add hands its output gradient to its inputs unchanged (after the fused ReLU's mask),
        // so an input whose first contribution comes from the add shares the add's slot when no
        // later accumulation into it can clobber what the other input still has to read.
        let order = Array(steps.reversed())
        var backwardIndex: [Int: Int] = [:]
        for (t, step) in order.enumerated() { backwardIndex[step] = t }
        func consumers(_ v: Int) -> [Int] {
            steps.filter { step in layers[step].inputs.contains { valueOf[$0] == v } }
        }
        var contributed = Set<Int>()
        var free: [Int] = []
        var users: [Int: Int] = [:]   // slot → values currently using it
        for s in order {
            let inputValues = layers[s].inputs.map { valueOf[$0] }
            var aliasable: [Int: Bool] = [:]
            if case .add = layers[s].kind, gradientSlot[s] != nil, Set(inputValues).count == inputValues.count {
                for (position, x) in inputValues.enumerated() where need[x] != .never && x != 0 && !contributed.contains(x) {
                    // Every later contributor to x must run after the other inputs' gradients were read.
                    let others = inputValues.enumerated().filter { $0.offset != position }.map(\.element)
                    let laterWriters = consumers(x).filter { $0 != s }
                    let safe = laterWriters.allSatisfy { w in
                        others.allSatisfy { u in backwardIndex[w]! > (backwardIndex[u] ?? Int.max) }
                    }
                    aliasable[position] = safe
                }
            }
            for (position, x) in inputValues.enumerated() {
                guard need[x] != .never else { continue }
                if contributed.contains(x) {
                    accumulates.insert([s, position])
                } else {
                    contributed.insert(x)
                    if x != 0 {
                        if aliasable[position] == true, let ySlot = gradientSlot[s] {
                            gradientSlot[x] = ySlot
                            aliasedInputs.insert([s, position])
                            users[ySlot, default: 0] += 1
                        } else {
                            let slot = free.popLast() ?? { slotCount += 1; return slotCount - 1 }()
                            gradientSlot[x] = slot
                            users[slot, default: 0] += 1
                        }
                        slotElements = max(slotElements, layers[x].elementCount)
                    }
                }
            }
            if let slot = gradientSlot[s] {
                users[slot, default: 1] -= 1
                if users[slot]! <= 0 { free.append(slot); free.sort(by: >) }
            }
        }
        // Parameters: trainable tensors first so Adam runs over one contiguous block.
        var all: [(WeightSpec, Int, Int)] = []
        for i in layers.indices {
            for w in network.weights(of: i) {
                var fanIn = 0, fanOut = 0
                if w.role == .kernel {
                    if w.shape.count == 4 {
                        fanIn = w.shape[0] * w.shape[1] * w.shape[2]; fanOut = w.shape[0] * w.shape[1] * w.shape[3]
                    } else { fanIn = w.shape[0]; fanOut = w.shape[1] }
                }
                all.append((w, fanIn, fanOut))
            }
        }
        var offset = 0
        for (w, fi, fo) in all.filter({ $0.0.trainable }) + all.filter({ !$0.0.trainable }) {
            tensors.append((w, offset, fi, fo))
            offset += w.count
            if w.trainable { trainableCount = offset }
        }
        parameterCount = offset
        // Workspace: the largest im2col matrix; BN scratch: the widest layer.
        for s in steps {
            if let g = convGeometry(s), !g.pointwise { workspaceElements = max(workspaceElements, g.columnsPerSample) }
            if case .batchNorm = layers[s].kind { maxChannels = max(maxChannels, layers[s].shape[2]) }
            maxWidth = max(maxWidth, layers[s].shape.last!)
        }
        layout()
    }

    mutating func add(_ name: String, bytes: Int, _ purpose: String) {
        let aligned = (arenaBytes + 63) / 64 * 64
        regions.append(Region(name: name, offset: aligned, bytes: bytes, purpose: purpose))
        offsets[name] = aligned
        arenaBytes = aligned + bytes
    }

    mutating func layout() {
        let cap = network.capacity
        let e = scalarSize
        let inputElements = network.inputShape.reduce(1, *)
        // parameters, m and v are contiguous (no padding: their sizes are multiples of the scalar size,
        // and m and v follow immediately) so a checkpoint is one range.
        add("parameters", bytes: (parameterCount + 2 * trainableCount) * e, "weights and BN moving statistics, then Adam m and v")
        offsets["adamM"] = offsets["parameters"]! + parameterCount * e
        offsets["adamV"] = offsets["adamM"]! + trainableCount * e
        add("gradients", bytes: trainableCount * e, "gradients of the trainable parameters")
        add("input", bytes: cap * inputElements * e, "input batch")
        add("inputGradient", bytes: cap * inputElements * e, "gradient w.r.t. the input")
        for s in steps where s != finalLayer {
            add("a_\(identifier(s))", bytes: cap * network.layers[s].elementCount * e, "activation")
        }
        add("logits", bytes: cap * network.classes * e, "logits")
        add("probabilities", bytes: cap * network.classes * e, "softmax output")
        add("dLogits", bytes: cap * network.classes * e, "gradient w.r.t. logits")
        for slot in 0..<slotCount {
            add("gradientSlot\(slot)", bytes: cap * slotElements * e, "gradient slot")
        }
        add("workspace", bytes: cap * workspaceElements * e, "im2col / col2im workspace")
        for s in steps {
            if case .batchNorm = network.layers[s].kind {
                add("bnMean_\(identifier(s))", bytes: network.layers[s].shape[2] * e, "batch mean")
                add("bnInvStd_\(identifier(s))", bytes: network.layers[s].shape[2] * e, "batch 1/σ")
            }
            if case .maxPool = network.layers[s].kind {
                add("argmax_\(identifier(s))", bytes: cap * network.layers[s].elementCount * 4, "max-pool argmax")
            }
        }
        add("bnScratch", bytes: 6 * maxChannels * 8, "batch-norm reduction scratch")
        arenaBytes = (arenaBytes + 63) / 64 * 64
    }

    /// Swift identifier for a layer name.
    public func identifier(_ layer: Int) -> String { Self.swiftIdentifier(network.layers[layer].name) }

    /// A layer name as a Swift identifier: anything but letters, digits and '_' becomes '_'.
    public static func swiftIdentifier(_ name: String) -> String {
        String(String.UnicodeScalarView(name.unicodeScalars.map {
            $0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" ? $0 : "_"
        }))
    }

    public struct Conv {
        public var inH, inW, inC, outH, outW, outC, kH, kW, sH, sW, padTop, padLeft: Int
        public var pointwise: Bool { kH == 1 && kW == 1 && sH == 1 && sW == 1 && padTop == 0 && padLeft == 0 && inH == outH && inW == outW }
        public var columnsPerSample: Int { outH * outW * kH * kW * inC }
    }

    public func convGeometry(_ s: Int) -> Conv? {
        let layer = network.layers[s]
        guard case let .conv2d(filters, kernel, stride, _, _) = layer.kind else { return nil }
        let x = network.layers[layer.inputs[0]].shape
        return Conv(inH: x[0], inW: x[1], inC: x[2], outH: layer.shape[0], outW: layer.shape[1], outC: filters,
                    kH: kernel.0, kW: kernel.1, sH: stride.0, sW: stride.1, padTop: layer.pads.top, padLeft: layer.pads.left)
    }
}
