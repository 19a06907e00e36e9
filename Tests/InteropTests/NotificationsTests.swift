import Foundation
import TestSupport
import Testing

extension ProcessTests {
    /// Notifications from a running `wzt serve` to a real webhook receiver and a real SMTP server
    /// (aiosmtpd), both in Python: what arrives, its signature, and that it carries nothing personal.
    @Suite(.serialized, .timeLimit(.minutes(3)))
    struct NotificationsTests {
        static let participantName = "Marie Vandenbroucke"
        static let insz = "85073003328"
        static let secret = "s3cret-for-tests"

        /// With the modules' tables and the event log in SQLite, and with the log, AMA's and
        /// notifications' tables in PostgreSQL (`[storage]`), which the node and the command-line
        /// tools beside it both read.
        @Test(arguments: ["sqlite", "postgres"])
        func agencyHearsOfAnAgreementAwaitingConfirmationWithoutPersonalData(storage: String) async throws {
            let directory = TemporaryDirectory("wzt-notifications")
            let sinks = try await Sinks.start(output: directory.file("received.jsonl"), secret: Self.secret)
            defer { sinks.stop() }
            let config = directory.file("wzt.toml")
            let storageSection = storage == "sqlite" ? "" : """
                [storage]
                log = "\(try TestPostgres.freshDatabase())"
                ama = "\(try TestPostgres.freshDatabase())"
                notifications = "\(try TestPostgres.freshDatabase())"

                """
            try """
                \(storageSection)[notifications]
                max_attempts = 3
                first_retry_ms = 100
                timeout_ms = 2000

                [[notifications.webhook]]
                name = "welzijn-hook"
                url = "http://127.0.0.1:\(sinks.httpPort)/wzt"
                secret = "\(Self.secret)"
                events = ["be.wzt.ama.*"]
                link = "https://wzt.welzijn.example/agreements/{reference}"

                [[notifications.webhook]]
                name = "down-hook"
                url = "http://127.0.0.1:\(sinks.httpPort)/broken"
                secret = "other"
                events = ["be.wzt.ama.agreement-status-changed"]

                [[notifications.webhook]]
                name = "flaky-hook"
                url = "http://127.0.0.1:\(sinks.httpPort)/flaky"
                secret = "\(Self.secret)"
                events = ["be.wzt.ama.agreement-status-changed"]

                [[notifications.email]]
                name = "welzijn-mail"
                smtp = "127.0.0.1:\(sinks.smtpPort)"
                from = "wzt@welzijn.example"
                to = ["ama-team@welzijn.example"]
                events = ["be.wzt.ama.agreement-status-changed"]
                """.write(toFile: config, atomically: true, encoding: .utf8)
            let dataDirectory = directory.file("data")
            let server = ServerProcess(dataDirectory: dataDirectory, extraArguments: ["--config", config])
            try server.start()
            defer { server.kill(SIGTERM) }

            let scan = directory.file("scan.pdf")
            try Data("%PDF-1.4\n% signed agreement\n%%EOF\n".utf8).write(to: URL(filePath: scan))
            let reference = try await blocking { try Interop.run(try Interop.binary(), ["ama", "attach", scan, "--config", config, "--data-dir", dataDirectory]) }
            let attachment = reference.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(attachment.contains("\"mediaType\":\"application\\/pdf\"") || attachment.contains("\"mediaType\":\"application/pdf\""), "\(attachment)")

            let events = [
                #"{"type":"be.wzt.ama.begeleider-recognised","source":"/agency/zorg","subject":"beg-9","dataversion":1,"data":{"begeleiderId":"beg-9","facilityType":"dagcentrum","recognitionNumber":"AMA-2026-009","liabilityInsurance":true,"staff":3,"recognisedOn":"2026-01-05"}}"#,
                #"{"type":"be.wzt.ama.agreement-submitted","source":"/agency/beg-9","subject":"agr-n1","dataversion":1,"data":{"agreementId":"agr-n1","participantId":"participant-n1","region":"flanders","birthDate":"1985-07-30","accessRoute":{"kind":"niet-toeleidbaar"},"concurrentSupports":[],"begeleiderId":"beg-9","werkpostId":"wp-n1","werkpostName":"Kringwinkel Leuven","annex":{"schedule":"ma-wo 9u-13u","hoursPerDay":4,"tasks":["kassa"],"locations":["Leuven"],"supervisorName":"Els Maes","startOn":"2026-12-01"},"filing":{"facilityType":"dagcentrum","recognitionNumber":"AMA-2026-009","participantName":"\#(Self.participantName)","insz":"\#(Self.insz)","attachment":\#(attachment),"contactEmail":"ama@beg-9.example","dimonaReference":"DIMONA-n1"}}}"#,
            ]
            _ = try await blocking { try Interop.run(try Interop.binary(), ["publish", "--endpoint", server.ingress], input: events.joined(separator: "\n")) }

            let arrived = await eventually(seconds: 20) {
                let items = sinks.received()
                return items.filter { $0["kind"] as? String == "webhook" }.count == 2 && items.contains { $0["kind"] as? String == "email" }
                    && items.filter { $0["kind"] as? String == "refused" }.count == 5
            }
            let items = sinks.received()
            #expect(arrived, "received: \(items)\n\(server.serverLog.suffix(3000))")

            // One notice, the agreement awaiting confirmation, for each working hook; the flaky one on its third attempt.
            let hooks = items.filter { $0["kind"] as? String == "webhook" }
            #expect(hooks.map { $0["path"] as? String } .sorted { ($0 ?? "") < ($1 ?? "") } == ["/flaky", "/wzt"], "\(hooks)")
            let hook = try #require(hooks.first { $0["path"] as? String == "/wzt" })
            #expect(hook["signatureValid"] as? Bool == true)
            let body = try #require(hook["body"] as? String)
            let json = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
            #expect(json["reference"] as? String == "agr-n1")
            #expect(json["type"] as? String == "be.wzt.ama.agreement-status-changed")
            #expect((json["what"] as? String)?.contains("awaits confirmation") == true, "\(body)")
            #expect(json["look"] as? String == "https://wzt.welzijn.example/agreements/agr-n1")
            #expect(Set(json.keys) == ["notification", "event", "type", "module", "reference", "what", "look", "created"], "\(json.keys)")

            let mail = try #require(items.first { $0["kind"] as? String == "email" })
            let message = try #require(mail["message"] as? String)
            #expect(mail["to"] as? [String] == ["ama-team@welzijn.example"])
            #expect(message.contains("Subject: wzt ama: agr-n1"), "\(message)")
            #expect(message.contains("Reference: agr-n1"))

            for text in [body, message] {
                for personal in [Self.insz, "850730", Self.participantName, "Vandenbroucke", "1985-07-30", "DIMONA-n1", "Els Maes"] {
                    #expect(!text.contains(personal), "a notification carries \(personal): \(text)")
                }
            }

            // The receiver that is down got its three attempts; the operator sees the notification as failed.
            let failed = await eventually(seconds: 10) {
                ((try? Interop.run(try Interop.binary(), ["notifications", "failed", "--config", config, "--data-dir", dataDirectory])) ?? "").contains("down-hook")
            }
            let listing = try await blocking { try Interop.run(try Interop.binary(), ["notifications", "failed", "--config", config, "--data-dir", dataDirectory]) }
            #expect(failed, "\(listing)")
            #expect(listing.contains("HTTP 503"), "\(listing)")
            #expect(!listing.contains("welzijn-hook") && !listing.contains("flaky-hook"), "\(listing)")
            let all = try await blocking { try Interop.run(try Interop.binary(), ["notifications", "list", "--config", config, "--data-dir", dataDirectory]) }
            #expect(all.split(separator: "\n").contains { $0.contains("delivered") && $0.contains("flaky-hook") && $0.contains("attempts 3") }, "\(all)")
        }
    }
}

/// The Python webhook receiver and SMTP sink (Tests/InteropTests/Python/sinks.py).
final class Sinks: @unchecked Sendable {
    let process: Process
    let input: Pipe
    let output: String
    let httpPort: Int
    let smtpPort: Int

    private init(process: Process, input: Pipe, output: String, httpPort: Int, smtpPort: Int) {
        self.process = process
        self.input = input
        self.output = output
        self.httpPort = httpPort
        self.smtpPort = smtpPort
    }

    static func start(output: String, secret: String) async throws -> Sinks {
        try await blocking {
            let process = Process()
            process.executableURL = URL(filePath: "/usr/bin/env")
            process.arguments = [Interop.python, Interop.scripts + "/sinks.py", output, secret]
            let input = Pipe(), stdout = Pipe()
            process.standardInput = input
            process.standardOutput = stdout
            try process.run()
            var line = Data()
            while true {
                let byte = stdout.fileHandleForReading.readData(ofLength: 1)
                if byte.isEmpty || byte == Data("\n".utf8) { break }
                line.append(byte)
            }
            let words = String(decoding: line, as: UTF8.self).split(separator: " ")
            guard words.count == 3, words[0] == "ready", let http = Int(words[1]), let smtp = Int(words[2]) else {
                process.terminate()
                throw InteropFailure("the webhook and SMTP sinks did not start (is aiosmtpd installed? Scripts/setup installs it): \(String(decoding: line, as: UTF8.self))")
            }
            return Sinks(process: process, input: input, output: output, httpPort: http, smtpPort: smtp)
        }
    }

    /// Everything received so far, one dictionary per request or mail.
    func received() -> [[String: Any]] {
        guard let text = try? String(contentsOfFile: output, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    func stop() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}
