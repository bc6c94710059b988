/// `resnet-runs show RUN`: everything recorded about one run — configuration, hyperparameters,
/// status, notes, stored weights, the per-epoch table and terminal charts of loss and accuracy.
import ArgumentParser
import CLISupport
import TerminalText
import Foundation
import RunStore

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show everything recorded for one run, with its per-epoch table and loss/accuracy charts.",
        discussion: """
            The best epoch is the one with the highest validation accuracy when the run held \
            out part of its training images (train --validation-split), else the one with the \
            highest test accuracy; "best chosen by" says which. "best test acc" is then the \
            highest test accuracy of any recorded epoch, and "best val acc" the highest \
            validation accuracy with the test accuracy of that epoch. "best weights" is the \
            epoch of the stored 'best' weight snapshot, which is what `resnet-run evaluate \
            --snapshot best` loads; it can be older than the best epoch when the run was killed \
            between recording an epoch and saving its weights, and says "no stored weights" when \
            there is no 'best' snapshot.
            """)

    @OptionGroup var store: StoreOptions

    @Argument(help: ArgumentHelp("Run: an id, last, -1 (newest), -2, … or a label.", valueName: "run"))
    var runArgument: String

    @Option(name: .long, help: "Output format: text or json.")
    var format: TextOrJSON = .text

    @Flag(name: .customLong("no-chart"), help: "Leave out the terminal charts.")
    var noChart = false

    func run() throws {
        let now = try currentDate()
        let db = try store.open(readOnly: true)
        let id = try RunSelector.resolveOne(runArgument, in: db)
        let record = try db.run(id, now: now)
        let lineage = try Self.lineage(of: record, in: db)
        let epochs = try db.epochs(run: id)
        let snapshots = try db.snapshots(run: id)
        if format == .json {
            writeStdout(Self.json(record, epochs, snapshots, lineage: lineage, now: now) + "\n")
        } else {
            writeStdout(Self.text(record, epochs, snapshots, lineage: lineage, now: now, style: Style.forStdout(), charts: !noChart,
                                  width: TerminalWidth.columns()))
        }
    }

    /// "run 4 (final weights of epoch 10) ← run 2 (best weights of epoch 3)": the runs whose weights a
    /// run started from (`train --init-from`), nearest first; nil for a run trained from scratch.
    static func lineage(of record: RunRecord, in db: RunStore) throws -> String? {
        var parts: [String] = []
        var current = record
        var seen: Set<Int64> = [record.id]
        while let text = current.hyperparameters["init_from"], let parent = Int64(text) {
            let what = "\(current.hyperparameters["init_weights"] ?? "stored") weights of epoch \(current.hyperparameters["init_epoch"] ?? "?")"
            guard seen.insert(parent).inserted, (try? db.runExists(parent)) == true else {
                parts.append("run \(parent) (\(what); no longer in this database)")
                break
            }
            parts.append("run \(parent) (\(what))")
            current = try db.run(parent)
        }
        return parts.isEmpty ? nil : parts.joined(separator: " ← ")
    }

    /// `lineage`: see `lineage(of:in:)`. `width`: the terminal's (nil: not limited); long values
    /// wrap, wide tables fold into blocks, charts narrow.
    static func text(_ r: RunRecord, _ epochs: [EpochRecord], _ snapshots: [SnapshotInfo], lineage: String? = nil,
                     now: Date, style: Style, charts: Bool, width: Int? = nil) -> String {
        var out = style.bold("Run \(r.id)") + "  " + style.apply(Style.statusKind(r.status), r.status.rawValue)
        if let label = r.label { out += "  " + style.bold(label) }
        out += "\n"
        var fields: [(String, String)] = []
        var status = r.status.rawValue
        if r.status != r.recordedStatus { status += " (recorded as \(r.recordedStatus.rawValue); process gone, last heartbeat \(Fmt.date(r.heartbeatAt)))" }
        if let reason = r.statusReason { status += " — \(reason)" }
        fields.append(("status", status))
        fields.append(("label", r.label ?? "-"))
        fields.append(("started", Fmt.date(r.startedAt)))
        fields.append(("finished", r.finishedAt.map(Fmt.date) ?? "-"))
        fields.append(("duration", Fmt.duration(r.duration(now: now))))
        fields.append(("last heartbeat", Fmt.date(r.heartbeatAt)))
        fields.append(("model", "\(r.model) (description hash \(r.modelHash))"))
        fields.append(("dataset", r.datasetPath))
        fields.append(("dataset sha256", r.datasetSHA256 ?? "-"))
        fields.append(("examples", "\(r.trainCount) train, \(r.testCount) test"))
        fields.append(("epochs", "\(r.epochsDone) done of \(r.epochsPlanned) planned"))
        fields.append(("batch size", r.status == .imported ? "- (imported, not trained here)" : "\(r.batchSize)"))
        fields.append(("learning rate", r.status == .imported ? "-" : Fmt.lr(r.learningRate)))
        fields.append(("seed", "\(r.seed)"))
        fields.append(("host", "\(r.host), \(r.threads) thread\(r.threads == 1 ? "" : "s"), pid \(r.owner.pid)"))
        fields.append(("program", r.programVersion.isEmpty ? "-" : r.programVersion))
        fields.append(("command", r.commandLine.isEmpty ? "-" : r.commandLine))
        let bestBy = Metrics.bestBy(r)
        if bestBy == "test_accuracy", let best = r.bestTestAccuracy, let epoch = r.bestEpoch {
            fields.append(("best test acc", "\(Fmt.metric(best)) at epoch \(epoch)"))
        } else if let epoch = r.bestEpoch, let value = epochs.first(where: { $0.epoch == epoch })?.metrics[bestBy] {
            let name = bestBy == "val_accuracy" ? "best val acc" : "best \(bestBy)"
            fields.append((name, "\(Fmt.metric(value)) at epoch \(epoch) (test acc there \(Fmt.metric(r.bestTestAccuracy)))"))
        }
        fields.append(("best weights", bestWeights(r, snapshots)))
        fields.append(("best chosen by", bestChoice(r)))
        if let lineage { fields.append(("started from", lineage)) }
        func keyValue(_ key: String, _ value: String, keyWidth: Int) -> String {
            let lead = "  " + key.padding(toLength: keyWidth, withPad: " ", startingAt: 0) + "  "
            guard let width else { return lead + value + "\n" }
            let indent = String(repeating: " ", count: min(lead.count, max(2, width / 3)))
            return DisplayWidth.wrap(lead + value, width: width, indent: indent).joined(separator: "\n") + "\n"
        }
        let keyWidth = fields.map(\.0.count).max() ?? 0
        for (k, v) in fields { out += keyValue(k, v, keyWidth: keyWidth) }
        if let notes = r.notes, !notes.isEmpty {
            out += "\n" + style.bold("Notes") + "\n"
            for line in notes.split(separator: "\n", omittingEmptySubsequences: false) { out += "  \(line)\n" }
        }
        out += "\n" + style.bold("Hyperparameters") + "\n"
        if r.hyperparameters.isEmpty { out += "  (none recorded)\n" }
        let hw = r.hyperparameters.keys.map(\.count).max() ?? 0
        for key in r.hyperparameters.keys.sorted() { out += keyValue(key, r.hyperparameters[key]!, keyWidth: hw) }
        out += "\n" + style.bold("Weights") + "\n"
        if snapshots.isEmpty { out += "  (none stored)\n" } else {
            var t = Table(["KIND", "EPOCH", "SIZE", "TENSORS", "CHECKSUM", "SAVED", "EXTRA"],
                          align: [.left, .right, .right, .right, .left, .left, .left])
            for s in snapshots {
                t.add([s.kind.rawValue, "\(s.epoch)", Fmt.bytes(Int64(s.byteCount)), "\(s.tensors.count)", s.checksum,
                       Fmt.date(s.createdAt), s.extra.keys.sorted().map { "\($0)=\(s.extra[$0]!)" }.joined(separator: " ")])
            }
            t.shrinkable = [4: 12, 6: 12]
            out += t.text(style: style, indent: "  ", width: width)
        }
        out += "\n" + style.bold("Epochs") + "\n"
        if epochs.isEmpty { out += "  (none recorded)\n" } else {
            let names = Metrics.ordered(Set(epochs.flatMap(\.metrics.keys)))
            var t = Table(["EPOCH"] + names.map { $0.uppercased() } + ["RECORDED"],
                          align: [.right] + names.map { _ in .right } + [.left])
            for e in epochs {
                var row = [Cell("\(e.epoch)", e.epoch == r.bestEpoch ? .bold : .plain)]
                for n in names { row.append(Cell(Fmt.metric(e.metrics[n], name: n), (n == bestBy && e.epoch == r.bestEpoch) ? .green : .plain)) }
                row.append(Cell(Fmt.date(e.recordedAt)))
                t.add(row)
            }
            out += t.text(style: style, indent: "  ", width: width)
        }
        if charts && epochs.count >= 2 {
            for (title, names) in [("Loss", ["loss", "test_loss", "val_loss"]), ("Accuracy", ["accuracy", "test_accuracy", "val_accuracy"])] {
                let series = names.enumerated().compactMap { i, n -> Series? in
                    let pts = epochs.compactMap { e in e.metrics[n].map { (x: e.epoch, y: $0) } }
                    return pts.isEmpty ? nil : Series(label: n, marker: ["●", "○", "◆"][i], points: pts, colorIndex: i)
                }
                let chart = TextChart.render(title: title, series: series, style: style, maxWidth: width)
                if !chart.isEmpty { out += "\n" + chart }
            }
        }
        return fitted(out, width: width)
    }

    /// Which metric chose the best epoch, and for a validation split which images it held out.
    static func bestChoice(_ r: RunRecord) -> String {
        let h = r.hyperparameters
        switch Metrics.bestBy(r) {
        case "val_accuracy":
            let split = h["validation_split"].map { "validation split \($0)" } ?? "validation split"
            let count = h["validation_count"].map { ": the last \($0) of \(r.trainCount + (Int($0) ?? 0)) training images" } ?? ""
            return "val_accuracy (\(split)\(count))"
        case "test_accuracy":
            return h["data_validation_split"] != nil
                ? "test_accuracy (the images held out of the class folders by --validation-split \(h["data_validation_split"]!))"
                : "test_accuracy (no validation split)"
        case let other:
            return other
        }
    }

    /// Where the best weights are: the stored 'best' snapshot's epoch (not the run row's
    /// best_epoch, which is derived from the epoch metrics and committed before the snapshot).
    static func bestWeights(_ r: RunRecord, _ snapshots: [SnapshotInfo]) -> String {
        guard let best = snapshots.first(where: { $0.kind == .best }) else {
            if snapshots.isEmpty { return "no stored weights" }
            return "no 'best' snapshot (stored: " + snapshots.map { "\($0.kind.rawValue) of epoch \($0.epoch)" }.joined(separator: ", ") + ")"
        }
        var text = "epoch \(best.epoch)"
        if let acc = best.extra["test_accuracy"].flatMap(Double.init) { text += ", test acc \(Fmt.metric(acc))" }
        if let epoch = r.bestEpoch, epoch != best.epoch {
            text += " (the weights of best epoch \(epoch) were not stored)"
        }
        return text
    }

    static func runJSON(_ r: RunRecord, now: Date) -> [(String, String)] {
        [
            ("id", "\(r.id)"), ("status", JSON.str(r.status.rawValue)), ("recorded_status", JSON.str(r.recordedStatus.rawValue)),
            ("status_reason", JSON.str(r.statusReason)), ("label", JSON.str(r.label)), ("notes", JSON.str(r.notes)),
            ("started", JSON.str(Fmt.iso(r.startedAt))), ("finished", JSON.str(Fmt.iso(r.finishedAt))),
            ("heartbeat", JSON.str(Fmt.iso(r.heartbeatAt))), ("duration_seconds", JSON.num(r.duration(now: now).rounded())),
            ("model", JSON.str(r.model)), ("model_hash", JSON.str(r.modelHash)),
            ("dataset", JSON.str(r.datasetPath)), ("dataset_sha256", JSON.str(r.datasetSHA256)),
            ("train_count", "\(r.trainCount)"), ("test_count", "\(r.testCount)"),
            ("hyperparameters", JSON.object(r.hyperparameters.keys.sorted().map { ($0, JSON.str(r.hyperparameters[$0])) })),
            ("epochs_planned", "\(r.epochsPlanned)"), ("epochs_done", "\(r.epochsDone)"),
            ("batch_size", "\(r.batchSize)"), ("lr", JSON.num(r.learningRate)), ("seed", "\(r.seed)"),
            ("threads", "\(r.threads)"), ("host", JSON.str(r.host)), ("pid", "\(r.owner.pid)"),
            ("program_version", JSON.str(r.programVersion)), ("command_line", JSON.str(r.commandLine)),
            ("final_test_accuracy", JSON.num(r.finalTestAccuracy)), ("best_test_accuracy", JSON.num(r.bestTestAccuracy)),
            ("best_epoch", JSON.int(r.bestEpoch)), ("best_by", JSON.str(Metrics.bestBy(r))),
        ]
    }

    static func json(_ r: RunRecord, _ epochs: [EpochRecord], _ snapshots: [SnapshotInfo], lineage: String? = nil,
                     now: Date) -> String {
        var pairs = runJSON(r, now: now)
        if let lineage { pairs.append(("started_from", JSON.str(lineage))) }
        pairs.append(("best_weights_epoch", JSON.int(snapshots.first { $0.kind == .best }?.epoch)))
        pairs.append(("snapshots", JSON.array(snapshots.map { s in
            JSON.object([("kind", JSON.str(s.kind.rawValue)), ("epoch", "\(s.epoch)"), ("bytes", "\(s.byteCount)"),
                         ("tensors", "\(s.tensors.count)"), ("checksum", JSON.str(s.checksum)),
                         ("saved", JSON.str(Fmt.iso(s.createdAt))),
                         ("extra", JSON.object(s.extra.keys.sorted().map { ($0, JSON.str(s.extra[$0])) }))])
        })))
        pairs.append(("epochs", JSON.array(epochs.map { e in
            JSON.object([("epoch", "\(e.epoch)"), ("recorded", JSON.str(Fmt.iso(e.recordedAt))),
                         ("metrics", JSON.object(Metrics.ordered(Set(e.metrics.keys)).map { ($0, JSON.num(e.metrics[$0])) }))])
        })))
        return JSON.object(pairs)
    }
}
