/// The directory and file name parts of a path, split at the last "/".
///
/// Why not `NSString.deletingLastPathComponent`/`lastPathComponent`: swift-corelibs-foundation
/// 6.3 traps (SIGILL) on a one-character path such as `a`, which a user may well pass as an
/// output file. These never trap and keep `..`, `~` and relative paths as they are.
public enum PathNames {
    /// "dir/sub/file" → "dir/sub"; "/file" → "/"; "file" → "" (the current directory).
    public static func directory(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "" }
        if slash == trimmed.startIndex { return "/" }
        var directory = trimmed[..<slash]
        while directory.count > 1, directory.hasSuffix("/") { directory = directory.dropLast() }
        return String(directory)
    }

    /// "dir/sub/file" → "file"; "file" → "file"; "dir/" → "dir".
    public static func file(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return String(trimmed) }
        return trimmed.count == 1 ? "/" : String(trimmed[trimmed.index(after: slash)...])
    }
}
