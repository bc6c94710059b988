/// Tests of the SIGNS HDF5 loader and writer: round trips (including other label dtypes/shapes and
/// writing a data set back out), subsets and identity, every load error with its exact one-line
/// message, the real `../shared/datasets/signs/test_signs.h5` (skipped where absent), and the time
/// to load 1080 images.
import Foundation
import XCTest
@testable import Datasets

final class SIGNSLoaderTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "DatasetsTests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    // MARK: Helpers

    /// A small valid file: `n` images of 8×8×3 with pixel (i, k) = (i * 31 + k) mod 256, labels i mod 6.
    @discardableResult
    private func writeSmall(_ name: String = "small.h5", split: String = "train", n: Int = 12,
                            h: Int = 8, w: Int = 8, c: Int = 3) throws -> String {
        let path = directory + "/" + name
        let size = h * w * c
        let pixels = (0..<n * size).map { UInt8(truncatingIfNeeded: ($0 / size) * 31 + $0 % size) }
        try HDF5Writer.writeSIGNS(path: path, split: split, images: pixels, shape: [n, h, w, c],
                                  labels: (0..<n).map { Int64($0 % 6) }, classes: [0, 1, 2, 3, 4, 5])
        return path
    }

    private func load(_ path: String, split: String = "train", h: Int = 8, w: Int = 8, c: Int = 3,
                      classes: Int = 6) throws -> ImageDataset {
        try SIGNS.load(file: path, split: split, height: h, width: w, channels: c, classes: classes, model: "tiny")
    }

    /// Asserts that `body` throws a `DatasetError` whose description is exactly `message` (one line).
    private func assertError(_ message: String, file: StaticString = #filePath, line: UInt = #line,
                             _ body: () throws -> Any) {
        do {
            _ = try body()
            XCTFail("expected the error: \(message)", file: file, line: line)
        } catch let error as DatasetError {
            XCTAssertEqual(error.description, message, file: file, line: line)
            XCTAssertFalse(error.description.contains("\n"), "not one line", file: file, line: line)
        } catch {
            XCTFail("unexpected error type: \(error)", file: file, line: line)
        }
    }

    /// Same, but for messages with a variable tail (HDF5's own detail): prefix match.
    private func assertError(prefix: String, file: StaticString = #filePath, line: UInt = #line,
                             _ body: () throws -> Any) {
        do {
            _ = try body()
            XCTFail("expected an error starting: \(prefix)", file: file, line: line)
        } catch let error as DatasetError {
            XCTAssertTrue(error.description.hasPrefix(prefix), "got: \(error.description)", file: file, line: line)
            XCTAssertFalse(error.description.contains("\n"), "not one line", file: file, line: line)
        } catch {
            XCTFail("unexpected error type: \(error)", file: file, line: line)
        }
    }

    private func writeVariant(_ name: String, split: String = "train", images: HDF5Writer.Values? = nil,
                              shape: [Int] = [4, 8, 8, 3], labels: HDF5Writer.Values = .int64([0, 1, 2, 3]),
                              labelShape: [Int] = [4], classes: [Int64] = [0, 1, 2, 3, 4, 5]) throws -> String {
        let path = directory + "/" + name
        let values = images ?? .uint8([UInt8](repeating: 7, count: shape.reduce(1, *)))
        try HDF5Writer.writeSIGNS(path: path, split: split, images: values, shape: shape, labels: labels,
                                  labelShape: labelShape, classes: classes)
        return path
    }

    // MARK: Round trips

    func testRoundTrip() throws {
        let path = try writeSmall()
        let d = try load(path)
        XCTAssertEqual([d.count, d.height, d.width, d.channels, d.classes], [12, 8, 8, 3, 6])
        XCTAssertEqual(d.images.count, 12 * 8 * 8 * 3)
        XCTAssertEqual(d.labels, (0..<12).map { Int32($0 % 6) })
        let size = 8 * 8 * 3
        for i in [0, 1, 100, 191, 192, 12 * size - 1] {
            XCTAssertEqual(d.images[i], Float(UInt8(truncatingIfNeeded: (i / size) * 31 + i % size)) / 255)
        }
        XCTAssertEqual(d.source, path)
        XCTAssertEqual(d.split, "train")
        XCTAssertEqual(d.indices, 0..<12)
        XCTAssertNil(d.seed)
        // sha256 of the bytes: 64 hex digits, stable, and changes with the content.
        let sha = try XCTUnwrap(d.sha256)
        XCTAssertEqual(sha.count, 64)
        XCTAssertEqual(try load(path).sha256, sha)
        try writeSmall(n: 13)
        XCTAssertNotEqual(try load(path).sha256, sha)
    }

    func testTestSplitAndOtherIntegerLabels() throws {
        // uint8 labels shaped (1, N) and int32 labels shaped (N, 1) are accepted, like (N,) int64.
        let a = try writeVariant("a.h5", split: "test", labels: .uint8([5, 4, 3, 0]), labelShape: [1, 4])
        XCTAssertEqual(try load(a, split: "test").labels, [5, 4, 3, 0])
        let b = try writeVariant("b.h5", labels: .int32([1, 1, 2, 2]), labelShape: [4, 1])
        XCTAssertEqual(try load(b).labels, [1, 1, 2, 2])
        let c = try writeVariant("c.h5", labels: .uint64([0, 5, 5, 0]))
        XCTAssertEqual(try load(c).labels, [0, 5, 5, 0])
    }

    func testWriteDatasetRoundTripsExactly() throws {
        let synthetic = SyntheticSigns.make(count: 18, height: 16, width: 12, classes: 6, seed: 3)
        let path = directory + "/synthetic_test.h5"
        try HDF5Writer.writeSIGNS(path: path, split: "test", dataset: synthetic)
        let back = try load(path, split: "test", h: 16, w: 12)
        XCTAssertEqual(back.images, synthetic.images)
        XCTAssertEqual(back.labels, synthetic.labels)
    }

    func testSubsetAndIdentity() throws {
        let d = try load(try writeSmall())
        let train = d.subset(0..<9), test = d.subset(9..<12)
        XCTAssertEqual(train.count, 9)
        XCTAssertEqual(test.count, 3)
        XCTAssertEqual(train.images + test.images, d.images)
        XCTAssertEqual(train.labels + test.labels, d.labels)
        XCTAssertEqual(Array(test.image(0)), Array(d.image(9)))
        XCTAssertEqual(test.indices, 9..<12)
        XCTAssertEqual(test.sourceCount, 12)
        XCTAssertEqual(test.sha256, d.sha256)
        XCTAssertEqual(test.subset(1..<3).indices, 10..<12)  // subsets compose
        XCTAssertEqual(test.subset(1..<3).labels, [4, 5])
        XCTAssertTrue(test.identity.contains("items 9..<12 of 12"), test.identity)
        XCTAssertTrue(d.identity.contains(d.sha256!), d.identity)
        XCTAssertEqual(d.classCounts, [2, 2, 2, 2, 2, 2])
    }

    func testLoadDirectory() throws {
        try writeSmall("train_signs.h5", split: "train", n: 12)
        try writeSmall("test_signs.h5", split: "test", n: 6)
        let (train, test) = try SIGNS.load(directory: directory, height: 8, width: 8, channels: 3, classes: 6, model: "tiny")
        XCTAssertEqual(train.count, 12)
        XCTAssertEqual(test.count, 6)
        XCTAssertEqual(train.source, directory + "/train_signs.h5")
        XCTAssertEqual(test.split, "test")
    }

    func testLoadOrSynthesize() throws {
        // No such directory: the synthetic set of the requested shapes.
        let missing = directory + "/datasets"
        let s = try SIGNS.loadOrSynthesize(directory: missing, height: 16, width: 16, channels: 3, classes: 6,
                                           model: "tiny", trainCount: 30, testCount: 12)
        XCTAssertEqual(s.train.source, "synthetic")
        XCTAssertEqual([s.train.count, s.test.count, s.train.height, s.train.channels], [30, 12, 16, 3])
        // Directory present but incomplete: an error, never a silent fallback.
        try FileManager.default.createDirectory(atPath: missing, withIntermediateDirectories: true)
        assertError("\(missing)/train_signs.h5: file not found (the course's SIGNS files go in \(missing)/ as train_signs.h5 and test_signs.h5; without a \(missing)/ directory the trainer uses the built-in synthetic set)") {
            try SIGNS.loadOrSynthesize(directory: missing, height: 16, width: 16, channels: 3, classes: 6, model: "tiny")
        }
    }

    // MARK: Errors

    func testMissingFile() {
        let path = directory + "/nope.h5"
        assertError("\(path): file not found") { try self.load(path) }
        assertError("\(directory): is a directory, not an HDF5 file") { try self.load(self.directory) }
    }

    func testNotHDF5() throws {
        let path = directory + "/notes.h5"
        try Data("hello, world".utf8).write(to: URL(fileURLWithPath: path))
        assertError("\(path): not an HDF5 file (no HDF5 signature in its 12 bytes)") { try self.load(path) }
        let empty = directory + "/empty.h5"
        XCTAssertTrue(FileManager.default.createFile(atPath: empty, contents: Data()))
        assertError("\(empty): not an HDF5 file (it is empty, 0 bytes)") { try self.load(empty) }
    }

    func testTruncatedFile() throws {
        let path = try writeSmall()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        for cut in [100, bytes.count / 2, bytes.count - 1] {
            try bytes.prefix(cut).write(to: URL(fileURLWithPath: path))
            assertError(prefix: "\(path): cannot open as HDF5, the file is truncated or corrupt (HDF5: truncated file: eof = \(cut),") {
                try self.load(path)
            }
        }
    }

    func testMissingDatasets() throws {
        let path = try writeSmall(split: "train")
        assertError("\(path): datasets 'test_set_x', 'test_set_y' not found (the file has 'list_classes', 'train_set_x', 'train_set_y'); it looks like a train file, not a test file") {
            try self.load(path, split: "test")
        }
        let noClasses = directory + "/noclasses.h5"
        try HDF5Writer.write(path: noClasses, datasets: [
            .init("test_set_x", shape: [2, 8, 8, 3], .uint8([UInt8](repeating: 0, count: 384))),
            .init("test_set_y", shape: [2], .int64([0, 1])),
        ])
        assertError("\(noClasses): dataset 'list_classes' not found (the file has 'test_set_x', 'test_set_y')") {
            try self.load(noClasses, split: "test")
        }
        assertError("\(path): unknown split 'validation' (expected 'train' or 'test')") {
            try self.load(path, split: "validation")
        }
    }

    /// A file whose superblock is intact but whose root-group metadata is overwritten: HDF5 opens
    /// it and then cannot read the group, which is damage — not "dataset not found".
    func testDamagedGroupMetadataIsNotReportedAsMissingDatasets() throws {
        let path = try writeSmall()
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        for (signature, detail) in [("TREE", "wrong B-tree signature"), ("HEAP", "bad local heap signature"),
                                    ("SNOD", "bad symbol table node signature")] {
            // HDF5Writer's files keep the root group as a B-tree ("TREE") of symbol-table nodes
            // ("SNOD") with a local heap of names ("HEAP"), each starting with its signature.
            let at = try XCTUnwrap(original.range(of: Data(signature.utf8)), "\(signature) not in the file").lowerBound
            var damaged = original
            damaged.replaceSubrange(at ..< at + 4, with: [0xFF, 0xFF, 0xFF, 0xFF])
            try damaged.write(to: URL(fileURLWithPath: path))
            assertError("\(path): damaged HDF5 metadata, cannot look up dataset 'train_set_x' (HDF5: \(detail)); the file is corrupt or was only partly written") {
                try self.load(path)
            }
        }
        // The intact file still loads (the damage above was the only difference).
        try original.write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(try load(path).count, 12)
    }

    func testWrongShape() throws {
        // The spec's example message, verbatim.
        let path = directory + "/train_signs.h5"
        try HDF5Writer.writeSIGNS(path: path, split: "train", images: [UInt8](repeating: 0, count: 3 * 32 * 32 * 3),
                                  shape: [3, 32, 32, 3], labels: [0, 1, 2], classes: [0, 1, 2, 3, 4, 5])
        assertError("\(path): dataset 'train_set_x' has shape (3, 32, 32, 3), the model 'resnet50-signs' expects (N, 64, 64, 3)") {
            try SIGNS.load(file: path, split: "train", height: 64, width: 64, channels: 3, classes: 6, model: "resnet50-signs")
        }
        let rank3 = try writeVariant("rank3.h5", shape: [4, 8, 24])
        assertError("\(rank3): dataset 'train_set_x' has shape (4, 8, 24), the model 'tiny' expects (N, 8, 8, 3)") {
            try self.load(rank3)
        }
        let grey = try writeVariant("grey.h5", shape: [4, 8, 8, 1])
        assertError("\(grey): dataset 'train_set_x' has shape (4, 8, 8, 1), the model 'tiny' expects (N, 8, 8, 3)") {
            try self.load(grey)
        }
        let noImages = try writeVariant("none.h5", shape: [0, 8, 8, 3], labels: .int64([]), labelShape: [0])
        assertError("\(noImages): dataset 'train_set_x' has shape (0, 8, 8, 3): no images") { try self.load(noImages) }
        let labels2D = try writeVariant("labels2d.h5", labels: .int64([0, 1, 2, 3]), labelShape: [2, 2])
        assertError("\(labels2D): dataset 'train_set_y' has shape (2, 2), the model 'tiny' expects (N,) class labels") {
            try self.load(labels2D)
        }
        let tenClasses = try writeVariant("ten.h5", classes: Array(0..<10))
        assertError("\(tenClasses): dataset 'list_classes' has shape (10,), the model 'tiny' expects (6,) (6 classes)") {
            try self.load(tenClasses)
        }
    }

    func testWrongDtype() throws {
        let float = try writeVariant("float.h5", images: .float32([Float](repeating: 0.5, count: 4 * 192)))
        assertError("\(float): dataset 'train_set_x' has dtype float32, the model 'tiny' expects uint8 pixels (0-255)") {
            try self.load(float)
        }
        let int16 = try writeVariant("int16.h5", images: .int16([Int16](repeating: 1, count: 4 * 192)))
        assertError("\(int16): dataset 'train_set_x' has dtype int16, the model 'tiny' expects uint8 pixels (0-255)") {
            try self.load(int16)
        }
        let floatLabels = try writeVariant("floatlabels.h5", labels: .float64([0, 1, 2, 3]))
        assertError("\(floatLabels): dataset 'train_set_y' has dtype float64, the model 'tiny' expects integer class labels") {
            try self.load(floatLabels)
        }
        let floatClasses = directory + "/floatclasses.h5"
        try HDF5Writer.write(path: floatClasses, datasets: [
            .init("train_set_x", shape: [1, 8, 8, 3], .uint8([UInt8](repeating: 0, count: 192))),
            .init("train_set_y", shape: [1], .int64([0])),
            .init("list_classes", shape: [6], .float32([0, 1, 2, 3, 4, 5])),
        ])
        assertError("\(floatClasses): dataset 'list_classes' has dtype float32, the model 'tiny' expects integer class ids") {
            try self.load(floatClasses)
        }
    }

    func testCountsDisagree() throws {
        let path = try writeVariant("counts.h5", labels: .int64([0, 1, 2]), labelShape: [3])
        assertError("\(path): dataset 'train_set_x' has 4 images but 'train_set_y' has 3 labels") { try self.load(path) }
    }

    func testLabelOutOfRange() throws {
        let high = try writeVariant("high.h5", labels: .int64([0, 1, 6, 3]))
        assertError("\(high): dataset 'train_set_y' has label 6 at index 2, outside [0, 6) for the model 'tiny' (6 classes)") {
            try self.load(high)
        }
        let negative = try writeVariant("negative.h5", labels: .int8([0, -1, 2, 3]))
        assertError("\(negative): dataset 'train_set_y' has label -1 at index 1, outside [0, 6) for the model 'tiny' (6 classes)") {
            try self.load(negative)
        }
    }

    func testWriterRejectsMismatchedValues() {
        let path = directory + "/bad.h5"
        assertError("\(path): dataset 'x' has 3 values for shape (2, 2)") {
            try HDF5Writer.write(path: path, datasets: [.init("x", shape: [2, 2], .uint8([1, 2, 3]))])
        }
    }

    // MARK: Real data and speed

    /// `../shared/datasets/signs/test_signs.h5` relative to the package root (two levels above this file's directory).
    static let realTestFile: String = {
        let packageRoot = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return packageRoot.deletingLastPathComponent().appendingPathComponent("shared/datasets/signs/test_signs.h5").path
    }()

    func testRealSIGNSTestFile() throws {
        let path = Self.realTestFile
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("the real SIGNS test file is not here (\(path)); it lives in ../shared next to the package root")
        }
        let d = try SIGNS.load(file: path, split: "test", height: 64, width: 64, channels: 3, classes: 6, model: "resnet50-signs")
        XCTAssertEqual(d.count, 120)
        XCTAssertEqual(d.images.count, 120 * 64 * 64 * 3)
        XCTAssertEqual(d.classCounts, [20, 20, 20, 20, 20, 20])
        XCTAssertEqual(d.sha256, "539fb746ed9e947eb244cfca73f4d1b03f9bf5524d609eeed2cd76ddb1b179be")
        XCTAssertGreaterThanOrEqual(d.images.min()!, 0)
        XCTAssertLessThanOrEqual(d.images.max()!, 1)
        XCTAssertTrue(d.images.allSatisfy { Float(($0 * 255).rounded()) / 255 == $0 }, "pixels are uint8 / 255")
        // The suggested real-data split: 96 to train on, 24 to test on.
        let train = d.subset(0..<96), test = d.subset(96..<120)
        XCTAssertEqual(train.count + test.count, 120)
        XCTAssertEqual(test.indices, 96..<120)
        // As the wrong model: one clear line.
        assertError("\(path): dataset 'test_set_x' has shape (120, 64, 64, 3), the model 'tiny' expects (N, 16, 16, 3)") {
            try SIGNS.load(file: path, split: "test", height: 16, width: 16, channels: 3, classes: 6, model: "tiny")
        }
    }

    /// A full-size training file, with and without hashing. (How fast it loads is a benchmark's
    /// business, not a test's: a timed assertion failed on a loaded machine.)
    func testLoading1080Images() throws {
        let path = directory + "/train_signs.h5"
        let n = 1080, size = 64 * 64 * 3
        let pattern = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 40503 >> 5) }
        let pixels = [UInt8](unsafeUninitializedCapacity: n * size) { buffer, initialized in
            pattern.withUnsafeBufferPointer { p in
                for i in 0..<n {
                    _ = UnsafeMutableBufferPointer(rebasing: buffer[i * size ..< (i + 1) * size]).initialize(from: p)
                    buffer[i * size] = UInt8(truncatingIfNeeded: i)
                }
            }
            initialized = n * size
        }
        try HDF5Writer.writeSIGNS(path: path, split: "train", images: pixels, shape: [n, 64, 64, 3],
                                  labels: (0..<n).map { Int64($0 % 6) }, classes: [0, 1, 2, 3, 4, 5])
        for hashing in [false, true] {
            let d = try SIGNS.load(file: path, split: "train", height: 64, width: 64, channels: 3, classes: 6,
                                   model: "resnet50-signs", hashing: hashing)
            XCTAssertEqual(d.count, 1080)
            XCTAssertEqual(d.images[size + 5], Float(pixels[size + 5]) / 255)
            XCTAssertEqual(d.images[1000 * size], Float(1000 % 256) / 255)
        }
    }
}
