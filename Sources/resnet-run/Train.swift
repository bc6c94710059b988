/// `resnet-run train`: train a generated model on SIGNS (or the built-in synthetic set), record
/// the run in the experiment database, resume an interrupted run.
///
/// This file parses and validates the command line; the training itself is in the Training
/// library (`TrainingJob.run`). Numbers are taken as text and parsed here so that every bad value
/// is reported in one line (`error: --lr: 'abc' is not a number`) with a non-zero exit status and
/// nothing written. Exit status: 0 completed, 1 the run failed or diverged (its row says so), 2 bad
/// input (nothing recorded), 130 (Ctrl-C) / 143 (SIGTERM) interrupted (resume with `--resume RUN`).
import AllocCounter
import ArgumentParser
import Datasets
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
                          shuffled by --seed validate), or DIR/train/<class> and
                          DIR/test/<class>. Class names sorted like Keras; images
                          resized to the model's input (--interpolation nearest,
                          the default, or bilinear) and / 255. The run records the
                          class names and the sha256 of the file list; a resume
                          checks both.

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

        Output: a Keras-style progress bar on a terminal, one line per epoch
        otherwise. --json prints one JSON object per epoch (with timings:
        batch_copy_seconds, eval_seconds, record_seconds, step_loop_allocations)
        and one for the outcome (data_load_seconds, peak_rss_bytes, arena_bytes).

        Exit status: 0 completed, 1 the run failed or diverged (recorded so), 2 bad
        input (nothing recorded), 130 interrupted by Ctrl-C, 143 by SIGTERM.
        """)

    @Option(help: "Model to train (\(ModelRegistry.names.joined(separator: ", "))).")
    var model: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("Adam learning rate (Keras' default 0.001; the notebooks also use 0.00015).", valueName: "lr"))
    var lr: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("Epochs to train (default 20); with --resume, the new total (extends the run).", valueName: "n"))
    var epochs: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("Images per step, at most the model's capacity (default 32, or the capacity if smaller).", valueName: "n"))
    var batchSize: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("Seed of the weight initialization and the per-epoch shuffling (default 0).", valueName: "n"))
    var seed: String?
    @Option(help: ArgumentHelp("Directory holding train_signs.h5 and test_signs.h5 (default: datasets, or the synthetic set if absent).", valueName: "dir"))
    var data: String?
    @Option(help: ArgumentHelp("One SIGNS .h5 file to split into train and test (needs --split).", valueName: "file"))
    var dataFile: String?
    @Option(help: ArgumentHelp("With --data-file: how many of its first images train; the rest test.", valueName: "n"))
    var split: String?
    @Option(help: ArgumentHelp("With --data DIR of class folders: fraction of the images held out for testing, e.g. 0.2.", valueName: "f"))
    var validationSplit: String?
    @Option(help: ArgumentHelp("With --data DIR of class folders: resizing, nearest (default) or bilinear.", valueName: "kind"))
    var interpolation: String?
    @Flag(help: "Train on the built-in synthetic set even if datasets/ exists.")
    var synthetic = false
    @Option(help: ArgumentHelp("Training images of the synthetic set (default 1080).", valueName: "n"))
    var syntheticTrain: String?
    @Option(help: ArgumentHelp("Test images of the synthetic set (default 120).", valueName: "n"))
    var syntheticTest: String?
    @Option(help: ArgumentHelp("Experiment database (created if missing).", valueName: "path"))
    var db = "experiments.db"
    @Option(help: "A name for the run.")
    var label: String?
    @Option(help: ArgumentHelp("Kernel threads (default: all cores; a resumed run defaults to its own count).", valueName: "n"))
    var threads: String?
    @Option(help: ArgumentHelp("Continue interrupted run RUN from its last completed epoch (with its own settings).", valueName: "run"))
    var resume: String?
    @Option(help: ArgumentHelp("Store the resume checkpoint every N epochs (default 1: every epoch; a larger N writes less but a kill -9 loses up to N-1 epochs).", valueName: "n"))
    var checkpointEvery: String?
    @Option(help: ArgumentHelp("Seconds to wait for another process's lock on the database before failing (default 5).", valueName: "s"))
    var busyTimeout: String?
    @Flag(help: "Print only errors and the final line.")
    var quiet = false
    @Flag(help: "Print one JSON object per epoch and one for the outcome (for scripts).")
    var json = false
    @Option(help: .hidden)  // For tests: act exactly like Ctrl-C once epoch N has ended.
    var stopAfterEpochs: String?
    @Option(help: .hidden)  // For tests: fail once epoch N has been recorded (the run is marked 'failed').
    var failAfterEpochs: String?
    @Option(help: ArgumentHelp("Start from the weights of run RUN (fine-tuning: its weights and BN statistics, a fresh Adam); recorded as the new run's parent.", valueName: "run"))
    var initFrom: String?
    @Option(help: ArgumentHelp("With --init-from: final, best or checkpoint (default: final, else best).", valueName: "kind"))
    var initWeights: String?
    @Flag(help: "Keep the resume checkpoint when the run completes (283 MB for ResNet-50), so that --resume RUN --epochs N can extend it exactly later.")
    var keepCheckpoint = false
    @Option(help: .hidden) var killDuringSnapshot: String?
    @Option(help: .hidden) var lingerAfterInterrupt: String?

    func run() throws {
        let request: TrainRequest
        do {
            request = try makeRequest()
        } catch {
            fail(error)
        }
        let outcome: TrainOutcome
        do {
            outcome = try TrainingJob.run(request)
        } catch let error as InterruptedBeforeStart {
            writeIgnoringErrors(Data("\(error.description)\n".utf8), to: STDERR_FILENO)
            throw ExitCode(128 + error.signal)
        } catch let error as RunFailed {
            writeIgnoringErrors(Data("error: \(error.description)\n".utf8), to: STDERR_FILENO)
            if json { printJSON(["run": error.run, "status": error.status.rawValue, "reason": error.reason]) }
            throw ExitCode(1)
        } catch {
            fail(error)
        }
        report(outcome, request: request)
        if outcome.status == .interrupted { throw ExitCode(128 + (outcome.signal ?? SIGINT)) }
    }

    func makeRequest() throws -> TrainRequest {
        var r = TrainRequest()
        r.dbPath = db
        r.programVersion = programVersion
        r.progress = json ? .json : quiet ? .quiet : .automatic
        if json && quiet { throw TrainingError("--json and --quiet cannot be combined") }
        r.threads = try threads.map { try parseInt($0, option: "--threads", minimum: 1) }
        r.stopAfterEpochs = try stopAfterEpochs.map { try parseInt($0, option: "--stop-after-epochs", minimum: 1) }
        r.failAfterEpochs = try failAfterEpochs.map { try parseInt($0, option: "--fail-after-epochs", minimum: 1) }
        r.killDuringSnapshot = try killDuringSnapshot.map { try parseInt($0, option: "--kill-during-snapshot", minimum: 1) }
        r.lingerAfterInterrupt = try lingerAfterInterrupt.map { try parseDouble($0, option: "--linger-after-interrupt") }
        if let busyTimeout {
            let t = try parseDouble(busyTimeout, option: "--busy-timeout")
            guard t.isFinite, t >= 0 else { throw TrainingError("--busy-timeout: '\(busyTimeout)' is not a number of seconds ≥ 0") }
            r.busyTimeout = t
        }
        if alloc_counter_active() != 0 { r.allocationCounter = { Int(alloc_counter_allocations()) } }

        if let resume {
            let given: [(String, Bool)] = [
                ("--model", model != nil), ("--lr", lr != nil), ("--keep-checkpoint", keepCheckpoint),
                ("--batch-size", batchSize != nil), ("--seed", seed != nil), ("--data", data != nil),
                ("--data-file", dataFile != nil), ("--split", split != nil), ("--synthetic", synthetic),
                ("--synthetic-train", syntheticTrain != nil), ("--synthetic-test", syntheticTest != nil),
                ("--label", label != nil), ("--checkpoint-every", checkpointEvery != nil), ("--init-from", initFrom != nil),
                ("--init-weights", initWeights != nil),
                ("--validation-split", validationSplit != nil), ("--interpolation", interpolation != nil),
            ]
            if let conflict = given.first(where: { $0.1 }) {
                throw TrainingError("\(conflict.0) cannot be combined with --resume: a resumed run keeps its own settings")
            }
            r.resume = Int64(try parseInt(resume, option: "--resume", minimum: 1))
            r.extendTo = try epochs.map { try parseInt($0, option: "--epochs", minimum: 1) }
            return r
        }

        r.model = model ?? "resnet50-signs"
        guard let type = ModelRegistry.model(named: r.model) else {
            throw TrainingError("--model: unknown model '\(r.model)'; available: \(ModelRegistry.names.joined(separator: ", "))")
        }
        var hp = Hyperparameters(batchSize: min(32, type.capacity))
        if let lr { hp.learningRate = try parseDouble(lr, option: "--lr") }
        if let epochs { hp.epochs = try parseInt(epochs, option: "--epochs") }
        if let batchSize { hp.batchSize = try parseInt(batchSize, option: "--batch-size") }
        if let seed {
            guard let s = UInt64(seed), s <= UInt64(Int64.max) else {
                throw TrainingError("--seed: '\(seed)' is not a seed; use a whole number from 0 to \(Int64.max)")
            }
            hp.seed = s
        }
        try hp.validate(capacity: type.capacity, modelName: type.modelName, dtype: type.dtype)
        if let checkpointEvery { r.checkpointEvery = try parseInt(checkpointEvery, option: "--checkpoint-every", minimum: 1) }
        if initWeights != nil && initFrom == nil { throw TrainingError("--init-weights only applies with --init-from RUN") }
        r.initFrom = try initFrom.map { Int64(try parseInt($0, option: "--init-from", minimum: 1)) }
        r.initWeights = try initWeights.map { text in
            guard let kind = try parseWeightsKind(text) else { throw TrainingError("--init-weights: '\(text)' is not one of final, best, checkpoint") }
            return kind
        }
        r.hyperparameters = hp
        r.label = label
        r.keepCheckpoint = keepCheckpoint

        let sources = [data != nil, dataFile != nil, synthetic].filter { $0 }.count
        guard sources <= 1 else { throw TrainingError("use only one of --data, --data-file and --synthetic") }
        if split != nil && dataFile == nil { throw TrainingError("--split only applies to --data-file") }
        if (syntheticTrain != nil || syntheticTest != nil) && (data != nil || dataFile != nil) {
            throw TrainingError("--synthetic-train/--synthetic-test only apply to the synthetic set, not to --data/--data-file")
        }
        let trainCount = try syntheticTrain.map { try parseInt($0, option: "--synthetic-train", minimum: 1) } ?? SyntheticSigns.defaultTrainCount
        let testCount = try syntheticTest.map { try parseInt($0, option: "--synthetic-test", minimum: 1) } ?? SyntheticSigns.defaultTestCount
        if (validationSplit != nil || interpolation != nil) && (data.map(ImageFolder.looksLikeImageFolder) ?? false) == false {
            let flag = validationSplit != nil ? "--validation-split" : "--interpolation"
            throw TrainingError("\(flag) applies to --data DIR holding JPEG/PNG class folders" + (data.map { ", and \($0) is not one" } ?? ""))
        }
        if let data, ImageFolder.looksLikeImageFolder(data) {
            let fraction = try validationSplit.map { text -> Double in
                guard let f = Double(text.trimmingCharacters(in: .whitespaces)), f > 0, f < 1 else {
                    throw TrainingError("--validation-split: '\(text)' is not a fraction between 0 and 1 (e.g. 0.2)")
                }
                return f
            }
            let method = try interpolation.map { text -> Interpolation in
                guard let m = Interpolation(rawValue: text) else { throw TrainingError("--interpolation: '\(text)' is not one of nearest, bilinear") }
                return m
            } ?? .nearest
            r.data = .folder(data, validationSplit: fraction, seed: hp.seed, interpolation: method)
        } else if let data {
            r.data = .directory(data)
        } else if let dataFile {
            guard let split else { throw TrainingError("--data-file needs --split N (the first N images train, the rest test)") }
            r.data = .file(dataFile, split: try parseInt(split, option: "--split", minimum: 1))
        } else if synthetic {
            r.data = .synthetic(trainCount: trainCount, testCount: testCount, seed: 0)
        } else {
            let (source, notice) = DataSource.defaultSource(trainCount: trainCount, testCount: testCount, shape: ModelShape(type))
            r.data = source
            if let notice { writeIgnoringErrors(Data("note: \(notice)\n".utf8), to: STDERR_FILENO) }
        }
        return r
    }

    func report(_ o: TrainOutcome, request: TrainRequest) {
        let acc = o.finalTestAccuracy.map { fixed4($0) } ?? "n/a"
        let best = o.bestTestAccuracy.map { "best \(fixed4($0)) at epoch \(o.bestEpoch ?? 0)" } ?? "no epoch finished"
        if json {
            var object: [String: Any] = [
                "run": o.run, "status": o.status.rawValue, "epochs": o.epochsPlanned, "epochs_done": o.epochsDone,
                "data_load_seconds": o.dataLoadSeconds, "setup_seconds": o.setupSeconds, "threads": o.threads,
                "arena_bytes": o.arenaBytes, "peak_rss_bytes": o.peakRSSBytes, "data": o.dataIdentity,
            ]
            if let a = o.finalTestAccuracy { object["test_accuracy"] = a }
            if let a = o.bestTestAccuracy { object["best_test_accuracy"] = a; object["best_epoch"] = o.bestEpoch ?? 0 }
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

/// Prints `error: <one line>` and exits 2 (bad input: nothing was recorded).
func fail(_ error: Error) -> Never {
    writeIgnoringErrors(Data("error: \(oneLine(error))\n".utf8), to: STDERR_FILENO)
    Foundation.exit(2)
}

func parseInt(_ text: String, option: String, minimum: Int? = nil) throws -> Int {
    guard let v = Int(text.trimmingCharacters(in: .whitespaces)) else {
        throw TrainingError("\(option): '\(text)' is not a whole number")
    }
    if let minimum, v < minimum { throw TrainingError("\(option): \(v) is not allowed; it must be at least \(minimum)") }
    return v
}

func parseDouble(_ text: String, option: String) throws -> Double {
    guard let v = Double(text.trimmingCharacters(in: .whitespaces)) else {
        throw TrainingError("\(option): '\(text)' is not a number")
    }
    return v
}

func parseWeightsKind(_ text: String?) throws -> SnapshotKind? {
    guard let text else { return nil }
    guard let kind = SnapshotKind(rawValue: text) else {
        throw TrainingError("--weights: '\(text)' is not one of final, best, checkpoint")
    }
    return kind
}
