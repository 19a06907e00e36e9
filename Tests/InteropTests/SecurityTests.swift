import Foundation
import TestSupport
import Testing

extension ProcessTests {
    /// CURVE on every socket with a ZAP handler: listed keys get in under their name and may
    /// publish their types; unknown keys and plain text do not get in at all. Clients: pyzmq
    /// (written elsewhere) and wzt's own CLI. A node that would listen beyond this host in plain
    /// text does not start.
    @Suite(.serialized, .timeLimit(.minutes(3)))
    struct SecurityTests {
        static let screening = CommandLineTests.screening.replacingOccurrences(of: "{\"type\"", with: "{\"id\":\"01a20a05-6ee8-75b8-9c24-46412683eb42\",\"specversion\":\"1.0\",\"type\"")
        /// The same request, saying who made it and why, with an id of its own.
        static let screeningWithActor = screening
            .replacingOccurrences(of: "eb42", with: "eb44")
            .replacingOccurrences(of: "{\"id\"", with: "{" + CommandLineTests.actorAttributes + "\"id\"")
        static let recognition = #"{"id":"01a20a05-6ee8-75b8-9c24-46412683eb43","specversion":"1.0","type":"be.wzt.ama.begeleider-recognised","source":"/test/curve","subject":"beg-9","dataversion":1,"data":{"begeleiderId":"beg-9","facilityType":"dagcentrum","recognitionNumber":"AMA-1","liabilityInsurance":true,"staff":2,"recognisedOn":"2026-01-05"}}"#

        /// `expectingReplies`: wait as long as a busy machine may take to answer; else briefly,
        /// where silence is what the test expects.
        func python(_ arguments: [String], input: String? = nil, expectingReplies: Bool = false) async throws -> String {
            let environment = expectingReplies ? ["REPLY_TIMEOUT_MS": String(replyTimeoutMilliseconds)] : [:]
            return try await blocking {
                try Interop.run(Interop.python, [Interop.scripts + "/curve_client.py"] + arguments, environment: environment, input: input)
            }
        }

        func wzt(_ arguments: [String], input: String? = nil) async throws -> String {
            try await blocking { try Interop.run(try Interop.binary(), arguments, input: input) }
        }

        @Test func listedKeysPublishTheirTypesOthersDoNotGetIn() async throws {
            let directory = TemporaryDirectory("wzt-curve")
            let keys = directory.file("keys")
            let generated = try await wzt(["keys", "generate", "--out", keys, "--name", "core"])
            #expect(generated.contains("core.key") && generated.contains("core.pub"), "\(generated)")
            let mode = try FileManager.default.attributesOfItem(atPath: keys + "/core.key")[.posixPermissions] as? Int
            #expect(mode == 0o600)
            let serverKey = try String(contentsOfFile: keys + "/core.pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(serverKey.count == 40)
            await #expect(throws: (any Error).self, "a key is never overwritten") { try await wzt(["keys", "generate", "--out", keys, "--name", "core"]) }
            _ = try await wzt(["keys", "generate", "--out", keys, "--name", "cli"])

            let allowed = try await python(["--keypair"]).split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            let stranger = try await python(["--keypair"]).split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            let config = directory.file("wzt.toml")
            try """
                [security]
                secret_key_file = "\(keys)/core.key"

                [[security.keys]]
                name = "vdab-intake"
                public_key = "\(allowed[0])"
                events = ["be.wzt.intake.*"]

                [[security.keys]]
                name = "operator-cli"
                public_key_file = "\(keys)/cli.pub"
                events = ["be.wzt.intake.*"]

                [privacy]
                system_publishers = ["operator-cli"]
                """.write(toFile: config, atomically: true, encoding: .utf8)
            let server = ServerProcess(dataDirectory: directory.file("data"), extraArguments: ["--config", config])
            try server.start()
            defer { server.kill(SIGTERM) }

            let replies = try await python([server.ingress, serverKey, allowed[0], allowed[1]],
                                           input: [Self.screening, Self.screeningWithActor, Self.recognition].joined(separator: "\n") + "\n",
                                           expectingReplies: true)
                .split(separator: "\n").map(String.init)
            #expect(replies.count == 3, "\(replies)")
            #expect(replies.first?.contains(#""code":"missing-actor""#) == true && replies.first?.contains("vdab-intake") == true, "\(replies)")
            #expect(replies.dropFirst().first?.contains(#""status":"ack""#) == true, "\(replies)")
            #expect(replies.last?.contains(#""code":"forbidden""#) == true && replies.last?.contains("vdab-intake") == true, "\(replies)")

            let unknownKey = try await python([server.ingress, serverKey, stranger[0], stranger[1]], input: Self.screening + "\n")
            #expect(unknownKey.trimmingCharacters(in: .whitespacesAndNewlines) == "timeout", "an unknown key is refused at the handshake: \(unknownKey)")
            let plain = try await python([server.ingress], input: Self.screening + "\n")
            #expect(plain.trimmingCharacters(in: .whitespacesAndNewlines) == "timeout", "plain text does not reach a CURVE socket: \(plain)")

            // wzt's own CLI as a CURVE client, a system publisher here: publish over the ingress, read back through replay and the live feed.
            let second = CommandLineTests.screening.replacingOccurrences(of: "case-1", with: "case-2")
            let curve = ["--key", keys + "/cli.key", "--server-key", keys + "/core.pub"]
            let published = try await wzt(["publish", "--endpoint", server.ingress] + curve, input: second)
            #expect(published.contains("ack"), "\(published)")
            let tailed = try await wzt(["tail", "--from", "1", "--count", "2", "--json", "--type", "be.wzt.intake.screening-requested", "--egress", server.egress, "--replay", server.replay] + curve)
            #expect(tailed.split(separator: "\n").count == 2 && tailed.contains("case-2"), "\(tailed)")
            // Reading the log is reading personal data: the node audits it under the reader's key name.
            let tailReads = try await wzt(["audit", "--actor", "operator-cli", "--only", "reads", "--json", "--data-dir", directory.file("data")])
            #expect(tailReads.contains(#""subject":"case-2""#) && tailReads.contains(#""role":"bus-reader""#) && tailReads.contains("replay offsets"), "\(tailReads)")
            await #expect(throws: (any Error).self, "the CLI without keys does not get in") {
                try await wzt(["publish", "--endpoint", server.ingress, "--timeout-ms", "300", "--retries", "0"], input: second)
            }

            let log = server.serverLog
            #expect(log.contains("unknown CURVE key") && log.contains(stranger[0]), "refusals are logged with the key")
            #expect(!log.contains("85073003328"), "never a payload in the log")
        }

        @Test func aNodeDoesNotListenBeyondThisHostInPlainTextOrWithAnExposedSecret() async throws {
            let directory = TemporaryDirectory("wzt-exposed")
            let port = Interop.freePort()
            let refused = await #expect(throws: (any Error).self) {
                try await wzt(["serve", "--data-dir", directory.file("data"), "--ingress", "tcp://0.0.0.0:\(port)", "--http", "off"])
            }
            let message = "\(refused.map { "\($0)" } ?? "")"
            #expect(message.contains("ingress.endpoint") && message.contains("listens beyond this host in plain text") && message.contains("wzt keys generate"), "\(message)")

            _ = try await wzt(["keys", "generate", "--out", directory.file("keys")])
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: directory.file("keys/core.key"))
            try "[security]\nsecret_key_file = \"\(directory.file("keys/core.key"))\"\n".write(toFile: directory.file("wzt.toml"), atomically: true, encoding: .utf8)
            let exposedSecret = await #expect(throws: (any Error).self) { try await wzt(["check-config", "--config", directory.file("wzt.toml")]) }
            #expect("\(exposedSecret.map { "\($0)" } ?? "")".contains("chmod 600"))
        }
    }
}
