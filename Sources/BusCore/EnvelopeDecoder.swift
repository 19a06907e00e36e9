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

    /// Checks `json` against its contract. An `id` in another letter case than its canonical
    /// form (a lower-case UUID, an upper-case ULID) is rewritten to it in place: the same event
    /// sent with `E232D7F0-…` and `e232d7f0-…` is one event.
    public func decode(_ json: [UInt8]) throws(EnvelopeError) -> Envelope {
        let header = try header(json)
        guard let range = header.nonCanonicalID else { return Envelope(header: header, json: json) }
        var canonical = json
        canonical.replaceSubrange(range, with: header.id.utf8)
        return Envelope(header: header, json: canonical)
    }

    /// An envelope `EnvelopeEncoder` wrote in this process (what a module publishes): the values
    /// it was written from are checked as the same attributes read from bytes are, and only
    /// `data` is read back, through its contract. One that would not pass is decoded in full,
    /// which refuses it as it would refuse it from a publisher.
    package func decode(_ written: WrittenEnvelope) throws(EnvelopeError) -> Envelope {
        guard written.json.count <= maxBytes, let header = EnvelopeHeader(written, registry: registry, refusesStoredForms: refusesStoredForms) else {
            return try decode(written.json)
        }
        return Envelope(header: header, json: written.json)
    }

    /// Reads the data of a stored event as contract `T`, upcasting older versions. One parse:
    /// the header decoded for validation already holds the data.
    public func data<T: EventContract>(_ type: T.Type, of json: [UInt8]) throws(EnvelopeError) -> T {
        try decode(json).data(as: T.self)
    }

    private func header(_ json: [UInt8]) throws(EnvelopeError) -> EnvelopeHeader {
        guard !json.isEmpty else {
            throw EnvelopeError(.emptyMessage, "the frame is empty; send one CloudEvents JSON document per message")
        }
        guard json.count <= maxBytes else {
            throw EnvelopeError(.tooLarge, "the event is \(json.count) bytes; the limit is \(maxBytes) (bus.max_event_bytes)")
        }
        // JSON text must be UTF-8 (RFC 8259); the scan below looks at bytes only. Checked in
        // place: `String(validating:)` copied every envelope to check it.
        guard (try? UTF8Span(validating: json.span)) != nil else {
            throw EnvelopeError(.malformedJSON, "the message is not valid UTF-8")
        }
        return try json.withUnsafeBufferPointer { bytes throws(EnvelopeError) in
            let scan: EnvelopeScan
            do throws(EnvelopeScan.Malformed) {
                scan = try EnvelopeScan(bytes)
            } catch {
                throw EnvelopeError(error.tooComplex ? .tooComplex : .malformedJSON, error.reason)
            }
            return try EnvelopeHeader(scan, of: bytes, registry: registry, refusesStoredForms: refusesStoredForms)
        }
    }
}

/// The attributes of an incoming envelope, checked as they are read from the scanned document.
/// The data is decoded by its contract (found through the registry) and kept for typed reads.
struct EnvelopeHeader: Sendable {
    /// Set for events from publishers: `Personal` fields must hold values, not the log's sealed or erased forms.
    static let refusesStoredFormsKey = CodingUserInfoKey(rawValue: "be.wzt.bus.refuses-stored-forms")!

    let id: String
    /// Where the id is in the bytes, when they spell it in another letter case than `id`.
    let nonCanonicalID: Range<Int>?
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
    /// Where the values of the contract's personal fields are in the envelope's bytes, in document order.
    let personalValues: [PersonalValue]
    /// The members of `data` in the envelope's bytes, in document order.
    let dataMembers: [EnvelopeScan.Member]

    init(_ scan: EnvelopeScan, of json: UnsafeBufferPointer<UInt8>, registry: ContractRegistry, refusesStoredForms: Bool) throws(EnvelopeError) {
        let attributes = Attributes(scan, json: json)
        let specVersion = try attributes.requiredString(.specversion)
        guard specVersion == "1.0" else {
            throw EnvelopeError(.badSpecVersion, "attribute `specversion` must be \"1.0\"; got \(quoted(specVersion))")
        }
        let givenID = try attributes.requiredString(.id)
        guard EventID.isValid(givenID) else {
            throw EnvelopeError(.badID, "attribute `id` must be a UUID (preferably v7) or a ULID; got \(quoted(givenID))")
        }
        id = EventID.canonical(givenID)
        if id == givenID {
            nonCanonicalID = nil
        } else if let range = attributes[.id], range.count == givenID.utf8.count + 2 {
            nonCanonicalID = range.lowerBound + 1..<range.upperBound - 1
        } else {
            throw EnvelopeError(.badID, "attribute `id` must be written without escapes")
        }
        source = try attributes.requiredString(.source)
        guard Self.isValidSource(source) else {
            throw EnvelopeError(.badAttribute, "attribute `source` must be a non-empty URI reference without spaces, e.g. /agency/vdab/intake")
        }
        type = try EventType(try attributes.requiredString(.type))
        subject = try attributes.optionalString(.subject)
        if let subject, !Identifier.isValid(subject) {
            throw EnvelopeError(.badAttribute, "attribute `subject` must be \(Identifier.rule) (a case or trajectory id)")
        }
        time = try attributes.optionalString(.time)
        if let time, !EventTime.isValid(time) {
            throw EnvelopeError(.badAttribute, "attribute `time` must be an RFC 3339 timestamp, e.g. 2026-11-23T10:15:00Z; got \(quoted(time))")
        }
        if let contentType = try attributes.optionalString(.datacontenttype), contentType != "application/json" {
            throw EnvelopeError(.badAttribute, "attribute `datacontenttype` must be application/json; got \(quoted(contentType))")
        }
        correlationID = try attributes.optionalString(.correlationid)
        causationID = try attributes.optionalString(.causationid)
        actor = try attributes.actor()
        purpose = try attributes.optionalString(.purpose).map { text throws(EnvelopeError) in
            guard Purpose.isValidName(text) else {
                throw EnvelopeError(.badAttribute, "attribute `purpose` must be a purpose name such as activation-trajectory (lower-case words joined by dashes)")
            }
            return Purpose(rawValue: text)
        }
        dataVersion = try attributes.dataVersion()

        let decodeData = try registry.decoder(for: type.rawValue, version: dataVersion)
        guard let dataRange = attributes[.data], !attributes.isNull(dataRange) else {
            throw EnvelopeError(.missingAttribute, "attribute `data` is missing; \(type) v\(dataVersion) carries a JSON object")
        }
        do {
            data = try Self.data(at: dataRange, of: json, decodeData, refusesStoredForms: refusesStoredForms)
        } catch let error as EnvelopeScan.Malformed {
            throw EnvelopeError(.malformedJSON, "`data`: \(error.reason)")
        } catch let error as DecodingError {
            throw EnvelopeError.invalidData(error, type: type, version: dataVersion)
        } catch {
            throw EnvelopeError(.invalidData, "data does not match contract \(type) v\(dataVersion)")
        }
        dataMembers = scan.dataMembers
        personalValues = Self.personalValues(of: data, among: dataMembers)
        if subject == nil, let field = personalValues.map(\.name).min() {
            throw EnvelopeError(.missingAttribute, "attribute `subject` is missing; `data.\(field)` is personal data, sealed with the key of the event's subject")
        }
    }

    /// The header of an envelope `EnvelopeEncoder` wrote, from the values it was written from;
    /// nil where decoding its bytes would refuse it.
    init?(_ written: WrittenEnvelope, registry: ContractRegistry, refusesStoredForms: Bool) {
        guard EventID.isValid(written.id), EventID.canonical(written.id) == written.id, Self.isValidSource(written.source),
              EventType.isValid(written.type), written.subject.map(Identifier.isValid) ?? true, EventTime.isValid(written.time),
              written.actor.map({ [$0.id, $0.role, $0.agency].allSatisfy(Self.isValidActorPart) }) ?? true,
              written.purpose.map({ Purpose.isValidName($0.rawValue) }) ?? true,
              let decodeData = try? registry.decoder(for: written.type, version: written.dataVersion),
              let (data, members) = written.json.withUnsafeBufferPointer({ json -> (any EventContract, [EnvelopeScan.Member])? in
                  guard let members = try? EnvelopeScan.members(json, ofDataAt: written.data),
                        let data = try? Self.data(at: written.data, of: json, decodeData, refusesStoredForms: refusesStoredForms) else { return nil }
                  return (data, members)
              })
        else { return nil }
        let personalValues = Self.personalValues(of: data, among: members)
        guard written.subject != nil || personalValues.isEmpty else { return nil }
        (id, nonCanonicalID, source, type, subject, time) = (written.id, nil, written.source, EventType(stringLiteral: written.type), written.subject, written.time)
        (dataVersion, correlationID, causationID, actor, purpose) = (written.dataVersion, written.correlationID, written.causationID, written.actor, written.purpose)
        (self.data, self.personalValues, dataMembers) = (data, personalValues, members)
    }

    static func isValidSource(_ source: String) -> Bool {
        !source.isEmpty && source.utf8.count <= 1024 && !source.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F })
    }

    static func isValidActorPart(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 128 && !text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F })
    }

    /// The data at `range`, read through its contract.
    private static func data(at range: Range<Int>, of json: UnsafeBufferPointer<UInt8>, _ decodeData: ContractRegistry.DecodeData,
                             refusesStoredForms: Bool) throws -> any EventContract {
        var index = range.lowerBound
        let node = try JSONNode.read(json, at: &index)
        let userInfo: [CodingUserInfoKey: Any] = refusesStoredForms ? [Self.refusesStoredFormsKey: true] : [:]
        return try decodeData(DataDecoder(json: json, node: node, userInfo: userInfo))
    }

    private static func personalValues(of data: any EventContract, among members: [EnvelopeScan.Member]) -> [PersonalValue] {
        let personal = Swift.type(of: data).personalFields
        return personal.isEmpty ? [] : members.filter { personal.contains($0.key) }.map { PersonalValue(name: $0.key, range: $0.value) }
    }
}

/// A personal field's value as it stands in an envelope's bytes.
package struct PersonalValue: Sendable {
    package let name: String
    package let range: Range<Int>
}

/// The envelope attributes of a scanned document, by name.
private struct Attributes {
    let json: UnsafeBufferPointer<UInt8>
    /// A handful: looked up by a linear search, cheaper here than hashing names.
    private let ranges: [(key: EnvelopeKey, range: Range<Int>)]

    init(_ scan: EnvelopeScan, json: UnsafeBufferPointer<UInt8>) {
        self.json = json
        ranges = scan.members.compactMap { member in EnvelopeKey.byName[member.key].map { ($0, member.value) } }
    }

    subscript(key: EnvelopeKey) -> Range<Int>? { ranges.first { $0.key == key }?.range }

    func isNull(_ range: Range<Int>) -> Bool { json[range.lowerBound] == UInt8(ascii: "n") }

    func requiredString(_ key: EnvelopeKey) throws(EnvelopeError) -> String {
        guard let range = self[key] else {
            throw EnvelopeError(.missingAttribute, "attribute `\(key.rawValue)` is missing; CloudEvents 1.0 requires specversion, id, source and type, and wzt requires dataversion and data")
        }
        return try string(key, at: range)
    }

    func optionalString(_ key: EnvelopeKey) throws(EnvelopeError) -> String? {
        guard let range = self[key], !isNull(range) else { return nil }
        return try string(key, at: range)
    }

    private func string(_ key: EnvelopeKey, at range: Range<Int>) throws(EnvelopeError) -> String {
        let text: String?
        do {
            text = try EnvelopeScan.string(json, at: range)
        } catch {
            throw EnvelopeError(.malformedJSON, "attribute `\(key.rawValue)`: \(error.reason)")
        }
        guard let text else { throw EnvelopeError(.badAttribute, "attribute `\(key.rawValue)` must be a string") }
        return text
    }

    /// `actor`, `actorrole` and `actoragency` come together or not at all.
    func actor() throws(EnvelopeError) -> Actor? {
        var parts: [String?] = []
        for key in [EnvelopeKey.actor, .actorrole, .actoragency] {
            let text = try optionalString(key)
            if let text, !EnvelopeHeader.isValidActorPart(text) {
                throw EnvelopeError(.badAttribute, "attribute `\(key.rawValue)` must be 1 to 128 bytes without control characters")
            }
            parts.append(text)
        }
        if parts.allSatisfy({ $0 == nil }) { return nil }
        guard let id = parts[0], let role = parts[1], let agency = parts[2] else {
            throw EnvelopeError(.missingAttribute, "give `actor`, `actorrole` and `actoragency` together: who caused the event, in which role, for which agency")
        }
        return Actor(id: id, role: role, agency: agency)
    }

    /// `dataversion` is a CloudEvents extension attribute: an integer, or its decimal string.
    func dataVersion() throws(EnvelopeError) -> Int {
        guard let range = self[.dataversion] else {
            throw EnvelopeError(.missingAttribute, "attribute `dataversion` is missing; give the contract version as an integer, e.g. \"dataversion\": 1")
        }
        if let text = try? EnvelopeScan.string(json, at: range) {
            if let number = Int(text) { return number }
        } else {
            let number = String(decoding: UnsafeBufferPointer(rebasing: json[range]), as: UTF8.self)
            if let integer = Int(number) ?? Double(number).flatMap({ Int(exactly: $0) }) { return integer }
        }
        throw EnvelopeError(.unsupportedDataVersion, "attribute `dataversion` must be an integer")
    }
}

extension EnvelopeError {
    static func invalidData(_ error: DecodingError, type: EventType, version: Int) -> EnvelopeError {
        EnvelopeError(.invalidData, "data does not match contract \(type) v\(version): \(detail(error))")
    }

    private static func detail(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            // The contract decodes `data` on its own, so paths start there.
            "`" + (["data"] + keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }).joined(separator: ".") + "`"
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
