import CZeroMQ

/// Waits until any of a set of sockets or file descriptors is readable.
public struct Poller {
    public enum Item {
        case socket(Socket)
        case fileDescriptor(Int32)
    }

    private var items: [zmq_pollitem_t]

    public init(_ watched: [Item]) {
        items = watched.map { item in
            switch item {
            case .socket(let socket):
                zmq_pollitem_t(socket: socket.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
            case .fileDescriptor(let fd):
                zmq_pollitem_t(socket: nil, fd: fd, events: Int16(ZMQ_POLLIN), revents: 0)
            }
        }
    }

    /// Blocks up to `timeoutMilliseconds` (-1: forever) and returns, per watched item in order,
    /// whether it is readable.
    public mutating func poll(timeoutMilliseconds: Int = -1) throws(ZeroMQError) -> [Bool] {
        let count = Int32(items.count)
        try zmqCall("poll") { items.withUnsafeMutableBufferPointer { zmq_poll($0.baseAddress, count, timeoutMilliseconds) } }
        return items.map { $0.revents & Int16(ZMQ_POLLIN) != 0 }
    }
}
