/// Naming stored runs on the command line, the same way in both CLIs: `12`; `3-7` or `3..7`
/// (where several runs are taken); `last` (the newest run), `-1`, `-2`, … (counted back from the
/// newest); or a label (`baseline`).
import Foundation
import RunStore

public enum RunSelector: Equatable, Sendable {
    case single(Int64)
    case range(ClosedRange<Int64>)
    /// `last` = 1, `-2` = 2: the nth run counted back from the newest.
    case fromEnd(Int)
    case label(String)

    /// ArgumentParser reads `-2` as an option, so `CommandLineTool.main` hands such arguments over as `~2`.
    public static let fromEndMark = "~"

    /// `-N` arguments rewritten to `~N` for the parser.
    public static func protectingRelativeSelectors(_ arguments: [String]) -> [String] {
        arguments.map { a in
            a.count > 1 && a.hasPrefix("-") && a.dropFirst().allSatisfy(\.isNumber) ? fromEndMark + a.dropFirst() : a
        }
    }

    /// An argument as the user typed it (`~2` → `-2`): for values that are numbers, not runs.
    public static func unprotect(_ argument: String) -> String {
        argument.count > 1 && argument.hasPrefix(fromEndMark) && argument.dropFirst().allSatisfy(\.isNumber)
            ? "-" + argument.dropFirst() : argument
    }

    /// `'~2'` → `'-2'` in a message about an argument.
    public static func unprotectingMessage(_ message: String) -> String {
        guard message.contains("'" + fromEndMark) else { return message }
        var out = "", rest = Substring(message)
        while let r = rest.range(of: "'" + fromEndMark) {
            out += rest[..<r.lowerBound]
            let after = rest[r.upperBound...]
            let digits = after.prefix { $0.isNumber }
            if !digits.isEmpty, after.dropFirst(digits.count).first == "'" { out += "'-" } else { out += "'" + fromEndMark }
            rest = after
        }
        return out + rest
    }

    public static func parse(_ text: String) throws -> RunSelector {
        let t = text.trimmingCharacters(in: .whitespaces)
        guard !t.isEmpty else { throw CLIError("empty run selector: give a run id like 12, a range like 3-7, last, -1 or a label") }
        if t == "last" { return .fromEnd(1) }
        if t.hasPrefix("-") || t.hasPrefix(Self.fromEndMark), let n = Int(t.dropFirst()) {
            guard n >= 1 else { throw CLIError("invalid run selector '\(unprotect(text))': -1 is the newest run, -2 the one before") }
            return .fromEnd(n)
        }
        if let id = Int64(t) {
            guard id > 0 else { throw CLIError("invalid run id '\(text)': run ids are positive integers") }
            return .single(id)
        }
        for separator in ["..", "-"] where t.contains(separator) {
            let parts = t.components(separatedBy: separator)
            // Digits before the separator: meant as a range, so a malformed one is an error, not a label.
            guard Int64(parts[0]) != nil else { continue }
            guard parts.count == 2, let a = Int64(parts[0]), let b = Int64(parts[1]), a > 0, b > 0 else { throw CLIError("invalid run range '\(text)': expected FIRST-LAST with positive ids, e.g. 3-7") }
            guard a <= b else { throw CLIError("invalid run range '\(text)': \(a) is after \(b)") }
            return .range(a ... b)
        }
        return .label(t)
    }

    /// Checks the syntax of a selector that must name one run.
    public static func checkSingle(_ text: String) throws {
        if case .range = try parse(text) { throw CLIError("expected one run id, got the range '\(text)'") }
    }

    /// The one run `text` names in `store`.
    public static func resolveOne(_ text: String, in store: RunStore) throws -> Int64 {
        try checkSingle(text)
        return try resolve([text], in: store)[0]
    }

    /// The one run `text` names in the database at `path`. A plain id is returned without opening
    /// the database (the command that uses it reports a missing run or database in its own words);
    /// `last`, `-N` and labels are looked up read-only.
    public static func resolveOne(_ text: String, databasePath path: String, busyTimeout: Double = 5) throws -> Int64 {
        if case .single(let id) = try parse(text) { return id }
        try checkSingle(text)
        let store = try RunStore(path: path, createIfMissing: false, readOnly: true, busyTimeout: busyTimeout)
        return try resolve([text], in: store)[0]
    }

    /// The run ids one non-range selector names (a label may name several).
    public static func ids(_ selector: RunSelector, _ text: String, in store: RunStore) throws -> [Int64] {
        switch selector {
        case let .single(id):
            guard try store.runExists(id) else { throw RunStoreError.unknownRun(id: id, path: store.path) }
            return [id]
        case let .range(range):
            let ids = try store.runs(ids: range).map(\.id)
            guard !ids.isEmpty else { throw CLIError("no runs with ids \(range.lowerBound)-\(range.upperBound) in \(store.path)") }
            return ids
        case let .fromEnd(n):
            let all = try store.runs().map(\.id)
            guard n <= all.count else {
                throw CLIError("\(n == 1 ? "last" : "-\(n)"): \(store.path) holds \(all.count) run\(all.count == 1 ? "" : "s")")
            }
            return [all[all.count - n]]
        case let .label(label):
            let matching = try store.runs().filter { $0.label == label }.map(\.id)
            guard !matching.isEmpty else {
                throw CLIError("no run labelled '\(label)' in \(store.path) (a run is named by its id, a range like 3-7, last, -1, or its label)")
            }
            return matching
        }
    }

    /// Existing run ids selected by the arguments, in argument order without repeats.
    public static func resolve(_ texts: [String], in store: RunStore) throws -> [Int64] {
        var out: [Int64] = []
        var seen = Set<Int64>()
        for text in texts {
            for id in try ids(try parse(text), text, in: store) where seen.insert(id).inserted { out.append(id) }
        }
        return out
    }
}
