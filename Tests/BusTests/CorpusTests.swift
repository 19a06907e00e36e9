import Bus
import Foundation
import IntakeContracts
import Testing

/// Messages the ingress fuzzer (Tests/InteropTests/Python/fuzz.py) produced, kept as regression
/// cases: each file `CODE-….msg` must be refused with that nack code, and never crash the decoder.
@Suite struct CorpusTests {
    static let directory = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "Corpus").path
    static var files: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".msg") }.sorted() }
    static let decoder = EnvelopeDecoder(registry: try! ContractRegistry(IntakeContracts.all))

    @Test func corpusIsPresent() { #expect(Self.files.count >= 20, "corpus at \(Self.directory)") }

    @Test(arguments: files)
    func refusedWithItsCode(_ file: String) throws {
        let bytes = Array(try Data(contentsOf: URL(filePath: Self.directory + "/" + file)))
        let codes: [EnvelopeError.Code] = [.tooLarge, .emptyMessage, .malformedJSON, .missingAttribute, .badSpecVersion, .badID, .badAttribute,
                                           .unknownType, .unsupportedDataVersion, .invalidData]
        let code = try #require(codes.map(\.rawValue).first { file.hasPrefix($0 + "-") }, "\(file) does not start with a nack code")
        let error = #expect(throws: EnvelopeError.self) { try Self.decoder.decode(bytes) }
        #expect(error?.code.rawValue == code, "\(file): \(error.map { "\($0.code.rawValue): \($0.reason)" } ?? "accepted")")
    }
}
