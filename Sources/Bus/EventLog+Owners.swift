import Foundation
import Storage

/// Which node runs a module when several core nodes share one PostgreSQL log (`[cluster]`): a
/// lease in the log's `module_owners`, taken and renewed against the server's clock (no two
/// nodes' clocks are compared), with a fencing token higher at every taking (from a sequence:
/// also when a row was deleted by hand).
public struct ModuleOwner: Sendable, Hashable, Codable {
    public let module: String
    public let node: String
    public let token: Int64
    /// When this owner took it (UTC, RFC 3339).
    public let since: String
    /// Seconds until the lease runs out unless renewed; nil when pinned to its node (a module
    /// whose tables are on that node's disk), negative when it ran out already.
    public let secondsLeft: Double?
}

/// The leases of `module_owners`, read and written on a store of the log's schema: the node keeps
/// one of its own for them, so that a renewal never waits behind the log's group commits.
public struct ModuleLeases: Sendable {
    let store: any SQLStore

    public init(store: any SQLStore) {
        self.store = store
    }

    /// Takes `name` for `node` for `lease` when no node holds it, its lease ran out, or `node`
    /// holds it already (restarted); returns the new fencing token, or nil when another node
    /// holds it. `pinned`: the lease never runs out.
    public func takeOwnership(of name: String, node: String, lease: Duration, pinned: Bool) async throws -> Int64? {
        try await take(name, node: node, lease: lease, pinned: pinned,
                       when: "WHERE module_owners.expires_at < clock_timestamp() OR module_owners.node = excluded.node")
    }

    /// Takes `name` for `node` for `lease` whoever holds it (`wzt modules rebuild` in a running
    /// cluster); returns the new fencing token. The holder finds out at its next renewal and stops;
    /// until then the module's fence keeps its writes out once the new token wrote there.
    public func seizeOwnership(of name: String, node: String, lease: Duration) async throws -> Int64 {
        guard let token = try await take(name, node: node, lease: lease, pinned: false, when: "") else {
            throw StoreError(.openFailed, path: store.location, "the lease on \(name) was not written")
        }
        return token
    }

    private func take(_ name: String, node: String, lease: Duration, pinned: Bool, when condition: String) async throws -> Int64? {
        try await store.write { db in
            try Int64.fetchOne(db, sql: """
                INSERT INTO module_owners (module, node, token, since, expires_at)
                VALUES (?, ?, nextval('module_owner_tokens'), clock_timestamp(), \(Self.expiry))
                ON CONFLICT (module) DO UPDATE SET node = excluded.node, token = excluded.token,
                    since = excluded.since, expires_at = excluded.expires_at
                \(condition)
                RETURNING token
                """, arguments: [name, node, Self.length(lease, pinned: pinned)])
        }
    }

    /// Extends the lease `token` holds; false when it is not the lease of `name` any more.
    public func renewOwnership(of name: String, token: Int64, lease: Duration, pinned: Bool) async throws -> Bool {
        try await store.write { db in
            try db.execute(sql: "UPDATE module_owners SET expires_at = \(Self.expiry) WHERE module = ? AND token = ?",
                           arguments: [Self.length(lease, pinned: pinned), name, token])
            return db.changesCount == 1
        }
    }

    /// Ends the lease `token` holds now, so that another node takes `name` at once; a pinned one stays.
    public func releaseOwnership(of name: String, token: Int64) async throws {
        try await store.write { db in
            try db.execute(sql: "UPDATE module_owners SET expires_at = clock_timestamp() WHERE module = ? AND token = ? AND expires_at <> 'infinity'",
                           arguments: [name, token])
        }
    }

    /// Every lease, by name; none when the log keeps no leases (in SQLite, one node only).
    public func owners() async throws -> [ModuleOwner] {
        guard store.dialect == .postgres else { return [] }
        return try await store.read { db in
            try SQLRow.fetchAll(db, sql: #"""
                SELECT module, node, token, to_char(since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS since,
                       CASE WHEN expires_at = 'infinity' THEN NULL ELSE EXTRACT(EPOCH FROM expires_at - clock_timestamp())::float8 END AS left
                FROM module_owners ORDER BY module
                """#).map { row in
                ModuleOwner(module: try row["module"], node: try row["node"], token: try row["token"], since: try row["since"], secondsLeft: try row["left"])
            }
        }
    }

    /// The end of a lease taken or renewed now, from its length in milliseconds (`length`): none
    /// (NULL) for a pinned one, which never runs out.
    private static let expiry = "COALESCE(clock_timestamp() + ?::bigint * interval '1 millisecond', 'infinity'::timestamptz)"

    private static func length(_ lease: Duration, pinned: Bool) -> Int64? {
        pinned ? nil : lease.milliseconds
    }
}

extension EventLog {
    /// The leases, on the log's own store: for reading them (`wzt status`); a node renews its own on a store of their own.
    public var leases: ModuleLeases { ModuleLeases(store: store) }
}
