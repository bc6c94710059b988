/// The built-in synthetic stand-in for SIGNS, used when the user has no `datasets/` directory: a
/// "hand" (palm blob, wrist) raising 0…classes-1 "fingers" (vertical bars with rounded tips), class k
/// showing k fingers, at a random position, span, finger width and length, tilt, hand and background
/// colours (kept apart in contrast), background gradient and pixel noise. Rendered with
/// exact pixel coverage in continuous coordinates, so the same hand scales to any H×W: at 16×16 the
/// fingers are 1–2 px wide and still show (k bars above the palm, k times the finger area), which
/// keeps class signal for tiny test models. Values are quantised to multiples of 1/255 like real
/// data. Deterministic from the seed (per-image generators, so it renders in parallel), classes
/// balanced (counts differ by at most one), then shuffled.
import Dispatch

public enum SyntheticSigns {
    public static let defaultTrainCount = 1080
    public static let defaultTestCount = 120
    /// Seed offset of the test split in `splits`: test images come from `seed ^ testSeedSalt`.
    public static let testSeedSalt: UInt64 = 0x7465_7374_5349_474E  // "testSIGN"

    /// `count` RGB images of `height`×`width`, labels balanced over `classes`.
    public static func make(count: Int, height: Int, width: Int, classes: Int, seed: UInt64) -> ImageDataset {
        make(count: count, height: height, width: width, channels: 3, classes: classes, seed: seed)
    }

    /// Train and test splits of the same shapes from different seeds (`seed` and `seed ^ testSeedSalt`).
    public static func splits(trainCount: Int = defaultTrainCount, testCount: Int = defaultTestCount,
                              height: Int, width: Int, channels: Int = 3, classes: Int,
                              seed: UInt64 = 0) -> (train: ImageDataset, test: ImageDataset) {
        (make(count: trainCount, height: height, width: width, channels: channels, classes: classes, seed: seed),
         make(count: testCount, height: height, width: width, channels: channels, classes: classes, seed: seed ^ testSeedSalt))
    }

    /// `count` images of `height`×`width`×`channels` (1 = grey, 3 = RGB, any other count works),
    /// class k (of `classes`) showing k raised fingers.
    public static func make(count: Int, height: Int, width: Int, channels: Int, classes: Int,
                            seed: UInt64) -> ImageDataset {
        precondition(count >= 0 && height > 0 && width > 0 && channels > 0 && classes > 0,
                     "SyntheticSigns.make: bad sizes")
        // Balanced labels, shuffled.
        var rng = SplitMix64(seed: seed)
        var labels = (0..<count).map { Int32($0 % classes) }
        labels.shuffle(using: &rng)

        let size = height * width * channels
        var images = [Float](repeating: 0, count: count * size)
        let labelsCopy = labels
        images.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let out = buffer
            DispatchQueue.concurrentPerform(iterations: count) { i in
                var r = SplitMix64(seed: seed ^ (UInt64(i + 1) &* 0xD1B5_4A32_D192_ED03))
                let target = UnsafeMutableBufferPointer(rebasing: out[i * size ..< (i + 1) * size])
                render(into: target, label: Int(labelsCopy[i]), classes: classes,
                       height: height, width: width, channels: channels, rng: &r)
            }
        }
        return ImageDataset(images: images, labels: labels, count: count, height: height, width: width,
                            channels: channels, classes: classes, source: "synthetic", sha256: nil,
                            split: "synthetic", seed: seed)
    }

    // MARK: Rendering

    private struct Finger { var x: Double; var top: Double }

    /// Draws one image (HWC, values multiples of 1/255 in [0, 1]) showing `label` fingers.
    private static func render(into out: UnsafeMutableBufferPointer<Float>, label: Int, classes: Int,
                               height: Int, width: Int, channels: Int, rng: inout SplitMix64) {
        let H = Double(height), W = Double(width)
        func u(_ a: Double, _ b: Double) -> Double { a + (b - a) * rng.nextDouble() }

        // Colours: background, its gradient, and a hand colour at least 0.3 RMS away from it.
        let background = (0..<channels).map { _ in u(0, 1) }
        let gradientX = (0..<channels).map { _ in u(-0.15, 0.15) }
        let gradientY = (0..<channels).map { _ in u(-0.15, 0.15) }
        var hand = (0..<channels).map { _ in u(0, 1) }
        for _ in 0..<64 {
            let distance = zip(hand, background).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / Double(channels)
            if distance.squareRoot() >= 0.3 { break }
            hand = (0..<channels).map { _ in u(0, 1) }
        }
        if (zip(hand, background).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / Double(channels)).squareRoot() < 0.3 {
            hand = background.map { $0 < 0.5 ? min(1, $0 + 0.5) : max(0, $0 - 0.5) }
        }

        // Geometry, in pixels (continuous; pixel (x, y) covers [x, x+1) × [y, y+1)).
        let slots = max(classes - 1, 1)
        let span = W * u(0.5, 0.72)
        let pitch = span / Double(slots)
        let fingerHalf = pitch * u(0.5, 0.7) / 2
        let rx = span / 2 * u(1.0, 1.15)
        let ry = H * u(0.12, 0.17)
        let margin = 0.04 * W
        let cx = rx + margin < W - rx - margin ? u(rx + margin, W - rx - margin) : W / 2
        let length = H * u(0.25, 0.36)
        let low = 0.04 * H + 0.6 * ry + 1.1 * length, high = 0.85 * H
        let cy = low < high ? u(low, high) : low
        let wristHalf = rx * u(0.55, 0.75)
        let tilt = u(-0.2, 0.2)
        let raised = min(label, slots)
        let first = raised < slots ? Int(rng.next() % UInt64(slots - raised + 1)) : 0
        let base = cy - 0.6 * ry
        let fingers = (0..<raised).map { j in
            Finger(x: cx - span / 2 + (Double(first + j) + 0.5) * pitch,
                   top: base - length * u(0.85, 1.1))
        }
        let noise = u(0.01, 0.06)

        // Coverage of each pixel by the hand: `s` sub-rows per pixel row; along a sub-row the hand is
        // a union of intervals (palm ellipse chord, wrist, fingers), integrated exactly over x.
        let s = height >= 48 ? 2 : 4
        var coverage = [Double](repeating: 0, count: width)
        var intervals: [(Double, Double)] = []
        intervals.reserveCapacity(fingers.count + 2)
        for py in 0..<height {
            for x in 0..<width { coverage[x] = 0 }
            for sy in 0..<s {
                let y = Double(py) + (Double(sy) + 0.5) / Double(s)
                intervals.removeAll(keepingCapacity: true)
                let dy = (y - cy) / ry
                if abs(dy) <= 1 {
                    let half = rx * (1 - dy * dy).squareRoot()
                    intervals.append((cx - half, cx + half))
                }
                if y >= cy { intervals.append((cx - wristHalf, cx + wristHalf)) }
                if y <= base + 1 {
                    for f in fingers where y >= f.top {
                        let tip = f.top + fingerHalf
                        let ey = y < tip ? y - tip : 0
                        let half = (fingerHalf * fingerHalf - ey * ey).squareRoot()
                        intervals.append((f.x - half, f.x + half))
                    }
                }
                if intervals.isEmpty { continue }
                // The hand leans: shear about the palm centre (hand x = image x - tilt * (cy - y)).
                let shift = tilt * (cy - y)
                intervals.sort { $0.0 < $1.0 }
                var (a, b) = intervals[0]
                for k in 1...intervals.count {
                    if k < intervals.count && intervals[k].0 <= b {
                        b = max(b, intervals[k].1)
                        continue
                    }
                    let lo = max(0, a + shift), hi = min(W, b + shift)
                    if lo < hi {
                        for x in Int(lo)..<min(width, Int(hi.rounded(.up))) {
                            coverage[x] += (min(hi, Double(x + 1)) - max(lo, Double(x))) / Double(s)
                        }
                    }
                    if k < intervals.count { (a, b) = intervals[k] }
                }
            }
            let fy = (Double(py) + 0.5) / H - 0.5
            for px in 0..<width {
                let a = min(1, coverage[px])
                let fx = (Double(px) + 0.5) / W - 0.5
                let o = (py * width + px) * channels
                for c in 0..<channels {
                    let bg = background[c] + gradientX[c] * fx + gradientY[c] * fy
                    let v = bg * (1 - a) + hand[c] * a + noise * rng.nextGaussian()
                    out[o + c] = Float((min(1, max(0, v)) * 255).rounded()) / 255
                }
            }
        }
    }
}

/// SplitMix64 (Steele et al.): tiny, fast, and good enough for image synthesis; stable across
/// platforms and Swift versions (unlike `SystemRandomNumberGenerator`), so seeds reproduce.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1), 53 bits.
    mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1p-53 }
    /// Approximately standard normal: the Irwin–Hall sum of four uniforms, rescaled to unit
    /// variance. No libm calls, so images are bit-identical on every platform.
    /// Uses one 64-bit draw (four 16-bit uniforms).
    mutating func nextGaussian() -> Double {
        let r = next()
        let sum = Int(r & 0xFFFF) + Int((r >> 16) & 0xFFFF) + Int((r >> 32) & 0xFFFF) + Int(r >> 48)
        return (Double(sum) + 2) * 0x1p-16 * 1.7320508075688772 - 2 * 1.7320508075688772
    }
}
