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
/// Nothing else may write the module meanwhile. A single node or a module process holds the
/// module's schema alone (`PostgresSchemaLock`), so the rebuild takes it and is refused while one
/// runs. The nodes of a cluster hold it together and a lease decides which runs the module: the
/// rebuild holds it beside them, takes the module's lease from whichever node holds it, and raises
/// the live schema's fence to its own token before it reads anything there, so that the node's
/// writes fail from then on; the nodes go on with the rest. Both schemas' fences end at the
/// rebuild's token.
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
        let lock = try await PostgresSchemaLock.take(url: url, schema: schema, holder: "wzt modules rebuild \(schema)", shared: configuration.cluster != nil,
                                                     advice: "a rebuild needs the process that hosts \(schema) stopped", logger: logger)
        // One rebuild of a module at a time: both would fill the one `<module>_rebuild`.
        let rebuilding = try await PostgresSchemaLock.take(url: url, schema: "rebuild of \(schema)", holder: "wzt modules rebuild \(schema)",
                                                           advice: "another rebuild of \(schema) runs; let it finish", logger: logger)
        defer { withExtendedLifetime((lock, rebuilding)) {} }
        let lease = try await takeLease()
        let renewal = Task { [lease] in try await lease?.renewWhileRunning() }
        defer { renewal.cancel() }

        let migrations = ModuleStore.migrations(of: module)
        let live = try await PostgresStore.open(url: url, schema: schema, migrations: migrations, logger: logger)
        if let lease {
            // Waits for the former holder's transaction in hand, and refuses its next ones.
            try await live.write { db in try db.execute(sql: "UPDATE wzt_fence SET token = GREATEST(token, ?)", arguments: [lease.token]) }
        }
        let (rebuilt, previous) = (PostgresStore.quoted(rebuiltSchema), PostgresStore.quoted(previousSchema))
        try await live.write { db in try db.execute(sql: "DROP SCHEMA IF EXISTS \(rebuilt) CASCADE") }
        let fresh = try await PostgresStore.open(url: url, schema: rebuiltSchema, migrations: migrations, logger: logger)
        let report = try await ModuleRebuild(module: module, log: log, decoder: decoder, rules: rules)
            .replay(into: ModuleStore(database: fresh), keepingFrom: ModuleStore(database: live), progress: progress)

        guard try await lease?.stillHeld() ?? true else {
            throw Refused(description: """
                the lease on \(schema) was lost during the rebuild (renewals did not get through in time: the rebuild or the \
                server paused, or another rebuild took it); nothing was swapped: run the rebuild again
                """)
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

    /// In a cluster, the module's lease, taken from the node that holds it; nil without `[cluster]`.
    private func takeLease() async throws -> RebuildLease? {
        guard configuration.cluster != nil else { return nil }
        let leases = try await configuration.openLeases(logger: logger)
        if let owner = try await leases.owners().first(where: { $0.module == schema && $0.node != Self.holder && ($0.secondsLeft ?? 1) > 0 }) {
            logger.notice("taking the module from the node that runs it", metadata: ["wzt.module": "\(schema)", "wzt.node": "\(owner.node)"])
        }
        let token = try await leases.seizeOwnership(of: schema, node: Self.holder, lease: Self.lease)
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
