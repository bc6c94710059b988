/// `resnet-run bench`: training-step and inference speed, heap allocations per step and peak
/// memory of a generated model, as one JSON object (figures for issues and the README come
/// from here, never from timed tests).
import AllocCounter
import ArgumentParser
import CMPI
import Distributed
import Foundation
import Kernels
import Models

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmark a training step, inference throughput and latency; print JSON.",
        discussion: """
        Measures, after warm-up: seconds per training step (forward + backward + Adam) at --batch-size, \
        the implied seconds per 1,080-image SIGNS epoch, inference images/s at --batch-size on the \
        inference plan (and on the training graph, for comparison), latency at batch 1, heap \
        allocations per training step and per inference call (malloc is interposed in this binary), \
        peak RSS, the arenas' sizes, and achieved vs. peak OpenBLAS sgemm GFLOP/s.

        Times are given as median, minimum and mean over the timed repetitions; quote them measured in \
        one sitting on a quiet machine.
        """)

    @Option(help: "Model to benchmark.") var model = ModelName.standard
    @Option(help: "Training batch size (≤ the model's capacity).") var batchSize: Int?
    @Option(help: "Timed training steps.") var steps = 5
    @Option(help: "Timed inference batches.") var inferenceBatches = 5
    @Option(help: "Kernel threads (default: all cores).") var threads: Int?
    @Flag(help: "Skip the sgemm peak measurement.") var skipGemm = false
    @Flag(help: """
        Exit 1 (after printing the JSON) when a timed training step or inference call allocated heap \
        memory, or when the allocation counter is not active (CI's allocation guard; release builds only).
        """)
    var failOnAllocation = false
    @Flag(help: """
        Also time every kernel step over the timed training steps and add a per-layer profile to the \
        JSON: forward and backward milliseconds per step, GFLOP/s and share of the step, slowest first \
        (and a readable table of the top 15 on standard error); likewise the inference type's fused \
        steps at the batch size and at batch 1 (inference_profile).
        """)
    var profile = false
    // Hidden, under mpirun: time an in-place float32 allreduce of this many MB (the gradient block).
    @Option(help: .hidden) var allreduceMb: Double?

    func run() throws {
        if let allreduceMb { return try Self.allreduceBench(megabytes: allreduceMb, repeats: steps) }
        let type = model.type
        let batch = batchSize ?? type.capacity
        guard batch >= 1, batch <= type.capacity else {
            throw ValidationError("--batch-size: \(batch) is outside 1...\(type.capacity), the capacity set in \(type.modelName).arch.")
        }
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1.") }
        let threadCount = threads ?? ProcessInfo.processInfo.activeProcessorCount
        guard threadCount >= 1 else { throw ValidationError("--threads must be at least 1.") }
        if let warning = BLASRuntime.environmentWarning {
            FileHandle.standardError.write(Data("note: \(warning)\n".utf8))
        }
        var report = measure(type, batch: batch, threads: threadCount, profile: profile)
        if !skipGemm { report["sgemm_peak_gflops"] = Self.sgemmPeak(threads: threadCount) }
        if let achieved = report["train_gflops"] as? Double, let peak = report["sgemm_peak_gflops"] as? Double {
            report["train_fraction_of_sgemm_peak"] = Self.round(achieved / peak, 3)
        }
        let data = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
        print(String(decoding: data, as: UTF8.self))
        if failOnAllocation {
            let train = report["heap_allocations_per_train_step"] as? Double ?? .nan
            let inference = report["heap_allocations_per_inference_call"] as? Double ?? .nan
            if report["allocation_counter_active"] as? Bool != true {
                try Self.fail("--fail-on-allocation: the allocation counter is not active in this binary (build with -c release)")
            }
            if !(train == 0 && inference == 0) {
                try Self.fail("--fail-on-allocation: \(model) allocated \(train) times per training step and \(inference) times per inference call; expected 0")
            }
        }
    }

    /// A benchmark that ran but failed its guard: the JSON is already printed; one line, exit 1.
    static func fail(_ message: String) throws -> Never {
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
        throw ExitCode(1)
    }

    static func round(_ x: Double, _ digits: Int) -> Double {
        let p = Foundation.pow(10.0, Double(digits))
        return (x * p).rounded() / p
    }

    static func peakRSSBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024
    }

    func measure<M: GeneratedModelType>(_ type: M.Type, batch: Int, threads: Int, profile: Bool) -> [String: Any] {
        let model = M(seed: 0, threads: threads)
        let elements = M.inputHeight * M.inputWidth * M.inputChannels
        var rng = Xoshiro256(seed: 42)
        for i in 0..<(M.capacity * elements) { model.input[i] = M.Scalar(rng.unit()) }
        var labels = [M.Scalar](repeating: 0, count: M.capacity * M.classes)
        for r in 0..<M.capacity { labels[r * M.classes + Int(rng.next() % UInt64(M.classes))] = 1 }

        func trainStep() {
            model.forward(count: batch, training: true)
            labels.withUnsafeBufferPointer { _ = model.backward(labels: $0.baseAddress!, count: batch, inputGradient: false) }
            model.adamStep(learningRate: 0.00015)
        }
        // Warm-up: first-touch of the arena, OpenBLAS thread start-up and buffers.
        trainStep()
        trainStep()
        var times: [Double] = []
        times.reserveCapacity(steps)
        let allocationsBefore = alloc_counter_allocations()
        for _ in 0..<steps {
            let t0 = monotonicSeconds()
            trainStep()
            times.append(monotonicSeconds() - t0)
        }
        let allocationsPerStep = Double(alloc_counter_allocations() - allocationsBefore) / Double(steps)
        let sorted = times.sorted()
        let median = sorted[sorted.count / 2]
        let mean = times.reduce(0, +) / Double(times.count)

        // Inference: the generated inference type (batch norm folded, fused epilogues) with these
        // weights, throughput at the batch size and latency at batch 1; the training graph's
        // inference mode beside it, and how far apart their probabilities are.
        let inference = model.makeInference()
        inference.input.update(from: model.input, count: M.capacity * elements)
        inference.forward(count: batch)
        let inferenceAllocationsBefore = alloc_counter_allocations()
        var t0 = monotonicSeconds()
        for _ in 0..<inferenceBatches { inference.forward(count: batch) }
        let inferenceSeconds = (monotonicSeconds() - t0) / Double(inferenceBatches)
        let inferenceAllocations = Double(alloc_counter_allocations() - inferenceAllocationsBefore) / Double(inferenceBatches)
        let latencies = Self.latencies(max(inferenceBatches, 10)) { inference.forward(count: 1) }

        var inferenceProfile: [String: Any]?
        if profile {
            // The inference type's fused steps, at the batch size and at batch 1.
            let profiler = StepProfiler(steps: M.Inference.profiledSteps.count)
            inference.profiler = profiler
            var report: [String: Any] = [:]
            for (key, count, calls) in [("batch", batch, inferenceBatches), ("batch1", 1, max(inferenceBatches, 10))] {
                profiler.reset()
                let t = monotonicSeconds()
                for _ in 0..<calls { inference.forward(count: count) }
                let wall = monotonicSeconds() - t
                report[key] = Self.profileReport(M.Inference.profiledSteps, profiler, steps: calls, batch: count, wall: wall,
                                                 title: "inference, batch \(count)")
            }
            inference.profiler = nil
            inferenceProfile = report
        }

        model.forward(count: batch, training: false)
        var difference = 0.0
        inference.forward(count: batch)
        for i in 0..<(batch * M.classes) {
            difference = max(difference, abs(Double(model.probabilities[i]) - Double(inference.probabilities[i])))
        }
        t0 = monotonicSeconds()
        for _ in 0..<inferenceBatches { model.forward(count: batch, training: false) }
        let graphSeconds = (monotonicSeconds() - t0) / Double(inferenceBatches)
        let graphLatencies = Self.latencies(max(inferenceBatches, 10)) { model.forward(count: 1, training: false) }
        // With one thread every kernel runs on this thread: its CPU time is the work itself, which a
        // busy machine (other processes on the cores) inflates far less than wall time.
        var cpu: [String: Any] = [:]
        if threads == 1 {
            func cpuSeconds(_ body: () -> Void) -> Double {
                var a = timespec(), b = timespec()
                clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a)
                for _ in 0..<inferenceBatches { body() }
                clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b)
                return (Double(b.tv_sec - a.tv_sec) + Double(b.tv_nsec - a.tv_nsec) * 1e-9) / Double(inferenceBatches)
            }
            // Alternated three times, the least of each kept: drift on a shared machine hits both alike.
            var best = [Double](repeating: .infinity, count: 4)
            for _ in 0..<3 {
                best[0] = min(best[0], cpuSeconds { inference.forward(count: batch) })
                best[1] = min(best[1], cpuSeconds { model.forward(count: batch, training: false) })
                best[2] = min(best[2], cpuSeconds { inference.forward(count: 1) })
                best[3] = min(best[3], cpuSeconds { model.forward(count: 1, training: false) })
            }
            cpu["inference_thread_cpu_ms_per_batch"] = Self.round(best[0] * 1000, 3)
            cpu["training_graph_inference_thread_cpu_ms_per_batch"] = Self.round(best[1] * 1000, 3)
            cpu["inference_thread_cpu_ms_batch1"] = Self.round(best[2] * 1000, 3)
            cpu["training_graph_inference_thread_cpu_ms_batch1"] = Self.round(best[3] * 1000, 3)
        }

        var profileReport: [String: Any]?
        if profile {
            let profiler = StepProfiler(steps: M.profiledSteps.count)
            model.profiler = profiler
            trainStep()
            profiler.reset()
            let t = monotonicSeconds()
            for _ in 0..<steps { trainStep() }
            let wall = monotonicSeconds() - t
            model.profiler = nil
            profileReport = Self.profileReport(M.profiledSteps, profiler, steps: steps, batch: batch, wall: wall,
                                               title: "training step, batch \(batch)")
        }

        let trainFLOPs = Double(3 * M.forwardFLOPsPerSample * batch)
        let epochImages = 1080
        let fullSteps = Double(epochImages / batch), lastFraction = Double(epochImages % batch) / Double(batch)
        return [
            "model": M.registryName,
            "dtype": M.dtype,
            "batch_size": batch,
            "threads": threads,
            "blas_core": BLASRuntime.coreName,
            "blas_core_forced_by_environment": BLASRuntime.coreTypeFromEnvironment.map { $0 as Any } ?? NSNull(),
            "timed_steps": steps,
            "train_step_seconds_median": Self.round(median, 4),
            "train_step_seconds_mean": Self.round(mean, 4),
            "train_step_seconds_min": Self.round(sorted[0], 4),
            "train_images_per_second": Self.round(Double(batch) / median, 2),
            "epoch_seconds_estimate_1080_images": Self.round(median * (fullSteps + lastFraction), 2),
            "train_gflops": Self.round(trainFLOPs / median / 1e9, 2),
            "inference_images_per_second": Self.round(Double(batch) / inferenceSeconds, 2),
            "inference_batch1_ms_median": Self.round(latencies[latencies.count / 2] * 1000, 3),
            "inference_batch1_ms_min": Self.round(latencies[0] * 1000, 3),
            "training_graph_inference_images_per_second": Self.round(Double(batch) / graphSeconds, 2),
            "training_graph_inference_batch1_ms_median": Self.round(graphLatencies[graphLatencies.count / 2] * 1000, 3),
            "inference_max_probability_difference_vs_training_graph": difference,
            "inference_arena_bytes": M.Inference.arenaBytes,
            "heap_allocations_per_train_step": allocationsPerStep,
            "heap_allocations_per_inference_call": inferenceAllocations,
            "build_target_cpu": BuildInfo.targetCPU,
            "allocation_counter_active": alloc_counter_active() != 0,
            "peak_rss_bytes": Self.peakRSSBytes(),
            "arena_bytes": M.arenaBytes,
            "parameters": M.parameterCount,
        ].merging(profileReport.map { ["profile": $0] } ?? [:]) { a, _ in a }
         .merging(inferenceProfile.map { ["inference_profile": $0] } ?? [:]) { a, _ in a }
         .merging(cpu) { a, _ in a }
    }

    /// Per-layer rows of a profile (forward and backward of a layer together), slowest first, and
    /// per-phase totals, in the JSON and (top 15) on standard error under `title`. `steps` is how many
    /// calls the profiler's seconds add up.
    static func profileReport(_ table: [ProfiledStep], _ profiler: StepProfiler, steps: Int, batch: Int, wall: Double,
                              title: String) -> [String: Any] {
        struct Row { var layer: String; var kerasClass: String; var forward = 0.0; var backward = 0.0; var flops = 0.0 }
        var rows: [String: Row] = [:]
        var order: [String] = []
        var phases: [String: Double] = [:]
        for (i, step) in table.enumerated() {
            let seconds = profiler.seconds[i] / Double(steps)
            phases[step.phase.rawValue, default: 0] += seconds
            if rows[step.layer] == nil { rows[step.layer] = Row(layer: step.layer, kerasClass: step.kerasClass); order.append(step.layer) }
            switch step.phase {
            case .backward: rows[step.layer]!.backward += seconds
            default: rows[step.layer]!.forward += seconds
            }
            rows[step.layer]!.flops += Double(step.flopsPerSample * batch)
        }
        let profiled = phases.values.reduce(0, +)
        let training = phases["backward"] != nil
        let sorted = order.map { rows[$0]! }.sorted { $0.forward + $0.backward > $1.forward + $1.backward }
        let layers: [[String: Any]] = sorted.map { r in
            let total = r.forward + r.backward
            var row: [String: Any] = [
                "layer": r.layer, "class": r.kerasClass,
                "forward_ms": round(r.forward * 1000, 3),
                "gflops": total > 0 ? round(r.flops / total / 1e9, 1) : 0,
                "share": round(total / profiled, 4),
            ]
            if training { row["backward_ms"] = round(r.backward * 1000, 3) }
            return row
        }
        func left(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
        func right(_ s: String, _ w: Int) -> String { s.count >= w ? s : String(repeating: " ", count: w - s.count) + s }
        let width = max(22, layers.prefix(15).map { ($0["layer"] as! String).count }.max() ?? 0)
        var text = "\(title):\n" + left("layer", width) + " " + left("class", 19) + right(training ? "fwd ms" : "ms", 9)
            + (training ? right("bwd ms", 9) : "") + right("GFLOP/s", 9) + right("share", 8) + "\n"
        for row in layers.prefix(15) {
            text += left(row["layer"] as! String, width) + " " + left(row["class"] as! String, 19)
                + right(String(format: "%.2f", row["forward_ms"] as! Double), 9)
                + (training ? right(String(format: "%.2f", row["backward_ms"] as! Double), 9) : "")
                + right(String(format: "%.1f", row["gflops"] as! Double), 9) + right(String(format: "%.1f%%", 100 * (row["share"] as! Double)), 8) + "\n"
        }
        if training {
            text += String(format: "profiled %.1f ms of a %.1f ms step: forward %.1f, loss %.2f, backward %.1f, adam %.1f\n",
                           profiled * 1000, wall / Double(steps) * 1000, (phases["forward"] ?? 0) * 1000, (phases["loss"] ?? 0) * 1000,
                           (phases["backward"] ?? 0) * 1000, (phases["optimizer"] ?? 0) * 1000)
        } else {
            text += String(format: "profiled %.2f ms of a %.2f ms forward over %d steps\n", profiled * 1000, wall / Double(steps) * 1000,
                           table.count)
        }
        FileHandle.standardError.write(Data(text.utf8))
        return [
            "layers": layers,
            "phase_ms": phases.mapValues { round($0 * 1000, 3) },
            "step_ms": round(wall / Double(steps) * 1000, 3),
        ]
    }

    /// Sorted wall times of `count` calls (after one untimed call); the array is allocated before timing.
    static func latencies(_ count: Int, _ body: () -> Void) -> [Double] {
        var times = [Double](repeating: 0, count: count)
        body()
        for i in times.indices {
            let t = monotonicSeconds()
            body()
            times[i] = monotonicSeconds() - t
        }
        return times.sorted()
    }

    /// Best sgemm rate on large square matrices: the ceiling for a GEMM-bound training step.
    static func sgemmPeak(threads: Int) -> Double {
        let pool = ThreadPool(threads: threads)
        let n = 1536
        let a = [Float](repeating: 1.0 / 3, count: n * n), b = a
        var c = [Float](repeating: 0, count: n * n)
        var best = 0.0
        for _ in 0..<4 {
            let t0 = monotonicSeconds()
            a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
                parallelGEMM(pool, transA: false, transB: false, m: n, n: n, k: n, alpha: Float(1), a: pa.baseAddress!, lda: n,
                           b: pb.baseAddress!, ldb: n, beta: 0, c: pc.baseAddress!, ldc: n)
            } } }
            best = max(best, 2 * Double(n * n * n) / (monotonicSeconds() - t0) / 1e9)
        }
        return round(best, 1)
    }

    /// Median seconds of `repeats` allreduces (sum, in place) of a float32 block, and the implied
    /// algorithm bandwidth (bytes / s) and bus bandwidth (2(N−1)/N × bytes / s, what a ring moves per link).
    static func allreduceBench(megabytes: Double, repeats: Int) throws {
        guard Communicator.launchedByMPI(ProcessInfo.processInfo.environment) else {
            throw ValidationError("--allreduce-mb: run under mpirun (mpirun -np 2 resnet-run bench --allreduce-mb 94)")
        }
        let comm = try Communicator()
        defer { comm.finalize() }
        let count = Int(megabytes * 1e6) / 4
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: 1e-3, count: count)
        let request = UnsafeMutablePointer<MPI_Request?>.allocate(capacity: 1)
        defer { request.deallocate() }
        var times: [Double] = []
        for k in 0...max(1, repeats) {
            try comm.barrier()
            let t0 = monotonicSeconds()
            try comm.startAllreduceSum(buffer, count: count, scalarBytes: 4, request: request)
            try comm.waitAll(request, count: 1)
            if k > 0 { times.append(monotonicSeconds() - t0) }  // the first is warm-up
        }
        times.sort()
        let median = times[times.count / 2]
        guard comm.rank == 0 else { return }
        let bytes = Double(count * 4), n = Double(comm.size)
        let report: [String: Any] = [
            "ranks": comm.size, "bytes": count * 4, "repeats": times.count, "median_seconds": median,
            "min_seconds": times.first!, "algorithm_gb_per_s": bytes / median / 1e9,
            "bus_gb_per_s": 2 * (n - 1) / n * bytes / median / 1e9,
        ]
        let data = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}
