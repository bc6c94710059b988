/// `resnet-run predict`: the class probabilities a stored run assigns to one image of a SIGNS file
/// — the notebooks' `model.predict(x)` vector — with the predicted class and the stored label.
import ArgumentParser
import Foundation
import Kernels
import RunStore
import Training

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Class probabilities of one stored image under a run's weights.",
        discussion: """
        --data: one SIGNS .h5 file (train_set_* or test_set_* datasets) or a directory (its test_signs.h5).
        --index: which image of it (0-based). --weights: final (default), best or checkpoint.
        """)

    @OptionGroup var stored: StoredRunOptions
    @Option(help: ArgumentHelp("SIGNS .h5 file (or directory: its test_signs.h5).", valueName: "file")) var data: String
    @Option(help: ArgumentHelp("Image index in the file, from 0.", valueName: "i")) var index: String

    func run() throws {
        do {
            let (id, kind, threadCount) = try stored.parsed()
            let i = try parseInt(index, option: "--index", minimum: 0)
            let (used, p, label, set) = try StoredRun.predict(db: stored.db, run: id, kind: kind, data: data, index: i, threads: threadCount)
            let predicted = p.indices.max { p[$0] < p[$1] } ?? 0
            if stored.json {
                printJSON(["run": used.run, "weights": used.kind.rawValue, "epoch": used.epoch, "file": set.source,
                           "index": i, "probabilities": p, "predicted_class": predicted, "label": label])
            } else {
                print("run \(used.run) (\(used.kind.rawValue) weights of epoch \(used.epoch)), \(set.source) image \(i):")
                print("class prediction vector [p(0), p(1), ..., p(\(p.count - 1))] =")
                print("[[" + p.map { String(format: "%.8g", $0) }.joined(separator: " ") + "]]")
                print("predicted class \(predicted) (p = \(String(format: "%.4f", p[predicted]))), label \(label)")
            }
        } catch {
            fail(error)
        }
    }
}
