/// Photos: JPEG and PNG files decoded to 8-bit RGB (libjpeg-turbo and libpng through the C target
/// `CImageDecode`), turned upright by their EXIF orientation, and resized to a model's input the
/// way Keras' `keras.utils.load_img(path, target_size=(h, w))` does it through PIL: `nearest` by
/// default, `bilinear` as an option, both reproducing PIL's `Image.resize` arithmetic.
///
/// Differences from `load_img`, on purpose: the EXIF orientation is applied (`load_img` ignores it,
/// so a phone photo taken upright arrives sideways); 16-bit grayscale PNGs keep their high byte
/// (PIL's "I;16" → "RGB" conversion clips at 255, which turns most of them white).
import CImageDecode
import Foundation

public enum Interpolation: String, Sendable, CaseIterable {
    case nearest, bilinear
}

/// A decoded image: `height` rows of `width` RGB pixels, upright.
public struct Photo: Sendable {
    public var width: Int
    public var height: Int
    /// `width * height * 3` bytes, RGB, rows top to bottom.
    public var pixels: [UInt8]
    /// The EXIF orientation that was applied (1: none).
    public var orientation: Int
    /// "jpeg" or "png".
    public var format: String

    /// This photo at `width`×`height` (unchanged if it already has that size), as PIL resizes.
    public func resized(width w: Int, height h: Int, interpolation: Interpolation = .nearest) -> [UInt8] {
        if w == width && h == height { return pixels }
        var out = [UInt8](repeating: 0, count: w * h * 3)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                switch interpolation {
                case .nearest:
                    cimg_resize_nearest(src.baseAddress, Int32(width), Int32(height), dst.baseAddress, Int32(w), Int32(h))
                case .bilinear:
                    let status = cimg_resize_bilinear(src.baseAddress, Int32(width), Int32(height), dst.baseAddress, Int32(w), Int32(h))
                    precondition(status == 0, "out of memory resizing a \(width)x\(height) image")
                }
            }
        }
        return out
    }
}

public enum PhotoDecoder {
    /// File extensions read as photos (case-insensitive).
    public static let extensions: Set<String> = ["jpg", "jpeg", "png"]
    /// Extensions Keras' `image_dataset_from_directory` would also read but this decoder does not.
    public static let otherImageExtensions: Set<String> = ["bmp", "gif", "webp", "tif", "tiff", "heic"]

    /// Decodes the file at `path`. Errors are one line starting with the path.
    public static func decode(path: String) throws -> Photo {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            var isDirectory: ObjCBool = false
            if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
                throw DatasetError("\(path): file not found")
            }
            if isDirectory.boolValue { throw DatasetError("\(path): is a directory, not an image") }
            throw DatasetError("\(path): cannot read the file (\(oneLine(error)))")
        }
        do {
            return try decode(data: data)
        } catch let error as DatasetError {
            throw DatasetError("\(path): \(error.description)")
        }
    }

    /// Decodes JPEG or PNG bytes; errors say what is wrong without a path.
    public static func decode(data: Data) throws -> Photo {
        guard !data.isEmpty else { throw DatasetError("empty file (0 bytes), not a JPEG or PNG image") }
        return try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Photo in
            let bytes = raw.bindMemory(to: UInt8.self)
            guard cimg_sniff(bytes.baseAddress, bytes.count) != Int32(CIMG_UNKNOWN) else {
                throw DatasetError("not a JPEG or PNG image (\(formatGuess(bytes)))")
            }
            var image = cimg_image()
            var message = [CChar](repeating: 0, count: 512)
            let status = cimg_decode(bytes.baseAddress, bytes.count, &image, &message, message.count)
            guard status == 0, let pixels = image.pixels else {
                throw DatasetError(String(cString: message))
            }
            defer { cimg_free(&image) }
            let count = Int(image.width) * Int(image.height) * 3
            return Photo(width: Int(image.width), height: Int(image.height),
                         pixels: Array(UnsafeBufferPointer(start: pixels, count: count)),
                         orientation: Int(image.orientation),
                         format: image.format == Int32(CIMG_JPEG) ? "jpeg" : "png")
        }
    }

    /// Decodes `path` and resizes it to `height`×`width` RGB bytes (the model's input before / 255).
    public static func load(path: String, height: Int, width: Int, interpolation: Interpolation = .nearest) throws -> [UInt8] {
        try decode(path: path).resized(width: width, height: height, interpolation: interpolation)
    }

    /// `load`, then / 255 like the training data: `height * width * 3` floats in [0, 1].
    public static func loadScaled(path: String, height: Int, width: Int, interpolation: Interpolation = .nearest) throws -> [Float] {
        SIGNS.scaledPixels(try load(path: path, height: height, width: width, interpolation: interpolation))
    }

    /// What the first bytes of an unsupported file look like, for the error message.
    static func formatGuess(_ b: UnsafeBufferPointer<UInt8>) -> String {
        func starts(_ s: [UInt8], at offset: Int = 0) -> Bool {
            b.count >= offset + s.count && Array(b[offset ..< offset + s.count]) == s
        }
        if starts(Array("GIF8".utf8)) { return "it is a GIF; convert it to PNG" }
        if starts(Array("BM".utf8)) { return "it looks like a BMP; convert it to PNG" }
        if starts(Array("RIFF".utf8)) && starts(Array("WEBP".utf8), at: 8) { return "it is a WebP; convert it to PNG or JPEG" }
        if starts(Array("ftyp".utf8), at: 4) { return "it looks like HEIC/HEIF or MP4; convert it to JPEG" }
        if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A]) { return "it is a TIFF; convert it to PNG" }
        if starts([0x89, 0x48, 0x44, 0x46]) { return "it is an HDF5 file; pass SIGNS .h5 files with --data" }
        let head = b.prefix(4).map { String(format: "%02x", $0) }.joined(separator: " ")
        return "it starts with bytes \(head)"
    }
}

fileprivate func oneLine(_ error: Error) -> String {
    String(describing: error).split(whereSeparator: \.isNewline).joined(separator: " ")
}

/// Writes RGB bytes as PNG or JPEG files (tests make image folders with it).
public enum PhotoWriter {
    public static func writePNG(path: String, rgb: [UInt8], width: Int, height: Int) throws {
        precondition(rgb.count == width * height * 3, "PhotoWriter.writePNG: rgb.count mismatch")
        var message = [CChar](repeating: 0, count: 512)
        guard cimg_write_png(path, rgb, Int32(width), Int32(height), &message, message.count) == 0 else {
            throw DatasetError("\(path): \(String(cString: message))")
        }
    }

    /// The PNG file `writePNG` would write, in memory.
    public static func pngData(rgb: [UInt8], width: Int, height: Int) throws -> [UInt8] {
        precondition(rgb.count == width * height * 3, "PhotoWriter.pngData: rgb.count mismatch")
        var message = [CChar](repeating: 0, count: 512)
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        guard cimg_encode_png(rgb, Int32(width), Int32(height), &out, &size, &message, message.count) == 0, let out else {
            throw DatasetError("encoding a PNG: \(String(cString: message))")
        }
        defer { free(out) }
        return Array(UnsafeBufferPointer(start: out, count: size))
    }

    public static func writeJPEG(path: String, rgb: [UInt8], width: Int, height: Int, quality: Int = 95) throws {
        precondition(rgb.count == width * height * 3, "PhotoWriter.writeJPEG: rgb.count mismatch")
        var message = [CChar](repeating: 0, count: 512)
        guard cimg_write_jpeg(path, rgb, Int32(width), Int32(height), Int32(quality), &message, message.count) == 0 else {
            throw DatasetError("\(path): \(String(cString: message))")
        }
    }
}
