@testable import BusCore
import Foundation
import PropertyBased
import Testing

/// Events are encoded by wzt's own JSON writer; these tests hold it to the bytes Foundation's
/// `JSONEncoder` writes with the options it replaced.
struct JSONBytesEncoderTests {
    static let foundation: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    struct Sample: Encodable {
        enum Kind: String, Encodable { case first, second = "second-kind" }
        struct Inner: Encodable {
            var name: String
            var count: Int?
            var flags: [Bool]
        }

        var text: String
        var number: Int
        var fraction: Double
        var small: Float
        var optional: String?
        var kind: Kind
        var inner: Inner
        var list: [Inner?]
        var table: [String: Int]
        var moment: Date
        var unsigned: UInt8
        var nested: [[String]]
        var moments: [Date?]
    }

    @Test func writesWhatJSONEncoderWrites() async throws {
        // Control characters, quotes, backslashes, slashes, Latin letters and beyond the BMP.
        let character = Gen.oneOf(Gen.character(in: "\u{0}"..."\u{17F}"), Gen.character(in: "\u{1F600}"..."\u{1F64F}"))
        let text = character.string(of: 0...10)
        let fraction = Gen.oneOf(Gen.double(in: -1e6...1e6), Gen.double(in: -1e300...1e300), Gen.double(in: -1e-6...1e-6))
        let inner = zip(text, Gen.int(in: -5...5).optional(), Gen.bool.array(of: 0...3)).map { Sample.Inner(name: $0, count: $1, flags: $2) }
        let first = zip(text, Gen.int(), fraction, Gen.float(in: -1e5...1e5))
        let second = zip(text.optional(), Gen.bool, inner, inner.optional().array(of: 0...3))
        let table = zip(text, Gen.int(in: 0...9)).dictionary(ofAtMost: 0...4)
        let third = zip(table, Gen.dateTime, Gen.int(in: 0...255), text.array(of: 0...2).array(of: 0...2))
        let sample = zip(first, second, third).map { (first: (String, Int, Double, Float), second: (String?, Bool, Sample.Inner, [Sample.Inner?]),
                                                      third: ([String: Int], Date, Int, [[String]])) in
            Sample(text: first.0, number: first.1, fraction: first.2, small: first.3, optional: second.0, kind: second.1 ? .first : .second,
                   inner: second.2, list: second.3, table: third.0, moment: third.1, unsigned: UInt8(third.2), nested: third.3,
                   moments: [third.1, nil])
        }
        await propertyCheck(count: 300, input: sample) { sample in
            let ours = try JSONBytesEncoder.encode(sample)
            let theirs = Array(try Self.foundation.encode(sample))
            #expect(String(decoding: ours, as: UTF8.self) == String(decoding: theirs, as: UTF8.self))
        }
    }

    /// The envelope as it was encoded before its attributes were written without an encoder.
    struct OutgoingEnvelope: Encodable {
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
        var data: CaseNoteV1
    }

    @Test func envelopesAreWhatJSONEncoderWroteOfTheirAttributes() async throws {
        let character = Gen.oneOf(Gen.character(in: "\u{0}"..."\u{17F}"), Gen.character(in: "\u{1F600}"..."\u{1F64F}"))
        let text = character.string(of: 0...10)
        let actor = zip(text, text, text).map { Actor(id: $0, role: $1, agency: $2) }.optional()
        let attributes = zip(text, text.optional(), text.optional(), text.optional())
        let envelope = zip(attributes, actor, text.optional(), Gen.dateTime)
        await propertyCheck(count: 200, input: envelope) { (attributes: (String, String?, String?, String?), actor: Actor?, purpose: String?, time: Date) in
            let (note, subject, correlation, causation) = attributes
            let id = EventID.make()
            let ours = try EnvelopeEncoder.envelope(CaseNoteV1(note: note), source: "/wzt/test", subject: subject, id: id, time: time,
                                                    correlationID: correlation, causationID: causation, actor: actor, purpose: purpose.map(Purpose.init(rawValue:)))
            let before = OutgoingEnvelope(id: id, source: "/wzt/test", type: CaseNoteV1.eventType.rawValue, time: EventTime.format(time), subject: subject,
                                          dataversion: CaseNoteV1.dataVersion, correlationid: correlation, causationid: causation, actor: actor?.id,
                                          actorrole: actor?.role, actoragency: actor?.agency, purpose: purpose, data: CaseNoteV1(note: note))
            let theirs = Array(try Self.foundation.encode(before))
            #expect(String(decoding: ours, as: UTF8.self) == String(decoding: theirs, as: UTF8.self))
        }
    }

    @Test func aNumberJSONCannotHoldIsAnErrorNamingItsPlace() {
        struct Reading: Encodable { var value: Double }
        struct Readings: Encodable { var readings: [String: Reading] }
        let error = #expect(throws: EncodingError.self) { try JSONBytesEncoder.encode(Readings(readings: ["kitchen": Reading(value: .nan)])) }
        guard case .invalidValue(_, let context) = error else { return }
        #expect(context.codingPath.map(\.stringValue) == ["readings", "kitchen", "value"])
    }
}
