import CZeroMQ

/// A libzmq context. Thread-safe; one per process is enough.
///
/// `shutdown()` makes every blocking call on its sockets fail with ETERM, which is how
/// socket-owning threads learn that they must close their sockets and return.
public final class Context: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer

    public init(ioThreads: Int32 = 1) {
        handle = zmq_ctx_new()
        zmq_ctx_set(handle, ZMQ_IO_THREADS, ioThreads)
        // Sockets are created and closed often in tests; keep the default limit ample.
        zmq_ctx_set(handle, ZMQ_MAX_SOCKETS, 4096)
    }

    /// Interrupts blocking calls on all sockets of this context with ETERM.
    public func shutdown() { zmq_ctx_shutdown(handle) }

    deinit { zmq_ctx_term(handle) }

    public func socket(_ type: SocketType) throws(ZeroMQError) -> Socket {
        guard let raw = zmq_socket(handle, type.rawValue) else {
            let errno = zmq_errno()
            throw ZeroMQError(code: errno, message: String(cString: zmq_strerror(errno)), function: "socket(\(type))")
        }
        return Socket(handle: raw, type: type, context: self)
    }
}

public enum SocketType: Int32, Sendable, CustomStringConvertible {
    case pair = 0, pub = 1, sub = 2, req = 3, rep = 4, dealer = 5, router = 6, pull = 7, push = 8

    public var description: String {
        switch self {
        case .pair: "PAIR"
        case .pub: "PUB"
        case .sub: "SUB"
        case .req: "REQ"
        case .rep: "REP"
        case .dealer: "DEALER"
        case .router: "ROUTER"
        case .pull: "PULL"
        case .push: "PUSH"
        }
    }
}
