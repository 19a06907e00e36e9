import PluginAPI

/// The Flemish rule sets, and what both regimes share.
public final class Flanders: RuleSetProvider {
    public let pluginName = "Flanders"
    public let ruleSets: [any RegionalRules] = [Flanders2014(), Flanders2022()]

    public init() {}

    static let inForce2014 = CalendarDate(year: 2018, month: 7, day: 1)!
    static let activation2022 = CalendarDate(year: 2023, month: 7, day: 1)!
    static let ama2022 = CalendarDate(year: 2024, month: 1, day: 1)!

    /// "Extension only exceptionally and motivated" (DOMAIN.md, "Three offers" 1). The texts do not
    /// fix its length; one extension of at most 6 months is this rule set's reading.
    static let exceptionalMotivatedExtension = ExtensionPolicy(maximumExtraMonths: 6, requiresMotivation: true, maximumExtensions: 1)

    /// Eligible for a 2014 mandate as casemanager Zorg (DOMAIN.md, "Mandating").
    static let careOrganisations: Set<OrganisationKind> = [
        .caw, .ziekenfondsSocialService, .cgg, .ibw, .psychiatricHospital, .rehabilitationCentre, .vaphFacility, .jongerenwelzijnFacility,
    ]

    /// AMA sociale economie: 12 h/week, yearly reassessment, EUR 2,812.20 per participant per year.
    static let socialEconomy = SocialEconomyRules(minimumHoursPerWeek: 12, reassessmentMonths: 12, yearlySubsidyCents: 281_220)

    /// GBO: at least the OCMW, the CAW and the social services of the ziekenfondsen; the pilot
    /// explored 15 life domains and 26 rights.
    static let gbo = GBORules(partners: [.ocmw, .caw, .ziekenfondsSocialService], lifeDomainCount: 15, rightsCount: 26)
}
