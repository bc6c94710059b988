/// Training plan: the network lowered to a typed list of kernel steps over typed buffers.
///
/// * A ReLU whose only input is a batch-norm or add that feeds nothing else is fused into it (the
///   producer writes max(·, 0) and its backward masks with the output), so it costs no buffer.
/// * Flatten is a view of its input.
/// * Every other layer output is an activation kept for backward.
/// * Gradients live in a small pool of slots: liveness over the reversed schedule decides which
///   gradient can reuse which slot, and whether a contribution writes, accumulates, or *is* the
///   output gradient (an add's input aliasing its slot). That decision is a value on each backward
///   step (`GradientMode`), so tests check it as data and the emitter only prints it.
/// * Everything is laid out in one arena at 64-byte-aligned literal offsets.
import LayerGeometry
import NetSpec

/// A buffer of the training arena, named by what it holds.
public enum Buffer: Hashable, Sendable {
    case input, inputGradient, logits, probabilities, dLogits
    /// The output of the layer that runs a kernel (shared by a fused ReLU and a flatten view).
    case activation(layer: Int)
    case gradientSlot(Int)
}

/// How a backward step delivers one input's gradient.
public enum GradientMode: Hashable, Sendable {
    /// The first contribution: overwrite.
    case write
    /// A later contribution: add to what is there.
    case accumulate
    /// The input's gradient buffer *is* the output gradient's (an add passes it on): nothing to copy.
    case aliased
}

public struct GradientTarget: Hashable, Sendable {
    public var buffer: Buffer
    public var mode: GradientMode
    /// Needed only when the caller asks for the gradient w.r.t. the network input.
    public var onlyForInputGradient: Bool

    public init(buffer: Buffer, mode: GradientMode, onlyForInputGradient: Bool) {
        self.buffer = buffer; self.mode = mode; self.onlyForInputGradient = onlyForInputGradient
    }
}

/// What a step computes; geometry and sizes per sample are literals.
public enum Operation: Hashable, Sendable {
    case zeroPad(PadGeometry)
    case conv(ConvGeometry, bias: Bool)
    case batchNorm(rowsPerSample: Int, channels: Int, momentum: Double, epsilon: Double)
    case relu(elementsPerSample: Int)
    case add(elementsPerSample: Int)
    case maxPool(PoolGeometry)
    case avgPool(PoolGeometry)
    case dense(inputs: Int, outputs: Int, softmax: Bool)
}

/// One forward kernel call.
public struct Step: Hashable, Sendable {
    /// The description layer this step computes.
    public var layer: Int
    public var operation: Operation
    public var inputs: [Buffer]
    public var output: Buffer
    /// The ReLU that follows is fused: the kernel writes max(·, 0) and its backward masks.
    public var fusedRelu: Bool
}

/// One backward kernel call: the forward step it differentiates, and where each input's gradient goes.
public struct BackwardStep: Hashable, Sendable {
    public var step: Step
    public var outputGradient: Buffer
    /// Per input of `step`: its gradient's buffer and mode, or nil when nothing needs it.
    public var inputGradients: [GradientTarget?]
    /// Nothing but the input gradient needs this step: it runs only when that is asked for.
    public var onlyForInputGradient: Bool
}

/// A region of the arena.
public enum RegionKey: Hashable, Sendable {
    /// Weights and BN moving statistics, then Adam's m and v (one range: a checkpoint is one copy).
    case parameters
    case gradients
    case buffer(Buffer)
    case workspace
    case bnMean(layer: Int), bnInvStd(layer: Int)
    case argmax(layer: Int)
    case bnScratch
}

public struct Plan {
    public enum Need: Int, Comparable, Sendable {
        case never, ifInputGradient, always
        public static func < (a: Need, b: Need) -> Bool { a.rawValue < b.rawValue }
    }

    public enum ElementType: Sendable { case scalar, int32, double }

    public struct Region: Sendable {
        public var key: RegionKey
        /// The Swift name of its view in the generated code.
        public var name: String
        public var offset: Int   // bytes
        public var bytes: Int
        public var elementType: ElementType
        public var purpose: String
    }

    public struct Tensor: Sendable {
        public var spec: WeightSpec
        /// Offset in elements from the start of the parameter block.
        public var offset: Int
        public var fanIn: Int, fanOut: Int
    }

    public let network: Network
    public let scalarSize: Int
    /// Layer index → index of the layer whose buffer holds its output.
    public private(set) var valueOf: [Int] = []
    public private(set) var fusedRelu: Set<Int> = []
    public private(set) var forward: [Step] = []
    /// In execution order (the reverse of `forward`), only the steps some gradient needs.
    public private(set) var backward: [BackwardStep] = []
    public private(set) var need: [Need] = []
    /// Value → gradient slot.
    public private(set) var gradientSlot: [Int: Int] = [:]
    public private(set) var slotCount = 0
    public private(set) var slotElements = 0
    public private(set) var regions: [Region] = []
    public private(set) var arenaBytes = 0
    /// Parameter tensors in storage order (trainable first) with element offsets.
    public private(set) var tensors: [Tensor] = []
    public private(set) var trainableCount = 0
    public private(set) var parameterCount = 0
    public private(set) var workspaceElements = 0
    public private(set) var maxChannels = 1
    /// Widest per-channel reduction (BN channels, conv/dense outputs): sizes per-thread scratch.
    public private(set) var maxWidth = 1
    private var offsetOf: [RegionKey: Int] = [:]

    public init(network: Network, dtype: DType) {
        self.network = network
        scalarSize = dtype.byteSize
        build()
    }

    public var finalLayer: Int { network.layers.count - 1 }
    /// Layers that run a kernel, in forward order.
    public var stepLayers: [Int] { forward.map(\.layer) }

    /// Byte offset of a region.
    public func offset(of key: RegionKey) -> Int {
        guard let o = offsetOf[key] else { fatalError("no region \(key) in the plan of \(network.name)") }
        return o
    }
    public func region(_ key: RegionKey) -> Region? { regions.first { $0.key == key } }
    public var adamMOffset: Int { offset(of: .parameters) + parameterCount * scalarSize }
    public var adamVOffset: Int { adamMOffset + trainableCount * scalarSize }

    /// The buffer holding a layer's output.
    public func buffer(of layer: Int) -> Buffer {
        let v = valueOf[layer]
        if v == 0 { return .input }
        if v == finalLayer { return .logits }
        return .activation(layer: v)
    }

    /// The buffer holding the gradient of a layer's output.
    public func gradientBuffer(of layer: Int) -> Buffer {
        let v = valueOf[layer]
        if v == 0 { return .inputGradient }
        if v == finalLayer { return .dLogits }
        return .gradientSlot(gradientSlot[v]!)
    }

    mutating func build() {
        let layers = network.layers
        valueOf = Array(layers.indices)
        var kernelLayers: [Int] = []
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
                    kernelLayers.append(i)
                }
            case .input:
                break
            default:
                kernelLayers.append(i)
            }
        }
        forward = kernelLayers.map { i in
            Step(layer: i, operation: operation(i), inputs: layers[i].inputs.map { buffer(of: $0) },
                 output: buffer(of: i), fusedRelu: fusedRelu.contains(i))
        }
        // Which gradients are needed: parameters need them always, the input only when asked.
        need = [Need](repeating: .never, count: layers.count)
        need[0] = .ifInputGradient
        for i in layers.indices.dropFirst() {
            let fromInputs = layers[i].inputs.map { need[valueOf[$0]] }.max() ?? .never
            let own: Need = network.weights(of: i).contains(where: \.trainable) ? .always : .never
            need[valueOf[i]] = max(need[valueOf[i]], max(own, fromInputs))
        }
        planGradients(kernelLayers)
        // Parameters: trainable tensors first so Adam runs over one contiguous block.
        var all: [Tensor] = []
        for i in layers.indices {
            for w in network.weights(of: i) {
                var fanIn = 0, fanOut = 0
                if w.role == .kernel {
                    if w.shape.count == 4 {
                        fanIn = w.shape[0] * w.shape[1] * w.shape[2]; fanOut = w.shape[0] * w.shape[1] * w.shape[3]
                    } else { fanIn = w.shape[0]; fanOut = w.shape[1] }
                }
                all.append(Tensor(spec: w, offset: 0, fanIn: fanIn, fanOut: fanOut))
            }
        }
        var offset = 0
        for var t in all.filter({ $0.spec.trainable }) + all.filter({ !$0.spec.trainable }) {
            t.offset = offset
            tensors.append(t)
            offset += t.spec.count
            if t.spec.trainable { trainableCount = offset }
        }
        parameterCount = offset
        // Workspace: the largest im2col matrix; BN scratch: the widest layer.
        for step in forward {
            switch step.operation {
            case let .conv(g, _) where !g.isPointwise: workspaceElements = max(workspaceElements, g.columnElementsPerSample)
            case let .batchNorm(_, channels, _, _): maxChannels = max(maxChannels, channels)
            default: break
            }
            maxWidth = max(maxWidth, layers[step.layer].shape.last!)
        }
        layout()
    }

    /// Reverse schedule: the first contribution to a gradient writes, later ones accumulate; slots by
    /// liveness. An add hands its output gradient to its inputs unchanged (after the fused ReLU's
    /// mask), so an input whose first contribution comes from the add shares the add's slot when no
    /// later accumulation into it can clobber what the other input still has to read.
    mutating func planGradients(_ kernelLayers: [Int]) {
        let layers = network.layers
        let order = Array(kernelLayers.reversed())
        var backwardIndex: [Int: Int] = [:]
        for (t, step) in order.enumerated() { backwardIndex[step] = t }
        func consumers(_ v: Int) -> [Int] {
            kernelLayers.filter { step in layers[step].inputs.contains { valueOf[$0] == v } }
        }
        var contributed = Set<Int>()
        var free: [Int] = []
        var users: [Int: Int] = [:]   // slot → values currently using it
        var modes: [Int: [GradientMode?]] = [:]
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
            var stepModes = [GradientMode?](repeating: nil, count: inputValues.count)
            for (position, x) in inputValues.enumerated() {
                guard need[x] != .never else { continue }
                if contributed.contains(x) {
                    stepModes[position] = .accumulate
                } else {
                    contributed.insert(x)
                    stepModes[position] = .write
                    if x != 0 {
                        if aliasable[position] == true, let ySlot = gradientSlot[s] {
                            gradientSlot[x] = ySlot
                            stepModes[position] = .aliased
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
            modes[s] = stepModes
            if let slot = gradientSlot[s] {
                users[slot, default: 1] -= 1
                if users[slot]! <= 0 { free.append(slot); free.sort(by: >) }
            }
        }
        for step in forward.reversed() where need[step.layer] != .never {
            let i = step.layer
            let guarded = need[i] == .ifInputGradient
            let targets: [GradientTarget?] = layers[i].inputs.enumerated().map { position, input in
                guard let mode = modes[i]![position] else { return nil }
                return GradientTarget(buffer: gradientBuffer(of: input), mode: mode,
                                      onlyForInputGradient: need[valueOf[input]] == .ifInputGradient)
            }
            backward.append(BackwardStep(step: step, outputGradient: gradientBuffer(of: i), inputGradients: targets,
                                         onlyForInputGradient: guarded))
        }
    }

    func operation(_ i: Int) -> Operation {
        let layers = network.layers
        let l = layers[i]
        let x = l.inputs.first.map { layers[$0].shape } ?? []
        switch l.kind {
        case let .zeroPad(p):
            return .zeroPad(PadGeometry(height: x[0], width: x[1], channels: x[2], top: p.top, bottom: p.bottom, left: p.left, right: p.right))
        case let .conv2d(filters, kernel, stride, _, bias):
            return .conv(ConvGeometry(inH: x[0], inW: x[1], inC: x[2], outH: l.shape[0], outW: l.shape[1], outC: filters,
                                      kH: kernel.0, kW: kernel.1, strideH: stride.0, strideW: stride.1,
                                      padTop: l.pads.top, padLeft: l.pads.left), bias: bias)
        case let .batchNorm(momentum, epsilon):
            return .batchNorm(rowsPerSample: l.shape[0] * l.shape[1], channels: l.shape[2], momentum: momentum, epsilon: epsilon)
        case .relu: return .relu(elementsPerSample: l.elementCount)
        case .add: return .add(elementsPerSample: l.elementCount)
        case let .maxPool(pool, stride): return .maxPool(poolGeometry(i, pool, stride))
        case let .avgPool(pool, stride): return .avgPool(poolGeometry(i, pool, stride))
        case let .dense(units, softmax): return .dense(inputs: x[0], outputs: units, softmax: softmax)
        case .input, .flatten: fatalError("\(l.name) runs no kernel")
        }
    }

    func poolGeometry(_ i: Int, _ pool: (Int, Int), _ stride: (Int, Int)) -> PoolGeometry {
        let x = network.layers[network.layers[i].inputs[0]].shape, y = network.layers[i].shape
        return PoolGeometry(inH: x[0], inW: x[1], channels: x[2], outH: y[0], outW: y[1],
                            poolH: pool.0, poolW: pool.1, strideH: stride.0, strideW: stride.1)
    }

    /// The Swift name of a buffer's view in the generated training type.
    public func name(of buffer: Buffer) -> String {
        switch buffer {
        case .input: "input"
        case .inputGradient: "inputGradient"
        case .logits: "logits"
        case .probabilities: "probabilities"
        case .dLogits: "dLogits"
        case let .activation(layer): "a_\(identifier(layer))"
        case let .gradientSlot(k): "gradientSlot\(k)"
        }
    }

    mutating func add(_ key: RegionKey, _ name: String, bytes: Int, _ purpose: String, type: ElementType = .scalar) {
        let aligned = (arenaBytes + 63) / 64 * 64
        regions.append(Region(key: key, name: name, offset: aligned, bytes: bytes, elementType: type, purpose: purpose))
        offsetOf[key] = aligned
        arenaBytes = aligned + bytes
    }

    mutating func add(_ buffer: Buffer, bytes: Int, _ purpose: String) {
        add(.buffer(buffer), name(of: buffer), bytes: bytes, purpose)
    }

    mutating func layout() {
        let cap = network.capacity
        let e = scalarSize
        let inputElements = network.inputShape.reduce(1, *)
        // parameters, m and v are contiguous (no padding: their sizes are multiples of the scalar size,
        // and m and v follow immediately) so a checkpoint is one range.
        add(.parameters, "parameters", bytes: (parameterCount + 2 * trainableCount) * e, "weights and BN moving statistics, then Adam m and v")
        add(.gradients, "gradients", bytes: trainableCount * e, "gradients of the trainable parameters")
        add(.input, bytes: cap * inputElements * e, "input batch")
        add(.inputGradient, bytes: cap * inputElements * e, "gradient w.r.t. the input")
        for step in forward where step.layer != finalLayer {
            add(step.output, bytes: cap * network.layers[step.layer].elementCount * e, "activation")
        }
        add(.logits, bytes: cap * network.classes * e, "logits")
        add(.probabilities, bytes: cap * network.classes * e, "softmax output")
        add(.dLogits, bytes: cap * network.classes * e, "gradient w.r.t. logits")
        for slot in 0..<slotCount {
            add(.gradientSlot(slot), bytes: cap * slotElements * e, "gradient slot")
        }
        add(.workspace, "workspace", bytes: cap * workspaceElements * e, "im2col / col2im workspace")
        for step in forward {
            let id = identifier(step.layer)
            switch step.operation {
            case let .batchNorm(_, channels, _, _):
                add(.bnMean(layer: step.layer), "bnMean_\(id)", bytes: channels * e, "batch mean")
                add(.bnInvStd(layer: step.layer), "bnInvStd_\(id)", bytes: channels * e, "batch 1/σ")
            case .maxPool:
                add(.argmax(layer: step.layer), "argmax_\(id)", bytes: cap * network.layers[step.layer].elementCount * 4, "max-pool argmax", type: .int32)
            default: break
            }
        }
        add(.bnScratch, "bnScratch", bytes: 6 * maxChannels * 8, "batch-norm reduction scratch", type: .double)
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
}
