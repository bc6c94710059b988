/// Typed option values shared by both CLIs. Each refuses a bad value with the one-line reason the
/// command prints after the option's name (`--epochs: 'two' is not a whole number`); range checks
/// that depend on the command (at least 1, at most the model's capacity) belong in `validate()`.
import ArgumentParser
import RunStore

/// An integer (`--epochs 20`, `--threads 2`).
public struct WholeNumber: ExpressibleByArgument, Sendable, Equatable {
    public var value: Int
    public init(_ value: Int) { self.value = value }
    public init?(argument: String) {
        let text = RunSelector.unprotect(argument).trimmingCharacters(in: .whitespaces)
        guard let v = Int(text) else {
            ArgumentValueFailure.refuse("'\(RunSelector.unprotect(argument))' is not a whole number")
            return nil
        }
        value = v
    }
    public var defaultValueDescription: String { "\(value)" }
}

/// A real number (`--lr 0.00015`; nan and inf are numbers, refused by the command's checks).
public struct Number: ExpressibleByArgument, Sendable, Equatable {
    public var value: Double
    public init(_ value: Double) { self.value = value }
    public init?(argument: String) {
        let text = RunSelector.unprotect(argument).trimmingCharacters(in: .whitespaces)
        guard let v = Double(text) else {
            ArgumentValueFailure.refuse("'\(RunSelector.unprotect(argument))' is not a number")
            return nil
        }
        value = v
    }
    public var defaultValueDescription: String { "\(value)" }
}

/// Seconds to wait, a finite number ≥ 0 (`--busy-timeout 30`).
public struct Seconds: ExpressibleByArgument, Sendable, Equatable {
    public var value: Double
    public init(_ value: Double) { self.value = value }
    public init?(argument: String) {
        let text = RunSelector.unprotect(argument).trimmingCharacters(in: .whitespaces)
        guard let v = Double(text), v.isFinite, v >= 0 else {
            ArgumentValueFailure.refuse("'\(RunSelector.unprotect(argument))' is not a number of seconds ≥ 0")
            return nil
        }
        value = v
    }
    public var defaultValueDescription: String {
        value == value.rounded() ? "\(Int(value))" : "\(value)"
    }
}

/// A fraction strictly between 0 and 1 (`--validation-split 0.2`).
public struct Fraction: ExpressibleByArgument, Sendable, Equatable {
    public var value: Double
    public init(_ value: Double) { self.value = value }
    public init?(argument: String) {
        guard let v = Double(argument.trimmingCharacters(in: .whitespaces)), v > 0, v < 1 else {
            ArgumentValueFailure.refuse("'\(RunSelector.unprotect(argument))' is not a fraction between 0 and 1 (e.g. 0.2)")
            return nil
        }
        value = v
    }
}

/// A seed, 0 ... Int64.max (it is stored in an SQLite integer).
public struct Seed: ExpressibleByArgument, Sendable, Equatable {
    public var value: UInt64
    public init(_ value: UInt64) { self.value = value }
    public init?(argument: String) {
        guard let v = UInt64(argument.trimmingCharacters(in: .whitespaces)), v <= UInt64(Int64.max) else {
            ArgumentValueFailure.refuse("'\(RunSelector.unprotect(argument))' is not a seed; use a whole number from 0 to \(Int64.max)")
            return nil
        }
        value = v
    }
}

/// An option whose values are an enum's raw strings: anything else is refused in one line that
/// lists them (ArgumentParser's own message names no choices).
public protocol ChoiceArgument: ExpressibleByArgument, CaseIterable, RawRepresentable where RawValue == String {}

extension ChoiceArgument {
    public init?(argument: String) {
        guard let value = Self.choice(argument) else { return nil }
        self = value
    }

    /// The case spelled `argument`, or nil after refusing it in one line that lists the choices.
    public static func choice(_ argument: String) -> Self? {
        guard let value = Self(rawValue: argument) else {
            ArgumentValueFailure.refuse("'\(argument)' is not one of \(allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        return value
    }
}

extension SnapshotKind: ChoiceArgument {}

/// `--format` of commands that print one result: text (default) or json.
public enum TextOrJSON: String, ChoiceArgument, Sendable {
    case text, json
}

/// `--format` of commands that print rows: text, json or csv.
public enum RowFormat: String, ChoiceArgument, Sendable {
    case text, json, csv
}

/// `--format` of the table commands (`list`, `compare`): text, json, csv or markdown; `table`
/// is the old spelling of `text` (kept for one release, with a note).
public enum TableFormat: String, ChoiceArgument, Sendable {
    case text, json, csv, markdown
    public init?(argument: String) {
        if argument == "table" {
            Deprecation.note("--format table is deprecated; use --format text")
            self = .text
            return
        }
        guard let f = Self.choice(argument) else { return nil }
        self = f
    }
}
