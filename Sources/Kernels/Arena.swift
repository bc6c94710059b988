/// One aligned allocation that holds every buffer of a model: parameters, Adam moments, gradients,
/// activations kept for backward, BN statistics and workspaces. Generated code addresses it through
/// named views at literal byte offsets (like llm.c's parameter and activation structs).
///
/// The memory is an anonymous mapping: zero-filled by the kernel and resident only once touched.
/// So a model used for inference (`predict`, `evaluate`) pays in RSS for its parameters and the
/// activations of the batch it runs, not for the gradients, Adam moments and capacity-sized
/// buffers of training it never touches (ResNet-50: a 695 MB arena).
#if canImport(Glibc)
import Glibc
#endif

public final class Arena: @unchecked Sendable {
    public let base: UnsafeMutableRawPointer
    public let byteCount: Int
    private let mappedBytes: Int

    /// `alignment` must divide the page size (every kernel needs at most 64).
    public init(byteCount: Int, alignment: Int = 64) {
        self.byteCount = byteCount
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        if page % alignment != 0 { fatalError("Arena: alignment \(alignment) does not divide the page size \(page)") }
        mappedBytes = max(byteCount, 1)
        guard let p = mmap(nil, mappedBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              p != MAP_FAILED else {
            fatalError("Arena: cannot map \(byteCount) bytes: \(String(cString: strerror(errno)))")
        }
        base = p
    }

    deinit { munmap(base, mappedBytes) }
}
