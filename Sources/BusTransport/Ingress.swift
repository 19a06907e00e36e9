import Bus
import Foundation
import Logging
import Metrics
import struct NIOConcurrencyHelpers.NIOLockedValueBox
import ServiceLifecycle
import ZeroMQ

/// The ZeroMQ front door: a ROUTER socket taking one CloudEvents envelope per message and
/// answering each with an ack (after the event is durable in the log) or a nack with a code.
/// A publisher that starts its messages with the `group-acks` frame gets the acks of one commit
/// in one message instead.
///
/// Messages are read in batches and handed to the log as one append, so a burst from many
/// publishers becomes one group commit. See docs/protocol.md for the wire protocol.
public final class Ingress: Service, Sendable {
    private let socket: Socket
    private let log: EventLog
    private let decoder: EnvelopeDecoder
    private let configuration: TransportConfiguration
    private let logger: Logger
    private let stop: StopSignal
    /// Appends the log has finished, answered on the ingress thread: the log's writer, which
    /// every append in the process waits for, only hands the result over.
    private let completed = NIOLockedValueBox<[CompletedAppend]>([])
    public let endpoint: String
    public let counters = IngressCounters()

    public init(context: Context, log: EventLog, decoder: EnvelopeDecoder, configuration: TransportConfiguration, logger: Logger) throws {
        stop = try StopSignal()
        socket = try context.boundSocket(.router, endpoint: configuration.ingressEndpoint, role: "ingress", key: "ingress.endpoint") { socket throws(ZeroMQError) in
            // Deep queues: publishers keep many events in flight, and an ack must not be dropped.
            try socket.setHighWaterMarks(send: 100_000, receive: 100_000)
            // Frames beyond this close the connection before they are read; smaller ones too large
            // for the bus get a nack. 16x the event limit keeps a 10 MiB frame answerable.
            try socket.setMaxMessageSize(Int64(max(decoder.maxBytes * 16, 16 << 20)))
            try socket.secure(with: configuration.security)
        }
        self.endpoint = socket.lastEndpoint
        self.log = log
        self.decoder = decoder
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        logger.info("ingress listening", metadata: ["bus.endpoint": "\(endpoint)"])
        try await SocketThread.run(name: "wzt.ingress", stop: stop) { try self.loop() }
        logger.info("ingress stopped")
    }

    private func loop() throws {
        var poller = Poller([.socket(socket), .fileDescriptor(stop.wakeup.fileDescriptor)])
        // Counted in events and bytes, not appends: publishers that send one event at a time
        // make small batches, and a limit of four appends stopped the reading while a commit
        // ran, so the next commit carried fewer events (docs/performance.md).
        var inFlight = (events: 0, bytes: 0)
        while true {
            let stopping = stop.isRequested
            if stopping && inFlight.events == 0 { break }
            let readable = try poller.poll(timeoutMilliseconds: 250)
            if readable[1] {
                stop.wakeup.drain()
                let appends = completed.withLockedValue { queue in
                    defer { queue.removeAll(keepingCapacity: true) }
                    return queue
                }
                for append in appends {
                    inFlight.events -= append.ids.count
                    inFlight.bytes -= append.bytes
                }
                try answer(appends)
            }
            if readable[0] && !stopping && inFlight.events < configuration.ingressMaxEventsInFlight && inFlight.bytes < 16 * decoder.maxBytes {
                let started = try readBatch()
                inFlight.events += started.events
                inFlight.bytes += started.bytes
            }
        }
        socket.close()
    }

    /// Reads what is waiting (up to the batch size), nacks what is invalid at once, and hands
    /// the rest to the log. Returns how many events, of how many bytes, it handed over.
    private func readBatch() throws -> (events: Int, bytes: Int) {
        var received: [Received] = []
        // Bytes as well as messages: frames up to 16x the event limit get here to be nacked,
        // and a batch of those must not hold gigabytes.
        var receivedBytes = 0
        while received.count < configuration.ingressBatchSize, receivedBytes < 4 * decoder.maxBytes,
              let (frames, client) = try socket.receiveWithUserID(dontWait: true) {
            guard let (sender, payload) = Sender.split(frames) else { continue }
            received.append(Received(sender: sender, payload: payload, client: client))
            receivedBytes += payload.reduce(0) { $0 + $1.count }
        }
        // Validation is most of what an event waits for before its commit: a large batch is
        // checked on every core, in order.
        let checked = received.concurrentMap(minimumPerThread: envelopesPerThread) { message in
            Result { () throws(EnvelopeError) in try check(message) }
        }
        var envelopes: [Envelope] = []
        var requesters: [Requester] = []
        for (message, result) in zip(received, checked) {
            switch result {
            case .success(let envelope):
                envelopes.append(envelope)
                requesters.append(Requester(sender: message.sender, groupsAcks: message.groupsAcks))
            case .failure(let refusal):
                counters.nacked(refusal.code)
                logger.debug("event refused", metadata: ["bus.code": "\(refusal.code)"])
                try send(message.sender.reply(Reply.nack(id: message.envelopeFrame.flatMap(bestEffortID), refusal)))
            }
        }
        guard !envelopes.isEmpty else { return (0, 0) }
        let ids = envelopes.map(\.id)
        let bytes = envelopes.reduce(0) { $0 + $1.json.count }
        log.append(envelopes) { [self, requesters] result in
            completed.withLockedValue { $0.append(CompletedAppend(requesters: requesters, ids: ids, bytes: bytes, result: result)) }
            stop.wakeup.signal()
        }
        return (ids.count, bytes)
    }

    /// The envelope of `message` when it is one the bus takes from this publisher.
    private func check(_ message: Received) throws(EnvelopeError) -> Envelope {
        guard let frame = message.envelopeFrame else {
            throw EnvelopeError(.extraFrames, "send one frame per message (the envelope JSON), or two: `group-acks` and the envelope; got \(message.payload.count) frames")
        }
        let envelope = try decoder.decode(frame)
        if let security = configuration.security, !security.allows(message.client, toPublish: envelope.type.rawValue) {
            throw EnvelopeError(.forbidden, "key \(message.client ?? "(none)") may not publish \(envelope.type); the node's security.keys say which types it may")
        }
        try configuration.actors.check(envelope, publisher: message.client)
        return envelope
    }

    /// Answers the appends that finished since the last wake-up: the acks a publisher asked to
    /// have grouped go out as one message per publisher, after the others.
    private func answer(_ appends: [CompletedAppend]) throws {
        var grouped = GroupedAcks()
        for append in appends {
            switch append.result {
            case .success(let appended):
                counters.acked(appended)
                for (requester, event) in zip(append.requesters, appended) {
                    if requester.groupsAcks {
                        grouped.add(event, for: requester.sender)
                    } else {
                        try send(requester.sender.reply(Reply.ack(event)))
                    }
                }
            case .failure(let error):
                counters.nacked(error.code, count: append.ids.count)
                for (requester, id) in zip(append.requesters, append.ids) { try send(requester.sender.reply(Reply.nack(id: id, error))) }
            }
        }
        for group in grouped.groups { try send(group.sender.reply(group.frame + Reply.groupedAcksEnd), events: group.events) }
    }

    private func send(_ frames: Message, events: Int = 1) throws {
        do {
            try socket.send(frames, dontWait: true)
        } catch {
            let code = error.code
            guard code == EHOSTUNREACH || code == EAGAIN else { throw error }
            // The publisher is gone or not reading; it will retry with the same ids and get the offsets.
            counters.undeliverable(events)
        }
    }

    private func bestEffortID(_ frame: [UInt8]) -> String? {
        guard frame.count <= decoder.maxBytes,
              let object = try? JSONSerialization.jsonObject(with: Data(frame)) as? [String: Any],
              let id = object["id"] as? String, id.utf8.count <= 128 else { return nil }
        return id
    }
}

typealias Message = [[UInt8]]

/// A message read by the ingress: who sent it (its route, and its CURVE key when there is one)
/// and its frames after the route.
private struct Received {
    let sender: Sender
    let payload: ArraySlice<[UInt8]>
    let client: String?

    /// The first frame of a request whose publisher wants the acks of one commit in one message.
    private static let groupAcksFrame = Array("group-acks".utf8)

    /// The first frame asks for the acks of one commit in one message (docs/protocol.md).
    var groupsAcks: Bool { payload.count == 2 && payload.first == Self.groupAcksFrame }

    /// The envelope, when the message has one of the two shapes the protocol allows.
    var envelopeFrame: [UInt8]? { payload.count == 1 || groupsAcks ? payload.last : nil }
}

/// Whom to answer for an event in the log's hands, and how.
private struct Requester {
    let sender: Sender
    let groupsAcks: Bool
}

/// The acks of one wake-up for the publishers that asked to have them grouped: one reply frame
/// per publisher, built as the acks come.
private struct GroupedAcks {
    struct Group {
        let sender: Sender
        var frame: [UInt8]
        var events: Int
    }
    private(set) var groups: [Group] = []
    /// The index in `groups` of each publisher's route; a handful of publishers, thousands of acks.
    private var indexByRoute: [[UInt8]: Int] = [:]

    mutating func add(_ event: Appended, for sender: Sender) {
        let index: Int
        if let known = indexByRoute[sender.route] {
            index = known
            groups[index].frame.append(UInt8(ascii: ","))
        } else {
            index = groups.count
            indexByRoute[sender.route] = index
            groups.append(Group(sender: sender, frame: Reply.groupedAcksStart, events: 0))
        }
        Reply.appendGroupedAck(event, to: &groups[index].frame)
        groups[index].events += 1
    }
}

private struct CompletedAppend {
    let requesters: [Requester]
    let ids: [String]
    /// The envelopes' bytes, counted while in flight.
    let bytes: Int
    let result: Result<[Appended], EnvelopeError>
}

/// What the ingress has answered since start.
public final class IngressCounters: Sendable {
    private let state = NIOLockedValueBox(Snapshot())
    private let ackedTotal = Counter(label: "wzt_ingress_acked_total")
    private let duplicatesTotal = Counter(label: "wzt_ingress_duplicates_total")
    /// One per code, at 0 from the start: a rate over a code is defined before its first nack.
    private let nackedTotal = Dictionary(uniqueKeysWithValues: EnvelopeError.Code.allCases.map {
        ($0, Counter(label: "wzt_ingress_nacked_total", dimensions: [("code", $0.rawValue)]))
    })

    public struct Snapshot: Sendable {
        public var acked = 0
        public var duplicates = 0
        public var nacked: [String: Int] = [:]
        public var undeliverable = 0
    }

    public var snapshot: Snapshot { state.withLockedValue { $0 } }

    /// Counts the events of one append at once: the ingress thread answers thousands a second.
    func acked(_ events: [Appended]) {
        let duplicates = events.count { $0.duplicate }
        state.withLockedValue {
            $0.acked += events.count
            $0.duplicates += duplicates
        }
        ackedTotal.increment(by: events.count)
        if duplicates > 0 { duplicatesTotal.increment(by: duplicates) }
    }

    func nacked(_ code: EnvelopeError.Code, count: Int = 1) {
        state.withLockedValue { $0.nacked[code.rawValue, default: 0] += count }
        (nackedTotal[code] ?? Counter(label: "wzt_ingress_nacked_total", dimensions: [("code", code.rawValue)])).increment(by: count)
    }
    func undeliverable(_ events: Int) { state.withLockedValue { $0.undeliverable += events } }
}
