/// `resnet-run train`: train a generated model on SIGNS (or the built-in synthetic set), record
/// the run in the experiment database, resume an interrupted run.
///
/// This file declares the command line with typed options and checks it once, in `validate()`
/// (combinations here, values in `TrainRequest.validate()`), so that every bad value is reported in
/// one line (`error: --lr: 'abc' is not a number`) before anything is loaded or written; the
/// training itself is in the Training library (`TrainingJob.run`). Exit status: 0 completed, 1 the
/// run failed or diverged (its row says so), 2 bad input (nothing recorded), 130 (Ctrl-C) / 143
/// (SIGTERM) interrupted (resume with `--resume RUN`).
import AllocCounter
import ArgumentParser
import CLISupport
import Datasets
import Distributed
import Foundation
import Kernels
import Models
import RunStore
import Training

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model on SIGNS and record the run (hyperparameters, per-epoch metrics, weights).",
        discussion: """
        Data (one of):
          --data DIR      DIR/train_signs.h5 and DIR/test_signs.h5, as the notebooks
                          load them. Default: datasets/; where there is no datasets/
                          directory, the built-in synthetic SIGNS set (1080 + 120
                          images at the model's size, recorded as 'synthetic').
          --data-file F --split N
                          one SIGNS file (train_set_* or test_set_* datasets): its
                          first N images train, the rest test (test_signs.h5
                          --split 96: 96 train, 24 test).
          --synthetic     the synthetic set even where datasets/ exists (sizes:
                          --synthetic-train, --synthetic-test).
          --data DIR      (photos) JPEG/PNG class folders, as Keras'
                          image_dataset_from_directory reads them: DIR/<class>/*
                          with --validation-split F (the last F of the list
                          shuffled by --seed is the test set), or DIR/train/<class>
                          and DIR/test/<class>. Class names sorted like Keras;
                          images resized to the model's input (--interpolation
                          nearest, the default, or bilinear) and / 255. The run
                          records the class names and the sha256 of the file list;
                          a resume checks both.

        Validation (--validation-split F with SIGNS files or the synthetic set), as
        Keras' fit(validation_split=F): the last F of the training images, in the
        file's order, are held out (n - floor(n * (1 - F)) of n), the rest trained
        on. Each epoch records val_loss and val_accuracy with the train and test
        metrics, and the 'best' weights are those of the epoch with the highest
        val_accuracy — without a validation split, of the highest test_accuracy.
        The run records which (best_by). For DIR/<class> photo folders the flag
        keeps image_dataset_from_directory's meaning (above).

        Every completed epoch is checkpointed in the database (weights, BN
        statistics, Adam moments, step, shuffle state; --checkpoint-every N for
        every Nth), so a run killed in any way (kill -9, out of memory, power
        loss) can be resumed. Ctrl-C (or SIGTERM) finishes the current step and
        marks the run 'interrupted' (exit 130; 143 for SIGTERM); a second Ctrl-C
        stops at once and still marks it 'interrupted'. A NaN or infinite loss
        or weight stops the run as 'diverged' (exit 1) with the weights of the
        last good epoch. `resnet-run train --resume RUN` continues an
        interrupted, failed or crashed run with its own settings from its last
        checkpoint; its per-epoch metrics equal an uninterrupted run's (same seed
        and thread count).

        Output: a Keras-style progress bar on a terminal (fitted to its width, or
        to COLUMNS), one line per epoch otherwise. --format json prints one JSON
        object per epoch (with timings: batch_copy_seconds, eval_seconds,
        record_seconds, step_loop_allocations) and one for the outcome
        (data_load_seconds, peak_rss_bytes, arena_bytes).

        RUN (--resume, --init-from): a run id, last, -1 (the newest run), -2, …
        or a label.

        Data-parallel (Open MPI): `mpirun -np N resnet-run train …` trains on N
        processes. --batch-size is the global batch: every rank trains a
        contiguous slice of each batch of one seeded shuffle, the gradients are
        averaged with MPI_Allreduce in buckets (--bucket-mb) while the backward
        pass runs, and the weights stay identical on every rank. Rank 0 alone
        records (world size, hosts, per-rank step and allreduce times) and
        evaluates. --sync-bn computes batch-norm statistics over the global batch.
        A resume needs the same number of processes.

        Exit status: 0 completed, 1 the run failed or diverged (recorded so), 2 bad
        input (nothing recorded), 130 interrupted by Ctrl-C, 143 by SIGTERM.
        """)

    @Option(help: ArgumentHelp("Model to train (default resnet50-signs).", valueName: "name"))
    var model: ModelName?
    @Option(parsing: .unconditional, help: ArgumentHelp("Adam learning rate (Keras' default 0.001; the notebooks also use 0.00015).", valueName: "lr"))
    var lr: Number?
    @Option(parsing: .unconditional, help: ArgumentHelp("Epochs to train (default 20); with --resume, the new total (extends the run).", valueName: "n"))
    var epochs: WholeNumber?
    @Option(parsing: .unconditional, help: ArgumentHelp("Images per step, at most the model's capacity (default 32, or the capacity if smaller).", valueName: "n"))
    var batchSize: WholeNumber?
    @Option(parsing: .unconditional, help: ArgumentHelp("Seed of the weight initialization and the per-epoch shuffling (default 0).", valueName: "n"))
    var seed: Seed?
    @Option(help: ArgumentHelp("Directory holding train_signs.h5 and test_signs.h5 (default: datasets, or the synthetic set if absent), or of JPEG/PNG class folders.", valueName: "dir"))
    var data: String?
    @Option(help: ArgumentHelp("One SIGNS .h5 file to split into train and test (needs --split).", valueName: "file"))
    var dataFile: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("With --data-file: how many of its first images train; the rest test.", valueName: "n"))
    var split: WholeNumber?
    @Option(help: ArgumentHelp("Hold out this last fraction of the training images to validate each epoch (val_loss, val_accuracy) and choose the best epoch by, as Keras' fit(validation_split=…), e.g. 0.1. With --data DIR of class folders DIR/<class>: the fraction held out as the test set, as image_dataset_from_directory.", valueName: "f"))
    var validationSplit: Fraction?
    @Option(help: ArgumentHelp("With --data DIR of class folders: resizing, nearest (default) or bilinear.", valueName: "kind"))
    var interpolation: Interpolation?
    @Flag(help: "Train on the built-in synthetic set even if datasets/ exists.")
    var synthetic = false
    @Option(parsing: .unconditional, help: ArgumentHelp("Training images of the synthetic set (default 1080).", valueName: "n"))
    var syntheticTrain: WholeNumber?
    @Option(parsing: .unconditional, help: ArgumentHelp("Test images of the synthetic set (default 120).", valueName: "n"))
    var syntheticTest: WholeNumber?
    @Option(help: ArgumentHelp("Experiment database (created if missing).", valueName: "path"))
    var db = "experiments.db"
    @Option(help: "A name for the run.")
    var label: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("Kernel threads (default: all cores; a resumed run defaults to its own count).", valueName: "n"))
    var threads: WholeNumber?
    @Option(help: ArgumentHelp("Continue run RUN (an id, last, -1 or a label) from its last completed epoch, with its own settings.", valueName: "run"))
    var resume: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("Store the resume checkpoint every N epochs (default 1: every epoch; a larger N writes less but a kill -9 loses up to N-1 epochs).", valueName: "n"))
    var checkpointEvery: WholeNumber?
    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds to wait for another process's lock on the database before failing (default 5).", valueName: "s"))
    var busyTimeout: Seconds?
    @Flag(help: "Print only errors and the final line.")
    var quiet = false
    @Option(help: "Output format: text (a progress bar on a terminal, one line per epoch otherwise) or json (one object per epoch and one for the outcome, for scripts).")
    var format: TextOrJSON = .text
    @Option(help: ArgumentHelp("Start from the weights of run RUN (an id, last, -1 or a label; fine-tuning: its weights and BN statistics, a fresh Adam); recorded as the new run's parent.", valueName: "run"))
    var initFrom: String?
    @Option(help: ArgumentHelp("With --init-from: which of its weights, final, best or checkpoint (default: final, else best).", valueName: "kind"))
    var snapshot: SnapshotKind?
    @Option(name: .customLong("init"), help: ArgumentHelp("Initial weights: default (glorot-uniform from --seed, every kernel drawn independently) or keras (the course notebook's glorot_uniform(seed=0) as Keras 3 draws it, bit for bit: kernels of equal shape are equal, and --seed only shuffles). Recorded; a resumed run keeps it.", valueName: "kind"))
    var initialization: WeightInitialization?
    @Flag(help: "Keep the resume checkpoint when the run completes (283 MB for ResNet-50), so that --resume RUN --epochs N can extend it exactly later.")
    var keepCheckpoint = false
    @Flag(help: "Under mpirun: batch-norm statistics over the global batch (sums allreduced per layer) instead of each rank's slice.")
    var syncBn = false
    @Option(parsing: .unconditional, help: ArgumentHelp("Under mpirun: gradient allreduce bucket size in MiB (default 25); buckets start as soon as the backward pass has produced them.", valueName: "mb"))
    var bucketMb: Number?

    // Old spellings (one release, with a note).
    @Flag(name: .customLong("json"), help: .hidden) var deprecatedJSON = false
    @Option(name: .customLong("init-weights"), help: .hidden) var deprecatedInitWeights: SnapshotKind?

    // For tests, hidden: act exactly like Ctrl-C once epoch N has ended; fail once epoch N has been
    // recorded (the run is marked 'failed'); SIGKILL halfway through the Nth snapshot; wait after an
    // interrupt before recording it.
    @Option(parsing: .unconditional, help: .hidden) var stopAfterEpochs: WholeNumber?
    @Option(parsing: .unconditional, help: .hidden) var failAfterEpochs: WholeNumber?
    @Option(parsing: .unconditional, help: .hidden) var killDuringSnapshot: WholeNumber?
    @Option(parsing: .unconditional, help: .hidden) var lingerAfterInterrupt: Number?
    // For MPI tests, hidden: rank R SIGKILLs itself at global step N; every rank writes its final
    // parameters to DIR/rank-R.bin.
    @Option(parsing: .unconditional, help: .hidden) var killRank: WholeNumber?
    @Option(parsing: .unconditional, help: .hidden) var killAtStep: WholeNumber?
    @Option(help: .hidden) var dumpWeights: String?

    /// Every check of the command line, once, before anything is loaded or recorded: the options'
    /// combinations here, their values in `TrainRequest.validate()`.
    mutating func validate() throws {
        if deprecatedJSON {
            Deprecation.note("--json is deprecated; use --format json")
            format = .json
        }
        if let old = deprecatedInitWeights {
            Deprecation.note("--init-weights is deprecated; use --snapshot \(old.rawValue)")
            if snapshot != nil { throw CLIError("--init-weights and --snapshot name the same thing; pass only --snapshot") }
            snapshot = old
        }
        if format == .json && quiet { throw CLIError("--format json and --quiet cannot be combined") }
        if let bucketMb, !(bucketMb.value > 0 && bucketMb.value <= 1024) {
            throw CLIError("--bucket-mb: '\(bucketMb.value)' is not a bucket size; use a number of MiB above 0 and at most 1024 (default 25)")
        }
        if let resume {
            let given: [(String, Bool)] = [
                ("--model", model != nil), ("--lr", lr != nil), ("--keep-checkpoint", keepCheckpoint),
                ("--batch-size", batchSize != nil), ("--seed", seed != nil), ("--data", data != nil),
                ("--data-file", dataFile != nil), ("--split", split != nil), ("--synthetic", synthetic),
                ("--synthetic-train", syntheticTrain != nil), ("--synthetic-test", syntheticTest != nil),
                ("--label", label != nil), ("--checkpoint-every", checkpointEvery != nil), ("--init-from", initFrom != nil),
                ("--snapshot", snapshot != nil), ("--sync-bn", syncBn), ("--bucket-mb", bucketMb != nil),
                ("--validation-split", validationSplit != nil), ("--interpolation", interpolation != nil),
                ("--init", initialization != nil),
            ]
            if let conflict = given.first(where: { $0.1 }) {
                throw CLIError("\(conflict.0) cannot be combined with --resume: a resumed run keeps its own settings")
            }
            try RunSelector.checkSingle(resume)
        } else {
            if snapshot != nil && initFrom == nil { throw CLIError("--snapshot only applies with --init-from RUN") }
            if let initFrom { try RunSelector.checkSingle(initFrom) }
            if let initialization, initFrom != nil {
                throw CLIError("--init \(initialization.rawValue) cannot be combined with --init-from: the run starts from that run's weights")
            }
            let sources = [data != nil, dataFile != nil, synthetic].filter { $0 }.count
            guard sources <= 1 else { throw CLIError("use only one of --data, --data-file and --synthetic") }
            if split != nil && dataFile == nil { throw CLIError("--split only applies to --data-file") }
            if dataFile != nil && split == nil { throw CLIError("--data-file needs --split N (the first N images train, the rest test)") }
            if (syntheticTrain != nil || syntheticTest != nil) && (data != nil || dataFile != nil) {
                throw CLIError("--synthetic-train/--synthetic-test only apply to the synthetic set, not to --data/--data-file")
            }
            for (option, value) in [("--split", split), ("--synthetic-train", syntheticTrain), ("--synthetic-test", syntheticTest)] {
                if let value, value.value < 1 { throw CLIError("\(option): \(value.value) is not allowed; it must be at least 1") }
            }
            if interpolation != nil && !isPhotoFolder {
                throw CLIError("--interpolation applies to --data DIR holding JPEG/PNG class folders" + (data.map { ", and \($0) is not one" } ?? ""))
            }
        }
        do {
            try makeRequest().validate()
        } catch let error as TrainingError {
            throw CLIError(error.description)
        }
    }

    /// `--data DIR` names JPEG/PNG class folders.
    var isPhotoFolder: Bool { data.map(ImageFolder.looksLikeImageFolder) ?? false }

    func run() throws {
        guard Communicator.launchedByMPI(ProcessInfo.processInfo.environment) else {
            for (option, given) in [("--sync-bn", syncBn), ("--bucket-mb", bucketMb != nil)] where given {
                throw CLIError("\(option) applies to data-parallel training; start resnet-run under mpirun (mpirun -np N resnet-run train …)")
            }
            return try runOne(nil)
        }
        // Under mpirun: MPI is initialized here, and finalized on every path where all ranks stop
        // together (completed, interrupted, bad input); a failure exits at once and mpirun ends the job.
        let comm: Communicator
        do { comm = try Communicator() } catch { throw CLIError("mpirun: \(error)", status: ExitStatus.failure) }
        do {
            try runOne(comm)
            comm.finalize()
        } catch let quiet as QuietExit {
            comm.finalize()
            throw ExitCode(quiet.status)
        } catch let error as ExitCode {
            if error.rawValue != ExitStatus.failure { comm.finalize() }
            throw error
        } catch {
            comm.finalize()
            throw error
        }
    }

    func runOne(_ comm: Communicator?) throws {
        var request = makeRequest()
        request.distributed = comm
        if let comm, comm.rank != 0 { request.progress = .quiet }
        // Runs named by a label, last or -N are looked up now (the database may not exist: a
        // plain id is left to the job, which says so in its own words).
        if let comm, comm.rank != 0 {
            // Only rank 0 reads the store: it resolves the runs and sends what the others need.
            request.resume = resume.map { _ in 0 }
            request.initFrom = nil
        } else {
            request.resume = try resume.map { try RunSelector.resolveOne($0, databasePath: db, busyTimeout: request.busyTimeout) }
            request.initFrom = try initFrom.map { try RunSelector.resolveOne($0, databasePath: db, busyTimeout: request.busyTimeout) }
        }
        if request.resume == nil, data == nil, dataFile == nil, !synthetic {
            let type = (model ?? .standard).type
            let (source, notice) = DataSource.defaultSource(trainCount: syntheticTrain?.value ?? SyntheticSigns.defaultTrainCount,
                                                            testCount: syntheticTest?.value ?? SyntheticSigns.defaultTestCount,
                                                            shape: ModelShape(type))
            request.data = source
            if let notice, (comm?.rank ?? 0) == 0 { writeStandardError("note: \(notice)\n") }
        }
        let outcome: TrainOutcome
        do {
            outcome = try TrainingJob.run(request)
        } catch let error as InterruptedBeforeStart {
            writeStandardError("\(error.description)\n")
            throw ExitCode(128 + error.signal)
        } catch let error as RunFailed {
            writeStandardError("error: \(error.description)\n")
            if format == .json { printJSON(["run": error.run, "status": error.status.rawValue, "reason": error.reason]) }
            throw ExitCode(ExitStatus.failure)
        }
        if let comm, comm.rank != 0 {
            if outcome.status == .interrupted { throw ExitCode(128 + (outcome.signal ?? SIGINT)) }
            return
        }
        report(outcome, request: request)
        if outcome.status == .interrupted { throw ExitCode(128 + (outcome.signal ?? SIGINT)) }
    }

    /// The request the options describe (checked by `validate()`; runs named by selectors are
    /// resolved in `run()`, a missing --data chosen there).
    func makeRequest() -> TrainRequest {
        var r = TrainRequest()
        r.dbPath = db
        r.programVersion = programVersion
        r.progress = format == .json ? .json : quiet ? .quiet : .automatic
        r.threads = threads?.value
        r.stopAfterEpochs = stopAfterEpochs?.value
        r.failAfterEpochs = failAfterEpochs?.value
        r.killDuringSnapshot = killDuringSnapshot?.value
        r.lingerAfterInterrupt = lingerAfterInterrupt?.value
        if let busyTimeout { r.busyTimeout = busyTimeout.value }
        r.killRank = killRank?.value
        r.killAtStep = killAtStep?.value
        r.dumpWeights = dumpWeights
        if alloc_counter_active() != 0 { r.allocationCounter = { Int(alloc_counter_allocations()) } }
        if resume != nil {
            r.resume = 0  // resolved in run()
            r.extendTo = epochs?.value
            return r
        }
        let type = (model ?? .standard).type
        r.model = type.registryName
        var hp = Hyperparameters(batchSize: min(32, type.capacity))
        if let lr { hp.learningRate = lr.value }
        if let epochs { hp.epochs = epochs.value }
        if let batchSize { hp.batchSize = batchSize.value }
        if let seed { hp.seed = seed.value }
        r.hyperparameters = hp
        if let checkpointEvery { r.checkpointEvery = checkpointEvery.value }
        r.initWeights = snapshot
        r.initialization = initialization ?? .default
        r.label = label
        r.keepCheckpoint = keepCheckpoint
        r.syncBN = syncBn
        if let bucketMb { r.bucketMB = bucketMb.value }
        if let data, isPhotoFolder {
            r.data = .folder(data, validationSplit: validationSplit?.value, seed: hp.seed, interpolation: interpolation ?? .nearest)
        } else {
            if let data {
                r.data = .directory(data)
            } else if let dataFile, let split {
                r.data = .file(dataFile, split: split.value)
            } else {
                r.data = .synthetic(trainCount: syntheticTrain?.value ?? SyntheticSigns.defaultTrainCount,
                                    testCount: syntheticTest?.value ?? SyntheticSigns.defaultTestCount, seed: 0)
            }
            // Keras' fit(validation_split=…) on the training arrays.
            r.validationSplit = validationSplit?.value
        }
        return r
    }

    func report(_ o: TrainOutcome, request: TrainRequest) {
        let acc = o.finalTestAccuracy.map { fixed4($0) } ?? "n/a"
        var best = o.bestTestAccuracy.map { "best \(fixed4($0)) at epoch \(o.bestEpoch ?? 0)" } ?? "no epoch finished"
        if o.bestBy != "test_accuracy", let value = o.bestValue, let epoch = o.bestEpoch {
            // Chosen on held-out training images: say by what, and what it scores on the test set.
            best = "best epoch \(epoch) by \(o.bestBy) \(fixed4(value)), test accuracy there \(o.bestTestAccuracy.map(fixed4) ?? "n/a")"
        }
        if format == .json {
            var object: [String: Any] = [
                "run": o.run, "status": o.status.rawValue, "epochs": o.epochsPlanned, "epochs_done": o.epochsDone,
                "data_load_seconds": o.dataLoadSeconds, "setup_seconds": o.setupSeconds, "threads": o.threads,
                "arena_bytes": o.arenaBytes, "peak_rss_bytes": o.peakRSSBytes, "data": o.dataIdentity,
            ]
            if let a = o.finalTestAccuracy { object["test_accuracy"] = a }
            if let a = o.bestTestAccuracy { object["best_test_accuracy"] = a; object["best_epoch"] = o.bestEpoch ?? 0 }
            object["best_by"] = o.bestBy
            if o.bestBy == "val_accuracy", let v = o.bestValue { object["best_val_accuracy"] = v }
            printJSON(object)
            return
        }
        let dbHint = db == "experiments.db" ? "" : " --db \(db)"
        // The synthetic set only shows that the pipeline learns; say so where the result is read.
        let on = o.dataIdentity.hasPrefix("synthetic") ? " on the SYNTHETIC set (a pipeline check, not SIGNS photos)" : ""
        switch o.status {
        case .completed:
            print("run \(o.run) completed\(on): test accuracy \(acc) (\(best)) — resnet-runs show \(o.run)\(dbHint)")
        case .interrupted:
            print("run \(o.run) interrupted after epoch \(o.epochsDone) of \(o.epochsPlanned) (checkpoint stored) — continue with: resnet-run train --resume \(o.run)\(dbHint)")
        default:
            print("run \(o.run) \(o.status.rawValue)")
        }
    }

    func fixed4(_ x: Double) -> String { String(format: "%.4f", x) }
}
