import Bus
import Foundation
import struct NIOConcurrencyHelpers.NIOLockedValueBox
import TestSupport
import Testing
@testable import ModuleKit

/// A live log holds each event a module publishes right after the input that caused it. A rebuild
/// stops its batch only at the module's timers' events, so such a log replays in batches, not one
/// event at a time.
struct RebuildBatchTests {
    /// The sizes of the batches a subscriber was handed.
    struct Recording: Subscriber {
        let inner: any Subscriber
        let sizes = NIOLockedValueBox<[Int]>([])
        var subscriptionName: String { inner.subscriptionName }
        var patterns: [EventPattern] { inner.patterns }
        func deliver(_ event: StoredEvent) async throws { try await inner.deliver(event) }
        func deliver(batch events: ArraySlice<StoredEvent>) async -> BatchDelivery {
            sizes.withLockedValue { $0.append(events.count) }
            return await inner.deliver(batch: events)
        }
    }

    @Test func aModulesOwnEventsBetweenItsInputsDoNotCutTheBatch() async throws {
        let module = SampleModule()
        let directory = TemporaryDirectory("wzt-rebuild-batches")
        // Each note, then the count the live module published for it.
        var log: [Envelope] = []
        for index in 1...20 {
            log.append(Samples.note("note \(index)", subject: "case-\(index % 3)"))
            let counted = try EnvelopeEncoder.envelope(NotesCounted(count: index), source: "/wzt/\(module.name)", subject: "case-\(index % 3)",
                                                       actor: .module(module.name), purpose: "testing")
            log.append(try Samples.decoder.decode(counted))
        }
        let events = log.enumerated().map { StoredEvent(offset: Int64($0 + 1), id: $1.id, type: $1.type.rawValue, subject: $1.subject, json: $1.json) }
        let store = try ModuleStore(module: module, path: directory.file("sample.sqlite"))
        let recording = Recording(inner: ModuleRebuild.subscriber(module, store: store, decoder: Samples.decoder, rules: Samples.noRules))
        var report = ModuleRebuild.Report()
        try await ModuleRebuild.replay(events, to: recording, of: module, store: store, decoder: Samples.decoder, report: &report)
        #expect(report.delivered == 20)
        #expect(report.failed.isEmpty)
        #expect(recording.sizes.withLockedValue { $0 } == [20])
        #expect(try SampleModule.notes(in: store).count == 20)
    }
}
