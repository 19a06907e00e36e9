import BusCore
import Storage

extension EventPattern {
    /// The same test in SQL on the `type` column, with its argument, so the log can filter while it
    /// reads: a GLOB in SQLite (which uses the type index), `starts_with` in PostgreSQL, whose LIKE
    /// would read `_` in a type name as a wildcard.
    func sqlCondition(_ dialect: SQLDialect) -> (sql: String, argument: SQLValue) {
        guard let prefix else { return ("type = ?", .text(rawValue)) }
        switch dialect {
        case .sqlite: return ("type GLOB ?", .text(prefix + "*"))
        case .postgres: return ("starts_with(type, ?)", .text(prefix))
        }
    }
}
