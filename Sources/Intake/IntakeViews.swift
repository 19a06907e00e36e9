import Storage
import IntakeContracts
import ModuleKit
import PluginAPI

extension IntakeModule {
    /// `trajectories/{caseId}`: where a case stands, who works on it, its steps in order.
    /// It concerns the VDAB office and the casemanagers' organisations.
    public var views: [ReadView] {
        [ReadView(name: "trajectories", purpose: .activationTrajectory, personalData: true) { id, db in
            guard let record = try IntakeCase.fetchOne(db, key: id) else { return nil }
            let steps = try SQLRow.fetchAll(db, sql: "SELECT step, step_on, event_id FROM intake_step WHERE case_id = ? ORDER BY rowid", arguments: [id])
                .map { TrajectoryDocument.Step(step: try $0["step"], on: try $0["step_on"], eventId: try $0["event_id"]) }
            let organisations = Set([record.office, record.casemanagerWerkOrganisation, record.casemanagerZorgOrganisation].compactMap(\.self))
            return ReadDocument(audience: .organisations(organisations), body: TrajectoryDocument(record, steps: steps))
        }]
    }
}

/// A trajectory as a caseworker reads it.
struct TrajectoryDocument: Encodable, Sendable {
    struct Step: Encodable, Sendable {
        let step: String
        let on: String
        let eventId: String
    }

    struct Casemanager: Encodable, Sendable {
        let id: String
        let organisationId: String?
    }

    let caseId: String
    let insz: String?
    let region: String
    let office: String
    let requestedOn: CalendarDate
    let status: CaseStatus
    let advice: AdviceCode?
    let ruleSet: String?
    let startedOn: CalendarDate?
    let limitOn: CalendarDate?
    let extensions: Int
    let limitReached: Bool
    let casemanagerWerk: Casemanager?
    let casemanagerZorg: Casemanager?
    let mandateId: String?
    let networkId: String?
    let endedOn: CalendarDate?
    let eindadvies: Eindadvies?
    let steps: [Step]

    init(_ record: IntakeCase, steps: [Step]) {
        caseId = record.id
        insz = record.insz == IntakeCase.erased ? nil : record.insz
        region = record.region
        office = record.office
        requestedOn = record.requestedOn
        status = record.status
        advice = record.advice
        ruleSet = record.ruleSet
        startedOn = record.startedOn
        limitOn = record.limitOn
        extensions = record.extensions
        limitReached = record.limitReached
        casemanagerWerk = record.casemanagerWerkId.map { Casemanager(id: $0, organisationId: record.casemanagerWerkOrganisation) }
        casemanagerZorg = record.casemanagerZorgId.map { Casemanager(id: $0, organisationId: record.casemanagerZorgOrganisation) }
        mandateId = record.mandateId
        networkId = record.networkId
        endedOn = record.endedOn
        eindadvies = record.eindadvies
        self.steps = steps
    }
}
