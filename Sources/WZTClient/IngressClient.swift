import BusCore
import Foundation
import ZeroMQ

/// A publisher for the ingress protocol with the Lazy Pirate pattern: keeps up to `window`
/// events in flight, and when no reply comes within the timeout it reconnects and sends the
/// unanswered events again with the same ids, so the log keeps each one once.
public final class IngressClient {
    public enum Outcome: Sendable, Hashable {
        case ack(offset: Int64, duplicate: Bool)
        case nack(code: String, reason: String)
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        /// The answers that came before the silence, one per envelope in order (nil: none came).
        public var outcomes: [Outcome?] = []
    }

    private let context: Context
    private let endpoint: String
    private let timeoutMilliseconds: Int32
    private let retries: Int
    private let curve: CurveCredentials?
    /// Asks for the acks of one commit in one reply (`group-acks`, docs/protocol.md): fewer
    /// messages when many events are in flight. Nacks still come one by one.
    private let groupedAcks: Bool
    private var socket: Socket

    public init(context: Context, endpoint: String, curve: CurveCredentials? = nil, timeoutMilliseconds: Int32 = 2500, retries: Int = 3,
                groupedAcks: Bool = false) throws {
        self.context = context
        self.endpoint = endpoint
        self.curve = curve
        self.timeoutMilliseconds = timeoutMilliseconds
        self.retries = retries
        self.groupedAcks = groupedAcks
        socket = try Self.connect(context, endpoint, curve)
    }

    /// Publishes `data` in a new envelope (a fresh UUIDv7 id, the current time) and waits for
    /// its ack. `actor` and `purpose` say who asked and why, as a publisher that is not a system
    /// publisher must (docs/protocol.md).
    public func publish<T: EventContract>(_ data: T, source: String, subject: String?, actor: Actor? = nil, purpose: Purpose? = nil) throws -> Outcome {
        let id = EventID.make()
        let json = try EnvelopeEncoder.envelope(data, source: source, subject: subject, id: id, actor: actor, purpose: purpose)
        return try publish([(id, json)])[0]
    }

    private func send(_ json: [UInt8]) throws {
        if groupedAcks {
            try socket.send([Array("group-acks".utf8), json])
        } else {
            try socket.send(json)
        }
    }

    private static func connect(_ context: Context, _ endpoint: String, _ curve: CurveCredentials?) throws -> Socket {
        let socket = try context.socket(.dealer)
        try socket.setHighWaterMarks(send: 100_000, receive: 100_000)
        try socket.secure(with: curve)
        try socket.connect(endpoint)
        return socket
    }

    /// Publishes envelopes (each with a distinct `id`) and returns one outcome per envelope, in
    /// order. Throws only when the ingress stays silent through every retry: `Failure`, with the
    /// answers that came before.
    public func publish(_ envelopes: [(id: String, json: [UInt8])], window: Int = 64,
                        progress: (Int) -> Void = { _ in }) throws -> [Outcome] {
        var outcomes = [Outcome?](repeating: nil, count: envelopes.count)
        var indexByID: [String: Int] = [:]
        for (index, envelope) in envelopes.enumerated() { indexByID[envelope.id] = index }
        var next = 0
        var inFlight: [Int] = []
        var answered = 0
        var silentRounds = 0
        while answered < envelopes.count {
            while inFlight.count < window, next < envelopes.count {
                try send(envelopes[next].json)
                inFlight.append(next)
                next += 1
            }
            var poller = Poller([.socket(socket)])
            guard try poller.poll(timeoutMilliseconds: Int(timeoutMilliseconds))[0] else {
                silentRounds += 1
                guard silentRounds <= retries else {
                    throw Failure(description: "no reply from \(endpoint) after \(retries + 1) tries of \(timeoutMilliseconds) ms; is `wzt serve` running there?",
                                  outcomes: outcomes)
                }
                // Lazy Pirate: a fresh socket, the same events again.
                socket = try Self.connect(context, endpoint, curve)
                for index in inFlight { try send(envelopes[index].json) }
                continue
            }
            silentRounds = 0
            while let frames = try socket.receive(dontWait: true) {
                guard let frame = frames.last else { continue }
                for (id, outcome) in Self.replies(in: frame) {
                    guard let index = indexByID[id], outcomes[index] == nil else { continue }
                    outcomes[index] = outcome
                    inFlight.removeAll { $0 == index }
                    answered += 1
                    progress(answered)
                }
            }
        }
        return outcomes.compactMap { $0 }
    }

    /// The outcomes one reply frame carries: one ack or nack, or the acks of one commit.
    static func replies(in frame: [UInt8]) -> [(id: String, outcome: Outcome)] {
        if let grouped = try? JSONDecoder().decode(GroupedAcks.self, from: Data(frame)), grouped.status == "acks" {
            return grouped.acks.map { ($0.id, .ack(offset: $0.offset, duplicate: $0.duplicate)) }
        }
        guard let reply = try? JSONDecoder().decode(WireReply.self, from: Data(frame)), let id = reply.id else { return [] }
        return [(id, reply.outcome)]
    }
}

/// `{"status":"acks","acks":[["<id>",<offset>],["<id>",<offset>,true]]}`.
private struct GroupedAcks: Decodable {
    struct Ack: Decodable {
        let id: String
        let offset: Int64
        let duplicate: Bool

        init(from decoder: any Decoder) throws {
            var fields = try decoder.unkeyedContainer()
            id = try fields.decode(String.self)
            offset = try fields.decode(Int64.self)
            duplicate = try fields.decodeIfPresent(Bool.self) ?? false
        }
    }
    let status: String
    let acks: [Ack]
}

/// One reply frame of the ingress, as a client reads it.
public struct WireReply: Decodable, Sendable {
    public let status: String
    public let id: String?
    public let offset: Int64?
    public let duplicate: Bool?
    public let code: String?
    public let reason: String?

    var outcome: IngressClient.Outcome {
        if status == "ack", let offset { return .ack(offset: offset, duplicate: duplicate ?? false) }
        return .nack(code: code ?? "unknown", reason: reason ?? "")
    }
}
