import Storage

/// The event log's tables. Append-only timelines of migrations: never edit a shipped step.
enum LogSchema {
    /// In an SQLite file, the history every log file went through (the names are GRDB's records).
    static var sqlite: SQLMigrations {
        var migrator = SQLMigrations()
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
        // One key per subject for its personal fields; deleting the row erases them (SubjectKeys).
        // Since v4 only read, for values sealed before key ids.
        migrator.registerMigration("v2 subject keys") { db in
            try db.execute(sql: """
                CREATE TABLE subject_keys (
                    subject TEXT PRIMARY KEY,
                    key BLOB NOT NULL,
                    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                );
                CREATE TABLE erased_subjects (
                    subject TEXT NOT NULL,
                    erased_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
                    reason TEXT NOT NULL
                );
                """)
        }
        // When each subject's personal data is due for erasure, by the retention period of its purpose.
        migrator.registerMigration("v3 retention") { db in
            try db.execute(sql: """
                CREATE TABLE retention_due (
                    subject TEXT PRIMARY KEY,
                    purpose TEXT NOT NULL,
                    due_at REAL NOT NULL
                );
                CREATE INDEX retention_due_at ON retention_due(due_at);
                """)
        }
        // Keys by id, appended in arrival order; sealed values name their key (SubjectKeys).
        // AUTOINCREMENT: the id of an erased key is never given to another, which would then be
        // tried on the erased key's values.
        migrator.registerMigration("v4 sealing keys") { db in
            try db.execute(sql: """
                CREATE TABLE sealing_keys (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    subject TEXT NOT NULL,
                    key BLOB NOT NULL,
                    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                );
                """)
        }
        // Without AUTOINCREMENT and `created_at`, which cost the writer a write to sqlite_sequence
        // and a strftime per new key (the key row took half as long as its event's row). Ids stay
        // unique for ever through `sealing_key_ids`: the highest id erasure removed, the only way
        // an id leaves the table. The old table's pages are zeroed as it is dropped, so no copy of
        // a key survives in a free page.
        migrator.registerMigration("v5 sealing keys without a sequence") { db in
            try db.execute(sql: """
                PRAGMA secure_delete = ON;
                CREATE TABLE sealing_keys_v5 (
                    id INTEGER PRIMARY KEY,
                    subject TEXT NOT NULL,
                    key BLOB NOT NULL
                );
                INSERT INTO sealing_keys_v5 (id, subject, key) SELECT id, subject, key FROM sealing_keys ORDER BY id;
                CREATE TABLE sealing_key_ids (highest_erased INTEGER NOT NULL);
                INSERT INTO sealing_key_ids (highest_erased)
                    SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'sealing_keys'), 0);
                DROP TABLE sealing_keys;
                ALTER TABLE sealing_keys_v5 RENAME TO sealing_keys;
                PRAGMA secure_delete = OFF;
                """)
        }
        migrator.registerMigration("v6 apply rates") { db in
            try db.execute(sql: "ALTER TABLE cursors ADD COLUMN applied_per_second REAL NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("v7 events by subject") { db in try db.execute(sql: eventsBySubject) }
        return migrator
    }

    /// In a PostgreSQL schema (`wzt_log`), which started with the shape the SQLite file reached at
    /// v5, in the SQL the module store's driver maps to PostgreSQL's types.
    static var postgres: SQLMigrations {
        var migrator = SQLMigrations()
        migrator.registerMigration("v1 event log") { db in
            let now = db.dialect.now
            try db.execute(sql: """
                CREATE TABLE events (
                    "offset" INTEGER PRIMARY KEY,
                    id TEXT NOT NULL UNIQUE,
                    type TEXT NOT NULL,
                    subject TEXT,
                    appended_at TEXT NOT NULL DEFAULT (\(now)),
                    envelope BLOB NOT NULL
                );
                CREATE INDEX events_type ON events(type, "offset");
                CREATE TABLE cursors (
                    subscription TEXT PRIMARY KEY,
                    "offset" INTEGER NOT NULL,
                    updated_at TEXT NOT NULL DEFAULT (\(now))
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
                    created_at TEXT NOT NULL DEFAULT (\(now)),
                    updated_at TEXT NOT NULL DEFAULT (\(now)),
                    UNIQUE (subscription, event_offset)
                );
                CREATE TABLE subject_keys (
                    subject TEXT PRIMARY KEY,
                    key BLOB NOT NULL
                );
                CREATE TABLE erased_subjects (
                    subject TEXT NOT NULL,
                    erased_at TEXT NOT NULL DEFAULT (\(now)),
                    reason TEXT NOT NULL
                );
                CREATE TABLE retention_due (
                    subject TEXT PRIMARY KEY,
                    purpose TEXT NOT NULL,
                    due_at REAL NOT NULL
                );
                CREATE INDEX retention_due_at ON retention_due(due_at);
                CREATE TABLE sealing_keys (
                    id INTEGER PRIMARY KEY,
                    subject TEXT NOT NULL,
                    key BLOB NOT NULL
                );
                CREATE TABLE sealing_key_ids (highest_erased INTEGER NOT NULL);
                INSERT INTO sealing_key_ids (highest_erased) VALUES (0);
                """)
        }
        migrator.registerMigration("v2 apply rates") { db in
            try db.execute(sql: "ALTER TABLE cursors ADD COLUMN applied_per_second REAL NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("v3 events by subject") { db in try db.execute(sql: eventsBySubject) }
        migrator.registerMigration("v4 several nodes") { db in
            // Sealing key ids of a process are its incarnation (from the sequence) times 2^32 plus
            // a count, so that nodes sharing the log never hand out one id twice; the sequence
            // starts above every id held so far. `erasures` counts erasures, so that a node learns
            // that another erased keys it may still hold in memory. `module_owners` holds each
            // module's lease and fencing token, drawn from a sequence so that it grows even
            // across a deleted row.
            try db.execute(sql: """
                CREATE SEQUENCE sealing_key_incarnations;
                SELECT setval('sealing_key_incarnations',
                    1 + (GREATEST((SELECT highest_erased FROM sealing_key_ids), (SELECT COALESCE(MAX(id), 0) FROM sealing_keys)) >> 32), false);
                ALTER TABLE sealing_key_ids ADD COLUMN erasures BIGINT NOT NULL DEFAULT 0;
                CREATE SEQUENCE module_owner_tokens;
                CREATE TABLE module_owners (
                    module TEXT PRIMARY KEY,
                    node TEXT NOT NULL,
                    token BIGINT NOT NULL,
                    since TIMESTAMPTZ NOT NULL,
                    expires_at TIMESTAMPTZ NOT NULL
                );
                """)
        }
        return migrator
    }

    /// A case's timeline, its erasure and its export read the events of one subject: without
    /// this index each was a scan of the whole log.
    private static let eventsBySubject = #"CREATE INDEX events_subject ON events(subject, "offset")"#
}
