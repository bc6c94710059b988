/// `resnet-run predict`: class probabilities under a stored run's weights — of photos (JPEG/PNG,
/// one row per file, like `model.predict` on `load_img(path, target_size=…)` / 255), or of one
/// image of a SIGNS file (`--data F --index I`, the notebooks' `model.predict(x)` vector).
import ArgumentParser
import Datasets
import CLISupport
import Foundation
import Kernels
import RunStore
import TerminalText
import Training

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Class probabilities of photos (JPEG/PNG) or of one stored image under a run's weights.",
        usage: """
        resnet-run predict <run> <photo> ... [--interpolation <kind>] [--snapshot <kind>] [--db <path>] [--format <format>]
        resnet-run predict <run> --data <file> --index <i> [--snapshot <kind>] [--db <path>] [--format <format>]
        """,
        discussion: """
        RUN: a run id, last, -1 (the newest run), -2, … or a label.
        Photos: resnet-run predict RUN a.jpg b.png …
          Each file is decoded (grayscale, RGBA and 16-bit PNGs become 8-bit
          RGB), turned upright by its EXIF orientation, resized to the model's
          input as Keras' load_img(target_size=…) does (--interpolation
          nearest, the default, or bilinear) and divided by 255 like the
          training data. One row per file: class, its probability, all
          probabilities (class names when the run recorded them); --format csv
          the same rows for a spreadsheet, --format json one object. A file
          that cannot be read gets one error line and the others are still
          predicted; the exit status is then 1.
        SIGNS: resnet-run predict RUN --data test_signs.h5 --index I
          --data: one SIGNS .h5 file (train_set_* or test_set_* datasets) or a
          directory (its test_signs.h5); --index: which image of it (0-based).
        --snapshot: final (default), best or checkpoint.
        """)

    @OptionGroup var stored: StoredRunOptions
    @Option(help: ArgumentHelp("SIGNS .h5 file (or directory: its test_signs.h5), with --index.", valueName: "file")) var data: String?
    @Option(help: ArgumentHelp("With --data: image index in the file, from 0.", valueName: "i")) var index: WholeNumber?
    @Option(help: ArgumentHelp("Photo resizing: nearest (default, as load_img) or bilinear.", valueName: "kind")) var interpolation: Interpolation?
    @Option(parsing: .unconditional, help: ArgumentHelp("Kernel threads (default: all cores).", valueName: "n")) var threads: WholeNumber?
    @Option(help: "Output format: text, json or csv.") var format: RowFormat = .text
    @Argument(help: ArgumentHelp("JPEG or PNG files to classify.", valueName: "photo")) var photos: [String] = []

    mutating func validate() throws {
        var files = photos
        try stored.resolveDeprecated(positionals: &files, command: "predict")
        photos = files
        _ = try threadCount(threads)
        if let data {
            guard photos.isEmpty else { throw CLIError("--data predicts one stored image; pass photos without --data (got \(photos.count) file argument(s))") }
            guard interpolation == nil else { throw CLIError("--interpolation applies to photos, not to --data \(data)") }
            guard let index else { throw CLIError("--data \(data) needs --index I (which image of it)") }
            guard index.value >= 0 else { throw CLIError("--index: \(index.value) is not allowed; it must be at least 0") }
            if format == .csv { throw CLIError("--format csv applies to photos; --data prints one image's probabilities (text or json)") }
            return
        }
        if index != nil { throw CLIError("--index applies to --data (a SIGNS file), not to photos") }
        guard !photos.isEmpty else { throw CLIError("no photos given: resnet-run predict \(stored.run.map(RunSelector.unprotect) ?? "RUN") photo.jpg … (or --data FILE --index I)") }
    }

    func run() throws {
        let id = try stored.runID()
        let threadCount = try threadCount(threads)
        if let data, let index {
            try predictStored(id: id, kind: stored.snapshot, threads: threadCount, data: data, index: index.value)
            return
        }
        let result = try StoredRun.predictPhotos(db: stored.db, run: id, kind: stored.snapshot, files: photos,
                                                 interpolation: interpolation ?? .nearest, threads: threadCount)
        report(result)
        if result.failures > 0 { throw ExitCode(ExitStatus.failure) }
    }

    func report(_ r: PhotoPredictions) {
        let classes = r.results.first { $0.probabilities != nil }?.probabilities?.count ?? r.classNames?.count ?? 0
        func name(_ c: Int) -> String { r.classNames?[c] ?? "\(c)" }
        for failed in r.results where failed.error != nil {
            writeStandardError("error: \(failed.error!)\n")
        }
        if stored.json(format) {
            var rows: [[String: Any]] = []
            for p in r.results {
                var row: [String: Any] = ["file": p.file]
                if let probabilities = p.probabilities, let c = p.predictedClass {
                    row["class"] = c
                    if let names = r.classNames { row["class_name"] = names[c] }
                    row["probability"] = probabilities[c]
                    row["probabilities"] = probabilities
                } else {
                    row["error"] = p.error ?? "unknown error"
                }
                rows.append(row)
            }
            var object: [String: Any] = [
                "run": r.used.run, "model": r.used.model, "weights": r.used.kind.rawValue, "epoch": r.used.epoch,
                "input": [r.height, r.width, 3], "interpolation": r.interpolation.rawValue, "predictions": rows,
                "failed": r.failures, "decode_seconds": r.decodeSeconds, "forward_seconds": r.forwardSeconds,
            ]
            if let names = r.classNames { object["class_names"] = names }
            printJSON(object)
            return
        }
        let good = r.results.filter { $0.probabilities != nil }
        let columns = (0..<classes).map { name($0) }
        if format == .csv {
            // One row per photo read; the values as numbers (the failures went to stderr).
            func field(_ s: String) -> String {
                s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
            }
            print((["file", "class", "class_name", "probability"] + columns.map { "p(\($0))" }).map(field).joined(separator: ","))
            for p in good {
                let c = p.predictedClass!, probabilities = p.probabilities!
                print(([p.file, "\(c)", name(c), "\(probabilities[c])"] + probabilities.map { "\($0)" }).map(field).joined(separator: ","))
            }
            return
        }
        print("run \(r.used.run) (\(r.used.model), \(r.used.kind.rawValue) weights of epoch \(r.used.epoch)); photos resized to \(r.width)x\(r.height) (\(r.interpolation.rawValue)), / 255:")
        guard !good.isEmpty else { return }
        let fileWidth = max(4, good.map { DisplayWidth.of($0.file) }.max() ?? 4)
        let classWidth = max(5, columns.map(DisplayWidth.of).max() ?? 5)
        let probabilityWidth = max(6, columns.map(DisplayWidth.of).max() ?? 6)
        func pad(_ s: String, _ w: Int, right: Bool = false) -> String { DisplayWidth.pad(s, to: w, right: right) }
        print(pad("file", fileWidth) + "  " + pad("class", classWidth) + "  " + "probability" + "  "
              + columns.map { pad("p(\($0))", probabilityWidth + 3, right: true) }.joined(separator: " "))
        for p in good {
            let c = p.predictedClass!, probabilities = p.probabilities!
            print(pad(p.file, fileWidth) + "  " + pad(name(c), classWidth) + "  " + pad(String(format: "%.4f", probabilities[c]), 11, right: true) + "  "
                  + probabilities.map { pad(String(format: "%.4f", $0), probabilityWidth + 3, right: true) }.joined(separator: " "))
        }
    }

    func predictStored(id: Int64, kind: SnapshotKind?, threads: Int, data: String, index i: Int) throws {
        let (used, p, label, set) = try StoredRun.predict(db: stored.db, run: id, kind: kind, data: data, index: i, threads: threads)
        let predicted = p.indices.max { p[$0] < p[$1] } ?? 0
        if stored.json(format) {
            printJSON(["run": used.run, "weights": used.kind.rawValue, "epoch": used.epoch, "file": set.source,
                       "index": i, "probabilities": p, "predicted_class": predicted, "label": label])
        } else {
            print("run \(used.run) (\(used.kind.rawValue) weights of epoch \(used.epoch)), \(set.source) image \(i):")
            print("class prediction vector [p(0), p(1), ..., p(\(p.count - 1))] =")
            print("[[" + p.map { String(format: "%.8g", $0) }.joined(separator: " ") + "]]")
            print("predicted class \(predicted) (p = \(String(format: "%.4f", p[predicted]))), label \(label)")
        }
    }
}
