import BusCore
import PluginAPI

/// Where a case stands in the VDAB flow.
public enum CaseStatus: String, Codable, Sendable, Hashable, CaseIterable {
    case requested, advised, serviceRequested = "service-requested", intake, referredToZorg = "referred-to-zorg"
    case started, planDrawnUp = "plan-drawn-up", planApproved = "plan-approved", referredToNetwork = "referred-to-network"
    case inNetwork = "in-network", onHold = "on-hold", ended
    /// GBO onboarding handed the person back to VDAB for a new screening.
    case rescreeningRequested = "rescreening-requested"
}

/// A case changed status. Carries the case id, never the INSZ.
public struct CaseStatusChanged: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.intake.case-status-changed"
    public static let dataVersion = 1
    public var caseId: String
    public var status: CaseStatus
    public var on: CalendarDate
    /// Once the trajectory started: the rule set it runs on, to its end.
    public var ruleSet: String?
    /// Once the trajectory started: the day its maximum duration is reached.
    public var limitOn: CalendarDate?
    public var advice: AdviceCode?
    public var eindadvies: Eindadvies?

    public init(caseId: String, status: CaseStatus, on: CalendarDate, ruleSet: String? = nil, limitOn: CalendarDate? = nil,
                advice: AdviceCode? = nil, eindadvies: Eindadvies? = nil) {
        self.caseId = caseId
        self.status = status
        self.on = on
        self.ruleSet = ruleSet
        self.limitOn = limitOn
        self.advice = advice
        self.eindadvies = eindadvies
    }
}

/// Advice niet-toeleidbaar (`welzijn`): GBO onboarding takes the person over.
public struct NietToeleidbaarAdvised: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.intake.niet-toeleidbaar-advised"
    public static let dataVersion = 1
    public var caseId: String
    public var region: String
    public var municipality: String?
    public var advisedOn: CalendarDate

    public init(caseId: String, region: String, municipality: String?, advisedOn: CalendarDate) {
        self.caseId = caseId
        self.region = region
        self.municipality = municipality
        self.advisedOn = advisedOn
    }
}

/// The trajectory reached its maximum duration (18 months, or what its rule set says) and is
/// flagged; the casemanagers must be told.
public struct TrajectoryLimitReached: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.intake.trajectory-limit-reached"
    public static let dataVersion = 1
    public var caseId: String
    public var limitOn: CalendarDate
    public var casemanagerWerkId: String?
    public var casemanagerZorgId: String?

    public init(caseId: String, limitOn: CalendarDate, casemanagerWerkId: String?, casemanagerZorgId: String?) {
        self.caseId = caseId
        self.limitOn = limitOn
        self.casemanagerWerkId = casemanagerWerkId
        self.casemanagerZorgId = casemanagerZorgId
    }
}

/// An incoming step was not applied, with a stable code and a reason that says what is wrong.
public struct IntakeRefused: EventContract, Hashable {
    /// The refusals this module makes.
    public enum Code: String, Codable, Sendable, Hashable, CaseIterable {
        case duplicateCase = "duplicate-case"
        case extensionNotAllowed = "extension-not-allowed"
        case internshipNotAllowed = "internship-not-allowed"
        case invalidDate = "invalid-date"
        case invalidTransition = "invalid-transition"
        case nietToeleidbaar = "niet-toeleidbaar"
        case noActiveMandate = "no-active-mandate"
        case noRules = "no-rules"
        case sameOrganisation = "same-organisation"
        case samePerson = "same-person"
        case tooShort = "too-short"
        case unknownCase = "unknown-case"
        case wrongApprover = "wrong-approver"
    }

    public static let eventType: EventType = "be.wzt.intake.refused"
    public static let dataVersion = 1
    public var refusedEventId: String
    public var refusedType: String
    public var caseId: String?
    /// Why, as one of a fixed vocabulary (docs/modules.md lists them, checked against `Code`).
    public var code: Code
    public var reason: String

    public init(refusedEventId: String, refusedType: String, caseId: String?, code: Code, reason: String) {
        self.refusedEventId = refusedEventId
        self.refusedType = refusedType
        self.caseId = caseId
        self.code = code
        self.reason = reason
    }
}

public enum IntakeContracts {
    /// Every event type of the intake module.
    public static let all: [any EventContract.Type] = [
        ScreeningRequested.self, ScreeningAdvised.self, ServiceRequested.self, IntakeHeld.self, ReferredToCasemanagerZorg.self,
        FirstMeetingHeld.self, PlanDrawnUp.self, PlanApproved.self, ReferredToNetwork.self, FollowUpNoted.self, RightsTalkHeld.self,
        TrajectoryEnded.self, TrajectoryExtended.self, TrajectoryHoldChanged.self,
        CaseStatusChanged.self, NietToeleidbaarAdvised.self, TrajectoryLimitReached.self, IntakeRefused.self,
    ]
}

// The day each fact happened, which places it among deadlines.
extension CaseStatusChanged: DatedFact { public var factDate: CalendarDate { on } }
extension NietToeleidbaarAdvised: DatedFact { public var factDate: CalendarDate { advisedOn } }
extension TrajectoryLimitReached: DatedFact { public var factDate: CalendarDate { limitOn } }
