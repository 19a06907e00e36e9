import Foundation

/// Writes an `Encodable` value as JSON bytes with sorted keys (the same event is always the same
/// bytes), exactly as Foundation's `JSONEncoder` with `.sortedKeys`, `.withoutEscapingSlashes` and
/// ISO 8601 dates writes it, at a fraction of its cost: every event a module publishes is encoded
/// here, and `JSONEncoder` was a sixth of a module's work per event (docs/performance.md).
/// `JSONBytesEncoderTests` hold the two to the same bytes.
package enum JSONBytesEncoder {
    package static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(512)
        try write(value, codingPath: [], to: &output)
        return output
    }

    /// Appends `value` to `output`; `codingPath` is where it stands in the document, for errors.
    package static func write<T: Encodable>(_ value: T, codingPath: [any CodingKey], to output: inout [UInt8]) throws {
        try write(try node(value, codingPath: codingPath), to: &output)
    }

    /// A value as the tree of what it encodes; scalars stay Swift values until they are written.
    enum Node {
        case null
        case bool(Bool)
        case string(String)
        case integer(Int64)
        case unsigned(UInt64)
        case double(Double, codingPath: [any CodingKey])
        /// Written as it is (a `Decimal`'s or a `Float`'s digits).
        case number(String)
        case object(Members)
        case array(Elements)
        /// What a nested encoder (`superEncoder`) encoded.
        case encoder(TreeEncoder)
    }

    final class Members {
        var list: [(key: String, node: Node)] = []

        func set(_ key: String, _ node: Node) {
            // `JSONEncoder` keeps the last value encoded for a key.
            if let index = list.firstIndex(where: { $0.key == key }) { list[index].node = node } else { list.append((key, node)) }
        }
    }

    final class Elements {
        var list: [Node] = []
    }

    /// The node of `value`, with Foundation's own forms for the types `JSONEncoder` treats apart.
    static func node<T: Encodable>(_ value: T, codingPath: [any CodingKey]) throws -> Node {
        // A failed cast costs more than encoding a small value: the types are compared first.
        let type: Any.Type = T.self
        if type == String.self, let text = value as? String { return .string(text) }
        if type == Int.self, let integer = value as? Int { return .integer(Int64(integer)) }
        if type == Bool.self, let flag = value as? Bool { return .bool(flag) }
        if type == Double.self, let number = value as? Double { return .double(number, codingPath: codingPath) }
        if type == Date.self, let date = value as? Date { return .string(date.formatted(.iso8601)) }
        if type == Data.self, let data = value as? Data { return .string(data.base64EncodedString()) }
        if type == URL.self, let url = value as? URL { return .string(url.absoluteString) }
        if type == Decimal.self, let decimal = value as? Decimal { return .number(decimal.description) }
        let encoder = TreeEncoder(codingPath: codingPath)
        try value.encode(to: encoder)
        return encoder.node ?? .object(Members())
    }

    static func write(_ node: Node, to output: inout [UInt8]) throws {
        switch node {
        case .null: output += "null".utf8
        case .bool(let flag): output += (flag ? "true" : "false").utf8
        case .string(let text): writeString(text, to: &output)
        case .integer(let integer): output += String(integer).utf8
        case .unsigned(let integer): output += String(integer).utf8
        case .number(let digits): output += digits.utf8
        case .double(let number, let codingPath):
            guard number.isFinite else {
                throw EncodingError.invalidValue(number, .init(codingPath: codingPath, debugDescription: "\(number) is not a JSON number"))
            }
            let text = number.description
            output += (text.hasSuffix(".0") ? text.dropLast(2) : text[...]).utf8
        case .object(let members):
            output.append(UInt8(ascii: "{"))
            for (index, member) in members.list.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }).enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                writeString(member.key, to: &output)
                output.append(UInt8(ascii: ":"))
                try write(member.node, to: &output)
            }
            output.append(UInt8(ascii: "}"))
        case .array(let elements):
            output.append(UInt8(ascii: "["))
            for (index, element) in elements.list.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                try write(element, to: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .encoder(let encoder):
            try write(encoder.node ?? .object(Members()), to: &output)
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// A JSON string: quotes, backslashes and control characters escaped, everything else as it is.
    static func writeString(_ text: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        // Most text has nothing to escape and is copied whole.
        let copied = text.utf8.withContiguousStorageIfAvailable { bytes in
            guard !bytes.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else { return false }
            output.append(contentsOf: bytes)
            return true
        }
        if copied == true {
            output.append(UInt8(ascii: "\""))
            return
        }
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): output += #"\""#.utf8
            case UInt8(ascii: "\\"): output += #"\\"#.utf8
            case 0x08: output += #"\b"#.utf8
            case 0x0C: output += #"\f"#.utf8
            case 0x0A: output += #"\n"#.utf8
            case 0x0D: output += #"\r"#.utf8
            case 0x09: output += #"\t"#.utf8
            case ..<0x20: output += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)]]
            default: output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }

    final class TreeEncoder: Encoder {
        var node: Node?
        let codingPath: [any CodingKey]
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        init(codingPath: [any CodingKey]) { self.codingPath = codingPath }

        func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
            if case .object(let members) = node { return KeyedEncodingContainer(KeyedContainer(members: members, codingPath: codingPath)) }
            let members = Members()
            node = .object(members)
            return KeyedEncodingContainer(KeyedContainer(members: members, codingPath: codingPath))
        }

        func unkeyedContainer() -> any UnkeyedEncodingContainer {
            if case .array(let elements) = node { return UnkeyedContainer(elements: elements, codingPath: codingPath) }
            let elements = Elements()
            node = .array(elements)
            return UnkeyedContainer(elements: elements, codingPath: codingPath)
        }

        func singleValueContainer() -> any SingleValueEncodingContainer { SingleValueContainer(encoder: self) }
    }

    struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let members: Members
        let codingPath: [any CodingKey]

        mutating func encodeNil(forKey key: Key) throws { members.set(key.stringValue, .null) }
        mutating func encode(_ value: Bool, forKey key: Key) throws { members.set(key.stringValue, .bool(value)) }
        mutating func encode(_ value: String, forKey key: Key) throws { members.set(key.stringValue, .string(value)) }
        mutating func encode(_ value: Int, forKey key: Key) throws { members.set(key.stringValue, .integer(Int64(value))) }
        mutating func encode(_ value: Int64, forKey key: Key) throws { members.set(key.stringValue, .integer(value)) }
        mutating func encode(_ value: Double, forKey key: Key) throws { members.set(key.stringValue, .double(value, codingPath: codingPath + [key])) }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            members.set(key.stringValue, try JSONBytesEncoder.node(value, codingPath: codingPath + [key]))
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
            let nested = Members()
            members.set(key.stringValue, .object(nested))
            return KeyedEncodingContainer(KeyedContainer<NestedKey>(members: nested, codingPath: codingPath + [key]))
        }

        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            let nested = Elements()
            members.set(key.stringValue, .array(nested))
            return UnkeyedContainer(elements: nested, codingPath: codingPath + [key])
        }

        mutating func superEncoder() -> any Encoder { superEncoder(named: "super") }
        mutating func superEncoder(forKey key: Key) -> any Encoder { superEncoder(named: key.stringValue) }

        private func superEncoder(named name: String) -> any Encoder {
            let encoder = TreeEncoder(codingPath: codingPath)
            members.set(name, .encoder(encoder))
            return encoder
        }
    }

    struct UnkeyedContainer: UnkeyedEncodingContainer {
        let elements: Elements
        let codingPath: [any CodingKey]
        var count: Int { elements.list.count }

        mutating func encodeNil() throws { elements.list.append(.null) }
        mutating func encode(_ value: Bool) throws { elements.list.append(.bool(value)) }
        mutating func encode(_ value: String) throws { elements.list.append(.string(value)) }
        mutating func encode(_ value: Int) throws { elements.list.append(.integer(Int64(value))) }
        mutating func encode<T: Encodable>(_ value: T) throws {
            elements.list.append(try JSONBytesEncoder.node(value, codingPath: codingPath))
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            let nested = Members()
            elements.list.append(.object(nested))
            return KeyedEncodingContainer(KeyedContainer<NestedKey>(members: nested, codingPath: codingPath))
        }

        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            let nested = Elements()
            elements.list.append(.array(nested))
            return UnkeyedContainer(elements: nested, codingPath: codingPath)
        }

        mutating func superEncoder() -> any Encoder {
            let encoder = TreeEncoder(codingPath: codingPath)
            elements.list.append(.encoder(encoder))
            return encoder
        }
    }

    struct SingleValueContainer: SingleValueEncodingContainer {
        let encoder: TreeEncoder
        var codingPath: [any CodingKey] { encoder.codingPath }

        mutating func encodeNil() throws { encoder.node = .null }
        mutating func encode(_ value: Bool) throws { encoder.node = .bool(value) }
        mutating func encode(_ value: String) throws { encoder.node = .string(value) }
        mutating func encode(_ value: Double) throws { encoder.node = .double(value, codingPath: codingPath) }
        mutating func encode(_ value: Float) throws {
            guard value.isFinite else { throw EncodingError.invalidValue(value, .init(codingPath: codingPath, debugDescription: "\(value) is not a JSON number")) }
            encoder.node = .number(value.description.hasSuffix(".0") ? String(value.description.dropLast(2)) : value.description)
        }
        mutating func encode(_ value: Int) throws { encoder.node = .integer(Int64(value)) }
        mutating func encode(_ value: Int8) throws { encoder.node = .integer(Int64(value)) }
        mutating func encode(_ value: Int16) throws { encoder.node = .integer(Int64(value)) }
        mutating func encode(_ value: Int32) throws { encoder.node = .integer(Int64(value)) }
        mutating func encode(_ value: Int64) throws { encoder.node = .integer(value) }
        mutating func encode(_ value: UInt) throws { encoder.node = .unsigned(UInt64(value)) }
        mutating func encode(_ value: UInt8) throws { encoder.node = .unsigned(UInt64(value)) }
        mutating func encode(_ value: UInt16) throws { encoder.node = .unsigned(UInt64(value)) }
        mutating func encode(_ value: UInt32) throws { encoder.node = .unsigned(UInt64(value)) }
        mutating func encode(_ value: UInt64) throws { encoder.node = .unsigned(value) }
        mutating func encode<T: Encodable>(_ value: T) throws { encoder.node = try JSONBytesEncoder.node(value, codingPath: codingPath) }
    }
}
