/// Photos end to end, as processes of the debug `resnet-run` on the tiny model (16×16×3, 6
/// classes): training on a folder of class folders written here (PNG and JPEG through the
/// package's encoder), `predict` on files including an unreadable one, `evaluate`'s confusion
/// matrix, a resume that notices a changed folder, and `plot-model`.
import Datasets
import Foundation
import RunStore
import XCTest

final class PhotoCLITests: XCTestCase {
    var dir: URL!
    var db: URL { dir.appendingPathComponent("runs.db") }
    let classes = ["a", "b", "c", "d", "e", "f"]

    override func setUpWithError() throws {
        dir = try makeTemporaryDirectory(self)
    }

    /// `photos/<class>/` with `perClass` images of varying sizes; class k is mostly colour k.
    @discardableResult
    func writeFolder(_ name: String = "photos", perClass: Int = 4, classes: [String]? = nil) throws -> URL {
        let root = dir.appendingPathComponent(name)
        for (k, c) in (classes ?? self.classes).enumerated() {
            let folder = root.appendingPathComponent(c)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for i in 0..<perClass {
                let (w, h) = (16 + 3 * i, 12 + 5 * i)
                var rgb = [UInt8](repeating: 0, count: w * h * 3)
                for p in 0..<(w * h) {
                    rgb[p * 3] = UInt8((k * 40 + p) % 256)
                    rgb[p * 3 + 1] = UInt8((255 - k * 40) % 256)
                    rgb[p * 3 + 2] = UInt8((i * 50 + k * 7) % 256)
                }
                let path = folder.appendingPathComponent("img\(i)." + (i % 2 == 0 ? "png" : "jpg")).path
                if i % 2 == 0 { try PhotoWriter.writePNG(path: path, rgb: rgb, width: w, height: h) }
                else { try PhotoWriter.writeJPEG(path: path, rgb: rgb, width: w, height: h) }
            }
        }
        return root
    }

    func train(_ extra: [String]) throws -> ProcessResult {
        try runCLI(["train", "--model", "tiny", "--batch-size", "8", "--threads", "1", "--db", db.path, "--quiet"] + extra, in: dir)
    }

    func testFolderTrainingThenPredictAndEvaluate() throws {
        let photos = try writeFolder()
        let trained = try train(["--data", photos.path, "--validation-split", "0.25", "--epochs", "2", "--seed", "3"])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let run = try XCTUnwrap(try storedRuns(db).first)
        XCTAssertEqual(run.status, .completed)
        XCTAssertEqual([run.trainCount, run.testCount], [18, 6], "int(0.25 × 24) = 6 validate")
        XCTAssertEqual(run.hyperparameters["data_source"], "folder")
        XCTAssertEqual(run.hyperparameters["class_names"], #"["a","b","c","d","e","f"]"#)
        XCTAssertEqual(run.hyperparameters["data_validation_split"], "0.25")
        XCTAssertEqual(run.hyperparameters["data_seed"], "3")
        XCTAssertEqual(run.hyperparameters["data_interpolation"], "nearest")
        XCTAssertEqual(run.hyperparameters["data_files_sha256"]?.count, 64)
        XCTAssertEqual(run.datasetSHA256?.count, 64)

        // predict: two good files and one truncated one, as JSON.
        let bad = dir.appendingPathComponent("broken.png")
        let good = try Data(contentsOf: photos.appendingPathComponent("c/img2.png"))
        try good.prefix(good.count / 2).write(to: bad)
        let files = [photos.appendingPathComponent("a/img1.jpg").path, bad.path, photos.appendingPathComponent("c/img2.png").path]
        let json = try runCLI(["predict", "\(run.id)", "--db", db.path, "--threads", "1", "--format", "json"] + files, in: dir)
        XCTAssertEqual(json.status, 1, "a failed file makes the exit status 1")
        XCTAssertEqual(json.stderrLines.count, 1, json.stderr)
        XCTAssertTrue(json.stderrLines.first?.contains("broken.png: truncated PNG") ?? false, json.stderr)
        let object = try XCTUnwrap(json.jsonLines.first)
        let predictions = try XCTUnwrap(object["predictions"] as? [[String: Any]])
        XCTAssertEqual(predictions.map { $0["file"] as? String }, files)
        XCTAssertEqual(object["class_names"] as? [String], classes)
        for i in [0, 2] {
            let p = try XCTUnwrap(predictions[i]["probabilities"] as? [Double])
            XCTAssertEqual(p.count, 6)
            XCTAssertEqual(p.reduce(0, +), 1, accuracy: 1e-5)
            let c = try XCTUnwrap(predictions[i]["class"] as? Int)
            XCTAssertEqual(p[c], p.max())
            XCTAssertEqual(predictions[i]["class_name"] as? String, classes[c])
        }
        XCTAssertNotNil(predictions[1]["error"] as? String)
        XCTAssertNil(predictions[1]["probabilities"])

        // The table: a header and one row per good file; the bad one only on stderr.
        let table = try runCLI(["predict", "\(run.id)", "--db", db.path, "--threads", "1", "--interpolation", "bilinear"] + files, in: dir)
        XCTAssertEqual(table.status, 1)
        let rows = table.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(rows.count, 4, table.stdout)
        XCTAssertTrue(rows[1].hasPrefix("file"), rows[1])
        XCTAssertTrue(rows[1].contains("p(f)"), rows[1])
        XCTAssertTrue(rows[2].hasPrefix(files[0]) && rows[3].hasPrefix(files[2]), table.stdout)
        XCTAssertEqual(table.stderrLines.count, 1)

        // All good: exit 0.
        let fine = try runCLI(["predict", "\(run.id)", "--db", db.path, "--threads", "1", files[0]], in: dir)
        XCTAssertEqual(fine.status, 0, fine.stderr)

        // evaluate: the confusion matrix sums to the test count, its diagonal to `correct`.
        let evaluation = try runCLI(["evaluate", "\(run.id)", "--db", db.path, "--threads", "1", "--format", "json"], in: dir)
        XCTAssertEqual(evaluation.status, 0, evaluation.stderr)
        let e = try XCTUnwrap(evaluation.jsonLines.first)
        let matrix = try XCTUnwrap(e["confusion_matrix"] as? [[Int]])
        XCTAssertEqual(matrix.count, 6)
        XCTAssertTrue(matrix.allSatisfy { $0.count == 6 })
        XCTAssertEqual(matrix.joined().reduce(0, +), e["count"] as? Int)
        XCTAssertEqual(e["count"] as? Int, 6)
        XCTAssertEqual((0..<6).reduce(0) { $0 + matrix[$1][$1] }, e["correct"] as? Int)
        let perClass = try XCTUnwrap(e["per_class"] as? [[String: Any]])
        XCTAssertEqual(perClass.map { $0["name"] as? String }, classes)
        XCTAssertEqual(perClass.map { $0["support"] as? Int }, matrix.map { $0.reduce(0, +) })
        let text = try runCLI(["evaluate", "\(run.id)", "--db", db.path, "--threads", "1"], in: dir)
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("confusion matrix (rows: true class, columns: predicted class)"), text.stdout)
        XCTAssertTrue(text.stdout.contains("precision"), text.stdout)
    }

    func testPredictOnSIGNSRunShowsClassIndices() throws {
        let data = try writeSIGNSDirectory(dir.appendingPathComponent("signs"))
        XCTAssertEqual(try train(["--data", data.path, "--epochs", "1"]).status, 0)
        let photo = try writeFolder(perClass: 1).appendingPathComponent("b/img0.png").path
        let r = try runCLI(["predict", "1", "--db", db.path, "--threads", "1", photo], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("p(0)") && r.stdout.contains("p(5)"), r.stdout)
        // The SIGNS form still works.
        let stored = try runCLI(["predict", "1", "--db", db.path, "--threads", "1", "--data",
                                 data.appendingPathComponent("test_signs.h5").path, "--index", "0"], in: dir)
        XCTAssertEqual(stored.status, 0, stored.stderr)
        // Bad use: one line, exit 2.
        for args in [["predict", "1", "--db", db.path], ["predict", "1", "--db", db.path, "--interpolation", "cubic", photo]] {
            let bad = try runCLI(args, in: dir)
            XCTAssertEqual(bad.status, 2, bad.stderr)
            XCTAssertEqual(bad.stderrLines.count, 1, bad.stderr)
        }
    }

    func testBadFoldersAreOneLineAndRecordNothing() throws {
        let five = try writeFolder("five", perClass: 2, classes: ["a", "b", "c", "d", "e"])
        let six = try writeFolder("six", perClass: 2)
        let broken = six.appendingPathComponent("d/img1.jpg")
        let cases: [([String], String)] = [
            (["--data", five.path, "--validation-split", "0.5"], "5 class folders (a, b, c, d, e), the model 'tiny' has 6 classes"),
            (["--data", six.path], "need --validation-split"),
            (["--data", six.path, "--validation-split", "1.5"], "--validation-split: '1.5' is not a fraction"),
            (["--data", six.path, "--validation-split", "0.2", "--interpolation", "area"], "--interpolation: 'area'"),
            (["--synthetic", "--interpolation", "bilinear"], "--interpolation applies to --data DIR holding JPEG/PNG class folders"),
        ]
        for (args, fragment) in cases {
            let r = try train(args + ["--epochs", "1"])
            XCTAssertEqual(r.status, 2, "\(args): \(r.stderr)")
            XCTAssertEqual(r.stderrLines.count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains(fragment), "'\(fragment)' not in: \(r.stderr)")
        }
        try Data("not a jpeg".utf8).write(to: broken)
        let r = try train(["--data", six.path, "--validation-split", "0.5", "--epochs", "1"])
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertEqual(r.stderrLines.count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("\(broken.path): not a JPEG or PNG image"), r.stderr)
        XCTAssertEqual(try storedRuns(db).count, 0, "nothing recorded on bad input")
    }

    func testResumeNoticesAChangedFolder() throws {
        let photos = try writeFolder(perClass: 2)
        let stopped = try train(["--data", photos.path, "--validation-split", "0.25", "--epochs", "2", "--stop-after-epochs", "1"])
        XCTAssertEqual(stopped.status, 130, stopped.stderr)
        try PhotoWriter.writePNG(path: photos.appendingPathComponent("a/extra.png").path, rgb: [9, 9, 9], width: 1, height: 1)
        let resumed = try runCLI(["train", "--resume", "1", "--db", db.path, "--quiet"], in: dir)
        XCTAssertEqual(resumed.status, 2, resumed.stderr)
        XCTAssertEqual(resumed.stderrLines.count, 1, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("images of run 1 changed"), resumed.stderr)
        try FileManager.default.removeItem(at: photos.appendingPathComponent("a/extra.png"))
        let again = try runCLI(["train", "--resume", "1", "--db", db.path, "--quiet"], in: dir)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(try storedRuns(db).first?.status, .completed)
    }

    // MARK: plot-model

    func runPlot(_ arguments: [String], path: String? = nil) throws -> ProcessResult {
        let process = Process()
        process.executableURL = try Paths.resnetRun()
        process.arguments = ["plot-model"] + arguments
        process.currentDirectoryURL = dir
        if let path {
            var environment = ProcessInfo.processInfo.environment
            environment["PATH"] = path
            process.environment = environment
        }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return ProcessResult(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                             stderr: String(decoding: e, as: UTF8.self))
    }

    func testPlotModelWritesDOT() throws {
        let r = try runPlot(["--out", "resnet50.dot"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let dot = try String(contentsOf: dir.appendingPathComponent("resnet50.dot"), encoding: .utf8)
        let lines = dot.split(separator: "\n")
        let nodes = lines.filter { $0.contains(" [label=") }.count
        let edges = lines.filter { $0.contains("\" -> \"") }.count
        XCTAssertEqual(nodes, 177, "ResNet-50 (SIGNS): 177 layers including the input")
        XCTAssertEqual(edges, 192, "every layer's inputs: 176 + one more per residual add (16)")
        let stdout = try runPlot(["--model", "tiny"])
        XCTAssertTrue(stdout.stdout.hasPrefix("digraph \"tiny\" {"), stdout.stdout)

        // Without Graphviz: the DOT instead of the image, one line saying how to get dot, exit 1.
        let empty = dir.appendingPathComponent("empty-bin")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let missing = try runPlot(["--out", "model.svg"], path: empty.path)
        XCTAssertEqual(missing.status, 1)
        XCTAssertEqual(missing.stderr.split(separator: "\n").count, 1, missing.stderr)
        XCTAssertTrue(missing.stderr.contains("apt-get install graphviz"), missing.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("model.dot").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("model.svg").path))
    }

    func testPlotModelRendersSVGWithGraphviz() throws {
        let found = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
            .contains { FileManager.default.isExecutableFile(atPath: "\($0)/dot") }
        guard found else {
            throw XCTSkip("Graphviz' dot is not installed (Debian: apt-get install graphviz); the SVG output of plot-model is not checked")
        }
        let r = try runPlot(["--model", "tiny", "--out", "tiny.svg"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let svg = try String(contentsOf: dir.appendingPathComponent("tiny.svg"), encoding: .utf8)
        XCTAssertTrue(svg.contains("<svg"), String(svg.prefix(200)))
        XCTAssertTrue(svg.contains("res2a_branch2a"), "layer names are in the picture")
    }
}
