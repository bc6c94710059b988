/// Keras files in and out, without TensorFlow: the committed fixtures (written by
/// `Scripts/keras_files.py --fixtures` with Keras 3.15 and tf_keras 2.21) are imported and
/// compared with the values and predictions Keras recorded; exports are checked for Keras'
/// structure and imported back bit for bit; broken files, written here with the HDF5 writer,
/// must fail in one line and record nothing.
import Datasets
import Foundation
import KerasFiles
import Kernels
import Models
import RunStore
import Training
import XCTest

final class KerasFilesTests: XCTestCase {
    // MARK: - Support

    static func fixture(_ name: String) throws -> String {
        try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures")).path
    }

    struct Expected: Decodable {
        var weights_first_values: [String: [Double]]
        var test_labels: [Int]
        var predict: [[Double]]
        var evaluate: [String: Double]
    }

    static func expected() throws -> Expected {
        try JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: try fixture("expected.json"))))
    }

    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("keras-files-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
    var db: String { path("experiments.db") }

    func importFile(_ file: String, model: String? = nil) throws -> KerasRuns.Imported {
        try KerasRuns.importFile(file, db: db, label: "test", model: model, programVersion: "test")
    }

    func finalBytes(_ run: Int64) throws -> [UInt8] {
        try RunStore(path: db, createIfMissing: false, readOnly: true).loadSnapshot(run: run, kind: .final).bytes
    }

    func floats(_ bytes: [UInt8], _ tensor: TensorInfo, count: Int) -> [Float] {
        bytes.withUnsafeBytes { raw in
            (0..<count).map { raw.load(fromByteOffset: (tensor.offset + $0) * 4, as: Float.self) }
        }
    }

    func runCount() throws -> Int {
        guard FileManager.default.fileExists(atPath: db) else { return 0 }
        return try RunStore(path: db, createIfMissing: false, readOnly: true).runs().count
    }

    /// The fixture's layers as (name, [(role, shape, values as Double)]), read with our reader.
    typealias LayerData = (name: String, weights: [(role: String, shape: [Int], values: [Double])])

    func readLayers(_ file: String) throws -> [LayerData] {
        let (k, reader) = try KerasFile.open(file)
        defer { reader.close() }
        return try k.layers.map { layer in
            (layer.name, try layer.weights.map { w in
                let n = w.shape.reduce(1, *)
                var v = [Float](repeating: 0, count: n)
                try v.withUnsafeMutableBytes { try reader.read(w.dataset, dtype: "float32", into: $0) }
                return (w.role, w.shape, v.map(Double.init))
            })
        }
    }

    /// Writes a Keras 2 style legacy HDF5 (`model_weights/<layer>/<layer>/<role>:0`).
    func writeLegacy(_ file: String, _ layers: [LayerData], float64: Set<String> = [], int32: Set<String> = []) throws {
        let tree = try HDF5Writer.Tree(path: file)
        try tree.setAttribute("/", "keras_version", string: "2.21.0")
        try tree.setAttribute("/", "backend", string: "tensorflow")
        try tree.createGroup("model_weights")
        try tree.setAttribute("model_weights", "layer_names", strings: layers.map(\.name), fixedLength: true)
        for layer in layers {
            let group = "model_weights/\(layer.name)"
            try tree.createGroup(group)
            try tree.setAttribute(group, "weight_names", strings: layer.weights.map { "\(layer.name)/\($0.role):0" }, fixedLength: true)
            for w in layer.weights {
                let name = "\(group)/\(layer.name)/\(w.role):0"
                let key = "\(layer.name)/\(w.role)"
                if float64.contains(key) || float64.contains("*") {
                    try tree.writeDataset(name, shape: w.shape, .float64(w.values))
                } else if int32.contains(key) {
                    try tree.writeDataset(name, shape: w.shape, .int32(w.values.map { Int32($0) }))
                } else {
                    try tree.writeDataset(name, shape: w.shape, .float32(w.values.map { Float($0) }))
                }
            }
        }
        try tree.close()
    }

    func assertImportFails(_ file: String, _ fragments: [String], line: UInt = #line) {
        XCTAssertThrowsError(try importFile(file), line: line) { error in
            let text = "\(error)"
            XCTAssertFalse(text.contains("\n"), text, line: line)
            for f in fragments { XCTAssertTrue(text.contains(f), "'\(f)' not in: \(text)", line: line) }
        }
        XCTAssertEqual(try runCount(), 0, "a failed import recorded a run", line: line)
    }

    // MARK: - Import of each fixture format

    func testImportsEachKerasFormatAndMatchesKerasPredictions() throws {
        let expected = try Self.expected()
        let test = try Self.fixture("tiny-test_signs.h5")
        let cases: [(String, KerasFile.Format, String?)] = [
            ("tiny-keras3.h5", .keras3H5, "3.15.1"),
            ("tiny-keras3.weights.h5", .keras3WeightsH5, nil),
            ("tiny-keras2.h5", .keras2H5, "2.21.0"),
        ]
        for (name, format, version) in cases {
            let file = try Self.fixture(name)
            let r = try importFile(file)
            XCTAssertEqual(r.model, "tiny", name)
            XCTAssertEqual(r.file.format, format, name)
            let record = try RunStore(path: db, createIfMissing: false, readOnly: true).run(r.run)
            XCTAssertEqual(record.status, .imported)
            XCTAssertEqual(record.epochsDone, 0)
            XCTAssertEqual(record.hyperparameters["source"], file)
            XCTAssertEqual(record.hyperparameters["source_sha256"], try SIGNS.hashFile(file).sha256)
            XCTAssertEqual(record.hyperparameters["keras_format"], format.rawValue)
            XCTAssertEqual(record.hyperparameters["keras_version"], version, name)
            if format != .keras3WeightsH5 {
                XCTAssertEqual(record.hyperparameters["keras_model_name"], "ResNetTiny")
                XCTAssertEqual(record.hyperparameters["keras_backend"], "tensorflow")
            }
            let snapshots = try RunStore(path: db, createIfMissing: false, readOnly: true).snapshots(run: r.run)
            XCTAssertEqual(snapshots.map(\.kind), [.final])
            XCTAssertEqual(snapshots[0].tensors, Weights.parameterManifest(TinyF32.self))

            // A few weights, BN moving statistics included, exactly as Keras had them.
            let bytes = try finalBytes(r.run)
            for (tensor, values) in expected.weights_first_values {
                let info = try XCTUnwrap(TinyF32.tensors.first { $0.name == tensor })
                XCTAssertEqual(floats(bytes, info, count: values.count), values.map { Float($0) }, "\(name) \(tensor)")
            }

            // evaluate / predict on the committed images vs Keras' model.predict / evaluate.
            let (_, result, _) = try StoredRun.evaluate(db: db, run: r.run, kind: nil, data: test, threads: 1)
            XCTAssertEqual(result.count, expected.test_labels.count)
            XCTAssertEqual(result.accuracy, expected.evaluate["accuracy"]!, accuracy: 1e-6, name)
            // Keras' loss path may differ from ours in the last digits (clipping vs logits); the
            // exact comparison is Scripts/keras_files.py --prove's.
            XCTAssertEqual(result.loss, expected.evaluate["loss"]!, accuracy: 1e-4 * expected.evaluate["loss"]!, name)
            for i in expected.predict.indices {
                let (_, p, label, _) = try StoredRun.predict(db: db, run: r.run, kind: nil, data: test, index: i, threads: 1)
                XCTAssertEqual(label, expected.test_labels[i])
                for (ours, theirs) in zip(p, expected.predict[i]) {
                    XCTAssertEqual(ours, theirs, accuracy: 1e-5, "\(name) image \(i)")
                }
            }
        }
        // All three formats hold the same weights.
        XCTAssertEqual(try finalBytes(1), try finalBytes(2))
        XCTAssertEqual(try finalBytes(1), try finalBytes(3))
    }

    // MARK: - Export

    func testExportThenImportIsBitIdenticalInBothFormats() throws {
        let original = try importFile(try Self.fixture("tiny-keras3.h5"))
        let h5 = path("tiny-1.h5"), weights = path("tiny-1.weights.h5")
        let e1 = try KerasRuns.export(db: db, run: original.run, kind: nil, to: h5, weightsOnly: false)
        let e2 = try KerasRuns.export(db: db, run: original.run, kind: nil, to: weights, weightsOnly: true)
        XCTAssertEqual(e1.format, .keras3H5)
        XCTAssertEqual(e2.format, .keras3WeightsH5)
        let a = try importFile(h5), b = try importFile(weights)
        XCTAssertEqual(try finalBytes(a.run), try finalBytes(original.run))
        XCTAssertEqual(try finalBytes(b.run), try finalBytes(original.run))
        XCTAssertEqual(a.file.modelName, "ResNetTiny")
        // No temporary file is left next to the exports.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains("partial") }, [])
    }

    /// HDF5 stamps object headers with times unless told not to: exports of the same weights a
    /// second apart must still be the same bytes (checksums, diffs and caches depend on it).
    func testExportsOfTheSameWeightsAreByteIdentical() throws {
        let original = try importFile(try Self.fixture("tiny-keras3.h5"))
        for weightsOnly in [false, true] {
            let ending = weightsOnly ? ".weights.h5" : ".h5"
            let first = path("first" + ending), second = path("second" + ending)
            _ = try KerasRuns.export(db: db, run: original.run, kind: nil, to: first, weightsOnly: weightsOnly)
            Thread.sleep(forTimeInterval: 1.1)
            _ = try KerasRuns.export(db: db, run: original.run, kind: nil, to: second, weightsOnly: weightsOnly)
            let a = try Data(contentsOf: URL(fileURLWithPath: first)), b = try Data(contentsOf: URL(fileURLWithPath: second))
            XCTAssertGreaterThan(a.count, 1000)
            XCTAssertTrue(a == b, "two exports (weights only: \(weightsOnly)) differ")
        }
    }

    func testFloat64RunExportsAndImportsIntoTheFloat64Model() throws {
        let model = TinyF64(seed: 5, threads: 1)
        let store = try RunStore(path: db, createIfMissing: true)
        let config = RunConfig(model: "tiny-float64", modelHash: TinyF64.descriptionSHA256, datasetPath: "(test)",
                               epochsPlanned: 0, batchSize: 0, learningRate: 0)
        let run = try store.createImportedRun(config, reason: nil, tensors: Weights.parameterManifest(TinyF64.self),
                                              bytes: UnsafeRawBufferPointer(model.parameterBytes))
        for (file, weightsOnly) in [(path("t64.h5"), false), (path("t64.weights.h5"), true)] {
            _ = try KerasRuns.export(db: db, run: run, kind: nil, to: file, weightsOnly: weightsOnly)
            let again = try importFile(file)
            XCTAssertEqual(again.model, "tiny-float64")
            XCTAssertEqual(try finalBytes(again.run), try finalBytes(run))
        }
        // A float64 file whose model has no float64 variant: said so, nothing recorded.
        let onlyF32 = try [KerasRuns.spec(TinyF32.self)]
        let (k, reader) = try KerasFile.open(path("t64.h5"))
        defer { reader.close() }
        XCTAssertThrowsError(try KerasImport.choose(k, among: onlyF32)) {
            XCTAssertTrue("\($0)".contains("weights are float64 and model 'tiny' has no float64 variant"), "\($0)")
        }
    }

    func testExportedModelFileHasKerasStructure() throws {
        let r = try importFile(try Self.fixture("tiny-keras3.h5"))
        let h5 = path("out.h5")
        _ = try KerasRuns.export(db: db, run: r.run, kind: nil, to: h5, weightsOnly: false)
        let ours = try HDF5Reader(path: h5), keras = try HDF5Reader(path: try Self.fixture("tiny-keras3.h5"))
        defer { ours.close(); keras.close() }
        XCTAssertEqual(try ours.strings("/", attribute: "backend"), ["tensorflow"])
        XCTAssertEqual(try ours.strings("/", attribute: "keras_version"), ["3.15.1"])
        XCTAssertEqual(try ours.kind("model_weights"), .group)
        // The same layer order as Keras' model.layers (its legacy loader pairs layers by position).
        XCTAssertEqual(try ours.strings("model_weights", attribute: "layer_names"),
                       try keras.strings("model_weights", attribute: "layer_names"))
        XCTAssertEqual(try ours.strings("model_weights/conv1", attribute: "weight_names"), ["conv1/kernel", "conv1/bias"])
        XCTAssertEqual(try ours.strings("model_weights/bn_conv1", attribute: "weight_names"),
                       ["bn_conv1/gamma", "bn_conv1/beta", "bn_conv1/moving_mean", "bn_conv1/moving_variance"])
        XCTAssertEqual(try ours.strings("model_weights/activation", attribute: "weight_names"), [])
        XCTAssertEqual(try ours.describe("model_weights/conv1/conv1/kernel").shape, [7, 7, 3, 8])
        XCTAssertEqual(try ours.describe("model_weights/fc6/fc6/kernel").dtype, "float32")
        XCTAssertEqual(try ours.kind("model_weights/top_level_model_weights"), .group)
        // model_config: the one Keras wrote for the same model, key for key.
        let a = try XCTUnwrap(try ours.strings("/", attribute: "model_config")?.first)
        let b = try XCTUnwrap(try keras.strings("/", attribute: "model_config")?.first)
        let ja = try JSONSerialization.jsonObject(with: Data(a.utf8)) as? NSDictionary
        let jb = try JSONSerialization.jsonObject(with: Data(b.utf8)) as? NSDictionary
        XCTAssertNotNil(ja)
        XCTAssertEqual(ja, jb)
    }

    func testExportedWeightsFileHasKerasStructure() throws {
        let r = try importFile(try Self.fixture("tiny-keras3.h5"))
        let file = path("out.weights.h5")
        _ = try KerasRuns.export(db: db, run: r.run, kind: nil, to: file, weightsOnly: true)
        let ours = try HDF5Reader(path: file), keras = try HDF5Reader(path: try Self.fixture("tiny-keras3.weights.h5"))
        defer { ours.close(); keras.close() }
        let keys = try keras.children("layers")
        XCTAssertEqual(try ours.children("layers"), keys)
        for key in keys {
            XCTAssertEqual(try ours.strings("layers/\(key)/vars", attribute: "name"),
                           try keras.strings("layers/\(key)/vars", attribute: "name"), key)
            XCTAssertEqual(try ours.children("layers/\(key)/vars"), try keras.children("layers/\(key)/vars"), key)
        }
        XCTAssertEqual(try ours.strings("vars", attribute: "name"), ["ResNetTiny"])
        XCTAssertEqual(try ours.describe("layers/conv2d/vars/0").shape, [7, 7, 3, 8])
    }

    // MARK: - Errors: one line, nothing recorded

    func testBadFilesFailInOneLineAndRecordNothing() throws {
        let text = path("notes.h5")
        try "not a model".write(toFile: text, atomically: true, encoding: .utf8)
        assertImportFails(text, [text, "not an HDF5 file"])

        let empty = path("empty.h5")
        _ = FileManager.default.createFile(atPath: empty, contents: Data())
        assertImportFails(empty, [empty, "empty"])

        let truncated = path("truncated.h5")
        let whole = try Data(contentsOf: URL(fileURLWithPath: try Self.fixture("tiny-keras3.h5")))
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: truncated))
        assertImportFails(truncated, [truncated])

        let signs = try Self.fixture("tiny-test_signs.h5")
        assertImportFails(signs, [signs, "no Keras weights"])

        assertImportFails(path("missing.h5"), ["missing.h5", "not found"])
    }

    func testLayerAndTensorMismatchesNameLayerTensorAndBothShapes() throws {
        let layers = try readLayers(try Self.fixture("tiny-keras3.h5"))
        // The writer itself produces an importable file (so the failures below are the edits').
        try writeLegacy(path("ok.h5"), layers)
        XCTAssertEqual(try importFile(path("ok.h5")).model, "tiny")
        try FileManager.default.removeItem(atPath: db)

        // A missing layer.
        try writeLegacy(path("missing-layer.h5"), layers.filter { $0.name != "res3b_branch2c" })
        assertImportFails(path("missing-layer.h5"), ["missing-layer.h5", "layer 'res3b_branch2c'", "res3b_branch2c/kernel", "(1, 1, 8, 32)", "missing"])

        // An extra layer with weights.
        try writeLegacy(path("extra-layer.h5"), layers + [("fc_extra", [("kernel", [6, 2], [Double](repeating: 0.5, count: 12))])])
        assertImportFails(path("extra-layer.h5"), ["layer 'fc_extra'", "fc_extra/kernel", "(6, 2)", "not in model 'tiny'"])

        // A wrong shape.
        var wrong = layers
        let conv = try XCTUnwrap(wrong.firstIndex { $0.name == "res2a_branch2b" })
        wrong[conv].weights[0] = ("kernel", [3, 3, 4, 2], Array(wrong[conv].weights[0].values.prefix(72)))
        try writeLegacy(path("wrong-shape.h5"), wrong)
        assertImportFails(path("wrong-shape.h5"), ["wrong-shape.h5", "layer 'res2a_branch2b'", "tensor 'res2a_branch2b/kernel'",
                                                   "(3, 3, 4, 2) in the file", "expects (3, 3, 4, 4)"])

        // A missing BN moving statistic.
        var noStat = layers
        let bn = try XCTUnwrap(noStat.firstIndex { $0.name == "bn2b_branch2a" })
        noStat[bn].weights.removeAll { $0.role == "moving_variance" }
        try writeLegacy(path("no-stat.h5"), noStat)
        assertImportFails(path("no-stat.h5"), ["layer 'bn2b_branch2a'", "tensor 'bn2b_branch2a/moving_variance'", "(4,)", "missing"])

        // Mixed and non-float dtypes.
        try writeLegacy(path("mixed.h5"), layers, float64: ["fc6/bias"])
        assertImportFails(path("mixed.h5"), ["mixed weight dtypes", "fc6/bias", "float64"])
        try writeLegacy(path("ints.h5"), layers, int32: ["conv1/bias"])
        assertImportFails(path("ints.h5"), ["conv1/bias", "int32"])

        // A file with only weightless layers.
        try writeLegacy(path("no-weights.h5"), layers.map { ($0.name, []) })
        assertImportFails(path("no-weights.h5"), ["no-weights.h5", "holds no weights"])

        // All float64: goes to the float64 variant of the same description.
        try writeLegacy(path("f64.h5"), layers, float64: ["*"])
        let r = try importFile(path("f64.h5"))
        XCTAssertEqual(r.model, "tiny-float64")
    }

    func testUnknownModelOptionIsRefused() throws {
        XCTAssertThrowsError(try importFile(try Self.fixture("tiny-keras3.h5"), model: "vgg16")) {
            XCTAssertTrue("\($0)".contains("unknown model 'vgg16'"), "\($0)")
        }
        XCTAssertThrowsError(try importFile(try Self.fixture("tiny-keras3.h5"), model: "resnet50-signs")) {
            XCTAssertTrue("\($0)".contains("model 'resnet50-signs'"), "\($0)")
        }
        XCTAssertEqual(try runCount(), 0)
    }

    // MARK: - The CLI as a process

    func resnetRun() throws -> URL {
        var candidates = [Bundle(for: Self.self).bundleURL.deletingLastPathComponent()]
        if let exe = Bundle.main.executableURL { candidates.append(exe.deletingLastPathComponent()) }
        candidates.append(URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent())
        for dir in candidates {
            for base in [dir, dir.deletingLastPathComponent()] {
                let url = base.appendingPathComponent("resnet-run")
                if FileManager.default.isExecutableFile(atPath: url.path) { return url }
            }
        }
        throw XCTSkip("resnet-run is not in the build products directory (looked in \(candidates.map(\.path)))")
    }

    func cli(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = try resnetRun()
        process.arguments = arguments
        process.currentDirectoryURL = dir
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    func testCLIImportEvaluateExportAndRefusals() throws {
        let fixture = try Self.fixture("tiny-keras2.h5")
        var r = try cli(["import", fixture, "--label", "course-pretrained"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("run 1 (status: imported): tiny"), r.stdout)

        r = try cli(["evaluate", "1", "--data", try Self.fixture("tiny-test_signs.h5"), "--format", "json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(json["accuracy"] as? Double ?? -1, try Self.expected().evaluate["accuracy"]!, accuracy: 1e-6)

        // Without --data an imported run has no test set of its own.
        r = try cli(["evaluate", "1"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("imported from a Keras file") && r.stderr.contains("--data"), r.stderr)

        r = try cli(["export", "1", "ResNetTiny-1.h5"])
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try cli(["export", "1", "--weights-only", "ResNetTiny-1.weights.h5"])
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try cli(["export", "1", "--weights-only", "ResNetTiny-1.h5x"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains(".weights.h5"), r.stderr)
        r = try cli(["import", "ResNetTiny-1.weights.h5", "--format", "json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("\"run\":2") || r.stdout.contains("\"run\" : 2"), r.stdout)

        // An imported run has nothing to resume.
        r = try cli(["train", "--resume", "1"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("imported from a Keras file"), r.stderr)

        // A failing import: one line on stderr, exit 2, no new run.
        try "junk".write(to: dir.appendingPathComponent("junk.h5"), atomically: true, encoding: .utf8)
        r = try cli(["import", "junk.h5"])
        XCTAssertEqual(r.status, 2)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("junk.h5: not an HDF5 file"), r.stderr)
        XCTAssertEqual(try RunStore(path: db, createIfMissing: false, readOnly: true).runs().map(\.status), [.imported, .imported])
    }
}
