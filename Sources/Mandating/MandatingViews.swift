import Storage
import MandatingContracts
import ModuleKit
import PluginAPI

extension MandatingModule {
    /// `mandates/{applicationId}`: an application or mandate, its status and its history. About an
    /// organisation, not a person: every caseworker may read it (they refer people under mandates).
    public var views: [ReadView] {
        [ReadView(name: "mandates", purpose: .casemanagerMandate, personalData: false) { id, db in
            guard let application = try MandateApplication.fetchOne(db, key: id) else { return nil }
            let history = try SQLRow.fetchAll(db, sql: "SELECT status, status_on, reason, event_id FROM mandate_history WHERE application_id = ? ORDER BY rowid",
                                           arguments: [id]).map { MandateDocument.Change(status: try $0["status"], on: try $0["status_on"], reason: try $0["reason"], eventId: try $0["event_id"]) }
            return ReadDocument(audience: .everyCaseworker, body: MandateDocument(application, history: history))
        }]
    }
}

struct MandateDocument: Encodable, Sendable {
    struct Change: Encodable, Sendable {
        let status: String
        let on: String
        let reason: String?
        let eventId: String
    }

    let applicationId: String
    let organisationId: String
    let organisationName: String
    let organisationKind: OrganisationKind
    let region: String
    let werkingsgebied: String
    let ruleSet: String
    let callId: String?
    let status: MandateStatus
    let statusOn: CalendarDate
    let decisionDueOn: CalendarDate?
    let expiresOn: CalendarDate?
    let history: [Change]

    init(_ application: MandateApplication, history: [Change]) {
        applicationId = application.id
        organisationId = application.organisationId
        organisationName = application.organisationName
        organisationKind = application.organisationKind
        region = application.region
        werkingsgebied = application.werkingsgebied
        ruleSet = application.ruleSet
        callId = application.callId
        status = application.status
        statusOn = application.statusOn
        decisionDueOn = application.decisionDueOn
        expiresOn = application.expiresOn
        self.history = history
    }
}
