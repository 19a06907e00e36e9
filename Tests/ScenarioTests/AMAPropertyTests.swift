import AMA
import AMAContracts
import Foundation
import ModuleKit
import PluginAPI
import PropertyBased
import Storage
import TestSupport
import Testing

/// Generated sequences of AMA agreements at two begeleiders (a dagcentrum, whose participants hold
/// a yearly permission, and a maatwerkbedrijf in the sociale economie): submissions for the same
/// participant and werkpost, confirmations, renewals, ends (some dated before the start),
/// attendance, closed quarters, reassessments, facts sent again and months passing. After every
/// event the module's invariants hold; after every step, every deadline fired once, every
/// agreement ended once, and attendance lies within the agreement's own dates.
@Suite(.serialized, .timeLimit(.minutes(120)))
struct AMAPropertyTests {
    static let sequences = ProcessInfo.processInfo.environment["WZT_PROPERTY_SEQUENCES"].flatMap(Int.init) ?? 2_500
    static let parts = Result<ModuleWorld.Parts, any Error> { try ModuleWorld.Parts([AMAModule()]) }
    static let firstDay = CalendarDate(year: 2025, month: 1, day: 2)!
    static let scan = Data("%PDF-1.4\n% scan of the signed three-party agreement\n%%EOF\n".utf8)

    enum Step: Sendable, CustomStringConvertible {
        case submit(Int, participant: Int, werkpost: Int, socialEconomy: Bool, startsIn: Int)
        case confirm(Int), renew(Int), end(Int, beforeStart: Bool), attendance(Int, days: Int), closeQuarter
        case reassess(Int, continues: Bool), resendLast, wait(Int)

        static let generator = zip(Gen.int(in: 0...11), Gen.int(in: 0...3), Gen.int(in: 0...3), Gen.int(in: 0...20)).map { kind, agreement, other, number in
            switch kind {
            case 0, 1: Step.submit(agreement, participant: other % 2, werkpost: other / 2, socialEconomy: number % 2 == 0, startsIn: number)
            case 2, 3: Step.confirm(agreement)
            case 4: Step.renew(agreement)
            case 5: Step.end(agreement, beforeStart: other == 0)
            case 6: Step.attendance(agreement, days: number * 4)
            case 7: Step.closeQuarter
            case 8: Step.reassess(agreement, continues: other > 0)
            case 9: Step.resendLast
            default: Step.wait(number * 10)
            }
        }

        var description: String {
            switch self {
            case .submit(let a, let p, let w, let se, let starts): "submit(\(a), participant: \(p), werkpost: \(w), socialEconomy: \(se), startsIn: \(starts))"
            case .confirm(let a): "confirm(\(a))"
            case .renew(let a): "renew(\(a))"
            case .end(let a, let before): "end(\(a), beforeStart: \(before))"
            case .attendance(let a, let days): "attendance(\(a), days: \(days))"
            case .closeQuarter: "closeQuarter"
            case .reassess(let a, let continues): "reassess(\(a), continues: \(continues))"
            case .resendLast: "resendLast"
            case .wait(let days): "wait(\(days))"
            }
        }
    }

    @Test func agreementsDeadlinesAndAttendanceHoldUnderAnySequence() async throws {
        let parts = try Self.parts.get()
        let played = Counter()
        let template = try await Self.setUp(parts)
        await onEveryCore(Self.sequences) { count in
            await propertyCheck(count: count, input: Step.generator.array(of: 1...20)) { steps in
                await playSequence(steps, counting: played) {
                    let world = try ModuleWorld([AMAModule()], parts: parts, copying: template)
                    try await Self.play(steps, world: world)
                    return world
                }
            }
        }
        #expect(played.value >= Self.sequences)
    }

    /// Found by the generated sequences: a reassessment reported before the agreement was
    /// confirmed scheduled a deadline that the start's own reassessment did not replace, so the
    /// agreement ended with a deadline still running.
    @Test func aReassessmentBeforeTheStartLeavesNoDeadlineAfterTheEnd() async throws {
        let parts = try Self.parts.get()
        let world = try ModuleWorld([AMAModule()], parts: parts, copying: try await Self.setUp(parts))
        try await Self.play([.submit(3, participant: 0, werkpost: 0, socialEconomy: true, startsIn: 0), .reassess(3, continues: true), .confirm(3),
                             .end(3, beforeStart: false)], world: world)
        let running = try await world.store("ama").database.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM wzt_timers WHERE subject = 'ag-3' AND status = 'scheduled'")
        }
        #expect(running == 0)
    }

    /// Two recognised begeleiders, contingents for three years and the scan every filing names.
    static func setUp(_ parts: ModuleWorld.Parts) async throws -> ModuleWorld.Template {
        let world = try ModuleWorld([AMAModule()], parts: parts)
        _ = try await AMAAttachments(database: try world.store("ama").database).store(scan)
        for (id, type, number) in [("beg-1", "dagcentrum", "AMA-2024-017"), ("mwb-1", "maatwerkbedrijf", "AMA-2024-112")] {
            try await world.publish("be.wzt.ama.begeleider-recognised", id, .object([
                "begeleiderId": .string(id), "facilityType": .string(type), "recognitionNumber": .string(number),
                "liabilityInsurance": .bool(true), "staff": .number(6), "recognisedOn": .string("2024-11-04")]))
        }
        for year in 2025...2027 {
            try await world.publish("be.wzt.ama.contingent-set", "mwb-1", .object(["begeleiderId": .string("mwb-1"), "year": .number(Double(year)), "places": .number(2)]))
        }
        return world.template
    }

    static func play(_ steps: [Step], world: ModuleWorld) async throws {
        var day = firstDay
        var last: (String, String, JSONValue)?
        var starts: [String: CalendarDate] = [:]
        func date(_ day: CalendarDate) -> JSONValue { .string(day.description) }
        func send(_ type: String, _ subject: String, _ data: [String: JSONValue]) async throws {
            last = (type, subject, .object(data))
            try await world.publish(type, subject, .object(data), time: day.startOfDay.addingTimeInterval(10 * 3_600))
        }
        for (index, step) in steps.enumerated() {
            day = day.adding(days: 1)
            if case .wait(let days) = step { day = day.adding(days: days) }
            try await world.fireTimers(at: day.startOfDay)
            switch step {
            case .submit(let number, let participant, let werkpost, let socialEconomy, let startsIn):
                let id = "ag-\(number)"
                let start = day.adding(days: startsIn)
                starts[id] = starts[id] ?? start
                let (begeleider, type, recognition) = socialEconomy ? ("mwb-1", "maatwerkbedrijf", "AMA-2024-112") : ("beg-1", "dagcentrum", "AMA-2024-017")
                let reference = try AMAAttachments.reference(for: scan)
                try await send("be.wzt.ama.agreement-submitted", id, [
                    "agreementId": .string(id), "participantId": .string("p-\(participant)"), "region": .string("flanders"),
                    "birthDate": .string("1985-07-30"),
                    "accessRoute": .object(["kind": .string(socialEconomy ? "social-economy-advice" : "disability-benefit")]),
                    "concurrentSupports": .array([]), "begeleiderId": .string(begeleider), "werkpostId": .string("wp-\(werkpost)"),
                    "werkpostName": .string("Werkpost \(werkpost)"),
                    "annex": .object([
                        "schedule": .string("ma-di-do-vr 8u30-12u30"), "hoursPerDay": .number(4), "hoursPerWeek": .number(19),
                        "tasks": .array([.string("inpakken")]), "locations": .array([.string("atelier")]),
                        "supervisorName": .string("Jan Claes"), "startOn": date(start)]),
                    "filing": .object([
                        "facilityType": .string(type), "recognitionNumber": .string(recognition), "participantName": .string("Deelnemer \(participant)"),
                        "insz": .string(participant == 0 ? "85073003427" : "85073003526"),
                        "attachment": .object(["sha256": .string(reference.sha256), "mediaType": .string(reference.mediaType), "bytes": .number(Double(scan.count))]),
                        "contactEmail": .string("ama@\(begeleider).example"), "dimonaReference": .string("DIMONA-\(participant)")]),
                ])
            case .confirm(let number):
                for party in ["participant", "begeleider", "werkpost"] {
                    try await send("be.wzt.ama.annex-confirmed", "ag-\(number)", [
                        "agreementId": .string("ag-\(number)"), "annexVersion": .number(1), "party": .string(party),
                        "confirmedBy": .string("\(party)-\(number)"), "confirmedOn": date(day)])
                }
            case .renew(let number):
                try await send("be.wzt.ama.permission-renewed", "ag-\(number)", ["agreementId": .string("ag-\(number)"), "renewedOn": date(day)])
            case .end(let number, let beforeStart):
                let on = beforeStart ? (starts["ag-\(number)"] ?? day).adding(days: -3) : day
                try await send("be.wzt.ama.end-reported", "ag-\(number)", [
                    "agreementId": .string("ag-\(number)"), "endedOn": date(on), "reason": .string("terminated-by-participant")])
            case .attendance(let number, let days):
                try await send("be.wzt.ama.attendance-reported", "ag-\(number)", [
                    "agreementId": .string("ag-\(number)"), "quarter": .string(try quarter(of: day).description), "attendanceDays": .number(Double(days))])
            case .closeQuarter:
                try await send("be.wzt.ama.quarter-closed", "quarters", ["quarter": .string(try quarter(of: day.adding(months: -3)).description)])
            case .reassess(let number, let continues):
                try await send("be.wzt.ama.reassessed", "ag-\(number)", ["agreementId": .string("ag-\(number)"), "on": date(day), "continues": .bool(continues)])
            case .resendLast:
                if let (type, subject, data) = last { try await world.publish(type, subject, data) }
            case .wait: break
            }
            try await check(world, after: "step \(index + 1), \(step)")
        }
    }

    static func quarter(of day: CalendarDate) throws -> Quarter { try Quarter(year: day.year, number: (day.month - 1) / 3 + 1) }

    /// What holds between the module's events and its tables, whatever happened.
    static func check(_ world: ModuleWorld, after step: String) async throws {
        let ended = try world.published("be.wzt.ama.agreement-ended").compactMap { $0["agreementId"]?.description }
        #expect(Set(ended).count == ended.count, "\(step): an agreement ended twice: \(ended)")
        let deadlines = try world.published("be.wzt.ama.permission-deadline").map(\.description)
            + world.published("be.wzt.ama.reassessment-due").map(\.description)
        #expect(Set(deadlines).count == deadlines.count, "\(step): a deadline fired twice: \(deadlines)")
        let rows = try await world.store("ama").database.read { db in
            try SQLRow.fetchAll(db, sql: """
                SELECT a.id, a.ended_on, v.annex, t.quarter FROM attendance t JOIN agreement a ON a.id = t.agreement_id
                JOIN annex_version v ON v.agreement_id = a.id AND v.version = 1
                """)
        }
        for row in rows {
            let annex = try JSONDecoder().decode(AgreementSubmitted.Annex.self, from: Data((row["annex"] as String).utf8))
            let quarter = try Quarter(row["quarter"] as String)
            let ended = (try row["ended_on"] as String?).flatMap(CalendarDate.init)
            let id: String = try row["id"]
            #expect(quarter.lastDay >= annex.startOn && (ended.map { quarter.firstDay <= $0 } ?? true),
                    "\(step): attendance for \(quarter) lies outside agreement \(id) (\(annex.startOn)–\(ended?.description ?? ""))")
        }
        let endedBeforeStart = try await world.store("ama").database.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT a.id, a.ended_on, v.annex FROM agreement a JOIN annex_version v ON v.agreement_id = a.id AND v.version = 1 WHERE a.ended_on IS NOT NULL")
        }
        for row in endedBeforeStart {
            let annex = try JSONDecoder().decode(AgreementSubmitted.Annex.self, from: Data((row["annex"] as String).utf8))
            let endedOn = try #require(CalendarDate(try row["ended_on"] as String))
            let id: String = try row["id"]
            #expect(endedOn >= annex.startOn, "\(step): agreement \(id) ended on \(endedOn), before its start \(annex.startOn)")
        }
    }
}

