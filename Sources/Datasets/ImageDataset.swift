/// The in-memory image data set the trainer consumes (NHWC floats in [0, 1] plus class-index labels),
/// its identity (source file, sha256, which items of it), subsetting, and the one-line error type
/// every loader in this module throws.

/// A labelled image set: `count` images of `height`×`width`×`channels`, stored NHWC as `Float`
/// already divided by 255 (as the course notebooks do), and labels as class indices in
/// `0..<classes` (the trainer one-hots them).
public struct ImageDataset: Sendable {
    /// `count * height * width * channels` values, NHWC, in [0, 1].
    public var images: [Float]
    /// Class indices, `count` of them, each in `0..<classes`.
    public var labels: [Int32]
    public var count: Int, height: Int, width: Int, channels: Int, classes: Int
    /// The file path the images came from (as given to the loader), or `"synthetic"`.
    public var source: String
    /// Hex sha256 of the source file's bytes; `nil` for synthetic sets.
    public var sha256: String?
    /// `"train"` or `"test"` for files (which datasets were read); `"synthetic"` otherwise.
    public var split: String
    /// Seed of a synthetic set; `nil` for files.
    public var seed: UInt64?
    /// Which items of the source these are (indices into the file's datasets, or into the full
    /// synthetic set); `0..<count` unless this is a `subset`.
    public var indices: Range<Int>
    /// How many items the source holds in total (before any `subset`).
    public var sourceCount: Int

    public init(images: [Float], labels: [Int32], count: Int, height: Int, width: Int, channels: Int,
                classes: Int, source: String, sha256: String?, split: String, seed: UInt64? = nil,
                indices: Range<Int>? = nil, sourceCount: Int? = nil) {
        precondition(images.count == count * height * width * channels, "ImageDataset: images.count mismatch")
        precondition(labels.count == count, "ImageDataset: labels.count mismatch")
        self.images = images
        self.labels = labels
        self.count = count
        self.height = height
        self.width = width
        self.channels = channels
        self.classes = classes
        self.source = source
        self.sha256 = sha256
        self.split = split
        self.seed = seed
        self.indices = indices ?? 0..<count
        self.sourceCount = sourceCount ?? count
    }

    /// Values per image (`height * width * channels`).
    public var imageSize: Int { height * width * channels }

    /// The pixels of image `i` (NHWC, HWC within the image).
    public func image(_ i: Int) -> ArraySlice<Float> {
        images[i * imageSize ..< (i + 1) * imageSize]
    }

    /// Images `range` of this set (e.g. `subset(0..<96)` as train and `subset(96..<120)` as test).
    /// The identity (source, sha256) is kept and `indices` records which items of the source these are.
    public func subset(_ range: Range<Int>) -> ImageDataset {
        precondition(range.lowerBound >= 0 && range.upperBound <= count,
                     "ImageDataset.subset: \(range) is outside 0..<\(count)")
        let size = imageSize
        return ImageDataset(
            images: Array(images[range.lowerBound * size ..< range.upperBound * size]),
            labels: Array(labels[range]),
            count: range.count, height: height, width: width, channels: channels, classes: classes,
            source: source, sha256: sha256, split: split, seed: seed,
            indices: (indices.lowerBound + range.lowerBound) ..< (indices.lowerBound + range.upperBound),
            sourceCount: sourceCount)
    }

    /// How many images each class has (`classes` entries).
    public var classCounts: [Int] {
        var counts = [Int](repeating: 0, count: classes)
        for label in labels where label >= 0 && Int(label) < classes { counts[Int(label)] += 1 }
        return counts
    }

    /// One line naming where the data came from, for logs and run records, e.g.
    /// `datasets/test_signs.h5 (sha256 539fb746…) test items 0..<96 of 120` or
    /// `synthetic (seed 7) 1080 images`.
    public var identity: String {
        var s = source
        if let sha256 { s += " (sha256 \(sha256))" }
        if let seed { s += " (seed \(seed))" }
        if split != source { s += " \(split)" }
        if indices == 0..<sourceCount {
            s += " \(count) images"
        } else {
            s += " items \(indices.lowerBound)..<\(indices.upperBound) of \(sourceCount)"
        }
        return s + ", \(height)x\(width)x\(channels), \(classes) classes"
    }
}

/// A data-loading failure, described in one line that names the file and dataset and says exactly
/// what differs from what the model expects.
public struct DatasetError: Error, CustomStringConvertible, Equatable, Sendable {
    public var description: String
    public init(_ description: String) {
        // Always one line, whatever an underlying library put in its message.
        self.description = description.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
