import Bus
import Foundation
import GRDB
import Logging
import struct NIOConcurrencyHelpers.NIOLockedValueBox
import ServiceLifecycle
import TestSupport
import Testing
@testable import ModuleKit
import Storage

@Suite(.timeLimit(.minutes(1)))
struct ModuleHostTests {
    let dispatch = Dispatcher.Configuration(retry: RetryPolicy(maxAttempts: 3, backoff: [.zero]), deadLetterPollInterval: .milliseconds(50))

    func makeHost(_ module: SampleModule, _ directory: TemporaryDirectory, log: EventLog) throws -> ModuleHost {
        let store = try ModuleStore(module: module, path: directory.file("\(module.name).sqlite"))
        return ModuleHost(module: module, store: store, log: log, decoder: Samples.decoder, rules: Samples.noRules, dispatch: dispatch, logger: Logger(label: "test"))
    }

    /// The delivery path alone, without a dispatcher: the tests hand it events themselves.
    func makeSubscriber(_ module: SampleModule, _ store: ModuleStore, log: EventLog) -> ModuleSubscriber {
        ModuleSubscriber(module: module, store: store, decoder: Samples.decoder, relay: OutboxRelay(store: store, appender: log, decoder: Samples.decoder),
                         clock: SystemClock(), rules: Samples.noRules, timersChanged: Signal())
    }

    @Test func handlerStateAndPublishedEventsFollowEachDeliveredEvent() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        let module = SampleModule()
        let host = try makeHost(module, directory, log: log)
        let notes = [Samples.note("one", subject: "case-a"), Samples.note("two", subject: "case-a"), Samples.note("three", subject: "case-b")]
        try await withServices([host]) {
            _ = try await log.append(notes)
            #expect(await eventually { log.headOffset == 6 })
        }
        #expect(try SampleModule.notes(in: host.store).map(\.text) == ["one", "two", "three"])
        let counted = try await log.events(after: 0, matching: [try EventPattern(NotesCounted.eventType.rawValue)])
        #expect(try counted.map { try Samples.decoder.data(NotesCounted.self, of: $0.json).count } == [1, 2, 1])
        // Each published event names the event that caused it.
        let first = try Samples.decoder.decode(counted[0].json)
        #expect(first.causationID == notes[0].id)
        #expect(first.source == "/wzt/sample")
        #expect(first.subject == "case-a")
    }

    @Test func publishedEventsSayWhoCausedThemAndWhy() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        let host = try makeHost(SampleModule(), directory, log: log)
        let caseworker = Actor(id: "an.peeters", role: "caseworker", agency: "vdab")
        let byACaseworker = try Samples.decoder.decode(EnvelopeEncoder.envelope(
            NoteAdded(text: "called"), source: "/agency/vdab", subject: "case-a", actor: caseworker, purpose: .activationTrajectory))
        let bySystem = Samples.note("imported", subject: "case-b")
        try await withServices([host]) {
            _ = try await log.append([byACaseworker, bySystem])
            #expect(await eventually { log.headOffset == 4 })
        }
        let counted = try await log.events(after: 0, matching: [try EventPattern(NotesCounted.eventType.rawValue)])
            .map { try Samples.decoder.decode($0.json) }
        #expect(counted.map(\.causationID) == [byACaseworker.id, bySystem.id])
        // The caseworker's note caused the first count: it carries who and why onwards.
        #expect(counted.first?.actor == caseworker)
        #expect(counted.first?.purpose == .activationTrajectory)
        // Nobody in particular caused the second: the module acted on its own account, for its purpose.
        #expect(counted.last?.actor == .module("sample"))
        #expect(counted.last?.purpose == "testing")
    }

    @Test func redeliveryAfterACrashTakesEffectOnce() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        let module = SampleModule()
        let store = try ModuleStore(module: module, path: directory.file("sample.sqlite"))
        let subscriber = makeSubscriber(module, store, log: log)
        let stored = try #require(try await log.events(after: log.append([Samples.note("once")])[0].offset - 1).first)
        // The cursor was not saved before the crash, so the same event comes again.
        try await subscriber.deliver(stored)
        try await subscriber.deliver(stored)
        #expect(try SampleModule.notes(in: store).count == 1)
        #expect(try await log.events(after: 0).map(\.type) == [NoteAdded.eventType.rawValue, NotesCounted.eventType.rawValue])
        #expect(try store.hasHandled(stored.id))
    }

    /// One transaction for the batch, a savepoint per event: the event that fails is undone alone,
    /// the ones before it commit and publish in one append, the ones after it are not touched.
    @Test func aBatchCommitsTheEventsBeforeTheOneThatFailsAndNothingOfIt() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        let module = SampleModule()
        let store = try ModuleStore(module: module, path: directory.file("sample.sqlite"))
        let subscriber = makeSubscriber(module, store, log: log)
        let notes = ["one", "two", "fail-twice", "four"].map { Samples.note($0, subject: "case-a") }
        _ = try await log.append(notes)
        let stored = try await log.events(after: 0)
        let commits = log.groupCommitStatistics.commits

        let first = await subscriber.deliver(batch: stored[...])
        #expect(first.applied == 2)
        #expect(first.failure is SampleFailure)
        #expect(try SampleModule.notes(in: store).map(\.text) == ["one", "two"])
        #expect(try !store.hasHandled(notes[2].id) && !store.hasHandled(notes[3].id))
        // What the two published reached the log in one append.
        #expect(log.groupCommitStatistics.commits == commits + 1)
        #expect(try await log.events(after: 4).map { try Samples.decoder.data(NotesCounted.self, of: $0.json).count } == [1, 2])

        // Sent again from the failed one (as the dispatcher does): fails once more, then passes.
        #expect(await subscriber.deliver(batch: stored[2...]).applied == 0)
        let last = await subscriber.deliver(batch: stored[2...])
        #expect(last.applied == 2 && last.failure == nil)
        #expect(try SampleModule.notes(in: store).map(\.text) == ["one", "two", "fail-twice", "four"])
        // A batch sent twice (a crash before the cursor moved) takes effect once.
        #expect(await subscriber.deliver(batch: stored[...]).applied == 4)
        #expect(try SampleModule.notes(in: store).count == 4)
        #expect(try await log.events(after: 4).count == 4)
    }

    @Test func failedAttemptsLeaveNoStateAndNoEvents() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        let module = SampleModule()
        let host = try makeHost(module, directory, log: log)
        try await withServices([host]) {
            _ = try await log.append([Samples.note("fail-twice"), Samples.note("after")])
            #expect(await eventually { log.headOffset == 4 })
        }
        #expect(try SampleModule.notes(in: host.store).map(\.text) == ["fail-twice", "after"])
        #expect(try log.count() == 4)
        #expect(try await log.deadLetters().isEmpty)
    }

    @Test func outboxLeftByACrashIsRelayedAtStart() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        let module = SampleModule()
        let host = try makeHost(module, directory, log: log)
        // A committed module transaction whose relay never ran.
        let stranded = Samples.noteJSON("stranded")
        try await host.store.database.write { db in
            try db.execute(sql: "INSERT INTO wzt_outbox (event_id, envelope) VALUES (?, ?)", arguments: ["x", Data(stranded)])
        }
        try await withServices([host]) {
            #expect(await eventually { (try? log.count()) ?? 0 >= 1 })
        }
        #expect(try await log.event(at: 1)?.json == stranded)
        #expect(try await host.store.pendingOutbox().isEmpty)
    }

    @Test func contextTransactionsPublishAfterCommitOnly() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        let host = try makeHost(SampleModule(), directory, log: log)
        try await host.context.transaction { transaction in
            try transaction.publish(NotesCounted(count: 7), subject: "case-z")
        }
        #expect(try log.count() == 1)
        await #expect(throws: SampleFailure.self) {
            try await host.context.transaction { transaction in
                try transaction.publish(NotesCounted(count: 8), subject: "case-z")
                throw SampleFailure(attempt: 1)
            }
        }
        #expect(try log.count() == 1)
        #expect(try await host.store.pendingOutbox().isEmpty)
    }

    @Test func publishingAnInvalidEventFailsTheTransaction() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        let host = try makeHost(SampleModule(), directory, log: log)
        await #expect(throws: EnvelopeError.self) {
            try await host.context.transaction { transaction in
                try transaction.publish(NotesCounted(count: 1), subject: String(repeating: "s", count: 300))
            }
        }
        #expect(try log.count() == 0)
    }
}

@Suite(.timeLimit(.minutes(1)))
struct ModuleShutdownTests {
    @Test func gracefulShutdownFinishesTheEventInHand() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        let module = SampleModule()
        let store = try ModuleStore(module: module, path: directory.file("sample.sqlite"))
        let host = ModuleHost(module: module, store: store, log: log, decoder: Samples.decoder, rules: Samples.noRules, logger: Logger(label: "test"))
        try await withServices([host]) {
            // Long enough that the shutdown comes while it is in hand, on a loaded machine too.
            _ = try await log.append([Samples.note("sleep-1500"), Samples.note("after")])
            #expect(await eventually { module.attempts.withLockedValue { $0.count } == 1 })
        }
        // The slow note was applied and published; the next one was left for the next start.
        let (notes, cursor, count) = (try SampleModule.notes(in: store).map(\.text), try await log.cursor("sample"), try log.count())
        #expect(notes == ["sleep-1500"])
        #expect(cursor == 1)
        #expect(count == 3)
    }
}
