import Bus
import Foundation
import GRDB
import Logging
import ServiceLifecycle

/// Runs one module in this process: delivers its events from the log through the inbox, relays
/// its outbox to the log, and calls `start`/`stop` around it. A `Service` for the node's group.
public final class ModuleHost: Service {
    public let module: any Module
    public let store: ModuleStore
    public let context: ModuleContext
    private let dispatcher: Dispatcher

    public init(module: any Module, store: ModuleStore, log: EventLog, decoder: EnvelopeDecoder, rules: RuleBook,
                dispatch: Dispatcher.Configuration = .init(), logger: Logger) {
        self.module = module
        self.store = store
        var logger = logger
        logger[metadataKey: "wzt.module"] = "\(module.name)"
        let relay = OutboxRelay(store: store, log: log, decoder: decoder)
        context = ModuleContext(name: module.name, logger: logger, store: store, decoder: decoder, rules: rules, relay: relay)
        dispatcher = Dispatcher(log: log, subscriber: ModuleSubscriber(module: module, store: store, decoder: decoder, relay: relay),
                                configuration: dispatch, logger: logger)
    }

    /// Events delivered (or dead-lettered) since start.
    public var deliveredCount: Int { dispatcher.deliveredCount }

    public func run() async throws {
        try await context.relay.flush()
        try await module.start(context)
        context.logger.info("module started", metadata: ["wzt.store": "\(store.path)"])
        do {
            try await dispatcher.run()
        } catch {
            await module.stop()
            throw error
        }
        await module.stop()
        try? await context.relay.flush()
        context.logger.info("module stopped")
    }
}

/// The delivery path of a module: inbox check, handler and outbox in one transaction, then relay.
struct ModuleSubscriber: Subscriber {
    let module: any Module
    let store: ModuleStore
    let decoder: EnvelopeDecoder
    let relay: OutboxRelay

    var subscriptionName: String { module.name }
    var patterns: [EventPattern] { module.subscriptions }

    func deliver(_ event: StoredEvent) async throws {
        let incoming = IncomingEvent(event, decoder: decoder)
        let (module, decoder) = (self.module, self.decoder)
        let published = try await store.pool.write { db -> Int in
            let seen = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM wzt_inbox WHERE event_id = ?)", arguments: [event.id]) ?? false
            if seen { return 0 }
            try db.execute(sql: "INSERT INTO wzt_inbox (event_id, event_offset) VALUES (?, ?)", arguments: [event.id, event.offset])
            let transaction = ModuleTransaction(db: db, module: module.name, decoder: decoder, cause: incoming)
            try module.handle(incoming, transaction)
            return transaction.published
        }
        if published > 0 { try await relay.flush() }
    }
}

/// Moves committed outbox events to the log. Safe to run twice: the log ignores known ids.
struct OutboxRelay: Sendable {
    let store: ModuleStore
    let log: EventLog
    let decoder: EnvelopeDecoder

    func flush() async throws {
        while true {
            let pending = try store.pendingOutbox()
            guard let last = pending.last else { return }
            let envelopes = try pending.map { entry throws(EnvelopeError) in try decoder.decode(entry.json) }
            _ = try await log.append(envelopes)
            try await store.removeFromOutbox(through: last.seq)
        }
    }
}
