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
                let version: Int = row["version"]
                let annex: String = row["annex"]
                return AgreementDocument.AnnexVersion(
                    version: version, proposedOn: row["proposed_on"], annex: try JSONDecoder().decode(AgreementSubmitted.Annex.self, from: Data(annex.utf8)),
                    confirmations: confirmations.filter { ($0["version"] as Int) == version }.map {
                        AgreementDocument.Confirmation(party: $0["party"], by: $0["confirmed_by"], on: $0["confirmed_on"])
                    })
            }
            let filing = try SQLRow.fetchOne(db, sql: "SELECT participant_name, insz, contact_email FROM agreement_filing WHERE agreement_id = ?", arguments: [id])
            let begeleider: String = agreement["begeleider_id"]
            let document = AgreementDocument(
                agreementId: id, participantId: agreement["participant_id"], participantName: filing?["participant_name"], insz: filing?["insz"],
                begeleiderId: begeleider, werkpostId: agreement["werkpost_id"], werkpostName: agreement["werkpost_name"], ruleSet: agreement["rule_set"],
                activeVersion: agreement["active_version"], permissionValidUntil: agreement["permission_valid_until"], suspended: agreement["suspended"],
                socialEconomy: agreement["social_economy"], reassessmentDueOn: agreement["reassessment_due_on"], endedOn: agreement["ended_on"],
                endReason: agreement["end_reason"], versions: versions)
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
