import Bus
import Core
import Foundation
@testable import ModuleKit
import PluginAPI
import Storage
import TestSupport
import Testing

/// Modules on an in-memory bus, for generated sequences: every event is handed to each module
/// that needs it, in order, until the bus is quiet, and after every delivery the module's
/// invariants hold and a refused event has changed none of its tables. Databases live in memory
/// where the machine has a memory file system.
final class ModuleWorld: @unchecked Sendable {
    static let base = FileManager.default.isWritableFile(atPath: "/dev/shm") ? "/dev/shm" : nil
    let directory = TemporaryDirectory("wzt-properties", in: base)
    let decoder: EnvelopeDecoder
    let hosts: [(module: any Module, store: ModuleStore, subscriber: ModuleSubscriber)]
    let bus = MemoryBus()

    /// The decoder and rule book of a set of modules, made once per test: they cost more than a world.
    struct Parts: Sendable {
        let decoder: EnvelopeDecoder
        let rules: RuleBook

        init(_ modules: [any Module]) throws {
            decoder = EnvelopeDecoder(registry: try ContractRegistry(ModuleCatalog.contracts + modules.flatMap(\.contracts)))
            rules = try RuleBook(PluginLoader.builtIn.flatMap(\.ruleSets))
        }
    }

    /// A world set up once for many sequences: its databases, and the events that made them.
    struct Template: Sendable {
        let directory: TemporaryDirectory
        let history: [Envelope]
    }

    /// This world as a template for others (its databases must be closed before they are copied).
    var template: Template { Template(directory: directory, history: bus.published(since: 0)) }

    /// A world whose databases and bus start as copies of `template`'s, or empty.
    init(_ modules: [any Module], parts: Parts, copying template: Template? = nil) throws {
        if let template {
            for file in try FileManager.default.contentsOfDirectory(atPath: template.directory.path) {
                try FileManager.default.copyItem(atPath: template.directory.file(file), toPath: directory.file(file))
            }
            bus.replace(with: template.history)
        }
        decoder = parts.decoder
        let clock = ManualClock(now: CalendarDate(year: 2020, month: 1, day: 1)!.startOfDay)
        var hosts: [(module: any Module, store: ModuleStore, subscriber: ModuleSubscriber)] = []
        for module in modules {
            let store = try ModuleStore(module: module, path: directory.file("\(module.name).sqlite"))
            let relay = OutboxRelay(store: store, appender: bus, decoder: decoder)
            hosts.append((module, store, ModuleSubscriber(module: module, store: store, decoder: decoder, relay: relay, clock: clock,
                                                          rules: parts.rules, timersChanged: Signal())))
        }
        self.hosts = hosts
    }

    func store(_ module: String) throws -> ModuleStore { try #require(hosts.first { $0.module.name == module }).store }

    /// Publishes one event as an outside system would (dated `time` when given), then delivers
    /// until the bus is quiet.
    func publish(_ type: String, _ subject: String, _ data: JSONValue, time: Date? = nil) async throws {
        var envelope: [String: JSONValue] = [
            "specversion": .string("1.0"), "id": .string(EventID.make()), "source": .string("/properties"), "type": .string(type),
            "subject": .string(subject), "dataversion": .number(1), "data": data]
        if let time { envelope["time"] = .string(EventTime.format(time)) }
        _ = try await bus.append([try decoder.decode(Array(try JSONEncoder().encode(JSONValue.object(envelope))))])
        try await deliverAll()
    }

    /// Fires every timer due at `now`, as the hosts' timer loops do once nothing waits in the log.
    func fireTimers(at now: Date) async throws {
        for host in hosts where try await host.store.fireDueTimers(now: now) > 0 {
            try await host.subscriber.relay.flush()
        }
        try await deliverAll()
    }

    private func deliverAll() async throws {
        while let event = bus.next() {
            for host in hosts where host.module.deliveredNeeds.contains(where: { $0.pattern.matches(event.type) }) {
                let before = try await tables(of: host.store)
                let published = bus.published
                let violations = try await host.subscriber.apply(event)
                #expect(violations.isEmpty, "\(host.module.name) after \(event.type): \(violations)")
                let refused = bus.published(since: published).contains { $0.type.rawValue.hasSuffix(".refused") && $0.causationID == event.id }
                if refused {
                    let after = try await tables(of: host.store)
                    #expect(after == before, "\(host.module.name) refused \(event.type) and still changed its tables")
                }
            }
        }
    }

    /// Every row of the module's own tables (not the inbox, outbox or timers), one JSON text per
    /// table, made by SQLite itself: this runs twice for every delivery.
    private func tables(of store: ModuleStore) async throws -> [String] {
        try await store.database.read { db in
            let names = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'wzt_%' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'grdb_%' ORDER BY name")
            return try names.map { name in
                let columns = try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?)", arguments: [name]).map { "quote(\"\($0)\")" }
                return try String.fetchOne(db, sql: "SELECT json_group_array(json_array(\(columns.joined(separator: ", ")))) FROM (SELECT * FROM \"\(name)\" ORDER BY rowid)") ?? ""
            }
        }
    }

    /// Replays everything on the bus into new databases, as `wzt modules rebuild` does from the
    /// log, and expects every table (timers included) to equal the live one row for row.
    func expectRebuildsEqualTheLiveState(after what: String) async throws {
        let events = bus.published(since: 0).enumerated().map { index, envelope in
            StoredEvent(offset: Int64(index + 1), id: envelope.id, type: envelope.type.rawValue, subject: envelope.subject, json: envelope.json)
        }
        let rebuilt = TemporaryDirectory("wzt-properties-rebuilt", in: Self.base)
        for host in hosts {
            let store = try ModuleStore(module: host.module, path: rebuilt.file("\(host.module.name).sqlite"))
            try await ModuleRebuild.copyTablesKept(by: host.module, from: host.store, to: store)
            let subscriber = ModuleRebuild.subscriber(host.module, store: store, decoder: decoder, rules: host.subscriber.rules)
            var report = ModuleRebuild.Report()
            try await ModuleRebuild.replay(events, to: subscriber, of: host.module, store: store, decoder: decoder, report: &report)
            #expect(report.failed.isEmpty, "\(what): rebuilding \(host.module.name) failed at \(report.failed)")
            let (live, again) = (try await RebuiltRows.of(host.store), try await RebuiltRows.of(store))
            for table in Set(live.keys).union(again.keys).sorted() where live[table] != again[table] {
                Issue.record("\(what): \(host.module.name).\(table) differs after a rebuild: live \(live[table] ?? []), rebuilt \(again[table] ?? [])")
            }
        }
    }

    /// The data of every event of `type` on the bus, in order.
    func published(_ type: String) throws -> [JSONValue] {
        try bus.published(since: 0).filter { $0.type.rawValue == type }.map { envelope in
            try JSONDecoder().decode(JSONValue.self, from: Data(envelope.json))["data"] ?? .null
        }
    }
}

/// Every row of every table of a module's database that a rebuild must give again, as text,
/// sorted: all but the outbox and the migrations' bookkeeping, without the columns a rebuild
/// numbers or times on its own.
enum RebuiltRows {
    static let sqliteTables = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'grdb_%' AND name <> 'wzt_outbox'"
    static let postgresTables = """
        SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
        AND table_name NOT IN ('wzt_outbox', 'wzt_migrations')
        """
    // `rowid` is a column of its own in PostgreSQL, numbered by a sequence that a copy renumbers.
    static let unstable: Set<String> = ["handled_at", "envelope", "rowid"]

    static func of(_ store: ModuleStore, tables query: String = sqliteTables) async throws -> [String: [String]] {
        try await store.database.read { db in
            var tables: [String: [String]] = [:]
            for table in try String.fetchAll(db, sql: query) {
                tables[table] = try SQLRow.fetchAll(db, sql: "SELECT * FROM \(table)").map { row in
                    zip(row.columnNames, row.values).filter { !unstable.contains($0.0) }.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
                }.sorted()
            }
            return tables
        }
    }
}

/// The log of a world: events in the order they were appended, handed out once each.
final class MemoryBus: EventAppender, @unchecked Sendable {
    private let lock = NSLock()
    private var events: [Envelope] = []
    private var delivered = 0

    /// How many events were ever appended.
    var published: Int { lock.withLock { events.count } }

    func published(since count: Int) -> [Envelope] { lock.withLock { Array(events[count...]) } }

    func append(_ envelopes: [Envelope]) async throws -> [Appended] {
        lock.withLock {
            let first = events.count
            events += envelopes
            return envelopes.enumerated().map { Appended(id: $1.id, offset: Int64(first + $0 + 1), duplicate: false) }
        }
    }

    /// Starts with `history`, all of it handled already.
    func replace(with history: [Envelope]) {
        lock.withLock { (events, delivered) = (history, history.count) }
    }

    /// The next event nobody was handed yet.
    func next() -> StoredEvent? {
        lock.withLock {
            guard delivered < events.count else { return nil }
            delivered += 1
            let envelope = events[delivered - 1]
            return StoredEvent(offset: Int64(delivered), id: envelope.id, type: envelope.type.rawValue, subject: envelope.subject, json: envelope.json)
        }
    }
}

/// Sequences whose length is a multiple of this (about one in four) are also rebuilt from their
/// bus and compared with their live tables: chosen by the sequence itself, so that shrinking a
/// failed rebuild keeps rebuilding.
let rebuildEvery = 4

/// Plays one generated sequence (`play` makes its world and plays `steps` in it), counts it, and
/// rebuilds the world when the sequence is one of those that are rebuilt. A failure is recorded
/// as an issue of the sequence, for the property check to shrink.
func playSequence<Step>(_ steps: [Step], counting played: Counter, _ play: () async throws -> ModuleWorld) async {
    do {
        let world = try await play()
        played.add()
        if steps.count.isMultiple(of: rebuildEvery) { try await world.expectRebuildsEqualTheLiveState(after: "\(steps)") }
    } catch {
        Issue.record("\(error)")
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    var value: Int { lock.withLock { count } }
    func add() { lock.withLock { count += 1 } }
}

/// Splits `count` generated sequences over the machine's cores: `check` runs once per core with
/// its share, each a property check of its own (its own seed, its own shrinking).
func onEveryCore(_ count: Int, _ check: @escaping @Sendable (Int) async -> Void) async {
    let cores = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 4))
    await withTaskGroup(of: Void.self) { group in
        for core in 0..<cores {
            let share = count / cores + (core < count % cores ? 1 : 0)
            group.addTask { await check(share) }
        }
    }
}
