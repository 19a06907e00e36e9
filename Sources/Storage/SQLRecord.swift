import Synchronization

/// A row of one table as a `Codable` value: its coding keys are the column names, `id` is the
/// primary key. Each property is a single column value (a string, a number, a boolean, or a type
/// that encodes as one, such as a raw-value enum); NULL is nil.
public protocol SQLRecord: Codable {
    static var tableName: String { get }
}

extension SQLRecord {
    /// The row whose `id` is `key`.
    public static func fetchOne(_ db: any SQLDatabase, key: String) throws -> Self? {
        try fetchOne(db, sql: "SELECT * FROM \(tableName) WHERE id = ?", arguments: [key])
    }

    public static func fetchOne(_ db: any SQLDatabase, sql: String, arguments: SQLArguments = []) throws -> Self? {
        try db.fetchRows(sql: sql, arguments: arguments).first.map(Self.init(row:))
    }

    public static func fetchAll(_ db: any SQLDatabase, sql: String, arguments: SQLArguments = []) throws -> [Self] {
        try db.fetchRows(sql: sql, arguments: arguments).map(Self.init(row:))
    }

    public init(row: SQLRow) throws {
        try self.init(from: RowDecoder(row: row))
    }

    public func insert(_ db: any SQLDatabase) throws {
        let columns = try self.columns()
        try db.execute(sql: Self.statements(for: columns).insert, arguments: SQLArguments(columns.map(\.value)))
    }

    /// Writes every column of the row with the same `id`; an error when there is none.
    public func update(_ db: any SQLDatabase) throws {
        let columns = try self.columns()
        guard let update = Self.statements(for: columns).update, let id = columns.first(where: { $0.name == "id" }) else {
            throw SQLError("\(Self.self) has no `id` to update by")
        }
        try db.execute(sql: update, arguments: SQLArguments(columns.filter { $0.name != "id" }.map(\.value) + [id.value]))
        guard db.changesCount == 1 else { throw SQLError("no \(Self.tableName) row with that id to update") }
    }

    /// The statements for these columns, made once per record type: joining the names for every
    /// row written was a twentieth of a module's work per event.
    private static func statements(for columns: [(name: String, value: SQLValue)]) -> RecordStatements {
        let type = ObjectIdentifier(Self.self)
        if let known = recordStatements.withLock({ $0[type] }), known.names.elementsEqual(columns.lazy.map(\.name)) { return known }
        let made = RecordStatements(table: tableName, names: columns.map(\.name))
        recordStatements.withLock { $0[type] = made }
        return made
    }

    private func columns() throws -> [(name: String, value: SQLValue)] {
        let encoder = RowEncoder()
        try encode(to: encoder)
        return encoder.storage.columns
    }
}

private let recordStatements = Mutex<[ObjectIdentifier: RecordStatements]>([:])

private struct RecordStatements: Sendable {
    let names: [String]
    let insert: String
    /// Nil without an `id` column.
    let update: String?

    init(table: String, names: [String]) {
        self.names = names
        insert = "INSERT INTO \(table) (\(names.joined(separator: ", "))) VALUES (\(names.map { _ in "?" }.joined(separator: ", ")))"
        update = names.contains("id")
            ? "UPDATE \(table) SET \(names.filter { $0 != "id" }.map { "\($0) = ?" }.joined(separator: ", ")) WHERE id = ?"
            : nil
    }
}

/// Reads a record's properties from the columns of a row.
private struct RowDecoder: Decoder {
    let row: SQLRow
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(Columns(row: row))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        throw DecodingError.typeMismatch([Any].self, .init(codingPath: codingPath, debugDescription: "a record is a row, not a list"))
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        throw DecodingError.typeMismatch(SQLRow.self, .init(codingPath: codingPath, debugDescription: "a record is a row of columns"))
    }

    struct Columns<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let row: SQLRow
        var codingPath: [any CodingKey] { [] }
        var allKeys: [Key] { row.columnNames.compactMap(Key.init(stringValue:)) }

        func contains(_ key: Key) -> Bool { row.value(key.stringValue) != nil }

        func decodeNil(forKey key: Key) throws -> Bool { (row.value(key.stringValue) ?? .null) == .null }

        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            guard let value = row.value(key.stringValue) else {
                throw DecodingError.keyNotFound(key, .init(codingPath: [], debugDescription: "no column `\(key.stringValue)`"))
            }
            return try T(from: ColumnDecoder(value: value, codingPath: [key]))
        }

        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
            throw DecodingError.typeMismatch(type, .init(codingPath: [key], debugDescription: "a column holds one value"))
        }

        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            throw DecodingError.typeMismatch([Any].self, .init(codingPath: [key], debugDescription: "a column holds one value"))
        }

        func superDecoder() throws -> any Decoder { RowDecoder(row: row) }
        func superDecoder(forKey key: Key) throws -> any Decoder { RowDecoder(row: row) }
    }
}

/// One column's value, for a property or a type that decodes from a single value.
private struct ColumnDecoder: Decoder, SingleValueDecodingContainer {
    let value: SQLValue
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        throw DecodingError.typeMismatch(type, .init(codingPath: codingPath, debugDescription: "a column holds one value"))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        throw DecodingError.typeMismatch([Any].self, .init(codingPath: codingPath, debugDescription: "a column holds one value"))
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    func decodeNil() -> Bool { value == .null }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        if let convertible = type as? any SQLValueConvertible.Type {
            guard let converted = convertible.init(sqlValue: value) as? T else {
                throw DecodingError.typeMismatch(type, .init(codingPath: codingPath, debugDescription: "the column holds \(value.kind)"))
            }
            return converted
        }
        return try T(from: self)
    }

    func decode(_ type: Bool.Type) throws -> Bool { try convert() }
    func decode(_ type: String.Type) throws -> String { try convert() }
    func decode(_ type: Double.Type) throws -> Double { try convert() }
    func decode(_ type: Float.Type) throws -> Float { Float(try convert() as Double) }
    func decode(_ type: Int.Type) throws -> Int { try convert() }
    func decode(_ type: Int64.Type) throws -> Int64 { try convert() }
    func decode(_ type: Int8.Type) throws -> Int8 { try narrow() }
    func decode(_ type: Int16.Type) throws -> Int16 { try narrow() }
    func decode(_ type: Int32.Type) throws -> Int32 { try narrow() }
    func decode(_ type: UInt.Type) throws -> UInt { try narrow() }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try narrow() }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try narrow() }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try narrow() }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try narrow() }

    private func convert<T: SQLValueConvertible>() throws -> T {
        guard let converted = T(sqlValue: value) else {
            throw DecodingError.typeMismatch(T.self, .init(codingPath: codingPath, debugDescription: "the column holds \(value.kind)"))
        }
        return converted
    }

    private func narrow<T: FixedWidthInteger>() throws -> T {
        guard let narrowed = T(exactly: try convert() as Int64) else {
            throw DecodingError.typeMismatch(T.self, .init(codingPath: codingPath, debugDescription: "the column's integer is out of range"))
        }
        return narrowed
    }
}

/// Collects a record's properties as columns.
private final class RowEncoder: Encoder {
    final class Storage { var columns: [(name: String, value: SQLValue)] = [] }
    let storage = Storage()
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(Columns(storage: storage))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer { fatalError("a record encodes as a row of columns, not a list") }
    func singleValueContainer() -> any SingleValueEncodingContainer { fatalError("a record encodes as a row of columns, not one value") }

    struct Columns<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let storage: Storage
        var codingPath: [any CodingKey] { [] }

        mutating func encodeNil(forKey key: Key) throws { storage.columns.append((key.stringValue, .null)) }
        // The common column types without the cast the generic path makes.
        mutating func encode(_ value: String, forKey key: Key) throws { storage.columns.append((key.stringValue, value.sqlValue)) }
        mutating func encode(_ value: Int, forKey key: Key) throws { storage.columns.append((key.stringValue, value.sqlValue)) }
        mutating func encode(_ value: Bool, forKey key: Key) throws { storage.columns.append((key.stringValue, value.sqlValue)) }
        mutating func encode(_ value: Double, forKey key: Key) throws { storage.columns.append((key.stringValue, value.sqlValue)) }

        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            // Most properties are plain column values: no encoder is made for them.
            if let convertible = value as? any SQLValueConvertible {
                storage.columns.append((key.stringValue, convertible.sqlValue))
                return
            }
            let column = ColumnEncoder(codingPath: [key])
            try column.encode(value)
            guard let encoded = column.value else {
                throw EncodingError.invalidValue(value, .init(codingPath: [key], debugDescription: "encoded no value"))
            }
            storage.columns.append((key.stringValue, encoded))
        }

        // Optionals: nil is NULL. The protocol's own versions skip nil, and an update would then
        // leave the old value in the column.
        mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws { try put(value, key) }
        mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) } }
        mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) } }
        mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) } }
        mutating func encodeIfPresent(_ value: Float?, forKey key: Key) throws { try put(value, key) }
        mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) } }
        mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) throws { try put(value, key) }
        mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) throws { try put(value, key) }
        mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws { try put(value, key) }
        mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws { try put(value, key) }
        mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) throws { try put(value, key) }
        mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) throws { try put(value, key) }
        mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) throws { try put(value, key) }
        mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) throws { try put(value, key) }
        mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) throws { try put(value, key) }

        private mutating func put<T: Encodable>(_ value: T?, _ key: Key) throws {
            if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
            fatalError("column `\(key.stringValue)`: a column holds one value, not a structure")
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            fatalError("column `\(key.stringValue)`: a column holds one value, not a list")
        }
        mutating func superEncoder() -> any Encoder { fatalError("records do not inherit") }
        mutating func superEncoder(forKey key: Key) -> any Encoder { fatalError("records do not inherit") }
    }
}

/// One column's value, from a property or a type that encodes as a single value.
private final class ColumnEncoder: Encoder, SingleValueEncodingContainer {
    var value: SQLValue?
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(codingPath: [any CodingKey]) { self.codingPath = codingPath }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        fatalError("column `\(codingPath.last?.stringValue ?? "")`: a column holds one value, not a structure")
    }
    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        fatalError("column `\(codingPath.last?.stringValue ?? "")`: a column holds one value, not a list")
    }
    func singleValueContainer() -> any SingleValueEncodingContainer { self }

    func encodeNil() throws { value = .null }

    func encode<T: Encodable>(_ value: T) throws {
        if let convertible = value as? any SQLValueConvertible {
            self.value = convertible.sqlValue
        } else {
            try value.encode(to: self)
        }
    }

    func encode(_ value: Bool) throws { self.value = value.sqlValue }
    func encode(_ value: String) throws { self.value = value.sqlValue }
    func encode(_ value: Double) throws { self.value = value.sqlValue }
    func encode(_ value: Float) throws { self.value = Double(value).sqlValue }
    func encode(_ value: Int) throws { self.value = value.sqlValue }
    func encode(_ value: Int8) throws { try encode(integer: value) }
    func encode(_ value: Int16) throws { try encode(integer: value) }
    func encode(_ value: Int32) throws { try encode(integer: value) }
    func encode(_ value: Int64) throws { self.value = value.sqlValue }
    func encode(_ value: UInt) throws { try encode(integer: value) }
    func encode(_ value: UInt8) throws { try encode(integer: value) }
    func encode(_ value: UInt16) throws { try encode(integer: value) }
    func encode(_ value: UInt32) throws { try encode(integer: value) }
    func encode(_ value: UInt64) throws { try encode(integer: value) }

    private func encode(integer: some FixedWidthInteger) throws {
        guard let stored = Int64(exactly: integer) else {
            throw EncodingError.invalidValue(integer, .init(codingPath: codingPath, debugDescription: "too large for a 64-bit integer column"))
        }
        value = stored.sqlValue
    }
}

extension SQLValue {
    /// What kind of value it is, for messages (never the value itself).
    var kind: String {
        switch self {
        case .null: "NULL"
        case .integer: "an integer"
        case .real: "a real number"
        case .text: "text"
        case .blob: "a blob"
        }
    }
}
