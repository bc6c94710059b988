/// The file-size limit (`ulimit -f`, RLIMIT_FSIZE): by default the kernel kills a process that
/// writes past it (SIGXFSZ). Ignoring the signal makes that write fail with EFBIG instead, which
/// the experiment store reports as one line naming the file (database or -wal) and the limit.
import Foundation

/// Called first thing in `ResnetRun.main()`.
func ignoreFileSizeLimitSignal() {
    signal(SIGXFSZ, SIG_IGN)
}
