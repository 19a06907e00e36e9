import Bus
import Foundation
import Storage

/// A module's own database: its tables, plus the inbox and outbox the host keeps there.
public struct ModuleStore: Sendable {
    public let database: any SQLStore
    /// Where the data lives, for messages.
    public var location: String { database.location }

    /// The module's store in the SQLite file at `path`, created and migrated when needed.
    public init(module: some Module, path: String) throws(StoreError) {
        database = try SQLiteStore(path: path, migrations: Self.migrations(of: module))
    }

    /// The module's store in `database`, opened and migrated with `migrations(of:)` by its driver.
    public init(database: any SQLStore) {
        self.database = database
    }

    /// The host's tables, then the module's own.
    public static func migrations(of module: some Module) -> SQLMigrations {
        var migrator = SQLMigrations()
        migrator.registerMigration("wzt v1 inbox and outbox") { db in
            let now = db.dialect.now
            try db.execute(sql: """
                CREATE TABLE wzt_inbox (
                    event_id TEXT PRIMARY KEY,
                    event_offset INTEGER NOT NULL,
                    handled_at TEXT NOT NULL DEFAULT (\(now))
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
        migrator.registerMigration("wzt v3 timer subjects") { db in
            // What a deadline concerns and publishes, as columns: read views ask for them by subject.
            try db.execute(sql: "ALTER TABLE wzt_timers ADD COLUMN subject TEXT")
            try db.execute(sql: "ALTER TABLE wzt_timers ADD COLUMN publishes TEXT")
            try db.execute(sql: "CREATE INDEX wzt_timers_subject ON wzt_timers(subject)")
            for row in try SQLRow.fetchAll(db, sql: "SELECT id, envelope FROM wzt_timers WHERE status IN ('scheduled', 'paused')") {
                let envelope = try JSONSerialization.jsonObject(with: row["envelope"] as Data) as? [String: Any]
                try db.execute(sql: "UPDATE wzt_timers SET subject = ?, publishes = ? WHERE id = ?",
                               arguments: [envelope?["subject"] as? String, envelope?["type"] as? String, row["id"] as String])
            }
        }
        migrator.registerMigration("wzt v4 fence") { db in
            // The highest fencing token that wrote these tables (`FencedStore`).
            try db.execute(sql: "CREATE TABLE wzt_fence (token INTEGER NOT NULL); INSERT INTO wzt_fence (token) VALUES (0)")
        }
        module.registerMigrations(&migrator)
        return migrator
    }

    /// Whether the inbox already holds `eventID`, i.e. the module has applied it.
    public func hasHandled(_ eventID: String) throws -> Bool {
        try database.readNow { db in try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM wzt_inbox WHERE event_id = ?)", arguments: [eventID]) ?? false }
    }

    func pendingOutbox() async throws -> [(seq: Int64, id: String, json: [UInt8])] {
        try await database.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT seq, event_id, envelope FROM wzt_outbox ORDER BY seq LIMIT 1000").map { row in
                let json: Data = try row["envelope"]
                return (try row["seq"], try row["event_id"], Array(json))
            }
        }
    }

    /// How many published events wait in the outbox for the log.
    func outboxCount() async throws -> Int {
        try await database.read { db in try Self.outboxCount(db) }
    }

    /// The same, in the caller's transaction.
    static func outboxCount(_ db: any SQLDatabase) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM wzt_outbox") ?? 0
    }

    func removeFromOutbox(through seq: Int64) async throws {
        try await database.write { db in try db.execute(sql: "DELETE FROM wzt_outbox WHERE seq <= ?", arguments: [seq]) }
    }
}
