import Storage
import IntakeContracts
import PluginAPI

/// A case in the intake module: the person (by INSZ, kept only here) and where the flow stands.
public struct IntakeCase: Codable, Sendable, Hashable, SQLRecord {
    public static let tableName = "intake_case"
    /// What `insz` holds once the person's data was erased.
    static let erased = "erased"

    public var id: String
    /// The digits, or `erased` once the case was erased (the column predates erasure and is NOT NULL).
    var insz: String
    public var region: String
    public var office: String
    public var requestedOn: CalendarDate
    public var status: CaseStatus
    public var statusBeforeHold: CaseStatus?
    /// The day the current hold began; nil while the trajectory runs.
    public var onHoldSince: CalendarDate?
    public var advice: AdviceCode?
    public var municipality: String?
    public var casemanagerWerkId: String?
    public var casemanagerWerkOrganisation: String?
    public var casemanagerZorgId: String?
    public var casemanagerZorgOrganisation: String?
    public var mandateId: String?
    public var startedOn: CalendarDate?
    public var ruleSet: String?
    public var limitOn: CalendarDate?
    public var extensions: Int
    public var networkId: String?
    public var limitReached: Bool
    public var endedOn: CalendarDate?
    public var eindadvies: Eindadvies?

    enum CodingKeys: String, CodingKey {
        case id, insz, region, office, requestedOn = "requested_on", status, statusBeforeHold = "status_before_hold", onHoldSince = "on_hold_since", advice, municipality
        case casemanagerWerkId = "casemanager_werk_id", casemanagerWerkOrganisation = "casemanager_werk_organisation"
        case casemanagerZorgId = "casemanager_zorg_id", casemanagerZorgOrganisation = "casemanager_zorg_organisation"
        case mandateId = "mandate_id", startedOn = "started_on", ruleSet = "rule_set", limitOn = "limit_on", extensions
        case networkId = "network_id", limitReached = "limit_reached", endedOn = "ended_on", eindadvies
    }
}

/// Reads of the intake module's state.
public struct IntakeQueries: Sendable {
    let database: any SQLStore
    public init(database: any SQLStore) { self.database = database }

    public func intakeCase(_ id: String) async throws -> IntakeCase? {
        try await database.read { db in try IntakeCase.fetchOne(db, key: id) }
    }

    /// The steps of a case in order: (step, date).
    public func timeline(_ id: String) async throws -> [(step: String, on: String)] {
        try await database.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT step, step_on FROM intake_step WHERE case_id = ? ORDER BY rowid", arguments: [id]).map { (try $0["step"], try $0["step_on"]) }
        }
    }
}
