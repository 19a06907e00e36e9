import Storage

/// An event a subscriber could not handle after every retry.
public struct DeadLetter: Sendable, Hashable, Codable {
    public enum Status: String, Sendable, Codable, CaseIterable {
        /// Waiting for an operator.
        case open
        /// An operator asked for another delivery; the dispatcher picks it up.
        case retry
        /// Delivered successfully on a later try.
        case retried
        /// An operator decided the event needs no handling by this subscriber.
        case discarded
    }

    public let id: Int64
    public let subscription: String
    public let eventOffset: Int64
    public let eventID: String
    public let eventType: String
    public let error: String
    public let attempts: Int
    public let status: Status
    public let createdAt: String
    public let updatedAt: String
}

extension EventLog {
    /// Records that `subscription` gave up on `event`; a second failure of the same event
    /// updates the record instead of adding one.
    public func recordDeadLetter(subscription: String, event: StoredEvent, error: String, attempts: Int) async throws {
        try await update { db in
            try db.execute(sql: """
                INSERT INTO dead_letters (subscription, event_offset, event_id, event_type, error, attempts)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(subscription, event_offset) DO UPDATE SET status = 'open', error = excluded.error,
                    attempts = dead_letters.attempts + excluded.attempts, updated_at = \(db.dialect.now)
                """, arguments: [subscription, event.offset, event.id, event.type, error, attempts])
        }
    }

    public func deadLetters(status: DeadLetter.Status? = .open, subscription: String? = nil) throws -> [DeadLetter] {
        try store.readNow { db in try Self.deadLetters(db, status: status, subscription: subscription) }
    }

    /// The same, for async code (see `cursor(_:)`).
    public func deadLetters(status: DeadLetter.Status? = .open, subscription: String? = nil) async throws -> [DeadLetter] {
        try await store.read { db in try Self.deadLetters(db, status: status, subscription: subscription) }
    }

    private static func deadLetters(_ db: any SQLDatabase, status: DeadLetter.Status?, subscription: String?) throws -> [DeadLetter] {
        var conditions: [String] = []
        var arguments: [SQLValue] = []
        if let status { conditions.append("status = ?"); arguments.append(.text(status.rawValue)) }
        if let subscription { conditions.append("subscription = ?"); arguments.append(.text(subscription)) }
        let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        return try SQLRow.fetchAll(db, sql: "SELECT * FROM dead_letters\(filter) ORDER BY id", arguments: SQLArguments(arguments)).map(DeadLetter.init(row:))
    }

    public func deadLetter(id: Int64) throws -> DeadLetter? {
        try store.readNow { db in try SQLRow.fetchOne(db, sql: "SELECT * FROM dead_letters WHERE id = ?", arguments: [id]).map(DeadLetter.init(row:)) }
    }

    /// Changes a dead letter's status when it is in one of `from`; returns whether it changed.
    @discardableResult
    public func setDeadLetterStatus(id: Int64, to status: DeadLetter.Status, from: [DeadLetter.Status]) async throws -> Bool {
        try await update { db in
            let placeholders = from.map { _ in "?" }.joined(separator: ", ")
            let arguments: [SQLValue] = [.text(status.rawValue), .integer(id)] + from.map { .text($0.rawValue) }
            try db.execute(
                sql: "UPDATE dead_letters SET status = ?, updated_at = \(db.dialect.now) WHERE id = ? AND status IN (\(placeholders))",
                arguments: SQLArguments(arguments))
            return db.changesCount == 1
        }
    }
}

extension DeadLetter {
    init(row: SQLRow) throws(SQLRowError) {
        self.init(
            id: try row["id"], subscription: try row["subscription"], eventOffset: try row["event_offset"], eventID: try row["event_id"],
            eventType: try row["event_type"], error: try row["error"], attempts: try row["attempts"],
            status: Status(rawValue: try row["status"]) ?? .open, createdAt: try row["created_at"], updatedAt: try row["updated_at"])
    }
}
