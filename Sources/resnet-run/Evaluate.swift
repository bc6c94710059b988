/// `resnet-run evaluate RUN`: loss and accuracy of a stored run's weights on a test set, in
/// inference mode (moving BN statistics) — Keras' `model.evaluate`. Reads the database, never
/// writes it. `--format json` is also the evaluation file `resnet-runs report --evaluation` reads.
import ArgumentParser
import CLISupport
import Datasets
import Foundation
import RunStore
import TerminalText
import Training

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Loss and accuracy of a stored run's weights on a test set.",
        usage: "resnet-run evaluate <run> [--data <path>] [--snapshot <kind>] [--db <path>] [--threads <n>] [--format <format>]",
        discussion: """
        RUN: a run id, last, -1 (the newest run), -2, … or a label.
        --data PATH: a directory (its test_signs.h5) or one SIGNS .h5 file of
        either split (all its images). Without --data: the run's own test set,
        loaded as it was for training. --data DIR of JPEG/PNG class folders:
        DIR/test/<class> (or every image of DIR/<class>).
        --snapshot: final (default), best (the epoch chosen as best: by
        validation accuracy when the run has a validation split, else by test
        accuracy) or checkpoint; the default falls back to best, then
        checkpoint, for runs that did not complete.
        Also printed: the confusion matrix (rows: true class, columns:
        predicted; its diagonal sums to the correct count) and each class's
        precision, recall and support, with the run's class names if it has
        them.
        --format json prints one JSON object: run, model, weights, epoch, data,
        loss, accuracy, correct, count, classes, confusion, per_class and
        misclassified (index, label, predicted, probabilities, the image as
        png_base64). It is the evaluation file `resnet-runs report` reads:
          resnet-run evaluate 3 --format json | resnet-runs report 3 --evaluation -
        (confusion_matrix and class_names repeat confusion and classes, for
        one release.)
        """)

    @OptionGroup var stored: StoredRunOptions
    @Option(help: ArgumentHelp("Test data: a SIGNS directory or .h5 file (default: the run's test set).", valueName: "path"))
    var data: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("Kernel threads (default: all cores).", valueName: "n"))
    var threads: WholeNumber?
    @Option(help: "Output format: text or json.")
    var format: TextOrJSON = .text

    mutating func validate() throws {
        var extra: [String] = []
        try stored.resolveDeprecated(positionals: &extra, command: "evaluate")
        if let unexpected = extra.first { throw CLIError("unexpected argument '\(unexpected)': evaluate takes one run") }
        _ = try threadCount(threads)
    }

    func run() throws {
        let json = stored.json(format)
        let id = try stored.runID()
        let (used, result, set) = try StoredRun.evaluate(db: stored.db, run: id, kind: stored.snapshot, data: data,
                                                         threads: try threadCount(threads))
        let names = used.classNames ?? result.confusion.indices.map { "\($0)" }
        if json {
            printJSON(try Self.json(used, result, set, names: names))
        } else {
            print("run \(used.run) (\(used.model), \(used.kind.rawValue) weights of epoch \(used.epoch)) on \(set.identity):")
            print(String(format: "loss: %.4f - accuracy: %.4f (%d/%d)", result.loss, result.accuracy, result.correct, result.count))
            print("")
            print(Self.table(result, names: names))
        }
        if !result.loss.isFinite {
            // Weights from before divergence checks (or edited ones): say so, exit 1.
            writeStandardError("error: run \(used.run)'s \(used.kind.rawValue) weights give a non-finite loss (\(result.loss)); they hold NaN or infinite values (did the run diverge?)\n")
            throw ExitCode(ExitStatus.failure)
        }
    }

    /// The evaluation as `resnet-runs report --evaluation FILE` reads it (its keys: run, classes,
    /// confusion, misclassified, weights, epoch, data), plus loss, accuracy and per-class figures.
    static func json(_ used: StoredRun.WeightsUsed, _ result: EvaluationResult, _ set: ImageDataset,
                     names: [String]) throws -> [String: Any] {
        var object: [String: Any] = [
            "run": used.run, "model": used.model, "weights": used.kind.rawValue, "epoch": used.epoch,
            "data": set.identity, "loss": result.loss, "accuracy": result.accuracy,
            "correct": result.correct, "count": result.count, "classes": names, "confusion": result.confusion,
            "per_class": result.perClass.enumerated().map { c, m -> [String: Any] in
                ["class": c, "name": names[c], "precision": m.precision.map { $0 as Any } ?? NSNull(),
                 "recall": m.recall.map { $0 as Any } ?? NSNull(), "support": m.support, "predicted": m.predicted]
            },
            "misclassified": try result.misclassified.map { miss -> [String: Any] in
                ["index": miss.index, "label": miss.label, "predicted": miss.predicted,
                 "probabilities": miss.probabilities, "png_base64": try png(set, miss.index).base64EncodedString()]
            },
            // The names of the previous release, kept for one more.
            "confusion_matrix": result.confusion,
        ]
        if let classNames = used.classNames { object["class_names"] = classNames }
        return object
    }

    /// Image `index` of `set` as a PNG (its pixels were divided by 255 when loaded).
    static func png(_ set: ImageDataset, _ index: Int) throws -> Data {
        let size = set.imageSize
        var rgb = [UInt8](repeating: 0, count: set.height * set.width * 3)
        for p in 0..<(set.height * set.width) {
            for c in 0..<3 {
                let v = set.images[index * size + p * set.channels + min(c, set.channels - 1)]
                rgb[p * 3 + c] = UInt8(max(0, min(255, (v * 255).rounded())))
            }
        }
        return Data(try PhotoWriter.pngData(rgb: rgb, width: set.width, height: set.height))
    }

    /// The confusion matrix, then precision / recall / support per class ("-" where nothing was
    /// predicted as, or labelled with, that class). Columns are aligned by display width.
    static func table(_ result: EvaluationResult, names: [String]) -> String {
        func pad(_ s: String, _ w: Int) -> String { DisplayWidth.pad(s, to: w, right: true) }
        let widest = names.map(DisplayWidth.of).max() ?? 0
        let nameWidth = max(10, widest + 1)
        let cell = max(5, widest + 1, String(result.count).count + 1)
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
