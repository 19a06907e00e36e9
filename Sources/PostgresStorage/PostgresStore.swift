import Dispatch
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Storage

/// A module's database in a PostgreSQL server: its own schema (named after the module), reached
/// by `storage = "postgres://…"` in the node's config.
///
/// Modules write the SQL both engines read alike (`Storage`); this driver bridges the rest:
/// `?` placeholders become `$1…`, and a migration's column types become PostgreSQL's (`BLOB` →
/// `BYTEA`, `REAL` → `DOUBLE PRECISION`, `INTEGER` → `BIGINT`, an `INTEGER PRIMARY KEY` a
/// generated identity). Every table gets a `rowid` identity column, as SQLite's tables have one,
/// so "in the order rows were added" reads the same. Arguments go as untyped text, so the server
/// converts them to the column's type as SQLite's affinity does.
///
/// Two connections per store, each used by one transaction at a time on its own thread: one for
/// writes (a module's writes are serial in SQLite too) and one for reads, so that a caseworker's
/// read never waits behind a handler. A commit is durable when it returns (the server's default
/// `synchronous_commit = on`).
public final class PostgresStore: SQLStore, Sendable {
    public var dialect: SQLDialect { .postgres }
    public let location: String
    private let writer: Lane
    private let reader: Lane
    private let address: PostgresAddress
    private let logger: Logger
    /// The connection that listens for notifications, made on the first wait.
    private let listening = NIOLockedValueBox<Listening?>(nil)

    /// Connects to `url` (`postgres://user:password@host:port/database`), creates the schema
    /// `schema` when missing and applies the migrations not applied yet.
    /// `idleInTransactionTimeout`: the server ends a session of this store that keeps a transaction
    /// open and idle for longer (a process stopped or paused mid-transaction), so that its locks
    /// do not hold up other nodes beyond it; nil: the server's setting.
    public static func open(url: String, schema: String, migrations: SQLMigrations, idleInTransactionTimeout: Duration? = nil,
                            logger: Logger) async throws(StoreError) -> PostgresStore {
        let address = try PostgresAddress(url)
        let store = PostgresStore(address: address, schema: schema, idleInTransactionTimeout: idleInTransactionTimeout, logger: logger)
        do {
            try await store.migrate(migrations)
        } catch where error.code == .unavailable {
            throw StoreError(.openFailed, path: address.redacted, "\(error.message); check that the server runs and the address, user and password are right")
        }
        return store
    }

    /// Throws unless `url` is an address `open` can use; connects to nothing.
    public static func checkAddress(_ url: String) throws(StoreError) {
        _ = try PostgresAddress(url)
    }

    private init(address: PostgresAddress, schema: String, idleInTransactionTimeout: Duration?, logger: Logger) {
        location = "\(address.redacted) schema \(schema)"
        self.address = address
        self.logger = logger
        var settings = "SET search_path TO \(Self.quoted(schema))"
        if let timeout = idleInTransactionTimeout {
            settings += "; SET idle_in_transaction_session_timeout = \(max(1, timeout.milliseconds))"
        }
        // Waits for a lock held by a paused session end within that timeout; twice it is no
        // longer a wait but a connection that will never answer.
        let answerTimeout = idleInTransactionTimeout.map { max($0 * 2, .seconds(1)) }
        writer = Lane(address: address, schema: schema, settings: settings, answerTimeout: answerTimeout, location: location, logger: logger, name: "write")
        reader = Lane(address: address, schema: schema, settings: settings, answerTimeout: answerTimeout, location: location, logger: logger, name: "read")
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) throws -> T) async throws -> T {
        try await reader.run { lane in try lane.transaction("BEGIN READ ONLY", body) }
    }

    public func write<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) throws -> T) async throws -> T {
        try await writer.run { lane in try lane.transaction("BEGIN", body) }
    }

    public func readNow<T>(_ body: (any SQLDatabase) throws -> T) throws -> T {
        try reader.runNow { lane in try lane.transaction("BEGIN READ ONLY", body) }
    }

    public func writeNow<T>(_ body: (any SQLDatabase) throws -> T) throws -> T {
        try writer.runNow { lane in try lane.transaction("BEGIN", body) }
    }

    /// Applies each step not applied yet in its own transaction, the steps' names recorded in the
    /// schema's `wzt_migrations`. An advisory lock keeps two processes from migrating at once.
    private func migrate(_ migrations: SQLMigrations) async throws(StoreError) {
        do {
            try await writer.run { lane in
                try lane.transaction("BEGIN") { db in
                    try db.execute(sql: "SELECT pg_advisory_xact_lock(7365)")
                    try db.execute(sql: "CREATE SCHEMA IF NOT EXISTS \(Self.quoted(lane.schema))")
                    try db.execute(sql: "CREATE TABLE IF NOT EXISTS wzt_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
                }
                for step in migrations.steps {
                    try lane.transaction("BEGIN") { db in
                        try db.execute(sql: "SELECT pg_advisory_xact_lock(7365)")
                        guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM wzt_migrations WHERE name = ?)", arguments: [step.name]) == false else { return }
                        (db as? PostgresSession)?.migrating = true
                        try step.migrate(db)
                        (db as? PostgresSession)?.migrating = false
                        try db.execute(sql: "INSERT INTO wzt_migrations (name) VALUES (?)", arguments: [step.name])
                    }
                }
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.openFailed, path: location, "migrating the schema failed: \(error)")
        }
    }

    deinit {
        if let connection = listening.withLockedValue({ $0 })?.connection {
            connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
        }
    }

    /// The address `url` without its password, to show; the URL itself when it is not an address.
    public static func redacted(_ url: String) -> String {
        (try? PostgresAddress(url))?.redacted ?? url
    }

    /// `identifier` as a quoted SQL name (a schema named after a module may hold a `-`).
    public static func quoted(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Whether `error` says the server cannot be reached or cannot take the work now (connection
    /// lost, shutting down, out of disk or memory), rather than that the statement is wrong.
    static func isUnavailable(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError else { return false }
        if [.connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown].contains(error.code) { return true }
        guard let state = error.serverInfo?[.sqlState] else { return false }
        // 08: connection exception; 53: insufficient resources (disk full, out of memory);
        // 57P01-03: the server shuts down or is starting; 58: system error (I/O).
        return state.hasPrefix("08") || state.hasPrefix("53") || state.hasPrefix("57P0") || state.hasPrefix("58")
    }

    /// What went wrong, in the server's words when it said something; never the statement's values.
    static func cause(_ error: any Error) -> String {
        guard let error = error as? PSQLError else { return "\(error)" }
        if let message = error.serverInfo?[.message] {
            return "\(message) (SQLSTATE \(error.serverInfo?[.sqlState] ?? "?"))"
        }
        if error.code == .sslUnsupported { return "the server does not offer TLS, which sslmode asks for" }
        return error.underlying.map { "\(error.code): \($0)" } ?? "\(error.code)"
    }
}

/// A connection and the thread its transactions run on; queries block that thread until the
/// server answers, which is why it is neither an event loop nor the cooperative pool.
private final class Lane: @unchecked Sendable {
    // @unchecked: `connection` is read and replaced on `queue` only; the rest is immutable.
    let schema: String
    private let address: PostgresAddress
    private let location: String
    private let logger: Logger
    private let queue: DispatchQueue
    private var connection: PostgresConnection?

    /// Run on every new connection: the schema first in its search path, and any session setting.
    private let settings: String
    private let answerTimeout: Duration?

    init(address: PostgresAddress, schema: String, settings: String, answerTimeout: Duration?, location: String, logger: Logger, name: String) {
        self.address = address
        self.schema = schema
        self.settings = settings
        self.answerTimeout = answerTimeout
        self.location = location
        self.logger = logger
        queue = DispatchQueue(label: "wzt.postgres.\(schema).\(name)")
    }

    deinit {
        if let connection { Self.close(connection) }
    }

    func run<T: Sendable>(_ work: @escaping @Sendable (Lane) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try work(self) }) }
        }
    }

    func runNow<T>(_ work: (Lane) throws -> T) throws -> T {
        try queue.sync { try work(self) }
    }

    /// Runs `body` between `begin` and COMMIT; ROLLBACK when it throws. On the lane's queue.
    func transaction<T>(_ begin: String, _ body: (any SQLDatabase) throws -> T) throws -> T {
        let session = PostgresSession(connection: try openConnection(), location: location, logger: logger)
        session.answerTimeout = answerTimeout
        try session.execute(sql: begin)
        do {
            let result = try body(session)
            try session.execute(sql: "COMMIT")
            return result
        } catch {
            try? session.execute(sql: "ROLLBACK")
            throw error
        }
    }

    /// The open connection, made now when there is none or the last one broke (a server restart,
    /// a network cut), with the module's schema first in its search path for good.
    private func openConnection() throws(StoreError) -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        if let broken = connection { Self.close(broken) }
        connection = nil
        do {
            // On one of NIO's own threads, never a Task: the caller may be blocking a thread of the
            // cooperative pool (`readNow`), which a Task could be waiting for.
            let opened = try PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.next(), configuration: address.configuration,
                                                        id: 1, logger: logger).wait()
            connection = opened
            try PostgresSession(connection: opened, location: location, logger: logger).execute(sql: settings)
            return opened
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.unavailable, path: location, "cannot connect: \(PostgresStore.cause(error))")
        }
    }

    private static func close(_ connection: PostgresConnection) {
        // The connection must outlive its closing (postgres-nio checks that it was closed).
        connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
    }
}

/// One transaction on a lane's connection, run synchronously on the lane's thread.
final class PostgresSession: SQLDatabase {
    let connection: PostgresConnection
    let location: String
    let logger: Logger
    /// While a migration runs: column types and `rowid` are brought to PostgreSQL's.
    var migrating = false
    /// How long a statement may go unanswered before the connection is given up; nil: for ever.
    var answerTimeout: Duration?
    private(set) var changesCount = 0
    var dialect: SQLDialect { .postgres }

    init(connection: PostgresConnection, location: String, logger: Logger) {
        self.connection = connection
        self.location = location
        self.logger = logger
    }

    func execute(sql: String, arguments: SQLArguments) throws {
        let statements = arguments.values.isEmpty ? PostgresSQL.statements(sql) : [sql]
        for statement in statements {
            changesCount = try run(statement, arguments).metadata.rows ?? 0
        }
    }

    func fetchRows(sql: String, arguments: SQLArguments) throws -> [SQLRow] {
        try run(sql, arguments).rows.map { row in
            var names: [String] = []
            var values: [SQLValue] = []
            for cell in row {
                names.append(cell.columnName)
                do {
                    values.append(try PostgresSQL.value(of: cell))
                } catch {
                    throw StoreError(.writeFailed, path: location, "column `\(cell.columnName)` of type \(cell.dataType) (\(cell.format)) could not be read")
                }
            }
            return SQLRow(columnNames: names, values: values)
        }
    }

    private func run(_ sql: String, _ arguments: SQLArguments) throws -> PostgresQueryResult {
        var text = PostgresSQL.numberingPlaceholders(sql)
        if migrating { text = PostgresSQL.schemaStatement(text) }
        var binds = PostgresBindings(capacity: arguments.values.count)
        for value in arguments.values {
            if let text = PostgresSQL.text(of: value) { binds.append(UntypedText(text)) } else { binds.appendNull() }
        }
        do {
            let answer = connection.query(PostgresQuery(unsafeSQL: text, binds: binds), logger: logger)
            // A query sent on a connection the server ended meanwhile (a restart, or a node paused
            // past `idle_in_transaction_session_timeout`) was seen to be neither answered nor
            // failed, even once the connection was closed: the wait looks at the connection every
            // quarter of a second, gives up once it is closed (or after `answerTimeout`, closing
            // it), and the lane connects again.
            let outcome = NIOLockedValueBox<Result<PostgresQueryResult, any Error>?>(nil)
            let answered = DispatchSemaphore(value: 0)
            answer.whenComplete { result in
                outcome.withLockedValue { $0 = result }
                answered.signal()
            }
            let deadline = answerTimeout.map { DispatchTime.now() + .milliseconds(Int($0.milliseconds)) }
            while answered.wait(timeout: .now() + .milliseconds(250)) == .timedOut {
                if let answerTimeout, let deadline, DispatchTime.now() >= deadline {
                    connection.close().whenComplete { _ in }
                    throw StoreError(.unavailable, path: location, "the server did not answer within \(answerTimeout); the connection was closed and is made again")
                }
                if connection.isClosed {
                    throw StoreError(.unavailable, path: location, "the connection closed before the server answered; it is made again")
                }
            }
            guard let result = outcome.withLockedValue({ $0 }) else {
                throw StoreError(.unavailable, path: location, "the server's answer was lost; the connection is made again")
            }
            return try result.get()
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(PostgresStore.isUnavailable(error) ? .unavailable : .writeFailed, path: location, PostgresStore.cause(error))
        }
    }
}

/// An argument as text of no declared type: the server gives it the type its place in the
/// statement asks for.
private struct UntypedText: PostgresDynamicTypeEncodable {
    let text: String
    init(_ text: String) { self.text = text }
    var psqlType: PostgresDataType { .null }
    var psqlFormat: PostgresFormat { .text }
    func encode<JSONEncoder: PostgresJSONEncoder>(into buffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        buffer.writeString(text)
    }
}

/// `postgres://user:password@host:port/database?sslmode=…&sslrootcert=…`. The TLS settings mean
/// what libpq's mean: `disable`; `prefer` (the default: encrypted when the server offers it, the
/// certificate unchecked); `require` (encrypted, unchecked); `verify-ca` (the certificate signed
/// by a trusted authority); `verify-full` (and issued for the host). Trusted: the system's roots,
/// or the PEM file `sslrootcert`.
struct PostgresAddress {
    let configuration: PostgresConnection.Configuration
    /// For messages: without the password.
    let redacted: String

    init(_ url: String) throws(StoreError) {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme), let host = components.host, !host.isEmpty,
              let user = components.user, !user.isEmpty else {
            throw StoreError(.openFailed, path: "storage", "`\(url.split(separator: "@").last ?? "")` is not a PostgreSQL address; write postgres://user@host:port/database (the password in PGPASSWORD)")
        }
        let database = components.path.split(separator: "/").first.map(String.init)
        let port = components.port ?? 5432
        redacted = "postgres://\(user)@\(host):\(port)/\(database ?? "")"
        // As libpq does: a password not in the address comes from PGPASSWORD, so it need not sit in a config file.
        let password = components.password ?? ProcessInfo.processInfo.environment["PGPASSWORD"]
        var settings: [String: String] = [:]
        for item in components.queryItems ?? [] {
            guard ["sslmode", "sslrootcert"].contains(item.name), let value = item.value, !value.isEmpty else {
                throw StoreError(.openFailed, path: redacted, "`\(item.name)` is not a setting wzt reads in a PostgreSQL address; it knows sslmode and sslrootcert")
            }
            settings[item.name] = value
        }
        let tls = try Self.tls(mode: settings["sslmode"] ?? "prefer", rootCertificate: settings["sslrootcert"], for: redacted)
        configuration = .init(host: host, port: port, username: user, password: password, database: database, tls: tls)
    }

    private static func tls(mode: String, rootCertificate: String?, for address: String) throws(StoreError) -> PostgresConnection.Configuration.TLS {
        let verification: CertificateVerification
        switch mode {
        case "disable": return .disable
        case "prefer", "require": verification = .none
        case "verify-ca": verification = .noHostnameVerification
        case "verify-full": verification = .fullVerification
        default:
            throw StoreError(.openFailed, path: address, "sslmode `\(mode)` is not one of disable, prefer, require, verify-ca, verify-full")
        }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = verification
        if let rootCertificate {
            guard FileManager.default.isReadableFile(atPath: rootCertificate) else {
                throw StoreError(.openFailed, path: address, "sslrootcert \(rootCertificate) cannot be read")
            }
            configuration.trustRoots = .file(rootCertificate)
        }
        do {
            let context = try NIOSSLContext(configuration: configuration)
            return mode == "prefer" ? .prefer(context) : .require(context)
        } catch {
            throw StoreError(.openFailed, path: address, "the TLS settings cannot be used: \(error)")
        }
    }
}

extension PostgresStore: SQLWakeups {
    /// A connection of its own that LISTENs, and the semaphore its notifications signal.
    private struct Listening: Sendable {
        let connection: PostgresConnection
        let channel: String
        let notified: DispatchSemaphore
    }

    public func notifySQL(_ channel: String) -> String { "NOTIFY \(Self.quoted(channel))" }

    public func waitForNotification(on channel: String, timeout: Duration) -> Bool {
        guard let listening = listen(channel) else {
            // No listening connection now (the server away): wait as long, and try again then.
            Thread.sleep(forTimeInterval: Double(timeout.milliseconds) / 1000)
            return false
        }
        let woken = listening.notified.wait(timeout: .now() + .milliseconds(Int(timeout.milliseconds))) == .success
        // Several commits may have signalled meanwhile: one look covers them all.
        while listening.notified.wait(timeout: .now()) == .success {}
        return woken
    }

    /// The listening connection, made (again) when there is none or it broke; nil when it cannot be made.
    private func listen(_ channel: String) -> Listening? {
        if let current = listening.withLockedValue({ $0 }), !current.connection.isClosed, current.channel == channel { return current }
        do {
            let connection = try PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.next(), configuration: address.configuration,
                                                            id: 3, logger: logger).wait()
            let notified = DispatchSemaphore(value: 0)
            connection.addListener(channel: channel) { _, _ in notified.signal() }
            _ = try connection.query(PostgresQuery(unsafeSQL: "LISTEN \(Self.quoted(channel))"), logger: logger).wait()
            let made = Listening(connection: connection, channel: channel, notified: notified)
            let replaced = listening.withLockedValue { current in
                defer { current = made }
                return current
            }
            if let old = replaced?.connection { old.close().whenComplete { _ in withExtendedLifetime(old) {} } }
            // Whatever was committed before LISTEN took effect is found by the look that follows.
            notified.signal()
            return made
        } catch {
            logger.warning("cannot listen for notifications", metadata: ["bus.error": "\(Self.cause(error))", "bus.store": "\(location)"])
            return nil
        }
    }
}
