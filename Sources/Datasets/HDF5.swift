/// A thin internal layer over the HDF5 C library: one-time initialisation (H5open, automatic
/// error-stack printing silenced), a process-wide lock (the Debian serial build is not
/// thread-safe), handles that close themselves, HDF5 error stacks turned into one-line Swift
/// errors, and dataset shape/dtype queries. Only `SIGNS` and `HDF5Writer` use it.
import CHDF5
import Foundation

enum HDF5 {
    /// Serialises every HDF5 call in the process; taken by `HDF5.locked`.
    private static let lock = NSLock()

    /// H5open() and turn off HDF5's own printing of error stacks to stderr. Runs once.
    private static let initialised: Bool = {
        chdf5_silence_errors() >= 0
    }()

    /// Runs `body` holding the HDF5 lock, with the library initialised.
    static func locked<T>(_ body: () throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        guard initialised else { throw DatasetError("HDF5: the library failed to initialise (H5open)") }
        return try body()
    }

    /// The most specific message on HDF5's current error stack (e.g. `truncated file: eof = 100,
    /// sblock->base_addr = 0, stored_eof = 1477712`), then clears the stack. `nil` if it is empty.
    static func takeErrorMessage() -> String? {
        final class Collector { var messages: [String] = [] }
        let collector = Collector()
        let unmanaged = Unmanaged.passRetained(collector)
        defer { unmanaged.release() }
        _ = H5Ewalk2(chdf5_e_default(), H5E_WALK_DOWNWARD, { _, error, clientData in
            guard let error, let clientData, let desc = error.pointee.desc else { return 0 }
            let collector = Unmanaged<Collector>.fromOpaque(clientData).takeUnretainedValue()
            let message = String(cString: desc).trimmingCharacters(in: .whitespacesAndNewlines)
            if !message.isEmpty { collector.messages.append(message) }
            return 0
        }, unmanaged.toOpaque())
        _ = H5Eclear2(chdf5_e_default())
        return collector.messages.last
    }

    /// `prefix` plus the HDF5 detail in parentheses, when there is one.
    static func error(_ prefix: String) -> DatasetError {
        if let detail = takeErrorMessage() { return DatasetError("\(prefix) (HDF5: \(detail))") }
        return DatasetError(prefix)
    }

    /// An HDF5 identifier closed with `close` when the handle goes away.
    final class Handle {
        let id: hid_t
        private let close: (hid_t) -> herr_t
        init(_ id: hid_t, close: @escaping (hid_t) -> herr_t) {
            self.id = id
            self.close = close
        }
        deinit { _ = close(id) }
    }

    static func file(_ id: hid_t) -> Handle { Handle(id) { H5Fclose($0) } }
    static func dataset(_ id: hid_t) -> Handle { Handle(id) { H5Dclose($0) } }
    static func dataspace(_ id: hid_t) -> Handle { Handle(id) { H5Sclose($0) } }
    static func datatype(_ id: hid_t) -> Handle { Handle(id) { H5Tclose($0) } }
    static func plist(_ id: hid_t) -> Handle { Handle(id) { H5Pclose($0) } }

    /// What a stored element type is, enough to accept or reject it and to name it in a message.
    struct ElementType: CustomStringConvertible {
        enum Kind { case integer(signed: Bool), float, other(String) }
        var kind: Kind
        var size: Int
        var isInteger: Bool { if case .integer = kind { return true } else { return false } }
        var isUInt8: Bool { if case .integer(signed: false) = kind { return size == 1 } else { return false } }
        /// numpy-style name: `uint8`, `int64`, `float32`, or the HDF5 class (`string`, `compound`, …).
        var description: String {
            switch kind {
            case .integer(let signed): return "\(signed ? "int" : "uint")\(size * 8)"
            case .float: return "float\(size * 8)"
            case .other(let name): return name
            }
        }
    }

    /// Names of the objects in the file's root group, sorted (for "not found; the file has …"),
    /// or nil when HDF5 cannot read the group's metadata (its error stack is then left for
    /// `HDF5.error`).
    static func rootNames(_ file: hid_t) -> [String]? {
        guard let names = linkNames(file) else { return nil }  // the error stack stays for `HDF5.error`
        _ = H5Eclear2(chdf5_e_default())
        return names
    }

    /// Names of the links in an open group (or file: its root group), sorted; nil when HDF5 cannot
    /// read the group's metadata.
    static func linkNames(_ group: hid_t) -> [String]? {
        final class Collector { var names: [String] = [] }
        let collector = Collector()
        let unmanaged = Unmanaged.passRetained(collector)
        defer { unmanaged.release() }
        var index: hsize_t = 0
        let status = H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, &index, { _, name, _, clientData in
            guard let name, let clientData else { return 0 }
            Unmanaged<Collector>.fromOpaque(clientData).takeUnretainedValue().names.append(String(cString: name))
            return 0
        }, unmanaged.toOpaque())
        return status < 0 ? nil : collector.names.sorted()
    }

    /// Whether the root group has a link called `name`. A file whose superblock opens but whose
    /// group metadata (B-tree, symbol table, local heap) HDF5 cannot read is `.unreadable`, with
    /// HDF5's most specific message — not "absent". No error stack is left behind.
    enum Lookup: Equatable { case present, absent, unreadable(String) }

    static func lookup(_ file: hid_t, _ name: String) -> Lookup {
        let result = H5Lexists(file, name, chdf5_p_default())
        if result < 0 { return .unreadable(takeErrorMessage() ?? "H5Lexists failed") }
        _ = H5Eclear2(chdf5_e_default())
        return result > 0 ? .present : .absent
    }

    /// A dataset's shape and element type.
    static func describe(_ dataset: hid_t) throws -> (shape: [Int], type: ElementType) {
        let space = H5Dget_space(dataset)
        guard space >= 0 else { throw error("cannot read the dataspace") }
        let spaceHandle = dataspace(space)
        let rank = H5Sget_simple_extent_ndims(spaceHandle.id)
        guard rank >= 0 else { throw error("cannot read the dataspace rank") }
        var dims = [hsize_t](repeating: 0, count: Int(rank))
        if rank > 0 {
            guard H5Sget_simple_extent_dims(spaceHandle.id, &dims, nil) >= 0 else {
                throw error("cannot read the dataspace dimensions")
            }
        }
        let type = H5Dget_type(dataset)
        guard type >= 0 else { throw error("cannot read the datatype") }
        let typeHandle = datatype(type)
        let size = Int(H5Tget_size(typeHandle.id))
        let kind: ElementType.Kind
        switch H5Tget_class(typeHandle.id) {
        case H5T_INTEGER: kind = .integer(signed: H5Tget_sign(typeHandle.id) != H5T_SGN_NONE)
        case H5T_FLOAT: kind = .float
        case H5T_STRING: kind = .other("string")
        case H5T_COMPOUND: kind = .other("compound")
        case H5T_ENUM: kind = .other("enum")
        case H5T_ARRAY: kind = .other("array")
        case H5T_OPAQUE: kind = .other("opaque")
        case H5T_BITFIELD: kind = .other("bitfield")
        case H5T_REFERENCE: kind = .other("reference")
        case H5T_VLEN: kind = .other("vlen")
        case H5T_TIME: kind = .other("time")
        default: kind = .other("unknown type")
        }
        return (dims.map { Int($0) }, ElementType(kind: kind, size: size))
    }
}

/// `(1080, 64, 64, 3)` / `(6,)` — numpy's way of printing a shape.
func shapeString(_ shape: [Int]) -> String {
    shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
}
