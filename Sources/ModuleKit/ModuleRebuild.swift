import Bus
import Foundation
import Storage

/// Rebuilds a module's state from the log alone: every event it takes, from the first, handed to
/// a fresh database through the same inbox, handler and projection as live delivery. What it
/// publishes is in the log already and goes nowhere; a timer it fired is marked fired where its
/// event stands in the log. Because every domain date comes from the events, the result equals
/// the live state row for row.
public struct ModuleRebuild: Sendable {
    public let module: any Module
    public let log: EventLog
    public let decoder: EnvelopeDecoder
    public let rules: RuleBook

    public init(module: any Module, log: EventLog, decoder: EnvelopeDecoder, rules: RuleBook) {
        self.module = module
        self.log = log
        self.decoder = decoder
        self.rules = rules
    }

    public struct Report: Sendable {
        /// The offset the rebuilt state has applied everything up to: the module's cursor from now on.
        public var head: Int64 = 0
        public var delivered = 0
        public var timersFired = 0
        /// Events whose handler failed (they are dead letters live too): offset and error.
        public var failed: [(offset: Int64, error: String)] = []
    }

    /// Replays the log into `store`, which must be new, after copying the tables the module keeps
    /// across rebuilds from `old`, and what its outbox still holds. The events the live module
    /// applied are replayed, not the ones after (`appliedThrough`): what it publishes for those is
    /// not in the log yet, so they are left to live delivery, which publishes it. `progress` is
    /// told the offset reached and the head, every page.
    public func replay(into store: ModuleStore, keepingFrom old: ModuleStore?, progress: @Sendable (Int64, Int64) -> Void = { _, _ in }) async throws -> Report {
        if let old { try await Self.copyTablesKept(by: module, from: old, to: store) }
        let subscriber = ProjectingSubscriber(Self.subscriber(module, store: store, decoder: decoder, rules: rules),
                                              projection: Projection(needs: module.deliveredNeeds, decoder: decoder, keys: log.keys))
        var report = Report()
        let head = log.headOffset
        var applied = head
        if let old { applied = try await Self.appliedThrough(module.name, old: old, log: log) }
        let (log, module, deliveredThrough) = (self.log, self.module, applied)
        var page = try await Self.page(of: log, after: 0, through: head)
        while let last = page.last {
            // The next page is read, and what the module takes of it projected and decoded, while this one is applied.
            let next = Task {
                let next = try await Self.page(of: log, after: last.offset, through: head)
                await subscriber.prepare(next.filter { event in event.offset <= deliveredThrough && module.deliveredNeeds.contains { $0.pattern.matches(event.type) } })
                return next
            }
            // The module's timers' events are marked fired up to the head: the live module fired them.
            try await Self.replay(page, to: subscriber, of: module, deliveringThrough: applied, store: store, decoder: decoder, report: &report)
            progress(last.offset, head)
            page = try await next.value
        }
        if let old { try await Self.copyOutbox(from: old, to: store) }
        report.head = min(applied, head)
        return report
    }

    /// The last offset the live module applied: its cursor, or the newest event in its inbox when
    /// the cursor was not saved since.
    static func appliedThrough(_ name: String, old: ModuleStore, log: EventLog) async throws -> Int64 {
        let inbox = try await old.database.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(event_offset) FROM wzt_inbox") }
        return max(try await log.cursor(name), inbox ?? 0)
    }

    private static func page(of log: EventLog, after offset: Int64, through head: Int64) async throws -> [StoredEvent] {
        guard offset < head else { return [] }
        return try await log.events(after: offset, limit: 512).filter { $0.offset <= head }
    }

    /// Copies the outbox: events the live module published that may not be in the log yet (the
    /// log keeps each id once). After the replay, whose own outbox goes nowhere.
    static func copyOutbox(from old: ModuleStore, to store: ModuleStore) async throws {
        let outbox = try await old.database.read { db in try SQLRow.fetchAll(db, sql: "SELECT event_id, envelope FROM wzt_outbox ORDER BY seq") }
        try await store.database.write { db in
            for row in outbox {
                // In order, numbered anew: an identity column does not count rows given their number.
                try db.execute(sql: "INSERT INTO wzt_outbox (event_id, envelope) VALUES (?, ?)", arguments: [row["event_id"] as String, row["envelope"] as Data])
            }
        }
    }

    /// Copies the tables the log cannot give again (`Module.tablesKeptOnRebuild`).
    static func copyTablesKept(by module: any Module, from old: ModuleStore, to store: ModuleStore) async throws {
        for table in module.tablesKeptOnRebuild {
            let rows = try await old.database.read { db in try SQLRow.fetchAll(db, sql: "SELECT * FROM \(table)") }
            try await store.database.write { db in
                for row in rows {
                    // PostgreSQL shows the `rowid` its tables carry for SQLite's sake; the new table numbers its own.
                    let copied = zip(row.columnNames, row.values).filter { $0.0 != "rowid" }
                    let columns = copied.map(\.0).joined(separator: ", ")
                    let places = Array(repeating: "?", count: copied.count).joined(separator: ", ")
                    try db.execute(sql: "INSERT INTO \(table) (\(columns)) VALUES (\(places))", arguments: SQLArguments(copied.map(\.1)))
                }
            }
        }
    }

    /// The delivery path of live modules, with an outbox that goes nowhere.
    static func subscriber(_ module: any Module, store: ModuleStore, decoder: EnvelopeDecoder, rules: RuleBook) -> ModuleSubscriber {
        let relay = OutboxRelay(store: store, appender: Discarding(), decoder: decoder)
        return ModuleSubscriber(module: module, store: store, decoder: decoder, relay: relay, clock: SystemClock(), rules: rules, timersChanged: Signal())
    }

    /// Events of the log, replayed in order: the module's own timer event marks its timer fired
    /// where it stands in the log; the events the module takes are delivered in batches between them.
    static func replay(_ events: [StoredEvent], to subscriber: any Subscriber, of module: any Module, deliveringThrough applied: Int64 = .max,
                       store: ModuleStore, decoder: EnvelopeDecoder, report: inout Report) async throws {
        var batch: [StoredEvent] = []
        // Only the module's `timerEvents` can be its timers' events, and only the ones it published
        // itself: the batch goes on across the rest (the events it publishes as it handles its
        // inputs come right after them in a live log), and none of them is decoded.
        let timerTypes = module.timerEventTypes
        let ownSource = "/wzt/\(module.name)"
        for event in events {
            if timerTypes.contains(event.type), EnvelopeScan.text("source", of: event.json) == ownSource, let envelope = try? decoder.decode(event.json) {
                await deliver(batch, to: subscriber, report: &report)
                batch.removeAll()
                report.timersFired += try await store.markFired(envelope)
            }
            if event.offset <= applied, module.deliveredNeeds.contains(where: { $0.pattern.matches(event.type) }) { batch.append(event) }
        }
        await deliver(batch, to: subscriber, report: &report)
    }

    /// Delivers `events` in batches; an event whose handler fails is reported (it is a dead letter
    /// live too) and the rest go on after it.
    private static func deliver(_ events: [StoredEvent], to subscriber: any Subscriber, report: inout Report) async {
        var next = events.startIndex
        while next < events.endIndex {
            let result = await subscriber.deliver(batch: events[next...])
            report.delivered += result.applied
            next += result.applied
            guard let failure = result.failure, next < events.endIndex else {
                if result.applied == 0, next < events.endIndex {
                    // Neither applied nor refused: said, never skipped in silence.
                    report.failed += events[next...].map { ($0.offset, "not applied: the module took none of the events from here on") }
                    return
                }
                continue
            }
            report.failed.append((events[next].offset, "\(failure)"))
            next += 1
        }
    }

    /// What the rebuilt module publishes: already in the log, so nothing is written.
    struct Discarding: EventAppender {
        func append(_ envelopes: [Envelope]) async throws -> [Appended] {
            envelopes.map { Appended(id: $0.id, offset: 0, duplicate: true) }
        }
    }
}

extension ModuleStore {
    /// Marks fired the timer whose event `envelope` is (same type, subject and data): the live
    /// module fired it. A scheduled one first; else one the replay cancelled already, because a
    /// timer that fired just before the live module applied the event cancelling it has its
    /// event after that one in the log. Returns 1 when one was found.
    func markFired(_ envelope: Envelope) async throws -> Int {
        let (type, subject) = (envelope.type.rawValue, envelope.subject)
        let match = try await database.read { db -> String? in
            let candidates = try SQLRow.fetchAll(db, sql: """
                SELECT id, envelope, subject FROM wzt_timers WHERE status IN ('scheduled', 'cancelled') AND publishes = ?
                ORDER BY status = 'scheduled' DESC, due_at, id
                """, arguments: [type])
            // Most of a module's own events are not its timers': their data is not parsed.
            guard !candidates.isEmpty else { return nil }
            let data = Self.data(of: envelope.json)
            return try candidates
                .first { row in
                    let stored: Data = try row["envelope"]
                    return try row["subject"] as String? == subject && Self.data(of: Array(stored)) == data
                }
                .map { try $0["id"] as String }
        }
        guard let match else { return 0 }
        try await database.write { db in try db.execute(sql: "UPDATE wzt_timers SET status = 'fired' WHERE id = ?", arguments: [match]) }
        return 1
    }

    /// The `data` member, with its keys sorted: the same data is the same bytes.
    private static func data(of json: [UInt8]) -> Data? {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(json))) as? [String: Any], let data = object["data"] else { return nil }
        return try? JSONSerialization.data(withJSONObject: data, options: [.sortedKeys])
    }
}
