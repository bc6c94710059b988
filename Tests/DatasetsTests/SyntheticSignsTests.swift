/// Tests of the built-in synthetic SIGNS stand-in: deterministic from the seed, balanced, values in
/// [0, 1] on the 1/255 grid, any size and channel count, train/test splits from different seeds,
/// and learnable: a nearest-class-mean classifier on a colour-invariant edge profile, fitted on one
/// synthetic split, beats chance clearly on another at 64×64 and at 16×16 — and the same pipeline
/// with shuffled labels stays near chance, so the check can fail.
import XCTest
@testable import Datasets

final class SyntheticSignsTests: XCTestCase {
    func testDeterministicFromSeed() {
        let a = SyntheticSigns.make(count: 24, height: 32, width: 32, classes: 6, seed: 42)
        let b = SyntheticSigns.make(count: 24, height: 32, width: 32, classes: 6, seed: 42)
        let c = SyntheticSigns.make(count: 24, height: 32, width: 32, classes: 6, seed: 43)
        XCTAssertEqual(a.images, b.images)
        XCTAssertEqual(a.labels, b.labels)
        XCTAssertNotEqual(a.images, c.images)
        XCTAssertEqual(a.source, "synthetic")
        XCTAssertNil(a.sha256)
        XCTAssertEqual(a.seed, 42)
        // A fixed pixel pins the renderer: if this changes, synthetic runs are no longer comparable.
        XCTAssertEqual(a.images.count, 24 * 32 * 32 * 3)
        XCTAssertEqual(Array(a.labels.prefix(6)), [5, 4, 2, 4, 1, 3])
        XCTAssertEqual(a.images.reduce(0) { $0 + Int(($1 * 255).rounded()) }, 9_569_983)
        XCTAssertEqual(a.images[1000], 66 / 255)
        XCTAssertEqual(a.images[5000], 41 / 255)
    }

    func testBalancedAndInRange() {
        let d = SyntheticSigns.make(count: 1080, height: 16, width: 16, classes: 6, seed: 1)
        XCTAssertEqual(d.classCounts, [180, 180, 180, 180, 180, 180])
        XCTAssertEqual(SyntheticSigns.make(count: 100, height: 8, width: 8, classes: 6, seed: 1).classCounts,
                       [17, 17, 17, 17, 16, 16])
        XCTAssertGreaterThanOrEqual(d.images.min()!, 0)
        XCTAssertLessThanOrEqual(d.images.max()!, 1)
        XCTAssertTrue(d.images.allSatisfy { v in Float((v * 255).rounded()) / 255 == v }, "values on the 1/255 grid")
        XCTAssertNotEqual(Array(d.labels.prefix(12)), (0..<12).map { Int32($0 % 6) }, "labels are shuffled")
    }

    func testSplitsAndShapes() {
        let s = SyntheticSigns.splits(height: 16, width: 16, classes: 6, seed: 5)
        XCTAssertEqual(s.train.count, 1080)
        XCTAssertEqual(s.test.count, 120)
        XCTAssertEqual(s.test.classCounts, [20, 20, 20, 20, 20, 20])
        XCTAssertNotEqual(s.train.seed, s.test.seed)
        XCTAssertNotEqual(Array(s.train.images.prefix(768)), Array(s.test.images.prefix(768)))
        let odd = SyntheticSigns.make(count: 10, height: 24, width: 40, channels: 1, classes: 3, seed: 9)
        XCTAssertEqual([odd.count, odd.height, odd.width, odd.channels, odd.classes], [10, 24, 40, 1, 3])
        XCTAssertEqual(odd.images.count, 10 * 24 * 40)
        XCTAssertEqual(SyntheticSigns.make(count: 0, height: 4, width: 4, classes: 6, seed: 0).count, 0)
    }

    func testLearnableAt64() {
        let train = SyntheticSigns.make(count: 360, height: 64, width: 64, classes: 6, seed: 11)
        let test = SyntheticSigns.make(count: 240, height: 64, width: 64, classes: 6, seed: 12)
        let accuracy = nearestMeanAccuracy(train: train, test: test)
        // Chance is 1/6 ≈ 0.17 (σ ≈ 0.024 over 240 images); 0.35 is > 7σ above it.
        print("synthetic 64x64 nearest-mean accuracy", accuracy)
        XCTAssertGreaterThan(accuracy, 0.35, "64x64 synthetic signs are not learnable: accuracy \(accuracy)")
    }

    func testLearnableAt16() {
        let train = SyntheticSigns.make(count: 480, height: 16, width: 16, classes: 6, seed: 21)
        let test = SyntheticSigns.make(count: 360, height: 16, width: 16, classes: 6, seed: 22)
        let accuracy = nearestMeanAccuracy(train: train, test: test)
        print("synthetic 16x16 nearest-mean accuracy", accuracy)
        XCTAssertGreaterThan(accuracy, 0.28, "16x16 synthetic signs are not learnable: accuracy \(accuracy)")
    }

    /// The control: the same classifier with labels shuffled learns nothing, so the checks above can fail.
    func testShuffledLabelsStayNearChance() {
        var train = SyntheticSigns.make(count: 480, height: 16, width: 16, classes: 6, seed: 21)
        var test = SyntheticSigns.make(count: 360, height: 16, width: 16, classes: 6, seed: 22)
        var rng = SplitMix64(seed: 99)
        train.labels.shuffle(using: &rng)
        test.labels.shuffle(using: &rng)
        let accuracy = nearestMeanAccuracy(train: train, test: test)
        print("synthetic 16x16 shuffled-label accuracy", accuracy)
        XCTAssertLessThan(accuracy, 0.26, "shuffled labels should be at chance: \(accuracy)")
    }

    // MARK: A trivial classifier

    /// Colour-invariant "edge profile": per row, the horizontal-gradient energy Σ|I(x+1) − I(x)| over
    /// x and channels, minus the quietest row (noise), sorted descending and scaled by the largest,
    /// sampled at 16 points. k raised fingers give ~2k edges in their rows against 2 in the
    /// palm/wrist rows, so the profile's shape tracks k whatever the colours and position.
    static func edgeProfile(_ d: ImageDataset, _ i: Int, points: Int = 16) -> [Double] {
        let h = d.height, w = d.width, c = d.channels
        let image = Array(d.image(i))
        var rows = [Double](repeating: 0, count: h)
        for y in 0..<h {
            for x in 0..<(w - 1) {
                for k in 0..<c {
                    rows[y] += Double(abs(image[(y * w + x + 1) * c + k] - image[(y * w + x) * c + k]))
                }
            }
        }
        let quietest = rows.min()!
        let sorted = rows.map { $0 - quietest }.sorted(by: >)
        let top = max(sorted[0], 1e-9)
        return (0..<points).map { sorted[min(h - 1, $0 * h / points)] / top }
    }

    /// Fits one mean profile per class on `train`, classifies `test` by the nearest mean.
    func nearestMeanAccuracy(train: ImageDataset, test: ImageDataset) -> Double {
        var means = [[Double]](repeating: [Double](repeating: 0, count: 16), count: train.classes)
        var counts = [Double](repeating: 0, count: train.classes)
        for i in 0..<train.count {
            let k = Int(train.labels[i])
            counts[k] += 1
            for (j, v) in Self.edgeProfile(train, i).enumerated() { means[k][j] += v }
        }
        for k in 0..<train.classes { means[k] = means[k].map { $0 / max(counts[k], 1) } }
        var correct = 0
        for i in 0..<test.count {
            let x = Self.edgeProfile(test, i)
            let distances = means.map { m in zip(m, x).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } }
            if distances.firstIndex(of: distances.min()!)! == Int(test.labels[i]) { correct += 1 }
        }
        return Double(correct) / Double(test.count)
    }
}
