/// Builder: syntax tree → validated `Network`.
///
/// Expands template instantiations (`use`), evaluates arguments (`filters=filters[2]`,
/// `res{stage}{block}_branch2a`), assigns Keras-style automatic names (`activation_3`), resolves
/// inputs by name (a layer takes the previous layer's output unless it says `from=`), rejects
/// cycles, orders the DAG topologically and infers every shape.
import Digest

public enum NetSpecLoader {
    /// Parses and validates a description. Throws `NetSpecError` with a precise location.
    public static func load(text: String, file: String) throws -> Network {
        let syntax = try Parser.parse(text, file: file)
        var builder = Builder(syntax: syntax)
        var network = try builder.build()
        network.sha256 = SHA256.hex(of: text)
        return network
    }

    public static func load(path: String, displayName: String? = nil) throws -> Network {
        let text: String
        do { text = try readFile(path) } catch {
            throw NetSpecError(SourceLocation(file: displayName ?? path, line: 1, column: 1), "cannot read the description file: \(error).")
        }
        return try load(text: text, file: displayName ?? path)
    }
}

enum Value: CustomStringConvertible {
    case int(Int)
    case real(Double)
    case list([Int])
    case text(String)

    var description: String {
        switch self {
        case let .int(v): "\(v)"
        case let .real(v): "\(v)"
        case let .list(v): v.map(String.init).joined(separator: ",")
        case let .text(v): v
        }
    }
}

/// A layer after template expansion, before its inputs are resolved.
struct RawLayer {
    var name: String
    var nameLocation: SourceLocation
    var op: Token
    var arguments: [String: (Argument, [Value])]
    var inputNames: [(String, SourceLocation)]
    var useSite: SourceLocation?
    var useTemplate: String?
    var useArguments: [String: Value] = [:]
    /// True for the template's input reference in `from=` (used to word identity-block errors).
    var fromTemplateInput: [Bool] = []
}

struct Builder {
    let syntax: DescriptionSyntax
    var raw: [RawLayer] = []
    var autoNameCounters: [String: Int] = [:]
    var usedNames: [String: SourceLocation] = [:]
    static let inputName = "input_layer"

    static let ops: [String: (fields: Set<String>, required: [String], autoName: String)] = [
        "zeropad": (["padding", "from"], ["padding"], "zero_padding2d"),
        "conv2d": (["filters", "kernel", "stride", "padding", "bias", "from"], ["filters", "kernel"], "conv2d"),
        "batchnorm": (["momentum", "epsilon", "from"], [], "batch_normalization"),
        "relu": (["from"], [], "activation"),
        "add": (["from"], ["from"], "add"),
        "maxpool": (["pool", "stride", "from"], ["pool"], "max_pooling2d"),
        "avgpool": (["pool", "stride", "from"], ["pool"], "average_pooling2d"),
        "flatten": (["from"], [], "flatten"),
        "dense": (["units", "activation", "from"], ["units"], "dense"),
    ]

    init(syntax: DescriptionSyntax) { self.syntax = syntax }

    var file: String { syntax.file }

    // MARK: header

    func headerField(_ key: String) throws -> HeaderField {
        guard let field = syntax.header[key] else {
            let example = ["model": "model resnet50-signs", "input": "input 64 64 3", "classes": "classes 6",
                           "capacity": "capacity 32", "dtype": "dtype float32"][key]!
            throw NetSpecError(SourceLocation(file: file, line: 1, column: 1),
                               "the description has no '\(key)' line; add one to the header, e.g. '\(example)'.")
        }
        return field
    }

    func positiveInts(_ field: HeaderField, count: Int, what: String) throws -> [Int] {
        guard field.values.count == count else {
            throw NetSpecError(field.key.location, "'\(field.key.text)' takes \(count) value\(count == 1 ? "" : "s") (\(what)), found \(field.values.count).")
        }
        return try field.values.map { token in
            guard let v = Int(token.text) else {
                throw NetSpecError(token.location, "'\(token.text)' is not a whole number; '\(field.key.text)' takes \(what).")
            }
            guard v > 0 else {
                throw NetSpecError(token.location, "'\(field.key.text)' must be positive, found \(v).")
            }
            return v
        }
    }

    // MARK: build

    mutating func build() throws -> Network {
        for key in syntax.header.keys.sorted() where !Parser.headerKeys.contains(key) {
            throw NetSpecError(syntax.header[key]!.key.location, "unknown header field '\(key)'.")
        }
        let modelField = try headerField("model")
        guard modelField.values.count == 1 else {
            throw NetSpecError(modelField.key.location, "'model' takes one name, e.g. 'model resnet50-signs'.")
        }
        let input = try positiveInts(try headerField("input"), count: 3, what: "height width channels")
        let classes = try positiveInts(try headerField("classes"), count: 1, what: "the number of classes")[0]
        let capacity = try positiveInts(try headerField("capacity"), count: 1, what: "the largest batch the model is compiled for")[0]
        let dtypeField = try headerField("dtype")
        var dtypes: [DType] = []
        for token in dtypeField.values {
            guard let d = DType(rawValue: token.text) else {
                throw NetSpecError(token.location, "unknown dtype '\(token.text)'; use float32 or float64 (or both).")
            }
            if dtypes.contains(d) { throw NetSpecError(token.location, "dtype '\(token.text)' is listed twice.") }
            dtypes.append(d)
        }
        if syntax.body.isEmpty {
            throw NetSpecError(modelField.key.location, "the model has no layers; add layer lines after the header.")
        }

        usedNames[Self.inputName] = modelField.key.location
        let env: [String: Value] = ["classes": .int(classes), "capacity": .int(capacity)]
        var previous = Self.inputName
        try expand(syntax.body, env: env, templateInput: Self.inputName, previous: &previous,
                   useSite: nil, useTemplate: nil, useArguments: [:], depth: 0)

        var network = Network(name: modelField.values[0].text, file: file, sha256: "", inputShape: input,
                              classes: classes, capacity: capacity, dtypes: dtypes, layers: [])
        try resolveAndInfer(&network)
        return network
    }

    // MARK: expansion

    mutating func expand(_ statements: [Statement], env: [String: Value], templateInput: String,
                         previous: inout String, useSite: SourceLocation?, useTemplate: String?,
                         useArguments: [String: Value], depth: Int) throws {
        for statement in statements {
            switch statement {
            case let .use(keyword, templateToken, arguments):
                guard let template = syntax.templates[templateToken.text] else {
                    let known = syntax.templateOrder.isEmpty ? "none is defined" : "defined: " + syntax.templateOrder.joined(separator: ", ")
                    throw error(templateToken.location, "unknown template '\(templateToken.text)' (\(known)); define it with 'template \(templateToken.text)(...)' … 'end' or fix the name.", useSite, useTemplate)
                }
                guard depth < 16 else {
                    throw error(keyword.location, "template '\(template.name.text)' instantiates itself (directly or through another template); templates cannot recurse.", useSite, useTemplate)
                }
                var inner: [String: Value] = [:]
                for argument in arguments {
                    guard template.parameters.contains(where: { $0.text == argument.key.text }) else {
                        let list = template.parameters.map(\.text).joined(separator: ", ")
                        throw error(argument.key.location, "template '\(template.name.text)' has no parameter '\(argument.key.text)'; its parameters are \(list).", useSite, useTemplate)
                    }
                    let values = try argument.values.map { try evaluate($0, env: env, useSite: useSite, useTemplate: useTemplate) }
                    if values.count == 1 { inner[argument.key.text] = values[0] } else {
                        inner[argument.key.text] = .list(try values.map { v in
                            guard case let .int(i) = v else {
                                throw error(argument.values[0].location, "a list value must hold whole numbers, e.g. filters=64,64,256.", useSite, useTemplate)
                            }
                            return i
                        })
                    }
                }
                for parameter in template.parameters where inner[parameter.text] == nil {
                    throw error(templateToken.location, "use of '\(template.name.text)' is missing '\(parameter.text)='; add it to this line.", useSite, useTemplate)
                }
                let site = useSite ?? keyword.location
                let siteTemplate = useTemplate ?? template.name.text
                let siteArguments = useSite == nil ? inner : useArguments
                let blockInput = previous
                try expand(template.body, env: inner, templateInput: blockInput, previous: &previous,
                           useSite: site, useTemplate: siteTemplate, useArguments: siteArguments, depth: depth + 1)

            case let .layer(op, nameToken, arguments):
                guard let schema = Self.ops[op.text] else {
                    let known = Self.ops.keys.sorted().joined(separator: ", ")
                    let hint = syntax.templates[op.text] != nil ? " ('\(op.text)' is a template: write 'use \(op.text) …')" : ""
                    throw error(op.location, "unknown layer type '\(op.text)'\(hint); known types: \(known).", useSite, useTemplate)
                }
                var evaluated: [String: (Argument, [Value])] = [:]
                var inputs: [(String, SourceLocation)] = []
                var fromInput: [Bool] = []
                for argument in arguments {
                    guard schema.fields.contains(argument.key.text) else {
                        let fields = schema.fields.sorted().joined(separator: ", ")
                        throw error(argument.key.location, "unknown field '\(argument.key.text)' for \(op.text); its fields are \(fields).", useSite, useTemplate)
                    }
                    if argument.key.text == "from" {
                        for token in argument.values {
                            if token.text == "$input" {
                                inputs.append((templateInput, token.location))
                                fromInput.append(useSite != nil)
                            } else {
                                inputs.append((try interpolate(token, env: env, useSite: useSite, useTemplate: useTemplate), token.location))
                                fromInput.append(false)
                            }
                        }
                    } else {
                        evaluated[argument.key.text] = (argument, try argument.values.map {
                            try evaluate($0, env: env, useSite: useSite, useTemplate: useTemplate)
                        })
                    }
                }
                for field in schema.required where evaluated[field] == nil && !(field == "from" && !inputs.isEmpty) {
                    let example = ["padding": "padding=3", "filters": "filters=64", "kernel": "kernel=3",
                                   "from": "from=a,b", "pool": "pool=2", "units": "units=6"][field] ?? "\(field)=…"
                    throw error(op.location, "\(op.text) needs '\(field)=' (e.g. \(example)); add it to this line.", useSite, useTemplate)
                }
                if inputs.isEmpty { inputs = [(previous, op.location)]; fromInput = [false] }
                let name: String
                let nameLocation: SourceLocation
                if let nameToken {
                    name = try interpolate(nameToken, env: env, useSite: useSite, useTemplate: useTemplate)
                    nameLocation = nameToken.location
                } else {
                    let base = schema.autoName
                    let n = autoNameCounters[base, default: 0]
                    autoNameCounters[base] = n + 1
                    name = n == 0 ? base : "\(base)_\(n)"
                    nameLocation = op.location
                }
                if let first = usedNames[name] {
                    let what = name == Self.inputName ? "is reserved for the model input" : "is already used by the layer at line \(first.line)"
                    throw error(nameLocation, "layer name '\(name)' \(what); names must be unique so weights map 1:1 to Keras.", useSite, useTemplate)
                }
                usedNames[name] = nameLocation
                raw.append(RawLayer(name: name, nameLocation: nameLocation, op: op, arguments: evaluated,
                                    inputNames: inputs, useSite: useSite, useTemplate: useTemplate,
                                    useArguments: useArguments, fromTemplateInput: fromInput))
                previous = name
            }
        }
    }

    func error(_ location: SourceLocation, _ message: String, _ useSite: SourceLocation?, _ template: String?) -> NetSpecError {
        if let useSite, let template, useSite != location {
            return NetSpecError(location, message, note: (useSite, "in this use of template '\(template)'"))
        }
        return NetSpecError(location, message)
    }

    func evaluate(_ token: Token, env: [String: Value], useSite: SourceLocation?, useTemplate: String?) throws -> Value {
        let text = token.text
        if let i = Int(text) { return .int(i) }
        if let d = Double(text), text.contains(".") || text.contains("e") { return .real(d) }
        if let v = env[text] { return v }
        if let open = text.firstIndex(of: "["), text.hasSuffix("]") {
            let base = String(text[..<open])
            let indexText = String(text[text.index(after: open)..<text.index(before: text.endIndex)])
            guard let v = env[base] else {
                throw error(token.location, "unknown parameter '\(base)' in '\(text)'.", useSite, useTemplate)
            }
            guard case let .list(items) = v else {
                throw error(token.location, "'\(base)' is \(v), not a list, so '\(text)' cannot index it.", useSite, useTemplate)
            }
            guard let index = Int(indexText), index >= 0, index < items.count else {
                throw error(token.location, "index '\(indexText)' is out of range for '\(base)' (\(items.count) values: \(v)).", useSite, useTemplate)
            }
            return .int(items[index])
        }
        if text.contains("{") { return .text(try interpolate(token, env: env, useSite: useSite, useTemplate: useTemplate)) }
        return .text(text)
    }

    /// Replaces `{param}` / `{param[i]}` in a name.
    func interpolate(_ token: Token, env: [String: Value], useSite: SourceLocation?, useTemplate: String?) throws -> String {
        var out = ""
        var rest = Substring(token.text)
        while let open = rest.firstIndex(of: "{") {
            out += rest[..<open]
            guard let close = rest[open...].firstIndex(of: "}") else {
                throw error(token.location, "'{' in '\(token.text)' is not closed by '}'.", useSite, useTemplate)
            }
            let expr = String(rest[rest.index(after: open)..<close])
            let inner = Token(kind: .word, text: expr, location: token.location)
            if env[expr] == nil, !expr.contains("[") {
                let known = env.keys.sorted().joined(separator: ", ")
                throw error(token.location, "unknown parameter '{\(expr)}' in name '\(token.text)'; available: \(known).", useSite, useTemplate)
            }
            out += try evaluate(inner, env: env, useSite: useSite, useTemplate: useTemplate).description
            rest = rest[rest.index(after: close)...]
        }
        out += rest
        guard !out.isEmpty, !out.contains("{"), !out.contains("}") else {
            throw error(token.location, "'\(token.text)' is not a valid layer name.", useSite, useTemplate)
        }
        return out
    }

    // MARK: resolution, ordering, shapes

    func intValues(_ layer: RawLayer, _ key: String, arity: Set<Int>, minimum: Int) throws -> [Int]? {
        guard let (argument, values) = layer.arguments[key] else { return nil }
        guard arity.contains(values.count) else {
            let counts = arity.sorted().map(String.init).joined(separator: " or ")
            throw error(argument.key.location, "'\(key)' takes \(counts) value\(arity == [1] ? "" : "s"), found \(values.count).", layer.useSite, layer.useTemplate)
        }
        return try zip(values, argument.values).map { value, token in
            guard case let .int(v) = value else {
                throw error(token.location, "'\(key)' must be a whole number, found '\(value)'.", layer.useSite, layer.useTemplate)
            }
            guard v >= minimum else {
                let rule = minimum == 0 ? "must not be negative" : "must be at least \(minimum)"
                throw error(token.location, "'\(key)' \(rule), found \(v).", layer.useSite, layer.useTemplate)
            }
            return v
        }
    }

    func realValue(_ layer: RawLayer, _ key: String, default value: Double, range: ClosedRange<Double>) throws -> Double {
        guard let (argument, values) = layer.arguments[key] else { return value }
        let token = argument.values[0]
        let v: Double
        switch values[0] {
        case let .real(x): v = x
        case let .int(x): v = Double(x)
        default: throw error(token.location, "'\(key)' must be a number, found '\(values[0])'.", layer.useSite, layer.useTemplate)
        }
        guard values.count == 1, range.contains(v) else {
            throw error(token.location, "'\(key)' must be one number in \(range.lowerBound)…\(range.upperBound), found \(values[0]).", layer.useSite, layer.useTemplate)
        }
        return v
    }

    func choice(_ layer: RawLayer, _ key: String, _ options: [String], default value: String) throws -> String {
        guard let (argument, values) = layer.arguments[key] else { return value }
        let text = values[0].description
        guard values.count == 1, options.contains(text) else {
            throw error(argument.values[0].location, "'\(key)' must be one of \(options.joined(separator: ", ")), found '\(values.map(\.description).joined(separator: ","))'.", layer.useSite, layer.useTemplate)
        }
        return text
    }

    func pair(_ v: [Int]) -> (Int, Int) { v.count == 1 ? (v[0], v[0]) : (v[0], v[1]) }

    func kind(of layer: RawLayer) throws -> LayerKind {
        switch layer.op.text {
        case "zeropad":
            let p = try intValues(layer, "padding", arity: [1, 2, 4], minimum: 0)!
            switch p.count {
            case 1: return .zeroPad(Pads(top: p[0], bottom: p[0], left: p[0], right: p[0]))
            case 2: return .zeroPad(Pads(top: p[0], bottom: p[0], left: p[1], right: p[1]))
            default: return .zeroPad(Pads(top: p[0], bottom: p[1], left: p[2], right: p[3]))
            }
        case "conv2d":
            let filters = try intValues(layer, "filters", arity: [1], minimum: 1)![0]
            let kernel = pair(try intValues(layer, "kernel", arity: [1, 2], minimum: 1)!)
            let stride = pair(try intValues(layer, "stride", arity: [1, 2], minimum: 1) ?? [1])
            let padding = Padding(rawValue: try choice(layer, "padding", ["valid", "same"], default: "valid"))!
            let bias = try choice(layer, "bias", ["true", "false"], default: "true") == "true"
            return .conv2d(filters: filters, kernel: kernel, stride: stride, padding: padding, bias: bias)
        case "batchnorm":
            return .batchNorm(momentum: try realValue(layer, "momentum", default: 0.99, range: 0...1),
                              epsilon: try realValue(layer, "epsilon", default: 1e-3, range: 1e-12...1))
        case "relu": return .relu
        case "add": return .add
        case "maxpool", "avgpool":
            let pool = pair(try intValues(layer, "pool", arity: [1, 2], minimum: 1)!)
            let stride = pair(try intValues(layer, "stride", arity: [1, 2], minimum: 1) ?? [pool.0, pool.1])
            return layer.op.text == "maxpool" ? .maxPool(pool: pool, stride: stride) : .avgPool(pool: pool, stride: stride)
        case "flatten": return .flatten
        case "dense":
            let units = try intValues(layer, "units", arity: [1], minimum: 1)![0]
            let activation = try choice(layer, "activation", ["softmax", "linear"], default: "linear")
            return .dense(units: units, softmax: activation == "softmax")
        default: fatalError("unreachable: op validated during expansion")
        }
    }

    func resolveAndInfer(_ network: inout Network) throws {
        // Resolve input names to raw indices (-1 = model input).
        var indexOf: [String: Int] = [Self.inputName: -1]
        for (i, layer) in raw.enumerated() { indexOf[layer.name] = i }
        var edges: [[Int]] = []
        for layer in raw {
            var ids: [Int] = []
            for (name, location) in layer.inputNames {
                guard let id = indexOf[name] else {
                    throw error(location, "'from=' names '\(name)', which is not a layer of this model; check the spelling or the template arguments.", layer.useSite, layer.useTemplate)
                }
                ids.append(id)
            }
            if layer.op.text == "add", ids.count != 2 {
                throw error(layer.op.location, "add takes exactly two inputs (from=a,b), found \(ids.count).", layer.useSite, layer.useTemplate)
            }
            if layer.op.text != "add", ids.count != 1 {
                throw error(layer.op.location, "\(layer.op.text) takes one input, found \(ids.count) in 'from='.", layer.useSite, layer.useTemplate)
            }
            edges.append(ids)
        }
        // Topological order (depth-first, preserving source order), detecting cycles.
        var state = [Int](repeating: 0, count: raw.count)   // 0 new, 1 on stack, 2 done
        var order: [Int] = []
        func visit(_ i: Int, _ path: [Int]) throws {
            if state[i] == 2 { return }
            if state[i] == 1 {
                let cycle = (path.drop(while: { $0 != i }) + [i]).map { raw[$0].name }.joined(separator: " → ")
                throw error(raw[i].nameLocation, "the graph has a cycle (\(cycle)); a layer cannot take its input from itself or from a layer that depends on it.", raw[i].useSite, raw[i].useTemplate)
            }
            state[i] = 1
            for j in edges[i] where j >= 0 { try visit(j, path + [i]) }
            state[i] = 2
            order.append(i)
        }
        for i in raw.indices { try visit(i, []) }

        var position: [Int: Int] = [-1: 0]
        network.layers = [Layer(name: Self.inputName, kind: .input, inputs: [],
                                location: SourceLocation(file: file, line: 1, column: 1), useSite: nil,
                                shape: network.inputShape)]
        for i in order {
            let r = raw[i]
            let inputs = edges[i].map { position[$0]! }
            var layer = Layer(name: r.name, kind: try kind(of: r), inputs: inputs, location: r.op.location,
                              useSite: r.useSite, shape: [])
            try infer(&layer, raw: r, in: network)
            position[i] = network.layers.count
            network.layers.append(layer)
        }
        // Every layer but the output must feed something; the output is the classifier.
        let consumed = Set(network.layers.flatMap(\.inputs))
        for (i, layer) in network.layers.enumerated() where i != network.layers.count - 1 && !consumed.contains(i) && i != 0 {
            throw NetSpecError(layer.location, "the output of '\(layer.name)' is never used; connect it (e.g. with from=\(layer.name)) or remove it.")
        }
        let last = network.layers[network.layers.count - 1]
        guard case let .dense(units, softmax) = last.kind, softmax else {
            throw NetSpecError(last.location, "the last layer must be 'dense … activation=softmax' (the classifier), found \(last.kind.kerasClass) '\(last.name)'.")
        }
        guard units == network.classes else {
            throw NetSpecError(last.location, "the classifier '\(last.name)' has \(units) units but the model has \(network.classes) classes; use units=classes.")
        }
    }

    func outputSize(_ input: Int, kernel: Int, stride: Int, padding: Padding) -> Int {
        padding == .same ? (input + stride - 1) / stride : (input - kernel) / stride + 1
    }

    func infer(_ layer: inout Layer, raw r: RawLayer, in network: Network) throws {
        let inShapes = layer.inputs.map { network.layers[$0].shape }
        let x = inShapes[0]
        let inputName = network.layers[layer.inputs[0]].name
        func needSpatial() throws {
            guard x.count == 3 else {
                throw error(r.op.location, "\(r.op.text) '\(layer.name)' needs an H×W×C input, but '\(inputName)' is flat (\(x[0]) features).", r.useSite, r.useTemplate)
            }
        }
        switch layer.kind {
        case .input: break
        case let .zeroPad(p):
            try needSpatial()
            layer.pads = p
            layer.shape = [x[0] + p.top + p.bottom, x[1] + p.left + p.right, x[2]]
        case let .conv2d(filters, kernel, stride, padding, _):
            try needSpatial()
            if padding == .valid, kernel.0 > x[0] || kernel.1 > x[1] {
                throw error(r.op.location, "conv2d '\(layer.name)' has a \(kernel.0)×\(kernel.1) kernel but its input '\(inputName)' is only \(x[0])×\(x[1]); use a smaller kernel, padding=same, or pad the input.", r.useSite, r.useTemplate)
            }
            let oh = outputSize(x[0], kernel: kernel.0, stride: stride.0, padding: padding)
            let ow = outputSize(x[1], kernel: kernel.1, stride: stride.1, padding: padding)
            if padding == .same {
                let th = max((oh - 1) * stride.0 + kernel.0 - x[0], 0)
                let tw = max((ow - 1) * stride.1 + kernel.1 - x[1], 0)
                layer.pads = Pads(top: th / 2, bottom: th - th / 2, left: tw / 2, right: tw - tw / 2)
            }
            layer.shape = [oh, ow, filters]
        case .batchNorm, .relu:
            layer.shape = x
        case .add:
            let y = inShapes[1]
            if x != y {
                // An identity block whose shortcut is the block input: say so in the words of the template.
                if let site = r.useSite, let template = r.useTemplate, r.fromTemplateInput.contains(true),
                   x.count == 3, y.count == 3, x[0] == y[0], x[1] == y[1] {
                    let shortcut = r.fromTemplateInput[0] ? x : y
                    let main = r.fromTemplateInput[0] ? y : x
                    var which = "its last filter count"
                    if case let .list(f)? = r.useArguments["filters"], let lastF = f.last, lastF == main[2] {
                        which = "its last filter count (filters[\(f.count - 1)] = \(lastF))"
                    }
                    throw NetSpecError(site, "\(template) '\(layer.name)': \(which) must equal its input channels (\(shortcut[2])) because the shortcut adds the block input unchanged; set the last filter to \(shortcut[2]) or use a convolutional block with a projection shortcut.", note: (r.op.location, "the add that needs equal shapes"))
                }
                throw error(r.op.location, "add '\(layer.name)' needs inputs of one shape, but '\(network.layers[layer.inputs[0]].name)' is \(Self.shapeText(x)) and '\(network.layers[layer.inputs[1]].name)' is \(Self.shapeText(y)); make the branches agree (filters, stride or padding).", r.useSite, r.useTemplate)
            }
            layer.shape = x
        case let .maxPool(pool, stride), let .avgPool(pool, stride):
            try needSpatial()
            if pool.0 > x[0] || pool.1 > x[1] {
                throw error(r.op.location, "\(r.op.text) '\(layer.name)' has a \(pool.0)×\(pool.1) window but its input '\(inputName)' is only \(x[0])×\(x[1]); use a smaller pool.", r.useSite, r.useTemplate)
            }
            layer.shape = [outputSize(x[0], kernel: pool.0, stride: stride.0, padding: .valid),
                           outputSize(x[1], kernel: pool.1, stride: stride.1, padding: .valid), x[2]]
        case .flatten:
            layer.shape = [x.reduce(1, *)]
        case let .dense(units, _):
            guard x.count == 1 else {
                throw error(r.op.location, "dense '\(layer.name)' needs a flat input but '\(inputName)' is \(Self.shapeText(x)); add 'flatten' before it.", r.useSite, r.useTemplate)
            }
            layer.shape = [units]
        }
    }

    static func shapeText(_ s: [Int]) -> String { s.map(String.init).joined(separator: "×") }
}
