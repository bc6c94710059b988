import Foundation
import NetEmit
@testable import NetSpec
import XCTest

/// Generated/ is the reviewed copy of what the build plugin produces; it must be exactly what the
/// generator writes now.
final class GeneratedCopyTests: XCTestCase {
    static let refresh = "run `swift package --allow-writing-to-package-directory generate-model` to refresh Generated/"

    func testGeneratedCopyIsIdenticalToFreshGeneratorOutput() throws {
        let descriptions = try PackagePaths.descriptions()
        XCTAssertEqual(descriptions.map { $0.lastPathComponent },
                       ["resnet50-imagenet.arch", "resnet50-signs.arch", "tiny.arch"])
        for url in descriptions {
            let text = try String(contentsOf: url, encoding: .utf8)
            // netgen passes the path it was given (absolute under the build plugin) as `file:`.
            let network = try NetSpecLoader.load(text: text, file: url.path)
            let emitted = Emitter.emit(network, descriptionText: text, sourceName: url.lastPathComponent)
            let base = url.deletingPathExtension().lastPathComponent
            XCTAssertEqual(emitted.fileName, base + ".swift")
            let committedURL = PackagePaths.generated.appendingPathComponent(emitted.fileName)
            guard let committed = try? Data(contentsOf: committedURL) else {
                XCTFail("Generated/\(emitted.fileName) is missing; \(Self.refresh)")
                continue
            }
            if committed != Data(emitted.contents.utf8) {
                let difference = firstDifference(String(decoding: committed, as: UTF8.self), emitted.contents,
                                                 labels: ("committed", "fresh"))
                XCTFail("""
                    Generated/\(emitted.fileName) differs from what netgen generates from \(url.lastPathComponent); \
                    \(Self.refresh).
                    \(difference)
                    """)
            }
        }
    }

    /// The registry the build plugin generates from all descriptions is committed beside the models.
    func testGeneratedRegistryIsIdenticalToFreshGeneratorOutput() throws {
        let networks = try PackagePaths.descriptions().map { url in
            try NetSpecLoader.load(text: try String(contentsOf: url, encoding: .utf8), file: url.path)
        }
        let registry = Emitter.emitRegistry(networks)
        XCTAssertEqual(registry.fileName, "ModelRegistry.swift")
        let committed = try? String(contentsOf: PackagePaths.generated.appendingPathComponent(registry.fileName), encoding: .utf8)
        XCTAssertEqual(committed, registry.contents, "Generated/ModelRegistry.swift is stale; \(Self.refresh)")
        for type in ["ResNet50Imagenet", "ResNet50Signs", "TinyF32", "TinyF64"] {
            XCTAssertTrue(registry.contents.contains("        \(type).self,\n"), type)
            XCTAssertTrue(registry.contents.contains("extension \(type): GeneratedModelType {}\n"), type)
        }
    }

    /// Release builds of the model use -Ounchecked, which removes `precondition`: the batch-count
    /// guard at the public entry points must be an explicit branch into a trap.
    func testBatchCountGuardSurvivesUncheckedBuilds() throws {
        let url = try XCTUnwrap(try PackagePaths.descriptions().first { $0.lastPathComponent == "tiny.arch" })
        let text = try String(contentsOf: url, encoding: .utf8)
        let emitted = Emitter.emit(try NetSpecLoader.load(text: text, file: url.path), descriptionText: text,
                                   sourceName: url.lastPathComponent).contents
        XCTAssertFalse(emitted.contains("precondition("), "-Ounchecked would drop it")
        let guardLine = "        if n < 1 || n > 8 { batchCountOutOfRange(n, capacity: 8, model: Self.modelName) }"
        for entry in ["public func forward(count n: Int, training: Bool) {",
                      "public func backward(labels: UnsafePointer<Float>, count n: Int, inputGradient: Bool = false) -> (loss: Double, correct: Int) {"] {
            XCTAssertTrue(emitted.contains("    " + entry + "\n" + guardLine + "\n"), "\(entry) starts with the guard")
        }
    }

    /// The generated source must not depend on where the description was read from (the build
    /// plugin passes an absolute path inside the package, the command plugin another one).
    func testOutputDoesNotDependOnTheDescriptionPath() throws {
        for url in try PackagePaths.descriptions() {
            let text = try String(contentsOf: url, encoding: .utf8)
            let name = url.lastPathComponent
            let outputs = try [url.path, name, "/somewhere/else/entirely/" + name, "./relative/../" + name].map { path in
                Emitter.emit(try NetSpecLoader.load(text: text, file: path), descriptionText: text, sourceName: name)
            }
            for (path, output) in zip([url.path, name, "/somewhere/else/entirely/" + name, "./relative/../" + name], outputs).dropFirst() {
                XCTAssertEqual(output.fileName, outputs[0].fileName)
                if output.contents != outputs[0].contents {
                    XCTFail("\(name): output depends on the description path ('\(path)' vs '\(url.path)'):\n"
                            + firstDifference(outputs[0].contents, output.contents, labels: ("first", "second")))
                }
            }
            XCTAssertFalse(outputs[0].contents.contains(PackagePaths.root.path), "\(name): output mentions the package path")
            XCTAssertFalse(outputs[0].contents.contains("/somewhere/"), name)
        }
    }

    func testFileNameComesFromTheDescriptionNameAlone() {
        XCTAssertEqual(Emitter.fileName(forDescriptionAt: "/a/b/Sources/Models/resnet50-signs.arch"), "resnet50-signs.swift")
        XCTAssertEqual(Emitter.fileName(forDescriptionAt: "tiny.arch"), "tiny.swift")
        XCTAssertEqual(Emitter.fileName(forDescriptionAt: "dir.v2/model.x.arch"), "model.x.swift")
    }

    func testTypeNames() {
        XCTAssertEqual(Emitter.typeName(model: "resnet50-signs", dtype: .float32, dtypes: [.float32]), "ResNet50Signs")
        XCTAssertEqual(Emitter.typeName(model: "tiny", dtype: .float64, dtypes: [.float32, .float64]), "TinyF64")
        XCTAssertEqual(Emitter.typeName(model: "tiny", dtype: .float32, dtypes: [.float32, .float64]), "TinyF32")
        XCTAssertEqual(Emitter.typeName(model: "3layer", dtype: .float32, dtypes: [.float32]), "Model3layer")
    }

    func testTinyEmitsOneTypePerDType() throws {
        let url = PackagePaths.model("tiny")
        let text = try String(contentsOf: url, encoding: .utf8)
        let file = Emitter.emit(try NetSpecLoader.load(text: text, file: url.path), descriptionText: text, sourceName: "tiny.arch")
        XCTAssertTrue(file.contents.contains("public final class TinyF32: GeneratedModel"))
        XCTAssertTrue(file.contents.contains("public final class TinyF64: GeneratedModel"))
        XCTAssertTrue(file.contents.contains("public static let registryName = \"tiny-float64\""))
        XCTAssertTrue(file.contents.hasPrefix("// GENERATED by \(Emitter.generatorVersion) from tiny.arch — do not edit."))
    }

    /// A description saved with CRLF line ends generates the same model (only the text hash differs).
    func testCRLFDescriptionGeneratesTheSameCode() throws {
        let url = PackagePaths.model("tiny")
        let text = try String(contentsOf: url, encoding: .utf8)
        let crlf = text.replacingOccurrences(of: "\n", with: "\r\n")
        let a = Emitter.emit(try NetSpecLoader.load(text: text, file: "tiny.arch"), descriptionText: text, sourceName: "tiny.arch")
        let b = Emitter.emit(try NetSpecLoader.load(text: crlf, file: "tiny.arch"), descriptionText: crlf, sourceName: "tiny.arch")
        let sha = try NetSpecLoader.load(text: text, file: "tiny.arch").sha256
        let shaCRLF = try NetSpecLoader.load(text: crlf, file: "tiny.arch").sha256
        XCTAssertNotEqual(sha, shaCRLF)
        XCTAssertEqual(b.contents.replacingOccurrences(of: shaCRLF, with: sha), a.contents)
    }
}

/// "line N:\n  a: …\n  b: …" for the first line where two texts differ.
func firstDifference(_ a: String, _ b: String, labels: (String, String)) -> String {
    let x = a.split(separator: "\n", omittingEmptySubsequences: false)
    let y = b.split(separator: "\n", omittingEmptySubsequences: false)
    let first = zip(x, y).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(x.count, y.count)
    let lineA = first < x.count ? String(x[first]) : "<end of file>"
    let lineB = first < y.count ? String(y[first]) : "<end of file>"
    return "first difference at line \(first + 1):\n  \(labels.0): \(lineA)\n  \(labels.1): \(lineB)"
}
