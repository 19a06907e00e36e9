import Core
import FlandersRules
import ModuleKit
import PluginAPI
import Testing

struct RuleBookTests {
    let book = try! RuleBook(PluginLoader.builtIn.flatMap(\.ruleSets))

    func id(_ region: String, _ offer: Offer, _ date: String) throws -> String {
        try book.rules(region: region, offer: offer, caseStartedOn: CalendarDate(date)!).id
    }

    @Test("A trajectory started on 2023-06-30 keeps 2014 rules; one started on 2023-07-01 gets 2022 rules (DOMAIN.md, Legal regimes)")
    func activationSwitch() throws {
        #expect(try id("flanders", .activationTrajectory, "2023-06-30") == "flanders-2014")
        #expect(try id("flanders", .activationTrajectory, "2023-07-01") == "flanders-2022")
        #expect(try id("flanders", .gboOnboarding, "2023-06-30") == "flanders-2014")
        #expect(try id("flanders", .gboOnboarding, "2023-07-01") == "flanders-2022")
    }

    @Test("AMA switches on 2024-01-01, not on 2023-07-01 (DOMAIN.md, Legal regimes)")
    func amaSwitch() throws {
        #expect(try id("flanders", .ama, "2023-07-01") == "flanders-2014")
        #expect(try id("flanders", .ama, "2023-12-31") == "flanders-2014")
        #expect(try id("flanders", .ama, "2024-01-01") == "flanders-2022")
    }

    @Test("A Brussels case gets Brussels rules (DOMAIN.md, Brussels)")
    func brussels() throws {
        #expect(try id("brussels", .activationTrajectory, "2023-06-30") == "brussels")
        #expect(try id("brussels", .activationTrajectory, "2025-03-01") == "brussels")
        let error = #expect(throws: RuleBookError.self) { try id("brussels", .gboOnboarding, "2025-03-01") }
        #expect(error?.description == "gbo-onboarding is not offered in brussels")
    }

    @Test func casesBeforeAnyRuleSetOrInAnUnknownRegionAreRefused() {
        let early = #expect(throws: RuleBookError.self) { try id("flanders", .activationTrajectory, "2018-06-30") }
        #expect(early?.description.contains("the first starts on 2018-07-01") == true)
        let unknown = #expect(throws: RuleBookError.self) { try id("wallonia", .activationTrajectory, "2024-01-01") }
        #expect(unknown?.description.contains("known regions: brussels, flanders") == true)
    }

    @Test func overlappingRuleSetsAreAStartUpErrorNamingThem() {
        let error = #expect(throws: RuleBookError.self) {
            try RuleBook([Flanders2014(), Flanders2022(), Synthetic(id: "flanders-2019", region: "flanders", from: "2019-01-01", until: "2024-01-01")])
        }
        #expect(error?.description.contains("flanders-2014 and flanders-2019 overlap") == true)
    }

    @Test func gapsBetweenRuleSetsAreAStartUpErrorNamingThem() {
        let error = #expect(throws: RuleBookError.self) {
            try RuleBook([
                Synthetic(id: "east-1", region: "east", from: "2020-01-01", until: "2021-01-01"),
                Synthetic(id: "east-2", region: "east", from: "2021-02-01", until: nil),
            ])
        }
        #expect(error?.description == "no rule set covers activation-trajectory in east for cases started from 2021-01-01 to 2021-02-01 (between east-1 and east-2)")
    }

    @Test func aRuleSetLoadedTwiceIsRefused() {
        #expect(throws: RuleBookError.self) { try RuleBook([Flanders2014(), Flanders2014()]) }
    }
}

/// A rule set for the rule book's own checks: only its activation interval matters.
final class Synthetic: RegionalRules {
    let id: String
    let region: String
    let regime = "test"
    let offers: [Offer: EffectiveInterval]
    let activation = Flanders2022().activation
    let mandating = Flanders2022().mandating
    let networks = Flanders2022().networks
    let ama: AMARules? = nil
    let gbo: GBORules? = nil

    init(id: String, region: String, from: String, until: String?) {
        self.id = id
        self.region = region
        offers = [.activationTrajectory: EffectiveInterval(from: CalendarDate(from)!, until: until.flatMap(CalendarDate.init))]
    }
}
