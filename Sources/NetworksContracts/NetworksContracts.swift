import BusCore
import PluginAPI

/// VDAB appointed a network of service providers for a werkingsgebied.
public struct NetworkRegistered: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.networks.network-registered"
    public static let dataVersion = 1
    public var networkId: String
    public var name: String
    public var region: String
    public var werkingsgebied: String
    /// The coordinator (2014: the penhouder).
    public var coordinatorOrganisationId: String
    /// Trajectories the network can carry at once.
    public var capacity: Int
    public var registeredOn: CalendarDate

    public init(networkId: String, name: String, region: String, werkingsgebied: String, coordinatorOrganisationId: String, capacity: Int, registeredOn: CalendarDate) {
        self.networkId = networkId
        self.name = name
        self.region = region
        self.werkingsgebied = werkingsgebied
        self.coordinatorOrganisationId = coordinatorOrganisationId
        self.capacity = capacity
        self.registeredOn = registeredOn
    }
}

/// A service provider joined a network.
public struct PartnerJoined: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.networks.partner-joined"
    public static let dataVersion = 1
    public var networkId: String
    public var organisationId: String
    public var kind: OrganisationKind
    /// The recognition (erkenning) number, when the partner is a recognised facility.
    public var recognition: String?

    public init(networkId: String, organisationId: String, kind: OrganisationKind, recognition: String? = nil) {
        self.networkId = networkId
        self.organisationId = organisationId
        self.kind = kind
        self.recognition = recognition
    }
}

/// The network asks to start taking referrals; it must have every mandatory partner kind.
public struct NetworkActivationRequested: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.networks.network-activation-requested"
    public static let dataVersion = 1
    public var networkId: String
    public var requestedOn: CalendarDate

    public init(networkId: String, requestedOn: CalendarDate) {
        self.networkId = networkId
        self.requestedOn = requestedOn
    }
}

public struct CapacityChanged: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.networks.capacity-changed"
    public static let dataVersion = 1
    public var networkId: String
    public var capacity: Int

    public init(networkId: String, capacity: Int) {
        self.networkId = networkId
        self.capacity = capacity
    }
}

/// A trajectory is referred to a network (step 9). The referrer always gets an outcome event:
/// accepted, waitlisted or rejected.
public struct ReferralRequested: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.networks.referral-requested"
    public static let dataVersion = 1
    public var referralId: String
    public var networkId: String
    public var caseId: String
    public var referredOn: CalendarDate

    public init(referralId: String, networkId: String, caseId: String, referredOn: CalendarDate) {
        self.referralId = referralId
        self.networkId = networkId
        self.caseId = caseId
        self.referredOn = referredOn
    }
}

/// A trajectory in the network ended; its place goes to the first on the waitlist.
public struct PlaceReleased: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.networks.place-released"
    public static let dataVersion = 1
    public var networkId: String
    public var caseId: String
    public var releasedOn: CalendarDate

    public init(networkId: String, caseId: String, releasedOn: CalendarDate) {
        self.networkId = networkId
        self.caseId = caseId
        self.releasedOn = releasedOn
    }
}

public struct NetworkActivated: EventContract, Hashable {
    public static let eventType: EventType = "be.wzt.networks.network-activated"
    public static let dataVersion = 1
    public var networkId: String
    public var region: String
    public var werkingsgebied: String
    public var ruleSet: String
    public var activatedOn: CalendarDate

    public init(networkId: String, region: String, werkingsgebied: String, ruleSet: String, activatedOn: CalendarDate) {
        self.networkId = networkId
        self.region = region
        self.werkingsgebied = werkingsgebied
        self.ruleSet = ruleSet
        self.activatedOn = activatedOn
    }
}

/// The outcome of a referral, for the referrer.
public struct ReferralOutcome: EventContract, Hashable {
    /// Why a referral was rejected.
    public enum RejectionCode: String, Codable, Sendable, Hashable, CaseIterable {
        case alreadyReferred = "already-referred"
        case networkNotActive = "network-not-active"
        case referralIdUsed = "referral-id-used"
        case unknownNetwork = "unknown-network"
    }

    public static let eventType: EventType = "be.wzt.networks.referral-outcome"
    public static let dataVersion = 1

    public enum Outcome: String, Codable, Sendable, Hashable, CaseIterable { case accepted, waitlisted, rejected }

    public var referralId: String
    public var networkId: String
    public var caseId: String
    public var outcome: Outcome
    public var on: CalendarDate
    /// Waitlisted: the place in the queue, 1 first.
    public var position: Int?
    /// Rejected: why.
    public var code: RejectionCode?
    public var reason: String?

    public init(referralId: String, networkId: String, caseId: String, outcome: Outcome, on: CalendarDate,
                position: Int? = nil, code: RejectionCode? = nil, reason: String? = nil) {
        self.referralId = referralId
        self.networkId = networkId
        self.caseId = caseId
        self.outcome = outcome
        self.on = on
        self.position = position
        self.code = code
        self.reason = reason
    }
}

/// An incoming event was not applied.
public struct NetworksRefused: EventContract, Hashable {
    /// The refusals this module makes.
    public enum Code: String, Codable, Sendable, Hashable, CaseIterable {
        case alreadyActive = "already-active"
        case duplicateNetwork = "duplicate-network"
        case invalidCapacity = "invalid-capacity"
        case missingMandatoryPartner = "missing-mandatory-partner"
        case noRules = "no-rules"
        case notInNetwork = "not-in-network"
        case unknownNetwork = "unknown-network"
    }

    public static let eventType: EventType = "be.wzt.networks.refused"
    public static let dataVersion = 1
    public var refusedEventId: String
    public var refusedType: String
    public var networkId: String?
    /// Why, as one of a fixed vocabulary (docs/modules.md lists them, checked against `Code`).
    public var code: Code
    public var reason: String

    public init(refusedEventId: String, refusedType: String, networkId: String?, code: Code, reason: String) {
        self.refusedEventId = refusedEventId
        self.refusedType = refusedType
        self.networkId = networkId
        self.code = code
        self.reason = reason
    }
}

public enum NetworksContracts {
    public static let all: [any EventContract.Type] = [
        NetworkRegistered.self, PartnerJoined.self, NetworkActivationRequested.self, CapacityChanged.self, ReferralRequested.self,
        PlaceReleased.self, NetworkActivated.self, ReferralOutcome.self, NetworksRefused.self,
    ]
}

// The day each fact happened, which places it among deadlines.
extension NetworkRegistered: DatedFact { public var factDate: CalendarDate { registeredOn } }
extension NetworkActivationRequested: DatedFact { public var factDate: CalendarDate { requestedOn } }
extension ReferralRequested: DatedFact { public var factDate: CalendarDate { referredOn } }
extension PlaceReleased: DatedFact { public var factDate: CalendarDate { releasedOn } }
extension NetworkActivated: DatedFact { public var factDate: CalendarDate { activatedOn } }
extension ReferralOutcome: DatedFact { public var factDate: CalendarDate { on } }
