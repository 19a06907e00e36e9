import BusCore
import PluginAPI

/// The status of a mandate application, as DOMAIN.md "Mandating" defines it.
public enum MandateStatus: String, Codable, Sendable, Hashable, CaseIterable {
    case applied, admissible, inadmissible, granted, refused, active, expired, withdrawn

    /// Statuses after which nothing changes any more.
    public var isFinal: Bool { [.inadmissible, .refused, .expired, .withdrawn].contains(self) }
}

/// A mandate application changed status. Other modules keep their view of mandates from these
/// events alone; only `active` mandates may take new referrals.
public struct MandateStatusChanged: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.mandating.mandate-status-changed"
    public static let dataVersion = 1
    public var applicationId: String
    public var organisationId: String
    public var region: String
    public var werkingsgebied: String
    public var status: MandateStatus
    public var on: CalendarDate
    /// The rule set the application is handled under.
    public var ruleSet: String
    /// Set while a decision is awaited: the last day for it.
    public var decisionDueOn: CalendarDate?
    /// Set for active mandates that run out.
    public var expiresOn: CalendarDate?
    public var reason: String?

    public init(applicationId: String, organisationId: String, region: String, werkingsgebied: String, status: MandateStatus,
                on: CalendarDate, ruleSet: String, decisionDueOn: CalendarDate? = nil, expiresOn: CalendarDate? = nil, reason: String? = nil) {
        self.applicationId = applicationId
        self.organisationId = organisationId
        self.region = region
        self.werkingsgebied = werkingsgebied
        self.status = status
        self.on = on
        self.ruleSet = ruleSet
        self.decisionDueOn = decisionDueOn
        self.expiresOn = expiresOn
        self.reason = reason
    }
}

/// A decision term passed without the decision (2014: 30 days for admissibility, 45 for the merits).
public struct DecisionOverdue: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.mandating.decision-overdue"
    public static let dataVersion = 1

    public enum Decision: String, Codable, Sendable, Hashable, CaseIterable { case admissibility, merits }

    public var applicationId: String
    public var decision: Decision
    public var dueOn: CalendarDate

    public init(applicationId: String, decision: Decision, dueOn: CalendarDate) {
        self.applicationId = applicationId
        self.decision = decision
        self.dueOn = dueOn
    }
}

/// An active mandate reached the end of its term (2022: 5 years). Published by the module's own
/// timer; the module then publishes the `expired` status.
public struct MandateTermEnded: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.mandating.mandate-term-ended"
    public static let dataVersion = 1
    public var applicationId: String
    public var endedOn: CalendarDate

    public init(applicationId: String, endedOn: CalendarDate) {
        self.applicationId = applicationId
        self.endedOn = endedOn
    }
}

/// An incoming event was not applied: the rules or the status of the application forbid it.
public struct MandatingRefused: EventContract, Hashable {
    /// The refusals this module makes.
    public enum Code: String, Codable, Sendable, Hashable, CaseIterable {
        case duplicateApplication = "duplicate-application"
        case duplicateCall = "duplicate-call"
        case icfTrainingRequired = "icf-training-required"
        case invalidCall = "invalid-call"
        case invalidDate = "invalid-date"
        case invalidTransition = "invalid-transition"
        case noOpenCall = "no-open-call"
        case noRules = "no-rules"
        case notEligible = "not-eligible"
        case tooFewFacilities = "too-few-facilities"
        case unknownApplication = "unknown-application"
        case unknownCall = "unknown-call"
    }

    public static let eventType: EventType = "be.wzt.mandating.refused"
    public static let dataVersion = 1

    public var refusedEventId: String
    public var refusedType: String
    public var applicationId: String?
    /// Why, as one of a fixed vocabulary (docs/modules.md lists them, checked against `Code`).
    public var code: Code
    public var reason: String

    public init(refusedEventId: String, refusedType: String, applicationId: String?, code: Code, reason: String) {
        self.refusedEventId = refusedEventId
        self.refusedType = refusedType
        self.applicationId = applicationId
        self.code = code
        self.reason = reason
    }
}

public enum MandatingContracts {
    /// Every event type of the mandating module.
    public static let all: [any EventContract.Type] = [
        ApplicationReceived.self, AdmissibilityDecided.self, MeritsDecided.self, MandateWithdrawn.self, CallOpened.self,
        MandateStatusChanged.self, DecisionOverdue.self, MandateTermEnded.self, MandatingRefused.self,
    ]
}

// The day each fact happened, which places it among deadlines.
extension MandateStatusChanged: DatedFact { public var factDate: CalendarDate { on } }
extension MandateTermEnded: DatedFact { public var factDate: CalendarDate { endedOn } }
