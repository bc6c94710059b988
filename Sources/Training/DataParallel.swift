/// Data-parallel training on MPI: every rank holds the whole model and trains a contiguous slice of
/// every global batch (one global seeded shuffle); the gradients are summed over the ranks in
/// buckets that start while the backward pass is still running, and every rank then takes the same
/// Adam step, so the weights stay bitwise identical.
///
/// The loss is the global batch's mean: each rank scales dLogits by 1/(global batch) instead of
/// 1/(its slice), so the sum of the ranks' gradients is the single-process gradient. A rank whose
/// slice is empty (the last partial batch smaller than the world) runs one placeholder sample with
/// a loss scale of 0 — zero gradients, no contribution to synchronized batch statistics, its moving
/// averages restored afterwards — so it still joins every collective in the same order.
import CMPI
import Distributed
import Foundation
import Kernels
import Models
import RunStore

/// The slice [start, start + count) of a global batch of `batch` samples that `rank` of `size` trains:
/// as even as possible, the first `batch % size` ranks one sample more.
func sliceOf(batch: Int, rank: Int, size: Int) -> (start: Int, count: Int) {
    let base = batch / size, extra = batch % size
    return (rank * base + min(rank, extra), base + (rank < extra ? 1 : 0))
}

final class DataParallel<M: GeneratedModelType>: DataParallelHooks, BatchNormSync {
    let comm: Communicator
    let model: M
    let syncBN: Bool
    let bucketElements: Int
    let bucketCount: Int
    let requests: UnsafeMutablePointer<MPI_Request?>
    /// The moving statistics of a placeholder step (per-rank batch norm), put back after it.
    let savedStatistics: UnsafeMutablePointer<M.Scalar>
    let statisticsCount: Int
    /// Per step: the metrics every rank contributes [loss·n, correct, n, interrupt, non-finite].
    let stepSums = UnsafeMutablePointer<Double>.allocate(capacity: 5)

    private(set) var lossScale: Double = 0
    var batchNormSync: BatchNormSync? { syncBN ? self : nil }
    private var started = 0
    private var placeholder = false
    private var modelCount = 1
    private var globalCount = 1
    /// The first MPI error met inside a hook (hooks cannot throw); the step then throws it.
    private var failure: Error?

    // Timings of the current epoch (seconds).
    var waitSeconds = 0.0
    var batchNormSeconds = 0.0

    init(comm: Communicator, model: M, syncBN: Bool, bucketMB: Double) {
        self.comm = comm
        self.model = model
        self.syncBN = syncBN
        let stride = MemoryLayout<M.Scalar>.stride
        bucketElements = max(1, Int(bucketMB * 1_048_576) / stride)
        bucketCount = max(1, (M.trainableParameterCount + bucketElements - 1) / bucketElements)
        requests = .allocate(capacity: bucketCount)
        requests.initialize(repeating: nil, count: bucketCount)
        statisticsCount = M.parameterCount - M.trainableParameterCount
        savedStatistics = .allocate(capacity: max(1, statisticsCount))
    }

    deinit {
        requests.deallocate()
        savedStatistics.deallocate()
        stepSums.deallocate()
    }

    /// Bucket k covers the gradients [lower(k), upper(k)), counted from the end of the block
    /// (backward finishes the last layers' gradients first).
    @inline(__always) func lower(_ k: Int) -> Int { max(0, M.trainableParameterCount - (k + 1) * bucketElements) }
    @inline(__always) func upper(_ k: Int) -> Int { M.trainableParameterCount - k * bucketElements }

    /// Before forward: this rank runs `local` samples of a global batch of `global` (0: a placeholder).
    func beginStep(local: Int, global: Int) {
        placeholder = local == 0
        modelCount = max(local, 1)
        globalCount = global
        lossScale = placeholder ? 0 : 1 / Double(global)
        started = 0
        if placeholder && !syncBN && statisticsCount > 0 {
            savedStatistics.update(from: model.parameters + M.trainableParameterCount, count: statisticsCount)
        }
    }

    func gradientsReady(from offset: Int) {
        guard failure == nil else { return }
        var any = false
        while started < bucketCount && lower(started) >= offset {
            let k = started
            do {
                try comm.startAllreduceSum(model.gradients + lower(k), count: upper(k) - lower(k),
                                           scalarBytes: MemoryLayout<M.Scalar>.stride, request: requests + k)
            } catch {
                failure = error
                return
            }
            started += 1
            any = true
        }
        // Open MPI progresses nonblocking collectives only inside MPI calls: test the started ones
        // now and then so that they move while the backward pass goes on.
        if !any && started > 0 {
            var flag: Int32 = 0
            MPI_Testall(Int32(started), requests, &flag, cmpi_statuses_ignore())
        }
    }

    /// After backward: every bucket summed (waits for the ones still in flight).
    func finishGradients() throws {
        gradientsReady(from: 0)
        if let failure { throw failure }
        let t0 = monotonicSeconds()
        try comm.waitAll(requests, count: bucketCount)
        waitSeconds += monotonicSeconds() - t0
        if placeholder && !syncBN && statisticsCount > 0 {
            (model.parameters + M.trainableParameterCount).update(from: savedStatistics, count: statisticsCount)
        }
    }

    func allreduce(_ values: UnsafeMutablePointer<Double>, count: Int, rows: Int, backward: Bool) -> Int {
        if placeholder { values.update(repeating: 0, count: count) }
        if failure == nil {
            let t0 = monotonicSeconds()
            do { try comm.allreduceSum(values, count: count) } catch { failure = error }
            batchNormSeconds += monotonicSeconds() - t0
        }
        // The placeholder sample is not part of the batch: normalized with the batch's statistics
        // in the forward pass (the moving averages stay identical), but no input gradient.
        if placeholder && backward { values.update(repeating: 0, count: count) }
        return rows / modelCount * globalCount
    }

    /// The per-step agreement: sums of this step's loss and correct count, and whether any rank
    /// was interrupted or saw a non-finite loss (all ranks then stop after the same step).
    func agree(lossSum: Double, correct: Int, count: Int, interrupted: Bool, nonFinite: Bool) throws
        -> (lossSum: Double, correct: Int, count: Int, interrupted: Bool, nonFinite: Bool) {
        if let failure { throw failure }
        stepSums[0] = nonFinite ? 0 : lossSum
        stepSums[1] = Double(correct)
        stepSums[2] = Double(count)
        stepSums[3] = interrupted ? 1 : 0
        stepSums[4] = nonFinite ? 1 : 0
        try comm.allreduceSum(stepSums, count: 5)
        return (stepSums[0], Int(stepSums[1]), Int(stepSums[2]), stepSums[3] > 0, stepSums[4] > 0)
    }

    /// Rank 0's decision after evaluating and recording an epoch (0: go on), on every rank.
    func rootVerdict(_ code: Int) throws -> Int {
        stepSums[0] = comm.rank == 0 ? Double(code) : 0
        try comm.allreduceSum(stepSums, count: 1)
        return Int(stepSums[0])
    }

    /// Per-rank batch norm leaves each rank with its own moving statistics: at an epoch's end they
    /// are averaged, so that every rank holds (and rank 0 stores) the same state.
    func averageMovingStatistics() throws {
        guard !syncBN, statisticsCount > 0, comm.size > 1 else { return }
        var values = [Double](repeating: 0, count: statisticsCount)
        let p = model.parameters + M.trainableParameterCount
        for i in 0..<statisticsCount { values[i] = Double(p[i]) }
        try values.withUnsafeMutableBufferPointer { try comm.allreduceSum($0.baseAddress!, count: statisticsCount) }
        let inv = 1 / Double(comm.size)
        for i in 0..<statisticsCount { p[i] = M.Scalar(values[i] * inv) }
    }

    /// Checks that every rank holds the same weights, BN statistics and Adam moments (a hash of the
    /// state, compared through min and max over the ranks).
    func checkStateAgrees(epoch: Int) throws {
        let hash = XXH64.hash(UnsafeRawBufferPointer(model.stateBytes)) ^ UInt64(model.step)
        let (lo, hi) = try comm.minMax(hash)
        if lo != hi {
            throw TrainingError("the ranks' weights differ after epoch \(epoch) (state hashes \(String(lo, radix: 16)) … \(String(hi, radix: 16))); data-parallel training must keep them identical")
        }
    }
}
