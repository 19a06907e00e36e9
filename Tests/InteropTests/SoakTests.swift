import Foundation
import TestSupport
import Testing

extension ProcessTests {
    /// The short version of Scripts/soak: two pyzmq publishers while the node is killed four times
    /// and stopped once with SIGTERM; nothing acked lost, nothing applied twice, no cursor ahead of
    /// its module's state, no dead letters.
    @Suite(.serialized, .timeLimit(.minutes(5)))
    struct SoakTests {
        @Test func repeatedKillsLoseNothingAndApplyNothingTwice() async throws {
            let directory = TemporaryDirectory("wzt-soak")
            let binary = try Interop.binary()
            let output = try await blocking {
                try Interop.run(Interop.python, [Interop.scripts + "/soak.py", binary, directory.file("data"), "--kills", "4", "--sigterms", "1",
                                                 "--publishers", "2", "--events", "1000"])
            }
            let summary = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "\(output)")
            #expect(summary["acked"] as? Int == 2000, "\(output)")
            #expect(summary["found"] as? Int == 2000)
            for zero in ["lost", "nacked", "duplicatesApplied", "notApplied", "cursorAheadOfState", "deadLetters"] {
                #expect(summary[zero] as? Int == 0, "\(zero): \(output)")
            }
            #expect((summary["problems"] as? [String])?.isEmpty == true, "\(output)")
        }
    }
}
