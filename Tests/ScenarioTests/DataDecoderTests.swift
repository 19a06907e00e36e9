@testable import Bus
@testable import BusCore
import Core
import Foundation
import IntakeContracts
import Testing

/// The envelope decoder reads `data` with its own decoder; every event the scenarios publish must
/// decode to the same value as through Foundation's `JSONDecoder`, and fail where it fails.
struct DataDecoderTests {
    static let directory = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "../Scenarios").standardized.path
    let decoder: EnvelopeDecoder = {
        let modules = ModuleCatalog.modules.values.map { $0(NodeConfiguration()) }
        return EnvelopeDecoder(registry: try! ContractRegistry(ModuleCatalog.contracts + modules.flatMap(\.contracts)))
    }()

    /// Every `publish` step of every scenario: (type, dataversion, data as JSON bytes).
    static func publishedEvents() throws -> [(type: String, version: Int, data: Data)] {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".json") }
        return try files.flatMap { file -> [(type: String, version: Int, data: Data)] in
            let scenario = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(filePath: directory + "/" + file))) as! [String: Any]
            return try (scenario["steps"] as! [[String: Any]]).compactMap { step in
                guard let publish = step["publish"] as? [String: Any], let type = publish["type"] as? String, let data = publish["data"] else { return nil }
                return (type, publish["dataversion"] as? Int ?? 1, try JSONSerialization.data(withJSONObject: data))
            }
        }
    }

    @Test func scenarioEventsDecodeAsWithJSONDecoder() throws {
        let events = try Self.publishedEvents()
        var compared = 0
        for event in events {
            let envelope = Array(#"{"specversion":"1.0","id":"\#(EventID.make())","source":"/t","subject":"s-1","type":"\#(event.type)","dataversion":\#(event.version),"data":"#.utf8)
                + Array(event.data) + Array("}".utf8)
            let ours: (any EventContract)?
            do { ours = try decoder.decode(envelope).data } catch { ours = nil }
            // Older versions are upcast by the contract chain, which JSONDecoder alone does not do.
            guard let contract = decoder.registry.contract(of: event.type), contract.dataVersion == event.version else { continue }
            let theirs = try? decodeWithFoundation(contract, event.data)
            #expect((ours == nil) == (theirs == nil), "\(event.type): ours \(ours == nil ? "refused" : "accepted"), JSONDecoder's the opposite")
            if let ours, let theirs {
                #expect(try canonical(ours) == canonical(theirs), "\(event.type) decodes differently")
                compared += 1
            }
        }
        #expect(compared >= 50, "only \(compared) of \(events.count) scenario events compared")
    }

    @Test func errorsNameTheNestedPlace() throws {
        let data = #"{"caseId":"c","insz":"85073003328","region":"flanders","requestedBy":"counsellor","requestedOn":7,"office":"Gent"}"#
        let envelope = Array(#"{"specversion":"1.0","id":"\#(EventID.make())","source":"/t","subject":"c","type":"be.wzt.intake.screening-requested","dataversion":1,"data":\#(data)}"#.utf8)
        let error = #expect(throws: EnvelopeError.self) { try decoder.decode(envelope) }
        #expect(error?.code == .invalidData)
        #expect(error?.reason.contains("`data.requestedOn`") == true, "\(error?.reason ?? "")")
        #expect(error?.reason.contains("7") == false)
    }

    private func decodeWithFoundation(_ contract: any EventContract.Type, _ data: Data) throws -> any EventContract {
        func decode<T: EventContract>(_ type: T.Type) throws -> any EventContract { try JSONDecoder().decode(T.self, from: data) }
        return try decode(contract)
    }

    private func canonical(_ value: any EventContract) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return try encoder.encode(value)
    }
}
