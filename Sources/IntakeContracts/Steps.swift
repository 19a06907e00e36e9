import BusCore
import PluginAPI

/// Screening advice codes (DOMAIN.md, "Intake and the activation flow").
public enum AdviceCode: String, Codable, Sendable, Hashable, CaseIterable {
    /// Normal economic circuit.
    case nec = "NEC"
    case beschermd
    case arbeidszorg
    case amaSocialeEconomie = "AMA-sociale-economie"
    /// Niet-toeleidbaar: not referable to work; handed to the Geïntegreerd Breed Onthaal.
    case welzijn
}

/// Step 2: the screening advice. A later screening replaces it: niet-toeleidbaar is not final.
public struct ScreeningAdvised: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.intake.screening-advised"
    public static let dataVersion = 1
    public var caseId: String
    public var advice: AdviceCode
    public var advisedOn: CalendarDate
    /// The person's municipality, which GBO onboarding needs to find its partners.
    public var municipality: String?

    public init(caseId: String, advice: AdviceCode, advisedOn: CalendarDate, municipality: String? = nil) {
        self.caseId = caseId
        self.advice = advice
        self.advisedOn = advisedOn
        self.municipality = municipality
    }
}

/// Step 3.
public struct ServiceRequested: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.intake.service-requested"
    public static let dataVersion = 1
    public var caseId: String
    public var requestedOn: CalendarDate
    public init(caseId: String, requestedOn: CalendarDate) { self.caseId = caseId; self.requestedOn = requestedOn }
}

/// Step 4: intake by the casemanager Werk.
public struct IntakeHeld: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.intake.intake-held"
    public static let dataVersion = 1
    public var caseId: String
    public var casemanagerWerkId: String
    public var casemanagerWerkOrganisationId: String
    public var heldOn: CalendarDate

    public init(caseId: String, casemanagerWerkId: String, casemanagerWerkOrganisationId: String, heldOn: CalendarDate) {
        self.caseId = caseId
        self.casemanagerWerkId = casemanagerWerkId
        self.casemanagerWerkOrganisationId = casemanagerWerkOrganisationId
        self.heldOn = heldOn
    }
}

/// Step 5: referral to a casemanager Zorg, who must hold an active mandate.
public struct ReferredToCasemanagerZorg: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.intake.referred-to-casemanager-zorg"
    public static let dataVersion = 1
    public var caseId: String
    /// The mandate (application id in the mandating module) the casemanager Zorg works under.
    public var mandateId: String
    public var casemanagerZorgId: String
    public var referredOn: CalendarDate

    public init(caseId: String, mandateId: String, casemanagerZorgId: String, referredOn: CalendarDate) {
        self.caseId = caseId
        self.mandateId = mandateId
        self.casemanagerZorgId = casemanagerZorgId
        self.referredOn = referredOn
    }
}

/// Step 6: the first joint meeting with the client; the activation trajectory starts.
public struct FirstMeetingHeld: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.intake.first-meeting-held"
    public static let dataVersion = 1
    public var caseId: String
    public var heldOn: CalendarDate
    public init(caseId: String, heldOn: CalendarDate) { self.caseId = caseId; self.heldOn = heldOn }
}

/// Step 7.
public struct PlanDrawnUp: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.intake.plan-drawn-up"
    public static let dataVersion = 1
    public var caseId: String
    public var drawnUpOn: CalendarDate
    /// Whether the plan includes an internship (stage).
    public var includesInternship: Bool

    public init(caseId: String, drawnUpOn: CalendarDate, includesInternship: Bool = false) {
        self.caseId = caseId
        self.drawnUpOn = drawnUpOn
        self.includesInternship = includesInternship
    }
}

/// Step 8: approval by the penhouder (2014) or the network coordinator (2022).
public struct PlanApproved: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.intake.plan-approved"
    public static let dataVersion = 1
    public var caseId: String
    public var approvedOn: CalendarDate
    public var approverRole: PlanApprover
    public var approverId: String

    public init(caseId: String, approvedOn: CalendarDate, approverRole: PlanApprover, approverId: String) {
        self.caseId = caseId
        self.approvedOn = approvedOn
        self.approverRole = approverRole
        self.approverId = approverId
    }
}

/// Step 9: the trajectory goes to a network; the networks module answers with a referral outcome.
public struct ReferredToNetwork: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.intake.referred-to-network"
    public static let dataVersion = 1
    public var caseId: String
    public var networkId: String
    public var referredOn: CalendarDate
    public init(caseId: String, networkId: String, referredOn: CalendarDate) { self.caseId = caseId; self.networkId = networkId; self.referredOn = referredOn }
}

/// Step 10: a follow-up contact. Carries a reference to the note, never its content.
public struct FollowUpNoted: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.intake.follow-up-noted"
    public static let dataVersion = 1
    public var caseId: String
    public var notedOn: CalendarDate
    public var noteReference: String
    public init(caseId: String, notedOn: CalendarDate, noteReference: String) { self.caseId = caseId; self.notedOn = notedOn; self.noteReference = noteReference }
}

/// Step 11.
public struct RightsTalkHeld: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.intake.rights-talk-held"
    public static let dataVersion = 1
    public var caseId: String
    public var heldOn: CalendarDate
    public init(caseId: String, heldOn: CalendarDate) { self.caseId = caseId; self.heldOn = heldOn }
}

/// The final advice at the end of a trajectory.
public enum Eindadvies: String, Codable, Sendable, Hashable, CaseIterable {
    case normalEconomy = "normal-economy"
    case socialEconomy = "social-economy"
    case ama
    case nietToeleidbaar = "niet-toeleidbaar"
}

/// Step 12: the trajectory ends. `completed` is false when it stops early (the client leaves).
public struct TrajectoryEnded: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.intake.trajectory-ended"
    public static let dataVersion = 1
    public var caseId: String
    public var endedOn: CalendarDate
    public var completed: Bool
    public var eindadvies: Eindadvies?

    public init(caseId: String, endedOn: CalendarDate, completed: Bool, eindadvies: Eindadvies?) {
        self.caseId = caseId
        self.endedOn = endedOn
        self.completed = completed
        self.eindadvies = eindadvies
    }
}

/// Step 12 alternative: a motivated extension, as far as the rule set allows.
public struct TrajectoryExtended: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.intake.trajectory-extended"
    public static let dataVersion = 1
    public var caseId: String
    public var months: Int
    public var motivation: String?
    public var extendedOn: CalendarDate

    public init(caseId: String, months: Int, motivation: String?, extendedOn: CalendarDate) {
        self.caseId = caseId
        self.months = months
        self.motivation = motivation
        self.extendedOn = extendedOn
    }
}

/// The trajectory is put on hold (its limit stops counting) or resumed.
public struct TrajectoryHoldChanged: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.intake.trajectory-hold-changed"
    public static let dataVersion = 1
    public var caseId: String
    public var onHold: Bool
    public var on: CalendarDate
    public init(caseId: String, onHold: Bool, on: CalendarDate) { self.caseId = caseId; self.onHold = onHold; self.on = on }
}

// The day each fact happened, which places it among deadlines.
extension ScreeningAdvised: DatedFact { public var factDate: CalendarDate { advisedOn } }
extension ServiceRequested: DatedFact { public var factDate: CalendarDate { requestedOn } }
extension IntakeHeld: DatedFact { public var factDate: CalendarDate { heldOn } }
extension ReferredToCasemanagerZorg: DatedFact { public var factDate: CalendarDate { referredOn } }
extension FirstMeetingHeld: DatedFact { public var factDate: CalendarDate { heldOn } }
extension PlanDrawnUp: DatedFact { public var factDate: CalendarDate { drawnUpOn } }
extension PlanApproved: DatedFact { public var factDate: CalendarDate { approvedOn } }
extension ReferredToNetwork: DatedFact { public var factDate: CalendarDate { referredOn } }
extension FollowUpNoted: DatedFact { public var factDate: CalendarDate { notedOn } }
extension RightsTalkHeld: DatedFact { public var factDate: CalendarDate { heldOn } }
extension TrajectoryEnded: DatedFact { public var factDate: CalendarDate { endedOn } }
extension TrajectoryExtended: DatedFact { public var factDate: CalendarDate { extendedOn } }
extension TrajectoryHoldChanged: DatedFact { public var factDate: CalendarDate { on } }
