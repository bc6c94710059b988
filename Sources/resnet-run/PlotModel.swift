/// `resnet-run plot-model`: the model's graph as Graphviz DOT (like Keras'
/// `plot_model(model, show_shapes=True)`), rendered to SVG/PNG/PDF by Graphviz' `dot` when it is
/// installed (Debian: graphviz).
import ArgumentParser
import Foundation
import Models
import NetSpec
import Training

struct PlotModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot-model",
        abstract: "Draw the model's layer graph (Graphviz DOT; SVG/PNG/PDF through dot), like Keras' plot_model(show_shapes=True).",
        discussion: """
        Each layer is a node (name, Keras class, output shape, parameter count); each layer input an edge; \
        shortcut (residual) edges are bold red. --out NAME.svg, .png or .pdf runs Graphviz' dot (Debian: \
        apt-get install graphviz); --out NAME.dot (or .gv) writes the DOT text; without --out it goes to stdout. \
        Without dot installed, an image request writes NAME.dot instead, says so in one line and exits 1.
        """)

    @Option(help: "Model to draw.") var model = ModelName.standard
    @Option(help: ArgumentHelp("Output file: .svg, .png, .pdf (through dot) or .dot/.gv (default: DOT on stdout).", valueName: "file"))
    var out: String?
    @Option(help: ArgumentHelp("Graph direction: TB (top to bottom, Keras' default) or LR.", valueName: "dir")) var rankdir = "TB"

    func run() throws {
        guard ["TB", "LR", "BT", "RL"].contains(rankdir) else { throw TrainingError("--rankdir: '\(rankdir)' is not one of TB, LR, BT, RL") }
        let type = model.type
        let network = try NetSpecLoader.load(text: type.descriptionText, file: "\(type.modelName).arch")
        let dot = GraphvizDOT.render(network, rankdir: rankdir)
        guard let out else {
            print(dot, terminator: "")
            return
        }
        let ext = (out as NSString).pathExtension.lowercased()
        switch ext {
        case "dot", "gv":
            try write(dot, to: out)
            print("wrote \(out) (\(network.layers.count) layers)")
        case "svg", "png", "pdf":
            guard let dotTool = Self.findDot() else {
                let fallback = ((out as NSString).deletingPathExtension) + ".dot"
                try write(dot, to: fallback)
                FileHandle.standardError.write(Data("error: --out \(out): Graphviz' dot is not installed (Debian: apt-get install graphviz); wrote the graph as \(fallback) instead (render it with: dot -T\(ext) \(fallback) -o \(out))\n".utf8))
                throw ExitCode(1)
            }
            try render(dot, with: dotTool, format: ext, to: out)
            print("wrote \(out) (\(network.layers.count) layers)")
        default:
            throw TrainingError("--out \(out): unknown extension '.\(ext)'; use .svg, .png, .pdf or .dot")
        }
    }

    func write(_ text: String, to path: String) throws {
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        } catch {
            throw TrainingError("--out \(path): cannot write the file (\(error.localizedDescription))")
        }
    }

    /// `dot` on the PATH, if any.
    static func findDot() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") where !dir.isEmpty {
            let candidate = "\(dir)/dot"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    func render(_ dot: String, with tool: String, format: String, to path: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = ["-T\(format)", "-o", path]
        let input = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data(dot.utf8))
        try input.fileHandleForWriting.close()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let detail = String(decoding: message, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init) ?? "exit status \(process.terminationStatus)"
            throw TrainingError("--out \(path): Graphviz' dot failed (\(detail))")
        }
    }
}
