import Foundation
import Storage

/// A subscription's position: the offset of the last event it has handled (0: none yet).
public struct Cursor: Sendable, Hashable, Codable {
    public let subscription: String
    public let offset: Int64
    public let updatedAt: String
    /// Events its dispatcher applied per second (over about ten seconds) when it saved the cursor.
    public let appliedPerSecond: Double

    /// The rate at `now`: the one saved, unless the cursor has not moved for longer than the
    /// rate's window (a busy dispatcher saves it every batch), when it is 0.
    public func appliedPerSecond(at now: Date) -> Double {
        guard let saved = EventLog.appendedAt(updatedAt), now.timeIntervalSince(saved) <= 15 else { return 0 }
        return appliedPerSecond
    }
}

extension Cursor {
    static let query = #"SELECT subscription, "offset", updated_at, applied_per_second FROM cursors"#

    init(row: SQLRow) throws(SQLRowError) {
        self.init(subscription: try row["subscription"], offset: try row["offset"], updatedAt: try row["updated_at"],
                  appliedPerSecond: try row["applied_per_second"])
    }
}

extension EventLog {
    public func cursor(_ subscription: String) throws -> Int64 {
        try store.readNow { db in
            try Int64.fetchOne(db, sql: #"SELECT "offset" FROM cursors WHERE subscription = ?"#, arguments: [subscription])
        } ?? 0
    }

    /// The same, for async code: a synchronous read on a cooperative thread can deadlock with
    /// async reads of the same store, which release their connection on that store.
    public func cursor(_ subscription: String) async throws -> Int64 {
        try await store.read { db in
            try Int64.fetchOne(db, sql: #"SELECT "offset" FROM cursors WHERE subscription = ?"#, arguments: [subscription])
        } ?? 0
    }

    /// Moves a subscription's cursor forward (never back), durably, with the rate its dispatcher
    /// applies at (for `wzt status`).
    public func saveCursor(_ subscription: String, offset: Int64, appliedPerSecond: Double = 0) async throws {
        try await update { db in
            try db.execute(sql: """
                INSERT INTO cursors (subscription, "offset", applied_per_second) VALUES (?, ?, ?)
                ON CONFLICT(subscription) DO UPDATE SET "offset" = \(db.dialect.greatest)(cursors."offset", excluded."offset"),
                    updated_at = \(db.dialect.now), applied_per_second = excluded.applied_per_second
                """, arguments: [subscription, offset, appliedPerSecond])
        }
    }

    public func cursors() throws -> [Cursor] {
        try store.readNow { db in try SQLRow.fetchAll(db, sql: Cursor.query + " ORDER BY subscription").map(Cursor.init(row:)) }
    }

    /// The subscription's saved cursor, nil before it saved one.
    public func savedCursor(_ subscription: String) async throws -> Cursor? {
        try await store.read { db in try SQLRow.fetchOne(db, sql: Cursor.query + " WHERE subscription = ?", arguments: [subscription]).map(Cursor.init(row:)) }
    }

    /// How many events of the given types lie beyond `offset`: a subscription's lag.
    public func count(after offset: Int64, matching patterns: [EventPattern]) throws -> Int {
        try store.readNow { db in try Self.count(db, after: offset, matching: patterns) }
    }

    public func count(after offset: Int64, matching patterns: [EventPattern]) async throws -> Int {
        try await store.read { db in try Self.count(db, after: offset, matching: patterns) }
    }

    private static func count(_ db: any SQLDatabase, after offset: Int64, matching patterns: [EventPattern]) throws -> Int {
        var arguments: [SQLValue] = [.integer(offset)]
        let sql = #"SELECT COUNT(*) FROM events WHERE "offset" > ?"# + EventLog.typeFilter(patterns, db.dialect, arguments: &arguments)
        return try Int.fetchOne(db, sql: sql, arguments: SQLArguments(arguments)) ?? 0
    }

    /// When the oldest event of the given types beyond `offset` was appended: how far behind a
    /// subscription at `offset` is. Nil when it has applied everything of its types.
    public func oldestAppended(after offset: Int64, matching patterns: [EventPattern]) async throws -> Date? {
        try await store.read { db in
            var arguments: [SQLValue] = [.integer(offset)]
            let sql = #"SELECT appended_at FROM events WHERE "offset" > ?"# + EventLog.typeFilter(patterns, db.dialect, arguments: &arguments)
                + #" ORDER BY "offset" LIMIT 1"#
            return try String.fetchOne(db, sql: sql, arguments: SQLArguments(arguments)).flatMap(EventLog.appendedAt)
        }
    }

    /// How far behind a subscription at `offset` is: the age of its oldest unapplied event, 0 when none waits.
    public func secondsBehind(_ offset: Int64, matching patterns: [EventPattern], now: Date = Date()) async throws -> Double {
        try await oldestAppended(after: offset, matching: patterns).map { max(0, now.timeIntervalSince($0)) } ?? 0
    }

    /// `appended_at` (and a cursor's `updated_at`) read back in the form the log writes it.
    static func appendedAt(_ text: String) -> Date? {
        try? recordedAtFormat.parse(text)
    }
}
