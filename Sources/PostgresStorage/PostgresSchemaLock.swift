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

    public let schema: String
    private let connection: PostgresConnection

    private init(schema: String, connection: PostgresConnection) {
        self.schema = schema
        self.connection = connection
    }

    /// Takes `schema` at `url` for `holder` (e.g. "wzt serve"), or throws naming who holds it and,
    /// after that, `advice`. `schema` may be any name a process must hold alone (a cluster node's).
    public static func take(url: String, schema: String, holder: String,
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
        // application_name holds at most 63 bytes.
        let name = String("\(holder) pid \(getpid()) on \(ProcessInfo.processInfo.hostName)".utf8.prefix(63)) ?? holder
        do {
            _ = try await connection.query("SELECT set_config('application_name', \(name), false)", logger: logger).collect()
            let taken = try await connection.query("SELECT pg_try_advisory_lock(\(lockClass), hashtext(\(schema)))", logger: logger).collect()
            if try taken.first?.decode(Bool.self) == true { return PostgresSchemaLock(schema: schema, connection: connection) }
            let holders = try await connection.query("""
                SELECT a.application_name, coalesce(host(a.client_addr), 'a local socket'), a.backend_start::text
                FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                WHERE l.locktype = 'advisory' AND l.granted AND l.classid = \(lockClass)::oid
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
