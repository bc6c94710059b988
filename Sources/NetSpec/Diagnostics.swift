/// Locations and diagnostics for architecture descriptions.
///
/// Every error the front end reports carries the `file:line:column` of the token it is about and one
/// sentence that says what is wrong and what would fix it; `description` renders it the way compilers
/// do, so SwiftPM and editors show it as a build diagnostic pointing into the description file.

public struct SourceLocation: Hashable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

public struct NetSpecError: Error, Equatable, Sendable, CustomStringConvertible {
    public var location: SourceLocation
    public var message: String
    /// Optional second location, e.g. the `use` line that instantiated the template line that failed.
    public var note: (SourceLocation, String)? {
        get { noteLocation.map { ($0, noteText) } }
        set { noteLocation = newValue?.0; noteText = newValue?.1 ?? "" }
    }
    private var noteLocation: SourceLocation?
    private var noteText: String = ""

    public init(_ location: SourceLocation, _ message: String, note: (SourceLocation, String)? = nil) {
        self.location = location
        self.message = message
        self.note = note
    }

    public static func == (a: NetSpecError, b: NetSpecError) -> Bool {
        a.location == b.location && a.message == b.message
    }

    /// `file:line:column: error: message` (plus a `note:` line when the error sits inside a template).
    public var description: String {
        var text = "\(location): error: \(message)"
        if let (loc, msg) = note { text += "\n\(loc): note: \(msg)" }
        return text
    }
}
