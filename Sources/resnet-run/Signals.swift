/// Signals that must not end a training run:
/// - SIGXFSZ, the file-size limit (`ulimit -f`, RLIMIT_FSIZE): by default the kernel kills a
///   process that writes past it. Ignored, that write fails with EFBIG instead, which the
///   experiment store reports as one line naming the file (database or -wal) and the limit.
/// - SIGPIPE: `resnet-run train | head` closes the pipe after a few lines. Ignored, printing fails
///   quietly (EPIPE) while training and recording go on; the run ends as it would have.
import Foundation

/// Called first thing in `ResnetRun.main()`.
func installSignalPolicy() {
    signal(SIGXFSZ, SIG_IGN)
    signal(SIGPIPE, SIG_IGN)
}
