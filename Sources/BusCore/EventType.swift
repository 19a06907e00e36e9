
/// The name of an event type: reverse DNS, lower case, words joined by `-`,
/// e.g. `be.wzt.intake.screening-requested`.
public struct EventType: Hashable, Sendable, Codable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let rawValue: String

    public init(_ rawValue: String) throws(EnvelopeError) {
        guard EventType.isValid(rawValue) else {
            throw EnvelopeError(.badAttribute, "attribute `type` must be reverse-DNS in lower case with at least three parts, e.g. be.wzt.intake.screening-requested; got \(quoted(rawValue))")
        }
        self.rawValue = rawValue
    }

    /// For contracts' static names, which are checked by the contract registry at start-up.
    public init(stringLiteral value: String) { rawValue = value }

    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        self = try EventType(raw)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { rawValue }

    /// Lower-case letters, digits and inner `-` in at least three dot-separated parts.
    static func isValid(_ raw: String) -> Bool {
        var parts = 0, partLength = 0
        var previous: UInt8 = UInt8(ascii: ".")
        var length = 0
        for byte in raw.utf8 {
            length += 1
            switch byte {
            case UInt8(ascii: "."):
                guard partLength > 0, previous != UInt8(ascii: "-") else { return false }
                parts += 1
                partLength = 0
            case UInt8(ascii: "-"):
                guard partLength > 0 else { return false }
                partLength += 1
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                partLength += 1
            default:
                return false
            }
            previous = byte
        }
        return length <= 200 && partLength > 0 && previous != UInt8(ascii: "-") && parts + 1 >= 3
    }
}

/// Which event types a subscriber wants: an exact type, a prefix ending in `.*`
/// (`be.wzt.intake.*`), or `*` for everything.
public struct EventPattern: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    package let prefix: String?

    public init(_ rawValue: String) throws(EnvelopeError) {
        if rawValue == "*" {
            prefix = ""
        } else if rawValue.hasSuffix(".*") {
            let stem = String(rawValue.dropLast(1))
            guard EventType.isValid(stem + "x") || EventType.isValid(stem + "x.x") else {
                throw EnvelopeError(.badAttribute, "event pattern \(quoted(rawValue)) is not a type name followed by .*, e.g. be.wzt.intake.*")
            }
            prefix = stem
        } else {
            guard EventType.isValid(rawValue) else {
                throw EnvelopeError(.badAttribute, "event pattern \(quoted(rawValue)) is neither `*`, a type name, nor a type prefix ending in .*")
            }
            prefix = nil
        }
        self.rawValue = rawValue
    }

    /// The pattern that matches `type` and nothing else.
    public init(exactly type: EventType) {
        self.init(rawValue: type.rawValue, prefix: nil)
    }

    public static let all = EventPattern(rawValue: "*", prefix: "")

    private init(rawValue: String, prefix: String?) {
        self.rawValue = rawValue
        self.prefix = prefix
    }

    public func matches(_ type: EventType) -> Bool { matches(type.rawValue) }

    public func matches(_ type: String) -> Bool {
        if let prefix { return type.hasPrefix(prefix) }
        return type == rawValue
    }

    /// The longest literal prefix: what a ZeroMQ SUB socket can filter on.
    public var literalPrefix: String { prefix ?? rawValue }

    public var description: String { rawValue }
}

/// `value` in double quotes for a message or a log line: at most `limit` characters, quotes and
/// control characters escaped.
public func quoted(_ value: String, limit: Int = 80) -> String {
    let cut = value.count > limit ? String(value.prefix(limit)) + "…" : value
    // Control characters escaped, so that what a peer sent cannot write lines of its own into a log.
    let escaped = cut.unicodeScalars.map { scalar in
        if scalar == "\"" { return "\\\"" }
        return scalar.properties.generalCategory == .control ? scalar.escaped(asASCII: true) : String(scalar)
    }
    return "\"" + escaped.joined() + "\""
}
