import PluginAPI

/// The Dutch-speaking offer in the Brussels-Capital Region, reached through the VDAB–Actiris
/// cooperation agreement (DOMAIN.md, "Brussels"; seed 002).
///
/// Activation trajectories and AMA follow the Flemish decree; facilities under the Brussels GGC
/// (bicommunity) cannot be mandated by the Flemish Departement Zorg. Onboarding to the Flemish
/// Geïntegreerd Breed Onthaal is not offered here: it rests on the Flemish decree on local social
/// policy, which does not apply in Brussels.
public final class Brussels: RegionalRules, RuleSetProvider {
    public let pluginName = "Brussels"
    public var ruleSets: [any RegionalRules] { [self] }

    public let id = "brussels"
    public let region = "brussels"
    public let regime = "decree 25 April 2014 as applied in Brussels; VDAB–Actiris cooperation agreement (2022)"

    public init() {}

    static let start = CalendarDate(year: 2018, month: 7, day: 1)!

    public let offers: [Offer: EffectiveInterval] = [
        .activationTrajectory: EffectiveInterval(from: Brussels.start),
        .ama: EffectiveInterval(from: Brussels.start),
    ]

    public let activation = ActivationRules(
        minimumMonths: 3, maximumMonths: 18,
        extensionPolicy: ExtensionPolicy(maximumExtraMonths: 6, requiresMotivation: true, maximumExtensions: 1),
        planApprover: .networkCoordinator, hasDossierbeheerder: false, internshipsAllowed: false)

    public let mandating = MandateRules(
        procedure: .openApplication(admissibilityDays: 30, meritsDays: 45),
        mandateYears: nil,
        eligibleOrganisationKinds: [.caw, .ziekenfondsSocialService, .cgg, .psychiatricHospital, .rehabilitationCentre, .vaphFacility, .jongerenwelzijnFacility],
        excludedOrganisationKinds: [.brusselsGGCFacility: "facilities under the Brussels GGC cannot be mandated by the Flemish Departement Zorg"],
        staffMustKnowICF: true,
        mandatingAuthority: "Departement Zorg, afdeling Beleidscoördinatie")

    public let networks = NetworkRules(
        mandatoryPartners: [[.jongerenwelzijnFacility, .vaphFacility]],
        appointedBy: "VDAB with Actiris")

    public let ama: AMARules? = AMARules(
        olderThan: 18, youngerThan: 65,
        accessRoutes: [.nietToeleidbaar],
        notCombinableWith: [.vaphDagondersteuning, .begeleidWerken],
        minimumHoursPerDay: 3, permissionRenewalMonths: 12, maximumAttachmentBytes: 10 << 20,
        socialEconomy: nil)

    public let gbo: GBORules? = nil
}
