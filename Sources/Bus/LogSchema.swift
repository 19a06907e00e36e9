import GRDB

/// The event log's tables. Append-only timeline of migrations: never edit a shipped step.
enum LogSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1 event log") { db in
            try db.execute(sql: """
                CREATE TABLE events (
                    "offset" INTEGER PRIMARY KEY,
                    id TEXT NOT NULL UNIQUE,
                    type TEXT NOT NULL,
                    subject TEXT,
                    appended_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
                    envelope BLOB NOT NULL
                );
                CREATE INDEX events_type ON events(type, "offset");
                CREATE TABLE cursors (
                    subscription TEXT PRIMARY KEY,
                    "offset" INTEGER NOT NULL,
                    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                );
                CREATE TABLE dead_letters (
                    id INTEGER PRIMARY KEY,
                    subscription TEXT NOT NULL,
                    event_offset INTEGER NOT NULL REFERENCES events("offset"),
                    event_id TEXT NOT NULL,
                    event_type TEXT NOT NULL,
                    error TEXT NOT NULL,
                    attempts INTEGER NOT NULL,
                    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'retry', 'retried', 'discarded')),
                    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
                    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
                    UNIQUE (subscription, event_offset)
                );
                """)
        }
        return migrator
    }
}
