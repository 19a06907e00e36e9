@testable import BusCore
import Foundation
import IntakeContracts
import PluginAPI
import PropertyBased
import TestSupport
import Testing

/// What a module publishes is checked from the values it was written from, not read back from
/// its bytes; these tests hold that to what reading the bytes gives, refusals included.
struct WrittenEnvelopeTests {
    static let registry = try! ContractRegistry([CaseNoteV2.self, ScreeningRequested.self])

    /// Text of every kind an attribute may be given: valid names, spaces, control characters,
    /// capitals, nothing at all, and more than a limit allows.
    static let samples = ["case-7", "activation-trajectory", "/wzt/intake", "cw-1", "", " ", "Case 7", "a\u{1}b", "x\u{7F}", String(repeating: "n", count: 129)]
    static let text = Gen.oneOf(
        Gen.int(in: 0...samples.count - 1).map { samples[$0] },
        Gen.oneOf(Gen.character(in: "\u{0}"..."\u{17F}"), Gen.character(in: "\u{1F600}"..."\u{1F64F}")).string(of: 0...12))

    enum Data: Sendable {
        case note(CaseNoteV2)
        case screening(ScreeningRequested)
    }

    static let data = zip(text, text, Gen.bool, Gen.bool).map { first, second, isNote, byCounsellor -> Data in
        guard !isNote, let insz = try? INSZ("85.07.30-033.28"), let requestedOn = CalendarDate("2026-11-23") else {
            return .note(CaseNoteV2(text: first, author: second))
        }
        return .screening(ScreeningRequested(caseID: "case-7", insz: insz, region: "flanders", requestedBy: byCounsellor ? .counsellor : .jobSeeker,
                                             requestedOn: requestedOn, office: first, counsellorID: byCounsellor ? second : nil))
    }

    static let id = Gen.int(in: 0...3).map { kind -> String in
        switch kind {
        case 0: EventID.make()
        case 1: EventID.make().uppercased()
        case 2: "01ARZ3NDEKTSV4RRFFQ69G5FAV"
        default: "not-an-id"
        }
    }

    static let actor = zip(text, text, text).map { Actor(id: $0, role: $1, agency: $2) }.optional()

    @Test func aWrittenEnvelopeIsWhatDecodingItsBytesGives() async throws {
        let attributes = zip(Self.id, Self.text)
        let envelope = zip(Self.data, attributes, zip(Self.text.optional(), Self.text.optional(), Self.text.optional(), Self.text.optional()),
                           zip(Self.actor, Gen.dateTime, Gen.bool.map { $0 ? 300 : EnvelopeDecoder.defaultMaxBytes }, Gen.bool))
        await propertyCheck(count: 400, input: envelope) { (input: (Data, (String, String), (String?, String?, String?, String?), (Actor?, Date, Int, Bool))) in
            let (data, attributes, optional, rest) = input
            let (id, source) = attributes
            let (subject, correlation, causation, purpose) = optional
            let (actor, time, maxBytes, fromPublishers) = rest
            let written: WrittenEnvelope
            switch data {
            case .note(let note):
                written = try EnvelopeEncoder.written(note, source: source, subject: subject, id: id, time: time, correlationID: correlation,
                                                      causationID: causation, actor: actor, purpose: purpose.map(Purpose.init(rawValue:)))
            case .screening(let screening):
                written = try EnvelopeEncoder.written(screening, source: source, subject: subject, id: id, time: time, correlationID: correlation,
                                                      causationID: causation, actor: actor, purpose: purpose.map(Purpose.init(rawValue:)))
            }
            var decoder = EnvelopeDecoder(registry: Self.registry, maxBytes: maxBytes)
            if fromPublishers { decoder = decoder.forPublishers }
            let fromValues = Result { () throws(EnvelopeError) in try decoder.decode(written) }
            let fromBytes = Result { () throws(EnvelopeError) in try decoder.decode(written.json) }
            switch (fromValues, fromBytes) {
            case (.failure(let values), .failure(let bytes)):
                #expect(values.code == bytes.code && values.description == bytes.description)
            case (.success(let values), .success(let bytes)):
                Self.expectSame(values, bytes)
            default:
                Issue.record("from the values: \(fromValues), from the bytes: \(fromBytes)")
            }
        }
    }

    /// The values are checked without reading the bytes back: an envelope any publisher could
    /// send is not decoded in full.
    @Test func aValidWrittenEnvelopeIsNotReadBack() throws {
        let screening = ScreeningRequested(caseID: "case-7", insz: try INSZ("85.07.30-033.28"), region: "flanders", requestedBy: .counsellor,
                                           requestedOn: CalendarDate("2026-11-23")!, office: "Gent", counsellorID: "c-1")
        let written = try EnvelopeEncoder.written(screening, source: "/wzt/intake", subject: "case-7", id: EventID.make(), time: Date(),
                                                  correlationID: "corr-1", causationID: nil, actor: .module("intake"), purpose: "activation-trajectory")
        let header = try #require(EnvelopeHeader(written, registry: Self.registry, refusesStoredForms: true))
        #expect(header.personalValues.map(\.name) == ["insz"])
        // Without a subject, personal data cannot be sealed: that is left to the full decoding to refuse.
        let unsealable = try EnvelopeEncoder.written(screening, source: "/wzt/intake", subject: nil, id: EventID.make(), time: Date(),
                                                     correlationID: nil, causationID: nil, actor: nil, purpose: nil)
        #expect(EnvelopeHeader(unsealable, registry: Self.registry, refusesStoredForms: true) == nil)
        #expect(throws: EnvelopeError.self) { try EnvelopeDecoder(registry: Self.registry).decode(unsealable) }
    }

    static func expectSame(_ values: Envelope, _ bytes: Envelope) {
        #expect(values.json == bytes.json)
        #expect(values.id == bytes.id && values.source == bytes.source && values.type == bytes.type && values.subject == bytes.subject)
        #expect(values.time == bytes.time && values.dataVersion == bytes.dataVersion)
        #expect(values.correlationID == bytes.correlationID && values.causationID == bytes.causationID)
        #expect(values.actor == bytes.actor && values.purpose == bytes.purpose)
        #expect(values.personalValues.map(\.name) == bytes.personalValues.map(\.name))
        #expect(values.personalValues.map(\.range) == bytes.personalValues.map(\.range))
        #expect(values.dataTextFields == bytes.dataTextFields)
        #expect((try? values.data(as: CaseNoteV2.self)) == (try? bytes.data(as: CaseNoteV2.self)))
        #expect((try? values.data(as: ScreeningRequested.self)) == (try? bytes.data(as: ScreeningRequested.self)))
    }
}
