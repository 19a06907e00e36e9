import Storage

/// The intake module's tables. The INSZ lives here and nowhere else. Append-only timeline.
enum IntakeSchema {
    static func register(_ migrator: inout SQLMigrations) {
        migrator.registerMigration("intake v1") { db in
            try db.execute(sql: """
                CREATE TABLE intake_case (
                    id TEXT PRIMARY KEY,
                    insz TEXT NOT NULL,
                    region TEXT NOT NULL,
                    office TEXT NOT NULL,
                    requested_on TEXT NOT NULL,
                    status TEXT NOT NULL,
                    status_before_hold TEXT,
                    advice TEXT,
                    municipality TEXT,
                    casemanager_werk_id TEXT,
                    casemanager_werk_organisation TEXT,
                    casemanager_zorg_id TEXT,
                    casemanager_zorg_organisation TEXT,
                    mandate_id TEXT,
                    started_on TEXT,
                    rule_set TEXT,
                    limit_on TEXT,
                    extensions INTEGER NOT NULL DEFAULT 0,
                    network_id TEXT,
                    limit_reached INTEGER NOT NULL DEFAULT 0,
                    ended_on TEXT,
                    eindadvies TEXT
                );
                CREATE TABLE intake_step (
                    case_id TEXT NOT NULL REFERENCES intake_case(id),
                    step TEXT NOT NULL,
                    step_on TEXT NOT NULL,
                    event_id TEXT NOT NULL
                );
                CREATE INDEX intake_step_case ON intake_step(case_id);
                -- What the mandating module published about mandates: intake never reads its tables.
                CREATE TABLE intake_mandate (
                    application_id TEXT PRIMARY KEY,
                    organisation_id TEXT NOT NULL,
                    status TEXT NOT NULL
                );
                """)
        }
        // A pause is measured between the hold's own dates, so the day it began is kept; a case on
        // hold already takes it from its last `on-hold` step.
        migrator.registerMigration("intake v2 hold since") { db in
            try db.execute(sql: "ALTER TABLE intake_case ADD COLUMN on_hold_since TEXT")
            try db.execute(sql: """
                UPDATE intake_case SET on_hold_since = (
                    SELECT s.step_on FROM intake_step s WHERE s.case_id = intake_case.id AND s.step = 'on-hold' ORDER BY s.rowid DESC LIMIT 1)
                WHERE status = 'on-hold'
                """)
        }
    }
}
