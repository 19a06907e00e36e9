import Bus
import Foundation
import TestSupport
import Testing

extension ProcessTests {
    /// The `wzt` commands as an operator uses them: exit codes and what they print.
    @Suite(.serialized, .timeLimit(.minutes(3)))
    struct CommandLineTests {
        struct Result {
            let status: Int32
            let output: String
            let errors: String
        }

        func wzt(_ arguments: [String], input: String? = nil) async throws -> Result {
            let binary = try Interop.binary()
            return try await blocking {
                let process = Process()
                process.executableURL = URL(filePath: binary)
                process.arguments = arguments
                let output = Pipe(), errors = Pipe(), stdin = Pipe()
                process.standardOutput = output
                process.standardError = errors
                process.standardInput = stdin
                try process.run()
                if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
                try stdin.fileHandleForWriting.close()
                let out = output.fileHandleForReading.readDataToEndOfFile()
                let err = errors.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                return Result(status: process.terminationStatus, output: String(decoding: out, as: UTF8.self), errors: String(decoding: err, as: UTF8.self))
            }
        }

        static let screening = #"{"type":"be.wzt.intake.screening-requested","source":"/agency/vdab/intake","subject":"case-1","dataversion":1,"data":{"caseId":"case-1","insz":"85073003328","region":"flanders","requestedBy":"counsellor","requestedOn":"2026-11-23","office":"Gent"}}"#
        /// Who made a request and why: what a publisher with a key or token must say (docs/protocol.md).
        static let actorAttributes = #""actor":"c-17","actorrole":"vdab-counsellor","actoragency":"vdab","purpose":"activation-trajectory","#
        static let screeningByACounsellor = screening.replacingOccurrences(of: "{\"type\"", with: "{" + actorAttributes + "\"type\"")

        @Test func publishAcksNacksAndReportsAnUnreachableNode() async throws {
            let directory = TemporaryDirectory("wzt-cli")
            let server = ServerProcess(dataDirectory: directory.file("data"))
            try server.start()
            defer { server.kill(SIGTERM) }

            let acked = try await wzt(["publish", "--endpoint", server.ingress], input: Self.screening)
            #expect(acked.status == 0, "\(acked.errors)")
            #expect(acked.output.hasPrefix("ack "))
            #expect(acked.output.contains("offset 1"))

            let badINSZ = Self.screening.replacingOccurrences(of: "85073003328", with: "85073003329")
            let nacked = try await wzt(["publish", "--endpoint", server.ingress], input: badINSZ)
            #expect(nacked.status == 1)
            #expect(nacked.errors.contains("invalid-data"))
            #expect(nacked.errors.contains("check digits"))

            let lines = (2...4).map { Self.screening.replacingOccurrences(of: "case-1", with: "case-\($0)") }.joined(separator: "\n")
            let many = try await wzt(["publish", "--endpoint", server.ingress], input: lines)
            #expect(many.status == 0)
            #expect(many.output.split(separator: "\n").count == 3)

            // An array goes out as written, with only the missing attributes added: a text that opens
            // with U+FEFF keeps it, a number keeps its digits.
            let asWritten = "[" + Self.screening.replacingOccurrences(of: "case-1", with: "case-5")
                .replacingOccurrences(of: #""office":"Gent""#, with: "\"office\":\"\u{FEFF}Gent\",\"hours\":1.10") + "]"
            let written = try await wzt(["publish", "--endpoint", server.ingress], input: asWritten)
            #expect(written.status == 0, "\(written.errors)")
            let log = try EventLog(path: server.dataDirectory + "/log.sqlite")
            let stored = try log.eventsNow(after: 0, matching: [try EventPattern("be.wzt.intake.screening-requested")], limit: 10).first { $0.subject == "case-5" }
            log.close()
            let storedText = String(decoding: stored?.json ?? [], as: UTF8.self)
            #expect(storedText.contains("\"office\":\"\u{FEFF}Gent\",\"hours\":1.10"), "\(storedText)")

            // --json: the node's replies, one object per event, acks and nacks alike.
            let both = Self.screening.replacingOccurrences(of: "case-1", with: "case-6") + "\n" + badINSZ
            let replies = try await wzt(["publish", "--endpoint", server.ingress, "--json"], input: both)
            let objects = replies.output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(replies.status == 1 && objects.count == 2, "\(replies)")
            #expect(objects.first?["status"] as? String == "ack" && objects.first?["offset"] as? Int != nil)
            #expect(objects.last?["status"] as? String == "nack" && objects.last?["code"] as? String == "invalid-data")

            // Nothing sent is not "nacked": its own exit code, and the reason.
            for (arguments, input, reason) in [(["--endpoint", server.ingress], "{not json", "line 1 is not a JSON document"),
                                               (["--endpoint", server.ingress], "", "no events in the input"),
                                               (["--endpoint", "nonsense"], Self.screening, "cannot connect to nonsense"),
                                               (["--endpoint", server.ingress, "/nonexistent/events.json"], "", "cannot read /nonexistent/events.json")] {
                let refused = try await wzt(["publish"] + arguments, input: input)
                #expect(refused.status == 2 && refused.errors.contains(reason), "\(arguments): \(refused)")
            }

            let unreachable = try await wzt(["publish", "--endpoint", "tcp://127.0.0.1:\(Interop.freePort())", "--timeout-ms", "200", "--retries", "1"], input: Self.screening)
            #expect(unreachable.status == 3)
            #expect(unreachable.errors.contains("no reply"))

            // 6 requests stored, and the intake module's status event for each.
            var status = try await wzt(["status", "--data-dir", server.dataDirectory])
            for _ in 0..<100 where !status.output.contains("head 12, 12 events") {
                try await Task.sleep(for: .milliseconds(100))
                status = try await wzt(["status", "--data-dir", server.dataDirectory])
            }
            #expect(status.status == 0)
            #expect(status.output.contains("head 12, 12 events"), "\(status.output)")
            #expect(status.output.contains("intake"))
        }

        /// A node that falls silent partway: publish says what it answered, and the ids of the rest
        /// (filled in by publish, so the input does not have them), to send again with those ids.
        @Test func publishListsWhatANodeAnsweredBeforeFallingSilent() async throws {
            let port = Interop.freePort()
            // A node by hand (pyzmq): it acks the first event it gets, then answers nothing.
            let node = Process()
            node.executableURL = URL(filePath: "/usr/bin/env")
            node.arguments = [Interop.python, "-c", """
                import json, sys, time, zmq
                socket = zmq.Context().socket(zmq.ROUTER)
                socket.bind("tcp://127.0.0.1:" + sys.argv[1])
                print("ready", flush=True)
                frames = socket.recv_multipart()
                socket.send_multipart([frames[0], json.dumps({"status": "ack", "id": json.loads(frames[-1])["id"], "offset": 1}).encode()])
                time.sleep(60)
                """, String(port)]
            let ready = Pipe()
            node.standardOutput = ready
            try node.run()
            defer { node.terminate() }
            #expect(String(decoding: ready.fileHandleForReading.availableData, as: UTF8.self).hasPrefix("ready"))
            let events = Self.screening + "\n" + Self.screening.replacingOccurrences(of: "case-1", with: "case-2")
            let silent = try await wzt(["publish", "--endpoint", "tcp://127.0.0.1:\(port)", "--timeout-ms", "300", "--retries", "1", "--window", "1", "--json"],
                                       input: events)
            let replies = silent.output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(silent.status == 3, "\(silent)")
            #expect(replies.map { $0["status"] as? String } == ["ack", "unanswered"], "\(silent)")
            #expect(replies.first?["offset"] as? Int == 1)
            #expect(Set(replies.compactMap { $0["id"] as? String }).count == 2)
            #expect(silent.errors.contains("1 of 2 events unanswered"), "\(silent.errors)")
        }

        /// Intake's tables in the data directory, and in PostgreSQL (a schema rebuilt beside the live one, then renamed).
        @Test(arguments: TestLog.Engine.allCases)
        func aStoppedModuleIsRebuiltFromTheLogAndSwappedIn(engine: TestLog.Engine) async throws {
            let directory = TemporaryDirectory("wzt-rebuild")
            var options = ["--data-dir", directory.file("data")]
            if engine == .postgres {
                try "[storage]\nintake = \"\(try TestPostgres.freshDatabase())\"\n".write(toFile: directory.file("wzt.toml"), atomically: true, encoding: .utf8)
                options += ["--config", directory.file("wzt.toml")]
            }
            let server = ServerProcess(dataDirectory: directory.file("data"), extraArguments: Array(options.dropFirst(2)))
            try server.start()
            let lines = (1...3).map { Self.screening.replacingOccurrences(of: "case-1", with: "case-\($0)") }.joined(separator: "\n")
            #expect(try await wzt(["publish", "--endpoint", server.ingress], input: lines).status == 0)
            var status = try await wzt(["status"] + options)
            for _ in 0..<100 where !status.output.contains("head 6, 6 events") {
                try await Task.sleep(for: .milliseconds(100))
                status = try await wzt(["status"] + options)
            }
            #expect(status.output.contains("head 6, 6 events"), "\(status.output)")
            let whileRunning = try await wzt(["modules", "rebuild", "intake"] + options)
            #expect(whileRunning.status != 0 && whileRunning.errors.contains("stopped"), "\(whileRunning.errors)")
            _ = server.kill(SIGTERM)

            let rebuilt = try await wzt(["modules", "rebuild", "intake"] + options)
            #expect(rebuilt.status == 0, "\(rebuilt.errors)")
            #expect(rebuilt.output.contains("intake rebuilt from offsets 1 to 6: 3 events applied"), "\(rebuilt.output)")
            switch engine {
            case .sqlite: #expect(FileManager.default.fileExists(atPath: server.dataDirectory + "/modules/intake.sqlite.before-rebuild"))
            case .postgres: #expect(rebuilt.output.contains("the previous tables are in schema intake_before_rebuild"), "\(rebuilt.output)")
            }
            let after = try await wzt(["status", "--json"] + options)
            let rows = (try JSONSerialization.jsonObject(with: Data(after.output.utf8)) as? [String: Any])?["subscriptions"] as? [[String: Any]] ?? []
            #expect(rows.first { $0["subscription"] as? String == "intake" }?["lag"] as? Int == 0, "\(after.output)")

            // The node starts on the rebuilt database: case-1 exists there, so the same request sent again changes nothing.
            try server.start()
            defer { _ = server.kill(SIGTERM) }
            #expect(try await wzt(["publish", "--endpoint", server.ingress], input: Self.screening).status == 0)
            status = try await wzt(["status"] + options)
            for _ in 0..<50 where !status.output.contains("head 7, 7 events") {
                try await Task.sleep(for: .milliseconds(100))
                status = try await wzt(["status"] + options)
            }
            try await Task.sleep(for: .milliseconds(300))
            status = try await wzt(["status"] + options)
            #expect(status.output.contains("head 7, 7 events"), "a request sent again is one case; no refusal, no second case: \(status.output)")

            // A module process's configuration has no log: the commands that read one say whose it is.
            let moduleProcess = directory.file("module.toml")
            try "[modules]\nenabled = [\"intake\"]\n[core]\nendpoint = \"tcp://core.example:5558\"\n".write(toFile: moduleProcess, atomically: true, encoding: .utf8)
            for command in [["status"], ["modules", "rebuild", "intake"], ["dead-letters", "list"]] {
                let refused = try await wzt(command + ["--config", moduleProcess, "--data-dir", directory.file("module")])
                #expect(refused.status != 0 && refused.errors.contains("module process's configuration") && refused.errors.contains("tcp://core.example:5558"),
                        "\(command): \(refused.errors)")
            }

            let unknown = try await wzt(["modules", "rebuild", "nope"] + options)
            #expect(unknown.status != 0 && unknown.errors.contains("no module nope"))
            let notifications = try await wzt(["modules", "rebuild", "notifications"] + options)
            #expect(notifications.status != 0 && notifications.errors.contains("cannot be rebuilt"))
        }

        /// With the event log in the data directory, and in PostgreSQL (`[storage] log`).
        @Test(arguments: TestLog.Engine.allCases)
        func deadLettersCanBeListedShownRetriedAndDiscarded(engine: TestLog.Engine) async throws {
            let server = engine == .postgres ? try TestPostgres.freshDatabase() : nil
            let place = server.map { TestLog(.postgres, configuredAt: $0) } ?? TestLog(.sqlite)
            let log = try await place.open()
            let stored = try await log.append([Samples.note("first"), Samples.note("second")])
            for entry in stored {
                let event = try await #require(try log.event(at: entry.offset))
                try await log.recordDeadLetter(subscription: "sample", event: event, error: "sample handler refused the note", attempts: 5)
            }
            log.close()
            let config = place.directory.file("wzt.toml")
            try (server.map { "[storage]\nlog = \"\($0)\"\n" } ?? "").write(toFile: config, atomically: true, encoding: .utf8)
            let dataDir = ["--data-dir", place.directory.path, "--config", config]

            let list = try await wzt(["dead-letters", "list"] + dataDir)
            #expect(list.status == 0)
            #expect(list.output.contains("1  open  sample  offset 1  be.wzt.sample.note-added  attempts 5"))
            #expect(list.output.contains("sample handler refused the note"))

            let show = try await wzt(["dead-letters", "show", "2"] + dataDir)
            #expect(show.output.contains("event:    \(stored[1].id) at offset 2"))
            #expect(show.output.contains("\"text\":\"second\""))

            #expect(try await wzt(["dead-letters", "retry", "1"] + dataDir).status == 0)
            #expect(try await wzt(["dead-letters", "discard", "2"] + dataDir).status == 0)
            let again = try await wzt(["dead-letters", "retry", "2"] + dataDir)
            #expect(again.status != 0)
            #expect(again.errors.contains("is not open"))

            #expect(try await wzt(["dead-letters", "list"] + dataDir).output.contains("no open dead letters"))
            let all = try await wzt(["dead-letters", "list", "--all"] + dataDir).output
            #expect(all.contains("1  retry  sample"))
            #expect(all.contains("2  discarded  sample"))
            #expect(try await wzt(["dead-letters", "show", "9"] + dataDir).errors.contains("no dead letter 9"))

            // --json: one object per dead letter; `show` carries the envelope as the log holds it.
            let listed = try await wzt(["dead-letters", "list", "--all", "--json"] + dataDir).output.split(separator: "\n")
                .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(listed.map { $0["status"] as? String } == ["retry", "discarded"], "\(listed)")
            let shown = try JSONSerialization.jsonObject(with: Data(try await wzt(["dead-letters", "show", "1", "--json"] + dataDir).output.utf8)) as? [String: Any]
            #expect(shown?["subscription"] as? String == "sample" && (shown?["envelope"] as? [String: Any])?["type"] as? String == "be.wzt.sample.note-added", "\(shown ?? [:])")
        }

        @Test func checkConfigNamesTheKeyAndTheFix() async throws {
            let directory = TemporaryDirectory("wzt-cli-config")
            let path = directory.file("wzt.toml")
            try "[ingress]\nendpoint = \"localhost:5555\"\n".write(toFile: path, atomically: true, encoding: .utf8)
            let bad = try await wzt(["check-config", "--config", path])
            #expect(bad.status != 0)
            #expect(bad.errors.contains("`ingress.endpoint`"))
            #expect(bad.errors.contains("tcp://127.0.0.1:5555"))

            let shipped = try await wzt(["check-config", "--config", Interop.root + "/Config/wzt.toml"])
            #expect(shipped.status == 0)
            #expect(shipped.output.contains("ingress.endpoint: tcp://127.0.0.1:5555"))

            // What a cluster node would use: its own modules without the remote ones, where each
            // keeps its tables (no password shown), and its node name.
            let clustered = directory.file("cluster.toml")
            try """
                [storage]
                default = "postgres://wzt:hunter2-secret@db.example/wzt"
                log = "postgres://wzt:hunter2-secret@db.example/wzt"
                [modules]
                remote = ["intake"]
                [cluster]
                node = "core-a"
                """.write(toFile: clustered, atomically: true, encoding: .utf8)
            let cluster = try await wzt(["check-config", "--config", clustered])
            #expect(cluster.status == 0, "\(cluster.errors)")
            let lines = cluster.output.split(separator: "\n").map(String.init)
            #expect(lines.contains("modules: ama, gbo-onboarding, mandating, networks, notifications"), "\(cluster.output)")
            #expect(lines.contains("modules.remote: intake (link.endpoint tcp://127.0.0.1:5558)"), "\(cluster.output)")
            #expect(lines.contains("storage.log: postgres://wzt@db.example:5432/wzt") && lines.contains("storage.ama: postgres://wzt@db.example:5432/wzt"))
            #expect(lines.contains("cluster: node core-a, lease_ms 3000") && !cluster.output.contains("hunter2"), "\(cluster.output)")

            let serve = try await wzt(["serve", "--config", path])
            #expect(serve.status != 0)
            #expect(serve.errors.contains("`ingress.endpoint`"))

            // Flags are held to the same rules as the keys they override.
            for (flag, endpoint) in [("--ingress", "tipc://{5560,0,0}"), ("--egress", "epgm://eth0;239.192.1.1:5555"), ("--replay", "localhost:5557")] {
                let flagged = try await wzt(["serve", "--data-dir", directory.file("data"), "--http", "off", flag, endpoint])
                #expect(flagged.status != 0 && flagged.errors.contains(flag) && flagged.errors.contains("tcp://127.0.0.1:5555"), "\(flag) \(endpoint): \(flagged.errors)")
            }
        }

        /// A scan's size and kind are checked before it is read: a file of any size, or a device
        /// that never ends, was once read into memory whole first.
        @Test func amaAttachRefusesWhatItShouldNotRead() async throws {
            let directory = TemporaryDirectory("wzt-cli-attach")
            let large = directory.file("large.pdf")
            #expect(FileManager.default.createFile(atPath: large, contents: Data("%PDF-1.4\n".utf8)))
            let handle = try FileHandle(forWritingTo: URL(filePath: large))
            try handle.truncate(atOffset: 2 << 30)
            try handle.close()
            let tooLarge = try await wzt(["ama", "attach", large, "--data-dir", directory.file("data")])
            #expect(tooLarge.status != 0 && tooLarge.errors.contains("at most 10485760"), "\(tooLarge.errors)")
            let device = try await wzt(["ama", "attach", "/dev/zero", "--data-dir", directory.file("data")])
            #expect(device.status != 0 && device.errors.contains("not a file that can be read"), "\(device.errors)")
        }

        /// A busy HTTP port once ended in a raw `bind(…) errno 98` after `wzt ready` was printed.
        /// Now ready waits for every listener, and the failure says where, why and what to do.
        @Test func aBusyHTTPPortIsReportedLikeABusyZeroMQPort() async throws {
            let first = TemporaryDirectory("wzt-cli-http-busy")
            let server = ServerProcess(dataDirectory: first.file("data"))
            try server.start()
            defer { server.kill(SIGTERM) }
            let second = TemporaryDirectory("wzt-cli-http-busy-2")
            let refused = try await wzt(["serve", "--data-dir", second.file("data"), "--http", server.http,
                                         "--ingress", "tcp://127.0.0.1:*", "--egress", "tcp://127.0.0.1:*", "--replay", "tcp://127.0.0.1:*"])
            #expect(refused.status != 0)
            #expect(!refused.output.contains("wzt ready"), "ready was announced: \(refused.output)")
            #expect(refused.errors.contains("\(server.http): cannot listen for HTTP: the address is in use") && refused.errors.contains("--http"), "\(refused.errors)")
        }

        /// With few files allowed, a node once died at start on SIGABRT (libzmq), SIGILL (NIO) or
        /// hung, depending on the limit; now it says what to raise, and raises the soft limit itself.
        @Test(arguments: [36, 45, 70])
        func aLowOpenFilesLimitIsReportedNotCrashedOn(limit: Int) async throws {
            let binary = try Interop.binary()
            let directory = TemporaryDirectory("wzt-cli-nofile")
            let (reason, status, errors) = try await blocking {
                let process = Process()
                process.executableURL = URL(filePath: "/bin/sh")
                process.arguments = ["-c", "ulimit -n \(limit) && exec \"$0\" serve --data-dir \"$1\" --ingress tcp://127.0.0.1:* --egress tcp://127.0.0.1:* --replay tcp://127.0.0.1:*",
                                     binary, directory.file("data")]
                let errors = Pipe()
                process.standardError = errors
                process.standardOutput = FileHandle.nullDevice
                try process.run()
                let text = errors.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                return (process.terminationReason, process.terminationStatus, String(decoding: text, as: UTF8.self))
            }
            #expect(reason == .exit && status == 1, "signal or status \(status)")
            #expect(errors.contains("may open \(limit) files, and a node needs at least 1024; raise the limit (ulimit -n"), "\(errors)")
        }

        @Test func statusWithoutALogSaysWhereItLooked() async throws {
            let result = try await wzt(["status", "--data-dir", "/nonexistent/wzt"])
            #expect(result.status != 0)
            #expect(result.errors.contains("no event log at /nonexistent/wzt/log.sqlite"))
        }

        @Test func pluginsListsBuiltInAndLoadedRuleSetsAndRefusesBadFiles() async throws {
            let directory = TemporaryDirectory("wzt-cli-plugins")
            let example = Interop.root + "/Plugins/Example/.build/debug/libExampleRules.so"
            try FileManager.default.copyItem(atPath: example, toPath: directory.file("libExampleRules.so"))
            try Data(repeating: 0x42, count: 2048).write(to: URL(filePath: directory.file("broken.so")))
            let config = directory.file("wzt.toml")
            try "[plugins]\npaths = [\"\(directory.path)\"]\n".write(toFile: config, atomically: true, encoding: .utf8)

            let listed = try await wzt(["plugins", "--config", config, "--json"]).output.split(separator: "\n")
                .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(Set(listed.compactMap { $0["id"] as? String }) == ["flanders-2014", "flanders-2022", "brussels", "example-east-2025"], "\(listed)")
            let result = try await wzt(["plugins", "--config", config])
            #expect(result.status == 0, "\(result.errors)")
            for id in ["flanders-2014", "flanders-2022", "brussels", "example-east-2025"] {
                #expect(result.output.contains("\(id)  region"))
            }
            #expect(result.output.contains("activation-trajectory: cases started 2018-07-01 – 2023-07-01 (exclusive)"))
            #expect(result.errors.contains("refused \(directory.file("broken.so")): not loadable"))

            // The node starts with the good plugin and without the broken one.
            let server = ServerProcess(dataDirectory: directory.file("data"), extraArguments: ["--config", config])
            try server.start()
            server.kill(SIGTERM)
            #expect(server.serverLog.contains("plugin refused"))
        }

        @Test func helpListsTheCommands() async throws {
            let help = try await wzt(["--help"])
            for command in ["serve", "publish", "tail", "status", "dead-letters", "check-config", "contracts", "plugins"] {
                #expect(help.output.contains(command))
            }
            #expect(try await wzt(["contracts"]).output.contains("be.wzt.intake.screening-requested  v1"))
            let version = try await wzt(["--version"])
            #expect(version.status == 0 && version.output.hasPrefix("wzt ") && version.output.contains("plugin API"), "\(version.output)")
        }

        @Test func contractsPrintTheirSchemas() async throws {
            let schema = try await wzt(["contracts", "schema", "be.wzt.intake.screening-requested"])
            #expect(schema.status == 0)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(schema.output.utf8)) as? [String: Any])
            let properties = try #require(object["properties"] as? [String: [String: Any]])
            #expect(properties["insz"]?["x-wzt-personal"] as? Bool == true)
            #expect((object["required"] as? [String])?.contains("caseId") == true)
            let all = try #require(try JSONSerialization.jsonObject(with: Data(try await wzt(["contracts", "--json"]).output.utf8)) as? [[String: Any]])
            #expect(all.count > 50)
            #expect(all.allSatisfy { $0["schema"] is [String: Any] })
            let unknown = try await wzt(["contracts", "schema", "be.wzt.nothing"])
            #expect(unknown.status != 0)
            #expect(unknown.errors.contains("`wzt contracts` lists them"))
        }
    }
}
