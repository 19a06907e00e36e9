import Storage
import ModuleKit

extension NetworksModule {
    /// `networks/{networkId}`: capacity, places taken, the waitlist in order, the partners. The
    /// waitlist names cases, so reads are audited; it concerns the coordinator and the partners.
    public var views: [ReadView] {
        [ReadView(name: "networks", purpose: .activationTrajectory, personalData: true) { id, db in
            guard let network = try SQLRow.fetchOne(db, sql: "SELECT * FROM network WHERE id = ?", arguments: [id]) else { return nil }
            let partners = try SQLRow.fetchAll(db, sql: "SELECT organisation_id, kind, recognition FROM network_partner WHERE network_id = ? ORDER BY rowid",
                                            arguments: [id]).map { NetworkDocument.Partner(organisationId: try $0["organisation_id"], kind: try $0["kind"], recognition: try $0["recognition"]) }
            let accepted = try String.fetchAll(db, sql: "SELECT case_id FROM referral WHERE network_id = ? AND state = 'accepted' ORDER BY rowid", arguments: [id])
            let waitlist = try SQLRow.fetchAll(db, sql: "SELECT case_id, referred_on FROM referral WHERE network_id = ? AND state = 'waitlisted' ORDER BY queued_at",
                                            arguments: [id]).enumerated().map { NetworkDocument.Waiting(position: $0.offset + 1, caseId: try $0.element["case_id"], referredOn: try $0.element["referred_on"]) }
            let capacity: Int = try network["capacity"]
            let coordinator: String = try network["coordinator"]
            let document = NetworkDocument(networkId: id, name: try network["name"], region: try network["region"], werkingsgebied: try network["werkingsgebied"],
                                           coordinatorOrganisationId: coordinator, activeSince: try network["active_since"], ruleSet: try network["rule_set"],
                                           capacity: capacity, placesTaken: accepted.count, placesFree: max(0, capacity - accepted.count),
                                           accepted: accepted, waitlist: waitlist, partners: partners)
            return ReadDocument(audience: .organisations(Set([coordinator] + partners.map(\.organisationId))), body: document)
        }]
    }
}

struct NetworkDocument: Encodable, Sendable {
    struct Partner: Encodable, Sendable {
        let organisationId: String
        let kind: String
        let recognition: String?
    }

    struct Waiting: Encodable, Sendable {
        let position: Int
        let caseId: String
        let referredOn: String
    }

    let networkId: String
    let name: String
    let region: String
    let werkingsgebied: String
    let coordinatorOrganisationId: String
    let activeSince: String?
    let ruleSet: String?
    let capacity: Int
    let placesTaken: Int
    let placesFree: Int
    let accepted: [String]
    let waitlist: [Waiting]
    let partners: [Partner]
}
