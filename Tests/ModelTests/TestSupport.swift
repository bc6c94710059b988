import Foundation
import Kernels
import XCTest

/// Deterministic test data: Gaussian-ish inputs and one-hot labels.
struct Batch<T: NetScalar> {
    var inputs: [T]
    var labels: [T]
    var classIndex: [Int]

    init(count: Int, elements: Int, classes: Int, seed: UInt64) {
        var rng = Xoshiro256(seed: seed)
        inputs = (0..<(count * elements)).map { _ in
            // Sum of uniforms: roughly normal, mean 0, variance 1.
            T((0..<4).reduce(0.0) { acc, _ in acc + rng.unit() } * 1.732 - 3.464)
        }
        classIndex = (0..<count).map { _ in Int(rng.next() % UInt64(classes)) }
        labels = [T](repeating: 0, count: count * classes)
        for (i, c) in classIndex.enumerated() { labels[i * classes + c] = 1 }
    }
}

/// ‖a − b‖ / ‖b‖ (or ‖a − b‖ when the reference is ~0).
func relativeError<T: BinaryFloatingPoint>(_ a: UnsafePointer<T>, _ b: [Double], count: Int) -> (relative: Double, absolute: Double, norm: Double) {
    var diff = 0.0, norm = 0.0
    for i in 0..<count {
        let d = Double(a[i]) - b[i]
        diff += d * d
        norm += b[i] * b[i]
    }
    return (diff.squareRoot() / max(norm.squareRoot(), 1e-300), diff.squareRoot(), norm.squareRoot())
}

/// A Keras reference dump written by Scripts/export_keras_fixtures.py (`keras-tiny`: one step;
/// `keras-tiny-fit`: 200 steps).
struct KerasFixture {
    struct Entry: Decodable { var name: String; var shape: [Int]; var offset: Int; var count: Int }
    struct Manifest: Decodable { var tensors: [Entry]; var batch: Int; var learning_rate: Double; var keras: String }
    let manifest: Manifest
    let values: [Double]

    let directory: URL

    init(_ name: String = "keras-tiny") throws {
        let dir = try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures"))
        directory = dir
        manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: dir.appendingPathComponent("manifest.json")))
        let data = try Data(contentsOf: dir.appendingPathComponent("tensors.bin"))
        values = data.withUnsafeBytes { raw in
            (0..<(data.count / 8)).map { Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))) }
        }
    }

    func tensor(_ name: String) throws -> [Double] {
        let e = try XCTUnwrap(manifest.tensors.first { $0.name == name }, "fixture has no tensor '\(name)'")
        return Array(values[e.offset..<(e.offset + e.count)])
    }
}
