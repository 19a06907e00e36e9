import Bus
import Foundation
import Storage
import Logging
import struct NIOConcurrencyHelpers.NIOLockedValueBox
import ServiceLifecycle
import Synchronization

/// Runs one module in this process: delivers its events through the inbox, relays its outbox,
/// and calls `start`/`stop` around it. The events come from this process's log, or from a core
/// over a link (`EventSource`); the outbox goes to the same place (`EventAppender`). The module
/// cannot tell the difference. A `Service` for the node's group.
public final class ModuleHost: Service {
    public let module: any Module
    public let store: ModuleStore
    public let context: ModuleContext
    private let source: any EventSource
    private let subscriber: ModuleSubscriber

    /// A module fed by the log of this process, with only the fields its needs allow.
    public convenience init(module: any Module, store: ModuleStore, log: EventLog, decoder: EnvelopeDecoder, rules: RuleBook,
                            clock: any BusClock = SystemClock(), dispatch: Dispatcher.Configuration = .init(), logger: Logger) {
        let source = LogSource(log: log, configuration: dispatch, projection: Projection(needs: module.deliveredNeeds, decoder: decoder, keys: log.keys))
        self.init(module: module, store: store, source: source, appender: log, decoder: decoder,
                  rules: rules, clock: clock, logger: logger)
    }

    public init(module: any Module, store: ModuleStore, source: any EventSource, appender: any EventAppender, decoder: EnvelopeDecoder,
                rules: RuleBook, clock: any BusClock = SystemClock(), logger: Logger) {
        self.module = module
        self.store = store
        self.source = source
        var logger = logger
        logger[metadataKey: "wzt.module"] = "\(module.name)"
        let relay = OutboxRelay(store: store, appender: appender, decoder: decoder)
        let timersChanged = Signal()
        context = ModuleContext(name: module.name, timerEvents: module.timerEventTypes, purpose: module.needs.first?.purpose, logger: logger, store: store,
                                decoder: decoder, rules: rules, clock: clock, relay: relay, timersChanged: timersChanged)
        subscriber = ModuleSubscriber(module: module, store: store, decoder: decoder, relay: relay, clock: clock, rules: rules, timersChanged: timersChanged,
                                      logger: logger)
    }

    /// Whether the module's `start` completed and deliveries run (for readiness checks).
    public var isStarted: Bool { started.load(ordering: .relaxed) }
    private let started = Atomic<Bool>(false)

    /// With several core nodes (`[cluster]`): the node that owns the module when another one does,
    /// so that this node is ready without running it; nil when this node owns it or runs alone.
    public var ownedElsewhere: String? {
        get { owner.withLockedValue { $0 } }
        set { owner.withLockedValue { $0 = newValue } }
    }
    private let owner = NIOLockedValueBox<String?>(nil)

    public func run() async throws {
        // What the outbox still holds (a crash, or a stop while the core was gone) goes first. A
        // core that does not answer holds the start back, but not a shutdown.
        do {
            try await cancelWhenGracefulShutdown { try await self.flushBeforeStarting() }
        } catch is CancellationError where Task.isShuttingDownGracefully {
            context.logger.notice("module stopped before it started: the core did not take its outbox, which waits for the next start")
            return
        }
        try await module.start(context)
        context.logger.info("module started", metadata: ["wzt.store": "\(store.location)"])
        started.store(true, ordering: .relaxed)
        defer { started.store(false, ordering: .relaxed) }
        do {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await self.runTimers() }
                group.addTask { try await self.module.run(self.context) }
                try await source.deliver(to: subscriber, logger: context.logger)
                group.cancelAll()
            }
        } catch {
            await module.stop()
            throw error
        }
        await module.stop()
        await flushBeforeStopping()
        context.logger.info("module stopped")
    }

    /// How long a starting module waits for its core to take what its outbox holds before it
    /// says that it waits.
    static let startingFlushNotice = Duration.seconds(5)

    /// Relays what the outbox holds; says so once when the core does not take it within
    /// `startingFlushNotice` (a core that is away), so that a module that does not start is not silent.
    private func flushBeforeStarting() async throws {
        let (relay, store, logger) = (context.relay, store, context.logger)
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await relay.flush()
                return true
            }
            group.addTask {
                try await Task.sleep(for: Self.startingFlushNotice)
                let waiting = (try? await store.outboxCount()).map { "\($0)" } ?? "unknown"
                logger.warning("module waits for its core to take the events its outbox holds, and starts once the core has",
                               metadata: ["wzt.outbox": "\(waiting)", "wzt.waited": "\(Self.startingFlushNotice)"])
                return false
            }
            // The notice ends first, or never: wait for the relay.
            while let relayed = try await group.next() {
                if relayed { break }
            }
            group.cancelAll()
        }
    }

    /// How long a stopping module waits for the core to take what is left in its outbox.
    static let stoppingFlushLimit = Duration.seconds(5)

    /// Relays what is left in the outbox, unless the core does not take it within
    /// `stoppingFlushLimit` (a core that stopped first): then the next start relays it.
    private func flushBeforeStopping() async {
        let relay = context.relay
        try? await withTimeout(Self.stoppingFlushLimit) { try await relay.flush() }
    }
}

extension ModuleHost {
    /// Fires due timers through the outbox, then sleeps until the next one is due or a
    /// transaction changes the timers. While the module is behind the log, a due timer waits
    /// until the backlog is applied: a history imported late gives the events it gave live.
    /// Ends when cancelled.
    func runTimers() async throws {
        let (store, clock, relay, changed, source, subscriber) = (self.store, context.clock, context.relay, context.timersChanged, self.source, self.subscriber)
        while !Task.isCancelled {
            do {
                var next = try await store.nextTimerDue()
                if let due = next, due <= clock.now() {
                    if try await source.hasBacklog(for: subscriber) {
                        try await Task.sleep(for: .milliseconds(20))
                        continue
                    }
                    if try await store.fireDueTimers(now: clock.now()) > 0 { try await relay.flush() }
                    next = try await store.nextTimerDue()
                }
                await withTaskGroup(of: Void.self) { [next] group in
                    if let next { group.addTask { try? await clock.sleep(until: next) } }
                    group.addTask { await changed.wait() }
                    await group.next()
                    group.cancelAll()
                }
            } catch is CancellationError {
                return
            } catch {
                context.logger.error("timers paused", metadata: ["bus.error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }
}

/// The delivery path of a module: inbox check, handler and outbox in one transaction, then relay.
struct ModuleSubscriber: Subscriber {
    let module: any Module
    let store: ModuleStore
    let decoder: EnvelopeDecoder
    let relay: OutboxRelay
    let clock: any BusClock
    let rules: RuleBook
    let timersChanged: Signal
    var logger = Logger(label: "wzt.module")
    private let decodedAhead = PreparedEvents<IncomingEvent>()

    var subscriptionName: String { module.name }
    var patterns: [EventPattern] { module.deliveredNeeds.map(\.pattern) }
    var preparesAhead: Bool { true }

    func deliver(_ event: StoredEvent) async throws {
        let result = await deliver(batch: [event])
        if let failure = result.failure { throw failure }
    }

    /// Applies `events` in one transaction, each in a savepoint of its own, then relays what they
    /// published as one append. An event whose handler fails is undone alone, and the batch ends
    /// before it: the ones before it commit, the ones after it wait for it. On graceful shutdown
    /// the batch ends after the event in hand, and in PostgreSQL after `eventsPerTransaction`.
    func deliver(batch events: ArraySlice<StoredEvent>) async -> BatchDelivery {
        let stopping = ShutdownFlag()
        do {
            let applied = try await withGracefulShutdownHandler {
                try await apply(events, unless: stopping)
            } onGracefulShutdown: {
                stopping.set()
            }
            for (event, violation) in applied.violations {
                logger.error("invariant violated", metadata: ["bus.offset": "\(event.offset)", "bus.type": "\(event.type)", "wzt.invariant": "\(violation)"])
            }
            do {
                try await settle(applied.outcome)
            } catch {
                // Committed but not relayed: the first event comes again, finds itself in the
                // inbox and flushes the outbox again.
                return BatchDelivery(applied: 0, failure: error)
            }
            return BatchDelivery(applied: applied.count, failure: applied.failure)
        } catch {
            return BatchDelivery(applied: 0, failure: error)
        }
    }

    /// Relays what a committed batch published. On graceful shutdown the relay is given up: a
    /// core that stopped first would never answer it. The batch is committed all the same, and
    /// the outbox keeps what it published for the host's last flush, or the next start.
    private func settle(_ outcome: ModuleTransaction.Outcome) async throws {
        outcome.wake(timersChanged: timersChanged)
        guard outcome.published > 0 else { return }
        let relay = self.relay
        do {
            try await cancelWhenGracefulShutdown { try await relay.flush(checked: outcome.checked) }
        } catch is CancellationError where Task.isShuttingDownGracefully {
            return
        }
    }

    func prepare(_ events: [StoredEvent]) async {
        decodedAhead.keep(Self.decode(events, decoder, ahead: true), for: events)
    }

    /// The invariants the module broke while handling `event` alone (tests ask for them).
    func apply(_ event: StoredEvent) async throws -> [String] {
        let applied = try await apply([event][...], unless: ShutdownFlag())
        if let failure = applied.failure { throw failure }
        try await applied.outcome.settle(timersChanged: timersChanged, relay: relay)
        return applied.violations.map(\.violation)
    }

    struct Applied: Sendable {
        var count = 0
        var failure: (any Error)?
        var outcome = ModuleTransaction.Outcome(published: 0, scheduledTimers: 0, afterCommit: [])
        var violations: [(event: StoredEvent, violation: String)] = []
    }

    /// Handles `events` in one transaction until one fails or `stopping` is set (after one event
    /// at least), and commits those before.
    private func apply(_ events: ArraySlice<StoredEvent>, unless stopping: ShutdownFlag) async throws -> Applied {
        let (module, decoder, clock, rules, timerEvents) = (self.module, self.decoder, self.clock, self.rules, self.module.timerEventTypes)
        // Decoded before the transaction (most while the batch before was applied), on both cores
        // for a large batch: the writer's one thread is what every delivery waits for.
        let events = events.prefix(Self.eventsPerTransaction(store.database.dialect))
        let ahead = decodedAhead.take(events)
        let incoming = ahead.count == events.count ? ahead
            : ahead + Self.decode(Array(events.dropFirst(ahead.count)), decoder)
        return try await store.database.write { db -> Applied in
            var applied = Applied()
            // The next deadline, read once: only an event that schedules a timer can make it earlier.
            var nextDue = try ModuleStore.nextTimerDue(db)
            for (event, incoming) in zip(events, incoming) {
                if applied.count > 0, stopping.isSet { break }
                try db.execute(sql: "SAVEPOINT wzt_event")
                do {
                    // The clock per event, as one at a time had it: what a module records as "when
                    // processed" (a notice's creation) keeps the events' order.
                    let (outcome, violations, timersChanged) = try Self.apply(incoming, module: module, timerEvents: timerEvents, decoder: decoder,
                                                                               now: clock.now(), rules: rules, nextDue: nextDue, db)
                    try db.execute(sql: "RELEASE SAVEPOINT wzt_event")
                    if timersChanged { nextDue = try ModuleStore.nextTimerDue(db) }
                    applied.outcome.add(outcome)
                    applied.violations += violations.map { (event, $0) }
                    applied.count += 1
                } catch {
                    try db.execute(sql: "ROLLBACK TO SAVEPOINT wzt_event")
                    try db.execute(sql: "RELEASE SAVEPOINT wzt_event")
                    applied.failure = error
                    break
                }
            }
            return applied
        }
    }

    /// At most this many events in one transaction. In PostgreSQL each event's savepoint (and a
    /// refusal's inside it) is a subtransaction that writes; past 64 of them in one transaction
    /// the server keeps them in `pg_subtrans` instead of the session's cache, which slows every
    /// other session's snapshots (PostgreSQL's documented subtransaction overflow). The rest of
    /// the batch follows in the next transaction.
    static func eventsPerTransaction(_ dialect: SQLDialect) -> Int {
        switch dialect {
        case .sqlite: .max
        case .postgres: 30
        }
    }

    private static func decode(_ events: [StoredEvent], _ decoder: EnvelopeDecoder, ahead: Bool = false) -> [IncomingEvent] {
        events.concurrentMap(minimumPerThread: envelopesPerThread, ahead: ahead) { IncomingEvent($0, decoder: decoder) }
    }

    /// Inbox check, deadlines due before the event, handler and invariants, in the caller's transaction.
    private static func apply(_ incoming: IncomingEvent, module: any Module, timerEvents: Set<String>, decoder: EnvelopeDecoder, now: Date, rules: RuleBook,
                              nextDue: Double?, _ db: any SQLDatabase) throws -> (ModuleTransaction.Outcome, [String], timersChanged: Bool) {
        let seen = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM wzt_inbox WHERE event_id = ?)", arguments: [incoming.id]) ?? false
        // Handled before: the relay may have failed after that commit (a full disk), so flush again.
        if seen { return (.init(published: try ModuleStore.outboxCount(db), scheduledTimers: 0, afterCommit: []), [], false) }
        try db.execute(sql: "INSERT INTO wzt_inbox (event_id, event_offset) VALUES (?, ?)", arguments: [incoming.id, incoming.offset])
        let purpose = module.deliveredNeeds.first { $0.pattern.matches(incoming.type) }?.purpose
        let transaction = ModuleTransaction(db: db, module: module.name, timerEvents: timerEvents, purpose: purpose, decoder: decoder,
                                            cause: incoming, now: now, rules: rules)
        try transaction.fireTimersDueBeforeCause(nextDue: nextDue)
        if incoming.isA(SubjectErased.self) {
            try module.erase(subject: try incoming.data(as: SubjectErased.self).subject, transaction)
        } else {
            try module.handle(incoming, transaction)
        }
        let timersChanged = transaction.scheduledTimers > 0 || transaction.firedTimers > 0
        return (transaction.outcome, try module.violations(after: incoming, in: db), timersChanged)
    }
}

/// Moves committed outbox events to the log. Safe to run twice: the log ignores known ids.
struct OutboxRelay: Sendable {
    let store: ModuleStore
    let appender: any EventAppender
    let decoder: EnvelopeDecoder

    /// `checked`: envelopes the transaction decoded when it published them, used as they are.
    func flush(checked: [Envelope] = []) async throws {
        let known = Dictionary(checked.map { ($0.id, $0) }) { first, _ in first }
        while true {
            let pending = try await store.pendingOutbox()
            guard let last = pending.last else { return }
            let envelopes = try pending.map { entry throws(EnvelopeError) in
                if let envelope = known[entry.id], envelope.json == entry.json { return envelope }
                return try decoder.decode(entry.json)
            }
            _ = try await appender.append(envelopes)
            try await store.removeFromOutbox(through: last.seq)
        }
    }
}

/// Set once graceful shutdown begins, read from the database's thread.
final class ShutdownFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .acquiring) }
    func set() { flag.store(true, ordering: .releasing) }
}
