import Foundation
import Kernels
import Models
import XCTest

/// `KerasInit` against Keras 3.15 / TF 2.21: `GlorotUniform(seed=s)(shape, dtype)` exported by
/// `Scripts/export_keras_fixtures.py --init`, compared bit for bit, and the notebook's initial
/// weights of the tiny model against the kernels of the keras-tiny fixture (Keras built them).
final class KerasInitTests: XCTestCase {
    struct Case: Decodable { var dtype: String; var shape: [Int]; var seed: UInt64; var fan_in: Int; var fan_out: Int; var offset: Int; var count: Int }
    struct Manifest: Decodable { var cases: [Case]; var keras: String }

    func loadInitFixture() throws -> (Manifest, Data) {
        let dir = try XCTUnwrap(Bundle.module.url(forResource: "keras-init", withExtension: nil, subdirectory: "Fixtures"))
        let manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: dir.appendingPathComponent("manifest.json")))
        return (manifest, try Data(contentsOf: dir.appendingPathComponent("values.bin")))
    }

    /// Random123's known answers for Philox-4x32-10 (the generator TensorFlow's stateless ops use).
    func testPhiloxKnownAnswers() {
        var zero = Philox4x32(key: (0, 0), counter: (0, 0, 0, 0))
        let a = zero.next()
        XCTAssertEqual([a.0, a.1, a.2, a.3], [0x6627_E8D5, 0xE169_C58D, 0xBC57_AC4C, 0x9B00_DBD8])
        var ones = Philox4x32(key: (.max, .max), counter: (.max, .max, .max, .max))
        let b = ones.next()
        XCTAssertEqual([b.0, b.1, b.2, b.3], [0x408F_276D, 0x41C8_3B0E, 0xA20B_C7C6, 0x6D54_51FD])
        XCTAssertEqual([ones.counter.0, ones.counter.1, ones.counter.2, ones.counter.3], [0, 0, 0, 0], "the 128-bit counter carries")
        var pi = Philox4x32(key: (0xA409_3822, 0x299F_31D0), counter: (0x243F_6A88, 0x85A3_08D3, 0x1319_8A2E, 0x0370_7344))
        let c = pi.next()
        XCTAssertEqual([c.0, c.1, c.2, c.3], [0xD16C_FE09, 0x94FD_CCEB, 0x5001_E420, 0x2412_6EA1])
    }

    func testGlorotUniformMatchesKerasBitForBit() throws {
        let (manifest, data) = try loadInitFixture()
        XCTAssertGreaterThanOrEqual(manifest.cases.count, 10)
        var float32Cases = 0, float64Cases = 0
        for c in manifest.cases {
            let label = "\(c.dtype) \(c.shape) seed \(c.seed)"
            XCTAssertEqual(c.count, c.shape.reduce(1, *), label)
            // Keras' fans are ours: the generated TensorInfo uses the same rule.
            let receptive = c.shape.dropLast(2).reduce(1, *)
            let fans = c.shape.count == 2 ? (c.shape[0], c.shape[1]) : (c.shape[c.shape.count - 2] * receptive, c.shape[c.shape.count - 1] * receptive)
            XCTAssertEqual(fans.0, c.fan_in, label)
            XCTAssertEqual(fans.1, c.fan_out, label)
            var mismatches = 0
            if c.dtype == "float32" {
                float32Cases += 1
                var ours = [Float](repeating: .nan, count: c.count)
                ours.withUnsafeMutableBufferPointer { KerasInit.glorotUniform($0.baseAddress!, count: c.count, fanIn: c.fan_in, fanOut: c.fan_out, seed: c.seed) }
                data.withUnsafeBytes { raw in
                    for i in 0..<c.count where ours[i].bitPattern != UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: c.offset + 4 * i, as: UInt32.self)) {
                        mismatches += 1
                    }
                }
            } else {
                float64Cases += 1
                var ours = [Double](repeating: .nan, count: c.count)
                ours.withUnsafeMutableBufferPointer { KerasInit.glorotUniform($0.baseAddress!, count: c.count, fanIn: c.fan_in, fanOut: c.fan_out, seed: c.seed) }
                data.withUnsafeBytes { raw in
                    for i in 0..<c.count where ours[i].bitPattern != UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: c.offset + 8 * i, as: UInt64.self)) {
                        mismatches += 1
                    }
                }
            }
            XCTAssertEqual(mismatches, 0, "\(label): \(mismatches) of \(c.count) values differ from Keras \(manifest.keras)")
        }
        XCTAssertGreaterThan(float32Cases, 0)
        XCTAssertGreaterThan(float64Cases, 0)
    }

    /// The whole model through `initializeKerasParameters`: every kernel of the float64 tiny model
    /// equals the kernel Keras built for the notebook's layer (keras-tiny fixture, bit for bit),
    /// kernels of equal shape are equal, and the other tensors are Keras' zeros and ones.
    func testTinyModelGetsTheNotebooksInitialKernels() throws {
        let fixture = try KerasFixture()
        let model = TinyF64(seed: 99, threads: 1)
        model.adamM[0] = 1; model.step = 5
        model.initializeKerasParameters()
        XCTAssertEqual(model.step, 0)
        XCTAssertEqual(model.adamM[0], 0)
        var kernels = 0
        for t in TinyF64.tensors {
            let ours = Array(UnsafeBufferPointer(start: model.parameters + t.offset, count: t.count))
            switch t.initializer {
            case .glorotUniform:
                kernels += 1
                let keras = try fixture.tensor("initial/\(t.name)")
                XCTAssertEqual(ours.map(\.bitPattern), keras.map(\.bitPattern), t.name)
            case .constant(let value):
                XCTAssertTrue(ours.allSatisfy { $0 == value }, t.name)
                XCTAssertEqual(value, t.name.hasSuffix("/gamma") || t.name.hasSuffix("/moving_variance") ? 1 : 0, t.name)
            }
        }
        XCTAssertEqual(kernels, 16)
        let shapes = Dictionary(grouping: TinyF64.tensors.filter { $0.name.hasSuffix("/kernel") }, by: \.shape)
        let twins = try XCTUnwrap(shapes[[1, 1, 4, 16]])
        XCTAssertEqual(twins.count, 2)
        XCTAssertTrue(zip(UnsafeBufferPointer(start: model.parameters + twins[0].offset, count: twins[0].count),
                          UnsafeBufferPointer(start: model.parameters + twins[1].offset, count: twins[1].count)).allSatisfy { $0 == $1 })

        // float32: conv1's kernel against the float32 export of the same shape.
        let (manifest, data) = try loadInitFixture()
        let c = try XCTUnwrap(manifest.cases.first { $0.dtype == "float32" && $0.shape == [7, 7, 3, 8] && $0.seed == 0 })
        let f32 = TinyF32(seed: 99, threads: 1)
        f32.initializeKerasParameters()
        let conv1 = try XCTUnwrap(TinyF32.tensors.first { $0.name == "conv1/kernel" })
        data.withUnsafeBytes { raw in
            for i in 0..<c.count {
                XCTAssertEqual(f32.parameters[conv1.offset + i].bitPattern,
                               UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: c.offset + 4 * i, as: UInt32.self)), "conv1/kernel[\(i)]")
            }
        }
    }
}
