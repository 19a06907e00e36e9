import Foundation
import GRDB
import GRDBSQLite

/// Inserts rows through SQLite's own calls on a statement GRDB compiled and keeps: the log's writer
/// stores every event and every new key this way. GRDB's arguments copy each value into a
/// `DatabaseValue` (a blob into a `Data`) before SQLite copies it again; here the bytes are read
/// where they are.
struct SQLiteRowInsert {
    private let statement: SQLiteStatement
    private let db: Database
    private var code = SQLITE_OK

    init(_ sql: String, _ db: Database) throws {
        statement = try db.cachedStatement(sql: sql).sqliteStatement
        self.db = db
    }

    /// `SQLITE_TRANSIENT`: SQLite copies a text before the call returns (Swift's C string of it
    /// lives only that long).
    private static let copied = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    mutating func text(_ column: Int32, _ value: String?) {
        guard code == SQLITE_OK else { return }
        code = value.map { sqlite3_bind_text(statement, column, $0, -1, Self.copied) } ?? sqlite3_bind_null(statement, column)
    }

    mutating func integer(_ column: Int32, _ value: Int64) {
        guard code == SQLITE_OK else { return }
        code = sqlite3_bind_int64(statement, column, value)
    }

    /// Binds `bytes` to the last column and inserts the row; the statement is reset before the
    /// bytes may go away.
    mutating func insert(blob column: Int32, _ bytes: some ContiguousBytes) throws {
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
            code = SQLITE_OK
        }
        if code == SQLITE_OK {
            code = bytes.withUnsafeBytes { buffer in
                let bound = sqlite3_bind_blob(statement, column, buffer.baseAddress, Int32(buffer.count), nil)
                return bound == SQLITE_OK ? sqlite3_step(statement) : bound
            }
        }
        guard code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
        }
    }
}
