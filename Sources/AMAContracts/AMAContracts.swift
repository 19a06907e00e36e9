import BusCore
import IntakeContracts
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
    public enum Kind: String, Codable, Sendable, Hashable, CaseIterable {
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
    public static let personalFields: Set<String> = ["filing"]

    public struct Annex: Codable, Sendable, Hashable {
        /// A fixed schedule, or nil with `totalHours` when the schedule is flexible.
        public var schedule: String?
        public var totalHours: Int?
        public var hoursPerDay: Double
        /// Hours a week; AMA sociale economie asks at least 12. Added after the first release:
        /// absent in older events, which were never sociale economie.
        public var hoursPerWeek: Double?
        public var tasks: [String]
        public var locations: [String]
        public var supervisorName: String
        public var startOn: CalendarDate

        public init(schedule: String?, totalHours: Int?, hoursPerDay: Double, hoursPerWeek: Double? = nil, tasks: [String], locations: [String],
                    supervisorName: String, startOn: CalendarDate) {
            self.schedule = schedule
            self.totalHours = totalHours
            self.hoursPerDay = hoursPerDay
            self.hoursPerWeek = hoursPerWeek
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
    /// The electronic submission the regulation asks for. Optional in the contract only because
    /// events from before it was added lack it; the AMA module refuses a new submission without it.
    /// Sealed in the log with the agreement's key (it names the participant); `.erased` once erased.
    public var filing: Personal<ElectronicFiling>?

    public init(agreementId: String, participantId: String, region: String, birthDate: CalendarDate, accessRoute: AccessRouteClaim,
                concurrentSupports: [ConcurrentSupport], begeleiderId: String, werkpostId: String, werkpostName: String, annex: Annex,
                filing: ElectronicFiling?) {
        self.filing = filing.map(Personal.value)
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

    public enum Status: String, Codable, Sendable, Hashable, CaseIterable { case awaitingConfirmation = "awaiting-confirmation", active, suspended }

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
    /// The refusals this module makes.
    public enum Code: String, Codable, Sendable, Hashable, CaseIterable {
        case accessRoute = "access-route"
        case age
        case agreementEnded = "agreement-ended"
        case annexIncomplete = "annex-incomplete"
        case attachmentMissing = "attachment-missing"
        case attachmentTooLarge = "attachment-too-large"
        case attendance
        case begeleiderNotRecognised = "begeleider-not-recognised"
        case concurrentSupport = "concurrent-support"
        case contingent
        case duplicateAgreement = "duplicate-agreement"
        case filingIncomplete = "filing-incomplete"
        case filingMismatch = "filing-mismatch"
        case inszBirthDate = "insz-birth-date"
        case invalidConfirmation = "invalid-confirmation"
        case invalidDate = "invalid-date"
        case minimumHours = "minimum-hours"
        case minimumWeeklyHours = "minimum-weekly-hours"
        case noRules = "no-rules"
        case notSameActivity = "not-same-activity"
        case notSocialEconomy = "not-social-economy"
        case permissionAfterStart = "permission-after-start"
        case permissionTooOld = "permission-too-old"
        case quarterClosed = "quarter-closed"
        case recognitionIncomplete = "recognition-incomplete"
        case unknownAgreement = "unknown-agreement"
        case werkpostTaken = "werkpost-taken"
    }

    public static let eventType: EventType = "be.wzt.ama.refused"
    public static let dataVersion = 1
    public var refusedEventId: String
    public var refusedType: String
    public var agreementId: String?
    /// Why, as one of a fixed vocabulary (docs/modules.md lists them, checked against `Code`).
    public var code: Code
    /// Names the rule, with its DOMAIN.md source.
    public var reason: String

    public init(refusedEventId: String, refusedType: String, agreementId: String?, code: Code, reason: String) {
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
        AgreementStatusChanged.self, AMARefused.self, PermissionRenewed.self, PermissionDeadline.self, EndReported.self, AgreementEnded.self,
        ContingentSet.self, AttendanceReported.self, QuarterClosed.self, SubsidyReported.self, ReassessmentDue.self, Reassessed.self,
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

/// The electronic submission of an agreement (DOMAIN.md, AMA in detail: electronic submission).
/// Carries the participant's name and INSZ: only the AMA module keeps them.
public struct ElectronicFiling: Codable, Sendable, Hashable {
    public var facilityType: String
    public var recognitionNumber: String
    public var participantName: String
    public var insz: INSZ
    public var endOn: CalendarDate?
    /// The one scan (PDF or image), stored by the AMA module beforehand (`wzt ama attach`).
    public var attachment: AttachmentReference
    public var contactEmail: String
    /// The Dimona declaration the regulation requires.
    public var dimonaReference: String

    public init(facilityType: String, recognitionNumber: String, participantName: String, insz: INSZ, endOn: CalendarDate?,
                attachment: AttachmentReference, contactEmail: String, dimonaReference: String) {
        self.facilityType = facilityType
        self.recognitionNumber = recognitionNumber
        self.participantName = participantName
        self.insz = insz
        self.endOn = endOn
        self.attachment = attachment
        self.contactEmail = contactEmail
        self.dimonaReference = dimonaReference
    }
}

/// A stored attachment, named by its content: the SHA-256 of its bytes (lowercase hex).
public struct AttachmentReference: Codable, Sendable, Hashable {
    public var sha256: String
    /// What the content is (found from the bytes, not from a file name): application/pdf, image/png, image/jpeg, image/tiff.
    public var mediaType: String
    public var bytes: Int

    public init(sha256: String, mediaType: String, bytes: Int) {
        self.sha256 = sha256
        self.mediaType = mediaType
        self.bytes = bytes
    }
}

/// The begeleider reports electronically that an agreement ended (DOMAIN.md, AMA in detail:
/// the agreement ends by termination or when the permission is withdrawn).
public struct EndReported: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.ama.end-reported"
    public static let dataVersion = 1

    public enum Reason: String, Codable, Sendable, Hashable, CaseIterable {
        case terminatedByParticipant = "terminated-by-participant"
        case terminatedByBegeleider = "terminated-by-begeleider"
        case terminatedByWerkpost = "terminated-by-werkpost"
        case permissionWithdrawn = "permission-withdrawn"
        case reassessment
    }

    public var agreementId: String
    public var endedOn: CalendarDate
    public var reason: Reason

    public init(agreementId: String, endedOn: CalendarDate, reason: Reason) {
        self.agreementId = agreementId
        self.endedOn = endedOn
        self.reason = reason
    }
}

/// An agreement ended: its deadlines are cancelled and it takes no more attendance.
public struct AgreementEnded: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.ama.agreement-ended"
    public static let dataVersion = 1
    public var agreementId: String
    public var endedOn: CalendarDate
    public var reason: EndReported.Reason
    public var ruleSet: String

    public init(agreementId: String, endedOn: CalendarDate, reason: EndReported.Reason, ruleSet: String) {
        self.agreementId = agreementId
        self.endedOn = endedOn
        self.reason = reason
        self.ruleSet = ruleSet
    }
}

/// A calendar quarter, written `2025-Q1`.
public struct Quarter: Codable, Sendable, Hashable, Comparable, CustomStringConvertible {
    public let year: Int
    public let number: Int

    public init(year: Int, number: Int) throws(QuarterError) {
        guard (1...4).contains(number), (1900...9999).contains(year) else { throw QuarterError() }
        self.year = year
        self.number = number
    }

    public init(_ text: String) throws(QuarterError) {
        let parts = text.split(separator: "-Q", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 4, let year = Int(parts[0]), parts[1].count == 1, let number = Int(parts[1]) else { throw QuarterError() }
        try self.init(year: year, number: number)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        do { self = try Quarter(try container.decode(String.self)) } catch let error as QuarterError {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.message)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    public var description: String { "\(year)-Q\(number)" }
    public var firstDay: CalendarDate { CalendarDate(year: year, month: number * 3 - 2, day: 1)! }
    public var lastDay: CalendarDate { firstDay.adding(months: 3).adding(days: -1) }
    /// 90 to 92.
    public var days: Int { (0..<3).map { firstDay.adding(months: $0 + 1).adding(days: -1).day }.reduce(0, +) }

    public static func < (lhs: Quarter, rhs: Quarter) -> Bool { (lhs.year, lhs.number) < (rhs.year, rhs.number) }
}

extension Quarter: SchemaDescribed {
    public static var jsonSchema: JSONDocument {
        .object(["type": .string("string"), "pattern": .string("^[0-9]{4}-Q[1-4]$"), "description": .string("a calendar quarter, e.g. 2025-Q1")])
    }
    public static var schemaExample: Quarter? { try? Quarter(year: 2026, number: 1) }
}

public struct QuarterError: Error, Hashable, Sendable {
    public let message = "a quarter is written YYYY-Qn with n from 1 to 4, e.g. 2025-Q1"
}

/// Departement WSE sets a maatwerkbedrijf's contingent for a year: how many participants'
/// full-year subsidy it may receive at most (DOMAIN.md, AMA in detail: AMA sociale economie).
public struct ContingentSet: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.ama.contingent-set"
    public static let dataVersion = 1
    public var begeleiderId: String
    public var year: Int
    public var places: Int

    public init(begeleiderId: String, year: Int, places: Int) {
        self.begeleiderId = begeleiderId
        self.year = year
        self.places = places
    }
}

/// The begeleider reports a sociale economie participant's attendance days in a quarter.
/// A later report for the same quarter replaces the earlier one, until the quarter is closed.
public struct AttendanceReported: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.ama.attendance-reported"
    public static let dataVersion = 1
    public var agreementId: String
    public var quarter: Quarter
    public var attendanceDays: Int

    public init(agreementId: String, quarter: Quarter, attendanceDays: Int) {
        self.agreementId = agreementId
        self.quarter = quarter
        self.attendanceDays = attendanceDays
    }
}

/// The administration closes a quarter: the module reports the subsidy per facility.
public struct QuarterClosed: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.ama.quarter-closed"
    public static let dataVersion = 1
    public var quarter: Quarter

    public init(quarter: Quarter) { self.quarter = quarter }
}

/// The sociale economie subsidy of one facility for one quarter: attendance days / 365 of the
/// yearly amount per participant, the total capped by the facility's contingent.
public struct SubsidyReported: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.ama.subsidy-reported"
    public static let dataVersion = 1

    public struct Line: Codable, Sendable, Hashable {
        public var agreementId: String
        public var attendanceDays: Int
        public var subsidyCents: Int

        public init(agreementId: String, attendanceDays: Int, subsidyCents: Int) {
            self.agreementId = agreementId
            self.attendanceDays = attendanceDays
            self.subsidyCents = subsidyCents
        }
    }

    public var begeleiderId: String
    public var quarter: Quarter
    public var lines: [Line]
    /// The sum of the lines, before the cap.
    public var computedCents: Int
    public var contingentPlaces: Int
    /// `contingentPlaces` full-attendance participants for this quarter.
    public var capCents: Int
    public var payableCents: Int

    public init(begeleiderId: String, quarter: Quarter, lines: [Line], computedCents: Int, contingentPlaces: Int, capCents: Int, payableCents: Int) {
        self.begeleiderId = begeleiderId
        self.quarter = quarter
        self.lines = lines
        self.computedCents = computedCents
        self.contingentPlaces = contingentPlaces
        self.capCents = capCents
        self.payableCents = payableCents
    }
}

/// A sociale economie participation is reassessed yearly: published by the module when due.
public struct ReassessmentDue: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.ama.reassessment-due"
    public static let dataVersion = 1
    public var agreementId: String
    public var dueOn: CalendarDate

    public init(agreementId: String, dueOn: CalendarDate) {
        self.agreementId = agreementId
        self.dueOn = dueOn
    }
}

/// VDAB's yearly reassessment: the participation goes on for another period, or it ends.
public struct Reassessed: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.ama.reassessed"
    public static let dataVersion = 1
    public var agreementId: String
    public var on: CalendarDate
    public var continues: Bool

    public init(agreementId: String, on: CalendarDate, continues: Bool) {
        self.agreementId = agreementId
        self.on = on
        self.continues = continues
    }
}

// The day each fact happened, which places it among deadlines.
extension BegeleiderRecognised: DatedFact { public var factDate: CalendarDate { recognisedOn } }
extension BegeleiderMerged: DatedFact { public var factDate: CalendarDate { mergedOn } }
extension AnnexConfirmed: DatedFact { public var factDate: CalendarDate { confirmedOn } }
extension AnnexAmended: DatedFact { public var factDate: CalendarDate { amendedOn } }
extension AgreementStatusChanged: DatedFact { public var factDate: CalendarDate { on } }
extension PermissionRenewed: DatedFact { public var factDate: CalendarDate { renewedOn } }
extension EndReported: DatedFact { public var factDate: CalendarDate { endedOn } }
extension AgreementEnded: DatedFact { public var factDate: CalendarDate { endedOn } }
extension ReassessmentDue: DatedFact { public var factDate: CalendarDate { dueOn } }
extension Reassessed: DatedFact { public var factDate: CalendarDate { on } }
