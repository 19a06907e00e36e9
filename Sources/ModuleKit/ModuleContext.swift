import Bus
import Foundation
import Storage
import Logging

/// What a module is given to do its work outside of event handling.
public struct ModuleContext: Sendable {
    public let name: String
    let timerEvents: Set<String>
    /// What the module works for when no event caused the work.
    let purpose: Purpose?
    /// Tagged `wzt.module`; log ids and offsets, never personal data.
    public let logger: Logger
    public let store: ModuleStore
    public let decoder: EnvelopeDecoder
    /// The regional rule sets, chosen by region, offer and the date a case started.
    public let rules: RuleBook
    public let clock: any BusClock
    let relay: OutboxRelay
    let timersChanged: Signal

    /// A transaction of the module's own database, for changes not caused by an event
    /// (a command from the module's own API, say). Published events reach the bus after the commit.
    @discardableResult
    public func transaction<T: Sendable>(_ body: @escaping @Sendable (ModuleTransaction) throws -> T) async throws -> T {
        let (name, timerEvents, purpose, decoder, now, rules) = (self.name, self.timerEvents, self.purpose, self.decoder, clock.now(), self.rules)
        let (result, outcome) = try await store.database.write { db in
            let transaction = ModuleTransaction(db: db, module: name, timerEvents: timerEvents, purpose: purpose, decoder: decoder, cause: nil, now: now, rules: rules)
            let result = try body(transaction)
            return (result, transaction.outcome)
        }
        try await outcome.settle(timersChanged: timersChanged, relay: relay)
        return result
    }
}
