import Models

/// Copies images into a model's input and one-hot labels into a buffer allocated once.
final class BatchLoader<M: GeneratedModelType> {
    let labels: UnsafeMutablePointer<M.Scalar>
    let imageSize = M.inputHeight * M.inputWidth * M.inputChannels

    init() {
        labels = .allocate(capacity: M.capacity * M.classes)
        labels.initialize(repeating: 0, count: M.capacity * M.classes)
    }

    deinit { labels.deallocate() }

    /// Rows `0..<n` of the batch: image `order[start + r]` of `images`/`classes` (or `start + r` when
    /// `order` is nil). Float → `M.Scalar`; a plain memcpy when they are the same type.
    @inline(__always)
    func fill(_ input: UnsafeMutablePointer<M.Scalar>, images: UnsafePointer<Float>, classes: UnsafePointer<Int32>,
              order: UnsafePointer<Int>?, start: Int, count n: Int) {
        let size = imageSize
        let k = M.classes
        labels.update(repeating: 0, count: n * k)
        for r in 0..<n {
            let index = order.map { $0[start + r] } ?? start + r
            let source = images + index * size
            if M.Scalar.self == Float.self {
                UnsafeMutableRawPointer(input + r * size).copyMemory(from: source, byteCount: size * MemoryLayout<Float>.stride)
            } else {
                let target = input + r * size
                for j in 0..<size { target[j] = M.Scalar(source[j]) }
            }
            labels[r * k + Int(classes[index])] = 1
        }
    }
}
