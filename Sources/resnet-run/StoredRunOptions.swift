/// Options shared by the verbs that use a stored run's weights (`evaluate`, `predict`).
import ArgumentParser
import Kernels
import RunStore

struct StoredRunOptions: ParsableArguments {
    @Option(name: .customLong("run"), help: ArgumentHelp("Run whose weights to use.", valueName: "run")) var runID: String
    @Option(help: ArgumentHelp("Experiment database.", valueName: "path")) var db = "experiments.db"
    @Option(help: ArgumentHelp("final, best or checkpoint.", valueName: "kind")) var weights: String?
    @Option(help: ArgumentHelp("Kernel threads (default: all cores).", valueName: "n")) var threads: String?
    @Flag(help: "Print one JSON object.") var json = false

    /// The run id, the requested snapshot kind (nil: the default order) and the thread count.
    func parsed() throws -> (id: Int64, kind: SnapshotKind?, threads: Int) {
        let id = Int64(try parseInt(runID, option: "--run", minimum: 1))
        let kind = try parseWeightsKind(weights)
        let threadCount = try threads.map { try parseInt($0, option: "--threads", minimum: 1) } ?? ThreadPool.availableProcessors
        return (id, kind, threadCount)
    }
}
