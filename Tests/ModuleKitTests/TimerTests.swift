import Bus
import Foundation
import GRDB
import Logging
import ServiceLifecycle
import TestSupport
import Testing
@testable import ModuleKit
import Storage

/// Sets an 18-month deadline per case and cancels it on command.
final class DeadlineModule: Module {
    let name = "deadlines"
    let contracts: [any EventContract.Type] = []
    let timerEvents: [any EventContract.Type] = [NotesCounted.self]
    let needs = [Need(NoteAdded.self, for: "testing")]
    static let eighteenMonths: TimeInterval = 548 * 86_400

    func registerMigrations(_ migrator: inout SQLMigrations) {}

    func handle(_ event: IncomingEvent, _ transaction: ModuleTransaction) throws {
        let command = try event.data(as: NoteAdded.self).text
        let timer = "limit-\(event.subject ?? "")"
        switch command {
        case "start":
            try transaction.schedule(timer: timer, at: transaction.now.addingTimeInterval(Self.eighteenMonths),
                                     publish: NotesCounted(count: 18), subject: event.subject)
        case "cancel": try transaction.cancelTimer(timer)
        default: break
        }
    }
}

@Suite(.timeLimit(.minutes(1)))
struct TimerTests {
    static let start = Date(timeIntervalSince1970: 1_688_169_600) // 2023-07-01
    let day: TimeInterval = 86_400

    final class Harness: Sendable {
        let directory = TemporaryDirectory("wzt-timers")
        let log: EventLog
        init() throws { log = try EventLog(path: directory.file("log.sqlite")) }
        deinit { log.close() }

        func host(_ clock: ManualClock) throws -> ModuleHost {
            let module = DeadlineModule()
            let store = try ModuleStore(module: module, path: directory.file("deadlines.sqlite"))
            return ModuleHost(module: module, store: store, log: log, decoder: Samples.decoder, rules: Samples.noRules, clock: clock,
                              dispatch: .init(retry: RetryPolicy(maxAttempts: 1)), logger: Logger(label: "test"))
        }

        func deadlinesFired() throws -> [StoredEvent] {
            try log.eventsNow(after: 0, matching: [try EventPattern(NotesCounted.eventType.rawValue)])
        }

        /// Publishes a command dated `time` (when it happens, for the deadlines it meets) and waits
        /// until the module has handled it.
        func command(_ text: String, case subject: String = "case-1", at time: Date) async throws {
            let offset = try await log.append([Samples.note(text, subject: subject, time: time)])[0].offset
            #expect(await eventually { (try? self.log.cursor("deadlines")) ?? 0 >= offset })
        }
    }

    /// Gives the timer loop a moment to act on a clock change, then reports what fired.
    func settle(_ harness: Harness) async throws -> Int {
        try await Task.sleep(for: .milliseconds(100))
        return try harness.deadlinesFired().count
    }

    @Test func deadlineFiresOnceWhenItsDateIsReached() async throws {
        let harness = try Harness()
        let clock = ManualClock(now: Self.start)
        try await withServices([try harness.host(clock)]) {
            try await harness.command("start", at: clock.now())
            clock.advance(by: DeadlineModule.eighteenMonths - day)
            #expect(try await settle(harness) == 0)
            clock.advance(by: day)
            #expect(await eventually { (try? harness.deadlinesFired().count) == 1 })
            clock.advance(by: 365 * day)
            #expect(try await settle(harness) == 1)
        }
        let fired = try #require(try harness.deadlinesFired().first)
        let envelope = try Samples.decoder.decode(fired.json)
        #expect(envelope.subject == "case-1")
        #expect(envelope.source == "/wzt/deadlines")
        #expect(envelope.actor == .module("deadlines"), "a deadline passing is nobody's doing")
        #expect(envelope.purpose == "testing")
        #expect(envelope.time == EventTime.format(Self.start.addingTimeInterval(DeadlineModule.eighteenMonths)))
        #expect(try Samples.decoder.data(NotesCounted.self, of: fired.json).count == 18)
    }

    @Test func deadlineSurvivesARestart() async throws {
        let harness = try Harness()
        try await withServices([try harness.host(ManualClock(now: Self.start))]) {
            try await harness.command("start", at: Self.start)
        }
        #expect(try harness.deadlinesFired().isEmpty)
        // The process was down when the date passed: the timer fires at the next start.
        let later = ManualClock(now: Self.start.addingTimeInterval(DeadlineModule.eighteenMonths + 30 * day))
        try await withServices([try harness.host(later)]) {
            #expect(await eventually { (try? harness.deadlinesFired().count) == 1 })
        }
        try await withServices([try harness.host(later)]) {
            let fired = try await settle(harness)
            #expect(fired == 1, "a fired timer does not fire again after another restart")
        }
    }

    /// The bus clock has not reached the deadline, but a fact dated after it has: the deadline
    /// passed before that fact, and fires before it is handled, dated when it was due.
    @Test func aFactDatedAfterADeadlineFindsItPassed() async throws {
        let harness = try Harness()
        let clock = ManualClock(now: Self.start)
        try await withServices([try harness.host(clock)]) {
            try await harness.command("start", at: Self.start)
            try await harness.command("noted", at: Self.start.addingTimeInterval(DeadlineModule.eighteenMonths - day))
            #expect(try harness.deadlinesFired().isEmpty)
            try await harness.command("noted", at: Self.start.addingTimeInterval(DeadlineModule.eighteenMonths + day))
            let fired = try harness.deadlinesFired()
            #expect(fired.count == 1)
            let time = try fired.first.map { try Samples.decoder.decode($0.json).time }
            #expect(time == EventTime.format(Self.start.addingTimeInterval(DeadlineModule.eighteenMonths)))
            #expect(try await settle(harness) == 1)
        }
    }

    @Test func cancelledDeadlineNeverFires() async throws {
        let harness = try Harness()
        let clock = ManualClock(now: Self.start)
        try await withServices([try harness.host(clock)]) {
            try await harness.command("start", at: clock.now())
            try await harness.command("cancel", at: clock.now())
            clock.advance(by: 3 * 365 * day)
            #expect(try await settle(harness) == 0)
        }
        let store = try harness.host(clock).store
        let status = try await store.database.read { db in try ScheduledTimer.fetch(db, id: "limit-case-1")?.status }
        #expect(status == .cancelled)
    }

    /// A timer whose event the module does not name in `timerEvents` would not be marked fired by
    /// a rebuild, and would fire a second time after it: `schedule` refuses it.
    @Test func aTimerOfAnEventTheModuleDoesNotNameIsRefused() async throws {
        final class Unnamed: Module {
            let name = "unnamed"
            let contracts: [any EventContract.Type] = []
            let needs = [Need(NoteAdded.self, for: "testing")]
            func registerMigrations(_ migrator: inout SQLMigrations) {}
            func handle(_ event: IncomingEvent, _ transaction: ModuleTransaction) throws {
                try transaction.schedule(timer: "t", at: transaction.now, publish: NotesCounted(count: 1), subject: event.subject)
            }
        }
        let directory = TemporaryDirectory("wzt-timers")
        let module = Unnamed()
        let store = try ModuleStore(module: module, path: directory.file("unnamed.sqlite"))
        let subscriber = ModuleRebuild.subscriber(module, store: store, decoder: Samples.decoder, rules: Samples.noRules)
        let note = Samples.note("start")
        let error = await #expect(throws: TimerError.self) {
            _ = try await subscriber.apply(StoredEvent(offset: 1, id: note.id, type: note.type.rawValue, subject: note.subject, json: note.json))
        }
        #expect(error?.description.contains("be.wzt.sample.notes-counted") == true, "\(error?.description ?? "")")
        #expect(try await store.database.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM wzt_timers") } == 0)
    }
}
