import Bus
import Foundation
import GRDB

/// One transaction of a module's database: its tables through `db`, and `publish` for events
/// that leave the module when, and only when, the transaction commits.
public final class ModuleTransaction {
    public let db: Database
    let module: String
    /// The purpose the module handles the cause for (or works for, without a cause).
    let purpose: Purpose?
    let decoder: EnvelopeDecoder
    let cause: IncomingEvent?
    /// The module's clock at the start of the transaction.
    public let now: Date
    /// The regional rule sets.
    public let rules: RuleBook
    var published = 0
    var scheduledTimers = 0

    init(db: Database, module: String, purpose: Purpose?, decoder: EnvelopeDecoder, cause: IncomingEvent?, now: Date, rules: RuleBook) {
        self.rules = rules
        self.db = db
        self.module = module
        self.purpose = purpose
        self.decoder = decoder
        self.cause = cause
        self.now = now
    }

    /// Queues `data` in the outbox. The envelope is checked against its contract now, so a
    /// mistake fails this transaction instead of reaching the bus. Returns the event id.
    @discardableResult
    /// `time` defaults to the module clock's now, the time the transaction started.
    public func publish<T: EventContract>(_ data: T, subject: String?, time: Date? = nil) throws -> String {
        let time = time ?? now
        let id = EventID.make(at: time)
        let json = try envelope(data, subject: subject, id: id, time: time, actor: origin.actor)
        try db.execute(sql: "INSERT INTO wzt_outbox (event_id, envelope) VALUES (?, ?)", arguments: [id, Data(json)])
        published += 1
        return id
    }

    /// An envelope from this module, checked against its contract now, so that a mistake fails
    /// this transaction instead of reaching the bus.
    func envelope<T: EventContract>(_ data: T, subject: String?, id: String = EventID.make(), time: Date, actor: Actor) throws -> [UInt8] {
        let json = try EnvelopeEncoder.envelope(
            data, source: "/wzt/\(module)", subject: subject, id: id, time: time,
            correlationID: origin.correlationID, causationID: cause?.id, actor: actor, purpose: origin.purpose)
        _ = try decoder.decode(json)
        return json
    }

    /// What the events of this transaction inherit from their cause: its correlation id (or its
    /// id when it started the chain), who caused it, and its purpose. Without a cause, or from a
    /// system publisher, the module acts on its own account for its own purpose. Computed once
    /// per transaction: it parses the cause's envelope.
    lazy var origin: (correlationID: String?, actor: Actor, purpose: Purpose?) = {
        guard let cause else { return (nil, .module(module), purpose) }
        let envelope = try? decoder.decode(cause.json)
        return (envelope?.correlationID ?? cause.id, envelope?.actor ?? .module(module), envelope?.purpose ?? purpose)
    }()
}
