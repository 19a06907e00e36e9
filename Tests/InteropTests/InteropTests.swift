import Bus
import Foundation
import TestSupport
import Testing

extension ProcessTests {
    /// End-to-end tests against a real `wzt serve` process, driven by a client nobody here wrote
    /// (pyzmq) following docs/protocol.md.
    @Suite(.serialized, .timeLimit(.minutes(5)))
    struct InteropTests {
        struct Summary: Decodable {
            let acked: [[Entry]]
            let replyMessages: Int
            let malformed: Reply
            let duplicateId: String
            let duplicate: Reply

            enum CodingKeys: String, CodingKey { case acked, replyMessages = "reply_messages", malformed, duplicateId = "duplicate_id", duplicate }
        }

        enum Entry: Decodable {
            case text(String)
            case number(Int64)
            init(from decoder: any Decoder) throws {
                let container = try decoder.singleValueContainer()
                if let number = try? container.decode(Int64.self) { self = .number(number) } else { self = .text(try container.decode(String.self)) }
            }
            var text: String? { if case .text(let value) = self { value } else { nil } }
            var number: Int64? { if case .number(let value) = self { value } else { nil } }
        }

        struct Reply: Decodable {
            let status: String
            let id: String?
            let offset: Int64?
            let duplicate: Bool?
            let code: String?
            let reason: String?
        }

        /// One reply per event, and (`group-acks`) one reply per commit.
        @Test(arguments: [false, true])
        func pyzmqPublisherGetsAcksNacksAndDuplicateOffsets(groupAcks: Bool) async throws {
            let directory = TemporaryDirectory("wzt-interop")
            let server = ServerProcess(dataDirectory: directory.file("data"))
            try server.start()
            defer { server.kill(SIGTERM) }

            let output = try await blocking {
                try Interop.run(Interop.python, [Interop.scripts + "/interop.py", server.ingress] + (groupAcks ? ["--group-acks"] : []))
            }
            let summary = try JSONDecoder().decode(Summary.self, from: Data(output.utf8))

            #expect(summary.acked.count == 1000)
            if groupAcks { #expect(summary.replyMessages < 1000) } else { #expect(summary.replyMessages == 1000) }
            #expect(summary.acked.allSatisfy { $0[2].text == "ack" })
            // Distinct offsets; the modules of the node append their own events in between.
            let offsets = summary.acked.compactMap { $0[1].number }
            #expect(offsets.count == 1000)
            #expect(Set(offsets).count == 1000)

            #expect(summary.malformed.status == "nack")
            #expect(summary.malformed.code == "malformed-json")
            #expect(summary.malformed.reason?.isEmpty == false)

            let original = try #require(summary.acked.first { $0[0].text == summary.duplicateId }?[1].number)
            #expect(summary.duplicate.status == "ack")
            #expect(summary.duplicate.offset == original)
            #expect(summary.duplicate.duplicate == true)

            // `wzt tail --from 0` replays all 1,000 (the duplicate was not stored again).
            let binary = try Interop.binary()
            let tailed = try await blocking {
                try Interop.run(binary, ["tail", "--from", "0", "--type", "be.wzt.intake.screening-requested", "--count", "1000", "--json",
                                         "--egress", server.egress, "--replay", server.replay])
            }
            let lines = tailed.split(separator: "\n")
            #expect(lines.count == 1000)
            let ids = Set(lines.compactMap { line -> String? in
                let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                return (object?["event"] as? [String: Any])?["id"] as? String
            })
            #expect(ids == Set(summary.acked.compactMap { $0[0].text }))
        }

        @Test func killedServerLosesNoAckedEventAndStoresNoneTwice() async throws {
            let directory = TemporaryDirectory("wzt-crash")
            let server = ServerProcess(dataDirectory: directory.file("data"))
            try server.start()
            let ackFile = directory.file("acked.txt")
            let count = 3000

            let publisher = Task.detached {
                try Interop.run(Interop.python, [Interop.scripts + "/crash_publisher.py", server.ingress, "\(count)", ackFile])
            }
            // Kill -9 three times while acks are flowing, restarting on the same endpoint and data.
            for kill in 1...3 {
                let threshold = kill * count / 5
                #expect(await eventually(seconds: 60) { acked(in: ackFile).count >= threshold }, "publisher stalled before kill \(kill)")
                server.kill(SIGKILL)
                try await Task.sleep(for: .milliseconds(300))
                try server.start()
            }
            _ = try await publisher.value
            #expect(server.kill(SIGTERM) == 0, "SIGTERM ends the node cleanly: \(server.serverLog.suffix(500))")

            let acks = acked(in: ackFile)
            #expect(!acks.contains { $0.hasPrefix("NACK") })
            #expect(Set(acks).count == count)

            // Each acked request is in the log once, and the intake module, killed along with the node,
            // applied each exactly once: one `requested` status per case, no more, no fewer.
            let log = try EventLog(path: server.dataDirectory + "/log.sqlite")
            let requests = try log.eventsNow(after: 0, matching: [try EventPattern("be.wzt.intake.screening-requested")], limit: 100_000)
            #expect(requests.count == count, "the log holds each event once")
            #expect(Set(requests.map(\.id)) == Set(acks))
            try server.start()
            let statusType = try EventPattern("be.wzt.intake.case-status-changed")
            #expect(await eventually(seconds: 120) { (try? log.eventsNow(after: 0, matching: [statusType], limit: 100_000).count) ?? 0 >= count })
            let statuses = try log.eventsNow(after: 0, matching: [statusType], limit: 100_000)
            #expect(statuses.count == count, "intake applied some requests twice or not at all")
            #expect(Set(statuses.compactMap(\.subject)).count == count)
            log.close()
            #expect(server.kill(SIGTERM) == 0)

            let binary = try Interop.binary()
            // Every acked id is in the log, read back by a fresh server through replay.
            try server.start()
            defer { server.kill(SIGTERM) }
            let tailed = try await blocking {
                try Interop.run(binary, ["tail", "--from", "0", "--type", "be.wzt.intake.screening-requested", "--count", "\(count)", "--json",
                                         "--egress", server.egress, "--replay", server.replay])
            }
            let stored = tailed.split(separator: "\n").compactMap { line -> String? in
                let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                return (object?["event"] as? [String: Any])?["id"] as? String
            }
            #expect(stored.count == count)
            #expect(Set(stored) == Set(acks), "acked ids missing from the log: \(Set(acks).subtracting(stored).count)")
        }
    }
}

private func acked(in file: String) -> [String] {
    ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
}
