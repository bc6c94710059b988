/// `resnet-run train` meeting a -wal/-shm file that another user left next to the database (an
/// older `resnet-runs list` run by that user did): one line naming the file, its owner and what
/// to do, instead of SQLite's bare "attempt to write a readonly database". Needs root to act as
/// two users (setpriv); skipped otherwise.
import Foundation
import RunStore
import XCTest

final class ForeignJournalFileTests: XCTestCase {
    func testTrainNamesAnotherUsersSHMFile() throws {
        let setpriv = URL(fileURLWithPath: "/usr/bin/setpriv")
        guard geteuid() == 0, FileManager.default.isExecutableFile(atPath: setpriv.path) else {
            throw XCTSkip("needs root and /usr/bin/setpriv to run train as one user next to another user's file (uid \(geteuid()))")
        }
        let dir = try makeTemporaryDirectory(self)
        XCTAssertEqual(chmod(dir.path, 0o777), 0)
        let db = dir.appendingPathComponent("runs.db")
        _ = try RunStore(path: db.path, createIfMissing: true)
        let daemon: uid_t = 1, nobody: uid_t = 65534
        XCTAssertEqual(chown(db.path, daemon, daemon), 0)
        let shm = db.path + "-shm"
        XCTAssertTrue(FileManager.default.createFile(atPath: shm, contents: Data(count: 32768), attributes: [.posixPermissions: 0o644]))
        XCTAssertEqual(chown(shm, nobody, nobody), 0)

        let train = ["--reuid=\(daemon)", "--regid=\(daemon)", "--clear-groups", try Paths.resnetRun().path, "train",
                     "--model", "tiny", "--synthetic", "--synthetic-train", "16", "--synthetic-test", "8", "--epochs", "1",
                     "--db", db.path]
        let result = try runCLI(train, in: dir, executable: setpriv)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertEqual(result.stdout, "")
        XCTAssertEqual(result.stderrLines.filter { !$0.hasPrefix("note: ") },
                       ["error: --db: database \(db.path): \(shm) belongs to user nobody and cannot be written by user daemon (a command run as nobody left it); remove it if no process of nobody is using the database, or run as nobody"])
        XCTAssertEqual(try storedRuns(db).count, 0)
    }
}
