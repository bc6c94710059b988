/// Ctrl-C (SIGINT) and SIGTERM during training: the handler only stores the signal number in a
/// flag; the trainer reads the flag between steps, finishes cleanly (checkpoint of the last
/// completed epoch, run marked `interrupted`) and the command exits 130. A second signal while
/// the first is being handled exits at once (the run is then reported `crashed` by `resnet-runs`).
#if canImport(Glibc)
import Glibc
#endif

public enum Interrupt {
    /// The signal received (0: none). Written by the handler, read between training steps.
    nonisolated(unsafe) static let flag: UnsafeMutablePointer<sig_atomic_t> = {
        let p = UnsafeMutablePointer<sig_atomic_t>.allocate(capacity: 1)
        p.initialize(to: 0)
        return p
    }()

    /// Installs the handler for SIGINT and SIGTERM (idempotent).
    public static func install() {
        _ = flag  // allocate before any signal can arrive
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { signal in
            if Interrupt.flag.pointee != 0 { _exit(128 + signal) }
            Interrupt.flag.pointee = signal
        }
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        sigaction(SIGINT, &action, nil)
        sigaction(SIGTERM, &action, nil)
    }

    /// The pending signal number, or 0.
    @inline(__always)
    public static var pending: Int32 { flag.pointee }

    /// Sets the flag as a signal would (`--stop-after-epochs`, tests).
    public static func request(_ signal: Int32 = SIGINT) { flag.pointee = signal }

    public static func reset() { flag.pointee = 0 }
}
