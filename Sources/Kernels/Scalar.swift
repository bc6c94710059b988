/// The element types kernels run on (Float and Double) and their BLAS entry points.
///
/// Every kernel is `@inlinable` and generic over `NetScalar`, so the generated model module gets
/// a specialization per dtype with no dynamic dispatch in a training step.
import CBLAS
#if canImport(Glibc)
import Glibc
#endif

public protocol NetScalar: KerasUniformScalar, SIMDScalar, Codable, Sendable where Self.RawSignificand: FixedWidthInteger {
    /// Row-major C ← α·op(A)·op(B) + β·C.
    static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                     alpha: Self, a: UnsafePointer<Self>, lda: Int,
                     b: UnsafePointer<Self>, ldb: Int,
                     beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
}

extension Float: NetScalar {
    @inlinable @inline(__always)
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                            a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }
    @inlinable @inline(__always) public static func exp(_ x: Float) -> Float { expf(x) }
    @inlinable @inline(__always) public static func log(_ x: Float) -> Float { logf(x) }
}

extension Double: NetScalar {
    @inlinable @inline(__always)
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double,
                            a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
                            beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int) {
        cblas_dgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }
    @inlinable @inline(__always) public static func exp(_ x: Double) -> Double { Glibc.exp(x) }
    @inlinable @inline(__always) public static func log(_ x: Double) -> Double { Glibc.log(x) }
}

/// OpenBLAS' thread count and kernel family (the GEMMs are where the time goes).
public enum BLASThreads {
    public static func set(_ n: Int) {
        BLASRuntime.configure()
        openblas_set_num_threads(Int32(n))
    }
}

public enum BLASRuntime {
    /// The OpenBLAS kernel family in use, e.g. "SkylakeX".
    public static var coreName: String {
        configure()
        return openblas_get_corename().map { String(cString: $0) } ?? "unknown"
    }

    nonisolated(unsafe) private static var configured = false

    /// OPENBLAS_CORETYPE as the process found it (before `configure` may set it), or nil.
    public static let coreTypeFromEnvironment: String? = getenv("OPENBLAS_CORETYPE").map { String(cString: $0) }

    /// Whether the CPU (and the OS, which libgcc checks) support the AVX-512 subset that OpenBLAS'
    /// SkylakeX kernels use.
    public static var cpuHasAVX512: Bool { resnet_cpu_has_avx512_skx() != 0 }

    /// The OpenBLAS kernel families that use AVX-512.
    public static let avx512Cores: Set<String> = ["skylakex", "cooperlake", "sapphirerapids"]

    /// A one-line warning when the environment holds OpenBLAS to kernels narrower than the CPU's:
    /// OPENBLAS_CORETYPE=Haswell (AVX2) on an AVX-512 CPU halves sgemm (73–104 against 168–198
    /// GFLOP/s measured on a 2-core AMD EPYC Zen 5). Nil when nothing is forced or nothing is lost.
    public static var environmentWarning: String? {
        guard let forced = coreTypeFromEnvironment, cpuHasAVX512,
              !avx512Cores.contains(coreName.lowercased()) else { return nil }
        return "OPENBLAS_CORETYPE=\(forced) holds OpenBLAS to \(coreName) kernels on this AVX-512 CPU; "
            + "unset it to let OpenBLAS use its AVX-512 kernels (about twice the sgemm throughput)"
    }

    /// When OpenBLAS did not recognize the CPU and fell back to its generic SSE3 kernels, selects
    /// the AVX-512 (SkylakeX) or AVX2 (Haswell) kernels the CPU does support. An explicit
    /// OPENBLAS_CORETYPE from the user is left alone. Called before the first GEMM.
    public static func configure() {
        if configured { return }
        configured = true
        guard getenv("OPENBLAS_CORETYPE") == nil,
              let name = openblas_get_corename().map({ String(cString: $0).lowercased() }),
              name == "prescott" || name == "unknown" else { return }
        let target: String
        if cpuHasAVX512 { target = "SkylakeX" }
        else if resnet_cpu_has_avx2_fma() != 0 { target = "Haswell" }
        else { return }
        setenv("OPENBLAS_CORETYPE", target, 1)
        gotoblas_dynamic_quit()
        gotoblas_dynamic_init()
    }
}
