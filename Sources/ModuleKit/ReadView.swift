import Foundation
import Bus
import Storage

/// One kind of document a module offers to caseworkers (a trajectory, an agreement, a mandate,
/// a network), read from the module's own tables. The HTTP side serves it at
/// `GET /api/<module>/<view>/<id>`, checks who may see it and audits reads of personal data; the
/// module only says what the document is and whom it concerns.
public struct ReadView: Sendable {
    /// The path segment, plural: "trajectories".
    public let name: String
    /// The legal purpose a read serves, recorded in the audit log.
    public let purpose: Purpose
    /// Whether the document holds personal data (a person's case, even by reference): every read is audited.
    public let personalData: Bool
    /// The document with that id, or nil when there is none. Runs in a read transaction.
    public let read: @Sendable (_ id: String, _ db: any SQLDatabase) throws -> ReadDocument?

    public init(name: String, purpose: Purpose, personalData: Bool, read: @escaping @Sendable (_ id: String, _ db: any SQLDatabase) throws -> ReadDocument?) {
        self.name = name
        self.purpose = purpose
        self.personalData = personalData
        self.read = read
    }
}

/// A document and the organisations it concerns.
public struct ReadDocument: Sendable {
    /// Who may read it.
    public enum Audience: Sendable, Equatable {
        /// Caseworkers of an agency that holds one of these organisation ids (as they appear in events).
        case organisations(Set<String>)
        /// Every caseworker: the document is about organisations, not about a person.
        case everyCaseworker
    }

    public let audience: Audience
    public let body: any Encodable & Sendable

    public init(audience: Audience, body: any Encodable & Sendable) {
        self.audience = audience
        self.body = body
    }
}

/// A deadline a module keeps about a subject and that has not passed yet.
public struct Deadline: Sendable, Encodable, Equatable {
    public let timer: String
    /// The event the deadline publishes when it is reached.
    public let publishes: String
    /// Nil while the countdown is paused.
    public let dueAt: Date?
    public let status: String
}

extension ModuleHost {
    /// The module's document `id` of `view`, with the deadlines it keeps about that subject.
    public func read(_ view: ReadView, id: String) async throws -> (document: ReadDocument, deadlines: [Deadline])? {
        try await store.database.read { db in
            guard let document = try view.read(id, db) else { return nil }
            let deadlines = try SQLRow.fetchAll(db, sql: """
                SELECT id, due_at, status, publishes FROM wzt_timers
                WHERE status IN ('scheduled', 'paused') AND subject = ?
                ORDER BY due_at
                """, arguments: [id]).map { row in
                let status: String = try row["status"]
                let due: Double = try row["due_at"]
                return Deadline(timer: try row["id"], publishes: try row["publishes"], dueAt: status == "paused" ? nil : Date(timeIntervalSince1970: due), status: status)
            }
            return (document, deadlines)
        }
    }
}
