import Bus
import PluginAPI

/// Departement Zorg recognised a facility as begeleider (supervisor) of AMA.
public struct BegeleiderRecognised: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.ama.begeleider-recognised"
    public static let dataVersion = 1
    public var begeleiderId: String
    public var facilityType: String
    public var recognitionNumber: String
    public var liabilityInsurance: Bool
    public var staff: Int
    public var recognisedOn: CalendarDate

    public init(begeleiderId: String, facilityType: String, recognitionNumber: String, liabilityInsurance: Bool, staff: Int, recognisedOn: CalendarDate) {
        self.begeleiderId = begeleiderId
        self.facilityType = facilityType
        self.recognitionNumber = recognitionNumber
        self.liabilityInsurance = liabilityInsurance
        self.staff = staff
        self.recognisedOn = recognisedOn
    }
}

/// A recognised begeleider merged into another organisation: its recognition ends, and the merged
/// organisation needs a recognition of its own.
public struct BegeleiderMerged: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.ama.begeleider-merged"
    public static let dataVersion = 1
    public var begeleiderId: String
    public var mergedInto: String
    public var mergedOn: CalendarDate

    public init(begeleiderId: String, mergedInto: String, mergedOn: CalendarDate) {
        self.begeleiderId = begeleiderId
        self.mergedInto = mergedInto
        self.mergedOn = mergedOn
    }
}

/// How a participant has access to AMA (DOMAIN.md, "AMA in detail").
public struct AccessRouteClaim: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable, Hashable {
        case nietToeleidbaar = "niet-toeleidbaar"
        case leefloon
        case unfitForWork = "unfit-for-work"
        case disabilityBenefit = "disability-benefit"
        case socialEconomyAdvice = "social-economy-advice"
    }

    public var kind: Kind
    /// Leefloon: the OCMW's permission; unfit for work: the adviserend arts' permission.
    public var permissionOn: CalendarDate?
    /// Unfit for work: whether the permission is for this same activity.
    public var sameActivity: Bool?

    public init(kind: Kind, permissionOn: CalendarDate? = nil, sameActivity: Bool? = nil) {
        self.kind = kind
        self.permissionOn = permissionOn
        self.sameActivity = sameActivity
    }
}

/// A begeleider submits the three-party agreement (participant, begeleider, werkpost) with its annex.
public struct AgreementSubmitted: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.ama.agreement-submitted"
    public static let dataVersion = 1

    public struct Annex: Codable, Sendable, Hashable {
        /// A fixed schedule, or nil with `totalHours` when the schedule is flexible.
        public var schedule: String?
        public var totalHours: Int?
        public var hoursPerDay: Double
        public var tasks: [String]
        public var locations: [String]
        public var supervisorName: String
        public var startOn: CalendarDate

        public init(schedule: String?, totalHours: Int?, hoursPerDay: Double, tasks: [String], locations: [String], supervisorName: String, startOn: CalendarDate) {
            self.schedule = schedule
            self.totalHours = totalHours
            self.hoursPerDay = hoursPerDay
            self.tasks = tasks
            self.locations = locations
            self.supervisorName = supervisorName
            self.startOn = startOn
        }
    }

    public var agreementId: String
    public var participantId: String
    public var region: String
    public var birthDate: CalendarDate
    public var accessRoute: AccessRouteClaim
    /// Supports the participant receives at the same time (e.g. vaph-dagondersteuning).
    public var concurrentSupports: [ConcurrentSupport]
    public var begeleiderId: String
    public var werkpostId: String
    public var werkpostName: String
    public var annex: Annex

    public init(agreementId: String, participantId: String, region: String, birthDate: CalendarDate, accessRoute: AccessRouteClaim,
                concurrentSupports: [ConcurrentSupport], begeleiderId: String, werkpostId: String, werkpostName: String, annex: Annex) {
        self.agreementId = agreementId
        self.participantId = participantId
        self.region = region
        self.birthDate = birthDate
        self.accessRoute = accessRoute
        self.concurrentSupports = concurrentSupports
        self.begeleiderId = begeleiderId
        self.werkpostId = werkpostId
        self.werkpostName = werkpostName
        self.annex = annex
    }
}

public enum AgreementParty: String, Codable, Sendable, Hashable, CaseIterable {
    case participant, begeleider, werkpost
}

/// One party confirms the agreement (version 1) or an amendment of its annex (version 2 and later).
public struct AnnexConfirmed: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.ama.annex-confirmed"
    public static let dataVersion = 1
    public var agreementId: String
    public var annexVersion: Int
    public var party: AgreementParty
    public var confirmedBy: String
    public var confirmedOn: CalendarDate

    public init(agreementId: String, annexVersion: Int, party: AgreementParty, confirmedBy: String, confirmedOn: CalendarDate) {
        self.agreementId = agreementId
        self.annexVersion = annexVersion
        self.party = party
        self.confirmedBy = confirmedBy
        self.confirmedOn = confirmedOn
    }
}

/// A change of the annex: a new version the parties confirm, without signing the agreement again.
public struct AnnexAmended: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.ama.annex-amended"
    public static let dataVersion = 1
    public var agreementId: String
    public var annex: AgreementSubmitted.Annex
    public var amendedOn: CalendarDate

    public init(agreementId: String, annex: AgreementSubmitted.Annex, amendedOn: CalendarDate) {
        self.agreementId = agreementId
        self.annex = annex
        self.amendedOn = amendedOn
    }
}

/// The agreement's state changed: awaiting confirmations, active, or an amendment took effect.
public struct AgreementStatusChanged: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.ama.agreement-status-changed"
    public static let dataVersion = 1

    public enum Status: String, Codable, Sendable, Hashable { case awaitingConfirmation = "awaiting-confirmation", active, suspended }

    public var agreementId: String
    public var status: Status
    /// The annex version in force (active) or awaiting confirmation.
    public var annexVersion: Int
    /// The parties whose confirmation is still missing.
    public var awaiting: [AgreementParty]
    public var on: CalendarDate
    public var ruleSet: String

    public init(agreementId: String, status: Status, annexVersion: Int, awaiting: [AgreementParty], on: CalendarDate, ruleSet: String) {
        self.agreementId = agreementId
        self.status = status
        self.annexVersion = annexVersion
        self.awaiting = awaiting
        self.on = on
        self.ruleSet = ruleSet
    }
}

public struct AMARefused: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.ama.refused"
    public static let dataVersion = 1
    public var refusedEventId: String
    public var refusedType: String
    public var agreementId: String?
    /// Stable: age, access-route, permission-too-old, not-same-activity, concurrent-support, minimum-hours,
    /// annex-incomplete, begeleider-not-recognised, werkpost-taken, unknown-agreement, invalid-confirmation, no-rules,
    /// recognition-incomplete.
    public var code: String
    /// Names the rule, with its DOMAIN.md source.
    public var reason: String

    public init(refusedEventId: String, refusedType: String, agreementId: String?, code: String, reason: String) {
        self.refusedEventId = refusedEventId
        self.refusedType = refusedType
        self.agreementId = agreementId
        self.code = code
        self.reason = reason
    }
}

public enum AMAContracts {
    public static let all: [any EventContract.Type] = [
        BegeleiderRecognised.self, BegeleiderMerged.self, AgreementSubmitted.self, AnnexConfirmed.self, AnnexAmended.self,
        AgreementStatusChanged.self, AMARefused.self, PermissionRenewed.self, PermissionDeadline.self,
    ]
}

/// The participant's permission was renewed for another year (DOMAIN.md, "AMA in detail":
/// permissions are renewed yearly).
public struct PermissionRenewed: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.ama.permission-renewed"
    public static let dataVersion = 1
    public var agreementId: String
    public var renewedOn: CalendarDate

    public init(agreementId: String, renewedOn: CalendarDate) {
        self.agreementId = agreementId
        self.renewedOn = renewedOn
    }
}

/// The yearly permission runs out soon (a month before), or ran out (`expired`): the agreement is
/// then suspended until a renewal. Published by the module's own deadlines.
public struct PermissionDeadline: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.ama.permission-deadline"
    public static let dataVersion = 1

    public enum Stage: String, Codable, Sendable, Hashable, CaseIterable { case renewalDue = "renewal-due", expired }

    public var agreementId: String
    public var stage: Stage
    /// The last day of the current permission.
    public var validUntil: CalendarDate

    public init(agreementId: String, stage: Stage, validUntil: CalendarDate) {
        self.agreementId = agreementId
        self.stage = stage
        self.validUntil = validUntil
    }
}
