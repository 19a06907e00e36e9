import Bus
import Foundation
import GRDB
import Logging

/// What a module is given to do its work outside of event handling.
public struct ModuleContext: Sendable {
    public let name: String
    /// Tagged `wzt.module`; log ids and offsets, never personal data.
    public let logger: Logger
    public let store: ModuleStore
    public let decoder: EnvelopeDecoder
    /// The regional rule sets, chosen by region, offer and the date a case started.
    public let rules: RuleBook
    let relay: OutboxRelay

    /// A transaction of the module's own database, for changes not caused by an event
    /// (e.g. a timer). Published events reach the bus after the commit.
    @discardableResult
    public func transaction<T: Sendable>(_ body: @escaping @Sendable (ModuleTransaction) throws -> T) async throws -> T {
        let (name, decoder) = (self.name, self.decoder)
        let (result, published) = try await store.pool.write { db in
            let transaction = ModuleTransaction(db: db, module: name, decoder: decoder, cause: nil)
            let result = try body(transaction)
            return (result, transaction.published)
        }
        if published > 0 { try await relay.flush() }
        return result
    }
}
