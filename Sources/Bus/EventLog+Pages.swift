import Storage

/// Which events an operator's page shows.
public struct EventFilter: Sendable, Equatable {
    /// The start of the type, e.g. `be.wzt.intake.`.
    public var typePrefix: String?
    public var subject: String?
    /// Recorded at or after / before these moments (the log's `appended_at`, RFC 3339 in UTC).
    public var recordedFrom: String?
    public var recordedBefore: String?

    public init(typePrefix: String? = nil, subject: String? = nil, recordedFrom: String? = nil, recordedBefore: String? = nil) {
        self.typePrefix = typePrefix
        self.subject = subject
        self.recordedFrom = recordedFrom
        self.recordedBefore = recordedBefore
    }
}

/// One page of the log, newest first.
public struct EventPage: Sendable {
    public let events: [(event: StoredEvent, recordedAt: String)]
    /// The lowest offset this page looked at: older matches, if any, are before it. 1 or less:
    /// nothing older.
    public let searchedFrom: Int64
}

extension EventLog {
    /// Events before offset `before` that match `filter`, newest first, looking at most `window`
    /// offsets back: a page costs the same on a log of any size, however rare the matches are.
    /// With a subject, the page reads that subject's events only (an index), over the whole log.
    public func page(before: Int64, filter: EventFilter, limit: Int = 50, window: Int64 = 100_000) async throws -> EventPage {
        try await store.read { db in
            // Offsets come from URLs: any Int64 is a page, never an overflow.
            let window = max(1, window)
            let lowest: Int64 = filter.subject == nil && before > window ? before - window : 1
            var sql = #"SELECT "offset", id, type, subject, envelope, appended_at FROM events WHERE "offset" < ? AND "offset" >= ?"#
            var arguments: [SQLValue] = [.integer(before), .integer(lowest)]
            if let prefix = filter.typePrefix, !prefix.isEmpty {
                sql += " AND substr(type, 1, ?) = ?"
                arguments += [.integer(Int64(prefix.unicodeScalars.count)), .text(prefix)]
            }
            if let subject = filter.subject {
                sql += " AND subject = ?"
                arguments.append(.text(subject))
            }
            if let from = filter.recordedFrom {
                sql += " AND appended_at >= ?"
                arguments.append(.text(from))
            }
            if let until = filter.recordedBefore {
                sql += " AND appended_at < ?"
                arguments.append(.text(until))
            }
            sql += #" ORDER BY "offset" DESC LIMIT ?"#
            arguments.append(.integer(Int64(limit)))
            let events = try SQLRow.fetchAll(db, sql: sql, arguments: SQLArguments(arguments)).map { row in
                (event: try StoredEvent(row: row), recordedAt: try row["appended_at"] as String)
            }
            let searchedFrom = events.count == limit ? events[events.count - 1].event.offset : lowest
            return EventPage(events: events, searchedFrom: searchedFrom)
        }
    }
}
