import Foundation
import PluginAPI

/// A JSON document the node writes about itself (a contract's schema): written with sorted keys,
/// so the same contracts give the same bytes.
public indirect enum JSONDocument: Sendable, Hashable, Encodable {
    case string(String)
    case integer(Int)
    case number(Double)
    case bool(Bool)
    case null
    case array([JSONDocument])
    case object([String: JSONDocument])

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let text): try container.encode(text)
        case .integer(let integer): try container.encode(integer)
        case .number(let number): try container.encode(number)
        case .bool(let bool): try container.encode(bool)
        case .null: try container.encodeNil()
        case .array(let items): try container.encode(items)
        case .object(let members): try container.encode(members)
        }
    }

    /// Indented, keys sorted, slashes as they are.
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    public subscript(_ key: String) -> JSONDocument? {
        if case .object(let members) = self { return members[key] }
        return nil
    }
}

/// A value type of contracts whose JSON form Codable cannot show (a date written as text, an
/// INSZ with check digits): it says its schema and gives a valid example.
public protocol SchemaDescribed: Decodable {
    static var jsonSchema: JSONDocument { get }
    /// Nil only by mistake (an example that does not pass the type's own checks): generating the
    /// schema then fails and names the type.
    static var schemaExample: Self? { get }
}

extension CalendarDate: SchemaDescribed {
    public static var jsonSchema: JSONDocument { .object(["type": .string("string"), "format": .string("date"), "description": .string("a calendar day, YYYY-MM-DD")]) }
    public static var schemaExample: CalendarDate? { CalendarDate(year: 2026, month: 3, day: 2) }
}

/// The JSON Schema (2020-12) of each contract's `data`, generated from the Swift contract by
/// decoding it with a decoder that records what the contract asks for: every field, its type,
/// whether it is required, the values of a vocabulary, and which fields are personal.
public enum ContractSchema {
    public static let dialect = "https://json-schema.org/draft/2020-12/schema"

    public static func schema(_ contract: any EventContract.Type) throws(SchemaError) -> JSONDocument {
        let (data, example) = try describeContract(contract)
        guard case .object(var members) = data else { throw SchemaError("\(contract.eventType) is not an object") }
        let type = contract.eventType.rawValue
        if case .object(var properties)? = members["properties"] {
            for field in contract.personalFields {
                guard case .object(var property)? = properties[field] else { throw SchemaError("\(type) names `\(field)` personal, but has no such field") }
                property["x-wzt-personal"] = .bool(true)
                property["description"] = .string("personal: sent as the value itself; the log keeps it sealed with the key of the event's subject")
                properties[field] = .object(property)
            }
            members["properties"] = .object(properties)
        }
        members["$schema"] = .string(dialect)
        members["$id"] = .string("urn:wzt:contract:\(type):v\(contract.dataVersion)")
        members["title"] = .string("\(type), data version \(contract.dataVersion)")
        members["description"] = .string("The `data` of a `\(type)` event (its envelope's `dataversion` is \(contract.dataVersion)). Fields not listed are ignored.")
        members["x-wzt-type"] = .string(type)
        members["x-wzt-dataversion"] = .integer(contract.dataVersion)
        members["examples"] = .array([example])
        return .object(members)
    }

    private static func describeContract<C: EventContract>(_ contract: C.Type) throws(SchemaError) -> (JSONDocument, JSONDocument) {
        do {
            let (schema, value) = try describe(C.self)
            let encoded = try JSONEncoder().encode(value)
            let example = try JSONDecoder().decode(ExampleValue.self, from: encoded).document
            return (schema, example)
        } catch let error as SchemaError {
            throw error
        } catch {
            throw SchemaError("\(C.eventType): \(error)")
        }
    }

    /// The schema of `type` and a value of it, built from what its `init(from:)` asks for.
    static func describe<T: Decodable>(_ type: T.Type) throws -> (JSONDocument, T) {
        if let described = T.self as? any SchemaDescribed.Type {
            guard let example = described.schemaExample else { throw SchemaError("\(T.self) has no valid example") }
            return (described.jsonSchema, try cast(example))
        }
        if let personal = T.self as? any PersonalSchema.Type {
            let (schema, value) = try describeOpened(personal.valueType)
            return (schema, try cast(personal.wrapping(value)))
        }
        if let vocabulary = T.self as? any CaseIterable.Type, let (values, first) = cases(vocabulary) {
            return (.object(["type": .string("string"), "enum": .array(values.map(JSONDocument.string))]), try cast(first))
        }
        if let primitive = primitives[ObjectIdentifier(T.self)] { return (primitive.schema, try cast(primitive.example)) }
        let recorder = SchemaRecorder()
        let value = try T(from: SchemaDecoder(recorder: recorder))
        return (recorder.schema, value)
    }

    static func describeOpened<T: Decodable>(_ type: T.Type) throws -> (JSONDocument, Any) {
        let (schema, value) = try describe(type)
        return (schema, value)
    }

    private static func cast<T>(_ value: Any) throws -> T {
        guard let typed = value as? T else { throw SchemaError("an example of \(T.self) is a \(type(of: value))") }
        return typed
    }

    private static func cases<C: CaseIterable>(_ type: C.Type) -> ([String], Any)? {
        let all = Array(C.allCases)
        let values = all.compactMap { ($0 as? any RawRepresentable).flatMap { rawValue(of: $0) as? String } }
        guard let first = all.first, values.count == all.count else { return nil }
        return (values, first)
    }

    private static func rawValue<R: RawRepresentable>(of value: R) -> Any { value.rawValue }

    /// The JSON forms of Swift's own types; every type a decoder asks for by name is here, so
    /// none of them is decoded again through the recording decoder.
    private static let primitives: [ObjectIdentifier: (schema: JSONDocument, example: any Sendable)] = {
        let number = JSONDocument.object(["type": .string("number")])
        var forms: [ObjectIdentifier: (schema: JSONDocument, example: any Sendable)] = [
            ObjectIdentifier(String.self): (.object(["type": .string("string"), "not": .object(["pattern": .string(#"\u0000"#)])]), "text"),
            ObjectIdentifier(Bool.self): (.object(["type": .string("boolean")]), true),
            ObjectIdentifier(Double.self): (number, 1.5 as Double), ObjectIdentifier(Float.self): (number, 1.5 as Float),
            ObjectIdentifier(Decimal.self): (number, Decimal(string: "12.5") ?? 0),
        ]
        for (type, form) in [integer(Int.self), integer(Int8.self), integer(Int16.self), integer(Int32.self), integer(Int64.self),
                             integer(UInt.self), integer(UInt8.self), integer(UInt16.self), integer(UInt32.self), integer(UInt64.self)] {
            forms[type] = form
        }
        return forms
    }()

    /// An integer within what `T` holds: a larger number is refused, not rounded.
    private static func integer<T: FixedWidthInteger & Sendable>(_ type: T.Type) -> (ObjectIdentifier, (schema: JSONDocument, example: any Sendable)) {
        func bound(_ value: T) -> JSONDocument { Int(exactly: value).map(JSONDocument.integer) ?? .number(Double(value)) }
        return (ObjectIdentifier(T.self), (.object(["type": .string("integer"), "minimum": bound(T.min), "maximum": bound(T.max)]), T(1)))
    }
}

/// A contract whose schema cannot be generated: a mistake in the contract, named.
public struct SchemaError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// `Personal<Value>` is described as its value: that is what a publisher sends.
protocol PersonalSchema {
    static var valueType: any Decodable.Type { get }
    static func wrapping(_ value: Any) -> Any
}

extension Personal: PersonalSchema {
    static var valueType: any Decodable.Type { Value.self }
    static func wrapping(_ value: Any) -> Any { (value as? Value).map(Personal.value) as Any }
}

/// An encoded example read back as a document.
private struct ExampleValue: Decodable {
    let document: JSONDocument

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            document = .null
        } else if let bool = try? container.decode(Bool.self) {
            document = .bool(bool)
        } else if let integer = try? container.decode(Int.self) {
            document = .integer(integer)
        } else if let number = try? container.decode(Double.self) {
            document = .number(number)
        } else if let text = try? container.decode(String.self) {
            document = .string(text)
        } else if let items = try? container.decode([ExampleValue].self) {
            document = .array(items.map(\.document))
        } else {
            document = .object(try container.decode([String: ExampleValue].self).mapValues(\.document))
        }
    }
}

/// What a contract's `init(from:)` asked for so far.
final class SchemaRecorder {
    var properties: [String: JSONDocument] = [:]
    var required: Set<String> = []
    var items: JSONDocument?
    var single: JSONDocument?

    var schema: JSONDocument {
        if let single { return single }
        if let items { return .object(["type": .string("array"), "items": items]) }
        var object: [String: JSONDocument] = ["type": .string("object"), "properties": .object(properties)]
        if !required.isEmpty { object["required"] = .array(required.sorted().map(JSONDocument.string)) }
        return .object(object)
    }
}

/// Hands a contract's `init(from:)` an example of each value it asks for, and records the asking.
struct SchemaDecoder: Decoder {
    let recorder: SchemaRecorder
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(SchemaKeyedContainer<Key>(recorder: recorder, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer { SchemaUnkeyedContainer(recorder: recorder, codingPath: codingPath) }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SchemaSingleValue(recorder: recorder, codingPath: codingPath) }
}

private struct SchemaSingleValue: SingleValueDecodingContainer {
    let recorder: SchemaRecorder
    let codingPath: [any CodingKey]

    func decodeNil() -> Bool { false }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try value(type) }
    func decode(_ type: Bool.Type) throws -> Bool { try value(type) }
    func decode(_ type: String.Type) throws -> String { try value(type) }
    func decode(_ type: Double.Type) throws -> Double { try value(type) }
    func decode(_ type: Float.Type) throws -> Float { try value(type) }
    func decode(_ type: Int.Type) throws -> Int { try value(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try value(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try value(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try value(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try value(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try value(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try value(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try value(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try value(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try value(type) }

    private func value<T: Decodable>(_ type: T.Type) throws -> T {
        let (schema, value) = try ContractSchema.describe(type)
        recorder.single = schema
        return value
    }
}

private struct SchemaUnkeyedContainer: UnkeyedDecodingContainer {
    let recorder: SchemaRecorder
    let codingPath: [any CodingKey]
    var count: Int? { 1 }
    /// One element shows the items' schema.
    private(set) var currentIndex = 0
    var isAtEnd: Bool { currentIndex > 0 }

    init(recorder: SchemaRecorder, codingPath: [any CodingKey]) {
        self.recorder = recorder
        self.codingPath = codingPath
    }

    mutating func decodeNil() -> Bool { false }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try element(type) }
    mutating func decode(_ type: Bool.Type) throws -> Bool { try element(type) }
    mutating func decode(_ type: String.Type) throws -> String { try element(type) }
    mutating func decode(_ type: Double.Type) throws -> Double { try element(type) }
    mutating func decode(_ type: Float.Type) throws -> Float { try element(type) }
    mutating func decode(_ type: Int.Type) throws -> Int { try element(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try element(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try element(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try element(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try element(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try element(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try element(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try element(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try element(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try element(type) }

    private mutating func element<T: Decodable>(_ type: T.Type) throws -> T {
        let (schema, value) = try ContractSchema.describe(type)
        recorder.items = schema
        currentIndex += 1
        return value
    }
    mutating func nestedContainer<N: CodingKey>(keyedBy type: N.Type) throws -> KeyedDecodingContainer<N> {
        throw SchemaError("nested containers in arrays are not described")
    }
    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { throw SchemaError("nested arrays are not described") }
    mutating func superDecoder() throws -> any Decoder { throw SchemaError("super decoders are not described") }
}

private struct SchemaKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let recorder: SchemaRecorder
    let codingPath: [any CodingKey]
    var allKeys: [Key] { [] }

    func contains(_ key: Key) -> Bool { true }
    func decodeNil(forKey key: Key) throws -> Bool { false }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try field(type, key) }
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? { try optionalField(type, key) }

    private func field<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T {
        let (schema, value) = try ContractSchema.describe(type)
        recorder.properties[key.stringValue] = Self.identifying(schema, type, key)
        recorder.required.insert(key.stringValue)
        return value
    }

    /// Left out or null: the example leaves it out.
    private func optionalField<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T? {
        let (schema, _) = try ContractSchema.describe(type)
        recorder.properties[key.stringValue] = .object(["anyOf": .array([Self.identifying(schema, type, key), .object(["type": .string("null")])])])
        return nil
    }

    /// A text field named as an id takes the id rule (`Identifier`), as the node's decoder does.
    private static func identifying<T>(_ schema: JSONDocument, _ type: T.Type, _ key: Key) -> JSONDocument {
        T.self == String.self && Identifier.isNamed(by: key.stringValue) ? Identifier.jsonSchema : schema
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try field(type, key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try field(type, key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try field(type, key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try field(type, key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try field(type, key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try field(type, key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try field(type, key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try field(type, key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try field(type, key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try field(type, key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try field(type, key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try field(type, key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try field(type, key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try field(type, key) }
    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try optionalField(type, key) }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try optionalField(type, key) }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try optionalField(type, key) }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { try optionalField(type, key) }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try optionalField(type, key) }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try optionalField(type, key) }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try optionalField(type, key) }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try optionalField(type, key) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try optionalField(type, key) }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try optionalField(type, key) }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try optionalField(type, key) }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try optionalField(type, key) }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try optionalField(type, key) }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try optionalField(type, key) }

    func nestedContainer<N: CodingKey>(keyedBy type: N.Type, forKey key: Key) throws -> KeyedDecodingContainer<N> {
        throw SchemaError("nested containers are not described (`\(key.stringValue)`)")
    }
    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        throw SchemaError("nested arrays are not described (`\(key.stringValue)`)")
    }
    func superDecoder() throws -> any Decoder { throw SchemaError("super decoders are not described") }
    func superDecoder(forKey key: Key) throws -> any Decoder { throw SchemaError("super decoders are not described") }
}
