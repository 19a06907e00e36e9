import AMAContracts
import Bus
import Foundation
import GRDB
import ModuleKit
import PluginAPI

/// Arbeidsmatige activiteiten (DOMAIN.md, "AMA in detail"): recognised begeleiders, participant
/// eligibility from the rule set, and the three-party agreement whose annex is amended in versions
/// that the parties confirm without signing the agreement again.
public final class AMAModule: Module {
    public let name = "ama"
    public let contracts: [any EventContract.Type] = AMAContracts.all
    public let subscriptions: [EventPattern] = ([
        BegeleiderRecognised.eventType, BegeleiderMerged.eventType, AgreementSubmitted.eventType,
        AnnexConfirmed.eventType, AnnexAmended.eventType, PermissionRenewed.eventType, PermissionDeadline.eventType,
    ] as [EventType]).map { try! EventPattern($0.rawValue) }

    public init() {}

    public func registerMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("ama v1") { db in
            // The permission columns are in v2 below; v1 stays as it shipped.
            try db.execute(sql: """
                CREATE TABLE begeleider (
                    id TEXT PRIMARY KEY,
                    facility_type TEXT NOT NULL,
                    recognition_number TEXT NOT NULL,
                    recognised_on TEXT NOT NULL,
                    ended_on TEXT
                );
                CREATE TABLE agreement (
                    id TEXT PRIMARY KEY,
                    participant_id TEXT NOT NULL,
                    begeleider_id TEXT NOT NULL REFERENCES begeleider(id),
                    werkpost_id TEXT NOT NULL,
                    werkpost_name TEXT NOT NULL,
                    rule_set TEXT NOT NULL,
                    active_version INTEGER,
                    UNIQUE (participant_id, werkpost_id)
                );
                CREATE TABLE annex_version (
                    agreement_id TEXT NOT NULL REFERENCES agreement(id),
                    version INTEGER NOT NULL,
                    annex TEXT NOT NULL,
                    proposed_on TEXT NOT NULL,
                    PRIMARY KEY (agreement_id, version)
                );
                CREATE TABLE annex_confirmation (
                    agreement_id TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    party TEXT NOT NULL,
                    confirmed_by TEXT NOT NULL,
                    confirmed_on TEXT NOT NULL,
                    PRIMARY KEY (agreement_id, version, party)
                );
                """)
        }
        migrator.registerMigration("ama v2 yearly permission") { db in
            try db.execute(sql: """
                ALTER TABLE agreement ADD COLUMN permission_valid_until TEXT;
                ALTER TABLE agreement ADD COLUMN suspended INTEGER NOT NULL DEFAULT 0;
                """)
        }
    }

    public func handle(_ event: IncomingEvent, _ transaction: ModuleTransaction) throws {
        let work = AMAWork(transaction: transaction)
        do {
            switch event.type {
            case BegeleiderRecognised.eventType.rawValue: try work.recognise(event.data(as: BegeleiderRecognised.self))
            case BegeleiderMerged.eventType.rawValue: try work.merge(event.data(as: BegeleiderMerged.self))
            case AgreementSubmitted.eventType.rawValue: try work.submit(event.data(as: AgreementSubmitted.self))
            case AnnexConfirmed.eventType.rawValue: try work.confirm(event.data(as: AnnexConfirmed.self))
            case AnnexAmended.eventType.rawValue: try work.amend(event.data(as: AnnexAmended.self))
            case PermissionRenewed.eventType.rawValue: try work.renew(event.data(as: PermissionRenewed.self))
            case PermissionDeadline.eventType.rawValue: try work.reachDeadline(event.data(as: PermissionDeadline.self))
            default: return
            }
        } catch let refusal as AMARefusal {
            try transaction.publish(AMARefused(refusedEventId: event.id, refusedType: event.type, agreementId: refusal.agreementId,
                                               code: refusal.code, reason: refusal.reason), subject: refusal.agreementId ?? event.subject)
        }
    }
}

struct AMARefusal: Error {
    let agreementId: String?
    let code: String
    let reason: String
}

/// One confirmation in an agreement's history: who confirmed which annex version, and when.
public struct AnnexConfirmationRecord: Sendable, Hashable {
    public let version: Int
    public let party: AgreementParty
    public let confirmedBy: String
    public let confirmedOn: String
}

public struct AMAQueries: Sendable {
    let pool: DatabasePool
    public init(pool: DatabasePool) { self.pool = pool }

    /// The annex version in force, nil until all three parties confirmed the first one.
    public func activeVersion(_ agreementId: String) async throws -> Int? {
        try await pool.read { db in try Int.fetchOne(db, sql: "SELECT active_version FROM agreement WHERE id = ?", arguments: [agreementId]) }
    }

    public func confirmations(_ agreementId: String) async throws -> [AnnexConfirmationRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT version, party, confirmed_by, confirmed_on FROM annex_confirmation WHERE agreement_id = ? ORDER BY version, rowid",
                             arguments: [agreementId]).map {
                AnnexConfirmationRecord(version: $0["version"], party: AgreementParty(rawValue: $0["party"]) ?? .participant,
                                        confirmedBy: $0["confirmed_by"], confirmedOn: $0["confirmed_on"])
            }
        }
    }
}

private struct AMAWork {
    let transaction: ModuleTransaction
    var db: Database { transaction.db }

    func recognise(_ recognition: BegeleiderRecognised) throws {
        guard recognition.liabilityInsurance, recognition.staff > 0, !recognition.recognitionNumber.isEmpty else {
            throw AMARefusal(agreementId: nil, code: "recognition-incomplete",
                             reason: "a begeleider is recognised with a recognition number, liability insurance and staff (DOMAIN.md, AMA in detail: recognition of a begeleider)")
        }
        try db.execute(sql: """
            INSERT INTO begeleider (id, facility_type, recognition_number, recognised_on) VALUES (?, ?, ?, ?)
            ON CONFLICT(id) DO UPDATE SET facility_type = excluded.facility_type, recognition_number = excluded.recognition_number,
                recognised_on = excluded.recognised_on, ended_on = NULL
            """, arguments: [recognition.begeleiderId, recognition.facilityType, recognition.recognitionNumber, recognition.recognisedOn.description])
    }

    func merge(_ merger: BegeleiderMerged) throws {
        try db.execute(sql: "UPDATE begeleider SET ended_on = ? WHERE id = ? AND ended_on IS NULL", arguments: [merger.mergedOn.description, merger.begeleiderId])
    }

    func submit(_ submission: AgreementSubmitted) throws {
        let id = submission.agreementId
        let start = submission.annex.startOn
        let rules: any RegionalRules
        do {
            rules = try transaction.rules.rules(region: submission.region, offer: .ama, caseStartedOn: start)
        } catch {
            throw AMARefusal(agreementId: id, code: "no-rules", reason: error.description)
        }
        guard let ama = rules.ama else { throw AMARefusal(agreementId: id, code: "no-rules", reason: "\(rules.id) has no AMA") }
        try checkEligibility(submission, ama: ama, ruleSet: rules.id)
        try checkAnnex(submission.annex, agreementId: id, ama: ama, ruleSet: rules.id)
        let recognised = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM begeleider WHERE id = ? AND ended_on IS NULL)", arguments: [submission.begeleiderId]) ?? false
        guard recognised else {
            throw AMARefusal(agreementId: id, code: "begeleider-not-recognised", reason: "\(submission.begeleiderId) holds no current recognition as AMA begeleider (a merged organisation needs a new one)")
        }
        let taken = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM agreement WHERE participant_id = ? AND werkpost_id = ?)",
                                      arguments: [submission.participantId, submission.werkpostId]) ?? false
        guard !taken else {
            throw AMARefusal(agreementId: id, code: "werkpost-taken", reason: "the participant already has an agreement for werkpost \(submission.werkpostId): one agreement per werkpost (DOMAIN.md, AMA in detail)")
        }
        try db.execute(sql: "INSERT INTO agreement (id, participant_id, begeleider_id, werkpost_id, werkpost_name, rule_set) VALUES (?, ?, ?, ?, ?, ?)",
                       arguments: [id, submission.participantId, submission.begeleiderId, submission.werkpostId, submission.werkpostName, rules.id])
        try propose(submission.annex, agreementId: id, version: 1, on: start, ruleSet: rules.id)
    }

    private func checkEligibility(_ submission: AgreementSubmitted, ama: AMARules, ruleSet: String) throws {
        let id = submission.agreementId
        let start = submission.annex.startOn
        guard ama.ageAllows(born: submission.birthDate, startingOn: start) else {
            throw AMARefusal(agreementId: id, code: "age", reason: "AMA participants are over \(ama.olderThan) and under \(ama.youngerThan) on the start date (\(ruleSet); DOMAIN.md, Three offers 2)")
        }
        let route = submission.accessRoute
        let allowed: Bool = ama.accessRoutes.contains { allowed in
            switch (allowed, route.kind) {
            case (.nietToeleidbaar, .nietToeleidbaar), (.disabilityBenefit, .disabilityBenefit), (.socialEconomyAdvice, .socialEconomyAdvice),
                 (.leefloonWithOCMWPermission, .leefloon), (.unfitForWorkWithMedicalAdvice, .unfitForWork): true
            default: false
            }
        }
        guard allowed else {
            throw AMARefusal(agreementId: id, code: "access-route", reason: "access route \(route.kind.rawValue) does not give access to AMA under \(ruleSet) (DOMAIN.md, AMA in detail: access routes)")
        }
        switch route.kind {
        case .leefloon:
            guard route.permissionOn != nil else {
                throw AMARefusal(agreementId: id, code: "access-route", reason: "leefloon gives access with the OCMW's permission; give permissionOn (DOMAIN.md, AMA in detail: access routes b)")
            }
        case .unfitForWork:
            let maximumYears = ama.accessRoutes.compactMap { if case .unfitForWorkWithMedicalAdvice(let years) = $0 { years } else { nil } }.first ?? 0
            guard let permission = route.permissionOn, permission.adding(months: 12 * maximumYears) >= start else {
                throw AMARefusal(agreementId: id, code: "permission-too-old", reason: "the adviserend arts' permission must be at most \(maximumYears) years old on the start date (DOMAIN.md, AMA in detail: access routes c)")
            }
            guard route.sameActivity == true else {
                throw AMARefusal(agreementId: id, code: "not-same-activity", reason: "the adviserend arts' permission must be for this same activity (DOMAIN.md, AMA in detail: access routes c)")
            }
        default: break
        }
        if let conflict = submission.concurrentSupports.first(where: ama.notCombinableWith.contains) {
            throw AMARefusal(agreementId: id, code: "concurrent-support", reason: "AMA cannot be combined with \(conflict.rawValue) at the same time (DOMAIN.md, AMA in detail)")
        }
    }

    private func checkAnnex(_ annex: AgreementSubmitted.Annex, agreementId: String, ama: AMARules, ruleSet: String) throws {
        guard annex.hoursPerDay >= Double(ama.minimumHoursPerDay) else {
            throw AMARefusal(agreementId: agreementId, code: "minimum-hours", reason: "at least \(ama.minimumHoursPerDay) hours a day under \(ruleSet); the annex says \(annex.hoursPerDay) (DOMAIN.md, AMA in detail: agreement)")
        }
        guard annex.schedule != nil || annex.totalHours != nil, !annex.tasks.isEmpty, !annex.locations.isEmpty,
              !annex.supervisorName.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw AMARefusal(agreementId: agreementId, code: "annex-incomplete", reason: "the annex lists a schedule (or total hours when flexible), tasks, locations, the werkpost supervisor and the start date (DOMAIN.md, AMA in detail: agreement)")
        }
    }

    func amend(_ amendment: AnnexAmended) throws {
        let id = amendment.agreementId
        guard let row = try Row.fetchOne(db, sql: "SELECT rule_set, active_version FROM agreement WHERE id = ?", arguments: [id]) else {
            throw AMARefusal(agreementId: id, code: "unknown-agreement", reason: "no agreement \(id)")
        }
        guard let active: Int = row["active_version"] else {
            throw AMARefusal(agreementId: id, code: "invalid-confirmation", reason: "agreement \(id) is not active yet; the first annex is still awaiting confirmation")
        }
        let ruleSet: String = row["rule_set"]
        guard let ama = transaction.rules.ruleSets.first(where: { $0.id == ruleSet })?.ama else {
            throw AMARefusal(agreementId: id, code: "no-rules", reason: "rule set \(ruleSet) is not loaded")
        }
        try checkAnnex(amendment.annex, agreementId: id, ama: ama, ruleSet: ruleSet)
        let latest = try Int.fetchOne(db, sql: "SELECT MAX(version) FROM annex_version WHERE agreement_id = ?", arguments: [id]) ?? active
        try propose(amendment.annex, agreementId: id, version: latest + 1, on: amendment.amendedOn, ruleSet: ruleSet)
    }

    func confirm(_ confirmation: AnnexConfirmed) throws {
        let id = confirmation.agreementId
        guard let row = try Row.fetchOne(db, sql: "SELECT rule_set, active_version FROM agreement WHERE id = ?", arguments: [id]) else {
            throw AMARefusal(agreementId: id, code: "unknown-agreement", reason: "no agreement \(id)")
        }
        let exists = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM annex_version WHERE agreement_id = ? AND version = ?)",
                                       arguments: [id, confirmation.annexVersion]) ?? false
        let active: Int? = row["active_version"]
        guard exists, confirmation.annexVersion > (active ?? 0) else {
            throw AMARefusal(agreementId: id, code: "invalid-confirmation", reason: "annex version \(confirmation.annexVersion) of \(id) is not awaiting confirmation")
        }
        try db.execute(sql: """
            INSERT INTO annex_confirmation (agreement_id, version, party, confirmed_by, confirmed_on) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT(agreement_id, version, party) DO NOTHING
            """, arguments: [id, confirmation.annexVersion, confirmation.party.rawValue, confirmation.confirmedBy, confirmation.confirmedOn.description])
        let awaiting = try awaitingParties(id, version: confirmation.annexVersion)
        guard awaiting.isEmpty else { return }
        try db.execute(sql: "UPDATE agreement SET active_version = ? WHERE id = ?", arguments: [confirmation.annexVersion, id])
        if active == nil {
            // The permission runs a year (the rule set's renewal period) from the start date.
            let start = try annexStart(id, version: confirmation.annexVersion)
            try schedulePermission(id, validUntil: start.adding(months: try renewalMonths(id)).adding(days: -1))
        }
        try transaction.publish(AgreementStatusChanged(agreementId: id, status: .active, annexVersion: confirmation.annexVersion, awaiting: [],
                                                       on: confirmation.confirmedOn, ruleSet: row["rule_set"]), subject: id)
    }

    func renew(_ renewal: PermissionRenewed) throws {
        let id = renewal.agreementId
        guard let row = try Row.fetchOne(db, sql: "SELECT rule_set, active_version, permission_valid_until, suspended FROM agreement WHERE id = ?", arguments: [id]),
              let version: Int = row["active_version"], let current = (row["permission_valid_until"] as String?).flatMap(CalendarDate.init) else {
            throw AMARefusal(agreementId: id, code: "unknown-agreement", reason: "no active agreement \(id) with a permission to renew")
        }
        for stage in PermissionDeadline.Stage.allCases {
            let timerID = permissionTimer(id, stage, validUntil: current)
            if let timer = try? transaction.timer(timerID), timer.status == .scheduled { try transaction.cancelTimer(timerID) }
        }
        // A renewal extends from the end of the current permission, or from today when it had lapsed.
        let base = max(current.adding(days: 1), renewal.renewedOn)
        try schedulePermission(id, validUntil: base.adding(months: try renewalMonths(id)).adding(days: -1))
        if (row["suspended"] as Int) == 1 {
            try db.execute(sql: "UPDATE agreement SET suspended = 0 WHERE id = ?", arguments: [id])
            try transaction.publish(AgreementStatusChanged(agreementId: id, status: .active, annexVersion: version, awaiting: [],
                                                           on: renewal.renewedOn, ruleSet: row["rule_set"]), subject: id)
        }
    }

    func reachDeadline(_ deadline: PermissionDeadline) throws {
        guard deadline.stage == .expired,
              let row = try Row.fetchOne(db, sql: "SELECT rule_set, active_version FROM agreement WHERE id = ?", arguments: [deadline.agreementId]),
              let version: Int = row["active_version"] else { return }
        try db.execute(sql: "UPDATE agreement SET suspended = 1 WHERE id = ?", arguments: [deadline.agreementId])
        try transaction.publish(AgreementStatusChanged(agreementId: deadline.agreementId, status: .suspended, annexVersion: version, awaiting: [],
                                                       on: deadline.validUntil.adding(days: 1), ruleSet: row["rule_set"]), subject: deadline.agreementId)
    }

    /// A warning a month before the permission's last day, and suspension the day after it.
    private func schedulePermission(_ id: String, validUntil: CalendarDate) throws {
        try db.execute(sql: "UPDATE agreement SET permission_valid_until = ? WHERE id = ?", arguments: [validUntil.description, id])
        try transaction.schedule(timer: permissionTimer(id, .renewalDue, validUntil: validUntil), at: validUntil.adding(months: -1).startOfDay,
                                 publish: PermissionDeadline(agreementId: id, stage: .renewalDue, validUntil: validUntil), subject: id)
        try transaction.schedule(timer: permissionTimer(id, .expired, validUntil: validUntil), at: validUntil.adding(days: 1).startOfDay,
                                 publish: PermissionDeadline(agreementId: id, stage: .expired, validUntil: validUntil), subject: id)
    }

    /// One timer per stage and permission period: a fired timer of an earlier year never blocks the next.
    private func permissionTimer(_ id: String, _ stage: PermissionDeadline.Stage, validUntil: CalendarDate) -> String {
        "permission-\(stage.rawValue)-\(id)-\(validUntil)"
    }

    private func renewalMonths(_ id: String) throws -> Int {
        let ruleSet = try String.fetchOne(db, sql: "SELECT rule_set FROM agreement WHERE id = ?", arguments: [id]) ?? ""
        return transaction.rules.ruleSets.first { $0.id == ruleSet }?.ama?.permissionRenewalMonths ?? 12
    }

    private func annexStart(_ id: String, version: Int) throws -> CalendarDate {
        let json = try String.fetchOne(db, sql: "SELECT annex FROM annex_version WHERE agreement_id = ? AND version = ?", arguments: [id, version]) ?? "{}"
        return try JSONDecoder().decode(AgreementSubmitted.Annex.self, from: Data(json.utf8)).startOn
    }

    private func propose(_ annex: AgreementSubmitted.Annex, agreementId: String, version: Int, on date: CalendarDate, ruleSet: String) throws {
        let encoded = String(decoding: try JSONEncoder().encode(annex), as: UTF8.self)
        try db.execute(sql: "INSERT INTO annex_version (agreement_id, version, annex, proposed_on) VALUES (?, ?, ?, ?)",
                       arguments: [agreementId, version, encoded, date.description])
        try transaction.publish(AgreementStatusChanged(agreementId: agreementId, status: .awaitingConfirmation, annexVersion: version,
                                                       awaiting: AgreementParty.allCases, on: date, ruleSet: ruleSet), subject: agreementId)
    }

    private func awaitingParties(_ agreementId: String, version: Int) throws -> [AgreementParty] {
        let confirmed = Set(try String.fetchAll(db, sql: "SELECT party FROM annex_confirmation WHERE agreement_id = ? AND version = ?",
                                                arguments: [agreementId, version]))
        return AgreementParty.allCases.filter { !confirmed.contains($0.rawValue) }
    }
}
