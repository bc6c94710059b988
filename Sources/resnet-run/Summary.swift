/// `resnet-run summary`: the model as Keras' `model.summary()` shows it.
import ArgumentParser
import Models
import NetSpec

struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the model's layers, output shapes, parameter counts and connections, like Keras' model.summary().")

    @Option(help: "Model to describe.")
    var model = ModelName.standard

    func run() throws {
        let type = model.type
        let network = try NetSpecLoader.load(text: type.descriptionText, file: "\(type.modelName).arch")
        print(ModelSummary.render(network, arenaBytes: type.arenaBytes, dtype: type.dtype))
    }
}
