/// Parser: source lines → syntax tree of a description.
///
/// ```
/// model    resnet50-signs          # header: model, input, classes, capacity, dtype
/// input    64 64 3
/// template identity_block(stage, block, f, filters)
///   conv2d res{stage}{block}_branch2a filters=filters[0] kernel=1
///   ...
/// end
/// conv2d conv1 filters=64 kernel=7 stride=2    # layer: OP [NAME] key=value ...
/// use identity_block stage=2 block=b f=3 filters=64,64,256
/// ```

public struct Argument: Sendable {
    public var key: Token
    /// One or more comma-separated words (`filters=64,64,256`).
    public var values: [Token]
}

public enum Statement: Sendable {
    /// `OP [NAME] key=value...`
    case layer(op: Token, name: Token?, arguments: [Argument])
    /// `use TEMPLATE key=value...`
    case use(keyword: Token, template: Token, arguments: [Argument])
}

public struct TemplateDecl: Sendable {
    public var name: Token
    public var parameters: [Token]
    public var body: [Statement]
}

public struct HeaderField: Sendable {
    public var key: Token
    public var values: [Token]
}

public struct DescriptionSyntax: Sendable {
    public var file: String
    public var header: [String: HeaderField] = [:]
    public var templates: [String: TemplateDecl] = [:]
    public var templateOrder: [String] = []
    public var body: [Statement] = []
}

public enum Parser {
    static let headerKeys: Set<String> = ["model", "input", "classes", "capacity", "dtype"]

    public static func parse(_ text: String, file: String) throws -> DescriptionSyntax {
        var syntax = DescriptionSyntax(file: file)
        let lines = Lexer.lines(of: text, file: file)
        var index = 0
        var currentTemplate: TemplateDecl?
        var templateStart: SourceLocation?
        while index < lines.count {
            let line = lines[index]
            index += 1
            let first = line.tokens[0]
            guard first.kind == .word else {
                throw NetSpecError(first.location, "a line must start with a keyword or a layer type, not '\(first.text)'.")
            }
            switch first.text {
            case "template":
                if currentTemplate != nil {
                    throw NetSpecError(first.location, "templates cannot be nested; close the template above with 'end' first.")
                }
                currentTemplate = try parseTemplateHeader(line)
                templateStart = first.location
            case "end":
                guard let template = currentTemplate else {
                    throw NetSpecError(first.location, "'end' without an open 'template'; remove it or add the template header above.")
                }
                if line.tokens.count > 1 {
                    throw NetSpecError(line.tokens[1].location, "unexpected '\(line.tokens[1].text)' after 'end'.")
                }
                if template.body.isEmpty {
                    throw NetSpecError(template.name.location, "template '\(template.name.text)' has no layers; add layers between its header and 'end'.")
                }
                if let existing = syntax.templates[template.name.text] {
                    throw NetSpecError(template.name.location, "template '\(template.name.text)' is already defined at line \(existing.name.location.line); rename one of them.")
                }
                syntax.templates[template.name.text] = template
                syntax.templateOrder.append(template.name.text)
                currentTemplate = nil
            case let key where headerKeys.contains(key):
                if currentTemplate != nil {
                    throw NetSpecError(first.location, "'\(key)' belongs in the model header, not inside template '\(currentTemplate!.name.text)'.")
                }
                if let existing = syntax.header[key] {
                    throw NetSpecError(first.location, "'\(key)' is already given at line \(existing.key.location.line); keep one.")
                }
                let values = Array(line.tokens.dropFirst())
                if let bad = values.first(where: { $0.kind != .word }) {
                    throw NetSpecError(bad.location, "'\(key)' takes space-separated values; remove '\(bad.text)'.")
                }
                if values.isEmpty {
                    throw NetSpecError(first.location, "'\(key)' needs a value.")
                }
                syntax.header[key] = HeaderField(key: first, values: values)
            default:
                let statement = try parseStatement(line)
                if currentTemplate != nil { currentTemplate!.body.append(statement) } else { syntax.body.append(statement) }
            }
        }
        if let open = currentTemplate, let start = templateStart {
            throw NetSpecError(start, "template '\(open.name.text)' is never closed; add 'end' after its last layer.")
        }
        return syntax
    }

    static func parseTemplateHeader(_ line: SourceLine) throws -> TemplateDecl {
        let t = line.tokens
        guard t.count >= 2, t[1].kind == .word else {
            throw NetSpecError(t[0].location, "'template' needs a name and a parameter list, e.g. 'template identity_block(stage, block, f, filters)'.")
        }
        let name = t[1]
        guard isIdentifier(name.text) else {
            throw NetSpecError(name.location, "template name '\(name.text)' must be letters, digits and '_'.")
        }
        var parameters: [Token] = []
        guard t.count >= 3, t[2].kind == .open else {
            throw NetSpecError(name.location, "template '\(name.text)' needs a parameter list in parentheses after its name.")
        }
        var i = 3
        var expectParameter = true
        while i < t.count, t[i].kind != .close {
            let token = t[i]
            if expectParameter {
                guard token.kind == .word, isIdentifier(token.text) else {
                    throw NetSpecError(token.location, "expected a parameter name in template '\(name.text)', found '\(token.text)'.")
                }
                if parameters.contains(where: { $0.text == token.text }) {
                    throw NetSpecError(token.location, "parameter '\(token.text)' appears twice in template '\(name.text)'.")
                }
                parameters.append(token)
            } else if token.kind != .comma {
                throw NetSpecError(token.location, "expected ',' or ')' in the parameter list of '\(name.text)', found '\(token.text)'.")
            }
            expectParameter.toggle()
            i += 1
        }
        guard i < t.count else {
            throw NetSpecError(t[t.count - 1].location, "the parameter list of template '\(name.text)' is missing its closing ')'.")
        }
        if i + 1 < t.count {
            throw NetSpecError(t[i + 1].location, "unexpected '\(t[i + 1].text)' after the parameter list of '\(name.text)'.")
        }
        return TemplateDecl(name: name, parameters: parameters, body: [])
    }

    static func parseStatement(_ line: SourceLine) throws -> Statement {
        let t = line.tokens
        let head = t[0]
        var i = 1
        if head.text == "use" {
            guard t.count >= 2, t[1].kind == .word, (t.count == 2 || t[2].kind != .equals) else {
                throw NetSpecError(head.location, "'use' needs a template name, e.g. 'use identity_block stage=2 block=b f=3 filters=64,64,256'.")
            }
            let arguments = try parseArguments(t, from: 2)
            return .use(keyword: head, template: t[1], arguments: arguments)
        }
        var name: Token?
        if i < t.count, t[i].kind == .word, !(i + 1 < t.count && t[i + 1].kind == .equals) {
            name = t[i]
            i += 1
        }
        return .layer(op: head, name: name, arguments: try parseArguments(t, from: i))
    }

    static func parseArguments(_ t: [Token], from start: Int) throws -> [Argument] {
        var arguments: [Argument] = []
        var i = start
        while i < t.count {
            let key = t[i]
            guard key.kind == .word, i + 1 < t.count, t[i + 1].kind == .equals else {
                throw NetSpecError(key.location, "expected 'key=value', found '\(key.text)'; a layer line is 'TYPE [NAME] key=value ...'.")
            }
            i += 2
            var values: [Token] = []
            while true {
                guard i < t.count, t[i].kind == .word else {
                    let at = i < t.count ? t[i].location : t[i - 1].location
                    throw NetSpecError(at, "'\(key.text)=' needs a value.")
                }
                values.append(t[i])
                i += 1
                if i < t.count, t[i].kind == .comma { i += 1 } else { break }
            }
            if let previous = arguments.first(where: { $0.key.text == key.text }) {
                throw NetSpecError(key.location, "'\(key.text)' is given twice on this line (first at column \(previous.key.location.column)).")
            }
            arguments.append(Argument(key: key, values: values))
        }
        return arguments
    }

    static func isIdentifier(_ s: String) -> Bool {
        guard let f = s.unicodeScalars.first, f == "_" || f.properties.isAlphabetic else { return false }
        return s.unicodeScalars.allSatisfy { $0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0) }
    }
}
