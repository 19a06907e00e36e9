import Foundation
import Storage

/// When a subject's personal data is due for erasure: its last event's time plus the retention
/// period of that event's purpose (`privacy.retention`). Written by the core's retention watch.
public struct RetentionDue: Sendable, Hashable {
    public let subject: String
    public let purpose: Purpose
    public let dueAt: Date
}

extension EventLog {
    /// Moves the subject's due date to `dueAt` unless it is already later: the newest event counts.
    public func extendRetention(subject: String, purpose: Purpose, until dueAt: Date) async throws {
        try await update { db in
            try db.execute(sql: """
                INSERT INTO retention_due (subject, purpose, due_at) VALUES (?, ?, ?)
                ON CONFLICT(subject) DO UPDATE SET purpose = excluded.purpose, due_at = excluded.due_at WHERE excluded.due_at > retention_due.due_at
                """, arguments: [subject, purpose.rawValue, dueAt.timeIntervalSince1970])
        }
    }

    /// The subjects due at `now` or earlier, oldest first; and when the next one falls due.
    public func retention(dueAt now: Date) async throws -> (due: [RetentionDue], next: Date?) {
        try await store.read { db in
            let due = try SQLRow.fetchAll(db, sql: "SELECT subject, purpose, due_at FROM retention_due WHERE due_at <= ? ORDER BY due_at",
                                       arguments: [now.timeIntervalSince1970]).map { row in
                RetentionDue(subject: try row["subject"], purpose: Purpose(rawValue: try row["purpose"]), dueAt: Date(timeIntervalSince1970: try row["due_at"]))
            }
            let next = try Double.fetchOne(db, sql: "SELECT MIN(due_at) FROM retention_due WHERE due_at > ?", arguments: [now.timeIntervalSince1970])
            return (due, next.map(Date.init(timeIntervalSince1970:)))
        }
    }

    /// The erasure of `due` was requested: forget it, unless a newer event moved the date meanwhile.
    public func retentionHandled(_ due: RetentionDue) async throws {
        try await update { db in
            try db.execute(sql: "DELETE FROM retention_due WHERE subject = ? AND due_at = ?", arguments: [due.subject, due.dueAt.timeIntervalSince1970])
        }
    }
}
