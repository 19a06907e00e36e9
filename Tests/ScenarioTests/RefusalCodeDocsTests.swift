import AMAContracts
import Bus
import Foundation
import GBOOnboardingContracts
import IntakeContracts
import MandatingContracts
import NetworksContracts
import Testing

/// docs/modules.md lists each vocabulary of refusal codes; the enums in the contracts are the
/// truth, and the two must not drift apart.
struct RefusalCodeDocsTests {
    static let documented: [String: [String]] = {
        let path = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "../../docs/modules.md").standardized.path
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        var lists: [String: [String]] = [:]
        for line in text.split(separator: "\n") where line.contains("codes (`") {
            guard let open = line.range(of: "(`"), let close = line.range(of: "`):", range: open.upperBound..<line.endIndex) else { continue }
            let name = String(line[open.upperBound..<close.lowerBound])
            lists[name] = line[close.upperBound...].split(separator: "`").enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }
        }
        return lists
    }()

    static let vocabularies: [(String, [String])] = [
        ("IntakeRefused.Code", IntakeRefused.Code.allCases.map(\.rawValue)),
        ("MandatingRefused.Code", MandatingRefused.Code.allCases.map(\.rawValue)),
        ("NetworksRefused.Code", NetworksRefused.Code.allCases.map(\.rawValue)),
        ("ReferralOutcome.RejectionCode", ReferralOutcome.RejectionCode.allCases.map(\.rawValue)),
        ("GBORefused.Code", GBORefused.Code.allCases.map(\.rawValue)),
        ("AMARefused.Code", AMARefused.Code.allCases.map(\.rawValue)),
    ]

    @Test(arguments: vocabularies.map(\.0))
    func docsListEveryCodeOfTheEnumAndNoOther(_ name: String) throws {
        let codes = try #require(Self.vocabularies.first { $0.0 == name }).1
        let listed = try #require(Self.documented[name], "docs/modules.md has no line `… codes (`\(name)`): …`")
        #expect(listed == codes, "docs/modules.md lists \(listed) for \(name); the enum has \(codes)")
    }

    /// The nack codes: docs/protocol.md's table lists each code the node can send, and no other;
    /// `EnvelopeError.Code.allCases` holds every code EnvelopeError.swift declares.
    @Test func protocolListsEveryNackCodeAndNoOther() throws {
        let root = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "../..").standardized.path
        let protocolText = try String(contentsOfFile: root + "/docs/protocol.md", encoding: .utf8)
        let table = protocolText.split(separator: "\n").drop { !$0.hasPrefix("| code | meaning | resend? |") }.dropFirst(2).prefix { $0.hasPrefix("| `") }
        let listed = table.map { String($0.dropFirst(3).prefix { $0 != "`" }) }
        #expect(listed.sorted() == EnvelopeError.Code.allCases.map(\.rawValue).sorted() && Set(listed).count == listed.count, "docs/protocol.md lists \(listed)")
        let source = try String(contentsOfFile: root + "/Sources/BusCore/EnvelopeError.swift", encoding: .utf8)
        let declared = source.components(separatedBy: "public static let ").dropFirst().filter { $0.contains("= Code(") }.count
        #expect(declared == EnvelopeError.Code.allCases.count, "EnvelopeError.Code.allCases misses a code that EnvelopeError.swift declares")
    }
}
