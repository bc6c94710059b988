/// The command-line convention `resnet-run` and `resnet-runs` share (README: "Conventions"):
/// how a command ends and what it says when it fails.
///
/// - Every failure is one line on standard error, `error: …`, and nothing else; a deprecated
///   spelling adds one `note: …` line and still works.
/// - Exit status: 0 success; 1 the command was valid but failed while doing its work (a run that
///   failed or diverged, a corrupt or locked database, a full disk, an image that cannot be
///   decoded); 2 bad input or usage — an unknown option, a bad value, a run, file or database that
///   does not exist or does not fit, options that cannot be combined — and nothing was changed;
///   130 / 143 interrupted by SIGINT / SIGTERM.
/// - `-1`, `-2`, … name runs counted back from the newest; ArgumentParser would read them as
///   options, so they are handed to it as `~1`, `~2` (`RunSelector`) and turned back in messages.
import ArgumentParser
import Foundation
import RunStore

public enum ExitStatus {
    public static let ok: Int32 = 0
    /// The command was valid but failed while working.
    public static let failure: Int32 = 1
    /// Bad input or usage; nothing was changed.
    public static let badInput: Int32 = 2
    public static let interrupted: Int32 = 130
    public static let terminated: Int32 = 143
}

/// A one-line failure of a command, with its exit status (bad input unless said otherwise).
public struct CLIError: Error, CustomStringConvertible {
    public var description: String
    public var status: Int32

    public init(_ description: String, status: Int32 = ExitStatus.badInput) {
        self.description = description.split(whereSeparator: \.isNewline).joined(separator: " ")
        self.status = status
        OwnMessages.record(self.description)
    }
}

/// Messages of errors this program made itself, so that an error ArgumentParser reports from a
/// `validate()` is printed as written, while ArgumentParser's own messages get a pointer to `--help`.
enum OwnMessages {
    nonisolated(unsafe) static var messages = Set<String>()
    static func record(_ message: String) { messages.insert(message) }
}

/// Why the last `ExpressibleByArgument` value of ours was refused ("'fast' is not a number"):
/// ArgumentParser only says which option; the message printed is `--lr: 'fast' is not a number`.
public enum ArgumentValueFailure {
    nonisolated(unsafe) public static var pending: String?
    public static func refuse(_ why: String) { pending = why }
}

/// Deprecated spellings: one `note:` line on standard error each, and the command goes on.
public enum Deprecation {
    nonisolated(unsafe) static var printed = Set<String>()
    public static func note(_ text: String) {
        guard printed.insert(text).inserted else { return }
        writeStandardError("note: \(text)\n")
    }
}

/// Writes to standard error and ignores failures (a closed pipe must never end a command).
public func writeStandardError(_ text: String) {
    let data = Array(text.utf8)
    data.withUnsafeBytes { bytes in
        var done = 0
        while done < bytes.count {
            let n = write(STDERR_FILENO, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            done += n
        }
    }
}

public enum CommandLineTool {
    /// Parses `arguments` for `root`, runs the command and exits with the convention's status.
    /// `classify` maps the program's own error types to an exit status and a message (nil: the
    /// default rules: `CLIError`, `RunStoreError`, ArgumentParser's errors; anything else is 1).
    public static func main(_ root: ParsableCommand.Type, arguments: [String] = Array(CommandLine.arguments.dropFirst()),
                            classify: (Error) -> (status: Int32, message: String)? = { _ in nil }) -> Never {
        let args = RunSelector.protectingRelativeSelectors(arguments)
        // ArgumentParser accepts a parent command's options after a subcommand; --version belongs to
        // the program alone.
        if args.contains("--version"), args.first != "--version" || args.count > 1 {
            fail("--version is an option of \(root._commandName) itself: \(root._commandName) --version", status: ExitStatus.badInput)
        }
        var command: ParsableCommand
        do {
            command = try root.parseAsRoot(args)
        } catch {
            if root.exitCode(for: error) == .success { root.exit(withError: error) }  // --help, --version, completion
            fail(usageMessage(root, error, args), status: ExitStatus.badInput)
        }
        do {
            try command.run()
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch let clean as CleanExit {
            root.exit(withError: clean)
        } catch {
            if let (status, message) = classify(error) ?? classification(error) { fail(message, status: status) }
            // ArgumentParser's own errors: `help` (a command that prints help), usage errors.
            switch root.exitCode(for: error) {
            case .success: root.exit(withError: error)
            case .validationFailure: fail(usageMessage(root, error, args), status: ExitStatus.badInput)
            default: fail(oneLine(root.message(for: error)), status: ExitStatus.failure)
            }
        }
        Foundation.exit(ExitStatus.ok)
    }

    /// The default status and message of an error raised while a command runs (nil: one of
    /// ArgumentParser's).
    public static func classification(_ error: Error) -> (status: Int32, message: String)? {
        switch error {
        case let e as CLIError: return (e.status, e.description)
        case let e as RunStoreError: return (e.exitStatus, e.description)
        case let e as ValidationError: return (ExitStatus.badInput, oneLine(e.message))
        default:
            let type = "\(Swift.type(of: error))"
            if type == "CommandError" || type == "ParserError" || error is CleanExit { return nil }
            return (ExitStatus.failure, oneLine("\(error)"))
        }
    }

    static func fail(_ message: String, status: Int32) -> Never {
        writeStandardError("error: \(message)\n")
        Foundation.exit(status)
    }

    /// One line for an error found while parsing or validating the command line.
    static func usageMessage(_ root: ParsableCommand.Type, _ error: Error, _ args: [String]) -> String {
        let raw = oneLine(root.message(for: error))
        let text = RunSelector.unprotectingMessage(raw)
        // A value of one of our argument types: "--lr: 'fast' is not a number".
        if let why = ArgumentValueFailure.pending, let option = invalidValueOption(raw) {
            return "\(option): \(RunSelector.unprotectingMessage(why))"
        }
        if OwnMessages.messages.contains(raw) { return text }
        return text + " (see '\(commandPath(root, args)) --help')"
    }

    /// `--lr` in ArgumentParser's "The value 'x' is invalid for '--lr <lr>'".
    static func invalidValueOption(_ message: String) -> String? {
        guard let range = message.range(of: "' is invalid for '") else { return nil }
        let rest = message[range.upperBound...]
        let name = rest.prefix { $0 != " " && $0 != "'" }
        return name.hasPrefix("-") ? String(name) : nil
    }

    /// "resnet-runs list": the root's name and the subcommands named at the start of `args`.
    static func commandPath(_ root: ParsableCommand.Type, _ args: [String]) -> String {
        var names = [root._commandName]
        var current: ParsableCommand.Type = root
        for arg in args {
            if arg.hasPrefix("-") { continue }
            guard let sub = current.configuration.subcommands.first(where: { $0._commandName == arg }) else { break }
            names.append(sub._commandName)
            current = sub
        }
        return names.joined(separator: " ")
    }

    /// ArgumentParser's messages may list choices on further lines: one line, items joined by ", ".
    static func oneLine(_ text: String) -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true).map { $0.trimmingCharacters(in: .whitespaces) }
        guard var first = lines.first else { return text }
        let rest = lines.dropFirst().map { $0.hasPrefix("- ") ? String($0.dropFirst(2)) : $0 }
        if !rest.isEmpty { first += " " + rest.joined(separator: ", ") }
        return first
    }
}

extension RunStoreError {
    /// 2 when the database, run or snapshot named on the command line is not there or is not
    /// an experiment store (bad input); 1 when the store failed while working (corrupt, locked,
    /// read-only, full, an I/O error, a checksum mismatch).
    public var exitStatus: Int32 { isBadInput ? ExitStatus.badInput : ExitStatus.failure }
}

public enum ResnetSwift {
    /// The version both CLIs print (`--version`) and record with every run.
    public static let version = "0.1.0"
}
