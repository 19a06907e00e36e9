import Bus
import GBOOnboardingContracts
import Storage
import IntakeContracts
import MandatingContracts
import ModuleKit
import NetworksContracts
import PluginAPI

/// The steps of one incoming event against one case.
struct Flow {
    let event: IncomingEvent
    let transaction: ModuleTransaction
    var db: any SQLDatabase { transaction.db }

    /// Statuses in which a trajectory runs (started and not ended).
    static let running: Set<CaseStatus> = [.started, .planDrawnUp, .planApproved, .referredToNetwork, .inNetwork, .onHold]

    // MARK: steps 1-5

    /// The business key is the case id: the same request sent again (same person, same date)
    /// changes nothing; another request under a case id in use is refused.
    func open(_ request: ScreeningRequested) throws {
        if let existing = try IntakeCase.fetchOne(db, key: request.caseID) {
            if existing.requestedOn == request.requestedOn, existing.insz == (request.insz.value?.digits ?? IntakeCase.erased) { return }
            throw IntakeRefusal(caseId: request.caseID, code: .duplicateCase, reason: "case \(request.caseID) already exists")
        }
        let requestedOn = request.requestedOn
        let record = IntakeCase(id: request.caseID, insz: request.insz.value?.digits ?? IntakeCase.erased, region: request.region, office: request.office,
                                requestedOn: requestedOn, status: .requested, extensions: 0, limitReached: false)
        try record.insert(db)
        try recordStep("screening-requested", of: record, on: requestedOn)
    }

    /// A new screening replaces the advice; the same advice sent again (same code, same day)
    /// changes nothing.
    func advise(_ advice: ScreeningAdvised) throws {
        var record = try intakeCase(advice.caseId, in: Set([.requested, .advised, .serviceRequested, .intake, .rescreeningRequested]), for: "a screening advice")
        let step = "screening-advised:\(advice.advice.rawValue)"
        if try hasStep(step, on: advice.advisedOn, of: record.id) { return }
        let previous = try String.fetchOne(db, sql: "SELECT MAX(step_on) FROM intake_step WHERE case_id = ? AND step LIKE 'screening-advised:%'",
                                           arguments: [record.id]).flatMap(CalendarDate.init)
        let since = max(previous ?? record.requestedOn, record.requestedOn)
        guard advice.advisedOn >= since else {
            throw IntakeRefusal(caseId: record.id, code: .invalidDate, reason: "case \(record.id) was requested or last advised on \(since); an advice cannot be dated \(advice.advisedOn), before that")
        }
        record.advice = advice.advice
        record.municipality = advice.municipality ?? record.municipality
        try change(&record, to: .advised, on: advice.advisedOn, step: step)
        if advice.advice == .welzijn {
            try transaction.publish(NietToeleidbaarAdvised(caseId: record.id, region: record.region, municipality: record.municipality,
                                                           advisedOn: advice.advisedOn), subject: record.id)
        }
    }

    func requestService(_ request: ServiceRequested) throws {
        var record = try intakeCase(request.caseId, in: [.advised], for: "a service request")
        guard record.advice != .welzijn else {
            throw IntakeRefusal(caseId: record.id, code: .nietToeleidbaar, reason: "case \(record.id) is advised niet-toeleidbaar (welzijn); a new screening must change the advice before a service request")
        }
        try change(&record, to: .serviceRequested, on: request.requestedOn, step: "service-requested")
    }

    func holdIntake(_ intake: IntakeHeld) throws {
        var record = try intakeCase(intake.caseId, in: [.serviceRequested], for: "an intake")
        record.casemanagerWerkId = intake.casemanagerWerkId
        record.casemanagerWerkOrganisation = intake.casemanagerWerkOrganisationId
        try change(&record, to: .intake, on: intake.heldOn, step: "intake")
    }

    func referToZorg(_ referral: ReferredToCasemanagerZorg) throws {
        var record = try intakeCase(referral.caseId, in: [.intake], for: "a referral to a casemanager Zorg")
        guard let mandate = try SQLRow.fetchOne(db, sql: "SELECT organisation_id, status FROM intake_mandate WHERE application_id = ?", arguments: [referral.mandateId]),
              (try mandate["status"] as String) == MandateStatus.active.rawValue else {
            throw IntakeRefusal(caseId: record.id, code: .noActiveMandate, reason: "mandate \(referral.mandateId) is not active; only a casemanager Zorg with an active mandate takes referrals")
        }
        let organisation: String = try mandate["organisation_id"]
        guard referral.casemanagerZorgId != record.casemanagerWerkId else {
            throw IntakeRefusal(caseId: record.id, code: .samePerson, reason: "one person cannot be both casemanager Werk and casemanager Zorg of a trajectory (\(referral.casemanagerZorgId))")
        }
        guard organisation != record.casemanagerWerkOrganisation else {
            throw IntakeRefusal(caseId: record.id, code: .sameOrganisation, reason: "casemanager Werk and casemanager Zorg of one trajectory cannot come from the same organisation (\(organisation))")
        }
        record.mandateId = referral.mandateId
        record.casemanagerZorgId = referral.casemanagerZorgId
        record.casemanagerZorgOrganisation = organisation
        try change(&record, to: .referredToZorg, on: referral.referredOn, step: "referred-to-zorg")
    }

    // MARK: steps 6-12

    func start(_ meeting: FirstMeetingHeld) throws {
        var record = try intakeCase(meeting.caseId, in: [.referredToZorg], for: "the first meeting")
        let rules: any RegionalRules
        do {
            rules = try transaction.rules.rules(region: record.region, offer: .activationTrajectory, caseStartedOn: meeting.heldOn)
        } catch {
            throw IntakeRefusal(caseId: record.id, code: .noRules, reason: error.description)
        }
        record.startedOn = meeting.heldOn
        record.ruleSet = rules.id
        record.limitOn = meeting.heldOn.adding(months: rules.activation.maximumMonths)
        try scheduleLimit(record)
        try change(&record, to: .started, on: meeting.heldOn, step: "first-meeting")
    }

    func drawUpPlan(_ plan: PlanDrawnUp) throws {
        var record = try intakeCase(plan.caseId, in: [.started], for: "a trajectory plan")
        let rules = try ruleSet(of: record)
        if plan.includesInternship && !rules.activation.internshipsAllowed {
            throw IntakeRefusal(caseId: record.id, code: .internshipNotAllowed, reason: "a stage cannot be part of the plan under \(rules.id)")
        }
        try change(&record, to: .planDrawnUp, on: plan.drawnUpOn, step: "plan-drawn-up")
    }

    func approvePlan(_ approval: PlanApproved) throws {
        var record = try intakeCase(approval.caseId, in: [.planDrawnUp], for: "plan approval (a plan is approved after it is drawn up)")
        let rules = try ruleSet(of: record)
        guard approval.approverRole == rules.activation.planApprover else {
            throw IntakeRefusal(caseId: record.id, code: .wrongApprover, reason: "under \(rules.id) the plan is approved by the \(rules.activation.planApprover.rawValue), not the \(approval.approverRole.rawValue)")
        }
        try change(&record, to: .planApproved, on: approval.approvedOn, step: "plan-approved")
    }

    func referToNetwork(_ referral: ReferredToNetwork) throws {
        var record = try intakeCase(referral.caseId, in: [.planApproved], for: "a referral to a network")
        record.networkId = referral.networkId
        try change(&record, to: .referredToNetwork, on: referral.referredOn, step: "referred-to-network")
        try transaction.publish(ReferralRequested(referralId: Self.referralId(case: record.id, network: referral.networkId), networkId: referral.networkId,
                                                  caseId: record.id, referredOn: referral.referredOn), subject: record.id)
    }

    func note(_ caseId: String, step: String, on date: CalendarDate) throws {
        let record = try intakeCase(caseId, in: Self.running, for: "a \(step)")
        try addStep(step, to: record.id, on: date)
    }

    func end(_ end: TrajectoryEnded) throws {
        var record = try intakeCase(end.caseId, in: Self.running, for: "the end of a trajectory")
        try checkDate(end.endedOn, of: record, for: "its end")
        let rules = try ruleSet(of: record)
        if end.completed, let started = record.startedOn, started.months(until: end.endedOn) < rules.activation.minimumMonths {
            throw IntakeRefusal(caseId: record.id, code: .tooShort, reason: "a trajectory is completed after at least \(rules.activation.minimumMonths) months under \(rules.id); this one ran from \(started) to \(end.endedOn); end it as not completed instead")
        }
        try cancelLimit(record)
        // Accepted, waitlisted or still waiting for the outcome, on hold or not: the network
        // lets go of the case (a place, or a spot on its waitlist) exactly once, here.
        if let network = record.networkId, [.inNetwork, .referredToNetwork].contains(record.runningStatus) {
            try transaction.publish(PlaceReleased(networkId: network, caseId: record.id, releasedOn: end.endedOn), subject: record.id)
        }
        record.endedOn = end.endedOn
        record.eindadvies = end.eindadvies
        // Ended on hold: the hold ends with the trajectory.
        (record.statusBeforeHold, record.onHoldSince) = (nil, nil)
        try change(&record, to: .ended, on: end.endedOn, step: end.completed ? "ended" : "stopped")
    }

    func extend(_ extension_: TrajectoryExtended) throws {
        var record = try intakeCase(extension_.caseId, in: Self.running, for: "an extension")
        let rules = try ruleSet(of: record)
        let motivated = !(extension_.motivation ?? "").trimmingCharacters(in: .whitespaces).isEmpty
        let policy = rules.activation.extensionPolicy
        guard policy.allows(months: extension_.months, previousExtensions: record.extensions, motivated: motivated) else {
            let allowed = policy.maximumExtraMonths.map { "at most \(policy.maximumExtensions) extension(s) of at most \($0) months, with a motivation" } ?? "no extension"
            throw IntakeRefusal(caseId: record.id, code: .extensionNotAllowed, reason: "\(rules.id) allows \(allowed); asked: \(extension_.months) months\(motivated ? "" : " without a motivation") after \(record.extensions) extension(s)")
        }
        try cancelLimit(record)
        record.extensions += 1
        record.limitOn = record.limitOn?.adding(months: extension_.months)
        record.limitReached = false
        // On hold the limit does not count down; resuming schedules it, moved by the pause.
        if record.status != .onHold { try scheduleLimit(record) }
        try change(&record, to: record.status, on: extension_.extendedOn, step: "extended:\(extension_.months)")
    }

    /// A pause runs from the day it began to the day it ended (the events' own dates) and moves
    /// the limit by exactly that many days.
    func changeHold(_ hold: TrajectoryHoldChanged) throws {
        if hold.onHold {
            var record = try intakeCase(hold.caseId, in: Self.running.subtracting([.onHold]), for: "putting a trajectory on hold")
            try checkDate(hold.on, of: record, for: "a hold")
            record.statusBeforeHold = record.status
            record.onHoldSince = hold.on
            try cancelLimit(record)
            try change(&record, to: .onHold, on: hold.on, step: "on-hold")
        } else {
            var record = try intakeCase(hold.caseId, in: [.onHold], for: "resuming a trajectory")
            let since = record.onHoldSince ?? hold.on
            guard hold.on >= since else {
                throw IntakeRefusal(caseId: record.id, code: .invalidDate, reason: "case \(record.id) was put on hold on \(since); it cannot resume on \(hold.on), before that")
            }
            record.limitOn = record.limitOn?.adding(days: since.days(until: hold.on))
            if !record.limitReached { try scheduleLimit(record) }
            let previous = record.statusBeforeHold ?? .started
            record.statusBeforeHold = nil
            record.onHoldSince = nil
            try change(&record, to: previous, on: hold.on, step: "resumed")
        }
    }

    func flagLimit(_ limit: TrajectoryLimitReached) throws {
        // A limit an extension or a pause has moved since the timer fired is no longer the case's.
        guard var record = try IntakeCase.fetchOne(db, key: limit.caseId), Self.running.contains(record.status), record.limitOn == limit.limitOn else { return }
        record.limitReached = true
        try record.update(db)
        try addStep("limit-reached", to: record.id, on: limit.limitOn)
    }

    // MARK: what other modules published

    /// GBO onboarding closes the loop: the person's situation changed, VDAB screens again.
    func requestRescreening(_ request: RescreeningRequested) throws {
        var record = try intakeCase(request.caseId, in: [.advised], for: "a new screening")
        try change(&record, to: .rescreeningRequested, on: request.requestedOn, step: "rescreening-requested")
    }

    func recordMandate(_ change: MandateStatusChanged) throws {
        try db.execute(sql: """
            INSERT INTO intake_mandate (application_id, organisation_id, status) VALUES (?, ?, ?)
            ON CONFLICT(application_id) DO UPDATE SET organisation_id = excluded.organisation_id, status = excluded.status
            """, arguments: [change.applicationId, change.organisationId, change.status.rawValue])
    }

    /// The outcome of this case's own referral (its id is the one `referToNetwork` gave), also
    /// while the trajectory is on hold: it resumes where the network left it.
    func recordReferral(_ outcome: ReferralOutcome) throws {
        guard var record = try IntakeCase.fetchOne(db, key: outcome.caseId), let network = record.networkId,
              network == outcome.networkId, outcome.referralId == Self.referralId(case: record.id, network: network),
              record.runningStatus == .referredToNetwork else { return }
        let next: CaseStatus
        let step: String
        switch outcome.outcome {
        case .accepted: (next, step) = (.inNetwork, "network-accepted")
        case .waitlisted: return try addStep("network-waitlisted:\(outcome.position ?? 0)", to: record.id, on: outcome.on)
        case .rejected:
            record.networkId = nil
            (next, step) = (.planApproved, "network-rejected:\(outcome.code?.rawValue ?? "")")
        }
        if record.status == .onHold {
            record.statusBeforeHold = next
            try record.update(db)
            try addStep(step, to: record.id, on: outcome.on)
        } else {
            try change(&record, to: next, on: outcome.on, step: step)
        }
    }

    static func referralId(case caseId: String, network networkId: String) -> String { Identifier.joining([caseId, networkId], separator: "@") }

    // MARK: helpers

    private func intakeCase(_ id: String, in statuses: Set<CaseStatus>, for what: String) throws -> IntakeCase {
        guard let record = try IntakeCase.fetchOne(db, key: id) else {
            throw IntakeRefusal(caseId: id, code: .unknownCase, reason: "no case \(id)")
        }
        guard statuses.contains(record.status) else {
            throw IntakeRefusal(caseId: id, code: .invalidTransition, reason: "case \(id) is \(record.status.rawValue); \(what) is not possible now")
        }
        return record
    }

    private func ruleSet(of record: IntakeCase) throws -> any RegionalRules {
        guard let id = record.ruleSet, let rules = transaction.rules.ruleSets.first(where: { $0.id == id }) else {
            throw IntakeRefusal(caseId: record.id, code: .noRules, reason: "the rule set of case \(record.id) is not loaded")
        }
        return rules
    }


    private func scheduleLimit(_ record: IntakeCase) throws {
        guard let limit = record.limitOn else { return }
        try transaction.schedule(timer: record.limitTimer, at: limit.startOfDay,
                                 publish: TrajectoryLimitReached(caseId: record.id, limitOn: limit, casemanagerWerkId: record.casemanagerWerkId,
                                                                 casemanagerZorgId: record.casemanagerZorgId), subject: record.id)
    }

    private func cancelLimit(_ record: IntakeCase) throws {
        try transaction.cancelTimerIfRunning(record.limitTimer)
    }

    private func hasStep(_ step: String, on date: CalendarDate, of caseId: String) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM intake_step WHERE case_id = ? AND step = ? AND step_on = ?)",
                          arguments: [caseId, step, date.description]) ?? false
    }

    /// A step of a running trajectory dated before it started, or before the hold it ends, is refused.
    private func checkDate(_ date: CalendarDate, of record: IntakeCase, for what: String) throws {
        if let started = record.startedOn, date < started {
            throw IntakeRefusal(caseId: record.id, code: .invalidDate, reason: "case \(record.id) started on \(started); \(what) cannot be dated \(date), before that")
        }
        if let since = record.onHoldSince, date < since {
            throw IntakeRefusal(caseId: record.id, code: .invalidDate, reason: "case \(record.id) is on hold since \(since); \(what) cannot be dated \(date), before that")
        }
    }

    private func addStep(_ step: String, to caseId: String, on date: CalendarDate) throws {
        try db.execute(sql: "INSERT INTO intake_step (case_id, step, step_on, event_id) VALUES (?, ?, ?, ?)",
                       arguments: [caseId, step, date.description, event.id])
    }

    private func change(_ record: inout IntakeCase, to status: CaseStatus, on date: CalendarDate, step: String) throws {
        record.status = status
        try record.update(db)
        try recordStep(step, of: record, on: date)
    }

    /// The step in the case's history, and its status as it now stands on the bus.
    private func recordStep(_ step: String, of record: IntakeCase, on date: CalendarDate) throws {
        try addStep(step, to: record.id, on: date)
        try transaction.publish(CaseStatusChanged(caseId: record.id, status: record.status, on: date, ruleSet: record.ruleSet, limitOn: record.limitOn,
                                                  advice: record.advice, eindadvies: record.eindadvies), subject: record.id)
    }
}

extension IntakeCase {
    /// One timer per limit: an extension replaces the limit, also one that already fired.
    var limitTimer: String { "limit-\(id)-\(extensions)" }

    /// Where the trajectory stands, seen through a hold: on hold, the status it will resume to.
    var runningStatus: CaseStatus { status == .onHold ? statusBeforeHold ?? .started : status }
}
