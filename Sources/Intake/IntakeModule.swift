import Bus
import GBOOnboardingContracts
import Storage
import IntakeContracts
import MandatingContracts
import ModuleKit
import NetworksContracts
import PluginAPI

/// The VDAB flow of activation trajectories (DOMAIN.md, "Intake and the activation flow"): from
/// the screening request to the end with an eindadvies, with the rule set's limits and a durable
/// deadline at the trajectory's maximum duration. Knows mandates and networks only from the events
/// those modules publish.
public final class IntakeModule: Module {
    public let name = "intake"
    public let contracts: [any EventContract.Type] = IntakeContracts.all
    public let timerEvents: [any EventContract.Type] = [TrajectoryLimitReached.self]
    /// Every field of each contract, for the module's one purpose.
    public let needs: [Need] = ([
        ScreeningRequested.eventType, ScreeningAdvised.eventType, ServiceRequested.eventType, IntakeHeld.eventType,
        ReferredToCasemanagerZorg.eventType, FirstMeetingHeld.eventType, PlanDrawnUp.eventType, PlanApproved.eventType,
        ReferredToNetwork.eventType, FollowUpNoted.eventType, RightsTalkHeld.eventType, TrajectoryEnded.eventType,
        TrajectoryExtended.eventType, TrajectoryHoldChanged.eventType, TrajectoryLimitReached.eventType,
        MandateStatusChanged.eventType, ReferralOutcome.eventType, RescreeningRequested.eventType,
    ] as [EventType]).map { Need(EventPattern(exactly: $0), for: .activationTrajectory) }

    public init() {}

    public func registerMigrations(_ migrator: inout SQLMigrations) { IntakeSchema.register(&migrator) }

    /// For the case an event names.
    public let invariants: [Invariant] = [
        Invariant("a hold knows its first day and what it resumes to") { check in
            guard let record = try check.intakeCase() else { return [] }
            let onHold = record.status == .onHold
            return onHold == (record.onHoldSince != nil && record.statusBeforeHold != nil) ? [] : ["case \(record.id) is \(record.status.rawValue) with hold fields that say otherwise"]
        },
        Invariant("a running trajectory has a rule set and a limit") { check in
            guard let record = try check.intakeCase(), Flow.running.contains(record.status) else { return [] }
            return record.ruleSet != nil && record.limitOn != nil && record.startedOn != nil ? [] : ["running case \(record.id) lacks its rule set, start or limit"]
        },
        Invariant("the limit's deadline runs exactly while the trajectory counts down") { check in
            guard let record = try check.intakeCase() else { return [] }
            let scheduled = try Int.fetchOne(check.db, sql: "SELECT COUNT(*) FROM wzt_timers WHERE subject = ? AND status = 'scheduled'", arguments: [record.id]) ?? 0
            let current = try String.fetchOne(check.db, sql: "SELECT status FROM wzt_timers WHERE id = ?", arguments: [record.limitTimer])
            let countingDown = Flow.running.contains(record.status) && record.status != .onHold && !record.limitReached
            // Fired and not yet back as `trajectory-limit-reached` still counts as running out.
            let holds = countingDown ? scheduled <= 1 && (current == "scheduled" || current == "fired") : scheduled == 0
            return holds ? [] : ["case \(record.id) is \(record.status.rawValue) with \(scheduled) scheduled limit deadline(s)"]
        },
    ]

    /// The INSZ is the only personal field intake keeps; the case, its dates and statuses stay.
    public func erase(subject: String, _ transaction: ModuleTransaction) throws {
        try transaction.db.execute(sql: "UPDATE intake_case SET insz = ? WHERE id = ?", arguments: [IntakeCase.erased, subject])
    }

    public func handle(_ event: IncomingEvent, _ transaction: ModuleTransaction) throws {
        let flow = Flow(event: event, transaction: transaction)
        let refused = try transaction.refusable(IntakeRefusal.self) {
            switch event.type {
            case ScreeningRequested.eventType.rawValue: try flow.open(event.data(as: ScreeningRequested.self))
            case ScreeningAdvised.eventType.rawValue: try flow.advise(event.data(as: ScreeningAdvised.self))
            case ServiceRequested.eventType.rawValue: try flow.requestService(event.data(as: ServiceRequested.self))
            case IntakeHeld.eventType.rawValue: try flow.holdIntake(event.data(as: IntakeHeld.self))
            case ReferredToCasemanagerZorg.eventType.rawValue: try flow.referToZorg(event.data(as: ReferredToCasemanagerZorg.self))
            case FirstMeetingHeld.eventType.rawValue: try flow.start(event.data(as: FirstMeetingHeld.self))
            case PlanDrawnUp.eventType.rawValue: try flow.drawUpPlan(event.data(as: PlanDrawnUp.self))
            case PlanApproved.eventType.rawValue: try flow.approvePlan(event.data(as: PlanApproved.self))
            case ReferredToNetwork.eventType.rawValue: try flow.referToNetwork(event.data(as: ReferredToNetwork.self))
            case FollowUpNoted.eventType.rawValue:
                let note = try event.data(as: FollowUpNoted.self)
                try flow.note(note.caseId, step: "follow-up", on: note.notedOn)
            case RightsTalkHeld.eventType.rawValue:
                let talk = try event.data(as: RightsTalkHeld.self)
                try flow.note(talk.caseId, step: "rights-talk", on: talk.heldOn)
            case TrajectoryEnded.eventType.rawValue: try flow.end(event.data(as: TrajectoryEnded.self))
            case TrajectoryExtended.eventType.rawValue: try flow.extend(event.data(as: TrajectoryExtended.self))
            case TrajectoryHoldChanged.eventType.rawValue: try flow.changeHold(event.data(as: TrajectoryHoldChanged.self))
            case TrajectoryLimitReached.eventType.rawValue: try flow.flagLimit(event.data(as: TrajectoryLimitReached.self))
            case MandateStatusChanged.eventType.rawValue: try flow.recordMandate(event.data(as: MandateStatusChanged.self))
            case ReferralOutcome.eventType.rawValue: try flow.recordReferral(event.data(as: ReferralOutcome.self))
            case RescreeningRequested.eventType.rawValue: try flow.requestRescreening(event.data(as: RescreeningRequested.self))
            default: return
            }
        }
        if let refusal = refused {
            try transaction.publish(IntakeRefused(refusedEventId: event.id, refusedType: event.type, caseId: refusal.caseId,
                                                  code: refusal.code, reason: refusal.reason), subject: refusal.caseId ?? event.subject)
        }
    }
}

extension InvariantCheck {
    /// The case the event names, read once for all of intake's invariants.
    func intakeCase() throws -> IntakeCase? {
        try shared("intake_case") { try ids["caseId"].flatMap { try IntakeCase.fetchOne(db, key: $0) } }
    }
}

struct IntakeRefusal: Error {
    let caseId: String?
    let code: IntakeRefused.Code
    let reason: String
}
