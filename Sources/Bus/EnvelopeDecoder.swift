import Foundation

/// Turns bytes from a publisher into a validated `Envelope`, or says precisely why not.
public struct EnvelopeDecoder: Sendable {
    public static let defaultMaxBytes = 1 << 20

    public let registry: ContractRegistry
    public let maxBytes: Int
    /// For events from publishers: personal fields must hold values, not the log's sealed or erased forms.
    public let refusesStoredForms: Bool

    public init(registry: ContractRegistry, maxBytes: Int = EnvelopeDecoder.defaultMaxBytes, refusesStoredForms: Bool = false) {
        self.registry = registry
        self.maxBytes = maxBytes
        self.refusesStoredForms = refusesStoredForms
    }

    /// The same decoder for events that come from publishers.
    public var forPublishers: EnvelopeDecoder { EnvelopeDecoder(registry: registry, maxBytes: maxBytes, refusesStoredForms: true) }

    public func decode(_ json: [UInt8]) throws(EnvelopeError) -> Envelope {
        Envelope(header: try header(json), json: json)
    }

    /// Reads the data of a stored event as contract `T`, upcasting older versions. One parse:
    /// the header decoded for validation already holds the data.
    public func data<T: EventContract>(_ type: T.Type, of json: [UInt8]) throws(EnvelopeError) -> T {
        let header = try header(json)
        guard header.type == T.eventType else {
            throw EnvelopeError(.unknownType, "event \(header.id) is \(header.type), not \(T.eventType)")
        }
        guard let data = header.data as? T else {
            throw EnvelopeError(.unsupportedDataVersion, "event \(header.id) does not upcast to \(T.eventType) v\(T.dataVersion)")
        }
        return data
    }

    /// The data of a stored event, upcast to its contract's current version, and that version.
    public func currentData(of json: [UInt8]) throws(EnvelopeError) -> (data: any EventContract, version: Int) {
        let header = try header(json)
        return (header.data, Swift.type(of: header.data).dataVersion)
    }

    private func header(_ json: [UInt8]) throws(EnvelopeError) -> EnvelopeHeader {
        guard !json.isEmpty else {
            throw EnvelopeError(.emptyMessage, "the frame is empty; send one CloudEvents JSON document per message")
        }
        guard json.count <= maxBytes else {
            throw EnvelopeError(.tooLarge, "the event is \(json.count) bytes; the limit is \(maxBytes) (bus.max_event_bytes)")
        }
        // JSONDecoder lets invalid UTF-8 through inside strings; JSON text must be UTF-8 (RFC 8259).
        guard String(validating: json, as: UTF8.self) != nil else {
            throw EnvelopeError(.malformedJSON, "the message is not valid UTF-8")
        }
        let decoder = JSONDecoder()
        decoder.userInfo[EnvelopeHeader.registryKey] = registry
        if refusesStoredForms { decoder.userInfo[EnvelopeHeader.refusesStoredFormsKey] = true }
        do {
            return try decoder.decode(EnvelopeHeader.self, from: Data(json))
        } catch let error as EnvelopeError {
            throw error
        } catch let error as DecodingError {
            throw EnvelopeError.describing(error)
        } catch {
            throw EnvelopeError(.malformedJSON, "the message is not a JSON document")
        }
    }
}

/// The attributes of an incoming envelope, checked while decoding. The data is decoded by its
/// contract (found through the registry in `userInfo`) and kept for typed reads.
struct EnvelopeHeader: Decodable {
    static let registryKey = CodingUserInfoKey(rawValue: "be.wzt.bus.registry")!
    /// Set for events from publishers: `Personal` fields must hold values, not the log's sealed or erased forms.
    static let refusesStoredFormsKey = CodingUserInfoKey(rawValue: "be.wzt.bus.refuses-stored-forms")!

    let id: String
    let source: String
    let type: EventType
    let subject: String?
    let time: String?
    let dataVersion: Int
    let correlationID: String?
    let causationID: String?
    let actor: Actor?
    let purpose: Purpose?
    let data: any EventContract

    init(from decoder: any Decoder) throws {
        guard let registry = decoder.userInfo[Self.registryKey] as? ContractRegistry else {
            preconditionFailure("EnvelopeHeader decoded without a registry")
        }
        let container: KeyedDecodingContainer<EnvelopeKey>
        do {
            container = try decoder.container(keyedBy: EnvelopeKey.self)
        } catch {
            throw EnvelopeError(.malformedJSON, "the message must be a JSON object (a CloudEvents envelope)")
        }

        let specVersion = try container.requiredString(.specversion)
        guard specVersion == "1.0" else {
            throw EnvelopeError(.badSpecVersion, "attribute `specversion` must be \"1.0\"; got \(quoted(specVersion))")
        }
        id = try container.requiredString(.id)
        guard EventID.isValid(id) else {
            throw EnvelopeError(.badID, "attribute `id` must be a UUID (preferably v7) or a ULID; got \(quoted(id))")
        }
        source = try container.requiredString(.source)
        guard !source.isEmpty, source.utf8.count <= 1024, !source.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw EnvelopeError(.badAttribute, "attribute `source` must be a non-empty URI reference without spaces, e.g. /agency/vdab/intake")
        }
        type = try EventType(try container.requiredString(.type))
        subject = try container.optionalString(.subject)
        if let subject, subject.isEmpty || subject.utf8.count > 256 || subject.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F })
            || subject.allSatisfy(\.isWhitespace) {
            throw EnvelopeError(.badAttribute, "attribute `subject` must be 1 to 256 bytes without control characters, not only spaces (a case or trajectory id)")
        }
        time = try container.optionalString(.time)
        if let time, !EventTime.isValid(time) {
            throw EnvelopeError(.badAttribute, "attribute `time` must be an RFC 3339 timestamp, e.g. 2026-11-23T10:15:00Z; got \(quoted(time))")
        }
        if let contentType = try container.optionalString(.datacontenttype), contentType != "application/json" {
            throw EnvelopeError(.badAttribute, "attribute `datacontenttype` must be application/json; got \(quoted(contentType))")
        }
        correlationID = try container.optionalString(.correlationid)
        causationID = try container.optionalString(.causationid)
        actor = try container.actor()
        purpose = try container.optionalString(.purpose).map { text in
            guard Purpose.isValidName(text) else {
                throw EnvelopeError(.badAttribute, "attribute `purpose` must be a purpose name such as activation-trajectory (lower-case words joined by dashes)")
            }
            return Purpose(rawValue: text)
        }
        dataVersion = try container.dataVersion()

        let decodeData = try registry.decoder(for: type.rawValue, version: dataVersion)
        guard container.contains(.data), try !container.decodeNil(forKey: .data) else {
            throw EnvelopeError(.missingAttribute, "attribute `data` is missing; \(type) v\(dataVersion) carries a JSON object")
        }
        do {
            data = try decodeData(container)
        } catch let error as DecodingError {
            throw EnvelopeError.invalidData(error, type: type, version: dataVersion)
        }
        let personal = Swift.type(of: data).personalFields
        if subject == nil, !personal.isEmpty, let fields = try? container.nestedContainer(keyedBy: FieldKey.self, forKey: .data),
           let field = personal.sorted().first(where: { fields.contains(FieldKey($0)) }) {
            throw EnvelopeError(.missingAttribute, "attribute `subject` is missing; `data.\(field)` is personal data, sealed with the key of the event's subject")
        }
    }
}

/// A field of `data` by name.
private struct FieldKey: CodingKey {
    let stringValue: String
    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.init(stringValue) }
    var intValue: Int? { nil }
    init?(intValue: Int) { nil }
}

private extension KeyedDecodingContainer<EnvelopeKey> {
    func requiredString(_ key: EnvelopeKey) throws -> String {
        guard contains(key) else {
            throw EnvelopeError(.missingAttribute, "attribute `\(key.rawValue)` is missing; CloudEvents 1.0 requires specversion, id, source and type, and wzt requires dataversion and data")
        }
        return try string(key)
    }

    func optionalString(_ key: EnvelopeKey) throws -> String? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        return try string(key)
    }

    private func string(_ key: EnvelopeKey) throws -> String {
        do {
            return try decode(String.self, forKey: key)
        } catch {
            throw EnvelopeError(.badAttribute, "attribute `\(key.rawValue)` must be a string")
        }
    }

    /// `actor`, `actorrole` and `actoragency` come together or not at all.
    func actor() throws -> Actor? {
        let parts = try [EnvelopeKey.actor, .actorrole, .actoragency].map { key in
            try optionalString(key).map { text in
                guard !text.isEmpty, text.utf8.count <= 128, !text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
                    throw EnvelopeError(.badAttribute, "attribute `\(key.rawValue)` must be 1 to 128 bytes without control characters")
                }
                return text
            }
        }
        if parts.allSatisfy({ $0 == nil }) { return nil }
        guard let id = parts[0], let role = parts[1], let agency = parts[2] else {
            throw EnvelopeError(.missingAttribute, "give `actor`, `actorrole` and `actoragency` together: who caused the event, in which role, for which agency")
        }
        return Actor(id: id, role: role, agency: agency)
    }

    /// `dataversion` is a CloudEvents extension attribute: an integer, or its decimal string.
    func dataVersion() throws -> Int {
        guard contains(.dataversion) else {
            throw EnvelopeError(.missingAttribute, "attribute `dataversion` is missing; give the contract version as an integer, e.g. \"dataversion\": 1")
        }
        if let number = try? decode(Int.self, forKey: .dataversion) { return number }
        if let text = try? decode(String.self, forKey: .dataversion), let number = Int(text) { return number }
        throw EnvelopeError(.unsupportedDataVersion, "attribute `dataversion` must be an integer")
    }
}

extension EnvelopeError {
    /// Names the place in the document, never the values found there.
    static func describing(_ error: DecodingError) -> EnvelopeError {
        switch error {
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return EnvelopeError(.malformedJSON, "the message is not valid JSON (or not UTF-8)")
        default:
            return EnvelopeError(.malformedJSON, "the envelope does not decode: \(detail(error))")
        }
    }

    static func invalidData(_ error: DecodingError, type: EventType, version: Int) -> EnvelopeError {
        EnvelopeError(.invalidData, "data does not match contract \(type) v\(version): \(detail(error))")
    }

    private static func detail(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            let names = keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return names.isEmpty ? "the document" : "`" + names.joined(separator: ".") + "`"
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])) is missing"
        case .typeMismatch(let type, let context):
            return "\(path(context.codingPath)) must be \(jsonName(type))"
        case .valueNotFound(let type, let context):
            return "\(path(context.codingPath)) must be \(jsonName(type)), not null"
        case .dataCorrupted(let context):
            return "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "unreadable"
        }
    }

    private static func jsonName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type, is Int32.Type: "an integer"
        case is Double.Type, is Decimal.Type: "a number"
        case is Bool.Type: "true or false"
        default: "a \(type)"
        }
    }
}
