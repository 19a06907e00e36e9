import Bus
import Foundation
import GRDB

/// One transaction of a module's database: its tables through `db`, and `publish` for events
/// that leave the module when, and only when, the transaction commits.
public final class ModuleTransaction {
    public let db: Database
    let module: String
    let decoder: EnvelopeDecoder
    let cause: IncomingEvent?
    /// The module's clock at the start of the transaction.
    public let now: Date
    /// The regional rule sets.
    public let rules: RuleBook
    var published = 0
    var scheduledTimers = 0

    init(db: Database, module: String, decoder: EnvelopeDecoder, cause: IncomingEvent?, now: Date, rules: RuleBook) {
        self.rules = rules
        self.db = db
        self.module = module
        self.decoder = decoder
        self.cause = cause
        self.now = now
    }

    /// Queues `data` in the outbox. The envelope is checked against its contract now, so a
    /// mistake fails this transaction instead of reaching the bus. Returns the event id.
    @discardableResult
    public func publish<T: EventContract>(_ data: T, subject: String?, time: Date = Date()) throws -> String {
        let id = EventID.make(at: time)
        let json = try EnvelopeEncoder.envelope(
            data, source: "/wzt/\(module)", subject: subject, id: id, time: time,
            correlationID: outgoingCorrelationID, causationID: cause?.id)
        _ = try decoder.decode(json)
        try db.execute(sql: "INSERT INTO wzt_outbox (event_id, envelope) VALUES (?, ?)", arguments: [id, Data(json)])
        published += 1
        return id
    }

    /// Events caused by an event carry its correlation id, or its id when it started the chain.
    /// Computed once per transaction: it parses the cause's envelope.
    lazy var outgoingCorrelationID: String? = {
        guard let cause else { return nil }
        return (try? decoder.decode(cause.json).correlationID) ?? cause.id
    }()
}
