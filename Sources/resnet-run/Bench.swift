/// `resnet-run bench`: training-step and inference speed, heap allocations per step and peak
/// memory of a generated model, as one JSON object (figures for issues and the README come
/// from here, never from timed tests).
import AllocCounter
import ArgumentParser
import Foundation
import Kernels
import Models

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmark a training step, inference throughput and latency; print JSON.",
        discussion: """
        Measures, after warm-up: seconds per training step (forward + backward + Adam) at --batch-size,
        the implied seconds per 1,080-image SIGNS epoch, inference images/s at --batch-size and latency at
        batch 1, heap allocations per training step (malloc is interposed in this binary), peak RSS, the
        model's arena size, and achieved vs. peak OpenBLAS sgemm GFLOP/s.
        """)

    @Option(help: "Model to benchmark.") var model = "resnet50-signs"
    @Option(help: "Training batch size (≤ the model's capacity).") var batchSize: Int?
    @Option(help: "Timed training steps.") var steps = 5
    @Option(help: "Timed inference batches.") var inferenceBatches = 5
    @Option(help: "Kernel threads (default: all cores).") var threads: Int?
    @Flag(help: "Skip the sgemm peak measurement.") var skipGemm = false

    func run() throws {
        let type = try modelType(named: model)
        let batch = batchSize ?? type.capacity
        guard batch >= 1, batch <= type.capacity else {
            throw ValidationError("--batch-size: \(batch) is outside 1...\(type.capacity), the capacity set in \(type.modelName).arch.")
        }
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1.") }
        let threadCount = threads ?? ProcessInfo.processInfo.activeProcessorCount
        guard threadCount >= 1 else { throw ValidationError("--threads must be at least 1.") }
        var report = measure(type, batch: batch, threads: threadCount)
        if !skipGemm { report["sgemm_peak_gflops"] = Self.sgemmPeak(threads: threadCount) }
        if let achieved = report["train_gflops"] as? Double, let peak = report["sgemm_peak_gflops"] as? Double {
            report["train_fraction_of_sgemm_peak"] = Self.round(achieved / peak, 3)
        }
        let data = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }

    static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
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

    func measure<M: GeneratedModelType>(_ type: M.Type, batch: Int, threads: Int) -> [String: Any] {
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
            let t0 = Self.now()
            trainStep()
            times.append(Self.now() - t0)
        }
        let allocationsPerStep = Double(alloc_counter_allocations() - allocationsBefore) / Double(steps)
        let sorted = times.sorted()
        let median = sorted[sorted.count / 2]
        let mean = times.reduce(0, +) / Double(times.count)

        // Inference throughput at the batch size, latency at batch 1.
        model.forward(count: batch, training: false)
        let t0 = Self.now()
        for _ in 0..<inferenceBatches { model.forward(count: batch, training: false) }
        let inferenceSeconds = (Self.now() - t0) / Double(inferenceBatches)
        var latencies: [Double] = []
        model.forward(count: 1, training: false)
        for _ in 0..<max(inferenceBatches, 10) {
            let t = Self.now()
            model.forward(count: 1, training: false)
            latencies.append(Self.now() - t)
        }
        latencies.sort()

        let trainFLOPs = Double(3 * M.forwardFLOPsPerSample * batch)
        let epochImages = 1080
        let fullSteps = Double(epochImages / batch), lastFraction = Double(epochImages % batch) / Double(batch)
        return [
            "model": M.registryName,
            "dtype": M.dtype,
            "batch_size": batch,
            "threads": threads,
            "blas_core": BLASRuntime.coreName,
            "timed_steps": steps,
            "train_step_seconds_median": Self.round(median, 4),
            "train_step_seconds_mean": Self.round(mean, 4),
            "train_step_seconds_min": Self.round(sorted[0], 4),
            "train_images_per_second": Self.round(Double(batch) / median, 2),
            "epoch_seconds_estimate_1080_images": Self.round(median * (fullSteps + lastFraction), 2),
            "train_gflops": Self.round(trainFLOPs / median / 1e9, 2),
            "inference_images_per_second": Self.round(Double(batch) / inferenceSeconds, 2),
            "inference_batch1_ms_median": Self.round(latencies[latencies.count / 2] * 1000, 3),
            "heap_allocations_per_train_step": allocationsPerStep,
            "allocation_counter_active": alloc_counter_active() != 0,
            "peak_rss_bytes": Self.peakRSSBytes(),
            "arena_bytes": M.arenaBytes,
            "parameters": M.parameterCount,
        ]
    }

    /// Best sgemm rate on large square matrices: the ceiling for a GEMM-bound training step.
    static func sgemmPeak(threads: Int) -> Double {
        let pool = ThreadPool(threads: threads)
        let n = 1536
        let a = [Float](repeating: 1.0 / 3, count: n * n), b = a
        var c = [Float](repeating: 0, count: n * n)
        var best = 0.0
        for _ in 0..<4 {
            let t0 = now()
            a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
                parallelGEMM(pool, transA: false, transB: false, m: n, n: n, k: n, alpha: Float(1), a: pa.baseAddress!, lda: n,
                           b: pb.baseAddress!, ldb: n, beta: 0, c: pc.baseAddress!, ldc: n)
            } } }
            best = max(best, 2 * Double(n * n * n) / (now() - t0) / 1e9)
        }
        return round(best, 1)
    }
}
