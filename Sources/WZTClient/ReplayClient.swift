import BusCore
import Foundation
import ZeroMQ

/// Reads the log by offset from a node's replay endpoint.
public final class ReplayClient {
    public struct Page: Sendable {
        public let head: Int64
        public let next: Int64
        public let events: [(offset: Int64, json: [UInt8])]
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        /// No reply came: the node is not there, or not answering.
        public var unreachable = false
    }

    private let socket: Socket
    private let endpoint: String
    private let timeoutMilliseconds: Int32

    public init(context: Context, endpoint: String, curve: CurveCredentials? = nil, timeoutMilliseconds: Int32 = 5000) throws {
        socket = try context.socket(.dealer)
        try socket.secure(with: curve)
        try socket.connect(endpoint)
        self.endpoint = endpoint
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    /// Events from offset `from` (inclusive) of the given types, at most `limit`.
    public func page(from: Int64, limit: Int = 1000, types: [EventPattern] = []) throws -> Page {
        let typeList = types.map { EnvelopeBytes.quoted($0.rawValue) }.joined(separator: ",")
        try socket.send(#"{"from":\#(from),"limit":\#(limit),"types":[\#(typeList)]}"#)
        var poller = Poller([.socket(socket)])
        guard try poller.poll(timeoutMilliseconds: Int(timeoutMilliseconds))[0], let frames = try socket.receive(dontWait: true),
              let header = frames.first else {
            throw Failure(description: "no reply from the replay endpoint \(endpoint) within \(timeoutMilliseconds) ms; is `wzt serve` running there?", unreachable: true)
        }
        guard let status = try? JSONDecoder().decode(PageHeader.self, from: Data(header)), status.status == "ok",
              let head = status.head, let next = status.next else {
            let reason = (try? JSONDecoder().decode(PageHeader.self, from: Data(header)))?.reason ?? "unreadable reply"
            throw Failure(description: "replay refused: \(reason)")
        }
        var events: [(Int64, [UInt8])] = []
        var index = 1
        while index + 1 < frames.count {
            events.append((Int64(String(decoding: frames[index], as: UTF8.self)) ?? 0, frames[index + 1]))
            index += 2
        }
        return Page(head: head, next: next, events: events)
    }
}

private struct PageHeader: Decodable {
    let status: String
    let head: Int64?
    let next: Int64?
    let reason: String?
}
