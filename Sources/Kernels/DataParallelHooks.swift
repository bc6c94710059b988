/// What data-parallel training (several processes, one slice of every batch each) needs from a
/// generated model's `backward` and batch-norm layers. A model without hooks (`dataParallel == nil`,
/// every single-process use) runs exactly as before: each hook is one nil check per layer.

/// Hooks a generated model calls during a training step.
public protocol DataParallelHooks: AnyObject {
    /// dLogits = (p − y) × `lossScale` instead of (p − y)/count: 1/(global batch) so that summing
    /// the ranks' gradients gives the single-process mean-loss gradient, or 0 on a rank that runs a
    /// placeholder sample because its slice of the batch is empty.
    var lossScale: Double { get }
    /// Called by `backward` as soon as the trainable gradients [offset, trainableParameterCount)
    /// are final (offsets only decrease during one backward; the last call has offset 0).
    func gradientsReady(from offset: Int)
    /// Synchronized batch normalization, or nil for per-process batch statistics.
    var batchNormSync: BatchNormSync? { get }
}

/// Sums per-channel batch-norm reductions over all processes, so that a global batch split across
/// processes normalizes exactly as the whole batch would in one.
public protocol BatchNormSync: AnyObject {
    /// Replaces `values[0..<count]` by their sum over all processes and returns the global row
    /// count for `rows` local rows (this process's contribution is zero when its slice is empty).
    /// `backward`: the sums of the backward pass (Σg, Σg·(x − μ)); a process whose slice is empty
    /// gets zeros back, so that its placeholder sample's input gradient is zero too.
    func allreduce(_ values: UnsafeMutablePointer<Double>, count: Int, rows: Int, backward: Bool) -> Int
}
