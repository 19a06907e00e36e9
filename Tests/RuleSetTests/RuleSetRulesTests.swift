import BrusselsRules
import FlandersRules
import PluginAPI
import Testing

/// One test per rule, named after the DOMAIN.md section it checks.
struct Flanders2014Tests {
    let rules = Flanders2014()

    @Test("Activation lasts 3 to 18 months (DOMAIN.md, Three offers 1)")
    func activationDuration() {
        #expect(rules.activation.minimumMonths == 3)
        #expect(rules.activation.maximumMonths == 18)
    }

    @Test("Extension only exceptionally and motivated (DOMAIN.md, Three offers 1)")
    func extensionNeedsMotivation() {
        let policy = rules.activation.extensionPolicy
        #expect(policy.allows(months: 6, previousExtensions: 0, motivated: true))
        #expect(!policy.allows(months: 6, previousExtensions: 0, motivated: false))
        #expect(!policy.allows(months: 6, previousExtensions: 1, motivated: true))
        #expect(!policy.allows(months: 7, previousExtensions: 0, motivated: true))
    }

    @Test("2014: the penhouder approves the plan; no dossierbeheerder, no stage (DOMAIN.md, Intake step 8; 2022 changes)")
    func planApproval() {
        #expect(rules.activation.planApprover == .penhouder)
        #expect(!rules.activation.hasDossierbeheerder)
        #expect(!rules.activation.internshipsAllowed)
    }

    @Test("Casemanager Werk and Zorg cannot be the same organisation (DOMAIN.md, Three offers 1)")
    func casemanagersDiffer() { #expect(rules.activation.casemanagersMustDiffer) }

    @Test("2014 mandate: apply any time; 30 days admissibility, then 45 days merits, 75 in all (DOMAIN.md, Mandating)")
    func mandateTerms() throws {
        #expect(rules.mandating.procedure == .openApplication(admissibilityDays: 30, meritsDays: 45))
        let terms = try #require(rules.mandating.decisionTerms(appliedOn: CalendarDate("2023-01-10")!))
        #expect(terms.admissibility == CalendarDate("2023-02-09"))
        #expect(terms.merits == CalendarDate("2023-03-26"))
        #expect(CalendarDate("2023-01-10")!.adding(days: 75) == terms.merits)
    }

    @Test("2014 mandate: eligible organisation kinds, ICF-trained staff, mandated by afdeling Beleidscoördinatie (DOMAIN.md, Mandating)")
    func mandateEligibility() {
        #expect(rules.mandating.eligibleOrganisationKinds == [
            .caw, .ziekenfondsSocialService, .cgg, .ibw, .psychiatricHospital, .rehabilitationCentre, .vaphFacility, .jongerenwelzijnFacility,
        ])
        #expect(!rules.mandating.eligibleOrganisationKinds.contains(.samenwerkingsverbandZorg))
        #expect(rules.mandating.staffMustKnowICF)
        #expect(rules.mandating.mandatingAuthority.contains("Beleidscoördinatie"))
        #expect(rules.mandating.mandateYears == nil)
    }

    @Test("A Jongerenwelzijn or VAPH facility is a mandatory network partner (DOMAIN.md, Networks)")
    func mandatoryPartner() {
        #expect(rules.networks.missingPartners(given: [.caw, .cgg]) == [[.jongerenwelzijnFacility, .vaphFacility]])
        #expect(rules.networks.missingPartners(given: [.caw, .vaphFacility]).isEmpty)
        #expect(rules.networks.missingPartners(given: [.jongerenwelzijnFacility]).isEmpty)
    }

    @Test("AMA: over 18 and under 65 (DOMAIN.md, Three offers 2)")
    func amaAge() throws {
        let ama = try #require(rules.ama)
        let start = CalendarDate("2022-03-01")!
        #expect(ama.ageAllows(born: CalendarDate("2004-03-01")!, startingOn: start))
        #expect(!ama.ageAllows(born: CalendarDate("2004-03-02")!, startingOn: start))
        #expect(ama.ageAllows(born: CalendarDate("1957-03-02")!, startingOn: start))
        #expect(!ama.ageAllows(born: CalendarDate("1957-03-01")!, startingOn: start))
    }

    @Test("AMA: at least 3 hours a day, yearly permission renewal, 10 MB scan (DOMAIN.md, AMA in detail)")
    func amaAgreement() throws {
        let ama = try #require(rules.ama)
        #expect(ama.minimumHoursPerDay == 3)
        #expect(ama.permissionRenewalMonths == 12)
        #expect(ama.maximumAttachmentBytes == 10 * 1024 * 1024)
        #expect(ama.notCombinableWith == [.vaphDagondersteuning, .begeleidWerken])
    }

    @Test("AMA sociale economie: 12 h/week, yearly reassessment, EUR 2,812.20 a year pro rata (DOMAIN.md, AMA in detail)")
    func socialEconomy() throws {
        let economy = try #require(rules.ama?.socialEconomy)
        #expect(economy.minimumHoursPerWeek == 12)
        #expect(economy.reassessmentMonths == 12)
        #expect(economy.yearlySubsidyCents == 281_220)
        #expect(economy.quarterSubsidyCents(attendanceDays: 365) == 281_220)
        // 91 days: 91/365 x 2,812.20 = 701.12
        #expect(economy.quarterSubsidyCents(attendanceDays: 91) == 70_112)
    }

    @Test("GBO: OCMW, CAW and the ziekenfondsen's social services; 15 domains, 26 rights (DOMAIN.md, Three offers 3)")
    func gboPartners() throws {
        let gbo = try #require(rules.gbo)
        #expect(gbo.partners == [.ocmw, .caw, .ziekenfondsSocialService])
        #expect(gbo.lifeDomainCount == 15)
        #expect(gbo.rightsCount == 26)
    }

    @Test("In force 1 July 2018; activation and GBO until 1 July 2023, AMA until 1 January 2024 (DOMAIN.md, Legal regimes)")
    func effectiveDates() {
        #expect(rules.offers[.activationTrajectory] == EffectiveInterval(from: CalendarDate("2018-07-01")!, until: CalendarDate("2023-07-01")!))
        #expect(rules.offers[.gboOnboarding] == EffectiveInterval(from: CalendarDate("2018-07-01")!, until: CalendarDate("2023-07-01")!))
        #expect(rules.offers[.ama] == EffectiveInterval(from: CalendarDate("2018-07-01")!, until: CalendarDate("2024-01-01")!))
    }
}

struct Flanders2022Tests {
    let rules = Flanders2022()

    @Test("Activation still lasts 3 to 18 months with a motivated exception (DOMAIN.md, Three offers 1)")
    func activationDuration() {
        #expect(rules.activation.minimumMonths == 3)
        #expect(rules.activation.maximumMonths == 18)
        #expect(rules.activation.extensionPolicy.requiresMotivation)
    }

    @Test("2022: the network coordinator approves; a dossierbeheerder; a stage may be planned (DOMAIN.md, Intake step 8; 2022 changes)")
    func planApproval() {
        #expect(rules.activation.planApprover == .networkCoordinator)
        #expect(rules.activation.hasDossierbeheerder)
        #expect(rules.activation.internshipsAllowed)
    }

    @Test("2022 mandate: a call per werkingsgebied for a samenwerkingsverband Zorg of at least 3 facilities, 5 years (DOMAIN.md, Mandating)")
    func mandates() {
        #expect(rules.mandating.procedure == .call(minimumFacilities: 3))
        #expect(rules.mandating.mandateYears == 5)
        #expect(rules.mandating.eligibleOrganisationKinds == [.samenwerkingsverbandZorg])
        #expect(rules.mandating.decisionTerms(appliedOn: CalendarDate("2024-01-01")!) == nil)
    }

    @Test("AMA access routes: niet-toeleidbaar, leefloon + OCMW, medical advice at most 2 years old, IVT/IT (DOMAIN.md, AMA in detail)")
    func accessRoutes() throws {
        let routes = try #require(rules.ama?.accessRoutes)
        #expect(routes.contains(.nietToeleidbaar))
        #expect(routes.contains(.leefloonWithOCMWPermission))
        #expect(routes.contains(.unfitForWorkWithMedicalAdvice(maximumAdviceAgeYears: 2)))
        #expect(routes.contains(.disabilityBenefit))
    }

    @Test("AMA: over 18, under 65, 3 hours a day, not with VAPH dagondersteuning or begeleid werken (DOMAIN.md, AMA in detail)")
    func amaLimits() throws {
        let ama = try #require(rules.ama)
        #expect(ama.olderThan == 18)
        #expect(ama.youngerThan == 65)
        #expect(ama.minimumHoursPerDay == 3)
        #expect(ama.notCombinableWith == [.vaphDagondersteuning, .begeleidWerken])
        #expect(ama.socialEconomy?.yearlySubsidyCents == 281_220)
    }

    @Test("Mandatory network partner: Jongerenwelzijn or VAPH facility (DOMAIN.md, Networks)")
    func mandatoryPartner() {
        #expect(rules.networks.missingPartners(given: [.caw]).count == 1)
    }

    @Test("From 1 July 2023 (activation, GBO) and 1 January 2024 (AMA), open-ended (DOMAIN.md, Legal regimes)")
    func effectiveDates() {
        #expect(rules.offers[.activationTrajectory] == EffectiveInterval(from: CalendarDate("2023-07-01")!))
        #expect(rules.offers[.gboOnboarding] == EffectiveInterval(from: CalendarDate("2023-07-01")!))
        #expect(rules.offers[.ama] == EffectiveInterval(from: CalendarDate("2024-01-01")!))
        #expect(rules.gbo?.partners == [.ocmw, .caw, .ziekenfondsSocialService])
    }
}

struct BrusselsTests {
    let rules = Brussels()

    @Test("Brussels offers activation and AMA, no Flemish GBO onboarding (DOMAIN.md, Brussels)")
    func offers() {
        #expect(Set(rules.offers.keys) == [.activationTrajectory, .ama])
        #expect(rules.gbo == nil)
    }

    @Test("GGC facilities cannot be mandated by the Flemish Departement Zorg (DOMAIN.md, Brussels)")
    func ggcExcluded() {
        #expect(rules.mandating.excludedOrganisationKinds[.brusselsGGCFacility] != nil)
        #expect(!rules.mandating.eligibleOrganisationKinds.contains(.brusselsGGCFacility))
    }

    @Test("Activation 3 to 18 months; networks appointed with Actiris (DOMAIN.md, Three offers 1; Brussels)")
    func activation() {
        #expect(rules.activation.minimumMonths == 3)
        #expect(rules.activation.maximumMonths == 18)
        #expect(rules.networks.appointedBy.contains("Actiris"))
    }

    @Test("AMA in Brussels: over 18, under 65, 3 hours a day (DOMAIN.md, AMA in detail)")
    func ama() throws {
        let ama = try #require(rules.ama)
        #expect(ama.olderThan == 18 && ama.youngerThan == 65 && ama.minimumHoursPerDay == 3)
    }
}

struct CalendarDateTests {
    @Test func monthArithmeticClampsToTheMonthEnd() {
        #expect(CalendarDate("2023-01-31")!.adding(months: 1) == CalendarDate("2023-02-28"))
        #expect(CalendarDate("2024-01-31")!.adding(months: 1) == CalendarDate("2024-02-29"))
        #expect(CalendarDate("2023-01-15")!.adding(months: 18) == CalendarDate("2024-07-15"))
        #expect(CalendarDate("2023-01-31")!.months(until: CalendarDate("2023-02-28")!) == 1)
        #expect(CalendarDate("2023-01-15")!.months(until: CalendarDate("2024-07-14")!) == 17)
        #expect(CalendarDate("2023-12-20")!.adding(days: 12) == CalendarDate("2024-01-01"))
        #expect(CalendarDate("2024-03-01")!.adding(days: -1) == CalendarDate("2024-02-29"))
    }

    @Test func aDateIsReadFromItsDigits() {
        #expect(CalendarDate("2026-03-02") == CalendarDate(year: 2026, month: 3, day: 2))
        #expect(CalendarDate("2024-02-29")?.description == "2024-02-29")
    }

    @Test(arguments: ["2023-02-29", "2023-13-01", "2023-00-10", "2023-01-00", "23-01-01", "2023-1-1", "yesterday",
                      "+023-01-01", "2023-01-0a", "2023/01/01", "2023-01-011", "2023-01-01 ", "２０２３-01-01"])
    func impossibleDatesAreRefused(_ text: String) { #expect(CalendarDate(text) == nil) }
}
