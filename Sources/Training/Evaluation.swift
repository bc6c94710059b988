import Datasets
import Foundation
import Kernels
import Models

/// Loss and accuracy of a model's current weights on a data set, in inference mode (moving BN
/// statistics), in batches of the model's capacity.
public struct EvaluationResult: Sendable, Equatable {
    public var loss: Double
    public var accuracy: Double
    public var correct: Int
    public var count: Int
    /// `confusion[label][predicted]` image counts (`evaluate`; empty during training). Its
    /// diagonal sums to `correct`: the predicted class is the first of equal maxima, as in the accuracy.
    public var confusion: [[Int]] = []
    /// The images predicted wrong (`evaluate`; empty during training), in test-set order.
    public var misclassified: [Misclassified] = []

    public struct Misclassified: Sendable, Equatable {
        /// Position in the evaluated set.
        public var index: Int
        public var label: Int
        public var predicted: Int
        public var probabilities: [Double]
    }
}

func evaluateModel<M: GeneratedModelType>(_ model: M.Inference, on set: ImageDataset, loader: BatchLoader<M>,
                                          confusion wantConfusion: Bool = false) -> EvaluationResult {
    var lossSum = 0.0, correct = 0
    var confusion = wantConfusion ? [[Int]](repeating: [Int](repeating: 0, count: M.classes), count: M.classes) : []
    var misclassified: [EvaluationResult.Misclassified] = []
    set.images.withUnsafeBufferPointer { images in
        set.labels.withUnsafeBufferPointer { classes in
            var start = 0
            while start < set.count {
                let n = min(M.capacity, set.count - start)
                loader.fill(model.input, images: images.baseAddress!, classes: classes.baseAddress!, order: nil, start: start, count: n)
                model.forward(count: n)
                let r = model.evaluate(labels: loader.labels, count: n)
                lossSum += r.loss * Double(n)
                correct += r.correct
                if wantConfusion {
                    let p = model.probabilities, k = M.classes
                    for row in 0..<n {
                        var best = 0
                        for j in 0..<k where p[row * k + j] > p[row * k + best] { best = j }
                        let label = Int(classes[start + row])
                        confusion[label][best] += 1
                        if best != label {
                            misclassified.append(.init(index: start + row, label: label, predicted: best,
                                                       probabilities: (0..<k).map { Double(p[row * k + $0]) }))
                        }
                    }
                }
                start += n
            }
        }
    }
    let count = max(set.count, 1)
    return EvaluationResult(loss: lossSum / Double(count), accuracy: Double(correct) / Double(count),
                            correct: correct, count: set.count, confusion: confusion, misclassified: misclassified)
}
