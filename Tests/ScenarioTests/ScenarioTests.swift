import AMA
import Bus
import Core
import Foundation
import GBOOnboarding
import Logging
import Intake
import Mandating
import Networks
import ModuleKit
import Storage
import PluginAPI
import PostgresStorage
import TestSupport
import Testing

/// Runs every scenario in Tests/Scenarios against the real modules, a real event log and a
/// manual clock, driving them with events only. One at a time: each runs every module, and
/// together they would starve the rest of the suite on a two-core machine.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ScenarioTests {
    static let directory = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "../Scenarios").standardized.path

    /// Every scenario, or those whose file name contains WZT_SCENARIO (to play one while writing it).
    static var files: [String] {
        let only = ProcessInfo.processInfo.environment["WZT_SCENARIO"] ?? ""
        return ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasSuffix(".json") && (only.isEmpty || $0.contains(only)) }.sorted()
    }

    @Test func scenariosArePresent() { #expect(!Self.files.isEmpty, "no scenarios in \(Self.directory)") }

    @Test(arguments: files)
    func scenario(_ file: String) async throws {
        try await play(file, storage: .sqlite)
    }

    /// The same scenarios with the event log and every module's store in PostgreSQL (the server
    /// Scripts/test starts).
    @Test(arguments: files)
    func scenarioOnPostgreSQL(_ file: String) async throws {
        try await play(file, storage: .postgres(try TestPostgres.url()))
    }

    /// What the node acks, every module that takes it applies or refuses; none may fail on it,
    /// which would retry it and leave it among the dead letters. Before each of a scenario's
    /// events, the event broken in every way the node still accepts (`ContractSchemaTests.broken`)
    /// is published in the state the scenario has reached. The scenario's expectations are not
    /// checked: the broken events change what follows.
    @Test(arguments: files)
    func brokenEventsTheNodeAcceptsAreAppliedOrRefused(_ file: String) async throws {
        try await play(file, storage: .sqlite, brokenFirst: true)
    }

    /// The same on PostgreSQL, which stores less than SQLite does (no U+0000 in a text), for the
    /// scenarios that reach every module.
    @Test(arguments: ["intake-full-trajectory-flanders-2022.json", "ama-agreement-and-amendment.json", "gbo-onboarding-and-back-to-vdab.json",
                      "mandating-2022-call-five-year-mandate.json"])
    func brokenEventsTheNodeAcceptsAreAppliedOrRefusedOnPostgreSQL(_ file: String) async throws {
        try await play(file, storage: .postgres(try TestPostgres.url()), brokenFirst: true)
    }

    private func play(_ file: String, storage: ScenarioRun.Storage, brokenFirst: Bool = false) async throws {
        let scenario = try JSONDecoder().decode(Scenario.self, from: Data(contentsOf: URL(filePath: Self.directory + "/" + file)))
        let run = try await ScenarioRun(scenario, storage: storage)
        try await withServices(run.hosts) {
            for (index, step) in scenario.steps.enumerated() {
                if brokenFirst {
                    try await run.publishBroken(step, number: index + 1)
                } else {
                    try await run.perform(step, number: index + 1)
                }
                // A scenario drives modules with valid events only: nothing may end in dead letters.
                let letters: [DeadLetter] = try await run.log.deadLetters()
                #expect(letters.isEmpty, "\(scenario.name), step \(index + 1): dead letters: \(letters.map { "\($0.subscription) \($0.eventType): \($0.error)" })")
                if !letters.isEmpty { break }
            }
            try await run.expectNoPersonalNumbersInTheLog(scenario)
            try await run.expectRebuildsEqualTheLiveState()
        }
    }
}

/// One scenario's world: a log, every module of the catalog, and a manual clock.
final class ScenarioRun: Sendable {
    let directory = TemporaryDirectory("wzt-scenario")
    /// Where the log is: kept for the run, as its directory goes with it.
    private let place: TestLog
    let log: EventLog
    let clock: ManualClock
    let decoder: EnvelopeDecoder
    let hosts: [ModuleHost]
    let name: String
    private let storage: Storage
    /// Names this run's PostgreSQL schemas.
    private let run = UUID().uuidString.prefix(8).lowercased()
    private let matched = Matched()

    enum Storage {
        case sqlite
        /// A server's address; each run gets schemas of its own.
        case postgres(String)
    }

    init(_ scenario: Scenario, storage: Storage = .sqlite) async throws {
        name = scenario.name
        var logger = Logger(label: "scenario")
        logger.logLevel = .error
        self.storage = storage
        switch storage {
        case .sqlite: place = TestLog(.sqlite)
        case .postgres(let url): place = TestLog(.postgres, server: url)
        }
        log = try await place.open()
        clock = ManualClock(now: scenario.start.startOfDay)
        let modules = ModuleCatalog.modules.values.map { $0(NodeConfiguration()) }
        decoder = EnvelopeDecoder(registry: try ContractRegistry(ModuleCatalog.contracts + modules.flatMap(\.contracts)))
        let rules = try RuleBook(PluginLoader.builtIn.flatMap(\.ruleSets))
        var hosts: [ModuleHost] = []
        for module in modules {
            let store = switch storage {
            case .sqlite: try ModuleStore(module: module, path: directory.file("\(module.name).sqlite"))
            case .postgres(let url):
                ModuleStore(database: try await PostgresStore.open(url: url, schema: "\(module.name)_\(run)", migrations: ModuleStore.migrations(of: module), logger: logger))
            }
            hosts.append(ModuleHost(module: module, store: store, log: log, decoder: decoder, rules: rules, clock: clock,
                                    dispatch: .init(retry: RetryPolicy(maxAttempts: 1)), logger: logger))
        }
        self.hosts = hosts
    }

    deinit { log.close() }

    func perform(_ step: Scenario.Step, number: Int) async throws {
        let at = "\(name), step \(number)"
        switch step {
        case .publish(let publish):
            _ = try await log.append([try envelope(publish, at: at)])
            try await settle()
        case .publishTogether(let publishes):
            _ = try await log.append(try publishes.map { try envelope($0, at: at) })
            try await settle()
        case .advanceTo(let moment):
            let date = try #require(EventTime.parse(moment), "\(at): \(moment) is not an RFC 3339 time")
            clock.set(to: date)
            try await Task.sleep(for: .milliseconds(50))
            try await settle()
        case .advanceDays(let days):
            // To the start of that day in Brussels, summer time or not.
            clock.set(to: CalendarDate(clock.now()).adding(days: days).startOfDay)
            try await Task.sleep(for: .milliseconds(50))
            try await settle()
        case .expect(let expectation):
            let found = try await waitFor(expectation)
            let published = try await published(expectation.type)
            #expect(found != nil, "\(at): expected \(expectation.type) \(expectation.data?.description ?? ""); published: \(published)")
        case .expectNone(let type):
            try await settle()
            let unexpected = try await unmatched(type)
            #expect(unexpected.isEmpty, "\(at): expected no \(type), got \(unexpected.map(\.description))")
        case .expectMandate(let expectation):
            try await settle()
            let host = try #require(hosts.first { $0.module.name == "mandating" })
            let queries = MandatingQueries(database: host.store.database)
            let application = try #require(try await queries.application(expectation.id), "\(at): no application \(expectation.id)")
            if let status = expectation.status { #expect(application.status.rawValue == status, "\(at)") }
            if let overdue = expectation.overdueDecision { #expect(application.overdueDecision?.rawValue == overdue, "\(at)") }
            if let expires = expectation.expiresOn { #expect(application.expiresOn?.description == expires, "\(at)") }
            if let history = expectation.history {
                let actual = try await queries.history(expectation.id).map(\.rawValue)
                #expect(actual == history, "\(at)")
            }
        case .expectCase(let expectation):
            try await settle()
            let host = try #require(hosts.first { $0.module.name == "intake" })
            let queries = IntakeQueries(database: host.store.database)
            let record = try #require(try await queries.intakeCase(expectation.id), "\(at): no case \(expectation.id)")
            if let status = expectation.status { #expect(record.status.rawValue == status, "\(at)") }
            if let ruleSet = expectation.ruleSet { #expect(record.ruleSet == ruleSet, "\(at)") }
            if let limitOn = expectation.limitOn { #expect(record.limitOn?.description == limitOn, "\(at)") }
            if let limitReached = expectation.limitReached { #expect(record.limitReached == limitReached, "\(at)") }
            if let steps = expectation.steps {
                let actual = try await queries.timeline(expectation.id).map(\.step)
                #expect(actual == steps, "\(at)")
            }
        case .expectAgreement(let expectation):
            try await settle()
            let host = try #require(hosts.first { $0.module.name == "ama" })
            let queries = AMAQueries(database: host.store.database)
            if let version = expectation.activeVersion {
                let active = try await queries.activeVersion(expectation.id)
                #expect(active == version, "\(at)")
            }
            if let expected = expectation.confirmations {
                let actual = try await queries.confirmations(expectation.id).map { record -> [JSONValue] in
                    [.number(Double(record.version)), .string(record.party.rawValue), .string(record.confirmedBy), .string(record.confirmedOn)]
                }
                #expect(actual == expected, "\(at)")
            }
        case .attach(let attachment):
            let host = try #require(hosts.first { $0.module.name == "ama" })
            let reference = try await AMAAttachments(database: host.store.database).store(Data(attachment.text.utf8))
            #expect(reference.sha256 == attachment.sha256 && reference.mediaType == attachment.mediaType, "\(at): stored as \(reference)")
        case .expectOnthaalFile(let expectation):
            try await settle()
            let host = try #require(hosts.first { $0.module.name == "gbo-onboarding" })
            let file = try #require(try await GBOQueries(database: host.store.database).file(expectation.id), "\(at): no onthaal file \(expectation.id)")
            if let lead = expectation.leadPartner { #expect(file.leadPartner == lead, "\(at)") }
            if let closed = expectation.closed { #expect(file.closed == closed, "\(at)") }
            if let domains = expectation.exploredDomains { #expect(file.exploredDomains == domains, "\(at)") }
            if let rights = expectation.exploredRights { #expect(file.exploredRights == rights, "\(at)") }
        case .expectNetwork(let expectation):
            try await settle()
            let host = try #require(hosts.first { $0.module.name == "networks" })
            let network = try #require(try await NetworksQueries(database: host.store.database).network(expectation.id), "\(at): no network \(expectation.id)")
            if let active = expectation.active { #expect((network.activeSince != nil) == active, "\(at)") }
            if let accepted = expectation.accepted { #expect(network.accepted == accepted, "\(at)") }
            if let waitlist = expectation.waitlist { #expect(network.waitlist == waitlist, "\(at)") }
        }
    }

    /// A step of `brokenEventsTheNodeAcceptsAreAppliedOrRefused`: a publishing step's events
    /// broken in each way the node accepts, then the step's own events; the clock as the step
    /// says; no expectation.
    func publishBroken(_ step: Scenario.Step, number: Int) async throws {
        let publishes: [Scenario.Publish]
        switch step {
        case .publish(let publish): publishes = [publish]
        case .publishTogether(let together): publishes = together
        case .advanceTo, .advanceDays: return try await perform(step, number: number)
        default: return
        }
        var broken: [Envelope] = []
        for publish in publishes {
            let data = try JSONSerialization.jsonObject(with: JSONEncoder().encode(publish.data)) as? [String: Any] ?? [:]
            for variant in ContractSchemaTests.broken(data, type: publish.type) {
                let data = try JSONDecoder().decode(JSONValue.self, from: JSONSerialization.data(withJSONObject: variant.data))
                let attempt = Scenario.Publish(type: publish.type, subject: publish.subject, time: publish.time, dataversion: publish.dataversion, data: data)
                if let envelope = try? envelope(attempt, at: "") { broken.append(envelope) }
            }
        }
        _ = try await log.append(broken)
        try await settle()
        try await perform(step, number: number)
    }

    /// An event as an external system would publish it, checked as the ingress checks it.
    private func envelope(_ publish: Scenario.Publish, at: String) throws -> Envelope {
        var envelope: [String: JSONValue] = [
            "specversion": .string("1.0"), "id": .string(EventID.make()), "source": .string("/scenario"),
            "type": .string(publish.type), "dataversion": .number(Double(publish.dataversion ?? 1)), "data": publish.data,
        ]
        if let subject = publish.subject { envelope["subject"] = .string(subject) }
        if let time = publish.time { envelope["time"] = .string(time) }
        let json = Array(try JSONEncoder().encode(JSONValue.object(envelope)))
        do { return try decoder.decode(json) } catch { throw ScenarioFailure("\(at): the event is refused at ingress: \(error)") }
    }

    /// The INSZ is carried by the requests that must name the person (the screening request, the
    /// AMA submission), and the log keeps it sealed with the subject's key: no event in the log, a
    /// request or anything a module published, shows it.
    func expectNoPersonalNumbersInTheLog(_ scenario: Scenario) async throws {
        let numbers = Set(scenario.steps.flatMap { step -> [String] in
            guard case .publish(let publish) = step, case .string(let insz)? = publish.data["insz"] ?? publish.data["filing"]?["insz"] else { return [] }
            return [insz, insz.filter(\.isNumber)]
        })
        for event in try await log.events(after: 0, limit: 100_000) {
            let text = String(decoding: event.json, as: UTF8.self)
            for number in numbers { #expect(!text.contains(number), "\(name): \(event.type) at offset \(event.offset) shows an INSZ") }
        }
    }

    /// Every module rebuilt from the log into a fresh database holds what the live one holds, row
    /// for row, timers included; the inbox's handling times and a scheduled event's id are the
    /// only columns that may differ. Notifications are left out: their rows record deliveries to
    /// the outside world, not what the log says.
    func expectRebuildsEqualTheLiveState() async throws {
        try await settle()
        let rules = try RuleBook(PluginLoader.builtIn.flatMap(\.ruleSets))
        for host in hosts where host.module.name != "notifications" {
            let store = try await rebuiltStore(of: host.module)
            let report = try await ModuleRebuild(module: host.module, log: log, decoder: decoder, rules: rules).replay(into: store, keepingFrom: host.store)
            #expect(report.failed.isEmpty, "\(name): rebuilding \(host.module.name) failed at \(report.failed)")
            let (live, rebuilt) = (try await rows(of: host.store), try await rows(of: store))
            for table in Set(live.keys).union(rebuilt.keys).sorted() {
                #expect(live[table] == rebuilt[table], "\(name): \(host.module.name).\(table) differs after a rebuild: live \(live[table] ?? []), rebuilt \(rebuilt[table] ?? [])")
            }
        }
    }

    /// A new, empty store for `module` beside the live one, on the same engine.
    private func rebuiltStore(of module: any Module) async throws -> ModuleStore {
        switch storage {
        case .sqlite: return try ModuleStore(module: module, path: directory.file("\(module.name).rebuilt.sqlite"))
        case .postgres(let url):
            var logger = Logger(label: "scenario")
            logger.logLevel = .error
            return ModuleStore(database: try await PostgresStore.open(url: url, schema: "\(module.name)_\(run)_rebuilt",
                                                                     migrations: ModuleStore.migrations(of: module), logger: logger))
        }
    }

    func rows(of store: ModuleStore) async throws -> [String: [String]] {
        switch storage {
        case .sqlite: try await RebuiltRows.of(store, tables: RebuiltRows.sqliteTables)
        case .postgres: try await RebuiltRows.of(store, tables: RebuiltRows.postgresTables)
        }
    }

    /// Waits until every module has handled everything in the log and the log stopped growing.
    private func settle() async throws {
        var stableSince = Date()
        var lastHead = log.headOffset
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            let head = log.headOffset
            var caughtUp = true
            // A module is caught up when nothing it takes lies beyond its cursor (its cursor moves
            // past events it does not take only when it next looks).
            for host in hosts {
                let patterns = host.module.deliveredNeeds.map(\.pattern)
                if try await !log.events(after: try await log.cursor(host.module.name), matching: patterns, limit: 1).isEmpty { caughtUp = false }
            }
            if head != lastHead { lastHead = head; stableSince = Date() }
            if caughtUp && Date().timeIntervalSince(stableSince) > 0.05 { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw ScenarioFailure("\(name): the modules did not catch up with the log within 10 s")
    }

    private func events(_ type: String) async throws -> [(offset: Int64, subject: String?, data: JSONValue)] {
        try await log.events(after: 0, matching: [try EventPattern(type)], limit: 100_000).map { event in
            let envelope = try JSONDecoder().decode(JSONValue.self, from: Data(event.json))
            return (event.offset, event.subject, envelope["data"] ?? .null)
        }
    }

    private func waitFor(_ expectation: Scenario.Expectation) async throws -> Int64? {
        let deadline = Date().addingTimeInterval(5)
        repeat {
            try await settle()
            let candidate = try await events(expectation.type).first { event in
                !matched.contains(event.offset)
                    && (expectation.subject == nil || event.subject == expectation.subject)
                    && (expectation.data.map { event.data.contains($0) } ?? true)
            }
            if let candidate {
                matched.insert(candidate.offset)
                return candidate.offset
            }
        } while Date() < deadline
        return nil
    }

    private func unmatched(_ type: String) async throws -> [JSONValue] {
        try await events(type).filter { !matched.contains($0.offset) }.map(\.data)
    }

    private func published(_ type: String) async throws -> [String] { try await events(type).map(\.data.description) }
}

/// Offsets of events an `expect` step has already claimed.
final class Matched: @unchecked Sendable {
    private let lock = NSLock()
    private var offsets: Set<Int64> = []
    func contains(_ offset: Int64) -> Bool { lock.withLock { offsets.contains(offset) } }
    func insert(_ offset: Int64) { lock.withLock { _ = offsets.insert(offset) } }
}

struct ScenarioFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
