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
            _ = try await blocking { try Interop.run(try Interop.binary(), ["publish", "--endpoint", server.ingress], input: events.joined(separator: "\n")) }
            // Intake has answered all three (a status change each) before the page is loaded.
            #expect(await eventually {
                let status = try Interop.run(try Interop.binary(), ["status", "--json", "--data-dir", server.dataDirectory])
                let json = try JSONSerialization.jsonObject(with: Data(status.utf8)) as? [String: Any]
                return (json?["head"] as? Int ?? 0) >= 6 && (json?["subscriptions"] as? [[String: Any]])?.allSatisfy { $0["lag"] as? Int == 0 } == true
            })

            let page = try await dom("http://\(server.http)/")
            #expect(page.contains("<title>wzt status</title>"), "\(page.prefix(500))")
            for module in ["intake", "mandating", "networks", "ama", "gbo-onboarding", "notifications"] {
                #expect(page.contains("<td>\(module)</td><td>running</td>"), "module \(module) missing: \(page)")
            }
            #expect(page.contains("be.wzt.intake.screening-requested"))
            #expect(page.contains(#"href="/cases?subject=case-web-2""#))

            let timeline = try await dom("http://\(server.http)/cases?subject=case-web-2")
            #expect(timeline.contains("Timeline of case-web-2"), "\(timeline)")
            #expect(timeline.contains("be.wzt.intake.screening-requested") && timeline.contains("be.wzt.intake.case-status-changed"))
            #expect(!timeline.contains("case-web-1"), "another case's events on this timeline")
            for text in [page, timeline] {
                #expect(!text.contains("85073003328"), "the INSZ is on a status page")
                #expect(!text.contains("<script"), "the page works without JavaScript")
            }
        }
    }
}
