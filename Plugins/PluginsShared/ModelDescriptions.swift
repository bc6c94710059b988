// Shared by the build plugin (ModelCodegen) and the command plugin (GenerateModel); each plugin
// directory holds a symlink to this folder, as SwiftPM plugins cannot depend on library targets.
import Foundation
import PackagePlugin

/// Architecture descriptions of a target: its `*.arch` files, in a stable order.
func modelDescriptions(in target: SourceModuleTarget) -> [URL] {
    target.sourceFiles(withSuffix: "arch").map(\.url).sorted { $0.path < $1.path }
}

/// `resnet50-signs.arch` → `resnet50-signs.swift` (must match `Emitter.fileName(forDescriptionAt:)`).
func generatedFileName(for description: URL) -> String {
    description.deletingPathExtension().lastPathComponent + ".swift"
}

/// The registry of every model of a target (must match `Emitter.emitRegistry`).
let registryFileName = "ModelRegistry.swift"
