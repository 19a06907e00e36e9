import Foundation
import Logging
import NIOPosix
import PostgresNIO
import Storage

/// Holds a schema (the event log's, a module's) for one process, as `DataDirectoryLock` holds a
/// data directory: two nodes on one log schema would hand out the same sealing key ids and offsets
/// from two caches, and two hosts of one module would apply its events twice. A session-level
/// advisory lock on a connection of its own, which the server releases when that connection ends,
/// however the process ends. The connection carries the holder's name as its `application_name`,
/// so a second process is told who holds the schema.
public final class PostgresSchemaLock: Sendable {
    /// Keys of `pg_advisory_lock(7367, hashtext(schema))`; 7365 and 7366 are the migration and append locks.
    static let lockClass: Int32 = 7367

    public let url: String
    public let schema: String
    public let holder: String
    public let shared: Bool
    private let connection: PostgresConnection

    private init(url: String, schema: String, holder: String, shared: Bool, connection: PostgresConnection) {
        self.url = url
        self.schema = schema
        self.holder = holder
        self.shared = shared
        self.connection = connection
    }

    /// Takes `schema` at `url` for `holder` (e.g. "wzt serve"), or throws naming who holds it and,
    /// after that, `advice`. `schema` may be any name a process must hold alone (a cluster node's).
    /// `shared`: held beside other shared holders (the nodes of a cluster), but not beside one
    /// that holds it alone (a single node, a module process), nor it beside them.
    public static func take(url: String, schema: String, holder: String, shared: Bool = false,
                            advice: String = "one process at a time may use it. Stop that one first, or give this one another database",
                            logger: Logger) async throws(StoreError) -> PostgresSchemaLock {
        let address = try PostgresAddress(url)
        let location = "\(address.redacted) schema \(schema)"
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.next(), configuration: address.configuration, id: 2, logger: logger)
        } catch {
            throw StoreError(.openFailed, path: location, "cannot connect: \(PostgresStore.cause(error)); check that the server runs and the address, user and password are right")
        }
        // application_name holds at most 63 bytes: the pid and host first, which a long holder must not cut off.
        let name = String("pid \(getpid()) on \(ProcessInfo.processInfo.hostName): \(holder)".utf8.prefix(63)) ?? holder
        do {
            _ = try await connection.query("SELECT set_config('application_name', \(name), false)", logger: logger).collect()
            let taken = try await connection.query(shared ? "SELECT pg_try_advisory_lock_shared(\(lockClass), hashtext(\(schema)))"
                                                          : "SELECT pg_try_advisory_lock(\(lockClass), hashtext(\(schema)))", logger: logger).collect()
            if try taken.first?.decode(Bool.self) == true {
                return PostgresSchemaLock(url: url, schema: schema, holder: holder, shared: shared, connection: connection)
            }
            let holders = try await connection.query("""
                SELECT a.application_name, coalesce(host(a.client_addr), 'a local socket'), a.backend_start::text
                FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                WHERE l.locktype = 'advisory' AND l.granted AND l.classid = \(lockClass)::oid
                  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                  AND l.objid = (hashtext(\(schema))::bigint & 4294967295)::text::oid AND l.objsubid = 2
                """, logger: logger).collect()
            let holder = try holders.first.map { row in
                let (application, client, since) = try row.decode((String, String, String).self)
                return "\(application.isEmpty ? "a connection" : application) (from \(client), since \(since))"
            }
            try? await connection.close()
            throw StoreError(.openFailed, path: location, "is in use by \(holder ?? "another process"); \(advice)")
        } catch let error as StoreError {
            throw error
        } catch {
            try? await connection.close()
            throw StoreError(.openFailed, path: location, "cannot take the schema's lock: \(PostgresStore.cause(error))")
        }
    }

    /// Returns when the lock's connection has ended (the server restarted, the session was
    /// terminated, the network cut it): from then on another process may take the schema.
    /// Checked every `interval`; throws `CancellationError` when the task is cancelled first.
    public func waitUntilLost(checkingEvery interval: Duration = .seconds(1)) async throws {
        while !connection.isClosed {
            try await Task.sleep(for: interval)
        }
    }

    deinit {
        // The connection must outlive its closing (postgres-nio checks that it was closed).
        let connection = connection
        connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
    }
}
