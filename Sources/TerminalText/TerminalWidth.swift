/// How wide the output may be: the `COLUMNS` environment variable when it is set (to 20 or more),
/// else the terminal's width (ioctl TIOCGWINSZ on the output's file descriptor), else nil when the
/// output is not a terminal — a pipe or a file, where callers choose: tables are not limited (a
/// script gets every column), the progress bar assumes 80 columns.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum TerminalWidth {
    /// Width to lay out output to `fd` in, or nil when unlimited (see above).
    public static func columns(fd: Int32 = STDOUT_FILENO) -> Int? {
        if let text = getenv("COLUMNS").map({ String(cString: $0) }), let n = Int(text), n >= 20 { return n }
        guard isatty(fd) != 0 else { return nil }
        var size = winsize()
        if ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_col >= 20 { return Int(size.ws_col) }
        return 80
    }
}
