import Foundation
import GRDB
import Storage

/// One read or refusal of personal data: who, when, which subject, for which purpose.
public struct AuditEntry: Sendable, Hashable, Codable {
    public enum Outcome: String, Sendable, Codable {
        /// The data was shown.
        case allowed
        /// The reader was refused; nothing was shown.
        case refused
    }

    public var seq: Int64?
    public var at: Date
    /// The reader's name from config (`http.users`).
    public var actor: String
    public var role: String
    public var agency: String?
    /// What was read, e.g. "GET /api/intake/trajectories/case-1".
    public var action: String
    /// The case, agreement, mandate or network the read was about.
    public var subject: String
    public var purpose: String
    public var outcome: Outcome

    public init(at: Date = Date(), actor: String, role: String, agency: String?, action: String, subject: String, purpose: String, outcome: Outcome) {
        self.at = at
        self.actor = actor
        self.role = role
        self.agency = agency
        self.action = action
        self.subject = subject
        self.purpose = purpose
        self.outcome = outcome
    }
}

/// The audit trail of reads of personal data: its own SQLite file beside the event log, append-only
/// (triggers refuse updates and deletes), written by the node's HTTP side, never by modules (they
/// are not given it). Operators read it with `wzt audit`.
public final class AuditLog: Sendable {
    private let pool: DatabasePool
    public let path: String

    public init(path: String) throws(StoreError) {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("audit v1") { db in
            try db.execute(sql: """
                CREATE TABLE audit_entry (
                    seq INTEGER PRIMARY KEY,
                    at TEXT NOT NULL,
                    actor TEXT NOT NULL,
                    role TEXT NOT NULL,
                    agency TEXT,
                    action TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    purpose TEXT NOT NULL,
                    outcome TEXT NOT NULL CHECK (outcome IN ('allowed', 'refused'))
                );
                CREATE INDEX audit_entry_subject ON audit_entry(subject, seq);
                CREATE INDEX audit_entry_actor ON audit_entry(actor, seq);
                CREATE TRIGGER audit_entry_no_update BEFORE UPDATE ON audit_entry
                    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                CREATE TRIGGER audit_entry_no_delete BEFORE DELETE ON audit_entry
                    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                """)
        }
        pool = try SQLiteDatabase.open(path: path, migrator: migrator, readers: 2)
        self.path = path
    }

    /// Appends `entry`; returns when it is on disk.
    public func record(_ entry: AuditEntry) async throws {
        try await pool.write { db in try Self.insert(entry, db) }
    }

    /// Appends `entries` in one transaction, blocking: for the socket threads that serve the log.
    public func recordNow(_ entries: [AuditEntry]) throws {
        guard !entries.isEmpty else { return }
        try pool.write { db in
            for entry in entries { try Self.insert(entry, db) }
        }
    }

    private static func insert(_ entry: AuditEntry, _ db: Database) throws {
        try db.execute(sql: """
            INSERT INTO audit_entry (at, actor, role, agency, action, subject, purpose, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [timestamp(entry.at), entry.actor, entry.role, entry.agency, entry.action, entry.subject, entry.purpose,
                             entry.outcome.rawValue])
    }

    /// Entries about `subject`, by `actor`, or all of them (nil), oldest first.
    public func entries(subject: String? = nil, actor: String? = nil, limit: Int = 10_000) async throws -> [AuditEntry] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM audit_entry WHERE (?1 IS NULL OR subject = ?1) AND (?2 IS NULL OR actor = ?2) ORDER BY seq LIMIT ?3
                """, arguments: [subject, actor, limit]).map { row in
                var entry = AuditEntry(at: Self.parse(row["at"]), actor: row["actor"], role: row["role"], agency: row["agency"], action: row["action"],
                                       subject: row["subject"], purpose: row["purpose"], outcome: AuditEntry.Outcome(rawValue: row["outcome"]) ?? .refused)
                entry.seq = row["seq"]
                return entry
            }
        }
    }

    private static let format = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
    private static func timestamp(_ date: Date) -> String { format.format(date) }
    private static func parse(_ text: String) -> Date { (try? format.parse(text)) ?? .distantPast }
}
