import Digest
import XCTest

/// FIPS 180-4 / NIST CSRC example vectors for SHA-256.
final class SHA256Tests: XCTestCase {
    func testEmptyString() {
        XCTAssertEqual(SHA256.hex(of: ""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        var h = SHA256()
        XCTAssertEqual(h.finalizeHex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    func testABC() {
        XCTAssertEqual(SHA256.hex(of: "abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let bytes: [UInt8] = Array("abc".utf8)
        let viaBuffer = bytes.withUnsafeBytes { SHA256.hex(of: $0) }
        XCTAssertEqual(viaBuffer, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        var h = SHA256()
        h.update(bytes)
        XCTAssertEqual(SHA256.hex(h.finalize()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    /// 448 bits: the padding no longer fits the first block, so a second block holds the length.
    func testTwoBlockMessage() {
        let message = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        XCTAssertEqual(message.utf8.count * 8, 448)
        XCTAssertEqual(SHA256.hex(of: message), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // The same message one byte at a time.
        var h = SHA256()
        for b in message.utf8 { h.update([b]) }
        XCTAssertEqual(h.finalizeHex(), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    /// The 896-bit NIST vector (two full blocks of input).
    func testLongTwoBlockMessage() {
        let message = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
        XCTAssertEqual(SHA256.hex(of: message), "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
    }

    /// One million 'a', streamed in chunks whose odd sizes straddle block boundaries in every way.
    func testOneMillionAStreamedInOddChunks() {
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        let sizes = [1, 7, 63, 64, 65, 127, 129, 333, 999, 55, 56, 57]
        var h = SHA256()
        var remaining = 1_000_000
        var k = 0
        chunk.withUnsafeBytes { raw in
            while remaining > 0 {
                let n = min(sizes[k % sizes.count], remaining)
                h.update(UnsafeRawBufferPointer(rebasing: raw[0..<n]))
                remaining -= n
                k += 1
            }
        }
        XCTAssertGreaterThan(k, 1000)
        XCTAssertEqual(h.finalizeHex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Padding boundaries: 55 bytes fits in one block, 56 needs two; cross-checked against a
    /// one-shot digest of the same bytes streamed differently.
    func testLengthsAroundPaddingBoundaryAgreeAcrossChunkings() {
        for length in [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128] {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            var oneShot = SHA256(); oneShot.update(bytes)
            var pieces = SHA256()
            var i = 0, step = 1
            while i < length { let j = min(length, i + step); pieces.update(bytes[i..<j]); i = j; step += 2 }
            XCTAssertEqual(oneShot.finalizeHex(), pieces.finalizeHex(), "length \(length)")
        }
        // Known digests of n × 'a' at the padding boundaries (from coreutils `sha256sum`): 55 bytes
        // leave exactly room for 0x80 and the length, 56 do not.
        let known: [Int: String] = [
            55: "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318",
            56: "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a",
            63: "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34",
            64: "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb",
            119: "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb",
            120: "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c",
        ]
        for (n, digest) in known.sorted(by: { $0.key < $1.key }) {
            XCTAssertEqual(SHA256.hex(of: String(repeating: "a", count: n)), digest, "\(n) × 'a'")
        }
    }
}
