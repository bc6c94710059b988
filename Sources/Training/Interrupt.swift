/// Ctrl-C (SIGINT) and SIGTERM during training: the handler only stores the signal number in a
/// flag; the trainer reads the flag between steps, finishes cleanly (run marked `interrupted`,
/// resumable from its last checkpoint) and the command exits 128 + the signal (130 for Ctrl-C,
/// 143 for SIGTERM).
///
/// A second signal while the first is being handled means "stop now": the handler wakes a
/// watchdog thread (`sem_post` is async-signal-safe; SQLite is not), which runs the last words
/// registered with `onSecondSignal` — the trainer marks the run `interrupted` through its own
/// database connection — and exits with the first signal's status. Without last words, or on a
/// third signal, the process exits at once.
#if canImport(Glibc)
import Glibc
#endif

public enum Interrupt {
    /// The first signal received (0: none). Written by the handler, read between training steps.
    nonisolated(unsafe) static let flag: UnsafeMutablePointer<sig_atomic_t> = {
        let p = UnsafeMutablePointer<sig_atomic_t>.allocate(capacity: 3)
        p.initialize(repeating: 0, count: 3)
        return p
    }()
    /// flag[1]: signals received so far; flag[2]: the watchdog is running.
    private static var received: UnsafeMutablePointer<sig_atomic_t> { flag + 1 }
    private static var watchdogReady: UnsafeMutablePointer<sig_atomic_t> { flag + 2 }
    nonisolated(unsafe) private static let wake: UnsafeMutablePointer<sem_t> = {
        let s = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
        sem_init(s, 0, 0)
        return s
    }()
    nonisolated(unsafe) private static var lastWords: (() -> Void)?
    private static let lock: UnsafeMutablePointer<pthread_mutex_t> = {
        let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(m, nil)
        return m
    }()

    /// Installs the handler for SIGINT and SIGTERM (idempotent).
    public static func install() {
        _ = flag; _ = wake  // allocate before any signal can arrive
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { signal in
            Interrupt.received.pointee += 1
            if Interrupt.received.pointee == 1 {
                Interrupt.flag.pointee = signal
            } else if Interrupt.received.pointee == 2 && Interrupt.watchdogReady.pointee != 0 {
                sem_post(Interrupt.wake)
            } else {
                _exit(128 + (Interrupt.flag.pointee != 0 ? Interrupt.flag.pointee : signal))
            }
        }
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        sigaction(SIGINT, &action, nil)
        sigaction(SIGTERM, &action, nil)
    }

    /// Registers what to do before exiting on a second signal (nil: nothing, exit at once). The
    /// body runs on the watchdog thread while the main thread may be mid-step; it must only use
    /// state of its own (e.g. a new database connection).
    public static func onSecondSignal(_ body: (() -> Void)?) {
        pthread_mutex_lock(lock)
        lastWords = body
        if watchdogReady.pointee == 0 {
            var thread = pthread_t()
            let rc = pthread_create(&thread, nil, { _ in
                while sem_wait(Interrupt.wake) != 0 {}  // EINTR: wait again
                pthread_mutex_lock(Interrupt.lock)
                let body = Interrupt.lastWords
                pthread_mutex_unlock(Interrupt.lock)
                body?()
                _exit(128 + Interrupt.flag.pointee)
            }, nil)
            if rc == 0 {
                pthread_detach(thread)
                watchdogReady.pointee = 1
            }
        }
        pthread_mutex_unlock(lock)
    }

    /// The pending signal number, or 0.
    @inline(__always)
    public static var pending: Int32 { flag.pointee }

    /// Sets the flag as a signal would (`--stop-after-epochs`, tests).
    public static func request(_ signal: Int32 = SIGINT) {
        if flag.pointee == 0 { received.pointee += 1 }
        flag.pointee = signal
    }

    public static func reset() { flag.pointee = 0; received.pointee = 0 }
}
