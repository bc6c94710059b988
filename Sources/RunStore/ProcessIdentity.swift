/// `ProcessIdentity`: who owns a `running` run, and whether that process still exists.
///
/// A run row records pid, host name, the kernel boot id and (on Linux) the process start time in
/// clock ticks. On the same host, liveness is decided from the process table: the pid must exist,
/// in the same boot, with the same start time (so a recycled pid is not mistaken for the trainer).
/// For a run owned by another host the heartbeat decides: older than the store's `staleAfter`
/// interval means crashed.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct ProcessIdentity: Sendable, Equatable, Codable {
    public var pid: Int32
    public var host: String
    public var bootID: String?
    public var startTicks: UInt64?

    public init(pid: Int32, host: String, bootID: String?, startTicks: UInt64?) {
        self.pid = pid; self.host = host; self.bootID = bootID; self.startTicks = startTicks
    }

    /// This process.
    public static func current() -> ProcessIdentity {
        let pid = getpid()
        return ProcessIdentity(pid: pid, host: hostName(), bootID: bootID(), startTicks: startTicks(of: pid))
    }

    public static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let bytes = buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    public static func bootID() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8) else { return nil }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? nil : trimmed
    }

    /// Field 22 of /proc/PID/stat (start time in clock ticks after boot), nil if unavailable.
    static func startTicks(of pid: Int32) -> UInt64? { procStat(pid)?.startTicks }

    /// State letter (field 3) and start time (field 22) of /proc/PID/stat.
    static func procStat(_ pid: Int32) -> (state: Character, startTicks: UInt64?)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        // Fields after the parenthesised command name start with field 3 (state).
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard let state = fields.first?.first else { return nil }
        return (state, fields.count > 19 ? UInt64(fields[19]) : nil)
    }

    /// Whether the process is known to be alive (`true`), known to be gone (`false`), or cannot be
    /// checked from here because it ran on another host (`nil`).
    public func isAlive(localHost: String = ProcessIdentity.hostName(),
                        localBootID: String? = ProcessIdentity.bootID()) -> Bool? {
        guard host == localHost else { return nil }
        if let bootID, let localBootID, bootID != localBootID { return false }
        if kill(pid, 0) != 0 && errno == ESRCH { return false }
        if let stat = ProcessIdentity.procStat(pid) {
            // A zombie (killed, not yet reaped) is as dead as a missing process.
            if stat.state == "Z" || stat.state == "X" { return false }
            if let startTicks, let now = stat.startTicks, now != startTicks { return false }
        }
        return true
    }
}
