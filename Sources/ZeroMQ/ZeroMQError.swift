import CZeroMQ

/// A libzmq call failed. `code` is the `zmq_errno()` value; `message` is libzmq's own text.
public struct ZeroMQError: Error, Hashable, Sendable, CustomStringConvertible {
    public let code: Int32
    public let message: String
    /// The Swift API call that failed, so the log says what was being done.
    public let function: String

    public var description: String { "ZeroMQ \(function): \(message) (errno \(code))" }

    /// The context was terminated: sockets must close and threads return.
    public var isTerminated: Bool { code == CZeroMQ_ETERM() }
    /// A non-blocking call had nothing to do, or a timeout passed.
    public var isAgain: Bool { code == CZeroMQ_EAGAIN() }
}

/// The one place where a libzmq return code becomes a Swift error. Retries on EINTR.
@discardableResult
func zmqCall(_ function: String = #function, _ body: () -> Int32) throws(ZeroMQError) -> Int32 {
    while true {
        let rc = body()
        if rc != -1 { return rc }
        let errno = zmq_errno()
        if errno == CZeroMQ_EINTR() { continue }
        throw ZeroMQError(code: errno, message: String(cString: zmq_strerror(errno)), function: function)
    }
}

/// The libzmq version this process runs against, e.g. "4.3.4".
public var zeroMQVersion: String {
    var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
    zmq_version(&major, &minor, &patch)
    return "\(major).\(minor).\(patch)"
}

/// Whether this libzmq was built with CURVE security.
public var zeroMQHasCurve: Bool { CZeroMQ_has_curve() != 0 }
