/// How many terminal columns text takes: per Unicode scalar, 2 for East Asian Wide and Fullwidth
/// characters (CJK ideographs, kana, Hangul syllables, fullwidth forms, most emoji), 0 for
/// combining marks, format characters and controls, 1 for everything else — the rule of POSIX
/// `wcwidth` that terminals follow. ANSI escape sequences (ESC [ … letter) take no columns, so
/// styled text measures like plain text.
public enum DisplayWidth {
    /// Columns of one scalar.
    public static func of(_ scalar: Unicode.Scalar) -> Int {
        let v = scalar.value
        if v < 0x20 || (v >= 0x7F && v < 0xA0) { return 0 }
        if v < 0x300 { return 1 }  // Latin, fast path (no marks or wide characters below U+0300)
        if v >= 0x1160 && v <= 0x11FF { return 0 }  // Hangul jamo vowels and finals join the leading consonant
        if v == 0xAD { return 1 }
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format: return 0
        default: break
        }
        return isWide(v) ? 2 : 1
    }

    /// Columns of a string (the sum over its scalars; escape sequences take none).
    public static func of(_ text: String) -> Int {
        var width = 0
        var escape = false, csi = false
        for scalar in text.unicodeScalars {
            if escape {
                // ESC [ parameters… final byte (0x40–0x7E); a lone ESC followed by one byte.
                if !csi && scalar == "[" { csi = true; continue }
                if !csi || (scalar.value >= 0x40 && scalar.value <= 0x7E) { escape = false; csi = false }
                continue
            }
            if scalar.value == 0x1B { escape = true; continue }
            width += of(scalar)
        }
        return width
    }

    /// `text` cut to at most `width` columns; when it had to be cut, its last column is `…`.
    public static func truncate(_ text: String, to width: Int) -> String {
        guard of(text) > width else { return text }
        guard width > 0 else { return "" }
        var out = "", used = 0
        for character in text {
            let w = of(String(character))
            if used + w > width - 1 { break }
            out.append(character)
            used += w
        }
        return out + "…"
    }

    /// `text` followed (`.left`) or preceded (`.right`) by spaces up to `width` columns.
    public static func pad(_ text: String, to width: Int, right: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, width - of(text)))
        return right ? fill + text : text + fill
    }

    /// Lines of at most `width` columns, broken at spaces (a word longer than a line is broken
    /// where the line ends, so nothing is lost); continuation lines start with `indent` instead of
    /// the spaces that preceded their first word. Existing line breaks are kept.
    public static func wrap(_ text: String, width: Int, indent: String = "") -> [String] {
        let width = max(width, of(indent) + 1)
        var lines: [String] = []
        for paragraph in text.split(separator: "\n", omittingEmptySubsequences: false) {
            // Words with the spaces in front of them.
            var chunks: [(spaces: String, word: String)] = []
            var spaces = "", word = ""
            for character in paragraph {
                if character == " " {
                    if !word.isEmpty { chunks.append((spaces, word)); spaces = ""; word = "" }
                    spaces.append(character)
                } else {
                    word.append(character)
                }
            }
            if !word.isEmpty || !spaces.isEmpty || chunks.isEmpty { chunks.append((spaces, word)) }
            var line = "", used = 0, hasWord = false
            func newLine() {
                lines.append(line)
                line = indent
                used = of(indent)
                hasWord = false
            }
            for chunk in chunks {
                var piece = chunk.spaces + chunk.word
                if hasWord && used + of(piece) > width {
                    newLine()
                    piece = chunk.word
                }
                // A word wider than what is left of the line: break it.
                while used + of(piece) > width {
                    var head = "", headWidth = 0
                    for character in piece {
                        let w = of(String(character))
                        if used + headWidth + w > width { break }
                        head.append(character)
                        headWidth += w
                    }
                    if head.isEmpty && hasWord { newLine(); piece = String(piece.drop { $0 == " " }); continue }
                    if head.isEmpty { head = String(piece.prefix(1)); headWidth = of(head) }
                    line += head
                    used += headWidth
                    hasWord = true
                    piece = String(piece.dropFirst(head.count))
                    newLine()
                }
                line += piece
                used += of(piece)
                if !chunk.word.isEmpty { hasWord = true }
            }
            lines.append(line)
        }
        return lines
    }

    /// East Asian Width W or F (Unicode 14, assigned characters, plus the CJK blocks' reserved
    /// code points, which are wide by default).
    static func isWide(_ v: UInt32) -> Bool {
        if v < 0x1100 { return false }
        var lo = 0, hi = wide.count - 1
        while lo <= hi {
            let mid = (lo + hi) / 2
            if v < wide[mid].lowerBound { hi = mid - 1 }
            else if v > wide[mid].upperBound { lo = mid + 1 }
            else { return true }
        }
        return false
    }

    /// Generated from Python's `unicodedata` (Unicode 14.0): `east_asian_width(c) in ('W', 'F')`
    /// for assigned characters, merged into ranges.
    static let wide: [ClosedRange<UInt32>] = [
        0x1100...0x115F, 0x231A...0x231B, 0x2329...0x232A, 0x23E9...0x23EC, 0x23F0...0x23F0, 0x23F3...0x23F3,
        0x25FD...0x25FE, 0x2614...0x2615, 0x2648...0x2653, 0x267F...0x267F, 0x2693...0x2693, 0x26A1...0x26A1,
        0x26AA...0x26AB, 0x26BD...0x26BE, 0x26C4...0x26C5, 0x26CE...0x26CE, 0x26D4...0x26D4, 0x26EA...0x26EA,
        0x26F2...0x26F3, 0x26F5...0x26F5, 0x26FA...0x26FA, 0x26FD...0x26FD, 0x2705...0x2705, 0x270A...0x270B,
        0x2728...0x2728, 0x274C...0x274C, 0x274E...0x274E, 0x2753...0x2755, 0x2757...0x2757, 0x2795...0x2797,
        0x27B0...0x27B0, 0x27BF...0x27BF, 0x2B1B...0x2B1C, 0x2B50...0x2B50, 0x2B55...0x2B55, 0x2E80...0x2E99,
        0x2E9B...0x2EF3, 0x2F00...0x2FD5, 0x2FF0...0x2FFB, 0x3000...0x303E, 0x3041...0x3096, 0x3099...0x30FF,
        0x3105...0x312F, 0x3131...0x318E, 0x3190...0x31E3, 0x31F0...0x321E, 0x3220...0x3247, 0x3250...0x4DBF,
        0x4E00...0xA48C, 0xA490...0xA4C6, 0xA960...0xA97C, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE10...0xFE19,
        0xFE30...0xFE52, 0xFE54...0xFE66, 0xFE68...0xFE6B, 0xFF01...0xFF60, 0xFFE0...0xFFE6, 0x16FE0...0x16FE4,
        0x16FF0...0x16FF1, 0x17000...0x187F7, 0x18800...0x18CD5, 0x18D00...0x18D08, 0x1AFF0...0x1AFF3, 0x1AFF5...0x1AFFB,
        0x1AFFD...0x1AFFE, 0x1B000...0x1B122, 0x1B150...0x1B152, 0x1B164...0x1B167, 0x1B170...0x1B2FB, 0x1F004...0x1F004,
        0x1F0CF...0x1F0CF, 0x1F18E...0x1F18E, 0x1F191...0x1F19A, 0x1F200...0x1F202, 0x1F210...0x1F23B, 0x1F240...0x1F248,
        0x1F250...0x1F251, 0x1F260...0x1F265, 0x1F300...0x1F320, 0x1F32D...0x1F335, 0x1F337...0x1F37C, 0x1F37E...0x1F393,
        0x1F3A0...0x1F3CA, 0x1F3CF...0x1F3D3, 0x1F3E0...0x1F3F0, 0x1F3F4...0x1F3F4, 0x1F3F8...0x1F43E, 0x1F440...0x1F440,
        0x1F442...0x1F4FC, 0x1F4FF...0x1F53D, 0x1F54B...0x1F54E, 0x1F550...0x1F567, 0x1F57A...0x1F57A, 0x1F595...0x1F596,
        0x1F5A4...0x1F5A4, 0x1F5FB...0x1F64F, 0x1F680...0x1F6C5, 0x1F6CC...0x1F6CC, 0x1F6D0...0x1F6D2, 0x1F6D5...0x1F6D7,
        0x1F6DD...0x1F6DF, 0x1F6EB...0x1F6EC, 0x1F6F4...0x1F6FC, 0x1F7E0...0x1F7EB, 0x1F7F0...0x1F7F0, 0x1F90C...0x1F93A,
        0x1F93C...0x1F945, 0x1F947...0x1F9FF, 0x1FA70...0x1FA74, 0x1FA78...0x1FA7C, 0x1FA80...0x1FA86, 0x1FA90...0x1FAAC,
        0x1FAB0...0x1FABA, 0x1FAC0...0x1FAC5, 0x1FAD0...0x1FAD9, 0x1FAE0...0x1FAE7, 0x1FAF0...0x1FAF6, 0x20000...0x2FFFD,
        0x30000...0x3FFFD,
    ]
}
