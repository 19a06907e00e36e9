import Storage

/// A subscription's position: the offset of the last event it has handled (0: none yet).
public struct Cursor: Sendable, Hashable, Codable {
    public let subscription: String
    public let offset: Int64
    public let updatedAt: String
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

    /// Moves a subscription's cursor forward (never back), durably.
    public func saveCursor(_ subscription: String, offset: Int64) async throws {
        try await update { db in
            try db.execute(sql: """
                INSERT INTO cursors (subscription, "offset") VALUES (?, ?)
                ON CONFLICT(subscription) DO UPDATE SET "offset" = \(db.dialect.greatest)(cursors."offset", excluded."offset"),
                    updated_at = \(db.dialect.now)
                """, arguments: [subscription, offset])
        }
    }

    public func cursors() throws -> [Cursor] {
        try store.readNow { db in
            try SQLRow.fetchAll(db, sql: #"SELECT subscription, "offset", updated_at FROM cursors ORDER BY subscription"#).map {
                Cursor(subscription: try $0["subscription"], offset: try $0["offset"], updatedAt: try $0["updated_at"])
            }
        }
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
}
