import Foundation
import Mandating
import ModuleKit
import PluginAPI
import PropertyBased
import Storage
import Testing

/// Generated sequences of mandate applications under both regimes around 1 July 2023: decisions
/// in any order, withdrawals, facts sent again, and days passing so that terms run out. The
/// module's invariants hold after every event, and every deadline it fires is one its own
/// decisions did not meet, once.
@Suite(.serialized, .timeLimit(.minutes(120)))
struct MandatePropertyTests {
    static let sequences = ProcessInfo.processInfo.environment["WZT_PROPERTY_SEQUENCES"].flatMap(Int.init) ?? 2_500
    static let parts = Result<ModuleWorld.Parts, any Error> { try ModuleWorld.Parts([MandatingModule()]) }

    enum Step: Sendable, CustomStringConvertible {
        case apply(Int, call: Bool, sameFacilityThrice: Bool), admissibility(Int, Bool), merits(Int, Bool), withdraw(Int), resendLast, wait(Int)

        static let generator = zip(Gen.int(in: 0...7), Gen.int(in: 0...2), Gen.int(in: 0...3)).map { kind, app, number in
            switch kind {
            case 0, 1: Step.apply(app, call: number > 0, sameFacilityThrice: number == 3)
            case 2: Step.admissibility(app, number > 0)
            case 3: Step.merits(app, number > 0)
            case 4: Step.withdraw(app)
            case 5: Step.resendLast
            default: Step.wait(number * 15)
            }
        }

        var description: String {
            switch self {
            case .apply(let app, let call, let thrice): "apply(\(app), call: \(call), sameFacilityThrice: \(thrice))"
            case .admissibility(let app, let admissible): "admissibility(\(app), \(admissible))"
            case .merits(let app, let granted): "merits(\(app), \(granted))"
            case .withdraw(let app): "withdraw(\(app))"
            case .resendLast: "resendLast"
            case .wait(let days): "wait(\(days))"
            }
        }
    }

    @Test func deadlinesFireOnceAndOnlyForDecisionsThatCameLate() async throws {
        let parts = try Self.parts.get()
        let played = Counter()
        await onEveryCore(Self.sequences) { count in
            await propertyCheck(count: count, input: Step.generator.array(of: 1...20)) { steps in
                await playSequence(steps, counting: played) {
                    let world = try ModuleWorld([MandatingModule()], parts: parts)
                    try await Self.play(steps, world: world)
                    return world
                }
            }
        }
        #expect(played.value >= Self.sequences)
    }

    static func play(_ steps: [Step], world: ModuleWorld) async throws {
        var day = CalendarDate(year: 2023, month: 6, day: 20)!
        func date() -> JSONValue { .string(day.description) }
        var last: (String, String, JSONValue)?
        func send(_ type: String, _ subject: String, _ data: [String: JSONValue]) async throws {
            last = (type, subject, .object(data))
            try await world.publish(type, subject, .object(data), time: day.startOfDay.addingTimeInterval(9 * 3_600))
        }
        try await world.publish("be.wzt.mandating.call-opened", "call-1", .object([
            "callId": .string("call-1"), "region": .string("flanders"), "werkingsgebied": .string("Gent"),
            "opensOn": .string("2023-07-01"), "closesOn": .string("2023-12-31")]))
        for (index, step) in steps.enumerated() {
            day = day.adding(days: 1)
            if case .wait(let days) = step { day = day.adding(days: days) }
            try await world.fireTimers(at: day.startOfDay)
            switch step {
            case .apply(let app, let call, let thrice):
                let facility = { (id: String, kind: String) -> JSONValue in .object(["organisationId": .string(id), "kind": .string(kind)]) }
                var data: [String: JSONValue] = [
                    "applicationId": .string("app-\(app)"), "organisationId": .string("org-\(app)"), "organisationName": .string("Organisation \(app)"),
                    "organisationKind": .string(call ? "samenwerkingsverband-zorg" : "caw"), "region": .string("flanders"),
                    "werkingsgebied": .string("Gent"), "receivedOn": date(), "icfTrainedStaff": .bool(true)]
                if call {
                    data["callId"] = .string("call-1")
                    data["facilities"] = .array(thrice ? Array(repeating: facility("org-caw", "caw"), count: 3)
                                                       : [facility("org-caw", "caw"), facility("org-cgg", "cgg"), facility("org-pz", "psychiatric-hospital")])
                }
                try await send("be.wzt.mandating.application-received", "app-\(app)", data)
            case .admissibility(let app, let admissible):
                try await send("be.wzt.mandating.admissibility-decided", "app-\(app)", ["applicationId": .string("app-\(app)"), "admissible": .bool(admissible), "decidedOn": date()])
            case .merits(let app, let granted):
                try await send("be.wzt.mandating.merits-decided", "app-\(app)", ["applicationId": .string("app-\(app)"), "granted": .bool(granted), "decidedOn": date()])
            case .withdraw(let app):
                try await send("be.wzt.mandating.mandate-withdrawn", "app-\(app)", ["applicationId": .string("app-\(app)"), "withdrawnOn": date(), "reason": .string("test")])
            case .resendLast:
                if let (type, subject, data) = last { try await world.publish(type, subject, data) }
            case .wait: break
            }
            try await checkDeadlines(world, after: "step \(index + 1), \(step)")
        }
    }

    /// Every `decision-overdue` fired once, for a decision not taken by the last day of its term.
    static func checkDeadlines(_ world: ModuleWorld, after step: String) async throws {
        var seen: Set<String> = []
        for overdue in try world.published("be.wzt.mandating.decision-overdue") {
            guard case .string(let app)? = overdue["applicationId"], case .string(let decision)? = overdue["decision"],
                  case .string(let due)? = overdue["dueOn"] else { Issue.record("\(step): \(overdue) lacks its fields"); continue }
            #expect(seen.insert("\(app) \(decision)").inserted, "\(step): \(decision) of \(app) was overdue twice")
            let decided: Set<String> = decision == "admissibility" ? ["admissible", "inadmissible"] : ["granted", "refused"]
            let onTime = try await world.store("mandating").database.read { db in
                try String.fetchAll(db, sql: "SELECT status FROM mandate_history WHERE application_id = ? AND status_on <= ?", arguments: [app, due])
            }
            #expect(decided.isDisjoint(with: onTime), "\(step): \(app)'s \(decision) came on time (by \(due)) and was still reported overdue")
        }
    }
}
