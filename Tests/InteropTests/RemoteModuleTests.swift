import Foundation
import TestSupport
import Testing

extension ProcessTests {
    /// A module in a process of its own, joined to the core over the module link: it gets exactly
    /// the events it subscribes to, through restarts and kills of either side, and a stopped module
    /// neither slows the core's own modules nor makes the core hold its events in memory.
    @Suite(.serialized, .timeLimit(.minutes(4)))
    struct RemoteModuleTests {
        struct Deployment {
            let directory = TemporaryDirectory("wzt-remote")
            let link = "tcp://127.0.0.1:\(Interop.freePort())"
            var core: ServerProcess
            var vdab: ServerProcess

            init() throws {
                let coreConfig = directory.file("core.toml"), vdabConfig = directory.file("vdab.toml")
                try "[modules]\nremote = [\"intake\"]\n\n[link]\nendpoint = \"\(link)\"\n".write(toFile: coreConfig, atomically: true, encoding: .utf8)
                try "[modules]\nenabled = [\"intake\"]\n\n[core]\nendpoint = \"\(link)\"\n".write(toFile: vdabConfig, atomically: true, encoding: .utf8)
                core = ServerProcess(dataDirectory: directory.file("core"), extraArguments: ["--config", coreConfig])
                vdab = ServerProcess(dataDirectory: directory.file("vdab"), extraArguments: ["--config", vdabConfig])
            }

            func screenings(_ range: ClosedRange<Int>) -> String {
                range.map { CommandLineTests.screening.replacingOccurrences(of: "case-1", with: "case-r\($0)") }.joined(separator: "\n")
            }

            func publish(_ lines: String) async throws {
                _ = try await blocking { try Interop.run(try Interop.binary(), ["publish", "--quiet", "--endpoint", core.ingress], input: lines) }
            }

            /// The intake cases the remote module holds, and how many events its inbox recorded.
            func moduleState() throws -> (cases: Int, inbox: Int) {
                let output = try Interop.run(Interop.python, ["-c", """
                        import sqlite3, sys
                        db = sqlite3.connect(sys.argv[1])
                        print(db.execute("SELECT COUNT(*) FROM intake_case").fetchone()[0], db.execute("SELECT COUNT(*) FROM wzt_inbox").fetchone()[0])
                        """, directory.file("vdab") + "/modules/intake.sqlite"])
                let numbers = output.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
                return (numbers.first ?? -1, numbers.last ?? -1)
            }

            /// The core's view: each subscription's lag, and the log's events of one type.
            func status() throws -> [String: Any] {
                let output = try Interop.run(try Interop.binary(), ["status", "--json", "--data-dir", directory.file("core")])
                return (try? JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]) ?? [:]
            }

            func lag(_ subscription: String) throws -> Int {
                let subscriptions = try status()["subscriptions"] as? [[String: Any]] ?? []
                return subscriptions.first { $0["subscription"] as? String == subscription }?["lag"] as? Int ?? -1
            }

            /// The case-status-changed events in the core's log: all of them, and the cases they are about.
            func statusChanges() throws -> (events: Int, cases: Int) {
                let output = try Interop.run(Interop.python, ["-c", """
                        import sqlite3, sys
                        db = sqlite3.connect(sys.argv[1])
                        print(*db.execute("SELECT COUNT(*), COUNT(DISTINCT subject) FROM events WHERE type = 'be.wzt.intake.case-status-changed'").fetchone())
                        """, directory.file("core") + "/log.sqlite"])
                let numbers = output.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
                return (numbers.first ?? -1, numbers.last ?? -1)
            }
        }

        @Test func receivesExactlyItsEventsThroughKillsAndRestartsOfEitherSide() async throws {
            let deployment = try Deployment()
            try deployment.core.start()
            defer { deployment.core.kill(SIGTERM) }
            try deployment.vdab.start()
            defer { deployment.vdab.kill(SIGTERM) }

            try await deployment.publish(deployment.screenings(1...50))
            #expect(await eventually(seconds: 30) { (try? deployment.moduleState().cases) == 50 })

            // The module process dies mid-stream and comes back: delivery resumes from its cursor.
            let publishing = Task { try await deployment.publish(deployment.screenings(51...400)) }
            try await Task.sleep(for: .milliseconds(300))
            deployment.vdab.kill(SIGKILL)
            try await publishing.value
            try deployment.vdab.start()
            #expect(await eventually(seconds: 60) { (try? deployment.moduleState().cases) == 400 }, "\((try? deployment.moduleState()).map { "\($0)" } ?? "")")

            // The core dies and comes back: the module links again and gets what was published since.
            deployment.core.kill(SIGKILL)
            try deployment.core.start()
            try await deployment.publish(deployment.screenings(401...450))
            #expect(await eventually(seconds: 30) { (try? deployment.moduleState().cases) == 450 })
            #expect(await eventually(seconds: 30) { (try? deployment.lag("intake")) == 0 })

            let state = try await blocking { try deployment.moduleState() }
            #expect(state == (450, 450), "each screening applied once: \(state)")
            let changes = try await blocking { try deployment.statusChanges() }
            #expect(changes == (450, 450), "one case-status-changed per case in the core's log, none twice: \(changes)")
            #expect(try await blocking { try deployment.status()["openDeadLetters"] as? Int } == 0)
        }

        @Test func aStoppedModuleDoesNotSlowTheCoreNorFillItsMemory() async throws {
            let deployment = try Deployment()
            try deployment.core.start()
            defer { deployment.core.kill(SIGTERM) }
            try deployment.vdab.start()
            defer {
                if let pid = deployment.vdab.pid { Foundation.kill(pid, SIGCONT) }
                deployment.vdab.kill(SIGTERM)
            }
            try await deployment.publish(deployment.screenings(1...20))
            #expect(await eventually(seconds: 30) { (try? deployment.moduleState().cases) == 20 })
            let rssBefore = residentKilobytes(deployment.core.pid)

            // Longer than the link's silence (3 s): the core declares the module gone and keeps its events in the log.
            Foundation.kill(deployment.vdab.pid!, SIGSTOP)
            let calls = (1...1000).map { number in
                #"{"type":"be.wzt.mandating.call-opened","source":"/test/remote","subject":"call-\#(number)","dataversion":1,"data":{"callId":"call-\#(number)","region":"flanders","werkingsgebied":"Gent","opensOn":"2026-01-01","closesOn":"2026-03-31"}}"#
            }
            try await deployment.publish((calls + [deployment.screenings(21...3000)]).joined(separator: "\n"))
            #expect(await eventually(seconds: 30) { (try? deployment.lag("mandating")) == 0 }, "the core's own modules keep up")
            let lagging = try await blocking { try deployment.lag("intake") }
            #expect(lagging >= 2900, "the stopped module's events wait in the log: lag \(lagging)")
            let rssStopped = residentKilobytes(deployment.core.pid)
            // The core holds one window (1,024 events) in flight per remote module, whatever the
            // lag: 3,000 events of ~450 B would be 1.3 MB; allow for SQLite's page cache and allocator noise.
            #expect(rssStopped - rssBefore < 24_000, "core RSS grew \(rssStopped - rssBefore) kB while the module lagged \(lagging) events")

            let core = deployment.core
            #expect(await eventually(seconds: 10) { core.serverLog.contains("module link lost") }, "the silence is noticed within the link's 3 s")

            Foundation.kill(deployment.vdab.pid!, SIGCONT)
            #expect(await eventually(seconds: 90) { (try? deployment.moduleState().cases) == 3000 }, "\((try? deployment.moduleState()).map { "\($0)" } ?? "")")
            #expect(try await blocking { try deployment.moduleState().inbox } == 3000, "each event applied once after the link came back")
        }

        @Test func overCURVEOnlyAKeyListedForTheModuleMayHostIt() async throws {
            let directory = TemporaryDirectory("wzt-remote-curve")
            let keys = directory.file("keys"), link = "tcp://127.0.0.1:\(Interop.freePort())"
            for name in ["core", "vdab", "stranger"] {
                _ = try await blocking { try Interop.run(try Interop.binary(), ["keys", "generate", "--out", keys, "--name", name]) }
            }
            try """
                [modules]
                remote = ["intake"]

                [link]
                endpoint = "\(link)"

                [security]
                secret_key_file = "\(keys)/core.key"

                [[security.keys]]
                name = "vdab"
                public_key_file = "\(keys)/vdab.pub"
                modules = ["intake"]
                events = ["be.wzt.intake.*"]

                [[security.keys]]
                name = "stranger"
                public_key_file = "\(keys)/stranger.pub"
                events = []
                """.write(toFile: directory.file("core.toml"), atomically: true, encoding: .utf8)
            for name in ["vdab", "stranger"] {
                try """
                    [modules]
                    enabled = ["intake"]

                    [core]
                    endpoint = "\(link)"
                    server_key_file = "\(keys)/core.pub"
                    secret_key_file = "\(keys)/\(name).key"
                    """.write(toFile: directory.file("\(name).toml"), atomically: true, encoding: .utf8)
            }
            let core = ServerProcess(dataDirectory: directory.file("core"), extraArguments: ["--config", directory.file("core.toml")])
            try core.start()
            defer { core.kill(SIGTERM) }
            let stranger = ServerProcess(dataDirectory: directory.file("stranger"), extraArguments: ["--config", directory.file("stranger.toml")])
            try stranger.start()
            #expect(await eventually(seconds: 10) { stranger.serverLog.contains("the core refused this module") }, "\(stranger.serverLog)")
            stranger.kill(SIGTERM)
            #expect(core.serverLog.contains(#"may not host "intake""#))

            let vdab = ServerProcess(dataDirectory: directory.file("vdab"), extraArguments: ["--config", directory.file("vdab.toml")])
            try vdab.start()
            defer { vdab.kill(SIGTERM) }
            _ = try await blocking { try Interop.run(try Interop.binary(), ["publish", "--endpoint", core.ingress, "--key", keys + "/vdab.key", "--server-key", keys + "/core.pub"],
                                                     input: CommandLineTests.screeningByACounsellor) }
            #expect(await eventually(seconds: 20) { vdab.serverLog.contains("linked to the core") })
            let applied = await eventually(seconds: 20) {
                let count = try? Interop.run(Interop.python, ["-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM intake_case').fetchone()[0])",
                                                             directory.file("vdab") + "/modules/intake.sqlite"])
                return count?.trimmingCharacters(in: .whitespacesAndNewlines) == "1"
            }
            #expect(applied, "the listed key's process got the event over CURVE")
        }

        func residentKilobytes(_ pid: Int32?) -> Int {
            guard let pid, let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
                  let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return -1 }
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
        }
    }
}
