import Foundation
import TestSupport
import Testing

extension ProcessTests {
    /// Two core nodes while their PostgreSQL primary dies as by a power cut and its streaming
    /// replica is promoted behind the same address (Tests/InteropTests/Python/pg_failover.py).
    @Suite(.serialized, .timeLimit(.minutes(5)))
    struct PostgresFailoverTests {
        /// With a synchronous replica every acked event is on the new primary, and the nodes ack
        /// again without a restart.
        @Test func aSynchronousReplicaKeepsEveryAckedEvent() async throws {
            let summary = try await failover("sync")
            #expect(summary["lost"] as? Int == 0, "\(summary)")
        }

        /// With an asynchronous one the nodes recover the same way; what the replica had not
        /// received is lost although acked (counted, not required to be 0: on loopback it is
        /// usually nothing).
        @Test func anAsynchronousReplicaRecoversToo() async throws {
            let summary = try await failover("async")
            #expect((summary["lost"] as? Int).map { $0 >= 0 } == true, "\(summary)")
        }

        func failover(_ mode: String) async throws -> [String: Any] {
            let directory = TemporaryDirectory("wzt-pg-failover")
            let binary = try Interop.binary()
            let output = try await blocking {
                try Interop.run(Interop.python, [Interop.scripts + "/pg_failover.py", binary, directory.file("work"), "--mode", mode,
                                                 "--nodes", "2", "--publishers", "2", "--events", "600"])
            }
            let summary = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "\(output)")
            #expect(summary["acked"] as? Int == 1200, "every event acked in the end: \(output)")
            #expect((summary["ackedBeforeFailover"] as? Int ?? 0) > 0 && (summary["recoverySeconds"] as? Double) != nil, "\(output)")
            #expect((summary["problems"] as? [String])?.isEmpty == true, "\(output)")
            return summary
        }
    }
}
