/// Folder datasets (`DIR/<class>/*`, `DIR/train|test/<class>/*`) written as PNG/JPEG in a temp
/// directory with this package's own encoder: listing and class order like Keras, the validation
/// split, decoding, the file-list hash and the one-line errors.
import Datasets
import Foundation
import XCTest

final class ImageFolderTests: XCTestCase {
    var root: URL!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("folder-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    /// A solid colour per class so decoded images can be checked: class k → (20k, 255-20k, 7).
    @discardableResult
    func writeImages(_ folder: String, classes: [String], perClass: Int, width: Int = 20, height: Int = 12) throws -> [String] {
        var written: [String] = []
        for (k, name) in classes.enumerated() {
            let dir = root.appendingPathComponent(folder).appendingPathComponent(name)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let pixel: [UInt8] = [UInt8(20 * k), UInt8(255 - 20 * k), 7]
            let rgb: [UInt8] = (0..<(width * height)).flatMap { (_: Int) -> [UInt8] in pixel }
            for i in 0..<perClass {
                let path = dir.appendingPathComponent(i % 2 == 0 ? "img\(i).png" : "img\(i).jpg").path
                if i % 2 == 0 { try PhotoWriter.writePNG(path: path, rgb: rgb, width: width, height: height) }
                else { try PhotoWriter.writeJPEG(path: path, rgb: rgb, width: width, height: height, quality: 100) }
                written.append(path)
            }
        }
        return written
    }

    func testClassFoldersSortedLikeKerasAndSplit() throws {
        let classes = ["10", "2", "B", "a", "Z"]
        try writeImages("photos", classes: classes, perClass: 4)
        // Not classes / not images: a hidden folder, a text file.
        try FileManager.default.createDirectory(at: root.appendingPathComponent("photos/.ipynb_checkpoints"), withIntermediateDirectories: true)
        try Data("notes".utf8).write(to: root.appendingPathComponent("photos/a/readme.txt"))
        let path = root.appendingPathComponent("photos").path
        XCTAssertTrue(ImageFolder.looksLikeImageFolder(path))
        let folder = try ImageFolder.scan(path)
        XCTAssertEqual(folder.layout, .classes)
        XCTAssertEqual(folder.classNames, ["10", "2", "B", "Z", "a"], "Python's sorted(): code points")
        XCTAssertEqual(folder.train.count, 20)
        XCTAssertEqual(folder.train.map(\.relative).prefix(4), ["10/img0.png", "10/img1.jpg", "10/img2.png", "10/img3.jpg"])
        XCTAssertEqual(folder.train.map(\.label), (0..<5).flatMap { [Int32](repeating: Int32($0), count: 4) })

        // Keras: num_val = int(0.3 * 20) = 6, the rest train; deterministic per seed.
        let (train, test) = try ImageFolder.split(folder.train, validationSplit: 0.3, seed: 42, root: path)
        XCTAssertEqual([train.count, test.count], [14, 6])
        XCTAssertEqual(Set((train + test).map(\.relative)), Set(folder.train.map(\.relative)))
        let again = try ImageFolder.split(folder.train, validationSplit: 0.3, seed: 42, root: path)
        XCTAssertEqual(again.test, test)
        let other = try ImageFolder.split(folder.train, validationSplit: 0.3, seed: 43, root: path)
        XCTAssertNotEqual(other.test, test)

        let set = try ImageFolder.load(test, classes: 5, height: 6, width: 8, interpolation: .nearest, source: path, split: "validation")
        XCTAssertEqual([set.count, set.height, set.width, set.channels], [6, 6, 8, 3])
        for i in 0..<set.count {
            // Colours follow the order the classes were written in; labels the sorted order.
            let k = classes.firstIndex(of: folder.classNames[Int(set.labels[i])])!
            let first = Array(set.image(i).prefix(3))
            XCTAssertEqual(first[0], Float(20 * k) / 255, accuracy: 1.5 / 255)
            XCTAssertEqual(first[1], Float(255 - 20 * k) / 255, accuracy: 1.5 / 255)
        }
        XCTAssertEqual(set.sha256, ImageFolder.listHash(test))
    }

    func testTrainTestLayoutAndHashChanges() throws {
        try writeImages("d/train", classes: ["x", "y"], perClass: 3)
        try writeImages("d/test", classes: ["x", "y"], perClass: 1)
        let path = root.appendingPathComponent("d").path
        let folder = try ImageFolder.scan(path)
        XCTAssertEqual(folder.layout, .trainTest)
        XCTAssertEqual(folder.classNames, ["x", "y"])
        XCTAssertEqual([folder.train.count, folder.test.count], [6, 2])
        XCTAssertTrue(folder.test.allSatisfy { $0.relative.hasPrefix("test/") })
        let before = folder.filesSHA256
        XCTAssertEqual(try ImageFolder.scan(path).filesSHA256, before, "stable")
        try PhotoWriter.writePNG(path: root.appendingPathComponent("d/train/y/new.png").path, rgb: [1, 2, 3], width: 1, height: 1)
        XCTAssertNotEqual(try ImageFolder.scan(path).filesSHA256, before, "an added file changes the hash")
    }

    func testOneLineErrors() throws {
        func expectError(_ body: () throws -> Void, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try body(), file: file, line: line) { error in
                let text = String(describing: error)
                XCTAssertFalse(text.contains("\n"), text, file: file, line: line)
                for f in fragments { XCTAssertTrue(text.contains(f), "'\(f)' not in: \(text)", file: file, line: line) }
            }
        }
        // An unreadable image: named, whichever thread decoded it.
        let files = try writeImages("bad", classes: ["a", "b"], perClass: 3)
        try Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0]).write(to: URL(fileURLWithPath: files[4]))
        let bad = try ImageFolder.scan(root.appendingPathComponent("bad").path)
        expectError({ _ = try ImageFolder.load(bad.train, classes: 2, height: 4, width: 4, interpolation: .nearest, source: "bad", split: "train") },
                    [files[4] + ": truncated PNG"])
        // No images.
        try FileManager.default.createDirectory(at: root.appendingPathComponent("empty/a"), withIntermediateDirectories: true)
        expectError({ _ = try ImageFolder.scan(self.root.appendingPathComponent("empty").path) }, ["empty: no .jpg/.jpeg/.png files"])
        // No class folders at all.
        try FileManager.default.createDirectory(at: root.appendingPathComponent("flat"), withIntermediateDirectories: true)
        expectError({ _ = try ImageFolder.scan(self.root.appendingPathComponent("flat").path) }, ["flat: no class folders"])
        // Classes ≠ the model's.
        expectError({ try bad.check(classes: 6, model: "resnet50-signs") }, ["bad: 2 class folders (a, b)", "'resnet50-signs' has 6 classes"])
        // A GIF among them.
        try Data("GIF89a".utf8).write(to: root.appendingPathComponent("bad/a/anim.gif"))
        expectError({ _ = try ImageFolder.scan(self.root.appendingPathComponent("bad").path) }, ["anim.gif: .gif images are not supported"])
        // A split that leaves nothing to validate.
        expectError({ _ = try ImageFolder.split(bad.train, validationSplit: 0.1, seed: 0, root: "bad") }, ["bad has 6 images", "0 for validation"])
    }
}
