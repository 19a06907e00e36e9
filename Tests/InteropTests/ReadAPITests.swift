import Foundation
import TestSupport
import Testing

extension ProcessTests {
    /// Caseworkers read their agency's cases over `GET /api`, operators the health pages, each
    /// nothing else; every read of personal data, and every refusal, is in the audit log.
    @Suite(.serialized, .timeLimit(.minutes(3)))
    struct ReadAPITests {
        let http = OperatorHTTPTests()
        static let tokens = (an: "an-vdab-gent-token-0123456789", olivia: "olivia-ocmw-token-0123456789", otto: "otto-operator-token-0123456789",
                             bert: "bert-begeleider-token-0123456789", nora: "nora-network-token-0123456789")

        /// The first steps of the full flanders-2022 trajectory scenario (mandate, network, case up to
        /// its first meeting), moved in time so that the case started weeks ago and its limit is ahead.
        static func recentTrajectory() throws -> [String] {
            let scenario = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(filePath: Interop.root + "/Tests/Scenarios/intake-full-trajectory-flanders-2022.json"))) as! [String: Any]
            let steps = (scenario["steps"] as! [[String: Any]]).compactMap { $0["publish"] as? [String: Any] }
            let last = steps.firstIndex { $0["type"] as? String == "be.wzt.intake.first-meeting-held" }!
            let calendar = Calendar(identifier: .gregorian)
            let format = Date.ISO8601FormatStyle().year().month().day()
            let scenarioStart = try format.parse(scenario["start"] as! String)
            let shift = calendar.dateComponents([.day], from: scenarioStart, to: calendar.date(byAdding: .day, value: -120, to: Date())!).day!
            return try steps[...last].map { step in
                let json = String(decoding: try JSONSerialization.data(withJSONObject: step.merging(["dataversion": 1, "source": "/test/read-api", "actor": "an", "actorrole": "caseworker",
                                                                                         "actoragency": "vdab-gent", "purpose": "activation-trajectory"]) { $1 }), as: UTF8.self)
                return json.replacing(/\d{4}-\d{2}-\d{2}/) { match in
                    (try? format.parse(String(match.output))).map { format.format(calendar.date(byAdding: .day, value: shift, to: $0)!) } ?? String(match.output)
                }
            }
        }

        func get(_ server: ServerProcess, _ path: String, _ token: String? = nil) async throws -> (status: Int, type: String, body: String, json: [String: Any]) {
            let reply = try await http.request("GET", "http://\(server.http)\(path)", token: token)
            return (reply.status, reply.type, reply.body, http.json(reply.body))
        }

        @Test func caseworkersReadTheirAgencysDocumentsOperatorsTheHealthAndEveryReadIsAudited() async throws {
            let directory = TemporaryDirectory("wzt-read-api")
            let config = directory.file("wzt.toml"), data = directory.file("data")
            let tokens = Self.tokens
            try """
                [http.agencies]
                vdab-gent = ["org-vdab-gent", "VDAB Gent"]
                ocmw-aalst = ["ocmw-aalst"]
                begeleiders = ["beg-1-d1"]
                netwerk-aalst = ["org-coord-d1"]

                [[http.users]]
                name = "an"
                role = "caseworker"
                agency = "vdab-gent"
                token = "\(tokens.an)"

                [[http.users]]
                name = "olivia"
                role = "caseworker"
                agency = "ocmw-aalst"
                token = "\(tokens.olivia)"

                [[http.users]]
                name = "bert"
                role = "caseworker"
                agency = "begeleiders"
                token = "\(tokens.bert)"

                [[http.users]]
                name = "nora"
                role = "caseworker"
                agency = "netwerk-aalst"
                token = "\(tokens.nora)"

                [[http.users]]
                name = "otto"
                role = "operator"
                token_env = "WZT_TEST_OPERATOR_TOKEN"
                """.write(toFile: config, atomically: true, encoding: .utf8)
            let server = ServerProcess(dataDirectory: data, extraArguments: ["--config", config], environment: ["WZT_TEST_OPERATOR_TOKEN": tokens.otto])
            try server.start()
            defer { server.kill(SIGTERM) }

            let wzt = try Interop.binary()
            let metricsScript = """
                import urllib.request, sys
                request = urllib.request.Request(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]})
                sys.stdout.write(urllib.request.urlopen(request).read().decode())
                """
            func caughtUp(_ modules: [String]) async -> Bool {
                await eventually(seconds: 30) {
                    let metrics = (try? Interop.run(Interop.python, ["-c", metricsScript, "http://\(server.http)/metrics", tokens.otto])) ?? ""
                    return modules.allSatisfy { metrics.contains(#"wzt_cursor_lag_events{subscription="\#($0)"} 0"#) }
                }
            }
            // The mandate first: intake refers to a casemanager Zorg only once it has seen the mandate active.
            let trajectory = try Self.recentTrajectory()
            let firstIntake = trajectory.firstIndex { $0.contains("be.wzt.intake.") }!
            _ = try await blocking { try Interop.run(wzt, ["publish", "--endpoint", server.ingress], input: trajectory[..<firstIntake].joined(separator: "\n")) }
            let mandateActive = await eventually(seconds: 30) {
                let reply = try? Interop.run(Interop.python, ["-c", metricsScript, "http://\(server.http)/api/mandating/mandates/app-swv", tokens.an])
                return reply?.contains("be.wzt.mandating.mandate-status-changed") == true
            }
            #expect(mandateActive)
            #expect(await caughtUp(["intake", "mandating"]))
            _ = try await blocking { try Interop.run(wzt, ["publish", "--endpoint", server.ingress], input: trajectory[firstIntake...].joined(separator: "\n")) }
            _ = try await blocking {
                try Interop.run(Interop.python, [Interop.root + "/Scripts/demo.py", server.ingress, wzt, data, "--replicas", "1",
                                                 "--scenario", "ama-agreement-and-amendment", "--scenario", "networks-referral-waitlisted-then-accepted"])
            }
            let waiting = #"{"type":"be.wzt.networks.referral-requested","source":"/test/read-api","subject":"case-4-d1","dataversion":1,"data":{"referralId":"ref-4-d1","networkId":"net-aalst-d1","caseId":"case-4-d1","referredOn":"2024-07-01"}}"#
            _ = try await blocking { try Interop.run(wzt, ["publish", "--endpoint", server.ingress], input: waiting) }
            #expect(await caughtUp(["intake", "mandating", "networks", "ama"]))

            // A trajectory: for the VDAB office and casemanagers' agencies, with its deadline ahead and its events.
            let trajectory1 = try await get(server, "/api/intake/trajectories/case-1", tokens.an)
            #expect(trajectory1.status == 200, "\(trajectory1.body)")
            let document = trajectory1.json["document"] as? [String: Any] ?? [:]
            #expect(document["status"] as? String == "started" && document["insz"] as? String == "85073003328", "\(document)")
            #expect((document["casemanagerWerk"] as? [String: Any])?["organisationId"] as? String == "org-vdab-gent")
            #expect((document["steps"] as? [[String: Any]])?.map { $0["step"] as? String } .contains("first-meeting") == true, "\(document)")
            let deadlines = trajectory1.json["deadlines"] as? [[String: Any]] ?? []
            let limit = deadlines.first { $0["publishes"] as? String == "be.wzt.intake.trajectory-limit-reached" }
            let due = (limit?["dueAt"] as? String).flatMap { try? Date($0, strategy: .iso8601) }
            #expect(due.map { $0 > Date() && $0.timeIntervalSince(Date()) < 18 * 31 * 86_400 } == true, "the 18-month limit is ahead: \(deadlines)")
            let timeline = trajectory1.json["timeline"] as? [[String: Any]] ?? []
            #expect(timeline.first?["type"] as? String == "be.wzt.intake.screening-requested" && timeline.first?["source"] as? String == "/test/read-api", "\(timeline)")
            #expect(timeline.contains { $0["type"] as? String == "be.wzt.intake.case-status-changed" && $0["source"] as? String == "/wzt/intake" })

            let otherAgency = try await get(server, "/api/intake/trajectories/case-1", tokens.olivia)
            // Another agency's case looks like one that does not exist: ids cannot be probed.
            #expect(otherAgency.status == 404 && otherAgency.json["code"] as? String == "not-found" && otherAgency.type == "application/problem+json", "\(otherAgency)")
            #expect(!otherAgency.body.contains("85073003328"))
            let anonymous = try await get(server, "/api/intake/trajectories/case-1")
            #expect(anonymous.status == 401 && anonymous.json["code"] as? String == "unauthorized")
            let wrongToken = try await get(server, "/api/intake/trajectories/case-1", "not-a-token-of-anyone-0123")
            #expect(wrongToken.status == 401)
            let operatorReadsCase = try await get(server, "/api/intake/trajectories/case-1", tokens.otto)
            #expect(operatorReadsCase.status == 403 && operatorReadsCase.json["code"] as? String == "forbidden", "operators see health, not cases")

            let badID = try await get(server, "/api/intake/trajectories/" + String(repeating: "x", count: 200), tokens.an)
            #expect(badID.status == 400 && badID.json["code"] as? String == "invalid-id", "\(badID)")
            let unknownCase = try await get(server, "/api/intake/trajectories/case-404", tokens.an)
            #expect(unknownCase.status == 404 && unknownCase.json["code"] as? String == "not-found")
            #expect((unknownCase.json["detail"] as? String)?.replacingOccurrences(of: "case-404", with: "case-1").replacingOccurrences(of: "user an", with: "user olivia")
                    == otherAgency.json["detail"] as? String, "the same answer: \(unknownCase.body) \(otherAgency.body)")
            let unknownView = try await get(server, "/api/intake/plans/case-1", tokens.an)
            #expect(unknownView.status == 404 && (unknownView.json["detail"] as? String)?.contains("intake/trajectories") == true, "\(unknownView)")
            let list = try await get(server, "/api", tokens.olivia)
            #expect((list.json["views"] as? [String])?.contains("/api/ama/agreements/{id}") == true, "\(list.body)")

            // A mandate concerns an organisation: every caseworker reads it, and it is not a personal-data read.
            let mandate = try await get(server, "/api/mandating/mandates/app-swv", tokens.olivia)
            let mandateDocument = mandate.json["document"] as? [String: Any] ?? [:]
            #expect(mandate.status == 200 && mandateDocument["status"] as? String == "active", "\(mandate.body)")
            #expect((mandateDocument["history"] as? [[String: Any]])?.last?["status"] as? String == "active")

            // An AMA agreement with its amendment history, for the begeleider's agency.
            let agreement = try await get(server, "/api/ama/agreements/agr-1-d1", tokens.bert)
            let versions = (agreement.json["document"] as? [String: Any])?["versions"] as? [[String: Any]] ?? []
            #expect(agreement.status == 200 && versions.count == 2, "\(agreement.body)")
            #expect(versions.last.map { ($0["confirmations"] as? [Any])?.count == 3 } == true)
            #expect(try await get(server, "/api/ama/agreements/agr-1-d1", tokens.an).status == 404)

            // A network's capacity and waitlist, for its coordinator's agency.
            let network = try await get(server, "/api/networks/networks/net-aalst-d1", tokens.nora)
            let networkDocument = network.json["document"] as? [String: Any] ?? [:]
            #expect(network.status == 200 && networkDocument["capacity"] as? Int == 2 && networkDocument["placesFree"] as? Int == 0, "\(network.body)")
            #expect((networkDocument["waitlist"] as? [[String: Any]])?.map { $0["caseId"] as? String } == ["case-4-d1"], "\(network.body)")

            // Health details are for operators only.
            #expect(try await get(server, "/metrics").status == 401)
            #expect(try await get(server, "/metrics", tokens.an).status == 403)
            #expect(try await get(server, "/metrics", tokens.otto).status == 200)
            #expect(try await get(server, "/", tokens.an).status == 403)
            #expect(try await get(server, "/", tokens.otto).status == 200)
            let probe = try await get(server, "/ready")
            #expect(probe.status == 200 && probe.json["status"] as? String == "ready" && probe.json["problems"] == nil, "\(probe.body)")
            #expect(try await get(server, "/health").status == 200)

            // The audit log: who read case-1, and who was refused; mandates are not in it.
            let audit = try await blocking { try Interop.run(wzt, ["audit", "--subject", "case-1", "--only", "reads", "--json", "--data-dir", data]) }
            let entries = audit.split(separator: "\n").map { http.json(String($0)) }
            #expect(entries.map { "\($0["actor"] ?? "") \($0["outcome"] ?? "")" } == ["an allowed", "olivia refused", "otto refused"], "\(audit)")
            #expect(entries.first?["purpose"] as? String == "activation-trajectory" && entries.first?["agency"] as? String == "vdab-gent")
            // And who changed it: the events about case-1, the caseworker's and those intake published because of them.
            let changes = try await blocking { try Interop.run(wzt, ["audit", "--subject", "case-1", "--only", "changes", "--json", "--data-dir", data]) }
                .split(separator: "\n").map { http.json(String($0)) }
            #expect(changes.contains { $0["type"] as? String == "be.wzt.intake.screening-requested" }, "\(changes)")
            #expect(changes.contains { $0["type"] as? String == "be.wzt.intake.case-status-changed" }, "\(changes)")
            #expect(changes.allSatisfy { $0["kind"] as? String == "change" && $0["actor"] as? String == "an" && $0["agency"] as? String == "vdab-gent"
                && $0["purpose"] as? String == "activation-trajectory" }, "\(changes)")
            let mandateReads = try await blocking { try Interop.run(wzt, ["audit", "--subject", "app-swv", "--only", "reads", "--data-dir", data]) }
            #expect(mandateReads.contains("no audit entries"), "\(mandateReads)")
            // Refusals are traced on every view, and for ids that do not exist.
            let probes = try await blocking { try Interop.run(wzt, ["audit", "--subject", "case-404", "--only", "reads", "--json", "--data-dir", data]) }
            #expect(probes.contains("\"refused\"") && probes.contains("\"an\""), "\(probes)")
            let byBert = try await blocking { try Interop.run(wzt, ["audit", "--actor", "bert", "--data-dir", data]) }
            #expect(byBert.contains("GET /api/ama/agreements/agr-1-d1") && byBert.contains("purpose ama-agreement"), "\(byBert)")
        }
    }
}
