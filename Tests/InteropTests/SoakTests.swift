import Foundation
import TestSupport
import Testing

extension ProcessTests {
    /// The short version of Scripts/soak: two pyzmq publishers while the node is killed four times
    /// and stopped once with SIGTERM (and, in the second test, a remote intake process is killed and
    /// stopped); nothing acked lost, nothing applied twice, no cursor ahead of its module's state,
    /// no dead letters.
    @Suite(.serialized, .timeLimit(.minutes(5)))
    struct SoakTests {
        @Test func repeatedKillsLoseNothingAndApplyNothingTwice() async throws {
            try await soak([])
        }

        /// The same with intake in a process of its own that is killed too, and stopped for longer
        /// than the link's heartbeat.
        @Test func killsAndStopsOfARemoteModuleLoseNothingEither() async throws {
            let summary = try await soak(["--remote-intake", "--module-kills", "4", "--module-stops", "1"])
            #expect(summary["moduleKills"] as? Int == 4 && summary["moduleStops"] as? Int == 1)
        }

        @discardableResult
        func soak(_ extra: [String]) async throws -> [String: Any] {
            let directory = TemporaryDirectory("wzt-soak")
            let binary = try Interop.binary()
            let output = try await blocking {
                try Interop.run(Interop.python, [Interop.scripts + "/soak.py", binary, directory.file("data"), "--kills", "4", "--sigterms", "1",
                                                 "--publishers", "2", "--events", "1000"] + extra)
            }
            let summary = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "\(output)")
            #expect(summary["acked"] as? Int == 2000, "\(output)")
            #expect(summary["found"] as? Int == 2000)
            for zero in ["lost", "nacked", "duplicatesApplied", "notApplied", "cursorAheadOfState", "deadLetters"] {
                #expect(summary[zero] as? Int == 0, "\(zero): \(output)")
            }
            #expect((summary["problems"] as? [String])?.isEmpty == true, "\(output)")
            return summary
        }
    }
}
