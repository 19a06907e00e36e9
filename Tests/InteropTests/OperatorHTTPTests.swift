import Bus
import Foundation
import TestSupport
import Testing

extension ProcessTests {
    /// The HTTP side of a running `wzt serve`: liveness, readiness, and Prometheus metrics that
    /// move as events flow. Read with Python's urllib, a client written elsewhere.
    @Suite(.serialized, .timeLimit(.minutes(3)))
    struct OperatorHTTPTests {
        /// The value of one sample line, e.g. `wzt_ingress_acked_total` or `name{label="x"}`.
        func sample(_ metrics: String, _ name: String) -> Double? {
            metrics.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
        }

        /// Reads `/metrics` with the Prometheus Python client's parser: every family has its help
        /// and type, the process's figures are plausible, and the build says its version.
        func checkWithPrometheusParser(_ metrics: String) throws {
            let script = """
                import json, sys, time
                from prometheus_client.parser import text_string_to_metric_families
                families = list(text_string_to_metric_families(sys.stdin.read()))
                value = lambda name: next(s.value for f in families for s in f.samples if s.name == name)
                build = next(s for f in families for s in f.samples if s.name == "wzt_build_info")
                print(json.dumps({
                    "undocumented": [f.name for f in families if not f.documentation],
                    "untyped": [f.name for f in families if f.type == "unknown"],
                    "resident": value("process_resident_memory_bytes"), "fds": value("process_open_fds"),
                    "age": time.time() - value("process_start_time_seconds"), "cpu": value("process_cpu_seconds_total"),
                    "version": build.labels.get("version"), "build": build.value}))
                """
            let output = try Interop.run(Interop.python, ["-c", script], input: metrics)
            let report = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "\(output)")
            #expect(report["undocumented"] as? [String] == [], "\(report)")
            #expect(report["untyped"] as? [String] == [], "\(report)")
            #expect((report["resident"] as? Double ?? 0) > 1_000_000, "\(report)")
            #expect((report["fds"] as? Double ?? 0) > 3, "\(report)")
            #expect((0..<600).contains(report["age"] as? Double ?? -1), "\(report)")
            #expect((report["cpu"] as? Double ?? 0) > 0, "\(report)")
            #expect((report["version"] as? String)?.isEmpty == false, "\(report)")
            #expect(report["build"] as? Double == 1, "\(report)")
        }

        /// (status, content type, body) of one HTTP request made by Python's urllib.
        func request(_ method: String, _ url: String, body: String = "", token: String? = nil,
                     contentType: String = "application/json") async throws -> (status: Int, type: String, body: String) {
            let script = """
                import sys, urllib.request, urllib.error
                method, url, body, token, kind = sys.argv[1], sys.argv[2], sys.stdin.buffer.read(), sys.argv[3], sys.argv[4]
                request = urllib.request.Request(url, data=body if method == "POST" else None, method=method)
                request.add_header("Content-Type", kind)
                if token:
                    request.add_header("Authorization", "Bearer " + token)
                try:
                    response = urllib.request.urlopen(request, timeout=10)
                    status, kind, data = response.status, response.headers.get("Content-Type", ""), response.read()
                except urllib.error.HTTPError as error:
                    status, kind, data = error.code, error.headers.get("Content-Type", ""), error.read()
                sys.stdout.write(str(status) + "\\n" + kind + "\\n" + data.decode())
                """
            let output = try await blocking { try Interop.run(Interop.python, ["-c", script, method, url, token ?? "", contentType], input: body) }
            let parts = output.split(separator: "\n", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            return (Int(parts[0]) ?? 0, parts.count > 1 ? parts[1] : "", parts.count > 2 ? parts[2] : "")
        }

        func json(_ text: String) -> [String: Any] { (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:] }

        @Test func postEventsAcksLikeTheZeroMQIngressAndRefusesWithProblems() async throws {
            let directory = TemporaryDirectory("wzt-http-post")
            let config = directory.file("wzt.toml")
            let intakeToken = "vdab-intake-token-0123456789", amaToken = "welzijn-ama-token-0123456789"
            try """
                [[http.publishers]]
                name = "vdab-intake"
                token = "\(intakeToken)"
                events = ["be.wzt.intake.*"]

                [[http.publishers]]
                name = "welzijn-ama"
                token = "\(amaToken)"
                events = ["be.wzt.ama.*"]
                """.write(toFile: config, atomically: true, encoding: .utf8)
            let server = ServerProcess(dataDirectory: directory.file("data"), extraArguments: ["--config", config])
            try server.start()
            defer { server.kill(SIGTERM) }
            let url = "http://\(server.http)/events"
            let withoutActor = CommandLineTests.screening.replacingOccurrences(of: "{\"type\"", with: "{\"id\":\"01a20a05-6ee8-75b8-9c24-46412683eb41\",\"specversion\":\"1.0\",\"type\"")
            let event = withoutActor.replacingOccurrences(of: "{\"id\"", with: "{" + CommandLineTests.actorAttributes + "\"id\"")

            let anonymous = try await request("POST", url, body: event)
            #expect(anonymous.status == 401 && json(anonymous.body)["code"] as? String == "unauthorized", "\(anonymous)")
            #expect(anonymous.type == "application/problem+json")
            let wrongToken = try await request("POST", url, body: event, token: "not-the-token-0123456789")
            #expect(wrongToken.status == 401)

            // A valid envelope sent as text or as a form is not taken: it was once acked.
            for kind in ["text/plain", "application/x-www-form-urlencoded"] {
                let wrongType = try await request("POST", url, body: event, token: intakeToken, contentType: kind)
                #expect(wrongType.status == 415 && json(wrongType.body)["code"] as? String == "unsupported-media-type", "\(kind): \(wrongType)")
            }
            let acked = try await request("POST", url, body: event, token: intakeToken, contentType: "application/cloudevents+json; charset=utf-8")
            #expect(acked.status == 200, "\(acked)")
            #expect(json(acked.body)["status"] as? String == "ack")
            let offset = json(acked.body)["offset"] as? Int
            #expect(offset == 1)
            let again = try await request("POST", url, body: event, token: intakeToken)
            #expect(json(again.body)["offset"] as? Int == offset && json(again.body)["duplicate"] as? Bool == true, "\(again)")

            let noActor = try await request("POST", url, body: withoutActor.replacingOccurrences(of: "eb41", with: "eb40"), token: intakeToken)
            #expect(noActor.status == 400 && json(noActor.body)["code"] as? String == "missing-actor", "\(noActor)")
            #expect((json(noActor.body)["detail"] as? String)?.contains("privacy.system_publishers") == true, "\(noActor)")

            let forbidden = try await request("POST", url, body: event, token: amaToken)
            #expect(forbidden.status == 403 && json(forbidden.body)["code"] as? String == "forbidden", "\(forbidden)")

            let badINSZ = try await request("POST", url, body: event.replacingOccurrences(of: "85073003328", with: "85073003329"), token: intakeToken)
            let problem = json(badINSZ.body)
            #expect(badINSZ.status == 400 && problem["code"] as? String == "invalid-data", "\(badINSZ)")
            #expect(problem["status"] as? Int == 400 && problem["type"] as? String == "urn:wzt:problem:invalid-data")
            #expect((problem["detail"] as? String)?.contains("check digits") == true)
            #expect(!badINSZ.body.contains("85073003329"), "a problem never echoes the data")

            let malformed = try await request("POST", url, body: "{\"type\": ", token: intakeToken)
            #expect(malformed.status == 400 && json(malformed.body)["code"] as? String == "malformed-json", "\(malformed)")
            let huge = try await request("POST", url, body: String(repeating: " ", count: (1 << 20) + 10), token: intakeToken)
            #expect(huge.status == 413 && json(huge.body)["code"] as? String == "too-large", "\(huge.status) \(huge.body.prefix(300))")

            // A publisher polls for the outcome of what it may publish, not of other systems' events.
            let ackedID = try #require(json(acked.body)["id"] as? String)
            let own = try await request("GET", "http://\(server.http)/api/events/\(ackedID)/outcome", token: intakeToken)
            #expect(own.status == 200, "\(own)")
            let others = try await request("GET", "http://\(server.http)/api/events/\(ackedID)/outcome", token: amaToken)
            #expect(others.status == 403 && json(others.body)["code"] as? String == "forbidden", "\(others)")

            let metrics = try await request("GET", "http://\(server.http)/metrics")
            #expect(sample(metrics.body, "wzt_http_acked_total") == 2, "\(metrics.body)")
            #expect(sample(metrics.body, #"wzt_http_nacked_total{code="invalid-data"}"#) == 1)
        }

        @Test func healthReadinessAndMetricsFollowTheEvents() async throws {
            let directory = TemporaryDirectory("wzt-http")
            let server = ServerProcess(dataDirectory: directory.file("data"))
            try server.start()
            defer { server.kill(SIGTERM) }
            let base = "http://\(server.http)"

            let health = try await request("GET", base + "/health")
            #expect(health.status == 200 && health.body.contains("\"ok\""), "\(health)")
            #expect(await eventually { ((try? Interop.run(Interop.python, ["-c", "import urllib.request,sys; urllib.request.urlopen(sys.argv[1])", base + "/ready"])) != nil) })
            let ready = try await request("GET", base + "/ready")
            #expect(ready.status == 200 && ready.body.contains("\"ready\""), "\(ready)")

            let before = try await request("GET", base + "/metrics")
            #expect(before.status == 200)
            // Counters are there at 0 before the first event, so that a rate over them is defined.
            #expect(sample(before.body, "wzt_ingress_acked_total") == 0, "\(before.body)")
            #expect(sample(before.body, "wzt_http_acked_total") == 0, "\(before.body)")
            #expect(sample(before.body, #"wzt_dispatch_delivered_total{subscription="intake"}"#) == 0, "\(before.body)")
            #expect(sample(before.body, #"wzt_cursor_lag_events{subscription="privacy"}"#) == 0, "the erasure subscription has no lag gauge")
            for code in EnvelopeError.Code.allCases {
                #expect(sample(before.body, #"wzt_ingress_nacked_total{code="\#(code.rawValue)"}"#) == 0, "no \(code) nack counter at 0")
                #expect(sample(before.body, #"wzt_http_nacked_total{code="\#(code.rawValue)"}"#) == 0, "no \(code) HTTP nack counter at 0")
            }
            try checkWithPrometheusParser(before.body)

            // The node's AsyncAPI document names its own endpoints.
            let asyncAPI = try await request("GET", base + "/asyncapi.json")
            #expect(asyncAPI.status == 200 && json(asyncAPI.body)["asyncapi"] as? String == "3.0.0", "\(asyncAPI.status)")
            let servers = json(asyncAPI.body)["servers"] as? [String: [String: Any]]
            #expect(servers?["ingress"]?["host"] as? String == server.ingress.replacingOccurrences(of: "tcp://", with: ""), "\(servers ?? [:])")

            let good = (1...3).map { CommandLineTests.screening.replacingOccurrences(of: "case-1", with: "case-http-\($0)") }
            let bad = CommandLineTests.screening.replacingOccurrences(of: "85073003328", with: "85073003329")
            _ = try? await blocking { try Interop.run(try Interop.binary(), ["publish", "--endpoint", server.ingress], input: (good + [bad]).joined(separator: "\n")) }

            let caughtUp = await eventually(seconds: 20) {
                let metrics = (try? Interop.run(Interop.python, ["-c", "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())", base + "/metrics"])) ?? ""
                return metrics.contains(#"wzt_cursor_lag_events{subscription="intake"} 0"#) && metrics.contains(#"wzt_dispatch_delivered_total{subscription="intake"} 3"#)
            }
            let after = try await request("GET", base + "/metrics")
            #expect(caughtUp, "\(after.body)")
            #expect(sample(after.body, "wzt_ingress_acked_total") == 3, "\(after.body)")
            #expect(sample(after.body, #"wzt_ingress_nacked_total{code="invalid-data"}"#) == 1, "\(after.body)")
            #expect((sample(after.body, "wzt_log_events_appended_total") ?? 0) >= 3)
            #expect(after.body.contains("wzt_log_commit_duration_seconds_bucket"), "append latency histogram")
            #expect(after.body.contains("wzt_log_commit_batch_events"), "group-commit batch size")
            // Intake applied three screenings within the last ten seconds and has nothing left.
            #expect((sample(after.body, #"wzt_dispatch_apply_rate_events_per_second{subscription="intake"}"#) ?? 0) > 0, "\(after.body)")
            #expect(sample(after.body, #"wzt_dispatch_behind_seconds{subscription="intake"}"#) == 0, "\(after.body)")
            let status = try Interop.run(try Interop.binary(), ["status", "--json", "--data-dir", server.dataDirectory])
            let intake = ((try JSONSerialization.jsonObject(with: Data(status.utf8)) as? [String: Any])?["subscriptions"] as? [[String: Any]])?
                .first { $0["subscription"] as? String == "intake" }
            #expect((intake?["appliedPerSecond"] as? Double ?? 0) > 0 && intake?["secondsBehind"] as? Double == 0, "\(status)")

            let missing = try await request("GET", base + "/nothing-here")
            #expect(missing.status == 404)
        }

        /// With the log in PostgreSQL, readiness asks the log's database: while it refuses
        /// connections the node is not ready (and says why to an operator), and it is ready again
        /// once the database answers. The node goes on running throughout.
        @Test func readinessAsksTheDatabaseOfTheLog() async throws {
            let directory = TemporaryDirectory("wzt-http-ready")
            let database = try TestPostgres.freshDatabase()
            let name = try #require(database.split(separator: "/").last.map(String.init))
            let config = directory.file("wzt.toml")
            try "[storage]\nlog = \"\(database)\"\n".write(toFile: config, atomically: true, encoding: .utf8)
            let server = ServerProcess(dataDirectory: directory.file("data"), extraArguments: ["--config", config])
            try server.start()
            defer { server.kill(SIGTERM) }
            let readiness = "http://\(server.http)/ready"
            /// `/ready` once it answers `status`, or after 10 s.
            func ready(becoming status: Int) async throws -> (status: Int, type: String, body: String) {
                var answer = try await request("GET", readiness)
                for _ in 0..<40 where answer.status != status {
                    try await Task.sleep(for: .milliseconds(250))
                    answer = try await request("GET", readiness)
                }
                return answer
            }
            let before = try await ready(becoming: 200)
            #expect(before.status == 200, "\(before)")

            try TestPostgres.execute("ALTER DATABASE \(name) ALLOW_CONNECTIONS false")
            // The log's connections end, but not the one holding the node's lock on the log: a
            // node that loses that one stops (docs/operations.md).
            try TestPostgres.execute("""
                SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(name)'
                AND pid NOT IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory')
                """)
            let cut = try await request("GET", readiness)
            #expect(cut.status == 503, "\(cut)")
            let problems = json(cut.body)["problems"] as? [String] ?? []
            #expect(problems.contains { $0.hasPrefix("the event log's database does not answer") }, "\(cut.body)")

            try TestPostgres.execute("ALTER DATABASE \(name) ALLOW_CONNECTIONS true")
            let back = try await ready(becoming: 200)
            #expect(back.status == 200 && json(back.body)["problems"] as? [String] == [], "\(back)")
            #expect(server.isRunning, "\(server.serverLog.suffix(2_000))")
        }

        /// An ack says stored; the outcome says what the modules made of the event: polled over
        /// HTTP, followed by `wzt publish --outcome`, and read from the live feed by the pyzmq
        /// example of docs/protocol.md, run as the document prints it.
        @Test func theOutcomeOfAnEventComesAfterItsAck() async throws {
            let directory = TemporaryDirectory("wzt-outcome")
            let server = ServerProcess(dataDirectory: directory.file("data"))
            try server.start()
            defer { server.kill(SIGTERM) }
            let binary = try Interop.binary()

            let accepted = CommandLineTests.screening.replacingOccurrences(of: "case-1", with: "case-outcome-1")
            let published = try await blocking {
                try Interop.run(binary, ["publish", "--endpoint", server.ingress, "--outcome", "--http", server.http], input: accepted)
            }
            #expect(published.contains("caused") && published.contains("be.wzt.intake.case-status-changed"), "\(published)")
            #expect(published.contains("applied") && published.contains("intake"), "\(published)")

            // Advice for a case nobody asked a screening for: stored, then refused by intake.
            let advice = #"{"type":"be.wzt.intake.screening-advised","source":"/agency/vdab/intake","subject":"case-nobody","dataversion":1,"data":{"caseId":"case-nobody","advice":"NEC","advisedOn":"2026-11-24"}}"#
            let refused = await #expect(throws: InteropFailure.self) {
                try await blocking { try Interop.run(binary, ["publish", "--endpoint", server.ingress, "--outcome", "--http", server.http], input: advice) }
            }
            #expect(refused?.description.contains("exited 4") == true, "\(refused?.description ?? "")")
            #expect(refused?.description.contains("unknown-case") == true, "\(refused?.description ?? "")")

            let ackID = try #require(published.split(separator: " ").dropFirst().first.map(String.init))
            let outcome = try await request("GET", "http://\(server.http)/api/events/\(ackID)/outcome")
            #expect(outcome.status == 200, "\(outcome)")
            #expect(json(outcome.body)["complete"] as? Bool == true, "\(outcome)")
            #expect((json(outcome.body)["modules"] as? [[String: Any]])?.first?["state"] as? String == "applied", "\(outcome)")
            let unknown = try await request("GET", "http://\(server.http)/api/events/\(UUID().uuidString)/outcome")
            #expect(unknown.status == 404 && json(unknown.body)["code"] as? String == "not-found", "\(unknown)")
            let notAnID = try await request("GET", "http://\(server.http)/api/events/nope/outcome")
            #expect(notAnID.status == 400, "\(notAnID)")

            // The document's example, with this node's ports and a case of its own.
            let protocolDoc = try String(contentsOfFile: Interop.root + "/docs/protocol.md", encoding: .utf8)
            let section = try #require(protocolDoc.components(separatedBy: "**Follow the live feed**").dropFirst().first)
            let block = try #require(section.components(separatedBy: "```python\n").dropFirst().first?.components(separatedBy: "```").first)
            let example = block.split(separator: "\n", omittingEmptySubsequences: false).map { $0.dropFirst(3) }.joined(separator: "\n")
                .replacingOccurrences(of: "tcp://127.0.0.1:5555", with: server.ingress)
                .replacingOccurrences(of: "tcp://127.0.0.1:5556", with: server.egress)
            let printed = try await blocking { try Interop.run(Interop.python, ["-c", example]) }
            #expect(printed.contains("'status': 'ack'") && printed.contains("caused: be.wzt.intake.case-status-changed"), "\(printed)")
        }

        /// `wzt publish` and `wzt tail` find the node through its configuration file, as the other
        /// commands do; a node that does not answer is exit status 3 for both.
        @Test func publishAndTailReadTheNodeFromItsConfig() async throws {
            let directory = TemporaryDirectory("wzt-client-config")
            let server = ServerProcess(dataDirectory: directory.file("data"))
            try server.start()
            defer { server.kill(SIGTERM) }
            let config = directory.file("wzt.toml")
            try """
                [ingress]
                endpoint = "\(server.ingress.replacingOccurrences(of: "127.0.0.1", with: "0.0.0.0"))"
                [egress]
                endpoint = "\(server.egress)"
                [replay]
                endpoint = "\(server.replay)"
                [http]
                endpoint = "\(server.http)"
                """.write(toFile: config, atomically: true, encoding: .utf8)
            let binary = try Interop.binary()
            let event = CommandLineTests.screening.replacingOccurrences(of: "case-1", with: "case-config-1")
            let published = try await blocking { try Interop.run(binary, ["publish", "--config", config, "--outcome"], input: event) }
            #expect(published.hasPrefix("ack ") && published.contains("applied"), "\(published)")
            let tailed = try await blocking { try Interop.run(binary, ["tail", "--config", config, "--from", "1", "--count", "1", "--json"]) }
            #expect(tailed.contains("case-config-1"), "\(tailed)")

            server.kill(SIGTERM)
            for command in [["publish", "--config", config, "--timeout-ms", "200", "--retries", "0"], ["tail", "--config", config, "--from", "1"]] {
                let failure = await #expect(throws: InteropFailure.self) { try await blocking { try Interop.run(binary, command, input: event) } }
                #expect(failure?.description.contains("exited 3") == true, "\(command): \(failure?.description ?? "")")
            }
        }
    }
}
