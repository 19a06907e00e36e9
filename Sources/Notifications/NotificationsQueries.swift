import Foundation
import Storage

/// One notification as stored: what to say, to which channel, and how delivery went so far.
public struct PendingNotification: Sendable, Hashable, Encodable {
    public let id: String
    public let channel: String
    public let eventID: String
    public let eventType: String
    public let module: String
    public let reference: String
    public let what: String
    public let createdAt: Date
    public let status: String
    public let attempts: Int
    public let lastError: String?

    init(_ row: SQLRow) throws(SQLRowError) {
        id = try row["id"]
        channel = try row["channel"]
        eventID = try row["event_id"]
        eventType = try row["event_type"]
        module = try row["module"]
        reference = try row["reference"]
        what = try row["what"]
        createdAt = Date(timeIntervalSince1970: try row["created_at"])
        status = try row["status"]
        attempts = try row["attempts"]
        lastError = try row["last_error"]
    }
}

enum DeliveryOutcome: Sendable {
    case delivered
    case retry(String, at: Date)
    case failed(String)
}

/// The notifications module's delivery log, for its courier and for operators (`wzt notifications`).
public struct NotificationsQueries: Sendable {
    let database: any SQLStore
    public init(database: any SQLStore) { self.database = database }

    func due(now: Date, limit: Int) async throws -> [PendingNotification] {
        try await database.read { db in
            try SQLRow.fetchAll(db, sql: """
                SELECT * FROM notification WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?
                """, arguments: [now.timeIntervalSince1970, limit]).map(PendingNotification.init)
        }
    }

    func nextAttempt() async throws -> Date? {
        try await database.read { db in
            try Double.fetchOne(db, sql: "SELECT MIN(next_attempt_at) FROM notification WHERE status = 'pending'").map(Date.init(timeIntervalSince1970:))
        }
    }

    func record(_ id: String, attempt: Int, outcome: DeliveryOutcome, at date: Date) async throws {
        let (status, detail, next): (String, String?, Date?) = switch outcome {
        case .delivered: ("delivered", nil, nil)
        case .retry(let detail, let next): ("pending", detail, next)
        case .failed(let detail): ("failed", detail, nil)
        }
        try await database.write { db in
            try db.execute(sql: """
                UPDATE notification SET status = ?, attempts = ?, last_error = ?, next_attempt_at = COALESCE(?, next_attempt_at) WHERE id = ?
                """, arguments: [status, attempt, detail, next?.timeIntervalSince1970, id])
            try db.execute(sql: """
                INSERT INTO delivery_attempt (notification_id, attempt, at, outcome, detail) VALUES (?, ?, ?, ?, ?)
                """, arguments: [id, attempt, date.timeIntervalSince1970, status == "pending" ? "retry" : status, detail])
        }
    }

    /// Notifications whose every attempt failed, oldest first.
    public func failed() async throws -> [PendingNotification] {
        try await database.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT * FROM notification WHERE status = 'failed' ORDER BY created_at, id").map(PendingNotification.init)
        }
    }

    public func all() async throws -> [PendingNotification] {
        try await database.read { db in try SQLRow.fetchAll(db, sql: "SELECT * FROM notification ORDER BY created_at, id").map(PendingNotification.init) }
    }

    /// Every attempt at one notification: (attempt, when, outcome, detail).
    public func attempts(_ id: String) async throws -> [(attempt: Int, at: Date, outcome: String, detail: String?)] {
        try await database.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT * FROM delivery_attempt WHERE notification_id = ? ORDER BY seq", arguments: [id]).map {
                (try $0["attempt"], Date(timeIntervalSince1970: try $0["at"]), try $0["outcome"], try $0["detail"])
            }
        }
    }

    /// Puts a failed notification back in the queue with a fresh set of attempts; false when no
    /// failed notification has that id. A running node picks it up within seconds.
    public func retry(_ id: String, now: Date = Date()) async throws -> Bool {
        try await database.write { db in
            try db.execute(sql: """
                UPDATE notification SET status = 'pending', attempts = 0, next_attempt_at = ? WHERE id = ? AND status = 'failed'
                """, arguments: [now.timeIntervalSince1970, id])
            return db.changesCount > 0
        }
    }
}
