import Foundation
import TestSupport
import Testing

extension ProcessTests {
    /// The short version of Scripts/ha: two core nodes on one PostgreSQL log, two pyzmq publishers
    /// (one per node), the node that runs intake killed with SIGKILL three times and stopped with
    /// SIGSTOP past its lease once, while the scenarios with past deadlines play on the first node.
    /// Nothing acked lost, nothing applied or fired twice (on two nodes), no cursor ahead of its
    /// module's state, no dead letters, and intake taken over every time.
    @Suite(.serialized, .timeLimit(.minutes(5)))
    struct ClusterTests {
        @Test func killingTheNodeThatRunsAModuleLosesNothingAndAppliesNothingTwice() async throws {
            let output = try await ha(["--kills", "3", "--events", "500"])
            try expectNothingLostOrAppliedTwice(output, acked: 1000)
        }

        /// The same with intake in a module process of its own that lists both nodes' links: the
        /// node that holds intake's lease feeds it, the module process is killed once as well, and
        /// the checks are the same.
        @Test func aModuleProcessListingBothNodesIsFedByWhicheverRunsItAndAppliesEachEventOnce() async throws {
            let output = try await ha(["--kills", "2", "--events", "300", "--remote", "--module-kills", "1"])
            try expectNothingLostOrAppliedTwice(output, acked: 600)
        }

        /// ha.py with two nodes, two publishers, one SIGSTOP, a 1 s lease and the timed scenarios once, and `arguments`.
        private func ha(_ arguments: [String]) async throws -> String {
            let directory = TemporaryDirectory("wzt-ha")
            let (binary, postgres) = (try Interop.binary(), try TestPostgres.url())
            return try await blocking {
                try Interop.run(Interop.python, [Interop.scripts + "/ha.py", binary, directory.file("work"), postgres, "--nodes", "2", "--stops", "1",
                                                 "--publishers", "2", "--lease-ms", "1000", "--scenarios", "1"] + arguments)
            }
        }

        private func expectNothingLostOrAppliedTwice(_ output: String, acked: Int) throws {
            let summary = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "\(output)")
            #expect(summary["acked"] as? Int == acked, "\(output)")
            #expect(summary["found"] as? Int == acked)
            for zero in ["lost", "nacked", "duplicatesApplied", "notApplied", "twins", "cursorAheadOfState", "deadLetters"] {
                #expect(summary[zero] as? Int == 0, "\(zero): \(output)")
            }
            #expect((summary["problems"] as? [String])?.isEmpty == true, "\(output)")
            // The scenarios' deadlines fired meanwhile, each once (no twins above).
            #expect((summary["scenarioEvents"] as? Int ?? 0) > 0 && (summary["timersFired"] as? Int ?? 0) > 0, "\(output)")
            // Every takeover within the lease and a little: the lease is 1 s here.
            let takeovers = try #require(summary["takeoverSeconds"] as? [String: Any])
            #expect((takeovers["max"] as? Double ?? 99) < 5, "\(output)")
        }
    }
}
