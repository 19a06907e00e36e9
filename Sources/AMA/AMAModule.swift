import AMAContracts
import Bus
import Foundation
import Storage
import ModuleKit
import PluginAPI

/// Arbeidsmatige activiteiten (DOMAIN.md, "AMA in detail"): recognised begeleiders, participant
/// eligibility from the rule set, and the three-party agreement whose annex is amended in versions
/// that the parties confirm without signing the agreement again.
public final class AMAModule: Module {
    public let name = "ama"
    public let contracts: [any EventContract.Type] = AMAContracts.all
    public let timerEvents: [any EventContract.Type] = [ReassessmentDue.self, PermissionDeadline.self]
    /// Every field of each contract, for the module's one purpose.
    public let needs: [Need] = ([
        BegeleiderRecognised.eventType, BegeleiderMerged.eventType, AgreementSubmitted.eventType,
        AnnexConfirmed.eventType, AnnexAmended.eventType, PermissionRenewed.eventType, PermissionDeadline.eventType,
        EndReported.eventType, ContingentSet.eventType, AttendanceReported.eventType, QuarterClosed.eventType,
        Reassessed.eventType,
    ] as [EventType]).map { Need(EventPattern(exactly: $0), for: .amaAgreement) }

    public init() {}

    /// Scans are stored beside the events (`wzt ama attach`), never in them.
    public let tablesKeptOnRebuild = ["attachment"]

    /// For the agreement an event names.
    public let invariants: [Invariant] = [
        Invariant("an ended agreement has no deadline left") { check in
            guard let id = check.ids["agreementId"],
                  let ended = try Bool.fetchOne(check.db, sql: "SELECT ended_on IS NOT NULL FROM agreement WHERE id = ?", arguments: [id]), ended else { return [] }
            let scheduled = try Int.fetchOne(check.db, sql: "SELECT COUNT(*) FROM wzt_timers WHERE subject = ? AND status = 'scheduled'", arguments: [id]) ?? 0
            return scheduled == 0 ? [] : ["agreement \(id) ended with \(scheduled) deadline(s) still scheduled"]
        },
        Invariant("one running agreement per participant and werkpost") { check in
            guard let id = check.ids["agreementId"] else { return [] }
            return try String.fetchAll(check.db, sql: """
                SELECT a.werkpost_id FROM agreement a JOIN agreement b ON a.participant_id = b.participant_id AND a.werkpost_id = b.werkpost_id AND a.id <> b.id
                WHERE a.id = ? AND a.ended_on IS NULL AND b.ended_on IS NULL
                """, arguments: [id]).map { "agreement \(id) runs beside another for werkpost \($0)" }
        },
    ]

    public func registerMigrations(_ migrator: inout SQLMigrations) {
        migrator.registerMigration("ama v1") { db in
            // The permission columns are in v2 below; v1 stays as it shipped.
            try db.execute(sql: """
                CREATE TABLE begeleider (
                    id TEXT PRIMARY KEY,
                    facility_type TEXT NOT NULL,
                    recognition_number TEXT NOT NULL,
                    recognised_on TEXT NOT NULL,
                    ended_on TEXT
                );
                CREATE TABLE agreement (
                    id TEXT PRIMARY KEY,
                    participant_id TEXT NOT NULL,
                    begeleider_id TEXT NOT NULL REFERENCES begeleider(id),
                    werkpost_id TEXT NOT NULL,
                    werkpost_name TEXT NOT NULL,
                    rule_set TEXT NOT NULL,
                    active_version INTEGER,
                    UNIQUE (participant_id, werkpost_id)
                );
                CREATE TABLE annex_version (
                    agreement_id TEXT NOT NULL REFERENCES agreement(id),
                    version INTEGER NOT NULL,
                    annex TEXT NOT NULL,
                    proposed_on TEXT NOT NULL,
                    PRIMARY KEY (agreement_id, version)
                );
                CREATE TABLE annex_confirmation (
                    agreement_id TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    party TEXT NOT NULL,
                    confirmed_by TEXT NOT NULL,
                    confirmed_on TEXT NOT NULL,
                    PRIMARY KEY (agreement_id, version, party)
                );
                """)
        }
        migrator.registerMigration("ama v2 yearly permission") { db in
            try db.execute(sql: """
                ALTER TABLE agreement ADD COLUMN permission_valid_until TEXT;
                ALTER TABLE agreement ADD COLUMN suspended INTEGER NOT NULL DEFAULT 0;
                """)
        }
        migrator.registerMigration("ama v3 filing, end, sociale economie") { db in
            try db.execute(sql: """
                CREATE TABLE attachment (
                    sha256 TEXT PRIMARY KEY,
                    media_type TEXT NOT NULL,
                    bytes INTEGER NOT NULL,
                    content BLOB NOT NULL,
                    stored_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
                );
                -- The electronic submission; the only place that holds the participant's name and INSZ.
                CREATE TABLE agreement_filing (
                    agreement_id TEXT PRIMARY KEY REFERENCES agreement(id),
                    participant_name TEXT NOT NULL,
                    insz TEXT NOT NULL,
                    end_on TEXT,
                    attachment_sha256 TEXT NOT NULL REFERENCES attachment(sha256),
                    contact_email TEXT NOT NULL,
                    dimona_reference TEXT NOT NULL
                );
                ALTER TABLE agreement ADD COLUMN social_economy INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE agreement ADD COLUMN reassessment_due_on TEXT;
                ALTER TABLE agreement ADD COLUMN ended_on TEXT;
                ALTER TABLE agreement ADD COLUMN end_reason TEXT;
                CREATE TABLE contingent (
                    begeleider_id TEXT NOT NULL,
                    year INTEGER NOT NULL,
                    places INTEGER NOT NULL,
                    PRIMARY KEY (begeleider_id, year)
                );
                CREATE TABLE attendance (
                    agreement_id TEXT NOT NULL REFERENCES agreement(id),
                    quarter TEXT NOT NULL,
                    days INTEGER NOT NULL,
                    PRIMARY KEY (agreement_id, quarter)
                );
                CREATE TABLE closed_quarter (quarter TEXT PRIMARY KEY);
                """)
        }
        // One *running* agreement per participant and werkpost: after an agreement ended, a new
        // one for the same werkpost is allowed. v1's table-wide UNIQUE forbade it for ever.
        migrator.registerMigration("ama v4 one running agreement per werkpost") { db in
            switch db.dialect {
            case .postgres:
                try db.execute(sql: "ALTER TABLE agreement DROP CONSTRAINT IF EXISTS agreement_participant_id_werkpost_id_key")
            case .sqlite:
                // SQLite cannot drop a constraint: the table is rebuilt (foreign keys are checked after the step).
                try db.execute(sql: """
                    CREATE TABLE agreement_v4 (
                        id TEXT PRIMARY KEY,
                        participant_id TEXT NOT NULL,
                        begeleider_id TEXT NOT NULL REFERENCES begeleider(id),
                        werkpost_id TEXT NOT NULL,
                        werkpost_name TEXT NOT NULL,
                        rule_set TEXT NOT NULL,
                        active_version INTEGER,
                        permission_valid_until TEXT,
                        suspended INTEGER NOT NULL DEFAULT 0,
                        social_economy INTEGER NOT NULL DEFAULT 0,
                        reassessment_due_on TEXT,
                        ended_on TEXT,
                        end_reason TEXT
                    );
                    INSERT INTO agreement_v4 SELECT id, participant_id, begeleider_id, werkpost_id, werkpost_name, rule_set, active_version,
                        permission_valid_until, suspended, social_economy, reassessment_due_on, ended_on, end_reason FROM agreement;
                    DROP TABLE agreement;
                    ALTER TABLE agreement_v4 RENAME TO agreement;
                    """)
            }
            try db.execute(sql: "CREATE UNIQUE INDEX agreement_running_werkpost ON agreement (participant_id, werkpost_id) WHERE ended_on IS NULL")
        }
    }

    /// The filing names the participant; the agreement, its annexes and attendance stay (the
    /// subsidy reports need them). The scan itself is named by its hash and kept apart (AMAAttachments).
    public func erase(subject: String, _ transaction: ModuleTransaction) throws {
        try transaction.db.execute(sql: "DELETE FROM agreement_filing WHERE agreement_id = ?", arguments: [subject])
    }

    public func handle(_ event: IncomingEvent, _ transaction: ModuleTransaction) throws {
        let work = AMAWork(transaction: transaction)
        let refused = try transaction.refusable(AMARefusal.self) {
            switch event.type {
            case BegeleiderRecognised.eventType.rawValue: try work.recognise(event.data(as: BegeleiderRecognised.self))
            case BegeleiderMerged.eventType.rawValue: try work.merge(event.data(as: BegeleiderMerged.self))
            case AgreementSubmitted.eventType.rawValue: try work.submit(event.data(as: AgreementSubmitted.self))
            case AnnexConfirmed.eventType.rawValue: try work.confirm(event.data(as: AnnexConfirmed.self))
            case AnnexAmended.eventType.rawValue: try work.amend(event.data(as: AnnexAmended.self))
            case PermissionRenewed.eventType.rawValue: try work.renew(event.data(as: PermissionRenewed.self))
            case PermissionDeadline.eventType.rawValue: try work.reachDeadline(event.data(as: PermissionDeadline.self))
            case EndReported.eventType.rawValue: try work.end(event.data(as: EndReported.self))
            case ContingentSet.eventType.rawValue: try work.setContingent(event.data(as: ContingentSet.self))
            case AttendanceReported.eventType.rawValue: try work.recordAttendance(event.data(as: AttendanceReported.self))
            case QuarterClosed.eventType.rawValue: try work.closeQuarter(event.data(as: QuarterClosed.self))
            case Reassessed.eventType.rawValue: try work.reassess(event.data(as: Reassessed.self))
            default: return
            }
        }
        if let refusal = refused {
            try transaction.publish(AMARefused(refusedEventId: event.id, refusedType: event.type, agreementId: refusal.agreementId,
                                               code: refusal.code, reason: refusal.reason), subject: refusal.agreementId ?? event.subject)
        }
    }
}

struct AMARefusal: Error {
    let agreementId: String?
    let code: AMARefused.Code
    let reason: String
}

/// One confirmation in an agreement's history: who confirmed which annex version, and when.
public struct AnnexConfirmationRecord: Sendable, Hashable {
    public let version: Int
    public let party: AgreementParty
    public let confirmedBy: String
    public let confirmedOn: String
}

public struct AMAQueries: Sendable {
    let database: any SQLStore
    public init(database: any SQLStore) { self.database = database }

    /// The annex version in force, nil until all three parties confirmed the first one.
    public func activeVersion(_ agreementId: String) async throws -> Int? {
        try await database.read { db in try Int.fetchOne(db, sql: "SELECT active_version FROM agreement WHERE id = ?", arguments: [agreementId]) }
    }

    public func confirmations(_ agreementId: String) async throws -> [AnnexConfirmationRecord] {
        try await database.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT version, party, confirmed_by, confirmed_on FROM annex_confirmation WHERE agreement_id = ? ORDER BY version, rowid",
                             arguments: [agreementId]).map {
                AnnexConfirmationRecord(version: try $0["version"], party: AgreementParty(rawValue: try $0["party"]) ?? .participant,
                                        confirmedBy: try $0["confirmed_by"], confirmedOn: try $0["confirmed_on"])
            }
        }
    }
}
