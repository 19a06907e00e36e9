import PluginAPI

/// Decree of 25 April 2014 and BVR of 2 February 2018, in force 1 July 2018. Trajectories started
/// before 1 July 2023 (AMA: before 1 January 2024) finish on these rules (DOMAIN.md, "Legal regimes").
public final class Flanders2014: RegionalRules {
    public let id = "flanders-2014"
    public let region = "flanders"
    public let regime = "decree 25 April 2014, BVR 2 February 2018"

    public init() {}

    public let offers: [Offer: EffectiveInterval] = [
        .activationTrajectory: EffectiveInterval(from: Flanders.inForce2014, until: Flanders.activation2022),
        .gboOnboarding: EffectiveInterval(from: Flanders.inForce2014, until: Flanders.activation2022),
        .ama: EffectiveInterval(from: Flanders.inForce2014, until: Flanders.ama2022),
        .amaSocialEconomy: EffectiveInterval(from: Flanders.inForce2014, until: Flanders.ama2022),
    ]

    public let activation = ActivationRules(
        minimumMonths: 3, maximumMonths: 18,
        extensionPolicy: Flanders.exceptionalMotivatedExtension,
        planApprover: .penhouder, hasDossierbeheerder: false, internshipsAllowed: false)

    public let mandating = MandateRules(
        procedure: .openApplication(admissibilityDays: 30, meritsDays: 45),
        mandateYears: nil,
        eligibleOrganisationKinds: Flanders.careOrganisations,
        staffMustKnowICF: true,
        mandatingAuthority: "Departement Zorg, afdeling Beleidscoördinatie")

    public let networks = NetworkRules(
        mandatoryPartners: [[.jongerenwelzijnFacility, .vaphFacility]],
        appointedBy: "VDAB")

    public let ama: AMARules? = AMARules(
        olderThan: 18, youngerThan: 65,
        accessRoutes: [.nietToeleidbaar, .socialEconomyAdvice],
        notCombinableWith: [.vaphDagondersteuning, .begeleidWerken],
        minimumHoursPerDay: 3, permissionRenewalMonths: 12, maximumAttachmentBytes: 10 << 20,
        socialEconomy: Flanders.socialEconomy)

    public let gbo: GBORules? = Flanders.gbo
}
