import Logging

/// Where a module's published events go: the log in this process, or the link to a core's log.
public protocol EventAppender: Sendable {
    /// Returns once every envelope is durable in the log (or was already there).
    func append(_ envelopes: [Envelope]) async throws -> [Appended]
}

extension EventLog: EventAppender {}

/// Where a module's events come from: this process's log (through a `Dispatcher`), or a core
/// that pushes them over a link. Runs until shutdown.
public protocol EventSource: Sendable {
    func deliver(to subscriber: any Subscriber, logger: Logger) async throws
    /// Whether events for `subscriber` wait unapplied. A module that is behind fires no timer:
    /// an event in its backlog (a decision in an imported history) may cancel it.
    func hasBacklog(for subscriber: any Subscriber) async throws -> Bool
}

extension EventSource {
    /// A source that cannot see the log's head (a core pushing over a link) never holds timers back.
    public func hasBacklog(for subscriber: any Subscriber) async throws -> Bool { false }
}

/// The log in this process, read from the subscriber's cursor by a `Dispatcher`; with a
/// projection, the subscriber is handed only the fields it allows.
public struct LogSource: EventSource {
    public let log: EventLog
    public let configuration: Dispatcher.Configuration
    public let projection: Projection?

    public init(log: EventLog, configuration: Dispatcher.Configuration = .init(), projection: Projection? = nil) {
        self.log = log
        self.configuration = configuration
        self.projection = projection
    }

    public func deliver(to subscriber: any Subscriber, logger: Logger) async throws {
        let subscriber = projection.map { ProjectingSubscriber(subscriber, projection: $0) } ?? subscriber
        try await Dispatcher(log: log, subscriber: subscriber, configuration: configuration, logger: logger).run()
    }

    public func hasBacklog(for subscriber: any Subscriber) async throws -> Bool {
        let cursor = try await log.cursor(subscriber.subscriptionName)
        return try await !log.events(after: cursor, matching: subscriber.patterns, limit: 1).isEmpty
    }
}

/// The subscriber cannot be reached now (a remote module that is not connected). The event is
/// tried again once it can, without using up its attempts: being away is not the event's fault.
public struct SubscriberUnavailable: Error, CustomStringConvertible, Sendable {
    public let description: String

    public init(_ description: String) { self.description = description }
}
