import Foundation
import GRDB
import Logging
import Metrics
import struct NIOConcurrencyHelpers.NIOLockedValueBox
import Storage

/// The append-only event log: the source of truth of the bus.
///
/// Every write goes through one writer thread that takes all waiting requests and commits them in
/// one transaction (group commit): in an SQLite file with `synchronous=FULL` by default, or in a
/// PostgreSQL schema where the operator configures one. A completion runs only after that commit
/// is durable, so an acknowledged offset survives `kill -9` and power loss.
/// Appending an id that is already in the log writes nothing and returns the first offset.
public final class EventLog: @unchecked Sendable {
    // @unchecked: `pending` and `closing` are guarded by `queueLock`; the rest is immutable or a Mutex.
    /// Where the log lives: its file, or the server's address (without password) and schema.
    public let location: String
    let store: any SQLStore
    let logger: Logger

    private let queueLock = NSCondition()
    private var pending: [WriteRequest] = []
    private var closing = false
    private let writerDone = DispatchSemaphore(value: 0)

    private let head: NIOLockedValueBox<HeadState>
    /// Set when other nodes append to the same log.
    let shared: SharedTail?
    private let observers = NIOLockedValueBox<[@Sendable ([StoredEvent]) -> Void]>([])
    private let statistics = NIOLockedValueBox(Statistics())
    private let metrics = LogMetrics()
    /// The keys of subjects' personal fields, kept in the log's own tables.
    public let keys: SubjectKeys
    /// Whether personal fields are sealed when appended; off only to measure what sealing costs.
    public let sealsPersonalFields: Bool

    /// Opens (or creates) the log in the SQLite file at `path` and starts its writer thread.
    public convenience init(path: String, sealsPersonalFields: Bool = true, logger: Logger = Logger(label: "wzt.bus.log")) throws {
        try self.init(store: try SQLiteStore(path: path, migrations: LogSchema.sqlite), sealsPersonalFields: sealsPersonalFields, logger: logger)
    }

    /// Opens the log in `store`, which its driver opened with `EventLog.migrations(for:)` applied,
    /// and starts its writer thread.
    /// `sharedWithOtherNodes`: other nodes append to the same PostgreSQL log (`[cluster]`), so
    /// this one reads back what they append to keep its head, feeds and live feed whole.
    public convenience init(store: any SQLStore, sealsPersonalFields: Bool = true, sharedWithOtherNodes: Bool = false,
                            logger: Logger = Logger(label: "wzt.bus.log")) throws {
        try self.init(store: store, sealsPersonalFields: sealsPersonalFields, logger: logger, keyCacheLimit: 100_000,
                      sharedWithOtherNodes: sharedWithOtherNodes)
    }

    /// The log's tables in a store of `dialect`: what a driver applies before `init(store:)`.
    public static func migrations(for dialect: SQLDialect) -> SQLMigrations {
        switch dialect {
        case .sqlite: LogSchema.sqlite
        case .postgres: LogSchema.postgres
        }
    }

    /// The schema the log's tables live in when it is in PostgreSQL (modules' schemas bear their names).
    public static let postgresSchema = "wzt_log"

    /// `keyCacheLimit`: how many keys `keys` keeps in memory per cache (tests make it small).
    init(store: any SQLStore, sealsPersonalFields: Bool, logger: Logger, keyCacheLimit: Int, sharedWithOtherNodes: Bool = false) throws {
        self.store = store
        location = store.location
        self.logger = logger
        self.sealsPersonalFields = sealsPersonalFields
        keys = try SubjectKeys(store: store, cacheLimit: keyCacheLimit)
        let last = try store.readNow { db in try Int64.fetchOne(db, sql: #"SELECT MAX("offset") FROM events"#) } ?? 0
        head = NIOLockedValueBox(HeadState(offset: last))
        shared = sharedWithOtherNodes && store.dialect == .postgres ? SharedTail() : nil
        let thread = Thread { [unowned self] in
            Thread.nameCurrent("wzt.log-writer")
            self.writerLoop()
        }
        thread.start()
        if shared != nil {
            let follower = Thread { [unowned self] in
                Thread.nameCurrent("wzt.log-follower")
                self.followOtherNodes()
            }
            follower.start()
        }
    }

    /// Stops taking writes, commits everything already queued, then stops the writer thread.
    public func close() {
        queueLock.lock()
        let wasClosing = closing
        closing = true
        queueLock.signal()
        queueLock.unlock()
        guard !wasClosing else { return }
        writerDone.wait()
        shared?.stop()
        let waiters = head.withLockedValue { state in
            state.closed = true
            defer { state.waiters.removeAll() }
            return state.waiters.values
        }
        for waiter in waiters { waiter.continuation.resume() }
    }

    // MARK: appending

    /// Appends `envelopes` in order; `completion` runs on the writer thread after the fsync.
    /// Personal fields are sealed here, on the caller's thread (a large batch on every core), so
    /// that the writer, which every append waits for, only stores new keys.
    public func append(_ envelopes: [Envelope], completion: @escaping @Sendable (Result<[Appended], EnvelopeError>) -> Void) {
        do throws(EnvelopeError) {
            let sealed = sealsPersonalFields ? try keys.seal(envelopes).map { result throws(EnvelopeError) in try result.get() } : envelopes
            enqueue(.append(sealed, completion)) { completion(.failure($0)) }
        } catch {
            completion(.failure(error))
        }
    }

    /// Appends `envelopes` in order and returns once they are durable.
    public func append(_ envelopes: [Envelope]) async throws(EnvelopeError) -> [Appended] {
        try await withCheckedContinuation { continuation in
            append(envelopes) { continuation.resume(returning: $0) }
        }.get()
    }

    /// Runs `body` inside the next group commit and returns its result once that commit is
    /// durable. Cursors and dead letters go this way, so the log has one writer.
    func update<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) throws -> T) async throws -> T {
        let box = UpdateResult<T>()
        return try await withCheckedThrowingContinuation { continuation in
            let request = WriteRequest.update({ db in box.value = try body(db) }) { error in
                if let error { continuation.resume(throwing: error) } else { continuation.resume(returning: box.value!) }
            }
            enqueue(request) { continuation.resume(throwing: $0) }
        }
    }

    private func enqueue(_ request: WriteRequest, refused: (EnvelopeError) -> Void) {
        queueLock.lock()
        guard !closing else {
            queueLock.unlock()
            refused(EnvelopeError(.unavailable, "the event log is closing; retry when the node is back"))
            return
        }
        pending.append(request)
        queueLock.signal()
        queueLock.unlock()
    }

    private func writerLoop() {
        while true {
            queueLock.lock()
            while pending.isEmpty && !closing { queueLock.wait() }
            let batch = pending
            pending.removeAll(keepingCapacity: true)
            let done = batch.isEmpty && closing
            queueLock.unlock()
            if done { break }
            commit(batch)
        }
        writerDone.signal()
    }

    private func commit(_ batch: [WriteRequest]) {
        var newKeys: [SubjectKeys.SealingKey] = []
        var appended: [[Appended]] = []
        var newEvents: [StoredEvent] = []
        var updateErrors: [(any Error)?] = []
        let started = ContinuousClock.now
        var previousHead: Int64 = 0
        do {
            try store.writeNow { db in
                if db.dialect == .postgres {
                    // Offsets come from an identity, which a second writer (another node, a
                    // command beside the node) could take out of commit order; a reader that
                    // saw 11 before 10 committed would skip 10. SQLite's file lock does this there.
                    try db.execute(sql: "SELECT pg_advisory_xact_lock(7366, hashtext(current_schema()))")
                }
                if let shared {
                    // Under that lock every event up to the head below is committed, so this
                    // commit's events come right after them; and an erasure by another node
                    // is seen before anything is sealed with a key it deleted.
                    previousHead = try Int64.fetchOne(db, sql: #"SELECT COALESCE(MAX("offset"), 0) FROM events"#) ?? 0
                    shared.erasures(try SubjectKeys.erasureCount(db), changed: keys.forgetAll)
                }
                var keysInserted = 0
                for request in batch {
                    switch request {
                    case .append(let envelopes, _):
                        appended.append(try insert(envelopes, into: db, newEvents: &newEvents, newKeys: &newKeys))
                    case .update(let body, _):
                        // An update may erase a key made by an earlier request of this commit.
                        try keys.insert(newKeys[keysInserted...], db)
                        keysInserted = newKeys.count
                        // A savepoint each, so one failing update does not undo the group.
                        try db.execute(sql: "SAVEPOINT wzt_update")
                        do {
                            try body(db)
                            updateErrors.append(nil)
                        } catch {
                            try db.execute(sql: "ROLLBACK TO SAVEPOINT wzt_update")
                            updateErrors.append(error)
                        }
                        try db.execute(sql: "RELEASE SAVEPOINT wzt_update")
                    }
                }
                try keys.insert(newKeys[keysInserted...], db)
                if shared != nil, !newEvents.isEmpty, let wakeups = store as? any SQLWakeups {
                    // Wakes the other nodes' followers when this commit is visible.
                    try db.execute(sql: wakeups.notifySQL(SharedTail.channel))
                }
            }
        } catch {
            keys.commitEnded(newKeys: newKeys, succeeded: false)
            let refusal = EnvelopeError.storage(error)
            logger.error("log commit failed", metadata: ["bus.error": "\(refusal.reason)", "bus.requests": "\(batch.count)"])
            for request in batch {
                switch request {
                case .append(_, let completion): completion(.failure(refusal))
                case .update(_, let done): done(error)
                }
            }
            return
        }
        keys.commitEnded(newKeys: newKeys, succeeded: true)
        if let shared {
            shared.publishing { publishCommitted(newEvents, after: previousHead) }
        } else if !newEvents.isEmpty {
            publish(newEvents)
        }
        let eventCount = appended.reduce(0) { $0 + $1.count }
        let duration = ContinuousClock.now - started
        statistics.withLockedValue { $0.record(groupSize: eventCount, duration: duration) }
        metrics.appended.increment(by: newEvents.count)
        metrics.commitDuration.recordNanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
        metrics.batchSize.record(eventCount)
        var results = appended.makeIterator()
        var errors = updateErrors.makeIterator()
        for request in batch {
            switch request {
            case .append(_, let completion): completion(.success(results.next()!))
            case .update(_, let done): done(errors.next()!)
            }
        }
    }

    /// Inserts `envelopes`; the keys that sealed them and are not stored yet go to `newKeys`.
    private func insert(_ envelopes: [Envelope], into db: any SQLDatabase, newEvents: inout [StoredEvent], newKeys: inout [SubjectKeys.SealingKey]) throws -> [Appended] {
        var appended: [Appended] = []
        appended.reserveCapacity(envelopes.count)
        if let sqlite = (db as? Storage.SQLiteConnection)?.db {
            // One row per statement, through SQLite directly: through `SQLDatabase` (values
            // converted twice, a row built for RETURNING) the log's appends ran 25% slower.
            var insert = try SQLiteRowInsert("INSERT INTO events (id, type, subject, appended_at, envelope) VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING", sqlite)
            // One time for the events appended together, in the column default's form: SQLite's
            // strftime ran for every row.
            let recordedAt = Self.recordedAtFormat.format(Date())
            for envelope in envelopes {
                let json = try keys.storedForm(of: envelope, newKeys: &newKeys)
                insert.text(1, envelope.id)
                insert.text(2, envelope.type.rawValue)
                insert.text(3, envelope.subject)
                insert.text(4, recordedAt)
                try insert.insert(blob: 5, json)
                let offset = sqlite.changesCount == 1 ? sqlite.lastInsertedRowID : nil
                appended.append(try Self.appended(envelope, json: json, offset: offset, db, newEvents: &newEvents))
            }
            return appended
        }
        // Many rows per statement: with the server a round trip away, one statement per event
        // held the writer four times as long.
        let rowsPerStatement = 256
        for start in stride(from: 0, to: envelopes.count, by: rowsPerStatement) {
            let chunk = envelopes[start..<min(start + rowsPerStatement, envelopes.count)]
            var values: [SQLValue] = []
            values.reserveCapacity(chunk.count * 4)
            var jsons: [[UInt8]] = []
            for envelope in chunk {
                let json = try keys.storedForm(of: envelope, newKeys: &newKeys)
                jsons.append(json)
                values += [.text(envelope.id), .text(envelope.type.rawValue), envelope.subject.map(SQLValue.text) ?? .null, .blob(json)]
            }
            let sql = "INSERT INTO events (id, type, subject, envelope) VALUES " + repeatElement("(?, ?, ?, ?)", count: chunk.count).joined(separator: ", ")
                + #" ON CONFLICT(id) DO NOTHING RETURNING "offset", id"#
            var inserted: [String: Int64] = [:]
            for row in try SQLRow.fetchAll(db, sql: sql, arguments: SQLArguments(values)) { inserted[try row[1]] = try row[0] }
            var previous = appended.last?.offset ?? 0
            for (envelope, json) in zip(chunk, jsons) {
                // Removed when taken: a second copy of the id in this append is a duplicate.
                let offset = inserted.removeValue(forKey: envelope.id)
                if let offset {
                    guard offset > previous else {
                        throw EnvelopeError(.storageFailed, "the log's offsets came back out of order within one append; nothing was appended")
                    }
                    previous = offset
                }
                appended.append(try Self.appended(envelope, json: json, offset: offset, db, newEvents: &newEvents))
            }
        }
        return appended
    }

    /// `appended_at` as the column's default writes it: `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`.
    static let recordedAtFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// The result of appending `envelope`: at `offset` when it was inserted, else at the offset
    /// of the first event with its id.
    private static func appended(_ envelope: Envelope, json: [UInt8], offset: Int64?, _ db: any SQLDatabase, newEvents: inout [StoredEvent]) throws -> Appended {
        if let offset {
            // Handed to subscribers in this process as appended: a projection that may open the
            // personal fields need not open and decode the stored bytes again.
            newEvents.append(StoredEvent(offset: offset, id: envelope.id, type: envelope.type.rawValue, subject: envelope.subject, json: json,
                                         decoded: envelope.unsealed))
            return Appended(id: envelope.id, offset: offset, duplicate: false)
        }
        guard let first = try Int64.fetchOne(db, sql: #"SELECT "offset" FROM events WHERE id = ?"#, arguments: [envelope.id]) else {
            throw EnvelopeError(.storageFailed, "event \(envelope.id) was neither inserted nor found")
        }
        return Appended(id: envelope.id, offset: first, duplicate: true)
    }

    /// Deletes the subject's key in the next group commit, so that its events' personal fields
    /// cannot be read again; in an SQLite file, then checkpoints the WAL so the key's bytes leave
    /// it too (PostgreSQL keeps them until VACUUM and WAL recycling: docs/operations.md). Returns
    /// whether the subject had a key.
    @discardableResult
    public func erase(subject: String, reason: String) async throws -> Bool {
        let deleted = try await update { [keys] db in try keys.erase(subject, reason: reason, db) }
        if let file = store as? SQLiteStore {
            _ = try? await file.pool.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
        }
        return deleted
    }

    // MARK: observing

    /// The offset of the newest event, 0 when the log is empty.
    public var headOffset: Int64 { head.withLockedValue { $0.offset } }

    /// Calls `observer` on the writer thread with the events of every commit, after it is durable.
    /// Keep it short: the next group commit waits for it.
    public func onCommit(_ observer: @escaping @Sendable ([StoredEvent]) -> Void) {
        observers.withLockedValue { $0.append(observer) }
    }

    /// Returns once an event of a type `patterns` match (any type when they are empty) is appended
    /// beyond `offset`, the log closes, or the task is cancelled. When the head has passed
    /// `offset` already, it returns at once unless the latest commits show that none of the
    /// events beyond `offset` match: so an idle subscriber sleeps through other types' traffic
    /// instead of querying the log after every commit.
    public func waitForHead(beyond offset: Int64, matching patterns: [EventPattern] = []) async {
        let token = UUID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = head.withLockedValue { state -> Bool in
                    if state.closed || Task.isCancelled || state.offset > offset && !state.recent.noneMatch(patterns, beyond: offset) { return true }
                    state.waiters[token] = HeadWaiter(patterns: patterns, continuation: continuation)
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            head.withLockedValue { $0.waiters.removeValue(forKey: token) }?.continuation.resume()
        }
    }

    /// Moves the head past `events` (the next ones of the log, in order), wakes those waiting for
    /// them and hands them to the observers.
    func publish(_ events: [StoredEvent]) {
        publishHead(events, types: Self.distinctTypes(of: events))
        for observer in observers.withLockedValue({ $0 }) { observer(events) }
    }

    private func publishHead(_ events: [StoredEvent], types: [String]) {
        guard let first = events.first, let last = events.last else { return }
        let woken = head.withLockedValue { state in
            state.recent.record(after: state.offset, through: last.offset, types: types)
            // Offsets that do not follow the head say that something else wrote to the log (a
            // second writer, or offsets PostgreSQL skipped): what the feeds hold may not be all.
            let follows = first.offset == state.offset + 1
            // Keys copied first: a view of them held while the feeds change made each change copy
            // the dictionary, and with it every event each feed holds.
            for key in Array(state.feeds.keys) { state.feeds[key]?.record(events, follows: follows, through: last.offset) }
            state.offset = last.offset
            var woken: [CheckedContinuation<Void, Never>] = []
            state.waiters = state.waiters.filter { _, waiter in
                guard waiter.wakes(for: types) else { return true }
                woken.append(waiter.continuation)
                return false
            }
            return woken
        }
        for continuation in woken { continuation.resume() }
    }

    /// Keeps the events of `patterns`' types that commits append from now on, at most `limit`
    /// waiting, for a subscriber that is caught up to take from memory instead of reading them
    /// back (`fresh(after:limit:feed:)`). Beyond `limit` (a subscriber fallen behind) it drops
    /// them, and the subscriber reads the log until it has caught up again.
    public func follow(_ patterns: [EventPattern], limit: Int) -> FeedToken {
        let token = FeedToken()
        head.withLockedValue { $0.feeds[token.id] = Feed(patterns: patterns, limit: limit, from: $0.offset) }
        return token
    }

    public func unfollow(_ token: FeedToken) {
        _ = head.withLockedValue { $0.feeds.removeValue(forKey: token.id) }
    }

    /// The feed's events beyond `offset`, at most `limit`, and the offset up to which the log has
    /// no other event of its types; nil when the feed does not hold every such event beyond
    /// `offset` (it was dropped, or `offset` is older than the feed), so the log must be read.
    public func fresh(after offset: Int64, limit: Int, feed token: FeedToken) -> (events: [StoredEvent], through: Int64)? {
        head.withLockedValue { state in state.feeds[token.id]?.take(after: offset, limit: limit) }
    }

    /// The feed's events beyond `offset`, as `fresh` would give them, without taking them; nil
    /// when the log must be read for them.
    public func peek(after offset: Int64, limit: Int, feed token: FeedToken) -> [StoredEvent]? {
        head.withLockedValue { state in state.feeds[token.id]?.peek(after: offset, limit: limit) }
    }

    /// The types among `events`, each once: a commit holds thousands of events of a handful of types.
    private static func distinctTypes(of events: [StoredEvent]) -> [String] {
        var types: [String] = []
        for event in events where types.last != event.type && !types.contains(event.type) { types.append(event.type) }
        return types
    }

    public var isClosed: Bool { head.withLockedValue { $0.closed } }

    /// Reads from the log's database; throws when it does not answer (a server that is down or
    /// refuses connections), which the node's readiness reports.
    public func probe() async throws {
        _ = try await store.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }

    // MARK: reading

    /// Events with an offset greater than `offset`, oldest first, at most `limit`,
    /// of the types that match `patterns` (all types when `patterns` is empty).
    public func events(after offset: Int64, matching patterns: [EventPattern] = [], limit: Int = 512) async throws -> [StoredEvent] {
        try await store.read { db in try Self.events(db, after: offset, matching: patterns, limit: limit) }
    }

    public func eventsNow(after offset: Int64, matching patterns: [EventPattern] = [], limit: Int = 512) throws -> [StoredEvent] {
        try store.readNow { db in try Self.events(db, after: offset, matching: patterns, limit: limit) }
    }

    /// The events about one case or trajectory (their `subject`), oldest first. A scan of the log:
    /// for operators' pages, not for hot paths.
    public func events(subject: String, limit: Int = 1000) async throws -> [StoredEvent] {
        try await recorded(subject: subject, limit: limit).map(\.event)
    }

    /// The same, each with the time the log recorded it (UTC, RFC 3339): the audit trail's "when",
    /// which no publisher's clock can move.
    public func recorded(subject: String, limit: Int = 1000) async throws -> [(event: StoredEvent, at: String)] {
        try await store.read { db in
            try SQLRow.fetchAll(db, sql: #"SELECT "offset", id, type, subject, envelope, appended_at FROM events WHERE subject = ? ORDER BY "offset" LIMIT ?"#,
                                arguments: [subject, limit]).map { (try StoredEvent(row: $0), try $0["appended_at"]) }
        }
    }

    static func events(_ db: any SQLDatabase, after offset: Int64, matching patterns: [EventPattern], limit: Int) throws -> [StoredEvent] {
        var arguments: [SQLValue] = [.integer(offset)]
        let sql = #"SELECT "offset", id, type, subject, envelope FROM events WHERE "offset" > ?"#
            + typeFilter(patterns, db.dialect, arguments: &arguments) + #" ORDER BY "offset" LIMIT ?"#
        arguments.append(.integer(Int64(limit)))
        return try SQLRow.fetchAll(db, sql: sql, arguments: SQLArguments(arguments)).map(StoredEvent.init(row:))
    }

    /// ` AND (type GLOB ? OR …)` for `patterns`, or nothing when they match every type.
    static func typeFilter(_ patterns: [EventPattern], _ dialect: SQLDialect, arguments: inout [SQLValue]) -> String {
        guard !patterns.isEmpty, !patterns.contains(where: { $0.rawValue == "*" }) else { return "" }
        let conditions = patterns.map { pattern in
            let (condition, argument) = pattern.sqlCondition(dialect)
            arguments.append(argument)
            return condition
        }
        return " AND (" + conditions.joined(separator: " OR ") + ")"
    }

    public func event(at offset: Int64) throws -> StoredEvent? {
        try store.readNow { db in try Self.event(db, at: offset) }
    }

    /// The same, for async code (see `cursor(_:)`).
    public func event(at offset: Int64) async throws -> StoredEvent? {
        try await store.read { db in try Self.event(db, at: offset) }
    }

    private static func event(_ db: any SQLDatabase, at offset: Int64) throws -> StoredEvent? {
        try SQLRow.fetchOne(db, sql: #"SELECT "offset", id, type, subject, envelope FROM events WHERE "offset" = ?"#, arguments: [offset])
            .map(StoredEvent.init(row:))
    }

    public func offset(ofEventID id: String) throws -> Int64? {
        try store.readNow { db in try Int64.fetchOne(db, sql: #"SELECT "offset" FROM events WHERE id = ?"#, arguments: [id]) }
    }

    public func count() throws -> Int {
        try store.readNow { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events") ?? 0 }
    }

    /// The `synchronous` setting of the writer connection of a log in SQLite (2 is FULL); nil in PostgreSQL.
    public func writerSynchronousMode() throws -> Int? {
        guard let file = store as? SQLiteStore else { return nil }
        return try file.pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
    }

    public var groupCommitStatistics: Statistics { statistics.withLockedValue { $0 } }

    /// How the group commit has behaved since the log opened.
    public struct Statistics: Sendable {
        public private(set) var commits = 0
        public private(set) var events = 0
        public private(set) var largestGroup = 0
        public private(set) var totalCommitTime = Duration.zero

        mutating func record(groupSize: Int, duration: Duration) {
            commits += 1
            events += groupSize
            largestGroup = max(largestGroup, groupSize)
            totalCommitTime += duration
        }

        public var averageGroup: Double { commits == 0 ? 0 : Double(events) / Double(commits) }
        /// How long the writer held a commit, from its first insert until it was durable.
        public var averageCommitTime: Duration { commits == 0 ? .zero : totalCommitTime / commits }
    }
}

private enum WriteRequest {
    case append([Envelope], @Sendable (Result<[Appended], EnvelopeError>) -> Void)
    case update(@Sendable (any SQLDatabase) throws -> Void, @Sendable ((any Error)?) -> Void)
}

/// Carries an update's result from inside the transaction to its completion after the commit;
/// both run on the writer thread, one after the other.
private final class UpdateResult<T>: @unchecked Sendable {
    var value: T?
}

private struct HeadState {
    var offset: Int64
    var closed = false
    var waiters: [UUID: HeadWaiter] = [:]
    var recent = RecentCommits()
    var feeds: [UUID: Feed] = [:]
}

/// Names a feed of `EventLog.follow(_:limit:)`.
public struct FeedToken: Sendable, Hashable {
    let id = UUID()
}

/// The events of one subscriber's types committed since the feed began or was last dropped: every
/// such event in (`coveredAfter`, `through`] is in `events[start...]`, oldest first.
private struct Feed {
    let patterns: [EventPattern]
    let limit: Int
    private var events: [StoredEvent] = []
    private var start = 0
    private var coveredAfter: Int64
    private var through: Int64

    init(patterns: [EventPattern], limit: Int, from head: Int64) {
        self.patterns = patterns
        self.limit = limit
        coveredAfter = head
        through = head
    }

    mutating func record(_ committed: [StoredEvent], follows: Bool, through last: Int64) {
        guard follows else { return drop(through: last) }
        var matchedType: (type: String, matches: Bool)?
        for event in committed {
            // A commit holds long runs of one type: match each run once.
            if matchedType?.type != event.type { matchedType = (event.type, patterns.matchAny(of: [event.type])) }
            if matchedType?.matches == true { events.append(event) }
        }
        through = last
        if events.count - start > limit { drop(through: last) }
    }

    /// What `take` would give, leaving the feed as it is.
    func peek(after offset: Int64, limit: Int) -> [StoredEvent]? {
        guard offset >= coveredAfter, offset <= through else { return nil }
        var first = start
        while first < events.count, events[first].offset <= offset { first += 1 }
        return Array(events[first..<min(events.count, first + limit)])
    }

    mutating func take(after offset: Int64, limit: Int) -> (events: [StoredEvent], through: Int64)? {
        guard offset >= coveredAfter, offset <= through else { return nil }
        // What the subscriber has read is handled, or will be read from the log again after a restart.
        while start < events.count, events[start].offset <= offset { start += 1 }
        coveredAfter = offset
        if start > 1024, start * 2 > events.count {
            events.removeFirst(start)
            start = 0
        }
        let end = min(events.count, start + limit)
        // A copy: a slice would share the buffer, and the next commit's append would copy it all.
        return (Array(events[start..<end]), through)
    }

    private mutating func drop(through last: Int64) {
        events.removeAll()
        start = 0
        coveredAfter = last
        through = last
    }
}

private struct HeadWaiter {
    let patterns: [EventPattern]
    let continuation: CheckedContinuation<Void, Never>

    func wakes(for types: [String]) -> Bool { patterns.matchAny(of: types) }
}

/// The types each of the latest commits appended, so that a subscriber that has read up to an
/// offset a few commits back can tell, without a query, that nothing since is of its types.
private struct RecentCommits {
    private var commits: [(after: Int64, through: Int64, types: [String])] = []
    /// About a second of commits under load: a subscriber's query and cursor save span a few.
    static let kept = 256

    mutating func record(after: Int64, through: Int64, types: [String]) {
        if commits.count == Self.kept { commits.removeFirst(Self.kept / 2) }
        commits.append((after, through, types))
    }

    /// Whether the commits kept cover every event beyond `offset` (up to the head) and none of
    /// those is of a type `patterns` match.
    func noneMatch(_ patterns: [EventPattern], beyond offset: Int64) -> Bool {
        guard let oldest = commits.first, oldest.after <= offset else { return false }
        return !commits.contains { $0.through > offset && patterns.matchAny(of: $0.types) }
    }
}

extension [EventPattern] {
    /// Whether the patterns match any of `types`; no patterns match every type, as in a subscription.
    func matchAny(of types: [String]) -> Bool { isEmpty || types.contains { type in contains { $0.matches(type) } } }
}

extension StoredEvent {
    /// From a row whose first columns are `"offset", id, type, subject, envelope`, as every query
    /// of the log reads them.
    init(row: SQLRow) throws(SQLRowError) {
        let json: [UInt8] = switch row.values.count > 4 ? row.values[4] : .null {
        case .blob(let bytes): bytes
        case .text(let text): Array(text.utf8)
        default: throw SQLRowError(description: "an event's envelope is neither a blob nor text")
        }
        self.init(offset: try row[0], id: try row[1], type: try row[2], subject: try row[3], json: json)
    }
}

extension EnvelopeError {
    /// A storage failure as a publisher sees it: the cause, never the statement or its values.
    static func storage(_ error: any Error) -> EnvelopeError {
        if let error = error as? EnvelopeError { return error }
        let cause = (error as? DatabaseError).map(StoreError.cause) ?? (error as? StoreError)?.message ?? "an unexpected error"
        return EnvelopeError(.storageFailed, "the event was not stored: \(cause); nothing was appended, retry later")
    }
}

/// What the log reports to the metrics system (Prometheus names; see docs/operations.md).
private struct LogMetrics {
    let appended = Counter(label: "wzt_log_events_appended_total")
    let commitDuration = Timer(label: "wzt_log_commit_duration_seconds")
    let batchSize = Recorder(label: "wzt_log_commit_batch_events", aggregate: true)
}
