/// One `resnet-run train` invocation end to end.
///
/// Order (so that bad input never leaves a half-written run): validate the options against the
/// model → install the signal handler → load and check the data → open the store → create the
/// model (arena) → only then create the run row (`running`). From there on every exit path sets a
/// final status: `completed` (final weights stored), `interrupted` (checkpoint of the last
/// completed epoch stored; exit 130/143), `diverged` (non-finite loss or weights; the last good
/// epoch's weights kept; exit 1) or `failed` with the reason. A process that dies without a word
/// (SIGKILL, OOM) leaves a `running` row that reads as `crashed`; its checkpoint (stored every
/// `--checkpoint-every` epochs) makes it resumable all the same.
///
/// `--resume RUN` reads everything (model, hyperparameters, data source) back from the run row,
/// checks the run is resumable and the data unchanged (sha256), restores the checkpoint (weights,
/// BN statistics, Adam moments and step, RNG state), drops epochs recorded after it, and continues
/// with the next epoch. A run that never completed an epoch starts over from its seed.
import Datasets
import Distributed
import Foundation
import Kernels
import Models
@_spi(Testing) import RunStore

public struct TrainRequest {
    public var model: String = "resnet50-signs"
    public var hyperparameters = Hyperparameters()
    public var data: DataSource = .directory(SIGNS.defaultDirectory)
    public var dbPath: String = "experiments.db"
    public var label: String?
    /// nil: all cores (new runs) or the run's recorded count (resumes).
    public var threads: Int?
    public var progress: ProgressMode = .plain
    /// Behave like Ctrl-C once this epoch has ended (tests).
    public var stopAfterEpochs: Int?
    /// Fail once this epoch has been recorded (tests of the `failed` status).
    public var failAfterEpochs: Int?
    public var resume: Int64?
    public var programVersion: String = ""
    public var commandLine: String = CommandLine.arguments.joined(separator: " ")
    /// Heap allocation counter (the CLI links one in); enables `step_loop_allocations`.
    public var allocationCounter: (() -> Int)?
    /// For tests: SIGKILL this process halfway through writing its Nth weight snapshot.
    public var killDuringSnapshot: Int?
    /// For tests: wait this long after an interrupt before recording it (room for a second signal).
    public var lingerAfterInterrupt: Double?
    /// With `resume`: train until this many epochs in total (extends a run, completed or not).
    public var extendTo: Int?
    /// Keep the resume checkpoint when the run completes, so that it can be extended exactly later.
    public var keepCheckpoint = false
    /// Start from the weights of this run (fine-tuning; fresh Adam state), recorded as the parent.
    public var initFrom: Int64?
    /// Which of its snapshots (nil: final, else best, else checkpoint).
    public var initWeights: SnapshotKind?
    /// Store the resume checkpoint every this many epochs (new runs; a resume keeps the run's).
    public var checkpointEvery: Int = 1
    /// Keras' `fit(validation_split=…)`: hold out this last fraction of the training images as a
    /// validation set (the "best" epoch is then chosen by validation accuracy). Not for a folder of
    /// class folders, whose `.folder(validationSplit:)` is image_dataset_from_directory's.
    public var validationSplit: Double?
    /// Seconds to wait for another process's lock on the database.
    public var busyTimeout: Double = 5
    /// How a new run's weights start (`--init`); a resumed run keeps its recorded one.
    public var initialization: WeightInitialization = .default
    /// Under mpirun: the world this process is one rank of (nil: one process).
    public var distributed: Communicator?
    /// Synchronized batch norm across ranks (new runs; a resume keeps the run's).
    public var syncBN = false
    /// Gradient bucket size in MiB for the data-parallel allreduce.
    public var bucketMB: Double = 25
    /// For tests: the rank that SIGKILLs itself at global step `killAtStep`.
    public var killRank: Int?
    public var killAtStep: Int?
    /// For tests: every rank writes its final parameters to DIR/rank-R.bin.
    public var dumpWeights: String?

    public init() {}
}

public struct TrainOutcome: Sendable {
    public var run: Int64
    public var status: RunStatus
    public var epochsPlanned: Int
    public var epochsDone: Int
    public var results: [EpochResult]
    public var finalTestAccuracy: Double?
    /// Test accuracy of the best epoch (the one `bestBy` chose).
    public var bestTestAccuracy: Double?
    public var bestEpoch: Int?
    /// The metric that chose the best epoch (`val_accuracy` or `test_accuracy`), and its value there.
    public var bestBy: String = "test_accuracy"
    public var bestValue: Double?
    /// The signal that interrupted the run (SIGINT/SIGTERM, or SIGINT for --stop-after-epochs).
    public var signal: Int32?
    public var dataLoadSeconds: Double
    public var setupSeconds: Double
    public var dataIdentity: String
    public var threads: Int
    public var arenaBytes: Int
    public var peakRSSBytes: Int
}

/// Interrupted before the run row existed: nothing was written (the command exits 130).
public struct InterruptedBeforeStart: Error, CustomStringConvertible {
    public var signal: Int32
    public var description: String { "interrupted before training started; nothing was recorded" }
}

/// Under mpirun, a rank other than 0 that stops because of bad input rank 0 has already reported.
public struct QuietExit: Error, CustomStringConvertible {
    public var status: Int32
    public var description: String { "stopped with the other ranks (rank 0 says why)" }
}

/// A run that failed (or diverged) after it was created (its row says so, with `reason`).
public struct RunFailed: Error, CustomStringConvertible {
    public var run: Int64
    public var reason: String
    public var status: RunStatus = .failed
    public var description: String { "run \(run) \(status.rawValue): \(reason)" }
}

extension TrainRequest {
    /// Every check of the request's values, made before anything is loaded or recorded; each
    /// message names the option. `resnet-run train` runs it once, from its `validate()`, and
    /// `TrainingJob.run` expects a request that passed it. (A resumed run's hyperparameters are
    /// its own: they are checked when they are read back from the run.)
    public func validate() throws {
        func atLeast1(_ value: Int?, _ option: String) throws {
            if let value, value < 1 { throw TrainingError("\(option): \(value) is not allowed; it must be at least 1") }
        }
        try atLeast1(threads, "--threads")
        try atLeast1(stopAfterEpochs, "--stop-after-epochs")
        try atLeast1(failAfterEpochs, "--fail-after-epochs")
        guard busyTimeout.isFinite, busyTimeout >= 0 else {
            throw TrainingError("--busy-timeout: \(formatNumber(busyTimeout)) is not a number of seconds ≥ 0")
        }
        if resume != nil {
            try atLeast1(extendTo, "--epochs")
            return
        }
        guard let type = ModelRegistry.model(named: model) else {
            throw TrainingError("--model: unknown model '\(model)'; available: \(ModelRegistry.names.joined(separator: ", "))")
        }
        try hyperparameters.validate(capacity: type.capacity, modelName: type.modelName, dtype: type.dtype)
        guard hyperparameters.seed <= UInt64(Int64.max) else {
            throw TrainingError("--seed: '\(hyperparameters.seed)' is not a seed; use a whole number from 0 to \(Int64.max)")
        }
        try atLeast1(checkpointEvery, "--checkpoint-every")
        if let f = validationSplit, !(f > 0 && f < 1) {
            throw TrainingError("--validation-split: '\(formatNumber(f))' is not a fraction between 0 and 1 (e.g. 0.2)")
        }
    }
}

public enum TrainingJob {
    /// Trains (or resumes) as `request` says; `request.validate()` must have passed.
    public static func run(_ request: TrainRequest) throws -> TrainOutcome {
        if let comm = request.distributed { return try runDistributed(request, comm) }
        if let resume = request.resume { return try resumeRun(resume, request) }

        let type = try modelType(request.model)
        let threads = request.threads ?? ThreadPool.availableProcessors
        Interrupt.install()
        var data = try request.data.load(for: ModelShape(type), progress: request.progress != .quiet)
        if let f = request.validationSplit { try data.holdOut(validationSplit: f) }
        let store = try openStore(request.dbPath, create: true, busyTimeout: request.busyTimeout)
        try checkInitFrom(request, type: type, store: store)
        if Interrupt.pending != 0 { throw InterruptedBeforeStart(signal: Interrupt.pending) }
        return try train(type, request: request, data: data, store: store, threads: threads, resuming: nil)
    }

    /// The registered model `--model` names, or one line listing the ones there are.
    static func modelType(_ name: String) throws -> any GeneratedModelType.Type {
        guard let type = ModelRegistry.model(named: name) else {
            throw TrainingError("--model: unknown model '\(name)'; available: \(ModelRegistry.names.joined(separator: ", "))")
        }
        return type
    }

    /// `--init-from` (and `--snapshot`), checked before anything is recorded: the run exists, trained
    /// this model, and has the weights asked for.
    static func checkInitFrom(_ request: TrainRequest, type: any GeneratedModelType.Type, store: RunStore) throws {
        guard let parent = request.initFrom else { return }
        let record: RunRecord
        do { record = try store.run(parent) } catch { throw TrainingError(prefix: "--init-from: ", error) }
        guard record.model == type.registryName else {
            throw TrainingError("--init-from: run \(parent) trained \(record.model), not \(type.registryName); pass --model \(record.model) or pick another run")
        }
        let kinds = try store.snapshots(run: parent).map(\.kind)
        if let kind = request.initWeights, !kinds.contains(kind) {
            throw TrainingError("--snapshot: run \(parent) has no '\(kind.rawValue)' weights (it has: \(kinds.isEmpty ? "none" : kinds.map(\.rawValue).joined(separator: ", ")))")
        }
        if kinds.isEmpty { throw TrainingError("--init-from: run \(parent) has no stored weights") }
    }

    /// Opens the experiment store; its errors are prefixed with the option that named it.
    static func openStore(_ path: String, create: Bool, busyTimeout: Double) throws -> RunStore {
        do {
            return try RunStore(path: path, createIfMissing: create, busyTimeout: busyTimeout)
        } catch {
            throw TrainingError(prefix: "--db: ", error)
        }
    }

    static func resumeRun(_ id: Int64, _ request: TrainRequest) throws -> TrainOutcome {
        let p = try prepareResume(id, request)
        return try train(p.type, request: p.request, data: p.data, store: p.store, threads: p.threads, resuming: p.record)
    }

    /// A resume, checked and loaded: everything `train` needs.
    struct PreparedResume {
        var type: any GeneratedModelType.Type
        var request: TrainRequest
        var data: LoadedData
        var store: RunStore
        var record: RunRecord
        var threads: Int
    }

    static func prepareResume(_ id: Int64, _ request: TrainRequest) throws -> PreparedResume {
        let store = try openStore(request.dbPath, create: false, busyTimeout: request.busyTimeout)
        let record = try store.run(id)
        switch record.status {
        case .completed:
            guard let target = request.extendTo, target > record.epochsPlanned else {
                throw TrainingError("run \(id) is already completed (\(record.epochsDone)/\(record.epochsPlanned) epochs); nothing to resume — extend it with --epochs N (more than \(record.epochsPlanned)), or start a new run")
            }
            guard try store.snapshots(run: id).contains(where: { $0.kind == .checkpoint && $0.epoch == record.epochsDone }) else {
                throw TrainingError("--epochs \(target): run \(id) completed without keeping its resume checkpoint (Adam state, shuffle state), so it cannot continue exactly; fine-tune from its weights with --init-from \(id), or train with --keep-checkpoint next time")
            }
        case .running:
            throw TrainingError("run \(id) is still running (pid \(record.owner.pid) on \(record.owner.host)); stop it first (Ctrl-C) and resume it then")
        case .diverged:
            throw TrainingError("run \(id) diverged (\(record.statusReason ?? "non-finite loss")); resuming would repeat it — start a new run with a smaller --lr")
        case .imported:
            throw TrainingError("run \(id) was imported from a Keras file (\(record.hyperparameters["source"] ?? "?")); it has no training state to resume — train a new run instead")
        case .interrupted, .failed, .crashed:
            break
        }
        guard let type = ModelRegistry.model(named: record.model) else {
            throw TrainingError("run \(id) trained model '\(record.model)', which this build does not have")
        }
        let h = record.hyperparameters
        if let target = request.extendTo, target < record.epochsDone {
            throw TrainingError("--epochs \(target): run \(id) has already done \(record.epochsDone) epochs")
        }
        var hp = Hyperparameters(learningRate: record.learningRate, epochs: request.extendTo ?? record.epochsPlanned,
                                 batchSize: record.batchSize, seed: UInt64(max(0, record.seed)))
        hp.beta1 = h["beta_1"].flatMap(Double.init) ?? hp.beta1
        hp.beta2 = h["beta_2"].flatMap(Double.init) ?? hp.beta2
        hp.epsilon = h["epsilon"].flatMap(Double.init) ?? hp.epsilon
        try hp.validate(capacity: type.capacity, modelName: type.modelName, dtype: type.dtype)
        let worldSize = h["world_size"].flatMap(Int.init) ?? 1, size = request.distributed?.size ?? 1
        if worldSize != size {
            throw TrainingError("--resume: run \(id) was trained on \(worldSize) process\(worldSize == 1 ? "" : "es") and this is \(size); resume it \(worldSize == 1 ? "without mpirun" : "with mpirun -np \(worldSize)") (the global batch's slices and the shuffle depend on it)")
        }

        Interrupt.install()
        let source = try DataSource(recorded: h, run: id)
        var data = try source.load(for: ModelShape(type), progress: request.progress != .quiet)
        if let text = h["validation_split"] {
            guard let f = Double(text) else { throw TrainingError("run \(id) records a bad validation_split '\(text)'") }
            try data.holdOut(validationSplit: f)
        }
        if case .folder(let path, _, _, _) = source, let recorded = h[ClassNames.key],
           let names = data.classNames, ClassNames.encode(names) != recorded {
            throw TrainingError("the classes of run \(id) changed: \(path) now has class folders \(names.joined(separator: ", ")), the run recorded \(ClassNames.recorded(h)?.joined(separator: ", ") ?? recorded)")
        }
        for (key, set) in [("train", data.train), ("test", data.test)] {
            if let recorded = h["\(key)_sha256"], recorded != set.sha256 {
                if case .folder = source {
                    throw TrainingError("the \(key) images of run \(id) changed: the file list of \(set.source) now has sha256 \(set.sha256 ?? "none"), the run recorded \(recorded) (a file was added, removed, renamed or resized)")
                }
                throw TrainingError("the \(key) data of run \(id) changed: \(set.source) now has sha256 \(set.sha256 ?? "none"), the run recorded \(recorded)")
            }
        }
        if Interrupt.pending != 0 { throw InterruptedBeforeStart(signal: Interrupt.pending) }
        let threads = request.threads ?? record.threads
        var r = request
        r.hyperparameters = hp
        r.model = record.model
        r.checkpointEvery = h["checkpoint_every"].flatMap(Int.init).map { max(1, $0) } ?? 1
        r.keepCheckpoint = r.keepCheckpoint || h["keep_checkpoint"] == "true"
        // Runs recorded before --init existed started from the default initialization.
        if let text = h[WeightInitialization.key] {
            guard let initialization = WeightInitialization(rawValue: text) else {
                throw TrainingError("run \(id) records an unknown init '\(text)' (this build knows \(WeightInitialization.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            r.initialization = initialization
        } else {
            r.initialization = .default
        }
        r.syncBN = h["sync_bn"] == "true"
        r.bucketMB = h["bucket_mb"].flatMap(Double.init) ?? r.bucketMB
        return PreparedResume(type: type, request: r, data: data, store: store, record: record, threads: threads)
    }

    /// The generic part: the existential model type is opened here, once.
    static func train<M: GeneratedModelType>(_: M.Type, request: TrainRequest, data: LoadedData, store: RunStore?,
                                             threads: Int, resuming: RunRecord?, hosts: [String] = []) throws -> TrainOutcome {
        let hp = request.hyperparameters
        let s0 = monotonicSeconds()
        let model = M(seed: hp.seed, threads: threads)
        // The notebook's weights; a resumed run needs them too when it died before its first checkpoint.
        if request.initialization == .keras { model.initializeKerasParameters() }
        let comm = request.distributed
        let dataParallel = comm.map { DataParallel(comm: $0, model: model, syncBN: request.syncBN, bucketMB: request.bucketMB) }
        model.dataParallel = dataParallel
        guard let store else {
            // A rank other than 0: no store; rank 0's starting state arrives by broadcast.
            let trainer = try Trainer(model: model, data: data, hyperparameters: hp, store: nil, run: 0, dataParallel: dataParallel,
                                      progress: ProgressPrinter(mode: .quiet, epochs: hp.epochs), allocationCounter: nil,
                                      stopAfterEpochs: request.stopAfterEpochs, failAfterEpochs: request.failAfterEpochs,
                                      checkpointEvery: request.checkpointEvery, keepCheckpoint: request.keepCheckpoint)
            if request.killRank == comm?.rank { trainer.killAtStep = request.killAtStep }
            try broadcastStart(trainer)
            let outcome: LoopOutcome
            do {
                outcome = try trainer.run()
            } catch {
                comm?.sendFailureNote(oneLine(error))
                throw RunFailed(run: 0, reason: oneLine(error))
            }
            try dumpWeights(request, model)
            var signal: Int32?
            if case .interrupted(let sig, _) = outcome { signal = sig }
            if case .diverged(let reason) = outcome { throw RunFailed(run: 0, reason: reason, status: .diverged) }
            return TrainOutcome(run: 0, status: signal == nil ? .completed : .interrupted, epochsPlanned: hp.epochs,
                                epochsDone: trainer.epochsDone, results: trainer.results, signal: signal,
                                dataLoadSeconds: data.seconds, setupSeconds: 0, dataIdentity: data.train.identity,
                                threads: threads, arenaBytes: M.arenaBytes, peakRSSBytes: peakRSSBytes())
        }
        // Fine-tuning: the parent's weights and BN statistics over the fresh initialization, Adam from
        // zero (as a new Keras optimizer would). A resumed child reloads them in case it died before its
        // first checkpoint; a checkpoint, when there is one, then overrides them.
        let parent = resuming.map { $0.hyperparameters["init_from"].flatMap { Int64($0) } } ?? request.initFrom
        var inherited: [String: String] = [:]
        if let parent {
            let record = try store.run(parent)
            let kind = try (resuming?.hyperparameters["init_weights"]).flatMap(SnapshotKind.init(rawValue:))
                ?? request.initWeights ?? Weights.defaultKind(store: store, run: parent)
            let epoch = try Weights.loadParameters(into: model, store: store, run: record, kind: kind)
            if kind == .checkpoint {
                model.adamM.update(repeating: 0, count: M.trainableParameterCount)
                model.adamV.update(repeating: 0, count: M.trainableParameterCount)
                model.step = 0
            }
            inherited = ["init_from": "\(parent)", "init_weights": kind.rawValue, "init_epoch": "\(epoch)"]
        }
        let progress = ProgressPrinter(mode: request.progress, epochs: hp.epochs)

        let runID: Int64
        if let resuming {
            runID = resuming.id
        } else {
            var hyper: [String: String] = [
                "optimizer": "adam", "lr": "\(hp.learningRate)", "beta_1": "\(hp.beta1)", "beta_2": "\(hp.beta2)",
                "epsilon": "\(hp.epsilon)", "epochs": "\(hp.epochs)", "batch_size": "\(hp.batchSize)",
                "seed": "\(hp.seed)", "loss": "categorical_crossentropy", "shuffle": "true",
                "dtype": M.dtype, "capacity": "\(M.capacity)", "threads": "\(threads)",
                "checkpoint_every": "\(request.checkpointEvery)", "keep_checkpoint": "\(request.keepCheckpoint)",
            ]
            hyper.merge(data.recordEntries) { a, _ in a }
            hyper.merge(inherited) { a, _ in a }
            if parent == nil { hyper[WeightInitialization.key] = request.initialization.rawValue }
            if let comm {
                hyper["world_size"] = "\(comm.size)"
                hyper["hosts"] = hosts.joined(separator: ",")
                hyper["sync_bn"] = "\(request.syncBN)"
                hyper["bucket_mb"] = "\(request.bucketMB)"
                hyper["batch_scope"] = "global"
            }
            let config = RunConfig(
                label: request.label, model: M.registryName, modelHash: M.descriptionSHA256,
                datasetPath: data.source.recordedPath, datasetSHA256: data.datasetSHA256,
                trainCount: data.train.count, testCount: data.test.count, hyperparameters: hyper,
                epochsPlanned: hp.epochs, batchSize: hp.batchSize, learningRate: hp.learningRate,
                seed: Int(hp.seed), threads: threads, programVersion: request.programVersion,
                commandLine: request.commandLine)
            runID = try store.createRun(config)
        }
        progress.run = runID
        if let n = request.killDuringSnapshot {
            // Fault injection: small chunks, and death in the middle of the nth snapshot's blob.
            store.blobChunkSize = 4096
            var chunks = 0, snapshots = 0
            store.afterSnapshotChunk = { offset in
                if offset <= 4096 { snapshots += 1; chunks = 0 }
                chunks += 1
                if snapshots == n && chunks == 2 { kill(getpid(), SIGKILL) }
            }
        }
        // A second Ctrl-C stops at once: the watchdog marks the run interrupted (resumable from its
        // last stored checkpoint) through a connection of its own, then exits.
        let dbPath = request.dbPath, busyTimeout = request.busyTimeout
        Interrupt.onSecondSignal {
            guard let store = try? RunStore(path: dbPath, createIfMissing: false, busyTimeout: busyTimeout),
                  (try? store.run(runID))?.recordedStatus == .running else { return }
            let name = Interrupt.pending == SIGTERM ? "SIGTERM" : "SIGINT"
            try? store.finishRun(run: runID, status: .interrupted,
                                 reason: "second \(name): stopped at once; resumable from the last stored checkpoint")
        }
        defer { Interrupt.onSecondSignal(nil) }

        let trainer: Trainer<M>
        do {
            trainer = try Trainer(model: model, data: data, hyperparameters: hp, store: store, run: runID,
                                  dataParallel: dataParallel, progress: progress, allocationCounter: request.allocationCounter,
                                  stopAfterEpochs: request.stopAfterEpochs, failAfterEpochs: request.failAfterEpochs,
                                  checkpointEvery: request.checkpointEvery, keepCheckpoint: request.keepCheckpoint)
        } catch {
            try? finishRun(store, runID, .failed, reason: oneLine(error))
            throw RunFailed(run: runID, reason: oneLine(error))
        }
        let outcome: LoopOutcome
        var setupSeconds = 0.0
        do {
            if let resuming {
                try trainer.restore(from: resuming)
                try store.resumeRun(run: runID, fromEpoch: trainer.epochsDone,
                                    epochsPlanned: hp.epochs != resuming.epochsPlanned ? hp.epochs : nil)
            }
            if comm != nil {
                if request.killRank == 0 { trainer.killAtStep = request.killAtStep }
                try broadcastStart(trainer)
            }
            setupSeconds = monotonicSeconds() - s0
            progress.started(model: M.registryName, data: data.source.recordedPath, resumedAfter: resuming.map { _ in trainer.epochsDone })
            outcome = try trainer.run()
        } catch {
            let reason = oneLine(error)
            // Keep the last completed epoch resumable when the store still works.
            _ = try? trainer.storeLatestCheckpoint()
            do {
                try finishRun(store, runID, .failed, reason: reason)
            } catch {
                throw RunFailed(run: runID, reason: reason + "; marking the run failed also failed: \(oneLine(error))")
            }
            throw RunFailed(run: runID, reason: reason)
        }

        var signal: Int32?
        switch outcome {
        case .completed:
            try store.finishRun(run: runID, status: .completed)
            // A checkpoint only serves a resume; a completed run keeps its final and best weights
            // (and, with --keep-checkpoint, the checkpoint of its last epoch, to be extended later).
            if !request.keepCheckpoint { try? store.deleteSnapshot(run: runID, kind: .checkpoint) }
        case .interrupted(let sig, let epoch):
            signal = sig
            if let linger = request.lingerAfterInterrupt {
                // Signals cut a sleep short; linger for the whole time.
                let end = monotonicSeconds() + linger
                while monotonicSeconds() < end { usleep(10_000) }
            }
            let name = sig == SIGTERM ? "SIGTERM" : "SIGINT"
            do {
                let saved = try trainer.storeLatestCheckpoint()
                let kept = saved > 0 ? "checkpoint of epoch \(saved) stored" : "no epoch completed; a resume starts over"
                let reason = trainer.stopRequested
                    ? "stopped after epoch \(trainer.epochsDone) (--stop-after-epochs)"
                    : "\(name) during epoch \(epoch); \(kept)"
                try finishRun(store, runID, .interrupted, reason: reason)
            } catch {
                let why = "interrupted, but storing the checkpoint failed: \(oneLine(error))"
                try? finishRun(store, runID, .failed, reason: why)
                throw RunFailed(run: runID, reason: why)
            }
        case .diverged(let reason):
            let saved = (try? trainer.storeLatestCheckpoint()) ?? 0
            let full = reason + (saved > 0 ? "; weights of epoch \(saved) kept" : "; no epoch completed, no weights kept")
            do {
                try finishRun(store, runID, .diverged, reason: full)
            } catch {
                throw RunFailed(run: runID, reason: full + "; marking the run diverged failed: \(oneLine(error))", status: .diverged)
            }
            throw RunFailed(run: runID, reason: full, status: .diverged)
        }
        try dumpWeights(request, model)
        let record = try store.run(runID)
        return TrainOutcome(
            run: runID, status: record.recordedStatus, epochsPlanned: hp.epochs, epochsDone: record.epochsDone,
            results: trainer.results, finalTestAccuracy: record.finalTestAccuracy,
            bestTestAccuracy: record.bestTestAccuracy, bestEpoch: record.bestEpoch,
            bestBy: trainer.bestBy, bestValue: trainer.bestEpoch > 0 ? trainer.bestAccuracy : nil, signal: signal,
            dataLoadSeconds: data.seconds, setupSeconds: max(0, setupSeconds), dataIdentity: data.train.identity,
            threads: threads, arenaBytes: M.arenaBytes, peakRSSBytes: peakRSSBytes())
    }
}

/// Records a run's final status. When the first attempt fails — typically because the write that
/// failed the run left the WAL at a full disk or at the file-size limit — the WAL is checkpointed
/// into the database and truncated, which frees its space, and the status is written again.
func finishRun(_ store: RunStore, _ run: Int64, _ status: RunStatus, reason: String?) throws {
    do {
        try store.finishRun(run: run, status: status, reason: reason)
    } catch {
        guard (try? store.checkpoint()) != nil else { throw error }
        try store.finishRun(run: run, status: status, reason: reason)
    }
}

/// Peak resident set size of this process (getrusage).
public func peakRSSBytes() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss * 1024
}

// MARK: - Data-parallel (under mpirun)

extension TrainingJob {
    /// Under mpirun: rank 0 checks the request (and, for a resume, reads the run), every rank loads
    /// the data, and all of them agree that every rank runs the same binary, model description and
    /// settings before anything is recorded. Any failure is one line from rank 0 (naming the rank
    /// where it happened); the other ranks stop quietly with the same status.
    static func runDistributed(_ request: TrainRequest, _ comm: Communicator) throws -> TrainOutcome {
        Interrupt.install()
        var request = request
        // Phase 1 — rank 0 resolves a resume into the settings every rank needs.
        var prepared: PreparedResume?
        var plan: [String: String] = [:]
        if comm.rank == 0 {
            do {
                if let id = request.resume {
                    let p = try prepareResume(id, request)
                    prepared = p
                    let hp = p.request.hyperparameters
                    plan = p.record.hyperparameters
                    plan["plan.model"] = p.request.model
                    plan["plan.lr"] = "\(hp.learningRate)"; plan["plan.epochs"] = "\(hp.epochs)"
                    plan["plan.batch"] = "\(hp.batchSize)"; plan["plan.seed"] = "\(hp.seed)"
                    plan["plan.beta1"] = "\(hp.beta1)"; plan["plan.beta2"] = "\(hp.beta2)"; plan["plan.epsilon"] = "\(hp.epsilon)"
                    plan["plan.checkpoint_every"] = "\(p.request.checkpointEvery)"
                    plan["plan.keep_checkpoint"] = "\(p.request.keepCheckpoint)"
                    plan["plan.threads"] = "\(p.threads)"
                }
            } catch {
                plan = ["plan.error": oneLine(error), "plan.runtime": "\((error as? TrainingError)?.isRuntimeFailure ?? false)"]
            }
        }
        plan = try comm.broadcast(plan)
        if let message = plan["plan.error"] {
            if comm.rank == 0 { throw TrainingError(message, runtimeFailure: plan["plan.runtime"] == "true") }
            throw QuietExit(status: plan["plan.runtime"] == "true" ? 1 : 2)
        }

        // Phase 2 — every rank: the model, the data (each rank reads its own copy: a shared path
        // or the same files on every host); rank 0: the store and the checks of a new run.
        var failure: String?
        var loaded: (type: any GeneratedModelType.Type, data: LoadedData, store: RunStore?, threads: Int, record: RunRecord?)?
        do {
            if let p = prepared {
                request = p.request
                loaded = (p.type, p.data, p.store, p.threads, p.record)
            } else if request.resume != nil {
                guard let model = plan["plan.model"], let type = ModelRegistry.model(named: model) else {
                    throw TrainingError("rank 0 resumes model '\(plan["plan.model"] ?? "?")', which this build does not have")
                }
                var hp = Hyperparameters(learningRate: Double(plan["plan.lr"]!)!, epochs: Int(plan["plan.epochs"]!)!,
                                         batchSize: Int(plan["plan.batch"]!)!, seed: UInt64(plan["plan.seed"]!)!)
                hp.beta1 = Double(plan["plan.beta1"]!)!; hp.beta2 = Double(plan["plan.beta2"]!)!; hp.epsilon = Double(plan["plan.epsilon"]!)!
                request.hyperparameters = hp
                request.model = model
                request.checkpointEvery = Int(plan["plan.checkpoint_every"]!)!
                request.keepCheckpoint = plan["plan.keep_checkpoint"] == "true"
                request.syncBN = plan["sync_bn"] == "true"
                request.bucketMB = plan["bucket_mb"].flatMap(Double.init) ?? request.bucketMB
                let source = try DataSource(recorded: plan, run: request.resume!)
                var data = try source.load(for: ModelShape(type), progress: false)
                if let text = plan["validation_split"], let f = Double(text) { try data.holdOut(validationSplit: f) }
                loaded = (type, data, nil, request.threads ?? Int(plan["plan.threads"]!)!, nil)
            } else {
                let type = try modelType(request.model)
                if request.hyperparameters.batchSize < comm.size {
                    throw TrainingError("--batch-size: \(request.hyperparameters.batchSize) is smaller than the \(comm.size) MPI processes; the batch size is global (split across the ranks), so it must be at least \(comm.size)")
                }
                var data = try request.data.load(for: ModelShape(type), progress: comm.rank == 0 && request.progress != .quiet)
                if let f = request.validationSplit { try data.holdOut(validationSplit: f) }
                var store: RunStore?
                if comm.rank == 0 {
                    let opened = try openStore(request.dbPath, create: true, busyTimeout: request.busyTimeout)
                    try checkInitFrom(request, type: type, store: opened)
                    store = opened
                }
                // Default threads: this host's cores shared by the ranks on it.
                let local = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init) ?? 1
                loaded = (type, data, store, request.threads ?? max(1, ThreadPool.availableProcessors / max(1, local)), nil)
            }
        } catch {
            failure = oneLine(error)
        }
        let failures = try comm.allgather(failure ?? "")
        if let k = failures.firstIndex(where: { !$0.isEmpty }) {
            if comm.rank == 0 { throw TrainingError(k == 0 ? failures[k] : "rank \(k): \(failures[k])") }
            throw QuietExit(status: 2)
        }
        guard let loaded else { throw QuietExit(status: 2) }

        // Phase 3 — the same binary, model description and settings on every rank.
        let hp = request.hyperparameters
        let settings = [loaded.type.registryName, "\(hp.learningRate)", "\(hp.epochs)", "\(hp.batchSize)", "\(hp.seed)",
                        "\(hp.beta1)", "\(hp.beta2)", "\(hp.epsilon)", "\(request.syncBN)", "\(request.bucketMB)",
                        "\(request.checkpointEvery)", loaded.data.train.identity, loaded.data.train.sha256 ?? "",
                        loaded.data.test.sha256 ?? ""].joined(separator: "\u{1f}")
        let mine = [executableHash(), loaded.type.descriptionSHA256, String(XXH64.hash(Array(settings.utf8)), radix: 16)]
        let all = try comm.allgather(mine.joined(separator: " ")).map { $0.split(separator: " ").map(String.init) }
        for (k, theirs) in all.enumerated() where theirs != mine {
            guard comm.rank == 0 else { throw QuietExit(status: 2) }
            let what = theirs.first != mine[0] ? "a different resnet-run binary (\(theirs.first ?? "?") vs rank 0's \(mine[0]))"
                : theirs.dropFirst().first != mine[1] ? "a different model description (sha256 \(theirs.dropFirst().first?.prefix(12) ?? "?") vs rank 0's \(mine[1].prefix(12)))"
                : "different settings or data (check the command line and --data on every host)"
            throw TrainingError("rank \(k) runs \(what); every rank must run the same build with the same arguments and data")
        }
        if Interrupt.pending != 0 { throw InterruptedBeforeStart(signal: Interrupt.pending) }

        let hosts = try comm.allgather(comm.host)
        try watchPeers(comm, hosts: hosts)
        return try train(loaded.type, request: request, data: loaded.data, store: loaded.store, threads: loaded.threads,
                         resuming: loaded.record, hosts: hosts)
    }

    /// Rank 0 notices a peer on its own host that died (SIGKILL, out of memory, a crash) within a
    /// tenth of a second, from inside any wait for the other ranks, and fails the run naming it. (A
    /// rank that fails with an error sends a note instead; one on another host that is killed
    /// outright is noticed by mpirun, which then ends the job — rank 0 gets SIGTERM.)
    static func watchPeers(_ comm: Communicator, hosts: [String]) throws {
        let pids = try comm.allgather([Double(getpid())]).map { pid_t($0[0]) }
        guard comm.rank == 0 else { return }
        var last = monotonicSeconds()
        comm.poll = {
            let now = monotonicSeconds()
            guard now - last >= 0.1 else { return }
            last = now
            for r in 1..<comm.size where hosts[r] == hosts[0] {
                if kill(pids[r], 0) != 0 && errno == ESRCH {
                    throw PeerFailed(rank: r, reason: "its process (pid \(pids[r]) on \(hosts[r])) died — killed or crashed — while rank 0 waited for it")
                }
            }
        }
    }

    /// Rank 0's starting state (weights, BN statistics, Adam moments and step; epoch and shuffle
    /// state of a resume) on every rank, so that all start identical.
    static func broadcastStart<M>(_ trainer: Trainer<M>) throws {
        guard let comm = trainer.dataParallel?.comm else { return }
        try comm.broadcast(trainer.model.stateBytes)
        var header = [UInt64(trainer.model.step), UInt64(trainer.epochsDone)] + trainer.rng.stateWords
        try header.withUnsafeMutableBytes { try comm.broadcast($0) }
        trainer.model.step = Int(header[0])
        trainer.epochsDone = Int(header[1])
        trainer.rng = Xoshiro256(state: Array(header[2...]))
    }

    /// Test support: this rank's final parameters, raw, in DIR/rank-R.bin.
    static func dumpWeights<M: GeneratedModelType>(_ request: TrainRequest, _ model: M) throws {
        guard let directory = request.dumpWeights else { return }
        let rank = request.distributed?.rank ?? 0
        let data = Data(UnsafeRawBufferPointer(model.parameterBytes))
        try data.write(to: URL(fileURLWithPath: directory).appendingPathComponent("rank-\(rank).bin"))
    }

    /// XXH64 of this executable's file (ranks must run the same build).
    static func executableHash() -> String {
        guard let data = FileManager.default.contents(atPath: "/proc/self/exe") else { return "unreadable" }
        return data.withUnsafeBytes { String(XXH64.hash($0), radix: 16) }
    }
}
