import Storage
import MandatingContracts
import PluginAPI

/// One application and, once granted, the mandate it became.
public struct MandateApplication: Codable, Sendable, Hashable, SQLRecord {
    public static let tableName = "mandate_application"

    public var id: String
    public var organisationId: String
    public var organisationName: String
    public var organisationKind: OrganisationKind
    public var region: String
    public var werkingsgebied: String
    public var ruleSet: String
    public var receivedOn: CalendarDate
    public var callId: String?
    public var status: MandateStatus
    public var statusOn: CalendarDate
    public var decisionDueOn: CalendarDate?
    public var expiresOn: CalendarDate?
    /// The decision whose term passed unanswered, if any.
    public var overdueDecision: DecisionOverdue.Decision?

    enum CodingKeys: String, CodingKey {
        case id, organisationId = "organisation_id", organisationName = "organisation_name", organisationKind = "organisation_kind"
        case region, werkingsgebied, ruleSet = "rule_set", receivedOn = "received_on", callId = "call_id", status
        case statusOn = "status_on", decisionDueOn = "decision_due_on", expiresOn = "expires_on", overdueDecision = "overdue_decision"
    }
}

struct MandateCall: Codable, Sendable, SQLRecord {
    static let tableName = "mandate_call"
    var id: String
    var region: String
    var werkingsgebied: String
    var opensOn: CalendarDate
    var closesOn: CalendarDate

    enum CodingKeys: String, CodingKey {
        case id, region, werkingsgebied, opensOn = "opens_on", closesOn = "closes_on"
    }
}

/// Reads of the mandating module's state, for its API and for tests.
public struct MandatingQueries: Sendable {
    let database: any SQLStore

    public init(database: any SQLStore) { self.database = database }

    public func application(_ id: String) async throws -> MandateApplication? {
        try await database.read { db in try MandateApplication.fetchOne(db, key: id) }
    }

    public func activeMandates(region: String, werkingsgebied: String? = nil) async throws -> [MandateApplication] {
        try await database.read { db in
            var sql = "SELECT * FROM mandate_application WHERE status = ? AND region = ?"
            var arguments: SQLArguments = [MandateStatus.active.rawValue, region]
            if let werkingsgebied {
                sql += " AND werkingsgebied = ?"
                arguments.values.append(.text(werkingsgebied))
            }
            return try MandateApplication.fetchAll(db, sql: sql + " ORDER BY id", arguments: arguments)
        }
    }

    /// The statuses an application went through, oldest first.
    public func history(_ id: String) async throws -> [MandateStatus] {
        try await database.read { db in
            try String.fetchAll(db, sql: "SELECT status FROM mandate_history WHERE application_id = ? ORDER BY rowid", arguments: [id])
                .compactMap(MandateStatus.init(rawValue:))
        }
    }
}
