import BusCore
import PluginAPI

/// An organisation applied for a mandate as casemanager Zorg (2014), or a samenwerkingsverband
/// Zorg answered a mandate call (2022). Sent by Departement Zorg's intake of applications.
public struct ApplicationReceived: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.mandating.application-received"
    public static let dataVersion = 1

    public struct Facility: Codable, Sendable, Hashable {
        public var organisationId: String
        public var kind: OrganisationKind
        public init(organisationId: String, kind: OrganisationKind) {
            self.organisationId = organisationId
            self.kind = kind
        }
    }

    public var applicationId: String
    public var organisationId: String
    public var organisationName: String
    public var organisationKind: OrganisationKind
    /// The region whose rules apply, e.g. `flanders`.
    public var region: String
    /// The werkingsgebied the mandate is for.
    public var werkingsgebied: String
    public var receivedOn: CalendarDate
    public var icfTrainedStaff: Bool
    /// 2022: the call answered.
    public var callId: String?
    /// 2022: the facilities that form the samenwerkingsverband.
    public var facilities: [Facility]?

    public init(applicationId: String, organisationId: String, organisationName: String, organisationKind: OrganisationKind,
                region: String, werkingsgebied: String, receivedOn: CalendarDate, icfTrainedStaff: Bool,
                callId: String? = nil, facilities: [Facility]? = nil) {
        self.applicationId = applicationId
        self.organisationId = organisationId
        self.organisationName = organisationName
        self.organisationKind = organisationKind
        self.region = region
        self.werkingsgebied = werkingsgebied
        self.receivedOn = receivedOn
        self.icfTrainedStaff = icfTrainedStaff
        self.callId = callId
        self.facilities = facilities
    }
}

/// The decision on admissibility (2014 procedure, and the first check of a 2022 application).
public struct AdmissibilityDecided: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.mandating.admissibility-decided"
    public static let dataVersion = 1
    public var applicationId: String
    public var admissible: Bool
    public var decidedOn: CalendarDate
    public var reason: String?

    public init(applicationId: String, admissible: Bool, decidedOn: CalendarDate, reason: String? = nil) {
        self.applicationId = applicationId
        self.admissible = admissible
        self.decidedOn = decidedOn
        self.reason = reason
    }
}

/// The decision on the merits: the mandate is granted (and active from `decidedOn`) or refused.
public struct MeritsDecided: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.mandating.merits-decided"
    public static let dataVersion = 1
    public var applicationId: String
    public var granted: Bool
    public var decidedOn: CalendarDate
    public var reason: String?

    public init(applicationId: String, granted: Bool, decidedOn: CalendarDate, reason: String? = nil) {
        self.applicationId = applicationId
        self.granted = granted
        self.decidedOn = decidedOn
        self.reason = reason
    }
}

/// Departement Zorg withdrew an active mandate.
public struct MandateWithdrawn: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.mandating.mandate-withdrawn"
    public static let dataVersion = 1
    public var applicationId: String
    public var withdrawnOn: CalendarDate
    public var reason: String

    public init(applicationId: String, withdrawnOn: CalendarDate, reason: String) {
        self.applicationId = applicationId
        self.withdrawnOn = withdrawnOn
        self.reason = reason
    }
}

/// 2022: a mandate call for one werkingsgebied, open for applications between two dates (inclusive).
public struct CallOpened: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.mandating.call-opened"
    public static let dataVersion = 1
    public var callId: String
    public var region: String
    public var werkingsgebied: String
    public var opensOn: CalendarDate
    public var closesOn: CalendarDate

    public init(callId: String, region: String, werkingsgebied: String, opensOn: CalendarDate, closesOn: CalendarDate) {
        self.callId = callId
        self.region = region
        self.werkingsgebied = werkingsgebied
        self.opensOn = opensOn
        self.closesOn = closesOn
    }
}

// The day each fact happened, which places it among deadlines.
extension ApplicationReceived: DatedFact { public var factDate: CalendarDate { receivedOn } }
extension AdmissibilityDecided: DatedFact { public var factDate: CalendarDate { decidedOn } }
extension MeritsDecided: DatedFact { public var factDate: CalendarDate { decidedOn } }
extension MandateWithdrawn: DatedFact { public var factDate: CalendarDate { withdrawnOn } }
extension CallOpened: DatedFact { public var factDate: CalendarDate { opensOn } }
