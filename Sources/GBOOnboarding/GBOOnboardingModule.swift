import Bus
import GBOOnboardingContracts
import Storage
import IntakeContracts
import ModuleKit
import PluginAPI

/// Onthaaltrajecten for people advised niet-toeleidbaar (DOMAIN.md, "Three offers" 3): a file at
/// the GBO partners of the person's municipality, one lead partner, a rights exploration across
/// life domains, and a hand-back to VDAB for a new screening when the situation changes.
public final class GBOOnboardingModule: Module {
    /// Life domains of the rights exploration when none are configured.
    public static let defaultLifeDomains = [
        "income", "housing", "health", "mobility", "education", "work", "family", "social-network", "leisure",
        "justice", "debts", "administration", "care", "wellbeing", "digital-access",
    ]

    public let name = "gbo-onboarding"
    public let contracts: [any EventContract.Type] = GBOOnboardingContracts.all
    /// Every field of each contract, for the module's one purpose; of intake's status changes only
    /// what says whether the person is still advised niet-toeleidbaar.
    public let needs: [Need] = ([
        NietToeleidbaarAdvised.eventType, GBOPartnerRegistered.eventType, LeadPartnerAssigned.eventType,
        RightExplored.eventType, HandbackRequested.eventType,
    ] as [EventType]).map { Need(EventPattern(exactly: $0), for: .gboOnboarding) }
        + [Need(CaseStatusChanged.self, for: .gboOnboarding, fields: ["caseId", "status", "on", "advice"])]
    public let lifeDomains: [String]

    public init(lifeDomains: [String] = GBOOnboardingModule.defaultLifeDomains) { self.lifeDomains = lifeDomains }

    /// The onthaal files of a case (or the file itself), with their partners and explored rights.
    public func records(about subject: String, _ db: any SQLDatabase) throws -> [String: [SQLRow]] {
        let files = "SELECT id FROM onthaal_file WHERE case_id = ? OR id = ?"
        return [
            "onthaal_file": try SQLRow.fetchAll(db, sql: "SELECT * FROM onthaal_file WHERE case_id = ? OR id = ? ORDER BY opened_on", arguments: [subject, subject]),
            "onthaal_file_partner": try SQLRow.fetchAll(db, sql: "SELECT * FROM onthaal_file_partner WHERE file_id IN (\(files))", arguments: [subject, subject]),
            "right_exploration": try SQLRow.fetchAll(db, sql: "SELECT * FROM right_exploration WHERE file_id IN (\(files)) ORDER BY explored_on", arguments: [subject, subject]),
        ].filter { !$0.value.isEmpty }
    }

    /// For the case an event names.
    public let invariants: [Invariant] = [
        Invariant("at most one open onthaal file per case") { check in
            guard let caseId = check.ids["caseId"] else { return [] }
            let open = try Int.fetchOne(check.db, sql: "SELECT COUNT(*) FROM onthaal_file WHERE case_id = ? AND closed_on IS NULL", arguments: [caseId]) ?? 0
            return open > 1 ? ["case \(caseId) has \(open) open onthaal files"] : []
        },
    ]

    public func registerMigrations(_ migrator: inout SQLMigrations) {
        migrator.registerMigration("gbo-onboarding v1") { db in
            try db.execute(sql: """
                CREATE TABLE gbo_partner (
                    municipality TEXT NOT NULL,
                    organisation_id TEXT NOT NULL,
                    name TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    PRIMARY KEY (municipality, organisation_id)
                );
                CREATE TABLE onthaal_file (
                    id TEXT PRIMARY KEY,
                    case_id TEXT NOT NULL,
                    region TEXT NOT NULL,
                    municipality TEXT NOT NULL,
                    rule_set TEXT NOT NULL,
                    opened_on TEXT NOT NULL,
                    lead_partner TEXT,
                    closed_on TEXT
                );
                CREATE TABLE onthaal_file_partner (
                    file_id TEXT NOT NULL REFERENCES onthaal_file(id),
                    organisation_id TEXT NOT NULL,
                    kind TEXT NOT NULL
                );
                CREATE TABLE right_exploration (
                    file_id TEXT NOT NULL REFERENCES onthaal_file(id),
                    life_domain TEXT NOT NULL,
                    right_name TEXT NOT NULL,
                    outcome TEXT NOT NULL,
                    explored_on TEXT NOT NULL,
                    PRIMARY KEY (file_id, life_domain, right_name)
                );
                """)
        }
    }

    public func handle(_ event: IncomingEvent, _ transaction: ModuleTransaction) throws {
        let onboarding = Onboarding(transaction: transaction, lifeDomains: lifeDomains)
        let refused = try transaction.refusable(GBORefusal.self) {
            switch event.type {
            case NietToeleidbaarAdvised.eventType.rawValue: try onboarding.open(event.data(as: NietToeleidbaarAdvised.self))
            case GBOPartnerRegistered.eventType.rawValue: try onboarding.register(event.data(as: GBOPartnerRegistered.self))
            case LeadPartnerAssigned.eventType.rawValue: try onboarding.assignLead(event.data(as: LeadPartnerAssigned.self))
            case RightExplored.eventType.rawValue: try onboarding.explore(event.data(as: RightExplored.self))
            case HandbackRequested.eventType.rawValue: try onboarding.handBack(event.data(as: HandbackRequested.self))
            case CaseStatusChanged.eventType.rawValue: try onboarding.followAdvice(event.data(as: CaseStatusChanged.self))
            default: return
            }
        }
        if let refusal = refused {
            try transaction.publish(GBORefused(refusedEventId: event.id, refusedType: event.type, fileId: refusal.fileId,
                                               code: refusal.code, reason: refusal.reason), subject: refusal.fileId ?? event.subject)
        }
    }
}

struct GBORefusal: Error {
    let fileId: String?
    let code: GBORefused.Code
    let reason: String
}

/// An onthaal file as the module keeps it.
public struct OnthaalFile: Sendable, Hashable {
    public let id: String
    public let caseId: String
    public let leadPartner: String?
    public let closed: Bool
    /// Life domains with at least one explored right, and how many rights were explored.
    public let exploredDomains: [String]
    public let exploredRights: Int
}

public struct GBOQueries: Sendable {
    let database: any SQLStore
    public init(database: any SQLStore) { self.database = database }

    public func file(_ id: String) async throws -> OnthaalFile? {
        try await database.read { db in
            guard let row = try SQLRow.fetchOne(db, sql: "SELECT * FROM onthaal_file WHERE id = ?", arguments: [id]) else { return nil }
            let domains = try String.fetchAll(db, sql: "SELECT DISTINCT life_domain FROM right_exploration WHERE file_id = ? ORDER BY life_domain", arguments: [id])
            let rights = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM right_exploration WHERE file_id = ?", arguments: [id]) ?? 0
            return OnthaalFile(id: id, caseId: try row["case_id"], leadPartner: try row["lead_partner"], closed: (try row["closed_on"] as String?) != nil,
                               exploredDomains: domains, exploredRights: rights)
        }
    }
}

private struct Onboarding {
    let transaction: ModuleTransaction
    let lifeDomains: [String]
    var db: any SQLDatabase { transaction.db }

    func register(_ partner: GBOPartnerRegistered) throws {
        try db.execute(sql: """
            INSERT INTO gbo_partner (municipality, organisation_id, name, kind) VALUES (?, ?, ?, ?)
            ON CONFLICT(municipality, organisation_id) DO UPDATE SET name = excluded.name, kind = excluded.kind
            """, arguments: [partner.municipality, partner.organisationId, partner.organisationName, partner.kind.rawValue])
    }

    /// One open file per case: a second welzijn advice while a file is open, or the same advice
    /// sent again, changes nothing.
    func open(_ advice: NietToeleidbaarAdvised) throws {
        let fileId = Identifier.joining(["onthaal", advice.caseId, advice.advisedOn.description], separator: "-")
        let known = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM onthaal_file WHERE id = ? OR (case_id = ? AND closed_on IS NULL))",
                                      arguments: [fileId, advice.caseId]) ?? false
        if known { return }
        guard let municipality = advice.municipality else {
            throw GBORefusal(fileId: nil, code: .noMunicipality, reason: "case \(advice.caseId) has no municipality; GBO partners are local, so the screening advice must name it")
        }
        let rules: any RegionalRules
        do {
            rules = try transaction.rules.rules(region: advice.region, offer: .gboOnboarding, caseStartedOn: advice.advisedOn)
        } catch {
            throw GBORefusal(fileId: nil, code: .notOffered, reason: error.description)
        }
        guard let gbo = rules.gbo else {
            throw GBORefusal(fileId: nil, code: .notOffered, reason: "\(rules.id) has no GBO onboarding")
        }
        let registered = try SQLRow.fetchAll(db, sql: "SELECT organisation_id, kind FROM gbo_partner WHERE municipality = ? ORDER BY organisation_id", arguments: [municipality])
        let partners = try registered.compactMap { row -> OnthaalFileOpened.Partner? in
            guard let kind = OrganisationKind(rawValue: try row["kind"]), gbo.partners.contains(kind) else { return nil }
            return OnthaalFileOpened.Partner(organisationId: try row["organisation_id"], kind: kind)
        }
        let missing = gbo.partners.subtracting(partners.map(\.kind)).sorted { $0.rawValue < $1.rawValue }
        try db.execute(sql: "INSERT INTO onthaal_file (id, case_id, region, municipality, rule_set, opened_on) VALUES (?, ?, ?, ?, ?, ?)",
                       arguments: [fileId, advice.caseId, advice.region, municipality, rules.id, advice.advisedOn.description])
        for partner in partners {
            try db.execute(sql: "INSERT INTO onthaal_file_partner (file_id, organisation_id, kind) VALUES (?, ?, ?)",
                           arguments: [fileId, partner.organisationId, partner.kind.rawValue])
        }
        try transaction.publish(OnthaalFileOpened(fileId: fileId, caseId: advice.caseId, region: advice.region, municipality: municipality,
                                                  ruleSet: rules.id, openedOn: advice.advisedOn, partners: partners, missingPartnerKinds: missing),
                                subject: fileId)
    }

    func assignLead(_ lead: LeadPartnerAssigned) throws {
        try openFile(lead.fileId)
        let isPartner = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM onthaal_file_partner WHERE file_id = ? AND organisation_id = ?)",
                                          arguments: [lead.fileId, lead.organisationId]) ?? false
        guard isPartner else {
            throw GBORefusal(fileId: lead.fileId, code: .notAPartner, reason: "\(lead.organisationId) is not a GBO partner of file \(lead.fileId); the lead partner is one of the file's partners")
        }
        try db.execute(sql: "UPDATE onthaal_file SET lead_partner = ? WHERE id = ?", arguments: [lead.organisationId, lead.fileId])
    }

    func explore(_ exploration: RightExplored) throws {
        try openFile(exploration.fileId)
        guard lifeDomains.contains(exploration.lifeDomain) else {
            throw GBORefusal(fileId: exploration.fileId, code: .unknownLifeDomain, reason: "\(exploration.lifeDomain) is not a configured life domain; known: \(lifeDomains.joined(separator: ", "))")
        }
        try db.execute(sql: """
            INSERT INTO right_exploration (file_id, life_domain, right_name, outcome, explored_on) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT(file_id, life_domain, right_name) DO UPDATE SET outcome = excluded.outcome, explored_on = excluded.explored_on
            """, arguments: [exploration.fileId, exploration.lifeDomain, exploration.right, exploration.outcome.rawValue, exploration.exploredOn.description])
    }

    func handBack(_ handback: HandbackRequested) throws {
        let caseId = try openFile(handback.fileId)
        try db.execute(sql: "UPDATE onthaal_file SET closed_on = ? WHERE id = ?", arguments: [handback.requestedOn.description, handback.fileId])
        try transaction.publish(RescreeningRequested(caseId: caseId, fileId: handback.fileId, reason: handback.reason,
                                                     requestedOn: handback.requestedOn), subject: caseId)
    }

    /// A new screening advised something other than welzijn: the person is no longer
    /// niet-toeleidbaar, VDAB's trajectory takes over, and the open file closes on that date.
    func followAdvice(_ change: CaseStatusChanged) throws {
        guard change.status == .advised, let advice = change.advice, advice != .welzijn else { return }
        try db.execute(sql: "UPDATE onthaal_file SET closed_on = ? WHERE case_id = ? AND closed_on IS NULL",
                       arguments: [change.on.description, change.caseId])
    }

    /// The case id of an open file; refuses unknown and closed files.
    @discardableResult
    private func openFile(_ id: String) throws -> String {
        guard let row = try SQLRow.fetchOne(db, sql: "SELECT case_id, closed_on FROM onthaal_file WHERE id = ?", arguments: [id]) else {
            throw GBORefusal(fileId: id, code: .unknownFile, reason: "no onthaal file \(id)")
        }
        if let closed: String = try row["closed_on"] {
            throw GBORefusal(fileId: id, code: .fileClosed, reason: "onthaal file \(id) was closed on \(closed)")
        }
        return try row["case_id"]
    }
}
