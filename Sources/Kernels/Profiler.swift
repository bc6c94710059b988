/// Per-step wall-clock profile of a generated training model (`resnet-run bench --profile`).
///
/// The generated `forward`, `backward` and `adamStep` call `profiler?.mark(k)` after kernel step k:
/// one load and branch per step when no profiler is attached, a clock read when one is. The
/// buffers are allocated when the profiler is made, never during a step.
#if canImport(Glibc)
import Glibc
#endif

/// One profiled kernel step of a generated model.
public struct ProfiledStep: Sendable, Equatable {
    public enum Phase: String, Sendable { case forward, backward, loss, optimizer }
    public var layer: String
    public var kerasClass: String
    public var phase: Phase
    /// Floating-point operations per sample (a multiply-add counts 2); the optimizer's per step.
    public var flopsPerSample: Int

    public init(layer: String, kerasClass: String, phase: Phase, flopsPerSample: Int) {
        self.layer = layer; self.kerasClass = kerasClass; self.phase = phase; self.flopsPerSample = flopsPerSample
    }
}

public final class StepProfiler {
    /// Seconds accumulated per step index (the model's `profiledSteps` order).
    public let seconds: UnsafeMutablePointer<Double>
    public let count: Int
    @usableFromInline var last: timespec = timespec()

    public init(steps: Int) {
        count = steps
        seconds = .allocate(capacity: steps)
        seconds.initialize(repeating: 0, count: steps)
    }

    deinit { seconds.deallocate() }

    public func reset() { seconds.update(repeating: 0, count: count) }

    /// Starts the clock for the next step.
    @inlinable public func start() { clock_gettime(CLOCK_MONOTONIC, &last) }

    /// Charges the time since the last mark (or `start`) to step `index`.
    @inlinable public func mark(_ index: Int) {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        seconds[index] += Double(now.tv_sec - last.tv_sec) + Double(now.tv_nsec - last.tv_nsec) * 1e-9
        last = now
    }
}

/// Seconds on the monotonic clock (no allocation): the one clock of the training loop, `bench` and
/// the thread-pool diagnostics.
@inlinable @inline(__always)
public func monotonicSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}
