import Bus
import Foundation
import Logging
import ServiceLifecycle
import ZeroMQ

/// Serves the log by offset, so readers that joined late or lost PUB messages catch up.
///
/// Request (one frame): `{"from": N, "limit": M, "types": ["be.wzt.intake.*"]}` (`limit` and
/// `types` optional). Reply: a header frame `{"status":"ok","head":H,"next":X,"count":K}` then,
/// per event, an offset frame and an envelope frame. `next` is where the following request starts.
/// Every answer is first shown to `audit` with the reader's name (its CURVE key's, nil without
/// CURVE); if that throws, the events are not sent.
public final class ReplayServer: Service, Sendable {
    public typealias Audit = @Sendable (_ reader: String?, _ events: [StoredEvent]) throws -> Void

    static let maxLimit = 5000
    static let maxTypes = 64

    private let socket: Socket
    private let log: EventLog
    private let logger: Logger
    private let audit: Audit?
    private let stop = StopSignal()
    public let endpoint: String

    public init(context: Context, log: EventLog, configuration: TransportConfiguration, audit: Audit? = nil, logger: Logger) throws {
        socket = try context.boundSocket(.router, endpoint: configuration.replayEndpoint, role: "replay", key: "replay.endpoint") { socket throws(ZeroMQError) in
            try socket.setMaxMessageSize(64 << 10)
            try socket.secure(with: configuration.security)
        }
        self.endpoint = socket.lastEndpoint
        self.log = log
        self.audit = audit
        self.logger = logger
    }

    public func run() async throws {
        logger.info("replay serving", metadata: ["bus.endpoint": "\(endpoint)"])
        try await SocketThread.run(name: "wzt.replay", stop: stop) { try self.loop() }
    }

    private func loop() throws {
        var poller = Poller([.socket(socket), .fileDescriptor(stop.wakeup.fileDescriptor)])
        while !stop.isRequested {
            guard try poller.poll(timeoutMilliseconds: 500)[0] else { continue }
            while let (frames, reader) = try socket.receiveWithUserID(dontWait: true) {
                guard let (sender, payload) = Sender.split(frames) else { continue }
                do {
                    try socket.send(sender.reply(answer(Array(payload), reader: reader)), dontWait: true)
                } catch {
                    guard error.isAgain || error.code == EHOSTUNREACH else { throw error }
                }
            }
        }
        socket.close()
    }

    private func answer(_ payload: [[UInt8]], reader: String?) -> [[UInt8]] {
        guard payload.count == 1,
              let request = try? JSONDecoder().decode(ReplayRequest.self, from: Data(payload[0])) else {
            return [Array(#"{"status":"error","reason":"send one frame: {\"from\": OFFSET, \"limit\": N, \"types\": [PATTERN, ...]}"}"#.utf8)]
        }
        guard request.from >= 0 else { return Self.error("`from` is an offset, 0 or more; got \(request.from)") }
        guard (request.types ?? []).count <= Self.maxTypes else { return Self.error("at most \(Self.maxTypes) `types` in one request") }
        do {
            let patterns = try (request.types ?? []).map { pattern throws(EnvelopeError) in try EventPattern(pattern) }
            let limit = min(max(request.limit ?? 1000, 1), Self.maxLimit)
            let head = log.headOffset
            let events = try log.eventsNow(after: max(request.from, 1) - 1, matching: patterns, limit: limit)
            // Events appended after `head` was read may be in `events`; never hand them out twice.
            // A full page goes on after its last event; a short one after all it looked at.
            let last = events.count == limit ? events.last?.offset : nil
            let next = last.map { $0 + 1 } ?? max(head, events.last?.offset ?? 0, max(request.from, 1) - 1) + 1
            do {
                try audit?(reader, events)
            } catch {
                logger.error("replay not served: the read could not be audited", metadata: ["bus.error": "\(error)"])
                return [Array(#"{"status":"error","reason":"the read could not be written to the audit log; nothing was sent"}"#.utf8)]
            }
            var frames = [Array(#"{"status":"ok","head":\#(head),"next":\#(next),"count":\#(events.count)}"#.utf8)]
            for event in events {
                frames.append(Array(String(event.offset).utf8))
                frames.append(event.json)
            }
            return frames
        } catch {
            let reason = (error as? EnvelopeError)?.reason ?? "the log could not be read"
            return Self.error(reason)
        }
    }

    private static func error(_ reason: String) -> [[UInt8]] {
        [Array(#"{"status":"error","reason":\#(Reply.jsonString(reason))}"#.utf8)]
    }
}

private struct ReplayRequest: Decodable {
    let from: Int64
    let limit: Int?
    let types: [String]?
}
