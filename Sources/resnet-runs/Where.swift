/// `--where 'test_accuracy > 0.8 and lr < 0.001'`: a filter over what a run recorded.
///
/// Grammar: CLAUSE (("and" | "or") CLAUSE)*, "and" binding tighter than "or"; a clause is
/// NAME OP VALUE with OP one of < <= > >= = == != and VALUE a number or a word ('quoted' when it
/// holds spaces). Names: the run's columns (id, status, label, model, dataset, lr, batch_size,
/// epochs, seed, threads), `best_test_accuracy`, `best_epoch`, every per-epoch metric (its value in
/// the last recorded epoch: loss, accuracy, val_loss, val_accuracy, test_loss, test_accuracy, …) and every hyperparameter (by its
/// name, or as hp.NAME). Numbers compare as numbers, everything else as text; a run without the
/// name (or with a NaN) never matches.
import CLISupport
import Foundation
import RunStore

struct WhereFilter {
    enum Op: String { case lt = "<", le = "<=", gt = ">", ge = ">=", eq = "=", ne = "!=" }
    struct Clause { var name: String; var op: Op; var value: String }
    /// Disjunction of conjunctions.
    var alternatives: [[Clause]]

    init(_ text: String) throws {
        let tokens = try Self.tokenize(text)
        var alternatives: [[Clause]] = [[]]
        var i = 0
        func fail(_ why: String) -> CLIError { CLIError("--where '\(text)': \(why)") }
        while i < tokens.count {
            guard i + 2 < tokens.count else { throw fail("expected NAME OP VALUE, e.g. test_accuracy > 0.8") }
            let name = tokens[i], opText = tokens[i + 1] == "==" ? "=" : tokens[i + 1]
            guard let op = Op(rawValue: opText) else { throw fail("'\(tokens[i + 1])' is not a comparison (use < <= > >= = !=)") }
            alternatives[alternatives.count - 1].append(Clause(name: name, op: op, value: tokens[i + 2]))
            i += 3
            if i < tokens.count {
                switch tokens[i].lowercased() {
                case "and": break
                case "or": alternatives.append([])
                default: throw fail("expected 'and' or 'or' after '\(tokens[i - 1])', got '\(tokens[i])'")
                }
                i += 1
                if i == tokens.count { throw fail("ends with '\(tokens[i - 1])'") }
            }
        }
        guard !alternatives[0].isEmpty else { throw fail("empty filter") }
        self.alternatives = alternatives
    }

    static func tokenize(_ text: String) throws -> [String] {
        var tokens: [String] = []
        var chars = Array(text)[...]
        while let c = chars.first {
            if c == " " || c == "\t" { chars = chars.dropFirst(); continue }
            if c == "'" || c == "\"" {
                guard let end = chars.dropFirst().firstIndex(of: c) else { throw CLIError("--where '\(text)': unclosed quote") }
                tokens.append(String(chars[chars.index(after: chars.startIndex)..<end]))
                chars = chars[chars.index(after: end)...]
                continue
            }
            if "<>=!".contains(c) {
                let two = chars.prefix(2)
                if two.count == 2, ["<=", ">=", "==", "!="].contains(String(two)) { tokens.append(String(two)); chars = chars.dropFirst(2) }
                else { tokens.append(String(c)); chars = chars.dropFirst() }
                continue
            }
            let word = chars.prefix { !" \t<>=!'\"".contains($0) }
            tokens.append(String(word))
            chars = chars.dropFirst(word.count)
        }
        return tokens
    }

    /// The values a run offers to a filter.
    static func fields(_ r: RunRecord, lastEpoch: EpochRecord?) -> [String: String] {
        var f: [String: String] = [:]
        for (k, v) in r.hyperparameters { f[k] = v; f["hp." + k] = v }
        for (k, v) in lastEpoch?.metrics ?? [:] where v.isFinite { f[k] = "\(v)" }
        f["id"] = "\(r.id)"; f["status"] = r.status.rawValue; f["label"] = r.label; f["model"] = r.model
        f["dataset"] = r.datasetPath; f["lr"] = "\(r.learningRate)"; f["batch_size"] = "\(r.batchSize)"
        f["epochs"] = "\(r.epochsDone)"; f["seed"] = "\(r.seed)"; f["threads"] = "\(r.threads)"
        if let b = r.bestTestAccuracy, b.isFinite { f["best_test_accuracy"] = "\(b)" }
        if let e = r.bestEpoch { f["best_epoch"] = "\(e)" }
        return f
    }

    /// Throws for a name no run has (a typo), naming the ones there are.
    func checkNames(against known: Set<String>) throws {
        for clause in alternatives.joined() where !known.contains(clause.name) {
            let names = known.filter { !$0.hasPrefix("hp.") }.sorted().joined(separator: ", ")
            throw CLIError("--where: no run has '\(clause.name)'; known names: \(names)")
        }
    }

    func matches(_ fields: [String: String]) -> Bool {
        alternatives.contains { all in all.allSatisfy { clause in
            guard let actual = fields[clause.name] else { return false }
            if let a = Double(actual), let b = Double(clause.value) {
                guard a.isFinite else { return false }
                switch clause.op {
                case .lt: return a < b
                case .le: return a <= b
                case .gt: return a > b
                case .ge: return a >= b
                case .eq: return a == b
                case .ne: return a != b
                }
            }
            switch clause.op {
            case .lt: return actual < clause.value
            case .le: return actual <= clause.value
            case .gt: return actual > clause.value
            case .ge: return actual >= clause.value
            case .eq: return actual == clause.value
            case .ne: return actual != clause.value
            }
        } }
    }
}
