/// Groups, attributes and datasets at any path of an HDF5 file — what Keras model files need
/// (`model_weights/conv1/conv1/kernel:0`, string attributes `model_config`, `layer_names`,
/// `weight_names`, …) — on top of the same `HDF5` layer (lock, handles, one-line errors) the
/// SIGNS loader and `HDF5Writer` use.
///
/// Strings are written the way h5py writes what Keras hands it: a Python `str` as a scalar
/// variable-length UTF-8 string, a numpy array of `bytes` as a 1-D array of fixed-length,
/// null-padded ASCII strings. Both kinds (and arrays of variable-length strings) are read.
import CHDF5
import Foundation

/// An HDF5 file opened read-only, addressed by slash-separated paths from the root (`""` or `/`
/// is the root group).
public final class HDF5Reader {
    public let path: String
    private var file: HDF5.Handle?

    public enum ObjectKind: Sendable, Equatable { case group, dataset, other }

    /// Opens `path`; a missing, empty, non-HDF5, truncated or corrupt file is one line naming it.
    public init(path: String) throws {
        self.path = path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DatasetError("\(path): file not found")
        }
        guard !isDirectory.boolValue else { throw DatasetError("\(path): is a directory, not an HDF5 file") }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        guard size > 0 else { throw DatasetError("\(path): not an HDF5 file (it is empty, 0 bytes)") }
        file = try HDF5.locked {
            let isHDF5 = H5Fis_hdf5(path)
            _ = H5Eclear2(chdf5_e_default())
            guard isHDF5 > 0 else {
                throw DatasetError("\(path): not an HDF5 file (no HDF5 signature in its \(size) bytes)")
            }
            let fid = H5Fopen(path, chdf5_f_acc_rdonly(), chdf5_p_default())
            guard fid >= 0 else { throw HDF5.error("\(path): cannot open as HDF5, the file is truncated or corrupt") }
            return HDF5.file(fid)
        }
    }

    /// Closes the file (also done when the reader goes away).
    public func close() {
        _ = try? HDF5.locked { file = nil }
    }

    deinit { if file != nil { close() } }

    private var fid: hid_t { file?.id ?? -1 }

    static func components(_ path: String) -> [String] { path.split(separator: "/").map(String.init) }
    static func normalized(_ path: String) -> String {
        let c = components(path)
        return c.isEmpty ? "/" : "/" + c.joined(separator: "/")
    }

    /// What is at `path`, or nil when nothing is (checked link by link, so a missing parent is
    /// "absent", not an error). Metadata HDF5 cannot read is an error naming the object.
    public func kind(_ objectPath: String) throws -> ObjectKind? {
        try HDF5.locked { try kindLocked(objectPath) }
    }

    private func kindLocked(_ objectPath: String) throws -> ObjectKind? {
        var prefix = ""
        for component in Self.components(objectPath) {
            prefix += "/" + component
            let exists = H5Lexists(fid, prefix, chdf5_p_default())
            if exists < 0 { throw HDF5.error("\(path): damaged HDF5 metadata, cannot look up '\(prefix)'") }
            if exists == 0 { _ = H5Eclear2(chdf5_e_default()); return nil }
        }
        let oid = H5Oopen(fid, Self.normalized(objectPath), chdf5_p_default())
        guard oid >= 0 else { throw HDF5.error("\(path): cannot open '\(Self.normalized(objectPath))'") }
        defer { _ = H5Oclose(oid) }
        switch H5Iget_type(oid) {
        case H5I_GROUP: return .group
        case H5I_DATASET: return .dataset
        default: return .other
        }
    }

    /// Names of the links in group `group`, sorted.
    public func children(_ group: String) throws -> [String] {
        try HDF5.locked {
            let gid = H5Gopen2(fid, Self.normalized(group), chdf5_p_default())
            guard gid >= 0 else { throw HDF5.error("\(path): cannot open group '\(Self.normalized(group))'") }
            defer { _ = H5Gclose(gid) }
            guard let names = HDF5.linkNames(gid) else {
                throw HDF5.error("\(path): damaged HDF5 metadata, cannot list group '\(Self.normalized(group))'")
            }
            return names
        }
    }

    /// Names of the attributes of the object at `objectPath`.
    public func attributeNames(_ objectPath: String) throws -> [String] {
        try HDF5.locked {
            final class Collector { var names: [String] = [] }
            let collector = Collector()
            let unmanaged = Unmanaged.passRetained(collector)
            defer { unmanaged.release() }
            let oid = H5Oopen(fid, Self.normalized(objectPath), chdf5_p_default())
            guard oid >= 0 else { throw HDF5.error("\(path): cannot open '\(Self.normalized(objectPath))'") }
            defer { _ = H5Oclose(oid) }
            var index: hsize_t = 0
            let status = H5Aiterate2(oid, H5_INDEX_NAME, H5_ITER_INC, &index, { _, name, _, clientData in
                guard let name, let clientData else { return 0 }
                Unmanaged<Collector>.fromOpaque(clientData).takeUnretainedValue().names.append(String(cString: name))
                return 0
            }, unmanaged.toOpaque())
            guard status >= 0 else { throw HDF5.error("\(path): cannot list the attributes of '\(Self.normalized(objectPath))'") }
            return collector.names
        }
    }

    /// A string attribute, or a string-array attribute, as strings (a scalar gives one element);
    /// nil when the object has no such attribute. Numbers and other types are an error.
    public func strings(_ objectPath: String, attribute name: String) throws -> [String]? {
        try HDF5.locked {
            let object = Self.normalized(objectPath)
            let exists = H5Aexists_by_name(fid, object, name, chdf5_p_default())
            if exists < 0 { throw HDF5.error("\(path): cannot look up attribute '\(name)' of '\(object)'") }
            if exists == 0 { return nil }
            let aid = H5Aopen_by_name(fid, object, name, chdf5_p_default(), chdf5_p_default())
            guard aid >= 0 else { throw HDF5.error("\(path): cannot open attribute '\(name)' of '\(object)'") }
            defer { _ = H5Aclose(aid) }
            let tid = H5Aget_type(aid)
            guard tid >= 0 else { throw HDF5.error("\(path): cannot read the type of attribute '\(name)' of '\(object)'") }
            let type = HDF5.datatype(tid)
            let sid = H5Aget_space(aid)
            guard sid >= 0 else { throw HDF5.error("\(path): cannot read the dataspace of attribute '\(name)' of '\(object)'") }
            let space = HDF5.dataspace(sid)
            let count = Int(H5Sget_simple_extent_npoints(space.id))
            guard count >= 0 else { throw HDF5.error("\(path): cannot read the size of attribute '\(name)' of '\(object)'") }
            // An empty list of any type (h5py writes Python's `[]` as an empty float64 array).
            if count == 0 { return [] }
            guard H5Tget_class(type.id) == H5T_STRING else {
                throw DatasetError("\(path): attribute '\(name)' of '\(object)' is not a string")
            }
            if H5Tis_variable_str(type.id) > 0 {
                let memType = HDF5.datatype(H5Tcopy(chdf5_c_s1()))
                _ = H5Tset_size(memType.id, chdf5_variable())
                _ = H5Tset_cset(memType.id, H5Tget_cset(type.id))
                var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
                guard H5Aread(aid, memType.id, &pointers) >= 0 else {
                    throw HDF5.error("\(path): cannot read attribute '\(name)' of '\(object)'")
                }
                defer { for p in pointers where p != nil { H5free_memory(p) } }
                return pointers.map { $0.map { String(cString: $0) } ?? "" }
            }
            let size = Int(H5Tget_size(type.id))
            let memType = HDF5.datatype(H5Tcopy(type.id))
            var bytes = [UInt8](repeating: 0, count: size * count)
            guard H5Aread(aid, memType.id, &bytes) >= 0 else {
                throw HDF5.error("\(path): cannot read attribute '\(name)' of '\(object)'")
            }
            return (0..<count).map { i in
                let slice = bytes[i * size..<(i + 1) * size]
                let end = slice.firstIndex(of: 0) ?? slice.endIndex
                return String(decoding: slice[slice.startIndex..<end], as: UTF8.self)
            }
        }
    }

    /// A dataset's shape and element type as numpy names it (`float32`, `float64`, `int64`, `string`, …).
    public func describe(_ datasetPath: String) throws -> (shape: [Int], dtype: String) {
        try HDF5.locked {
            let name = Self.normalized(datasetPath)
            let did = H5Dopen2(fid, name, chdf5_p_default())
            guard did >= 0 else { throw HDF5.error("\(path): cannot open dataset '\(name)'") }
            let dataset = HDF5.dataset(did)
            do {
                let (shape, type) = try HDF5.describe(dataset.id)
                return (shape, type.description)
            } catch let error as DatasetError {
                throw DatasetError("\(path): dataset '\(name)': \(error.description)")
            }
        }
    }

    /// Reads a float32 or float64 dataset into `buffer` (exactly its size), converting nothing:
    /// `dtype` must be the dataset's own.
    public func read(_ datasetPath: String, dtype: String, into buffer: UnsafeMutableRawBufferPointer) throws {
        try HDF5.locked {
            let name = Self.normalized(datasetPath)
            let did = H5Dopen2(fid, name, chdf5_p_default())
            guard did >= 0 else { throw HDF5.error("\(path): cannot open dataset '\(name)'") }
            let dataset = HDF5.dataset(did)
            let memType: hid_t
            switch dtype {
            case "float32": memType = chdf5_native_float()
            case "float64": memType = chdf5_native_double()
            default: throw DatasetError("\(path): dataset '\(name)': cannot read dtype \(dtype)")
            }
            let (shape, _) = try HDF5.describe(dataset.id)
            let expected = shape.reduce(1, *) * (dtype == "float32" ? 4 : 8)
            guard expected == buffer.count else {
                throw DatasetError("\(path): dataset '\(name)' holds \(expected) bytes, expected \(buffer.count)")
            }
            if buffer.count == 0 { return }
            guard H5Dread(dataset.id, memType, chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), buffer.baseAddress) >= 0 else {
                throw HDF5.error("\(path): cannot read dataset '\(name)', the file is truncated or corrupt")
            }
        }
    }
}

extension HDF5Writer {
    /// An HDF5 file being written: groups, datasets and string attributes at any path.
    /// Intermediate groups are created as needed. `close()` flushes and closes; a writer dropped
    /// without it closes the file too.
    public final class Tree {
        public let path: String
        private var file: HDF5.Handle?

        /// Creates (replacing) the file at `path`.
        public init(path: String) throws {
            self.path = path
            file = try HDF5.locked {
                // No modification times in the root group's header either (see `untimed`).
                let fcpl = try Self.untimed(chdf5_p_file_create(), path)
                let fid = H5Fcreate(path, chdf5_f_acc_trunc(), fcpl.id, chdf5_p_default())
                guard fid >= 0 else { throw HDF5.error("\(path): cannot create the HDF5 file") }
                return HDF5.file(fid)
            }
        }

        /// A creation property list of `kind` that records no access/modification/change times in
        /// object headers (HDF5 does by default): the same weights exported twice give the same
        /// bytes, so an export can be checksummed, diffed and cached.
        private static func untimed(_ kind: hid_t, _ path: String) throws -> HDF5.Handle {
            let plist = H5Pcreate(kind)
            guard plist >= 0 else { throw HDF5.error("\(path): cannot make a creation property list") }
            let handle = HDF5.plist(plist)
            guard H5Pset_obj_track_times(plist, false) >= 0 else { throw HDF5.error("\(path): cannot turn off object times") }
            return handle
        }

        /// Creates the missing groups above `name` (an absolute path) one by one with untimed
        /// property lists: HDF5's own intermediate-group creation would use defaults, with times.
        private func createParents(of name: String) throws {
            let parts = name.split(separator: "/").dropLast()
            var prefix = ""
            for part in parts {
                prefix += "/" + part
                if H5Lexists(fid, prefix, chdf5_p_default()) > 0 { continue }
                let gcpl = try Self.untimed(chdf5_p_group_create(), path)
                let gid = H5Gcreate2(fid, prefix, chdf5_p_default(), gcpl.id, chdf5_p_default())
                guard gid >= 0 else { throw HDF5.error("\(path): cannot create group '\(prefix)'") }
                _ = H5Gclose(gid)
            }
        }

        deinit { if file != nil { _ = try? HDF5.locked { file = nil } } }

        private var fid: hid_t { file?.id ?? -1 }

        /// Creates the group at `groupPath` (and its parents).
        public func createGroup(_ groupPath: String) throws {
            try HDF5.locked {
                let name = HDF5Reader.normalized(groupPath)
                try createParents(of: name)
                let gcpl = try Self.untimed(chdf5_p_group_create(), path)
                let gid = H5Gcreate2(fid, name, chdf5_p_default(), gcpl.id, chdf5_p_default())
                guard gid >= 0 else { throw HDF5.error("\(path): cannot create group '\(name)'") }
                _ = H5Gclose(gid)
            }
        }

        /// Writes a dataset of `dtype` (`float32`/`float64`, native little-endian) from raw bytes.
        public func writeDataset(_ datasetPath: String, shape: [Int], dtype: String, bytes: UnsafeRawBufferPointer) throws {
            let type: hid_t, size: Int
            switch dtype {
            case "float32": (type, size) = (chdf5_native_float(), 4)
            case "float64": (type, size) = (chdf5_native_double(), 8)
            default: throw DatasetError("\(path): cannot write dtype \(dtype)")
            }
            guard bytes.count == shape.reduce(1, *) * size else {
                throw DatasetError("\(path): dataset '\(datasetPath)' has \(bytes.count) bytes for shape \(shapeString(shape)) of \(dtype)")
            }
            try write(datasetPath, shape: shape, type: type, bytes: bytes)
        }

        /// Writes a dataset from typed values.
        public func writeDataset(_ datasetPath: String, shape: [Int], _ values: Values) throws {
            guard values.count == shape.reduce(1, *) else {
                throw DatasetError("\(path): dataset '\(datasetPath)' has \(values.count) values for shape \(shapeString(shape))")
            }
            try values.withBytes { type, bytes in try write(datasetPath, shape: shape, type: type, bytes: bytes) }
        }

        private func write(_ datasetPath: String, shape: [Int], type: hid_t, bytes: UnsafeRawBufferPointer) throws {
            try HDF5.locked {
                let name = HDF5Reader.normalized(datasetPath)
                let dims = shape.map { hsize_t($0) }
                let sid = dims.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(dims.count), dims, nil)
                guard sid >= 0 else { throw HDF5.error("\(path): cannot create the dataspace for '\(name)'") }
                let space = HDF5.dataspace(sid)
                try createParents(of: name)
                let dcpl = try Self.untimed(chdf5_p_dataset_create(), path)
                let did = H5Dcreate2(fid, name, type, space.id, chdf5_p_default(), dcpl.id, chdf5_p_default())
                guard did >= 0 else { throw HDF5.error("\(path): cannot create dataset '\(name)'") }
                let dataset = HDF5.dataset(did)
                if bytes.count > 0 {
                    guard H5Dwrite(dataset.id, type, chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), bytes.baseAddress) >= 0 else {
                        throw HDF5.error("\(path): cannot write dataset '\(name)'")
                    }
                }
            }
        }

        /// A scalar variable-length UTF-8 string attribute (what h5py writes for a Python `str`).
        public func setAttribute(_ objectPath: String, _ name: String, string value: String) throws {
            try HDF5.locked {
                let object = HDF5Reader.normalized(objectPath)
                let type = HDF5.datatype(H5Tcopy(chdf5_c_s1()))
                _ = H5Tset_size(type.id, chdf5_variable())
                _ = H5Tset_cset(type.id, H5T_CSET_UTF8)
                let space = HDF5.dataspace(H5Screate(H5S_SCALAR))
                let aid = H5Acreate_by_name(fid, object, name, type.id, space.id, chdf5_p_default(), chdf5_p_default(), chdf5_p_default())
                guard aid >= 0 else { throw HDF5.error("\(path): cannot create attribute '\(name)' of '\(object)'") }
                defer { _ = H5Aclose(aid) }
                let status: herr_t = value.withCString { cString in
                    var pointer: UnsafePointer<CChar>? = cString
                    return H5Awrite(aid, type.id, &pointer)
                }
                guard status >= 0 else { throw HDF5.error("\(path): cannot write attribute '\(name)' of '\(object)'") }
            }
        }

        /// A 1-D array of variable-length UTF-8 strings, as Keras 3 stores `layer_names` and
        /// `weight_names`; an empty list is an empty float64 array, as h5py writes Python's `[]`.
        /// `fixedLength` writes null-padded fixed-length strings instead (a numpy array of
        /// `bytes`, as older Keras versions wrote them).
        public func setAttribute(_ objectPath: String, _ name: String, strings values: [String], fixedLength: Bool = false) throws {
            try HDF5.locked {
                let object = HDF5Reader.normalized(objectPath)
                if values.isEmpty || !fixedLength {
                    let type = HDF5.datatype(values.isEmpty ? H5Tcopy(chdf5_native_double()) : H5Tcopy(chdf5_c_s1()))
                    if !values.isEmpty {
                        _ = H5Tset_size(type.id, chdf5_variable())
                        _ = H5Tset_cset(type.id, H5T_CSET_UTF8)
                    }
                    var dims = [hsize_t(values.count)]
                    let space = HDF5.dataspace(H5Screate_simple(1, &dims, nil))
                    let aid = H5Acreate_by_name(fid, object, name, type.id, space.id, chdf5_p_default(), chdf5_p_default(), chdf5_p_default())
                    guard aid >= 0 else { throw HDF5.error("\(path): cannot create attribute '\(name)' of '\(object)'") }
                    defer { _ = H5Aclose(aid) }
                    if values.isEmpty { return }
                    let cStrings = values.map { strdup($0) }
                    defer { cStrings.forEach { free($0) } }
                    var pointers: [UnsafePointer<CChar>?] = cStrings.map { UnsafePointer($0) }
                    guard H5Awrite(aid, type.id, &pointers) >= 0 else {
                        throw HDF5.error("\(path): cannot write attribute '\(name)' of '\(object)'")
                    }
                    return
                }
                let encoded = values.map { Array($0.utf8) }
                let size = max(1, encoded.map(\.count).max() ?? 1)
                let type = HDF5.datatype(H5Tcopy(chdf5_c_s1()))
                _ = H5Tset_size(type.id, size)
                _ = H5Tset_strpad(type.id, H5T_STR_NULLPAD)
                var dims = [hsize_t(values.count)]
                let space = HDF5.dataspace(H5Screate_simple(1, &dims, nil))
                let aid = H5Acreate_by_name(fid, object, name, type.id, space.id, chdf5_p_default(), chdf5_p_default(), chdf5_p_default())
                guard aid >= 0 else { throw HDF5.error("\(path): cannot create attribute '\(name)' of '\(object)'") }
                defer { _ = H5Aclose(aid) }
                var bytes = [UInt8](repeating: 0, count: size * values.count)
                for (i, e) in encoded.enumerated() { bytes.replaceSubrange(i * size..<i * size + e.count, with: e) }
                guard H5Awrite(aid, type.id, &bytes) >= 0 else {
                    throw HDF5.error("\(path): cannot write attribute '\(name)' of '\(object)'")
                }
            }
        }

        /// Flushes and closes the file.
        public func close() throws {
            try HDF5.locked {
                guard let file else { return }
                let status = H5Fflush(file.id, H5F_SCOPE_GLOBAL)
                self.file = nil
                guard status >= 0 else { throw HDF5.error("\(path): cannot flush the file") }
            }
        }
    }
}
