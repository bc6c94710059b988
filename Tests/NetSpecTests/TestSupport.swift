import Foundation
@testable import NetSpec
import XCTest

/// Paths into the package, relative to this file (the test target declares no resources).
enum PackagePaths {
    /// …/Tests/NetSpecTests/TestSupport.swift → package root.
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let models = root.appendingPathComponent("Sources/Models")
    static let generated = root.appendingPathComponent("Generated")
    static let fixtures = root.appendingPathComponent("Tests/NetSpecTests/Fixtures")

    static func model(_ name: String) -> URL { models.appendingPathComponent(name + ".arch") }

    /// Every `*.arch` description of the Models target, sorted.
    static func descriptions() throws -> [URL] {
        try FileManager.default.contentsOfDirectory(atPath: models.path)
            .filter { $0.hasSuffix(".arch") }
            .sorted()
            .map { models.appendingPathComponent($0) }
    }
}

func loadModel(_ name: String) throws -> Network {
    try NetSpecLoader.load(path: PackagePaths.model(name).path)
}

/// A small valid header: 8×8×3 input, 2 classes, float64.
let header = """
model t
input 8 8 3
classes 2
capacity 2
dtype float64
"""

/// The classifier every test description ends with.
let head = """
flatten
dense out units=classes activation=softmax
"""

extension XCTestCase {
    /// Loads `text` as `t.arch` and expects a `NetSpecError` at exactly `line:column` whose message
    /// contains every word of `mentions` (case-sensitive: quoted names and numbers must be exact).
    @discardableResult
    func assertError(_ text: String, line: Int, column: Int, mentions: [String],
                     file: StaticString = #filePath, testLine: UInt = #line) -> NetSpecError? {
        do {
            let network = try NetSpecLoader.load(text: text, file: "t.arch")
            XCTFail("expected an error at \(line):\(column), but the description loaded (\(network.layers.count) layers)",
                    file: file, line: testLine)
            return nil
        } catch let error as NetSpecError {
            XCTAssertEqual(error.location, SourceLocation(file: "t.arch", line: line, column: column),
                           "wrong location for: \(error.message)", file: file, line: testLine)
            for word in mentions {
                XCTAssertTrue(error.message.contains(word), "message lacks '\(word)': \(error.message)",
                              file: file, line: testLine)
            }
            XCTAssertTrue(error.message.hasSuffix("."), "a diagnostic is one sentence: \(error.message)",
                          file: file, line: testLine)
            return error
        } catch {
            XCTFail("expected NetSpecError, got \(type(of: error)): \(error)", file: file, line: testLine)
            return nil
        }
    }
}
