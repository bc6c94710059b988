// Command plugin: `swift package --allow-writing-to-package-directory generate-model` writes the
// generated model sources and the model registry into Generated/ — the reviewed copy of what the
// build produces. A test (GeneratedCopyTests) fails when that copy and fresh generator output differ.
import Foundation
import PackagePlugin

@main
struct GenerateModel: CommandPlugin {
    func performCommand(context: PluginContext, arguments: [String]) async throws {
        let netgen = try context.tool(named: "netgen")
        let output = context.package.directoryURL.appendingPathComponent("Generated")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        var generated = 0
        func run(_ arguments: [String], _ what: String) throws {
            let process = Process()
            process.executableURL = netgen.url
            process.arguments = arguments
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                Diagnostics.error("netgen failed on \(what)")
                throw GenerateModelError(description: "netgen failed on \(what)")
            }
        }
        for case let target as SourceModuleTarget in context.package.targets {
            let descriptions = modelDescriptions(in: target)
            for description in descriptions {
                try run([description.path, output.path], description.lastPathComponent)
                print("Generated/\(generatedFileName(for: description)) ← \(description.lastPathComponent)")
                generated += 1
            }
            if !descriptions.isEmpty {
                try run(["--registry", output.path] + descriptions.map(\.path), "the registry of \(target.name)")
                print("Generated/\(registryFileName) ← \(descriptions.count) descriptions")
            }
        }
        if generated == 0 { Diagnostics.warning("no *.arch model descriptions found") }
    }
}

struct GenerateModelError: Error, CustomStringConvertible {
    var description: String
}
