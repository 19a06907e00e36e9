import Bus
import Logging
import struct NIOConcurrencyHelpers.NIOLockedValueBox
import ServiceLifecycle
import Synchronization
import ZeroMQ

/// Publishes every appended event on a PUB socket as three frames: the type (the topic, so
/// readers filter by prefix), the offset in decimal, and the envelope JSON.
///
/// Best effort by design: PUB drops for readers that cannot keep up. Readers that need every
/// event fill gaps from the replay endpoint (`wzt tail` does).
public final class Egress: Service, Sendable {
    /// Events held for the socket thread before the oldest are dropped (counted in `dropped`).
    static let queueLimit = 100_000

    private let socket: Socket
    private let logger: Logger
    private let stop: StopSignal
    private let queue = NIOLockedValueBox<[StoredEvent]>([])
    private let droppedCount = Atomic<Int>(0)
    public let endpoint: String

    public init(context: Context, log: EventLog, configuration: TransportConfiguration, logger: Logger) throws {
        stop = try StopSignal()
        socket = try context.boundSocket(.pub, endpoint: configuration.egressEndpoint, role: "egress", key: "egress.endpoint") { socket throws(ZeroMQError) in
            try socket.setHighWaterMarks(send: 100_000, receive: 1000)
            try socket.secure(with: configuration.security)
        }
        self.endpoint = socket.lastEndpoint
        self.logger = logger
        log.onCommit { [self] events in
            let overflow = queue.withLockedValue { queue in
                queue.append(contentsOf: events)
                let overflow = max(0, queue.count - Self.queueLimit)
                queue.removeFirst(overflow)
                return overflow
            }
            if overflow > 0 { droppedCount.add(overflow, ordering: .relaxed) }
            stop.wakeup.signal()
        }
    }

    /// Events not published because readers (or this thread) fell behind.
    public var dropped: Int { droppedCount.load(ordering: .relaxed) }

    public func run() async throws {
        logger.info("egress publishing", metadata: ["bus.endpoint": "\(endpoint)"])
        try await SocketThread.run(name: "wzt.egress", stop: stop) { try self.loop() }
    }

    private func loop() throws {
        var poller = Poller([.fileDescriptor(stop.wakeup.fileDescriptor)])
        while !stop.isRequested {
            _ = try poller.poll(timeoutMilliseconds: 500)
            stop.wakeup.drain()
            let events = queue.withLockedValue { queue in
                defer { queue.removeAll(keepingCapacity: true) }
                return queue
            }
            for event in events {
                do {
                    try socket.send([Array(event.type.utf8), Array(String(event.offset).utf8), event.json], dontWait: true)
                } catch {
                    guard error.isAgain else { throw error }
                    droppedCount.add(1, ordering: .relaxed)
                }
            }
        }
        socket.close()
    }
}
