import Bus
import Foundation
import GRDB
import Storage

/// A module's own database: its tables, plus the inbox and outbox the host keeps there.
public struct ModuleStore: Sendable {
    public let pool: DatabasePool
    public let path: String

    public init(module: some Module, path: String) throws(StoreError) {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("wzt v1 inbox and outbox") { db in
            try db.execute(sql: """
                CREATE TABLE wzt_inbox (
                    event_id TEXT PRIMARY KEY,
                    event_offset INTEGER NOT NULL,
                    handled_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                );
                CREATE TABLE wzt_outbox (
                    seq INTEGER PRIMARY KEY,
                    event_id TEXT NOT NULL,
                    envelope BLOB NOT NULL
                );
                """)
        }
        migrator.registerMigration("wzt v2 timers") { db in
            try db.execute(sql: """
                CREATE TABLE wzt_timers (
                    id TEXT PRIMARY KEY,
                    due_at REAL NOT NULL,
                    envelope BLOB NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('scheduled', 'paused', 'fired', 'cancelled')),
                    remaining REAL
                );
                CREATE INDEX wzt_timers_due ON wzt_timers(status, due_at);
                """)
        }
        module.registerMigrations(&migrator)
        pool = try SQLiteDatabase.open(path: path, migrator: migrator)
        self.path = path
    }

    /// Whether the inbox already holds `eventID`, i.e. the module has applied it.
    public func hasHandled(_ eventID: String) throws -> Bool {
        try pool.read { db in try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM wzt_inbox WHERE event_id = ?)", arguments: [eventID]) ?? false }
    }

    func pendingOutbox() async throws -> [(seq: Int64, json: [UInt8])] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT seq, envelope FROM wzt_outbox ORDER BY seq LIMIT 1000").map { row in
                let json: Data = row["envelope"]
                return (row["seq"], Array(json))
            }
        }
    }

    func removeFromOutbox(through seq: Int64) async throws {
        try await pool.write { db in try db.execute(sql: "DELETE FROM wzt_outbox WHERE seq <= ?", arguments: [seq]) }
    }
}
