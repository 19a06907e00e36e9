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
/// own dispatcher. Events go to the subscriber in batches, and the cursor is saved after the
/// subscriber has made them durable, never before (while busy, every `cursorSaveInterval`). On
/// graceful shutdown the batch in hand is finished (a module's ends after the event in hand), its
/// cursor saved, then `run` returns; cancelling the task instead abandons the batch in hand (it
/// comes again after restart).
public final class Dispatcher: Service, Sendable {
    public struct Configuration: Sendable {
        public var retry: RetryPolicy
        /// A delivery running longer than this is logged (once) with module and event.
        public var slowHandlerThreshold: Duration
        /// Events read from the log, and handed to the subscriber, at a time.
        public var batchSize: Int
        /// How often a dispatcher looks for dead letters an operator asked to retry.
        public var deadLetterPollInterval: Duration
        /// How often a busy dispatcher saves its cursor; an idle or stopping one saves at once.
        /// A saved cursor only spares deliveries again after a restart (every subscriber takes an
        /// event twice as once), and each save is a commit of the log.
        public var cursorSaveInterval: Duration

        public init(retry: RetryPolicy = RetryPolicy(), slowHandlerThreshold: Duration = .seconds(2),
                    batchSize: Int = 256, deadLetterPollInterval: Duration = .seconds(1), cursorSaveInterval: Duration = .milliseconds(100)) {
            self.retry = retry
            self.slowHandlerThreshold = slowHandlerThreshold
            self.batchSize = max(1, batchSize)
            self.deadLetterPollInterval = deadLetterPollInterval
            self.cursorSaveInterval = cursorSaveInterval
        }
    }

    /// How many fresh events wait in memory for a subscriber that keeps up (a few KiB each);
    /// one that falls further behind reads the log until it has caught up.
    static let freshEventsInMemory = 8_192

    private let log: EventLog
    private let subscriber: any Subscriber
    private let configuration: Configuration
    private let logger: Logger
    private let metrics: DispatchMetrics
    private let inFlight = NIOLockedValueBox<InFlight?>(nil)
    private let delivered = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let idleWait = NIOLockedValueBox<Task<Void, Never>?>(nil)
    private let progress = ApplyRate()

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
        var pauses = 0
        while !shouldStop {
            do {
                try await dispatchFromCursor {
                    guard pauses > 0 else { return }
                    logger.info("dispatch resumed", metadata: ["bus.paused": "\(pauses) s"])
                    pauses = 0
                }
            } catch is CancellationError {
                return
            } catch {
                // The log itself failed (disk full, I/O, its database away): nothing was skipped;
                // try again each second. Said when it starts and once a minute after, as a
                // delivery that waits for storage is.
                pauses += 1
                if Self.isWorthSaying(wait: pauses) {
                    logger.error("dispatch paused", metadata: ["bus.error": "\(error)", "bus.paused": "\(pauses) s"])
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Whether the `wait`th wait of a second is logged: the first, and one a minute after, so a
    /// wait of hours is seen without a line every second.
    private static func isWorthSaying(wait: Int) -> Bool { wait == 1 || wait % 60 == 0 }

    /// `logAnswered` runs once the log has given the cursor.
    private func dispatchFromCursor(logAnswered: () -> Void) async throws {
        var position = try await log.cursor(subscriber.subscriptionName)
        logAnswered()
        var (saved, savedAt) = (position, ContinuousClock.now)
        func saveCursor(now: Bool) async throws {
            guard position > saved, now || ContinuousClock.now - savedAt >= configuration.cursorSaveInterval else { return }
            try await log.saveCursor(subscriber.subscriptionName, offset: position, appliedPerSecond: progress.rate())
            (saved, savedAt) = (position, .now)
        }
        var lookedForRetries = ContinuousClock.now - configuration.deadLetterPollInterval
        // Freshly committed events come from memory while the subscriber keeps up, from the log otherwise.
        let feed = log.follow(subscriber.patterns, limit: max(Self.freshEventsInMemory, configuration.batchSize))
        defer { log.unfollow(feed) }
        while !shouldStop {
            if ContinuousClock.now - lookedForRetries >= configuration.deadLetterPollInterval {
                try await retryRequestedDeadLetters()
                lookedForRetries = .now
            }
            let events: [StoredEvent], head: Int64
            if let fresh = log.fresh(after: position, limit: configuration.batchSize, feed: feed) {
                (events, head) = fresh
            } else {
                // The head is read before the query: an event appended in between is beyond `head`
                // and is found by the next query, never skipped by moving the cursor to the head.
                head = log.headOffset
                events = try await log.events(after: position, matching: subscriber.patterns, limit: configuration.batchSize)
            }
            if events.isEmpty {
                // Nothing of ours up to `head`: remember that, then sleep until something is appended.
                position = max(position, head)
                try await saveCursor(now: true)
                await waitForHead(beyond: position)
                continue
            }
            // The next batch is read, projected and decoded while this one is applied.
            let lookahead = subscriber.preparesAhead ? Task { await prepare(after: events[events.count - 1].offset, feed: feed) } : nil
            position = try await deliver(events, after: position) { settled in
                // The events before a failing one are applied: the cursor (and the lag an operator
                // sees) says so while that one is retried, which can take seconds.
                position = settled
                try await saveCursor(now: true)
            }
            await lookahead?.value
            try await saveCursor(now: false)
        }
        try await saveCursor(now: true)
    }

    /// Has the subscriber prepare the batch after `offset`. A read that fails here is the next
    /// batch's to meet and report.
    private func prepare(after offset: Int64, feed: FeedToken) async {
        var next = log.peek(after: offset, limit: configuration.batchSize, feed: feed)
        if next == nil { next = try? await log.events(after: offset, matching: subscriber.patterns, limit: configuration.batchSize) }
        guard let next, !next.isEmpty, !shouldStop else { return }
        await subscriber.prepare(next)
    }

    /// Hands `events` to the subscriber in batches; an event that fails in a batch is retried
    /// alone (and dead-lettered in the end) before the batch goes on after it, once `beforeRetries`
    /// was told the offset of the last event settled before it. Returns the offset of the last
    /// event settled, `position` when none was.
    private func deliver(_ events: [StoredEvent], after position: Int64, beforeRetries: (Int64) async throws -> Void) async throws -> Int64 {
        var position = position
        var next = events.startIndex
        while next < events.endIndex, !shouldStop {
            inFlight.withLockedValue { $0 = InFlight(event: events[next], started: .now) }
            let result = await subscriber.deliver(batch: events[next...])
            inFlight.withLockedValue { $0 = nil }
            let applied = min(max(result.applied, 0), events.endIndex - next)
            if applied > 0 {
                count(applied)
                next += applied
                position = events[next - 1].offset
            }
            guard let failure = result.failure, next < events.endIndex else {
                // Neither progress nor a failure: read again rather than spin.
                if applied == 0 { break }
                continue
            }
            try await beforeRetries(position)
            guard try await handle(events[next], failedOnce: failure) else { break }
            position = events[next].offset
            next += 1
        }
        return position
    }

    private func count(_ applied: Int) {
        delivered.add(applied, ordering: .relaxed)
        metrics.delivered.increment(by: applied)
        progress.record(applied)
    }

    /// Delivers one event with retries, the first try being `failedOnce` when the event failed in a
    /// batch; dead-letters it when every try failed. Returns false when shutdown interrupted it
    /// (it will be delivered again after restart).
    private func handle(_ event: StoredEvent, failedOnce: (any Error)?) async throws -> Bool {
        var attempt = 0
        var waits = 0
        var failedOnce = failedOnce
        while true {
            attempt += 1
            let error: any Error
            if let failure = failedOnce {
                error = failure
                failedOnce = nil
            } else {
                inFlight.withLockedValue { $0 = InFlight(event: event, started: .now) }
                defer { inFlight.withLockedValue { $0 = nil } }
                do {
                    try await subscriber.deliver(event)
                    count(1)
                    return true
                } catch let caught {
                    error = caught
                }
            }
            if Task.isCancelled || error is CancellationError { return false }
            let reason = String(describing: error)
            if Self.isWaitNotFailure(error) {
                if shouldStop { return false }
                // A full disk, an I/O error or a remote module that is away is the node's trouble,
                // not the event's: wait without using up the event's attempts, so that it never
                // dead-letters for it.
                waits += 1
                if Self.isWorthSaying(wait: waits) {
                    // A module in another process that is not linked yet (its core has just
                    // started, or it restarts) is away for a moment: a warning, an error a minute on.
                    let awayForAMoment = error is SubscriberUnavailable && waits == 1
                    logger.log(level: awayForAMoment ? .warning : .error,
                               error is SubscriberUnavailable ? "delivery waits for the subscriber" : "delivery waits for storage", metadata: [
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

    /// Whether `error` says the disk is full or failing (SQLite's FULL or IOERR, from the log or a
    /// module's own database), a module's database server is away, or the subscriber is, rather
    /// than that the event cannot be handled.
    public static func isWaitNotFailure(_ error: any Error) -> Bool {
        if error is SubscriberUnavailable { return true }
        if let error = error as? StoreError { return error.code == .unavailable || error.code == .notOwner }
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
                    "bus.type": "\(current.event.type)", "bus.ms": "\(elapsed.milliseconds)",
                ])
            }
        }
    }
}

/// How fast a dispatcher applies: events counted per second, over the last ten whole seconds
/// and the current one.
final class ApplyRate: Sendable {
    private struct Second {
        let start: ContinuousClock.Instant
        var events: Int
    }

    private static let window = 10
    private let seconds = NIOLockedValueBox<[Second]>([])

    func record(_ events: Int, at now: ContinuousClock.Instant = .now) {
        seconds.withLockedValue { seconds in
            if let last = seconds.last, now - last.start < .seconds(1) {
                seconds[seconds.count - 1].events += events
            } else {
                seconds.append(Second(start: now, events: events))
                seconds.removeAll { now - $0.start > .seconds(Self.window) }
            }
        }
    }

    func rate(at now: ContinuousClock.Instant = .now) -> Double {
        seconds.withLockedValue { seconds in
            let recent = seconds.filter { now - $0.start <= .seconds(Self.window) }
            guard let first = recent.first else { return 0 }
            let span = max(now - first.start, .seconds(1))
            return Double(recent.reduce(0) { $0 + $1.events }) / (span / .seconds(1))
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
