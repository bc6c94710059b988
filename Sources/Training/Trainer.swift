/// The epoch/step loop for one model type, as Keras' `model.fit(shuffle=True)` runs it:
/// each epoch shuffles the training images (xoshiro256** seeded from the run's seed, state
/// checkpointed), trains every batch including the last partial one (BN statistics over its
/// samples), steps Adam, accumulates loss/accuracy as a sample-weighted running mean, then
/// evaluates the test set in inference mode and records the epoch.
///
/// Nothing is allocated between the first and last step of an epoch: batches are copied into
/// `model.input` and a label buffer made once, the permutation is shuffled in place, progress is
/// formatted into a fixed buffer. At each epoch end the state (`stateBytes`, step, RNG) is copied
/// into a buffer allocated once, so an interrupt in the middle of the next epoch can store the
/// checkpoint of the last completed epoch and a resume replays that epoch bit for bit.
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
}

final class Trainer<M: GeneratedModelType> {
    let model: M
    let data: LoadedData
    let hp: Hyperparameters
    let store: RunStore
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
    var bestAccuracy = -Double.infinity
    var bestEpoch = 0
    var results: [EpochResult] = []
    /// Set when `--stop-after-epochs` raised the interrupt flag.
    var stopRequested = false

    // The state as of the last completed epoch, spilled to an unlinked temporary file: ResNet-50's
    // weights + Adam moments are 283 MB, which would otherwise sit in memory for the whole run.
    let saved: SpillFile
    var savedStep = 0
    var savedRNG: Xoshiro256
    var savedEpoch = 0
    var savedBest = (accuracy: -Double.infinity, epoch: 0)
    /// Whether `saved` holds a state (set by the first `keepCheckpoint`).
    var hasCheckpoint = false

    let order: UnsafeMutablePointer<Int>
    let loader = BatchLoader<M>()
    let parameterManifest = Weights.parameterManifest(M.self)

    init(model: M, data: LoadedData, hyperparameters: Hyperparameters, store: RunStore, run: Int64,
         progress: ProgressPrinter, allocationCounter: (() -> Int)?, stopAfterEpochs: Int?, failAfterEpochs: Int?) throws {
        self.model = model
        self.data = data
        self.hp = hyperparameters
        self.store = store
        self.runID = run
        self.progress = progress
        self.allocationCounter = allocationCounter
        self.stopAfterEpochs = stopAfterEpochs
        self.failAfterEpochs = failAfterEpochs
        rng = Trainer.shuffleRNG(seed: hyperparameters.seed)
        savedRNG = rng
        saved = try SpillFile(byteCount: model.stateBytes.count)
        order = .allocate(capacity: max(data.train.count, 1))
    }

    deinit {
        order.deallocate()
    }

    /// The shuffling generator: its own stream, independent of the weight initialization's.
    static func shuffleRNG(seed: UInt64) -> Xoshiro256 { Xoshiro256(seed: seed ^ 0x5348_5546_464C_4521) }

    // MARK: Checkpoints

    /// Copies the current state into the checkpoint spill file (epoch end, and at start).
    func keepCheckpoint() throws {
        try saved.write(UnsafeRawBufferPointer(model.stateBytes))
        hasCheckpoint = true
        savedStep = model.step
        savedRNG = rng
        savedEpoch = epochsDone
        savedBest = (bestAccuracy, bestEpoch)
    }

    /// Writes the in-memory checkpoint (state as of the last completed epoch) to the store.
    func storeCheckpoint() throws {
        let words = savedRNG.stateWords.map { String($0) }.joined(separator: ",")
        var extra = ["step": "\(savedStep)", "rng": words, "epochs_done": "\(savedEpoch)"]
        if savedBest.epoch > 0 {
            extra["best_test_accuracy"] = "\(savedBest.accuracy)"
            extra["best_epoch"] = "\(savedBest.epoch)"
        }
        try saved.withContents { bytes in
            try store.saveSnapshot(run: runID, kind: .checkpoint, epoch: savedEpoch,
                                   tensors: Weights.checkpointManifest(M.self), bytes: bytes, extra: extra)
        }
    }

    /// Restores a stored checkpoint into the model and the loop state.
    func restore(from record: RunRecord) throws {
        try Weights.checkCompatible(M.self, run: record)
        let snapshot = try store.snapshots(run: runID).first { $0.kind == .checkpoint }
        guard let snapshot else { throw TrainingError("run \(runID) has no checkpoint to resume from") }
        try Weights.loadParameters(into: model, store: store, run: record, kind: .checkpoint)
        let words = (snapshot.extra["rng"] ?? "").split(separator: ",").compactMap { UInt64($0) }
        guard words.count == 4, let step = snapshot.extra["step"].flatMap(Int.init) else {
            throw TrainingError("the checkpoint of run \(runID) lacks its step count or RNG state")
        }
        model.step = step
        rng = Xoshiro256(state: words)
        epochsDone = snapshot.epoch
        if let a = snapshot.extra["best_test_accuracy"].flatMap(Double.init),
           let e = snapshot.extra["best_epoch"].flatMap(Int.init) {
            bestAccuracy = a
            bestEpoch = e
        }
    }

    // MARK: The loop

    func run() throws -> LoopOutcome {
        try keepCheckpoint()
        let train = data.train
        let steps = (train.count + hp.batchSize - 1) / hp.batchSize
        let batch = hp.batchSize
        return try train.images.withUnsafeBufferPointer { imageBuffer in
            try train.labels.withUnsafeBufferPointer { labelBuffer in
                let images = imageBuffer.baseAddress!, classes = labelBuffer.baseAddress!
                while epochsDone < hp.epochs {
                    let epoch = epochsDone + 1
                    if Interrupt.pending != 0 { return .interrupted(signal: Interrupt.pending, epoch: epoch) }
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
                    for step in 0..<steps {
                        if Interrupt.pending != 0 {
                            progress.interruptedMidEpoch()
                            return .interrupted(signal: Interrupt.pending, epoch: epoch)
                        }
                        let n = min(batch, train.count - step * batch)
                        let c0 = monotonicSeconds()
                        loader.fill(model, images: images, classes: classes, order: order, start: step * batch, count: n)
                        copySeconds += monotonicSeconds() - c0
                        model.forward(count: n, training: true)
                        let (loss, right) = model.backward(labels: loader.labels, count: n, inputGradient: false)
                        model.adamStep(learningRate: hp.learningRate, beta1: hp.beta1, beta2: hp.beta2, epsilon: hp.epsilon)
                        lossSum += loss * Double(n)
                        correct += right
                        seen += n
                        progress.step(step + 1, of: steps, elapsed: monotonicSeconds() - start,
                                      loss: lossSum / Double(seen), accuracy: Double(correct) / Double(seen))
                    }
                    let trainSeconds = monotonicSeconds() - start
                    let allocations = allocationsBefore.map { allocationCounter!() - $0 }

                    let e0 = monotonicSeconds()
                    let test = evaluateModel(model, on: data.test, loader: loader)
                    let evalSeconds = monotonicSeconds() - e0

                    var result = EpochResult(
                        epoch: epoch, loss: lossSum / Double(seen), accuracy: Double(correct) / Double(seen),
                        testLoss: test.loss, testAccuracy: test.accuracy, trainSeconds: trainSeconds,
                        seconds: 0, imagesPerSecond: Double(seen) / trainSeconds, batchCopySeconds: copySeconds,
                        evalSeconds: evalSeconds, recordSeconds: 0, steps: steps, stepLoopAllocations: allocations)

                    // Record: the epoch row, best weights when test accuracy improves, the checkpoint copy.
                    let r0 = monotonicSeconds()
                    result.seconds = r0 - start
                    try store.recordEpoch(run: runID, epoch: epoch, metrics: result.storedMetrics)
                    epochsDone = epoch
                    if test.accuracy > bestAccuracy {
                        bestAccuracy = test.accuracy
                        bestEpoch = epoch
                        try store.saveSnapshot(run: runID, kind: .best, epoch: epoch, tensors: parameterManifest,
                                               bytes: UnsafeRawBufferPointer(model.parameterBytes),
                                               extra: ["test_accuracy": "\(test.accuracy)", "test_loss": "\(test.loss)"])
                    }
                    try keepCheckpoint()
                    result.recordSeconds = monotonicSeconds() - r0
                    results.append(result)
                    progress.epochEnd(result)

                    if let failAfterEpochs, epoch == failAfterEpochs {
                        throw TrainingError("injected failure after epoch \(epoch) (--fail-after-epochs, a test option)")
                    }
                    if let stopAfterEpochs, epoch == stopAfterEpochs, epoch < hp.epochs {
                        stopRequested = true
                        Interrupt.request(SIGINT)
                    }
                }
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

    init(byteCount: Int) throws {
        let directory = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        var template = Array("\(directory)/resnet-run-checkpoint-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw TrainingError("cannot create a checkpoint file in \(directory): \(String(cString: strerror(errno)))") }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        guard ftruncate(fd, off_t(byteCount)) == 0 else {
            close(fd)
            throw TrainingError("cannot size the checkpoint file in \(directory): \(String(cString: strerror(errno)))")
        }
        self.fd = fd
        self.byteCount = byteCount
    }

    deinit { close(fd) }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        precondition(bytes.count == byteCount)
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw TrainingError("cannot write the checkpoint file: \(String(cString: strerror(errno)))") }
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
