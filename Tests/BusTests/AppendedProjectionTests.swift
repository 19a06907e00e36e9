import Foundation
import IntakeContracts
import Logging
import struct NIOConcurrencyHelpers.NIOLockedValueBox
import PluginAPI
import PropertyBased
import Storage
import TestSupport
import Testing
@testable import Bus

/// The log's writer hands the events of each commit to the subscribers of its process as they
/// were appended, personal fields open, and a projection takes that instead of opening and
/// decoding the stored bytes. Generated sequences of appends (sealed and not, written as the
/// encoder writes them or not, carrying a sealed form of their own) and erasures check that
/// an event so handed over projects, at any later moment, to what the same event read back
/// from the log projects to.
struct AppendedProjectionTests {
    static let decoder = EnvelopeDecoder(registry: try! ContractRegistry([ScreeningRequested.self, CaseNoteV2.self, Tagged.self]))
    static let needs = [Need(ScreeningRequested.self, for: "testing"), Need(CaseNoteV2.self, for: "testing"), Need(Tagged.self, for: "testing")]

    /// A contract with a field that is an object and not personal: its members may look like a
    /// sealed value, which opening the stored bytes would try to open.
    struct Tagged: EventContract, Hashable {
        static let eventType: EventType = "be.wzt.sample.tagged"
        static let dataVersion = 1
        var tags: [String: String]
    }

    enum Step: Sendable, CustomStringConvertible {
        /// A screening of case `n`: INSZ sealed.
        case screening(Int, asEncoded: Bool)
        /// A screening whose INSZ arrives in a sealed form already (what a module may copy).
        case storedForm(Int)
        /// A case note: nothing to seal.
        case note(Int, asEncoded: Bool)
        /// Tags that look like a sealed value, or not.
        case tagged(Int, likeASealedValue: Bool)
        case erase(Int)

        static let generator = zip(Gen.int(in: 0...7), Gen.int(in: 0...2), Gen.bool).map { kind, caseNumber, flag in
            switch kind {
            case 0, 1, 2: Step.screening(caseNumber, asEncoded: flag)
            case 3: Step.storedForm(caseNumber)
            case 4: Step.note(caseNumber, asEncoded: flag)
            case 5: Step.tagged(caseNumber, likeASealedValue: flag)
            default: Step.erase(caseNumber)
            }
        }

        var description: String {
            switch self {
            case .screening(let n, let asEncoded): "screening(\(n), asEncoded: \(asEncoded))"
            case .storedForm(let n): "storedForm(\(n))"
            case .note(let n, let asEncoded): "note(\(n), asEncoded: \(asEncoded))"
            case .tagged(let n, let like): "tagged(\(n), likeASealedValue: \(like))"
            case .erase(let n): "erase(\(n))"
            }
        }
    }

    /// An envelope as a publisher that does not use the encoder may write it: other key order,
    /// and a field beyond the contract.
    static func rewritten(_ json: [UInt8]) throws -> [UInt8] {
        var object = try #require(try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any])
        var data = try #require(object["data"] as? [String: Any])
        data["beyondTheContract"] = "dropped by the projection"
        object["data"] = data
        return Array(try JSONSerialization.data(withJSONObject: object))
    }

    static func envelope(_ step: Step) throws -> Envelope? {
        func screening(_ number: Int) -> ScreeningRequested {
            ScreeningRequested(caseID: "case-\(number)", insz: try! INSZ("85073003328"), region: "flanders", requestedBy: .counsellor,
                               requestedOn: CalendarDate("2026-03-02")!, office: "Gent")
        }
        switch step {
        case .screening(let number, let asEncoded):
            let json = try EnvelopeEncoder.envelope(screening(number), source: "/agency/vdab", subject: "case-\(number)")
            return try decoder.decode(asEncoded ? json : rewritten(json))
        case .storedForm(let number):
            let json = String(decoding: try EnvelopeEncoder.envelope(screening(number), source: "/agency/vdab", subject: "case-\(number)"), as: UTF8.self)
            let sealed = json.replacingOccurrences(of: #""85073003328""#, with: #"{"sealed":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","key":1}"#)
            return try decoder.decode(Array(sealed.utf8))
        case .note(let number, let asEncoded):
            let json = try EnvelopeEncoder.envelope(CaseNoteV2(text: "met at the office", author: "cw-1"), source: "/agency/vdab", subject: "case-\(number)")
            return try decoder.decode(asEncoded ? json : rewritten(json))
        case .tagged(let number, let likeASealedValue):
            let tags = likeASealedValue ? ["sealed": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "key": "1"] : ["colour": "blue"]
            return try decoder.decode(EnvelopeEncoder.envelope(Tagged(tags: tags), source: "/agency/vdab", subject: "case-\(number)"))
        case .erase:
            return nil
        }
    }

    @Test func anEventHandedOverAsAppendedProjectsAsReadBack() async throws {
        await propertyCheck(count: 60, input: zip(Step.generator.array(of: 1...16), Gen.bool)) { (input: ([Step], Bool)) in
            let (steps, fewKeysInMemory) = input
            let directory = TemporaryDirectory()
            let log = try EventLog(store: try SQLiteStore(path: directory.file("log.sqlite"), migrations: LogSchema.sqlite), sealsPersonalFields: true,
                                   logger: Logger(label: "test"), keyCacheLimit: fewKeysInMemory ? 2 : 1024)
            defer { log.close() }
            let handedOver = NIOLockedValueBox<[StoredEvent]>([])
            log.onCommit { events in handedOver.withLockedValue { $0 += events } }
            let projection = Projection(needs: Self.needs, decoder: Self.decoder, keys: log.keys)
            for step in steps {
                if case .erase(let number) = step {
                    _ = try await log.erase(subject: "case-\(number)", reason: "request of the person")
                } else if let envelope = try Self.envelope(step) {
                    _ = try await log.append([envelope])
                }
                let readBack = try await log.events(after: 0, limit: 100)
                let inMemory = handedOver.withLockedValue { $0 }
                #expect(inMemory.map(\.offset) == readBack.map(\.offset))
                for (memory, stored) in zip(inMemory, readBack) {
                    #expect(memory.decoded != nil, "event \(memory.offset) was handed over without its envelope")
                    let fromMemory = Result { try projection.apply(memory) }
                    let fromLog = Result { try projection.apply(stored) }
                    switch (fromMemory, fromLog) {
                    case (.success(let memory), .success(let stored)):
                        #expect(String(decoding: memory.json, as: UTF8.self) == String(decoding: stored.json, as: UTF8.self), "after \(step)")
                        #expect(memory.decoded?.json == stored.decoded?.json, "after \(step)")
                    case (.failure(let memory), .failure(let stored)):
                        #expect("\(memory)" == "\(stored)")
                    default:
                        Issue.record("event \(memory.offset) after \(step): from memory \(fromMemory), from the log \(fromLog)")
                    }
                }
            }
        }
    }
}
