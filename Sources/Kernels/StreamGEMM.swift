import CBLAS

/// A GEMM for few rows and many weights: C[m, n] = A[m, k]·B[k, n] with m small (batch-1 inference
/// in the late stages: 4×4 or 2×2 output positions against up to 4,608×512 weights).
///
/// Why not OpenBLAS: for such shapes the product is bound by reading B (the weights) once, and
/// OpenBLAS packs B into its panel layout on every call (read B, write the copy, read the copy), so a
/// batch-1 forward moved about three times the 94 MB of weights. Here each thread streams its own
/// column block of B straight from memory once: a tile of 32 columns is walked down k in blocks of
/// 256 rows, and every block is applied to all rows of A while it is in L1 (4 or 2 rows at a time,
/// each row's 32 sums kept in registers: see `streamFourRowTiles`).
@inlinable
public func streamGEMM(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                       c: UnsafeMutablePointer<Float>, ldc: Int, columns: Range<Int>,
                       fourRowTiles: Bool = streamFourRowTiles) {
    let kBlock = 256
    var j = columns.lowerBound
    while j + 32 <= columns.upperBound {
        var p0 = 0
        while p0 < k {
            let p1 = min(k, p0 + kBlock)
            var r = 0
            if fourRowTiles {
                while r + 4 <= m {
                    streamTile4(a + r * lda, lda: lda, b + j, ldb: ldb, c + r * ldc + j, ldc: ldc, p0: p0, p1: p1, accumulate: p0 > 0)
                    r += 4
                }
            }
            while r + 2 <= m {
                streamTile2(a + r * lda, lda: lda, b + j, ldb: ldb, c + r * ldc + j, ldc: ldc, p0: p0, p1: p1, accumulate: p0 > 0)
                r += 2
            }
            while r < m {
                streamTile1(a + r * lda, b + j, ldb: ldb, c + r * ldc + j, p0: p0, p1: p1, accumulate: p0 > 0)
                r += 1
            }
            p0 = p1
        }
        j += 32
    }
    // Columns left over (fewer than 32): plain loops.
    if j < columns.upperBound {
        for r in 0..<m {
            let cr = c + r * ldc, ar = a + r * lda
            for jj in j..<columns.upperBound { cr[jj] = 0 }
            for p in 0..<k {
                let v = ar[p], bp = b + p * ldb
                for jj in j..<columns.upperBound { cr[jj] += v * bp[jj] }
            }
        }
    }
}

@inlinable @inline(__always)
func streamTile4(_ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int, _ c: UnsafeMutablePointer<Float>,
                 ldc: Int, p0: Int, p1: Int, accumulate: Bool) {
    let cr = UnsafeMutableRawPointer(c)
    let row = 4 * ldc
    var c00 = SIMD16<Float>(), c01 = SIMD16<Float>(), c10 = SIMD16<Float>(), c11 = SIMD16<Float>()
    var c20 = SIMD16<Float>(), c21 = SIMD16<Float>(), c30 = SIMD16<Float>(), c31 = SIMD16<Float>()
    if accumulate {
        c00 = cr.loadUnaligned(as: SIMD16<Float>.self); c01 = cr.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
        c10 = cr.loadUnaligned(fromByteOffset: row, as: SIMD16<Float>.self)
        c11 = cr.loadUnaligned(fromByteOffset: row + 64, as: SIMD16<Float>.self)
        c20 = cr.loadUnaligned(fromByteOffset: 2 * row, as: SIMD16<Float>.self)
        c21 = cr.loadUnaligned(fromByteOffset: 2 * row + 64, as: SIMD16<Float>.self)
        c30 = cr.loadUnaligned(fromByteOffset: 3 * row, as: SIMD16<Float>.self)
        c31 = cr.loadUnaligned(fromByteOffset: 3 * row + 64, as: SIMD16<Float>.self)
    }
    let a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda
    var bp = UnsafeRawPointer(b + p0 * ldb)
    let step = 4 * ldb
    for p in p0..<p1 {
        let b0 = bp.loadUnaligned(as: SIMD16<Float>.self), b1 = bp.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
        let x0 = SIMD16<Float>(repeating: a0[p]), x1 = SIMD16<Float>(repeating: a1[p])
        let x2 = SIMD16<Float>(repeating: a2[p]), x3 = SIMD16<Float>(repeating: a3[p])
        multiplyAdd(&c00, x0, b0); multiplyAdd(&c01, x0, b1)
        multiplyAdd(&c10, x1, b0); multiplyAdd(&c11, x1, b1)
        multiplyAdd(&c20, x2, b0); multiplyAdd(&c21, x2, b1)
        multiplyAdd(&c30, x3, b0); multiplyAdd(&c31, x3, b1)
        bp += step
    }
    cr.storeBytes(of: c00, as: SIMD16<Float>.self); cr.storeBytes(of: c01, toByteOffset: 64, as: SIMD16<Float>.self)
    cr.storeBytes(of: c10, toByteOffset: row, as: SIMD16<Float>.self)
    cr.storeBytes(of: c11, toByteOffset: row + 64, as: SIMD16<Float>.self)
    cr.storeBytes(of: c20, toByteOffset: 2 * row, as: SIMD16<Float>.self)
    cr.storeBytes(of: c21, toByteOffset: 2 * row + 64, as: SIMD16<Float>.self)
    cr.storeBytes(of: c30, toByteOffset: 3 * row, as: SIMD16<Float>.self)
    cr.storeBytes(of: c31, toByteOffset: 3 * row + 64, as: SIMD16<Float>.self)
}

@inlinable @inline(__always)
func streamTile2(_ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int, _ c: UnsafeMutablePointer<Float>,
                 ldc: Int, p0: Int, p1: Int, accumulate: Bool) {
    let cr = UnsafeMutableRawPointer(c)
    let row = 4 * ldc
    var c00 = SIMD16<Float>(), c01 = SIMD16<Float>(), c10 = SIMD16<Float>(), c11 = SIMD16<Float>()
    if accumulate {
        c00 = cr.loadUnaligned(as: SIMD16<Float>.self); c01 = cr.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
        c10 = cr.loadUnaligned(fromByteOffset: row, as: SIMD16<Float>.self)
        c11 = cr.loadUnaligned(fromByteOffset: row + 64, as: SIMD16<Float>.self)
    }
    let a0 = a, a1 = a + lda
    var bp = UnsafeRawPointer(b + p0 * ldb)
    let step = 4 * ldb
    for p in p0..<p1 {
        let b0 = bp.loadUnaligned(as: SIMD16<Float>.self), b1 = bp.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
        let x0 = SIMD16<Float>(repeating: a0[p]), x1 = SIMD16<Float>(repeating: a1[p])
        multiplyAdd(&c00, x0, b0); multiplyAdd(&c01, x0, b1)
        multiplyAdd(&c10, x1, b0); multiplyAdd(&c11, x1, b1)
        bp += step
    }
    cr.storeBytes(of: c00, as: SIMD16<Float>.self); cr.storeBytes(of: c01, toByteOffset: 64, as: SIMD16<Float>.self)
    cr.storeBytes(of: c10, toByteOffset: row, as: SIMD16<Float>.self)
    cr.storeBytes(of: c11, toByteOffset: row + 64, as: SIMD16<Float>.self)
}

@inlinable @inline(__always)
func streamTile1(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, ldb: Int, _ c: UnsafeMutablePointer<Float>,
                 p0: Int, p1: Int, accumulate: Bool) {
    let cr = UnsafeMutableRawPointer(c)
    var c0 = SIMD16<Float>(), c1 = SIMD16<Float>()
    if accumulate {
        c0 = cr.loadUnaligned(as: SIMD16<Float>.self); c1 = cr.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
    }
    var bp = UnsafeRawPointer(b + p0 * ldb)
    let step = 4 * ldb
    for p in p0..<p1 {
        let x = SIMD16<Float>(repeating: a[p])
        multiplyAdd(&c0, x, bp.loadUnaligned(as: SIMD16<Float>.self))
        multiplyAdd(&c1, x, bp.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self))
        bp += step
    }
    cr.storeBytes(of: c0, as: SIMD16<Float>.self); cr.storeBytes(of: c1, toByteOffset: 64, as: SIMD16<Float>.self)
}

/// acc += x·y: one fused multiply-add where the target CPU has FMA; a multiply and an add where it
/// has not (the x86-64-v2 build), because there LLVM turns a fused multiply-add into a software
/// `fmaf` call per lane (batch-1 latency 180–251 ms, 15–17.5 ms without). The check folds at compile time.
@inlinable @inline(__always)
func multiplyAdd(_ acc: inout SIMD16<Float>, _ x: SIMD16<Float>, _ y: SIMD16<Float>) {
    if resnet_target_has_fma() != 0 { acc.addProduct(x, y) } else { acc += x * y }
}

/// Up to how many rows `gemmWithEpilogue` streams the weights instead of calling OpenBLAS. Measured
/// on the 2-core EPYC while other builds ran (single thread against OpenBLAS' AVX2 kernels on two):
/// 4×4608×512 1.90 vs 2.00 ms, 16×1024×256 0.34 vs 0.46 ms, 64×1152×128 0.32 vs 0.41 ms; on the
/// quiet machine, whole batch-1 forwards with OpenBLAS' AVX-512 kernels: 4.7–5.4 vs 6.2–9.1 ms. From
/// a few hundred rows on the product is bound by arithmetic and OpenBLAS' packed kernels win.
/// Without FMA in the target (the x86-64-v2 build), 0: there `streamGEMM`'s 16-wide accumulators
/// are SSE registers, which a 2-row tile overflows, and OpenBLAS' run-time kernels for the CPU do
/// better (v2 build, batch-1 latency on the Zen 5: 15.0–17.5 ms streamed, 6.3–6.6 ms with OpenBLAS).
public let streamGEMMMaximumRows = resnet_target_has_fma() != 0 ? 64 : 0

/// Whether `streamGEMM` works on 4 rows at a time (eight 16-wide accumulators, which fit AVX-512's
/// 32 vector registers) or 2 (which fit AVX2's 16; 4 rows there spill). Measured batch-1 latency on
/// a Zen 5: native AVX-512 build 4.9–5.4 ms with 4 rows vs 6.4–6.6 ms with 2; x86-64-v3 build
/// 10.1–10.4 ms with 4 rows vs 6.7–7.0 ms with 2. A portable v2/v3 build is AVX2 code whatever CPU
/// runs it; a native (or v4) build runs where its CPU's registers are, so the CPU decides.
public let streamFourRowTiles: Bool = {
    #if RESNET_TARGET_CPU_X86_64_V2 || RESNET_TARGET_CPU_X86_64_V3
    return false
    #else
    return BLASRuntime.cpuHasAVX512
    #endif
}()
