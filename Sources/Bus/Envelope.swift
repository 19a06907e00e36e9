import Foundation

/// One event as CloudEvents 1.0 JSON (structured mode), validated against its contract.
///
/// `json` is the exact document that is stored and delivered; the other properties are the
/// attributes read from it. An `Envelope` only exists once validation has passed.
public struct Envelope: Sendable {
    public let id: String
    public let source: String
    public let type: EventType
    public let subject: String?
    public let time: String?
    public let dataVersion: Int
    public let correlationID: String?
    public let causationID: String?
    /// Who caused the event; nil from a system publisher (`privacy.system_publishers`).
    public let actor: Actor?
    /// The legal task the event serves; nil from a system publisher.
    public let purpose: Purpose?
    /// The contract's personal fields (`EventContract.personalFields`): sealed when appended.
    public let personalFields: Set<String>
    /// Where the values of those fields are in `json` as the publisher sent it.
    let personalValues: [PersonalValue]
    public private(set) var json: [UInt8]
    /// Set once the personal fields are sealed (`SubjectKeys.seal`): the key, for the log's writer
    /// to store with the event, and the JSON before, to seal again if that key is erased meanwhile.
    var sealing: SealedWith?

    struct SealedWith: Sendable {
        let key: SubjectKeys.SealingKey
        let unsealed: [UInt8]
    }

    init(header: EnvelopeHeader, json: [UInt8]) {
        id = header.id
        source = header.source
        type = header.type
        subject = header.subject
        time = header.time
        dataVersion = header.dataVersion
        correlationID = header.correlationID
        causationID = header.causationID
        actor = header.actor
        purpose = header.purpose
        personalFields = Swift.type(of: header.data).personalFields
        personalValues = header.personalValues
        self.json = json
    }

    /// The same event with its JSON as the log keeps it (personal fields sealed).
    func storing(_ json: [UInt8]) -> Envelope {
        var copy = self
        copy.json = json
        return copy
    }
}

/// Creates envelopes for events a module or a client publishes.
public enum EnvelopeEncoder {
    /// Wraps `data` in a new envelope with a fresh UUIDv7 id and the current time.
    public static func envelope<T: EventContract>(
        _ data: T, source: String, subject: String? = nil, id: String = EventID.make(),
        time: Date = Date(), correlationID: String? = nil, causationID: String? = nil, actor: Actor? = nil, purpose: Purpose? = nil
    ) throws -> [UInt8] {
        let outgoing = OutgoingEnvelope(
            id: id, source: source, type: T.eventType.rawValue, time: EventTime.format(time), subject: subject,
            dataversion: T.dataVersion, correlationid: correlationID, causationid: causationID,
            actor: actor?.id, actorrole: actor?.role, actoragency: actor?.agency, purpose: purpose?.rawValue, data: data)
        return Array(try encoder.encode(outgoing))
    }

    /// Sorted keys, so that the same event is always the same bytes.
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()
}

private struct OutgoingEnvelope<T: Encodable>: Encodable {
    var specversion = "1.0"
    var id: String
    var source: String
    var type: String
    var time: String
    var subject: String?
    var datacontenttype = "application/json"
    var dataversion: Int
    var correlationid: String?
    var causationid: String?
    var actor: String?
    var actorrole: String?
    var actoragency: String?
    var purpose: String?
    var data: T
}

enum EnvelopeKey: String, CaseIterable {
    case specversion, id, source, type, time, subject, datacontenttype, dataversion, correlationid, causationid, data
    case actor, actorrole, actoragency, purpose
}

extension EnvelopeKey {
    /// One hash per attribute of a document; `init(rawValue:)` compares the name with every case.
    static let byName = Dictionary(uniqueKeysWithValues: allCases.map { ($0.rawValue, $0) })
}
