import Foundation
import GRDB
import GRDBSQLite

/// Opens the SQLite files of wzt: the event log and each module's store.
///
/// WAL journal, `synchronous=FULL` on the writer (a commit is on disk when it returns, so what
/// was acknowledged survives power loss), a writer that keeps savepoints' undo pages in memory
/// (`temp_store=MEMORY`), a busy timeout so the CLI can work beside a running
/// node, and the migrations applied before anything else touches the file.
public enum SQLiteDatabase {
    public static func open(path: String, migrator: DatabaseMigrator, readers: Int = 4) throws(StoreError) -> DatabasePool {
        do {
            var configuration = Configuration()
            configuration.busyMode = .timeout(10)
            configuration.maximumReaderCount = readers
            let pool = try DatabasePool(path: path, configuration: configuration)
            try pool.writeWithoutTransaction { db in
                // DatabasePool sets synchronous=NORMAL on its writer after prepareDatabase; override it.
                try db.execute(sql: "PRAGMA synchronous = FULL")
                // A savepoint's undo pages (each event a module applies has one) stay in memory:
                // by default SQLite writes them to a temporary file once they pass 64 KiB, which
                // wrote more than the WAL itself while a module applied a batch.
                try db.execute(sql: "PRAGMA temp_store = MEMORY")
            }
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
    public var dialect: SQLDialect { .sqlite }

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
        // Compiled once per connection: most statements run again and again (a module's savepoint
        // per event, compiled anew each time, was a twelfth of its transaction). A script of
        // several statements (a migration) goes through GRDB's loop over them.
        let compiled: Statement
        do {
            compiled = try db.cachedStatement(sql: sql)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_MISUSE && arguments.values.isEmpty {
            return try db.execute(sql: sql)
        }
        try run(compiled, arguments) { _ in }
    }

    public func fetchRows(sql: String, arguments: SQLArguments) throws -> [SQLRow] {
        let compiled = try db.cachedStatement(sql: sql)
        let columnNames = compiled.columnNames
        let columns = Int32(columnNames.count)
        var rows: [SQLRow] = []
        try run(compiled, arguments) { row in rows.append(SQLRow(columnNames: columnNames, values: (0..<columns).map { Self.value(row, $0) })) }
        return rows
    }

    public var changesCount: Int { db.changesCount }
    public var dialect: SQLDialect { .sqlite }

    /// Runs a statement GRDB compiled and keeps, through SQLite's own calls: GRDB's arguments and
    /// rows copy each value through `DatabaseValue` (and a blob through `Data`), which measured as
    /// much as SQLite's own work on a module's path. `takeRow` reads each row before the next step.
    private func run(_ compiled: Statement, _ arguments: SQLArguments, _ takeRow: (SQLiteStatement) -> Void) throws {
        let statement = compiled.sqliteStatement
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        let parameters = Int(sqlite3_bind_parameter_count(statement))
        guard parameters == arguments.values.count else {
            throw SQLError("\(compiled.sql) takes \(parameters) argument(s), not \(arguments.values.count)")
        }
        for (index, value) in arguments.values.enumerated() {
            let code = Self.bind(value, Int32(index + 1), statement)
            guard code == SQLITE_OK else { throw failure(code) }
        }
        while true {
            let code = sqlite3_step(statement)
            if code == SQLITE_DONE { return }
            guard code == SQLITE_ROW else { throw failure(code) }
            takeRow(statement)
        }
    }

    private func failure(_ code: Int32) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
    }

    /// `SQLITE_TRANSIENT`: SQLite copies the bytes before the call returns.
    private static let copied = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    private static func bind(_ value: SQLValue, _ index: Int32, _ statement: SQLiteStatement) -> Int32 {
        switch value {
        case .null: return sqlite3_bind_null(statement, index)
        case .integer(let integer): return sqlite3_bind_int64(statement, index, integer)
        case .real(let real): return sqlite3_bind_double(statement, index, real)
        case .text(var text):
            // An empty text may have no address, and a null address would bind NULL.
            return text.withUTF8 { bytes in
                bytes.baseAddress.map { sqlite3_bind_text(statement, index, $0, Int32(bytes.count), Self.copied) } ?? sqlite3_bind_text(statement, index, "", 0, Self.copied)
            }
        case .blob(let bytes):
            return bytes.withUnsafeBytes { buffer in
                buffer.baseAddress.map { sqlite3_bind_blob(statement, index, $0, Int32(buffer.count), Self.copied) } ?? sqlite3_bind_zeroblob(statement, index, 0)
            }
        }
    }

    private static func value(_ statement: SQLiteStatement, _ column: Int32) -> SQLValue {
        switch sqlite3_column_type(statement, column) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(statement, column))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(statement, column))
        case SQLITE_TEXT:
            let count = Int(sqlite3_column_bytes(statement, column))
            guard let text = sqlite3_column_text(statement, column) else { return .text("") }
            return .text(String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(statement, column))
            guard let blob = sqlite3_column_blob(statement, column) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: blob, count: count)))
        default: return .null
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
        /// Another node owns the module now (`[cluster]`): this one's fencing token is stale, so
        /// it must stop writing the module's tables rather than retry.
        public static let notOwner = Code("not-owner")
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
