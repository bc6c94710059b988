/// `evaluate`'s per-class view: precision, recall and support from the confusion matrix.

/// Per-class precision and recall from a confusion matrix (rows: true class, columns: predicted),
/// as sklearn's classification_report; nil where the denominator is 0 (sklearn reports 0 then).
public struct ClassMetrics: Sendable, Equatable {
    public var precision: Double?
    public var recall: Double?
    /// Images of this class (row sum).
    public var support: Int
    /// Images predicted as this class (column sum).
    public var predicted: Int
}

extension EvaluationResult {
    public var perClass: [ClassMetrics] {
        confusion.indices.map { c in
            let support = confusion[c].reduce(0, +)
            let predicted = confusion.reduce(0) { $0 + $1[c] }
            let hit = confusion[c][c]
            return ClassMetrics(precision: predicted > 0 ? Double(hit) / Double(predicted) : nil,
                                recall: support > 0 ? Double(hit) / Double(support) : nil,
                                support: support, predicted: predicted)
        }
    }
}
