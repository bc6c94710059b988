/// What the generated registry (`ModelRegistry`, written by the build plugin from every description
/// in this target) lists: a generated training type with its command-line name and description.
import Kernels

public protocol GeneratedModelType: GeneratedModel {
    static var registryName: String { get }
    static var dtype: String { get }
    static var descriptionText: String { get }
}
