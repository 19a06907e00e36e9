import Foundation
import GRDB
import Logging
import struct NIOConcurrencyHelpers.NIOLockedValueBox
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing
@testable import Bus

/// A subscriber that records what it was given and fails on command.
final class RecordingSubscriber: Subscriber {
    let subscriptionName: String
    let patterns: [EventPattern] = [.all]
    let received = NIOLockedValueBox<[Int64]>([])
    let attempts = NIOLockedValueBox<[Int64: Int]>([:])
    let behaviour: @Sendable (StoredEvent, Int) throws -> Void

    init(_ name: String, behaviour: @escaping @Sendable (StoredEvent, Int) throws -> Void = { _, _ in }) {
        subscriptionName = name
        self.behaviour = behaviour
    }

    func deliver(_ event: StoredEvent) async throws {
        let attempt = attempts.withLockedValue { $0[event.offset, default: 0] += 1; return $0[event.offset]! }
        try behaviour(event, attempt)
        received.withLockedValue { $0.append(event.offset) }
    }

    var offsets: [Int64] { received.withLockedValue { $0 } }
}

struct Refused: Error, CustomStringConvertible {
    var description: String { "refused on purpose" }
}

@Suite(.timeLimit(.minutes(1)))
struct DispatcherTests {
    let fast = Dispatcher.Configuration(retry: RetryPolicy(maxAttempts: 3, backoff: [.zero, .milliseconds(10)]),
                                        slowHandlerThreshold: .milliseconds(200), deadLetterPollInterval: .milliseconds(50))

    /// While the log's database is away, a dispatcher says so when it pauses and once a minute
    /// after (not every second, for every subscription), and says when it goes on.
    @Test func aLogAwaySaysPausedOnceAndResumed() async throws {
        let database = try TestPostgres.freshDatabase()
        let name = try #require(database.split(separator: "/").last.map(String.init))
        let log = try await TestLog(.postgres, configuredAt: database).open()
        defer { log.close() }
        let sink = LogSink.Store()
        let subscriber = RecordingSubscriber("paused")
        let dispatcher = Dispatcher(log: log, subscriber: subscriber, configuration: fast, logger: Logger(label: "test") { _ in LogSink(store: sink) })
        let lines: @Sendable (String) -> Int = { message in sink.messages.filter { $0 == message }.count }
        try await withServices([dispatcher]) {
            _ = try await log.append([Samples.note("before")])
            #expect(await eventually { subscriber.offsets == [1] })
            try TestPostgres.execute("ALTER DATABASE \(name) ALLOW_CONNECTIONS false")
            try TestPostgres.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(name)'")
            #expect(await eventually { lines("dispatch paused") == 1 })
            try await Task.sleep(for: .seconds(3))
            #expect(lines("dispatch paused") == 1, "\(sink.messages)")
            try TestPostgres.execute("ALTER DATABASE \(name) ALLOW_CONNECTIONS true")
            #expect(await eventually { lines("dispatch resumed") == 1 }, "\(sink.messages)")
            _ = try await log.append([Samples.note("after")])
            #expect(await eventually { subscriber.offsets.count == 2 })
        }
    }

    @Test func handlerThatThrowsTwiceGetsTheEventOnceAndInOrder() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        let subscriber = RecordingSubscriber("flaky") { event, attempt in
            if event.offset == 2, attempt <= 2 { throw Refused() }
        }
        let dispatcher = Dispatcher(log: log, subscriber: subscriber, configuration: fast, logger: Logger(label: "test"))
        try await withServices([dispatcher]) {
            _ = try await log.append((1...4).map { Samples.note("n\($0)") })
            #expect(await eventually { subscriber.offsets.count == 4 })
        }
        #expect(subscriber.offsets == [1, 2, 3, 4])
        #expect(subscriber.attempts.withLockedValue { $0[2] } == 3)
        #expect(try await log.deadLetters().isEmpty)
        #expect(try await log.cursor("flaky") == 4)
    }

    @Test func fullDiskIsWaitedOutAndNeverDeadLettersTheEvent() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        // More failures than attempts allowed: they must not count, because the event is not at fault.
        let subscriber = RecordingSubscriber("storage") { event, attempt in
            if event.offset == 1, attempt <= 4 { throw DatabaseError(resultCode: .SQLITE_FULL) }
        }
        let dispatcher = Dispatcher(log: log, subscriber: subscriber, configuration: fast, logger: Logger(label: "test"))
        try await withServices([dispatcher]) {
            _ = try await log.append((1...2).map { Samples.note("n\($0)") })
            #expect(await eventually(seconds: 20) { subscriber.offsets.count == 2 })
        }
        #expect(subscriber.offsets == [1, 2])
        #expect(subscriber.attempts.withLockedValue { $0[1] } == 5)
        #expect(try await log.deadLetters().isEmpty)
    }

    /// A module in another process that is not linked yet, as when its core has just started, is
    /// waited for with a warning; an error is for trouble that lasts (every minute it does).
    @Test func aSubscriberAwayForAMomentIsAWarning() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        let subscriber = RecordingSubscriber("remote") { event, attempt in
            if event.offset == 1, attempt == 1 { throw SubscriberUnavailable("module remote is not connected") }
        }
        let sink = LogSink.Store()
        let dispatcher = Dispatcher(log: log, subscriber: subscriber, configuration: fast, logger: Logger(label: "test") { _ in LogSink(store: sink) })
        try await withServices([dispatcher]) {
            _ = try await log.append([Samples.note("n1")])
            #expect(await eventually { subscriber.offsets == [1] })
        }
        let waits = sink.entries.filter { $0.message == "delivery waits for the subscriber" }
        #expect(waits.map(\.level) == [.warning])
    }

    @Test(arguments: TestLog.both)
    func eventFailingEveryTryIsDeadLetteredAndLaterEventsArrive(place: TestLog) async throws {
        let log = try await place.open()
        defer { log.close() }
        let subscriber = RecordingSubscriber("strict") { event, _ in
            if event.offset == 2 { throw Refused() }
        }
        let dispatcher = Dispatcher(log: log, subscriber: subscriber, configuration: fast, logger: Logger(label: "test"))
        try await withServices([dispatcher]) {
            _ = try await log.append((1...5).map { Samples.note("n\($0)") })
            #expect(await eventually { subscriber.offsets.count == 4 })
        }
        #expect(subscriber.offsets == [1, 3, 4, 5])
        let letters = try await log.deadLetters()
        #expect(letters.count == 1)
        let letter = try #require(letters.first)
        #expect(letter.subscription == "strict")
        #expect(letter.eventOffset == 2)
        #expect(letter.eventType == NoteAdded.eventType.rawValue)
        #expect(letter.error == "refused on purpose")
        #expect(letter.attempts == 3)
        #expect(try await log.cursor("strict") == 5)
    }

    /// While an event that failed in the middle of a batch is retried, the cursor already stands
    /// at the events before it, which are applied: the lag an operator sees is what is left.
    @Test func theEventsBeforeOneBeingRetriedAreCountedAsApplied() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        let subscriber = RecordingSubscriber("strict") { event, _ in
            if event.offset == 5 { throw Refused() }
        }
        let slowRetries = Dispatcher.Configuration(retry: RetryPolicy(maxAttempts: 2, backoff: [.seconds(5)]), deadLetterPollInterval: .milliseconds(50))
        _ = try await log.append((1...10).map { Samples.note("n\($0)") })
        let dispatcher = Dispatcher(log: log, subscriber: subscriber, configuration: slowRetries, logger: Logger(label: "test"))
        try await withServices([dispatcher]) {
            #expect(await eventually { subscriber.attempts.withLockedValue { $0[5] } == 1 })
            #expect(subscriber.offsets == [1, 2, 3, 4])
            #expect(await eventually(seconds: 4) { try log.cursor("strict") == 4 })
        }
    }

    @Test(arguments: TestLog.both)
    func deadLetterMarkedForRetryIsDeliveredAgain(place: TestLog) async throws {
        let log = try await place.open()
        defer { log.close() }
        let healed = Atomic<Bool>(false)
        let subscriber = RecordingSubscriber("healing") { event, _ in
            if event.offset == 1, !healed.load(ordering: .relaxed) { throw Refused() }
        }
        let dispatcher = Dispatcher(log: log, subscriber: subscriber, configuration: fast, logger: Logger(label: "test"))
        try await withServices([dispatcher]) {
            _ = try await log.append([Samples.note()])
            #expect(await eventually { (try? log.deadLetters().count) == 1 })
            healed.store(true, ordering: .relaxed)
            let letter = try await #require(try log.deadLetters().first)
            #expect(try await log.setDeadLetterStatus(id: letter.id, to: .retry, from: [.open]))
            #expect(await eventually { subscriber.offsets == [1] })
        }
        #expect(try await log.deadLetters(status: .retried).count == 1)
        #expect(try await log.deadLetters(status: .open).isEmpty)
    }

    @Test func blockedSubscriberDoesNotHoldUpOthersAndIsLogged() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        let release = Atomic<Bool>(false)
        let blocked = RecordingSubscriber("blocked") { _, _ in
            while !release.load(ordering: .relaxed) { usleep(5000) }
        }
        let healthy = RecordingSubscriber("healthy")
        let sink = LogSink.Store()
        let logger = Logger(label: "test") { _ in LogSink(store: sink) }
        let dispatchers = [blocked, healthy].map { Dispatcher(log: log, subscriber: $0, configuration: fast, logger: logger) }
        try await withServices(dispatchers) {
            _ = try await log.append((1...50).map { Samples.note("n\($0)") })
            #expect(await eventually { healthy.offsets.count == 50 })
            #expect(blocked.offsets.isEmpty)
            #expect(await eventually { sink.messages.contains("slow handler") })
            release.store(true, ordering: .relaxed)
            #expect(await eventually { blocked.offsets.count == 50 })
        }
        let warning = try #require(sink.entries.first { $0.message == "slow handler" })
        #expect(warning.metadata["wzt.module"] == "blocked")
        #expect(warning.metadata["bus.offset"] == "1")
        #expect(warning.metadata["bus.type"] == "be.wzt.sample.note-added")
    }

    @Test(arguments: TestLog.both)
    func restartResumesFromTheSavedCursor(place: TestLog) async throws {
        let log = try await place.open()
        defer { log.close() }
        let first = RecordingSubscriber("resumer")
        try await withServices([Dispatcher(log: log, subscriber: first, configuration: fast, logger: Logger(label: "test"))]) {
            _ = try await log.append((1...3).map { Samples.note("n\($0)") })
            #expect(await eventually { first.offsets.count == 3 })
        }
        _ = try await log.append((4...6).map { Samples.note("n\($0)") })
        let second = RecordingSubscriber("resumer")
        try await withServices([Dispatcher(log: log, subscriber: second, configuration: fast, logger: Logger(label: "test"))]) {
            #expect(await eventually { second.offsets.count == 3 })
        }
        #expect(second.offsets == [4, 5, 6])
    }
}

@Suite(.timeLimit(.minutes(1)))
struct DispatcherRaceTests {
    /// A subscriber of one type must get every event of that type even while other types are
    /// appended all around: moving an idle cursor to the head must never skip an unread event.
    @Test(arguments: TestLog.both)
    func sparseSubscriberMissesNothingUnderConcurrentAppends(place: TestLog) async throws {
        let log = try await place.open()
        defer { log.close() }
        final class NotesOnly: Subscriber {
            let subscriptionName = "notes-only"
            let patterns = [try! EventPattern(NoteAdded.eventType.rawValue)]
            let count = Atomic<Int>(0)
            func deliver(_ event: StoredEvent) async throws { count.add(1, ordering: .relaxed) }
        }
        let subscriber = NotesOnly()
        let dispatcher = Dispatcher(log: log, subscriber: subscriber, configuration: .init(deadLetterPollInterval: .milliseconds(20)),
                                    logger: Logger(label: "test"))
        try await withServices([dispatcher]) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        // Mostly other types, so the subscriber is often idle at the head when a note lands.
                        for _ in 0..<50 {
                            _ = try await log.append([Samples.note()])
                            for _ in 0..<10 {
                                _ = try await log.append([try Samples.decoder.decode(EnvelopeEncoder.envelope(NotesCounted(count: 1), source: "/test"))])
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(await eventually(seconds: 3) { subscriber.count.load(ordering: .relaxed) == 400 })
        }
        #expect(subscriber.count.load(ordering: .relaxed) == 400)
    }
}
