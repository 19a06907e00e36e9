import Foundation
import OperatorHTTP
import TestSupport
import Testing

/// Config/grafana-dashboard.json asks Prometheus only for metrics a node shows, shows each, and
/// its queries are PromQL as Prometheus's own parser reads it (`promtool check rules`).
struct DashboardTests {
    @Test func theDashboardUsesEveryMetricAndNoOther() throws {
        let path = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "../../Config/grafana-dashboard.json").standardized.path
        let dashboard = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(filePath: path))) as? [String: Any])
        let panels = try #require(dashboard["panels"] as? [[String: Any]])
        let expressions = panels.flatMap { ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String } }
        #expect(expressions.count >= panels.count, "a panel without a query")
        // A histogram's series carry its family's name with _bucket, _sum or _count.
        let used = Set(expressions.flatMap { expression in
            expression.matches(of: /\b((?:wzt|process)_[a-z_]+)/).map { String($0.output.1).replacing(/_(bucket|sum|count)$/, with: "") }
        })
        let shown = Set(MetricCatalogue.all.map(\.name))
        #expect(used.subtracting(shown).isEmpty, "the dashboard asks for metrics no node shows: \(used.subtracting(shown).sorted())")
        #expect(shown.subtracting(used).isEmpty, "metrics the dashboard leaves out: \(shown.subtracting(used).sorted())")
        try checkWithPromtool(expressions)
        for panel in panels {
            let datasource = panel["datasource"] as? [String: Any]
            #expect(datasource?["uid"] as? String == "${datasource}", "panel \(panel["title"] ?? "") does not use the dashboard's Prometheus")
        }
    }

    /// Each query as a recording rule, which promtool parses.
    func checkWithPromtool(_ expressions: [String]) throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "wzt-dashboard-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // A JSON string is a YAML double-quoted scalar, once `/` is left unescaped.
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        let rules = try expressions.enumerated().map { index, expression in
            "  - record: wzt:dashboard:\(index)\n    expr: " + String(decoding: try encoder.encode(expression), as: UTF8.self)
        }
        try ("groups:\n- name: dashboard\n  rules:\n" + rules.joined(separator: "\n") + "\n").write(toFile: directory + "/rules.yml", atomically: true, encoding: .utf8)
        let (status, said) = try runTool(["promtool", "check", "rules", directory + "/rules.yml"])
        #expect(status == 0, "promtool (Scripts/setup installs it with Debian's prometheus) refuses a query: \(said)")
    }
}
