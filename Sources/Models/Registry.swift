/// The models generated from this target's descriptions, by the name `--model` takes.
import Kernels

public enum ModelRegistry {
    /// Every generated model type, in the order `resnet-run` lists them.
    public static let all: [any GeneratedModelType.Type] = [
        ResNet50Signs.self, ResNet50Imagenet.self, TinyF32.self, TinyF64.self,
    ]

    public static var names: [String] { all.map { $0.registryName } }

    public static func model(named name: String) -> (any GeneratedModelType.Type)? {
        all.first { $0.registryName == name }
    }
}

/// Adds the registry name and description text that generated types carry.
public protocol GeneratedModelType: GeneratedModel {
    static var registryName: String { get }
    static var dtype: String { get }
    static var descriptionText: String { get }
}

extension ResNet50Signs: GeneratedModelType {}
extension ResNet50Imagenet: GeneratedModelType {}
extension TinyF32: GeneratedModelType {}
extension TinyF64: GeneratedModelType {}
