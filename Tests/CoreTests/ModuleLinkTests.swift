import Bus
@testable import BusTransport
import Foundation
import Logging
import struct NIOConcurrencyHelpers.NIOLockedValueBox
import ServiceLifecycle
import TestSupport
import Testing
import ZeroMQ

/// The module link with both ends in this process: windows of events out, batches applied on the
/// module's side, acks in order, and a failure in the middle of a window.
@Suite(.timeLimit(.minutes(1)))
struct ModuleLinkTests {
    /// The module's side: applies what arrives in batches, records their sizes, and fails the
    /// first try of the event `failOnce` names.
    final class ModuleSide: Subscriber {
        let subscriptionName = "sample"
        let patterns: [EventPattern] = [.all]
        let failOnce: Int64
        let applied = NIOLockedValueBox<[Int64]>([])
        let batches = NIOLockedValueBox<[Int]>([])
        let tried = NIOLockedValueBox<Set<Int64>>([])

        init(failOnce: Int64) { self.failOnce = failOnce }

        func deliver(_ event: StoredEvent) async throws {
            let first = tried.withLockedValue { $0.insert(event.offset).inserted }
            if event.offset == failOnce, first { throw Refused() }
            applied.withLockedValue { $0.append(event.offset) }
        }

        func deliver(batch events: ArraySlice<StoredEvent>) async -> BatchDelivery {
            batches.withLockedValue { $0.append(events.count) }
            return await deliverOneAtATime(events)
        }
    }

    struct Refused: Error {}

    /// Runs the module's delivery loop as a service beside the link's own.
    struct Delivering: Service {
        let client: ModuleLinkClient
        let subscriber: any Subscriber

        func run() async throws { try await client.deliver(to: subscriber, logger: Logger(label: "test")) }
    }

    @Test func aWindowIsAppliedInBatchesAndAFailureInItIsRetriedAloneInOrder() async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(path: directory.file("log.sqlite"))
        defer { log.close() }
        _ = try await log.append((1...40).map { Samples.note("n\($0)") })
        var logger = Logger(label: "test")
        logger.logLevel = .error
        let context = Context()
        let server = try ModuleLinkServer(context: context, endpoint: "tcp://127.0.0.1:*", modules: ["sample"], log: log, decoder: Samples.decoder,
                                          security: nil, logger: logger)
        let client = try ModuleLinkClient(context: context, endpoint: server.endpoint, module: "sample", curve: nil, decoder: Samples.decoder, logger: logger)
        let module = ModuleSide(failOnce: 17)
        let dispatcher = Dispatcher(log: log, subscriber: server.subscriber(for: "sample", patterns: [.all]),
                                    configuration: .init(retry: RetryPolicy(maxAttempts: 3, backoff: [.zero]), batchSize: 16,
                                                         deadLetterPollInterval: .milliseconds(50)),
                                    logger: logger)
        try await withServices([server, client, Delivering(client: client, subscriber: module), dispatcher]) {
            #expect(await eventually { (try? log.cursor("sample")) == 40 })
        }
        #expect(module.applied.withLockedValue { $0 } == Array(1...40))
        // Windows of 16 arrive whole (as one batch, or a few when the socket hands them over in parts).
        #expect(module.batches.withLockedValue { $0.contains { $0 > 1 } })
        #expect(module.batches.withLockedValue { $0.allSatisfy { $0 <= 16 } })
        #expect(try await log.deadLetters().isEmpty)
    }
}
