import Foundation

/// A module's database, whichever engine holds it (SQLite by default, PostgreSQL where an
/// operator configures it). Modules write SQL in the subset both engines read the same way, with
/// `?` placeholders (`docs/design.md`, "Module storage"); the driver does the rest.
public protocol SQLStore: Sendable {
    /// Where the data lives, for messages: a file path, or a server address without its password.
    var location: String { get }
    /// Which SQL it speaks, known before a transaction opens.
    var dialect: SQLDialect { get }
    /// Runs `body` in a read-only transaction.
    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) throws -> T) async throws -> T
    /// Runs `body` in a transaction that commits durably when it returns and rolls back when it throws.
    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) throws -> T) async throws -> T
    /// `read`, blocking the calling thread: for command-line tools, never on the cooperative pool.
    func readNow<T>(_ body: (any SQLDatabase) throws -> T) throws -> T
    /// `write`, blocking the calling thread: for a writer with a thread of its own (the event log's).
    func writeNow<T>(_ body: (any SQLDatabase) throws -> T) throws -> T
}

/// A store whose server can wake a waiting thread when another session commits (PostgreSQL's
/// LISTEN/NOTIFY): for a process that must see what others write without asking every moment.
public protocol SQLWakeups: Sendable {
    /// Blocks until a transaction that ran `notifySQL(channel)` commits (in any session), or
    /// `timeout` passes; returns whether one did. Wakes spuriously now and then.
    func waitForNotification(on channel: String, timeout: Duration) -> Bool
    /// The statement that notifies `channel` when its transaction commits.
    func notifySQL(_ channel: String) -> String
}

/// One open transaction of a module's database.
public protocol SQLDatabase: AnyObject {
    /// Runs one statement (several, separated by `;`, when there are no arguments).
    func execute(sql: String, arguments: SQLArguments) throws
    /// The rows of one query.
    func fetchRows(sql: String, arguments: SQLArguments) throws -> [SQLRow]
    /// How many rows the last `execute` inserted, changed or deleted.
    var changesCount: Int { get }
    /// Which engine runs the SQL, for the rare statement that must differ (a default's function).
    var dialect: SQLDialect { get }
}

public enum SQLDialect: Sendable {
    case sqlite, postgres

    /// The current time as UTC RFC 3339 text with milliseconds, the form wzt's tables keep times in.
    public var now: String {
        switch self {
        case .sqlite: "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
        case .postgres: #"to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"#
        }
    }

    /// The larger of two values: SQLite's two-argument `MAX`, PostgreSQL's `GREATEST`.
    public var greatest: String {
        switch self {
        case .sqlite: "MAX"
        case .postgres: "GREATEST"
        }
    }
}

extension SQLDatabase {
    public func execute(sql: String) throws { try execute(sql: sql, arguments: []) }
}

/// A value as both engines store it.
public enum SQLValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// A Swift value that goes into a column and comes back out of one.
public protocol SQLValueConvertible: Sendable {
    var sqlValue: SQLValue { get }
    /// Nil when `value` cannot be this type.
    init?(sqlValue value: SQLValue)
}

/// The values for a statement's `?` placeholders, in order.
public struct SQLArguments: Sendable, ExpressibleByArrayLiteral {
    public var values: [SQLValue]

    public init(_ values: [SQLValue]) { self.values = values }

    public init(arrayLiteral elements: (any SQLValueConvertible)?...) {
        values = elements.map { $0?.sqlValue ?? .null }
    }
}

/// One row of a query's result.
public struct SQLRow: Sendable {
    public let columnNames: [String]
    public let values: [SQLValue]

    public init(columnNames: [String], values: [SQLValue]) {
        self.columnNames = columnNames
        self.values = values
    }

    /// The value of `column`, or nil when the row has no such column. Names match without regard to case.
    public func value(_ column: String) -> SQLValue? {
        let index = columnNames.firstIndex(of: column) ?? columnNames.firstIndex { $0.caseInsensitiveCompare(column) == .orderedSame }
        return index.map { values[$0] }
    }

    /// The value of `column`, nil when it is NULL. A column the row lacks, or a value of another
    /// type, is a mistake in the module's SQL or a stored value it did not expect: it throws,
    /// naming the column, so the event in hand is retried and dead-lettered like any failure
    /// instead of stopping a process that hosts every module.
    public subscript<T: SQLValueConvertible>(_ column: String) -> T? {
        get throws(SQLRowError) {
            guard let value = value(column) else { throw SQLRowError(description: "no column `\(column)` in a row of \(columnNames)") }
            if value == .null { return nil }
            guard let converted = T(sqlValue: value) else { throw SQLRowError(description: "column `\(column)` does not hold a \(T.self)") }
            return converted
        }
    }

    public subscript<T: SQLValueConvertible>(_ column: String) -> T {
        get throws(SQLRowError) {
            guard let value: T = try self[column] else { throw SQLRowError(description: "column `\(column)` is NULL where a \(T.self) was expected") }
            return value
        }
    }

    public subscript<T: SQLValueConvertible>(_ index: Int) -> T? {
        get throws(SQLRowError) {
            guard values.indices.contains(index) else { throw SQLRowError(description: "no column \(index) in a row of \(columnNames)") }
            return values[index] == .null ? nil : T(sqlValue: values[index])
        }
    }

    public subscript<T: SQLValueConvertible>(_ index: Int) -> T {
        get throws(SQLRowError) {
            guard let value: T = try self[index] else { throw SQLRowError(description: "column \(index) of \(columnNames) is NULL or not a \(T.self)") }
            return value
        }
    }
}

/// A row read from a module's tables is not what the code reading it expects.
public struct SQLRowError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(description: String) { self.description = description }
}

extension SQLRow {
    public static func fetchAll(_ db: any SQLDatabase, sql: String, arguments: SQLArguments = []) throws -> [SQLRow] {
        try db.fetchRows(sql: sql, arguments: arguments)
    }

    public static func fetchOne(_ db: any SQLDatabase, sql: String, arguments: SQLArguments = []) throws -> SQLRow? {
        try db.fetchRows(sql: sql, arguments: arguments).first
    }
}

extension SQLValueConvertible {
    /// The first column of the first row; nil when there is no row or the value is NULL.
    public static func fetchOne(_ db: any SQLDatabase, sql: String, arguments: SQLArguments = []) throws -> Self? {
        guard let row = try db.fetchRows(sql: sql, arguments: arguments).first, let value = row.values.first else { return nil }
        return try convert(value, sql: sql)
    }

    /// The first column of every row, NULLs left out.
    public static func fetchAll(_ db: any SQLDatabase, sql: String, arguments: SQLArguments = []) throws -> [Self] {
        try db.fetchRows(sql: sql, arguments: arguments).compactMap { row in try row.values.first.flatMap { try convert($0, sql: sql) } }
    }

    private static func convert(_ value: SQLValue, sql: String) throws(SQLError) -> Self? {
        if value == .null { return nil }
        guard let converted = Self(sqlValue: value) else { throw SQLError("a query's first column does not hold a \(Self.self): \(sql)") }
        return converted
    }
}

/// A mistake between a module's SQL and its Swift types (not a storage failure: those are `StoreError`).
public struct SQLError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension String: SQLValueConvertible {
    public var sqlValue: SQLValue { .text(self) }
    public init?(sqlValue value: SQLValue) {
        switch value {
        case .text(let text): self = text
        case .blob(let bytes): self.init(validating: bytes, as: UTF8.self)
        default: return nil
        }
    }
}

extension Int64: SQLValueConvertible {
    public var sqlValue: SQLValue { .integer(self) }
    public init?(sqlValue value: SQLValue) {
        switch value {
        case .integer(let integer): self = integer
        case .real(let real): self.init(exactly: real)
        default: return nil
        }
    }
}

extension Int: SQLValueConvertible {
    public var sqlValue: SQLValue { .integer(Int64(self)) }
    public init?(sqlValue value: SQLValue) {
        guard let integer = Int64(sqlValue: value) else { return nil }
        self.init(integer)
    }
}

extension Double: SQLValueConvertible {
    public var sqlValue: SQLValue { .real(self) }
    public init?(sqlValue value: SQLValue) {
        switch value {
        case .integer(let integer): self.init(integer)
        case .real(let real): self = real
        default: return nil
        }
    }
}

/// Stored as 1 and 0, as SQLite has no other booleans.
extension Bool: SQLValueConvertible {
    public var sqlValue: SQLValue { .integer(self ? 1 : 0) }
    public init?(sqlValue value: SQLValue) {
        guard let integer = Int64(sqlValue: value) else { return nil }
        self = integer != 0
    }
}

extension Data: SQLValueConvertible {
    public var sqlValue: SQLValue { .blob(Array(self)) }
    public init?(sqlValue value: SQLValue) {
        switch value {
        case .blob(let bytes): self.init(bytes)
        case .text(let text): self.init(text.utf8)
        default: return nil
        }
    }
}

extension SQLValue: SQLValueConvertible {
    public var sqlValue: SQLValue { self }
    public init?(sqlValue value: SQLValue) { self = value }
}

/// A module's schema as named steps, applied once each and in order: an append-only timeline
/// (never edit a shipped step; add one).
public struct SQLMigrations: Sendable {
    public typealias Step = @Sendable (any SQLDatabase) throws -> Void
    public private(set) var steps: [(name: String, migrate: Step)] = []

    public init() {}

    public mutating func registerMigration(_ name: String, _ migrate: @escaping Step) {
        precondition(!steps.contains { $0.name == name }, "migration `\(name)` is registered twice")
        steps.append((name, migrate))
    }
}
