import Bus
import Foundation
import Storage

/// A rule about a module's own state that holds after every event it handles ("a place stays
/// free only while nobody waits"). Checked in the event's transaction, for what the event names
/// (its case, network, application or agreement), so it costs a few indexed reads: the host logs
/// a violation as an error with the module and offset, and the generated-sequence tests fail on it.
public struct Invariant: Sendable {
    public let name: String
    /// What is wrong, each a sentence naming ids (never personal data); empty when the rule holds.
    public let violations: @Sendable (_ check: InvariantCheck) throws -> [String]

    public init(_ name: String, _ violations: @escaping @Sendable (_ check: InvariantCheck) throws -> [String]) {
        self.name = name
        self.violations = violations
    }
}

/// What the invariants of one event read: the module's database, the ids the event names, and
/// the rows several invariants share, read once for all of them (after each event, so the reads
/// are on the path of every delivery).
public final class InvariantCheck {
    public let db: any SQLDatabase
    /// The event's top-level text fields (`caseId`, `networkId`, …), whatever its type.
    public let ids: [String: String]
    private var shared: [String: Any] = [:]

    init(db: any SQLDatabase, ids: [String: String]) {
        self.db = db
        self.ids = ids
    }

    /// What `read` returns, read the first time `key` is asked for and kept for this event's
    /// other invariants. An invariant that changes nothing may share; none of them writes.
    public func shared<T>(_ key: String, _ read: () throws -> T) rethrows -> T {
        if let value = shared[key] as? T { return value }
        let value = try read()
        shared[key] = value
        return value
    }
}

extension Module {
    /// Every violation of the module's invariants after `event`, as `name: what is wrong`.
    public func violations(after event: IncomingEvent, in db: any SQLDatabase) throws -> [String] {
        let invariants = self.invariants
        guard !invariants.isEmpty else { return [] }
        let check = InvariantCheck(db: db, ids: event.textFields)
        return try invariants.flatMap { invariant in try invariant.violations(check).map { "\(invariant.name): \($0)" } }
    }
}

