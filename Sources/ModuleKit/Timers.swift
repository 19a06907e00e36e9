import Bus
import Foundation
import Storage

/// A deadline a module set: at `dueAt`, publish an event. Kept in the module's own database, so
/// it survives restarts; it fires once, through the outbox.
public struct ScheduledTimer: Sendable, Hashable {
    public enum Status: String, Sendable {
        /// `paused` is no longer set: a pause is a legal fact with its own dates, which the module
        /// that owns the deadline turns into a new due date. Older databases may still hold it.
        case scheduled, paused, fired, cancelled
    }

    public let id: String
    public let dueAt: Date
    public let status: Status
}

/// Timer errors name the timer and what state it is in.
public struct TimerError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

extension ModuleTransaction {
    /// At `date`, publish `data` (with `subject`). Scheduling an id again replaces the earlier
    /// timer of that id, unless it has fired.
    public func schedule<T: EventContract>(timer id: String, at date: Date, publish data: T, subject: String?) throws {
        guard timerEvents.contains(T.eventType.rawValue) else {
            throw TimerError(description: "module \(module) schedules timer \(id) to publish \(T.eventType), which its `timerEvents` does not name")
        }
        // When it fires, nobody in particular causes it: the module acts on its own account.
        let json = try envelope(data, subject: subject, time: date, actor: .module(module)).json
        try db.execute(sql: """
            INSERT INTO wzt_timers (id, due_at, envelope, status, subject, publishes) VALUES (?, ?, ?, 'scheduled', ?, ?)
            ON CONFLICT(id) DO UPDATE SET due_at = excluded.due_at, envelope = excluded.envelope, status = 'scheduled', remaining = NULL,
                subject = excluded.subject, publishes = excluded.publishes
            WHERE wzt_timers.status != 'fired'
            """, arguments: [id, date.timeIntervalSince1970, Data(json), subject, T.eventType.rawValue])
        scheduledTimers += 1
    }

    /// Cancels a timer that has not fired; cancelling one that has fired or does not exist is an error.
    public func cancelTimer(_ id: String) throws {
        let timer = try self.timer(id)
        guard timer.status == .scheduled || timer.status == .paused else {
            throw TimerError(description: "timer \(id) is \(timer.status.rawValue) and cannot be cancelled")
        }
        try db.execute(sql: "UPDATE wzt_timers SET status = 'cancelled' WHERE id = ?", arguments: [id])
    }

    /// Cancels the timer if it exists and has neither fired nor been cancelled; a no-op otherwise.
    public func cancelTimerIfRunning(_ id: String) throws {
        try db.execute(sql: "UPDATE wzt_timers SET status = 'cancelled' WHERE id = ? AND status IN ('scheduled', 'paused')", arguments: [id])
    }

    /// Fires, before the cause is handled, every deadline that passed before it happened
    /// (`factMoment`): a late decision finds its term overdue whether it reached the bus live or
    /// months later in an import, and one in time finds it running.
    /// `nextDue` is the earliest running timer's due date (seconds since 1970) or earlier: most
    /// events come before it, and then their data need no reading.
    func fireTimersDueBeforeCause(nextDue next: Double?) throws {
        guard let next, origin.time.map({ $0.timeIntervalSince1970 >= next }) ?? true, let moment = factMoment else { return }
        let fired = try ModuleStore.fireTimers(in: db, dueBy: moment, now: now)
        published += fired
        firedTimers += fired
    }

    public func timer(_ id: String) throws -> ScheduledTimer {
        guard let timer = try ScheduledTimer.fetch(db, id: id) else { throw TimerError(description: "no timer \(id)") }
        return timer
    }
}

extension ScheduledTimer {
    static func fetch(_ db: any SQLDatabase, id: String) throws -> ScheduledTimer? {
        try SQLRow.fetchOne(db, sql: "SELECT id, due_at, status FROM wzt_timers WHERE id = ?", arguments: [id]).map(ScheduledTimer.init(row:))
    }

    init(row: SQLRow) throws(SQLRowError) {
        self.init(id: try row["id"], dueAt: Date(timeIntervalSince1970: try row["due_at"]),
                  status: Status(rawValue: try row["status"]) ?? .scheduled)
    }
}

extension ModuleStore {
    /// The earliest running timer's due date, if any.
    func nextTimerDue() async throws -> Date? {
        try await database.read { db in try Self.nextTimerDue(db) }.map(Date.init(timeIntervalSince1970:))
    }

    /// The same in seconds since 1970, in the caller's transaction.
    static func nextTimerDue(_ db: any SQLDatabase) throws -> Double? {
        try Double.fetchOne(db, sql: "SELECT MIN(due_at) FROM wzt_timers WHERE status = 'scheduled'")
    }

    /// Marks every timer due at `now` as fired and puts its event in the outbox, in one
    /// transaction: a timer fires once even if the process dies right after.
    func fireDueTimers(now: Date) async throws -> Int {
        try await database.write { db in try Self.fireTimers(in: db, dueBy: now, now: now) }
    }

    /// Marks fired every running timer due by `moment` and puts its event in the outbox. The event
    /// is dated when it was due, not when it fired: a deadline that passed while the node was
    /// down, or during an import, says the same as one that fired on time.
    static func fireTimers(in db: any SQLDatabase, dueBy moment: Date, now: Date) throws -> Int {
        let due = try SQLRow.fetchAll(db, sql: "SELECT id, due_at, envelope FROM wzt_timers WHERE status = 'scheduled' AND due_at <= ? ORDER BY due_at, id",
                                      arguments: [moment.timeIntervalSince1970])
        for row in due {
            let envelope: Data = try row["envelope"]
            let fired = try stamp(envelope, firedAt: now, dueAt: Date(timeIntervalSince1970: row["due_at"]))
            try db.execute(sql: "INSERT INTO wzt_outbox (event_id, envelope) VALUES (?, ?)", arguments: [fired.id, fired.json])
            try db.execute(sql: "UPDATE wzt_timers SET status = 'fired' WHERE id = ?", arguments: [row["id"] as String])
        }
        return due.count
    }

    /// The scheduled envelope with a fresh id, dated when it was due; its other bytes as scheduled.
    private static func stamp(_ envelope: Data, firedAt now: Date, dueAt: Date) throws -> (id: String, json: Data) {
        let id = EventID.make(at: now)
        let json = try EnvelopeBytes.setting([("id", EnvelopeBytes.string(id)), ("time", EnvelopeBytes.string(EventTime.format(dueAt)))], in: Array(envelope))
        return (id, Data(json))
    }
}
