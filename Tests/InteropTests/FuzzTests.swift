import Foundation
import TestSupport
import Testing

extension ProcessTests {
    /// 100,000 malformed messages from Tests/InteropTests/Python/fuzz.py against a running node while
    /// valid events flow beside them: one reply each, a documented nack code for every refusal,
    /// every valid event acked, and the node still serving afterwards.
    @Suite(.serialized, .timeLimit(.minutes(8)))
    struct FuzzTests {
        @Test func malformedFloodNeitherCrashesTheNodeNorDisturbsValidTraffic() async throws {
            let directory = TemporaryDirectory("wzt-fuzz")
            let server = ServerProcess(dataDirectory: directory.file("data"))
            try server.start()
            defer { server.kill(SIGTERM) }
            let count = Int(ProcessInfo.processInfo.environment["WZT_FUZZ_COUNT"] ?? "") ?? 100_000
            let output = try await blocking {
                try Interop.run(Interop.python, [Interop.scripts + "/fuzz.py", server.ingress, String(count), "20261123"])
            }
            let summary = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "\(output)")
            #expect(summary["sent"] as? Int == count)
            #expect(summary["replies"] as? Int == count)
            #expect((summary["problems"] as? [Any])?.isEmpty == true, "\(output)")
            let nacks = try #require(summary["nacks"] as? [String: Int])
            // Every kind of refusal the generator aims at came back under its own code.
            for code in ["malformed-json", "too-large", "extra-frames", "empty-message", "bad-attribute", "unsupported-dataversion", "invalid-data"] {
                #expect((nacks[code] ?? 0) > 0, "no \(code) among \(nacks)")
            }
            let validSent = try #require(summary["validSent"] as? Int)
            #expect(validSent > 0)
            #expect(summary["validAcked"] as? Int == validSent, "\(output)")

            let after = try await blocking {
                try Interop.run(try Interop.binary(), ["publish", "--endpoint", server.ingress], input: CommandLineTests.screening)
            }
            #expect(after.hasPrefix("ack "), "the node no longer answers after the flood: \(server.serverLog.suffix(2000))")
        }
    }
}
