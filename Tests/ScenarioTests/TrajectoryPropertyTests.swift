import Bus
import Core
import Foundation
import GBOOnboarding
import Intake
import IntakeContracts
import Logging
@testable import ModuleKit
import Networks
import PluginAPI
import PropertyBased
import Storage
import TestSupport
import Testing

/// Generated sequences of what caseworkers and systems do to trajectories that meet a network:
/// referrals, holds, resumes, ends, capacity changes, facts sent again with a new event id,
/// referrals and releases sent by hand, back-dated resumes, advice that changes. Intake, networks
/// and GBO onboarding handle them on an in-memory bus, and the invariants are checked after every
/// event. A failure is shrunk to the shortest sequence that still breaks an invariant.
///
/// `WZT_PROPERTY_SEQUENCES` sets how many sequences run (a soak run sets it high).
@Suite(.serialized, .timeLimit(.minutes(120)))
struct TrajectoryPropertyTests {
    static let sequences = ProcessInfo.processInfo.environment["WZT_PROPERTY_SEQUENCES"].flatMap(Int.init) ?? 2_500

    @Test func networkPlacesAndTrajectoriesAgreeUnderAnySequence() async throws {
        let played = Counter()
        // The set-up (a mandate, an active network, four cases) is made once; every sequence
        // starts from a copy of its databases.
        let template = try await TrajectoryWorld.setUp()
        await onEveryCore(Self.sequences) { count in
            await propertyCheck(count: count, input: Step.generator.array(of: 1...24)) { steps in
                await playSequence(steps, counting: played) {
                    let world = try TrajectoryWorld(copying: template)
                    try await world.play(steps)
                    return world.world
                }
            }
        }
        #expect(played.value >= Self.sequences)
    }
}

/// One thing that happens to a world of one network, three started trajectories and a case at its
/// screening advice.
enum Step: Sendable, CustomStringConvertible {
    case refer(Int), hold(Int), resume(Int), end(Int), capacity(Int), resendLast, referByHand(Int), releaseByHand(Int)
    case resumeBackdated(Int), advise(Int, welzijn: Bool), wait(Int)

    static let generator = zip(Gen.int(in: 0...10), Gen.int(in: 0...3), Gen.int(in: 0...3)).map { kind, trajectory, number in
        switch kind {
        case 0, 1: Step.refer(trajectory)
        case 2: Step.hold(trajectory)
        case 3: Step.resume(trajectory)
        case 4: Step.end(trajectory)
        case 5: Step.capacity(number)
        case 6: Step.resendLast
        case 7: number < 2 ? Step.referByHand(trajectory) : Step.releaseByHand(trajectory)
        case 8: Step.resumeBackdated(trajectory)
        case 9: Step.advise(trajectory, welzijn: number < 2)
        default: Step.wait(number * 7)
        }
    }

    var description: String {
        switch self {
        case .refer(let t): "refer(\(t))"
        case .hold(let t): "hold(\(t))"
        case .resume(let t): "resume(\(t))"
        case .end(let t): "end(\(t))"
        case .capacity(let n): "capacity(\(n))"
        case .resendLast: "resendLast"
        case .referByHand(let t): "referByHand(\(t))"
        case .releaseByHand(let t): "releaseByHand(\(t))"
        case .resumeBackdated(let t): "resumeBackdated(\(t))"
        case .advise(let t, let welzijn): "advise(\(t), welzijn: \(welzijn))"
        case .wait(let days): "wait(\(days))"
        }
    }
}

/// Intake, networks and GBO onboarding on one in-memory bus, their databases in memory where the
/// machine has a memory file system: one world per sequence.
final class TrajectoryWorld: @unchecked Sendable {
    static let net = "net-1"
    static let cases = (0..<4).map { "case-\($0)" }
    static let firstDay = CalendarDate(year: 2024, month: 3, day: 1)!
    static let parts = Result<ModuleWorld.Parts, any Error> { try ModuleWorld.Parts(modules()) }
    static func modules() -> [any Module] { [IntakeModule(), NetworksModule(), GBOOnboardingModule()] }

    let world: ModuleWorld

    /// A world whose databases start as copies of `template`'s, or empty.
    init(copying template: ModuleWorld.Template? = nil) throws {
        world = try ModuleWorld(Self.modules(), parts: try Self.parts.get(), copying: template)
    }

    // MARK: one sequence

    /// Databases holding an active mandate, an active network of one place, three trajectories
    /// with an approved plan and a case at its screening advice; closed, ready to copy.
    static func setUp() async throws -> ModuleWorld.Template {
        let world = try TrajectoryWorld()
        let (net, cases, run) = (net, cases, 1)
        func date() -> JSONValue { .string(firstDay.description) }
        let publish = { try await world.world.publish($0, $1, $2) }
        try await publish("be.wzt.mandating.mandate-status-changed", "app-\(run)", .object([
            "applicationId": .string("app-\(run)"), "organisationId": .string("org-zorg"), "region": .string("flanders"),
            "werkingsgebied": .string("Gent"), "status": .string("active"), "on": date(), "ruleSet": .string("flanders-2014")]))
        try await publish("be.wzt.networks.network-registered", net, .object([
            "networkId": .string(net), "name": .string(net), "region": .string("flanders"), "werkingsgebied": .string("Gent"),
            "coordinatorOrganisationId": .string("org-coord"), "capacity": .number(1), "registeredOn": date()]))
        try await publish("be.wzt.networks.partner-joined", net, .object([
            "networkId": .string(net), "organisationId": .string("org-jw"), "kind": .string("jongerenwelzijn-facility")]))
        try await publish("be.wzt.networks.network-activation-requested", net, .object(["networkId": .string(net), "requestedOn": date()]))
        try await publish("be.wzt.gbo.partner-registered", "Gent", .object([
            "municipality": .string("Gent"), "organisationId": .string("ocmw-gent"), "organisationName": .string("OCMW Gent"), "kind": .string("ocmw")]))
        for (number, id) in cases.enumerated() {
            let c = JSONValue.string(id)
            try await publish("be.wzt.intake.screening-requested", id, .object([
                "caseId": c, "insz": .string("85073003328"), "region": .string("flanders"), "requestedBy": .string("counsellor"),
                "requestedOn": date(), "office": .string("VDAB Gent")]))
            try await publish("be.wzt.intake.screening-advised", id, .object(["caseId": c, "advice": .string("NEC"), "advisedOn": date(), "municipality": .string("Gent")]))
            // The last case stays at its screening advice, where a new advice may send it to GBO and back.
            if number == cases.count - 1 { continue }
            try await publish("be.wzt.intake.service-requested", id, .object(["caseId": c, "requestedOn": date()]))
            try await publish("be.wzt.intake.intake-held", id, .object([
                "caseId": c, "casemanagerWerkId": .string("cmw"), "casemanagerWerkOrganisationId": .string("org-vdab"), "heldOn": date()]))
            try await publish("be.wzt.intake.referred-to-casemanager-zorg", id, .object([
                "caseId": c, "mandateId": .string("app-\(run)"), "casemanagerZorgId": .string("cmz"), "referredOn": date()]))
            try await publish("be.wzt.intake.first-meeting-held", id, .object(["caseId": c, "heldOn": date()]))
            try await publish("be.wzt.intake.plan-drawn-up", id, .object(["caseId": c, "drawnUpOn": date(), "includesInternship": .bool(false)]))
            try await publish("be.wzt.intake.plan-approved", id, .object([
                "caseId": c, "approvedOn": date(), "approverRole": .string("network-coordinator"), "approverId": .string("coord")]))
        }
        try await world.checkInvariants(net: net, cases: cases, after: "the set-up")
        return world.world.template
    }

    func play(_ steps: [Step]) async throws {
        let (net, cases) = (Self.net, Self.cases)
        var day = Self.firstDay
        var last: JSONValue?
        var byHand: Set<String> = []
        func date() -> JSONValue { .string(day.description) }
        func send(_ type: String, _ subject: String, _ data: [String: JSONValue]) async throws {
            let event = JSONValue.object(data)
            last = .object(["type": .string(type), "subject": .string(subject), "data": event])
            try await world.publish(type, subject, event)
        }

        for (index, step) in steps.enumerated() {
            day = day.adding(days: 1)
            switch step {
            case .refer(let t):
                try await send("be.wzt.intake.referred-to-network", cases[t], ["caseId": .string(cases[t]), "networkId": .string(net), "referredOn": date()])
            case .hold(let t):
                try await send("be.wzt.intake.trajectory-hold-changed", cases[t], ["caseId": .string(cases[t]), "onHold": .bool(true), "on": date()])
            case .resume(let t):
                try await send("be.wzt.intake.trajectory-hold-changed", cases[t], ["caseId": .string(cases[t]), "onHold": .bool(false), "on": date()])
            case .resumeBackdated(let t):
                try await send("be.wzt.intake.trajectory-hold-changed", cases[t], [
                    "caseId": .string(cases[t]), "onHold": .bool(false), "on": .string(day.adding(days: -20).description)])
            case .end(let t):
                try await send("be.wzt.intake.trajectory-ended", cases[t], ["caseId": .string(cases[t]), "endedOn": date(), "completed": .bool(false)])
            case .capacity(let n):
                try await send("be.wzt.networks.capacity-changed", net, ["networkId": .string(net), "capacity": .number(Double(n))])
            case .referByHand(let t):
                try await send("be.wzt.networks.referral-requested", cases[t], [
                    "referralId": .string("\(cases[t])@\(net)"), "networkId": .string(net), "caseId": .string(cases[t]), "referredOn": date()])
            case .releaseByHand(let t):
                try await send("be.wzt.networks.place-released", cases[t], ["networkId": .string(net), "caseId": .string(cases[t]), "releasedOn": date()])
            case .advise(let t, let welzijn):
                try await send("be.wzt.intake.screening-advised", cases[t], [
                    "caseId": .string(cases[t]), "advice": .string(welzijn ? "welzijn" : "NEC"), "advisedOn": date(), "municipality": .string("Gent")])
            case .resendLast:
                guard case .object(let event)? = last, case .string(let type)? = event["type"], case .string(let subject)? = event["subject"],
                      let data = event["data"] else { continue }
                try await world.publish(type, subject, data)
            case .wait(let days):
                day = day.adding(days: days)
            }
            if case .referByHand(let t) = step { byHand.insert(cases[t]) }
            if case .releaseByHand(let t) = step { byHand.insert(cases[t]) }
            try await checkInvariants(net: net, cases: cases, byHand: byHand, after: "step \(index + 1), \(step)")
        }
    }

    // MARK: invariants

    /// `byHand`: cases whose referral or release a system sent to the network directly; intake
    /// never hears of those, so only the network's own invariants hold for them.
    private func checkInvariants(net: String, cases: [String], byHand: Set<String> = [], after step: String) async throws {
        let (intake, networks, gbo) = (try world.store("intake"), try world.store("networks"), try world.store("gbo-onboarding"))
        let network = try #require(try await NetworksQueries(database: networks.database).network(net))
        let at = "\(net) after \(step)"
        // Each module's own invariants were checked after every delivery (ModuleWorld); these are
        // the ones between modules.
        for id in cases where !byHand.contains(id) {
            let record = try #require(try await IntakeQueries(database: intake.database).intakeCase(id))
            let running = record.status == .onHold ? record.statusBeforeHold ?? .started : record.status
            let accepted = network.accepted.contains(id), waiting = network.waitlist.contains(id)
            // Intake and the network agree on where the case is, on hold or not.
            switch running {
            case .inNetwork: #expect(accepted, "\(at): intake has \(id) in the network, the network does not")
            case .referredToNetwork: #expect(waiting, "\(at): \(id) is referred and the network has not waitlisted it")
            default: #expect(!accepted && !waiting, "\(at): \(id) is \(record.status.rawValue) in intake and \(accepted ? "accepted" : "waitlisted") in the network")
            }
            if accepted { #expect(running == .inNetwork, "\(at): the network accepted \(id), intake has it \(record.status.rawValue)") }
            if waiting { #expect(running == .referredToNetwork, "\(at): the network waitlists \(id), intake has it \(record.status.rawValue)") }
            // An open onthaal file only while the advice is welzijn.
            let openFiles = try await gbo.database.read { db in
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM onthaal_file WHERE case_id = ? AND closed_on IS NULL", arguments: [id]) ?? 0
            }
            if openFiles > 0 { #expect(record.advice == .welzijn, "\(at): \(id) has an open onthaal file and advice \(record.advice?.rawValue ?? "none")") }
        }
    }
}

