import Foundation
import GRDB

/// Opens the SQLite files of wzt: the event log and each module's store.
///
/// WAL journal, `synchronous=FULL` on the writer (a commit is on disk when it returns, so what
/// was acknowledged survives power loss), a busy timeout so the CLI can work beside a running
/// node, and the migrations applied before anything else touches the file.
public enum SQLiteDatabase {
    public static func open(path: String, migrator: DatabaseMigrator, readers: Int = 4) throws(StoreError) -> DatabasePool {
        do {
            var configuration = Configuration()
            configuration.busyMode = .timeout(10)
            configuration.maximumReaderCount = readers
            let pool = try DatabasePool(path: path, configuration: configuration)
            // DatabasePool sets synchronous=NORMAL on its writer after prepareDatabase; override it.
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
            try migrator.migrate(pool)
            return pool
        } catch let error as DatabaseError {
            throw StoreError(.openFailed, path: path, "\(StoreError.cause(error)); check that the directory exists and is writable")
        } catch {
            throw StoreError(.openFailed, path: path, "\(error)")
        }
    }
}

/// A module's database in an SQLite file (the default): `SQLiteDatabase` settings, and the
/// migrations recorded by name in GRDB's table, as they always were.
public struct SQLiteStore: SQLStore {
    public let pool: DatabasePool
    public var location: String { pool.path }

    public init(path: String, migrations: SQLMigrations) throws(StoreError) {
        pool = try SQLiteDatabase.open(path: path, migrator: Self.migrator(migrations))
    }

    /// `migrations` as GRDB applies them, each step recorded under its name.
    public static func migrator(_ migrations: SQLMigrations) -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for step in migrations.steps {
            migrator.registerMigration(step.name) { db in try step.migrate(SQLiteConnection(db)) }
        }
        return migrator
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) throws -> T) async throws -> T {
        try await pool.read { db in try body(SQLiteConnection(db)) }
    }

    public func write<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) throws -> T) async throws -> T {
        try await pool.write { db in try body(SQLiteConnection(db)) }
    }

    public func readNow<T>(_ body: (any SQLDatabase) throws -> T) throws -> T {
        try pool.read { db in try body(SQLiteConnection(db)) }
    }

    public func writeNow<T>(_ body: (any SQLDatabase) throws -> T) throws -> T {
        // IMMEDIATE: the write lock is taken at BEGIN, so a busy file is waited for there
        // rather than failing the commit half way.
        try pool.writeWithoutTransaction { db in
            var result: T?
            try db.inTransaction(.immediate) {
                result = try body(SQLiteConnection(db))
                return .commit
            }
            return result!
        }
    }
}

/// A GRDB connection inside one of its transactions.
public final class SQLiteConnection: SQLDatabase {
    /// GRDB's connection, for the one path that measured faster on it than through `SQLDatabase`:
    /// the event log's insert of each event (docs/design.md, "The event log").
    public let db: Database

    init(_ db: Database) { self.db = db }

    public func execute(sql: String, arguments: SQLArguments) throws {
        // A statement with arguments is one statement (as in PostgreSQL): compiled once per connection.
        if arguments.values.isEmpty {
            try db.execute(sql: sql)
        } else {
            try db.cachedStatement(sql: sql).execute(arguments: Self.arguments(arguments))
        }
    }

    public func fetchRows(sql: String, arguments: SQLArguments) throws -> [SQLRow] {
        let statement = try db.cachedStatement(sql: sql)
        let columnNames = statement.columnNames
        return try Row.fetchAll(statement, arguments: Self.arguments(arguments)).map { row in
            SQLRow(columnNames: columnNames, values: row.databaseValues.map(\.sqlValue))
        }
    }

    public var changesCount: Int { db.changesCount }
    public var dialect: SQLDialect { .sqlite }

    private static func arguments(_ arguments: SQLArguments) -> StatementArguments {
        StatementArguments(arguments.values.map { value -> DatabaseValue in
            switch value {
            case .null: .null
            case .integer(let integer): integer.databaseValue
            case .real(let real): real.databaseValue
            case .text(let text): text.databaseValue
            case .blob(let bytes): Data(bytes).databaseValue
            }
        })
    }
}

extension DatabaseValue {
    var sqlValue: SQLValue {
        switch storage {
        case .null: .null
        case .int64(let integer): .integer(integer)
        case .double(let real): .real(real)
        case .string(let text): .text(text)
        case .blob(let data): .blob(Array(data))
        }
    }
}

/// A storage failure. Names the file and the cause, never the values being written.
public struct StoreError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let rawValue: String
        private init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let openFailed = Code("open-failed")
        public static let writeFailed = Code("write-failed")
        /// The database cannot be reached or has no room now (a server restarting, a full disk):
        /// the same work may succeed later, so callers wait and retry rather than give up.
        public static let unavailable = Code("unavailable")
    }

    public let code: Code
    public let path: String
    public let message: String

    public init(_ code: Code, path: String, _ message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }

    /// What went wrong, in words, without the SQL or its arguments.
    public static func cause(_ error: DatabaseError) -> String {
        switch error.resultCode {
        case .SQLITE_FULL: "the disk is full"
        case .SQLITE_IOERR: "an I/O error"
        case .SQLITE_READONLY: "the database is read-only"
        case .SQLITE_BUSY, .SQLITE_LOCKED: "the database is locked by another process"
        case .SQLITE_CANTOPEN: "the file cannot be opened"
        case .SQLITE_CORRUPT, .SQLITE_NOTADB: "the file is not a healthy SQLite database"
        default: "SQLite error \(error.resultCode.rawValue)"
        }
    }
}
