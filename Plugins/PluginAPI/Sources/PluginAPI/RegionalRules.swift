/// The rules of one region under one legal regime: everything in wzt that differs by region or
/// changes by law. Modules hold the process; rule sets hold the numbers and the lists.
///
/// The core's rule book picks a rule set by region, offer and the date a case started, so a case
/// keeps the rules it started under (DOMAIN.md, "Legal regimes").
public protocol RegionalRules: AnyObject, Sendable {
    /// Unique, e.g. `flanders-2014`.
    var id: String { get }
    /// e.g. `flanders`, `brussels`.
    var region: String { get }
    /// The legal basis, for people: e.g. "decree 25 April 2014, BVR 2 Feb 2018".
    var regime: String { get }
    /// The offers of this rule set and, per offer, the start dates of the cases it governs.
    /// An offer that is absent does not exist in this region under this regime.
    var offers: [Offer: EffectiveInterval] { get }

    var activation: ActivationRules { get }
    var mandating: MandateRules { get }
    var networks: NetworkRules { get }
    /// Nil when the regime has no AMA.
    var ama: AMARules? { get }
    /// Nil when the regime has no onboarding to the Geïntegreerd Breed Onthaal.
    var gbo: GBORules? { get }
}

/// The three offers of the decree, with AMA in the social economy counted apart because it has
/// its own rules and subsidy.
public enum Offer: String, Hashable, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case activationTrajectory = "activation-trajectory"
    case ama
    case amaSocialEconomy = "ama-social-economy"
    case gboOnboarding = "gbo-onboarding"

    public var description: String { rawValue }
}

/// Activation trajectories (DOMAIN.md, "Three offers" 1 and "Intake and the activation flow").
public struct ActivationRules: Hashable, Sendable {
    public var minimumMonths: Int
    public var maximumMonths: Int
    public var extensionPolicy: ExtensionPolicy
    /// Who approves the trajectory plan (step 8).
    public var planApprover: PlanApprover
    /// Whether a dossierbeheerder manages the file.
    public var hasDossierbeheerder: Bool
    /// Whether an internship (stage) may be part of the plan.
    public var internshipsAllowed: Bool
    /// The casemanager Werk and Zorg of one trajectory may not be the same person or organisation.
    public var casemanagersMustDiffer: Bool

    public init(minimumMonths: Int, maximumMonths: Int, extensionPolicy: ExtensionPolicy, planApprover: PlanApprover,
                hasDossierbeheerder: Bool, internshipsAllowed: Bool, casemanagersMustDiffer: Bool = true) {
        self.minimumMonths = minimumMonths
        self.maximumMonths = maximumMonths
        self.extensionPolicy = extensionPolicy
        self.planApprover = planApprover
        self.hasDossierbeheerder = hasDossierbeheerder
        self.internshipsAllowed = internshipsAllowed
        self.casemanagersMustDiffer = casemanagersMustDiffer
    }
}

public struct ExtensionPolicy: Hashable, Sendable {
    /// Nil: no extension at all.
    public var maximumExtraMonths: Int?
    public var requiresMotivation: Bool
    public var maximumExtensions: Int

    public init(maximumExtraMonths: Int?, requiresMotivation: Bool, maximumExtensions: Int) {
        self.maximumExtraMonths = maximumExtraMonths
        self.requiresMotivation = requiresMotivation
        self.maximumExtensions = maximumExtensions
    }

    /// Whether an extension of `months` is allowed after `previousExtensions` earlier ones.
    public func allows(months: Int, previousExtensions: Int, motivated: Bool) -> Bool {
        guard let maximum = maximumExtraMonths, months >= 1, months <= maximum else { return false }
        return previousExtensions < maximumExtensions && (motivated || !requiresMotivation)
    }
}

public enum PlanApprover: String, Hashable, Sendable, Codable, CaseIterable {
    /// 2014: the penhouder of the network.
    case penhouder
    /// 2022: the network coordinator.
    case networkCoordinator = "network-coordinator"
}

/// Mandating casemanagers Zorg (DOMAIN.md, "Mandating").
public struct MandateRules: Hashable, Sendable {
    public enum Procedure: Hashable, Sendable {
        /// An organisation applies at any time; decisions are due within these terms.
        case openApplication(admissibilityDays: Int, meritsDays: Int)
        /// A call per werkingsgebied; a samenwerkingsverband of at least `minimumFacilities` applies.
        case call(minimumFacilities: Int)
    }

    public var procedure: Procedure
    /// How long a granted mandate runs; nil: until withdrawn.
    public var mandateYears: Int?
    public var eligibleOrganisationKinds: Set<OrganisationKind>
    /// Organisation kinds that may never be mandated here, with the reason.
    public var excludedOrganisationKinds: [OrganisationKind: String]
    public var staffMustKnowICF: Bool
    public var mandatingAuthority: String

    public init(procedure: Procedure, mandateYears: Int?, eligibleOrganisationKinds: Set<OrganisationKind>,
                excludedOrganisationKinds: [OrganisationKind: String] = [:], staffMustKnowICF: Bool, mandatingAuthority: String) {
        self.procedure = procedure
        self.mandateYears = mandateYears
        self.eligibleOrganisationKinds = eligibleOrganisationKinds
        self.excludedOrganisationKinds = excludedOrganisationKinds
        self.staffMustKnowICF = staffMustKnowICF
        self.mandatingAuthority = mandatingAuthority
    }

    /// The last day for the admissibility decision, and for the decision on the merits.
    public func decisionTerms(appliedOn date: CalendarDate) -> (admissibility: CalendarDate, merits: CalendarDate)? {
        guard case .openApplication(let admissibility, let merits) = procedure else { return nil }
        let admissibleBy = date.adding(days: admissibility)
        return (admissibleBy, admissibleBy.adding(days: merits))
    }
}

public enum OrganisationKind: String, Hashable, Sendable, Codable, CaseIterable {
    case caw
    case ziekenfondsSocialService = "ziekenfonds-social-service"
    case cgg
    case ibw
    case psychiatricHospital = "psychiatric-hospital"
    case rehabilitationCentre = "rehabilitation-centre"
    case vaphFacility = "vaph-facility"
    case jongerenwelzijnFacility = "jongerenwelzijn-facility"
    case ocmw
    case samenwerkingsverbandZorg = "samenwerkingsverband-zorg"
    case brusselsGGCFacility = "brussels-ggc-facility"
    case maatwerkbedrijf
    case workPartner = "work-partner"
}

/// Networks of service providers (DOMAIN.md, "Networks").
public struct NetworkRules: Hashable, Sendable {
    /// Each entry is satisfied by a partner of any one of its kinds.
    public var mandatoryPartners: [Set<OrganisationKind>]
    public var appointedBy: String

    public init(mandatoryPartners: [Set<OrganisationKind>], appointedBy: String) {
        self.mandatoryPartners = mandatoryPartners
        self.appointedBy = appointedBy
    }

    /// The requirements a network with partners of `kinds` does not meet (empty: it may be activated).
    public func missingPartners(given kinds: Set<OrganisationKind>) -> [Set<OrganisationKind>] {
        mandatoryPartners.filter { $0.isDisjoint(with: kinds) }
    }
}

/// Arbeidsmatige activiteiten (DOMAIN.md, "AMA in detail").
public struct AMARules: Hashable, Sendable {
    /// Participants must be older than this on the start date.
    public var olderThan: Int
    /// … and younger than this.
    public var youngerThan: Int
    public var accessRoutes: [AccessRoute]
    /// Supports a participant may not receive at the same time.
    public var notCombinableWith: Set<ConcurrentSupport>
    public var minimumHoursPerDay: Int
    public var permissionRenewalMonths: Int
    public var maximumAttachmentBytes: Int
    public var socialEconomy: SocialEconomyRules?

    public init(olderThan: Int, youngerThan: Int, accessRoutes: [AccessRoute], notCombinableWith: Set<ConcurrentSupport>,
                minimumHoursPerDay: Int, permissionRenewalMonths: Int, maximumAttachmentBytes: Int, socialEconomy: SocialEconomyRules?) {
        self.olderThan = olderThan
        self.youngerThan = youngerThan
        self.accessRoutes = accessRoutes
        self.notCombinableWith = notCombinableWith
        self.minimumHoursPerDay = minimumHoursPerDay
        self.permissionRenewalMonths = permissionRenewalMonths
        self.maximumAttachmentBytes = maximumAttachmentBytes
        self.socialEconomy = socialEconomy
    }

    /// Whether someone born on `birth` is of age for AMA on `start`.
    public func ageAllows(born birth: CalendarDate, startingOn start: CalendarDate) -> Bool {
        let age = birth.months(until: start) / 12
        // "Over 18" is reached on the 18th birthday; "under 65" ends on the 65th.
        return age >= olderThan && age < youngerThan
    }
}

public enum AccessRoute: Hashable, Sendable {
    /// VDAB advice niet-toeleidbaar.
    case nietToeleidbaar
    /// Leefloon, with the OCMW's permission.
    case leefloonWithOCMWPermission
    /// Unfit for work, with the adviserend arts' permission at most `maximumAdviceAgeYears` old,
    /// for the same activity.
    case unfitForWorkWithMedicalAdvice(maximumAdviceAgeYears: Int)
    /// Disability benefit (IVT/IT), no separate permission.
    case disabilityBenefit
    /// VDAB advice "AMA sociale economie".
    case socialEconomyAdvice
}

public enum ConcurrentSupport: String, Hashable, Sendable, Codable, CaseIterable {
    case vaphDagondersteuning = "vaph-dagondersteuning"
    case begeleidWerken = "begeleid-werken"
}

/// AMA in a maatwerkbedrijf (social economy).
public struct SocialEconomyRules: Hashable, Sendable {
    public var minimumHoursPerWeek: Int
    public var reassessmentMonths: Int
    /// Per participant per year, in euro cents, paid pro rata per quarter.
    public var yearlySubsidyCents: Int

    public init(minimumHoursPerWeek: Int, reassessmentMonths: Int, yearlySubsidyCents: Int) {
        self.minimumHoursPerWeek = minimumHoursPerWeek
        self.reassessmentMonths = reassessmentMonths
        self.yearlySubsidyCents = yearlySubsidyCents
    }

    /// The subsidy for `attendanceDays` in a quarter, in cents, before the facility's cap:
    /// attendance days / 365 × the yearly amount, rounded half up.
    public func quarterSubsidyCents(attendanceDays: Int) -> Int {
        (attendanceDays * yearlySubsidyCents * 2 + 365) / (365 * 2)
    }
}

/// Onboarding to the Geïntegreerd Breed Onthaal (DOMAIN.md, "Three offers" 3).
public struct GBORules: Hashable, Sendable {
    /// The partners that take part in every onthaal file.
    public var partners: Set<OrganisationKind>
    /// Life domains explored (the pilot used 15 domains and 26 rights).
    public var lifeDomainCount: Int
    public var rightsCount: Int

    public init(partners: Set<OrganisationKind>, lifeDomainCount: Int, rightsCount: Int) {
        self.partners = partners
        self.lifeDomainCount = lifeDomainCount
        self.rightsCount = rightsCount
    }
}

extension CalendarDate {
    /// The date `days` later.
    public func adding(days: Int) -> CalendarDate { CalendarDate(daysSinceEpoch: daysSinceEpoch + days) }
}
