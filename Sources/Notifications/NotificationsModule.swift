import Bus
import Foundation
import Storage
import ModuleKit

/// Tells agencies what they must know (DOMAIN.md, Identifiers and privacy: notifications never
/// carry health data): deadlines, decisions, referral outcomes, agreements awaiting confirmation.
///
/// Handling an event only writes the notifications into this module's own database, in the
/// delivery transaction; `run` sends them afterwards, retrying with backoff. A dead webhook or
/// mail relay therefore never holds up the bus, and nothing is lost when the process stops.
public final class NotificationsModule: Module {
    public let name = "notifications"
    public let contracts: [any EventContract.Type] = []
    public var needs: [Need] { Notice.needs }
    let configuration: NotificationsConfiguration
    /// Fired after a commit that added notifications, so that delivery starts at once.
    private let added = Signal()

    public init(configuration: NotificationsConfiguration) {
        self.configuration = configuration
    }

    /// The notices about a case, agreement or application (they hold no personal data, but they
    /// are about the person, and say who was told what).
    public func records(about subject: String, _ db: any SQLDatabase) throws -> [String: [SQLRow]] {
        let notices = try SQLRow.fetchAll(db, sql: "SELECT id, channel, event_id, event_type, what, created_at, status, attempts FROM notification WHERE reference = ? ORDER BY created_at",
                                       arguments: [subject])
        return notices.isEmpty ? [:] : ["notification": notices]
    }

    public func registerMigrations(_ migrator: inout SQLMigrations) {
        migrator.registerMigration("notifications v1") { db in
            try db.execute(sql: """
                CREATE TABLE notification (
                    id TEXT PRIMARY KEY,
                    channel TEXT NOT NULL,
                    event_id TEXT NOT NULL,
                    event_type TEXT NOT NULL,
                    module TEXT NOT NULL,
                    reference TEXT NOT NULL,
                    what TEXT NOT NULL,
                    created_at REAL NOT NULL,
                    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at REAL NOT NULL,
                    last_error TEXT,
                    UNIQUE (channel, event_id)
                );
                CREATE INDEX notification_due ON notification (status, next_attempt_at);
                -- Append-only; after `wzt notifications retry` the attempts count from 1 again.
                CREATE TABLE delivery_attempt (
                    seq INTEGER PRIMARY KEY,
                    notification_id TEXT NOT NULL REFERENCES notification(id),
                    attempt INTEGER NOT NULL,
                    at REAL NOT NULL,
                    outcome TEXT NOT NULL CHECK (outcome IN ('delivered', 'retry', 'failed')),
                    detail TEXT
                );
                CREATE INDEX delivery_attempt_notification ON delivery_attempt (notification_id);
                """)
        }
    }

    public func handle(_ event: IncomingEvent, _ transaction: ModuleTransaction) throws {
        guard let notice = try Notice(event) else { return }
        let now = transaction.now.timeIntervalSince1970
        var added = false
        for channel in configuration.channels where channel.hears(event.type) {
            try transaction.db.execute(sql: """
                INSERT INTO notification (id, channel, event_id, event_type, module, reference, what, created_at, next_attempt_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (channel, event_id) DO NOTHING
                """, arguments: [EventID.make(), channel.name, event.id, event.type, notice.module, notice.reference, notice.what, now, now])
            added = true
        }
        if added {
            let signal = self.added
            transaction.afterCommit { signal.fire() }
        }
    }

    public func run(_ context: ModuleContext) async throws {
        guard !configuration.channels.isEmpty else { return }
        context.logger.info("notifications channels", metadata: ["wzt.channels": "\(configuration.channels.map(\.name).joined(separator: ","))"])
        try await Courier(configuration: configuration, outbox: NotificationsQueries(database: context.store.database), clock: context.clock,
                          logger: context.logger).run(added: added)
    }
}
