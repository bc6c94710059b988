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
        if resnet_cpu_has_avx512f() != 0 { target = "SkylakeX" }
        else if resnet_cpu_has_avx2_fma() != 0 { target = "Haswell" }
        else { return }
        setenv("OPENBLAS_CORETYPE", target, 1)
        gotoblas_dynamic_quit()
        gotoblas_dynamic_init()
    }
}
