/// JPEG/PNG decoding against the pixels Pillow produced for the committed fixtures
/// (Scripts/make_photo_fixtures.py), and resizing against PIL's output and against references
/// computed here, independently of the C code.
import CImageDecode
import Datasets
import Foundation
import XCTest

final class PhotoTests: XCTestCase {
    struct Expected {
        var width: Int, height: Int, pixels: [UInt8], tolerance: Int, orientation: Int
    }

    static let directory: URL = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("photos")

    static func hexBytes(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(s.count / 2)
        var index = s.startIndex
        while index < s.endIndex {
            let next = s.index(index, offsetBy: 2)
            out.append(UInt8(s[index ..< next], radix: 16)!)
            index = next
        }
        return out
    }

    static let json: [String: Any] = {
        let data = try! Data(contentsOf: directory.appendingPathComponent("expected.json"))
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }()

    static func expected(_ name: String) -> Expected {
        let e = (json["decode"] as! [String: Any])[name] as! [String: Any]
        return Expected(width: e["width"] as! Int, height: e["height"] as! Int, pixels: hexBytes(e["pixels"] as! String),
                        tolerance: e["tolerance"] as! Int, orientation: e["orientation"] as! Int)
    }

    func path(_ name: String) -> String { Self.directory.appendingPathComponent(name).path }

    func assertDecodes(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let e = Self.expected(name)
        let photo = try PhotoDecoder.decode(path: path(name))
        XCTAssertEqual(photo.width, e.width, "\(name) width", file: file, line: line)
        XCTAssertEqual(photo.height, e.height, "\(name) height", file: file, line: line)
        XCTAssertEqual(photo.orientation, e.orientation, "\(name) orientation", file: file, line: line)
        XCTAssertEqual(photo.pixels.count, e.pixels.count, "\(name) byte count", file: file, line: line)
        guard photo.pixels.count == e.pixels.count else { return }
        let worst = zip(photo.pixels, e.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, e.tolerance, "\(name): largest difference from Pillow's pixels", file: file, line: line)
    }

    func testPNGKinds() throws {
        for name in ["gray.png", "rgb.png", "rgba.png", "palette.png", "gray16.png", "rgb16.png", "rgba16.png"] {
            try assertDecodes(name)
        }
    }

    func testJPEGKinds() throws {
        for name in ["photo.jpg", "gray.jpg", "cmyk.jpg"] { try assertDecodes(name) }
    }

    func testEXIFOrientations() throws {
        for o in 2...8 { try assertDecodes("exif\(o).jpg") }
        try assertDecodes("exif6.png")
        // 5...8 swap width and height: the stored picture is 8x6.
        XCTAssertEqual(try PhotoDecoder.decode(path: path("exif6.jpg")).width, 6)
    }

    func testBadFilesAreOneLineErrorsNamingTheFile() throws {
        let cases: [(String, String)] = [
            ("truncated.jpg", "truncated JPEG"),
            ("truncated.png", "truncated PNG"),
            ("not-an-image.png", "it is a GIF"),
            ("missing.png", "file not found"),
        ]
        for (name, fragment) in cases {
            XCTAssertThrowsError(try PhotoDecoder.decode(path: path(name)), name) { error in
                let text = String(describing: error)
                XCTAssertTrue(text.hasPrefix(path(name) + ": "), text)
                XCTAssertTrue(text.contains(fragment), text)
                XCTAssertFalse(text.contains("\n"), text)
            }
        }
        XCTAssertThrowsError(try PhotoDecoder.decode(data: Data())) { error in
            XCTAssertTrue(String(describing: error).contains("empty file"))
        }
    }

    // MARK: resizing

    /// PIL's NEAREST as PIL computes it: start half a step in, add the step in double, truncate.
    static func nearestReference(_ src: [UInt8], _ w: Int, _ h: Int, _ ow: Int, _ oh: Int) -> [UInt8] {
        func indices(_ n: Int, _ o: Int) -> [Int] {
            let step = Double(n) / Double(o)
            var position = step / 2, out: [Int] = []
            for _ in 0..<o { out.append(min(Int(position), n - 1)); position += step }
            return out
        }
        let xs = indices(w, ow), ys = indices(h, oh)
        var out: [UInt8] = []
        for y in ys { for x in xs { for c in 0..<3 { out.append(src[(y * w + x) * 3 + c]) } } }
        return out
    }

    /// PIL's BILINEAR in exact arithmetic: a triangle filter of support max(scale, 1) around each
    /// output pixel's centre, weights normalised, rows then columns, rounded once at the end.
    static func bilinearReference(_ src: [UInt8], _ w: Int, _ h: Int, _ ow: Int, _ oh: Int) -> [UInt8] {
        func weights(_ n: Int, _ o: Int) -> [[(Int, Double)]] {
            let scale = Double(n) / Double(o), width = max(scale, 1)
            return (0..<o).map { i in
                let center = (Double(i) + 0.5) * scale
                var taps: [(Int, Double)] = []
                for j in 0..<n {
                    let t = abs((Double(j) + 0.5 - center) / width)
                    if t < 1 { taps.append((j, 1 - t)) }
                }
                let sum = taps.reduce(0) { $0 + $1.1 }
                return taps.map { ($0.0, $0.1 / sum) }
            }
        }
        let wx = weights(w, ow), wy = weights(h, oh)
        var out: [UInt8] = []
        for y in 0..<oh {
            for x in 0..<ow {
                for c in 0..<3 {
                    var v = 0.0
                    for (sy, ky) in wy[y] { for (sx, kx) in wx[x] { v += ky * kx * Double(src[(sy * w + sx) * 3 + c]) } }
                    out.append(UInt8(max(0, min(255, v.rounded()))))
                }
            }
        }
        return out
    }

    func testResizeMatchesPILAndIndependentReferences() throws {
        let source = try PhotoDecoder.decode(path: path("resize-source.png"))
        XCTAssertEqual([source.width, source.height], [37, 23])
        let cases = Self.json["resize"] as! [[String: Any]]
        XCTAssertEqual(cases.count, 8)
        for c in cases {
            let (ow, oh) = (c["width"] as! Int, c["height"] as! Int)
            let interpolation = Interpolation(rawValue: c["interpolation"] as! String)!
            let pil = Self.hexBytes(c["pixels"] as! String)
            let ours = source.resized(width: ow, height: oh, interpolation: interpolation)
            XCTAssertEqual(ours, pil, "\(interpolation) to \(ow)x\(oh) differs from PIL's Image.resize")
            switch interpolation {
            case .nearest:
                XCTAssertEqual(ours, Self.nearestReference(source.pixels, 37, 23, ow, oh), "nearest \(ow)x\(oh)")
            case .bilinear:
                // PIL rounds to 8 bits between its passes, with 22-bit coefficients: within 1.
                let reference = Self.bilinearReference(source.pixels, 37, 23, ow, oh)
                let worst = zip(ours, reference).map { abs(Int($0) - Int($1)) }.max() ?? 0
                XCTAssertLessThanOrEqual(worst, 1, "bilinear \(ow)x\(oh) vs the exact reference")
            }
        }
        // The model's size, both ways, and a size the image already has (a copy).
        XCTAssertEqual(source.resized(width: 37, height: 23, interpolation: .bilinear), source.pixels)
        for (ow, oh) in [(64, 64), (3, 2), (100, 7)] {
            XCTAssertEqual(source.resized(width: ow, height: oh), Self.nearestReference(source.pixels, 37, 23, ow, oh))
            let worst = zip(source.resized(width: ow, height: oh, interpolation: .bilinear),
                            Self.bilinearReference(source.pixels, 37, 23, ow, oh)).map { abs(Int($0) - Int($1)) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, 1, "bilinear \(ow)x\(oh)")
        }
    }

    func testWriterRoundTrips() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("photo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let rgb = (0..<(9 * 7 * 3)).map { UInt8(($0 * 29) % 256) }
        let png = dir.appendingPathComponent("a.png").path
        try PhotoWriter.writePNG(path: png, rgb: rgb, width: 9, height: 7)
        XCTAssertEqual(try PhotoDecoder.decode(path: png).pixels, rgb)
        let jpg = dir.appendingPathComponent("a.jpg").path
        let flat = [UInt8](repeating: 120, count: 16 * 16 * 3)
        try PhotoWriter.writeJPEG(path: jpg, rgb: flat, width: 16, height: 16, quality: 100)
        let decoded = try PhotoDecoder.decode(path: jpg)
        XCTAssertEqual([decoded.width, decoded.height], [16, 16])
        XCTAssertLessThanOrEqual(zip(decoded.pixels, flat).map { abs(Int($0) - Int($1)) }.max() ?? 0, 1)
    }
}
