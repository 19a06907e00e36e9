import Foundation
import OperatorHTTP
import Testing

/// docs/operations.md lists the metrics `/metrics` shows, no more and no fewer.
struct MetricDocsTests {
    @Test func operationsListsEveryMetricAndNoOther() throws {
        let path = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "../../docs/operations.md").standardized.path
        let docs = try String(contentsOfFile: path, encoding: .utf8)
        let section = try #require(docs.components(separatedBy: "## Health and metrics (HTTP)").dropFirst().first?.components(separatedBy: "\n## ").first)
        let named = Set(section.matches(of: /`((?:wzt|process)_[a-z_]+)(?:\{[a-z_,]*\})?`/).map { String($0.output.1) })
        let catalogue = Set(MetricCatalogue.all.map(\.name))
        #expect(catalogue.subtracting(named).isEmpty, "not in docs/operations.md: \(catalogue.subtracting(named).sorted())")
        #expect(named.subtracting(catalogue).isEmpty, "in docs/operations.md but not on /metrics: \(named.subtracting(catalogue).sorted())")
    }
}
