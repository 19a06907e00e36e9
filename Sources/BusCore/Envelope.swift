import Foundation

/// One event as CloudEvents 1.0 JSON (structured mode), validated against its contract.
///
/// `json` is the exact document that is stored and delivered; the other properties are the
/// attributes read from it. An `Envelope` only exists once validation has passed.
public struct Envelope: Sendable {
    public var id: String { attributes.header.id }
    public var source: String { attributes.header.source }
    public var type: EventType { attributes.header.type }
    public var subject: String? { attributes.header.subject }
    public var time: String? { attributes.header.time }
    public var dataVersion: Int { attributes.header.dataVersion }
    public var correlationID: String? { attributes.header.correlationID }
    public var causationID: String? { attributes.header.causationID }
    /// Who caused the event; nil from a system publisher (`privacy.system_publishers`).
    public var actor: Actor? { attributes.header.actor }
    /// The legal task the event serves; nil from a system publisher.
    public var purpose: Purpose? { attributes.header.purpose }
    /// The contract's personal fields (`EventContract.personalFields`): sealed when appended.
    public var personalFields: Set<String> { attributes.personalFields }
    /// Where the values of those fields are in `json` as the publisher sent it.
    package var personalValues: [PersonalValue] { attributes.header.personalValues }
    public private(set) var json: [UInt8]
    /// Set once the personal fields are sealed (the log's `SubjectKeys.seal`): the key, for the
    /// log's writer to store with the event, and the JSON before, to seal again if that key is
    /// erased meanwhile. The key's type is the log's own.
    package var sealing: SealedWith?
    /// Shared by every copy: an envelope is copied several times on its way into the log, and a
    /// copy of a dozen strings and arrays took a retain and a release of each.
    private let attributes: Attributes
    /// Whether `json` holds the bytes the header was read from, where its byte ranges point.
    private var isAsDecoded = true

    package struct SealedWith: Sendable {
        package let key: any Sendable
        package let unsealed: [UInt8]

        package init(key: any Sendable, unsealed: [UInt8]) {
            self.key = key
            self.unsealed = unsealed
        }
    }

    /// The header as validation read it (its decoded `data` included, which lives as long as the
    /// envelope), and the personal fields of its contract.
    private final class Attributes: Sendable {
        let header: EnvelopeHeader
        let personalFields: Set<String>

        init(_ header: EnvelopeHeader) {
            self.header = header
            personalFields = Swift.type(of: header.data).personalFields
        }
    }

    init(header: EnvelopeHeader, json: [UInt8]) {
        attributes = Attributes(header)
        self.json = json
    }

    /// The data, decoded (and upcast to its contract's current version) when the envelope was validated.
    public var data: any EventContract { attributes.header.data }

    /// The data as contract `T`.
    public func data<T: EventContract>(as contract: T.Type) throws(EnvelopeError) -> T {
        guard type == T.eventType else { throw EnvelopeError(.unknownType, "event \(id) is \(type), not \(T.eventType)") }
        guard let data = attributes.header.data as? T else {
            throw EnvelopeError(.unsupportedDataVersion, "event \(id) does not upcast to \(T.eventType) v\(T.dataVersion)")
        }
        return data
    }

    /// The top-level text fields of `data` (`caseId`, `networkId`, …), read from the bytes
    /// without its contract.
    public var dataTextFields: [String: String] {
        json.withUnsafeBufferPointer { json in
            // Validation scanned these bytes already; the log's stored form is scanned again.
            guard let members = isAsDecoded ? attributes.header.dataMembers : try? EnvelopeScan(json).dataMembers else { return [:] }
            var fields: [String: String] = [:]
            for member in members {
                if let text = try? EnvelopeScan.string(json, at: member.value) { fields[member.key] = text }
            }
            return fields
        }
    }

    /// The same event as it was before its personal fields were sealed; itself when they were
    /// not. `sealing` stays, to tell which key sealed them.
    package var unsealed: Envelope {
        guard let sealing else { return self }
        var copy = self
        // Sealing kept the bytes the header was read from.
        copy.json = sealing.unsealed
        copy.isAsDecoded = true
        return copy
    }

    /// The same event with its JSON as the log keeps it (personal fields sealed).
    package func storing(_ json: [UInt8]) -> Envelope {
        var copy = self
        copy.json = json
        copy.isAsDecoded = false
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
        try written(data, source: source, subject: subject, id: id, time: time, correlationID: correlationID, causationID: causationID,
                    actor: actor, purpose: purpose).json
    }

    /// The envelope and what it was written from, for `EnvelopeDecoder.decode(_:)` to check
    /// without reading back the attributes it was given.
    package static func written<T: EventContract>(
        _ data: T, source: String, subject: String?, id: String, time: Date, correlationID: String?, causationID: String?, actor: Actor?, purpose: Purpose?
    ) throws -> WrittenEnvelope {
        let time = EventTime.format(time)
        // The attributes in the order of their names, as sorted keys have them; `data` is the
        // only value that needs an encoder, and the rest cost more through one than the data did.
        var output: [UInt8] = []
        output.reserveCapacity(512)
        func key(_ name: String) {
            output.append(output.isEmpty ? UInt8(ascii: "{") : UInt8(ascii: ","))
            JSONBytesEncoder.writeString(name, to: &output)
            output.append(UInt8(ascii: ":"))
        }
        func attribute(_ name: String, _ value: String?) {
            guard let value else { return }
            key(name)
            JSONBytesEncoder.writeString(value, to: &output)
        }
        attribute("actor", actor?.id)
        attribute("actoragency", actor?.agency)
        attribute("actorrole", actor?.role)
        attribute("causationid", causationID)
        attribute("correlationid", correlationID)
        key("data")
        let dataStart = output.count
        try JSONBytesEncoder.write(data, codingPath: [EnvelopeKey.data], to: &output)
        let dataRange = dataStart..<output.count
        attribute("datacontenttype", "application/json")
        key("dataversion")
        output += String(T.dataVersion).utf8
        attribute("id", id)
        attribute("purpose", purpose?.rawValue)
        attribute("source", source)
        attribute("specversion", "1.0")
        attribute("subject", subject)
        attribute("time", time)
        attribute("type", T.eventType.rawValue)
        output.append(UInt8(ascii: "}"))
        return WrittenEnvelope(json: output, data: dataRange, id: id, source: source, type: T.eventType.rawValue, subject: subject, time: time,
                               dataVersion: T.dataVersion, correlationID: correlationID, causationID: causationID, actor: actor, purpose: purpose)
    }
}

/// An envelope as `EnvelopeEncoder` wrote it, with the values it wrote.
package struct WrittenEnvelope: Sendable {
    package let json: [UInt8]
    /// Where `data` stands in `json`.
    let data: Range<Int>
    let id: String
    let source: String
    let type: String
    let subject: String?
    let time: String
    let dataVersion: Int
    let correlationID: String?
    let causationID: String?
    let actor: Actor?
    let purpose: Purpose?
}

enum EnvelopeKey: String, CaseIterable, CodingKey {
    case specversion, id, source, type, time, subject, datacontenttype, dataversion, correlationid, causationid, data
    case actor, actorrole, actoragency, purpose
}

extension EnvelopeKey {
    /// One hash per attribute of a document; `init(rawValue:)` compares the name with every case.
    static let byName = Dictionary(uniqueKeysWithValues: allCases.map { ($0.rawValue, $0) })
}
