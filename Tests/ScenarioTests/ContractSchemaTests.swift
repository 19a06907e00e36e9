@testable import Bus
import Core
import Foundation
import TestSupport
import Testing

/// The JSON Schemas `wzt contracts` generates, held against the node by a validator nobody here
/// wrote (Python's `jsonschema`): every scenario event and every schema's example is accepted by
/// both, and each event broken in a way a schema can say (a required field left out, a value
/// outside a vocabulary, a value of the wrong JSON type) is refused by both.
struct ContractSchemaTests {
    static let root = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "../..").standardized.path
    let decoder = EnvelopeDecoder(registry: try! ContractRegistry(ModuleCatalog.contracts), refusesStoredForms: true)

    @Test func docsContractsIsWhatTheContractsSay() throws {
        let written = try String(contentsOfFile: Self.root + "/docs/contracts.md", encoding: .utf8)
        #expect(written == ContractCatalogue.markdown(try ContractCatalogue.entries()),
                "docs/contracts.md differs from the contracts: run `swift run wzt contracts markdown > docs/contracts.md`")
    }

    struct Case {
        let type: String
        let label: String
        let data: [String: Any]
    }

    @Test func theSchemasAcceptWhatTheNodeAcceptsAndRefuseWhatItRefuses() throws {
        let entries = try ContractCatalogue.entries()
        let schemas = Dictionary(uniqueKeysWithValues: entries.map { ($0.type, $0.schema) })
        var cases: [Case] = []
        for entry in entries {
            let example = try JSONSerialization.jsonObject(with: JSONEncoder().encode(entry.schema["examples"])) as! [[String: Any]]
            cases.append(Case(type: entry.type, label: "the schema's example", data: example[0]))
        }
        for event in try DataDecoderTests.publishedEvents() where schemas[event.type]?["x-wzt-dataversion"] == .integer(event.version) {
            let data = try JSONSerialization.jsonObject(with: event.data) as! [String: Any]
            cases.append(Case(type: event.type, label: "a scenario's event", data: data))
            cases += Self.broken(data, type: event.type)
        }

        let verdicts = try Self.validate(cases, schemas: schemas)
        try #require(verdicts.count == cases.count)
        var (accepted, refused) = (0, 0)
        for (testCase, schemaRefusal) in zip(cases, verdicts) {
            let nodeRefusal = nodeRefusal(testCase)
            #expect((nodeRefusal == nil) == (schemaRefusal == nil),
                    "\(testCase.type), \(testCase.label): the node \(nodeRefusal.map { "refuses it (\($0))" } ?? "accepts it"), the schema \(schemaRefusal.map { "refuses it (\($0))" } ?? "accepts it")")
            if nodeRefusal == nil { accepted += 1 } else { refused += 1 }
        }
        #expect(accepted >= entries.count + 100, "only \(accepted) accepted cases")
        #expect(refused >= 300, "only \(refused) refused cases")
    }

    /// The AsyncAPI document of a node, with and without CURVE, is what the AsyncAPI 3.0.0 JSON
    /// Schema (the AsyncAPI initiative's) accepts, and every reference in it resolves.
    @Test(arguments: [false, true])
    func theAsyncAPIDocumentIsValidAsyncAPI(curve: Bool) throws {
        var endpoints = ContractCatalogue.Endpoints(NodeConfiguration())
        endpoints.curve = curve
        let document = ContractCatalogue.asyncAPI(try ContractCatalogue.entries(), endpoints: endpoints)
        #expect(document["asyncapi"] == .string("3.0.0"))
        #expect((document["components"]?["securitySchemes"] != nil) == curve)
        let path = FileManager.default.temporaryDirectory.appending(path: "wzt-asyncapi-\(UUID().uuidString.prefix(8)).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try document.json.write(toFile: path, atomically: true, encoding: .utf8)
        let (status, said) = try runTool(["python3", Self.root + "/Tests/ScenarioTests/Python/check_asyncapi.py", path])
        #expect(status == 0, "\(said)")
    }

    /// The event with one field broken in each way a schema can tell, chosen from the data alone
    /// (not from the schema under test): each field left out, a text outside any vocabulary, and
    /// a value of another JSON type. Which of them the node refuses is the node's to say.
    static func broken(_ data: [String: Any], type: String) -> [Case] {
        var cases: [Case] = []
        func with(_ field: String, _ value: Any?, _ label: String) {
            var copy = data
            copy[field] = value
            cases.append(Case(type: type, label: label, data: copy))
        }
        for (field, value) in data {
            with(field, nil, "without `\(field)`")
            switch value {
            case let text as String:
                with(field, "no-such-value", "`\(field)` an unknown text")
                with(field, "12 34", "`\(field)` a short number")
                with(field, "  " + text, "`\(field)` after spaces")
                with(field, "", "`\(field)` empty")
                with(field, " ", "`\(field)` only a space")
                with(field, text + "\u{0}", "`\(field)` with a NUL")
                if field.hasSuffix("Id") {
                    // Where ids end: white space beyond ASCII, control characters, the length limit in code points.
                    for (odd, label) in [("\u{3000}\u{A0}", "only wide spaces"), ("\u{85}", "only a next-line"), ("x\u{85}", "with a next-line"),
                                         ("\u{FEFF}", "only a byte-order mark"), ("x\n", "ending in a line feed"), ("\u{80}", "a C1 control"), ("a\u{9F}b", "with the last C1 control"), ("a\u{A0}b", "with a no-break space"),
                                         (String(repeating: "é", count: 256), "256 accented letters"), (String(repeating: "é", count: 257), "257 accented letters"),
                                         (String(repeating: "😀", count: 256), "256 emoji")] {
                        with(field, odd, "`\(field)` \(label)")
                    }
                }
                with(field, 12, "`\(field)` a number")
            case is NSNumber:
                with(field, "12", "`\(field)` a text")
                with(field, 1e300, "`\(field)` too large")
            default: with(field, "none", "`\(field)` a text")
            }
        }
        return cases
    }

    func nodeRefusal(_ testCase: Case) -> String? {
        guard let data = try? JSONSerialization.data(withJSONObject: testCase.data) else { return "not JSON" }
        let envelope = Array(#"{"specversion":"1.0","id":"\#(EventID.make())","source":"/t","subject":"s-1","type":"\#(testCase.type)","dataversion":1,"data":"#.utf8)
            + Array(data) + Array("}".utf8)
        do {
            _ = try decoder.decode(envelope)
            return nil
        } catch {
            return error.reason
        }
    }

    /// Each case's verdict from Python's `jsonschema` (nil: accepted).
    static func validate(_ cases: [Case], schemas: [String: JSONDocument]) throws -> [String?] {
        let directory = FileManager.default.temporaryDirectory.appending(path: "wzt-schemas-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let schemaJSON = try JSONSerialization.jsonObject(with: JSONEncoder().encode(schemas))
        let request: [String: Any] = ["schemas": schemaJSON, "cases": cases.map { ["type": $0.type, "data": $0.data] }]
        try JSONSerialization.data(withJSONObject: request).write(to: URL(filePath: directory + "/request.json"))
        let (status, said) = try runTool(["python3", root + "/Tests/ScenarioTests/Python/check_schemas.py", directory + "/request.json", directory + "/verdicts.json"])
        guard status == 0 else {
            throw SchemaCheckFailed(description: "Tests/ScenarioTests/Python/check_schemas.py exited with \(status) (it needs Python's jsonschema, which Scripts/setup installs): \(said)")
        }
        let verdicts = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(filePath: directory + "/verdicts.json"))) as! [Any]
        return verdicts.map { $0 as? String }
    }

    struct SchemaCheckFailed: Error, CustomStringConvertible {
        let description: String
    }
}
