import Bus
import Storage
import MandatingContracts
import ModuleKit
import PluginAPI

/// Calls for and mandates of casemanagers Zorg and samenwerkingsverbanden Zorg (DOMAIN.md,
/// "Mandating"): applications, admissibility and merits decisions with their terms, 5-year
/// mandates, withdrawal. Publishes every status change; other modules rely on those events only.
public final class MandatingModule: Module {
    public let name = "mandating"
    public let contracts: [any EventContract.Type] = MandatingContracts.all
    public let timerEvents: [any EventContract.Type] = [MandateTermEnded.self, DecisionOverdue.self]
    /// Every field of each contract, for the module's one purpose.
    public let needs: [Need] = [
        ApplicationReceived.eventType, AdmissibilityDecided.eventType, MeritsDecided.eventType, MandateWithdrawn.eventType,
        CallOpened.eventType, DecisionOverdue.eventType, MandateTermEnded.eventType,
    ].map { Need(EventPattern(exactly: $0), for: .casemanagerMandate) }

    public init() {}

    public func registerMigrations(_ migrator: inout SQLMigrations) { MandatingSchema.register(&migrator) }

    /// The status machine (DOMAIN.md, Mandating): what may follow each status.
    static let next: [MandateStatus: Set<MandateStatus>] = [
        .applied: [.admissible, .inadmissible], .admissible: [.granted, .refused], .granted: [.active], .active: [.expired, .withdrawn],
    ]

    /// For the application an event names.
    public let invariants: [Invariant] = [
        Invariant("a mandate's status follows its machine") { check in
            guard let id = check.ids["applicationId"], let record = try check.application(id) else { return [] }
            let history = try String.fetchAll(check.db, sql: "SELECT status FROM mandate_history WHERE application_id = ? ORDER BY rowid", arguments: [id])
                .compactMap(MandateStatus.init(rawValue:))
            let follows = history.first == .applied && zip(history, history.dropFirst()).allSatisfy { next[$0]?.contains($1) ?? false }
            return follows && history.last == record.status ? [] : ["application \(id) is \(record.status.rawValue) after \(history.map(\.rawValue))"]
        },
        Invariant("a final mandate has no deadline left") { check in
            guard let id = check.ids["applicationId"], let record = try check.application(id), record.status.isFinal else { return [] }
            let scheduled = try Int.fetchOne(check.db, sql: "SELECT COUNT(*) FROM wzt_timers WHERE subject = ? AND status = 'scheduled'", arguments: [id]) ?? 0
            return scheduled == 0 ? [] : ["application \(id) is \(record.status.rawValue) with \(scheduled) deadline(s) still scheduled"]
        },
    ]

    public func handle(_ event: IncomingEvent, _ transaction: ModuleTransaction) throws {
        let handling = Handling(event: event, transaction: transaction)
        let refused = try transaction.refusable(Refusal.self) {
            switch event.type {
            case ApplicationReceived.eventType.rawValue: try handling.receive(event.data(as: ApplicationReceived.self))
            case AdmissibilityDecided.eventType.rawValue: try handling.decideAdmissibility(event.data(as: AdmissibilityDecided.self))
            case MeritsDecided.eventType.rawValue: try handling.decideMerits(event.data(as: MeritsDecided.self))
            case MandateWithdrawn.eventType.rawValue: try handling.withdraw(event.data(as: MandateWithdrawn.self))
            case CallOpened.eventType.rawValue: try handling.openCall(event.data(as: CallOpened.self))
            case DecisionOverdue.eventType.rawValue: try handling.markOverdue(event.data(as: DecisionOverdue.self))
            case MandateTermEnded.eventType.rawValue: try handling.endTerm(event.data(as: MandateTermEnded.self))
            default: return
            }
        }
        if let refusal = refused {
            try transaction.publish(MandatingRefused(refusedEventId: event.id, refusedType: event.type, applicationId: refusal.applicationId,
                                                     code: refusal.code, reason: refusal.reason), subject: refusal.applicationId ?? event.subject)
        }
    }
}

/// A business refusal: published as `MandatingRefused`, never retried.
struct Refusal: Error {
    let applicationId: String?
    let code: MandatingRefused.Code
    let reason: String
}

/// The work of one incoming event.
private struct Handling {
    let event: IncomingEvent
    let transaction: ModuleTransaction
    var db: any SQLDatabase { transaction.db }

    // MARK: applications

    func receive(_ application: ApplicationReceived) throws {
        let id = application.applicationId
        guard try MandateApplication.fetchOne(db, key: id) == nil else {
            throw Refusal(applicationId: id, code: .duplicateApplication, reason: "application \(id) was already received")
        }
        let rules: any RegionalRules
        do {
            rules = try transaction.rules.rules(region: application.region, offer: .activationTrajectory, caseStartedOn: application.receivedOn)
        } catch {
            throw Refusal(applicationId: id, code: .noRules, reason: error.description)
        }
        let mandating = rules.mandating
        if let excluded = mandating.excludedOrganisationKinds[application.organisationKind] {
            throw Refusal(applicationId: id, code: .notEligible, reason: "\(application.organisationKind.rawValue): \(excluded) (\(rules.id))")
        }
        guard mandating.eligibleOrganisationKinds.contains(application.organisationKind) else {
            let eligible = mandating.eligibleOrganisationKinds.map(\.rawValue).sorted().joined(separator: ", ")
            throw Refusal(applicationId: id, code: .notEligible, reason: "a \(application.organisationKind.rawValue) cannot be mandated under \(rules.id); eligible: \(eligible)")
        }
        if mandating.staffMustKnowICF && !application.icfTrainedStaff {
            throw Refusal(applicationId: id, code: .icfTrainingRequired, reason: "\(rules.id) requires staff trained in ICF")
        }
        var decisionDue: CalendarDate?
        switch mandating.procedure {
        case .openApplication:
            decisionDue = mandating.decisionTerms(appliedOn: application.receivedOn)?.admissibility
        case .call(let minimumFacilities):
            try checkCall(application)
            // A facility named twice is still one facility, in any letter case or spacing.
            let facilities = Set((application.facilities ?? []).map { $0.organisationId.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() }).count
            guard facilities >= minimumFacilities else {
                throw Refusal(applicationId: id, code: .tooFewFacilities, reason: "a samenwerkingsverband Zorg needs at least \(minimumFacilities) different facilities under \(rules.id); the application names \(facilities)")
            }
        }
        var record = MandateApplication(
            id: id, organisationId: application.organisationId, organisationName: application.organisationName,
            organisationKind: application.organisationKind, region: application.region, werkingsgebied: application.werkingsgebied,
            ruleSet: rules.id, receivedOn: application.receivedOn, callId: application.callId, status: .applied,
            statusOn: application.receivedOn, decisionDueOn: decisionDue)
        try record.insert(db)
        if let decisionDue { try scheduleOverdue(record, .admissibility, dueOn: decisionDue) }
        try change(&record, to: .applied, on: application.receivedOn)
    }

    private func checkCall(_ application: ApplicationReceived) throws {
        let id = application.applicationId
        guard let callId = application.callId else {
            throw Refusal(applicationId: id, code: .noOpenCall, reason: "under this regime applications answer a mandate call; give callId")
        }
        guard let call = try MandateCall.fetchOne(db, key: callId) else {
            throw Refusal(applicationId: id, code: .unknownCall, reason: "no mandate call \(callId)")
        }
        guard call.region == application.region, call.werkingsgebied == application.werkingsgebied else {
            throw Refusal(applicationId: id, code: .noOpenCall, reason: "call \(callId) is for \(call.werkingsgebied) in \(call.region), not \(application.werkingsgebied)")
        }
        guard application.receivedOn >= call.opensOn, application.receivedOn <= call.closesOn else {
            throw Refusal(applicationId: id, code: .noOpenCall, reason: "call \(callId) is open from \(call.opensOn) to \(call.closesOn); the application came on \(application.receivedOn)")
        }
    }

    func openCall(_ call: CallOpened) throws {
        guard call.closesOn >= call.opensOn else {
            throw Refusal(applicationId: nil, code: .invalidCall, reason: "call \(call.callId) closes (\(call.closesOn)) before it opens (\(call.opensOn))")
        }
        guard try MandateCall.fetchOne(db, key: call.callId) == nil else {
            throw Refusal(applicationId: nil, code: .duplicateCall, reason: "call \(call.callId) was already opened")
        }
        try MandateCall(id: call.callId, region: call.region, werkingsgebied: call.werkingsgebied, opensOn: call.opensOn, closesOn: call.closesOn).insert(db)
    }

    // MARK: decisions

    func decideAdmissibility(_ decision: AdmissibilityDecided) throws {
        var record = try application(decision.applicationId, expecting: [.applied], for: "an admissibility decision", on: decision.decidedOn)
        try transaction.cancelTimerIfRunning("admissibility-\(record.id)")
        guard decision.admissible else {
            record.decisionDueOn = nil
            return try change(&record, to: .inadmissible, on: decision.decidedOn, reason: decision.reason)
        }
        let rules = try ruleSet(of: record)
        record.decisionDueOn = rules.mandating.decisionTerms(appliedOn: record.receivedOn)?.merits
        if let due = record.decisionDueOn { try scheduleOverdue(record, .merits, dueOn: due) }
        try change(&record, to: .admissible, on: decision.decidedOn, reason: decision.reason)
    }

    func decideMerits(_ decision: MeritsDecided) throws {
        var record = try application(decision.applicationId, expecting: [.admissible], for: "a decision on the merits", on: decision.decidedOn)
        try transaction.cancelTimerIfRunning("merits-\(record.id)")
        record.decisionDueOn = nil
        guard decision.granted else {
            return try change(&record, to: .refused, on: decision.decidedOn, reason: decision.reason)
        }
        try change(&record, to: .granted, on: decision.decidedOn, reason: decision.reason)
        if let years = try ruleSet(of: record).mandating.mandateYears {
            let end = decision.decidedOn.adding(months: 12 * years)
            record.expiresOn = end
            try transaction.schedule(timer: "term-\(record.id)", at: end.startOfDay,
                                     publish: MandateTermEnded(applicationId: record.id, endedOn: end), subject: record.id)
        }
        try change(&record, to: .active, on: decision.decidedOn)
    }

    func withdraw(_ withdrawal: MandateWithdrawn) throws {
        var record = try application(withdrawal.applicationId, expecting: [.active], for: "a withdrawal", on: withdrawal.withdrawnOn)
        try transaction.cancelTimerIfRunning("term-\(record.id)")
        try change(&record, to: .withdrawn, on: withdrawal.withdrawnOn, reason: withdrawal.reason)
    }

    func endTerm(_ ended: MandateTermEnded) throws {
        // A mandate withdrawn before its term ended has nothing left to expire.
        guard var record = try MandateApplication.fetchOne(db, key: ended.applicationId), record.status == .active else { return }
        try change(&record, to: .expired, on: ended.endedOn)
    }

    func markOverdue(_ overdue: DecisionOverdue) throws {
        guard var record = try MandateApplication.fetchOne(db, key: overdue.applicationId) else { return }
        record.overdueDecision = overdue.decision
        try record.update(db)
    }

    // MARK: helpers

    /// The application if it is in one of `statuses`, and `date` is not before the day it got there:
    /// a decision cannot precede the application, nor the decision it follows.
    private func application(_ id: String, expecting statuses: Set<MandateStatus>, for what: String, on date: CalendarDate) throws -> MandateApplication {
        guard let record = try MandateApplication.fetchOne(db, key: id) else {
            throw Refusal(applicationId: id, code: .unknownApplication, reason: "no application \(id)")
        }
        guard statuses.contains(record.status) else {
            let expected = statuses.map(\.rawValue).sorted().joined(separator: " or ")
            throw Refusal(applicationId: id, code: .invalidTransition, reason: "application \(id) is \(record.status.rawValue); \(what) needs it \(expected)")
        }
        guard date >= record.statusOn else {
            throw Refusal(applicationId: id, code: .invalidDate, reason: "application \(id) is \(record.status.rawValue) since \(record.statusOn); \(what) cannot be dated \(date), before that")
        }
        return record
    }

    private func ruleSet(of record: MandateApplication) throws -> any RegionalRules {
        guard let rules = transaction.rules.ruleSets.first(where: { $0.id == record.ruleSet }) else {
            throw Refusal(applicationId: record.id, code: .noRules, reason: "rule set \(record.ruleSet) of application \(record.id) is not loaded")
        }
        return rules
    }

    /// The term runs through `dueOn`; the overdue event comes at the start of the next day.
    private func scheduleOverdue(_ record: MandateApplication, _ decision: DecisionOverdue.Decision, dueOn: CalendarDate) throws {
        try transaction.schedule(timer: "\(decision.rawValue)-\(record.id)", at: dueOn.adding(days: 1).startOfDay,
                                 publish: DecisionOverdue(applicationId: record.id, decision: decision, dueOn: dueOn), subject: record.id)
    }


    private func change(_ record: inout MandateApplication, to status: MandateStatus, on date: CalendarDate, reason: String? = nil) throws {
        record.status = status
        record.statusOn = date
        try record.update(db)
        try db.execute(sql: "INSERT INTO mandate_history (application_id, status, status_on, event_id, reason) VALUES (?, ?, ?, ?, ?)",
                       arguments: [record.id, status.rawValue, date.description, event.id, reason])
        try transaction.publish(MandateStatusChanged(
            applicationId: record.id, organisationId: record.organisationId, region: record.region, werkingsgebied: record.werkingsgebied,
            status: status, on: date, ruleSet: record.ruleSet, decisionDueOn: record.decisionDueOn, expiresOn: record.expiresOn,
            reason: reason), subject: record.id)
    }
}

extension InvariantCheck {
    /// The application the event names, read once for both of mandating's invariants.
    func application(_ id: String) throws -> MandateApplication? {
        try shared("mandate_application") { try MandateApplication.fetchOne(db, key: id) }
    }
}
