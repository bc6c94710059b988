import Foundation
import LayerGeometry
import NetEmit
@testable import NetSpec
import XCTest

/// The execution plan: fusion, aliasing, gradient slots and the arena layout.
final class PlanTests: XCTestCase {
    func testResNet50SignsPlan() throws {
        let network = try loadModel("resnet50-signs")
        let plan = Plan(network: network, dtype: .float32)
        let layers = network.layers
        print("resnet50-signs float32 arena: \(plan.arenaBytes) bytes (\(Double(plan.arenaBytes) / 1_048_576) MiB) "
              + "at capacity \(network.capacity); \(plan.slotCount) gradient slots of \(plan.slotElements) elements/sample; "
              + "\(plan.regions.count) regions")
        XCTAssertGreaterThanOrEqual(plan.slotCount, 2)
        XCTAssertLessThanOrEqual(plan.slotCount, 4, "gradient slots must be reused")

        // Every ReLU of ResNet-50 follows a batch norm or an add that feeds only it: all 49 fused.
        let relus = layers.indices.filter { layers[$0].kind == .relu }
        XCTAssertEqual(relus.count, 49)
        for r in relus {
            let producer = layers[r].inputs[0]
            XCTAssertTrue(plan.fusedRelu.contains(producer), "\(layers[r].name) not fused into \(layers[producer].name)")
            XCTAssertEqual(plan.valueOf[r], producer, layers[r].name)
            XCTAssertFalse(plan.stepLayers.contains(r), "\(layers[r].name) runs a kernel")
        }
        let fusedKinds = Set(plan.fusedRelu.map { layers[$0].kind.kerasClass })
        XCTAssertEqual(fusedKinds, ["BatchNormalization", "Add"])
        XCTAssertEqual(plan.fusedRelu.filter { layers[$0].kind == .add }.count, 16, "every add is fused")

        // Flatten is a view of the average pool's output: no step, no buffer.
        let flatten = try XCTUnwrap(layers.indices.first { layers[$0].kind == .flatten })
        XCTAssertEqual(plan.valueOf[flatten], layers[flatten].inputs[0])
        XCTAssertFalse(plan.stepLayers.contains(flatten))
        XCTAssertNil(plan.regions.first { $0.name == "a_flatten" })
        XCTAssertNotNil(plan.regions.first { $0.name == "a_avg_pool" })
        XCTAssertTrue(plan.regions.allSatisfy { !$0.name.hasPrefix("a_activation") && !$0.name.hasPrefix("a_flatten") })

        // Parameters: trainable first, then the moving statistics; counts as Keras reports them.
        XCTAssertEqual(plan.parameterCount, 23_600_006)
        XCTAssertEqual(plan.trainableCount, 23_546_886)
        XCTAssertTrue(plan.tensors.prefix { $0.spec.trainable }.count == plan.tensors.filter(\.spec.trainable).count)
        var expectedOffset = 0
        for t in plan.tensors { XCTAssertEqual(t.offset, expectedOffset, t.spec.name); expectedOffset += t.spec.count }
        XCTAssertEqual(plan.adamMOffset, plan.offset(of: .parameters) + plan.parameterCount * 4)
        XCTAssertEqual(plan.adamVOffset, plan.adamMOffset + plan.trainableCount * 4)

        assertLayoutIsSound(plan)
        assertGradientSlotsNeverOverlap(plan)
    }

    func testEveryModelAndDTypeHasASoundPlan() throws {
        for url in try PackagePaths.descriptions() {
            let network = try NetSpecLoader.load(path: url.path)
            for dtype in network.dtypes {
                let plan = Plan(network: network, dtype: dtype)
                XCTAssertEqual(plan.scalarSize, dtype.byteSize)
                XCTAssertLessThanOrEqual(plan.slotCount, 4, "\(network.name) \(dtype)")
                assertLayoutIsSound(plan)
                assertGradientSlotsNeverOverlap(plan)
            }
        }
    }

    func testFloat64ArenaIsAboutTwiceFloat32() throws {
        let network = try loadModel("tiny")
        let f32 = Plan(network: network, dtype: .float32), f64 = Plan(network: network, dtype: .float64)
        XCTAssertEqual(f32.slotCount, f64.slotCount)
        XCTAssertEqual(f32.regions.map(\.name), f64.regions.map(\.name))
        for (a, b) in zip(f32.regions, f64.regions) {
            // Max-pool argmax (Int32) and the BN reduction scratch (Double) do not depend on the dtype.
            let fixed = a.name.hasPrefix("argmax_") || a.name == "bnScratch"
            XCTAssertEqual(b.bytes, fixed ? a.bytes : 2 * a.bytes, a.name)
        }
        XCTAssertLessThanOrEqual(f64.arenaBytes, 2 * f32.arenaBytes)
    }

    /// Regions are 64-byte aligned, disjoint, inside the arena; sizes follow from shapes and capacity.
    func assertLayoutIsSound(_ plan: Plan, file: StaticString = #filePath, line: UInt = #line) {
        let name = plan.network.name
        XCTAssertEqual(plan.arenaBytes % 64, 0, name, file: file, line: line)
        XCTAssertEqual(Set(plan.regions.map(\.name)).count, plan.regions.count, "\(name): duplicate region", file: file, line: line)
        let sorted = plan.regions.sorted { $0.offset < $1.offset }
        for r in sorted {
            XCTAssertEqual(r.offset % 64, 0, "\(name): \(r.name) at \(r.offset) is not 64-byte aligned", file: file, line: line)
            XCTAssertGreaterThanOrEqual(r.bytes, 0, file: file, line: line)
            XCTAssertLessThanOrEqual(r.offset + r.bytes, plan.arenaBytes, "\(name): \(r.name) ends outside the arena", file: file, line: line)
        }
        for (a, b) in zip(sorted, sorted.dropFirst()) {
            XCTAssertLessThanOrEqual(a.offset + a.bytes, b.offset, "\(name): \(a.name) overlaps \(b.name)", file: file, line: line)
        }
        let cap = plan.network.capacity, e = plan.scalarSize
        for s in plan.stepLayers where s != plan.finalLayer {
            let region = plan.regions.first { $0.name == "a_\(plan.identifier(s))" }
            XCTAssertEqual(region?.bytes, cap * plan.network.layers[s].elementCount * e,
                           "\(name): activation of \(plan.network.layers[s].name)", file: file, line: line)
        }
        let input = plan.network.inputShape.reduce(1, *)
        XCTAssertEqual(plan.regions.first { $0.name == "input" }?.bytes, cap * input * e, file: file, line: line)
        for slot in 0..<plan.slotCount {
            XCTAssertEqual(plan.regions.first { $0.name == "gradientSlot\(slot)" }?.bytes, cap * plan.slotElements * e,
                           file: file, line: line)
        }
    }

    /// Replays the backward schedule: a value's gradient is live from its first contribution until
    /// its producer's backward step reads it; two live gradients must never share a slot, and the
    /// first contribution writes while later ones accumulate.
    func assertGradientSlotsNeverOverlap(_ plan: Plan, file: StaticString = #filePath, line: UInt = #line) {
        let layers = plan.network.layers
        let reversed = Array(plan.stepLayers.reversed())
        let modes = Self.gradientModes(plan)
        var start: [Int: Int] = [:]
        var firstWrite: Set<Int> = []
        for (t, s) in reversed.enumerated() {
            for (position, input) in layers[s].inputs.enumerated() {
                let x = plan.valueOf[input]
                guard plan.need[x] != .never else { continue }
                let accumulates = modes[[s, position]] == .accumulate
                if firstWrite.contains(x) {
                    XCTAssertTrue(accumulates, "\(layers[s].name) must accumulate into d\(layers[x].name)", file: file, line: line)
                } else {
                    XCTAssertFalse(accumulates, "\(layers[s].name) writes d\(layers[x].name) first", file: file, line: line)
                    firstWrite.insert(x)
                    start[x] = t
                }
                if x != 0 {
                    XCTAssertNotNil(plan.gradientSlot[x], "d\(layers[x].name) has no slot", file: file, line: line)
                    XCTAssertLessThanOrEqual(layers[x].elementCount, plan.slotElements, file: file, line: line)
                }
            }
        }
        var intervals: [(value: Int, slot: Int, from: Int, to: Int)] = []
        for (x, slot) in plan.gradientSlot {
            XCTAssertLessThan(slot, plan.slotCount, file: file, line: line)
            guard let from = start[x], let to = reversed.firstIndex(of: x) else {
                XCTFail("slot for d\(layers[x].name) is never written or never read", file: file, line: line)
                continue
            }
            XCTAssertLessThanOrEqual(from, to, file: file, line: line)
            intervals.append((x, slot, from, to))
        }
        // Inputs an add hands its own gradient buffer to (no copy) share its slot by design: the
        // planner only does that when no later accumulation into one can clobber another's read.
        var aliasedBy: [Int: Int] = [:]
        for (pair, mode) in modes where mode == .aliased { aliasedBy[plan.valueOf[layers[pair[0]].inputs[pair[1]]]] = pair[0] }
        func related(_ a: Int, _ b: Int) -> Bool {
            if let s = aliasedBy[a], s == b || aliasedBy[b] == s { return true }
            if let s = aliasedBy[b], s == a { return true }
            return false
        }
        for (x, s) in aliasedBy {
            XCTAssertEqual(plan.gradientSlot[x], plan.gradientSlot[s], "d\(layers[x].name) aliases \(layers[s].name)", file: file, line: line)
            // Later contributors to x run after every other input of the add has been read.
            let t = reversed.firstIndex(of: s)!
            let others = layers[s].inputs.map { plan.valueOf[$0] }.filter { $0 != x }
            for (w, step) in reversed.enumerated() where w > t && layers[step].inputs.contains(where: { plan.valueOf[$0] == x }) {
                for u in others { XCTAssertGreaterThan(w, reversed.firstIndex(of: u) ?? Int.max, file: file, line: line) }
            }
        }
        for (i, a) in intervals.enumerated() {
            for b in intervals[(i + 1)...] where a.slot == b.slot && !related(a.value, b.value) {
                XCTAssertTrue(a.to < b.from || b.to < a.from,
                              "d\(layers[a.value].name) and d\(layers[b.value].name) share slot \(a.slot) while both live",
                              file: file, line: line)
            }
        }
    }

    func testPlanOfASmallNetworkWithAnUnfusableRelu() throws {
        // The ReLU after the conv cannot fuse (conv is not BN/add); the ReLU after the BN that also
        // feeds the add cannot fuse either (its producer has two consumers).
        let text = header + """

        conv2d c1 filters=4 kernel=3 padding=same
        relu r1
        batchnorm b1
        relu r2
        add s from=r2,b1
        relu r3
        """ + "\n" + head
        let network = try NetSpecLoader.load(text: text, file: "t.arch")
        let plan = Plan(network: network, dtype: .float64)
        let index = Dictionary(uniqueKeysWithValues: network.layers.enumerated().map { ($0.element.name, $0.offset) })
        XCTAssertTrue(plan.stepLayers.contains(index["r1"]!))
        XCTAssertTrue(plan.stepLayers.contains(index["r2"]!))
        XCTAssertFalse(plan.stepLayers.contains(index["r3"]!))
        XCTAssertEqual(plan.fusedRelu, [index["s"]!])
        XCTAssertEqual(plan.valueOf[index["flatten"]!], index["s"]!)
        assertLayoutIsSound(plan)
        assertGradientSlotsNeverOverlap(plan)
        // dB1 receives two contributions (from r2's backward and from the add): one writes, one accumulates.
        let b1 = index["b1"]!
        let contributions = plan.stepLayers.flatMap { s in network.layers[s].inputs.enumerated().compactMap { $0.element == b1 ? [s, $0.offset] : nil } }
        XCTAssertEqual(contributions.count, 2)
        let modes = Self.gradientModes(plan)
        XCTAssertEqual(contributions.compactMap { modes[$0] }.sorted { "\($0)" < "\($1)" }, [.accumulate, .write])
    }

    /// (layer, input position) → how its backward step delivers that input's gradient.
    static func gradientModes(_ plan: Plan) -> [[Int]: GradientMode] {
        var modes: [[Int]: GradientMode] = [:]
        for b in plan.backward {
            for (position, target) in b.inputGradients.enumerated() { if let target { modes[[b.step.layer, position]] = target.mode } }
        }
        return modes
    }

    // MARK: the plan as data

    func testTinyBackwardStepsAsValues() throws {
        let network = try loadModel("tiny")
        let plan = Plan(network: network, dtype: .float64)
        let index = Dictionary(uniqueKeysWithValues: network.layers.enumerated().map { ($0.element.name, $0.offset) })
        // Backward runs the kernel steps in reverse; the head first, writing the average pool's gradient.
        XCTAssertEqual(plan.backward.map(\.step.layer), plan.stepLayers.reversed().filter { plan.need[$0] != .never })
        let head = try XCTUnwrap(plan.backward.first)
        XCTAssertEqual(head.step.layer, index["fc6"])
        XCTAssertEqual(head.outputGradient, .dLogits)
        XCTAssertEqual(head.inputGradients.first??.mode, .write)
        // The zero padding in front of conv1 only matters for the input gradient: guarded, last.
        let pad = try XCTUnwrap(plan.backward.last)
        XCTAssertEqual(pad.step.layer, index["zero_padding2d"])
        XCTAssertTrue(pad.onlyForInputGradient)
        XCTAssertEqual(pad.inputGradients, [GradientTarget(buffer: .inputGradient, mode: .write, onlyForInputGradient: true)])
        // conv1 needs its weight gradient always, its input gradient only when asked.
        let conv1 = try XCTUnwrap(plan.backward.first { $0.step.layer == index["conv1"] })
        XCTAssertFalse(conv1.onlyForInputGradient)
        XCTAssertEqual(conv1.inputGradients.first??.onlyForInputGradient, true)
        // Identity block: the add hands the same gradient to both inputs, so both share its slot (no copy).
        // The branch reads it before the block input receives its second contribution from the branch's
        // first convolution, which accumulates into that same slot.
        let add = try XCTUnwrap(plan.backward.first { $0.step.layer == index["add_1"] })
        XCTAssertTrue(add.step.fusedRelu)
        XCTAssertEqual(add.inputGradients.map { $0?.mode }, [.aliased, .aliased], "\(add)")
        for target in add.inputGradients.compactMap({ $0 }) {
            XCTAssertEqual(target.buffer, add.outputGradient)
        }
        let blockInput = try XCTUnwrap(network.layers[index["add_1"]!].inputs.last)
        let branchStart = try XCTUnwrap(plan.backward.first { step in
            step.step.layer != index["add_1"] && network.layers[step.step.layer].inputs.contains(blockInput)
        })
        let branchReader = try XCTUnwrap(plan.backward.firstIndex { $0.step.layer == network.layers[index["add_1"]!].inputs.first })
        let accumulation = try XCTUnwrap(plan.backward.firstIndex { $0 == branchStart })
        XCTAssertLessThan(branchReader, accumulation, "the branch must read the shared slot before it is accumulated into")
        XCTAssertEqual(branchStart.inputGradients.first??.mode, .accumulate)
        XCTAssertEqual(branchStart.inputGradients.first??.buffer, add.outputGradient)
        // Every conv step carries the geometry the kernels take, with the description's padding.
        let res2b = try XCTUnwrap(plan.forward.first { $0.layer == index["res2b_branch2b"] })
        guard case let .conv(g, bias) = res2b.operation else { return XCTFail("\(res2b.operation)") }
        XCTAssertTrue(bias)
        XCTAssertEqual(g, ConvGeometry(inH: 7, inW: 7, inC: 4, outH: 7, outW: 7, outC: 4, kH: 2, kW: 2, strideH: 1, strideW: 1, padTop: 0, padLeft: 0))
    }

    // MARK: inference plan

    func testResNet50InferencePlanFoldsAndFuses() throws {
        let network = try loadModel("resnet50-signs")
        let training = Plan(network: network, dtype: .float32)
        let plan = InferencePlan(network: network, dtype: .float32, parameterCount: training.parameterCount)
        let layers = network.layers
        func count(_ kind: String) -> Int { layers.filter { $0.kind.kerasClass == kind }.count }
        // 53 convolutions (each with its batch norm, ReLU or residual add fused), max pool, avg pool, dense.
        XCTAssertEqual(count("Conv2D"), 53)
        XCTAssertEqual(plan.steps.count, 56)
        XCTAssertEqual(plan.folds.count, 53)
        var residuals = 0
        for step in plan.steps {
            if case let .conv(_, bias, residual, _) = step.operation {
                guard case .foldedInto = bias else { return XCTFail("conv without folded BN: \(step.layers)") }
                if residual { residuals += 1; XCTAssertEqual(step.inputs.count, 2) }
                XCTAssertFalse(step.inputs.contains(step.output), "a step must not write a buffer it reads")
            }
        }
        XCTAssertEqual(residuals, 16, "every residual add is fused into a convolution")
        // The stem's zero padding became conv1's padding.
        guard case let .conv(stem, _, _, relu) = plan.steps[0].operation else { return XCTFail() }
        XCTAssertTrue(relu)
        XCTAssertEqual(stem.inH, 64); XCTAssertEqual(stem.padTop, 3); XCTAssertEqual(stem.outH, 32)
        XCTAssertEqual(plan.steps[0].inputs, [.input])
        XCTAssertEqual(plan.steps.last?.output, .logits)
        // Ping-pong: a handful of activation slots instead of one buffer per layer.
        XCTAssertLessThanOrEqual(plan.slotCount, 4)
        XCTAssertEqual(plan.slotElements, 65_536)
        print("resnet50-signs inference arena: \(plan.arenaBytes) bytes, \(plan.slotCount) slots; training arena \(training.arenaBytes)")
        XCTAssertLessThan(plan.arenaBytes, training.arenaBytes / 3)
    }

    /// Replays the inference schedule: every step reads its input layers' values from the buffer
    /// their producing step wrote, and nothing overwrote that buffer in between.
    func testInferenceSlotsNeverClobberALiveValue() throws {
        for url in try PackagePaths.descriptions() {
            let network = try NetSpecLoader.load(path: url.path)
            for dtype in network.dtypes {
                let training = Plan(network: network, dtype: dtype)
                let plan = InferencePlan(network: network, dtype: dtype, parameterCount: training.parameterCount)
                var stepOf: [Int: Int] = [:]
                for (t, step) in plan.steps.enumerated() { for l in step.layers { stepOf[l] = t } }
                func producer(_ layer: Int) -> Int? {
                    var l = layer
                    while case .flatten = network.layers[l].kind { l = network.layers[l].inputs[0] }
                    return l == 0 ? nil : stepOf[l]
                }
                var lastWrite: [InferencePlan.Value: Int] = [:]
                for (t, step) in plan.steps.enumerated() {
                    XCTAssertEqual(step.inputs.count, step.inputLayers.count)
                    for (value, layer) in zip(step.inputs, step.inputLayers) {
                        guard let p = producer(layer) else { XCTAssertEqual(value, .input); continue }
                        XCTAssertLessThan(p, t, "\(network.name): step \(t) reads a later step's output")
                        XCTAssertEqual(value, plan.steps[p].output)
                        XCTAssertEqual(lastWrite[value], p, "\(network.name): \(network.layers[layer].name)'s value in \(value) was overwritten before step \(t) read it")
                    }
                    XCTAssertFalse(step.inputs.contains(step.output))
                    lastWrite[step.output] = t
                }
                XCTAssertEqual(plan.steps.last?.output, .logits, network.name)
                // Every description layer is computed by exactly one step (flatten is a view).
                let covered = plan.steps.flatMap(\.layers)
                XCTAssertEqual(Set(covered).count, covered.count)
                XCTAssertEqual(Set(covered), Set(network.layers.indices.dropFirst().filter { network.layers[$0].kind != .flatten }))
            }
        }
    }

    // MARK: summary

    func testMemorySizesAreFormattedLikeKeras() {
        XCTAssertEqual(ModelSummary.megabytes(0), "0.00 B")
        XCTAssertEqual(ModelSummary.megabytes(1023), "1023.00 B")
        XCTAssertEqual(ModelSummary.megabytes(1024), "1.00 KB")
        XCTAssertEqual(ModelSummary.megabytes(53_120 * 4), "207.50 KB")
        XCTAssertEqual(ModelSummary.megabytes(23_546_886 * 4), "89.82 MB")
        XCTAssertEqual(ModelSummary.megabytes(23_600_006 * 4), "90.03 MB")   // rounded, not truncated
        XCTAssertEqual(ModelSummary.megabytes(3 << 29), "1.50 GB")
        XCTAssertEqual(ModelSummary.megabytes(1_048_575), "1024.00 KB")   // 1023.999 KB rounds up, as "{:.2f}" does
    }

    func testSummaryHasTheKerasTotalsLines() throws {
        let network = try loadModel("resnet50-signs")
        let text = ModelSummary.render(network)
        let keras = try String(contentsOf: PackagePaths.fixtures.appendingPathComponent("keras-resnet50-signs-summary.txt"),
                               encoding: .utf8)
        let kerasTotals = keras.split(separator: "\n").map(String.init).filter {
            $0.hasPrefix(" Total params:") || $0.hasPrefix(" Trainable params:") || $0.hasPrefix(" Non-trainable params:")
        }
        XCTAssertEqual(kerasTotals.count, 3)
        let ours = text.split(separator: "\n").map(String.init)
        for line in kerasTotals {
            XCTAssertTrue(ours.contains(line), "summary lacks the Keras line '\(line)'")
        }
        XCTAssertTrue(text.hasPrefix("Model: \"resnet50-signs\"\n"))
        XCTAssertTrue(text.contains("conv1 (Conv2D)"))
        XCTAssertTrue(text.contains("(None, 32, 32, 64)"))
        XCTAssertTrue(text.contains("add_15 (Add)"))
        XCTAssertTrue(text.contains("bn2a_branch2c[0][0]"))
        let plan = Plan(network: network, dtype: .float32)
        let withArena = ModelSummary.render(network, arenaBytes: plan.arenaBytes, dtype: "float32")
        XCTAssertTrue(withArena.contains(" Arena (float32, batch capacity 32): "), withArena)
    }
}
