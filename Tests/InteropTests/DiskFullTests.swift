import Foundation
import TestSupport
import Testing

extension ProcessTests {
    /// The node's data directory on a small tmpfs that fills up: appends are nacked with the cause,
    /// nothing acked is lost, modules do not dead-letter for it, and service resumes with space.
    /// Mounting needs root (Scripts/setup and CI run as root); without it the test fails and says so.
    @Suite(.serialized, .timeLimit(.minutes(5)))
    struct DiskFullTests {
        @Test func fullDiskNacksWithTheCauseAndServiceResumesWhenSpaceReturns() async throws {
            let directory = TemporaryDirectory("wzt-diskfull")
            let mountPoint = directory.file("mnt")
            try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
            do {
                _ = try await blocking { try Interop.run("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mountPoint]) }
            } catch {
                Issue.record("this test mounts a 4 MB tmpfs for the data directory and needs root for it: \(error)")
                return
            }
            defer { _ = try? Interop.run("umount", ["-l", mountPoint]) }
            let dataDirectory = mountPoint + "/data"
            let ids = directory.file("acked.txt")
            let script = Interop.scripts + "/disk_full.py"
            let server = ServerProcess(dataDirectory: dataDirectory)
            try server.start()
            defer { server.kill(SIGTERM) }

            let filled = try await summary(try await blocking { try Interop.run(Interop.python, [script, "fill", server.ingress, ids]) })
            let nacks = try #require(filled["nacks"] as? [String: Int])
            #expect((filled["acked"] as? Int ?? 0) > 0)
            #expect((nacks["storage-failed"] ?? 0) >= 50, "\(filled)")
            #expect((filled["reasons"] as? [String])?.first?.contains("the disk is full") == true, "\(filled)")

            _ = try await blocking { try Interop.run("mount", ["-o", "remount,size=64m", mountPoint]) }
            let resumed = try await summary(try await blocking { try Interop.run(Interop.python, [script, "publish", server.ingress, ids, "500"]) })
            #expect(resumed["acked"] as? Int == 500, "after space returned: \(resumed)")

            // Every module catches up without dead letters: the full disk was waited out, not blamed on events.
            let caughtUp = await eventually(seconds: 60) {
                let status = try Interop.run(try Interop.binary(), ["status", "--json", "--data-dir", dataDirectory])
                guard let json = try JSONSerialization.jsonObject(with: Data(status.utf8)) as? [String: Any],
                      let subscriptions = json["subscriptions"] as? [[String: Any]] else { return false }
                return subscriptions.allSatisfy { ($0["lag"] as? Int) == 0 } && (json["openDeadLetters"] as? Int) == 0
            }
            let status = try await blocking { try Interop.run(try Interop.binary(), ["status", "--data-dir", dataDirectory]) }
            #expect(caughtUp, "\(status)\n\(server.serverLog.suffix(2000))")

            server.kill(SIGTERM)
            let verified = try await summary(try await blocking { try Interop.run(Interop.python, [script, "verify", dataDirectory + "/log.sqlite", ids]) })
            print("disk full: acked \(verified["acked"] ?? 0), found \(verified["found"] ?? 0), duplicates \(verified["duplicates"] ?? 0), lost \(verified["lost"] ?? 0)")
            #expect(verified["lost"] as? Int == 0, "\(verified)")
            #expect(verified["duplicates"] as? Int == 0, "\(verified)")
            #expect(verified["found"] as? Int == verified["acked"] as? Int)
        }

        private func summary(_ output: String) async throws -> [String: Any] {
            try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "\(output)")
        }
    }
}
