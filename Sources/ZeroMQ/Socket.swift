import CZeroMQ

/// One libzmq socket.
///
/// libzmq sockets are not thread-safe: a socket belongs to one thread at a time. It may be
/// handed to another thread across a full memory barrier (creating or joining a thread, a lock),
/// which is why it is `@unchecked Sendable`. Closed on deinit with the linger set at creation.
public final class Socket: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer
    public let type: SocketType
    private var closed = false
    /// Keeps the context alive: terminating it while a socket is open would block forever.
    private let context: Context

    init(handle: UnsafeMutableRawPointer, type: SocketType, context: Context) {
        self.handle = handle
        self.type = type
        self.context = context
        // Never hang process exit on undelivered messages unless asked to.
        try? setOption(ZMQ_LINGER, Int32(0))
    }

    deinit { close() }

    public func close() {
        guard !closed else { return }
        closed = true
        zmq_close(handle)
    }

    public func bind(_ endpoint: String) throws(ZeroMQError) {
        try zmqCall("bind(\(endpoint))") { zmq_bind(handle, endpoint) }
    }

    public func connect(_ endpoint: String) throws(ZeroMQError) {
        try zmqCall("connect(\(endpoint))") { zmq_connect(handle, endpoint) }
    }

    /// The endpoint actually bound, e.g. the port chosen for `tcp://127.0.0.1:*`.
    public var lastEndpoint: String {
        var buffer = [CChar](repeating: 0, count: 1024)
        var size = buffer.count
        _ = zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &size)
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: sending

    /// Sends all frames as one multipart message. With `dontWait`, fails with EAGAIN
    /// (`ZeroMQError.isAgain`) instead of blocking when the peer's queue is full.
    public func send(_ frames: [[UInt8]], dontWait: Bool = false) throws(ZeroMQError) {
        for (index, frame) in frames.enumerated() {
            var flags: Int32 = dontWait ? ZMQ_DONTWAIT : 0
            if index < frames.count - 1 { flags |= ZMQ_SNDMORE }
            try zmqCall("send") { frame.withUnsafeBytes { zmq_send(handle, $0.baseAddress, $0.count, flags) } }
        }
    }

    public func send(_ frame: [UInt8], dontWait: Bool = false) throws(ZeroMQError) {
        try send([frame], dontWait: dontWait)
    }

    public func send(_ text: String, dontWait: Bool = false) throws(ZeroMQError) {
        try send([Array(text.utf8)], dontWait: dontWait)
    }

    // MARK: receiving

    /// Receives one whole multipart message. Returns nil when `dontWait` is set (or a receive
    /// timeout passes) and nothing is waiting.
    public func receive(dontWait: Bool = false) throws(ZeroMQError) -> [[UInt8]]? {
        try receiveWithUserID(dontWait: dontWait)?.frames
    }

    /// The same, with the `User-Id` the ZAP handler gave the sender's connection (nil without ZAP).
    public func receiveWithUserID(dontWait: Bool = false) throws(ZeroMQError) -> (frames: [[UInt8]], userID: String?)? {
        var frames: [[UInt8]] = []
        var userID: String?
        repeat {
            var message = zmq_msg_t()
            zmq_msg_init(&message)
            defer { zmq_msg_close(&message) }
            do {
                try zmqCall("receive") { zmq_msg_recv(&message, handle, dontWait && frames.isEmpty ? ZMQ_DONTWAIT : 0) }
            } catch where error.isAgain && frames.isEmpty {
                return nil
            }
            let size = zmq_msg_size(&message)
            if size > 0, let data = zmq_msg_data(&message) {
                frames.append(Array(UnsafeRawBufferPointer(start: data, count: size)))
            } else {
                frames.append([])
            }
            if zmq_msg_more(&message) == 0 {
                // Metadata travels with frames that came from the peer, i.e. the last one (a ROUTER's first is its own).
                userID = zmq_msg_gets(&message, "User-Id").map { String(cString: $0) }
                break
            }
        } while true
        return (frames, userID)
    }

    // MARK: options

    public func setOption(_ option: Int32, _ value: Int32) throws(ZeroMQError) {
        var value = value
        try zmqCall("setsockopt(\(option))") { zmq_setsockopt(handle, option, &value, MemoryLayout<Int32>.size) }
    }

    public func setOption(_ option: Int32, _ value: Int64) throws(ZeroMQError) {
        var value = value
        try zmqCall("setsockopt(\(option))") { zmq_setsockopt(handle, option, &value, MemoryLayout<Int64>.size) }
    }

    public func setOption(_ option: Int32, bytes: [UInt8]) throws(ZeroMQError) {
        try zmqCall("setsockopt(\(option))") { bytes.withUnsafeBytes { zmq_setsockopt(handle, option, $0.baseAddress, $0.count) } }
    }

    public func getOption(_ option: Int32) throws(ZeroMQError) -> Int32 {
        var value: Int32 = 0
        var size = MemoryLayout<Int32>.size
        try zmqCall("getsockopt(\(option))") { zmq_getsockopt(handle, option, &value, &size) }
        return value
    }

    /// Milliseconds a `receive` waits before returning nil; -1 waits forever.
    public func setReceiveTimeout(milliseconds: Int32) throws(ZeroMQError) { try setOption(ZMQ_RCVTIMEO, milliseconds) }
    /// Milliseconds a blocking `send` waits before failing with EAGAIN; -1 waits forever.
    public func setSendTimeout(milliseconds: Int32) throws(ZeroMQError) { try setOption(ZMQ_SNDTIMEO, milliseconds) }
    /// Milliseconds pending messages may still be sent after close.
    public func setLinger(milliseconds: Int32) throws(ZeroMQError) { try setOption(ZMQ_LINGER, milliseconds) }
    /// The high-water marks: how many messages are queued per peer before send blocks or drops.
    public func setHighWaterMarks(send: Int32, receive: Int32) throws(ZeroMQError) {
        try setOption(ZMQ_SNDHWM, send)
        try setOption(ZMQ_RCVHWM, receive)
    }
    /// Frames bigger than this make libzmq drop the connection before the message is read.
    public func setMaxMessageSize(_ bytes: Int64) throws(ZeroMQError) { try setOption(ZMQ_MAXMSGSIZE, bytes) }
    public func setRoutingID(_ id: [UInt8]) throws(ZeroMQError) { try setOption(ZMQ_ROUTING_ID, bytes: id) }
    /// ROUTER: fail a send to an unknown peer with EHOSTUNREACH instead of dropping it silently.
    public func setRouterMandatory(_ on: Bool) throws(ZeroMQError) { try setOption(ZMQ_ROUTER_MANDATORY, Int32(on ? 1 : 0)) }
    /// SUB: receive messages whose first frame starts with `prefix` (empty: everything).
    public func subscribe(_ prefix: String) throws(ZeroMQError) { try setOption(ZMQ_SUBSCRIBE, bytes: Array(prefix.utf8)) }
    /// ZMTP heartbeats: ping every `interval` ms; declare the peer dead after `timeout` ms of silence.
    public func setHeartbeat(intervalMilliseconds: Int32, timeoutMilliseconds: Int32) throws(ZeroMQError) {
        try setOption(ZMQ_HEARTBEAT_IVL, intervalMilliseconds)
        try setOption(ZMQ_HEARTBEAT_TIMEOUT, timeoutMilliseconds)
        try setOption(ZMQ_HEARTBEAT_TTL, timeoutMilliseconds)
    }
}
