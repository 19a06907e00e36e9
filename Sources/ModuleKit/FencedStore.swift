import Foundation
import Storage
import Synchronization

/// A module's store when several core nodes may host the module (`[cluster]`): every write
/// transaction first raises `wzt_fence` to the fencing token of the lease this node holds, and
/// fails when the table holds a higher one. So a node that lost its lease (paused, cut off) and
/// has not noticed yet cannot write after the node that took over wrote once; the new owner
/// writes at once when it takes over (`claim`). Reads pass through.
///
/// In a module process fed over the link (`ModuleLinkClient`) the tokens come with the windows of
/// the node that runs the module: until the first arrives (and always, with a single core node,
/// which sends none) writes are not fenced (`untilFirstToken`).
public final class FencedStore: SQLStore {
    private let inner: any SQLStore
    private let module: String
    /// The token of this node's lease; 0 while it holds none.
    private let token = Atomic<Int64>(0)
    private let untilFirstToken: Bool

    public init(_ inner: any SQLStore, module: String, untilFirstToken: Bool = false) {
        self.inner = inner
        self.module = module
        self.untilFirstToken = untilFirstToken
    }

    public var location: String { inner.location }
    public var dialect: SQLDialect { inner.dialect }

    /// From now on writes carry `token` (nil: none, and every write fails).
    public func hold(_ token: Int64?) { self.token.store(token ?? 0, ordering: .releasing) }

    /// The highest token that wrote these tables; 0 when none did.
    public func fencedAt() async throws -> Int64 {
        try await inner.read { db in try Int64.fetchOne(db, sql: "SELECT token FROM wzt_fence") ?? 0 }
    }

    /// Writes the token, so that a former owner's writes fail from here on.
    public func claim() async throws { try await write { _ in } }

    private func check(_ db: any SQLDatabase) throws {
        let token = token.load(ordering: .acquiring)
        if token == 0, untilFirstToken { return }
        if token > 0 {
            try db.execute(sql: "UPDATE wzt_fence SET token = ? WHERE token <= ?", arguments: [token, token])
            if db.changesCount == 1 { return }
        }
        throw StoreError(.notOwner, path: location, """
            module \(module) is owned by another node now\(token > 0 ? " (this node's fencing token \(token) is stale)" : ""); \
            this node no longer writes its tables
            """)
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) throws -> T) async throws -> T {
        try await inner.read(body)
    }

    public func write<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) throws -> T) async throws -> T {
        try await inner.write { [self] db in
            try check(db)
            return try body(db)
        }
    }

    public func readNow<T>(_ body: (any SQLDatabase) throws -> T) throws -> T {
        try inner.readNow(body)
    }

    public func writeNow<T>(_ body: (any SQLDatabase) throws -> T) throws -> T {
        try inner.writeNow { db in
            try check(db)
            return try body(db)
        }
    }
}
