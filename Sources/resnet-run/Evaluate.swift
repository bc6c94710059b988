/// `resnet-run evaluate`: loss and accuracy of a stored run's weights on a test set, in inference
/// mode (moving BN statistics) — Keras' `model.evaluate`. Reads the database, never writes it.
import ArgumentParser
import Foundation
import Kernels
import RunStore
import Training

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Loss and accuracy of a stored run's weights on a test set.",
        discussion: """
        --data PATH: a directory (its test_signs.h5) or one SIGNS .h5 file of either split (all its images).
        Without --data: the run's own test set, loaded as it was for training.
        --weights: final (default), best (best epoch by test accuracy) or checkpoint; the default falls back
        to best, then checkpoint, for runs that did not complete.
        """)

    @OptionGroup var stored: StoredRunOptions
    @Option(help: ArgumentHelp("Test data: a SIGNS directory or .h5 file (default: the run's test set).", valueName: "path"))
    var data: String?

    func run() throws {
        do {
            let (id, kind, threadCount) = try stored.parsed()
            let (used, result, set) = try StoredRun.evaluate(db: stored.db, run: id, kind: kind, data: data, threads: threadCount)
            if stored.json {
                printJSON(["run": used.run, "model": used.model, "weights": used.kind.rawValue, "epoch": used.epoch,
                           "data": set.identity, "loss": result.loss, "accuracy": result.accuracy,
                           "correct": result.correct, "count": result.count])
            } else {
                print("run \(used.run) (\(used.model), \(used.kind.rawValue) weights of epoch \(used.epoch)) on \(set.identity):")
                print(String(format: "loss: %.4f - accuracy: %.4f (%d/%d)", result.loss, result.accuracy, result.correct, result.count))
            }
            if !result.loss.isFinite {
                // Weights from before divergence checks (or edited ones): say so, exit 1.
                writeIgnoringErrors(Data("error: run \(used.run)'s \(used.kind.rawValue) weights give a non-finite loss (\(result.loss)); they hold NaN or infinite values (did the run diverge?)\n".utf8), to: STDERR_FILENO)
                throw ExitCode(1)
            }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            fail(error)
        }
    }
}
