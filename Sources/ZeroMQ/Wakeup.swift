#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file descriptor that another thread can make readable, so a thread blocked in
/// `Poller.poll` on sockets also wakes up for work handed to it in memory.
///
/// A pipe, because it works everywhere libzmq does and `zmq_poll` accepts plain descriptors.
public final class Wakeup: Sendable {
    private let readEnd: Int32
    private let writeEnd: Int32

    /// Throws when the process has no file descriptors left (EMFILE, ENFILE).
    public init() throws(ZeroMQError) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            let code = errno
            throw ZeroMQError(code: code, message: "\(String(cString: strerror(code))); raise the open-files limit (ulimit -n)", function: "Wakeup pipe")
        }
        readEnd = fds[0]
        writeEnd = fds[1]
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    }

    deinit {
        close(readEnd)
        close(writeEnd)
    }

    public var fileDescriptor: Int32 { readEnd }

    /// Makes the descriptor readable. Cheap when it already is (the pipe is full: nothing to add).
    public func signal() {
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)
    }

    /// Empties the descriptor after a wake-up, before the waiting thread looks for work.
    public func drain() {
        var buffer = [UInt8](repeating: 0, count: 256)
        while read(readEnd, &buffer, buffer.count) > 0 {}
    }
}
