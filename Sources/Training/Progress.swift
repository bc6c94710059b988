/// What `train` prints while it runs.
///
/// - `bar` (stdout is a terminal): Keras' progress bar, redrawn with `\r` at most every 0.1 s —
///   `12/34 [==========>...................] - ETA: 12s - loss: 1.7412 - accuracy: 0.3120` —
///   finished with the elapsed time, ms/step and the test metrics at the epoch's end. It fits the
///   terminal (COLUMNS, else its width, else 80 columns): the bar shrinks from 30 cells to 10,
///   then the redrawn line drops its last metrics, and the epoch's final line continues on the
///   next line instead of wrapping (a wrapped line would break the `\r` redraw).
/// - `plain` (pipes, CI): one line per epoch.
/// - `json`: one JSON object per epoch (plus timings), then one for the run's outcome.
/// - `quiet`: nothing but errors and the final line.
/// Per-step drawing formats into a buffer allocated once and writes it with write(2), so the
/// step loop stays allocation-free on a terminal too.
import Foundation
import TerminalText

public enum ProgressMode: String, Sendable, CaseIterable {
    case bar, plain, json, quiet

    /// `bar` when stdout is a terminal, else `plain`.
    public static var automatic: ProgressMode { isatty(STDOUT_FILENO) != 0 ? .bar : .plain }
}

/// A fixed byte buffer with number formatting that never allocates.
struct LineBuffer {
    let bytes: UnsafeMutablePointer<UInt8>
    let capacity: Int
    var count = 0

    init(capacity: Int = 1024) {
        self.capacity = capacity
        bytes = .allocate(capacity: capacity)
    }

    func deallocate() { bytes.deallocate() }

    mutating func reset() { count = 0 }

    mutating func byte(_ b: UInt8) {
        if count < capacity { bytes[count] = b; count += 1 }
    }

    mutating func append(_ s: StaticString) {
        s.withUTF8Buffer { for b in $0 { byte(b) } }
    }

    /// Bytes `start..<end` of `other`.
    mutating func copy(_ other: LineBuffer, from start: Int = 0, upTo end: Int) {
        var i = start
        while i < min(end, other.count) { byte(other.bytes[i]); i += 1 }
    }

    mutating func repeated(_ b: UInt8, _ n: Int) {
        if n > 0 { for _ in 0..<n { byte(b) } }
    }

    static func digits(_ v: Int) -> Int {
        var v = abs(v), n = 1
        while v >= 10 { v /= 10; n += 1 }
        return n
    }

    mutating func int(_ v: Int, width: Int = 0) {
        if v < 0 { byte(UInt8(ascii: "-")); int(-v, width: width - 1); return }
        repeated(UInt8(ascii: " "), width - LineBuffer.digits(v))
        var divisor = 1
        while divisor <= v / 10 { divisor *= 10 }
        var rest = v
        while divisor > 0 {
            byte(UInt8(ascii: "0") + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }

    mutating func fixed(_ x: Double, _ places: Int) {
        if x.isNaN { append("nan"); return }
        if x.isInfinite { append(x > 0 ? "inf" : "-inf"); return }
        if x < 0 { byte(UInt8(ascii: "-")) }
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let scaled = min((abs(x) * scale).rounded(), 9e15)
        let whole = Int(scaled / scale)
        var fraction = Int(scaled - Double(whole) * scale)
        int(whole)
        if places > 0 {
            byte(UInt8(ascii: "."))
            var divisor = Int(scale) / 10
            while divisor > 0 {
                byte(UInt8(ascii: "0") + UInt8(fraction / divisor))
                fraction %= divisor
                divisor /= 10
            }
        }
    }

    /// Keras' time format: `12s`, `1:05`, `1:02:03`.
    mutating func duration(_ seconds: Double) {
        let s = Int(seconds.rounded())
        if s >= 3600 {
            int(s / 3600); byte(UInt8(ascii: ":")); twoDigits((s % 3600) / 60); byte(UInt8(ascii: ":")); twoDigits(s % 60)
        } else if s >= 60 {
            int(s / 60); byte(UInt8(ascii: ":")); twoDigits(s % 60)
        } else {
            int(s); byte(UInt8(ascii: "s"))
        }
    }

    mutating func twoDigits(_ v: Int) {
        if v < 10 { byte(UInt8(ascii: "0")) }
        int(v)
    }

    /// Keras' per-step time: `560ms/step`, `2s/step`, `850us/step`.
    mutating func perStep(_ seconds: Double) {
        if seconds >= 1 { int(Int(seconds.rounded())); append("s/step") }
        else if seconds >= 1e-3 { int(Int((seconds * 1e3).rounded())); append("ms/step") }
        else { int(Int((seconds * 1e6).rounded())); append("us/step") }
    }

    func write(to fd: Int32) {
        fflush(stdout)  // keep order with anything print() buffered
        var offset = 0
        while offset < count {
            let n = Glibc.write(fd, bytes + offset, count - offset)
            if n <= 0 { if n < 0 && errno == EINTR { continue }; return }
            offset += n
        }
    }
}

/// One finished epoch, as printed, recorded and returned.
public struct EpochResult: Sendable, Equatable {
    public var epoch: Int
    public var loss: Double
    public var accuracy: Double
    public var testLoss: Double
    public var testAccuracy: Double
    /// Wall time of the training steps (the bar's elapsed time).
    public var trainSeconds: Double
    /// Wall time of the whole epoch: steps, test evaluation, recording.
    public var seconds: Double
    public var imagesPerSecond: Double
    /// Copying batches into the model's input and one-hot label buffers.
    public var batchCopySeconds: Double
    public var evalSeconds: Double
    /// Writing the epoch row, the best-weights snapshot and the in-memory checkpoint copy.
    public var recordSeconds: Double
    public var steps: Int
    /// Heap allocations counted inside the step loop (nil when no counter is linked in).
    public var stepLoopAllocations: Int?
    /// On the training images held out by `--validation-split` (Keras' names), if any.
    public var valLoss: Double? = nil
    public var valAccuracy: Double? = nil

    /// The metrics stored in the run's epoch row.
    public var storedMetrics: [String: Double] {
        var m = ["loss": loss, "accuracy": accuracy, "test_loss": testLoss, "test_accuracy": testAccuracy,
                 "seconds": seconds, "images_per_second": imagesPerSecond]
        if let valLoss, let valAccuracy { m["val_loss"] = valLoss; m["val_accuracy"] = valAccuracy }
        return m
    }
}

final class ProgressPrinter {
    let mode: ProgressMode
    let epochs: Int
    var line = LineBuffer()
    var lastDraw = -1.0
    var run: Int64 = 0
    /// Columns the bar may use (read at each epoch's start: the terminal may have been resized).
    var width = 80
    /// The part after the bar (" - ETA: 12s - loss: …"), and where each of its segments ends.
    var tail = LineBuffer(capacity: 512)
    let segmentEnds = UnsafeMutablePointer<Int>.allocate(capacity: 16)
    var segments = 0
    /// Cells of the bar as last drawn in this epoch (0: not drawn yet).
    var barCells = 0

    /// The widest and narrowest bar (Keras draws 30 cells).
    static let barCells = 30, minimumBarCells = 10

    init(mode: ProgressMode, epochs: Int) {
        self.mode = mode
        self.epochs = epochs
    }

    deinit {
        line.deallocate()
        tail.deallocate()
        segmentEnds.deallocate()
    }

    /// Ends a segment of `tail` (a unit that is kept or dropped whole).
    func endSegment() {
        if segments < 16 { segmentEnds[segments] = tail.count; segments += 1 }
    }

    /// The first line of a run (terminal and plain output): its id, so that another terminal can
    /// follow it while it trains.
    func started(model: String, data: String, resumedAfter epochs: Int?) {
        guard mode == .bar || mode == .plain else { return }
        let what = epochs.map { "resuming after epoch \($0)" } ?? "training"
        print("Run \(run): \(what) \(model) on \(data) — follow it with: resnet-runs show \(run)")
        fflush(stdout)
    }

    func epochStart(_ epoch: Int) {
        guard mode == .bar else { return }
        width = TerminalWidth.columns(fd: STDOUT_FILENO) ?? 80
        barCells = 0
        line.reset()
        line.append("Epoch "); line.int(epoch); line.byte(UInt8(ascii: "/")); line.int(epochs); line.byte(10)
        line.write(to: STDOUT_FILENO)
        lastDraw = -1
    }

    /// After each step; allocation-free. Draws the bar (throttled) in `bar` mode only.
    @inline(__always)
    func step(_ step: Int, of steps: Int, elapsed: Double, loss: Double, accuracy: Double) {
        guard mode == .bar, step < steps, elapsed - lastDraw >= 0.1 || lastDraw < 0 else { return }
        lastDraw = elapsed
        tail.reset(); segments = 0
        tail.append(" - ETA: "); tail.duration(elapsed / Double(step) * Double(steps - step)); endSegment()
        tail.append(" - loss: "); tail.fixed(loss, 4); endSegment()
        tail.append(" - accuracy: "); tail.fixed(accuracy, 4); endSegment()
        let kept = drawBar(step, of: steps)
        line.copy(tail, upTo: kept > 0 ? segmentEnds[kept - 1] : 0)
        line.append("\u{1B}[K")
        line.write(to: STDOUT_FILENO)
    }

    /// `\r`, the counter and the bar, as wide as leaves room for the most segments of `tail`
    /// with a bar of at least `minimumBarCells` within `width - 1` columns (never the last one: a
    /// full line makes some terminals wrap). Returns how many segments fit after it.
    /// `cells`: draw a bar this wide (the epoch's last line keeps the width the bar had).
    @discardableResult
    func drawBar(_ step: Int, of steps: Int, cells fixedCells: Int? = nil) -> Int {
        let counter = 2 * LineBuffer.digits(steps) + 1
        let available = width - 1 - counter - 3  // " [" and "]"
        var kept = segments
        while kept > 0 && segmentEnds[kept - 1] + (fixedCells ?? Self.minimumBarCells) > available { kept -= 1 }
        let cells = fixedCells ?? max(0, min(Self.barCells, available - (kept > 0 ? segmentEnds[kept - 1] : 0)))
        barCells = cells
        line.reset()
        line.byte(13)  // \r
        line.int(step, width: LineBuffer.digits(steps)); line.byte(UInt8(ascii: "/")); line.int(steps)
        line.append(" [")
        let filled = cells * step / max(steps, 1)
        if filled > 0 {
            line.repeated(UInt8(ascii: "="), filled - 1)
            line.byte(step < steps ? UInt8(ascii: ">") : UInt8(ascii: "="))
        }
        line.repeated(UInt8(ascii: "."), cells - filled)
        line.byte(UInt8(ascii: "]"))
        return kept
    }

    /// The epoch's metrics as segments of `tail`: train, then validation (when the run holds
    /// some training data out), then test.
    private func resultSegments(_ r: EpochResult) {
        tail.append(" - loss: "); tail.fixed(r.loss, 4); endSegment()
        tail.append(" - accuracy: "); tail.fixed(r.accuracy, 4); endSegment()
        if let valLoss = r.valLoss, let valAccuracy = r.valAccuracy {
            tail.append(" - val_loss: "); tail.fixed(valLoss, 4); endSegment()
            tail.append(" - val_accuracy: "); tail.fixed(valAccuracy, 4); endSegment()
        }
        tail.append(" - test_loss: "); tail.fixed(r.testLoss, 4); endSegment()
        tail.append(" - test_accuracy: "); tail.fixed(r.testAccuracy, 4); endSegment()
    }

    func epochEnd(_ r: EpochResult) {
        switch mode {
        case .quiet: return
        case .bar:
            // The bar line with what fits after it; the other segments continue on further lines,
            // indented under the bar, each as full as the width allows.
            tail.reset(); segments = 0
            tail.append(" - "); tail.duration(r.trainSeconds); tail.byte(UInt8(ascii: " "))
            tail.perStep(r.trainSeconds / Double(max(r.steps, 1))); endSegment()
            resultSegments(r)
            var done = drawBar(r.steps, of: r.steps, cells: barCells > 0 ? barCells : nil)
            line.copy(tail, upTo: done > 0 ? segmentEnds[done - 1] : 0)
            line.append("\u{1B}[K\n")
            let indent = LineBuffer.digits(r.steps) + 1
            while done < segments {
                let start = done > 0 ? segmentEnds[done - 1] : 0
                var end = done + 1  // at least one segment per line
                while end < segments && indent + segmentEnds[end] - start <= width - 1 { end += 1 }
                line.repeated(UInt8(ascii: " "), indent)
                line.copy(tail, from: start, upTo: segmentEnds[end - 1])
                line.byte(10)
                done = end
            }
            line.write(to: STDOUT_FILENO)
        case .plain:
            // One line per epoch, whatever the width: a log line for files and grep.
            line.reset()
            line.append("Epoch "); line.int(r.epoch); line.byte(UInt8(ascii: "/")); line.int(epochs)
            line.append(" - "); line.int(r.steps); line.append(" steps - ")
            line.duration(r.trainSeconds); line.byte(UInt8(ascii: " "))
            line.perStep(r.trainSeconds / Double(max(r.steps, 1)))
            tail.reset(); segments = 0
            resultSegments(r)
            line.copy(tail, upTo: tail.count)
            line.byte(10)
            line.write(to: STDOUT_FILENO)
        case .json:
            var object: [String: Any] = [
                "run": run, "epoch": r.epoch, "epochs": epochs, "steps": r.steps,
                "loss": r.loss, "accuracy": r.accuracy, "test_loss": r.testLoss, "test_accuracy": r.testAccuracy,
                "seconds": r.seconds, "train_seconds": r.trainSeconds, "images_per_second": r.imagesPerSecond,
                "batch_copy_seconds": r.batchCopySeconds, "eval_seconds": r.evalSeconds,
                "record_seconds": r.recordSeconds,
                "overhead_fraction": (r.batchCopySeconds + r.recordSeconds) / max(r.seconds, 1e-9),
            ]
            if let a = r.stepLoopAllocations { object["step_loop_allocations"] = a }
            if let v = r.valLoss { object["val_loss"] = v }
            if let v = r.valAccuracy { object["val_accuracy"] = v }
            printJSON(object)
        }
    }

    /// Ends a partly drawn bar line before a message.
    func interruptedMidEpoch() {
        if mode == .bar && lastDraw >= 0 { print(""); lastDraw = -1 }
    }
}

/// One JSON object on one line of stdout (keys sorted).
public func printJSON(_ object: [String: Any]) {
    let clean = object.mapValues { value -> Any in
        if let d = value as? Double, !d.isFinite { return NSNull() }
        return value
    }
    guard let data = try? JSONSerialization.data(withJSONObject: clean, options: [.sortedKeys]) else { return }
    fflush(stdout)
    writeIgnoringErrors(data + Data("\n".utf8), to: STDOUT_FILENO)
}

/// Writes to a file descriptor and gives up quietly on an error: a closed pipe (`| head`) or a
/// full terminal log must never stop a training run. (`FileHandle.write` traps on EPIPE.)
public func writeIgnoringErrors(_ data: Data, to fd: Int32) {
    data.withUnsafeBytes { bytes in
        var done = 0
        while done < bytes.count {
            let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            done += n
        }
    }
}
