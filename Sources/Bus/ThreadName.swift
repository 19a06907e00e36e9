import Foundation

extension Thread {
    /// Names the calling thread for `top -H`, `perf` and /proc (`comm`): Foundation's `Thread.name`
    /// does not reach the kernel on Linux. The kernel keeps at most 15 bytes of a name, so a longer
    /// one is cut at a character boundary rather than refused.
    public static func nameCurrent(_ name: String) {
        #if os(Linux)
        var bytes = 0
        let kept = name.prefix { character in
            bytes += character.utf8.count
            return bytes <= 15
        }
        // `pthread_setname_np` and `prctl` are not visible from Swift here; the kernel takes the
        // name from this file as well. A failure only leaves the inherited name.
        let file = open("/proc/thread-self/comm", O_WRONLY)
        guard file >= 0 else { return }
        _ = String(kept).withCString { write(file, $0, strlen($0)) }
        close(file)
        #endif
    }
}

/// Runs blocking work (a synchronous read, a libzmq call) on a thread of its own, so that it never
/// holds a thread of the cooperative pool: on two cores, two such waits stop every task.
public func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}
