import Bus
import Storage
import ModuleKit
import NetworksContracts
import PluginAPI

/// Networks of service providers per region: partners, capacity, activation against the rule
/// set's mandatory partners, and referrals that are accepted, waitlisted (FIFO) or rejected
/// (DOMAIN.md, "Networks").
public final class NetworksModule: Module {
    public let name = "networks"
    public let contracts: [any EventContract.Type] = NetworksContracts.all
    /// Every field of each contract, for the module's one purpose.
    public let needs: [Need] = [
        NetworkRegistered.eventType, PartnerJoined.eventType, NetworkActivationRequested.eventType, CapacityChanged.eventType,
        ReferralRequested.eventType, PlaceReleased.eventType,
    ].map { Need(EventPattern(exactly: $0), for: .activationTrajectory) }

    public init() {}

    public func registerMigrations(_ migrator: inout SQLMigrations) { NetworksSchema.register(&migrator) }

    /// For the network an event names.
    public let invariants: [Invariant] = [
        Invariant("no free place while someone waits") { check in
            guard let id = check.ids["networkId"],
                  let row = try SQLRow.fetchOne(check.db, sql: """
                      SELECT n.capacity, SUM(CASE WHEN r.state = 'accepted' THEN 1 ELSE 0 END) AS accepted,
                             SUM(CASE WHEN r.state = 'waitlisted' THEN 1 ELSE 0 END) AS waiting
                      FROM network n LEFT JOIN referral r ON r.network_id = n.id WHERE n.id = ? GROUP BY n.capacity
                      """, arguments: [id]) else { return [] }
            let (capacity, accepted, waiting): (Int, Int, Int) = (try row["capacity"], try row["accepted"] ?? 0, try row["waiting"] ?? 0)
            return waiting > 0 && accepted < capacity ? ["network \(id) has \(capacity - accepted) free place(s) while \(waiting) wait"] : []
        },
        Invariant("one open referral per case and network") { check in
            guard let id = check.ids["networkId"] else { return [] }
            return try String.fetchAll(check.db, sql: """
                SELECT case_id FROM referral WHERE network_id = ? AND state IN ('accepted', 'waitlisted') GROUP BY case_id HAVING COUNT(*) > 1
                """, arguments: [id]).map { "case \($0) holds more than one open referral in network \(id)" }
        },
    ]

    public func handle(_ event: IncomingEvent, _ transaction: ModuleTransaction) throws {
        let work = NetworkWork(transaction: transaction)
        let refused = try transaction.refusable(NetworkRefusal.self) {
            switch event.type {
            case NetworkRegistered.eventType.rawValue: try work.register(event.data(as: NetworkRegistered.self))
            case PartnerJoined.eventType.rawValue: try work.join(event.data(as: PartnerJoined.self))
            case NetworkActivationRequested.eventType.rawValue: try work.activate(event.data(as: NetworkActivationRequested.self))
            case CapacityChanged.eventType.rawValue: try work.changeCapacity(event.data(as: CapacityChanged.self))
            case ReferralRequested.eventType.rawValue: try work.refer(event.data(as: ReferralRequested.self))
            case PlaceReleased.eventType.rawValue: try work.release(event.data(as: PlaceReleased.self))
            default: return
            }
        }
        if let refusal = refused {
            try transaction.publish(NetworksRefused(refusedEventId: event.id, refusedType: event.type, networkId: refusal.networkId,
                                                    code: refusal.code, reason: refusal.reason), subject: refusal.networkId ?? event.subject)
        }
    }
}

struct NetworkRefusal: Error {
    let networkId: String?
    let code: NetworksRefused.Code
    let reason: String
}

/// A network's state as the module keeps it.
public struct NetworkState: Sendable, Hashable {
    public let id: String
    public let capacity: Int
    public let activeSince: CalendarDate?
    public let accepted: [String]
    /// Case ids waiting, first in line first.
    public let waitlist: [String]
}

/// Reads of the networks module's state.
public struct NetworksQueries: Sendable {
    let database: any SQLStore
    public init(database: any SQLStore) { self.database = database }

    public func network(_ id: String) async throws -> NetworkState? {
        try await database.read { db in
            guard let row = try SQLRow.fetchOne(db, sql: "SELECT capacity, active_since FROM network WHERE id = ?", arguments: [id]) else { return nil }
            let accepted = try String.fetchAll(db, sql: "SELECT case_id FROM referral WHERE network_id = ? AND state = 'accepted' ORDER BY rowid", arguments: [id])
            let waitlist = try String.fetchAll(db, sql: "SELECT case_id FROM referral WHERE network_id = ? AND state = 'waitlisted' ORDER BY queued_at", arguments: [id])
            let since: String? = try row["active_since"]
            return NetworkState(id: id, capacity: try row["capacity"], activeSince: since.flatMap(CalendarDate.init), accepted: accepted, waitlist: waitlist)
        }
    }
}

private struct NetworkWork {
    let transaction: ModuleTransaction
    var db: any SQLDatabase { transaction.db }

    func register(_ network: NetworkRegistered) throws {
        guard network.capacity >= 0 else {
            throw NetworkRefusal(networkId: network.networkId, code: .invalidCapacity, reason: "capacity must be 0 or more places; got \(network.capacity)")
        }
        guard try !exists(network.networkId) else {
            throw NetworkRefusal(networkId: network.networkId, code: .duplicateNetwork, reason: "network \(network.networkId) is already registered")
        }
        try db.execute(sql: "INSERT INTO network (id, name, region, werkingsgebied, coordinator, capacity) VALUES (?, ?, ?, ?, ?, ?)",
                       arguments: [network.networkId, network.name, network.region, network.werkingsgebied, network.coordinatorOrganisationId, network.capacity])
    }

    func join(_ partner: PartnerJoined) throws {
        _ = try network(partner.networkId)
        try db.execute(sql: """
            INSERT INTO network_partner (network_id, organisation_id, kind, recognition) VALUES (?, ?, ?, ?)
            ON CONFLICT(network_id, organisation_id) DO UPDATE SET kind = excluded.kind, recognition = excluded.recognition
            """, arguments: [partner.networkId, partner.organisationId, partner.kind.rawValue, partner.recognition])
    }

    func activate(_ request: NetworkActivationRequested) throws {
        let row = try network(request.networkId)
        let id = request.networkId
        if let since: String = try row["active_since"] {
            throw NetworkRefusal(networkId: id, code: .alreadyActive, reason: "network \(id) is active since \(since)")
        }
        let region: String = try row["region"]
        let rules: any RegionalRules
        do {
            rules = try transaction.rules.rules(region: region, offer: .activationTrajectory, caseStartedOn: request.requestedOn)
        } catch {
            throw NetworkRefusal(networkId: id, code: .noRules, reason: error.description)
        }
        let kinds = Set(try String.fetchAll(db, sql: "SELECT kind FROM network_partner WHERE network_id = ?", arguments: [id]).compactMap(OrganisationKind.init(rawValue:)))
        let missing = rules.networks.missingPartners(given: kinds)
        guard missing.isEmpty else {
            let names = missing.map { "one of " + $0.map(\.rawValue).sorted().joined(separator: ", ") }.joined(separator: "; ")
            throw NetworkRefusal(networkId: id, code: .missingMandatoryPartner, reason: "network \(id) cannot be activated under \(rules.id): it lacks a mandatory partner: \(names)")
        }
        try db.execute(sql: "UPDATE network SET active_since = ?, rule_set = ? WHERE id = ?", arguments: [request.requestedOn.description, rules.id, id])
        try transaction.publish(NetworkActivated(networkId: id, region: region, werkingsgebied: row["werkingsgebied"], ruleSet: rules.id,
                                                 activatedOn: request.requestedOn), subject: id)
    }

    func changeCapacity(_ change: CapacityChanged) throws {
        _ = try network(change.networkId)
        guard change.capacity >= 0 else {
            throw NetworkRefusal(networkId: change.networkId, code: .invalidCapacity, reason: "capacity must be 0 or more places; got \(change.capacity)")
        }
        try db.execute(sql: "UPDATE network SET capacity = ? WHERE id = ?", arguments: [change.capacity, change.networkId])
        try admitFromWaitlist(change.networkId, on: transaction.eventDate)
    }

    func refer(_ referral: ReferralRequested) throws {
        func outcome(_ kind: ReferralOutcome.Outcome, position: Int? = nil, code: ReferralOutcome.RejectionCode? = nil, reason: String? = nil) throws {
            try transaction.publish(ReferralOutcome(referralId: referral.referralId, networkId: referral.networkId, caseId: referral.caseId,
                                                    outcome: kind, on: referral.referredOn, position: position, code: code, reason: reason),
                                    subject: referral.caseId)
        }
        guard let row = try SQLRow.fetchOne(db, sql: "SELECT capacity, active_since FROM network WHERE id = ?", arguments: [referral.networkId]) else {
            return try outcome(.rejected, code: .unknownNetwork, reason: "no network \(referral.networkId)")
        }
        guard (try row["active_since"] as String?) != nil else {
            return try outcome(.rejected, code: .networkNotActive, reason: "network \(referral.networkId) is not active yet")
        }
        if let earlier = try SQLRow.fetchOne(db, sql: "SELECT network_id, case_id, state FROM referral WHERE id = ?", arguments: [referral.referralId]) {
            // The same referral sent again (a system retrying with a new event id) is one referral.
            let open = ["accepted", "waitlisted"].contains(try earlier["state"] as String)
            if open, try earlier["network_id"] == referral.networkId, try earlier["case_id"] == referral.caseId { return }
            return try outcome(.rejected, code: .referralIdUsed, reason: "referral \(referral.referralId) was used before; a new referral needs an id of its own")
        }
        let open = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM referral WHERE network_id = ? AND case_id = ? AND state IN ('accepted', 'waitlisted')",
                                    arguments: [referral.networkId, referral.caseId]) ?? 0
        guard open == 0 else {
            return try outcome(.rejected, code: .alreadyReferred, reason: "case \(referral.caseId) is already in or waiting for network \(referral.networkId)")
        }
        let capacity: Int = try row["capacity"]
        let occupied = try occupiedPlaces(referral.networkId)
        let waiting = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM referral WHERE network_id = ? AND state = 'waitlisted'", arguments: [referral.networkId]) ?? 0
        if occupied < capacity && waiting == 0 {
            try insert(referral, state: "accepted")
            try outcome(.accepted)
        } else {
            try insert(referral, state: "waitlisted")
            try outcome(.waitlisted, position: waiting + 1)
        }
    }

    /// The case leaves the network: its place, or its spot on the waitlist, is freed once.
    func release(_ release: PlaceReleased) throws {
        _ = try network(release.networkId)
        try db.execute(sql: "UPDATE referral SET state = 'released', queued_at = NULL WHERE network_id = ? AND case_id = ? AND state IN ('accepted', 'waitlisted')",
                       arguments: [release.networkId, release.caseId])
        guard db.changesCount == 1 else {
            let releasedBefore = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM referral WHERE network_id = ? AND case_id = ? AND state = 'released')",
                                                   arguments: [release.networkId, release.caseId]) ?? false
            // The same release sent again changes nothing.
            if releasedBefore { return }
            throw NetworkRefusal(networkId: release.networkId, code: .notInNetwork, reason: "case \(release.caseId) holds no place in and is not waiting for network \(release.networkId)")
        }
        try admitFromWaitlist(release.networkId, on: release.releasedOn)
    }

    /// Accepts waiting referrals, first come first served, while places are free, dated by the
    /// fact that freed the place.
    private func admitFromWaitlist(_ networkId: String, on date: CalendarDate) throws {
        let capacity = try Int.fetchOne(db, sql: "SELECT capacity FROM network WHERE id = ?", arguments: [networkId]) ?? 0
        var free = capacity - (try occupiedPlaces(networkId))
        let waiting = try SQLRow.fetchAll(db, sql: "SELECT id, case_id FROM referral WHERE network_id = ? AND state = 'waitlisted' ORDER BY queued_at", arguments: [networkId])
        for row in waiting where free > 0 {
            let referralId: String = try row["id"], caseId: String = try row["case_id"]
            try db.execute(sql: "UPDATE referral SET state = 'accepted', queued_at = NULL WHERE id = ?", arguments: [referralId])
            try transaction.publish(ReferralOutcome(referralId: referralId, networkId: networkId, caseId: caseId, outcome: .accepted,
                                                    on: date), subject: caseId)
            free -= 1
        }
    }

    private func insert(_ referral: ReferralRequested, state: String) throws {
        let queue = state == "waitlisted" ? (try Int.fetchOne(db, sql: "SELECT COALESCE(MAX(queued_at), 0) + 1 FROM referral")) : nil
        try db.execute(sql: """
            INSERT INTO referral (id, network_id, case_id, referred_on, state, queued_at) VALUES (?, ?, ?, ?, ?, ?)
            """, arguments: [referral.referralId, referral.networkId, referral.caseId, referral.referredOn.description, state, queue])
    }

    private func occupiedPlaces(_ networkId: String) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM referral WHERE network_id = ? AND state = 'accepted'", arguments: [networkId]) ?? 0
    }

    private func exists(_ id: String) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM network WHERE id = ?)", arguments: [id]) ?? false
    }

    private func network(_ id: String) throws -> SQLRow {
        guard let row = try SQLRow.fetchOne(db, sql: "SELECT * FROM network WHERE id = ?", arguments: [id]) else {
            throw NetworkRefusal(networkId: id, code: .unknownNetwork, reason: "no network \(id)")
        }
        return row
    }
}
