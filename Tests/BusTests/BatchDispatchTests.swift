import Foundation
import Logging
import struct NIOConcurrencyHelpers.NIOLockedValueBox
import PropertyBased
import TestSupport
import Testing
@testable import Bus

/// A subscriber that takes batches: it applies a batch's events in order until one fails, as a
/// module's transaction with a savepoint per event does, and records the size of each batch.
/// With `preparesAhead`, it prepares the events that come next as a module does (its events'
/// ids), and records which events of a batch came prepared and any that came with another's.
final class BatchingSubscriber: Subscriber {
    let subscriptionName: String
    let patterns: [EventPattern] = [.all]
    let preparesAhead: Bool
    private let preparedIDs = PreparedEvents<String>()
    let deliveredPrepared = NIOLockedValueBox<Int>(0)
    let mismatches = NIOLockedValueBox<[String]>([])
    let received = NIOLockedValueBox<[Int64]>([])
    let attempts = NIOLockedValueBox<[Int64: Int]>([:])
    let batches = NIOLockedValueBox<[Int]>([])
    /// How many tries of an event fail before one succeeds.
    let failures: @Sendable (Int64) -> Int

    init(_ name: String, preparesAhead: Bool = false, failures: @escaping @Sendable (Int64) -> Int = { _ in 0 }) {
        subscriptionName = name
        self.preparesAhead = preparesAhead
        self.failures = failures
    }

    func prepare(_ events: [StoredEvent]) async {
        preparedIDs.keep(events.map(\.id), for: events)
    }

    func deliver(_ event: StoredEvent) async throws {
        let attempt = attempts.withLockedValue { $0[event.offset, default: 0] += 1; return $0[event.offset]! }
        if attempt <= failures(event.offset) { throw Refused() }
        received.withLockedValue { $0.append(event.offset) }
    }

    func deliver(batch events: ArraySlice<StoredEvent>) async -> BatchDelivery {
        batches.withLockedValue { $0.append(events.count) }
        let prepared = preparedIDs.take(events)
        deliveredPrepared.withLockedValue { $0 += prepared.count }
        for (event, id) in zip(events, prepared) where event.id != id {
            mismatches.withLockedValue { $0.append("event \(event.offset) came with \(id)") }
        }
        return await deliverOneAtATime(events)
    }

    var offsets: [Int64] { received.withLockedValue { $0 } }
}

@Suite(.timeLimit(.minutes(5)))
struct BatchDispatchTests {
    static let retry = RetryPolicy(maxAttempts: 3, backoff: [.zero])

    static func configuration(batchSize: Int) -> Dispatcher.Configuration {
        Dispatcher.Configuration(retry: retry, slowHandlerThreshold: .seconds(5), batchSize: batchSize, deadLetterPollInterval: .milliseconds(20))
    }

    @Test func anEventThatFailsInABatchIsRetriedAloneAndTheBatchGoesOnAfterIt() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        _ = try await log.append((1...10).map { Samples.note("n\($0)") })
        let subscriber = BatchingSubscriber("batches") { $0 == 5 ? 2 : 0 }
        let dispatcher = Dispatcher(log: log, subscriber: subscriber, configuration: Self.configuration(batchSize: 256), logger: Logger(label: "test"))
        try await withServices([dispatcher]) {
            #expect(await eventually { subscriber.offsets.count == 10 })
        }
        #expect(subscriber.offsets == Array(1...10))
        // The first batch held all ten and stopped at 5; 5 failed once more alone, then passed;
        // the rest went as a batch again.
        #expect(subscriber.batches.withLockedValue { $0 } == [10, 5])
        #expect(subscriber.attempts.withLockedValue { $0[5] } == 3)
        #expect(try await log.deadLetters().isEmpty)
        #expect(try await log.cursor("batches") == 10)
    }

    @Test func theNextBatchIsPreparedWhileOneIsApplied() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        _ = try await log.append((1...100).map { Samples.note("n\($0)") })
        let subscriber = BatchingSubscriber("ahead", preparesAhead: true)
        let dispatcher = Dispatcher(log: log, subscriber: subscriber, configuration: Self.configuration(batchSize: 10), logger: Logger(label: "test"))
        try await withServices([dispatcher]) {
            #expect(await eventually { subscriber.offsets.count == 100 })
        }
        #expect(subscriber.offsets == Array(1...100))
        // Every batch but the first was prepared while the one before it was applied.
        #expect(subscriber.deliveredPrepared.withLockedValue { $0 } == 90)
        #expect(subscriber.mismatches.withLockedValue { $0 }.isEmpty)
    }

    /// Generated runs: events appended in bursts while the dispatcher runs (so that batches come
    /// from the log and from memory), batches of any size, and events that fail a few times or
    /// always. Whatever the batching, the subscriber applies every event that can be applied once,
    /// in log order; the others are dead letters; the cursor ends at the last event.
    @Test func batchesDeliverWhatOneAtATimeWouldInTheSameOrder() async throws {
        let input = zip(Gen.int(in: 0...12).array(of: 1...40), Gen.int(in: 1...9).array(of: 1...8), Gen.int(in: 1...8), Gen.bool)
        await propertyCheck(count: 60, input: input) { failureDraws, bursts, batchSize, preparesAhead in
            // Most events never fail; some fail once or twice and then pass; a few fail every try.
            let failures = failureDraws.map { max(0, $0 - 9) }
            let total = failures.count
            do {
                let directory = TemporaryDirectory()
                let log = try EventLog(path: directory.file("log.sqlite"))
                defer { log.close() }
                let subscriber = BatchingSubscriber("generated", preparesAhead: preparesAhead) { failures[Int($0) - 1] }
                var quiet = Logger(label: "test")
                quiet.logLevel = .critical
                let dispatcher = Dispatcher(log: log, subscriber: subscriber, configuration: Self.configuration(batchSize: batchSize), logger: quiet)
                try await withServices([dispatcher]) {
                    try await appendNotes(total, inBursts: bursts, to: log)
                    #expect(await eventually { (try? log.cursor("generated")) == Int64(total) })
                }
                let failing = Set((1...total).filter { failures[$0 - 1] >= Self.retry.maxAttempts }.map(Int64.init))
                #expect(subscriber.offsets == (1...Int64(total)).filter { !failing.contains($0) })
                #expect(Set(try await log.deadLetters().map(\.eventOffset)) == failing)
                #expect(subscriber.batches.withLockedValue { $0.allSatisfy { $0 <= batchSize } })
                #expect(subscriber.mismatches.withLockedValue { $0 }.isEmpty)
            } catch {
                Issue.record("failures \(failures), bursts \(bursts), batch size \(batchSize), preparing ahead \(preparesAhead): \(error)")
            }
        }
    }

    @Test func aFeedHoldsWhatCommitsAppendAndIsDroppedWhenItCannotHoldItAll() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        _ = try await log.append([Samples.note("before")])
        let feed = log.follow([.all], limit: 5)
        // Older than the feed: only the log has it.
        #expect(log.fresh(after: 0, limit: 10, feed: feed) == nil)
        _ = try await log.append((1...3).map { Samples.note("n\($0)") })
        let fresh = try #require(log.fresh(after: 1, limit: 2, feed: feed))
        #expect(fresh.events.map(\.offset) == [2, 3])
        #expect(fresh.through == 4)
        #expect(log.fresh(after: 3, limit: 10, feed: feed)?.events.map(\.offset) == [4])
        // Taken up to 3: a reader at 2 again (a dispatcher restarted from an older cursor) reads the log.
        #expect(log.fresh(after: 2, limit: 10, feed: feed) == nil)
        _ = try await log.append((1...3).map { Samples.note("m\($0)") })
        _ = try await log.append((1...3).map { Samples.note("k\($0)") })
        // Seven waiting beyond 3 is more than five: dropped, so a reader at 4 must read the log …
        #expect(log.fresh(after: 4, limit: 10, feed: feed) == nil)
        // … and one at the head gets what comes next.
        _ = try await log.append([Samples.note("after")])
        #expect(log.fresh(after: 10, limit: 10, feed: feed)?.events.map(\.offset) == [11])
        log.unfollow(feed)
        #expect(log.fresh(after: 11, limit: 10, feed: feed) == nil)
    }
}
