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
        --data DIR of JPEG/PNG class folders: DIR/test/<class> (or every image of DIR/<class>).
        --weights: final (default), best (best epoch by test accuracy) or checkpoint; the default falls back
        to best, then checkpoint, for runs that did not complete.
        Also printed: the confusion matrix (rows: true class, columns: predicted; its diagonal sums to the
        correct count) and each class's precision, recall and support, with the run's class names if it has
        them; --json adds "confusion_matrix" and "per_class".
        """)

    @OptionGroup var stored: StoredRunOptions
    @Option(help: ArgumentHelp("Test data: a SIGNS directory or .h5 file (default: the run's test set).", valueName: "path"))
    var data: String?

    func run() throws {
        do {
            let (id, kind, threadCount) = try stored.parsed()
            let (used, result, set) = try StoredRun.evaluate(db: stored.db, run: id, kind: kind, data: data, threads: threadCount)
            let names = used.classNames ?? result.confusion.indices.map { "\($0)" }
            if stored.json {
                var object: [String: Any] = [
                    "run": used.run, "model": used.model, "weights": used.kind.rawValue, "epoch": used.epoch,
                    "data": set.identity, "loss": result.loss, "accuracy": result.accuracy,
                    "correct": result.correct, "count": result.count, "confusion_matrix": result.confusion,
                    "per_class": result.perClass.enumerated().map { c, m -> [String: Any] in
                        ["class": c, "name": names[c], "precision": m.precision.map { $0 as Any } ?? NSNull(),
                         "recall": m.recall.map { $0 as Any } ?? NSNull(), "support": m.support, "predicted": m.predicted]
                    },
                ]
                if let classNames = used.classNames { object["class_names"] = classNames }
                printJSON(object)
            } else {
                print("run \(used.run) (\(used.model), \(used.kind.rawValue) weights of epoch \(used.epoch)) on \(set.identity):")
                print(String(format: "loss: %.4f - accuracy: %.4f (%d/%d)", result.loss, result.accuracy, result.correct, result.count))
                print("")
                print(Self.table(result, names: names))
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

    /// The confusion matrix, then precision / recall / support per class ("-" where nothing was
    /// predicted as, or labelled with, that class).
    static func table(_ result: EvaluationResult, names: [String]) -> String {
        func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : String(repeating: " ", count: w - s.count) + s }
        let nameWidth = max(10, (names.map(\.count).max() ?? 0) + 1)
        let cell = max(5, (names.map(\.count).max() ?? 0) + 1, String(result.count).count + 1)
        var lines = ["confusion matrix (rows: true class, columns: predicted class)"]
        lines.append(pad("", nameWidth) + names.map { pad($0, cell) }.joined())
        for (c, row) in result.confusion.enumerated() {
            lines.append(pad(names[c], nameWidth) + row.map { pad("\($0)", cell) }.joined())
        }
        lines.append("")
        lines.append(pad("class", nameWidth) + pad("precision", 11) + pad("recall", 9) + pad("support", 9))
        func fixed(_ v: Double?) -> String { v.map { String(format: "%.4f", $0) } ?? "-" }
        for (c, m) in result.perClass.enumerated() {
            lines.append(pad(names[c], nameWidth) + pad(fixed(m.precision), 11) + pad(fixed(m.recall), 9) + pad("\(m.support)", 9))
        }
        return lines.joined(separator: "\n")
    }
}
