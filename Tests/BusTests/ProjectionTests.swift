import Foundation
import TestSupport
import Testing
@testable import Bus

/// A subscriber is handed the fields of `data` its needs allow and nothing else: not what a
/// publisher added beyond the contract, not the contract fields it did not ask for.
struct ProjectionTests {
    let decoder = EnvelopeDecoder(registry: try! ContractRegistry([NoteAdded.self, CaseNoteV2.self]))

    func stored(_ object: [String: Any], offset: Int64 = 1) throws -> StoredEvent {
        let json = Array(try JSONSerialization.data(withJSONObject: object))
        let envelope = try decoder.decode(json)
        return StoredEvent(offset: offset, id: envelope.id, type: envelope.type.rawValue, subject: envelope.subject, json: json)
    }

    func object(_ event: StoredEvent) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(event.json)) as? [String: Any])
    }

    func caseNote(version: Int, data: [String: Any]) -> [String: Any] {
        ["specversion": "1.0", "id": EventID.make(), "source": "/agency/vdab/intake", "type": CaseNoteV2.eventType.rawValue,
         "subject": "case-7", "time": "2026-11-30T10:00:00Z", "dataversion": version, "correlationid": "corr-7", "data": data]
    }

    @Test func fieldsBeyondTheContractAreDroppedAndAttributesKept() throws {
        let original = caseNote(version: 2, data: ["text": "met at the office", "author": "cw-1",
                                                    "insz": "85073003328", "diagnosis": "bipolar disorder", "nested": ["deep": true]])
        let projection = Projection(needs: [Need(CaseNoteV2.self, for: "testing")], decoder: decoder)
        let projected = try projection.apply(try stored(original, offset: 42))
        let result = try object(projected)
        #expect(result["data"] as? [String: String] == ["text": "met at the office", "author": "cw-1"])
        for attribute in ["specversion", "id", "source", "type", "subject", "time", "correlationid"] {
            #expect(result[attribute] as? String == original[attribute] as? String, "\(attribute)")
        }
        #expect(projected.offset == 42)
        #expect(try decoder.data(CaseNoteV2.self, of: projected.json) == CaseNoteV2(text: "met at the office", author: "cw-1"))
    }

    /// An event that comes out as it went in is handed over decoded, and as decoding its bytes
    /// would give it; one the projection changed is not.
    @Test func anUnchangedEventIsHandedOverDecoded() throws {
        let projection = Projection(needs: [Need(CaseNoteV2.self, for: "testing")], decoder: decoder)
        let note = CaseNoteV2(text: "met \"at\" the office", author: "cw-1")
        let json = try EnvelopeEncoder.envelope(note, source: "/agency/vdab/intake", subject: "case-7", correlationID: "corr-7")
        let unchanged = try projection.apply(StoredEvent(offset: 3, id: try decoder.decode(json).id, type: CaseNoteV2.eventType.rawValue, subject: "case-7", json: json))
        #expect(unchanged.json == json)
        let decoded = try #require(unchanged.decoded)
        #expect(decoded.json == json)
        #expect(try decoded.data(as: CaseNoteV2.self) == note)
        #expect(decoded.correlationID == "corr-7" && decoded.subject == "case-7")

        let narrowed = try Projection(needs: [Need(CaseNoteV2.self, for: "testing", fields: ["author"])], decoder: decoder)
            .apply(StoredEvent(offset: 3, id: decoded.id, type: CaseNoteV2.eventType.rawValue, subject: "case-7", json: json))
        #expect(narrowed.decoded == nil)
        let added = try projection.apply(try stored(caseNote(version: 2, data: ["text": "t", "author": "a", "diagnosis": "none of yours"])))
        #expect(added.decoded == nil)
        let upcast = try projection.apply(try stored(caseNote(version: 1, data: ["note": "first talk"])))
        #expect(upcast.decoded == nil)
    }

    @Test func namedFieldsNarrowTheContract() throws {
        let needs = [Need(try EventPattern("be.wzt.sample.*"), for: "testing", fields: ["author"])]
        let projected = try Projection(needs: needs, decoder: decoder)
            .apply(try stored(caseNote(version: 2, data: ["text": "free text about health", "author": "cw-1"])))
        #expect(try object(projected)["data"] as? [String: String] == ["author": "cw-1"])
    }

    @Test func olderVersionsArriveUpcastWithTheirVersionSaid() throws {
        let projection = Projection(needs: [Need(CaseNoteV2.self, for: "testing")], decoder: decoder)
        let projected = try projection.apply(try stored(caseNote(version: 1, data: ["note": "first talk", "insz": "85073003328"])))
        let result = try object(projected)
        #expect(result["dataversion"] as? Int == 2)
        #expect(result["data"] as? [String: String] == ["text": "first talk", "author": "unknown"])
    }

    @Test func needsForTheSameTypeAddUpAndAnyWholeNeedKeepsTheContract() {
        let projection = Projection(needs: [
            Need(try! EventPattern("be.wzt.sample.*"), for: "informing", fields: ["author"]),
            Need(CaseNoteV2.self, for: "testing", fields: ["text"]),
            Need(NoteAdded.self, for: "testing"),
        ], decoder: decoder)
        #expect(projection.allowedFields(for: CaseNoteV2.eventType.rawValue) == ["author", "text"])
        #expect(projection.allowedFields(for: NoteAdded.eventType.rawValue) == nil)
        #expect(projection.allowedFields(for: "be.wzt.other.thing") == [])
    }

    @Test func anEventThatNoLongerDecodesIsRefusedNotPassedOn() throws {
        let projection = Projection(needs: [Need(CaseNoteV2.self, for: "testing")], decoder: decoder)
        let unreadable = StoredEvent(offset: 1, id: EventID.make(), type: CaseNoteV2.eventType.rawValue, subject: nil, json: Array("{\"data\":1}".utf8))
        #expect(throws: EnvelopeError.self) { try projection.apply(unreadable) }
    }
}
