import Foundation
import PluginAPI
import IntakeContracts
import TestSupport
import Testing
@testable import Bus

struct EnvelopeTests {
    let decoder = EnvelopeDecoder(registry: try! ContractRegistry([NoteAdded.self, ScreeningRequested.self, CaseNoteV2.self]))

    @Test func roundTripKeepsAttributesAndData() throws {
        let request = ScreeningRequested(caseID: "case-9", insz: try INSZ("85.07.30-033.28"), region: "flanders",
                                         requestedBy: .counsellor, requestedOn: CalendarDate("2026-11-23")!, office: "Gent", counsellorID: "c-1")
        let json = try EnvelopeEncoder.envelope(request, source: "/agency/vdab/intake", subject: "case-9", correlationID: "corr-1")
        let envelope = try decoder.decode(json)
        #expect(envelope.type == ScreeningRequested.eventType)
        #expect(envelope.source == "/agency/vdab/intake")
        #expect(envelope.subject == "case-9")
        #expect(envelope.dataVersion == 1)
        #expect(envelope.correlationID == "corr-1")
        #expect(EventID.isValid(envelope.id))
        #expect(envelope.json == json)
        #expect(try decoder.data(ScreeningRequested.self, of: json) == request)
    }

    /// Invariants scope their reads by these; they are read from the ranges validation found.
    @Test func textFieldsAreTheTextsOfTheDataTheEnvelopeHolds() throws {
        // An id in capitals is stored in lower case: the same length, so the ranges still hold.
        let id = EventID.make().uppercased()
        let json = Array(#"{"specversion":"1.0","id":"\#(id)","source":"/t","type":"be.wzt.sample.case-note","dataversion":2,"subject":"case-1","data":{"text":"line\none \"quoted\"","author":"A\u00e9"}}"#.utf8)
        let envelope = try decoder.decode(json)
        #expect(envelope.id == id.lowercased())
        #expect(envelope.dataTextFields == ["text": "line\none \"quoted\"", "author": "A\u{e9}"])
        // The log's stored form is other bytes: its fields are read from those.
        let stored = envelope.storing(Array(#"{"data":{"author":"B","text":"other"},"id":"\#(id)"}"#.utf8))
        #expect(stored.dataTextFields == ["text": "other", "author": "B"])
    }

    @Test func madeIDsAreUUIDv7AndSortByTime() throws {
        let early = EventID.make(at: Date(timeIntervalSince1970: 1_700_000_000))
        let late = EventID.make(at: Date(timeIntervalSince1970: 1_800_000_000))
        #expect(EventID.isValid(early))
        #expect(Array(early)[14] == "7")
        #expect(early < late)
        // 1,700,000,000,000 ms is 0x018bcfe56800: the first 48 bits.
        #expect(early.hasPrefix("018bcfe5-6800-7"))
    }

    @Test func madeIDsCarryTheVariantAndNeverRepeat() async throws {
        // More ids than one refill of the random bits holds, from several threads at once.
        let ids = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<4 { group.addTask { (0..<3_000).map { _ in EventID.make() } } }
            return await group.reduce(into: []) { $0 += $1 }
        }
        #expect(Set(ids).count == ids.count)
        for id in ids.prefix(100) {
            #expect(EventID.isValid(id))
            #expect(id == id.lowercased())
            #expect("89ab".contains(Array(id)[19]))
        }
    }

    @Test(arguments: ["specversion", "id", "source", "type", "dataversion", "data"])
    func missingAttributeIsNamed(_ attribute: String) throws {
        var object = try noteObject()
        object.removeValue(forKey: attribute)
        let error = try refusal(object)
        #expect(error.code == .missingAttribute)
        #expect(error.reason.contains("`\(attribute)`"))
    }

    @Test(arguments: ["42", "not-a-uuid", "01a20a05-6ee8-75b8-9c24-46412683eb4", "01a20a05x6ee8-75b8-9c24-46412683eb41", "01ARZ3NDEKTSV4RRFFQ69G5FAU"])
    func badIDIsRefused(_ id: String) throws {
        var object = try noteObject()
        object["id"] = id
        #expect(try refusal(object).code == .badID)
    }

    @Test(arguments: ["2026-13-45T99:99:99Z", "2026-02-29T10:00:00Z", "2026-11-23T24:00:00Z", "2026-11-23T10:60:00Z", "2026-11-23T10:00:60Z",
                      "2026-11-23T10:00:00+24:00", "2026-00-10T10:00:00Z"])
    func impossibleTimeIsRefused(_ time: String) throws {
        var object = try noteObject()
        object["time"] = time
        #expect(try refusal(object).code == .badAttribute)
    }

    @Test func possibleTimesAreAccepted() throws {
        for time in ["2028-02-29T23:59:59Z", "2026-11-23T10:15:00.123+01:00", "2026-03-29T02:30:00+02:00"] {
            var object = try noteObject()
            object["time"] = time
            #expect(throws: Never.self, "\(time)") { try decoder.decode(Array(JSONSerialization.data(withJSONObject: object))) }
        }
    }

    @Test func ulidIsAccepted() throws {
        var object = try noteObject()
        object["id"] = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
        _ = try decoder.decode(Array(JSONSerialization.data(withJSONObject: object)))
    }

    @Test func unknownTypeIsRefused() throws {
        var object = try noteObject()
        object["type"] = "be.wzt.sample.unheard-of"
        let error = try refusal(object)
        #expect(error.code == .unknownType)
        #expect(error.reason.contains("be.wzt.sample.unheard-of"))
    }

    @Test func malformedTypeNameIsRefused() throws {
        var object = try noteObject()
        object["type"] = "Note Added"
        #expect(try refusal(object).code == .badAttribute)
    }

    // Found by Tests/InteropTests/Python/fuzz.py: these subjects were accepted.
    @Test(arguments: ["", " ", "\u{0}", "case\n1", String(repeating: "c", count: 257)])
    func subjectThatIsNoIdIsRefused(_ subject: String) throws {
        var object = try noteObject()
        object["subject"] = subject
        #expect(try refusal(object).code == .badAttribute)
    }

    @Test(arguments: [2, 0, 99])
    func unsupportedDataVersionIsRefused(_ version: Int) throws {
        var object = try noteObject()
        object["dataversion"] = version
        let error = try refusal(object)
        #expect(error.code == .unsupportedDataVersion)
        #expect(error.reason.contains("supported: 1"))
    }

    @Test func dataVersionMayBeAString() throws {
        var object = try noteObject()
        object["dataversion"] = "1"
        #expect(try decoder.decode(Array(JSONSerialization.data(withJSONObject: object))).dataVersion == 1)
    }

    @Test func dataNotMatchingTheContractNamesTheField() throws {
        var object = try noteObject()
        object["data"] = ["text": 12]
        let error = try refusal(object)
        #expect(error.code == .invalidData)
        #expect(error.reason.contains("`data.text`"))
        #expect(error.reason.contains("a string"))

        object["data"] = ["words": "hi"]
        #expect(try refusal(object).reason.contains("`data.text` is missing"))
    }

    @Test func invalidINSZIsRefusedWithoutEchoingIt() throws {
        let good = ScreeningRequested(caseID: "c", insz: try INSZ("85073003328"), region: "flanders", requestedBy: .jobSeeker, requestedOn: CalendarDate("2026-01-02")!, office: "Gent")
        var object = try JSONSerialization.jsonObject(with: Data(EnvelopeEncoder.envelope(good, source: "/t"))) as! [String: Any]
        var data = object["data"] as! [String: Any]
        data["insz"] = "85073003329"
        object["data"] = data
        let error = try refusal(object)
        #expect(error.code == .invalidData)
        #expect(error.reason.contains("check digits"))
        #expect(!error.reason.contains("85073003329"))
    }

    @Test func tooLargeIsRefusedBeforeParsing() throws {
        let small = EnvelopeDecoder(registry: decoder.registry, maxBytes: 2048)
        let json = Samples.noteJSON(String(repeating: "x", count: 4096))
        let error = #expect(throws: EnvelopeError.self) { try small.decode(json) }
        #expect(error?.code == .tooLarge)
        #expect(error?.reason.contains("2048") == true)
    }

    static let malformed: [String: [UInt8]] = [
        "truncated": Array(#"{"specversion":"1.0","id":"#.utf8),
        "binary garbage": [0xFF, 0xFE, 0x00, 0x13, 0x37],
        "array": Array(#"["an","array"]"#.utf8),
        "invalid UTF-8 inside a valid envelope": Array(String(decoding: Samples.noteJSON("@@"), as: UTF8.self)
            .replacingOccurrences(of: "@@", with: "\u{1}").utf8).map { $0 == 0x01 ? 0xC3 : $0 },
        "100k nested arrays": Array(String(repeating: "[", count: 100_000).utf8),
        "100k nested objects": Array(String(repeating: #"{"a":"#, count: 100_000).utf8),
    ]

    @Test(arguments: malformed.keys.sorted())
    func malformedDocumentsAreRefused(_ name: String) {
        let error = #expect(throws: EnvelopeError.self) { try decoder.decode(Self.malformed[name]!) }
        #expect(error?.code == .malformedJSON)
    }

    @Test func emptyFrameIsRefused() {
        #expect((#expect(throws: EnvelopeError.self) { try decoder.decode([]) })?.code == .emptyMessage)
    }

    @Test func wrongSpecVersionIsRefused() throws {
        var object = try noteObject()
        object["specversion"] = "0.3"
        #expect(try refusal(object).code == .badSpecVersion)
    }

    @Test(arguments: ["yesterday", "2026-11-23", "2026-11-23T10:00:00", "2026-13-23T10:00:00Zx"])
    func badTimeIsRefused(_ time: String) throws {
        var object = try noteObject()
        object["time"] = time
        #expect(try refusal(object).code == .badAttribute)
    }

    @Test(arguments: ["2026-11-23T10:00:00Z", "2026-11-23T10:00:00.123456+01:00"])
    func rfc3339TimesAreAccepted(_ time: String) throws {
        var object = try noteObject()
        object["time"] = time
        #expect(try decoder.decode(Array(JSONSerialization.data(withJSONObject: object))).time == time)
    }

    @Test func olderVersionsAreUpcastOnRead() throws {
        let v1 = try EnvelopeEncoder.envelope(CaseNoteV1(note: "first"), source: "/t")
        #expect(decoder.registry.versions(of: CaseNoteV2.eventType) == [1, 2])
        let upcast = try decoder.data(CaseNoteV2.self, of: v1)
        #expect(upcast == CaseNoteV2(text: "first", author: "unknown"))
    }

    @Test func registeringTwoVersionsOfOneTypeIsRefused() {
        var registry = ContractRegistry()
        #expect(throws: EnvelopeError.self) {
            try registry.register(CaseNoteV2.self)
            try registry.register(CaseNoteV1.self)
        }
    }

    @Test(arguments: ["be.wzt.intake.*", "be.wzt.intake.screening-requested", "*"])
    func patternsMatch(_ raw: String) throws {
        let pattern = try EventPattern(raw)
        #expect(pattern.matches("be.wzt.intake.screening-requested"))
        #expect(!pattern.matches("be.wzt.intakes.other") || raw == "*")
    }

    @Test(arguments: ["be.wzt.*x", "", "Be.Wzt.*", "be..x"])
    func badPatternsAreRefused(_ raw: String) {
        #expect(throws: EnvelopeError.self) { try EventPattern(raw) }
    }

    private func noteObject() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(Samples.noteJSON())) as! [String: Any]
    }

    private func refusal(_ object: [String: Any]) throws -> EnvelopeError {
        let json = Array(try JSONSerialization.data(withJSONObject: object))
        return try #require(#expect(throws: EnvelopeError.self) { try decoder.decode(json) })
    }
}

/// Version 1 of a contract that later changed shape.
struct CaseNoteV1: EventContract, Hashable {
    static let eventType: EventType = "be.wzt.sample.case-note"
    static let dataVersion = 1
    var note: String
}

/// Version 2: renamed the field and added the author.
struct CaseNoteV2: UpcastingContract, Hashable {
    static let eventType: EventType = "be.wzt.sample.case-note"
    static let dataVersion = 2
    var text: String
    var author: String

    init(text: String, author: String) {
        self.text = text
        self.author = author
    }

    init(upcasting previous: CaseNoteV1) { self.init(text: previous.note, author: "unknown") }
}
