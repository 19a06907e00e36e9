import AMAContracts
import Foundation
import Storage
import ModuleKit

extension AMAModule {
    /// `agreements/{agreementId}`: the three-party agreement, its annex versions (the amendment
    /// history) with who confirmed each, the permission, the end. It concerns the begeleider.
    public var views: [ReadView] {
        [ReadView(name: "agreements", purpose: .amaAgreement, personalData: true) { id, db in
            guard let agreement = try SQLRow.fetchOne(db, sql: "SELECT * FROM agreement WHERE id = ?", arguments: [id]) else { return nil }
            let confirmations = try SQLRow.fetchAll(db, sql: "SELECT version, party, confirmed_by, confirmed_on FROM annex_confirmation WHERE agreement_id = ?",
                                                 arguments: [id])
            let versions = try SQLRow.fetchAll(db, sql: "SELECT version, annex, proposed_on FROM annex_version WHERE agreement_id = ? ORDER BY version",
                                            arguments: [id]).map { row in
                let version: Int = try row["version"]
                let annex: String = try row["annex"]
                return AgreementDocument.AnnexVersion(
                    version: version, proposedOn: try row["proposed_on"], annex: try JSONDecoder().decode(AgreementSubmitted.Annex.self, from: Data(annex.utf8)),
                    confirmations: try confirmations.filter { (try $0["version"] as Int) == version }.map {
                        AgreementDocument.Confirmation(party: try $0["party"], by: try $0["confirmed_by"], on: try $0["confirmed_on"])
                    })
            }
            let filing = try SQLRow.fetchOne(db, sql: "SELECT participant_name, insz, contact_email FROM agreement_filing WHERE agreement_id = ?", arguments: [id])
            let begeleider: String = try agreement["begeleider_id"]
            let document = AgreementDocument(
                agreementId: id, participantId: try agreement["participant_id"], participantName: try filing?["participant_name"], insz: try filing?["insz"],
                begeleiderId: begeleider, werkpostId: try agreement["werkpost_id"], werkpostName: try agreement["werkpost_name"], ruleSet: try agreement["rule_set"],
                activeVersion: try agreement["active_version"], permissionValidUntil: try agreement["permission_valid_until"], suspended: try agreement["suspended"],
                socialEconomy: try agreement["social_economy"], reassessmentDueOn: try agreement["reassessment_due_on"], endedOn: try agreement["ended_on"],
                endReason: try agreement["end_reason"], versions: versions)
            return ReadDocument(audience: .organisations([begeleider]), body: document)
        }]
    }
}

struct AgreementDocument: Encodable, Sendable {
    struct Confirmation: Encodable, Sendable {
        let party: String
        let by: String
        let on: String
    }

    struct AnnexVersion: Encodable, Sendable {
        let version: Int
        let proposedOn: String
        let annex: AgreementSubmitted.Annex
        let confirmations: [Confirmation]
    }

    let agreementId: String
    let participantId: String
    let participantName: String?
    let insz: String?
    let begeleiderId: String
    let werkpostId: String
    let werkpostName: String
    let ruleSet: String
    let activeVersion: Int?
    let permissionValidUntil: String?
    let suspended: Bool
    let socialEconomy: Bool
    let reassessmentDueOn: String?
    let endedOn: String?
    let endReason: String?
    /// Oldest first: the first is the annex as submitted, each later one an amendment.
    let versions: [AnnexVersion]
}
