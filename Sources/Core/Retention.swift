import Bus
import Foundation
import Logging
import ModuleKit
import struct NIOConcurrencyHelpers.NIOLockedValueBox
import ServiceLifecycle

/// Erases a subject's personal data when the retention period of its purpose has run from its
/// last event (`[privacy.retention]`, in days). It follows the log (cursor `retention`), keeps each
/// subject's due date in the log's file, so a restart forgets nothing, and at that date publishes
/// `erasure-requested`, which `Eraser` carries out like one from an operator.
public final class RetentionWatch: Service, Sendable {
    /// Its cursor's name in the log.
    static let subscription = "retention"

    private let log: EventLog
    private let decoder: EnvelopeDecoder
    private let clock: any BusClock
    private let dispatcher: Dispatcher
    private let changed = Signal()
    private let logger: Logger

    public init(log: EventLog, decoder: EnvelopeDecoder, periods: [Purpose: Int], clock: any BusClock = SystemClock(),
                dispatch: Dispatcher.Configuration = .init(), logger: Logger) {
        self.log = log
        self.decoder = decoder
        self.clock = clock
        self.logger = logger
        dispatcher = Dispatcher(log: log, subscriber: RetentionRecorder(log: log, periods: periods, clock: clock, changed: changed),
                                configuration: dispatch, logger: logger)
    }

    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await self.eraseWhenDue() }
            try await dispatcher.run()
            group.cancelAll()
        }
    }

    private func eraseWhenDue() async throws {
        while !Task.isCancelled {
            do {
                let (due, next) = try await log.retention(dueAt: clock.now())
                for subject in due {
                    let request = try EnvelopeEncoder.envelope(
                        ErasureRequested(subject: subject.subject, reason: "the retention period for \(subject.purpose) ended"),
                        source: "/wzt/privacy/retention", subject: subject.subject,
                        id: EventID.derived(from: "retention/\(subject.subject)/\(subject.dueAt.timeIntervalSince1970)"),
                        actor: .module("retention"), purpose: .erasure)
                    _ = try await log.append([try decoder.decode(request)])
                    try await log.retentionHandled(subject)
                    logger.info("retention period ended: erasure requested", metadata: ["wzt.subject": "\(subject.subject)", "wzt.purpose": "\(subject.purpose)"])
                }
                await withTaskGroup(of: Void.self) { group in
                    if let next { group.addTask { [clock] in try? await clock.sleep(until: next) } }
                    group.addTask { [changed] in await changed.wait() }
                    await group.next()
                    group.cancelAll()
                }
            } catch is CancellationError {
                return
            } catch {
                logger.error("retention paused", metadata: ["bus.error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }
}

/// Moves each subject's due date with its events. Writes at most once a day per subject: a
/// retention period is counted in days.
private final class RetentionRecorder: Subscriber {
    let log: EventLog
    let periods: [Purpose: Int]
    let clock: any BusClock
    let changed: Signal
    private let written = NIOLockedValueBox<[String: Date]>([:])

    init(log: EventLog, periods: [Purpose: Int], clock: any BusClock, changed: Signal) {
        self.log = log
        self.periods = periods
        self.clock = clock
        self.changed = changed
    }

    var subscriptionName: String { RetentionWatch.subscription }
    var patterns: [EventPattern] { [.all] }

    func deliver(_ event: StoredEvent) async throws {
        guard let subject = event.subject, !event.type.hasPrefix("be.wzt.privacy."), let head = event.attributes,
              let purpose = head.purpose.map(Purpose.init(rawValue:)), let days = periods[purpose] else { return }
        let at = head.time.flatMap(EventTime.parse) ?? clock.now()
        let dueAt = at.addingTimeInterval(TimeInterval(days) * 86_400)
        guard written.withLockedValue({ $0[subject].map { dueAt.timeIntervalSince($0) >= 86_400 } ?? true }) else { return }
        try await log.extendRetention(subject: subject, purpose: purpose, until: dueAt)
        written.withLockedValue { $0[subject] = dueAt }
        changed.fire()
    }
}
