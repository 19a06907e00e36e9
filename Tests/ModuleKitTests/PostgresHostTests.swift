import Bus
import Foundation
import Logging
@testable import ModuleKit
import PostgresStorage
import Storage
import TestSupport
import Testing

/// A module whose tables are in PostgreSQL, while that server goes away and comes back.
@Suite(.timeLimit(.minutes(2)))
struct PostgresHostTests {
    @Test func aModuleWaitsOutItsDatabaseServerAndLosesNothing() async throws {
        let server = try PrivatePostgres()
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        let module = SampleModule()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let store = ModuleStore(database: try await PostgresStore.open(url: server.url, schema: module.name, migrations: ModuleStore.migrations(of: module), logger: logger))
        // Few attempts and no waits: were a lost server counted as the event's failure, the
        // events would be dead letters within a second.
        let dispatch = Dispatcher.Configuration(retry: RetryPolicy(maxAttempts: 2, backoff: [.zero]))
        let host = ModuleHost(module: module, store: store, log: log, decoder: Samples.decoder, rules: Samples.noRules, dispatch: dispatch, logger: logger)
        try await withServices([host]) {
            _ = try await log.append((0..<10).map { Samples.note("before \($0)") })
            #expect(await eventually(seconds: 30) { (try? SampleModule.notes(in: store).count) == 10 })

            try server.stop()
            _ = try await log.append((0..<10).map { Samples.note("during \($0)") })
            try await Task.sleep(for: .seconds(3))
            #expect(try await log.deadLetters().isEmpty)
            // The notes of that time (offsets 21 on) wait: none is past the module's cursor.
            #expect(try await log.cursor(module.name) <= 20)

            try server.start()
            #expect(await eventually(seconds: 30) { (try? SampleModule.notes(in: store).count) == 20 })
            // Each note applied once, in order, and counted once.
            let texts = try SampleModule.notes(in: store).map(\.text)
            #expect(texts == (0..<10).map { "before \($0)" } + (0..<10).map { "during \($0)" })
            #expect(await eventually { log.headOffset == 40 })
            #expect(try await log.deadLetters().isEmpty)
        }
    }

    /// A batch larger than a PostgreSQL transaction takes (`eventsPerTransaction`) is applied in
    /// several, in order, each event once, and the dispatcher goes on with what the first left.
    @Test func aBatchLargerThanATransactionTakesIsAppliedInSeveral() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        let module = SampleModule(name: "sample_\(UUID().uuidString.prefix(8).lowercased())")
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let store = ModuleStore(database: try await PostgresStore.open(url: try TestPostgres.url(), schema: module.name,
                                                                       migrations: ModuleStore.migrations(of: module), logger: logger))
        let count = ModuleSubscriber.eventsPerTransaction(.postgres) * 2 + 5
        _ = try await log.append((0..<count).map { Samples.note("n\($0)") })
        let host = ModuleHost(module: module, store: store, log: log, decoder: Samples.decoder, rules: Samples.noRules, logger: logger)
        try await withServices([host]) {
            #expect(await eventually(seconds: 30) { (try? SampleModule.notes(in: store).count) == count && (try? log.cursor(module.name)) ?? 0 >= Int64(count) })
        }
        #expect(try SampleModule.notes(in: store).map(\.text) == (0..<count).map { "n\($0)" })
        #expect(try await log.events(after: Int64(count)).count == count)
    }

    /// The event log in PostgreSQL while its server goes away: appends are refused with the
    /// cause and leave nothing behind; once the server is back the log goes on where it was.
    @Test func theLogRefusesAppendsWhileItsServerIsAwayAndGoesOn() async throws {
        let server = try PrivatePostgres()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let store = try await PostgresStore.open(url: server.url, schema: EventLog.postgresSchema, migrations: EventLog.migrations(for: .postgres), logger: logger)
        let log = try EventLog(store: store, logger: logger)
        defer { log.close() }
        _ = try await log.append((0..<5).map { Samples.note("before \($0)") })

        try server.stop()
        let refused = await #expect(throws: EnvelopeError.self) { try await log.append([Samples.note("while away")]) }
        #expect(refused?.code == .storageFailed)
        #expect(refused?.reason.contains("retry later") == true, "\(refused?.reason ?? "")")

        try server.start()
        let after = try await log.append([Samples.note("after")])
        #expect(log.headOffset == after[0].offset)
        let texts = try await log.events(after: 0).map { try Samples.decoder.data(NoteAdded.self, of: $0.json).text }
        #expect(texts == (0..<5).map { "before \($0)" } + ["after"])
    }
}
