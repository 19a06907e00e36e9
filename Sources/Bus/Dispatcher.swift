import Foundation
import GRDB
import Logging
import Metrics
import struct NIOConcurrencyHelpers.NIOLockedValueBox
import ServiceLifecycle
import Storage
import Synchronization

/// Feeds one subscriber from the log, in offset order, from its cursor.
///
/// A failing event is retried with backoff and then parked in dead letters, and the cursor moves
/// on: one bad event or one broken subscriber never holds up the others, which each have their
/// own dispatcher. The cursor is saved after the subscriber has made an event durable, never
/// before. On graceful shutdown the event in hand is finished, its cursor saved, then `run`
/// returns; cancelling the task instead abandons the event in hand (it comes again after restart).
public final class Dispatcher: Service, Sendable {
    public struct Configuration: Sendable {
        public var retry: RetryPolicy
        /// A delivery running longer than this is logged (once) with module and event.
        public var slowHandlerThreshold: Duration
        /// Events read from the log at a time.
        public var batchSize: Int
        /// How often an idle dispatcher looks for dead letters an operator asked to retry.
        public var deadLetterPollInterval: Duration

        public init(retry: RetryPolicy = RetryPolicy(), slowHandlerThreshold: Duration = .seconds(2),
                    batchSize: Int = 256, deadLetterPollInterval: Duration = .seconds(1)) {
            self.retry = retry
            self.slowHandlerThreshold = slowHandlerThreshold
            self.batchSize = batchSize
            self.deadLetterPollInterval = deadLetterPollInterval
        }
    }

    private let log: EventLog
    private let subscriber: any Subscriber
    private let configuration: Configuration
    private let logger: Logger
    private let metrics: DispatchMetrics
    private let inFlight = NIOLockedValueBox<InFlight?>(nil)
    private let delivered = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let idleWait = NIOLockedValueBox<Task<Void, Never>?>(nil)

    public init(log: EventLog, subscriber: any Subscriber, configuration: Configuration = Configuration(), logger: Logger) {
        self.log = log
        self.subscriber = subscriber
        self.configuration = configuration
        metrics = DispatchMetrics(subscription: subscriber.subscriptionName)
        var logger = logger
        logger[metadataKey: "wzt.module"] = "\(subscriber.subscriptionName)"
        self.logger = logger
    }

    /// Events handled (or dead-lettered) since start.
    public var deliveredCount: Int { delivered.load(ordering: .relaxed) }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await self.watchSlowHandlers() }
                try await self.dispatch()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            // Finish the event in hand rather than cancel it; only an idle wait is cut short.
            self.stopping.store(true, ordering: .releasing)
            self.idleWait.withLockedValue { $0?.cancel() }
        }
    }

    private var shouldStop: Bool { stopping.load(ordering: .acquiring) || Task.isCancelled || log.isClosed }

    private func dispatch() async throws {
        while !shouldStop {
            do {
                try await dispatchFromCursor()
            } catch is CancellationError {
                return
            } catch {
                // The log itself failed (disk full, I/O): nothing was skipped; try again shortly.
                logger.error("dispatch paused", metadata: ["bus.error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    private func dispatchFromCursor() async throws {
        var position = try await log.cursor(subscriber.subscriptionName)
        while !shouldStop {
            try await retryRequestedDeadLetters()
            // The head is read before the query: an event appended in between is beyond `head`
            // and is found by the next query, never skipped by moving the cursor to the head.
            let head = log.headOffset
            let events = try await log.events(after: position, matching: subscriber.patterns, limit: configuration.batchSize)
            if events.isEmpty {
                // Nothing of ours up to `head`: remember that, then sleep until something is appended.
                if head > position {
                    try await log.saveCursor(subscriber.subscriptionName, offset: head)
                    position = head
                }
                await waitForHead(beyond: position)
                continue
            }
            let start = position
            for event in events {
                guard try await handle(event) else { break }
                position = event.offset
                if shouldStop { break }
            }
            if position > start { try await log.saveCursor(subscriber.subscriptionName, offset: position) }
        }
    }

    /// Delivers one event with retries; dead-letters it when every try failed.
    /// Returns false when shutdown interrupted it (it will be delivered again after restart).
    private func handle(_ event: StoredEvent) async throws -> Bool {
        var attempt = 0
        var waits = 0
        while true {
            attempt += 1
            inFlight.withLockedValue { $0 = InFlight(event: event, started: .now) }
            defer { inFlight.withLockedValue { $0 = nil } }
            do {
                try await subscriber.deliver(event)
                delivered.add(1, ordering: .relaxed)
                metrics.delivered.increment()
                return true
            } catch {
                if Task.isCancelled { return false }
                let reason = String(describing: error)
                if Self.isWaitNotFailure(error) {
                    if shouldStop { return false }
                    // A full disk, an I/O error or a remote module that is away is the node's trouble,
                    // not the event's: wait without using up the event's attempts, so that it never
                    // dead-letters for it.
                    waits += 1
                    if waits == 1 || waits % 60 == 0 {
                        logger.error(error is SubscriberUnavailable ? "delivery waits for the subscriber" : "delivery waits for storage", metadata: [
                            "bus.offset": "\(event.offset)", "bus.type": "\(event.type)", "bus.error": "\(reason)",
                        ])
                    }
                    do { try await Task.sleep(for: .seconds(1)) } catch { return false }
                    if shouldStop { return false }
                    attempt -= 1
                    continue
                }
                guard attempt < configuration.retry.maxAttempts else {
                    logger.error("event dead-lettered", metadata: [
                        "bus.offset": "\(event.offset)", "bus.event": "\(event.id)", "bus.type": "\(event.type)",
                        "bus.attempts": "\(attempt)", "bus.error": "\(reason)",
                    ])
                    try await log.recordDeadLetter(subscription: subscriber.subscriptionName, event: event, error: reason, attempts: attempt)
                    delivered.add(1, ordering: .relaxed)
                    metrics.deadLettered.increment()
                    return true
                }
                metrics.retries.increment()
                logger.warning("delivery failed, will retry", metadata: [
                    "bus.offset": "\(event.offset)", "bus.type": "\(event.type)", "bus.attempt": "\(attempt)", "bus.error": "\(reason)",
                ])
                do {
                    try await Task.sleep(for: configuration.retry.delay(afterAttempt: attempt))
                } catch {
                    return false
                }
                // Shutting down: leave the event for the next start rather than dead-letter it early.
                if shouldStop { return false }
            }
        }
    }

    /// Whether `error` says the disk is full or failing (SQLite's FULL or IOERR, from the log or a
    /// module's own database), a module's database server is away, or the subscriber is, rather
    /// than that the event cannot be handled.
    public static func isWaitNotFailure(_ error: any Error) -> Bool {
        if error is SubscriberUnavailable { return true }
        if let error = error as? StoreError { return error.code == .unavailable }
        if let error = error as? DatabaseError { return [.SQLITE_FULL, .SQLITE_IOERR].contains(error.resultCode.primaryResultCode) }
        if let error = error as? EnvelopeError { return error.code == .storageFailed }
        return false
    }

    /// Redelivers the dead letters an operator marked for retry (`wzt dead-letters retry`).
    private func retryRequestedDeadLetters() async throws {
        for letter in try await log.deadLetters(status: .retry, subscription: subscriber.subscriptionName) {
            guard let event = try await log.event(at: letter.eventOffset) else { continue }
            do {
                try await subscriber.deliver(event)
                try await log.setDeadLetterStatus(id: letter.id, to: .retried, from: [.retry])
                logger.info("dead letter retried", metadata: ["bus.offset": "\(event.offset)", "bus.dead-letter": "\(letter.id)"])
            } catch {
                if Task.isCancelled { return }
                try await log.recordDeadLetter(subscription: subscriber.subscriptionName, event: event, error: String(describing: error), attempts: 1)
            }
        }
    }

    /// Sleeps until an event of the subscriber's types is appended, the dead-letter poll interval
    /// passes, or shutdown begins. Other types' events leave it asleep: its cursor catches up
    /// with them at the next poll, not after every commit.
    private func waitForHead(beyond position: Int64) async {
        let (log, interval, patterns) = (self.log, configuration.deadLetterPollInterval, subscriber.patterns)
        let wait = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await log.waitForHead(beyond: position, matching: patterns) }
                group.addTask { try? await Task.sleep(for: interval) }
                await group.next()
                group.cancelAll()
            }
        }
        idleWait.withLockedValue { $0 = wait }
        if shouldStop { wait.cancel() }
        await withTaskCancellationHandler { await wait.value } onCancel: { wait.cancel() }
        idleWait.withLockedValue { $0 = nil }
    }

    private func watchSlowHandlers() async {
        let threshold = configuration.slowHandlerThreshold
        var reported: Int64?
        while !Task.isCancelled {
            try? await Task.sleep(for: threshold / 4)
            guard let current = inFlight.withLockedValue({ $0 }) else { continue }
            let elapsed = ContinuousClock.now - current.started
            if elapsed >= threshold, reported != current.event.offset {
                reported = current.event.offset
                logger.warning("slow handler", metadata: [
                    "bus.offset": "\(current.event.offset)", "bus.event": "\(current.event.id)",
                    "bus.type": "\(current.event.type)", "bus.ms": "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)",
                ])
            }
        }
    }
}

private struct InFlight: Sendable {
    let event: StoredEvent
    let started: ContinuousClock.Instant
}

/// What a dispatcher reports to the metrics system, per subscription.
struct DispatchMetrics: Sendable {
    let delivered: Counter
    let retries: Counter
    let deadLettered: Counter

    init(subscription: String) {
        let dimensions = [("subscription", subscription)]
        delivered = Counter(label: "wzt_dispatch_delivered_total", dimensions: dimensions)
        retries = Counter(label: "wzt_dispatch_retries_total", dimensions: dimensions)
        deadLettered = Counter(label: "wzt_dispatch_dead_lettered_total", dimensions: dimensions)
    }
}
