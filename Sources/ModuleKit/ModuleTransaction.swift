import Bus
import Foundation
import PluginAPI
import Storage

/// One transaction of a module's database: its tables through `db`, and `publish` for events
/// that leave the module when, and only when, the transaction commits.
public final class ModuleTransaction {
    public let db: any SQLDatabase
    let module: String
    /// The types of the module's `timerEvents`: what `schedule` accepts.
    let timerEvents: Set<String>
    /// The purpose the module handles the cause for (or works for, without a cause).
    let purpose: Purpose?
    let decoder: EnvelopeDecoder
    let cause: IncomingEvent?
    /// The module's clock at the start of the transaction: when it was processed, which is
    /// bookkeeping only. Domain dates come from the events (`eventTime`, the data's own dates).
    public let now: Date
    /// The regional rule sets.
    public let rules: RuleBook
    var published = 0
    /// What `publish` queued, already checked: the relay appends these without decoding them again.
    var checked: [Envelope] = []
    var scheduledTimers = 0
    /// Timers that passed before the cause and fired in this transaction.
    var firedTimers = 0
    private var committed: [@Sendable () -> Void] = []

    init(db: any SQLDatabase, module: String, timerEvents: Set<String>, purpose: Purpose?, decoder: EnvelopeDecoder, cause: IncomingEvent?, now: Date, rules: RuleBook) {
        self.rules = rules
        self.db = db
        self.module = module
        self.timerEvents = timerEvents
        self.purpose = purpose
        self.decoder = decoder
        self.cause = cause
        self.now = now
    }

    /// Queues `data` in the outbox. The envelope is checked against its contract now, so a
    /// mistake fails this transaction instead of reaching the bus. Returns the event id.
    /// `time` defaults to `eventTime`: what a fact causes happens when the fact did.
    @discardableResult
    public func publish<T: EventContract>(_ data: T, subject: String?, time: Date? = nil) throws -> String {
        let time = time ?? eventTime
        let id = EventID.make(at: now)
        let envelope = try envelope(data, subject: subject, id: id, time: time, actor: origin.actor)
        try db.execute(sql: "INSERT INTO wzt_outbox (event_id, envelope) VALUES (?, ?)", arguments: [id, Data(envelope.json)])
        published += 1
        checked.append(envelope)
        return id
    }

    /// Runs `action` once this transaction has committed (never when it rolls back).
    public func afterCommit(_ action: @escaping @Sendable () -> Void) {
        committed.append(action)
    }

    /// When the fact being handled happened: its envelope's `time`, else (a publisher that left it
    /// out, or work without a cause) the moment the transaction started.
    public var eventTime: Date { origin.time ?? now }

    /// The Belgian calendar day of `eventTime`, for facts whose data carry no date of their own.
    public var eventDate: CalendarDate { CalendarDate(eventTime) }

    /// Where the cause stands among deadlines: the start of the day its data say it happened
    /// (`DatedFact`), or its envelope's `time`, whichever is earlier; nil when it has neither.
    /// The earlier of the two, because an import sends old facts with today's `time`, and a
    /// publisher's mistaken future date must not make deadlines pass early.
    var factMoment: Date? {
        guard let cause else { return nil }
        let day = ((try? cause.envelope.get())?.data as? any DatedFact)?.factDate.startOfDay
        switch (day, origin.time) {
        case let (day?, time?): return min(day, time)
        case let (day, time): return day ?? time
        }
    }

    /// Runs `handling` in a savepoint. A refusal of type `R` undoes all that `handling` did (rows,
    /// outbox, timers, after-commit actions) and is returned for the module to publish: a refused
    /// event changes no table. Any other error is thrown, which rolls back the whole delivery and
    /// asks for a retry.
    public func refusable<R: Error>(_ refusal: R.Type, _ handling: () throws -> Void) throws -> R? {
        let before = (published, scheduledTimers, committed.count, checked.count)
        try db.execute(sql: "SAVEPOINT wzt_refusable")
        do {
            try handling()
            try db.execute(sql: "RELEASE SAVEPOINT wzt_refusable")
            return nil
        } catch let refused as R {
            try db.execute(sql: "ROLLBACK TO SAVEPOINT wzt_refusable")
            try db.execute(sql: "RELEASE SAVEPOINT wzt_refusable")
            (published, scheduledTimers) = (before.0, before.1)
            committed.removeSubrange(before.2...)
            checked.removeSubrange(before.3...)
            return refused
        }
    }

    /// What is left to do once the transaction commits.
    var outcome: Outcome { Outcome(published: published, scheduledTimers: scheduledTimers, afterCommit: committed, checked: checked) }

    struct Outcome: Sendable {
        var published: Int
        var scheduledTimers: Int
        var afterCommit: [@Sendable () -> Void]
        var checked: [Envelope] = []

        /// Adds what another event of the batch leaves to do, in place: a batch of thousands
        /// copied its envelopes once per event when each sum was a new value.
        mutating func add(_ other: Outcome) {
            published += other.published
            scheduledTimers += other.scheduledTimers
            afterCommit += other.afterCommit
            checked += other.checked
        }

        /// Wakes the timers when the transaction set one, runs the module's `afterCommit` actions
        /// and moves what it published to the bus.
        func settle(timersChanged: Signal, relay: OutboxRelay) async throws {
            wake(timersChanged: timersChanged)
            if published > 0 { try await relay.flush(checked: checked) }
        }

        /// Wakes the timers when the transaction set one and runs the module's `afterCommit` actions.
        func wake(timersChanged: Signal) {
            if scheduledTimers > 0 { timersChanged.fire() }
            for action in afterCommit { action() }
        }
    }

    /// An envelope from this module, checked against its contract now, so that a mistake fails
    /// this transaction instead of reaching the bus.
    func envelope<T: EventContract>(_ data: T, subject: String?, id: String = EventID.make(), time: Date, actor: Actor) throws -> Envelope {
        let written = try EnvelopeEncoder.written(
            data, source: "/wzt/\(module)", subject: subject, id: id, time: time,
            correlationID: origin.correlationID, causationID: cause?.id, actor: actor, purpose: origin.purpose)
        return try decoder.decode(written)
    }

    /// What the events of this transaction inherit from their cause: its correlation id (or its
    /// id when it started the chain), who caused it, and its purpose. Without a cause, or from a
    /// system publisher, the module acts on its own account for its own purpose. Computed once
    /// per transaction: it parses the cause's envelope.
    lazy var origin: (correlationID: String?, actor: Actor, purpose: Purpose?, time: Date?) = {
        guard let cause else { return (nil, .module(module), purpose, nil) }
        let envelope = try? cause.envelope.get()
        return (envelope?.correlationID ?? cause.id, envelope?.actor ?? .module(module), envelope?.purpose ?? purpose,
                envelope?.time.flatMap(EventTime.parse))
    }()
}
