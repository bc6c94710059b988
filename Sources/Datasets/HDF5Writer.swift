/// A tiny HDF5 writer for SIGNS-format files (`<split>_set_x`, `<split>_set_y`, `list_classes`),
/// used by tests — this module's and the trainer's process tests — to make small fixture files,
/// including deliberately wrong ones (other shapes, float images, float labels, missing datasets).
/// Each dataset is contiguous, uncompressed and stored little-endian like h5py writes on x86.
import CHDF5
import Foundation

public enum HDF5Writer {
    /// The values of one dataset, in row-major (C) order; the case picks the stored dtype.
    public enum Values: Sendable {
        case uint8([UInt8]), uint16([UInt16]), uint32([UInt32]), uint64([UInt64])
        case int8([Int8]), int16([Int16]), int32([Int32]), int64([Int64])
        case float32([Float]), float64([Double])

        var count: Int {
            switch self {
            case .uint8(let v): v.count
            case .uint16(let v): v.count
            case .uint32(let v): v.count
            case .uint64(let v): v.count
            case .int8(let v): v.count
            case .int16(let v): v.count
            case .int32(let v): v.count
            case .int64(let v): v.count
            case .float32(let v): v.count
            case .float64(let v): v.count
            }
        }

        /// Calls `body` with the native HDF5 type id and the raw bytes.
        func withBytes<T>(_ body: (hid_t, UnsafeRawBufferPointer) throws -> T) rethrows -> T {
            switch self {
            case .uint8(let v): try v.withUnsafeBytes { try body(chdf5_native_uint8(), $0) }
            case .uint16(let v): try v.withUnsafeBytes { try body(chdf5_native_uint16(), $0) }
            case .uint32(let v): try v.withUnsafeBytes { try body(chdf5_native_uint32(), $0) }
            case .uint64(let v): try v.withUnsafeBytes { try body(chdf5_native_uint64(), $0) }
            case .int8(let v): try v.withUnsafeBytes { try body(chdf5_native_int8(), $0) }
            case .int16(let v): try v.withUnsafeBytes { try body(chdf5_native_int16(), $0) }
            case .int32(let v): try v.withUnsafeBytes { try body(chdf5_native_int32(), $0) }
            case .int64(let v): try v.withUnsafeBytes { try body(chdf5_native_int64(), $0) }
            case .float32(let v): try v.withUnsafeBytes { try body(chdf5_native_float(), $0) }
            case .float64(let v): try v.withUnsafeBytes { try body(chdf5_native_double(), $0) }
            }
        }
    }

    /// One dataset in the file's root group. `shape` `[]` writes a scalar.
    public struct Dataset: Sendable {
        public var name: String
        public var shape: [Int]
        public var values: Values
        public init(_ name: String, shape: [Int], _ values: Values) {
            self.name = name
            self.shape = shape
            self.values = values
        }
    }

    /// Writes (replacing) an HDF5 file at `path` holding `datasets` in its root group.
    public static func write(path: String, datasets: [Dataset]) throws {
        for d in datasets where d.values.count != d.shape.reduce(1, *) {
            throw DatasetError("\(path): dataset '\(d.name)' has \(d.values.count) values for shape \(shapeString(d.shape))")
        }
        try HDF5.locked {
            let fid = H5Fcreate(path, chdf5_f_acc_trunc(), chdf5_p_default(), chdf5_p_default())
            guard fid >= 0 else { throw HDF5.error("\(path): cannot create the HDF5 file") }
            let file = HDF5.file(fid)
            for d in datasets {
                let dims = d.shape.map { hsize_t($0) }
                let sid = dims.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(dims.count), dims, nil)
                guard sid >= 0 else { throw HDF5.error("\(path): cannot create the dataspace for '\(d.name)'") }
                let space = HDF5.dataspace(sid)
                try d.values.withBytes { type, bytes in
                    let did = H5Dcreate2(file.id, d.name, type, space.id, chdf5_p_default(), chdf5_p_default(), chdf5_p_default())
                    guard did >= 0 else { throw HDF5.error("\(path): cannot create dataset '\(d.name)'") }
                    let dataset = HDF5.dataset(did)
                    if bytes.count > 0 {
                        guard H5Dwrite(dataset.id, type, chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), bytes.baseAddress) >= 0 else {
                            throw HDF5.error("\(path): cannot write dataset '\(d.name)'")
                        }
                    }
                }
            }
            guard H5Fflush(file.id, H5F_SCOPE_GLOBAL) >= 0 else { throw HDF5.error("\(path): cannot flush the file") }
        }
    }

    /// Writes a SIGNS-format file: `<split>_set_x` uint8 `shape` (normally (N, H, W, C)),
    /// `<split>_set_y` int64 (N,), `list_classes` int64.
    public static func writeSIGNS(path: String, split: String, images: [UInt8], shape: [Int],
                                  labels: [Int64], classes: [Int64]) throws {
        try writeSIGNS(path: path, split: split, images: .uint8(images), shape: shape,
                       labels: .int64(labels), labelShape: [labels.count], classes: classes)
    }

    /// Writes a SIGNS-format file with any image and label dtypes and any label shape (for
    /// wrong-dtype / wrong-shape fixtures).
    public static func writeSIGNS(path: String, split: String, images: Values, shape: [Int],
                                  labels: Values, labelShape: [Int], classes: [Int64]) throws {
        guard let names = SIGNS.datasetNames(split: split) else {
            throw DatasetError("\(path): unknown split '\(split)' (expected 'train' or 'test')")
        }
        try write(path: path, datasets: [
            Dataset(names.x, shape: shape, images),
            Dataset(names.y, shape: labelShape, labels),
            Dataset(SIGNS.classesDatasetName, shape: [classes.count], .int64(classes)),
        ])
    }

    /// Writes `dataset` as a SIGNS-format file (pixels × 255, rounded, as uint8; labels int64;
    /// `list_classes` = 0..<classes). Loading it back gives the same pixels for sets whose values
    /// are multiples of 1/255, as loaded and synthetic sets are.
    public static func writeSIGNS(path: String, split: String, dataset: ImageDataset) throws {
        let pixels = dataset.images.map { UInt8(max(0, min(255, ($0 * 255).rounded()))) }
        try writeSIGNS(path: path, split: split, images: pixels,
                       shape: [dataset.count, dataset.height, dataset.width, dataset.channels],
                       labels: dataset.labels.map(Int64.init), classes: (0..<Int64(dataset.classes)).map { $0 })
    }
}
