import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Holds a data directory for one process. Two nodes on one directory would write one log and
/// one set of module databases with two sets of keys, cursors and caches; the second is refused
/// and told who holds it. The lock is the kernel's (`flock`): it ends with the process that holds
/// it, however it ends, so a node killed with kill -9 leaves nothing to clean up.
public final class DataDirectoryLock: Sendable {
    private let descriptor: Int32
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
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw Held(description: "cannot open \(path): \(String(cString: strerror(errno))); check the data directory's permissions")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let held = errno == EWOULDBLOCK
            let reason = String(cString: strerror(errno))
            let current = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(descriptor)
            throw Held(description: held
                ? "the data directory \(directory) is in use by \(current.isEmpty ? "another process" : current); stop it first, or give this one its own --data-dir"
                : "cannot lock \(path): \(reason)")
        }
        let who = "\(holder) (pid \(getpid()) on \(ProcessInfo.processInfo.hostName), since \(Date().formatted(.iso8601)))\n"
        _ = ftruncate(descriptor, 0)
        _ = who.withCString { pwrite(descriptor, $0, strlen($0), 0) }
    }

    deinit { close(descriptor) }
}
