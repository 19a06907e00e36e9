import BusCore
import PluginAPI

/// A local partner of the Geïntegreerd Breed Onthaal (OCMW, CAW, a ziekenfonds' social service)
/// takes part for a municipality. Published by whoever keeps the local GBO directory.
public struct GBOPartnerRegistered: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.gbo.partner-registered"
    public static let dataVersion = 1
    public var municipality: String
    public var organisationId: String
    public var organisationName: String
    public var kind: OrganisationKind

    public init(municipality: String, organisationId: String, organisationName: String, kind: OrganisationKind) {
        self.municipality = municipality
        self.organisationId = organisationId
        self.organisationName = organisationName
        self.kind = kind
    }
}

/// One partner of the file leads the onthaaltraject.
public struct LeadPartnerAssigned: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.gbo.lead-partner-assigned"
    public static let dataVersion = 1
    public var fileId: String
    public var organisationId: String
    public var assignedOn: CalendarDate

    public init(fileId: String, organisationId: String, assignedOn: CalendarDate) {
        self.fileId = fileId
        self.organisationId = organisationId
        self.assignedOn = assignedOn
    }
}

/// What the rights exploration found for one right in one life domain.
public enum RightOutcome: String, Codable, Sendable, Hashable, CaseIterable {
    case alreadyReceived = "already-received"
    case applied
    case notEligible = "not-eligible"
    case referred
    case declined
}

public struct RightExplored: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.gbo.right-explored"
    public static let dataVersion = 1
    public var fileId: String
    /// One of the configured life domains.
    public var lifeDomain: String
    /// The right or benefit, e.g. "verhoogde tegemoetkoming".
    public var right: String
    public var outcome: RightOutcome
    public var exploredOn: CalendarDate

    public init(fileId: String, lifeDomain: String, right: String, outcome: RightOutcome, exploredOn: CalendarDate) {
        self.fileId = fileId
        self.lifeDomain = lifeDomain
        self.right = right
        self.outcome = outcome
        self.exploredOn = exploredOn
    }
}

/// The person's situation changed: the GBO worker asks VDAB for a new screening.
public struct HandbackRequested: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.gbo.handback-requested"
    public static let dataVersion = 1
    public var fileId: String
    public var reason: String
    public var requestedOn: CalendarDate

    public init(fileId: String, reason: String, requestedOn: CalendarDate) {
        self.fileId = fileId
        self.reason = reason
        self.requestedOn = requestedOn
    }
}

/// An onthaal file was opened for a person advised niet-toeleidbaar.
public struct OnthaalFileOpened: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.gbo.file-opened"
    public static let dataVersion = 1

    public struct Partner: Codable, Sendable, Hashable {
        public var organisationId: String
        public var kind: OrganisationKind
        public init(organisationId: String, kind: OrganisationKind) { self.organisationId = organisationId; self.kind = kind }
    }

    public var fileId: String
    public var caseId: String
    public var region: String
    public var municipality: String
    public var ruleSet: String
    public var openedOn: CalendarDate
    public var partners: [Partner]
    /// Partner kinds the rule set requires that the municipality has no registered partner for.
    public var missingPartnerKinds: [OrganisationKind]

    public init(fileId: String, caseId: String, region: String, municipality: String, ruleSet: String, openedOn: CalendarDate,
                partners: [Partner], missingPartnerKinds: [OrganisationKind]) {
        self.fileId = fileId
        self.caseId = caseId
        self.region = region
        self.municipality = municipality
        self.ruleSet = ruleSet
        self.openedOn = openedOn
        self.partners = partners
        self.missingPartnerKinds = missingPartnerKinds
    }
}

/// VDAB is asked for a new screening of the case; the onthaal file is closed. Intake consumes it.
public struct RescreeningRequested: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.gbo.rescreening-requested"
    public static let dataVersion = 1
    public var caseId: String
    public var fileId: String
    public var reason: String
    public var requestedOn: CalendarDate

    public init(caseId: String, fileId: String, reason: String, requestedOn: CalendarDate) {
        self.caseId = caseId
        self.fileId = fileId
        self.reason = reason
        self.requestedOn = requestedOn
    }
}

public struct GBORefused: EventContract, Hashable {
    /// The refusals this module makes.
    public enum Code: String, Codable, Sendable, Hashable, CaseIterable {
        case fileClosed = "file-closed"
        case noMunicipality = "no-municipality"
        case notAPartner = "not-a-partner"
        case notOffered = "not-offered"
        case unknownFile = "unknown-file"
        case unknownLifeDomain = "unknown-life-domain"
    }

    public static let eventType: EventType = "be.wzt.gbo.refused"
    public static let dataVersion = 1
    public var refusedEventId: String
    public var refusedType: String
    public var fileId: String?
    /// Why, as one of a fixed vocabulary (docs/modules.md lists them, checked against `Code`).
    public var code: Code
    public var reason: String

    public init(refusedEventId: String, refusedType: String, fileId: String?, code: Code, reason: String) {
        self.refusedEventId = refusedEventId
        self.refusedType = refusedType
        self.fileId = fileId
        self.code = code
        self.reason = reason
    }
}

public enum GBOOnboardingContracts {
    public static let all: [any EventContract.Type] = [
        GBOPartnerRegistered.self, LeadPartnerAssigned.self, RightExplored.self, HandbackRequested.self,
        OnthaalFileOpened.self, RescreeningRequested.self, GBORefused.self,
    ]
}

// The day each fact happened, which places it among deadlines.
extension LeadPartnerAssigned: DatedFact { public var factDate: CalendarDate { assignedOn } }
extension RightExplored: DatedFact { public var factDate: CalendarDate { exploredOn } }
extension HandbackRequested: DatedFact { public var factDate: CalendarDate { requestedOn } }
extension OnthaalFileOpened: DatedFact { public var factDate: CalendarDate { openedOn } }
extension RescreeningRequested: DatedFact { public var factDate: CalendarDate { requestedOn } }
