/// What the verbs that use a stored run's weights (`evaluate`, `predict`, `export`) share: the
/// run named positionally (`resnet-run evaluate 3`, `last`, `-1`, a label), `--db`, `--snapshot`,
/// and the old spellings kept for one release — `--run N` and `--weights KIND` (`evaluate`,
/// `predict`, `export`) and `--json` — each with a one-line note.
import ArgumentParser
import CLISupport
import Kernels
import RunStore
import Training

struct StoredRunOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("Run: an id, last, -1 (newest), -2, … or a label.", valueName: "run"))
    var run: String?
    @Option(help: ArgumentHelp("Experiment database.", valueName: "path")) var db = "experiments.db"
    @Option(help: ArgumentHelp("Weights to use: final, best or checkpoint (default: final, else best, else checkpoint).", valueName: "kind"))
    var snapshot: SnapshotKind?

    /// Old spelling of the positional RUN (one release).
    @Option(name: .customLong("run"), help: .hidden) var deprecatedRun: String?
    /// Old spelling of --snapshot (one release).
    @Option(name: .customLong("weights"), help: .hidden) var deprecatedWeights: SnapshotKind?
    /// Old spelling of --format json (one release).
    @Flag(name: .customLong("json"), help: .hidden) var deprecatedJSON = false

    /// Applies the old spellings (with their notes). `positionals`: the command's other
    /// arguments; with `--run N`, the argument parsed as RUN was really the first of them.
    mutating func resolveDeprecated(positionals: inout [String], command: String) throws {
        if let old = deprecatedRun {
            Deprecation.note("--run is deprecated; pass the run as an argument (resnet-run \(command) \(RunSelector.unprotect(old)))")
            if let run { positionals.insert(run, at: 0) }
            run = old
        }
        if let old = deprecatedWeights {
            Deprecation.note("--weights is deprecated here; use --snapshot \(old.rawValue)")
            if snapshot != nil { throw CLIError("--weights and --snapshot name the same thing; pass only --snapshot") }
            snapshot = old
        }
        guard let run else { throw CLIError("\(command) needs a run: resnet-run \(command) RUN (an id, last, -1 or a label)") }
        try RunSelector.checkSingle(run)
    }

    /// `--format json` or its old spelling `--json` (noted).
    func json<F: RawRepresentable>(_ format: F) -> Bool where F.RawValue == String {
        if deprecatedJSON { Deprecation.note("--json is deprecated; use --format json") }
        return deprecatedJSON || format.rawValue == "json"
    }

    /// The run id `run` names (a label, `last` and `-N` are looked up in the database).
    func runID() throws -> Int64 {
        try RunSelector.resolveOne(run ?? "", databasePath: db)
    }
}

/// `--threads N` of the inference verbs: N ≥ 1, all cores by default.
func threadCount(_ threads: WholeNumber?) throws -> Int {
    guard let threads else { return ThreadPool.availableProcessors }
    guard threads.value >= 1 else { throw CLIError("--threads: \(threads.value) is not allowed; it must be at least 1") }
    return threads.value
}
