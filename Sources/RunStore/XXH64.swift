/// XXH64 (xxHash, 64-bit, seed 0), streaming — the checksum stored with every weight snapshot.
///
/// The pure-Swift SHA-256 in `Digest` runs at roughly 200 MB/s, which alone would cap snapshot
/// writes and reads well below the 500 MB/s target; XXH64 runs at several GB/s in release builds
/// and is a published, widely implemented format (`xxhsum -H1`, Python `xxhash.xxh64`), so an
/// exported snapshot can be checked with standard tools. It detects corruption, not tampering.
public struct XXH64: Sendable {
    @usableFromInline static let p1: UInt64 = 11_400_714_785_074_694_791
    @usableFromInline static let p2: UInt64 = 14_029_467_366_897_019_727
    @usableFromInline static let p3: UInt64 = 1_609_587_929_392_839_161
    @usableFromInline static let p4: UInt64 = 9_650_029_242_287_828_579
    @usableFromInline static let p5: UInt64 = 2_870_177_450_012_600_261

    private var v1: UInt64, v2: UInt64, v3: UInt64, v4: UInt64
    private var total: UInt64 = 0
    private let seed: UInt64
    /// Bytes of an unfinished 32-byte stripe (only `pendingCount` are valid).
    private var pending: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    private var pendingCount = 0

    public init(seed: UInt64 = 0) {
        self.seed = seed
        v1 = seed &+ Self.p1 &+ Self.p2
        v2 = seed &+ Self.p2
        v3 = seed
        v4 = seed &- Self.p1
    }

    @inline(__always) static func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }
    @inline(__always) static func round(_ acc: UInt64, _ input: UInt64) -> UInt64 {
        rotl(acc &+ input &* p2, 31) &* p1
    }
    @inline(__always) static func merge(_ acc: UInt64, _ val: UInt64) -> UInt64 {
        (acc ^ round(0, val)) &* p1 &+ p4
    }

    /// Feeds bytes; any chunking gives the same digest.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        var p = base
        var n = bytes.count
        total &+= UInt64(n)
        if pendingCount > 0 {
            let take = min(32 - pendingCount, n)
            withUnsafeMutableBytes(of: &pending) { buf in
                buf.baseAddress!.advanced(by: pendingCount).copyMemory(from: p, byteCount: take)
            }
            pendingCount += take
            p += take
            n -= take
            if pendingCount < 32 { return }
            let stripe = pending
            withUnsafeBytes(of: stripe) { consumeStripes($0.baseAddress!, 1) }
            pendingCount = 0
        }
        let stripes = n / 32
        if stripes > 0 { consumeStripes(p, stripes) }
        p += stripes * 32
        n -= stripes * 32
        if n > 0 {
            withUnsafeMutableBytes(of: &pending) { buf in buf.baseAddress!.copyMemory(from: p, byteCount: n) }
            pendingCount = n
        }
    }

    @inline(__always) private mutating func consumeStripes(_ p: UnsafeRawPointer, _ count: Int) {
        var a = v1, b = v2, c = v3, d = v4
        var off = 0
        for _ in 0..<count {
            a = Self.round(a, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: off, as: UInt64.self)))
            b = Self.round(b, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: off + 8, as: UInt64.self)))
            c = Self.round(c, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: off + 16, as: UInt64.self)))
            d = Self.round(d, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: off + 24, as: UInt64.self)))
            off += 32
        }
        v1 = a; v2 = b; v3 = c; v4 = d
    }

    /// The digest of everything fed so far (the state is not consumed).
    public func digest() -> UInt64 {
        var h: UInt64
        if total >= 32 {
            h = Self.rotl(v1, 1) &+ Self.rotl(v2, 7) &+ Self.rotl(v3, 12) &+ Self.rotl(v4, 18)
            h = Self.merge(h, v1); h = Self.merge(h, v2); h = Self.merge(h, v3); h = Self.merge(h, v4)
        } else {
            h = seed &+ Self.p5
        }
        h &+= total
        var tail = pending
        let count = pendingCount
        withUnsafeBytes(of: &tail) { buf in
            let p = buf.baseAddress!
            var i = 0
            while i + 8 <= count {
                let k = Self.round(0, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
                h ^= k
                h = Self.rotl(h, 27) &* Self.p1 &+ Self.p4
                i += 8
            }
            if i + 4 <= count {
                h ^= UInt64(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt32.self))) &* Self.p1
                h = Self.rotl(h, 23) &* Self.p2 &+ Self.p3
                i += 4
            }
            while i < count {
                h ^= UInt64(p.load(fromByteOffset: i, as: UInt8.self)) &* Self.p5
                h = Self.rotl(h, 11) &* Self.p1
                i += 1
            }
        }
        h ^= h >> 33; h &*= Self.p2
        h ^= h >> 29; h &*= Self.p3
        h ^= h >> 32
        return h
    }

    /// The digest as 16 lowercase hex digits (the canonical `xxhsum` spelling).
    public func hexDigest() -> String { digest().hexString }

    public static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        if bytes.count == 0 { return XXH64().digest() }
        var h = XXH64(); h.update(bytes); return h.digest()
    }

    public static func hash(_ bytes: [UInt8]) -> UInt64 { bytes.withUnsafeBytes { hash($0) } }
}

extension UInt64 {
    /// 16 lowercase hex digits.
    public var hexString: String {
        let s = String(self, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
