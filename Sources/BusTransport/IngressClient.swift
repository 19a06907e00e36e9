import Bus
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
    }

    private let context: Context
    private let endpoint: String
    private let timeoutMilliseconds: Int32
    private let retries: Int
    private let curve: CurveCredentials?
    private var socket: Socket

    public init(context: Context, endpoint: String, curve: CurveCredentials? = nil, timeoutMilliseconds: Int32 = 2500, retries: Int = 3) throws {
        self.context = context
        self.endpoint = endpoint
        self.curve = curve
        self.timeoutMilliseconds = timeoutMilliseconds
        self.retries = retries
        socket = try Self.connect(context, endpoint, curve)
    }

    private static func connect(_ context: Context, _ endpoint: String, _ curve: CurveCredentials?) throws -> Socket {
        let socket = try context.socket(.dealer)
        try socket.setHighWaterMarks(send: 100_000, receive: 100_000)
        try socket.secure(with: curve)
        try socket.connect(endpoint)
        return socket
    }

    /// Publishes envelopes (each with a distinct `id`) and returns one outcome per envelope, in
    /// order. Throws only when the ingress stays silent through every retry.
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
                try socket.send(envelopes[next].json)
                inFlight.append(next)
                next += 1
            }
            var poller = Poller([.socket(socket)])
            guard try poller.poll(timeoutMilliseconds: Int(timeoutMilliseconds))[0] else {
                silentRounds += 1
                guard silentRounds <= retries else {
                    throw Failure(description: "no reply from \(endpoint) after \(retries + 1) tries of \(timeoutMilliseconds) ms; is `wzt serve` running there?")
                }
                // Lazy Pirate: a fresh socket, the same events again.
                socket = try Self.connect(context, endpoint, curve)
                for index in inFlight { try socket.send(envelopes[index].json) }
                continue
            }
            silentRounds = 0
            while let frames = try socket.receive(dontWait: true) {
                guard let frame = frames.last, let reply = try? JSONDecoder().decode(WireReply.self, from: Data(frame)),
                      let id = reply.id, let index = indexByID[id], outcomes[index] == nil else { continue }
                outcomes[index] = reply.outcome
                inFlight.removeAll { $0 == index }
                answered += 1
                progress(answered)
            }
        }
        return outcomes.map { $0! }
    }
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
