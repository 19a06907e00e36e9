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

    static func isValid(_ raw: String) -> Bool {
        guard raw.utf8.count <= 200 else { return false }
        let parts = raw.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 3 else { return false }
        return parts.allSatisfy { part in
            guard let first = part.utf8.first, first != UInt8(ascii: "-"), part.utf8.last != UInt8(ascii: "-") else { return false }
            return part.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: "-") }
        }
    }
}

/// Which event types a subscriber wants: an exact type, a prefix ending in `.*`
/// (`be.wzt.intake.*`), or `*` for everything.
public struct EventPattern: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    private let prefix: String?

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

    public static let all = try! EventPattern("*")

    public func matches(_ type: EventType) -> Bool { matches(type.rawValue) }

    public func matches(_ type: String) -> Bool {
        if let prefix { return type.hasPrefix(prefix) }
        return type == rawValue
    }

    /// The longest literal prefix: what a ZeroMQ SUB socket can filter on.
    public var literalPrefix: String { prefix ?? rawValue }

    /// The same test as a SQLite GLOB pattern, so the log can filter while it reads.
    var sqlGlob: String {
        guard let prefix else { return rawValue }
        return prefix + "*"
    }

    public var description: String { rawValue }
}

func quoted(_ value: String, limit: Int = 80) -> String {
    let cut = value.count > limit ? String(value.prefix(limit)) + "…" : value
    return "\"" + cut.replacingOccurrences(of: "\"", with: "\\\"") + "\""
}
