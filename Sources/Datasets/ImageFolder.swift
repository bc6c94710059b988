/// Folder datasets, as Keras' `image_dataset_from_directory` reads them: `DIR/<class>/…/*.jpg|png`
/// (split by `validation_split` with a seed), or `DIR/train/<class>` and `DIR/test/<class>`.
///
/// Like Keras: class names are the sub-folder names sorted by code point (so "10" sorts before
/// "2"), files are found recursively and sorted by (folder, name), other files are ignored, and a
/// split keeps the last `Int(split × count)` images of the shuffled list for validation. Unlike
/// Keras: hidden folders (".ipynb_checkpoints") are not classes; BMP/GIF files are refused rather
/// than read; the shuffle is this package's seeded generator, not numpy's, so the same seed picks
/// the same *number* of validation images but not the same ones. Images are resized like
/// `load_img` (PIL's nearest by default), where `image_dataset_from_directory` uses
/// `tf.image.resize` (bilinear without antialiasing), so that training and `predict` agree.
///
/// Identity: the sha256 of the file list (relative path and byte size per file, in order), so a
/// resumed run notices an added, removed, renamed or resized file.
import Digest
import Foundation

public struct ImageFolder: Sendable {
    public enum Layout: String, Sendable {
        /// `DIR/<class>/*`: one pool, split by a validation fraction.
        case classes
        /// `DIR/train/<class>/*` and `DIR/test/<class>/*`.
        case trainTest = "train-test"
    }

    public struct Entry: Sendable, Equatable {
        /// Path as it can be opened (the root as given + the relative path).
        public var path: String
        /// Relative to the root (`3/IMG_0001.jpg`, `train/3/IMG_0001.jpg`).
        public var relative: String
        public var label: Int32
        public var bytes: Int
    }

    public var root: String
    public var layout: Layout
    public var classNames: [String]
    /// Every image of a `.classes` folder, or those under `train/`.
    public var train: [Entry]
    /// Those under `test/` (empty for `.classes`).
    public var test: [Entry]

    /// sha256 of the whole file list (train then test).
    public var filesSHA256: String { ImageFolder.listHash(train + test) }

    static let trainName = "train", testName = "test"

    /// Whether `path` is a directory this reader would take: no SIGNS .h5 files and at least one
    /// sub-folder that is not hidden.
    public static func looksLikeImageFolder(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return false }
        for signs in [SIGNS.trainFileName, SIGNS.testFileName] where FileManager.default.fileExists(atPath: join(path, signs)) {
            return false
        }
        return !((try? subfolders(path)) ?? []).isEmpty
    }

    /// Lists the folder; every problem is one line naming the folder or file.
    public static func scan(_ root: String) throws -> ImageFolder {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory) else {
            throw DatasetError("\(root): directory not found")
        }
        guard isDirectory.boolValue else { throw DatasetError("\(root): is a file, not a folder of class folders") }
        let top = try subfolders(root)
        let hint = "expected \(join(root, "<class>"))/*.jpg|png, or \(join(root, "train/<class>")) and \(join(root, "test/<class>"))"
        guard !top.isEmpty else { throw DatasetError("\(root): no class folders (\(hint))") }
        if Set(top) == [trainName, testName] {
            let trainRoot = join(root, trainName), testRoot = join(root, testName)
            let classes = try subfolders(trainRoot)
            guard !classes.isEmpty else { throw DatasetError("\(trainRoot): no class folders (\(hint))") }
            let testClasses = try subfolders(testRoot)
            guard testClasses == classes else {
                throw DatasetError("\(testRoot): class folders (\(listed(testClasses))) differ from \(trainRoot)'s (\(listed(classes)))")
            }
            let train = try files(root: root, prefix: trainName, classes: classes)
            let test = try files(root: root, prefix: testName, classes: classes)
            guard !train.isEmpty else { throw DatasetError("\(trainRoot): no .jpg/.jpeg/.png files in its \(classes.count) class folders") }
            guard !test.isEmpty else { throw DatasetError("\(testRoot): no .jpg/.jpeg/.png files in its \(classes.count) class folders") }
            return ImageFolder(root: root, layout: .trainTest, classNames: classes, train: train, test: test)
        }
        let all = try files(root: root, prefix: nil, classes: top)
        guard !all.isEmpty else { throw DatasetError("\(root): no .jpg/.jpeg/.png files in its \(top.count) class folders (\(listed(top)))") }
        return ImageFolder(root: root, layout: .classes, classNames: top, train: all, test: [])
    }

    /// Fails unless the folder has the model's number of classes.
    public func check(classes: Int, model: String) throws {
        guard classNames.count == classes else {
            let place = layout == .trainTest ? ImageFolder.join(root, ImageFolder.trainName) : root
            throw DatasetError("\(place): \(classNames.count) class folder\(classNames.count == 1 ? "" : "s") (\(ImageFolder.listed(classNames))), the model '\(model)' has \(classes) classes")
        }
    }

    /// Keras' `validation_split`: shuffle with `seed`, the last `Int(fraction × n)` validate.
    public static func split(_ entries: [Entry], validationSplit fraction: Double, seed: UInt64,
                             root: String) throws -> (train: [Entry], test: [Entry]) {
        guard fraction > 0, fraction < 1 else {
            throw DatasetError("--validation-split: \(fraction) is not a fraction between 0 and 1 (Keras uses e.g. 0.2)")
        }
        let validation = Int(fraction * Double(entries.count))
        guard validation >= 1, validation < entries.count else {
            throw DatasetError("--validation-split \(fraction): \(root) has \(entries.count) images, which leaves \(validation) for validation and \(entries.count - validation) for training; each needs at least one")
        }
        var shuffled = entries
        var state = seed
        func next() -> UInt64 {   // SplitMix64
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        if shuffled.count > 1 {
            for i in stride(from: shuffled.count - 1, to: 0, by: -1) {
                let j = Int(next() % UInt64(i + 1))
                shuffled.swapAt(i, j)
            }
        }
        let cut = entries.count - validation
        return (Array(shuffled[..<cut]), Array(shuffled[cut...]))
    }

    /// Progress of a long decode: images done, total, seconds so far, and whether it is the last call.
    public typealias Progress = @Sendable (_ done: Int, _ total: Int, _ seconds: Double, _ finished: Bool) -> Void

    /// Decodes `entries` in parallel (all cores), resized to `height`×`width` and / 255. `progress`
    /// is called (never concurrently) about every 0.2 s once a second has passed, and once at the
    /// end if it was called before. The first unreadable file (in list order) is the error.
    public static func load(_ entries: [Entry], classes: Int, height: Int, width: Int, interpolation: Interpolation,
                            source: String, split: String, progress: Progress? = nil) throws -> ImageDataset {
        let n = entries.count, size = height * width * 3
        var pixels = [UInt8](repeating: 0, count: n * size)
        var failures: [Int: Error] = [:]
        let lock = NSLock()
        var done = 0, reported = false, lastReport = 0.0
        let start = monotonic()
        pixels.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            DispatchQueue.concurrentPerform(iterations: n) { i in
                do {
                    let rgb = try PhotoDecoder.load(path: entries[i].path, height: height, width: width, interpolation: interpolation)
                    rgb.withUnsafeBufferPointer { (base + i * size).update(from: $0.baseAddress!, count: size) }
                    lock.lock()
                } catch {
                    lock.lock()
                    failures[i] = error
                }
                done += 1
                let now = monotonic() - start
                if let progress, now > 1, now - lastReport >= 0.2 {
                    lastReport = now
                    reported = true
                    progress(done, n, now, false)
                }
                lock.unlock()
            }
        }
        if reported, let progress { progress(n, n, monotonic() - start, true) }
        if let first = failures.keys.min() { throw failures[first]! }
        return ImageDataset(images: SIGNS.scaledPixels(pixels), labels: entries.map(\.label), count: n, height: height,
                            width: width, channels: 3, classes: classes, source: source, sha256: listHash(entries),
                            split: split)
    }

    /// sha256 of "relative path<TAB>bytes<LF>" per entry, in order.
    public static func listHash(_ entries: [Entry]) -> String {
        var hasher = SHA256()
        for e in entries { hasher.update(Array("\(e.relative)\t\(e.bytes)\n".utf8)) }
        return hasher.finalizeHex()
    }

    // MARK: listing

    /// Python's `sorted` on strings: code point order.
    static func codePointLess(_ a: String, _ b: String) -> Bool {
        a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars)
    }

    static func subfolders(_ path: String) throws -> [String] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: path)
        } catch {
            throw DatasetError("\(path): cannot list the folder (\(error.localizedDescription))")
        }
        return names.filter { name in
            var isDirectory: ObjCBool = false
            return !name.hasPrefix(".") && FileManager.default.fileExists(atPath: join(path, name), isDirectory: &isDirectory)
                && isDirectory.boolValue
        }.sorted(by: codePointLess)
    }

    static func files(root: String, prefix: String?, classes: [String]) throws -> [Entry] {
        var entries: [Entry] = []
        for (label, name) in classes.enumerated() {
            let relativeClass = prefix.map { "\($0)/\(name)" } ?? name
            let folder = join(root, relativeClass)
            guard let walker = FileManager.default.enumerator(atPath: folder) else {
                throw DatasetError("\(folder): cannot list the folder")
            }
            var found: [(dir: String, file: String)] = []
            while let item = walker.nextObject() as? String {
                let ext = (item as NSString).pathExtension.lowercased()
                let full = join(folder, item)
                if PhotoDecoder.otherImageExtensions.contains(ext) {
                    throw DatasetError("\(full): .\(ext) images are not supported (JPEG and PNG are); convert it or move it out of \(root)")
                }
                guard PhotoDecoder.extensions.contains(ext) else { continue }
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
                found.append(((item as NSString).deletingLastPathComponent, (item as NSString).lastPathComponent))
            }
            found.sort { $0.dir != $1.dir ? codePointLess($0.dir, $1.dir) : codePointLess($0.file, $1.file) }
            for f in found {
                let inner = f.dir.isEmpty ? f.file : "\(f.dir)/\(f.file)"
                let path = join(folder, inner)
                let attributes = try? FileManager.default.attributesOfItem(atPath: path)
                let bytes = (attributes?[.size] as? NSNumber)?.intValue ?? 0
                entries.append(Entry(path: path, relative: "\(relativeClass)/\(inner)", label: Int32(label), bytes: bytes))
            }
        }
        return entries
    }

    static func listed(_ names: [String]) -> String {
        names.isEmpty ? "none" : names.count <= 12 ? names.joined(separator: ", ") : names.prefix(12).joined(separator: ", ") + ", …"
    }

    static func join(_ a: String, _ b: String) -> String { SIGNS.join(a, b) }

    static func monotonic() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }
}
