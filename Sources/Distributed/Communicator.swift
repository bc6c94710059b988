/// A small Swift face on Open MPI for data-parallel training: rank and size, in-place sums over
/// all processes (blocking, and nonblocking for gradient buckets that overlap the backward pass),
/// broadcast, gathering small values, and a one-way "this rank failed" note to rank 0.
///
/// libmpi is always linked, but MPI is only initialized when the process was started by mpirun
/// (`launchedByMPI`); a plain `resnet-run train` never touches it. Rank and size then come from
/// MPI itself.
///
/// Errors: the communicators return error codes (MPI_ERRORS_RETURN) instead of aborting the job,
/// and every wait polls — with MPI_Test, so the process is never stuck inside MPI — for failure
/// notes from other ranks and for the caller's own reasons to stop (`poll`).
import CMPI
import Glibc

public struct MPIError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Another rank said it failed (its rank and its one-line reason).
public struct PeerFailed: Error, CustomStringConvertible {
    public var rank: Int
    public var reason: String
    public var description: String { "rank \(rank) failed: \(reason)" }
    public init(rank: Int, reason: String) { self.rank = rank; self.reason = reason }
}

public final class Communicator {
    /// Whether mpirun (Open MPI's ORTE/PMIx, or another PMI launcher) started this process.
    public static func launchedByMPI(_ environment: [String: String]) -> Bool {
        environment["OMPI_COMM_WORLD_SIZE"] != nil || environment["PMIX_RANK"] != nil || environment["PMI_RANK"] != nil
    }

    public let rank: Int
    public let size: Int
    /// MPI's name for this host.
    public let host: String
    /// Gradient buckets (nonblocking) and everything else (blocking) use separate communicators, so
    /// the order of collectives has to agree between ranks only within each.
    let gradientComm: MPI_Comm
    let comm: MPI_Comm
    let controlComm: MPI_Comm
    static let failureTag: Int32 = 77
    static let noteBytes = 1024
    private var finalized = false
    /// Called in every wait between tests (interrupt and failure checks); may throw to abandon it.
    public var poll: (() throws -> Void)?

    /// Initializes MPI (once per process).
    public init() throws {
        var provided: Int32 = 0
        var rc = MPI_Init_thread(nil, nil, cmpi_thread_funneled(), &provided)
        guard rc == cmpi_success() else { throw MPIError("MPI_Init_thread failed (error \(rc))") }
        let world = cmpi_comm_world()
        MPI_Comm_set_errhandler(world, cmpi_errors_return())
        var r: Int32 = 0, s: Int32 = 0
        MPI_Comm_rank(world, &r)
        MPI_Comm_size(world, &s)
        rank = Int(r)
        size = Int(s)
        var name = [CChar](repeating: 0, count: Int(cmpi_max_processor_name()) + 1)
        var length: Int32 = 0
        MPI_Get_processor_name(&name, &length)
        host = String(cString: name)
        var a: MPI_Comm? = nil, b: MPI_Comm? = nil, c: MPI_Comm? = nil
        rc = MPI_Comm_dup(world, &a)
        if rc == cmpi_success() { rc = MPI_Comm_dup(world, &b) }
        if rc == cmpi_success() { rc = MPI_Comm_dup(world, &c) }
        guard rc == cmpi_success(), let a, let b, let c else { throw MPIError("MPI_Comm_dup failed: \(Communicator.message(rc))") }
        for x in [a, b, c] { MPI_Comm_set_errhandler(x, cmpi_errors_return()) }
        gradientComm = a
        comm = b
        controlComm = c
    }

    /// Ends MPI after a normal run (every rank must call it).
    public func finalize() {
        guard !finalized else { return }
        finalized = true
        MPI_Finalize()
    }

    /// Ends the whole job at once (every rank, through mpirun).
    public func abort(code: Int32) -> Never {
        MPI_Abort(cmpi_comm_world(), code)
        _exit(code)
    }

    static func message(_ code: Int32) -> String {
        var text = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &text, &length)
        return String(cString: text)
    }

    @inline(__always) func check(_ rc: Int32, _ what: String) throws {
        if rc != cmpi_success() { throw MPIError("\(what): \(Communicator.message(rc))") }
    }

    // MARK: waiting

    /// Waits for `count` requests, polling (failure notes, then `poll`) between tests.
    public func waitAll(_ requests: UnsafeMutablePointer<MPI_Request?>, count: Int) throws {
        var spins = 0
        while true {
            var flag: Int32 = 0
            try check(MPI_Testall(Int32(count), requests, &flag, cmpi_statuses_ignore()), "MPI_Testall")
            if flag != 0 { return }
            spins += 1
            if spins & 63 == 0 {
                try checkFailureNotes()
                try poll?()
                usleep(spins > 10_000 ? 1000 : 50)
            }
        }
    }

    private var single: [MPI_Request?] = [nil]

    func wait(_ start: (UnsafeMutablePointer<MPI_Request?>) -> Int32, _ what: String) throws {
        try single.withUnsafeMutableBufferPointer { b in
            try check(start(b.baseAddress!), what)
            try waitAll(b.baseAddress!, count: 1)
        }
    }

    // MARK: collectives (blocking for the caller, polling inside)

    public func allreduceSum(_ values: UnsafeMutablePointer<Double>, count: Int) throws {
        try wait({ MPI_Iallreduce(cmpi_in_place(), values, Int32(count), cmpi_double(), cmpi_sum(), comm, $0) }, "MPI_Iallreduce")
    }

    public func allreduceSum(_ values: UnsafeMutablePointer<Int64>, count: Int) throws {
        try wait({ MPI_Iallreduce(cmpi_in_place(), values, Int32(count), cmpi_int64(), cmpi_sum(), comm, $0) }, "MPI_Iallreduce")
    }

    /// The smallest and largest of each rank's `value` (agreement checks: equal on every rank ⇔ min == max).
    public func minMax(_ value: UInt64) throws -> (min: UInt64, max: UInt64) {
        var lo = value, hi = value
        try wait({ MPI_Iallreduce(cmpi_in_place(), &lo, 1, cmpi_uint64(), cmpi_min(), comm, $0) }, "MPI_Iallreduce")
        try wait({ MPI_Iallreduce(cmpi_in_place(), &hi, 1, cmpi_uint64(), cmpi_max(), comm, $0) }, "MPI_Iallreduce")
        return (lo, hi)
    }

    /// Rank `root`'s bytes, on every rank.
    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int = 0) throws {
        // MPI counts are Int32: large blocks go in pieces.
        var offset = 0
        let piece = 1 << 30
        while offset < bytes.count {
            let n = min(piece, bytes.count - offset)
            try wait({ MPI_Ibcast(bytes.baseAddress! + offset, Int32(n), cmpi_byte(), Int32(root), comm, $0) }, "MPI_Ibcast")
            offset += n
        }
    }

    /// Rank `root`'s dictionary, on every rank.
    public func broadcast(_ values: [String: String], root: Int = 0) throws -> [String: String] {
        var text = Array(values.sorted { $0.key < $1.key }.map { "\($0.key)\u{1e}\($0.value)" }.joined(separator: "\u{1d}").utf8)
        var length = [UInt64(text.count)]
        try length.withUnsafeMutableBytes { try broadcast($0, root: root) }
        if rank != root { text = [UInt8](repeating: 0, count: Int(length[0])) }
        if !text.isEmpty { try text.withUnsafeMutableBytes { try broadcast($0, root: root) } }
        var result: [String: String] = [:]
        for entry in String(decoding: text, as: UTF8.self).split(separator: "\u{1d}") {
            let parts = entry.split(separator: "\u{1e}", maxSplits: 1, omittingEmptySubsequences: false)
            if parts.count == 2 { result[String(parts[0])] = String(parts[1]) }
        }
        return result
    }

    public func barrier() throws {
        try wait({ MPI_Ibarrier(comm, $0) }, "MPI_Ibarrier")
    }

    /// Every rank's `values` (the same count on each), in rank order.
    public func allgather(_ values: [Double]) throws -> [[Double]] {
        var send = values
        var receive = [Double](repeating: 0, count: values.count * size)
        try send.withUnsafeMutableBufferPointer { s in
            try receive.withUnsafeMutableBufferPointer { r in
                try wait({ MPI_Iallgather(s.baseAddress!, Int32(values.count), cmpi_double(), r.baseAddress!,
                                          Int32(values.count), cmpi_double(), comm, $0) }, "MPI_Iallgather")
            }
        }
        return (0..<size).map { Array(receive[$0 * values.count..<($0 + 1) * values.count]) }
    }

    /// Every rank's string (cut to 255 bytes), in rank order.
    public func allgather(_ text: String) throws -> [String] {
        let width = 256
        var send = [UInt8](repeating: 0, count: width)
        for (i, b) in text.utf8.prefix(width - 1).enumerated() { send[i] = b }
        var receive = [UInt8](repeating: 0, count: width * size)
        try send.withUnsafeMutableBufferPointer { s in
            try receive.withUnsafeMutableBufferPointer { r in
                try wait({ MPI_Iallgather(s.baseAddress!, Int32(width), cmpi_byte(), r.baseAddress!, Int32(width),
                                          cmpi_byte(), comm, $0) }, "MPI_Iallgather")
            }
        }
        return (0..<size).map { k in
            let bytes = receive[k * width..<(k + 1) * width].prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    // MARK: gradient buckets

    /// Starts summing `count` floating-point values (4 bytes: Float, 8: Double) in place over all
    /// ranks on the gradient communicator.
    public func startAllreduceSum(_ values: UnsafeMutableRawPointer, count: Int, scalarBytes: Int,
                                  request: UnsafeMutablePointer<MPI_Request?>) throws {
        let type = scalarBytes == 4 ? cmpi_float() : cmpi_double()
        try check(MPI_Iallreduce(cmpi_in_place(), values, Int32(count), type, cmpi_sum(), gradientComm, request),
                  "MPI_Iallreduce")
    }

    // MARK: failure notes

    /// Tells rank 0 (from any other rank) why this rank is about to stop, then gives the note a
    /// moment to leave (at most `seconds`).
    public func sendFailureNote(_ reason: String, seconds: Double = 2) {
        guard rank != 0 else { return }
        var bytes = [UInt8](repeating: 0, count: Communicator.noteBytes)
        for (i, b) in reason.utf8.prefix(Communicator.noteBytes - 1).enumerated() { bytes[i] = b }
        var request: MPI_Request? = nil
        guard MPI_Isend(&bytes, Int32(bytes.count), cmpi_byte(), 0, Communicator.failureTag, controlComm, &request) == cmpi_success() else { return }
        var flag: Int32 = 0
        var waited = 0.0
        while flag == 0 && waited < seconds {
            MPI_Test(&request, &flag, cmpi_status_ignore())
            usleep(1000)
            waited += 0.001
        }
    }

    /// On rank 0: throws `PeerFailed` when another rank has sent a failure note.
    public func checkFailureNotes() throws {
        guard rank == 0, size > 1 else { return }
        var flag: Int32 = 0
        var status = MPI_Status()
        try check(MPI_Iprobe(cmpi_any_source(), Communicator.failureTag, controlComm, &flag, &status), "MPI_Iprobe")
        guard flag != 0 else { return }
        var bytes = [UInt8](repeating: 0, count: Communicator.noteBytes)
        try check(MPI_Recv(&bytes, Int32(bytes.count), cmpi_byte(), status.MPI_SOURCE, Communicator.failureTag,
                           controlComm, cmpi_status_ignore()), "MPI_Recv")
        throw PeerFailed(rank: Int(status.MPI_SOURCE), reason: String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self))
    }
}

