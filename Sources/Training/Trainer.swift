/// The epoch/step loop for one model type, as Keras' `model.fit(shuffle=True)` runs it:
/// each epoch shuffles the training images (xoshiro256** seeded from the run's seed, state
/// checkpointed), trains every batch including the last partial one (BN statistics over its
/// samples), steps Adam, accumulates loss/accuracy as a sample-weighted running mean, then
/// evaluates the validation set (when training images are held out: `val_loss`, `val_accuracy`)
/// and the test set in inference mode and records the epoch. The "best" weights are those of the
/// epoch with the highest validation accuracy, or test accuracy without a validation set.
///
/// Nothing is allocated between the first and last step of an epoch: batches are copied into
/// `model.input` and a label buffer made once, the permutation is shuffled in place, progress is
/// formatted into a fixed buffer.
///
/// Checkpoints (state = `stateBytes`, step, RNG, best so far): every `checkpointEvery`-th completed
/// epoch (default: every epoch) the state is written to the store in one transaction that replaces
/// the previous checkpoint, so a run killed in any way (SIGKILL, OOM, power loss) resumes from
/// its last checkpointed epoch and replays the following epochs bit for bit. With a larger
/// interval, the epochs in between are also copied into an unlinked spill file, so Ctrl-C,
/// SIGTERM, a failure or a divergence still store the last completed epoch.
///
/// Divergence: a non-finite training loss stops the epoch at once; a non-finite parameter (a
/// cheap scan at each epoch end) or test loss stops it before the epoch is recorded. The run then
/// keeps the weights of its last good epoch and ends `diverged`.
import Datasets
import Foundation
import Kernels
import Models
import RunStore

/// How a training loop ended (errors are thrown).
enum LoopOutcome {
    case completed
    /// Interrupted by `signal`; `epoch` is the epoch in progress (its steps are discarded).
    case interrupted(signal: Int32, epoch: Int)
    /// The loss or the parameters stopped being finite during `epoch` (its steps are discarded).
    case diverged(reason: String)
}

final class Trainer<M: GeneratedModelType> {
    let model: M
    let data: LoadedData
    let hp: Hyperparameters
    /// The experiment store; nil on every MPI rank but 0 (rank 0 alone records).
    let store: RunStore?
    /// Data-parallel training (nil: one process).
    let dataParallel: DataParallel<M>?
    /// Test-only fault: SIGKILL this process at this global step (counted over the run) when its rank is `killRank`.
    var killAtStep: Int?
    let runID: Int64
    let progress: ProgressPrinter
    let allocationCounter: (() -> Int)?
    /// Behave like Ctrl-C after this epoch (tests).
    let stopAfterEpochs: Int?
    /// Throw after recording this epoch (tests of the `failed` path).
    let failAfterEpochs: Int?

    var rng: Xoshiro256
    /// Completed epochs.
    var epochsDone = 0
    /// The best epoch so far by `bestBy`, and its value of that metric.
    var bestAccuracy = -Double.infinity
    var bestEpoch = 0
    /// `val_accuracy` with a validation set, else `test_accuracy`.
    let bestBy: String
    var results: [EpochResult] = []
    /// Set when `--stop-after-epochs` raised the interrupt flag.
    var stopRequested = false

    /// Store the checkpoint every this many epochs (1: every epoch).
    let checkpointEvery: Int
    /// Also store it after the last epoch (the run can then be extended exactly).
    let keepCheckpoint: Bool
    /// Epoch of the checkpoint in the store (0: none).
    var storedCheckpointEpoch = 0
    // With checkpointEvery > 1: the state as of the last completed epoch, spilled to an unlinked
    // temporary file (ResNet-50's weights + Adam moments are 283 MB, which would otherwise sit in
    // memory for the whole run).
    let spill: SpillFile?
    var spilled: CheckpointMeta?

    let order: UnsafeMutablePointer<Int>
    let loader = BatchLoader<M>()
    /// The test set runs through the inference plan (batch norm folded, fused epilogues): the
    /// epoch's weights are copied and folded into it before each evaluation, on the same threads.
    let inference: M.Inference
    let parameterManifest = Weights.parameterManifest(M.self)

    init(model: M, data: LoadedData, hyperparameters: Hyperparameters, store: RunStore?, run: Int64,
         dataParallel: DataParallel<M>? = nil,
         progress: ProgressPrinter, allocationCounter: (() -> Int)?, stopAfterEpochs: Int?, failAfterEpochs: Int?,
         checkpointEvery: Int, keepCheckpoint: Bool) throws {
        self.model = model
        self.inference = M.Inference(pool: model.pool)
        self.data = data
        self.hp = hyperparameters
        self.store = store
        self.dataParallel = dataParallel
        self.runID = run
        self.progress = progress
        self.allocationCounter = allocationCounter
        self.stopAfterEpochs = stopAfterEpochs
        self.failAfterEpochs = failAfterEpochs
        self.checkpointEvery = checkpointEvery
        self.keepCheckpoint = keepCheckpoint
        rng = Trainer.shuffleRNG(seed: hyperparameters.seed)
        bestBy = data.bestBy
        spill = checkpointEvery > 1 && store != nil ? try SpillFile(byteCount: model.stateBytes.count) : nil
        order = .allocate(capacity: max(data.train.count, 1))
    }

    deinit {
        order.deallocate()
    }

    /// The shuffling generator: its own stream, independent of the weight initialization's.
    static func shuffleRNG(seed: UInt64) -> Xoshiro256 { Xoshiro256(seed: seed ^ 0x5348_5546_464C_4521) }

    // MARK: Checkpoints

    /// What a checkpoint records besides the state bytes.
    struct CheckpointMeta {
        var epoch: Int, step: Int, rng: Xoshiro256, best: (accuracy: Double, epoch: Int), bestBy: String

        var extra: [String: String] {
            var extra = ["step": "\(step)", "rng": rng.stateWords.map { String($0) }.joined(separator: ","),
                         "epochs_done": "\(epoch)"]
            if best.epoch > 0 {
                extra["best_\(bestBy)"] = "\(best.accuracy)"  // best_test_accuracy or best_val_accuracy
                extra["best_epoch"] = "\(best.epoch)"
            }
            return extra
        }
    }

    var currentMeta: CheckpointMeta {
        CheckpointMeta(epoch: epochsDone, step: model.step, rng: rng, best: (bestAccuracy, bestEpoch), bestBy: bestBy)
    }

    /// At the end of a completed epoch: store the checkpoint when the interval says so, else keep
    /// the state in the spill file. Not after the last epoch (the final weights end the run) unless
    /// the checkpoint is to be kept.
    func checkpointCompletedEpoch() throws {
        if epochsDone == hp.epochs {
            if keepCheckpoint { try storeCheckpoint(UnsafeRawBufferPointer(model.stateBytes), currentMeta) }
            return
        }
        if epochsDone % checkpointEvery == 0 {
            try storeCheckpoint(UnsafeRawBufferPointer(model.stateBytes), currentMeta)
        } else if let spill {
            try spill.write(UnsafeRawBufferPointer(model.stateBytes))
            spilled = currentMeta
        }
    }

    /// Stopping early (interrupt, failure, divergence): makes sure the store holds the checkpoint
    /// of the last completed epoch. Returns its epoch (0: no epoch completed, nothing stored).
    @discardableResult
    func storeLatestCheckpoint() throws -> Int {
        if let spill, let meta = spilled, meta.epoch > storedCheckpointEpoch {
            try spill.withContents { try storeCheckpoint($0, meta) }
        }
        return storedCheckpointEpoch
    }

    private func storeCheckpoint(_ bytes: UnsafeRawBufferPointer, _ meta: CheckpointMeta) throws {
        guard let store else { return }
        try store.saveSnapshot(run: runID, kind: .checkpoint, epoch: meta.epoch,
                               tensors: Weights.checkpointManifest(M.self), bytes: bytes, extra: meta.extra)
        storedCheckpointEpoch = meta.epoch
    }

    /// Restores a stored checkpoint into the model and the loop state. A run without one (it died
    /// before its first checkpoint was committed) starts over from its seed, the state it started
    /// with; the epochs it recorded are then replayed.
    func restore(from record: RunRecord) throws {
        try Weights.checkCompatible(M.self, run: record)
        guard let store else { return }
        guard let snapshot = try store.snapshots(run: runID).first(where: { $0.kind == .checkpoint }) else { return }
        try Weights.loadParameters(into: model, store: store, run: record, kind: .checkpoint)
        let words = (snapshot.extra["rng"] ?? "").split(separator: ",").compactMap { UInt64($0) }
        guard words.count == 4, let step = snapshot.extra["step"].flatMap(Int.init) else {
            throw TrainingError("the checkpoint of run \(runID) lacks its step count or RNG state")
        }
        model.step = step
        rng = Xoshiro256(state: words)
        epochsDone = snapshot.epoch
        storedCheckpointEpoch = snapshot.epoch
        if let a = snapshot.extra["best_\(bestBy)"].flatMap(Double.init),
           let e = snapshot.extra["best_epoch"].flatMap(Int.init) {
            bestAccuracy = a
            bestEpoch = e
        }
    }

    /// Whether every parameter (weights, BN statistics) is finite: one pass over the block.
    func parametersAreFinite() -> Bool {
        let p = model.parameters
        var bad = false
        for i in 0..<M.parameterCount where !p[i].isFinite { bad = true; break }
        return !bad
    }

    func divergence(_ what: String, epoch: Int) -> LoopOutcome {
        .diverged(reason: "\(what) in epoch \(epoch) (step \(model.step)); the learning rate \(formatNumber(hp.learningRate)) is probably too high — try a smaller --lr")
    }

    // MARK: The loop

    /// The test-only faults after a completed epoch (every rank runs them, recording or not):
    /// `--fail-after-epochs` throws, `--stop-after-epochs` asks for a stop as Ctrl-C would.
    private func injectTestFaults(after epoch: Int) throws {
        if let failAfterEpochs, epoch == failAfterEpochs {
            throw TrainingError("injected failure after epoch \(epoch) (--fail-after-epochs, a test option)")
        }
        if let stopAfterEpochs, epoch == stopAfterEpochs, epoch < hp.epochs {
            stopRequested = true
            Interrupt.request(SIGINT)
        }
    }

    func run() throws -> LoopOutcome {
        let train = data.train
        let steps = (train.count + hp.batchSize - 1) / hp.batchSize
        let batch = hp.batchSize
        return try train.images.withUnsafeBufferPointer { imageBuffer in
            try train.labels.withUnsafeBufferPointer { labelBuffer in
                let images = imageBuffer.baseAddress!, classes = labelBuffer.baseAddress!
                while epochsDone < hp.epochs {
                    let epoch = epochsDone + 1
                    // Under MPI the ranks agree on stopping after each step (below), never alone.
                    if dataParallel == nil, Interrupt.pending != 0 { return .interrupted(signal: Interrupt.pending, epoch: epoch) }
                    progress.epochStart(epoch)

                    // Shuffle (Fisher–Yates from the identity, so the order depends on the RNG
                    // state alone and a resumed run reproduces it).
                    for k in 0..<train.count { order[k] = k }
                    var i = train.count - 1
                    while i > 0 {
                        let j = Int(rng.next() % UInt64(i + 1))
                        let t = order[i]; order[i] = order[j]; order[j] = t
                        i -= 1
                    }

                    var lossSum = 0.0, correct = 0, seen = 0, copySeconds = 0.0
                    let allocationsBefore = allocationCounter?()
                    let start = monotonicSeconds()
                    dataParallel?.waitSeconds = 0
                    dataParallel?.batchNormSeconds = 0
                    for step in 0..<steps {
                        if dataParallel == nil, Interrupt.pending != 0 {
                            progress.interruptedMidEpoch()
                            return .interrupted(signal: Interrupt.pending, epoch: epoch)
                        }
                        if let killAtStep, model.step + 1 == killAtStep { kill(getpid(), SIGKILL) }
                        let n = min(batch, train.count - step * batch)
                        // This process's slice of the global batch (all of it in one process); an
                        // empty slice runs the batch's first sample as a placeholder (loss scale 0).
                        var first = 0, local = n
                        if let dataParallel {
                            (first, local) = sliceOf(batch: n, rank: dataParallel.comm.rank, size: dataParallel.comm.size)
                            dataParallel.beginStep(local: local, global: n)
                        }
                        let c0 = monotonicSeconds()
                        loader.fill(model.input, images: images, classes: classes, order: order, start: step * batch + (local == 0 ? 0 : first), count: max(local, 1))
                        copySeconds += monotonicSeconds() - c0
                        model.forward(count: max(local, 1), training: true)
                        var (loss, right) = model.backward(labels: loader.labels, count: max(local, 1), inputGradient: false)
                        var stepLoss = loss * Double(local), stepCount = local
                        if let dataParallel {
                            try dataParallel.finishGradients()
                            if local == 0 { loss = 0; right = 0; stepLoss = 0 }
                            let agreed = try dataParallel.agree(lossSum: stepLoss, correct: right, count: local,
                                                                interrupted: Interrupt.pending != 0, nonFinite: !loss.isFinite)
                            if agreed.nonFinite { loss = .nan }
                            if agreed.interrupted && !agreed.nonFinite {
                                progress.interruptedMidEpoch()
                                return .interrupted(signal: Interrupt.pending != 0 ? Interrupt.pending : SIGTERM, epoch: epoch)
                            }
                            (stepLoss, right, stepCount) = (agreed.lossSum, agreed.correct, agreed.count)
                        }
                        if !loss.isFinite {
                            progress.interruptedMidEpoch()
                            return divergence("the training loss became \(loss) at batch \(step + 1) of \(steps)", epoch: epoch)
                        }
                        model.adamStep(learningRate: hp.learningRate, beta1: hp.beta1, beta2: hp.beta2, epsilon: hp.epsilon)
                        lossSum += stepLoss
                        correct += right
                        seen += stepCount
                        progress.step(step + 1, of: steps, elapsed: monotonicSeconds() - start,
                                      loss: lossSum / Double(seen), accuracy: Double(correct) / Double(seen))
                    }
                    let trainSeconds = monotonicSeconds() - start
                    let allocations = allocationsBefore.map { allocationCounter!() - $0 }
                    var rankMetrics: [String: Double] = [:]
                    if let dataParallel {
                        try dataParallel.averageMovingStatistics()
                        try dataParallel.checkStateAgrees(epoch: epoch)
                        // Per rank: seconds of the epoch's steps, of waiting for the gradient sums
                        // after backward, and of synchronized batch norm's sums.
                        let timings = try dataParallel.comm.allgather([trainSeconds, dataParallel.waitSeconds, dataParallel.batchNormSeconds])
                        for (r, t) in timings.enumerated() {
                            rankMetrics["rank\(r)_step_seconds"] = t[0] / Double(steps)
                            rankMetrics["rank\(r)_compute_seconds"] = (t[0] - t[1] - t[2]) / Double(steps)
                            rankMetrics["rank\(r)_allreduce_wait_seconds"] = t[1] / Double(steps)
                            if dataParallel.syncBN { rankMetrics["rank\(r)_sync_bn_seconds"] = t[2] / Double(steps) }
                        }
                        if store == nil {
                            // Rank 0 evaluates and records; the others wait for its verdict.
                            if try dataParallel.rootVerdict(0) != 0 { return .diverged(reason: "rank 0 stopped the run") }
                            epochsDone = epoch
                            try injectTestFaults(after: epoch)
                            continue
                        }
                    }
                    /// Under MPI rank 0 tells the others whether training goes on (0) or stops (1).
                    func verdict(_ code: Int) throws { if let dataParallel { _ = try dataParallel.rootVerdict(code) } }

                    if !parametersAreFinite() {
                        progress.interruptedMidEpoch()
                        try verdict(1)
                        return divergence("a parameter became NaN or infinite", epoch: epoch)
                    }
                    let e0 = monotonicSeconds()
                    inference.load(parameters: model.parameters)
                    let validation = data.validation.map { evaluateModel(inference, on: $0, loader: loader) }
                    let test = evaluateModel(inference, on: data.test, loader: loader)
                    let evalSeconds = monotonicSeconds() - e0
                    if let validation, !validation.loss.isFinite {
                        progress.interruptedMidEpoch()
                        try verdict(1)
                        return divergence("the validation loss became \(validation.loss)", epoch: epoch)
                    }
                    if !test.loss.isFinite {
                        progress.interruptedMidEpoch()
                        try verdict(1)
                        return divergence("the test loss became \(test.loss)", epoch: epoch)
                    }

                    var result = EpochResult(
                        epoch: epoch, loss: lossSum / Double(seen), accuracy: Double(correct) / Double(seen),
                        testLoss: test.loss, testAccuracy: test.accuracy, trainSeconds: trainSeconds,
                        seconds: 0, imagesPerSecond: Double(seen) / trainSeconds, batchCopySeconds: copySeconds,
                        evalSeconds: evalSeconds, recordSeconds: 0, steps: steps, stepLoopAllocations: allocations)
                    result.valLoss = validation?.loss
                    result.valAccuracy = validation?.accuracy

                    // Record: the epoch row, best weights when the monitored accuracy (validation,
                    // else test) improves, as Keras' ModelCheckpoint(save_best_only=True), the checkpoint.
                    let r0 = monotonicSeconds()
                    result.seconds = r0 - start
                    guard let store else { throw TrainingError("internal: no store on the recording rank") }
                    try store.recordEpoch(run: runID, epoch: epoch, metrics: result.storedMetrics.merging(rankMetrics) { a, _ in a })
                    epochsDone = epoch
                    let monitored = validation?.accuracy ?? test.accuracy
                    if monitored > bestAccuracy {
                        bestAccuracy = monitored
                        bestEpoch = epoch
                        var extra = ["test_accuracy": "\(test.accuracy)", "test_loss": "\(test.loss)", "best_by": bestBy]
                        if let validation {
                            extra["val_accuracy"] = "\(validation.accuracy)"
                            extra["val_loss"] = "\(validation.loss)"
                        }
                        try store.saveSnapshot(run: runID, kind: .best, epoch: epoch, tensors: parameterManifest,
                                               bytes: UnsafeRawBufferPointer(model.parameterBytes), extra: extra)
                    }
                    try checkpointCompletedEpoch()
                    result.recordSeconds = monotonicSeconds() - r0
                    results.append(result)
                    progress.epochEnd(result)
                    try verdict(0)

                    try injectTestFaults(after: epoch)
                }
                guard let store else { return .completed }
                try store.saveSnapshot(run: runID, kind: .final, epoch: epochsDone, tensors: parameterManifest,
                                       bytes: UnsafeRawBufferPointer(model.parameterBytes),
                                       extra: results.last.map { ["test_accuracy": "\($0.testAccuracy)", "test_loss": "\($0.testLoss)"] } ?? [:])
                return .completed
            }
        }
    }
}

/// A scratch file of fixed size, unlinked as soon as it is created (so nothing is left behind,
/// whatever happens to the process), written with pwrite and read back through a mapping.
final class SpillFile {
    let fd: Int32
    let byteCount: Int
    /// Where the (unlinked) file lives, for messages.
    let location: String

    init(byteCount: Int) throws {
        let directory = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(directory)/resnet-run-checkpoint-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        let megabytes = (byteCount + (1 << 20) - 1) >> 20
        guard fd >= 0 else {
            throw TrainingError("cannot create the checkpoint spill file in TMPDIR \(directory): \(String(cString: strerror(errno))) (--checkpoint-every > 1 keeps a \(megabytes) MB copy there; set TMPDIR or use --checkpoint-every 1)")
        }
        location = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        unlink(location)
        // Reserve the blocks now: a full disk or a file-size limit is reported here, before the
        // first epoch, not in the middle of the run.
        let rc = posix_fallocate(fd, 0, off_t(byteCount))
        guard rc == 0 else {
            close(fd)
            throw TrainingError("cannot reserve \(megabytes) MB for the checkpoint spill file \(location): \(String(cString: strerror(rc))) (free space in TMPDIR, set TMPDIR elsewhere, or use --checkpoint-every 1)")
        }
        self.fd = fd
        self.byteCount = byteCount
    }

    deinit { close(fd) }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count == byteCount else {
            throw TrainingError("checkpoint spill: \(bytes.count) bytes do not fit the \(byteCount)-byte file")
        }
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw TrainingError("cannot write the checkpoint spill file \(location): \(String(cString: strerror(errno)))") }
            done += n
        }
    }

    func withContents<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let map = mmap(nil, byteCount, PROT_READ, MAP_SHARED, fd, 0), map != MAP_FAILED else {
            throw TrainingError("cannot map the checkpoint file: \(String(cString: strerror(errno)))")
        }
        defer { munmap(map, byteCount) }
        return try body(UnsafeRawBufferPointer(start: map, count: byteCount))
    }
}
