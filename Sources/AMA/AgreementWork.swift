import AMAContracts
import Foundation
import Storage
import ModuleKit
import PluginAPI

/// The AMA module's work on one event, inside the delivery transaction.
struct AMAWork {
    let transaction: ModuleTransaction
    var db: any SQLDatabase { transaction.db }

    func recognise(_ recognition: BegeleiderRecognised) throws {
        guard recognition.liabilityInsurance, recognition.staff > 0, !recognition.recognitionNumber.isEmpty else {
            throw AMARefusal(agreementId: nil, code: .recognitionIncomplete,
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
        // The same submission sent again, or another one under a used id: either way not a new agreement.
        guard !(try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM agreement WHERE id = ?)", arguments: [id]) ?? false) else {
            throw AMARefusal(agreementId: id, code: .duplicateAgreement, reason: "agreement id \(id) is already used; a new agreement needs an id of its own")
        }
        let rules: any RegionalRules
        do {
            rules = try transaction.rules.rules(region: submission.region, offer: .ama, caseStartedOn: start)
        } catch {
            throw AMARefusal(agreementId: id, code: .noRules, reason: error.description)
        }
        guard let ama = rules.ama else { throw AMARefusal(agreementId: id, code: .noRules, reason: "\(rules.id) has no AMA") }
        guard let sealedFiling = submission.filing else {
            throw AMARefusal(agreementId: id, code: .filingIncomplete, reason: "an agreement is submitted electronically with facility type, recognition number, participant name and INSZ, one scan and a contact e-mail (DOMAIN.md, AMA in detail: electronic submission); `filing` is missing")
        }
        // Erased: the filing was checked when it was submitted; a replay keeps the agreement without it.
        let filing = sealedFiling.value
        try checkEligibility(submission, ama: ama, ruleSet: rules.id)
        let socialEconomy = submission.accessRoute.kind == .socialEconomyAdvice ? ama.socialEconomy : nil
        try checkAnnex(submission.annex, agreementId: id, ama: ama, socialEconomy: socialEconomy, ruleSet: rules.id)
        guard let begeleider = try SQLRow.fetchOne(db, sql: "SELECT facility_type, recognition_number FROM begeleider WHERE id = ? AND ended_on IS NULL",
                                                arguments: [submission.begeleiderId]) else {
            throw AMARefusal(agreementId: id, code: .begeleiderNotRecognised, reason: "\(submission.begeleiderId) holds no current recognition as AMA begeleider (a merged organisation needs a new one)")
        }
        if let filing { try checkFiling(filing, submission: submission, begeleider: begeleider, ama: ama) }
        // Running, or ended on or after this one's start: the two would overlap.
        let taken = try Bool.fetchOne(db, sql: """
            SELECT EXISTS (SELECT 1 FROM agreement WHERE participant_id = ? AND werkpost_id = ? AND (ended_on IS NULL OR ended_on >= ?))
            """, arguments: [submission.participantId, submission.werkpostId, start.description]) ?? false
        guard !taken else {
            throw AMARefusal(agreementId: id, code: .werkpostTaken, reason: "the participant already has a running agreement for werkpost \(submission.werkpostId): one agreement per werkpost (DOMAIN.md, AMA in detail)")
        }
        try db.execute(sql: """
            INSERT INTO agreement (id, participant_id, begeleider_id, werkpost_id, werkpost_name, rule_set, social_economy) VALUES (?, ?, ?, ?, ?, ?, ?)
            """, arguments: [id, submission.participantId, submission.begeleiderId, submission.werkpostId, submission.werkpostName, rules.id, socialEconomy != nil])
        if let filing {
            try db.execute(sql: """
                INSERT INTO agreement_filing (agreement_id, participant_name, insz, end_on, attachment_sha256, contact_email, dimona_reference)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [id, filing.participantName, filing.insz.digits, filing.endOn?.description, filing.attachment.sha256,
                                 filing.contactEmail, filing.dimonaReference])
        }
        try propose(submission.annex, agreementId: id, version: 1, on: start, ruleSet: rules.id)
    }

    private func checkEligibility(_ submission: AgreementSubmitted, ama: AMARules, ruleSet: String) throws {
        let id = submission.agreementId
        let start = submission.annex.startOn
        guard ama.ageAllows(born: submission.birthDate, startingOn: start) else {
            throw AMARefusal(agreementId: id, code: .age, reason: "AMA participants are over \(ama.olderThan) and under \(ama.youngerThan) on the start date (\(ruleSet); DOMAIN.md, Three offers 2)")
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
            throw AMARefusal(agreementId: id, code: .accessRoute, reason: "access route \(route.kind.rawValue) does not give access to AMA under \(ruleSet) (DOMAIN.md, AMA in detail: access routes)")
        }
        if let permission = route.permissionOn, permission > start {
            throw AMARefusal(agreementId: id, code: .permissionAfterStart, reason: "the permission (\(permission)) must be given before the AMA starts (\(start)) (DOMAIN.md, AMA in detail: access routes)")
        }
        switch route.kind {
        case .leefloon:
            guard route.permissionOn != nil else {
                throw AMARefusal(agreementId: id, code: .accessRoute, reason: "leefloon gives access with the OCMW's permission; give permissionOn (DOMAIN.md, AMA in detail: access routes b)")
            }
        case .unfitForWork:
            let maximumYears = ama.accessRoutes.compactMap { if case .unfitForWorkWithMedicalAdvice(let years) = $0 { years } else { nil } }.first ?? 0
            guard let permission = route.permissionOn, permission.adding(months: 12 * maximumYears) >= start else {
                throw AMARefusal(agreementId: id, code: .permissionTooOld, reason: "the adviserend arts' permission must be at most \(maximumYears) years old on the start date (DOMAIN.md, AMA in detail: access routes c)")
            }
            guard route.sameActivity == true else {
                throw AMARefusal(agreementId: id, code: .notSameActivity, reason: "the adviserend arts' permission must be for this same activity (DOMAIN.md, AMA in detail: access routes c)")
            }
        default: break
        }
        if let conflict = submission.concurrentSupports.first(where: ama.notCombinableWith.contains) {
            throw AMARefusal(agreementId: id, code: .concurrentSupport, reason: "AMA cannot be combined with \(conflict.rawValue) at the same time (DOMAIN.md, AMA in detail)")
        }
    }

    private func checkAnnex(_ annex: AgreementSubmitted.Annex, agreementId: String, ama: AMARules, socialEconomy: SocialEconomyRules?, ruleSet: String) throws {
        guard annex.hoursPerDay >= Double(ama.minimumHoursPerDay) else {
            throw AMARefusal(agreementId: agreementId, code: .minimumHours, reason: "at least \(ama.minimumHoursPerDay) hours a day under \(ruleSet); the annex says \(annex.hoursPerDay) (DOMAIN.md, AMA in detail: agreement)")
        }
        if let socialEconomy, (annex.hoursPerWeek ?? 0) < Double(socialEconomy.minimumHoursPerWeek) {
            throw AMARefusal(agreementId: agreementId, code: .minimumWeeklyHours, reason: "AMA sociale economie asks at least \(socialEconomy.minimumHoursPerWeek) hours a week under \(ruleSet); the annex says \(annex.hoursPerWeek.map { "\($0)" } ?? "none") (DOMAIN.md, AMA in detail: AMA sociale economie)")
        }
        guard annex.schedule != nil || annex.totalHours != nil, !annex.tasks.isEmpty, !annex.locations.isEmpty,
              !annex.supervisorName.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw AMARefusal(agreementId: agreementId, code: .annexIncomplete, reason: "the annex lists a schedule (or total hours when flexible), tasks, locations, the werkpost supervisor and the start date (DOMAIN.md, AMA in detail: agreement)")
        }
    }

    /// Checks the electronic submission against the begeleider's recognition and the stored scan.
    private func checkFiling(_ filing: ElectronicFiling, submission: AgreementSubmitted, begeleider: SQLRow, ama: AMARules) throws {
        let id = submission.agreementId
        let (facilityType, recognitionNumber): (String, String) = (try begeleider["facility_type"], try begeleider["recognition_number"])
        guard filing.facilityType == facilityType, filing.recognitionNumber == recognitionNumber else {
            throw AMARefusal(agreementId: id, code: .filingMismatch, reason: "the facility type and recognition number of the submission must be those of begeleider \(submission.begeleiderId)'s recognition")
        }
        guard filing.insz.matches(birthDate: submission.birthDate) else {
            throw AMARefusal(agreementId: id, code: .inszBirthDate, reason: "the INSZ of the submission does not belong to someone born on the participant's birth date (its first six digits and, for births from 2000, its check digits say otherwise)")
        }
        let nameGiven = !filing.participantName.trimmingCharacters(in: .whitespaces).isEmpty
        let emailParts = filing.contactEmail.split(separator: "@", omittingEmptySubsequences: false)
        let emailValid = emailParts.count == 2 && !emailParts[0].isEmpty && emailParts[1].contains(".") && !filing.contactEmail.contains(" ")
        guard nameGiven, emailValid, !filing.dimonaReference.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw AMARefusal(agreementId: id, code: .filingIncomplete, reason: "the submission names the participant, gives a contact e-mail address (name@domain) and the Dimona declaration (DOMAIN.md, AMA in detail: electronic submission)")
        }
        if let end = filing.endOn, end < submission.annex.startOn {
            throw AMARefusal(agreementId: id, code: .filingIncomplete, reason: "the end date \(end) is before the start date \(submission.annex.startOn)")
        }
        guard let stored = try SQLRow.fetchOne(db, sql: "SELECT media_type, bytes FROM attachment WHERE sha256 = ?", arguments: [filing.attachment.sha256]) else {
            throw AMARefusal(agreementId: id, code: .attachmentMissing, reason: "no scan \(filing.attachment.sha256) is stored; store it first (`wzt ama attach FILE`) and submit its reference")
        }
        guard (try stored["bytes"] as Int) <= ama.maximumAttachmentBytes else {
            throw AMARefusal(agreementId: id, code: .attachmentTooLarge, reason: "the scan has \(try stored["bytes"] as Int) bytes; at most \(ama.maximumAttachmentBytes) (DOMAIN.md, AMA in detail: electronic submission)")
        }
        let (mediaType, bytes): (String, Int) = (try stored["media_type"], try stored["bytes"])
        guard filing.attachment.mediaType == mediaType, filing.attachment.bytes == bytes else {
            throw AMARefusal(agreementId: id, code: .filingMismatch, reason: "the attachment reference does not match the stored scan (it is \(try stored["media_type"] as String), \(try stored["bytes"] as Int) bytes)")
        }
    }

    /// The agreement if it exists and has not ended; refusals name which of the two failed.
    func openAgreement(_ id: String) throws -> SQLRow {
        guard let row = try SQLRow.fetchOne(db, sql: "SELECT * FROM agreement WHERE id = ?", arguments: [id]) else {
            throw AMARefusal(agreementId: id, code: .unknownAgreement, reason: "no agreement \(id)")
        }
        if let ended: String = try row["ended_on"] {
            throw AMARefusal(agreementId: id, code: .agreementEnded, reason: "agreement \(id) ended on \(ended)")
        }
        return row
    }

    func amend(_ amendment: AnnexAmended) throws {
        let id = amendment.agreementId
        let row = try openAgreement(id)
        guard let active: Int = try row["active_version"] else {
            throw AMARefusal(agreementId: id, code: .invalidConfirmation, reason: "agreement \(id) is not active yet; the first annex is still awaiting confirmation")
        }
        let ruleSet: String = try row["rule_set"]
        guard let ama = transaction.rules.ruleSets.first(where: { $0.id == ruleSet })?.ama else {
            throw AMARefusal(agreementId: id, code: .noRules, reason: "rule set \(ruleSet) is not loaded")
        }
        try checkAnnex(amendment.annex, agreementId: id, ama: ama, socialEconomy: (row["social_economy"] as Bool) ? ama.socialEconomy : nil, ruleSet: ruleSet)
        let latest = try Int.fetchOne(db, sql: "SELECT MAX(version) FROM annex_version WHERE agreement_id = ?", arguments: [id]) ?? active
        try propose(amendment.annex, agreementId: id, version: latest + 1, on: amendment.amendedOn, ruleSet: ruleSet)
    }

    func confirm(_ confirmation: AnnexConfirmed) throws {
        let id = confirmation.agreementId
        let row = try openAgreement(id)
        let exists = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM annex_version WHERE agreement_id = ? AND version = ?)",
                                       arguments: [id, confirmation.annexVersion]) ?? false
        let active: Int? = try row["active_version"]
        guard exists, confirmation.annexVersion > (active ?? 0) else {
            throw AMARefusal(agreementId: id, code: .invalidConfirmation, reason: "annex version \(confirmation.annexVersion) of \(id) is not awaiting confirmation")
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
            if let socialEconomy = try socialEconomyRules(id) { try scheduleReassessment(id, on: start.adding(months: socialEconomy.reassessmentMonths)) }
        }
        try transaction.publish(AgreementStatusChanged(agreementId: id, status: .active, annexVersion: confirmation.annexVersion, awaiting: [],
                                                       on: confirmation.confirmedOn, ruleSet: row["rule_set"]), subject: id)
    }

    func renew(_ renewal: PermissionRenewed) throws {
        let id = renewal.agreementId
        let row = try openAgreement(id)
        guard let version: Int = try row["active_version"], let current = (try row["permission_valid_until"] as String?).flatMap(CalendarDate.init) else {
            throw AMARefusal(agreementId: id, code: .unknownAgreement, reason: "no active agreement \(id) with a permission to renew")
        }
        for stage in PermissionDeadline.Stage.allCases { try transaction.cancelTimerIfRunning(permissionTimer(id, stage, validUntil: current)) }
        // A renewal extends from the end of the current permission, or from today when it had lapsed.
        let base = max(current.adding(days: 1), renewal.renewedOn)
        try schedulePermission(id, validUntil: base.adding(months: try renewalMonths(id)).adding(days: -1))
        if (try row["suspended"] as Int) == 1 {
            try db.execute(sql: "UPDATE agreement SET suspended = 0 WHERE id = ?", arguments: [id])
            try transaction.publish(AgreementStatusChanged(agreementId: id, status: .active, annexVersion: version, awaiting: [],
                                                           on: renewal.renewedOn, ruleSet: row["rule_set"]), subject: id)
        }
    }

    func reachDeadline(_ deadline: PermissionDeadline) throws {
        guard deadline.stage == .expired,
              // A permission renewed since the timer fired has a later last day: nothing expired.
              let row = try SQLRow.fetchOne(db, sql: "SELECT rule_set, active_version FROM agreement WHERE id = ? AND ended_on IS NULL AND permission_valid_until = ?",
                                            arguments: [deadline.agreementId, deadline.validUntil.description]),
              let version: Int = try row["active_version"] else { return }
        try db.execute(sql: "UPDATE agreement SET suspended = 1 WHERE id = ?", arguments: [deadline.agreementId])
        try transaction.publish(AgreementStatusChanged(agreementId: deadline.agreementId, status: .suspended, annexVersion: version, awaiting: [],
                                                       on: deadline.validUntil.adding(days: 1), ruleSet: row["rule_set"]), subject: deadline.agreementId)
    }

    /// A warning a month before the permission's last day, and suspension the day after it.
    func schedulePermission(_ id: String, validUntil: CalendarDate) throws {
        try db.execute(sql: "UPDATE agreement SET permission_valid_until = ? WHERE id = ?", arguments: [validUntil.description, id])
        try transaction.schedule(timer: permissionTimer(id, .renewalDue, validUntil: validUntil), at: validUntil.adding(months: -1).startOfDay,
                                 publish: PermissionDeadline(agreementId: id, stage: .renewalDue, validUntil: validUntil), subject: id)
        try transaction.schedule(timer: permissionTimer(id, .expired, validUntil: validUntil), at: validUntil.adding(days: 1).startOfDay,
                                 publish: PermissionDeadline(agreementId: id, stage: .expired, validUntil: validUntil), subject: id)
    }

    /// One timer per stage and permission period: a fired timer of an earlier year never blocks the next.
    func permissionTimer(_ id: String, _ stage: PermissionDeadline.Stage, validUntil: CalendarDate) -> String {
        "permission-\(stage.rawValue)-\(id)-\(validUntil)"
    }

    private func renewalMonths(_ id: String) throws -> Int {
        let ruleSet = try String.fetchOne(db, sql: "SELECT rule_set FROM agreement WHERE id = ?", arguments: [id]) ?? ""
        return transaction.rules.ruleSets.first { $0.id == ruleSet }?.ama?.permissionRenewalMonths ?? 12
    }

    func annexStart(_ id: String, version: Int) throws -> CalendarDate {
        let json = try String.fetchOne(db, sql: "SELECT annex FROM annex_version WHERE agreement_id = ? AND version = ?", arguments: [id, version]) ?? "{}"
        return try JSONDecoder().decode(AgreementSubmitted.Annex.self, from: Data(json.utf8)).startOn
    }

    /// Sorted keys: the same annex is the same text, in every process and in a rebuild.
    private static let annexEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    private func propose(_ annex: AgreementSubmitted.Annex, agreementId: String, version: Int, on date: CalendarDate, ruleSet: String) throws {
        let encoded = String(decoding: try Self.annexEncoder.encode(annex), as: UTF8.self)
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
