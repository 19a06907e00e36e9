import Bus
import Foundation
import TestSupport
import Testing

extension ProcessTests {
    /// The status page of a running `wzt serve`, loaded in a real headless Chromium (Debian's
    /// `chromium`, which Scripts/setup installs): modules, latest events, a case's timeline, and
    /// no personal data on any of them.
    @Suite(.serialized, .timeLimit(.minutes(3)))
    struct StatusPageTests {
        func dom(_ url: String) async throws -> String {
            try await blocking {
                try Interop.run("chromium", ["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", url])
            }
        }

        @Test func chromiumShowsModulesEventsAndATimeline() async throws {
            let directory = TemporaryDirectory("wzt-status-page")
            let server = ServerProcess(dataDirectory: directory.file("data"))
            try server.start()
            defer { server.kill(SIGTERM) }
            let events = (1...3).map { CommandLineTests.screening.replacingOccurrences(of: "case-1", with: "case-web-\($0)") }
            // A service request for a case intake has never seen: refused, with a code and a reason.
            let unknown = #"{"type":"be.wzt.intake.service-requested","source":"/agency/vdab/intake","subject":"case-web-9","dataversion":1,"data":{"caseId":"case-web-9","requestedOn":"2026-11-24"}}"#
            _ = try await blocking { try Interop.run(try Interop.binary(), ["publish", "--endpoint", server.ingress], input: (events + [unknown]).joined(separator: "\n")) }
            // Intake has answered all four (a status change or a refusal each) before the page is loaded.
            #expect(await eventually {
                let status = try Interop.run(try Interop.binary(), ["status", "--json", "--data-dir", server.dataDirectory])
                let json = try JSONSerialization.jsonObject(with: Data(status.utf8)) as? [String: Any]
                return (json?["head"] as? Int ?? 0) >= 8 && (json?["subscriptions"] as? [[String: Any]])?.allSatisfy { $0["lag"] as? Int == 0 } == true
            })

            let page = try await dom("http://\(server.http)/")
            #expect(page.contains("<title>wzt status</title>"), "\(page.prefix(500))")
            for module in ["intake", "mandating", "networks", "ama", "gbo-onboarding", "notifications"] {
                #expect(page.contains(">\(module)</a></td><td>running</td>"), "module \(module) missing: \(page)")
            }
            #expect(page.contains("be.wzt.intake.screening-requested"))
            #expect(page.contains(#"href="/cases?subject=case-web-2""#))

            let timeline = try await dom("http://\(server.http)/cases?subject=case-web-2")
            #expect(timeline.contains("Timeline of case-web-2"), "\(timeline)")
            #expect(timeline.contains("be.wzt.intake.screening-requested") && timeline.contains("be.wzt.intake.case-status-changed"))
            #expect(!timeline.contains("case-web-1"), "another case's events on this timeline")
            #expect(page.contains("<svg") && page.contains("Events applied per second"), "the overview has no charts")
            #expect(page.contains("wzt 0.9") && page.contains(" up "), "no version and uptime")
            #expect(page.contains("<td>flanders-2022</td>") && page.contains("<td>brussels</td>"), "the rule sets are not listed")

            // The timeline gives each refusal's code and reason, and local times.
            let refusedTimeline = try await dom("http://\(server.http)/cases?subject=case-web-9")
            #expect(refusedTimeline.contains("<code>unknown-case</code>") && refusedTimeline.contains("case-web-9"), "\(refusedTimeline)")
            #expect(refusedTimeline.contains("happened (Brussels)"))

            // Events, filtered by type, by subject, by time; a moment that is not one is said so.
            let statuses = try await dom("http://\(server.http)/events?type=be.wzt.intake.case-status")
            #expect(statuses.components(separatedBy: "<td>be.wzt.intake.case-status-changed</td>").count == 4, "\(statuses)")
            #expect(!statuses.contains("<td>be.wzt.intake.screening-requested</td>"))
            let one = try await dom("http://\(server.http)/events?subject=case-web-2")
            #expect(one.contains(">case-web-2</a>") && !one.contains(">case-web-1</a>"), "\(one)")
            let future = try await dom("http://\(server.http)/events?from=2999-01-01T00%3A00")
            #expect(future.contains("No events match."), "\(future)")
            let wrong = try await dom("http://\(server.http)/events?from=yesterday")
            #expect(wrong.contains("from: yesterday is not a moment"), "\(wrong)")
            let blank = try await dom("http://\(server.http)/cases?subject=%20")
            #expect(blank.contains("Give a case or trajectory reference"), "\(blank)")
            let farBack = try await dom("http://\(server.http)/events?before=-9223372036854775808")
            #expect(farBack.contains("<h1>Events</h1>"), "\(farBack)")

            let module = try await dom("http://\(server.http)/modules/intake")
            #expect(module.contains("Module intake") && module.contains("be.wzt.intake.screening-requested"), "\(module)")
            let noModule = try await dom("http://\(server.http)/modules/nope")
            #expect(noModule.contains("no such module"))

            for text in [page, timeline, refusedTimeline, statuses, module] {
                #expect(!text.contains("85073003328"), "the INSZ is on a status page")
                #expect(!text.contains("<script"), "the page works without JavaScript")
            }
        }

        /// The console in Chromium as an operator uses it: the login form, a session cookie no
        /// script can read and no other site can send, a retry and a discard from the
        /// dead-letters page (both audited), and a log-out after which the cookie opens nothing.
        /// Screenshots go to WZT_SCREENSHOTS (docs/ when they are made for the docs).
        @Test func anOperatorLogsInRetriesADeadLetterAndLogsOut() async throws {
            let directory = TemporaryDirectory("wzt-console")
            let config = directory.file("wzt.toml"), token = "console-operator-\(UUID().uuidString)"
            try """
                [[http.users]]
                name = "otto"
                role = "operator"
                token = "\(token)"
                """.write(toFile: config, atomically: true, encoding: .utf8)
            let server = ServerProcess(dataDirectory: directory.file("data"), extraArguments: ["--config", config])
            try server.start()
            let events = (1...2).map { CommandLineTests.screening.replacingOccurrences(of: "case-1", with: "case-console-\($0)") }
            _ = try await blocking { try Interop.run(try Interop.binary(), ["publish", "--endpoint", server.ingress], input: events.joined(separator: "\n")) }
            #expect(await eventually {
                let status = try Interop.run(try Interop.binary(), ["status", "--json", "--data-dir", server.dataDirectory, "--config", config])
                let json = try JSONSerialization.jsonObject(with: Data(status.utf8)) as? [String: Any]
                return (json?["head"] as? Int ?? 0) >= 4
            })
            #expect(server.kill(SIGTERM) == 0)
            // Two requests intake gave up on, as far as the log knows.
            let log = try EventLog(path: server.dataDirectory + "/log.sqlite")
            for offset: Int64 in [1, 2] {
                let event = try #require(try await log.event(at: offset))
                try await log.recordDeadLetter(subscription: "intake", event: event, error: "intake could not apply it", attempts: 5)
            }
            log.close()
            try server.start()
            defer { server.kill(SIGTERM) }

            let shots = ProcessInfo.processInfo.environment["WZT_SCREENSHOTS"] ?? directory.path
            let output = try await blocking {
                try Interop.run(Interop.python, [Interop.scripts + "/console_browser.py", "http://\(server.http)", token, shots])
            }
            let report = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "\(output)")
            #expect(report["unauthenticated"] as? String == "/login?next=%2Fdead-letters", "\(report)")
            #expect(report["after_login"] as? String == "/dead-letters", "\(report)")
            let cookie = report["cookie"] as? [String: Any]
            #expect(cookie?["httpOnly"] as? Bool == true && cookie?["sameSite"] as? String == "Strict" && cookie?["path"] as? String == "/", "\(report)")
            #expect(report["script_sees_cookie"] as? Bool == false)
            let page = report["dead_letters_page"] as? String ?? ""
            #expect(page.contains("be.wzt.intake.screening-requested") && page.contains("intake could not apply it") && page.contains("Retry"), "\(page)")
            #expect(report["after_retry"] as? String == "/dead-letters?retried=1", "\(report)")
            let shown = report["show_page"] as? String ?? ""
            #expect(shown.contains("Dead letter 1") && shown.contains("intake could not apply it") && shown.contains("case-console-1")
                    && shown.contains("/agency/vdab/intake") && !shown.contains("85073003328"), "\(shown)")
            #expect((report["after_retry_text"] as? String)?.contains("Dead letter 1 is delivered to intake again shortly.") == true, "\(report)")
            #expect((report["status_page"] as? String)?.contains("Log out") == true)
            #expect(report["scripts_on_pages"] as? Int == 0)
            #expect(report["discard_without_form_token"] as? Int == 403 && report["discard_with_wrong_form_token"] as? Int == 403, "\(report)")
            #expect(report["old_cookie_before_logout"] as? Int == 200)
            #expect(report["login_redirects"] as? [String] == ["/", "/", "/", "/", "/events?type=be"], "\(report)")
            #expect((report["after_discard_text"] as? String)?.contains("Dead letter 2 is discarded") == true, "\(report)")
            #expect(report["after_logout"] as? String == "/login")
            #expect((report["after_logout_open"] as? String)?.hasPrefix("/login") == true)
            #expect(report["old_cookie_after_logout"] as? Int == 401, "a logged-out session's cookie still opens pages")

            let after = try EventLog(path: server.dataDirectory + "/log.sqlite")
            defer { after.close() }
            let statuses = try await after.deadLetters(status: nil).map(\.status)
            #expect(statuses.count == 2 && statuses[0] != .open && statuses[1] == .discarded, "\(statuses)")
            let audit = try Interop.run(try Interop.binary(), ["audit", "--data-dir", server.dataDirectory, "--config", config, "--actor", "otto"])
            #expect(audit.contains("POST /dead-letters/1/retry") && audit.contains("POST /dead-letters/2/discard"), "\(audit)")
        }
    }
}
