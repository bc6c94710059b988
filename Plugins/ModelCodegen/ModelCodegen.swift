// Build tool plugin: on `swift build`, runs netgen on every `*.arch` description of the target
// and compiles the specialized Swift it writes, plus the registry of all of them. Description
// errors fail the build with `file:line:column: error:` diagnostics pointing into the description.
import Foundation
import PackagePlugin

@main
struct ModelCodegen: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let target = target as? SourceModuleTarget else { return [] }
        let netgen = try context.tool(named: "netgen")
        let outputDirectory = context.pluginWorkDirectoryURL
        let descriptions = modelDescriptions(in: target)
        guard !descriptions.isEmpty else { return [] }
        let models: [Command] = descriptions.map { description in
            .buildCommand(
                displayName: "Generating model \(generatedFileName(for: description)) from \(description.lastPathComponent)",
                executable: netgen.url,
                arguments: [description.path, outputDirectory.path],
                inputFiles: [description],
                outputFiles: [outputDirectory.appendingPathComponent(generatedFileName(for: description))])
        }
        let registry: Command = .buildCommand(
            displayName: "Generating \(registryFileName) from \(descriptions.count) descriptions",
            executable: netgen.url,
            arguments: ["--registry", outputDirectory.path] + descriptions.map(\.path),
            inputFiles: descriptions,
            outputFiles: [outputDirectory.appendingPathComponent(registryFileName)])
        return models + [registry]
    }
}
