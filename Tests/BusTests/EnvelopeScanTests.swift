import Foundation
import IntakeContracts
import PluginAPI
import TestSupport
import PropertyBased
import Testing
@testable import Bus

/// The decoder checks JSON syntax and reads the attributes with its own scanner; these tests hold
/// it to Foundation's JSON parser, which it replaced for that part.
struct EnvelopeScanTests {
    /// The byte search that tells whether an event holds sealed fields finds what Foundation's does.
    @Test func byteSearchAgreesWithFoundation() async {
        // Few distinct bytes, so needles occur, partly occur and overlap.
        let bytes = Gen.int(in: 0...3).map { UInt8(ascii: "a") + UInt8($0) }
        await propertyCheck(count: 500, input: zip(bytes.array(of: 0...40), bytes.array(of: 1...5))) { haystack, needle in
            #expect(haystack.contains(bytes: needle) == (haystack.firstRange(of: needle) != nil))
        }
    }

    let decoder = EnvelopeDecoder(registry: try! ContractRegistry([NoteAdded.self, ScreeningRequested.self]))

    /// A valid note envelope with `value` as the value of an extension attribute.
    private func note(extension value: String) -> [UInt8] {
        let json = String(decoding: Samples.noteJSON(), as: UTF8.self)
        return Array(("{\"wztext\": " + value + " ," + json.dropFirst()).utf8)
    }

    static let validValues = [
        "0", "-0", "12", "-3.25", "1e5", "2E-3", "1.5e+10", "true", "false", "null", #""""#, #""a\"b\\c\/d\b\f\n\r\t""#,
        #""\u00e9\uD83D\uDE00""#, "[]", "[ 1 , [2, {\"a\": [null]}] ]", "{}", "{ \"a\" : { \"b\" : [ ] } }",
        String(repeating: "[", count: 400) + String(repeating: "]", count: 400),
        "1e308", "-1.7976931348623157e308", "1e-400", "123456789012345678901234567890123",
    ]

    @Test(arguments: validValues)
    func validJSONIsAccepted(_ value: String) throws {
        let json = note(extension: value)
        #expect(throws: Never.self) { try JSONSerialization.jsonObject(with: Data(json)) }
        _ = try decoder.decode(json)
    }

    static let invalidValues = [
        "01", "1.", ".5", "-", "1e", "+1", "tru", "nul", "True", #""\x""#, #""\u12""#, "\"a\tb\"", "\"open", "[1 2]",
        "{\"a\" 1}", "{a:1}", "{\"a\":}", "'a'", "[", String(repeating: "[", count: 600) + String(repeating: "]", count: 600),
        // Half a surrogate pair, found by Scripts/fuzz: Foundation refuses it, so modules could not read such an event.
        #""\uDEFA""#, #""\uD83D""#, #""\uD83Dx""#, #""\uD83D\u0041""#, #"{"k": ["\uDC00"]}"#,
        // A number beyond a Double's range, found by Scripts/fuzz: Foundation refuses it, and opens sealed events with it.
        "1e111111", "-1e309", "1" + String(repeating: "0", count: 400), "[0.5E+400]",
    ]

    @Test(arguments: invalidValues)
    func invalidJSONIsRefused(_ value: String) throws {
        let json = note(extension: value)
        #expect(throws: (any Error).self) { try JSONSerialization.jsonObject(with: Data(json)) }
        let error = #expect(throws: EnvelopeError.self) { try decoder.decode(json) }
        #expect(error?.code == .malformedJSON)
    }

    /// RFC 8259 has no trailing commas; Foundation's parser lets them through.
    @Test(arguments: ["[1,]", "{\"a\":1,}"])
    func trailingCommasAreRefused(_ value: String) {
        let error = #expect(throws: EnvelopeError.self) { try decoder.decode(note(extension: value)) }
        #expect(error?.code == .malformedJSON)
    }

    @Test(arguments: [" x", "{}", "\n]"])
    func bytesAfterTheDocumentAreRefused(_ tail: String) throws {
        _ = try decoder.decode(Samples.noteJSON() + Array(" \n".utf8))
        let error = #expect(throws: EnvelopeError.self) { try decoder.decode(Samples.noteJSON() + Array(tail.utf8)) }
        #expect(error?.code == .malformedJSON)
    }

    @Test func aRepeatedAttributeIsRefused() {
        // Two readers could each take a different `type`: refuse rather than pick one.
        let json = Array(("{\"type\":\"be.wzt.sample.other\"," + String(decoding: Samples.noteJSON(), as: UTF8.self).dropFirst()).utf8)
        let error = #expect(throws: EnvelopeError.self) { try decoder.decode(json) }
        #expect(error?.code == .malformedJSON)
        #expect(error?.reason.contains("`type` appears more than once") == true)
    }

    @Test func aRepeatedDataFieldIsRefused() {
        let json = Array(String(decoding: Samples.noteJSON("first"), as: UTF8.self)
            .replacingOccurrences(of: #""text":"first""#, with: #""text":"first","text":"second""#).utf8)
        let error = #expect(throws: EnvelopeError.self) { try decoder.decode(json) }
        #expect(error?.reason.contains("`data.text` appears more than once") == true)
    }

    @Test func escapedAttributesAreDecoded() throws {
        let json = String(decoding: Samples.noteJSON(subject: "case-1"), as: UTF8.self)
            .replacingOccurrences(of: #""source":"\/test""#, with: #""source":"\/t\u0065st""#)
            .replacingOccurrences(of: #""source":"/test""#, with: #""source":"\/t\u0065st""#)
            .replacingOccurrences(of: #""subject":"case-1""#, with: #""subject":"caf\u00e9-\uD83D\uDE00""#)
        let envelope = try decoder.decode(Array(json.utf8))
        #expect(envelope.source == "/test")
        #expect(envelope.subject == "café-😀")
    }

    @Test(arguments: [#"\uD83D"#, #"\uDE00"#, #"\uD83Dx"#, #"\uD83D\u0041"#])
    func halfASurrogatePairIsRefused(_ escape: String) {
        let json = String(decoding: Samples.noteJSON(subject: "case-1"), as: UTF8.self)
            .replacingOccurrences(of: #""subject":"case-1""#, with: "\"subject\":\"case\(escape)\"")
        let error = #expect(throws: EnvelopeError.self) { try decoder.decode(Array(json.utf8)) }
        #expect(error?.code == .malformedJSON)
    }

    @Test func personalValuesAreFoundWhereTheyStand() throws {
        let request = ScreeningRequested(caseID: "c-1", insz: try INSZ("85073003328"), region: "flanders", requestedBy: .jobSeeker,
                                         requestedOn: CalendarDate("2026-01-02")!, office: "Gent")
        let json = try EnvelopeEncoder.envelope(request, source: "/t", subject: "c-1")
        let envelope = try decoder.decode(json)
        #expect(envelope.personalValues.map(\.name) == ["insz"])
        #expect(envelope.personalValues.map { String(decoding: json[$0.range], as: UTF8.self) } == [#""85073003328""#])
    }

    /// Valid envelopes with one to three bytes changed: whatever the decoder accepts, Foundation's
    /// parser reads as the same attributes, and whatever that parser refuses is malformed JSON.
    @Test func mutatedEnvelopesAgreeWithFoundation() throws {
        var generator = SplitMix(seed: 20261201)
        let original = Samples.noteJSON("some text, with \"quotes\"")
        let alphabet = Array(#"{}[]",:\ 0123456789.-+eEtrufalsn"#.utf8) + [0x0A, 0x01, 0x7F, UInt8(ascii: "u")]
        var accepted = 0
        for _ in 0..<5000 {
            var json = original
            for _ in 0...Int(generator.next() % 3) {
                let position = Int(generator.next() % UInt64(json.count))
                switch generator.next() % 3 {
                case 0: json[position] = alphabet[Int(generator.next() % UInt64(alphabet.count))]
                case 1: json.remove(at: position)
                default: json.insert(alphabet[Int(generator.next() % UInt64(alphabet.count))], at: position)
                }
            }
            let foundation = try? JSONSerialization.jsonObject(with: Data(json)) as? [String: Any]
            let outcome: Result<Envelope, EnvelopeError>
            do throws(EnvelopeError) { outcome = .success(try decoder.decode(json)) } catch { outcome = .failure(error) }
            switch outcome {
            case .success(let envelope):
                accepted += 1
                let object = try #require(foundation, "accepted, but Foundation does not parse it: \(String(decoding: json, as: UTF8.self))")
                #expect((object["id"] as? String).map(EventID.canonical) == envelope.id, "ids are kept in their canonical letter case")
                #expect(object["source"] as? String == envelope.source)
                #expect(object["subject"] as? String == envelope.subject)
            case .failure(let error):
                if foundation == nil { #expect(error.code == .malformedJSON, "\(String(decoding: json, as: UTF8.self)): \(error)") }
            }
        }
        #expect(accepted > 100, "too few mutations kept the envelope valid to compare anything")
    }

    /// `data` with `extra` more members (`m0`, `m1`, …) than a note has.
    private func note(extraDataMembers extra: Int, repeating key: String? = nil) -> [UInt8] {
        let json = String(decoding: Samples.noteJSON("hello"), as: UTF8.self)
        let members = (0..<extra).map { "\"m\($0)\":\($0)" } + (key.map { ["\"\($0)\":1"] } ?? [])
        return Array(json.replacingOccurrences(of: #""data":{"#, with: #""data":{"# + members.joined(separator: ",") + ",").utf8)
    }

    /// 20,000 extra members once took 25 s to check for repeated keys while every other publisher
    /// waited; now more than 1,000 are refused before that check, and the check is one pass.
    @Test func objectsWithTooManyMembersAreRefusedAsTooComplex() throws {
        for extra in [1_000, 20_000] {
            let error = #expect(throws: EnvelopeError.self) { try decoder.decode(note(extraDataMembers: extra)) }
            #expect(error?.code == .tooComplex, "\(extra) members: \(error?.description ?? "")")
        }
        let repeated = #expect(throws: EnvelopeError.self) { try decoder.decode(note(extraDataMembers: 990, repeating: "m3")) }
        #expect(repeated?.code == .malformedJSON && repeated?.reason.contains("`data.m3` appears more than once") == true, "\(repeated?.description ?? "")")
        _ = try decoder.decode(note(extraDataMembers: 990))
    }
}

/// A small seeded generator, so a failure comes back on every run.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
