/// One aligned allocation that holds every buffer of a model: parameters, Adam moments, gradients,
/// activations kept for backward, BN statistics and workspaces. Generated code addresses it through
/// named views at literal byte offsets (like llm.c's parameter and activation structs).
public final class Arena: @unchecked Sendable {
    public let base: UnsafeMutableRawPointer
    public let byteCount: Int

    public init(byteCount: Int, alignment: Int = 64) {
        self.byteCount = byteCount
        base = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: alignment)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 1))
    }

    deinit { base.deallocate() }
}
