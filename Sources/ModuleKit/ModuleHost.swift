import Bus
import Foundation
import Storage
import Logging
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
        context = ModuleContext(name: module.name, purpose: module.needs.first?.purpose, logger: logger, store: store, decoder: decoder, rules: rules, clock: clock,
                                relay: relay, timersChanged: timersChanged)
        subscriber = ModuleSubscriber(module: module, store: store, decoder: decoder, relay: relay, clock: clock, rules: rules, timersChanged: timersChanged,
                                      logger: logger)
    }

    /// Whether the module's `start` completed and deliveries run (for readiness checks).
    public var isStarted: Bool { started.load(ordering: .relaxed) }
    private let started = Atomic<Bool>(false)

    public func run() async throws {
        try await context.relay.flush()
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
        try? await context.relay.flush()
        context.logger.info("module stopped")
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

    var subscriptionName: String { module.name }
    var patterns: [EventPattern] { module.deliveredNeeds.map(\.pattern) }

    func deliver(_ event: StoredEvent) async throws {
        for violation in try await apply(event) {
            logger.error("invariant violated", metadata: ["bus.offset": "\(event.offset)", "bus.type": "\(event.type)", "wzt.invariant": "\(violation)"])
        }
    }

    /// Handles `event` in one transaction, relays what it published, and returns the invariants
    /// the module broke in that transaction.
    func apply(_ event: StoredEvent) async throws -> [String] {
        let incoming = IncomingEvent(event, decoder: decoder)
        let (module, decoder, now, rules) = (self.module, self.decoder, clock.now(), self.rules)
        let (outcome, violations) = try await store.database.write { db -> (ModuleTransaction.Outcome, [String]) in
            let seen = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM wzt_inbox WHERE event_id = ?)", arguments: [event.id]) ?? false
            // Handled before: the relay may have failed after that commit (a full disk), so flush again.
            if seen { return (.init(published: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM wzt_outbox") ?? 0, scheduledTimers: 0, afterCommit: []), []) }
            try db.execute(sql: "INSERT INTO wzt_inbox (event_id, event_offset) VALUES (?, ?)", arguments: [event.id, event.offset])
            let purpose = module.deliveredNeeds.first { $0.pattern.matches(event.type) }?.purpose
            let transaction = ModuleTransaction(db: db, module: module.name, purpose: purpose, decoder: decoder, cause: incoming, now: now, rules: rules)
            try transaction.fireTimersDueBeforeCause()
            if incoming.isA(SubjectErased.self) {
                try module.erase(subject: try incoming.data(as: SubjectErased.self).subject, transaction)
            } else {
                try module.handle(incoming, transaction)
            }
            return (transaction.outcome, try module.violations(after: incoming, in: db))
        }
        try await outcome.settle(timersChanged: timersChanged, relay: relay)
        return violations
    }
}

/// Moves committed outbox events to the log. Safe to run twice: the log ignores known ids.
struct OutboxRelay: Sendable {
    let store: ModuleStore
    let appender: any EventAppender
    let decoder: EnvelopeDecoder

    func flush() async throws {
        while true {
            let pending = try await store.pendingOutbox()
            guard let last = pending.last else { return }
            let envelopes = try pending.map { entry throws(EnvelopeError) in try decoder.decode(entry.json) }
            _ = try await appender.append(envelopes)
            try await store.removeFromOutbox(through: last.seq)
        }
    }
}
