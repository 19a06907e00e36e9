import Foundation

/// Decodes an envelope's `data` into its contract straight from the bytes the envelope scan
/// already checked: the values are read where they stand, without `JSONDecoder` parsing the
/// document a second time (that parse and its containers were most of what validation cost).
/// It follows `JSONDecoder`'s defaults: the same errors, integers from any number that holds a
/// whole value, `Decimal` and `URL` from a number and a string.
struct DataDecoder: Decoder {
    let json: UnsafeBufferPointer<UInt8>
    let node: JSONNode
    /// The path is only read for errors: kept as the parent's path and this value's key, so that
    /// a field one level down costs no array.
    private let parentPath: [any CodingKey]
    private let key: (any CodingKey)?
    let userInfo: [CodingUserInfoKey: Any]

    init(json: UnsafeBufferPointer<UInt8>, node: JSONNode, userInfo: [CodingUserInfoKey: Any]) {
        self.init(json: json, node: node, parentPath: [], key: nil, userInfo: userInfo)
    }

    private init(json: UnsafeBufferPointer<UInt8>, node: JSONNode, parentPath: [any CodingKey], key: (any CodingKey)?, userInfo: [CodingUserInfoKey: Any]) {
        self.json = json
        self.node = node
        self.parentPath = parentPath
        self.key = key
        self.userInfo = userInfo
    }

    var codingPath: [any CodingKey] { key.map { parentPath + [$0] } ?? parentPath }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = node else { throw mismatch([String: Any].self, found: node) }
        return KeyedDecodingContainer(KeyedContainer<Key>(decoder: self, members: members))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let items) = node else { throw mismatch([Any].self, found: node) }
        return UnkeyedContainer(decoder: self, items: items)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    func child(_ node: JSONNode, key: any CodingKey) -> DataDecoder {
        DataDecoder(json: json, node: node, parentPath: codingPath, key: key, userInfo: userInfo)
    }

    func mismatch(_ type: Any.Type, found: JSONNode) -> DecodingError {
        if case .null = found {
            return .valueNotFound(type, .init(codingPath: codingPath, debugDescription: "Cannot get value of type \(type) -- found null value instead"))
        }
        return .typeMismatch(type, .init(codingPath: codingPath, debugDescription: "Expected to decode \(type) but found \(found.kind) instead."))
    }

    private func text(of range: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: json[range]), as: UTF8.self) }

    func decodeString() throws -> String {
        guard case .string(let range) = node else { throw mismatch(String.self, found: node) }
        let text: String
        do {
            text = try EnvelopeScan.string(json, at: range) ?? ""
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: error.reason))
        }
        // JSON can write U+0000 (as \u0000), but PostgreSQL cannot store it in a text: a module
        // there would fail on the event instead of applying or refusing it.
        if text.utf8.contains(0) {
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "a text may not contain U+0000"))
        }
        return text
    }

    func decodeInteger<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        guard case .number(let range) = node else { throw mismatch(type, found: node) }
        let number = text(of: range)
        if let value = T(number) ?? Double(number).flatMap({ T(exactly: $0) }) { return value }
        throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "the number does not fit in \(type)"))
    }

    func decodeFloatingPoint<T: BinaryFloatingPoint & LosslessStringConvertible>(_ type: T.Type) throws -> T {
        guard case .number(let range) = node else { throw mismatch(type, found: node) }
        guard let value = T(text(of: range)), value.isFinite else {
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "the number does not fit in \(type)"))
        }
        return value
    }

    func decodeValue<T: Decodable>(_ type: T.Type) throws -> T {
        if T.self == Decimal.self {
            guard case .number(let range) = node else { throw mismatch(type, found: node) }
            guard let value = Decimal(string: text(of: range), locale: Locale(identifier: "en_US_POSIX")) else {
                throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "the number is not a decimal"))
            }
            return value as! T
        }
        if T.self == URL.self {
            guard let url = URL(string: try decodeString()) else {
                throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "Invalid URL string."))
            }
            return url as! T
        }
        return try T(from: self)
    }
}

extension DataDecoder: SingleValueDecodingContainer {
    func decodeNil() -> Bool { if case .null = node { true } else { false } }
    func decode(_ type: Bool.Type) throws -> Bool {
        guard case .bool(let value) = node else { throw mismatch(type, found: node) }
        return value
    }
    func decode(_ type: String.Type) throws -> String { try decodeString() }
    func decode(_ type: Double.Type) throws -> Double { try decodeFloatingPoint(type) }
    func decode(_ type: Float.Type) throws -> Float { try decodeFloatingPoint(type) }
    func decode(_ type: Int.Type) throws -> Int { try decodeInteger(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try decodeInteger(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try decodeInteger(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try decodeInteger(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try decodeInteger(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try decodeInteger(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decodeInteger(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decodeInteger(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decodeInteger(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decodeInteger(type) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decodeValue(type) }
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: DataDecoder
    let members: [(key: String, value: JSONNode)]

    var codingPath: [any CodingKey] { decoder.codingPath }
    var allKeys: [Key] { members.compactMap { Key(stringValue: $0.key) } }

    func contains(_ key: Key) -> Bool { members.contains { $0.key == key.stringValue } }

    private func value(_ key: Key) throws -> DataDecoder {
        guard let member = members.first(where: { $0.key == key.stringValue }) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "No value associated with key \(key.stringValue)."))
        }
        return decoder.child(member.value, key: key)
    }

    func decodeNil(forKey key: Key) throws -> Bool { try value(key).decodeNil() }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try value(key).decode(type) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String {
        let field = try value(key)
        let text = try field.decodeString()
        if Identifier.isNamed(by: key.stringValue), !Identifier.isValid(text) {
            throw DecodingError.dataCorrupted(.init(codingPath: field.codingPath, debugDescription: "an id must be \(Identifier.rule)"))
        }
        return text
    }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try value(key).decodeFloatingPoint(type) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try value(key).decodeFloatingPoint(type) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try value(key).decodeInteger(type) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try value(key).decodeInteger(type) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try value(key).decodeInteger(type) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try value(key).decodeInteger(type) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try value(key).decodeInteger(type) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try value(key).decodeInteger(type) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try value(key).decodeInteger(type) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try value(key).decodeInteger(type) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try value(key).decodeInteger(type) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try value(key).decodeInteger(type) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try value(key).decodeValue(type) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try value(key).container(keyedBy: type)
    }
    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer { try value(key).unkeyedContainer() }
    func superDecoder() throws -> any Decoder {
        guard let key = Key(stringValue: "super") else {
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "this contract has no `super` member"))
        }
        return try value(key)
    }
    func superDecoder(forKey key: Key) throws -> any Decoder { try value(key) }
}

private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let decoder: DataDecoder
    let items: [JSONNode]
    private(set) var currentIndex = 0

    init(decoder: DataDecoder, items: [JSONNode]) {
        self.decoder = decoder
        self.items = items
    }

    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    private mutating func next(_ type: Any.Type) throws -> DataDecoder {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, .init(codingPath: codingPath + [IndexKey(currentIndex)], debugDescription: "Unkeyed container is at end."))
        }
        defer { currentIndex += 1 }
        return decoder.child(items[currentIndex], key: IndexKey(currentIndex))
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, case .null = items[currentIndex] else { return false }
        currentIndex += 1
        return true
    }
    mutating func decode(_ type: Bool.Type) throws -> Bool { try next(type).decode(type) }
    mutating func decode(_ type: String.Type) throws -> String { try next(type).decodeString() }
    mutating func decode(_ type: Double.Type) throws -> Double { try next(type).decodeFloatingPoint(type) }
    mutating func decode(_ type: Float.Type) throws -> Float { try next(type).decodeFloatingPoint(type) }
    mutating func decode(_ type: Int.Type) throws -> Int { try next(type).decodeInteger(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try next(type).decodeInteger(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try next(type).decodeInteger(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try next(type).decodeInteger(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try next(type).decodeInteger(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try next(type).decodeInteger(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try next(type).decodeInteger(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try next(type).decodeInteger(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try next(type).decodeInteger(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try next(type).decodeInteger(type) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next(type).decodeValue(type) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next(KeyedDecodingContainer<NestedKey>.self).container(keyedBy: type)
    }
    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try next([Any].self).unkeyedContainer() }
    mutating func superDecoder() throws -> any Decoder { try next(Any.self) }
}

/// The position in an array, as a coding key for error paths.
private struct IndexKey: CodingKey {
    let intValue: Int?
    init(_ index: Int) { intValue = index }
    init?(intValue: Int) { self.intValue = intValue }
    init?(stringValue: String) { nil }
    var stringValue: String { "Index \(intValue ?? 0)" }
}

/// A value of a document the envelope scan accepted, as byte ranges into that document.
indirect enum JSONNode {
    case object([(key: String, value: JSONNode)])
    case array([JSONNode])
    case string(Range<Int>)
    case number(Range<Int>)
    case bool(Bool)
    case null

    var kind: String {
        switch self {
        case .object: "a dictionary"
        case .array: "an array"
        case .string: "a string"
        case .number: "a number"
        case .bool: "bool"
        case .null: "null"
        }
    }

    /// The value at `index` of `json`, which the scan found valid: no syntax is checked here.
    static func read(_ json: UnsafeBufferPointer<UInt8>, at index: inout Int) throws(EnvelopeScan.Malformed) -> JSONNode {
        func skipSpace() {
            while index < json.count, json[index] == 0x20 || json[index] == 0x0A || json[index] == 0x0D || json[index] == 0x09 { index += 1 }
        }
        func stringEnd() -> Int {
            var end = index + 1
            while true {
                end = EnvelopeScan.plainRun(json, from: end, stoppingAtControls: false)
                if json[end] == UInt8(ascii: "\"") { return end + 1 }
                end += json[end] == UInt8(ascii: "\\") ? 2 : 1
            }
        }
        skipSpace()
        switch json[index] {
        case UInt8(ascii: "{"):
            index += 1
            var members: [(key: String, value: JSONNode)] = []
            skipSpace()
            while json[index] != UInt8(ascii: "}") {
                let keyEnd = stringEnd()
                let key = try EnvelopeScan.string(json, at: index..<keyEnd) ?? ""
                index = keyEnd
                skipSpace()
                index += 1  // the colon
                members.append((key, try read(json, at: &index)))
                skipSpace()
                if json[index] == UInt8(ascii: ",") { index += 1; skipSpace() }
            }
            index += 1
            return .object(members)
        case UInt8(ascii: "["):
            index += 1
            var items: [JSONNode] = []
            skipSpace()
            while json[index] != UInt8(ascii: "]") {
                items.append(try read(json, at: &index))
                skipSpace()
                if json[index] == UInt8(ascii: ",") { index += 1; skipSpace() }
            }
            index += 1
            return .array(items)
        case UInt8(ascii: "\""):
            let start = index
            index = stringEnd()
            return .string(start..<index)
        case UInt8(ascii: "t"):
            index += 4
            return .bool(true)
        case UInt8(ascii: "f"):
            index += 5
            return .bool(false)
        case UInt8(ascii: "n"):
            index += 4
            return .null
        default:
            let start = index
            while index < json.count, let byte = Optional(json[index]),
                  byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e")
                    || byte == UInt8(ascii: "E") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
                index += 1
            }
            return .number(start..<index)
        }
    }
}
