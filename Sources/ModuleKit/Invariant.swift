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
    /// `ids` are the event's top-level text fields (`caseId`, `networkId`, …), whatever its type.
    public let violations: @Sendable (_ db: any SQLDatabase, _ ids: [String: String]) throws -> [String]

    public init(_ name: String, _ violations: @escaping @Sendable (_ db: any SQLDatabase, _ ids: [String: String]) throws -> [String]) {
        self.name = name
        self.violations = violations
    }
}

extension Module {
    /// Every violation of the module's invariants after `event`, as `name: what is wrong`.
    public func violations(after event: IncomingEvent, in db: any SQLDatabase) throws -> [String] {
        let invariants = self.invariants
        guard !invariants.isEmpty else { return [] }
        let ids = event.textFields
        return try invariants.flatMap { invariant in try invariant.violations(db, ids).map { "\(invariant.name): \($0)" } }
    }
}

extension IncomingEvent {
    /// The top-level text fields of the event's data, read without its contract: invariants scope
    /// their reads by the ids an event names, whatever its type.
    var textFields: [String: String] { (try? envelope.get().dataTextFields) ?? [:] }
}
