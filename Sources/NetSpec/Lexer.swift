/// Line-oriented tokenizer for architecture descriptions.
///
/// A description is a sequence of lines; `#` starts a comment. A line is split into words and the
/// punctuation `=`, `,`, `(` and `)`. Words keep their column so diagnostics can point at them.

public struct Token: Equatable, Sendable {
    public enum Kind: Equatable, Sendable { case word, equals, comma, open, close }
    public var kind: Kind
    public var text: String
    public var location: SourceLocation
}

public struct SourceLine: Sendable {
    public var number: Int
    public var tokens: [Token]
}

enum Lexer {
    static func lines(of text: String, file: String) -> [SourceLine] {
        var result: [SourceLine] = []
        var lineNumber = 0
        // "\r\n" is one Character in Swift, so CRLF line ends must be split on explicitly.
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            var tokens: [Token] = []
            var current = ""
            var currentStart = 0
            var column = 0
            func flush() {
                if !current.isEmpty {
                    tokens.append(Token(kind: .word, text: current,
                                        location: SourceLocation(file: file, line: lineNumber, column: currentStart)))
                    current = ""
                }
            }
            for ch in rawLine {
                column += 1
                if ch == "#" { break }
                if ch == "\r" { continue }
                let punct: Token.Kind? = switch ch {
                case "=": .equals
                case ",": .comma
                case "(": .open
                case ")": .close
                default: nil
                }
                if let punct {
                    flush()
                    tokens.append(Token(kind: punct, text: String(ch),
                                        location: SourceLocation(file: file, line: lineNumber, column: column)))
                } else if ch == " " || ch == "\t" {
                    flush()
                } else {
                    if current.isEmpty { currentStart = column }
                    current.append(ch)
                }
            }
            flush()
            if !tokens.isEmpty { result.append(SourceLine(number: lineNumber, tokens: tokens)) }
        }
        return result
    }
}
