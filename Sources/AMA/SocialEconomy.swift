import AMAContracts
import Foundation
import Storage
import ModuleKit
import PluginAPI

/// The end of an agreement, and AMA sociale economie: yearly reassessment, attendance per
/// quarter and the subsidy report per facility (DOMAIN.md, AMA in detail).
extension AMAWork {
    func end(_ report: EndReported) throws {
        let id = report.agreementId
        let row = try openAgreement(id)
        if let start = try? annexStart(id, version: 1), report.endedOn < start {
            throw AMARefusal(agreementId: id, code: .invalidDate, reason: "agreement \(id) starts on \(start); it cannot end on \(report.endedOn), before that")
        }
        if let current = (try row["permission_valid_until"] as String?).flatMap(CalendarDate.init) {
            for stage in PermissionDeadline.Stage.allCases { try transaction.cancelTimerIfRunning(permissionTimer(id, stage, validUntil: current)) }
        }
        if let due = (try row["reassessment_due_on"] as String?).flatMap(CalendarDate.init) { try transaction.cancelTimerIfRunning(reassessmentTimer(id, due)) }
        try db.execute(sql: "UPDATE agreement SET ended_on = ?, end_reason = ? WHERE id = ?", arguments: [report.endedOn.description, report.reason.rawValue, id])
        try transaction.publish(AgreementEnded(agreementId: id, endedOn: report.endedOn, reason: report.reason, ruleSet: row["rule_set"]), subject: id)
    }

    func reassess(_ reassessment: Reassessed) throws {
        let id = reassessment.agreementId
        let row = try openAgreement(id)
        guard (try row["social_economy"] as Bool), let socialEconomy = try socialEconomyRules(id) else {
            throw AMARefusal(agreementId: id, code: .notSocialEconomy, reason: "agreement \(id) is not AMA sociale economie; only those are reassessed yearly")
        }
        if reassessment.continues {
            try scheduleReassessment(id, on: reassessment.on.adding(months: socialEconomy.reassessmentMonths))
        } else {
            try end(EndReported(agreementId: id, endedOn: reassessment.on, reason: .reassessment))
        }
    }

    func setContingent(_ contingent: ContingentSet) throws {
        guard contingent.places >= 0 else {
            throw AMARefusal(agreementId: nil, code: .contingent, reason: "a contingent is zero or more places, not \(contingent.places)")
        }
        try db.execute(sql: """
            INSERT INTO contingent (begeleider_id, year, places) VALUES (?, ?, ?)
            ON CONFLICT(begeleider_id, year) DO UPDATE SET places = excluded.places
            """, arguments: [contingent.begeleiderId, contingent.year, contingent.places])
    }

    /// Attendance may be reported after the agreement ended, for the quarters it ran in: the
    /// days before the end earn their subsidy.
    func recordAttendance(_ attendance: AttendanceReported) throws {
        let id = attendance.agreementId
        guard let row = try SQLRow.fetchOne(db, sql: "SELECT * FROM agreement WHERE id = ?", arguments: [id]) else {
            throw AMARefusal(agreementId: id, code: .unknownAgreement, reason: "no agreement \(id)")
        }
        if let ended = (try row["ended_on"] as String?).flatMap(CalendarDate.init), attendance.quarter.firstDay > ended {
            throw AMARefusal(agreementId: id, code: .agreementEnded, reason: "agreement \(id) ended on \(ended), before \(attendance.quarter) began")
        }
        guard (try row["social_economy"] as Bool) else {
            throw AMARefusal(agreementId: id, code: .notSocialEconomy, reason: "agreement \(id) is not AMA sociale economie; attendance is reported for the sociale economie subsidy only")
        }
        guard (try row["active_version"] as Int?) != nil else {
            throw AMARefusal(agreementId: id, code: .attendance, reason: "agreement \(id) is not active yet: every party confirms it first")
        }
        let start = try annexStart(id, version: 1)
        guard attendance.quarter.lastDay >= start else {
            throw AMARefusal(agreementId: id, code: .attendance, reason: "agreement \(id) starts on \(start), after \(attendance.quarter) ended")
        }
        guard (0...attendance.quarter.days).contains(attendance.attendanceDays) else {
            throw AMARefusal(agreementId: id, code: .attendance, reason: "\(attendance.quarter) has \(attendance.quarter.days) days; \(attendance.attendanceDays) attendance days cannot be right")
        }
        guard try !isClosed(attendance.quarter) else {
            throw AMARefusal(agreementId: id, code: .quarterClosed, reason: "\(attendance.quarter) is closed and its subsidy reported; attendance can no longer change")
        }
        try db.execute(sql: """
            INSERT INTO attendance (agreement_id, quarter, days) VALUES (?, ?, ?)
            ON CONFLICT(agreement_id, quarter) DO UPDATE SET days = excluded.days
            """, arguments: [id, attendance.quarter.description, attendance.attendanceDays])
    }

    /// One report per facility with attendance in the quarter: each line attendance days / 365
    /// of the yearly amount, the total capped by the contingent's places for that quarter.
    func closeQuarter(_ closing: QuarterClosed) throws {
        let quarter = closing.quarter
        guard try !isClosed(quarter) else {
            throw AMARefusal(agreementId: nil, code: .quarterClosed, reason: "\(quarter) was closed before; its reports stand")
        }
        try db.execute(sql: "INSERT INTO closed_quarter (quarter) VALUES (?)", arguments: [quarter.description])
        let rows = try SQLRow.fetchAll(db, sql: """
            SELECT a.begeleider_id, a.id, a.rule_set, t.days FROM attendance t JOIN agreement a ON a.id = t.agreement_id
            WHERE t.quarter = ? ORDER BY a.begeleider_id, a.id
            """, arguments: [quarter.description])
        for (begeleider, attendances) in try Dictionary(grouping: rows, by: { try $0["begeleider_id"] as String }).sorted(by: { $0.key < $1.key }) {
            var lines: [SubsidyReported.Line] = []
            var quarterCap = 0
            for row in attendances {
                let ruleSet: String = try row["rule_set"]
                guard let rules = transaction.rules.ruleSets.first(where: { $0.id == ruleSet })?.ama?.socialEconomy else {
                    throw AMARefusal(agreementId: try row["id"], code: .noRules, reason: "rule set \(ruleSet) with AMA sociale economie is not loaded")
                }
                lines.append(.init(agreementId: try row["id"], attendanceDays: try row["days"], subsidyCents: rules.quarterSubsidyCents(attendanceDays: try row["days"])))
                quarterCap = max(quarterCap, rules.quarterSubsidyCents(attendanceDays: quarter.days))
            }
            let places = try Int.fetchOne(db, sql: "SELECT places FROM contingent WHERE begeleider_id = ? AND year = ?", arguments: [begeleider, quarter.year]) ?? 0
            let computed = lines.map(\.subsidyCents).reduce(0, +)
            let cap = places * quarterCap
            try transaction.publish(SubsidyReported(begeleiderId: begeleider, quarter: quarter, lines: lines, computedCents: computed,
                                                    contingentPlaces: places, capCents: cap, payableCents: min(computed, cap)), subject: begeleider)
        }
    }

    /// One reassessment deadline per agreement: a new one replaces the one before (a reassessment
    /// reported before the agreement started once left that one running after the agreement ended).
    func scheduleReassessment(_ id: String, on due: CalendarDate) throws {
        if let previous = try String.fetchOne(db, sql: "SELECT reassessment_due_on FROM agreement WHERE id = ?", arguments: [id]).flatMap(CalendarDate.init) {
            try transaction.cancelTimerIfRunning(reassessmentTimer(id, previous))
        }
        try db.execute(sql: "UPDATE agreement SET reassessment_due_on = ? WHERE id = ?", arguments: [due.description, id])
        try transaction.schedule(timer: reassessmentTimer(id, due), at: due.startOfDay, publish: ReassessmentDue(agreementId: id, dueOn: due), subject: id)
    }

    func socialEconomyRules(_ id: String) throws -> SocialEconomyRules? {
        guard let row = try SQLRow.fetchOne(db, sql: "SELECT rule_set, social_economy FROM agreement WHERE id = ?", arguments: [id]),
              (try row["social_economy"] as Bool) else { return nil }
        let ruleSet: String = try row["rule_set"]
        return transaction.rules.ruleSets.first { $0.id == ruleSet }?.ama?.socialEconomy
    }

    private func reassessmentTimer(_ id: String, _ due: CalendarDate) -> String { "reassessment-\(id)-\(due)" }


    private func isClosed(_ quarter: Quarter) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM closed_quarter WHERE quarter = ?)", arguments: [quarter.description]) ?? false
    }
}
