import Storage

/// The mandating module's tables. Append-only timeline: never edit a shipped step.
enum MandatingSchema {
    static func register(_ migrator: inout SQLMigrations) {
        migrator.registerMigration("mandating v1") { db in
            try db.execute(sql: """
                CREATE TABLE mandate_call (
                    id TEXT PRIMARY KEY,
                    region TEXT NOT NULL,
                    werkingsgebied TEXT NOT NULL,
                    opens_on TEXT NOT NULL,
                    closes_on TEXT NOT NULL
                );
                CREATE TABLE mandate_application (
                    id TEXT PRIMARY KEY,
                    organisation_id TEXT NOT NULL,
                    organisation_name TEXT NOT NULL,
                    organisation_kind TEXT NOT NULL,
                    region TEXT NOT NULL,
                    werkingsgebied TEXT NOT NULL,
                    rule_set TEXT NOT NULL,
                    received_on TEXT NOT NULL,
                    call_id TEXT REFERENCES mandate_call(id),
                    status TEXT NOT NULL,
                    status_on TEXT NOT NULL,
                    decision_due_on TEXT,
                    expires_on TEXT,
                    overdue_decision TEXT
                );
                CREATE INDEX mandate_application_active ON mandate_application(status, region, werkingsgebied);
                CREATE TABLE mandate_history (
                    application_id TEXT NOT NULL REFERENCES mandate_application(id),
                    status TEXT NOT NULL,
                    status_on TEXT NOT NULL,
                    event_id TEXT NOT NULL,
                    reason TEXT
                );
                """)
        }
    }
}
