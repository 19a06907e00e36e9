import BusCore
import ZeroMQ

/// A node's events in offset order, without gaps or repeats: what the log holds from a starting
/// offset (read through replay), then the live feed, going back to replay whenever the live feed
/// skipped something (a slow subscriber's messages dropped, a reconnect). docs/protocol.md,
/// "Live feed and replay".
public final class EventFeed {
    public struct Event: Sendable {
        public let offset: Int64
        /// The envelope as the log holds it (personal fields as the node hands them out).
        public let json: [UInt8]
    }

    private let live: Socket
    private let replay: ReplayClient
    private let patterns: [EventPattern]
    /// The next offset to hand out.
    public private(set) var position: Int64
    private var ready: [Event] = []
    private var readyIndex = 0

    /// Follows the node from offset `from` (nil: from the events appended after now), only the
    /// events of `types` (every type when empty).
    public init(context: Context, live liveEndpoint: String, replay replayEndpoint: String, types: [EventPattern] = [],
                from: Int64? = nil, curve: CurveCredentials? = nil) throws {
        live = try context.socket(.sub)
        try live.secure(with: curve)
        try live.setHighWaterMarks(send: 1000, receive: 100_000)
        for prefix in Set(types.isEmpty ? [""] : types.map(\.literalPrefix)) { try live.subscribe(prefix) }
        try live.connect(liveEndpoint)
        replay = try ReplayClient(context: context, endpoint: replayEndpoint, curve: curve)
        patterns = types
        position = try from ?? (replay.page(from: 0, limit: 1).head + 1)
        try catchUp()
    }

    /// The next event, waiting at most `timeoutMilliseconds` for one; nil when none came.
    public func next(timeoutMilliseconds: Int = 1000) throws -> Event? {
        if let event = takeReady() { return event }
        var poller = Poller([.socket(live)])
        guard try poller.poll(timeoutMilliseconds: timeoutMilliseconds)[0] else { return nil }
        while let frames = try live.receive(dontWait: true) {
            guard frames.count == 3, let offset = Int64(String(decoding: frames[1], as: UTF8.self)) else { continue }
            if offset < position { continue }
            if offset > position {
                // Something between was missed (or is of a type this feed does not take): the log says which.
                try catchUp()
                if offset < position { continue }
            }
            let type = String(decoding: frames[0], as: UTF8.self)
            if patterns.isEmpty || patterns.contains(where: { $0.matches(type) }) { ready.append(Event(offset: offset, json: frames[2])) }
            position = offset + 1
        }
        return takeReady()
    }

    /// Reads what the log holds from `position` up to its head.
    private func catchUp() throws {
        while true {
            let page = try replay.page(from: position, limit: 1000, types: patterns)
            ready += page.events.map { Event(offset: $0.offset, json: $0.json) }
            position = max(position, page.next)
            if page.events.isEmpty || position > page.head { return }
        }
    }

    private func takeReady() -> Event? {
        guard readyIndex < ready.count else {
            ready.removeAll(keepingCapacity: true)
            readyIndex = 0
            return nil
        }
        defer { readyIndex += 1 }
        return ready[readyIndex]
    }
}
