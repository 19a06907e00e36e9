import Storage

/// The networks module's tables. Append-only timeline: never edit a shipped step.
enum NetworksSchema {
    static func register(_ migrator: inout SQLMigrations) {
        migrator.registerMigration("networks v1") { db in
            try db.execute(sql: """
                CREATE TABLE network (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    region TEXT NOT NULL,
                    werkingsgebied TEXT NOT NULL,
                    coordinator TEXT NOT NULL,
                    capacity INTEGER NOT NULL,
                    active_since TEXT,
                    rule_set TEXT
                );
                CREATE TABLE network_partner (
                    network_id TEXT NOT NULL REFERENCES network(id),
                    organisation_id TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    recognition TEXT,
                    PRIMARY KEY (network_id, organisation_id)
                );
                CREATE TABLE referral (
                    id TEXT PRIMARY KEY,
                    network_id TEXT NOT NULL REFERENCES network(id),
                    case_id TEXT NOT NULL,
                    referred_on TEXT NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('accepted', 'waitlisted', 'rejected', 'released')),
                    queued_at INTEGER
                );
                CREATE INDEX referral_network_state ON referral(network_id, state, queued_at);
                """)
        }
    }
}
