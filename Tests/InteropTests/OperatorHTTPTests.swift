import Foundation
import TestSupport
import Testing

extension ProcessTests {
    /// The HTTP side of a running `wzt serve`: liveness, readiness, and Prometheus metrics that
    /// move as events flow. Read with Python's urllib, a client written elsewhere.
    @Suite(.serialized, .timeLimit(.minutes(3)))
    struct OperatorHTTPTests {
        func get(_ url: String) async throws -> (status: Int, body: String) {
            let script = """
                import sys, urllib.request, urllib.error
                try:
                    response = urllib.request.urlopen(sys.argv[1], timeout=10)
                    status, body = response.status, response.read()
                except urllib.error.HTTPError as error:
                    status, body = error.code, error.read()
                sys.stdout.write(str(status) + "\\n" + body.decode())
                """
            let output = try await blocking { try Interop.run(Interop.python, ["-c", script, url]) }
            let parts = output.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
            return (Int(parts[0]) ?? 0, parts.count > 1 ? String(parts[1]) : "")
        }

        /// The value of one sample line, e.g. `wzt_ingress_acked_total` or `name{label="x"}`.
        func sample(_ metrics: String, _ name: String) -> Double? {
            metrics.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
        }

        @Test func healthReadinessAndMetricsFollowTheEvents() async throws {
            let directory = TemporaryDirectory("wzt-http")
            let server = ServerProcess(dataDirectory: directory.file("data"))
            try server.start()
            defer { server.kill(SIGTERM) }
            let base = "http://\(server.http)"

            let health = try await get(base + "/health")
            #expect(health.status == 200 && health.body.contains("\"ok\""), "\(health)")
            #expect(await eventually { ((try? Interop.run(Interop.python, ["-c", "import urllib.request,sys; urllib.request.urlopen(sys.argv[1])", base + "/ready"])) != nil) })
            let ready = try await get(base + "/ready")
            #expect(ready.status == 200 && ready.body.contains("\"ready\""), "\(ready)")

            let before = try await get(base + "/metrics")
            #expect(before.status == 200)
            #expect((sample(before.body, "wzt_ingress_acked_total") ?? 0) == 0)

            let good = (1...3).map { CommandLineTests.screening.replacingOccurrences(of: "case-1", with: "case-http-\($0)") }
            let bad = CommandLineTests.screening.replacingOccurrences(of: "85073003328", with: "85073003329")
            _ = try? await blocking { try Interop.run(try Interop.binary(), ["publish", "--endpoint", server.ingress], input: (good + [bad]).joined(separator: "\n")) }

            let caughtUp = await eventually(seconds: 20) {
                let metrics = (try? Interop.run(Interop.python, ["-c", "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())", base + "/metrics"])) ?? ""
                return metrics.contains(#"wzt_cursor_lag_events{subscription="intake"} 0"#) && metrics.contains(#"wzt_dispatch_delivered_total{subscription="intake"} 3"#)
            }
            let after = try await get(base + "/metrics")
            #expect(caughtUp, "\(after.body)")
            #expect(sample(after.body, "wzt_ingress_acked_total") == 3, "\(after.body)")
            #expect(sample(after.body, #"wzt_ingress_nacked_total{code="invalid-data"}"#) == 1, "\(after.body)")
            #expect((sample(after.body, "wzt_log_events_appended_total") ?? 0) >= 3)
            #expect(after.body.contains("wzt_log_commit_duration_seconds_bucket"), "append latency histogram")
            #expect(after.body.contains("wzt_log_commit_batch_events"), "group-commit batch size")

            let missing = try await get(base + "/nothing-here")
            #expect(missing.status == 404)
        }
    }
}
