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

    private let socket: Socket
    private let log: EventLog
    private let logger: Logger
    private let audit: Audit?
    private let stop: StopSignal
    public let endpoint: String

    public init(context: Context, log: EventLog, configuration: TransportConfiguration, audit: Audit? = nil, logger: Logger) throws {
        stop = try StopSignal()
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
        guard payload.count == 1 else { return Self.error(ReplayRequest.usage) }
        do {
            let request = try ReplayRequest(json: payload[0])
            let patterns = try request.types.map { pattern throws(EnvelopeError) in try EventPattern(pattern) }
            let head = log.headOffset
            let events = try log.eventsNow(after: request.after, matching: patterns, limit: request.limit)
            let next = request.next(head: head, offsets: events.map(\.offset))
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
        } catch let error as ReplayRequestError {
            return Self.error(error.reason)
        } catch let error as EnvelopeError {
            return Self.error(error.reason)
        } catch {
            return Self.error("the log could not be read")
        }
    }

    private static func error(_ reason: String) -> [[UInt8]] {
        [Array(#"{"status":"error","reason":\#(EnvelopeBytes.quoted(reason))}"#.utf8)]
    }
}
