/// `resnet-run predict`: class probabilities under a stored run's weights — of photos (JPEG/PNG,
/// one row per file, like `model.predict` on `load_img(path, target_size=…)` / 255), or of one
/// image of a SIGNS file (`--data F --index I`, the notebooks' `model.predict(x)` vector).
import ArgumentParser
import Datasets
import Foundation
import Kernels
import RunStore
import Training

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Class probabilities of photos (JPEG/PNG) or of one stored image under a run's weights.",
        discussion: """
        Photos: resnet-run predict --run N a.jpg b.png …
          Each file is decoded (grayscale, RGBA and 16-bit PNGs become 8-bit RGB), turned upright by
          its EXIF orientation, resized to the model's input as Keras' load_img(target_size=…) does
          (--interpolation nearest, the default, or bilinear) and divided by 255 like the training
          data. One row per file: class, its probability, all probabilities (class names when the
          run recorded them). A file that cannot be read gets one error line and the others are
          still predicted; the exit status is then 1.
        SIGNS: resnet-run predict --run N --data test_signs.h5 --index I
          --data: one SIGNS .h5 file (train_set_* or test_set_* datasets) or a directory (its
          test_signs.h5); --index: which image of it (0-based).
        --weights: final (default), best or checkpoint.
        """)

    @OptionGroup var stored: StoredRunOptions
    @Option(help: ArgumentHelp("SIGNS .h5 file (or directory: its test_signs.h5), with --index.", valueName: "file")) var data: String?
    @Option(help: ArgumentHelp("With --data: image index in the file, from 0.", valueName: "i")) var index: String?
    @Option(help: ArgumentHelp("Photo resizing: nearest (default, as load_img) or bilinear.", valueName: "kind")) var interpolation: String?
    @Argument(help: ArgumentHelp("JPEG or PNG files to classify.", valueName: "photo")) var photos: [String] = []

    func run() throws {
        do {
            let (id, kind, threadCount) = try stored.parsed()
            if let data {
                guard photos.isEmpty else { throw TrainingError("--data predicts one stored image; pass photos without --data (got \(photos.count) file argument(s))") }
                guard interpolation == nil else { throw TrainingError("--interpolation applies to photos, not to --data \(data)") }
                guard let index else { throw TrainingError("--data \(data) needs --index I (which image of it)") }
                try predictStored(id: id, kind: kind, threads: threadCount, data: data, index: index)
                return
            }
            if index != nil { throw TrainingError("--index applies to --data (a SIGNS file), not to photos") }
            guard !photos.isEmpty else { throw TrainingError("no photos given: resnet-run predict --run \(stored.runID) photo.jpg … (or --data FILE --index I)") }
            let method = try interpolation.map { text -> Interpolation in
                guard let m = Interpolation(rawValue: text) else { throw TrainingError("--interpolation: '\(text)' is not one of nearest, bilinear") }
                return m
            } ?? .nearest
            let result = try StoredRun.predictPhotos(db: stored.db, run: id, kind: kind, files: photos,
                                                     interpolation: method, threads: threadCount)
            report(result)
            if result.failures > 0 { throw ExitCode(1) }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            fail(error)
        }
    }

    func report(_ r: PhotoPredictions) {
        let classes = r.results.first { $0.probabilities != nil }?.probabilities?.count ?? r.classNames?.count ?? 0
        func name(_ c: Int) -> String { r.classNames?[c] ?? "\(c)" }
        for failed in r.results where failed.error != nil {
            FileHandle.standardError.write(Data("error: \(failed.error!)\n".utf8))
        }
        if stored.json {
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
        print("run \(r.used.run) (\(r.used.model), \(r.used.kind.rawValue) weights of epoch \(r.used.epoch)); photos resized to \(r.width)x\(r.height) (\(r.interpolation.rawValue)), / 255:")
        guard !good.isEmpty else { return }
        let fileWidth = max(4, good.map { $0.file.count }.max() ?? 4)
        let classWidth = max(5, (0..<classes).map { name($0).count }.max() ?? 5)
        let columns = (0..<classes).map { name($0) }
        let probabilityWidth = max(6, columns.map(\.count).max() ?? 6)
        func pad(_ s: String, _ w: Int, right: Bool = false) -> String {
            s.count >= w ? s : right ? String(repeating: " ", count: w - s.count) + s : s + String(repeating: " ", count: w - s.count)
        }
        print(pad("file", fileWidth) + "  " + pad("class", classWidth) + "  " + "probability" + "  "
              + columns.map { pad("p(\($0))", probabilityWidth + 3, right: true) }.joined(separator: " "))
        for p in good {
            let c = p.predictedClass!, probabilities = p.probabilities!
            print(pad(p.file, fileWidth) + "  " + pad(name(c), classWidth) + "  " + pad(String(format: "%.4f", probabilities[c]), 11, right: true) + "  "
                  + probabilities.map { pad(String(format: "%.4f", $0), probabilityWidth + 3, right: true) }.joined(separator: " "))
        }
    }

    func predictStored(id: Int64, kind: SnapshotKind?, threads: Int, data: String, index: String) throws {
        let i = try parseInt(index, option: "--index", minimum: 0)
        let (used, p, label, set) = try StoredRun.predict(db: stored.db, run: id, kind: kind, data: data, index: i, threads: threads)
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
    }
}
