import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Holds a data directory for one process. Two nodes on one directory would write one log and
/// one set of module databases with two sets of keys, cursors and caches; the second is refused
/// and told who holds it. The lock is the kernel's (`flock`) on the directory itself, so that
/// deleting `wzt.lock`, which only says who holds it, cannot let a second node in; it ends with
/// the process that holds it, however it ends, so a node killed with kill -9 leaves nothing to
/// clean up.
public final class DataDirectoryLock: Sendable {
    private let directoryDescriptor: Int32
    public let path: String

    public struct Held: Error, CustomStringConvertible {
        public let description: String
    }

    /// Takes the lock of `directory` (created if need be) for `holder`, e.g. "wzt serve".
    public init(_ directory: String, holder: String) throws(Held) {
        path = directory + "/wzt.lock"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw Held(description: "cannot create the data directory \(directory): \(error.localizedDescription)")
        }
        directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directoryDescriptor >= 0 else {
            throw Held(description: "cannot open the data directory \(directory): \(String(cString: strerror(errno))); check its permissions")
        }
        guard flock(directoryDescriptor, LOCK_EX | LOCK_NB) == 0 else {
            let held = errno == EWOULDBLOCK
            let reason = String(cString: strerror(errno))
            let current = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(directoryDescriptor)
            throw Held(description: held
                ? "the data directory \(directory) is in use by \(current.isEmpty ? "another process" : current); stop it first, or give this one its own --data-dir"
                : "cannot lock \(directory): \(reason)")
        }
        let who = "\(holder) (pid \(getpid()) on \(ProcessInfo.processInfo.hostName), since \(Date().formatted(.iso8601)))\n"
        // Who holds it, for the message above; the lock does not depend on this file.
        try? who.write(toFile: path, atomically: true, encoding: .utf8)
    }

    deinit { close(directoryDescriptor) }
}
