import Bus

/// Who is told what, and how hard wzt tries. With no channels the module records nothing.
public struct NotificationsConfiguration: Sendable {
    public var channels: [Channel] = []
    /// Attempts per notification before it is listed as failed (`wzt notifications failed`).
    public var maxAttempts = 8
    /// The wait before the second attempt; it doubles after each failure, up to an hour.
    public var firstRetryDelay: Duration = .seconds(5)
    /// How long one attempt may take, connection included.
    public var timeout: Duration = .seconds(10)

    public init() {}

    public func retryDelay(afterAttempt attempt: Int) -> Duration {
        let doubled = firstRetryDelay * (1 << min(max(attempt - 1, 0), 20))
        return min(doubled, .seconds(3600))
    }
}

/// One recipient of notifications: an agency's webhook or mailbox, and the event types it hears about.
public struct Channel: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// HTTP POST of a JSON body, signed with HMAC-SHA256 over "timestamp.body" using `secret`.
        case webhook(url: String, secret: String)
        /// Plain-text mail through an SMTP relay.
        case email(host: String, port: Int, from: String, to: [String])
    }

    /// Unique; names the channel in the delivery log.
    public var name: String
    public var kind: Kind
    /// Of the events that make notices, those this channel hears about.
    public var events: [EventPattern]
    /// Where the recipient looks the case up; `{reference}` is replaced by the case's reference.
    public var link: String?

    public init(name: String, kind: Kind, events: [EventPattern], link: String? = nil) {
        self.name = name
        self.kind = kind
        self.events = events
        self.link = link
    }

    public func hears(_ type: String) -> Bool { events.contains { $0.matches(type) } }
}
