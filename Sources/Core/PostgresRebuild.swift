import Bus
import Foundation
import Logging
import ModuleKit
import PostgresStorage
import Storage

/// `wzt modules rebuild` for a module whose tables are in PostgreSQL: the module's state rebuilt
/// from the log into a schema of its own beside the live one (`<module>_rebuild`), then the two
/// swapped by renaming them in one transaction; the old one stays as `<module>_before_rebuild`.
///
/// Nothing else may write the module meanwhile. The process that hosts it holds its schema
/// (`PostgresSchemaLock`), so the rebuild takes that; in a cluster the nodes hold no schema locks
/// and a lease decides who runs the module, so the rebuild takes the module's lease as well, and
/// the other nodes go on with the rest. Both schemas' fences end at the rebuild's token, so that a
/// node that lost the module without noticing cannot write either of them afterwards.
public struct PostgresRebuild: Sendable {
    public let module: any Module
    public let url: String
    public let configuration: NodeConfiguration
    public let logger: Logger

    /// The name the rebuild holds the module's lease under, shown by `wzt status` meanwhile.
    public static let holder = "wzt-modules-rebuild"
    /// Long enough to outlast a renewal's round trip many times; renewed every third of it.
    static let lease = Duration.seconds(30)

    public init(module: any Module, url: String, configuration: NodeConfiguration, logger: Logger) {
        self.module = module
        self.url = url
        self.configuration = configuration
        self.logger = logger
    }

    public var schema: String { module.name }
    public var rebuiltSchema: String { module.name + "_rebuild" }
    public var previousSchema: String { module.name + "_before_rebuild" }

    public struct Refused: Error, CustomStringConvertible {
        public let description: String
    }

    /// Rebuilds and swaps; returns what `ModuleRebuild` reports. `progress` as there.
    public func run(log: EventLog, decoder: EnvelopeDecoder, rules: RuleBook,
                    progress: @escaping @Sendable (Int64, Int64) -> Void) async throws -> ModuleRebuild.Report {
        let lock = try await PostgresSchemaLock.take(url: url, schema: schema, holder: "wzt modules rebuild \(schema)",
                                                     advice: "a rebuild needs the process that hosts \(schema) stopped", logger: logger)
        defer { withExtendedLifetime(lock) {} }
        let lease = try await takeLease()
        let renewal = Task { [lease] in try await lease?.renewWhileRunning() }
        defer { renewal.cancel() }

        let migrations = ModuleStore.migrations(of: module)
        let live = try await PostgresStore.open(url: url, schema: schema, migrations: migrations, logger: logger)
        let (rebuilt, previous) = (PostgresStore.quoted(rebuiltSchema), PostgresStore.quoted(previousSchema))
        try await live.write { db in try db.execute(sql: "DROP SCHEMA IF EXISTS \(rebuilt) CASCADE") }
        let fresh = try await PostgresStore.open(url: url, schema: rebuiltSchema, migrations: migrations, logger: logger)
        let report = try await ModuleRebuild(module: module, log: log, decoder: decoder, rules: rules)
            .replay(into: ModuleStore(database: fresh), keepingFrom: ModuleStore(database: live), progress: progress)

        guard try await lease?.stillHeld() ?? true else {
            throw Refused(description: "the lease on \(schema) ran out during the rebuild (the server was away); nothing was swapped: run the rebuild again")
        }
        let token = lease?.token ?? 0
        try await live.write { db in
            // `wzt_fence` of the live schema: its search path.
            try db.execute(sql: "UPDATE wzt_fence SET token = GREATEST(token, ?)", arguments: [token])
            try db.execute(sql: "UPDATE \(rebuilt).wzt_fence SET token = (SELECT token FROM wzt_fence)")
            try db.execute(sql: "DROP SCHEMA IF EXISTS \(previous) CASCADE")
            try db.execute(sql: "ALTER SCHEMA \(PostgresStore.quoted(schema)) RENAME TO \(previous)")
            try db.execute(sql: "ALTER SCHEMA \(rebuilt) RENAME TO \(PostgresStore.quoted(schema))")
        }
        try await log.saveCursor(schema, offset: report.head)
        try await lease?.release()
        return report
    }

    /// In a cluster, the module's lease for the rebuild; nil without `[cluster]`.
    private func takeLease() async throws -> RebuildLease? {
        guard configuration.cluster != nil else { return nil }
        let leases = try await configuration.openLeases(logger: logger)
        guard let token = try await leases.takeOwnership(of: schema, node: Self.holder, lease: Self.lease, pinned: false) else {
            let owner = try? await leases.owners().first { $0.module == schema }
            throw Refused(description: """
                node \(owner?.node ?? "another node") runs \(schema) now; a rebuild takes the module from the cluster while it runs. \
                Try again once its lease is free (stop that node, or the module's lease runs out)
                """)
        }
        return RebuildLease(leases: leases, module: schema, token: token)
    }
}

/// The rebuild's hold on a module's lease in a cluster.
private struct RebuildLease: Sendable {
    let leases: ModuleLeases
    let module: String
    let token: Int64

    func renewWhileRunning() async throws {
        while true {
            try await Task.sleep(for: PostgresRebuild.lease / 3)
            _ = try? await stillHeld()
        }
    }

    /// Renews the lease; false when another holder has it.
    func stillHeld() async throws -> Bool {
        try await leases.renewOwnership(of: module, token: token, lease: PostgresRebuild.lease, pinned: false)
    }

    func release() async throws {
        try await leases.releaseOwnership(of: module, token: token)
    }
}
