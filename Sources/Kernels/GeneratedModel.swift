/// What every generated model offers the training loop, the CLI and the tests.
///
/// Generated types keep all state in one `Arena`. The state that defines a training run —
/// parameters (trainable first, then BN moving statistics) followed by Adam's m and v — is one
/// contiguous range, so a checkpoint is a single copy.

/// One weight tensor inside the parameter block, named as Keras names it (`conv1/kernel`).
public struct TensorInfo: Sendable, Equatable {
    public enum Initializer: Sendable, Equatable {
        case glorotUniform(fanIn: Int, fanOut: Int)
        case constant(Double)
    }
    public var name: String
    public var shape: [Int]
    /// Offset in elements from `parameters`.
    public var offset: Int
    public var count: Int
    public var trainable: Bool
    public var initializer: Initializer

    public init(name: String, shape: [Int], offset: Int, count: Int, trainable: Bool, initializer: Initializer) {
        self.name = name; self.shape = shape; self.offset = offset; self.count = count
        self.trainable = trainable; self.initializer = initializer
    }
}

/// The check at the top of `forward`/`backward`: the batch must fit the arena. An explicit branch
/// into a trap, not a `precondition`, because release builds of the numeric targets use
/// `-Ounchecked`, which removes preconditions (an out-of-range count would overrun the arena).
@inline(never)
public func batchCountOutOfRange(_ count: Int, capacity: Int, model: String) -> Never {
    fatalError("\(model): batch count \(count) is outside 1...\(capacity), the capacity the model was generated for")
}

public protocol GeneratedModel: AnyObject {
    associatedtype Scalar: NetScalar
    /// The inference-only type generated from the same description.
    associatedtype Inference: InferenceModel where Inference.Scalar == Scalar

    static var modelName: String { get }
    static var descriptionSHA256: String { get }
    static var inputHeight: Int { get }
    static var inputWidth: Int { get }
    static var inputChannels: Int { get }
    static var classes: Int { get }
    /// Largest batch the code is compiled for; `count` may be anything in 1...capacity.
    static var capacity: Int { get }
    static var tensors: [TensorInfo] { get }
    /// All parameters, trainable and not (Keras' "Total params").
    static var parameterCount: Int { get }
    static var trainableParameterCount: Int { get }
    static var arenaBytes: Int { get }
    /// Forward FLOPs per sample (multiply-add = 2), from the description.
    static var forwardFLOPsPerSample: Int { get }

    /// Allocates the arena, starts a pool of `threads` kernel threads (the model owns it and joins
    /// them when it is freed) and initializes parameters like Keras (glorot-uniform kernels from
    /// `seed`, zero biases, γ = 1, β = 0, moving mean 0, moving variance 1).
    init(seed: UInt64, threads: Int)

    var arena: Arena { get }
    /// The model's kernel threads.
    var pool: ThreadPool { get }
    /// Every kernel step of `forward`, `backward` and `adamStep`, in the order they report to `profiler`.
    static var profiledSteps: [ProfiledStep] { get }
    /// When set, each kernel step's wall time is added to it (`resnet-run bench --profile`).
    var profiler: StepProfiler? { get set }
    /// Data-parallel training's hooks (gradient buckets, loss scale, synchronized batch norm);
    /// nil — one process — changes nothing.
    var dataParallel: DataParallelHooks? { get set }
    /// [capacity, H, W, C] input batch, written by the caller before `forward`.
    var input: UnsafeMutablePointer<Scalar> { get }
    /// [capacity, H, W, C] gradient of the loss w.r.t. the input (filled when asked for).
    var inputGradient: UnsafeMutablePointer<Scalar> { get }
    var logits: UnsafeMutablePointer<Scalar> { get }
    var probabilities: UnsafeMutablePointer<Scalar> { get }
    /// `parameterCount` values; trainable ones first, in `tensors` order.
    var parameters: UnsafeMutablePointer<Scalar> { get }
    /// `trainableParameterCount` values, aligned with the trainable prefix of `parameters`.
    var gradients: UnsafeMutablePointer<Scalar> { get }
    var adamM: UnsafeMutablePointer<Scalar> { get }
    var adamV: UnsafeMutablePointer<Scalar> { get }
    /// Adam iterations done so far.
    var step: Int { get set }

    func initializeParameters(seed: UInt64)
    /// Runs the network over `count` samples of `input`. Training mode normalizes with batch
    /// statistics and updates the moving averages; inference mode uses the moving averages.
    func forward(count: Int, training: Bool)
    /// Loss and gradients of the last training-mode forward. `labels` is [count, classes] one-hot.
    @discardableResult
    func backward(labels: UnsafePointer<Scalar>, count: Int, inputGradient: Bool) -> (loss: Double, correct: Int)
    func adamStep(learningRate: Double, beta1: Double, beta2: Double, epsilon: Double)
}

extension GeneratedModel {
    /// A model whose kernels use every available processor.
    public init(seed: UInt64) { self.init(seed: seed, threads: ThreadPool.availableProcessors) }

    /// Parameters followed by Adam's m and v: everything a checkpoint needs besides `step`.
    public var stateBytes: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: UnsafeMutableRawPointer(parameters),
                                      count: (Self.parameterCount + 2 * Self.trainableParameterCount) * MemoryLayout<Scalar>.stride)
    }

    /// Parameters only (weights and BN moving statistics), as stored for a run's final/best weights.
    public var parameterBytes: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: UnsafeMutableRawPointer(parameters),
                                      count: Self.parameterCount * MemoryLayout<Scalar>.stride)
    }

    /// The inference type with this model's current weights (batch norm folded), sharing its threads.
    public func makeInference() -> Inference {
        let inference = Inference(pool: pool)
        inference.load(parameters: parameters)
        return inference
    }

    /// Inference: runs the network in inference mode (moving BN statistics) over `count` samples
    /// of `input` and returns their class probabilities, [count, classes], a view of the arena.
    @discardableResult
    public func predict(count: Int) -> UnsafeMutableBufferPointer<Scalar> {
        forward(count: count, training: false)
        return UnsafeMutableBufferPointer(start: probabilities, count: count * Self.classes)
    }

    /// Loss and accuracy count of the last forward's logits against labels (no gradients).
    public func evaluate(labels: UnsafePointer<Scalar>, count: Int) -> (loss: Double, correct: Int) {
        crossEntropy(logits: logits, labels: labels, count: count, classes: Self.classes)
    }

    public func adamStep(learningRate: Double) {
        adamStep(learningRate: learningRate, beta1: 0.9, beta2: 0.999, epsilon: 1e-7)
    }
}

/// What every generated inference type offers: the training type's network for prediction only,
/// lowered by the inference plan (batch norm folded into the convolutions, residual adds and ReLUs
/// fused into their output pass, activations in a few reused slots, no gradients or Adam moments).
public protocol InferenceModel: AnyObject {
    associatedtype Scalar: NetScalar

    static var modelName: String { get }
    static var inputHeight: Int { get }
    static var inputWidth: Int { get }
    static var inputChannels: Int { get }
    static var classes: Int { get }
    static var capacity: Int { get }
    /// Size of the training parameter block that `loadParameters` takes.
    static var parameterCount: Int { get }
    static var arenaBytes: Int { get }

    /// Allocates the arena; kernels run on `pool` (which a training model may share).
    init(pool: ThreadPool)

    var arena: Arena { get }
    var input: UnsafeMutablePointer<Scalar> { get }
    var logits: UnsafeMutablePointer<Scalar> { get }
    var probabilities: UnsafeMutablePointer<Scalar> { get }

    /// The fused steps of `forward` (profiler order) and the profiler they are charged to when set.
    static var profiledSteps: [ProfiledStep] { get }
    var profiler: StepProfiler? { get set }

    /// `fill` writes a training parameter block (the training type's `parameters` layout, all
    /// `parameterCount` values); then batch norm is folded in place. Allocates nothing.
    func loadParameters(_ fill: (UnsafeMutablePointer<Scalar>) throws -> Void) rethrows
    /// Runs the network over `count` samples of `input`: logits and probabilities.
    func forward(count: Int)
}

extension InferenceModel {
    /// An inference model with its own pool of `threads` kernel threads.
    public init(threads: Int) { self.init(pool: ThreadPool(threads: threads)) }

    /// Copies and folds a training parameter block.
    public func load(parameters: UnsafePointer<Scalar>) {
        loadParameters { $0.update(from: parameters, count: Self.parameterCount) }
    }

    /// Class probabilities of `count` samples of `input`, [count, classes], a view of the arena.
    @discardableResult
    public func predict(count: Int) -> UnsafeMutableBufferPointer<Scalar> {
        forward(count: count)
        return UnsafeMutableBufferPointer(start: probabilities, count: count * Self.classes)
    }

    /// Loss and accuracy count of the last forward's logits against one-hot labels.
    public func evaluate(labels: UnsafePointer<Scalar>, count: Int) -> (loss: Double, correct: Int) {
        crossEntropy(logits: logits, labels: labels, count: count, classes: Self.classes)
    }
}
