import AMAContracts
import Bus
import IntakeContracts
import MandatingContracts
import ModuleKit
import NetworksContracts

/// What a notification says: what happened, a reference, and which module holds the case.
/// Built from ids, statuses and dates only; never a name, an INSZ, a free-text reason or a
/// health detail, whatever else the event carries (DOMAIN.md, Identifiers and privacy).
struct Notice: Sendable, Hashable {
    let what: String
    let reference: String
    let module: String

    /// The event types someone must hear about, and the fields a notice may be built from: the
    /// ones each contract requires, less free-text reasons, positions and people's ids where
    /// the contract leaves them optional. The bus hands notifications nothing else.
    static let needs: [Need] = [
        Need(TrajectoryLimitReached.self, for: .informing, fields: ["caseId", "limitOn"]),
        Need(MandateStatusChanged.self, for: .informing,
             fields: ["applicationId", "organisationId", "region", "werkingsgebied", "status", "on", "ruleSet"]),
        Need(DecisionOverdue.self, for: .informing, fields: ["applicationId", "decision", "dueOn"]),
        Need(MandateTermEnded.self, for: .informing, fields: ["applicationId", "endedOn"]),
        Need(ReferralOutcome.self, for: .informing, fields: ["referralId", "networkId", "caseId", "outcome", "on"]),
        Need(AgreementStatusChanged.self, for: .informing, fields: ["agreementId", "status", "annexVersion", "awaiting", "on", "ruleSet"]),
        Need(PermissionDeadline.self, for: .informing, fields: ["agreementId", "stage", "validUntil"]),
        Need(AgreementEnded.self, for: .informing, fields: ["agreementId", "endedOn", "reason", "ruleSet"]),
        Need(ReassessmentDue.self, for: .informing, fields: ["agreementId", "dueOn"]),
        Need(SubsidyReported.self, for: .informing,
             fields: ["begeleiderId", "quarter", "lines", "computedCents", "contingentPlaces", "capCents", "payableCents"]),
    ]

    /// The notice for `event`, or nil when the event is not one anybody must be told about.
    init?(_ event: IncomingEvent) throws(EnvelopeError) {
        switch event.type {
        case TrajectoryLimitReached.eventType.rawValue:
            let data = try event.data(as: TrajectoryLimitReached.self)
            self.init("The trajectory reached its time limit on \(data.limitOn).", data.caseId, "intake")
        case MandateStatusChanged.eventType.rawValue:
            let data = try event.data(as: MandateStatusChanged.self)
            guard [.admissible, .inadmissible, .granted, .refused, .withdrawn].contains(data.status) else { return nil }
            self.init("A mandate application was decided: \(data.status.rawValue) on \(data.on).", data.applicationId, "mandating")
        case DecisionOverdue.eventType.rawValue:
            let data = try event.data(as: DecisionOverdue.self)
            self.init("The \(data.decision.rawValue) decision on a mandate application was due on \(data.dueOn) and is overdue.", data.applicationId, "mandating")
        case MandateTermEnded.eventType.rawValue:
            let data = try event.data(as: MandateTermEnded.self)
            self.init("A mandate's term ended on \(data.endedOn).", data.applicationId, "mandating")
        case ReferralOutcome.eventType.rawValue:
            let data = try event.data(as: ReferralOutcome.self)
            self.init("A referral to network \(data.networkId) was \(data.outcome.rawValue) on \(data.on).", data.caseId, "networks")
        case AgreementStatusChanged.eventType.rawValue:
            let data = try event.data(as: AgreementStatusChanged.self)
            switch data.status {
            case .awaitingConfirmation:
                let parties = data.awaiting.map(\.rawValue).joined(separator: ", ")
                self.init("AMA agreement annex version \(data.annexVersion) awaits confirmation by: \(parties).", data.agreementId, "ama")
            case .suspended:
                self.init("An AMA agreement is suspended from \(data.on): its permission was not renewed.", data.agreementId, "ama")
            case .active:
                return nil
            }
        case PermissionDeadline.eventType.rawValue:
            let data = try event.data(as: PermissionDeadline.self)
            switch data.stage {
            case .renewalDue: self.init("The yearly AMA permission runs until \(data.validUntil) and is due for renewal.", data.agreementId, "ama")
            case .expired: self.init("The yearly AMA permission ran out on \(data.validUntil).", data.agreementId, "ama")
            }
        case AgreementEnded.eventType.rawValue:
            let data = try event.data(as: AgreementEnded.self)
            self.init("An AMA agreement ended on \(data.endedOn) (\(data.reason.rawValue)).", data.agreementId, "ama")
        case ReassessmentDue.eventType.rawValue:
            let data = try event.data(as: ReassessmentDue.self)
            self.init("The yearly reassessment of an AMA sociale economie participation is due on \(data.dueOn).", data.agreementId, "ama")
        case SubsidyReported.eventType.rawValue:
            let data = try event.data(as: SubsidyReported.self)
            self.init("The AMA sociale economie subsidy report for \(data.quarter) is ready.", data.begeleiderId, "ama")
        default:
            return nil
        }
    }

    private init(_ what: String, _ reference: String, _ module: String) {
        self.what = what
        self.reference = reference
        self.module = module
    }
}
