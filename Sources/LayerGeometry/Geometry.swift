/// Literal geometry of the layers that have one, shared by the planner (which computes it from the
/// description and prints it into the generated code) and the kernels (which take it as an
/// argument). One definition, so the two can never disagree on what a field means.
///
/// Pure Swift with no dependencies: the build plugin's generator links it without OpenBLAS.

/// A convolution over an NHWC input, kernel (kh, kw, cin, cout) as Keras stores it.
public struct ConvGeometry: Hashable, Sendable {
    public var inH: Int, inW: Int, inC: Int
    public var outH: Int, outW: Int, outC: Int
    public var kH: Int, kW: Int, strideH: Int, strideW: Int
    /// Zero padding before the first row/column; padding after the last is implied by out sizes.
    public var padTop: Int, padLeft: Int

    @inlinable
    public init(inH: Int, inW: Int, inC: Int, outH: Int, outW: Int, outC: Int,
                kH: Int, kW: Int, strideH: Int, strideW: Int, padTop: Int, padLeft: Int) {
        self.inH = inH; self.inW = inW; self.inC = inC
        self.outH = outH; self.outW = outW; self.outC = outC
        self.kH = kH; self.kW = kW; self.strideH = strideH; self.strideW = strideW
        self.padTop = padTop; self.padLeft = padLeft
    }

    /// Rows of the kernel matrix: KH·KW·Cin.
    @inlinable public var patch: Int { kH * kW * inC }
    /// A 1×1 stride-1 unpadded convolution: a plain GEMM on the activation, no im2col.
    @inlinable public var isPointwise: Bool {
        kH == 1 && kW == 1 && strideH == 1 && strideW == 1 && padTop == 0 && padLeft == 0
            && inH == outH && inW == outW
    }
    /// Elements of im2col workspace per sample.
    @inlinable public var columnElementsPerSample: Int { outH * outW * patch }
}

/// Max or average pooling without padding, NHWC.
public struct PoolGeometry: Hashable, Sendable {
    public var inH: Int, inW: Int, channels: Int, outH: Int, outW: Int
    public var poolH: Int, poolW: Int, strideH: Int, strideW: Int

    @inlinable
    public init(inH: Int, inW: Int, channels: Int, outH: Int, outW: Int, poolH: Int, poolW: Int, strideH: Int, strideW: Int) {
        self.inH = inH; self.inW = inW; self.channels = channels; self.outH = outH; self.outW = outW
        self.poolH = poolH; self.poolW = poolW; self.strideH = strideH; self.strideW = strideW
    }
}

/// Zero padding of an NHWC input (Keras' ZeroPadding2D).
public struct PadGeometry: Hashable, Sendable {
    public var height: Int, width: Int, channels: Int
    public var top: Int, bottom: Int, left: Int, right: Int

    @inlinable
    public init(height: Int, width: Int, channels: Int, top: Int, bottom: Int, left: Int, right: Int) {
        self.height = height; self.width = width; self.channels = channels
        self.top = top; self.bottom = bottom; self.left = left; self.right = right
    }
}
