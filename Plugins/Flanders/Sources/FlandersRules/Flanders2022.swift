import PluginAPI

/// Decree of 8 July 2022 and BVR of 18 November 2022: activation and GBO onthaal for cases
/// started on or after 1 July 2023, AMA on or after 1 January 2024 (DOMAIN.md, "Legal regimes").
public final class Flanders2022: RegionalRules {
    public let id = "flanders-2022"
    public let region = "flanders"
    public let regime = "decree 8 July 2022, BVR 18 November 2022"

    public init() {}

    public let offers: [Offer: EffectiveInterval] = [
        .activationTrajectory: EffectiveInterval(from: Flanders.activation2022),
        .gboOnboarding: EffectiveInterval(from: Flanders.activation2022),
        .ama: EffectiveInterval(from: Flanders.ama2022),
        .amaSocialEconomy: EffectiveInterval(from: Flanders.ama2022),
    ]

    public let activation = ActivationRules(
        minimumMonths: 3, maximumMonths: 18,
        extensionPolicy: Flanders.exceptionalMotivatedExtension,
        planApprover: .networkCoordinator, hasDossierbeheerder: true, internshipsAllowed: true)

    public let mandating = MandateRules(
        procedure: .call(minimumFacilities: 3),
        mandateYears: 5,
        eligibleOrganisationKinds: [.samenwerkingsverbandZorg],
        staffMustKnowICF: true,
        mandatingAuthority: "Departement Zorg")

    public let networks = NetworkRules(
        mandatoryPartners: [[.jongerenwelzijnFacility, .vaphFacility]],
        appointedBy: "VDAB")

    public let ama: AMARules? = AMARules(
        olderThan: 18, youngerThan: 65,
        accessRoutes: [
            .nietToeleidbaar, .leefloonWithOCMWPermission, .unfitForWorkWithMedicalAdvice(maximumAdviceAgeYears: 2),
            .disabilityBenefit, .socialEconomyAdvice,
        ],
        notCombinableWith: [.vaphDagondersteuning, .begeleidWerken],
        minimumHoursPerDay: 3, permissionRenewalMonths: 12, maximumAttachmentBytes: 10 << 20,
        socialEconomy: Flanders.socialEconomy)

    public let gbo: GBORules? = Flanders.gbo
}
